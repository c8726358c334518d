/*
 * The vm object: lifecycle, memory, registers, capabilities and vcpu
 * state, dispatching to the backend chosen at vm_create (bhyve's vmm.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpumodel.h"
#include "core/vm_internal.h"

static const struct vmm_ops *backend_find(const char *name)
{
	if (!name || strcmp(name, "soft") == 0)
		return &vmm_ops_soft;
	return NULL;
}

int vm_create(const char *name, const struct vm_config *config, struct vm **retvm)
{
	if (!name || !retvm || strlen(name) == 0 || strlen(name) >= VM_MAX_NAMELEN)
		return EINVAL;
	const struct vmm_ops *ops = backend_find(config ? config->backend : NULL);
	if (!ops)
		return ENOENT;
	const struct cpu_model *model = cpu_model_find(config ? config->cpu_model : NULL);
	if (!model)
		return ENOENT;
	int ncpus = config && config->ncpus ? config->ncpus : 1;
	if (ncpus < 1 || ncpus > VM_MAXCPU)
		return EINVAL;
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return ENOMEM;
	strcpy(vm->name, name);
	vm->ops = ops;
	vm->model = model;
	vm->ncpus = ncpus;
	vm->vmi = ops->vminit(vm, &vm->mem, model, ncpus);
	if (!vm->vmi) {
		free(vm);
		return ENOMEM;
	}
	*retvm = vm;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm->ops->vmcleanup(vm->vmi);
	mem_free_all(&vm->mem);
	free(vm);
}

/* bhyve's vm_reinit: vcpus back to power-on state, memory kept. */
int vm_reinit(struct vm *vm)
{
	if (!vm)
		return EINVAL;
	/* bhyve: only a vm whose active vcpus are all suspended (or none is
	 * active) can be reinitialised. */
	if (vm_suspended_cpus(vm) != vm_active_cpus(vm))
		return EBUSY;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpu[i].state != VCPU_IDLE)
			return EBUSY;
	for (int i = 0; i < vm->ncpus; i++) {
		vm->vcpu[i] = (struct vcpu_state_core){0};
		vm->ops->vcpu_reset(vm->vmi, i);
	}
	vm->suspend = VM_SUSPEND_NONE;
	mem_reset_touched(&vm->mem);
	return 0;
}

const char *vm_name(struct vm *vm)
{
	return vm ? vm->name : NULL;
}

int vm_malloc(struct vm *vm, vm_paddr_t gpa, size_t len)
{
	if (!vm)
		return EINVAL;
	return mem_add(&vm->mem, gpa, len);
}

/* Host-physical ranges (PCI passthrough) cannot exist for a software CPU
 * (docs/deviations.md). */
int vm_map_mmio(struct vm *vm, vm_paddr_t gpa, size_t len, vm_paddr_t hpa)
{
	(void)vm;
	(void)gpa;
	(void)len;
	(void)hpa;
	return EOPNOTSUPP;
}

int vm_unmap_mmio(struct vm *vm, vm_paddr_t gpa, size_t len)
{
	(void)vm;
	(void)gpa;
	(void)len;
	return EOPNOTSUPP;
}

/*
 * bhyve's vm_gpa_hold: [gpa, gpa+len) must lie in one page (bhyve panics
 * otherwise; here NULL) and that page must be RAM.  bhyve holds the whole
 * page whatever len is, 0 included.  Guest RAM is mapped with every right,
 * so any prot is granted; a write hold drops the decode cache's records of
 * the span at once, so the caller writes while the vcpu is stopped, as
 * bhyve requires (the vcpu frozen while a page is held).
 */
void *vm_gpa_hold(struct vm *vm, vm_paddr_t gpa, size_t len, int prot, void **cookie)
{
	if (cookie)
		*cookie = NULL;
	if (!vm || !cookie || len > 4096 - (gpa & 0xfff))
		return NULL;
	uint8_t *h = mem_host(&vm->mem, gpa, len);
	if (!h)
		return NULL;
	/* A writer may change code the decode cache holds. */
	if (prot & VM_PROT_WRITE)
		vm->ops->mem_written(vm->vmi, gpa, len);
	*cookie = h;
	return h;
}

void vm_gpa_release(void *cookie)
{
	(void)cookie;
}

bool vm_mem_allocated(struct vm *vm, vm_paddr_t gpa)
{
	return vm && mem_find(&vm->mem, gpa) != NULL;
}

/* The seed's registers and the later ones numbered after VM_REG_LAST. */
static bool reg_valid(int reg)
{
	return (reg >= 0 && reg < VM_REG_LAST) || (reg > VM_REG_LAST && reg < VM_REG_EXT_LAST) ||
	       reg == VM_REG_SOFTVMM_NMI_BLOCKED;
}

int vm_get_register(struct vm *vm, int vcpu, int reg, uint64_t *retval)
{
	if (!vcpu_valid(vm, vcpu) || !reg_valid(reg) || !retval)
		return EINVAL;
	return vm->ops->getreg(vm->vmi, vcpu, reg, retval);
}

int vm_set_register(struct vm *vm, int vcpu, int reg, uint64_t val)
{
	if (!vcpu_valid(vm, vcpu) || !reg_valid(reg))
		return EINVAL;
	return vm->ops->setreg(vm->vmi, vcpu, reg, val);
}

static bool regnums_valid(unsigned int count, const int *regnums)
{
	for (unsigned int k = 0; k < count; k++)
		if (!reg_valid(regnums[k]))
			return false;
	return true;
}

int vm_get_register_set(struct vm *vm, int vcpu, unsigned int count, const int *regnums,
                        uint64_t *regvals)
{
	if (!vcpu_valid(vm, vcpu) || (count && (!regnums || !regvals)) ||
	    !regnums_valid(count, regnums))
		return EINVAL;
	for (unsigned int k = 0; k < count; k++) {
		int e = vm->ops->getreg(vm->vmi, vcpu, regnums[k], &regvals[k]);
		if (e)
			return e;
	}
	return 0;
}

int vm_set_register_set(struct vm *vm, int vcpu, unsigned int count, const int *regnums,
                        uint64_t *regvals)
{
	if (!vcpu_valid(vm, vcpu) || (count && (!regnums || !regvals)) ||
	    !regnums_valid(count, regnums))
		return EINVAL;
	for (unsigned int k = 0; k < count; k++) {
		int e = vm->ops->setreg(vm->vmi, vcpu, regnums[k], regvals[k]);
		if (e)
			return e;
	}
	return 0;
}

int vm_get_vcpu_state(struct vm *vm, int vcpu, struct vm_vcpu_state *state)
{
	if (!vcpu_valid(vm, vcpu) || !state)
		return EINVAL;
	vm->ops->get_state(vm->vmi, vcpu, state); /* fills every byte, padding included */
	return 0;
}

static bool is_desc_reg(int reg)
{
	return reg >= VM_REG_GUEST_ES && reg <= VM_REG_GUEST_GDTR;
}

int vm_get_seg_desc(struct vm *vm, int vcpu, int reg, struct seg_desc *ret_desc)
{
	if (!vcpu_valid(vm, vcpu) || !is_desc_reg(reg) || !ret_desc)
		return EINVAL;
	return vm->ops->getdesc(vm->vmi, vcpu, reg, ret_desc);
}

int vm_set_seg_desc(struct vm *vm, int vcpu, int reg, struct seg_desc *desc)
{
	if (!vcpu_valid(vm, vcpu) || !is_desc_reg(reg) || !desc)
		return EINVAL;
	return vm->ops->setdesc(vm->vmi, vcpu, reg, desc);
}

int vm_get_capability(struct vm *vm, int vcpu, int type, int *val)
{
	if (!vcpu_valid(vm, vcpu) || type < 0 || type >= VM_CAP_MAX || !val)
		return EINVAL;
	return vm->ops->getcap(vm->vmi, vcpu, type, val);
}

int vm_set_capability(struct vm *vm, int vcpu, int type, int val)
{
	if (!vcpu_valid(vm, vcpu) || type < 0 || type >= VM_CAP_MAX)
		return EINVAL;
	return vm->ops->setcap(vm->vmi, vcpu, type, val);
}

int vm_get_x2apic_state(struct vm *vm, int vcpu, enum x2apic_state *state)
{
	if (!vcpu_valid(vm, vcpu) || !state)
		return EINVAL;
	*state = vm->vcpu[vcpu].x2apic;
	return 0;
}

int vm_set_x2apic_state(struct vm *vm, int vcpu, enum x2apic_state state)
{
	if (!vcpu_valid(vm, vcpu) || state < 0 || state >= X2APIC_STATE_LAST)
		return EINVAL;
	vm->vcpu[vcpu].x2apic = state;
	return 0;
}

int vm_activate_cpu(struct vm *vm, int vcpu)
{
	if (!vcpu_valid(vm, vcpu))
		return EINVAL;
	if (vm->vcpu[vcpu].active)
		return EBUSY;
	vm->vcpu[vcpu].active = true;
	return 0;
}

cpuset_t vm_active_cpus(struct vm *vm)
{
	cpuset_t s = 0;
	for (int i = 0; vm && i < vm->ncpus; i++)
		if (vm->vcpu[i].active)
			s |= 1ull << i;
	return s;
}

cpuset_t vm_suspended_cpus(struct vm *vm)
{
	cpuset_t s = 0;
	for (int i = 0; vm && i < vm->ncpus; i++)
		if (vm->vcpu[i].suspended)
			s |= 1ull << i;
	return s;
}

/* bhyve's vcpu_set_state transitions: IDLE <-> FROZEN/RUNNING/SLEEPING;
 * leaving IDLE needs from_idle, and any other change goes through IDLE. */
int vcpu_set_state(struct vm *vm, int vcpu, enum vcpu_state state, bool from_idle)
{
	if (!vcpu_valid(vm, vcpu) || state < VCPU_IDLE || state > VCPU_SLEEPING)
		return EINVAL;
	enum vcpu_state cur = vm->vcpu[vcpu].state;
	if (from_idle ? cur != VCPU_IDLE : (cur == VCPU_IDLE) == (state == VCPU_IDLE))
		return EBUSY;
	vm->vcpu[vcpu].state = state;
	return 0;
}

enum vcpu_state vcpu_get_state(struct vm *vm, int vcpu, int *hostcpu)
{
	if (hostcpu)
		*hostcpu = -1;
	if (!vcpu_valid(vm, vcpu))
		return VCPU_IDLE;
	return vm->vcpu[vcpu].state;
}

int vm_suspend(struct vm *vm, enum vm_suspend_how how)
{
	if (!vm || how <= VM_SUSPEND_NONE || how >= VM_SUSPEND_LAST)
		return EINVAL;
	if (vm->suspend != VM_SUSPEND_NONE)
		return EALREADY;
	vm->suspend = how;
	return 0;
}

void vm_set_exit_observer(struct vm *vm, vm_exit_observer_fn fn, void *arg)
{
	if (!vm)
		return;
	vm->observer = fn;
	vm->observer_arg = arg;
}

int vm_set_insn_limit(struct vm *vm, int vcpu, uint64_t limit)
{
	if (!vcpu_valid(vm, vcpu))
		return EINVAL;
	vm->ops->set_insn_limit(vm->vmi, vcpu, limit);
	return 0;
}

int vm_get_stats(struct vm *vm, int vcpuid, struct vm_vcpu_stats *stats)
{
	if (!vcpu_valid(vm, vcpuid) || !stats)
		return EINVAL;
	memset(stats, 0, sizeof(*stats));
	vm->ops->get_stats(vm->vmi, vcpuid, stats);
	memcpy(stats->exits_handled, vm->vcpu[vcpuid].exits_handled, sizeof(stats->exits_handled));
	memcpy(stats->exits_returned, vm->vcpu[vcpuid].exits_returned,
	       sizeof(stats->exits_returned));
	return 0;
}

int vm_foreach_unimplemented(struct vm *vm, int vcpuid,
                             void (*fn)(void *arg, const char *mnemonic, uint64_t count), void *arg)
{
	if (!vcpu_valid(vm, vcpuid) || !fn)
		return EINVAL;
	vm->ops->foreach_unimplemented(vm->vmi, vcpuid, fn, arg);
	return 0;
}
