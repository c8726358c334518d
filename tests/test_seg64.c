/*
 * Segment bases in 64-bit mode (SDM vol. 1 3.4.2.1): CS, DS, ES and SS count
 * as base 0 whatever their descriptor cache holds; FS and GS keep theirs.
 */
#include <criterion/criterion.h>

#include <softvmm/vmm.h>

#include "host_diff.h"

static void setup(void)
{
	cr_assert_eq(hd_open(), 0);
	void *ck;
	uint8_t *p = vm_gpa_hold(hd_vm(), 0x2000, 1, VM_PROT_WRITE, &ck);
	*p = 0x22;
	p = vm_gpa_hold(hd_vm(), 0x3000, 1, VM_PROT_WRITE, &ck);
	*p = 0x33;
}

TestSuite(seg64, .init = setup, .fini = hd_close);

static void set_base(int reg, uint64_t base)
{
	struct seg_desc d = {base, 0xffffffff, 0xc093};
	cr_assert_eq(vm_set_seg_desc(hd_vm(), 0, reg, &d), 0);
}

Test(seg64, ds_and_es_bases_are_ignored_in_64bit_mode)
{
	static const uint8_t load_ds[] = {0x8a, 0x04, 0x25, 0x00,
	                                  0x20, 0x00, 0x00}; /* mov al,[0x2000] */
	static const uint8_t load_es[] = {0x26, 0x8a, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00};
	set_base(VM_REG_GUEST_DS, 0x1000);
	set_base(VM_REG_GUEST_ES, 0x1000);
	struct hd_regs r = {.rflags = 2};
	cr_assert_eq(hd_run(load_ds, sizeof(load_ds), &r), 0, "%s", hd_error);
	cr_assert_eq(r.rax & 0xff, 0x22, "DS base must count as 0");
	r = (struct hd_regs){.rflags = 2};
	cr_assert_eq(hd_run(load_es, sizeof(load_es), &r), 0, "%s", hd_error);
	cr_assert_eq(r.rax & 0xff, 0x22, "ES base must count as 0");
}

Test(seg64, fs_and_gs_bases_apply_in_64bit_mode)
{
	static const uint8_t load_fs[] = {0x64, 0x8a, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00};
	static const uint8_t load_gs[] = {0x65, 0x8a, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00};
	set_base(VM_REG_GUEST_FS, 0x1000);
	set_base(VM_REG_GUEST_GS, 0x1000);
	struct hd_regs r = {.rflags = 2};
	cr_assert_eq(hd_run(load_fs, sizeof(load_fs), &r), 0, "%s", hd_error);
	cr_assert_eq(r.rax & 0xff, 0x33, "FS base 0x1000 applies");
	r = (struct hd_regs){.rflags = 2};
	cr_assert_eq(hd_run(load_gs, sizeof(load_gs), &r), 0, "%s", hd_error);
	cr_assert_eq(r.rax & 0xff, 0x33, "GS base 0x1000 applies");
}
