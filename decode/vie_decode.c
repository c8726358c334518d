/*
 * Decoder for the instruction behind an INST_EMUL exit, with the rules of
 * current FreeBSD's vmm_decode_instruction (../shared/BHYVE-EXITS.md section
 * 4 has 10.1.0's, docs/exits.md what changed).  It knows only the
 * memory-operand forms vie_emulate.c emulates, so it is deliberately not the
 * soft CPU's decoder: a guest sees exactly which MMIO instructions are
 * accepted and which make VM_RUN fail with EFAULT.
 *
 * Steps, each consuming bytes of vie->inst: legacy prefixes (operand and
 * address size, REP/REPNE, segment overrides), REX (64-bit mode), VEX (one
 * opcode, BEXTR), opcode, ModRM, SIB, displacement, immediate, memory offset;
 * then all fetched bytes must have been used and the decoded address must
 * equal the gla of the exit.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

#define PREFIX_OPSIZE   0x66
#define PREFIX_ADDRSIZE 0x67
#define PREFIX_REPNE    0xF2
#define PREFIX_REP      0xF3
#define PREFIX_VEX3     0xC4
#define ESCAPE_0F       0x0F
#define MAP_0F38        0x38 /* the VEX map of BEXTR (VEX.mmmmm = 2) */

/* ModRM.mod and ModRM.rm values with a special meaning (SDM vol. 2 table 2-2). */
#define MOD_NO_DISP  0
#define MOD_DISP8    1
#define MOD_DISP32   2
#define MOD_REGISTER 3
#define RM_SIB       4
#define RM_DISP32    5
#define SIB_NO_INDEX 4
#define SIB_NO_BASE  5 /* low three bits of SIB.base, with mod 0 */

/* Short names for the table below. */
#define IMM      VIE_OP_F_IMM
#define IMM8     VIE_OP_F_IMM8
#define BYTE     VIE_OP_F_BYTE
#define NOMODRM  VIE_OP_F_NO_MODRM
#define MOFFS    (VIE_OP_F_MOFFSET | VIE_OP_F_NO_MODRM)
#define STRING   (VIE_OP_F_NO_MODRM | VIE_OP_F_NO_GLA_VERIFICATION)
#define ANYREG   0xFF                   /* every ModRM.reg */
#define SLASH(n) ((uint8_t)(1u << (n))) /* group opcode: only ModRM.reg = n */

/*
 * One emulated opcode.  'map' is 0 for a one-byte opcode, 0x0F for 0F xx
 * and 0x38 for VEX 0F 38 xx.  'regs' has bit n set when ModRM.reg = n is
 * accepted: group opcodes list only the extensions vie_emulate.c handles.
 */
struct vie_opcode {
	uint8_t map;
	uint8_t byte;
	uint8_t type;
	uint8_t regs;
	uint16_t flags;
};

/*
 * Current bhyve's table (vmm_instruction_emul.c one_byte_opcodes,
 * two_byte_opcodes, three_byte_opcodes_0f38) plus softvmm's additions,
 * marked "+".  The ALU rows are the four forms of each operation (SDM
 * vol. 2 table A-2): r/m8, r8; r/m, r; r8, r/m8; r, r/m.
 */
/* clang-format off */
static const struct vie_opcode vie_opcodes[] = {
	{ 0, 0x00, VIE_OP_TYPE_ADD, ANYREG, BYTE },     /* + ADD r/m8, r8 */
	{ 0, 0x01, VIE_OP_TYPE_ADD, ANYREG, 0 },        /* + ADD r/m, r */
	{ 0, 0x02, VIE_OP_TYPE_ADD, ANYREG, BYTE },     /* + ADD r8, r/m8 */
	{ 0, 0x03, VIE_OP_TYPE_ADD, ANYREG, 0 },        /*   ADD r, r/m */
	{ 0, 0x08, VIE_OP_TYPE_OR, ANYREG, BYTE },      /* + OR */
	{ 0, 0x09, VIE_OP_TYPE_OR, ANYREG, 0 },         /* + */
	{ 0, 0x0A, VIE_OP_TYPE_OR, ANYREG, BYTE },      /* + */
	{ 0, 0x0B, VIE_OP_TYPE_OR, ANYREG, 0 },
	{ 0, 0x10, VIE_OP_TYPE_ADC, ANYREG, BYTE },     /* + ADC */
	{ 0, 0x11, VIE_OP_TYPE_ADC, ANYREG, 0 },        /* + */
	{ 0, 0x12, VIE_OP_TYPE_ADC, ANYREG, BYTE },     /* + */
	{ 0, 0x13, VIE_OP_TYPE_ADC, ANYREG, 0 },        /* + */
	{ 0, 0x18, VIE_OP_TYPE_SBB, ANYREG, BYTE },     /* + SBB */
	{ 0, 0x19, VIE_OP_TYPE_SBB, ANYREG, 0 },        /* + */
	{ 0, 0x1A, VIE_OP_TYPE_SBB, ANYREG, BYTE },     /* + */
	{ 0, 0x1B, VIE_OP_TYPE_SBB, ANYREG, 0 },        /* + */
	{ 0, 0x20, VIE_OP_TYPE_AND, ANYREG, BYTE },     /* + AND */
	{ 0, 0x21, VIE_OP_TYPE_AND, ANYREG, 0 },        /* + */
	{ 0, 0x22, VIE_OP_TYPE_AND, ANYREG, BYTE },     /* + */
	{ 0, 0x23, VIE_OP_TYPE_AND, ANYREG, 0 },
	{ 0, 0x28, VIE_OP_TYPE_SUB, ANYREG, BYTE },     /* + SUB */
	{ 0, 0x29, VIE_OP_TYPE_SUB, ANYREG, 0 },        /* + */
	{ 0, 0x2A, VIE_OP_TYPE_SUB, ANYREG, BYTE },     /* + */
	{ 0, 0x2B, VIE_OP_TYPE_SUB, ANYREG, 0 },
	{ 0, 0x30, VIE_OP_TYPE_XOR, ANYREG, BYTE },     /* + XOR */
	{ 0, 0x31, VIE_OP_TYPE_XOR, ANYREG, 0 },        /* + */
	{ 0, 0x32, VIE_OP_TYPE_XOR, ANYREG, BYTE },     /* + */
	{ 0, 0x33, VIE_OP_TYPE_XOR, ANYREG, 0 },        /* + */
	{ 0, 0x38, VIE_OP_TYPE_CMP, ANYREG, BYTE },     /* + CMP */
	{ 0, 0x39, VIE_OP_TYPE_CMP, ANYREG, 0 },
	{ 0, 0x3A, VIE_OP_TYPE_CMP, ANYREG, BYTE },     /* + */
	{ 0, 0x3B, VIE_OP_TYPE_CMP, ANYREG, 0 },
	{ 0, 0x80, VIE_OP_TYPE_GROUP1, ANYREG, IMM8 | BYTE }, /* /0-/7 (bhyve: /1 /4 /7) */
	{ 0, 0x81, VIE_OP_TYPE_GROUP1, ANYREG, IMM },         /* imm16/32 */
	{ 0, 0x83, VIE_OP_TYPE_GROUP1, ANYREG, IMM8 },        /* sign-extended imm8 */
	{ 0, 0x84, VIE_OP_TYPE_TEST, ANYREG, BYTE },    /* + TEST r/m8, r8 */
	{ 0, 0x85, VIE_OP_TYPE_TEST, ANYREG, 0 },       /* + TEST r/m, r */
	{ 0, 0x86, VIE_OP_TYPE_XCHG, ANYREG, BYTE },    /* + XCHG r/m8, r8 */
	{ 0, 0x87, VIE_OP_TYPE_XCHG, ANYREG, 0 },       /* + XCHG r/m, r */
	{ 0, 0x88, VIE_OP_TYPE_MOV, ANYREG, BYTE },     /*   MOV r/m8, r8 */
	{ 0, 0x89, VIE_OP_TYPE_MOV, ANYREG, 0 },        /*   MOV r/m, r */
	{ 0, 0x8A, VIE_OP_TYPE_MOV, ANYREG, BYTE },     /*   MOV r8, r/m8 */
	{ 0, 0x8B, VIE_OP_TYPE_MOV, ANYREG, 0 },        /*   MOV r, r/m */
	{ 0, 0x8F, VIE_OP_TYPE_POP, SLASH(0), 0 },      /*   group 1A: POP r/m */
	{ 0, 0xA0, VIE_OP_TYPE_MOV, ANYREG, MOFFS | BYTE }, /* + MOV AL, moffs8 */
	{ 0, 0xA1, VIE_OP_TYPE_MOV, ANYREG, MOFFS },        /*   MOV rAX, moffs */
	{ 0, 0xA2, VIE_OP_TYPE_MOV, ANYREG, MOFFS | BYTE }, /* + MOV moffs8, AL */
	{ 0, 0xA3, VIE_OP_TYPE_MOV, ANYREG, MOFFS },        /*   MOV moffs, rAX */
	{ 0, 0xA4, VIE_OP_TYPE_MOVS, ANYREG, STRING | BYTE }, /* MOVSB */
	{ 0, 0xA5, VIE_OP_TYPE_MOVS, ANYREG, STRING },        /* MOVSW/D/Q */
	{ 0, 0xAA, VIE_OP_TYPE_STOS, ANYREG, STRING | BYTE }, /* STOSB */
	{ 0, 0xAB, VIE_OP_TYPE_STOS, ANYREG, STRING },        /* STOSW/D/Q */
	{ 0, 0xC6, VIE_OP_TYPE_MOV, SLASH(0), IMM8 | BYTE },  /* group 11: MOV r/m8, imm8 */
	{ 0, 0xC7, VIE_OP_TYPE_MOV, SLASH(0), IMM },          /* group 11: MOV r/m, imm */
	{ 0, 0xF6, VIE_OP_TYPE_TEST, SLASH(0) | SLASH(1), IMM8 | BYTE }, /* + group 3: TEST */
	{ 0, 0xF7, VIE_OP_TYPE_TEST, SLASH(0) | SLASH(1), IMM },   /* group 3: TEST (+ /1) */
	{ 0, 0xFF, VIE_OP_TYPE_PUSH, SLASH(6), 0 },                /* group 5: PUSH r/m */
	{ ESCAPE_0F, 0xAE, VIE_OP_TYPE_TWOB_GRP15, SLASH(7), 0 },  /* CLFLUSH(OPT) m8 */
	{ ESCAPE_0F, 0xB6, VIE_OP_TYPE_MOVZX, ANYREG, 0 },         /* MOVZX r, r/m8 */
	{ ESCAPE_0F, 0xB7, VIE_OP_TYPE_MOVZX, ANYREG, 0 },         /* MOVZX r, r/m16 */
	{ ESCAPE_0F, 0xBA, VIE_OP_TYPE_BITTEST, 0xF0, IMM8 },      /* group 8: BT (+ BTS BTR BTC) */
	{ ESCAPE_0F, 0xBE, VIE_OP_TYPE_MOVSX, ANYREG, 0 },         /* MOVSX r, r/m8 */
	{ ESCAPE_0F, 0xBF, VIE_OP_TYPE_MOVSX, ANYREG, 0 },         /* + MOVSX r, r/m16 */
	{ MAP_0F38, 0xF7, VIE_OP_TYPE_BEXTR, ANYREG, 0 },          /* VEX: BEXTR r, r/m, r */
};
/* clang-format on */

/* The buffer bound also protects against a hand-made vie with num_valid > 15. */
static bool peek_byte(const struct vie *vie, uint8_t *byte)
{
	if (vie->num_processed >= vie->num_valid || vie->num_processed >= VIE_INST_SIZE)
		return false;
	*byte = vie->inst[vie->num_processed];
	return true;
}

static bool take_byte(struct vie *vie, uint8_t *byte)
{
	if (!peek_byte(vie, byte))
		return false;
	vie->num_processed++;
	return true;
}

/* Take an 'n'-byte little-endian field (n <= 8). */
static bool take_le(struct vie *vie, int n, uint64_t *val)
{
	uint8_t byte;
	int i;

	*val = 0;
	for (i = 0; i < n; i++) {
		if (!take_byte(vie, &byte))
			return false;
		*val |= (uint64_t)byte << (8 * i);
	}
	return true;
}

/* Sign-extend the low 'n' bytes of 'val' (n = 1, 2, 4 or 8) to 64 bits. */
static int64_t sign_extend(uint64_t val, int n)
{
	uint64_t sign = 1ULL << (8 * n - 1);

	val &= vie_size2mask(n);
	return (int64_t)((val ^ sign) - sign);
}

/* Operand and address sizes, SDM vol. 1 3.6 (table 3-4) and 3.6.1. */
static void set_sizes(struct vie *vie, enum vm_cpu_mode cpu_mode, int csd)
{
	if (cpu_mode == CPU_MODE_64BIT) {
		vie->addrsize = vie->addrsize_override ? 4 : 8;
		if (vie->rex_w)
			vie->opsize = 8;
		else
			vie->opsize = vie->opsize_override ? 2 : 4;
	} else if (csd) {
		vie->addrsize = vie->addrsize_override ? 2 : 4;
		vie->opsize = vie->opsize_override ? 2 : 4;
	} else {
		vie->addrsize = vie->addrsize_override ? 4 : 2;
		vie->opsize = vie->opsize_override ? 4 : 2;
	}
}

/* The segment register a segment-override prefix names, or -1 (SDM vol. 2 2.1.1). */
static int segment_prefix(uint8_t byte)
{
	switch (byte) {
	case 0x26:
		return VM_REG_GUEST_ES;
	case 0x2E:
		return VM_REG_GUEST_CS;
	case 0x36:
		return VM_REG_GUEST_SS;
	case 0x3E:
		return VM_REG_GUEST_DS;
	case 0x64:
		return VM_REG_GUEST_FS;
	case 0x65:
		return VM_REG_GUEST_GS;
	default:
		return -1;
	}
}

/* In 64-bit mode only FS and GS overrides count (SDM vol. 1 3.3.7.1). */
static bool ignored_in_64bit_mode(int seg)
{
	return seg != VM_REG_GUEST_FS && seg != VM_REG_GUEST_GS;
}

/*
 * Legacy prefixes in any number and order, as bhyve's decode_prefixes: the
 * size overrides, REP/REPNE and segment overrides (the last one wins, as on
 * the processor; in 64-bit mode a CS, DS, ES or SS override after FS or GS
 * is ignored, where bhyve would take it).  LOCK is not a prefix here: it is
 * looked up as an opcode, is not found, and the decode fails, as in bhyve.
 */
static void decode_legacy_prefixes(struct vie *vie, enum vm_cpu_mode cpu_mode)
{
	uint8_t byte;
	int seg;

	while (peek_byte(vie, &byte)) {
		if (byte == PREFIX_OPSIZE) {
			vie->opsize_override = 1;
		} else if (byte == PREFIX_ADDRSIZE) {
			vie->addrsize_override = 1;
		} else if (byte == PREFIX_REP) {
			vie->repz_present = 1;
		} else if (byte == PREFIX_REPNE) {
			vie->repnz_present = 1;
		} else if ((seg = segment_prefix(byte)) >= 0) {
			if (!(cpu_mode == CPU_MODE_64BIT && vie->segment_override &&
			      !ignored_in_64bit_mode(vie->segment_register) &&
			      ignored_in_64bit_mode(seg))) {
				vie->segment_override = 1;
				vie->segment_register = seg;
			}
		} else {
			break;
		}
		vie->num_processed++;
	}
}

/*
 * A three-byte VEX prefix (SDM vol. 2 2.3.5), for the one VEX opcode bhyve
 * emulates.  Outside 64-bit mode C4 is LES unless ModRM.mod would be 3,
 * i.e. the byte after it has bits 7:6 set (2.3.2); there the inverted R, X
 * and B bits, vvvv bit 3 and W are ignored.  Bytes 66, F2, F3 or REX before
 * it make the instruction #UD (2.3.2), so they fail the decode here (bhyve
 * does not check this).  Returns 1 if a VEX prefix was taken, 0 if there is
 * none, -1 if it is malformed or names a map bhyve does not emulate.
 */
static int decode_vex(struct vie *vie, enum vm_cpu_mode cpu_mode)
{
	uint8_t byte, b1, b2;
	bool long_mode = cpu_mode == CPU_MODE_64BIT;

	if (!peek_byte(vie, &byte) || byte != PREFIX_VEX3)
		return 0;
	if (cpu_mode == CPU_MODE_REAL)
		return 0;
	if (!long_mode && (vie->num_processed + 1 >= vie->num_valid ||
	                   (vie->inst[vie->num_processed + 1] >> 6) != 3))
		return 0;
	if (vie->opsize_override || vie->repz_present || vie->repnz_present || vie->rex_present)
		return -1;
	vie->num_processed++;
	if (!take_byte(vie, &b1) || !take_byte(vie, &b2))
		return -1;
	if ((b1 & 0x1F) != 2) /* mmmmm: only the 0F 38 map */
		return -1;
	vie->vex_present = 1;
	if (long_mode) {
		vie->rex_r = !(b1 & 0x80);
		vie->rex_x = !(b1 & 0x40);
		vie->rex_b = !(b1 & 0x20);
		vie->rex_w = b2 >> 7;
		vie->vex_reg = (~b2 >> 3) & 0xF;
	} else {
		vie->vex_reg = (~b2 >> 3) & 0x7;
	}
	vie->vex_l = (b2 >> 2) & 1;
	vie->vex_pp = b2 & 3;
	return 1;
}

/*
 * REX (SDM vol. 2 2.2.1) counts only in 64-bit mode and only right before
 * the opcode; elsewhere 0x40-0x4F are INC/DEC and fail as opcodes.
 */
static void decode_rex(struct vie *vie, enum vm_cpu_mode cpu_mode)
{
	uint8_t byte;

	if (cpu_mode != CPU_MODE_64BIT || !peek_byte(vie, &byte) || (byte & 0xF0) != 0x40)
		return;
	vie->rex_present = 1;
	vie->rex_w = (byte >> 3) & 1;
	vie->rex_r = (byte >> 2) & 1;
	vie->rex_x = (byte >> 1) & 1;
	vie->rex_b = byte & 1;
	vie->num_processed++;
}

static const struct vie_opcode *find_opcode(uint8_t map, uint8_t byte)
{
	size_t i;

	for (i = 0; i < sizeof(vie_opcodes) / sizeof(vie_opcodes[0]); i++) {
		if (vie_opcodes[i].map == map && vie_opcodes[i].byte == byte)
			return &vie_opcodes[i];
	}
	return NULL;
}

/* vie->op.op_byte is the last opcode byte: 0xB6 for 0F B6, as in bhyve. */
static const struct vie_opcode *decode_opcode(struct vie *vie)
{
	const struct vie_opcode *op;
	uint8_t map = 0, byte;

	if (!take_byte(vie, &byte))
		return NULL;
	if (vie->vex_present) {
		map = MAP_0F38;
	} else if (byte == ESCAPE_0F) {
		map = ESCAPE_0F;
		if (!take_byte(vie, &byte))
			return NULL;
	}
	op = find_opcode(map, byte);
	if (op == NULL)
		return NULL;
	/* BEXTR is VEX.LZ.0F38.W0/W1 F7 with no implied prefix; pp 1-3 are SHLX, SARX, SHRX. */
	if (op->type == VIE_OP_TYPE_BEXTR && (vie->vex_l || vie->vex_pp != 0))
		return NULL;
	vie->op.op_byte = op->byte;
	vie->op.op_type = op->type;
	vie->op.op_flags = op->flags;
	return op;
}

/*
 * ModRM with the 32/64-bit table (SDM vol. 2 table 2-2).  Real mode fails
 * as in current bhyve's decode_modrm.  A 16-bit address size fails too:
 * bhyve reads the 32-bit table there as well and so decodes [BX+SI] as
 * [EAX] with the wrong displacement length; softvmm refuses these forms
 * instead of decoding them wrongly (docs/deviations.md).
 */
static int decode_modrm(struct vie *vie, enum vm_cpu_mode cpu_mode, uint8_t regs)
{
	uint8_t byte;

	if (vie->op.op_flags & VIE_OP_F_NO_MODRM)
		return 0;
	if (cpu_mode == CPU_MODE_REAL || vie->addrsize == 2)
		return -1;
	if (!take_byte(vie, &byte))
		return -1;
	vie->mod = byte >> 6;
	vie->reg = ((byte >> 3) & 7) | (vie->rex_r << 3);
	vie->rm = byte & 7;
	/* A register operand cannot be what touched MMIO. */
	if (vie->mod == MOD_REGISTER)
		return -1;
	/* An extension of a group opcode that is not emulated (softvmm: bhyve fails it later,
	 * EINVAL). */
	if ((regs & (1u << (vie->reg & 7))) == 0)
		return -1;
	/* rm 4 means a SIB byte follows; REX.B then extends SIB.base instead. */
	if (vie->rm == RM_SIB)
		return 0;
	if (vie->mod == MOD_NO_DISP && vie->rm == RM_DISP32) {
		/*
		 * disp32 alone; in 64-bit mode RIP + disp32 (SDM vol. 2 2.2.1.6).
		 * REX.B does not turn this into R13 (table 2-5).
		 */
		vie->disp_bytes = 4;
		if (cpu_mode == CPU_MODE_64BIT)
			vie->base_register = VM_REG_GUEST_RIP;
		return 0;
	}
	vie->rm |= vie->rex_b << 3;
	vie->base_register = vie_gpr(vie->rm);
	if (vie->mod == MOD_DISP8)
		vie->disp_bytes = 1;
	else if (vie->mod == MOD_DISP32)
		vie->disp_bytes = 4;
	return 0;
}

/* SIB byte, SDM vol. 2 table 2-3 and table 2-5 (REX special cases). */
static int decode_sib(struct vie *vie)
{
	uint8_t byte;
	unsigned int base, index;

	if ((vie->op.op_flags & VIE_OP_F_NO_MODRM) || vie->rm != RM_SIB)
		return 0;
	if (!take_byte(vie, &byte))
		return -1;
	vie->ss = byte >> 6;
	index = ((byte >> 3) & 7) | (vie->rex_x << 3);
	base = (byte & 7) | (vie->rex_b << 3);
	vie->index = index;
	vie->base = base;
	if (vie->mod == MOD_DISP8)
		vie->disp_bytes = 1;
	else if (vie->mod == MOD_DISP32)
		vie->disp_bytes = 4;
	/* Base 5 (RBP or R13) with mod 0 means disp32 and no base. */
	if (vie->mod == MOD_NO_DISP && (base & 7) == SIB_NO_BASE)
		vie->disp_bytes = 4;
	else
		vie->base_register = vie_gpr(base);
	/* Index 4 without REX.X means no index; R12 (REX.X set) is a real index. */
	if (index != SIB_NO_INDEX) {
		vie->index_register = vie_gpr(index);
		vie->scale = (uint8_t)(1u << vie->ss);
	}
	return 0;
}

static int decode_displacement(struct vie *vie)
{
	uint64_t raw;

	if (vie->disp_bytes == 0)
		return 0;
	if (!take_le(vie, vie->disp_bytes, &raw))
		return -1;
	vie->displacement = sign_extend(raw, vie->disp_bytes);
	return 0;
}

/*
 * An IMM operand has the operand size, except that a 64-bit operation takes
 * a 32-bit immediate and sign-extends it (SDM vol. 2 2.2.1.5).  Every
 * immediate is kept sign-extended to 64 bits.
 */
static int decode_immediate(struct vie *vie)
{
	uint64_t raw;

	if (vie->op.op_flags & VIE_OP_F_IMM)
		vie->imm_bytes = vie->opsize == 2 ? 2 : 4;
	else if (vie->op.op_flags & VIE_OP_F_IMM8)
		vie->imm_bytes = 1;
	if (vie->imm_bytes == 0)
		return 0;
	if (!take_le(vie, vie->imm_bytes, &raw))
		return -1;
	vie->immediate = sign_extend(raw, vie->imm_bytes);
	return 0;
}

/* A memory offset has the address size and is not sign-extended (SDM vol. 2 2.2.1.4). */
static int decode_moffset(struct vie *vie)
{
	uint64_t raw;

	if ((vie->op.op_flags & VIE_OP_F_MOFFSET) == 0)
		return 0;
	if (!take_le(vie, vie->addrsize, &raw))
		return -1;
	vie->displacement = (int64_t)raw;
	return 0;
}

/*
 * The segment of the memory operand: the override, else SS for a rSP or
 * rBP base and DS otherwise (SDM vol. 1 3.7.4, table 3-5).
 */
static enum vm_reg_name operand_segment(const struct vie *vie)
{
	if (vie->segment_override)
		return (enum vm_reg_name)vie->segment_register;
	if (vie->base_register == VM_REG_GUEST_RSP || vie->base_register == VM_REG_GUEST_RBP)
		return VM_REG_GUEST_SS;
	return VM_REG_GUEST_DS;
}

/*
 * The decoded operand's linear address must be the exit's gla, as current
 * bhyve's verify_gla: the segment base (none in 64-bit mode but for FS and
 * GS) plus base + scale * index + displacement, where a RIP base is the
 * address of the next instruction.  The effective address is truncated to
 * the address size before the base is added and the sum to 32 bits outside
 * 64-bit mode (SDM vol. 3 3.4.1); bhyve truncates the sum with the base to
 * the address size.
 */
static int verify_gla(struct vm *vm, int cpuid, uint64_t gla, enum vm_cpu_mode cpu_mode,
                      const struct vie *vie)
{
	uint64_t base = 0, index = 0, ea, segbase = 0;
	enum vm_reg_name seg;
	struct seg_desc desc;

	if (gla == VIE_INVALID_GLA || (vie->op.op_flags & VIE_OP_F_NO_GLA_VERIFICATION))
		return 0;
	if (vie->base_register != VM_REG_LAST) {
		if (vm_get_register(vm, cpuid, vie->base_register, &base) != 0)
			return -1;
		if (vie->base_register == VM_REG_GUEST_RIP)
			base += vie->num_valid;
		/*
		 * POP m with a rSP base addresses with rSP already incremented
		 * (SDM vol. 2 POP), while the exit shows rSP before the pop
		 * (softvmm; bhyve compares with that rSP and so refuses).
		 */
		if (vie->base_register == VM_REG_GUEST_RSP && vie->op.op_type == VIE_OP_TYPE_POP)
			base += (uint64_t)vie_mem_size(vie, cpu_mode);
	}
	if (vie->index_register != VM_REG_LAST &&
	    vm_get_register(vm, cpuid, vie->index_register, &index) != 0)
		return -1;
	seg = operand_segment(vie);
	if (cpu_mode != CPU_MODE_64BIT || seg == VM_REG_GUEST_FS || seg == VM_REG_GUEST_GS) {
		if (vm_get_seg_desc(vm, cpuid, seg, &desc) != 0)
			return -1;
		segbase = desc.base;
	}
	ea = (base + vie->scale * index + (uint64_t)vie->displacement) &
	     vie_size2mask(vie->addrsize);
	ea += segbase;
	if (cpu_mode != CPU_MODE_64BIT)
		ea &= 0xffffffffULL;
	return ea == gla ? 0 : -1;
}

int vmm_decode_instruction(struct vm *vm, int cpuid, uint64_t gla, enum vm_cpu_mode cpu_mode,
                           int csd, struct vie *vie)
{
	const struct vie_opcode *op;
	int vex;

	decode_legacy_prefixes(vie, cpu_mode);
	decode_rex(vie, cpu_mode);
	vex = decode_vex(vie, cpu_mode);
	if (vex < 0)
		return -1;
	set_sizes(vie, cpu_mode, csd);
	op = decode_opcode(vie);
	if (op == NULL)
		return -1;
	if (decode_modrm(vie, cpu_mode, op->regs) != 0 || decode_sib(vie) != 0 ||
	    decode_displacement(vie) != 0 || decode_immediate(vie) != 0 || decode_moffset(vie) != 0)
		return -1;
	/* The exit's instruction length must be exactly what was decoded. */
	if (vie->num_processed != vie->num_valid)
		return -1;
	if (verify_gla(vm, cpuid, gla, cpu_mode, vie) != 0)
		return -1;
	vie->decoded = 1;
	return 0;
}
