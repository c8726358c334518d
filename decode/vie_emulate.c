/*
 * Emulation of a decoded MMIO instruction with the rules of current
 * FreeBSD's vmm_emulate_instruction: the device is reached only through
 * the read/write callbacks, the vcpu through the register calls of vmm.h,
 * and guest RAM (a PUSH/POP stack, the RAM side of a MOVS) through
 * vm_copy_setup.  This file has the dispatch, the moves (MOV, MOVZX,
 * MOVSX, XCHG) and CLFLUSH; arithmetic is in vie_alu.c, PUSH/POP in
 * vie_stack.c, MOVS/STOS in vie_string.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

int vie_mmio_read(const struct vie_ctx *c, uint64_t *val, int size)
{
	int error;

	*val = 0;
	error = c->read(c->vm, c->vcpuid, c->gpa, val, size, c->arg);
	/* Bits a device returns beyond the access are not part of the value. */
	*val &= vie_size2mask(size);
	return error;
}

int vie_mmio_write(const struct vie_ctx *c, uint64_t val, int size)
{
	return c->write(c->vm, c->vcpuid, c->gpa, val & vie_size2mask(size), size, c->arg);
}

int vie_get_reg(const struct vie_ctx *c, enum vm_reg_name reg, uint64_t *val)
{
	return vm_get_register(c->vm, c->vcpuid, reg, val);
}

/*
 * The register that ModRM.reg names for an 8-bit operand, and the bit where
 * the byte starts in it.  Without a REX prefix, numbers 4-7 are AH, CH, DH,
 * BH (bits 15:8 of RAX..RBX); with one they are SPL, BPL, SIL, DIL (SDM
 * vol. 2 2.2.1.2 and table 2-2; bhyve's vie_calc_bytereg).
 */
static enum vm_reg_name byte_reg(const struct vie *vie, int *shift)
{
	if (!vie->rex_present && (vie->reg & 4)) {
		*shift = 8;
		return vie_gpr(vie->reg & 3);
	}
	*shift = 0;
	return vie_gpr(vie->reg);
}

int vie_read_modrm_reg(const struct vie_ctx *c, int size, uint64_t *val)
{
	enum vm_reg_name reg = vie_gpr(c->vie->reg);
	int shift = 0, error;

	if (size == 1)
		reg = byte_reg(c->vie, &shift);
	error = vie_get_reg(c, reg, val);
	if (error != 0)
		return error;
	*val = (*val >> shift) & vie_size2mask(size);
	return 0;
}

int vie_write_modrm_reg(const struct vie_ctx *c, int size, uint64_t val)
{
	enum vm_reg_name reg;
	uint64_t old;
	int shift, error;

	if (size != 1)
		return vie_update_register(c->vm, c->vcpuid, vie_gpr(c->vie->reg), val, size);
	reg = byte_reg(c->vie, &shift);
	error = vie_get_reg(c, reg, &old);
	if (error != 0)
		return error;
	old &= ~(0xffULL << shift);
	return vm_set_register(c->vm, c->vcpuid, reg, old | ((val & 0xff) << shift));
}

int vie_update_rflags(const struct vie_ctx *c, uint64_t mask, uint64_t flags)
{
	uint64_t rflags;
	int error;

	error = vie_get_reg(c, VM_REG_GUEST_RFLAGS, &rflags);
	if (error != 0)
		return error;
	rflags = (rflags & ~mask) | (flags & mask);
	return vie_update_register(c->vm, c->vcpuid, VM_REG_GUEST_RFLAGS, rflags, 8);
}

int vie_mem_size(const struct vie *vie, enum vm_cpu_mode cpu_mode)
{
	if (vie->op.op_flags & VIE_OP_F_BYTE)
		return 1;
	switch (vie->op.op_type) {
	case VIE_OP_TYPE_PUSH:
	case VIE_OP_TYPE_POP:
		/*
		 * 64-bit mode: 8 bytes, or 2 with 0x66 and no REX.W; never 4 (SDM
		 * vol. 1 6.2.5).  bhyve's emulate_stack_op takes 2 for 0x66 even
		 * with REX.W.
		 */
		if (cpu_mode == CPU_MODE_64BIT)
			return vie->opsize == 2 ? 2 : 8;
		return vie->opsize;
	case VIE_OP_TYPE_MOVZX:
	case VIE_OP_TYPE_MOVSX:
		return (vie->op.op_byte == 0xB7 || vie->op.op_byte == 0xBF) ? 2 : 1;
	case VIE_OP_TYPE_TWOB_GRP15:
		return 1; /* CLFLUSH m8 */
	case VIE_OP_TYPE_BEXTR:
		/* VEX.W selects 64 bits only in 64-bit mode (SDM BEXTR). */
		return cpu_mode == CPU_MODE_64BIT ? vie->opsize : 4;
	default:
		return vie->opsize;
	}
}

int vie_reg_size(const struct vie *vie, enum vm_cpu_mode cpu_mode)
{
	switch (vie->op.op_type) {
	case VIE_OP_TYPE_GROUP1:
	case VIE_OP_TYPE_PUSH:
	case VIE_OP_TYPE_POP:
	case VIE_OP_TYPE_MOVS:
	case VIE_OP_TYPE_STOS:
	case VIE_OP_TYPE_BITTEST:
	case VIE_OP_TYPE_TWOB_GRP15:
		return 0;
	case VIE_OP_TYPE_MOV:
		/* C6/C7 store an immediate. */
		if (vie->op.op_byte == 0xC6 || vie->op.op_byte == 0xC7)
			return 0;
		break;
	case VIE_OP_TYPE_TEST:
		if (vie->op.op_byte == 0xF6 || vie->op.op_byte == 0xF7)
			return 0;
		break;
	case VIE_OP_TYPE_MOVZX:
	case VIE_OP_TYPE_MOVSX:
		return vie->opsize;
	default:
		break;
	}
	return vie_mem_size(vie, cpu_mode);
}

/*
 * MOV in its forms (SDM vol. 2 MOV): 88/89 and A2/A3 store the register
 * (AL/rAX for the moffs forms, whose vie->reg is 0), 8A/8B and A0/A1 load
 * it, C6/C7 store the immediate (imm32 sign-extended for a 64-bit operand).
 * bhyve's emulate_mov.
 */
static int emulate_mov(const struct vie_ctx *c)
{
	int size = vie_mem_size(c->vie, c->paging->cpu_mode);
	uint64_t val;
	int error;

	switch (c->vie->op.op_byte) {
	case 0x88:
	case 0x89:
	case 0xA2:
	case 0xA3:
		error = vie_read_modrm_reg(c, size, &val);
		return error != 0 ? error : vie_mmio_write(c, val, size);
	case 0x8A:
	case 0x8B:
	case 0xA0:
	case 0xA1:
		error = vie_mmio_read(c, &val, size);
		return error != 0 ? error : vie_write_modrm_reg(c, size, val);
	case 0xC6:
	case 0xC7:
		return vie_mmio_write(c, (uint64_t)c->vie->immediate, size);
	default:
		return EINVAL;
	}
}

/*
 * 0F B6/B7 MOVZX and 0F BE/BF MOVSX: read the byte or word, extend it and
 * write the register at the operand size (bhyve's emulate_movx; 0F BF is
 * softvmm's).
 */
static int emulate_movx(const struct vie_ctx *c)
{
	int width = vie_mem_size(c->vie, c->paging->cpu_mode);
	uint64_t val;
	int error;

	error = vie_mmio_read(c, &val, width);
	if (error != 0)
		return error;
	if (c->vie->op.op_type == VIE_OP_TYPE_MOVSX && (val & (1ULL << (8 * width - 1))))
		val |= ~vie_size2mask(width);
	return vie_write_modrm_reg(c, c->vie->opsize, val);
}

/*
 * 86/87 XCHG r/m, r (softvmm): the device gets the register's value and
 * the register the device's, read before the write as the locked
 * read-modify-write does (SDM vol. 2 XCHG).
 */
static int emulate_xchg(const struct vie_ctx *c)
{
	int size = vie_mem_size(c->vie, c->paging->cpu_mode);
	uint64_t reg_val, mem_val;
	int error;

	error = vie_read_modrm_reg(c, size, &reg_val);
	if (error == 0)
		error = vie_mmio_read(c, &mem_val, size);
	if (error == 0)
		error = vie_mmio_write(c, reg_val, size);
	if (error != 0)
		return error;
	return vie_write_modrm_reg(c, size, mem_val);
}

/*
 * 0F AE /7 with a memory operand: CLFLUSH, or CLFLUSHOPT with 0x66.  There
 * is no cache to flush; as bhyve's emulate_twob_group15, one byte is read
 * so that the device sees the access an access-rights check would make.
 */
static int emulate_clflush(const struct vie_ctx *c)
{
	uint64_t val;

	return vie_mmio_read(c, &val, 1);
}

int vmm_emulate_instruction(void *vm, int cpuid, uint64_t gpa, struct vie *vie,
                            struct vm_guest_paging *paging, mem_region_read_t mrr,
                            mem_region_write_t mrw, void *mrarg)
{
	const struct vie_ctx c = {
	    .vm = vm,
	    .vcpuid = cpuid,
	    .gpa = gpa,
	    .vie = vie,
	    .paging = paging,
	    .read = mrr,
	    .write = mrw,
	    .arg = mrarg,
	};

	if (vie == NULL || !vie->decoded || paging == NULL || mrr == NULL || mrw == NULL)
		return EINVAL;
	/* Only a hand-made vie can have other sizes; refuse it rather than misbehave. */
	if (vie_size2mask(vie->opsize) == 0 || vie_size2mask(vie->addrsize) == 0)
		return EINVAL;
	vie->restart = 0;
	switch (vie->op.op_type) {
	case VIE_OP_TYPE_MOV:
		return emulate_mov(&c);
	case VIE_OP_TYPE_MOVZX:
	case VIE_OP_TYPE_MOVSX:
		return emulate_movx(&c);
	case VIE_OP_TYPE_XCHG:
		return emulate_xchg(&c);
	case VIE_OP_TYPE_TWOB_GRP15:
		return (vie->reg & 7) == 7 ? emulate_clflush(&c) : EINVAL;
	case VIE_OP_TYPE_ADD:
	case VIE_OP_TYPE_OR:
	case VIE_OP_TYPE_ADC:
	case VIE_OP_TYPE_SBB:
	case VIE_OP_TYPE_AND:
	case VIE_OP_TYPE_SUB:
	case VIE_OP_TYPE_XOR:
	case VIE_OP_TYPE_CMP:
	case VIE_OP_TYPE_GROUP1:
		return vie_emulate_alu(&c);
	case VIE_OP_TYPE_TEST:
		return vie_emulate_test(&c);
	case VIE_OP_TYPE_BITTEST:
		return vie_emulate_bittest(&c);
	case VIE_OP_TYPE_BEXTR:
		return vie_emulate_bextr(&c);
	case VIE_OP_TYPE_PUSH:
		return vie_emulate_push(&c);
	case VIE_OP_TYPE_POP:
		return vie_emulate_pop(&c);
	case VIE_OP_TYPE_MOVS:
		return vie_emulate_movs(&c);
	case VIE_OP_TYPE_STOS:
		return vie_emulate_stos(&c);
	default:
		return EINVAL;
	}
}
