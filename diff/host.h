/*
 * Inside the host executor's child process (host_stub.c): the fixed
 * mappings, the generated entry and return stubs, and one case's run.
 * host_exec.c forks the child and talks to it.
 */
#ifndef SOFTVMM_DIFF_HOST_H
#define SOFTVMM_DIFF_HOST_H

#include "dx.h"

/* The state block the stubs load registers from and store them to, below
 * 4 GiB so 32-bit code addresses it with a disp32. */
#define DX_STATE 0x10030000u

/* Maps the windows, writes the stubs, installs the LDT entries and the
 * signal handlers.  0, or -1 with a message in err. */
int dx_child_setup(char *err, size_t errlen);
void dx_child_run(const struct dx_case *c, struct dx_result *r);

#endif
