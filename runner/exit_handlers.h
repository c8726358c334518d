/*
 * What the runner does with each exit vm_run returns (bhyverun.c's
 * handler table): a handler per exit code, each saying where the vcpu goes
 * next.
 */
#ifndef SOFTVMM_RUNNER_EXIT_HANDLERS_H
#define SOFTVMM_RUNNER_EXIT_HANDLERS_H

#include <softvmm/vmm.h>

#include "runner/runner_state.h"

enum vmexit_action {
	VMEXIT_CONTINUE, /* resume at rip + inst_length */
	VMEXIT_RESTART,  /* resume at rip: the instruction runs again */
	VMEXIT_EXIT,     /* end the run with rs->status */
};

typedef enum vmexit_action (*vmexit_handler_t)(struct runner_state *rs, struct vm_exit *vme);

/* The handler for 'exitcode', or NULL when the runner has none (an internal error). */
vmexit_handler_t vmexit_handler_for(int exitcode);

#endif
