/*
 * vie's decode against Zydis, the soft CPU's decoder (core/cpu/lower.c
 * lower_decoder_init sets it up the same way): for every opcode vie's table
 * has, behind the 0x66/0x67 prefixes and every REX byte, with all 256 ModRM
 * bytes, in 64-bit, compatibility (CS.D 1 and 0), 32-bit and 16-bit
 * protected and real mode, and for every SIB byte with each mod.
 *
 * Where both accept the bytes (vie given exactly Zydis's length, as the
 * exit's inst_length gives it), they must agree on the length, the address
 * size, the memory operand (size, base, index, scale, displacement,
 * segment), the register operand (number, high-byte register, size) and
 * the immediate.  Where Zydis accepts, vie must accept exactly the forms it
 * promises: a memory operand, not real mode, a 32- or 64-bit address size
 * (16-bit addressing is refused, docs/deviations.md), and the group
 * extensions it emulates.  Where Zydis refuses, vie must refuse at every
 * length.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

struct mode {
	const char *name;
	enum vm_cpu_mode cpu_mode;
	int csd;
	ZydisMachineMode zmode;
	ZydisStackWidth zstack;
};

static const struct mode modes[] = {
    {"long64", CPU_MODE_64BIT, 0, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64},
    {"compat32", CPU_MODE_COMPATIBILITY, 1, ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
     ZYDIS_STACK_WIDTH_32},
    {"compat16", CPU_MODE_COMPATIBILITY, 0, ZYDIS_MACHINE_MODE_LONG_COMPAT_16,
     ZYDIS_STACK_WIDTH_16},
    {"prot32", CPU_MODE_PROTECTED, 1, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32},
    {"prot16", CPU_MODE_PROTECTED, 0, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16},
    {"real", CPU_MODE_REAL, 0, ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

/*
 * The opcodes of vie's table (decode/vie_decode.c) and the ModRM.reg
 * extensions it accepts; tests/test_vie.c checks that nothing else decodes.
 */
struct opcode {
	uint8_t bytes[2];
	uint8_t len;
	uint8_t regs;
	bool modrm;
};

/* clang-format off */
static const struct opcode opcodes[] = {
	{{0x00}, 1, 0xff, true}, {{0x01}, 1, 0xff, true}, {{0x02}, 1, 0xff, true},
	{{0x03}, 1, 0xff, true}, {{0x08}, 1, 0xff, true}, {{0x09}, 1, 0xff, true},
	{{0x0a}, 1, 0xff, true}, {{0x0b}, 1, 0xff, true}, {{0x10}, 1, 0xff, true},
	{{0x11}, 1, 0xff, true}, {{0x12}, 1, 0xff, true}, {{0x13}, 1, 0xff, true},
	{{0x18}, 1, 0xff, true}, {{0x19}, 1, 0xff, true}, {{0x1a}, 1, 0xff, true},
	{{0x1b}, 1, 0xff, true}, {{0x20}, 1, 0xff, true}, {{0x21}, 1, 0xff, true},
	{{0x22}, 1, 0xff, true}, {{0x23}, 1, 0xff, true}, {{0x28}, 1, 0xff, true},
	{{0x29}, 1, 0xff, true}, {{0x2a}, 1, 0xff, true}, {{0x2b}, 1, 0xff, true},
	{{0x30}, 1, 0xff, true}, {{0x31}, 1, 0xff, true}, {{0x32}, 1, 0xff, true},
	{{0x33}, 1, 0xff, true}, {{0x38}, 1, 0xff, true}, {{0x39}, 1, 0xff, true},
	{{0x3a}, 1, 0xff, true}, {{0x3b}, 1, 0xff, true}, {{0x80}, 1, 0xff, true},
	{{0x81}, 1, 0xff, true}, {{0x83}, 1, 0xff, true}, {{0x84}, 1, 0xff, true},
	{{0x85}, 1, 0xff, true}, {{0x86}, 1, 0xff, true}, {{0x87}, 1, 0xff, true},
	{{0x88}, 1, 0xff, true}, {{0x89}, 1, 0xff, true}, {{0x8a}, 1, 0xff, true},
	{{0x8b}, 1, 0xff, true}, {{0x8f}, 1, 0x01, true}, {{0xc6}, 1, 0x01, true},
	{{0xc7}, 1, 0x01, true}, {{0xf6}, 1, 0x03, true}, {{0xf7}, 1, 0x03, true},
	{{0xff}, 1, 0x40, true},
	{{0x0f, 0xae}, 2, 0x80, true}, {{0x0f, 0xb6}, 2, 0xff, true},
	{{0x0f, 0xb7}, 2, 0xff, true}, {{0x0f, 0xba}, 2, 0xf0, true},
	{{0x0f, 0xbe}, 2, 0xff, true}, {{0x0f, 0xbf}, 2, 0xff, true},
	{{0xa0}, 1, 0, false}, {{0xa1}, 1, 0, false}, {{0xa2}, 1, 0, false},
	{{0xa3}, 1, 0, false}, {{0xa4}, 1, 0, false}, {{0xa5}, 1, 0, false},
	{{0xaa}, 1, 0, false}, {{0xab}, 1, 0, false},
};
/* clang-format on */
#define NOPCODES (sizeof(opcodes) / sizeof(opcodes[0]))

/* Bytes after ModRM (and SIB): distinct, with the top bits set so sign extension shows. */
static const uint8_t filler[] = {0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8, 0x89, 0x9a};

/* SIB bytes for the ModRM sweep: no index, index RSP/R12, base RBP/R13, each scale. */
static const uint8_t sibs[] = {0x00, 0x24, 0x25, 0x65, 0xa5, 0xe4, 0x5d, 0x1c, 0xdf};

static ZydisDecoder decoders[NMODES];
static unsigned long compared, refused, failures, zydis_issue592;

static void init_decoders(void)
{
	for (size_t m = 0; m < NMODES; m++) {
		ZydisDecoderInit(&decoders[m], modes[m].zmode, modes[m].zstack);
		ZydisDecoderEnableMode(&decoders[m], ZYDIS_DECODER_MODE_MPX, ZYAN_FALSE);
		ZydisDecoderEnableMode(&decoders[m], ZYDIS_DECODER_MODE_CET, ZYAN_FALSE);
		ZydisDecoderEnableMode(&decoders[m], ZYDIS_DECODER_MODE_CLDEMOTE, ZYAN_FALSE);
	}
	compared = refused = failures = zydis_issue592 = 0;
}

TestSuite(vie_zydis, .init = init_decoders);

/* Report a disagreement; after 30 only count them, so one bug does not flood the log. */
#define MISMATCH(fmt, ...)                                                                         \
	do {                                                                                       \
		if (failures++ < 30)                                                               \
			cr_expect_fail("%s: %s: " fmt, m->name, hex, ##__VA_ARGS__);               \
	} while (0)

/* A Zydis general-purpose register: its number 0-15, whether it is AH-BH, its size. */
static bool zydis_gpr(ZydisRegister r, int *num, bool *high, int *size)
{
	ZydisRegister full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);

	if (full < ZYDIS_REGISTER_RAX || full > ZYDIS_REGISTER_R15)
		return false;
	*num = full - ZYDIS_REGISTER_RAX;
	*high = r == ZYDIS_REGISTER_AH || r == ZYDIS_REGISTER_CH || r == ZYDIS_REGISTER_DH ||
	        r == ZYDIS_REGISTER_BH;
	*size = ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r) / 8;
	return true;
}

/* A Zydis base or index register as vie names it (VM_REG_LAST for none). */
static int zydis_addr_reg(ZydisRegister r)
{
	int num, size;
	bool high;

	if (r == ZYDIS_REGISTER_NONE)
		return VM_REG_LAST;
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP)
		return VM_REG_GUEST_RIP;
	if (!zydis_gpr(r, &num, &high, &size))
		return -1;
	return vie_gpr((unsigned int)num);
}

static int zydis_seg(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES:
		return VM_REG_GUEST_ES;
	case ZYDIS_REGISTER_CS:
		return VM_REG_GUEST_CS;
	case ZYDIS_REGISTER_SS:
		return VM_REG_GUEST_SS;
	case ZYDIS_REGISTER_DS:
		return VM_REG_GUEST_DS;
	case ZYDIS_REGISTER_FS:
		return VM_REG_GUEST_FS;
	case ZYDIS_REGISTER_GS:
		return VM_REG_GUEST_GS;
	default:
		return -1;
	}
}

static uint64_t mask_bytes(int n)
{
	return n >= 8 ? ~0ULL : (1ULL << (8 * n)) - 1;
}

/* The segment of vie's memory operand, as verify_gla picks it. */
static int vie_segment(const struct vie *v)
{
	if (v->segment_override)
		return v->segment_register;
	if (v->base_register == VM_REG_GUEST_RSP || v->base_register == VM_REG_GUEST_RBP)
		return VM_REG_GUEST_SS;
	return VM_REG_GUEST_DS;
}

static int vie_decode_n(struct vie *v, const struct mode *m, const uint8_t *buf, size_t n)
{
	vie_init(v);
	memcpy(v->inst, buf, n);
	v->num_valid = (uint8_t)n;
	return vmm_decode_instruction(NULL, 0, VIE_INVALID_GLA, m->cpu_mode, m->csd, v);
}

/* The memory operand vie decodes from ModRM or the moffs: Zydis's explicit one. */
static void compare_memory(const struct mode *m, const char *hex, const struct vie *v,
                           const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	const ZydisDecodedOperand *mem = NULL;
	int addrmask_bytes = v->addrsize, seg;

	for (int i = 0; i < zi->operand_count_visible; i++) {
		if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && mem == NULL)
			mem = &ops[i];
	}
	if (mem == NULL) {
		MISMATCH("Zydis shows no memory operand");
		return;
	}
	/* CLFLUSH names a cache line, 64 bytes for Zydis; bhyve touches one byte of it. */
	if (v->op.op_type == VIE_OP_TYPE_TWOB_GRP15 ? mem->size != 512
	                                            : mem->size != 8 * vie_mem_size(v, m->cpu_mode))
		MISMATCH("memory size %d bits, vie %d bytes", mem->size,
		         vie_mem_size(v, m->cpu_mode));
	/*
	 * Zydis 4.0.0 bug (zyantific/zydis issue 592, fixed by pull request
	 * 593): with 0x67 and REX.B, SIB base 101 with mod 00 comes out as
	 * [R13D] without the disp32.  The SDM (vol. 2 table 2-5: REX.B is not
	 * decoded there) and binutils say no base, disp32, as vie does: check
	 * vie against that and skip the base and displacement comparison.
	 */
	if (m->cpu_mode == CPU_MODE_64BIT && v->addrsize == 4 && v->rex_b && v->mod == 0 &&
	    v->rm == 4 && (v->base & 7) == 5) {
		zydis_issue592++;
		if (v->base_register != VM_REG_LAST || v->disp_bytes != 4 ||
		    mem->mem.base != ZYDIS_REGISTER_R13D)
			MISMATCH("SIB disp32 form with 0x67 and REX.B: vie base %d, %d-byte disp",
			         v->base_register, v->disp_bytes);
		return;
	}
	if (zydis_addr_reg(mem->mem.base) != v->base_register)
		MISMATCH("base %s, vie %d", ZydisRegisterGetString(mem->mem.base),
		         v->base_register);
	if (zydis_addr_reg(mem->mem.index) != v->index_register)
		MISMATCH("index %s, vie %d", ZydisRegisterGetString(mem->mem.index),
		         v->index_register);
	if (mem->mem.index != ZYDIS_REGISTER_NONE && mem->mem.scale != v->scale)
		MISMATCH("scale %d, vie %d", mem->mem.scale, v->scale);
	if (mem->mem.index == ZYDIS_REGISTER_NONE && v->scale != 0)
		MISMATCH("vie scale %d without an index", v->scale);
	if (((uint64_t)mem->mem.disp.value & mask_bytes(addrmask_bytes)) !=
	    ((uint64_t)v->displacement & mask_bytes(addrmask_bytes)))
		MISMATCH("displacement %#llx, vie %#llx", (unsigned long long)mem->mem.disp.value,
		         (unsigned long long)v->displacement);
	if (!(v->op.op_flags & VIE_OP_F_MOFFSET) && v->disp_bytes == 0 &&
	    mem->mem.disp.has_displacement)
		MISMATCH("Zydis has a displacement, vie none");
	/* In 64-bit mode only FS and GS mean anything; Zydis then reports DS or SS or the prefix.
	 */
	seg = zydis_seg(mem->mem.segment);
	if ((m->cpu_mode != CPU_MODE_64BIT || seg == VM_REG_GUEST_FS || seg == VM_REG_GUEST_GS) &&
	    seg != vie_segment(v))
		MISMATCH("segment %s, vie %d", ZydisRegisterGetString(mem->mem.segment),
		         vie_segment(v));
}

/* The register operand: ModRM.reg (AL/rAX for A0-A3), and BEXTR's VEX.vvvv. */
static void compare_registers(const struct mode *m, const char *hex, const struct vie *v,
                              const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	int want = vie_reg_size(v, m->cpu_mode), n = 0, num, size;
	bool high;

	for (int i = 0; i < zi->operand_count_visible; i++) {
		if (ops[i].type != ZYDIS_OPERAND_TYPE_REGISTER)
			continue;
		if (!zydis_gpr(ops[i].reg.value, &num, &high, &size)) {
			MISMATCH("register operand %s", ZydisRegisterGetString(ops[i].reg.value));
			continue;
		}
		if (n++ == 0) {
			bool vie_high = size == 1 && !v->rex_present && (v->reg & 4) != 0;
			int vie_num = vie_high ? (v->reg & 3) : v->reg;

			if (num != vie_num || high != vie_high)
				MISMATCH("register %s, vie reg %d",
				         ZydisRegisterGetString(ops[i].reg.value), v->reg);
			if (size != want)
				MISMATCH("register size %d, vie %d", size, want);
		} else if (v->op.op_type != VIE_OP_TYPE_BEXTR || num != v->vex_reg) {
			MISMATCH("second register %s", ZydisRegisterGetString(ops[i].reg.value));
		}
	}
	if (n == 0 && want != 0)
		MISMATCH("Zydis shows no register operand, vie one of %d bytes", want);
}

static void compare_immediate(const struct mode *m, const char *hex, const struct vie *v,
                              const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	const ZydisDecodedOperand *imm = NULL;
	uint64_t mask;

	for (int i = 0; i < zi->operand_count_visible; i++) {
		if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			imm = &ops[i];
	}
	if (imm == NULL) {
		if (v->imm_bytes != 0)
			MISMATCH("vie has a %d-byte immediate, Zydis none", v->imm_bytes);
		return;
	}
	/* Compared at the width it is used with: the operand's, BT's bit offset at 8 bits. */
	mask =
	    v->op.op_type == VIE_OP_TYPE_BITTEST ? 0xff : mask_bytes(vie_mem_size(v, m->cpu_mode));
	if ((imm->imm.value.u & mask) != ((uint64_t)v->immediate & mask))
		MISMATCH("immediate %#llx, vie %#llx", (unsigned long long)imm->imm.value.u,
		         (unsigned long long)v->immediate);
	if (zi->raw.imm[0].size != 8 * v->imm_bytes)
		MISMATCH("immediate of %d bits, vie %d bytes", zi->raw.imm[0].size, v->imm_bytes);
}

/* The string forms: element size, address size, and the source's segment. */
static void compare_string(const struct mode *m, const char *hex, const struct vie *v,
                           const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	for (int i = 0; i < zi->operand_count; i++) {
		if (ops[i].type != ZYDIS_OPERAND_TYPE_MEMORY)
			continue;
		if (ops[i].size != 8 * vie_mem_size(v, m->cpu_mode))
			MISMATCH("element %d bits, vie %d bytes", ops[i].size,
			         vie_mem_size(v, m->cpu_mode));
		/* MOVS's source is at rSI: DS or the override (ES:rDI cannot be overridden). */
		if (ops[i].mem.base == ZYDIS_REGISTER_RSI ||
		    ops[i].mem.base == ZYDIS_REGISTER_ESI || ops[i].mem.base == ZYDIS_REGISTER_SI) {
			int want = v->segment_override ? v->segment_register : VM_REG_GUEST_DS;

			if (m->cpu_mode != CPU_MODE_64BIT && zydis_seg(ops[i].mem.segment) != want)
				MISMATCH("source segment %s",
				         ZydisRegisterGetString(ops[i].mem.segment));
		}
	}
	if ((zi->attributes &
	     (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE |
	      ZYDIS_ATTRIB_HAS_REPNZ | ZYDIS_ATTRIB_HAS_REPZ)) != 0 &&
	    !(v->repz_present || v->repnz_present))
		MISMATCH("Zydis has REP, vie not");
}

/* Does vie promise to decode these Zydis-valid bytes? */
static bool vie_should_accept(const struct mode *m, const struct opcode *op, uint8_t modrm,
                              int addrsize)
{
	if (!op->modrm)
		return true;
	if (m->cpu_mode == CPU_MODE_REAL || addrsize == 2 || (modrm >> 6) == 3)
		return false;
	return (op->regs >> ((modrm >> 3) & 7)) & 1;
}

/*
 * One byte string: Zydis first; if it accepts, vie at its length; if not,
 * vie at every length.  'op' is NULL when vie's acceptance is not predicted.
 */
static void check_bytes(const struct mode *m, size_t mi, const uint8_t *buf,
                        const struct opcode *op, uint8_t modrm)
{
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	struct vie v;
	char hex[3 * VIE_INST_SIZE + 1];
	bool zok, vok;

	for (int i = 0; i < VIE_INST_SIZE; i++)
		snprintf(hex + 3 * i, 4, "%02x ", buf[i]);
	zok = ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoders[mi], buf, VIE_INST_SIZE, &zi, ops));
	if (!zok) {
		for (size_t n = 1; n <= VIE_INST_SIZE; n++) {
			if (vie_decode_n(&v, m, buf, n) == 0) {
				MISMATCH("Zydis refuses, vie decodes %zu bytes", n);
				return;
			}
		}
		return;
	}
	vok = vie_decode_n(&v, m, buf, zi.length) == 0;
	if (op != NULL && vok != vie_should_accept(m, op, modrm, zi.address_width / 8))
		MISMATCH("vie %s %s", vok ? "accepts" : "refuses",
		         ZydisMnemonicGetString(zi.mnemonic));
	if (!vok) {
		refused++;
		return;
	}
	compared++;
	if (v.num_processed != zi.length)
		MISMATCH("length %d, vie %d", zi.length, v.num_processed);
	if (zi.address_width != 8 * v.addrsize)
		MISMATCH("address size %d, vie %d", zi.address_width, v.addrsize);
	if (v.op.op_type == VIE_OP_TYPE_MOVS || v.op.op_type == VIE_OP_TYPE_STOS) {
		compare_string(m, hex, &v, &zi, ops);
		return;
	}
	compare_memory(m, hex, &v, &zi, ops);
	compare_registers(m, hex, &v, &zi, ops);
	compare_immediate(m, hex, &v, &zi, ops);
}

/* Prefixes + opcode + ModRM (+ SIB) + filler into buf; returns the ModRM's offset. */
static size_t build(uint8_t *buf, const uint8_t *prefixes, size_t np, const struct opcode *op,
                    int modrm, int sib)
{
	size_t n = 0;

	memset(buf, 0, VIE_INST_SIZE);
	memcpy(buf, prefixes, np);
	n = np;
	memcpy(buf + n, op->bytes, op->len);
	n += op->len;
	if (modrm >= 0)
		buf[n++] = (uint8_t)modrm;
	if (sib >= 0)
		buf[n++] = (uint8_t)sib;
	for (size_t i = 0; n < VIE_INST_SIZE; i++)
		buf[n++] = filler[i % sizeof(filler)];
	return np + op->len;
}

/* Each combination of 0x66 and 0x67, then no REX or one of the 16 (64-bit mode only). */
static size_t prefix_set(size_t mi, int k, uint8_t *p)
{
	size_t n = 0;
	int size_bits = k & 3, rex = k >> 2;

	if (size_bits & 1)
		p[n++] = 0x66;
	if (size_bits & 2)
		p[n++] = 0x67;
	if (rex > 0) {
		if (modes[mi].cpu_mode != CPU_MODE_64BIT)
			return SIZE_MAX;
		p[n++] = (uint8_t)(0x40 + rex - 1);
	}
	return n;
}

#define NPREFIX_SETS (4 * 17)

Test(vie_zydis, every_opcode_prefix_and_modrm_in_every_mode, .timeout = 600)
{
	uint8_t buf[VIE_INST_SIZE], pfx[4];

	for (size_t mi = 0; mi < NMODES; mi++) {
		const struct mode *m = &modes[mi];

		for (int k = 0; k < NPREFIX_SETS; k++) {
			size_t np = prefix_set(mi, k, pfx);

			if (np == SIZE_MAX)
				continue;
			for (size_t o = 0; o < NOPCODES; o++) {
				const struct opcode *op = &opcodes[o];

				if (!op->modrm) {
					build(buf, pfx, np, op, -1, -1);
					check_bytes(m, mi, buf, op, 0);
					continue;
				}
				for (int modrm = 0; modrm < 256; modrm++) {
					bool has_sib = (modrm >> 6) != 3 && (modrm & 7) == 4;

					for (size_t s = 0; s < (has_sib ? sizeof(sibs) : 1); s++) {
						build(buf, pfx, np, op, modrm,
						      has_sib ? sibs[s] : -1);
						check_bytes(m, mi, buf, op, (uint8_t)modrm);
					}
				}
			}
		}
	}
	cr_log_info("vie_zydis: %lu forms compared (%lu with the Zydis 4.0.0 SIB bug), %lu refused",
	            compared, zydis_issue592, refused);
	cr_expect_eq(failures, 0, "%lu disagreements", failures);
	cr_expect_gt(compared, 100000);
}

/* Every SIB byte with each mod, every REX, with and without 0x67, for one opcode. */
Test(vie_zydis, every_sib_byte_with_every_mod_and_rex, .timeout = 600)
{
	static const struct opcode mov_load = {{0x8b}, 1, 0xff, true};
	uint8_t buf[VIE_INST_SIZE], pfx[4];

	for (size_t mi = 0; mi < NMODES; mi++) {
		for (int k = 0; k < NPREFIX_SETS; k++) {
			size_t np = prefix_set(mi, k, pfx);

			if (np == SIZE_MAX || (k & 1))
				continue;
			for (int mod = 0; mod < 3; mod++) {
				for (int reg = 0; reg < 8; reg += 3) {
					int modrm = (mod << 6) | (reg << 3) | 4;

					for (int sib = 0; sib < 256; sib++) {
						build(buf, pfx, np, &mov_load, modrm, sib);
						check_bytes(&modes[mi], mi, buf, &mov_load,
						            (uint8_t)modrm);
					}
				}
			}
		}
	}
	cr_expect_eq(failures, 0, "%lu disagreements", failures);
}

/*
 * Segment overrides and REP prefixes in front of a few forms: the string
 * instructions (whose source segment they change), a moffs load, a ModRM
 * store, a group 1 form.
 */
Test(vie_zydis, segment_and_rep_prefixes)
{
	static const uint8_t legacy[] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0xf2, 0xf3};
	static const struct opcode forms[] = {
	    {{0xa4}, 1, 0, false},   {{0xa5}, 1, 0, false}, {{0xaa}, 1, 0, false},
	    {{0xab}, 1, 0, false},   {{0xa1}, 1, 0, false}, {{0x89}, 1, 0xff, true},
	    {{0x81}, 1, 0xff, true},
	};
	static const int modrms[] = {0x08, 0x4d, 0x84, 0x05, 0x0c};
	uint8_t buf[VIE_INST_SIZE], pfx[4];

	for (size_t mi = 0; mi < NMODES; mi++) {
		for (size_t a = 0; a < sizeof(legacy); a++) {
			for (size_t b = 0; b <= sizeof(legacy); b++) {
				for (int k = 0; k < 4; k++) {
					size_t np = 0;

					pfx[np++] = legacy[a];
					if (b < sizeof(legacy))
						pfx[np++] = legacy[b];
					if (k & 1)
						pfx[np++] = 0x66;
					if (k & 2)
						pfx[np++] = 0x48; /* REX.W, 64-bit mode only */
					if ((k & 2) && modes[mi].cpu_mode != CPU_MODE_64BIT)
						continue;
					for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]);
					     f++) {
						const struct opcode *op = &forms[f];

						for (size_t r = 0; r < (op->modrm ? 5 : 1); r++) {
							/* REX must stay last: it goes after the
							 * legacy bytes. */
							build(buf, pfx, np, op,
							      op->modrm ? modrms[r] : -1,
							      op->modrm && (modrms[r] & 7) == 4
							          ? 0x24
							          : -1);
							check_bytes(&modes[mi], mi, buf, NULL, 0);
						}
					}
				}
			}
		}
	}
	cr_expect_eq(failures, 0, "%lu disagreements", failures);
	cr_expect_gt(compared, 1000);
}

/*
 * BEXTR (VEX.LZ.0F38 F7 /r): every ModRM, VEX.W, vvvv, R/X/B and the
 * implied-prefix and L bits that make it another instruction or #UD.
 */
Test(vie_zydis, bextr_vex_forms)
{
	uint8_t buf[VIE_INST_SIZE];
	static const struct opcode bextr = {{0xf7}, 1, 0xff, true};

	for (size_t mi = 0; mi < NMODES; mi++) {
		for (int b1 = 0; b1 < 8; b1++) {
			for (int b2 = 0; b2 < 256; b2 += 3) {
				for (int modrm = 0; modrm < 256; modrm += 7) {
					uint8_t vex[3] = {0xc4, (uint8_t)((b1 << 5) | 2),
					                  (uint8_t)b2};

					build(buf, vex, 3, &bextr, modrm,
					      (modrm >> 6) != 3 && (modrm & 7) == 4 ? 0x24 : -1);
					check_bytes(&modes[mi], mi, buf, NULL, 0);
				}
			}
		}
	}
	cr_expect_eq(failures, 0, "%lu disagreements", failures);
	cr_expect_gt(compared, 1000);
	cr_expect_gt(refused, 1000);
}
