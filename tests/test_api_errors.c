/*
 * The public API's error paths, one by one.  The rules are bhyve's (its vmm.c
 * of 2014, summarised in ../shared/BHYVE-EXITS.md) and vmm.h's own promise:
 * every call returns 0 or an errno value and changes nothing when it fails,
 * which the tests check by reading the state back after each failure.
 *
 * The fixture VM has two vcpus, so that "vcpu == ncpus" (2) is out of range
 * while still below VM_MAXCPU, and 1 MiB of RAM at 1 MiB.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

#define NCPUS    2
#define RAM_GPA  0x100000ull
#define RAM_SIZE 0x100000ull

static struct vm *vm;

static void create_vm(void)
{
	struct vm_config cfg = {.backend = NULL, .cpu_model = NULL, .ncpus = NCPUS};
	cr_assert_eq(vm_create("api-errors", &cfg, &vm), 0);
	cr_assert_eq(vm_malloc(vm, RAM_GPA, RAM_SIZE), 0);
}

static void destroy_vm(void)
{
	vm_destroy(vm);
	vm = NULL;
}

TestSuite(api_errors, .init = create_vm, .fini = destroy_vm);

/* vcpu numbers no call may accept: negative, VM_MAXCPU, and the VM's ncpus. */
static const int bad_vcpus[] = {-1, VM_MAXCPU, NCPUS};
#define NBAD ((int)(sizeof(bad_vcpus) / sizeof(bad_vcpus[0])))

/* ---- vm_create ------------------------------------------------------------ */

/* A sentinel in *retvm shows that a failed vm_create did not write it. */
#define SENTINEL ((struct vm *)(uintptr_t)0x5e5e5e5e)

Test(api_errors, vm_create_rejects_null_name_and_null_retvm)
{
	struct vm *out = SENTINEL;
	cr_assert_eq(vm_create(NULL, NULL, &out), EINVAL);
	cr_assert_eq(out, SENTINEL);
	cr_assert_eq(vm_create("x", NULL, NULL), EINVAL);
}

/* A name that does not fit bhyve's VM_MAX_NAMELEN is refused, not truncated. */
Test(api_errors, vm_create_rejects_a_name_longer_than_vm_max_namelen)
{
	char name[VM_MAX_NAMELEN + 2];
	struct vm *out = SENTINEL;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	cr_assert_eq(vm_create(name, NULL, &out), EINVAL);
	cr_assert_eq(out, SENTINEL);
}

/* A backend or CPU model that does not exist is not found: ENOENT. */
Test(api_errors, vm_create_rejects_unknown_backend_with_enoent)
{
	struct vm_config cfg = {.backend = "kvm2", .cpu_model = NULL, .ncpus = 1};
	struct vm *out = SENTINEL;
	cr_assert_eq(vm_create("x", &cfg, &out), ENOENT);
	cr_assert_eq(out, SENTINEL);
}

Test(api_errors, vm_create_rejects_unknown_cpu_model_with_enoent)
{
	struct vm_config cfg = {.backend = "soft", .cpu_model = "no-such-cpu", .ncpus = 1};
	struct vm *out = SENTINEL;
	cr_assert_eq(vm_create("x", &cfg, &out), ENOENT);
	cr_assert_eq(out, SENTINEL);
}

/* ncpus is 1..VM_MAXCPU (0 means 1); VM_MAXCPU itself is accepted. */
Test(api_errors, vm_create_rejects_ncpus_outside_1_to_vm_maxcpu)
{
	struct vm *out = SENTINEL;
	struct vm_config cfg = {.backend = NULL, .cpu_model = NULL, .ncpus = -1};
	cr_assert_eq(vm_create("x", &cfg, &out), EINVAL);
	cfg.ncpus = VM_MAXCPU + 1;
	cr_assert_eq(vm_create("x", &cfg, &out), EINVAL);
	cr_assert_eq(out, SENTINEL);
	cfg.ncpus = VM_MAXCPU;
	cr_assert_eq(vm_create("x", &cfg, &out), 0);
	cr_assert_eq(vm_activate_cpu(out, VM_MAXCPU - 1), 0);
	vm_destroy(out);
}

/* ---- vcpu out of range ------------------------------------------------------ */

Test(api_errors, register_calls_reject_vcpu_out_of_range)
{
	for (int i = 0; i < NBAD; i++) {
		int v = bad_vcpus[i];
		uint64_t val = 0;
		cr_assert_eq(vm_get_register(vm, v, VM_REG_GUEST_RAX, &val), EINVAL, "vcpu %d", v);
		cr_assert_eq(vm_set_register(vm, v, VM_REG_GUEST_RAX, 1), EINVAL, "vcpu %d", v);
	}
}

Test(api_errors, seg_desc_calls_reject_vcpu_out_of_range)
{
	for (int i = 0; i < NBAD; i++) {
		int v = bad_vcpus[i];
		struct seg_desc d = {0, 0xffff, 0x93};
		cr_assert_eq(vm_get_seg_desc(vm, v, VM_REG_GUEST_DS, &d), EINVAL, "vcpu %d", v);
		cr_assert_eq(vm_set_seg_desc(vm, v, VM_REG_GUEST_DS, &d), EINVAL, "vcpu %d", v);
	}
}

Test(api_errors, vm_run_and_activate_reject_vcpu_out_of_range)
{
	for (int i = 0; i < NBAD; i++) {
		int v = bad_vcpus[i];
		struct vm_run run;
		memset(&run, 0, sizeof(run));
		run.cpuid = v;
		cr_assert_eq(vm_run(vm, &run), EINVAL, "vcpu %d", v);
		cr_assert_eq(vm_activate_cpu(vm, v), EINVAL, "vcpu %d", v);
	}
	cr_assert_eq(vm_active_cpus(vm), 0, "a rejected activation marked a vcpu active");
}

Test(api_errors, capability_calls_reject_vcpu_out_of_range)
{
	for (int i = 0; i < NBAD; i++) {
		int v = bad_vcpus[i], val = 0;
		cr_assert_eq(vm_get_capability(vm, v, VM_CAP_HALT_EXIT, &val), EINVAL, "vcpu %d",
		             v);
		cr_assert_eq(vm_set_capability(vm, v, VM_CAP_HALT_EXIT, 1), EINVAL, "vcpu %d", v);
	}
}

Test(api_errors, softvmm_extensions_reject_vcpu_out_of_range)
{
	for (int i = 0; i < NBAD; i++) {
		int v = bad_vcpus[i];
		struct vm_vcpu_stats st;
		cr_assert_eq(vm_get_stats(vm, v, &st), EINVAL, "vcpu %d", v);
		cr_assert_eq(vm_set_insn_limit(vm, v, 100), EINVAL, "vcpu %d", v);
	}
}

/* bhyve's vm_activate_cpu: a vcpu already active gives EBUSY. */
Test(api_errors, activating_a_vcpu_twice_gives_ebusy)
{
	cr_assert_eq(vm_activate_cpu(vm, 1), 0);
	cr_assert_eq(vm_activate_cpu(vm, 1), EBUSY);
	cr_assert_eq(vm_active_cpus(vm), (cpuset_t)1 << 1);
}

/* ---- register, capability and argument checks ------------------------------------- */

Test(api_errors, register_number_outside_the_enum_is_einval)
{
	uint64_t val = 0;
	cr_assert_eq(vm_get_register(vm, 0, -1, &val), EINVAL);
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_LAST, &val), EINVAL);
	cr_assert_eq(vm_set_register(vm, 0, -1, 0), EINVAL);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_LAST, 0), EINVAL);
}

/* Only segment and descriptor-table registers have a descriptor. */
Test(api_errors, seg_desc_of_a_general_register_is_einval)
{
	struct seg_desc d = {0, 0xffff, 0x93};
	cr_assert_eq(vm_get_seg_desc(vm, 0, VM_REG_GUEST_RAX, &d), EINVAL);
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_RAX, &d), EINVAL);
	cr_assert_eq(vm_get_seg_desc(vm, 0, VM_REG_LAST, &d), EINVAL);
	cr_assert_eq(vm_set_seg_desc(vm, 0, -1, &d), EINVAL);
}

Test(api_errors, capability_type_outside_the_enum_is_einval)
{
	int val = 0;
	cr_assert_eq(vm_get_capability(vm, 0, -1, &val), EINVAL);
	cr_assert_eq(vm_get_capability(vm, 0, VM_CAP_MAX, &val), EINVAL);
	cr_assert_eq(vm_set_capability(vm, 0, -1, 1), EINVAL);
	cr_assert_eq(vm_set_capability(vm, 0, VM_CAP_MAX, 1), EINVAL);
}

Test(api_errors, null_out_pointers_are_einval)
{
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RAX, NULL), EINVAL);
	cr_assert_eq(vm_get_seg_desc(vm, 0, VM_REG_GUEST_CS, NULL), EINVAL);
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_CS, NULL), EINVAL);
	cr_assert_eq(vm_get_capability(vm, 0, VM_CAP_HALT_EXIT, NULL), EINVAL);
	cr_assert_eq(vm_get_stats(vm, 0, NULL), EINVAL);
	cr_assert_eq(vm_run(vm, NULL), EINVAL);
	uint64_t info = 0;
	cr_assert_eq(vm_get_intinfo(vm, 0, NULL, &info), EINVAL);
	cr_assert_eq(vm_get_intinfo(vm, 0, &info, NULL), EINVAL);
	cr_assert_eq(vm_inject_exception(vm, 0, NULL), EINVAL);
}

Test(api_errors, x2apic_state_outside_the_enum_is_einval_and_changes_nothing)
{
	enum x2apic_state before = X2APIC_STATE_LAST, after = X2APIC_STATE_LAST;
	cr_assert_eq(vm_get_x2apic_state(vm, 0, &before), 0);
	cr_assert_eq(vm_set_x2apic_state(vm, 0, X2APIC_STATE_LAST), EINVAL);
	cr_assert_eq(vm_set_x2apic_state(vm, NCPUS, X2APIC_ENABLED), EINVAL);
	cr_assert_eq(vm_get_x2apic_state(vm, 0, &after), 0);
	cr_assert_eq(after, before);
	cr_assert_eq(vm_get_x2apic_state(vm, 0, NULL), EINVAL);
}

/* ---- memory -------------------------------------------------------------------------- */

/* bhyve's vm_malloc: page-aligned gpa and length, non-empty, no wrap: EINVAL. */
Test(api_errors, vm_malloc_rejects_unaligned_empty_and_wrapping_ranges)
{
	cr_assert_eq(vm_malloc(vm, 0x400001, 0x1000), EINVAL, "unaligned gpa");
	cr_assert_eq(vm_malloc(vm, 0x400000, 0x1001), EINVAL, "unaligned length");
	cr_assert_eq(vm_malloc(vm, 0x400000, 0), EINVAL, "empty");
	cr_assert_eq(vm_malloc(vm, 0xfffffffffffff000ull, 0x2000), EINVAL, "wraps past 2^64");
	cr_assert(!vm_mem_allocated(vm, 0x400000), "a rejected vm_malloc added RAM");
	cr_assert(!vm_mem_allocated(vm, 0xfffffffffffff000ull));
}

/* Overlapping an existing segment at either end, or inside it, is EEXIST. */
Test(api_errors, vm_malloc_overlapping_a_segment_is_eexist)
{
	cr_assert_eq(vm_malloc(vm, RAM_GPA - 0x1000, 0x2000), EEXIST, "overlaps the start");
	cr_assert_eq(vm_malloc(vm, RAM_GPA + RAM_SIZE - 0x1000, 0x2000), EEXIST,
	             "overlaps the end");
	cr_assert_eq(vm_malloc(vm, RAM_GPA + 0x1000, 0x1000), EEXIST, "inside");
	cr_assert_eq(vm_malloc(vm, 0, 0x1000000), EEXIST, "around");
	cr_assert(!vm_mem_allocated(vm, RAM_GPA - 0x1000), "a rejected vm_malloc added RAM");
	cr_assert(!vm_mem_allocated(vm, RAM_GPA + RAM_SIZE));
	/* Adjacent on both sides is not an overlap. */
	cr_assert_eq(vm_malloc(vm, RAM_GPA - 0x1000, 0x1000), 0);
	cr_assert_eq(vm_malloc(vm, RAM_GPA + RAM_SIZE, 0x1000), 0);
}

/* A software CPU has no host-physical memory to map (docs/deviations.md). */
Test(api_errors, vm_map_mmio_and_vm_unmap_mmio_are_not_supported)
{
	cr_assert_eq(vm_map_mmio(vm, 0xd0000000, 0x1000, 0xd0000000), EOPNOTSUPP);
	cr_assert_eq(vm_unmap_mmio(vm, 0xd0000000, 0x1000), EOPNOTSUPP);
	cr_assert(!vm_mem_allocated(vm, 0xd0000000));
}

Test(api_errors, vm_mem_allocated_is_true_exactly_inside_a_segment)
{
	cr_assert(!vm_mem_allocated(vm, RAM_GPA - 1));
	cr_assert(vm_mem_allocated(vm, RAM_GPA));
	cr_assert(vm_mem_allocated(vm, RAM_GPA + RAM_SIZE - 1));
	cr_assert(!vm_mem_allocated(vm, RAM_GPA + RAM_SIZE));
	cr_assert(!vm_mem_allocated(vm, 0));
	cr_assert(!vm_mem_allocated(vm, UINT64_MAX));
}

/*
 * vm_gpa_hold gives a host pointer only for RAM, and (as bhyve's, which
 * holds a single page) only for a range inside one page.
 */
Test(api_errors, vm_gpa_hold_outside_ram_or_straddling_its_end_is_null)
{
	void *cookie = NULL;
	cr_assert_null(vm_gpa_hold(vm, RAM_GPA - 0x1000, 16, VM_PROT_READ, &cookie), "below RAM");
	cr_assert_null(vm_gpa_hold(vm, RAM_GPA + RAM_SIZE, 16, VM_PROT_READ, &cookie), "above RAM");
	cr_assert_null(vm_gpa_hold(vm, RAM_GPA + RAM_SIZE - 8, 16, VM_PROT_READ, &cookie),
	               "straddles the end of RAM");
	cr_assert_null(vm_gpa_hold(vm, RAM_GPA - 8, 16, VM_PROT_READ, &cookie),
	               "straddles the start of RAM");

	void *p = vm_gpa_hold(vm, RAM_GPA + RAM_SIZE - 16, 16, VM_PROT_READ, &cookie);
	cr_assert_not_null(p, "the last 16 bytes of RAM");
	vm_gpa_release(cookie);
}

Test(api_errors, vm_gpa_hold_across_a_page_boundary_inside_ram_is_null)
{
	void *cookie = NULL;
	cr_assert_null(vm_gpa_hold(vm, RAM_GPA + 0xff8, 16, VM_PROT_READ, &cookie));
	void *p = vm_gpa_hold(vm, RAM_GPA + 0xff0, 16, VM_PROT_READ, &cookie);
	cr_assert_not_null(p, "16 bytes that end at the page boundary");
	vm_gpa_release(cookie);
}

/* ---- event injection ------------------------------------------------------------- */

/* The intinfo word of a pending hardware exception (vmm.h's layout). */
static uint64_t exception_info(int vector, bool has_error, uint32_t error)
{
	uint64_t info = (uint64_t)vector | VM_INTINFO_HWEXCEPTION | VM_INTINFO_VALID;
	if (has_error)
		info |= VM_INTINFO_DEL_ERRCODE | ((uint64_t)error << 32);
	return info;
}

/* BHYVE-EXITS.md section 9: vector in [0, 32) and not #DF, else EINVAL. */
Test(api_errors, vm_inject_exception_rejects_df_and_vectors_outside_0_to_31)
{
	const int bad[] = {IDT_DF, 32, -1, 255};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_exception e = {
		    .cpuid = 0, .vector = bad[i], .error_code = 0, .error_code_valid = 0};
		cr_assert_eq(vm_inject_exception(vm, 0, &e), EINVAL, "vector %d", bad[i]);
	}
	uint64_t info1 = 1, info2 = 1;
	cr_assert_eq(vm_get_intinfo(vm, 0, &info1, &info2), 0);
	cr_assert_eq(info2, 0, "a rejected exception is pending: 0x%" PRIx64, info2);
}

/* One exception may be pending; a second is EBUSY and leaves the first as it was. */
Test(api_errors, second_exception_while_one_is_pending_is_ebusy)
{
	struct vm_exception gp = {
	    .cpuid = 0, .vector = IDT_GP, .error_code = 0x10, .error_code_valid = 1};
	struct vm_exception ud = {
	    .cpuid = 0, .vector = IDT_UD, .error_code = 0, .error_code_valid = 0};
	cr_assert_eq(vm_inject_exception(vm, 0, &gp), 0);
	cr_assert_eq(vm_inject_exception(vm, 0, &ud), EBUSY);
	uint64_t info1 = 1, info2 = 0;
	cr_assert_eq(vm_get_intinfo(vm, 0, &info1, &info2), 0);
	cr_assert_eq(info1, 0);
	cr_assert_eq(info2, exception_info(IDT_GP, true, 0x10), "pending 0x%" PRIx64, info2);
}

/*
 * BHYVE-EXITS.md section 9: vm_exit_intinfo refuses a valid info with
 * reserved bits, an NMI type with a vector other than 2, or a hardware
 * exception >= 32, and keeps the info it had; an info without the valid bit
 * is stored as 0.
 */
Test(api_errors, vm_exit_intinfo_rejects_malformed_info_and_keeps_the_old_one)
{
	const uint64_t good = exception_info(IDT_PF, true, 0x2);
	const uint64_t bad[] = {
	    good | (1ull << 12),                            /* reserved bit 12 */
	    good | (1ull << 30),                            /* reserved bit 30 */
	    VM_INTINFO_VALID | VM_INTINFO_NMI | 3,          /* NMI type, vector 3 */
	    VM_INTINFO_VALID | VM_INTINFO_HWEXCEPTION | 32, /* exception vector 32 */
	};
	uint64_t info1 = 0, info2 = 1;
	cr_assert_eq(vm_exit_intinfo(vm, 0, good), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(vm_exit_intinfo(vm, 0, bad[i]), EINVAL, "info 0x%" PRIx64, bad[i]);
		cr_assert_eq(vm_get_intinfo(vm, 0, &info1, &info2), 0);
		cr_assert_eq(info1, good, "after 0x%" PRIx64 ": info1 = 0x%" PRIx64, bad[i], info1);
		cr_assert_eq(info2, 0);
	}
	cr_assert_eq(vm_exit_intinfo(vm, 0, 0x12345678ull << 32 | 0x30e), 0, "not valid");
	cr_assert_eq(vm_get_intinfo(vm, 0, &info1, &info2), 0);
	cr_assert_eq(info1, 0, "an info without the valid bit is stored as 0: 0x%" PRIx64, info1);
	cr_assert_eq(vm_exit_intinfo(vm, NCPUS, good), EINVAL, "vcpu out of range");
}

/* ---- suspend and run -------------------------------------------------------------- */

/* bhyve's vm_suspend: the first call wins, later ones get EALREADY. */
Test(api_errors, vm_suspend_twice_gives_ealready)
{
	cr_assert_eq(vm_suspend(vm, VM_SUSPEND_NONE), EINVAL);
	cr_assert_eq(vm_suspend(vm, VM_SUSPEND_LAST), EINVAL);
	cr_assert_eq(vm_suspend(vm, VM_SUSPEND_RESET), 0);
	cr_assert_eq(vm_suspend(vm, VM_SUSPEND_POWEROFF), EALREADY);
}

/* BHYVE-EXITS.md section 1: vm_run on a vcpu never activated is EINVAL. */
Test(api_errors, vm_run_on_an_inactive_vcpu_is_einval)
{
	struct vm_run run;
	memset(&run, 0, sizeof(run));
	run.cpuid = 1;
	run.rip = RAM_GPA;
	cr_assert_eq(vm_run(vm, &run), EINVAL);
	cr_assert_eq(vm_suspended_cpus(vm), 0);
}

/*
 * A suspend request is seen at the next entry: SUSPENDED with the first
 * call's 'how', at the rip vm_run was given, inst_length 0 (BHYVE-EXITS.md
 * section 8); the vcpu is then suspended and vm_run refuses it.
 */
Test(api_errors, vm_run_after_vm_suspend_gives_suspended_then_einval)
{
	struct vm_run run;
	cr_assert_eq(guest_set_real_mode_entry(vm, 0, 0x1234), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
	cr_assert_eq(vm_suspend(vm, VM_SUSPEND_POWEROFF), 0);
	memset(&run, 0, sizeof(run));
	run.cpuid = 0;
	run.rip = 0x1234;
	cr_assert_eq(vm_run(vm, &run), 0);
	cr_assert_eq(run.vm_exit.exitcode, VM_EXITCODE_SUSPENDED);
	cr_assert_eq(run.vm_exit.u.suspended.how, VM_SUSPEND_POWEROFF);
	cr_assert_eq(run.vm_exit.rip, 0x1234);
	cr_assert_eq(run.vm_exit.inst_length, 0);
	cr_assert_eq(vm_suspended_cpus(vm), 1);
	cr_assert_eq(vm_run(vm, &run), EINVAL);
}

/*
 * bhyve's vm_reinit resets the vm only when every active vcpu is suspended
 * (suspended_cpus == active_cpus), as after a reset request; otherwise
 * EBUSY, with the vcpus left as they were.
 */
Test(api_errors, vm_reinit_with_an_active_vcpu_not_suspended_is_ebusy)
{
	uint64_t v = 0;
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RBX, 0x1234), 0);
	cr_assert_eq(vm_reinit(vm), EBUSY);
	cr_assert_eq(vm_active_cpus(vm), 1);
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RBX, &v), 0);
	cr_assert_eq(v, 0x1234, "RBX = 0x%" PRIx64 " after a refused vm_reinit", v);
}

/* ---- a failed call changes nothing ------------------------------------------------ */

Test(api_errors, failed_register_writes_leave_the_register_unchanged)
{
	uint64_t v = 0;
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RBX, 0x1122334455667788ull), 0);
	cr_assert_eq(vm_set_register(vm, NCPUS, VM_REG_GUEST_RBX, 1), EINVAL);
	cr_assert_eq(vm_set_register(vm, -1, VM_REG_GUEST_RBX, 1), EINVAL);
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RBX, &v), 0);
	cr_assert_eq(v, 0x1122334455667788ull, "RBX = 0x%" PRIx64, v);
	/* And the other vcpu's RBX was not written in its place. */
	cr_assert_eq(vm_get_register(vm, 1, VM_REG_GUEST_RBX, &v), 0);
	cr_assert_eq(v, 0, "vcpu 1 RBX = 0x%" PRIx64, v);
}

Test(api_errors, failed_seg_desc_writes_leave_the_descriptor_unchanged)
{
	struct seg_desc set = {0x12340, 0xffff, 0x93}, bad = {0xdead0000, 0xfff, 0x9b}, got;
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_FS, &set), 0);
	cr_assert_eq(vm_set_seg_desc(vm, NCPUS, VM_REG_GUEST_FS, &bad), EINVAL);
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_RAX, &bad), EINVAL);
	cr_assert_eq(vm_get_seg_desc(vm, 0, VM_REG_GUEST_FS, &got), 0);
	cr_assert_eq(got.base, set.base);
	cr_assert_eq(got.limit, set.limit);
	cr_assert_eq(got.access, set.access);
}

Test(api_errors, failed_capability_writes_leave_the_capability_unchanged)
{
	int before = -1, after = -1;
	cr_assert_eq(vm_get_capability(vm, 0, VM_CAP_HALT_EXIT, &before), 0);
	cr_assert_eq(vm_set_capability(vm, NCPUS, VM_CAP_HALT_EXIT, !before), EINVAL);
	cr_assert_eq(vm_get_capability(vm, 0, VM_CAP_HALT_EXIT, &after), 0);
	cr_assert_eq(after, before);
}

Test(api_errors, failed_vm_malloc_leaves_guest_memory_unchanged)
{
	void *cookie = NULL;
	uint8_t *p = vm_gpa_hold(vm, RAM_GPA + 0x2000, 4, VM_PROT_WRITE, &cookie);
	cr_assert_not_null(p);
	memcpy(p, "\x11\x22\x33\x44", 4);
	vm_gpa_release(cookie);
	cr_assert_eq(vm_malloc(vm, RAM_GPA, 0x4000), EEXIST);
	p = vm_gpa_hold(vm, RAM_GPA + 0x2000, 4, VM_PROT_READ, &cookie);
	cr_assert_not_null(p);
	cr_assert_arr_eq(p, "\x11\x22\x33\x44", 4);
	vm_gpa_release(cookie);
}
