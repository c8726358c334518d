/*
 * Decoder for the instruction behind an INST_EMUL exit, with the rules of
 * FreeBSD 10.1.0's vmm_decode_instruction (../shared/BHYVE-EXITS.md section
 * 4).  It knows only the few memory-operand forms bhyve emulates, so it is
 * deliberately not the soft CPU's decoder: a guest must see exactly which
 * MMIO instructions bhyve accepts and which make VM_RUN fail with EFAULT.
 *
 * Steps, each consuming bytes of vie->inst: legacy prefixes (0x66, 0x67
 * only), REX (64-bit mode), opcode, ModRM, SIB, displacement, immediate,
 * memory offset; then all fetched bytes must have been used and the decoded
 * address must equal the gla of the exit.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

#define PREFIX_OPSIZE   0x66
#define PREFIX_ADDRSIZE 0x67
#define ESCAPE_0F       0x0F

/* ModRM.mod and ModRM.rm values with a special meaning (SDM vol. 2 table 2-2). */
#define MOD_NO_DISP  0
#define MOD_DISP8    1
#define MOD_DISP32   2
#define MOD_REGISTER 3
#define RM_SIB       4
#define RM_DISP32    5
#define SIB_NO_INDEX 4
#define SIB_NO_BASE  5 /* low three bits of SIB.base, with mod 0 */

/* A memory offset instead of ModRM (MOV A1/A3, SDM vol. 2 2.2.1.4). */
#define MOFFS_FORM (VIE_OP_F_MOFFSET | VIE_OP_F_NO_MODRM)

/* One emulated opcode: 'escape' is 0x0F for a two-byte opcode, else 0. */
struct vie_opcode {
	uint8_t escape;
	uint8_t byte;
	uint8_t type;
	uint16_t flags;
};

/*
 * The opcodes bhyve 10.1.0 emulates.  The group opcodes (81, 83, C6, C7, FF)
 * are listed whole: the emulator, not the decoder, checks ModRM.reg.
 */
/* clang-format off */
static const struct vie_opcode vie_opcodes[] = {
	{ 0, 0x23, VIE_OP_TYPE_AND, 0 },             /* AND r, r/m */
	{ 0, 0x2B, VIE_OP_TYPE_SUB, 0 },             /* SUB r, r/m */
	{ 0, 0x3B, VIE_OP_TYPE_CMP, 0 },             /* CMP r, r/m */
	{ 0, 0x81, VIE_OP_TYPE_AND, VIE_OP_F_IMM },  /* group 1 r/m, imm16/32: /4 AND, /1 OR */
	{ 0, 0x83, VIE_OP_TYPE_OR, VIE_OP_F_IMM8 },  /* group 1 r/m, simm8: /1 OR */
	{ 0, 0x88, VIE_OP_TYPE_MOV, 0 },             /* MOV r/m8, r8 */
	{ 0, 0x89, VIE_OP_TYPE_MOV, 0 },             /* MOV r/m, r */
	{ 0, 0x8A, VIE_OP_TYPE_MOV, 0 },             /* MOV r8, r/m8 */
	{ 0, 0x8B, VIE_OP_TYPE_MOV, 0 },             /* MOV r, r/m */
	{ 0, 0xA1, VIE_OP_TYPE_MOV, MOFFS_FORM },    /* MOV rAX, moffs */
	{ 0, 0xA3, VIE_OP_TYPE_MOV, MOFFS_FORM },    /* MOV moffs, rAX */
	{ 0, 0xC6, VIE_OP_TYPE_MOV, VIE_OP_F_IMM8 }, /* group 11: MOV r/m8, imm8 */
	{ 0, 0xC7, VIE_OP_TYPE_MOV, VIE_OP_F_IMM },  /* group 11: MOV r/m, imm16/32 */
	{ 0, 0xFF, VIE_OP_TYPE_PUSH, 0 },            /* group 5: /6 PUSH r/m */
	{ ESCAPE_0F, 0xB6, VIE_OP_TYPE_MOVZX, 0 },   /* MOVZX r, r/m8 */
	{ ESCAPE_0F, 0xB7, VIE_OP_TYPE_MOVZX, 0 },   /* MOVZX r, r/m16 */
	{ ESCAPE_0F, 0xBE, VIE_OP_TYPE_MOVSX, 0 },   /* MOVSX r, r/m8 */
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

/*
 * bhyve accepts only the size overrides, in any number and order.  Any other
 * legacy prefix (segment override, LOCK, REP) is then looked up as an opcode,
 * is not found, and the decode fails.  A REX prefix (SDM vol. 2 2.2.1) counts
 * only in 64-bit mode and only right before the opcode; elsewhere 0x40-0x4F
 * are INC/DEC and fail the same way.
 */
static int decode_prefixes(struct vie *vie, enum vm_cpu_mode cpu_mode, int csd)
{
	uint8_t byte;

	for (;;) {
		if (!peek_byte(vie, &byte))
			return -1;
		if (byte == PREFIX_OPSIZE)
			vie->opsize_override = 1;
		else if (byte == PREFIX_ADDRSIZE)
			vie->addrsize_override = 1;
		else
			break;
		vie->num_processed++;
	}
	if (cpu_mode == CPU_MODE_64BIT && (byte & 0xF0) == 0x40) {
		vie->rex_present = 1;
		vie->rex_w = (byte >> 3) & 1;
		vie->rex_r = (byte >> 2) & 1;
		vie->rex_x = (byte >> 1) & 1;
		vie->rex_b = byte & 1;
		vie->num_processed++;
	}
	set_sizes(vie, cpu_mode, csd);
	return 0;
}

static const struct vie_opcode *find_opcode(uint8_t escape, uint8_t byte)
{
	size_t i;

	for (i = 0; i < sizeof(vie_opcodes) / sizeof(vie_opcodes[0]); i++) {
		if (vie_opcodes[i].escape == escape && vie_opcodes[i].byte == byte)
			return &vie_opcodes[i];
	}
	return NULL;
}

/* vie->op.op_byte is the last opcode byte: 0xB6 for 0F B6, as in bhyve. */
static int decode_opcode(struct vie *vie)
{
	const struct vie_opcode *op;
	uint8_t escape = 0, byte;

	if (!take_byte(vie, &byte))
		return -1;
	if (byte == ESCAPE_0F) {
		escape = byte;
		if (!take_byte(vie, &byte))
			return -1;
	}
	op = find_opcode(escape, byte);
	if (op == NULL)
		return -1;
	vie->op.op_byte = op->byte;
	vie->op.op_type = op->type;
	vie->op.op_flags = op->flags;
	return 0;
}

/*
 * ModRM, read with the 32/64-bit table (SDM vol. 2 table 2-2) in every mode:
 * bhyve 10.1.0 has no 16-bit addressing forms (table 2-1), so with a 16-bit
 * address size an operand like [BX+SI] decodes to the wrong registers and
 * then fails verify_gla.  Real mode fails before the opcode's form is even
 * looked at, so no instruction decodes there, not even A1/A3.
 */
static int decode_modrm(struct vie *vie, enum vm_cpu_mode cpu_mode)
{
	uint8_t byte;

	if (cpu_mode == CPU_MODE_REAL)
		return -1;
	if (vie->op.op_flags & VIE_OP_F_NO_MODRM)
		return 0;
	if (!take_byte(vie, &byte))
		return -1;
	vie->mod = byte >> 6;
	vie->reg = ((byte >> 3) & 7) | (vie->rex_r << 3);
	vie->rm = byte & 7;
	/* A register operand cannot be what touched MMIO. */
	if (vie->mod == MOD_REGISTER)
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
 * The decoded operand's linear address must be the exit's gla:
 * base + scale * index + displacement, truncated to the address size, where
 * a RIP base is the address of the next instruction.
 *
 * As bhyve 10.1.0, no segment base is added: the soft CPU reports the gla as
 * VT-x's VMCS does (segment base included), so an MMIO access through a
 * segment with a nonzero base (FS or GS in 64-bit mode, any such segment
 * outside it) fails to decode and VM_RUN returns EFAULT, as under bhyve.
 */
static int verify_gla(struct vm *vm, int cpuid, uint64_t gla, const struct vie *vie)
{
	uint64_t base = 0, index = 0, ea;

	if (gla == VIE_INVALID_GLA)
		return 0;
	if (vie->base_register != VM_REG_LAST) {
		if (vm_get_register(vm, cpuid, vie->base_register, &base) != 0)
			return -1;
		if (vie->base_register == VM_REG_GUEST_RIP)
			base += vie->num_valid;
	}
	if (vie->index_register != VM_REG_LAST &&
	    vm_get_register(vm, cpuid, vie->index_register, &index) != 0)
		return -1;
	ea = base + vie->scale * index + (uint64_t)vie->displacement;
	ea &= vie_size2mask(vie->addrsize);
	return ea == gla ? 0 : -1;
}

int vmm_decode_instruction(struct vm *vm, int cpuid, uint64_t gla, enum vm_cpu_mode cpu_mode,
                           int csd, struct vie *vie)
{
	if (decode_prefixes(vie, cpu_mode, csd) != 0 || decode_opcode(vie) != 0 ||
	    decode_modrm(vie, cpu_mode) != 0 || decode_sib(vie) != 0 ||
	    decode_displacement(vie) != 0 || decode_immediate(vie) != 0 || decode_moffset(vie) != 0)
		return -1;
	/* The exit's instruction length must be exactly what was decoded. */
	if (vie->num_processed != vie->num_valid)
		return -1;
	if (verify_gla(vm, cpuid, gla, vie) != 0)
		return -1;
	vie->decoded = 1;
	return 0;
}
