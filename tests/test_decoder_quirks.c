/*
 * Where the Zydis version we build against decodes an encoding
 * differently from the SDM, and the lowering (core/cpu/lower.c) corrects
 * it.  Each case is checked on the lowered record and by running it.
 */
#include "prot_machine.h"

#include "core/cpu/cpumodel.h"
#include "core/cpu/lower.h"

static struct insn lower64(const uint8_t *b, size_t n)
{
	ZydisDecoder dec;
	lower_decoder_init(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	cr_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, b, n, &zi, ops)));
	struct insn rec;
	bool ends;
	lower_insn(&zi, ops, cpu_model_default(), &rec, &ends);
	return rec;
}

/* ModRM.mod = 00 with SIB.base = 101 is disp32 with no base, REX.B or not
 * (SDM vol. 2 table 2-3 note 1, 2.2.1.2).  Zydis 4.0.0 gives [r13d] without
 * the displacement when a 67 prefix comes with REX.B. */
Test(decoder_quirks, sib_base_101_with_rex_b_and_67_is_disp32)
{
	static const uint8_t plain[] = {0x67, 0x41, 0x8b, 0x0c, 0x25, 0x78, 0x56, 0x34, 0x12};
	struct insn r = lower64(plain, sizeof(plain));
	cr_expect_eq(r.len, 9);
	cr_expect_eq(r.base, INSN_NOREG, "base %u", r.base);
	cr_expect_eq(r.index, INSN_NOREG);
	cr_expect_eq(r.disp, 0x12345678);
	/* With REX.X and SIB.index 100: [r12d*1 + disp32]. */
	static const uint8_t indexed[] = {0x67, 0x43, 0x8b, 0x0c, 0x25, 0x78, 0x56, 0x34, 0x12};
	r = lower64(indexed, sizeof(indexed));
	cr_expect_eq(r.base, INSN_NOREG, "base %u", r.base);
	cr_expect_eq(r.index, 12);
	cr_expect_eq(r.disp, 0x12345678);
	/* mod = 01 keeps the base: [r13d + disp8]. */
	static const uint8_t mod1[] = {0x67, 0x41, 0x8b, 0x4c, 0x25, 0x08};
	r = lower64(mod1, sizeof(mod1));
	cr_expect_eq(r.base, 13);
	cr_expect_eq(r.disp, 8);
}

/* The same, run: MOV ECX, [disp32] reads 0x7000 whatever R13 holds. */
Test(decoder_quirks, sib_base_101_with_rex_b_and_67_runs_from_disp32)
{
	pm_machine(PM_LONG64, 0);
	pm_put64(0x7000, 0x11223344);
	pm_put64(0x7100, 0x55667788);
	uint64_t r[16] = {0};
	r[13] = 0x100;
	struct pm_out o = PM_RUN(r, 0, 0x67, 0x41, 0x8b, 0x0c, 0x25, 0x00, 0x70, 0x00, 0x00);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 0x11223344, "ECX %#" PRIx64, o.r[RCX]);
	pm_teardown();
}
