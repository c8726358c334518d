/*
 * Guest-linear copies (bhyve's vm_copy_setup/vm_copyin/vm_copyout) and
 * gla -> gpa translation through the backend's paging state.
 *
 * Return conventions are the seed's (2014 vmm.h): 0 success, 1 a fault
 * was injected into the guest, -1 otherwise.  On -1, errno says why, as
 * libvmmapi's ioctl wrappers report it: EINVAL for bad arguments, EFAULT
 * for guest-physical memory that is not RAM (bhyve's vmm_dev.c turns the
 * kernel's -1 into EFAULT).
 */
#include <errno.h>
#include <string.h>

#include "core/vm_internal.h"
#include "paging/walk.h"

static int fail(int err)
{
	errno = err;
	return -1;
}

int vm_gla2gpa(struct vm *vm, int vcpuid, struct vm_guest_paging *paging, uint64_t gla, int prot,
               uint64_t *gpa)
{
	if (!vcpu_valid(vm, vcpuid) || !paging || !gpa)
		return fail(EINVAL);
	int fault = 0;
	uint32_t err = 0;
	if (vm->ops->gla2gpa(vm->vmi, vcpuid, paging, gla, prot, gpa, &fault, &err))
		return fail(EFAULT);
	/* bhyve's vmm_gla2gpa injects the fault itself (vm_inject_pf sets CR2
	 * first, vm_inject_gp has error code 0) and returns 1. */
	if (fault == IDT_PF + 1)
		vm_inject_pf(vm, vcpuid, (int)err, gla);
	else if (fault == IDT_GP + 1)
		vm_inject_gp(vm, vcpuid);
	return fault ? 1 : 0;
}

/* The paging state an exit would report (bhyve's vmx_paging_info). */
int vm_get_guest_paging(struct vm *vm, int vcpuid, struct vm_guest_paging *paging)
{
	uint64_t cr0, cr4, efer;
	struct seg_desc cs, ss;
	if (!paging)
		return EINVAL;
	int e = vm_get_register(vm, vcpuid, VM_REG_GUEST_CR0, &cr0);
	if (!e)
		e = vm_get_register(vm, vcpuid, VM_REG_GUEST_CR4, &cr4);
	if (!e)
		e = vm_get_register(vm, vcpuid, VM_REG_GUEST_EFER, &efer);
	if (!e)
		e = vm_get_register(vm, vcpuid, VM_REG_GUEST_CR3, &paging->cr3);
	if (!e)
		e = vm_get_seg_desc(vm, vcpuid, VM_REG_GUEST_CS, &cs);
	if (!e)
		e = vm_get_seg_desc(vm, vcpuid, VM_REG_GUEST_SS, &ss);
	if (e)
		return e;
	paging->cpl = (int)SEG_DESC_DPL(ss.access);
	if ((efer & 0x400) && (cs.access & 0x2000))
		paging->cpu_mode = CPU_MODE_64BIT;
	else if (efer & 0x400)
		paging->cpu_mode = CPU_MODE_COMPATIBILITY;
	else if (cr0 & 1)
		paging->cpu_mode = CPU_MODE_PROTECTED;
	else
		paging->cpu_mode = CPU_MODE_REAL;
	paging->paging_mode = paging_mode_of(cr0, cr4, efer);
	return 0;
}

/*
 * bhyve's vm_copy_setup, in its order: every page of [gla, gla+len) is
 * translated first, so a fault on any of them is injected before
 * anything is held; then each piece is held (vm_gpa_hold), and a piece
 * that is not RAM fails the whole call with nothing held and the array
 * zeroed (vm_copy_teardown).  bhyve asserts that num_copyinfo suffices;
 * here too few entries fail with EINVAL, a guest being unable to cause it.
 */
int vm_copy_setup(struct vm *vm, int vcpuid, struct vm_guest_paging *paging, uint64_t gla,
                  size_t len, int prot, struct vm_copyinfo *copyinfo, int num_copyinfo)
{
	if (!vcpu_valid(vm, vcpuid) || !paging || !copyinfo || num_copyinfo <= 0)
		return fail(EINVAL);
	memset(copyinfo, 0, sizeof(*copyinfo) * (size_t)num_copyinfo);
	int n = 0;
	for (size_t left = len; left > 0; n++) {
		if (n >= num_copyinfo) {
			vm_copy_teardown(vm, vcpuid, copyinfo, num_copyinfo);
			return fail(EINVAL);
		}
		uint64_t gpa;
		int r = vm_gla2gpa(vm, vcpuid, paging, gla, prot, &gpa);
		if (r) {
			vm_copy_teardown(vm, vcpuid, copyinfo, num_copyinfo);
			return r;
		}
		size_t chunk = 4096 - (gpa & 0xfff);
		if (chunk > left)
			chunk = left;
		copyinfo[n].gpa = gpa;
		copyinfo[n].len = chunk;
		gla += chunk;
		left -= chunk;
	}
	for (int i = 0; i < n; i++) {
		void *cookie;
		void *h = vm_gpa_hold(vm, copyinfo[i].gpa, copyinfo[i].len, prot, &cookie);
		if (!h) {
			vm_copy_teardown(vm, vcpuid, copyinfo, num_copyinfo);
			return fail(EFAULT);
		}
		copyinfo[i].hva = h;
		copyinfo[i].cookie = cookie;
	}
	return 0;
}

void vm_copy_teardown(struct vm *vm, int vcpuid, struct vm_copyinfo *copyinfo, int num_copyinfo)
{
	(void)vm;
	(void)vcpuid;
	if (!copyinfo || num_copyinfo <= 0)
		return;
	for (int i = 0; i < num_copyinfo; i++)
		if (copyinfo[i].cookie)
			vm_gpa_release(copyinfo[i].cookie);
	memset(copyinfo, 0, sizeof(*copyinfo) * (size_t)num_copyinfo);
}

/*
 * vm_copyin/vm_copyout copy len bytes through the pieces in order.  bhyve
 * copies whole pieces and trusts len; here a piece is cut to what is left
 * and the walk stops at the first empty entry, so a len longer than the
 * setup's never reads or writes past what was held.
 */
void vm_copyin(struct vm *vm, int vcpuid, struct vm_copyinfo *copyinfo, void *kaddr, size_t len)
{
	(void)vm;
	(void)vcpuid;
	uint8_t *dst = kaddr;
	for (int i = 0; copyinfo && len > 0 && copyinfo[i].hva; i++) {
		size_t n = copyinfo[i].len < len ? copyinfo[i].len : len;
		memcpy(dst, copyinfo[i].hva, n);
		dst += n;
		len -= n;
	}
}

void vm_copyout(struct vm *vm, int vcpuid, const void *kaddr, struct vm_copyinfo *copyinfo,
                size_t len)
{
	(void)vm;
	(void)vcpuid;
	const uint8_t *src = kaddr;
	for (int i = 0; copyinfo && len > 0 && copyinfo[i].hva; i++) {
		size_t n = copyinfo[i].len < len ? copyinfo[i].len : len;
		memcpy(copyinfo[i].hva, src, n);
		src += n;
		len -= n;
	}
}

/* bhyve's vm_segment_name: the instruction-information encoding ES..GS. */
enum vm_reg_name vm_segment_name(int seg_encoding)
{
	static const enum vm_reg_name names[] = {VM_REG_GUEST_ES, VM_REG_GUEST_CS, VM_REG_GUEST_SS,
	                                         VM_REG_GUEST_DS, VM_REG_GUEST_FS, VM_REG_GUEST_GS};
	if (seg_encoding < 0 || seg_encoding >= 6)
		return VM_REG_LAST;
	return names[seg_encoding];
}
