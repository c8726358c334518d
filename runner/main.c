/*
 * The softvmm command: subcommand dispatch only.  The work is in the
 * runner library (runner.h).
 */
#include <stdio.h>
#include <string.h>

#include "runner/runner.h"

static int run_command(int argc, char **argv)
{
	struct runner_options opts;
	struct runner_result result;
	runner_options_init(&opts);
	switch (runner_options_parse(argc, argv, &opts)) {
	case RUNNER_PARSE_HELP:
		runner_print_usage(stdout);
		return fflush(stdout) == 0 ? 0 : RUNNER_EXIT_SOFTWARE;
	case RUNNER_PARSE_ERROR:
		return RUNNER_EXIT_USAGE;
	case RUNNER_PARSE_RUN:
		break;
	}
	return runner_run_image(&opts, &result);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		runner_print_usage(stderr);
		return RUNNER_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		runner_print_usage(stdout);
		return fflush(stdout) == 0 ? 0 : RUNNER_EXIT_SOFTWARE;
	}
	if (strcmp(argv[1], "run") == 0)
		return run_command(argc - 1, argv + 1);
	if (strcmp(argv[1], "cpu") == 0)
		return runner_cpu_command(argc - 1, argv + 1);
	fprintf(stderr, "softvmm: unknown command '%s' (see softvmm --help)\n", argv[1]);
	return RUNNER_EXIT_USAGE;
}
