/*
 * Everything one run owns: the vm, the port and MMIO tables, the devices
 * and the exit log.  One per runner_run_image call, so runs never share
 * state (tests run several in one process).
 */
#ifndef SOFTVMM_RUNNER_RUNNER_STATE_H
#define SOFTVMM_RUNNER_RUNNER_STATE_H

#include <softvmm/vmm.h>

#include "runner/devices.h"
#include "runner/exit_log.h"
#include "runner/inout.h"
#include "runner/mem_ranges.h"
#include "runner/runner.h"

struct runner_state {
	const struct runner_options *opts;
	struct vm *vm;
	int vcpu;
	struct inout_table ports;
	struct mem_range_table mmio;
	struct runner_devices devices;
	struct exit_log log;
	int status; /* the exit status, once a handler ends the run */
};

#endif
