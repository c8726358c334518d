/*
 * Guest-linear copies (bhyve's vm_copy_setup/vm_copyin/vm_copyout) and
 * gla -> gpa translation through the backend's paging state.
 */
#include <errno.h>
#include <string.h>

#include "core/vm_internal.h"
#include "paging/walk.h"

int vm_gla2gpa(struct vm *vm, int vcpuid, struct vm_guest_paging *paging, uint64_t gla, int prot,
               uint64_t *gpa)
{
	if (!vcpu_valid(vm, vcpuid) || !paging || !gpa)
		return -1;
	int fault = 0;
	uint32_t err = 0;
	if (vm->ops->gla2gpa(vm->vmi, vcpuid, paging, gla, prot, gpa, &fault, &err))
		return -1;
	/* bhyve's vmm_gla2gpa injects the fault itself and returns 1. */
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

int vm_copy_setup(struct vm *vm, int vcpuid, struct vm_guest_paging *paging, uint64_t gla,
                  size_t len, int prot, struct vm_copyinfo *copyinfo, int num_copyinfo)
{
	if (!vcpu_valid(vm, vcpuid) || !copyinfo || num_copyinfo <= 0)
		return -1;
	memset(copyinfo, 0, sizeof(*copyinfo) * (size_t)num_copyinfo);
	int n = 0;
	while (len > 0) {
		if (n >= num_copyinfo)
			return -1;
		uint64_t gpa;
		int r = vm_gla2gpa(vm, vcpuid, paging, gla, prot, &gpa);
		if (r)
			return r;
		size_t chunk = 4096 - (gpa & 0xfff);
		if (chunk > len)
			chunk = len;
		uint8_t *h = mem_host(&vm->mem, gpa, chunk);
		if (!h)
			return -1;
		if (prot & VM_PROT_WRITE)
			vm->ops->mem_written(vm->vmi, gpa, chunk);
		copyinfo[n].gpa = gpa;
		copyinfo[n].len = chunk;
		copyinfo[n].hva = h;
		copyinfo[n].cookie = h;
		n++;
		gla += chunk;
		len -= chunk;
	}
	return 0;
}

void vm_copy_teardown(struct vm *vm, int vcpuid, struct vm_copyinfo *copyinfo, int num_copyinfo)
{
	(void)vm;
	(void)vcpuid;
	if (copyinfo && num_copyinfo > 0)
		memset(copyinfo, 0, sizeof(*copyinfo) * (size_t)num_copyinfo);
}

void vm_copyin(struct vm *vm, int vcpuid, struct vm_copyinfo *copyinfo, void *kaddr, size_t len)
{
	(void)vm;
	(void)vcpuid;
	uint8_t *dst = kaddr;
	for (int i = 0; len > 0 && copyinfo[i].hva; i++) {
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
	for (int i = 0; len > 0 && copyinfo[i].hva; i++) {
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
