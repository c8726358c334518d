/*
 * Golden runs: the SMALL build of each benchmark guest in ../shared/bench,
 * run in-process by the reference runner (runner_run_image, as `softvmm run`
 * does), must write exactly the bytes of expected/NAME-small.out to its
 * console and exit with status 0 (its isa-debug-exit write).  Those files
 * were produced by QEMU and checked by single-stepping (bench/README.md);
 * each ends with a checksum over every value computed, so a single wrong
 * flag or stale decoded instruction shows up here.  The instruction and
 * port-I/O counts of README's table must match exactly as well.
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

/* The in-process guest of check_port_io, closed by the suite's fini even
 * when an assertion ends the test early. */
static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(bench_small, .fini = close_guest);

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
	          expected_path, i, c->out_len, exp_len, (int)c->out_len, c->out, (int)c->diag_len,
	          c->diag);
	free(exp);
}

/*
 * The image's output and status through the runner, and its instruction
 * count: bench/README.md's table gives the instructions retired from the
 * first one at 0x7C00 up to and including the OUT to 0xF4, measured under
 * QEMU by a TCG plugin and by single-stepping.
 */
static void check_bench_small(const char *name, uint64_t insns)
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
	cr_assert(c.result.vm_ran);
	cr_assert_eq(c.result.insns_retired, insns, "%s retired %" PRIu64 " instructions", image,
	             c.result.insns_retired);
	/* Issue 4: no instruction of these guests may fall to the
	 * unimplemented-opcode handler. */
	cr_assert_eq(c.result.unimplemented, 0, "%s: %" PRIu64 " unimplemented-opcode hits", image,
	             c.result.unimplemented);
	free_run(&c);
}

/*
 * The same image driven through the public API alone (guest_helper.c): every
 * exit vm_run returns is an OUT (bench/README.md: nothing reads a port), one
 * per port-I/O instruction of README's table, the last one to 0xF4 with
 * status 0, and the bytes sent to 0xE9 are the expected output again.
 */
static void check_port_io(const char *name, uint64_t port_io)
{
	char image[1024], expected_path[1024];
	unsigned char *expected = NULL, console[MAX_OUTPUT];
	size_t expected_len = 0, console_len = 0;
	uint64_t outs = 0;
	struct vm_exit vme;
	struct vm_vcpu_stats st;

	snprintf(image, sizeof(image), "%s/%s-small.bin", SOFTVMM_BENCH_DIR, name);
	snprintf(expected_path, sizeof(expected_path), "%s/expected/%s-small.out",
	         SOFTVMM_BENCH_DIR, name);
	cr_assert_eq(read_file(expected_path, MAX_OUTPUT, &expected, &expected_len), 0, "%s",
	             expected_path);
	cr_assert_eq(guest_open_file(&g, image), 0, "%s", g.err);
	for (;;) {
		char desc[256];
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		exit_describe(&vme, desc, sizeof(desc));
		cr_assert(vme.exitcode == VM_EXITCODE_INOUT && !vme.u.inout.in,
		          "after %" PRIu64 " OUTs: unexpected exit %s", outs, desc);
		outs++;
		if (vme.u.inout.port == 0xf4)
			break;
		if (vme.u.inout.port == 0xe9 && console_len < sizeof(console))
			console[console_len++] = (unsigned char)vme.u.inout.eax;
	}
	cr_assert_eq(vme.u.inout.eax & 0xff, 0, "status %u", vme.u.inout.eax & 0xff);
	cr_assert_eq(outs, port_io, "%" PRIu64 " OUT exits", outs);
	cr_assert_eq(vm_get_stats(g.vm, 0, &st), 0);
	cr_assert_eq(st.exits_returned[VM_EXITCODE_INOUT], port_io);
	cr_assert(console_len == expected_len && memcmp(console, expected, expected_len) == 0,
	          "console output differs from %s:\n%.*s", expected_path, (int)console_len,
	          (const char *)console);
	free(expected);
}

/* Instructions and port I/O from bench/README.md, "Measured counts". */
#define BENCH_SMALL_TESTS(name, insns, port_io)                                                    \
	Test(bench_small, name##_small_prints_its_expected_output_and_exits_0)                     \
	{                                                                                          \
		check_bench_small(#name, insns);                                                   \
	}                                                                                          \
	Test(bench_small, name##_small_returns_one_out_exit_per_measured_port_io)                  \
	{                                                                                          \
		check_port_io(#name, port_io);                                                     \
	}

BENCH_SMALL_TESTS(alu, 1026278, 228)
BENCH_SMALL_TESTS(alu32, 546323, 153)
BENCH_SMALL_TESTS(pio, 41362, 2093)
BENCH_SMALL_TESTS(paging64, 776524, 210)
BENCH_SMALL_TESTS(codegen, 103647, 114)
BENCH_SMALL_TESTS(modeswitch, 20786, 191)

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
