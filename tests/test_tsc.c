/*
 * Virtual time is the retired-instruction count (DESIGN.md, Determinism):
 * RDTSC returns the instructions retired before it, whatever the host's
 * clock did.  RDTSCP and RDPID exist only on models that advertise them
 * (neither baseline does), and raise #UD otherwise.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "host_diff.h"

static void setup(void)
{
	cr_assert_eq(hd_open(), 0);
}

TestSuite(tsc, .init = setup, .fini = hd_close);

Test(tsc, rdtsc_returns_the_retired_instruction_count)
{
	static const uint8_t rdtsc[] = {0x0f, 0x31};
	uint64_t last = 0;
	for (int k = 0; k < 3; k++) {
		struct hd_regs r = {.rax = ~0ull, .rdx = ~0ull, .rflags = 2};
		cr_assert_eq(hd_run(rdtsc, 2, &r), 0, "%s", hd_error);
		uint64_t tsc = (r.rdx << 32) | (uint32_t)r.rax;
		cr_assert_eq(r.rax >> 32, 0, "RDTSC clears RAX[63:32]");
		cr_assert_eq(r.rdx >> 32, 0, "RDTSC clears RDX[63:32]");
		/* hd_run retires exactly one instruction per call. */
		if (k > 0)
			cr_assert_eq(tsc, last + 1, "TSC %llu after %llu", (unsigned long long)tsc,
			             (unsigned long long)last);
		last = tsc;
	}
}

Test(tsc, rdtscp_and_rdpid_raise_ud_on_models_without_them)
{
	static const uint8_t rdtscp[] = {0x0f, 0x01, 0xf9};
	static const uint8_t rdpid[] = {0xf3, 0x0f, 0xc7, 0xf8}; /* rdpid rax */
	struct hd_regs r = {.rflags = 2};
	cr_assert_neq(hd_run(rdtscp, sizeof(rdtscp), &r), 0, "RDTSCP must fault");
	cr_assert(strstr(hd_error, "exit 14") != NULL, "a #UD with no IDT: %s", hd_error);
	cr_assert_neq(hd_run(rdpid, sizeof(rdpid), &r), 0, "RDPID must fault");
	cr_assert(strstr(hd_error, "exit 14") != NULL, "a #UD with no IDT: %s", hd_error);
}
