/*
 * vm_run: the kernel half of bhyve's exit loop (vmm.c:vm_run).  Exits the
 * vmm handles itself (PAGING, HLT with VM_CAP_HALT_EXIT, and the
 * instruction fetch and decode of INST_EMUL) are reported to the exit
 * observer as handled and the vcpu is re-entered; everything else is
 * returned to the caller.
 */
#include <errno.h>
#include <string.h>

#include "core/vm_internal.h"
#include "softvmm/vmm_instruction_emul.h"

static void observe(struct vm *vm, int vcpu, const struct vm_exit *vme, bool handled)
{
	if (handled)
		vm->vcpu[vcpu].exits_handled[vme->exitcode]++;
	else
		vm->vcpu[vcpu].exits_returned[vme->exitcode]++;
	if (vm->observer)
		vm->observer(vm->observer_arg, vm, vcpu, vme, handled);
}

/* bhyve's vm_handle_paging: populate the page; the instruction restarts. */
static void handle_paging(struct vm *vm, struct vm_exit *vme)
{
	struct mem_seg *s = mem_find(&vm->mem, vme->u.paging.gpa);
	if (s)
		bitmap_set(s->touched, mem_page_index(s, vme->u.paging.gpa));
}

/*
 * bhyve's vm_handle_hlt (10.1.0): a pending suspend or NMI, or with IF = 1
 * a pending ExtINT, ends the halt at once (the vcpu resumes after the
 * HLT).  Otherwise, with interrupts disabled, the vcpu is halted, and once
 * every active vcpu is, the vm suspends with HALT (halt detection).
 * softvmm has no in-vmm interrupt source yet, so a halt with interrupts
 * enabled and nothing pending can never end either and is treated the same
 * way (docs/deviations.md).
 */
static void handle_hlt(struct vm *vm, int vcpu, const struct vm_exit *vme)
{
	struct vcpu_state_core *v = &vm->vcpu[vcpu];
	bool intr_disabled = (vme->u.hlt.rflags & 0x200) == 0; /* RFLAGS.IF */
	if (vm->suspend != VM_SUSPEND_NONE || v->nmi_pending)
		return;
	if (!intr_disabled && v->extint_pending)
		return;
	v->halted = true;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpu[i].active && !vm->vcpu[i].halted)
			return;
	vm_suspend(vm, VM_SUSPEND_HALT);
}

static bool cap_set(struct vm *vm, int vcpu, int cap)
{
	int val = 0;
	return vm->ops->getcap(vm->vmi, vcpu, cap, &val) == 0 && val != 0;
}

/*
 * The vector of an ExtINT.  bhyve asks its 8259 model
 * (vatpic_pending_intr): the highest requested IRQ, or with none the
 * spurious IRQ 7, plus the base ICW2 programmed (0 until then).  softvmm
 * has no 8259 yet (its ports reach the caller), so every ExtINT is that
 * spurious IRQ 7 of an unprogrammed controller: vector 7.
 */
#define EXTINT_VECTOR 7

/* A vcpu in the HLT activity state wakes for an interrupt it can take:
 * a pending ExtINT with RFLAGS.IF = 1 (SDM vol. 2 HLT). */
static bool extint_wakes(struct vm *vm, int vcpu)
{
	uint64_t rflags = 0;
	return vm->vcpu[vcpu].extint_pending &&
	       vm->ops->getreg(vm->vmi, vcpu, VM_REG_GUEST_RFLAGS, &rflags) == 0 &&
	       (rflags & 0x200) != 0; /* RFLAGS.IF */
}

static bool nmi_wakes(struct vm *vm, int vcpu)
{
	uint64_t blocked = 0;
	return vm->vcpu[vcpu].nmi_pending &&
	       vm->ops->getreg(vm->vmi, vcpu, VM_REG_SOFTVMM_NMI_BLOCKED, &blocked) == 0 &&
	       !blocked;
}

/*
 * An exit vm_run makes itself, with no payload and inst_length 0: BOGUS
 * (bhyve's vm_exit_astpending) or MTRAP.
 */
static void exit_plain(struct vm_exit *vme, enum vm_exitcode code, uint64_t rip)
{
	memset(vme, 0, sizeof(*vme));
	vme->exitcode = code;
	vme->rip = rip;
}

/* bhyve's vm_handle_inst_emul: fetch and decode before user space sees it. */
int vm_handle_inst_emul(struct vm *vm, int vcpuid, struct vm_exit *vme)
{
	struct vie *vie = &vme->u.inst_emul.vie;
	vie_init(vie);
	int r = vmm_fetch_instruction(vm, vcpuid, &vme->u.inst_emul.paging, vme->rip,
	                              vme->inst_length, vie);
	if (r == 1)
		return 1; /* #PF injected: restart the instruction */
	if (r != 0)
		return EFAULT;
	if (vmm_decode_instruction(vm, vcpuid, vme->u.inst_emul.gla,
	                           vme->u.inst_emul.paging.cpu_mode, vme->u.inst_emul.cs_d,
	                           vie) != 0)
		return EFAULT;
	return 0;
}

static void exit_suspended(struct vm *vm, int vcpu, uint64_t rip, struct vm_exit *vme)
{
	memset(vme, 0, sizeof(*vme));
	vme->exitcode = VM_EXITCODE_SUSPENDED;
	vme->rip = rip;
	vme->inst_length = 0;
	vme->u.suspended.how = vm->suspend;
	vm->vcpu[vcpu].suspended = true;
}

int vm_run(struct vm *vm, struct vm_run *vmrun)
{
	if (!vm || !vmrun || !vcpu_valid(vm, vmrun->cpuid))
		return EINVAL;
	int id = vmrun->cpuid;
	struct vcpu_state_core *v = &vm->vcpu[id];
	if (!v->active || v->suspended)
		return EINVAL;
	struct vm_exit *vme = &vmrun->vm_exit;
	uint64_t rip = vmrun->rip;
	v->state = VCPU_RUNNING;
	for (;;) {
		uint64_t info;
		if (vm_entry_intinfo(vm, id, &info)) {
			vm->ops->inject(vm->vmi, id, info);
			/* A vectoring VM entry leaves the vcpu active (SDM vol. 3
			 * 26.6.2): the event's delivery wakes a halted vcpu. */
			v->hlt_state = false;
		}
		if (vm->suspend != VM_SUSPEND_NONE) {
			exit_suspended(vm, id, rip, vme);
			break;
		}
		/* An NMI wakes a halted vcpu as an ExtINT with IF = 1 does (SDM
		 * vol. 2 HLT), unless NMIs are blocked (an NMI handler halted
		 * before its IRET): then it waits, as the processor holds it
		 * (SDM vol. 3 6.7.1). */
		if (v->hlt_state && (nmi_wakes(vm, id) || extint_wakes(vm, id)))
			v->hlt_state = false;
		if (v->hlt_state) {
			/*
			 * The vcpu sits in the HLT activity state, which only an
			 * interrupt or NMI ends.  bhyve's vm_run would not return until the host
			 * wanted the thread back (vm_exit_astpending: BOGUS at the current rip);
			 * softvmm returns that BOGUS at once.
			 */
			exit_plain(vme, VM_EXITCODE_BOGUS, rip);
			break;
		}
		/* The ExtINT line goes to the backend for the run and comes back
		 * lowered once the interrupt was delivered (bhyve's
		 * vm_extint_clear in vmx_inject_interrupts). */
		vm->ops->set_extint(vm->vmi, id, v->extint_pending ? EXTINT_VECTOR : -1);
		/* The NMI likewise (bhyve's vm_nmi_clear once it is injected). */
		vm->ops->set_nmi(vm->vmi, id, v->nmi_pending);
		int err = vm->ops->vmrun(vm->vmi, id, rip, vme);
		v->extint_pending = vm->ops->extint_waiting(vm->vmi, id);
		v->nmi_pending = vm->ops->nmi_waiting(vm->vmi, id);
		/* An exit in the middle of an event's delivery: vmx_run's
		 * vm_exit_intinfo with the IDT-vectoring information. */
		uint64_t vectoring = vm->ops->exit_intinfo(vm->vmi, id);
		if (vectoring)
			(void)vm_exit_intinfo(vm, id, vectoring);
		if (err) {
			v->state = VCPU_IDLE;
			return err;
		}
		switch (vme->exitcode) {
		case VM_EXITCODE_PAGING:
			observe(vm, id, vme, true);
			handle_paging(vm, vme);
			rip = vme->rip;
			continue;
		case VM_EXITCODE_HLT:
			rip = vme->rip + (uint64_t)vme->inst_length;
			if (!cap_set(vm, id, VM_CAP_HALT_EXIT)) {
				/*
				 * Without HLT exiting (bhyve sets it only for
				 * VM_CAP_HALT_EXIT, vmx_setcap) the HLT runs in the
				 * guest: no exit, the vcpu enters the HLT activity
				 * state.  Under the monitor trap flag the MTRAP exit
				 * comes from that state, rip after the HLT (SDM
				 * vol. 3 25.5.2).
				 */
				v->hlt_state = true;
				if (cap_set(vm, id, VM_CAP_MTRAP_EXIT)) {
					exit_plain(vme, VM_EXITCODE_MTRAP, rip);
					break;
				}
				continue;
			}
			observe(vm, id, vme, true);
			handle_hlt(vm, id, vme);
			continue;
		case VM_EXITCODE_SUSPENDED:
			/* The backend's triple fault: bhyve suspends the vm (section 9). */
			vm_suspend(vm, vme->u.suspended.how);
			rip = vme->rip;
			continue;
		case VM_EXITCODE_INST_EMUL:
			err = vm_handle_inst_emul(vm, id, vme);
			if (err == 1) {
				/* The fetch injected a fault: bhyve's kernel resumes
				 * the guest to take it, so the exit was handled in
				 * the vmm, as PAGING is. */
				observe(vm, id, vme, true);
				rip = vme->rip;
				continue;
			}
			if (err) {
				v->state = VCPU_IDLE;
				return err;
			}
			break;
		default:
			break;
		}
		break;
	}
	observe(vm, id, vme, false);
	v->last_exit = *vme;
	v->have_last_exit = true;
	v->state = VCPU_IDLE;
	return 0;
}
