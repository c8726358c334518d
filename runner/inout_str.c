/* String I/O for INOUT_STR exits; see inout_str.h. */
#include "runner/inout_str.h"

#include <errno.h>

#include <softvmm/vmm_instruction_emul.h>

#define RFLAGS_DF 0x400u

/* What one element did. */
enum element_result {
	ELEMENT_DONE,    /* transferred */
	ELEMENT_FAULTED, /* an exception was injected: stop, the guest takes it */
	ELEMENT_FAILED,  /* an error the run cannot survive (in *err) */
};

/*
 * One element at offset 'index' of the exit's segment, in the order of
 * bhyverun's loop body (inout.c:emulate_inout).
 */
static enum element_result transfer_element(const struct inout_table *t, struct vm *vm, int vcpu,
                                            struct vm_inout_str *vis, uint64_t index, int *err)
{
	const int bytes = vis->inout.bytes, in = vis->inout.in;
	/* INS writes guest memory, OUTS reads it. */
	const int prot = in ? VM_PROT_WRITE : VM_PROT_READ;
	struct vm_copyinfo iov[2];
	uint64_t gla;

	/* Segment usability, type and limit (vie_calculate_gla); bhyverun
	 * injects #GP whatever the segment, SS included. */
	if (vie_calculate_gla(vis->paging.cpu_mode, vis->seg_name, &vis->seg_desc, index, bytes,
	                      vis->addrsize, prot, &gla) != 0) {
		vm_inject_gp(vm, vcpu);
		return ELEMENT_FAULTED;
	}
	/* 1: vm_gla2gpa injected #PF (or #GP for a non-canonical address). */
	int r = vm_copy_setup(vm, vcpu, &vis->paging, gla, (size_t)bytes, prot, iov, 2);
	if (r == 1)
		return ELEMENT_FAULTED;
	if (r != 0) {
		*err = EFAULT;
		return ELEMENT_FAILED;
	}
	/* #AC(0) at CPL 3 with CR0.AM and RFLAGS.AC (SDM vol. 3 6.15, interrupt 17). */
	if (vie_alignment_check(vis->paging.cpl, bytes, vis->cr0, vis->rflags, gla)) {
		vm_copy_teardown(vm, vcpu, iov, 2);
		vm_inject_ac(vm, vcpu, 0);
		return ELEMENT_FAULTED;
	}
	uint32_t val = 0;
	if (!in)
		vm_copyin(vm, vcpu, iov, &val, (size_t)bytes);
	*err = inout_emulate(t, vm, vcpu, in, vis->inout.port, bytes, &val);
	if (*err == 0 && in)
		vm_copyout(vm, vcpu, &val, iov, (size_t)bytes);
	vm_copy_teardown(vm, vcpu, iov, 2);
	return *err == 0 ? ELEMENT_DONE : ELEMENT_FAILED;
}

int inout_str_emulate(const struct inout_table *t, struct vm *vm, int vcpu, struct vm_exit *vme)
{
	struct vm_inout_str *vis = &vme->u.inout_str;
	const int bytes = vis->inout.bytes, addrsize = vis->addrsize;
	if (vme->exitcode != VM_EXITCODE_INOUT_STR || !vis->inout.string ||
	    (bytes != 1 && bytes != 2 && bytes != 4) ||
	    (addrsize != 2 && addrsize != 4 && addrsize != 8))
		return EINVAL;

	/* The exit reports RSI/RDI and RCX in full; only the address-size
	 * part counts (SDM vol. 2B, INS and OUTS: rSI/rDI and rCX by the
	 * address size). */
	const uint64_t mask = vie_size2mask(addrsize);
	uint64_t index = vis->index & mask;
	uint64_t count = vis->count & mask;
	const uint64_t step = (vis->rflags & RFLAGS_DF) ? -(uint64_t)bytes : (uint64_t)bytes;
	int err = 0;

	/* bhyverun does at most 16 elements per exit, then restarts. */
	uint64_t iterations = count < INOUT_STR_MAX_ITERATIONS ? count : INOUT_STR_MAX_ITERATIONS;
	for (; iterations > 0; iterations--) {
		enum element_result r = transfer_element(t, vm, vcpu, vis, index, &err);
		if (r != ELEMENT_DONE)
			break;
		index += step;
		count--;
	}

	/* Written back even after a fault or a handler error, with the
	 * elements done so far: a 16-bit index keeps bits 63:16, a 32-bit one
	 * zero-extends (vie_update_register). */
	const enum vm_reg_name idxreg = vis->inout.in ? VM_REG_GUEST_RDI : VM_REG_GUEST_RSI;
	int e = vie_update_register(vm, vcpu, idxreg, index, addrsize);
	if (e == 0 && vis->inout.rep)
		e = vie_update_register(vm, vcpu, VM_REG_GUEST_RCX, count, addrsize);
	if (err == 0)
		err = e;
	/* Not done (more elements, or a fault the guest takes first): run the
	 * instruction again, which gives the next INOUT_STR exit. */
	if (err == 0 && count != 0)
		vme->inst_length = 0;
	return err;
}
