/*
 * The differential harness (diff/) as a test: a bounded sweep of every
 * instruction form in 64-, 32- and 16-bit mode, natively in a child
 * process and on the soft CPU with the host vendor's model, must show no
 * difference in any register, the flags, the final RIP, the fault or the
 * memory windows.  `make diffcheck` runs the long version.
 *
 * The comparison is strict, the flags and results the SDM leaves undefined
 * included, when the host vendor's profile has been measured (its table is
 * in tests/data/undefined/, `make measure-undefined`): that profile must
 * then match the host exactly.  On a host of a vendor not yet measured the
 * undefined parts are left out and the test says so; test_recorded_cases
 * checks every measured profile on any host.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "dx.h"

static bool vendor_measured(const char *vendor)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/undefined/%s.tsv", SOFTVMM_TEST_DATA_DIR,
	         vendor ? vendor : "none");
	return access(path, R_OK) == 0;
}

Test(diffcheck, bounded_sweep_has_no_differences, .timeout = 100)
{
	struct dx_sweep_opts o = {
	    .cases = 150000,
	    .seed = 1,
	    .modes = DX_M64 | DX_M32 | DX_M16,
	    .strict = vendor_measured(dx_host_vendor()),
	};
	if (!o.strict)
		cr_log_warn("the %s profile is not measured yet: undefined flags and results are "
		            "not compared (run make measure-undefined on this host and commit it)",
		            dx_host_vendor() ? dx_host_vendor() : "host's");
	struct dx_sweep_stats st;
	char err[200] = "";
	int r = dx_sweep(&o, NULL, NULL, NULL, &st, err, sizeof(err));
	cr_assert_eq(r, 0, "%s", err);
	uint64_t cases = 0, diffs = 0;
	for (unsigned t = 0; t < DX_NTARGETS; t++) {
		cases += st.cases[t];
		diffs += st.mismatches[t];
	}
	cr_log_info("diffcheck: %" PRIu64 " cases on %u variants (%u skipped), host %s", cases,
	            st.variants, st.skipped, st.vendor);
	cr_assert_gt(cases, 100000);
	cr_assert_eq(st.harness, 0);
	cr_assert_eq(diffs, 0, "%" PRIu64 " differences in %" PRIu64 " cases (softvmm-diffcheck)",
	             diffs, cases);
}
