/*
 * MOVS (A4, A5) and STOS (AA, AB) with one side in MMIO, with and without a
 * repeat prefix, as current bhyve's emulate_movs and emulate_stos:
 *
 * - One element per call.  With REP (F3, or F2, which bhyve and the
 *   processor treat the same for these two) a count of 0 does nothing;
 *   otherwise the element moves, rSI/rDI step by the element size (down with
 *   RFLAGS.DF) and rCX drops by one, each written at the address size (SDM
 *   vol. 2 MOVS, STOS, REP).  While the count is not 0, vie->restart asks the
 *   caller to resume at the instruction itself (bhyve's
 *   vm_restart_instruction): the next iteration runs in the guest and exits
 *   again if it touches MMIO, as each iteration does on VT-x.
 * - MOVS finds which side is MMIO by trying to reach each as guest RAM:
 *   RAM to MMIO, MMIO to RAM, or MMIO to MMIO (both gpas translated first,
 *   so that a fault injects before a device sees an access).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

/* An element of at most 8 bytes crosses at most one page boundary. */
#define STRING_COPYINFO 2

enum { GLA_OK, GLA_FAULT, GLA_ERROR };

/*
 * The linear address of the element at seg:reg, or the fault injected
 * instead, as bhyve's get_gla: #GP(0) (#SS(0) for SS) for a segment or
 * canonical failure, #AC(0) for a misaligned element at CPL 3 with AC on.
 */
static int element_gla(const struct vie_ctx *c, enum vm_reg_name seg, enum vm_reg_name reg,
                       int size, int prot, uint64_t *gla)
{
	enum vm_cpu_mode mode = c->paging->cpu_mode;
	struct seg_desc desc;
	uint64_t cr0, rflags, off;

	if (vm_get_seg_desc(c->vm, c->vcpuid, seg, &desc) != 0 ||
	    vie_get_reg(c, VM_REG_GUEST_CR0, &cr0) != 0 ||
	    vie_get_reg(c, VM_REG_GUEST_RFLAGS, &rflags) != 0 || vie_get_reg(c, reg, &off) != 0)
		return GLA_ERROR;
	if (vie_calculate_gla(mode, seg, &desc, off, size, c->vie->addrsize, prot, gla) != 0 ||
	    vie_canonical_check(mode, *gla)) {
		if (seg == VM_REG_GUEST_SS)
			vm_inject_ss(c->vm, c->vcpuid, 0);
		else
			vm_inject_gp(c->vm, c->vcpuid);
		return GLA_FAULT;
	}
	if (vie_alignment_check(c->paging->cpl, size, cr0, rflags, *gla)) {
		vm_inject_ac(c->vm, c->vcpuid, 0);
		return GLA_FAULT;
	}
	return GLA_OK;
}

/* The element as little-endian bytes, for vm_copyin/vm_copyout. */
static void to_bytes(uint8_t *bytes, uint64_t val, int size)
{
	int i;

	for (i = 0; i < size; i++)
		bytes[i] = (uint8_t)(val >> (8 * i));
}

static uint64_t from_bytes(const uint8_t *bytes, int size)
{
	uint64_t val = 0;
	int i;

	for (i = 0; i < size; i++)
		val |= (uint64_t)bytes[i] << (8 * i);
	return val;
}

/* The count of a REP at the address size; *run is false when it is 0. */
static int rep_count(const struct vie_ctx *c, uint64_t *rcx, bool *run)
{
	int error = vie_get_reg(c, VM_REG_GUEST_RCX, rcx);

	*run = error == 0 && (*rcx & vie_size2mask(c->vie->addrsize)) != 0;
	return error;
}

/*
 * After an element: step RDI (and RSI when 'both') by the element size,
 * then for REP decrement rCX and ask for a restart while it is not 0.
 */
static int advance(const struct vie_ctx *c, int size, bool rep, uint64_t rcx, bool both)
{
	static const enum vm_reg_name index_regs[2] = {VM_REG_GUEST_RDI, VM_REG_GUEST_RSI};
	int addrsize = c->vie->addrsize, error, i;
	uint64_t rflags, val;

	error = vie_get_reg(c, VM_REG_GUEST_RFLAGS, &rflags);
	if (error != 0)
		return error;
	for (i = 0; i < (both ? 2 : 1); i++) {
		error = vie_get_reg(c, index_regs[i], &val);
		if (error != 0)
			return error;
		val += (rflags & VIE_RFLAGS_DF) ? -(uint64_t)size : (uint64_t)size;
		error = vie_update_register(c->vm, c->vcpuid, index_regs[i], val, addrsize);
		if (error != 0)
			return error;
	}
	if (!rep)
		return 0;
	rcx--;
	error = vie_update_register(c->vm, c->vcpuid, VM_REG_GUEST_RCX, rcx, addrsize);
	if (error != 0)
		return error;
	if ((rcx & vie_size2mask(addrsize)) != 0)
		c->vie->restart = 1;
	return 0;
}

/* AA, AB: ES:[rDI] <- AL/AX/EAX/RAX.  The exit's gpa is the destination. */
int vie_emulate_stos(const struct vie_ctx *c)
{
	bool rep = c->vie->repz_present || c->vie->repnz_present, run = true;
	int size = vie_mem_size(c->vie, c->paging->cpu_mode);
	uint64_t rcx = 0, rax;
	int error;

	if (rep) {
		error = rep_count(c, &rcx, &run);
		if (error != 0 || !run)
			return error;
	}
	error = vie_get_reg(c, VM_REG_GUEST_RAX, &rax);
	if (error == 0)
		error = vie_mmio_write(c, rax, size);
	if (error != 0)
		return error;
	return advance(c, size, rep, rcx, false);
}

/* Read 'size' bytes of guest RAM at 'gla': 0, 1 (fault injected) or -1 (not RAM). */
static int ram_read(const struct vie_ctx *c, uint64_t gla, int size, uint64_t *val)
{
	struct vm_copyinfo copyinfo[STRING_COPYINFO];
	uint8_t bytes[8];
	int r;

	r = vm_copy_setup(c->vm, c->vcpuid, c->paging, gla, (size_t)size, VM_PROT_READ, copyinfo,
	                  STRING_COPYINFO);
	if (r != 0)
		return r;
	vm_copyin(c->vm, c->vcpuid, copyinfo, bytes, (size_t)size);
	vm_copy_teardown(c->vm, c->vcpuid, copyinfo, STRING_COPYINFO);
	*val = from_bytes(bytes, size);
	return 0;
}

/* MMIO to RAM: the device is read only once the destination is known to be writable RAM. */
static int mmio_to_ram(const struct vie_ctx *c, struct vm_copyinfo *copyinfo, int size)
{
	uint8_t bytes[8];
	uint64_t val;
	int error;

	error = vie_mmio_read(c, &val, size);
	if (error == 0) {
		to_bytes(bytes, val, size);
		vm_copyout(c->vm, c->vcpuid, bytes, copyinfo, (size_t)size);
	}
	vm_copy_teardown(c->vm, c->vcpuid, copyinfo, STRING_COPYINFO);
	return error;
}

/* MMIO to MMIO: the source's and the destination's own gpas. */
static int mmio_to_mmio(const struct vie_ctx *c, uint64_t src_gla, uint64_t dst_gla, int size,
                        bool *fault)
{
	uint64_t src_gpa, dst_gpa, val = 0;
	int r, error;

	*fault = false;
	r = vm_gla2gpa(c->vm, c->vcpuid, c->paging, src_gla, VM_PROT_READ, &src_gpa);
	if (r == 0)
		r = vm_gla2gpa(c->vm, c->vcpuid, c->paging, dst_gla, VM_PROT_WRITE, &dst_gpa);
	if (r == 1) {
		*fault = true;
		return 0;
	}
	if (r != 0)
		return EFAULT;
	error = c->read(c->vm, c->vcpuid, src_gpa, &val, size, c->arg);
	if (error != 0)
		return error;
	return c->write(c->vm, c->vcpuid, dst_gpa, val & vie_size2mask(size), size, c->arg);
}

/*
 * One MOVS element; *fault is set when a fault was injected instead (the
 * instruction then restarts to take it and nothing moves).
 */
static int movs_element(const struct vie_ctx *c, int size, bool *fault)
{
	struct vm_copyinfo copyinfo[STRING_COPYINFO];
	enum vm_reg_name seg = VM_REG_GUEST_DS;
	uint64_t src_gla, dst_gla, val;
	int r;

	*fault = true;
	if (c->vie->segment_override)
		seg = (enum vm_reg_name)c->vie->segment_register;
	r = element_gla(c, seg, VM_REG_GUEST_RSI, size, VM_PROT_READ, &src_gla);
	if (r != GLA_OK)
		return r == GLA_FAULT ? 0 : EINVAL;
	r = ram_read(c, src_gla, size, &val);
	if (r == 1)
		return 0;
	if (r == 0) {
		*fault = false;
		return vie_mmio_write(c, val, size); /* RAM to MMIO */
	}
	r = element_gla(c, VM_REG_GUEST_ES, VM_REG_GUEST_RDI, size, VM_PROT_WRITE, &dst_gla);
	if (r != GLA_OK)
		return r == GLA_FAULT ? 0 : EINVAL;
	r = vm_copy_setup(c->vm, c->vcpuid, c->paging, dst_gla, (size_t)size, VM_PROT_WRITE,
	                  copyinfo, STRING_COPYINFO);
	if (r == 1)
		return 0;
	if (r == 0) {
		*fault = false;
		return mmio_to_ram(c, copyinfo, size);
	}
	return mmio_to_mmio(c, src_gla, dst_gla, size, fault);
}

/* A4, A5: ES:[rDI] <- seg:[rSI], seg DS or the override. */
int vie_emulate_movs(const struct vie_ctx *c)
{
	bool rep = c->vie->repz_present || c->vie->repnz_present, run = true, fault;
	int size = vie_mem_size(c->vie, c->paging->cpu_mode);
	uint64_t rcx = 0;
	int error;

	if (rep) {
		error = rep_count(c, &rcx, &run);
		if (error != 0 || !run)
			return error;
	}
	error = movs_element(c, size, &fault);
	if (error != 0 || fault)
		return error;
	return advance(c, size, rep, rcx, true);
}
