/*
 * PUSH r/m (FF /6) and POP r/m (8F /0) with the r/m operand in MMIO, as
 * current bhyve's emulate_stack_op: the stack is guest RAM, reached through
 * vm_copy_setup; the device is read (PUSH) or written (POP) once the stack
 * access is known not to fault.  Faults on the stack are injected into the
 * guest and the emulation returns 0 so that the instruction restarts; a
 * stack that is not guest RAM is EFAULT.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

/* A stack access of at most 8 bytes crosses at most one page boundary. */
#define STACK_COPYINFO 2

/* What a PUSH or POP needs to know about the vcpu, read once. */
struct stack_frame {
	struct seg_desc ss;
	uint64_t cr0;
	uint64_t rflags;
	uint64_t rsp;   /* the stack top the access is at */
	uint64_t after; /* RSP once the instruction is done */
	int size;
	int stack_addrsize;
	bool push;
};

/*
 * Operand and stack-address sizes (SDM vol. 1 6.2.3 and 6.2.5, vol. 3
 * "Stack Manipulation Instructions in 64-bit Mode"): 16-bit stack addresses
 * in real mode; in 64-bit mode a 64-bit RSP and 8 bytes, or 2 with 0x66;
 * elsewhere SS.B picks ESP or SP.
 */
static int stack_frame_read(const struct vie_ctx *c, struct stack_frame *f)
{
	enum vm_cpu_mode mode = c->paging->cpu_mode;
	int error;

	f->push = c->vie->op.op_type == VIE_OP_TYPE_PUSH;
	error = vm_get_seg_desc(c->vm, c->vcpuid, VM_REG_GUEST_SS, &f->ss);
	if (error == 0)
		error = vie_get_reg(c, VM_REG_GUEST_CR0, &f->cr0);
	if (error == 0)
		error = vie_get_reg(c, VM_REG_GUEST_RFLAGS, &f->rflags);
	if (error == 0)
		error = vie_get_reg(c, VM_REG_GUEST_RSP, &f->rsp);
	if (error != 0)
		return error;
	f->size = vie_mem_size(c->vie, mode);
	if (mode == CPU_MODE_REAL)
		f->stack_addrsize = 2;
	else if (mode == CPU_MODE_64BIT)
		f->stack_addrsize = 8;
	else
		f->stack_addrsize = SEG_DESC_DEF32(f->ss.access) ? 4 : 2;
	if (f->push) {
		f->rsp -= (uint64_t)f->size;
		f->after = f->rsp;
	} else {
		f->after = f->rsp + (uint64_t)f->size;
	}
	return 0;
}

/*
 * Linear address of the stack top, or false when a fault was injected
 * instead: #SS(0) for a segment or canonical failure (a stack reference,
 * SDM vol. 3 6.15), #AC(0) for a misaligned access at CPL 3 with AC on.
 */
static bool stack_top_gla(const struct vie_ctx *c, struct stack_frame *f, uint64_t *gla)
{
	enum vm_cpu_mode mode = c->paging->cpu_mode;
	int prot = f->push ? VM_PROT_WRITE : VM_PROT_READ;

	if (vie_calculate_gla(mode, VM_REG_GUEST_SS, &f->ss, f->rsp, f->size, f->stack_addrsize,
	                      prot, gla) != 0 ||
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

/* PUSH: read the device, store its value at the stack top, low byte first. */
static int copy_mmio_to_stack(const struct vie_ctx *c, struct vm_copyinfo *copyinfo, int size)
{
	uint8_t bytes[8];
	uint64_t val;
	int error, i;

	error = vie_mmio_read(c, &val, size);
	if (error != 0)
		return error;
	for (i = 0; i < size; i++)
		bytes[i] = (uint8_t)(val >> (8 * i));
	vm_copyout(c->vm, c->vcpuid, bytes, copyinfo, (size_t)size);
	return 0;
}

/* POP: load the stack top and write it to the device. */
static int copy_stack_to_mmio(const struct vie_ctx *c, struct vm_copyinfo *copyinfo, int size)
{
	uint8_t bytes[8];
	uint64_t val = 0;
	int i;

	vm_copyin(c->vm, c->vcpuid, copyinfo, bytes, (size_t)size);
	for (i = 0; i < size; i++)
		val |= (uint64_t)bytes[i] << (8 * i);
	return vie_mmio_write(c, val, size);
}

/* RSP changes only after the value has moved. */
static int stack_op(const struct vie_ctx *c)
{
	struct vm_copyinfo copyinfo[STACK_COPYINFO];
	struct stack_frame f;
	uint64_t gla;
	int error;

	error = stack_frame_read(c, &f);
	if (error != 0)
		return error;
	if (!stack_top_gla(c, &f, &gla))
		return 0;
	error = vm_copy_setup(c->vm, c->vcpuid, c->paging, gla, (size_t)f.size,
	                      f.push ? VM_PROT_WRITE : VM_PROT_READ, copyinfo, STACK_COPYINFO);
	if (error == 1)
		return 0; /* the translation injected #PF or #GP */
	if (error != 0)
		return EFAULT;
	if (f.push)
		error = copy_mmio_to_stack(c, copyinfo, f.size);
	else
		error = copy_stack_to_mmio(c, copyinfo, f.size);
	if (error == 0)
		error = vie_update_register(c->vm, c->vcpuid, VM_REG_GUEST_RSP, f.after,
		                            f.stack_addrsize);
	vm_copy_teardown(c->vm, c->vcpuid, copyinfo, STACK_COPYINFO);
	return error;
}

/* FF /6 (bhyve's emulate_push); the decoder accepts no other extension. */
int vie_emulate_push(const struct vie_ctx *c)
{
	if ((c->vie->reg & 7) != 6)
		return EINVAL;
	return stack_op(c);
}

/* 8F /0 (bhyve's emulate_pop). */
int vie_emulate_pop(const struct vie_ctx *c)
{
	if ((c->vie->reg & 7) != 0)
		return EINVAL;
	return stack_op(c);
}
