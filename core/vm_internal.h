/* The vm object shared by the core sources (not part of the public API). */
#ifndef SOFTVMM_CORE_VM_INTERNAL_H
#define SOFTVMM_CORE_VM_INTERNAL_H

#include "softvmm/vmm.h"
#include "core/mem.h"
#include "core/vmm_ops.h"

struct vcpu_state_core {
	bool active;
	bool halted;    /* halted by vm_handle_hlt with interrupts off (halt detection) */
	bool hlt_state; /* in the HLT activity state: HLT ran without VM_CAP_HALT_EXIT */
	bool suspended;
	enum vcpu_state state;
	uint64_t exitintinfo; /* event being delivered at the last exit */
	bool exc_pending;     /* vm_inject_exception queue (one deep) */
	struct vm_exception exc;
	uint64_t exc_cr2;
	bool nmi_pending, extint_pending;
	struct vm_exit last_exit; /* the exit vm_run returned last */
	bool have_last_exit;
	uint64_t exits_handled[VM_EXITCODE_MAX];
	uint64_t exits_returned[VM_EXITCODE_MAX];
	enum x2apic_state x2apic;
};

struct vm {
	char name[VM_MAX_NAMELEN + 1];
	const struct vmm_ops *ops;
	const struct cpu_model *model;
	void *vmi;
	int ncpus;
	struct vm_mem mem;
	struct vcpu_state_core vcpu[VM_MAXCPU];
	enum vm_suspend_how suspend;
	vm_exit_observer_fn observer;
	void *observer_arg;
};

static inline bool vcpu_valid(const struct vm *vm, int vcpu)
{
	return vm && vcpu >= 0 && vcpu < vm->ncpus;
}

int vm_handle_inst_emul(struct vm *vm, int vcpuid, struct vm_exit *vme);

#endif
