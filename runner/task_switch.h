/*
 * The task switch for TASK_SWITCH exits, in user space as bhyverun's
 * task_switch.c:vmexit_task_switch does it (FreeBSD; SDM vol. 3 7.3;
 * ../shared/BHYVE-EXITS.md section 6), on top of vm_copy_setup,
 * vm_copyin/vm_copyout and the register calls.
 */
#ifndef SOFTVMM_RUNNER_TASK_SWITCH_H
#define SOFTVMM_RUNNER_TASK_SWITCH_H

#include <stdio.h>

#include <softvmm/vmm.h>

/*
 * Switch vcpu 'vcpu' to the task the TASK_SWITCH exit 'vme' names: check
 * the new TSS descriptor, save the current state in the old TSS, move the
 * busy bits, link and NT for a nested task, load TR, set CR0.TS, load CR3,
 * LDTR, EFLAGS, EIP, the registers and segments from the new TSS, and push
 * the event's error code.  A protection fault on the way is injected into
 * the guest (vm_inject_fault): before the switch commits it is taken at
 * the instruction that switched, after it in the new task.
 *
 * vme->inst_length becomes 0 and vme->rip is where the guest resumes (the
 * new task's EIP once committed), so the caller resumes at
 * rip + inst_length.  Returns 0, or an errno value when the run cannot go
 * on (a message on 'diag'): ENOTSUP for a 16-bit TSS (bhyve has none),
 * EINVAL for an exit bhyve would assert on, EFAULT when a TSS or
 * descriptor is not in RAM.
 */
int task_switch_emulate(struct vm *vm, int vcpu, struct vm_exit *vme, FILE *diag);

#endif
