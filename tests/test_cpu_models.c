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

Test(cpu_models, the_table_has_an_intel_default_then_amd_and_the_v3_models)
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
	cr_assert_eq(vm_cpu_model_get(2, &m), 0);
	cr_assert_str_eq(m.name, "x86-64-intel-v3");
	cr_assert_str_eq(m.vendor_profile, "intel");
	cr_assert_eq(m.version, 2u);
	cr_assert_eq(m.maxphyaddr, 46u);
	vendor_of(m.name, vendor);
	cr_assert_str_eq(vendor, "GenuineIntel");
	cr_assert_eq(vm_cpu_model_get(3, &m), 0);
	cr_assert_str_eq(m.name, "x86-64-amd-v3");
	cr_assert_str_eq(m.vendor_profile, "amd");
	cr_assert_eq(m.version, 2u);
	cr_assert_eq(m.maxphyaddr, 48u);
	vendor_of(m.name, vendor);
	cr_assert_str_eq(vendor, "AuthenticAMD");
	cr_assert_eq(vm_cpu_model_get(4, &m), ENOENT);
	cr_assert_eq(vm_cpu_model_find(NULL, &m), EINVAL);
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
	static const char *const names[] = {"x86-64-intel", "x86-64-amd", "x86-64-intel-v3",
	                                    "x86-64-amd-v3"};
	const uint32_t base_edx = 1u << 0 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 9 |
	                          1u << 11 | 1u << 13 | 1u << 15 | 1u << 16 | 1u << 24 | 1u << 25 |
	                          1u << 26;
	for (int k = 0; k < 4; k++) {
		uint32_t r[4];
		cr_assert_eq(vm_cpu_model_cpuid(names[k], 1, 0, r), 0);
		cr_assert_eq(r[3] & base_edx, base_edx, "%s leaf 1 EDX %08x", names[k], r[3]);
		cr_assert_eq(vm_cpu_model_cpuid(names[k], 0x80000001, 0, r), 0);
		uint32_t ext = 1u << 29 | 1u << 20 | 1u << 11;
		cr_assert_eq(r[3] & ext, ext, "%s 0x80000001 EDX %08x", names[k], r[3]);
	}
}

/* Every leaf of a model, exactly: {leaf, subleaf, EAX, EBX, ECX, EDX}. */
static void expect_leaves(const char *model, const uint32_t (*want)[6], unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint32_t r[4];
		cr_assert_eq(vm_cpu_model_cpuid(model, want[k][0], want[k][1], r), 0);
		for (int j = 0; j < 4; j++)
			cr_expect_eq(r[j], want[k][2 + j],
			             "%s leaf %#x.%u reg %d: %08x, wanted %08x", model, want[k][0],
			             want[k][1], j, r[j], want[k][2 + j]);
	}
}

/*
 * The general-purpose-extension models: leaf 0 reaches leaf 7; leaf 1 ECX
 * adds MOVBE (bit 22) to SSE3 SSSE3 CX16 POPCNT; leaf 7 subleaf 0 EBX has
 * BMI1 (3), BMI2 (8), ADX (19), ECX RDPID (22), EAX = 0 (no subleaf 1,
 * which reads as zeros); 0x80000001 ECX has LAHF_LM (0) and ABM/LZCNT (5),
 * EDX adds RDTSCP (27); the paging features of version 2: leaf 1 ECX PCID
 * (17), leaf 7 EBX SMEP (7), INVPCID (10) and SMAP (20), ECX UMIP (2), 0x80000001 EDX
 * Page1GB (26), and on Intel leaf 7 ECX LA57 (16) with 57 linear address bits in
 * 0x80000008 EAX[15:8].  Signatures: Ice Lake-SP 06_6AH stepping 6, Zen 3
 * Milan family 19H model 01H stepping 1.
 */
Test(cpu_models, the_v3_models_advertise_the_general_purpose_extensions)
{
	static const uint32_t intel[][6] = {
	    {0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69},
	    {1, 0, 0x000606a6, 0x00000800, 0x00c22201, 0x078bfbff},
	    {7, 0, 0, 0x00180588, 0x00410004, 0},
	    {7, 1, 0, 0, 0, 0},
	    {0x80000000, 0, 0x80000008, 0, 0, 0},
	    {0x80000001, 0, 0, 0, 0x00000021, 0x2c100800},
	    {0x80000008, 0, 0x0000392e, 0, 0, 0},
	};
	static const uint32_t amd[][6] = {
	    {0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65},
	    {1, 0, 0x00a00f11, 0x00000800, 0x00c22201, 0x078bfbff},
	    {7, 0, 0, 0x00180588, 0x00400004, 0},
	    {7, 1, 0, 0, 0, 0},
	    {0x80000000, 0, 0x80000008, 0x68747541, 0x444d4163, 0x69746e65},
	    {0x80000001, 0, 0x00a00f11, 0, 0x00000021, 0x2c100800},
	    {0x80000008, 0, 0x00003030, 0, 0, 0},
	};
	expect_leaves("x86-64-intel-v3", intel, sizeof(intel) / sizeof(intel[0]));
	expect_leaves("x86-64-amd-v3", amd, sizeof(amd) / sizeof(amd[0]));
}

/* The baselines advertise none of those extensions: leaf 7 is not listed
 * (zeros), MOVBE, ABM and RDTSCP are clear. */
Test(cpu_models, the_baselines_advertise_no_general_purpose_extensions)
{
	static const char *const names[] = {"x86-64-intel", "x86-64-amd"};
	for (int k = 0; k < 2; k++) {
		uint32_t r[4];
		cr_assert_eq(vm_cpu_model_cpuid(names[k], 7, 0, r), 0);
		cr_expect_eq(r[1] | r[2], 0u, "%s leaf 7: %08x %08x", names[k], r[1], r[2]);
		cr_assert_eq(vm_cpu_model_cpuid(names[k], 1, 0, r), 0);
		cr_expect_eq(r[2] & (1u << 22), 0u, "%s MOVBE", names[k]);
		cr_assert_eq(vm_cpu_model_cpuid(names[k], 0x80000001, 0, r), 0);
		cr_expect_eq(r[2] & (1u << 5), 0u, "%s ABM", names[k]);
		cr_expect_eq(r[3] & (1u << 27), 0u, "%s RDTSCP", names[k]);
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

/* CPUID leaf 7 in a guest on the v3 models: subleaf 0 (ECX = 0) as listed,
 * subleaf 1 zeros, whatever the host has. */
Test(cpu_models, guest_cpuid_leaf_7_on_the_v3_models)
{
	static const uint8_t cpuid[] = {0x0f, 0xa2};
	static const char *const names[] = {"x86-64-intel-v3", "x86-64-amd-v3"};
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(hd_open_model(names[k]), 0);
		for (uint32_t sub = 0; sub <= 1; sub++) {
			struct hd_regs r = {.rax = 7, .rcx = sub, .rflags = 2};
			cr_assert_eq(hd_run(cpuid, 2, &r), 0, "%s", hd_error);
			cr_expect_eq(r.rax, 0);
			cr_expect_eq(r.rbx, sub ? 0 : 0x00180588u, "%s.%u ebx %#llx", names[k], sub,
			             (unsigned long long)r.rbx);
			uint32_t ecx =
			    k == 0 ? 0x00410004u : 0x00400004u; /* UMIP, and LA57 on Intel */
			cr_expect_eq(r.rcx, sub ? 0 : ecx, "%s.%u ecx %#llx", names[k], sub,
			             (unsigned long long)r.rcx);
			cr_expect_eq(r.rdx, 0);
		}
		hd_close();
	}
}

/* What a model reports as its physical-address width (CPUID 80000008H
 * EAX[7:0]) is the width the soft CPU uses (maxphyaddr): a guest sizing
 * its page tables from CPUID must see reserved bits where the CPU does. */
Test(cpu_models, cpuid_physical_address_bits_equal_maxphyaddr)
{
	struct vm_cpu_model_info m;
	for (unsigned i = 0; vm_cpu_model_get(i, &m) == 0; i++) {
		uint32_t r[4];
		cr_assert_eq(vm_cpu_model_cpuid(m.name, 0x80000008, 0, r), 0);
		cr_expect_eq(r[0] & 0xff, m.maxphyaddr, "%s: CPUID says %u bits, maxphyaddr %u",
		             m.name, r[0] & 0xff, m.maxphyaddr);
	}
}
