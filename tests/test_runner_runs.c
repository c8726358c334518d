/*
 * Whole runs through runner_run_image, as `softvmm run` does them: the
 * guests check the runner's devices and entry states themselves and report
 * through their exit status.
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
	FILE *out, *diag;
	snprintf(path, sizeof(path), "%s/%s.bin", SOFTVMM_GUEST_DIR, guest);
	memset(c, 0, sizeof(*c));
	out = open_memstream(&c->out, &c->out_len);
	diag = open_memstream(&c->diag, &c->diag_len);
	o->image_path = path;
	o->guest_out = out;
	o->diag = diag;
	c->status = runner_run_image(o, &c->result);
	fclose(out);
	fclose(diag);
	/* Issue 4: no guest of the suite may reach the unimplemented-opcode
	 * handler (test_unimplemented covers that handler on its own). */
	cr_assert_eq(c->result.unimplemented, 0, "%s: %llu unimplemented-opcode hits", guest,
	             (unsigned long long)c->result.unimplemented);
}

static void run(struct captured_run *c, const char *guest)
{
	struct runner_options o;
	runner_options_init(&o);
	run_with(c, guest, &o);
}

static void expect_status(const struct captured_run *c, int status)
{
	cr_assert_eq(c->status, status, "status %d, expected %d; the runner said:\n%.*s", c->status,
	             status, (int)c->diag_len, c->diag);
	cr_assert_eq(c->result.status, c->status);
}

static void expect_diag(const struct captured_run *c, const char *fragment)
{
	cr_assert_not_null(strstr(c->diag, fragment), "no \"%s\" in:\n%.*s", fragment,
	                   (int)c->diag_len, c->diag);
}

static void free_run(struct captured_run *c)
{
	free(c->out);
	free(c->diag);
}

Test(runner_runs, port_devices_behave_as_documented)
{
	struct captured_run c;
	run(&c, "runner_ports");
	expect_status(&c, 0);
	cr_assert_eq(c.out_len, 10);
	cr_assert_eq(memcmp(c.out, "Uports ok\n", 10), 0, "%.*s", (int)c.out_len, c.out);
	expect_diag(&c, "digest ");
	free_run(&c);
}

Test(runner_runs, the_scratch_bank_is_mmio_through_inst_emul)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.exits = RUNNER_EXITS_SUMMARY;
	run_with(&c, "runner_scratch", &o);
	expect_status(&c, 0);
	expect_diag(&c, "INST_EMUL");
	free_run(&c);
}

Test(runner_runs, ignored_wrmsr_continues_and_others_take_gp_at_the_instruction)
{
	struct captured_run c;
	run(&c, "runner_msr");
	expect_status(&c, 0);
	expect_diag(&c, "wrmsr 0x12345678");
	expect_diag(&c, "rdmsr 0x12345678");
	free_run(&c);
}

Test(runner_runs, prot32_starts_flat_with_the_documented_state)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.mode = RUNNER_MODE_PROT32;
	run_with(&c, "runner_prot32", &o);
	expect_status(&c, 0);
	free_run(&c);
}

/* The guest's last access is to mapped, unbacked memory outside every device. */
Test(runner_runs, long64_starts_in_64bit_mode_with_identity_paging)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.mode = RUNNER_MODE_LONG64;
	o.load_addr = 0x200000;
	run_with(&c, "runner_long64", &o);
	expect_status(&c, 70);
	expect_diag(&c, "softvmm: unhandled memory access to gpa 0x7ffff000");
	free_run(&c);
}

Test(runner_runs, max_insns_ends_an_endless_guest_with_status_75)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.max_insns = 1000;
	o.stats = true;
	run_with(&c, "runner_loop", &o);
	expect_status(&c, 75);
	expect_diag(&c, "softvmm: instruction limit reached\n");
	expect_diag(&c, "instructions retired         1000\n");
	cr_assert_eq(c.result.insns_retired, 1000);
	free_run(&c);
}

Test(runner_runs, stats_end_each_exit_code_with_its_total)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.stats = true;
	run_with(&c, "runner_ports", &o);
	expect_status(&c, 0);
	expect_diag(&c, "exits INOUT handled          0\n"
	                "exits INOUT returned         ");
	const char *total = strstr(c.diag, "\nexits INOUT  ");
	cr_assert_not_null(total, "%.*s", (int)c.diag_len, c.diag);
	expect_diag(&c, "\nwall time (s)  ");
	expect_diag(&c, "\nMIPS  ");
	free_run(&c);
}

Test(runner_runs, json_lines_are_one_object_per_exit)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.exits = RUNNER_EXITS_JSON;
	run_with(&c, "runner_ports", &o);
	expect_status(&c, 0);
	uint64_t objects = 0;
	for (const char *line = c.diag; line < c.diag + c.diag_len;) {
		const char *end = memchr(line, '\n', (size_t)(c.diag + c.diag_len - line));
		cr_assert_not_null(end);
		if (*line == '{') {
			cr_assert_eq(end[-1], '}');
			objects++;
		}
		line = end + 1;
	}
	cr_assert_eq(objects, c.result.exits);
	expect_diag(&c,
	            "{\"seq\":0,\"exitcode\":8,\"exit\":\"PAGING\",\"handled\":true,"
	            "\"rip\":\"0x7c00\",\"inst_length\":0,\"gpa\":\"0x7000\",\"fault_type\":4}\n");
	expect_diag(&c, "\"exit\":\"INOUT\",\"handled\":false,");
	expect_diag(&c, "\"port\":1021,\"bytes\":1,\"in\":true,\"string\":false,\"rep\":false,"
	                "\"eax\":305419896}");
	free_run(&c);
}

Test(runner_runs, the_same_run_gives_the_same_digest_whatever_is_reported)
{
	struct captured_run a, b;
	struct runner_options o;
	run(&a, "runner_scratch");
	runner_options_init(&o);
	o.exits = RUNNER_EXITS_ALL;
	o.stats = true;
	run_with(&b, "runner_scratch", &o);
	cr_assert(a.result.vm_ran && b.result.vm_ran);
	cr_assert_eq(a.result.exits, b.result.exits);
	cr_assert_eq(a.result.digest, b.result.digest);
	free_run(&a);
	free_run(&b);
}

Test(runner_runs, halt_and_triple_fault_give_bhyverun_statuses)
{
	struct captured_run c;
	run(&c, "runner_halt");
	expect_status(&c, 2);
	free_run(&c);
	run(&c, "runner_triple");
	expect_status(&c, 3);
	expect_diag(&c, "softvmm: guest triple fault at rip 0x");
	free_run(&c);
}

Test(runner_runs, image_errors_name_the_file)
{
	struct captured_run c;
	struct runner_options o;
	runner_options_init(&o);
	o.mem_size = 1 << 20;
	o.load_addr = 0xffff0;
	run_with(&c, "runner_ports", &o);
	expect_status(&c, 65);
	expect_diag(&c, "runner_ports.bin: image of ");
	expect_diag(&c, " bytes does not fit at 0xffff0 in RAM of 1048576 bytes\n");
	cr_assert(!c.result.vm_ran);
	free_run(&c);
	run(&c, "no_such_guest");
	expect_status(&c, 66);
	expect_diag(&c, "no_such_guest.bin: No such file or directory\n");
	free_run(&c);
}
