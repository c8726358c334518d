/*
 * The end-of-run reports on the diag stream.
 *
 * --stats prints one "%-28s %s" line per counter of vm_get_stats:
 *   instructions retired        N
 *   exits NAME handled          N   (for each exit code with a nonzero total,
 *   exits NAME returned         N    in enum order; the total line comes last,
 *   exits NAME                  N    so `grep '^exits INOUT'` ends on it)
 *   block lookups               N
 *   block misses                N
 *   instructions decoded        N
 *   unimplemented opcodes       N
 *   unimplemented MNEMONIC      N   (one per mnemonic, vm_foreach_unimplemented)
 *   wall time (s)               S   (the run loop, CLOCK_MONOTONIC)
 *   MIPS                        M   (instructions retired / wall time / 1e6)
 * and the digest line is always "digest <16 hex digits>".
 */
#ifndef SOFTVMM_RUNNER_REPORT_H
#define SOFTVMM_RUNNER_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <softvmm/vmm.h>

/* Returns 0 or the errno of vm_get_stats (after a message). */
int report_stats(FILE *f, struct vm *vm, int vcpu, double wall_seconds);

void report_digest(FILE *f, uint64_t digest);

#endif
