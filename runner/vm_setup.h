/*
 * Building the vm a run needs (bhyverun's main before vm_loop): create it,
 * give it RAM, load the image, build the long64 page tables, set the
 * vcpu's entry state, register the devices, attach the exit observer and
 * the instruction limit.
 */
#ifndef SOFTVMM_RUNNER_VM_SETUP_H
#define SOFTVMM_RUNNER_VM_SETUP_H

#include "runner/loader.h"
#include "runner/runner_state.h"

/*
 * Set up rs->vm for 'img' as rs->opts asks.  Returns 0, or an exit status
 * after a one-line message on the diag stream; rs->vm is then either NULL
 * or a vm for vm_teardown.
 */
int vm_setup(struct runner_state *rs, const struct guest_image *img);

void vm_teardown(struct runner_state *rs);

#endif
