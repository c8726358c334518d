/*
 * The CPU model table through the public API, and CPUID in a guest
 * returning exactly the selected model's values, whatever the host is.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "host_diff.h"

static void vendor_of(const char *model, char out[13])
{
	uint32_t r[4];
	cr_assert_eq(vm_cpu_model_cpuid(model, 0, 0, r), 0);
	memcpy(out, &r[1], 4);
	memcpy(out + 4, &r[3], 4);
	memcpy(out + 8, &r[2], 4);
	out[12] = 0;
}

Test(cpu_models, the_table_has_an_intel_default_and_an_amd_model)
{
	struct vm_cpu_model_info m;
	char vendor[13];
	cr_assert_eq(vm_cpu_model_get(0, &m), 0);
	cr_assert_str_eq(m.name, "x86-64-intel");
	cr_assert_str_eq(m.vendor_profile, "intel");
	vendor_of(m.name, vendor);
	cr_assert_str_eq(vendor, "GenuineIntel");
	cr_assert_eq(vm_cpu_model_get(1, &m), 0);
	cr_assert_str_eq(m.name, "x86-64-amd");
	cr_assert_str_eq(m.vendor_profile, "amd");
	vendor_of(m.name, vendor);
	cr_assert_str_eq(vendor, "AuthenticAMD");
	cr_assert_eq(vm_cpu_model_get(2, &m), ENOENT);
	cr_assert_eq(vm_cpu_model_find("pentium", &m), ENOENT);
	cr_assert_eq(vm_cpu_model_get(0, NULL), EINVAL);
}

/*
 * Both models are x86-64 baselines a stock Linux kernel accepts: long mode,
 * NX, SYSCALL (0x80000001.EDX bits 29, 20, 11) and the x86-64 base set in
 * leaf 1 EDX (FPU TSC MSR PAE CX8 APIC SEP PGE CMOV PAT FXSR SSE SSE2).
 */
Test(cpu_models, both_models_advertise_the_x86_64_baseline)
{
	static const char *const names[] = {"x86-64-intel", "x86-64-amd"};
	const uint32_t base_edx = 1u << 0 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 9 |
	                          1u << 11 | 1u << 13 | 1u << 15 | 1u << 16 | 1u << 24 | 1u << 25 |
	                          1u << 26;
	for (int k = 0; k < 2; k++) {
		uint32_t r[4];
		cr_assert_eq(vm_cpu_model_cpuid(names[k], 1, 0, r), 0);
		cr_assert_eq(r[3] & base_edx, base_edx, "%s leaf 1 EDX %08x", names[k], r[3]);
		cr_assert_eq(vm_cpu_model_cpuid(names[k], 0x80000001, 0, r), 0);
		uint32_t ext = 1u << 29 | 1u << 20 | 1u << 11;
		cr_assert_eq(r[3] & ext, ext, "%s 0x80000001 EDX %08x", names[k], r[3]);
	}
}

static void setup(void)
{
	cr_assert_eq(hd_open(), 0);
}

TestSuite(cpu_models_guest, .init = setup, .fini = hd_close);

/* CPUID executed by the guest returns the default model's leaf, not the host's. */
Test(cpu_models_guest, guest_cpuid_returns_the_model_values)
{
	static const uint8_t cpuid[] = {0x0f, 0xa2};
	for (uint32_t leaf = 0; leaf <= 1; leaf++) {
		uint32_t want[4];
		cr_assert_eq(vm_cpu_model_cpuid("x86-64-intel", leaf, 0, want), 0);
		struct hd_regs r = {.rax = leaf, .rflags = 2};
		cr_assert_eq(hd_run(cpuid, 2, &r), 0, "%s", hd_error);
		cr_assert_eq(r.rax, want[0]);
		cr_assert_eq(r.rbx, want[1]);
		cr_assert_eq(r.rcx, want[2]);
		cr_assert_eq(r.rdx, want[3]);
	}
}
