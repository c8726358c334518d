/* Building the vm a run needs; see vm_setup.h. */
#include "runner/vm_setup.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "runner/vcpu_init.h"

#define RUNNER_VM_NAME "softvmm"

static int fail(struct runner_state *rs, const char *what, int err)
{
	fprintf(rs->opts->diag, "softvmm: %s: %s\n", what, strerror(err));
	return RUNNER_EXIT_SOFTWARE;
}

/* An unknown --cpu is the user's mistake, not softvmm's. */
static int create_vm(struct runner_state *rs)
{
	const struct runner_options *o = rs->opts;
	struct vm_config config = {.backend = "soft", .cpu_model = o->cpu_model, .ncpus = 1};
	int err = vm_create(RUNNER_VM_NAME, &config, &rs->vm);
	if (err == 0)
		return 0;
	rs->vm = NULL;
	if (o->cpu_model != NULL && (err == EINVAL || err == ENOENT)) {
		fprintf(o->diag, "softvmm: --cpu %s: no such CPU model\n", o->cpu_model);
		return RUNNER_EXIT_USAGE;
	}
	return fail(rs, "vm_create", err);
}

/* In long64 the page tables take the top of RAM; the image must stay clear of them. */
static int check_tables_clear(struct runner_state *rs, const struct guest_image *img)
{
	const struct runner_options *o = rs->opts;
	if (o->mode != RUNNER_MODE_LONG64)
		return 0;
	uint64_t tables = long64_tables_base(o->mem_size);
	if (o->load_addr + img->size <= tables)
		return 0;
	fprintf(o->diag,
	        "softvmm: %s: image of %zu bytes at 0x%" PRIx64
	        " overlaps the long64 page tables at 0x%" PRIx64 "-0x%" PRIx64 "\n",
	        img->path, img->size, o->load_addr, tables, o->mem_size - 1);
	return RUNNER_EXIT_DATAERR;
}

static int load_memory(struct runner_state *rs, const struct guest_image *img)
{
	const struct runner_options *o = rs->opts;
	int err = vm_malloc(rs->vm, 0, o->mem_size);
	if (err != 0)
		return fail(rs, "vm_malloc", err);
	err = guest_mem_write(rs->vm, o->load_addr, img->bytes, img->size);
	if (err != 0)
		return fail(rs, "loading the image", err);
	if (o->mode == RUNNER_MODE_LONG64) {
		err = long64_tables_build(rs->vm, o->mem_size);
		if (err != 0)
			return fail(rs, "building the long64 page tables", err);
	}
	return 0;
}

static int prepare_vcpu(struct runner_state *rs)
{
	const struct runner_options *o = rs->opts;
	uint64_t entry = o->entry_given ? o->entry : o->load_addr;
	int failed_reg = -1;
	int err = vm_activate_cpu(rs->vm, rs->vcpu);
	if (err != 0 && err != EBUSY) /* EBUSY: already active, as vm_create left it */
		return fail(rs, "vm_activate_cpu", err);
	err = vcpu_init_state(rs->vm, rs->vcpu, o->mode, entry, o->mem_size, &failed_reg);
	if (err != 0) {
		const char *name = vm_reg_name_str((enum vm_reg_name)failed_reg);
		fprintf(o->diag, "softvmm: setting %s for the entry state: %s\n",
		        name != NULL ? name : "a register", strerror(err));
		return RUNNER_EXIT_SOFTWARE;
	}
	/* bhyverun -H (fbsdrun_set_capabilities): HLT exits to the vmm, whose
	 * vm_handle_hlt ends the run with SUSPENDED {HALT} once the vcpu halts
	 * with interrupts off.  Without it the vcpu would sit halted. */
	err = vm_set_capability(rs->vm, rs->vcpu, VM_CAP_HALT_EXIT, 1);
	if (err != 0)
		return fail(rs, "vm_set_capability(VM_CAP_HALT_EXIT)", err);
	if (o->mtrap) {
		err = vm_set_capability(rs->vm, rs->vcpu, VM_CAP_MTRAP_EXIT, 1);
		if (err != 0)
			return fail(rs, "vm_set_capability(VM_CAP_MTRAP_EXIT)", err);
	}
	if (o->max_insns != 0) {
		err = vm_set_insn_limit(rs->vm, rs->vcpu, o->max_insns);
		if (err != 0)
			return fail(rs, "vm_set_insn_limit", err);
	}
	return 0;
}

static int attach_devices(struct runner_state *rs)
{
	inout_table_init(&rs->ports);
	mem_range_table_init(&rs->mmio);
	int err = devices_register(&rs->devices, rs->opts->guest_out, &rs->ports, &rs->mmio);
	if (err != 0)
		return fail(rs, "registering the devices", err);
	exit_log_init(&rs->log, rs->opts->diag, rs->opts->exits);
	vm_set_exit_observer(rs->vm, exit_log_observe, &rs->log);
	return 0;
}

int vm_setup(struct runner_state *rs, const struct guest_image *img)
{
	rs->vcpu = 0;
	int status = check_tables_clear(rs, img);
	if (status == 0)
		status = create_vm(rs);
	if (status == 0)
		status = load_memory(rs, img);
	if (status == 0)
		status = prepare_vcpu(rs);
	if (status == 0)
		status = attach_devices(rs);
	return status;
}

void vm_teardown(struct runner_state *rs)
{
	if (rs->vm == NULL)
		return;
	vm_set_exit_observer(rs->vm, NULL, NULL);
	vm_destroy(rs->vm);
	rs->vm = NULL;
}
