/*
 * Emulation of a decoded MMIO instruction with the rules of FreeBSD 10.1.0's
 * vmm_emulate_instruction (../shared/BHYVE-EXITS.md section 4): the device is
 * reached only through the read/write callbacks, the vcpu through the
 * register calls of vmm.h, and guest RAM (the stack of a PUSH) through
 * vm_copy_setup.  Flags are computed in portable C, not with host
 * instructions as bhyve does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

/* RFLAGS status flags, SDM vol. 1 3.4.3.1. */
#define RFLAGS_CF     (1ULL << 0)
#define RFLAGS_PF     (1ULL << 2)
#define RFLAGS_AF     (1ULL << 4)
#define RFLAGS_ZF     (1ULL << 6)
#define RFLAGS_SF     (1ULL << 7)
#define RFLAGS_OF     (1ULL << 11)
#define RFLAGS_STATUS (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

/* Group opcodes select their operation with ModRM.reg (SDM vol. 2 table A-6). */
#define GROUP1_OR   1
#define GROUP1_AND  4
#define GROUP5_PUSH 6

/* A push of at most 8 bytes crosses at most one page boundary. */
#define PUSH_COPYINFO 2

/* Everything one emulation needs, so that each form is a one-argument function. */
struct vie_ctx {
	void *vm;
	int vcpuid;
	uint64_t gpa;
	const struct vie *vie;
	struct vm_guest_paging *paging;
	mem_region_read_t read;
	mem_region_write_t write;
	void *arg;
};

static int mmio_read(const struct vie_ctx *c, uint64_t *val, int size)
{
	*val = 0;
	return c->read(c->vm, c->vcpuid, c->gpa, val, size, c->arg);
}

static int mmio_write(const struct vie_ctx *c, uint64_t val, int size)
{
	return c->write(c->vm, c->vcpuid, c->gpa, val, size, c->arg);
}

static int get_reg(const struct vie_ctx *c, enum vm_reg_name reg, uint64_t *val)
{
	return vm_get_register(c->vm, c->vcpuid, reg, val);
}

/* The full register that ModRM.reg names. */
static enum vm_reg_name modrm_reg(const struct vie_ctx *c)
{
	return vie_gpr(c->vie->reg);
}

/*
 * The register that ModRM.reg names for an 8-bit operand, and the bit where
 * the byte starts in it.  Without a REX prefix, numbers 4-7 are AH, CH, DH,
 * BH (bits 15:8 of RAX..RBX); with one they are SPL, BPL, SIL, DIL (SDM
 * vol. 2 2.2.1.2 and table 2-2).
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

static int read_byte_reg(const struct vie_ctx *c, uint64_t *val)
{
	enum vm_reg_name reg;
	int shift, error;

	reg = byte_reg(c->vie, &shift);
	error = get_reg(c, reg, val);
	if (error != 0)
		return error;
	*val = (*val >> shift) & 0xff;
	return 0;
}

static int write_byte_reg(const struct vie_ctx *c, uint64_t byte)
{
	enum vm_reg_name reg;
	uint64_t old;
	int shift, error;

	reg = byte_reg(c->vie, &shift);
	error = get_reg(c, reg, &old);
	if (error != 0)
		return error;
	old &= ~(0xffULL << shift);
	return vm_set_register(c->vm, c->vcpuid, reg, old | ((byte & 0xff) << shift));
}

/* 88 /r: MOV r/m8, r8. */
static int mov_r8_to_mem(const struct vie_ctx *c)
{
	uint64_t val;
	int error;

	error = read_byte_reg(c, &val);
	return error != 0 ? error : mmio_write(c, val, 1);
}

/* 89 /r: MOV r/m, r. */
static int mov_reg_to_mem(const struct vie_ctx *c)
{
	uint64_t val;
	int error;

	error = get_reg(c, modrm_reg(c), &val);
	if (error != 0)
		return error;
	return mmio_write(c, val & vie_size2mask(c->vie->opsize), c->vie->opsize);
}

/* 8A /r: MOV r8, r/m8. */
static int mov_mem_to_r8(const struct vie_ctx *c)
{
	uint64_t val;
	int error;

	error = mmio_read(c, &val, 1);
	return error != 0 ? error : write_byte_reg(c, val);
}

/* Read the operand size from the device into 'reg', as MOV r, r/m writes it. */
static int load_reg(const struct vie_ctx *c, enum vm_reg_name reg)
{
	uint64_t val;
	int error;

	error = mmio_read(c, &val, c->vie->opsize);
	if (error != 0)
		return error;
	return vie_update_register(c->vm, c->vcpuid, reg, val, c->vie->opsize);
}

/* 8B /r: MOV r, r/m. */
static int mov_mem_to_reg(const struct vie_ctx *c)
{
	return load_reg(c, modrm_reg(c));
}

/* A1: MOV rAX, moffs. */
static int mov_moffs_to_rax(const struct vie_ctx *c)
{
	return load_reg(c, VM_REG_GUEST_RAX);
}

/* A3: MOV moffs, rAX. */
static int mov_rax_to_moffs(const struct vie_ctx *c)
{
	uint64_t val;
	int error;

	error = get_reg(c, VM_REG_GUEST_RAX, &val);
	if (error != 0)
		return error;
	return mmio_write(c, val & vie_size2mask(c->vie->opsize), c->vie->opsize);
}

/*
 * C6 /0: MOV r/m8, imm8.  As in bhyve, ModRM.reg is not checked, and the
 * immediate is passed as decoded (sign-extended to 64 bits).
 */
static int mov_imm8_to_mem(const struct vie_ctx *c)
{
	return mmio_write(c, (uint64_t)c->vie->immediate, 1);
}

/* C7 /0: MOV r/m, imm16/32 (imm32 sign-extended for a 64-bit operand). */
static int mov_imm_to_mem(const struct vie_ctx *c)
{
	uint64_t val = (uint64_t)c->vie->immediate & vie_size2mask(c->vie->opsize);

	return mmio_write(c, val, c->vie->opsize);
}

/* Read 'width' bytes, extend them, write the register at the operand size. */
static int load_extended(const struct vie_ctx *c, int width, bool sign)
{
	uint64_t val;
	int error;

	error = mmio_read(c, &val, width);
	if (error != 0)
		return error;
	val &= vie_size2mask(width);
	if (sign && (val & (1ULL << (8 * width - 1))))
		val |= ~vie_size2mask(width);
	return vie_update_register(c->vm, c->vcpuid, modrm_reg(c), val, c->vie->opsize);
}

/* 0F B6 /r: MOVZX r, r/m8. */
static int movzx_m8(const struct vie_ctx *c)
{
	return load_extended(c, 1, false);
}

/* 0F B7 /r: MOVZX r, r/m16. */
static int movzx_m16(const struct vie_ctx *c)
{
	return load_extended(c, 2, false);
}

/* 0F BE /r: MOVSX r, r/m8. */
static int movsx_m8(const struct vie_ctx *c)
{
	return load_extended(c, 1, true);
}

/* 23 /r: AND r, r/m.  bhyve 10.1.0 leaves RFLAGS untouched. */
static int and_mem_into_reg(const struct vie_ctx *c)
{
	uint64_t reg_val, mem_val;
	int error;

	error = get_reg(c, modrm_reg(c), &reg_val);
	if (error == 0)
		error = mmio_read(c, &mem_val, c->vie->opsize);
	if (error != 0)
		return error;
	return vie_update_register(c->vm, c->vcpuid, modrm_reg(c), reg_val & mem_val,
	                           c->vie->opsize);
}

/*
 * 81 /4 (AND) and 81 /1 (OR) r/m, imm16/32, RFLAGS untouched (bhyve
 * 10.1.0).  bhyve reads the device before it looks at ModRM.reg, so another
 * /n still costs a read before EINVAL.  The result goes to the device
 * unmasked, as bhyve passes it.
 */
static int group1_imm_to_mem(const struct vie_ctx *c)
{
	uint64_t val;
	int error;

	error = mmio_read(c, &val, c->vie->opsize);
	if (error != 0)
		return error;
	switch (c->vie->reg & 7) {
	case GROUP1_AND:
		val &= (uint64_t)c->vie->immediate;
		break;
	case GROUP1_OR:
		val |= (uint64_t)c->vie->immediate;
		break;
	default:
		return EINVAL;
	}
	return mmio_write(c, val, c->vie->opsize);
}

/*
 * 83 /1: OR r/m, simm8, RFLAGS untouched (bhyve 10.1.0).  Here ModRM.reg is
 * checked before the device is read.  The result goes to the device unmasked.
 */
static int or_simm8_to_mem(const struct vie_ctx *c)
{
	uint64_t val;
	int error;

	if ((c->vie->reg & 7) != GROUP1_OR)
		return EINVAL;
	error = mmio_read(c, &val, c->vie->opsize);
	if (error != 0)
		return error;
	return mmio_write(c, val | (uint64_t)c->vie->immediate, c->vie->opsize);
}

static bool even_parity(uint8_t byte)
{
	byte ^= byte >> 4;
	byte ^= byte >> 2;
	byte ^= byte >> 1;
	return (byte & 1) == 0;
}

/* The status flags of a 'size'-byte SUB x - y (SDM vol. 1 appendix A, vol. 2 SUB). */
static uint64_t sub_flags(int size, uint64_t x, uint64_t y)
{
	uint64_t mask = vie_size2mask(size), res, flags = 0;
	int top = 8 * size - 1;

	x &= mask;
	y &= mask;
	res = (x - y) & mask;
	if (x < y)
		flags |= RFLAGS_CF; /* borrow out of the top bit */
	if (even_parity((uint8_t)res))
		flags |= RFLAGS_PF; /* low byte of the result only */
	if ((x ^ y ^ res) & 0x10)
		flags |= RFLAGS_AF; /* borrow out of bit 3 */
	if (res == 0)
		flags |= RFLAGS_ZF;
	if ((res >> top) & 1)
		flags |= RFLAGS_SF;
	if ((((x ^ y) & (x ^ res)) >> top) & 1)
		flags |= RFLAGS_OF; /* operands' signs differ and the result's changed */
	return flags;
}

/* Replace RFLAGS' status flags with those of x - y, keep every other bit. */
static int set_sub_flags(const struct vie_ctx *c, uint64_t x, uint64_t y)
{
	uint64_t rflags;
	int error;

	error = get_reg(c, VM_REG_GUEST_RFLAGS, &rflags);
	if (error != 0)
		return error;
	rflags = (rflags & ~RFLAGS_STATUS) | sub_flags(c->vie->opsize, x, y);
	return vie_update_register(c->vm, c->vcpuid, VM_REG_GUEST_RFLAGS, rflags, 8);
}

/* 3B /r: CMP r, r/m: flags of r - m, nothing else written. */
static int cmp_reg_with_mem(const struct vie_ctx *c)
{
	uint64_t reg_val, mem_val;
	int error;

	error = get_reg(c, modrm_reg(c), &reg_val);
	if (error == 0)
		error = mmio_read(c, &mem_val, c->vie->opsize);
	if (error != 0)
		return error;
	return set_sub_flags(c, reg_val, mem_val);
}

/* 2B /r: SUB r, r/m: the register first, then the flags. */
static int sub_mem_from_reg(const struct vie_ctx *c)
{
	uint64_t reg_val, mem_val;
	int error;

	error = get_reg(c, modrm_reg(c), &reg_val);
	if (error == 0)
		error = mmio_read(c, &mem_val, c->vie->opsize);
	if (error == 0)
		error = vie_update_register(c->vm, c->vcpuid, modrm_reg(c), reg_val - mem_val,
		                            c->vie->opsize);
	if (error != 0)
		return error;
	return set_sub_flags(c, reg_val, mem_val);
}

/* What a PUSH needs to know about the vcpu, read once. */
struct push_frame {
	struct seg_desc ss;
	uint64_t cr0;
	uint64_t rflags;
	uint64_t rsp; /* after the push */
	int size;
	int stack_addrsize;
};

/*
 * Operand and stack-address sizes of PUSH (SDM vol. 1 6.2.3 and 6.2.5,
 * vol. 3 "Stack Manipulation Instructions in 64-bit Mode"): 16-bit stack
 * addresses in real mode; in 64-bit mode a 64-bit RSP and a push of 8 bytes,
 * or 2 with 0x66; elsewhere SS.B picks ESP or SP.
 */
static void push_sizes(const struct vie_ctx *c, struct push_frame *f)
{
	f->size = c->vie->opsize;
	if (c->paging->cpu_mode == CPU_MODE_REAL) {
		f->stack_addrsize = 2;
	} else if (c->paging->cpu_mode == CPU_MODE_64BIT) {
		f->stack_addrsize = 8;
		f->size = c->vie->opsize_override ? 2 : 8;
	} else {
		f->stack_addrsize = SEG_DESC_DEF32(f->ss.access) ? 4 : 2;
	}
}

static int push_frame_read(const struct vie_ctx *c, struct push_frame *f)
{
	int error;

	error = vm_get_seg_desc(c->vm, c->vcpuid, VM_REG_GUEST_SS, &f->ss);
	if (error == 0)
		error = get_reg(c, VM_REG_GUEST_CR0, &f->cr0);
	if (error == 0)
		error = get_reg(c, VM_REG_GUEST_RFLAGS, &f->rflags);
	if (error == 0)
		error = get_reg(c, VM_REG_GUEST_RSP, &f->rsp);
	if (error != 0)
		return error;
	push_sizes(c, f);
	f->rsp -= (uint64_t)f->size;
	return 0;
}

/*
 * Linear address of the new stack top, or false when a fault was injected
 * instead: #SS(0) for a segment or canonical failure (a stack reference,
 * SDM vol. 3 6.15), #AC(0) for a misaligned push at CPL 3 with AC enabled.
 */
static bool stack_top_gla(const struct vie_ctx *c, struct push_frame *f, uint64_t *gla)
{
	enum vm_cpu_mode mode = c->paging->cpu_mode;

	if (vie_calculate_gla(mode, VM_REG_GUEST_SS, &f->ss, f->rsp, f->size, f->stack_addrsize,
	                      VM_PROT_WRITE, gla) != 0 ||
	    vie_canonical_check(mode, *gla)) {
		vm_inject_ss(c->vm, c->vcpuid, 0);
		return false;
	}
	if (vie_alignment_check(c->paging->cpl, f->size, f->cr0, f->rflags, *gla)) {
		vm_inject_ac(c->vm, c->vcpuid, 0);
		return false;
	}
	return true;
}

/* Read the device and store its value at the stack top, low byte first. */
static int copy_mmio_to_stack(const struct vie_ctx *c, struct vm_copyinfo *copyinfo, int size)
{
	uint8_t bytes[8];
	uint64_t val;
	int error, i;

	error = mmio_read(c, &val, size);
	if (error != 0)
		return error;
	for (i = 0; i < size; i++)
		bytes[i] = (uint8_t)(val >> (8 * i));
	vm_copyout(c->vm, c->vcpuid, bytes, copyinfo, (size_t)size);
	return 0;
}

/*
 * FF /6: PUSH r/m.  Faults on the stack are injected into the guest and the
 * emulation returns 0 so that the instruction restarts; a stack that is not
 * guest RAM is EFAULT.  The device is read only once the stack is known to
 * be writable, and RSP changes only after the value is on the stack.
 */
static int push_mem(const struct vie_ctx *c)
{
	struct vm_copyinfo copyinfo[PUSH_COPYINFO];
	struct push_frame f;
	uint64_t gla;
	int error;

	if ((c->vie->reg & 7) != GROUP5_PUSH)
		return EINVAL;
	error = push_frame_read(c, &f);
	if (error != 0)
		return error;
	if (!stack_top_gla(c, &f, &gla))
		return 0;
	error = vm_copy_setup(c->vm, c->vcpuid, c->paging, gla, (size_t)f.size, VM_PROT_WRITE,
	                      copyinfo, PUSH_COPYINFO);
	if (error == 1)
		return 0; /* the translation injected #PF or #GP */
	if (error != 0)
		return EFAULT;
	error = copy_mmio_to_stack(c, copyinfo, f.size);
	if (error == 0)
		error = vie_update_register(c->vm, c->vcpuid, VM_REG_GUEST_RSP, f.rsp,
		                            f.stack_addrsize);
	vm_copy_teardown(c->vm, c->vcpuid, copyinfo, PUSH_COPYINFO);
	return error;
}

/* Each decoded form and its emulation, keyed as the decoder fills vie->op. */
/* clang-format off */
static const struct vie_form {
	uint8_t type;
	uint8_t byte;
	int (*emulate)(const struct vie_ctx *c);
} vie_forms[] = {
	{ VIE_OP_TYPE_MOV, 0x88, mov_r8_to_mem },
	{ VIE_OP_TYPE_MOV, 0x89, mov_reg_to_mem },
	{ VIE_OP_TYPE_MOV, 0x8A, mov_mem_to_r8 },
	{ VIE_OP_TYPE_MOV, 0x8B, mov_mem_to_reg },
	{ VIE_OP_TYPE_MOV, 0xA1, mov_moffs_to_rax },
	{ VIE_OP_TYPE_MOV, 0xA3, mov_rax_to_moffs },
	{ VIE_OP_TYPE_MOV, 0xC6, mov_imm8_to_mem },
	{ VIE_OP_TYPE_MOV, 0xC7, mov_imm_to_mem },
	{ VIE_OP_TYPE_MOVZX, 0xB6, movzx_m8 },
	{ VIE_OP_TYPE_MOVZX, 0xB7, movzx_m16 },
	{ VIE_OP_TYPE_MOVSX, 0xBE, movsx_m8 },
	{ VIE_OP_TYPE_AND, 0x23, and_mem_into_reg },
	{ VIE_OP_TYPE_AND, 0x81, group1_imm_to_mem },
	{ VIE_OP_TYPE_OR, 0x83, or_simm8_to_mem },
	{ VIE_OP_TYPE_CMP, 0x3B, cmp_reg_with_mem },
	{ VIE_OP_TYPE_SUB, 0x2B, sub_mem_from_reg },
	{ VIE_OP_TYPE_PUSH, 0xFF, push_mem },
};
/* clang-format on */

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
	size_t i;

	if (!vie->decoded)
		return EINVAL;
	/* Only a hand-made vie can have another size; refuse it rather than misbehave. */
	if (vie_size2mask(vie->opsize) == 0)
		return EINVAL;
	for (i = 0; i < sizeof(vie_forms) / sizeof(vie_forms[0]); i++) {
		if (vie_forms[i].type == vie->op.op_type && vie_forms[i].byte == vie->op.op_byte)
			return vie_forms[i].emulate(&c);
	}
	return EINVAL;
}
