/*
 * String I/O (INS/OUTS, with or without REP) for INOUT_STR exits: what
 * bhyverun's inout.c:emulate_inout does when the exit's string bit is set
 * (FreeBSD 10.1.0; ../shared/BHYVE-EXITS.md section 3).
 */
#ifndef SOFTVMM_RUNNER_INOUT_STR_H
#define SOFTVMM_RUNNER_INOUT_STR_H

#include <softvmm/vmm.h>

#include "runner/inout.h"

/*
 * bhyverun's bound: at most this many elements per exit.  The rest of a
 * longer REP count is done by the exits that follow, because the
 * instruction is restarted with the updated index and count.
 */
#define INOUT_STR_MAX_ITERATIONS 16

/*
 * Emulate the INOUT_STR exit 'vme' of vcpu 'vcpu' on the ports of 't'.
 * Each element goes through the segment checks (#GP injected when they
 * fail), vm_copy_setup (a fault it injects ends the batch quietly), the
 * alignment check (#AC(0)) and the port handler; then RSI or RDI, and RCX
 * for REP, are written back at the address size.  vme->inst_length is set
 * to 0 when the count is not done, so the caller's resume at
 * rip + inst_length restarts the instruction.
 *
 * Returns 0, or an errno value (the run cannot continue): the port
 * handler's error, EFAULT when vm_copy_setup fails without injecting a
 * fault (memory that is not RAM), EINVAL for a malformed exit.
 */
int inout_str_emulate(const struct inout_table *t, struct vm *vm, int vcpu, struct vm_exit *vme);

#endif
