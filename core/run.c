/*
 * vm_run: the kernel half of bhyve's exit loop (vmm.c:vm_run).  Exits the
 * vmm handles itself (PAGING, HLT, and the instruction fetch and decode of
 * INST_EMUL) are reported to the exit observer as handled and the vcpu is
 * re-entered; everything else is returned to the caller.
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
 * bhyve's vm_handle_hlt with halt detection: with interrupts disabled the
 * vcpu is halted for good, and once every active vcpu is, the vm suspends
 * with HALT.  softvmm has no in-vmm interrupt source yet, so a halt with
 * interrupts enabled can never end either and is treated the same way
 * (docs/deviations.md).
 */
static void handle_hlt(struct vm *vm, int vcpu)
{
	vm->vcpu[vcpu].halted = true;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpu[i].active && !vm->vcpu[i].halted)
			return;
	vm_suspend(vm, VM_SUSPEND_HALT);
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
		if (vm_entry_intinfo(vm, id, &info))
			vm->ops->inject(vm->vmi, id, info);
		if (vm->suspend != VM_SUSPEND_NONE) {
			exit_suspended(vm, id, rip, vme);
			break;
		}
		int err = vm->ops->vmrun(vm->vmi, id, rip, vme);
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
			observe(vm, id, vme, true);
			handle_hlt(vm, id);
			rip = vme->rip + (uint64_t)vme->inst_length;
			continue;
		case VM_EXITCODE_SUSPENDED:
			/* The backend's triple fault: bhyve suspends the vm (section 9). */
			vm_suspend(vm, vme->u.suspended.how);
			rip = vme->rip;
			continue;
		case VM_EXITCODE_INST_EMUL:
			err = vm_handle_inst_emul(vm, id, vme);
			if (err == 1) {
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
