/*
 * The guest `make demo` runs (tests/guests/demo.asm), through the reference
 * runner as `softvmm run` runs it: its UART output must be exactly
 * demo.expected (the same bytes QEMU prints for it), and its final CLI; HLT
 * must end the run as SUSPENDED {HALT}, bhyverun's exit status 2.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_helper.h"
#include "runner/runner.h"

Test(demo, demo_prints_one_line_per_mode_and_ends_halted)
{
	char image[1024], expected_path[1024];
	char *out = NULL, *diag = NULL;
	size_t out_len = 0, diag_len = 0;
	unsigned char *expected = NULL;
	size_t expected_len = 0;
	struct runner_options o;
	struct runner_result r;

	snprintf(image, sizeof(image), "%s/demo.bin", SOFTVMM_GUEST_DIR);
	snprintf(expected_path, sizeof(expected_path), "%s/demo.expected", SOFTVMM_GUEST_SRC_DIR);
	cr_assert_eq(read_file(expected_path, 4096, &expected, &expected_len), 0, "%s",
	             expected_path);

	runner_options_init(&o);
	FILE *fout = open_memstream(&out, &out_len);
	FILE *fdiag = open_memstream(&diag, &diag_len);
	cr_assert_not_null(fout);
	cr_assert_not_null(fdiag);
	o.image_path = image;
	o.guest_out = fout;
	o.diag = fdiag;
	o.exits = RUNNER_EXITS_NONE;
	int status = runner_run_image(&o, &r);
	fclose(fout);
	fclose(fdiag);

	cr_assert(out_len == expected_len && memcmp(out, expected, expected_len) == 0,
	          "demo printed:\n%.*s\nexpected:\n%.*s\nthe runner said:\n%.*s", (int)out_len, out,
	          (int)expected_len, (const char *)expected, (int)diag_len, diag);
	cr_assert_eq(status, RUNNER_EXIT_HALT, "status %d; the runner said:\n%.*s", status,
	             (int)diag_len, diag);
	free(out);
	free(diag);
	free(expected);
}
