/*
 * The runner's exit observer (vm_set_exit_observer): it sees every exit of
 * the stream, handled inside the vmm or returned by vm_run, and
 *   - adds it to the run's digest (softvmm/trace.h),
 *   - counts it per exit code, handled and returned apart,
 *   - prints it for --exits all and --exits json (exit_print.h).
 * It reads the exit in place and the vcpu's registers through the API; it
 * copies no exit and changes no guest state.
 */
#ifndef SOFTVMM_RUNNER_EXIT_LOG_H
#define SOFTVMM_RUNNER_EXIT_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <softvmm/trace.h>
#include <softvmm/vmm.h>

#include "runner/runner.h"

/* Counts per exit code; the last slot collects codes the enum does not know. */
#define EXIT_LOG_SLOTS (VM_EXITCODE_MAX + 1)

struct exit_log {
	FILE *out;
	enum runner_exit_report report;
	uint64_t seen;
	uint64_t handled[EXIT_LOG_SLOTS];
	uint64_t returned[EXIT_LOG_SLOTS];
	struct exit_digest digest;
};

void exit_log_init(struct exit_log *l, FILE *out, enum runner_exit_report report);

/* A vm_exit_observer_fn; 'arg' is the struct exit_log. */
void exit_log_observe(void *arg, struct vm *vm, int vcpuid, const struct vm_exit *vme,
                      bool handled);

/* --exits summary: one line per exit code seen, with its handled and returned counts. */
void exit_log_print_summary(const struct exit_log *l, FILE *f);

#endif
