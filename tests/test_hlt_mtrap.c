/*
 * HLT with and without VM_CAP_HALT_EXIT, and the MTRAP exits of
 * VM_CAP_MTRAP_EXIT, as complete exit streams.
 *
 * bhyve (10.1.0) turns on VT-x HLT exiting only for VM_CAP_HALT_EXIT
 * (vmx.c:vmx_setcap); the HLT exit is always handled in the kernel
 * (vmm.c:vm_run -> vm_handle_hlt).  Without the capability the HLT runs in
 * the guest and the vcpu sits in the HLT activity state: no exit.  The
 * monitor trap flag gives an MTRAP exit (no payload, inst_length 0) at the
 * boundaries of SDM vol. 3 25.5.2, and bhyverun resumes at its rip
 * (bhyverun.c:vmexit_mtrap returns VMEXIT_RESTART).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "event_stream.h"
#include "guest_helper.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define X_PAGING(rip_, gpa_, type_)                                                                \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_PAGING,                                            \
		        .rip = (rip_),                                                             \
		        .u.paging = {.gpa = (gpa_), .fault_type = (type_)}},                       \
		.handled = true                                                                    \
	}
#define X_PLAIN(code_, rip_)                                                                       \
	{                                                                                          \
		.vme = {.exitcode = (code_), .rip = (rip_)}, .handled = false                      \
	}
#define X_MTRAP(rip_) X_PLAIN(VM_EXITCODE_MTRAP, rip_)
#define X_BOGUS(rip_) X_PLAIN(VM_EXITCODE_BOGUS, rip_)
#define X_HLT(rip_, rflags_)                                                                       \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_HLT,                                               \
		        .inst_length = 1,                                                          \
		        .rip = (rip_),                                                             \
		        .u.hlt = {.rflags = (rflags_)}},                                           \
		.handled = true                                                                    \
	}
#define X_SUSPENDED(rip_, how_)                                                                    \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_SUSPENDED,                                         \
		        .rip = (rip_),                                                             \
		        .u.suspended = {.how = (how_)}},                                           \
		.handled = false                                                                   \
	}
#define X_OUT(rip_, bytes_, port_, eax_)                                                           \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_INOUT,                                             \
		        .inst_length = 2,                                                          \
		        .rip = (rip_),                                                             \
		        .u.inout = {.bytes = (bytes_), .port = (port_), .eax = (eax_)}},           \
		.handled = false                                                                   \
	}

static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(hlt_mtrap, .fini = close_guest);

static void open_with_caps(const char *name, int halt_exit, int mtrap)
{
	cr_assert_eq(guest_open(&g, name), 0, "guest_open(%s): %s", name, g.err);
	cr_assert_eq(vm_set_capability(g.vm, 0, VM_CAP_HALT_EXIT, halt_exit), 0);
	cr_assert_eq(vm_set_capability(g.vm, 0, VM_CAP_MTRAP_EXIT, mtrap), 0);
}

/* Run once; the returned exit must be 'code'. */
static void run_expecting(enum vm_exitcode code)
{
	struct vm_exit vme;
	char desc[256];
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	exit_describe(&vme, desc, sizeof(desc));
	cr_assert_eq(vme.exitcode, code, "returned %s", desc);
	/* MTRAP and BOGUS: bhyverun resumes at rip (VMEXIT_RESTART). */
	if (code == VM_EXITCODE_MTRAP || code == VM_EXITCODE_BOGUS)
		g.rip = vme.rip;
}

static uint64_t retired(void)
{
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(g.vm, 0, &st), 0);
	return st.insns_retired;
}

/* ---- HLT ---------------------------------------------------------------------- */

/*
 * Without VM_CAP_HALT_EXIT: no HLT exit; the vcpu stays in the HLT state.
 * bhyve's vm_run would only return when the host took the thread back
 * (vm_exit_astpending: BOGUS, rip = the guest's RIP after the HLT,
 * inst_length 0), and no halt detection runs (it is part of
 * vm_handle_hlt), so the vm is not suspended.  Running again changes
 * nothing: the same BOGUS, no instruction retired.
 */
Test(hlt_mtrap, hlt_without_halt_exit_gives_no_exit_and_stays_halted)
{
	const struct expect exp[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_BOGUS(0x7c02),
	    X_BOGUS(0x7c02),
	};
	open_with_caps("cli_hlt", 0, 0);
	run_expecting(VM_EXITCODE_BOGUS);
	cr_assert_eq(retired(), 2, "CLI and HLT");
	run_expecting(VM_EXITCODE_BOGUS);
	cr_assert_eq(retired(), 2);
	assert_exits(&g, exp, NELEM(exp));
	cr_assert_eq(vm_suspended_cpus(g.vm), 0);
}

/*
 * A vectoring entry leaves the vcpu active (SDM vol. 3 26.6.2): an
 * exception injected into the halted vcpu is delivered, with the IP after
 * the HLT in its frame, and the guest runs on.
 */
Test(hlt_mtrap, an_injected_event_wakes_a_vcpu_halted_without_halt_exit)
{
	const struct expect exp[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_PAGING(0x7c04, 0x0000, VM_PROT_WRITE),
	    X_BOGUS(0x7c12),
	    X_OUT(0x7c19, 2, 0x80, 0x7c12),
	    X_OUT(0x7c1d, 1, 0xf4, 0x7c00),
	};
	open_with_caps("hlt_wake", 0, 0);
	run_expecting(VM_EXITCODE_BOGUS);
	struct vm_exception ud = {.cpuid = 0, .vector = IDT_UD};
	cr_assert_eq(vm_inject_exception(g.vm, 0, &ud), 0);
	run_expecting(VM_EXITCODE_INOUT);
	run_expecting(VM_EXITCODE_INOUT);
	assert_exits(&g, exp, NELEM(exp));
}

/* With the capability: the HLT exit, handled by vm_handle_hlt; IF = 0 on
 * the only vcpu: SUSPENDED {HALT} after the HLT. */
Test(hlt_mtrap, hlt_with_halt_exit_is_handled_and_halt_detection_suspends)
{
	const struct expect exp[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_PAGING(0x7c04, 0x0000, VM_PROT_WRITE),
	    X_HLT(0x7c11, 0x46), /* XOR AX, AX: ZF PF */
	    X_SUSPENDED(0x7c12, VM_SUSPEND_HALT),
	};
	open_with_caps("hlt_wake", 1, 0);
	run_expecting(VM_EXITCODE_SUSPENDED);
	assert_exits(&g, exp, NELEM(exp));
}

/* ---- MTRAP -------------------------------------------------------------------- */

/*
 * mtrap.asm with VM_CAP_MTRAP_EXIT, each MTRAP resumed at its rip: one
 * MTRAP after every instruction that completes, rip = the next one; a
 * PAGING exit restarts the instruction and gives none; after each REP
 * iteration (rip still at the REP until the last); after the #UD's
 * delivery, at the handler; none for an instruction that exits itself
 * (the OUTs), the next one follows the instruction after it.
 */
Test(hlt_mtrap, mtrap_after_every_instruction_rep_iteration_and_event_delivery)
{
	const struct expect exp[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_MTRAP(0x7c02), /* xor */
	    X_MTRAP(0x7c04), /* mov ds */
	    X_MTRAP(0x7c06), /* mov es */
	    X_PAGING(0x7c06, 0x0000, VM_PROT_WRITE),
	    X_MTRAP(0x7c0c), /* mov [6 * 4] */
	    X_MTRAP(0x7c0f), /* mov di */
	    X_MTRAP(0x7c12), /* mov cx */
	    X_PAGING(0x7c12, 0x8000, VM_PROT_WRITE),
	    X_MTRAP(0x7c12), /* rep stosb: the first iteration */
	    X_MTRAP(0x7c14), /* the second, the last */
	    X_MTRAP(0x7c1c), /* ud2: #UD delivered, at the handler */
	    X_MTRAP(0x7c1d), /* push bp */
	    X_MTRAP(0x7c1f), /* mov bp, sp */
	    X_MTRAP(0x7c23), /* add */
	    X_MTRAP(0x7c24), /* pop bp */
	    X_MTRAP(0x7c16), /* iret */
	    X_OUT(0x7c16, 1, 0x80, 0),
	    X_MTRAP(0x7c1a), /* mov al, 0 */
	    X_OUT(0x7c1a, 1, 0xf4, 0),
	};
	open_with_caps("mtrap", 1, 1);
	for (size_t i = 0; i < NELEM(exp); i++) {
		if (exp[i].handled)
			continue;
		run_expecting(exp[i].vme.exitcode);
	}
	assert_exits(&g, exp, NELEM(exp));
	/* 15 instructions completed (UD2 did not); one event delivered. */
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(g.vm, 0, &st), 0);
	cr_assert_eq(st.insns_retired, 15);
	cr_assert_eq(st.events_delivered, 1);
	uint16_t stored = 0;
	cr_assert_eq(guest_mem_read(g.vm, 0x8000, &stored, 2), 0);
	cr_assert_eq(stored, 0, "REP STOSB of AL = 0");
}

/*
 * MTRAP and HLT.  With HLT exiting the HLT exits (handled), so no MTRAP
 * follows it.  Without it the HLT completes in the guest and the MTRAP
 * exit comes from the HLT state, rip after the HLT (SDM vol. 3 25.5.2);
 * the vcpu is still halted afterwards.
 */
Test(hlt_mtrap, mtrap_and_hlt_with_and_without_halt_exit)
{
	const struct expect with[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_MTRAP(0x7c01), /* cli */
	    X_HLT(0x7c01, 0x2),
	    X_SUSPENDED(0x7c02, VM_SUSPEND_HALT),
	};
	open_with_caps("cli_hlt", 1, 1);
	run_expecting(VM_EXITCODE_MTRAP);
	run_expecting(VM_EXITCODE_SUSPENDED);
	assert_exits(&g, with, NELEM(with));
	guest_close(&g);

	const struct expect without[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE), X_MTRAP(0x7c01), /* cli */
	    X_MTRAP(0x7c02), /* hlt, from the HLT state */
	    X_BOGUS(0x7c02), /* still halted */
	};
	open_with_caps("cli_hlt", 0, 1);
	run_expecting(VM_EXITCODE_MTRAP);
	run_expecting(VM_EXITCODE_MTRAP);
	run_expecting(VM_EXITCODE_BOGUS);
	assert_exits(&g, without, NELEM(without));
}
