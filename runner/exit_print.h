/*
 * One exit as one line, for --exits all (text) and --exits json (JSON
 * Lines).  Both begin with the common keys
 *   seq          0-based position of the exit in the stream
 *   exitcode     the vm_exitcode number
 *   exit         its name (vm_exitcode_name)
 *   handled      handled inside the vmm (true) or returned by vm_run (false)
 *   rip          the exit's rip
 *   inst_length  the exit's inst_length
 * followed by the payload keys of exit_fields.h.  Text lines read
 *   exit SEQ NAME handled|returned rip=0x... inst_length=N key=value ...
 */
#ifndef SOFTVMM_RUNNER_EXIT_PRINT_H
#define SOFTVMM_RUNNER_EXIT_PRINT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <softvmm/vmm.h>

void exit_print_text(FILE *f, uint64_t seq, const struct vm_exit *vme, bool handled);
void exit_print_json(FILE *f, uint64_t seq, const struct vm_exit *vme, bool handled);

/* vm_exitcode_name, or "UNKNOWN" for a code it does not know. */
const char *exit_code_name(int code);

#endif
