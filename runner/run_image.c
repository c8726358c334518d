/*
 * runner_run_image: set up a vm for the image, run bhyverun's vm_loop on
 * it, and report.  See runner.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner/exit_handlers.h"
#include "runner/exit_print.h"
#include "runner/report.h"
#include "runner/runner.h"
#include "runner/vm_setup.h"

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/*
 * bhyverun.c:vm_loop: run from 'rip', dispatch each returned exit to its
 * handler, and resume where the handler says, until one ends the run.
 */
static int vm_loop(struct runner_state *rs, uint64_t rip)
{
	struct vm_run run;
	memset(&run, 0, sizeof(run));
	for (;;) {
		run.cpuid = rs->vcpu;
		run.rip = rip;
		int err = vm_run(rs->vm, &run);
		if (err != 0) {
			fprintf(rs->opts->diag, "softvmm: vm_run: %s\n", strerror(err));
			return RUNNER_EXIT_SOFTWARE;
		}
		struct vm_exit *vme = &run.vm_exit;
		vmexit_handler_t handler = vmexit_handler_for((int)vme->exitcode);
		if (handler == NULL) {
			fprintf(
			    rs->opts->diag,
			    "softvmm: internal error: no handler for exit %s (%d) at rip 0x%" PRIx64
			    "\n",
			    exit_code_name((int)vme->exitcode), (int)vme->exitcode, vme->rip);
			return RUNNER_EXIT_SOFTWARE;
		}
		switch (handler(rs, vme)) {
		case VMEXIT_CONTINUE:
			rip = vme->rip + (uint64_t)vme->inst_length;
			break;
		case VMEXIT_RESTART:
			rip = vme->rip;
			break;
		case VMEXIT_EXIT:
			return rs->status;
		}
	}
}

static void report_run(struct runner_state *rs, double wall_seconds, struct runner_result *r)
{
	const struct runner_options *o = rs->opts;
	struct vm_vcpu_stats stats;
	if (vm_get_stats(rs->vm, rs->vcpu, &stats) == 0) {
		r->insns_retired = stats.insns_retired;
		r->unimplemented = stats.unimplemented;
	}
	r->vm_ran = true;
	r->exits = rs->log.seen;
	r->digest = exit_digest_value(&rs->log.digest);
	if (o->exits == RUNNER_EXITS_SUMMARY)
		exit_log_print_summary(&rs->log, o->diag);
	if (o->stats)
		report_stats(o->diag, rs->vm, rs->vcpu, wall_seconds);
	report_digest(o->diag, r->digest);
}

/* The guest's output is what the user asked for: losing it is a failure. */
static int flush_guest_output(const struct runner_options *o, int status)
{
	if (fflush(o->guest_out) == 0 && !ferror(o->guest_out))
		return status;
	fprintf(o->diag, "softvmm: writing the guest output: %s\n", strerror(errno));
	return status == 0 ? RUNNER_EXIT_SOFTWARE : status;
}

static int run_with_state(struct runner_state *rs, const struct guest_image *img,
                          struct runner_result *r)
{
	const struct runner_options *o = rs->opts;
	int status = vm_setup(rs, img);
	if (status == 0) {
		struct timespec start, end;
		clock_gettime(CLOCK_MONOTONIC, &start);
		status = vm_loop(rs, o->entry_given ? o->entry : o->load_addr);
		clock_gettime(CLOCK_MONOTONIC, &end);
		status = flush_guest_output(o, status);
		report_run(rs, seconds_between(&start, &end), r);
	}
	vm_teardown(rs);
	return status;
}

int runner_run_image(const struct runner_options *o, struct runner_result *r)
{
	memset(r, 0, sizeof(*r));
	struct guest_image img;
	int status = image_read(o->image_path, o->load_addr, o->mem_size, o->diag, &img);
	if (status != 0) {
		r->status = status;
		return status;
	}
	/* Heap: the state holds device memory and the digest state, kilobytes each. */
	struct runner_state *rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		fprintf(o->diag, "softvmm: %s\n", strerror(ENOMEM));
		status = RUNNER_EXIT_SOFTWARE;
	} else {
		rs->opts = o;
		status = run_with_state(rs, &img, r);
		free(rs);
	}
	image_free(&img);
	fflush(o->diag);
	r->status = status;
	return status;
}
