/*
 * Event injection and the intinfo calls, as bhyve's vmm.c has them
 * (BHYVE-EXITS.md section 9).
 */
#include <errno.h>

#include "core/exc_class.h"
#include "core/vm_internal.h"

int vm_inject_exception(struct vm *vm, int vcpuid, struct vm_exception *vme)
{
	if (!vcpu_valid(vm, vcpuid) || !vme)
		return EINVAL;
	if (vme->vector < 0 || vme->vector >= 32 || vme->vector == IDT_DF)
		return EINVAL;
	struct vcpu_state_core *v = &vm->vcpu[vcpuid];
	if (v->exc_pending)
		return EBUSY;
	v->exc = *vme;
	v->exc_pending = true;
	return 0;
}

/* Kernel-style helper: queue the fault and restart the exit's instruction. */
void vm_inject_fault(struct vm *vm, int vcpuid, int vector, int errcode_valid, int errcode)
{
	struct vm_exception e = {
	    .cpuid = vcpuid,
	    .vector = vector,
	    .error_code = (uint32_t)errcode,
	    .error_code_valid = errcode_valid,
	};
	if (vm_inject_exception(vm, vcpuid, &e) == 0)
		vm->vcpu[vcpuid].last_exit.inst_length = 0;
}

void vm_inject_ud(struct vm *vm, int vcpuid)
{
	vm_inject_fault(vm, vcpuid, IDT_UD, 0, 0);
}

void vm_inject_gp(struct vm *vm, int vcpuid)
{
	vm_inject_fault(vm, vcpuid, IDT_GP, 1, 0);
}

void vm_inject_ac(struct vm *vm, int vcpuid, int errcode)
{
	vm_inject_fault(vm, vcpuid, IDT_AC, 1, errcode);
}

void vm_inject_ss(struct vm *vm, int vcpuid, int errcode)
{
	vm_inject_fault(vm, vcpuid, IDT_SS, 1, errcode);
}

void vm_inject_pf(struct vm *vm, int vcpuid, int error_code, uint64_t cr2)
{
	if (!vcpu_valid(vm, vcpuid))
		return;
	if (vm_set_register(vm, vcpuid, VM_REG_GUEST_CR2, cr2) == 0)
		vm_inject_fault(vm, vcpuid, IDT_PF, 1, error_code);
}

int vm_inject_nmi(struct vm *vm, int vcpu)
{
	if (!vcpu_valid(vm, vcpu))
		return EINVAL;
	vm->vcpu[vcpu].nmi_pending = true;
	return 0;
}

int vm_nmi_pending(struct vm *vm, int vcpuid)
{
	return vcpu_valid(vm, vcpuid) && vm->vcpu[vcpuid].nmi_pending;
}

void vm_nmi_clear(struct vm *vm, int vcpuid)
{
	if (vcpu_valid(vm, vcpuid))
		vm->vcpu[vcpuid].nmi_pending = false;
}

int vm_inject_extint(struct vm *vm, int vcpu)
{
	if (!vcpu_valid(vm, vcpu))
		return EINVAL;
	vm->vcpu[vcpu].extint_pending = true;
	return 0;
}

int vm_extint_pending(struct vm *vm, int vcpuid)
{
	return vcpu_valid(vm, vcpuid) && vm->vcpu[vcpuid].extint_pending;
}

void vm_extint_clear(struct vm *vm, int vcpuid)
{
	if (vcpu_valid(vm, vcpuid))
		vm->vcpu[vcpuid].extint_pending = false;
}

static unsigned intinfo_type(uint64_t info)
{
	return (unsigned)(info & VM_INTINFO_TYPE);
}

int vm_exit_intinfo(struct vm *vm, int vcpuid, uint64_t intinfo)
{
	if (!vcpu_valid(vm, vcpuid))
		return EINVAL;
	if (intinfo & VM_INTINFO_VALID) {
		unsigned type = intinfo_type(intinfo), vec = VM_INTINFO_VECTOR(intinfo);
		if (type == VM_INTINFO_NMI && vec != IDT_NMI)
			return EINVAL;
		if (type == VM_INTINFO_HWEXCEPTION && vec >= 32)
			return EINVAL;
		if (intinfo & VM_INTINFO_RSVD)
			return EINVAL;
	} else {
		intinfo = 0;
	}
	vm->vcpu[vcpuid].exitintinfo = intinfo;
	return 0;
}

/* Interrupts, NMI and software events are benign (BHYVE-EXITS.md section 9). */
static enum exc_class class_of(uint64_t info)
{
	if (intinfo_type(info) != VM_INTINFO_HWEXCEPTION)
		return EXC_BENIGN;
	return exc_class_of_vector(VM_INTINFO_VECTOR(info));
}

static uint64_t pending_exception_info(struct vcpu_state_core *v)
{
	uint64_t info =
	    (uint64_t)(v->exc.vector & 0xff) | VM_INTINFO_HWEXCEPTION | VM_INTINFO_VALID;
	if (v->exc.error_code_valid)
		info |= VM_INTINFO_DEL_ERRCODE | ((uint64_t)v->exc.error_code << 32);
	return info;
}

/* bhyve's nested_fault (SDM table 6-5). Returns 1 with *retinfo, or 0 after
 * suspending the vm for a triple fault. */
static int nested_fault(struct vm *vm, uint64_t info1, uint64_t info2, uint64_t *retinfo)
{
	if (intinfo_type(info1) == VM_INTINFO_HWEXCEPTION && VM_INTINFO_VECTOR(info1) == IDT_DF) {
		vm_suspend(vm, VM_SUSPEND_TRIPLEFAULT);
		*retinfo = 0;
		return 0;
	}
	if (exc_makes_double_fault(class_of(info1), class_of(info2)))
		*retinfo =
		    IDT_DF | VM_INTINFO_HWEXCEPTION | VM_INTINFO_DEL_ERRCODE | VM_INTINFO_VALID;
	else
		*retinfo = info2;
	return 1;
}

int vm_entry_intinfo(struct vm *vm, int vcpuid, uint64_t *retinfo)
{
	if (!vcpu_valid(vm, vcpuid) || !retinfo)
		return 0;
	struct vcpu_state_core *v = &vm->vcpu[vcpuid];
	uint64_t info1 = v->exitintinfo, info2 = 0;
	v->exitintinfo = 0;
	if (v->exc_pending) {
		info2 = pending_exception_info(v);
		v->exc_pending = false;
	}
	if ((info1 & VM_INTINFO_VALID) && (info2 & VM_INTINFO_VALID))
		return nested_fault(vm, info1, info2, retinfo);
	if (info1 & VM_INTINFO_VALID) {
		*retinfo = info1;
		return 1;
	}
	if (info2 & VM_INTINFO_VALID) {
		*retinfo = info2;
		return 1;
	}
	*retinfo = 0;
	return 0;
}

int vm_get_intinfo(struct vm *vm, int vcpuid, uint64_t *info1, uint64_t *info2)
{
	if (!vcpu_valid(vm, vcpuid) || !info1 || !info2)
		return EINVAL;
	struct vcpu_state_core *v = &vm->vcpu[vcpuid];
	*info1 = v->exitintinfo;
	*info2 = v->exc_pending ? pending_exception_info(v) : 0;
	return 0;
}
