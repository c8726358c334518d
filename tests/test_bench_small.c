/*
 * Golden runs: the SMALL build of each benchmark guest in ../shared/bench,
 * run in-process by the reference runner (runner_run_image, as `softvmm run`
 * does), must write exactly the bytes of expected/NAME-small.out to its
 * console and exit with status 0 (its isa-debug-exit write).  Those files
 * were produced by QEMU and checked by single-stepping (bench/README.md);
 * each ends with a checksum over every value computed, so a single wrong
 * flag or stale decoded instruction shows up here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_helper.h"
#include "runner/runner.h"

/* The expected outputs are a few hundred bytes. */
#define MAX_OUTPUT (64u * 1024u)

struct captured_run {
	int status;
	struct runner_result result;
	char *out, *diag; /* what the guest and the runner wrote */
	size_t out_len, diag_len;
};

static void run_image(const char *path, struct captured_run *c)
{
	struct runner_options o;
	FILE *out, *diag;

	memset(c, 0, sizeof(*c));
	runner_options_init(&o);
	out = open_memstream(&c->out, &c->out_len);
	diag = open_memstream(&c->diag, &c->diag_len);
	cr_assert_not_null(out);
	cr_assert_not_null(diag);
	o.image_path = path;
	o.guest_out = out;
	o.diag = diag;
	o.exits = RUNNER_EXITS_NONE;
	c->status = runner_run_image(&o, &c->result);
	fclose(out);
	fclose(diag);
}

static void free_run(struct captured_run *c)
{
	free(c->out);
	free(c->diag);
}

/* Byte-for-byte comparison, reporting the first difference and the runner's messages. */
static void assert_output(const struct captured_run *c, const char *expected_path)
{
	unsigned char *exp = NULL;
	size_t exp_len = 0;
	int err = read_file(expected_path, MAX_OUTPUT, &exp, &exp_len);
	cr_assert_eq(err, 0, "%s: %s", expected_path, strerror(err));

	size_t n = c->out_len < exp_len ? c->out_len : exp_len, i = 0;
	while (i < n && (unsigned char)c->out[i] == exp[i])
		i++;
	cr_assert(i == n && c->out_len == exp_len,
	          "output differs from %s at byte %zu (got %zu bytes, expected %zu)\n"
	          "--- got:\n%.*s\n--- runner said:\n%.*s",
	          expected_path, i, c->out_len, exp_len, (int)c->out_len, c->out,
	          (int)c->diag_len, c->diag);
	free(exp);
}

static void check_bench_small(const char *name)
{
	char image[1024], expected[1024];
	struct captured_run c;

	snprintf(image, sizeof(image), "%s/%s-small.bin", SOFTVMM_BENCH_DIR, name);
	snprintf(expected, sizeof(expected), "%s/expected/%s-small.out", SOFTVMM_BENCH_DIR, name);
	run_image(image, &c);
	assert_output(&c, expected);
	cr_assert_eq(c.status, 0, "%s exited with status %d; the runner said:\n%.*s", image,
	             c.status, (int)c.diag_len, c.diag);
	cr_assert_eq(c.result.status, c.status);
	free_run(&c);
}

Test(bench_small, alu_small_prints_its_expected_output_and_exits_0)
{
	check_bench_small("alu");
}

Test(bench_small, alu32_small_prints_its_expected_output_and_exits_0)
{
	check_bench_small("alu32");
}

Test(bench_small, pio_small_prints_its_expected_output_and_exits_0)
{
	check_bench_small("pio");
}

Test(bench_small, paging64_small_prints_its_expected_output_and_exits_0)
{
	check_bench_small("paging64");
}

Test(bench_small, codegen_small_prints_its_expected_output_and_exits_0)
{
	check_bench_small("codegen");
}

Test(bench_small, modeswitch_small_prints_its_expected_output_and_exits_0)
{
	check_bench_small("modeswitch");
}

/*
 * DESIGN.md, "Determinism": two runs of the same image see the same exits
 * with the same guest state at each (equal digests, trace.h).  pio has the
 * most exits of the six, one OUT every 14 instructions.
 */
Test(bench_small, pio_small_runs_twice_to_the_same_digest)
{
	char image[1024];
	struct captured_run a, b;

	snprintf(image, sizeof(image), "%s/pio-small.bin", SOFTVMM_BENCH_DIR);
	run_image(image, &a);
	run_image(image, &b);
	cr_assert(a.result.vm_ran && b.result.vm_ran);
	cr_assert_eq(a.result.exits, b.result.exits);
	cr_assert_eq(a.result.insns_retired, b.result.insns_retired);
	cr_assert_eq(a.result.digest, b.result.digest, "digests 0x%016" PRIx64 " and 0x%016" PRIx64,
	             a.result.digest, b.result.digest);
	free_run(&a);
	free_run(&b);
}
