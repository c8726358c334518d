/*
 * The exit handlers; see exit_handlers.h.  Each follows what bhyverun.c
 * does for that exit code (its vmexit_* functions), except where a comment
 * says otherwise.  Messages go to the run's diag stream, one line each.
 */
#include "runner/exit_handlers.h"

#include "runner/inout_str.h"
#include "runner/task_switch.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static enum vmexit_action end_run(struct runner_state *rs, int status)
{
	rs->status = status;
	return VMEXIT_EXIT;
}

/* bhyverun.c:vmexit_inout; the IN result rule is vmm_ioport.c:emulate_inout_port's. */
static enum vmexit_action vmexit_inout(struct runner_state *rs, struct vm_exit *vme)
{
	const struct vm_inout *io = &vme->u.inout;
	uint32_t eax = io->eax;
	int err = inout_emulate(&rs->ports, rs->vm, rs->vcpu, io->in, io->port, io->bytes, &eax);
	if (err != 0) {
		fprintf(rs->opts->diag,
		        "softvmm: %s port 0x%x (%d bytes) at rip 0x%" PRIx64 ": %s\n",
		        io->in ? "in from" : "out to", (unsigned)io->port, (int)io->bytes, vme->rip,
		        strerror(err));
		return end_run(rs, RUNNER_EXIT_SOFTWARE);
	}
	/* IN writes RAX = the merged 32-bit EAX: bits 63:32 are cleared even for IN AL. */
	if (io->in) {
		err = vm_set_register(rs->vm, rs->vcpu, VM_REG_GUEST_RAX, eax);
		if (err != 0) {
			fprintf(rs->opts->diag, "softvmm: vm_set_register(RAX): %s\n",
			        strerror(err));
			return end_run(rs, RUNNER_EXIT_SOFTWARE);
		}
	}
	if (rs->devices.exit_request.requested)
		return end_run(rs, rs->devices.exit_request.status);
	return VMEXIT_CONTINUE;
}

/*
 * bhyverun.c:vmexit_inout for a string instruction: inout.c:emulate_inout
 * moves up to 16 elements and leaves inst_length 0 while the count is not
 * done, so CONTINUE restarts the instruction (inout_str.h).
 */
static enum vmexit_action vmexit_inout_str(struct runner_state *rs, struct vm_exit *vme)
{
	const struct vm_inout *io = &vme->u.inout_str.inout;
	int err = inout_str_emulate(&rs->ports, rs->vm, rs->vcpu, vme);
	if (err != 0) {
		fprintf(rs->opts->diag,
		        "softvmm: %s port 0x%x (%d bytes) at rip 0x%" PRIx64 ": %s\n",
		        io->in ? "ins from" : "outs to", (unsigned)io->port, (int)io->bytes,
		        vme->rip, strerror(err));
		return end_run(rs, RUNNER_EXIT_SOFTWARE);
	}
	if (rs->devices.exit_request.requested)
		return end_run(rs, rs->devices.exit_request.status);
	return VMEXIT_CONTINUE;
}

/* A fault injected while handling the exit: the instruction must restart to take it. */
static bool exception_pending(struct runner_state *rs)
{
	uint64_t exit_info = 0, pending = 0;
	if (vm_get_intinfo(rs->vm, rs->vcpu, &exit_info, &pending) != 0)
		return false;
	return (pending & VM_INTINFO_VALID) != 0;
}

/* bhyverun.c:vmexit_inst_emul -> mem.c:emulate_mem. */
static enum vmexit_action vmexit_inst_emul(struct runner_state *rs, struct vm_exit *vme)
{
	uint64_t gpa = vme->u.inst_emul.gpa;
	int err = mem_range_emulate(&rs->mmio, rs->vm, rs->vcpu, gpa, &vme->u.inst_emul.vie,
	                            &vme->u.inst_emul.paging);
	if (err == ESRCH) {
		fprintf(rs->opts->diag,
		        "softvmm: unhandled memory access to gpa 0x%" PRIx64 " (gla 0x%" PRIx64
		        ", rip 0x%" PRIx64 ")\n",
		        gpa, vme->u.inst_emul.gla, vme->rip);
		return end_run(rs, RUNNER_EXIT_SOFTWARE);
	}
	if (err != 0) {
		fprintf(rs->opts->diag,
		        "softvmm: emulating the access to gpa 0x%" PRIx64 " at rip 0x%" PRIx64
		        ": %s\n",
		        gpa, vme->rip, strerror(err));
		return end_run(rs, RUNNER_EXIT_SOFTWARE);
	}
	/* A REP MOVS/STOS with count left runs again (bhyve's vm_restart_instruction). */
	if (vme->u.inst_emul.vie.restart)
		return VMEXIT_RESTART;
	return exception_pending(rs) ? VMEXIT_RESTART : VMEXIT_CONTINUE;
}

/* bhyverun.c:vmexit_suspend's exit statuses. */
static enum vmexit_action vmexit_suspended(struct runner_state *rs, struct vm_exit *vme)
{
	FILE *diag = rs->opts->diag;
	switch (vme->u.suspended.how) {
	case VM_SUSPEND_RESET:
		fprintf(diag, "softvmm: guest reset at rip 0x%" PRIx64 "\n", vme->rip);
		return end_run(rs, RUNNER_EXIT_RESET);
	case VM_SUSPEND_POWEROFF:
		fprintf(diag, "softvmm: guest powered off at rip 0x%" PRIx64 "\n", vme->rip);
		return end_run(rs, RUNNER_EXIT_POWEROFF);
	case VM_SUSPEND_HALT:
		fprintf(diag, "softvmm: guest halted at rip 0x%" PRIx64 "\n", vme->rip);
		return end_run(rs, RUNNER_EXIT_HALT);
	case VM_SUSPEND_TRIPLEFAULT:
		fprintf(diag, "softvmm: guest triple fault at rip 0x%" PRIx64 "\n", vme->rip);
		return end_run(rs, RUNNER_EXIT_TRIPLEFAULT);
	default:
		fprintf(diag,
		        "softvmm: guest suspended for unknown reason %d at rip 0x%" PRIx64 "\n",
		        (int)vme->u.suspended.how, vme->rip);
		return end_run(rs, RUNNER_EXIT_SOFTWARE);
	}
}

/* bhyverun.c:vmexit_vmx: nothing to emulate, so the run is aborted. */
static enum vmexit_action vmexit_vmx(struct runner_state *rs, struct vm_exit *vme)
{
	if (vme->u.vmx.status != 0)
		fprintf(rs->opts->diag,
		        "softvmm: VM entry failed: status %d inst_type %d inst_error %d at rip "
		        "0x%" PRIx64 "\n",
		        vme->u.vmx.status, vme->u.vmx.inst_type, vme->u.vmx.inst_error, vme->rip);
	else
		fprintf(rs->opts->diag,
		        "softvmm: VMX exit reason %u qualification 0x%" PRIx64 " at rip 0x%" PRIx64
		        "\n",
		        vme->u.vmx.exit_reason, vme->u.vmx.exit_qualification, vme->rip);
	return end_run(rs, RUNNER_EXIT_SOFTWARE);
}

/*
 * bhyverun.c:vmexit_bogus restarts.  softvmm's one source of BOGUS is the
 * instruction limit (vm_set_insn_limit: instructions retired plus exceptions
 * delivered); any other BOGUS restarts as in bhyve.
 */
static enum vmexit_action vmexit_bogus(struct runner_state *rs, struct vm_exit *vme)
{
	(void)vme;
	uint64_t limit = rs->opts->max_insns;
	struct vm_vcpu_stats stats;
	if (limit != 0 && vm_get_stats(rs->vm, rs->vcpu, &stats) == 0 &&
	    stats.insns_retired + stats.events_delivered + stats.partial_steps >= limit) {
		fprintf(rs->opts->diag, "softvmm: instruction limit reached\n");
		return end_run(rs, RUNNER_EXIT_INSN_LIMIT);
	}
	return VMEXIT_RESTART;
}

/*
 * bhyverun.c:vmexit_rdmsr.  xmsr.c:emulate_rdmsr knows no MSR, so every
 * RDMSR that reaches the runner fails: by default (bhyverun's strictmsr)
 * #GP(0) is injected and the RDMSR restarts to take it; with
 * --ignore-unknown-msrs (bhyve's -w) EAX and EDX become 0 (RAX and RDX
 * zero-extended) and the guest continues after it.
 */
static enum vmexit_action vmexit_rdmsr(struct runner_state *rs, struct vm_exit *vme)
{
	bool ignore = rs->opts->ignore_unknown_msrs;
	fprintf(rs->opts->diag, "softvmm: rdmsr 0x%x at rip 0x%" PRIx64 ": %s\n", vme->u.msr.code,
	        vme->rip, ignore ? "ignored, read as 0" : "#GP injected");
	if (!ignore) {
		vm_inject_gp(rs->vm, rs->vcpu);
		return VMEXIT_RESTART;
	}
	int err = vm_set_register(rs->vm, rs->vcpu, VM_REG_GUEST_RAX, 0);
	if (err == 0)
		err = vm_set_register(rs->vm, rs->vcpu, VM_REG_GUEST_RDX, 0);
	if (err != 0) {
		fprintf(rs->opts->diag, "softvmm: vm_set_register: %s\n", strerror(err));
		return end_run(rs, RUNNER_EXIT_SOFTWARE);
	}
	return VMEXIT_CONTINUE;
}

/* The writes xmsr.c:emulate_wrmsr accepts and ignores; any other fails. */
static bool wrmsr_ignored(uint32_t msr)
{
	switch (msr) {
	case 0x79:  /* IA32_BIOS_UPDT_TRIG: microcode update trigger */
	case 0xc24: /* Sandy Bridge uncore performance counters */
	case 0xd04:
		return true;
	default:
		return false;
	}
}

/*
 * bhyverun.c:vmexit_wrmsr: a failed WRMSR gets #GP(0) and restarts, or
 * with --ignore-unknown-msrs (bhyve's -w) is dropped and the guest
 * continues after it.
 */
static enum vmexit_action vmexit_wrmsr(struct runner_state *rs, struct vm_exit *vme)
{
	if (wrmsr_ignored(vme->u.msr.code))
		return VMEXIT_CONTINUE;
	bool ignore = rs->opts->ignore_unknown_msrs;
	fprintf(rs->opts->diag,
	        "softvmm: wrmsr 0x%x value 0x%" PRIx64 " at rip 0x%" PRIx64 ": %s\n",
	        vme->u.msr.code, vme->u.msr.wval, vme->rip, ignore ? "ignored" : "#GP injected");
	if (ignore)
		return VMEXIT_CONTINUE;
	vm_inject_gp(rs->vm, rs->vcpu);
	return VMEXIT_RESTART;
}

/* bhyverun.c:vmexit_mtrap: the exit's rip is already the next instruction. */
static enum vmexit_action vmexit_mtrap(struct runner_state *rs, struct vm_exit *vme)
{
	(void)rs;
	(void)vme;
	return VMEXIT_RESTART;
}

/* bhyverun.c:vmexit_pause: nothing to do but step over the PAUSE. */
static enum vmexit_action vmexit_pause(struct runner_state *rs, struct vm_exit *vme)
{
	(void)rs;
	(void)vme;
	return VMEXIT_CONTINUE;
}

/* The runner runs one vcpu; bhyverun would start a thread for the AP here. */
static enum vmexit_action vmexit_spinup_ap(struct runner_state *rs, struct vm_exit *vme)
{
	fprintf(rs->opts->diag,
	        "softvmm: the guest started vcpu %d at rip 0x%" PRIx64
	        ", but the runner runs one vcpu\n",
	        vme->u.spinup_ap.vcpu, vme->u.spinup_ap.rip);
	return end_run(rs, RUNNER_EXIT_SOFTWARE);
}

/*
 * bhyverun's task_switch.c:vmexit_task_switch: the switch is emulated here
 * (task_switch.h) and the guest resumes at the exit's rip, the new task's
 * EIP, or the switching instruction when a fault was injected.
 */
static enum vmexit_action vmexit_task_switch(struct runner_state *rs, struct vm_exit *vme)
{
	if (task_switch_emulate(rs->vm, rs->vcpu, vme, rs->opts->diag) != 0)
		return end_run(rs, RUNNER_EXIT_SOFTWARE);
	return VMEXIT_CONTINUE;
}

/*
 * HLT, PAGING, RENDEZVOUS and IOAPIC_EOI are handled inside the vmm and
 * never returned (BHYVE-EXITS.md section 1); they have no entry.
 */
static const vmexit_handler_t handlers[VM_EXITCODE_MAX] = {
    [VM_EXITCODE_INOUT] = vmexit_inout,
    [VM_EXITCODE_INOUT_STR] = vmexit_inout_str,
    [VM_EXITCODE_INST_EMUL] = vmexit_inst_emul,
    [VM_EXITCODE_SUSPENDED] = vmexit_suspended,
    [VM_EXITCODE_VMX] = vmexit_vmx,
    [VM_EXITCODE_BOGUS] = vmexit_bogus,
    [VM_EXITCODE_RDMSR] = vmexit_rdmsr,
    [VM_EXITCODE_WRMSR] = vmexit_wrmsr,
    [VM_EXITCODE_MTRAP] = vmexit_mtrap,
    [VM_EXITCODE_PAUSE] = vmexit_pause,
    [VM_EXITCODE_SPINUP_AP] = vmexit_spinup_ap,
    [VM_EXITCODE_TASK_SWITCH] = vmexit_task_switch,
};

vmexit_handler_t vmexit_handler_for(int exitcode)
{
	if (exitcode < 0 || exitcode >= VM_EXITCODE_MAX)
		return NULL;
	return handlers[exitcode];
}
