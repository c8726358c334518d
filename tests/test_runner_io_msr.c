/*
 * The runner's string I/O and MSR handling in whole runs (runner_run_image,
 * as `softvmm run` does them), with the complete exit stream as
 * --exits all prints it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/runner.h"

struct captured_run {
	int status;
	struct runner_result result;
	char *out, *diag;
	size_t out_len, diag_len;
};

static void run_with(struct captured_run *c, const char *guest, struct runner_options *o)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.bin", SOFTVMM_GUEST_DIR, guest);
	memset(c, 0, sizeof(*c));
	FILE *out = open_memstream(&c->out, &c->out_len);
	FILE *diag = open_memstream(&c->diag, &c->diag_len);
	o->image_path = path;
	o->guest_out = out;
	o->diag = diag;
	o->exits = RUNNER_EXITS_ALL;
	c->status = runner_run_image(o, &c->result);
	fclose(out);
	fclose(diag);
}

/* The diag text up to the closing "digest" line must be exactly 'expected'. */
static void expect_diag_exactly(const struct captured_run *c, const char *expected)
{
	const char *digest = strstr(c->diag, "digest ");
	cr_assert_not_null(digest, "no digest line in:\n%s", c->diag);
	size_t n = (size_t)(digest - c->diag);
	cr_assert(n == strlen(expected) && memcmp(c->diag, expected, n) == 0,
	          "the runner said:\n%.*s\nexpected:\n%s", (int)n, c->diag, expected);
}

static void free_run(struct captured_run *c)
{
	free(c->out);
	free(c->diag);
}

/*
 * runner_strio.asm: the 20-byte REP OUTSB reaches the console in two
 * INOUT_STR exits (16 bytes, then the instruction restarts with 4 left),
 * the REP INSB reads 0xE9 three times, and the OUTSB to 0xF4 writes the
 * status byte.  Real mode: DS = ES = 0, access 0x93, addrsize 2.
 */
Test(runner_io_msr, string_io_runs_on_the_runner_devices)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	run_with(&c, "runner_strio", &o);
	cr_assert_eq(c.status, 0, "status %d:\n%s", c.status, c.diag);
	cr_assert_eq(c.out_len, 20);
	cr_assert_eq(memcmp(c.out, "string i/o through \n", 20), 0);
	expect_diag_exactly(
	    &c,
	    "exit 0 PAGING handled rip=0x7c00 inst_length=0 gpa=0x7000 fault_type=4\n"
	    "exit 1 INOUT_STR returned rip=0x7c10 inst_length=2 port=0xe9 bytes=1 in=0 string=1 "
	    "rep=1 eax=0x0 cr3=0x0 cpl=0 cpu_mode=real paging_mode=flat rflags=0x46 cr0=0x10 "
	    "index=0x7c52 count=0x14 addrsize=2 seg=ds seg_base=0x0 seg_limit=0xffff "
	    "seg_access=0x93\n"
	    "exit 2 INOUT_STR returned rip=0x7c10 inst_length=2 port=0xe9 bytes=1 in=0 string=1 "
	    "rep=1 eax=0x0 cr3=0x0 cpl=0 cpu_mode=real paging_mode=flat rflags=0x46 cr0=0x10 "
	    "index=0x7c62 count=0x4 addrsize=2 seg=ds seg_base=0x0 seg_limit=0xffff "
	    "seg_access=0x93\n"
	    "exit 3 INOUT_STR returned rip=0x7c18 inst_length=2 port=0xe9 bytes=1 in=1 string=1 "
	    "rep=1 eax=0x0 cr3=0x0 cpl=0 cpu_mode=real paging_mode=flat rflags=0x46 cr0=0x10 "
	    "index=0x7c67 count=0x3 addrsize=2 seg=es seg_base=0x0 seg_limit=0xffff "
	    "seg_access=0x93\n"
	    "exit 4 INOUT_STR returned rip=0x7c4f inst_length=1 port=0xf4 bytes=1 in=0 string=1 "
	    "rep=0 eax=0x0 cr3=0x0 cpl=0 cpu_mode=real paging_mode=flat rflags=0x46 cr0=0x10 "
	    "index=0x7c66 count=0x1 addrsize=2 seg=ds seg_base=0x0 seg_limit=0xffff "
	    "seg_access=0x93\n");
	free_run(&c);
}

/*
 * runner_msr.asm without options: bhyverun's default (strictmsr) injects
 * #GP(0) for the WRMSR and the RDMSR of MSR 0x12345678, and each restarts
 * to take it (IVT entry 13, which steps over it); the WRMSR to 0x79 that
 * xmsr.c accepts continues.  The exits: WRMSR 0x79, WRMSR and RDMSR of
 * 0x12345678, then the status OUT.
 */
Test(runner_io_msr, unknown_msrs_take_gp_by_default)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	run_with(&c, "runner_msr", &o);
	cr_assert_eq(c.status, 0, "status %d:\n%s", c.status, c.diag);
	expect_diag_exactly(
	    &c, "exit 0 PAGING handled rip=0x7c00 inst_length=0 gpa=0x7000 fault_type=4\n"
	        "exit 1 PAGING handled rip=0x7c04 inst_length=0 gpa=0x0 fault_type=2\n"
	        "exit 2 WRMSR returned rip=0x7c1c inst_length=2 msr=0x79 wval=0x0\n"
	        "exit 3 WRMSR returned rip=0x7c27 inst_length=2 msr=0x12345678 wval=0x0\n"
	        "softvmm: wrmsr 0x12345678 value 0x0 at rip 0x7c27: #GP injected\n"
	        "exit 4 RDMSR returned rip=0x7c36 inst_length=2 msr=0x12345678\n"
	        "softvmm: rdmsr 0x12345678 at rip 0x7c36: #GP injected\n"
	        "exit 5 INOUT returned rip=0x7c43 inst_length=2 port=0xf4 bytes=1 in=0 string=0 "
	        "rep=0 eax=0x7c00\n");
	free_run(&c);
}

/*
 * runner_msr_ignore.asm with --ignore-unknown-msrs (bhyve's -w): the
 * WRMSR is dropped and the RDMSR reads 0, both resuming after the
 * instruction with no #GP.
 */
Test(runner_io_msr, ignore_unknown_msrs_reads_zero_and_drops_writes)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.ignore_unknown_msrs = true;
	run_with(&c, "runner_msr_ignore", &o);
	cr_assert_eq(c.status, 0, "status %d:\n%s", c.status, c.diag);
	expect_diag_exactly(
	    &c,
	    "exit 0 PAGING handled rip=0x7c00 inst_length=0 gpa=0x7000 fault_type=4\n"
	    "exit 1 PAGING handled rip=0x7c04 inst_length=0 gpa=0x0 fault_type=2\n"
	    "exit 2 WRMSR returned rip=0x7c22 inst_length=2 msr=0x12345678 "
	    "wval=0x55555555aaaaaaaa\n"
	    "softvmm: wrmsr 0x12345678 value 0x55555555aaaaaaaa at rip 0x7c22: ignored\n"
	    "exit 3 RDMSR returned rip=0x7c37 inst_length=2 msr=0x12345678\n"
	    "softvmm: rdmsr 0x12345678 at rip 0x7c37: ignored, read as 0\n"
	    "exit 4 INOUT returned rip=0x7c4d inst_length=2 port=0xf4 bytes=1 in=0 string=0 rep=0 "
	    "eax=0x0\n");
	free_run(&c);
}

Test(runner_io_msr, the_msr_and_mtrap_options_parse_and_are_listed)
{
	struct runner_options o;
	char *argv[] = {"run", "--ignore-unknown-msrs", "img.bin", "--mtrap"};
	runner_options_init(&o);
	cr_assert(!o.ignore_unknown_msrs && !o.mtrap);
	cr_assert_eq(runner_options_parse(4, argv, &o), RUNNER_PARSE_RUN);
	cr_assert(o.ignore_unknown_msrs);
	cr_assert(o.mtrap);
	char *usage = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&usage, &len);
	runner_print_usage(f);
	fclose(f);
	cr_assert_not_null(strstr(usage, "  --ignore-unknown-msrs\n"));
	cr_assert_not_null(strstr(usage, "  --mtrap "));
	free(usage);
}
