/*
 * Hardware truth, replayed on any host: every case recorded on a real CPU
 * (diff/record.h) under tests/data/undefined/ (the vendor tables of
 * undefined results, `make measure-undefined`) and tests/data/cases/ (the
 * instruction corpus) runs on the software CPU with the profile of the
 * vendor that recorded it, and must give the recorded registers, flags
 * (undefined ones included), RIP, fault and memory windows exactly.  A
 * 16-bit case runs twice, in real mode and in 16-bit protected mode, and a
 * 32-bit case twice, in compatibility mode and in legacy protected mode.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dx.h"
#include "record.h"

static struct dx_soft *soft;

static void setup(void)
{
	char err[256];
	cr_assert_eq(dx_soft_open(&soft, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	dx_soft_close(soft);
	soft = NULL;
}

TestSuite(recorded, .init = setup, .fini = teardown);

/* The vendor's model that advertises every extension a recorded form may
 * use (the recorder only records forms the recording host has). */
static const char *model_of(const char *vendor)
{
	return strcmp(vendor, "amd") == 0 ? "x86-64-amd-v3" : "x86-64-intel-v3";
}

static void describe(char *buf, size_t len, const struct dx_case *c, enum dx_target t,
                     const struct dx_result *h, const struct dx_result *s, const struct dx_diff *d)
{
	int n = snprintf(buf, len, "%s, code", dx_target_name(t));
	for (unsigned k = 0; k < c->len && n > 0 && (size_t)n < len; k++)
		n += snprintf(buf + n, len - (size_t)n, " %02x", c->code[k]);
	if (n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n,
		              ": rflags in %#llx host %#llx soft %#llx (differ %#x); fault host %s "
		              "soft %s; rip host %#llx soft %#llx; registers differ %#x%s%s",
		              (unsigned long long)c->rflags, (unsigned long long)h->rflags,
		              (unsigned long long)s->rflags, d->flags, dx_fault_name(h->fault),
		              dx_fault_name(s->fault), (unsigned long long)h->rip,
		              (unsigned long long)s->rip, d->gprs, d->data ? "; data differs" : "",
		              d->stack ? "; stack differs" : "");
	for (unsigned k = 0; k < 16 && n > 0 && (size_t)n < len; k++)
		if (d->gprs >> k & 1)
			n += snprintf(buf + n, len - (size_t)n,
			              "; r%u in %#llx host %#llx soft %#llx", k,
			              (unsigned long long)c->gpr[k], (unsigned long long)h->gpr[k],
			              (unsigned long long)s->gpr[k]);
}

/* Replay one file; returns the number of soft runs, counts mismatches. */
static unsigned long replay(const char *path, unsigned long *bad)
{
	struct dx_record_reader r;
	char err[512];
	cr_assert_eq(dx_record_open(&r, path, err, sizeof(err)), 0, "%s", err);
	struct dx_case c;
	struct dx_result h, s;
	unsigned long runs = 0;
	int got;
	while ((got = dx_record_next(&r, &c, &h, err, sizeof(err))) == 1) {
		enum dx_target ts[2];
		unsigned nt = dx_targets_of((enum dx_mode)c.mode, ts);
		for (unsigned k = 0; k < nt; k++) {
			struct dx_diff d;
			if (!dx_target_applies(ts[k], &h))
				continue;
			runs++;
			dx_soft_run(soft, model_of(r.vendor), ts[k], &c, &s);
			dx_soft_fixup(ts[k], &h, &s);
			dx_compare(&c, &h, &s, true, &d);
			if (!d.any)
				continue;
			char why[1024];
			describe(why, sizeof(why), &c, ts[k], &h, &s, &d);
			if (++*bad <= 20)
				cr_log_error("%s:%u: %s", path, r.line, why);
		}
	}
	cr_assert_neq(got, -1, "%s", err);
	dx_record_close(&r);
	return runs;
}

static unsigned long replay_dir(const char *sub, unsigned *files, unsigned long *bad)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/%s", SOFTVMM_TEST_DATA_DIR, sub);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	unsigned long runs = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".tsv") != 0)
			continue;
		char path[2048];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		runs += replay(path, bad);
		++*files;
	}
	closedir(d);
	return runs;
}

Test(recorded, undefined_results_match_each_vendors_measured_tables)
{
	unsigned files = 0;
	unsigned long bad = 0, runs = replay_dir("undefined", &files, &bad);
	cr_assert_gt(files, 0, "no measured tables under tests/data/undefined");
	cr_log_info("%lu soft runs of the measured tables in %u files", runs, files);
	cr_assert_eq(bad, 0, "%lu of %lu runs differ from the recorded hardware results", bad,
	             runs);
}

Test(recorded, the_instruction_corpus_matches_the_recorded_hardware_results)
{
	unsigned files = 0;
	unsigned long bad = 0, runs = replay_dir("cases", &files, &bad);
	cr_assert_gt(files, 0, "no recorded corpus under tests/data/cases");
	cr_log_info("%lu soft runs of the corpus in %u files", runs, files);
	cr_assert_eq(bad, 0, "%lu of %lu runs differ from the recorded hardware results", bad,
	             runs);
}

/* A damaged file is reported with its name and line, not misread. */
Test(recorded, a_damaged_file_is_reported_with_its_line)
{
	char path[] = "/tmp/softvmm-recorded-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs("# test\nvendor intel\ncase 64 1 0 4801d8 2 zz\n", f);
	fclose(f);
	struct dx_record_reader r;
	char err[512];
	cr_assert_eq(dx_record_open(&r, path, err, sizeof(err)), 0);
	struct dx_case c;
	struct dx_result h;
	cr_assert_eq(dx_record_next(&r, &c, &h, err, sizeof(err)), -1);
	dx_record_close(&r);
	unlink(path);
	char want[128];
	snprintf(want, sizeof(want), "%s:3: ", path);
	cr_assert(strncmp(err, want, strlen(want)) == 0, "error '%s'", err);
	cr_assert(strstr(err, "rax") != NULL, "error '%s' should name the field", err);
}
