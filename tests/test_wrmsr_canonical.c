/*
 * WRMSR of a non-canonical value to an MSR that holds a linear address is
 * #GP(0) (SDM vol. 2 WRMSR: IA32_FS_BASE, IA32_GS_BASE,
 * IA32_KERNEL_GS_BASE, IA32_LSTAR, IA32_SYSENTER_EIP, IA32_SYSENTER_ESP),
 * in every mode, with the processor's widest linear address: 48 bits, or
 * 57 on a model with 5-level paging whatever CR4.LA57 says.  A canonical
 * value is written and reads back with RDMSR.  Machines from
 * prot_machine.h.
 */
#include "prot_machine.h"

TestSuite(wrmsr_canonical, .fini = pm_teardown);

static const uint32_t msrs[] = {0xc0000100, 0xc0000101, 0xc0000102, 0xc0000082, 0x176, 0x175};

/* WRMSR then RDMSR of msr with value v; returns the vector (-1: none) and
 * the value read back in *back. */
static int write_read(uint32_t msr, uint64_t v, uint64_t *back)
{
	uint64_t r[16] = {[RCX] = msr, [RAX] = (uint32_t)v, [RDX] = v >> 32};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x30, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x32);
	*back = (o.r[RDX] << 32) | (uint32_t)o.r[RAX];
	return o.vector;
}

static void expect_msrs(enum pm_mode m, const char *model, uint64_t v, bool ok)
{
	for (size_t k = 0; k < sizeof(msrs) / sizeof(msrs[0]); k++) {
		pm_machine_model(m, 0, model);
		uint64_t back = 0;
		int vec = write_read(msrs[k], v, &back);
		if (ok) {
			cr_expect_eq(vec, -1, "MSR %#x <- %#" PRIx64 ": vector %d", msrs[k], v,
			             vec);
			cr_expect_eq(back, v, "MSR %#x reads %#" PRIx64, msrs[k], back);
		} else {
			cr_expect_eq(vec, IDT_GP, "MSR %#x <- %#" PRIx64 ": vector %d", msrs[k], v,
			             vec);
			if (vec == IDT_GP)
				cr_expect_eq(pm_get_n(pm_reg(VM_REG_GUEST_RSP), 4), 0,
				             "error code");
		}
		pm_teardown();
	}
}

Test(wrmsr_canonical, bit_47_sign_extension_on_the_baseline)
{
	expect_msrs(PM_LONG64, NULL, UINT64_C(0xffff800000001000), true);
	expect_msrs(PM_LONG64, NULL, UINT64_C(0x00007ffffffff000), true);
	expect_msrs(PM_LONG64, NULL, UINT64_C(0x0000800000000000), false);
	expect_msrs(PM_LONG64, NULL, UINT64_C(0x8000000000000000), false);
}

/* Outside IA-32e mode the check is the same: the MSRs are 64 bits. */
Test(wrmsr_canonical, checked_in_protected_mode_too)
{
	expect_msrs(PM_PROT32, NULL, UINT64_C(0x0000800000000000), false);
	expect_msrs(PM_PROT32, NULL, UINT64_C(0x12345678), true);
}

/* On the model with 5-level paging, 57 bits count even with CR4.LA57 = 0
 * (the machine runs 4-level paging). */
Test(wrmsr_canonical, fifty_seven_bits_on_the_la57_model)
{
	expect_msrs(PM_LONG64, "x86-64-intel-v3", UINT64_C(0x0000800000000000), true);
	expect_msrs(PM_LONG64, "x86-64-intel-v3", UINT64_C(0xff00000000000000), true);
	expect_msrs(PM_LONG64, "x86-64-intel-v3", UINT64_C(0x0100000000000000), false);
	expect_msrs(PM_LONG64, "x86-64-amd-v3", UINT64_C(0x0000800000000000), false);
}
