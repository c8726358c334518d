/*
 * Emulation of the arithmetic forms with a memory operand: the ALU family
 * ADD OR ADC SBB AND SUB XOR CMP in its four r/m-r forms (00-3B) and with
 * an immediate (group 1: 80, 81, 83), TEST (84, 85, F6/F7 /0 /1), BT BTS
 * BTR BTC with an imm8 (0F BA /4-/7) and BEXTR (VEX 0F38 F7).
 *
 * bhyve computes the flags by running the host's own instruction
 * (vmm_instruction_emul.c getcc, getandflags, getaddflags); here they are
 * computed in C, with the definitions the soft CPU uses (core/cpu/flags.c,
 * SDM vol. 2 "Flags Affected" of each instruction), so that an instruction
 * on MMIO leaves RFLAGS as the same instruction on RAM does on every host.
 * Where the SDM leaves a flag undefined the value is the soft CPU's under
 * both vendor profiles: AF = 0 after AND, OR, XOR and TEST; BT leaves OF,
 * SF, AF and PF alone; BEXTR clears AF, SF and PF (docs/undefined-behaviour.md).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

/* The operations in opcode order: bits 5:3 of 00-3B, ModRM.reg of group 1 (SDM vol. 2 A.3). */
enum alu_op { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* Group 8 (0F BA) extensions, SDM vol. 2 table A-6. */
enum { BT_TEST = 4, BT_SET, BT_RESET, BT_COMPLEMENT };

/* ZF, SF and PF of a 'size'-byte result; PF looks at the low byte only. */
static uint64_t flags_szp(uint64_t res, int size)
{
	uint64_t flags = 0;

	if (res == 0)
		flags |= VIE_RFLAGS_ZF;
	if ((res >> (8 * size - 1)) & 1)
		flags |= VIE_RFLAGS_SF;
	if (!__builtin_parity((unsigned int)(res & 0xff)))
		flags |= VIE_RFLAGS_PF;
	return flags;
}

/*
 * a op b (with the carry 'cf' for ADC/SBB) at 'size' bytes, the operands
 * already masked; the result masked, *flags its six status flags.
 */
static uint64_t alu(enum alu_op op, int size, uint64_t a, uint64_t b, bool cf, uint64_t *flags)
{
	uint64_t mask = vie_size2mask(size), sign = 1ULL << (8 * size - 1), res;
	uint64_t f = 0;

	switch (op) {
	case ALU_ADD:
	case ALU_ADC:
		if (op == ALU_ADD)
			cf = false;
		res = (a + b + (cf ? 1 : 0)) & mask;
		/* Carry out of the top bit: the sum wrapped (with a carry in, it may equal a). */
		if (cf ? res <= a : res < a)
			f |= VIE_RFLAGS_CF;
		if ((a ^ res) & (b ^ res) & sign)
			f |= VIE_RFLAGS_OF;
		break;
	case ALU_SUB:
	case ALU_SBB:
	case ALU_CMP:
		if (op != ALU_SBB)
			cf = false;
		res = (a - b - (cf ? 1 : 0)) & mask;
		if (cf ? a <= b : a < b)
			f |= VIE_RFLAGS_CF; /* borrow */
		if ((a ^ b) & (a ^ res) & sign)
			f |= VIE_RFLAGS_OF;
		break;
	case ALU_AND:
		res = a & b;
		break;
	case ALU_OR:
		res = a | b;
		break;
	default:
		res = a ^ b;
		break;
	}
	/* AF: a carry or borrow out of bit 3; the logic operations leave it 0. */
	if (op != ALU_AND && op != ALU_OR && op != ALU_XOR && ((a ^ b ^ res) & 0x10))
		f |= VIE_RFLAGS_AF;
	*flags = f | flags_szp(res, size);
	return res;
}

static bool carry_in(const struct vie_ctx *c, bool *cf)
{
	uint64_t rflags;

	if (vie_get_reg(c, VM_REG_GUEST_RFLAGS, &rflags) != 0)
		return false;
	*cf = (rflags & VIE_RFLAGS_CF) != 0;
	return true;
}

/*
 * 00-3B and group 1.  The memory operand is the destination (00, 01, 08,
 * ... and group 1) or the source (02, 03, 0A, ... : ModRM.reg is the
 * destination); CMP writes nothing.  The register is read before the
 * device, the result written before the flags, as bhyve's emulate_and,
 * emulate_or, emulate_sub, emulate_add and emulate_cmp do for their forms.
 */
int vie_emulate_alu(const struct vie_ctx *c)
{
	const struct vie *vie = c->vie;
	bool group1 = vie->op.op_type == VIE_OP_TYPE_GROUP1;
	enum alu_op op = (enum alu_op)(group1 ? (vie->reg & 7) : (vie->op.op_byte >> 3) & 7);
	bool reg_dst = !group1 && (vie->op.op_byte & 2) != 0;
	int size = vie_mem_size(vie, c->paging->cpu_mode);
	uint64_t mask = vie_size2mask(size), other, mem_val, res, flags;
	bool cf = false;
	int error;

	if (group1) {
		other = (uint64_t)vie->immediate & mask;
	} else {
		error = vie_read_modrm_reg(c, size, &other);
		if (error != 0)
			return error;
	}
	error = vie_mmio_read(c, &mem_val, size);
	if (error != 0)
		return error;
	if ((op == ALU_ADC || op == ALU_SBB) && !carry_in(c, &cf))
		return EINVAL;
	if (reg_dst)
		res = alu(op, size, other, mem_val, cf, &flags);
	else
		res = alu(op, size, mem_val, other, cf, &flags);
	if (op != ALU_CMP) {
		error = reg_dst ? vie_write_modrm_reg(c, size, res) : vie_mmio_write(c, res, size);
		if (error != 0)
			return error;
	}
	return vie_update_rflags(c, VIE_RFLAGS_STATUS, flags);
}

/*
 * TEST r/m, r (84, 85) and TEST r/m, imm (F6/F7 /0, and /1, which the
 * processor and Zydis take as TEST too): the flags of the AND, nothing
 * written (bhyve's emulate_test, which has F7 /0 only).
 */
int vie_emulate_test(const struct vie_ctx *c)
{
	const struct vie *vie = c->vie;
	int size = vie_mem_size(vie, c->paging->cpu_mode);
	uint64_t other, mem_val, flags;
	int error;

	if (vie->op.op_byte == 0xF6 || vie->op.op_byte == 0xF7) {
		other = (uint64_t)vie->immediate & vie_size2mask(size);
	} else {
		error = vie_read_modrm_reg(c, size, &other);
		if (error != 0)
			return error;
	}
	error = vie_mmio_read(c, &mem_val, size);
	if (error != 0)
		return error;
	(void)alu(ALU_AND, size, mem_val, other, false, &flags);
	return vie_update_rflags(c, VIE_RFLAGS_STATUS, flags);
}

/*
 * 0F BA /4-/7 ib: BT, BTS, BTR, BTC m, imm8.  The bit offset is the
 * immediate modulo the operand width (SDM vol. 2 BT, table 3-2: with an
 * immediate the bit is always inside the operand).  CF gets the bit as it
 * was; BTS/BTR/BTC write the changed operand back.  Only CF changes (bhyve's
 * emulate_bittest, which has /4 only).
 */
int vie_emulate_bittest(const struct vie_ctx *c)
{
	const struct vie *vie = c->vie;
	int size = vie->opsize;
	uint64_t val, bit;
	int error;

	error = vie_mmio_read(c, &val, size);
	if (error != 0)
		return error;
	bit = 1ULL << ((uint64_t)vie->immediate & (uint64_t)(8 * size - 1));
	switch (vie->reg & 7) {
	case BT_TEST:
		break;
	case BT_SET:
		error = vie_mmio_write(c, val | bit, size);
		break;
	case BT_RESET:
		error = vie_mmio_write(c, val & ~bit, size);
		break;
	case BT_COMPLEMENT:
		error = vie_mmio_write(c, val ^ bit, size);
		break;
	default:
		return EINVAL;
	}
	if (error != 0)
		return error;
	return vie_update_rflags(c, VIE_RFLAGS_CF, (val & bit) ? VIE_RFLAGS_CF : 0);
}

/*
 * VEX.LZ.0F38.W0/W1 F7 /r: BEXTR r, r/m, r (SDM vol. 2 BEXTR): the LEN
 * (bits 15:8 of the VEX.vvvv register) bits of the device's value starting
 * at START (bits 7:0), zero-extended, into ModRM.reg; a START at or beyond
 * the width or a LEN of 0 gives 0.  ZF from the result, every other status
 * flag cleared (bhyve's emulate_bextr).
 */
int vie_emulate_bextr(const struct vie_ctx *c)
{
	const struct vie *vie = c->vie;
	int size = vie_mem_size(vie, c->paging->cpu_mode);
	unsigned int bits = 8u * (unsigned int)size, start, len;
	uint64_t src, ctl, res = 0;
	int error;

	error = vie_mmio_read(c, &src, size);
	if (error == 0)
		error = vie_get_reg(c, vie_gpr(vie->vex_reg), &ctl);
	if (error != 0)
		return error;
	start = ctl & 0xff;
	len = (ctl >> 8) & 0xff;
	if (start < bits) {
		res = src >> start;
		if (len < 64)
			res &= (1ULL << len) - 1;
	}
	error = vie_update_register(c->vm, c->vcpuid, vie_gpr(vie->reg), res, size);
	if (error != 0)
		return error;
	return vie_update_rflags(c, VIE_RFLAGS_STATUS, res == 0 ? VIE_RFLAGS_ZF : 0);
}
