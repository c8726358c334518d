/*
 * `softvmm run` option parsing (runner_options_parse): defaults, values,
 * and the one-line errors that make the command exit 64.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/runner.h"

struct parsed {
	struct runner_options o;
	enum runner_parse_result result;
	char *diag;
	size_t diag_len;
};

/* Parse "run" followed by the given arguments, capturing the error line. */
static void parse(struct parsed *p, int argc, const char **args)
{
	char *argv[16];
	argv[0] = "run";
	for (int i = 0; i < argc; i++)
		argv[i + 1] = (char *)args[i];
	memset(p, 0, sizeof(*p));
	runner_options_init(&p->o);
	p->o.diag = open_memstream(&p->diag, &p->diag_len);
	p->result = runner_options_parse(argc + 1, argv, &p->o);
	fclose(p->o.diag);
}

#define PARSE(p, ...)                                                                              \
	do {                                                                                       \
		const char *args_[] = {__VA_ARGS__};                                               \
		parse(p, (int)(sizeof(args_) / sizeof(args_[0])), args_);                          \
	} while (0)

static void expect_error(struct parsed *p, const char *fragment)
{
	cr_assert_eq(p->result, RUNNER_PARSE_ERROR, "no error; expected one with \"%s\"", fragment);
	cr_assert_not_null(strstr(p->diag, fragment), "error line: %s", p->diag);
	cr_assert_eq(strchr(p->diag, '\n'), p->diag + p->diag_len - 1, "not one line: %s", p->diag);
	free(p->diag);
}

Test(runner_options, defaults_are_the_boot_sector_convention)
{
	struct parsed p;
	PARSE(&p, "guest.bin");
	cr_assert_eq(p.result, RUNNER_PARSE_RUN);
	cr_assert_str_eq(p.o.image_path, "guest.bin");
	cr_assert_eq(p.o.load_addr, 0x7c00);
	cr_assert(!p.o.entry_given);
	cr_assert_eq(p.o.mode, RUNNER_MODE_REAL);
	cr_assert_eq(p.o.mem_size, 64ull << 20);
	cr_assert_eq(p.o.max_insns, 0);
	cr_assert_eq(p.o.exits, RUNNER_EXITS_NONE);
	cr_assert(!p.o.stats);
	cr_assert_null(p.o.cpu_model);
	cr_assert_eq(p.o.guest_out, stdout);
	free(p.diag);
}

Test(runner_options, values_are_taken_in_both_spellings_before_and_after_the_image)
{
	struct parsed p;
	PARSE(&p, "--mem=2G", "--mode", "long64", "g.bin", "--entry=0x100000", "--load-addr",
	      "1048576", "--max-insns", "0x10", "--exits=json", "--stats", "--cpu", "intel");
	cr_assert_eq(p.result, RUNNER_PARSE_RUN, "%s", p.diag);
	cr_assert_eq(p.o.mem_size, 2ull << 30);
	cr_assert_eq(p.o.mode, RUNNER_MODE_LONG64);
	cr_assert(p.o.entry_given);
	cr_assert_eq(p.o.entry, 0x100000);
	cr_assert_eq(p.o.load_addr, 0x100000);
	cr_assert_eq(p.o.max_insns, 16);
	cr_assert_eq(p.o.exits, RUNNER_EXITS_JSON);
	cr_assert(p.o.stats);
	cr_assert_str_eq(p.o.cpu_model, "intel");
	free(p.diag);
}

Test(runner_options, sizes_take_k_m_g_suffixes)
{
	struct parsed p;
	PARSE(&p, "--mem", "1024K", "g.bin");
	cr_assert_eq(p.o.mem_size, 1ull << 20);
	free(p.diag);
	PARSE(&p, "--mem", "3m", "g.bin");
	cr_assert_eq(p.o.mem_size, 3ull << 20);
	free(p.diag);
}

Test(runner_options, a_dash_dash_makes_the_next_word_the_image)
{
	struct parsed p;
	PARSE(&p, "--", "--stats");
	cr_assert_eq(p.result, RUNNER_PARSE_RUN);
	cr_assert_str_eq(p.o.image_path, "--stats");
	cr_assert(!p.o.stats);
	free(p.diag);
}

Test(runner_options, help_anywhere_asks_for_the_usage)
{
	struct parsed p;
	PARSE(&p, "g.bin", "--help");
	cr_assert_eq(p.result, RUNNER_PARSE_HELP);
	free(p.diag);
}

Test(runner_options, bad_values_are_one_line_errors)
{
	struct parsed p;
	PARSE(&p, "--mem", "3M5", "g.bin");
	expect_error(&p, "--mem '3M5'");
	PARSE(&p, "--mem", "1030K", "g.bin");
	expect_error(&p, "multiple of 4K");
	PARSE(&p, "--mem", "512K", "g.bin");
	expect_error(&p, "less than 1M");
	PARSE(&p, "--mode", "virtual8086", "g.bin");
	expect_error(&p, "real, prot32 or long64");
	PARSE(&p, "--exits", "some", "g.bin");
	expect_error(&p, "none, summary, all or json");
	PARSE(&p, "--max-insns", "0", "g.bin");
	expect_error(&p, "at least 1");
	PARSE(&p, "--load-addr", "0777x", "g.bin");
	expect_error(&p, "not an address");
	PARSE(&p, "--mem", "99999999999999999999", "g.bin");
	expect_error(&p, "not a size");
}

Test(runner_options, command_line_mistakes_are_one_line_errors)
{
	struct parsed p;
	PARSE(&p, "--frobnicate", "g.bin");
	expect_error(&p, "unknown option '--frobnicate'");
	PARSE(&p, "--stats=yes", "g.bin");
	expect_error(&p, "unknown option '--stats=yes'");
	PARSE(&p, "g.bin", "--entry");
	expect_error(&p, "--entry needs a value");
	PARSE(&p, "a.bin", "b.bin");
	expect_error(&p, "more than one IMAGE");
	PARSE(&p, "--stats");
	expect_error(&p, "no IMAGE");
}

Test(runner_options, the_entry_must_be_reachable_in_its_mode)
{
	struct parsed p;
	PARSE(&p, "--entry", "0x10000", "g.bin");
	expect_error(&p, "real mode");
	PARSE(&p, "--load-addr", "0x100000", "g.bin");
	expect_error(&p, "the entry (the load address) 0x100000");
	PARSE(&p, "--mode", "prot32", "--entry", "0x100000000", "g.bin");
	expect_error(&p, "above 4 GiB");
	PARSE(&p, "--mode", "prot32", "--load-addr", "0x100000", "g.bin");
	cr_assert_eq(p.result, RUNNER_PARSE_RUN);
	free(p.diag);
}
