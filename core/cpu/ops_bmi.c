/*
 * The general-purpose bit-manipulation extensions (SDM vol. 2):
 *   BMI1: ANDN, BEXTR, BLSI, BLSMSK, BLSR (TZCNT is in ops_bit.c);
 *   BMI2: BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX;
 *   ADX:  ADCX, ADOX.
 *
 * BMI1 and BMI2 are VEX-encoded.  Their pages say: "This instruction is not
 * supported in real mode and virtual-8086 mode.  The operand size is always
 * 32 bits if not in 64-bit mode.  In 64-bit mode operand size 64 requires
 * VEX.W1.  VEX.W1 is ignored in non-64-bit modes.  An attempt to execute
 * this instruction with VEX.L not equal to 0 will cause #UD."  The other
 * #UD causes of SDM vol. 2 2.5.1 (table 2-29, "Exception Definition
 * (VEX-Encoded GPR Instructions)") are a LOCK, 66, F2, F3 or REX prefix in
 * front of the VEX prefix, VEX.vvvv other than 1111b where the instruction
 * does not use it (RORX), and the CPUID feature flag being 0.  Zydis refuses
 * to decode all of these but the last (the record then raises #UD), and
 * decodes VEX in the 16-bit and 32-bit protected and compatibility modes
 * with 32-bit operands whatever VEX.W says.
 *
 * Record layout (see lower_bmi): r1 = the ModRM.reg operand, r2 = the
 * ModRM.r/m register (INSN_NOREG when it is memory), imm2 = the VEX.vvvv
 * register, imm = RORX's imm8, osz = 4 or 8.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/lower.h"

static inline unsigned vvvv(const struct insn *i)
{
	return i->imm2;
}

/*
 * The flags the SDM leaves undefined (AF and PF for ANDN, BLSI, BLSMSK,
 * BLSR and BZHI; AF, SF and PF for BEXTR), 'mask' naming them.  The Intel
 * rule was measured by tests/test_bmi.c on an Intel Xeon with BMI1/BMI2:
 * all of them are cleared, whatever the operands and the flags before
 * (other Intel cores may differ on BEXTR's SF, says the Bochs maintainer in
 * bochs-emu/Bochs issue 796).  No published capture from AMD hardware was
 * found for these instructions, so the AMD profile follows the Intel rule
 * until one is (docs/undefined-behaviour.md).
 */
static inline uint64_t undefined_flags(const struct cpu *c, uint64_t mask)
{
	(void)mask;
	if (cpu_profile_amd(c))
		return 0;
	return 0;
}

/* SF and ZF from a result of 'sz' bytes. */
static inline uint64_t flags_sz(uint64_t res, unsigned sz)
{
	return (res & sign_bit(sz) ? RF_SF : 0) | (res == 0 ? RF_ZF : 0);
}

/* ---- BMI1 ------------------------------------------------------------------ */

/* SDM ANDN: DEST = (NOT SRC1) AND SRC2, SRC1 = VEX.vvvv, SRC2 = r/m.  SF
 * and ZF from the result, OF and CF cleared, AF and PF undefined. */
static int op_andn(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t src2;
	if (cpu_read_rm(c, i, i->r2, sz, &src2))
		return EXEC_STOP;
	uint64_t res = ~reg_read(c, vvvv(i), sz) & src2 & size_mask(sz);
	reg_write(c, i->r1, sz, res);
	flags_set_arith(c, flags_sz(res, sz) | undefined_flags(c, RF_AF | RF_PF));
	return EXEC_NEXT;
}

/*
 * SDM BEXTR: START = SRC2[7:0], LEN = SRC2[15:8], SRC2 = VEX.vvvv; DEST =
 * SRC1[START+LEN-1:START] zero-extended, SRC1 = r/m, with the source
 * zero-extended to 512 bits first: a start at or past the operand size
 * gives 0, a length running past it stops there, a zero length gives 0.
 * ZF from the result, CF and OF cleared, AF, SF and PF undefined.
 */
static int op_bextr(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, bits = sz * 8;
	uint64_t src1;
	if (cpu_read_rm(c, i, i->r2, sz, &src1))
		return EXEC_STOP;
	uint64_t ctl = reg_read(c, vvvv(i), sz);
	unsigned start = ctl & 0xff, len = (ctl >> 8) & 0xff;
	uint64_t res = 0;
	if (start < bits) {
		res = src1 >> start;
		if (len < 64)
			res &= (1ull << len) - 1;
	}
	reg_write(c, i->r1, sz, res);
	flags_set_arith(c, (res == 0 ? RF_ZF : 0) | undefined_flags(c, RF_AF | RF_SF | RF_PF));
	return EXEC_NEXT;
}

enum bls_op { BLS_I, BLS_MSK, BLS_R };

/*
 * SDM BLSI, BLSMSK, BLSR: the source is r/m, the destination VEX.vvvv.
 *   BLSI   DEST = (-SRC) AND SRC: ZF, SF from the result, CF = (SRC != 0);
 *   BLSMSK DEST = (SRC - 1) XOR SRC: SF from the result, CF = (SRC == 0),
 *          ZF cleared;
 *   BLSR   DEST = (SRC - 1) AND SRC: ZF, SF from the result, CF = (SRC == 0).
 * OF cleared, AF and PF undefined.  sub = enum bls_op.
 */
static int op_bls(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t src, res, f;
	if (cpu_read_rm(c, i, i->r2, sz, &src))
		return EXEC_STOP;
	switch (i->sub) {
	case BLS_I:
		res = (0 - src) & src;
		f = flags_sz(res, sz) | (src != 0 ? RF_CF : 0);
		break;
	case BLS_MSK:
		res = ((src - 1) ^ src) & size_mask(sz);
		f = (res & sign_bit(sz) ? RF_SF : 0) | (src == 0 ? RF_CF : 0);
		break;
	default:
		res = (src - 1) & src;
		f = flags_sz(res, sz) | (src == 0 ? RF_CF : 0);
		break;
	}
	reg_write(c, vvvv(i), sz, res);
	flags_set_arith(c, f | undefined_flags(c, RF_AF | RF_PF));
	return EXEC_NEXT;
}

/* ---- BMI2 ------------------------------------------------------------------ */

/*
 * SDM BZHI: N = SRC2[7:0], SRC2 = VEX.vvvv; DEST = SRC1 (r/m) with the bits
 * from N up cleared when N < operand size, SRC1 unchanged otherwise.  CF =
 * (N > operand size - 1), ZF and SF from the result, OF cleared, AF and PF
 * undefined.
 */
static int op_bzhi(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, bits = sz * 8;
	uint64_t src1;
	if (cpu_read_rm(c, i, i->r2, sz, &src1))
		return EXEC_STOP;
	unsigned n = reg_read(c, vvvv(i), sz) & 0xff;
	uint64_t res = n < bits ? src1 & ((1ull << n) - 1) : src1;
	reg_write(c, i->r1, sz, res);
	flags_set_arith(c, flags_sz(res, sz) | (n > bits - 1 ? RF_CF : 0) |
	                       undefined_flags(c, RF_AF | RF_PF));
	return EXEC_NEXT;
}

/*
 * SDM MULX: the unsigned product of EDX/RDX and r/m; the low half goes to
 * VEX.vvvv, then the high half to ModRM.reg ("If the first and second
 * operand are identical, it will contain the high half of the
 * multiplication result").  Flags are not affected.
 */
static int op_mulx(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t src, lo, hi;
	if (cpu_read_rm(c, i, i->r2, sz, &src))
		return EXEC_STOP;
	if (sz == 8) {
		unsigned __int128 p = (unsigned __int128)c->gpr[2].q * src;
		lo = (uint64_t)p;
		hi = (uint64_t)(p >> 64);
	} else {
		uint64_t p = (uint64_t)c->gpr[2].d * src;
		lo = (uint32_t)p;
		hi = p >> 32;
	}
	reg_write(c, vvvv(i), sz, lo);
	reg_write(c, i->r1, sz, hi);
	return EXEC_NEXT;
}

/* SDM PDEP: the low bits of SRC1 (VEX.vvvv) deposited, in order, at the
 * bit positions set in the mask (r/m); the other bits cleared. */
static uint64_t deposit(uint64_t src, uint64_t mask)
{
	uint64_t res = 0;
	for (uint64_t m = mask; m; m &= m - 1, src >>= 1)
		if (src & 1)
			res |= m & (0 - m);
	return res;
}

/* SDM PEXT: the bits of SRC1 (VEX.vvvv) at the positions set in the mask
 * (r/m), packed into the low bits of the result. */
static uint64_t extract(uint64_t src, uint64_t mask)
{
	uint64_t res = 0;
	unsigned k = 0;
	for (uint64_t m = mask; m; m &= m - 1, k++)
		if (src & m & (0 - m))
			res |= 1ull << k;
	return res;
}

/* PDEP (sub = 0) and PEXT (sub = 1); flags are not affected. */
static int op_pdep_pext(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t mask;
	if (cpu_read_rm(c, i, i->r2, sz, &mask))
		return EXEC_STOP;
	uint64_t src = reg_read(c, vvvv(i), sz);
	reg_write(c, i->r1, sz, i->sub ? extract(src, mask) : deposit(src, mask));
	return EXEC_NEXT;
}

/* SDM RORX: r/m rotated right by imm8 modulo the operand size (5 bits for
 * 32, 6 for 64); flags are not affected. */
static int op_rorx(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, bits = sz * 8, n = (unsigned)i->imm & (bits - 1);
	uint64_t v;
	if (cpu_read_rm(c, i, i->r2, sz, &v))
		return EXEC_STOP;
	if (n)
		v = ((v >> n) | (v << (bits - n))) & size_mask(sz);
	reg_write(c, i->r1, sz, v);
	return EXEC_NEXT;
}

enum shx_op { SHX_SAR, SHX_SHL, SHX_SHR };

/*
 * SDM SARX/SHLX/SHRX: r/m shifted by VEX.vvvv modulo the operand size (the
 * count masked to 5 bits, or 6 with 64-bit operands); flags are not
 * affected.  sub = enum shx_op.
 */
static int op_shx(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, n = (unsigned)reg_read(c, vvvv(i), sz) & (sz * 8 - 1);
	uint64_t v;
	if (cpu_read_rm(c, i, i->r2, sz, &v))
		return EXEC_STOP;
	switch (i->sub) {
	case SHX_SAR:
		v = (uint64_t)(sext(v, sz) >> n);
		break;
	case SHX_SHL:
		v <<= n;
		break;
	default:
		v >>= n;
		break;
	}
	reg_write(c, i->r1, sz, v & size_mask(sz));
	return EXEC_NEXT;
}

/* ---- ADX ----------------------------------------------------------------------- */

/*
 * SDM ADCX/ADOX: DEST (ModRM.reg) = DEST + SRC (r/m) + carry in, unsigned;
 * ADCX takes the carry from CF and writes it back to CF, ADOX uses OF the
 * same way; no other flag changes.  sub = 1: ADOX.
 */
static int op_adx(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t src;
	if (cpu_read_rm(c, i, i->r2, sz, &src))
		return EXEC_STOP;
	uint64_t f = cpu_get_rflags(c), bit = i->sub ? RF_OF : RF_CF;
	uint64_t a = reg_read(c, i->r1, sz), cin = (f & bit) != 0;
	uint64_t sum, res;
	bool cout = __builtin_add_overflow(a, src, &sum);
	cout |= __builtin_add_overflow(sum, cin, &res);
	if (sz == 4) {
		cout = (res >> 32) != 0; /* 32-bit operands: the sum fits in 33 bits */
		res = (uint32_t)res;
	}
	reg_write(c, i->r1, sz, res);
	flags_set_arith(c, (f & ~bit) | (cout ? bit : 0));
	return EXEC_NEXT;
}

/* ---- lowering -------------------------------------------------------------------- */

static const struct bmi_form {
	ZydisMnemonic mnemonic;
	enum cpu_feature feature; /* the CPUID flag of its "Opcode/Instruction" row */
	insn_fn fn;
	uint8_t sub;
} forms[] = {
    {ZYDIS_MNEMONIC_ANDN, FEAT_BMI1, op_andn, 0},
    {ZYDIS_MNEMONIC_BEXTR, FEAT_BMI1, op_bextr, 0},
    {ZYDIS_MNEMONIC_BLSI, FEAT_BMI1, op_bls, BLS_I},
    {ZYDIS_MNEMONIC_BLSMSK, FEAT_BMI1, op_bls, BLS_MSK},
    {ZYDIS_MNEMONIC_BLSR, FEAT_BMI1, op_bls, BLS_R},
    {ZYDIS_MNEMONIC_BZHI, FEAT_BMI2, op_bzhi, 0},
    {ZYDIS_MNEMONIC_MULX, FEAT_BMI2, op_mulx, 0},
    {ZYDIS_MNEMONIC_PDEP, FEAT_BMI2, op_pdep_pext, 0},
    {ZYDIS_MNEMONIC_PEXT, FEAT_BMI2, op_pdep_pext, 1},
    {ZYDIS_MNEMONIC_RORX, FEAT_BMI2, op_rorx, 0},
    {ZYDIS_MNEMONIC_SARX, FEAT_BMI2, op_shx, SHX_SAR},
    {ZYDIS_MNEMONIC_SHLX, FEAT_BMI2, op_shx, SHX_SHL},
    {ZYDIS_MNEMONIC_SHRX, FEAT_BMI2, op_shx, SHX_SHR},
    {ZYDIS_MNEMONIC_ADCX, FEAT_ADX, op_adx, 0},
    {ZYDIS_MNEMONIC_ADOX, FEAT_ADX, op_adx, 1},
};

/*
 * The operands by where they are encoded, not by their order in the
 * instruction's syntax (BEXTR, BZHI and the shifts put VEX.vvvv last, ANDN,
 * MULX, PDEP and PEXT in the middle, BLSI/BLSMSK/BLSR first).  The size is
 * the destination register's: 32 bits outside 64-bit mode even where
 * Zydis's effective operand size says 16.
 */
static bool lower_operands(struct lower *l)
{
	struct insn *i = l->i;
	i->r1 = i->r2 = INSN_NOREG;
	i->imm2 = INSN_NOREG;
	for (unsigned n = 0; n < l->nops; n++) {
		const ZydisDecodedOperand *o = &l->op[n];
		if (l->k[n] == OPK_IMM || l->k[n] == OPK_MEM)
			continue;
		if (l->k[n] != OPK_REG)
			return false;
		uint8_t r = lower_gpr(o->reg.value);
		if (n == 0)
			i->osz = (uint8_t)(o->size / 8);
		if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_REG)
			i->r1 = r;
		else if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_RM)
			i->r2 = r;
		else if (o->encoding == ZYDIS_OPERAND_ENCODING_NDSNDD)
			i->imm2 = r;
		else
			return false;
	}
	return i->osz == 4 || i->osz == 8;
}

bool lower_bmi(struct lower *l)
{
	const struct bmi_form *f = NULL;
	for (unsigned k = 0; k < sizeof(forms) / sizeof(forms[0]) && !f; k++)
		if (forms[k].mnemonic == l->zi->mnemonic)
			f = &forms[k];
	if (!f)
		return false;
	bool vex = l->zi->encoding == ZYDIS_INSTRUCTION_ENCODING_VEX;
	/* #UD: the feature flag is 0 (each page's "Exceptions"); LOCK (ADCX,
	 * ADOX, table 2-29); for VEX, real and virtual-8086 mode or VEX.L = 1
	 * (Zydis refuses those encodings already; kept as the rule). */
	if (!cpu_model_has(l->model, f->feature) || (l->i->flags & INSN_F_LOCK) ||
	    (vex && (l->zi->machine_mode == ZYDIS_MACHINE_MODE_REAL_16 ||
	             l->zi->avx.vector_length != 128)) ||
	    !lower_operands(l)) {
		l->i->fn = insn_invalid;
		return true;
	}
	l->i->fn = f->fn;
	l->i->sub = f->sub;
	return true;
}
