/*
 * The intinfo calls against BHYVE-EXITS.md section 9: vm_exit_intinfo's
 * checks, vm_get_intinfo's report, vm_entry_intinfo's nested_fault at the
 * next vm_run (SDM vol. 3 table 6-5 as bhyve applies it: #DF, triple
 * fault, or the second event alone), and the exit's intinfo for an event
 * through an IDT task gate (bhyve's vmx_run stores the IDT-vectoring
 * information of the TASK_SWITCH exit; bhyverun's task switch clears it,
 * or a fault it injects combines with it).
 */
#include <errno.h>

#include "prot_machine.h"

TestSuite(intinfo, .fini = pm_teardown);

#define V      UINT64_C(0x80000000)
#define HWINT  UINT64_C(0x000)
#define NMI    UINT64_C(0x200)
#define HWEXC  UINT64_C(0x300)
#define SWINT  UINT64_C(0x400)
#define PRIVSW UINT64_C(0x500)
#define SWEXC  UINT64_C(0x600)
#define ERRV   UINT64_C(0x800)

static struct vm_exit run_at(uint64_t rip)
{
	struct vm_run run = {.cpuid = 0, .rip = rip};
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	return run.vm_exit;
}

static void intinfo(uint64_t *i1, uint64_t *i2)
{
	cr_assert_eq(vm_get_intinfo(pm.vm, 0, i1, i2), 0);
}

Test(intinfo, exit_intinfo_checks)
{
	pm_machine(PM_PROT32, 0);
	uint64_t i1, i2;
	cr_expect_eq(vm_exit_intinfo(pm.vm, 0, V | NMI | 3), EINVAL, "NMI type, vector 3");
	cr_expect_eq(vm_exit_intinfo(pm.vm, 0, V | HWEXC | 32), EINVAL, "exception vector 32");
	cr_expect_eq(vm_exit_intinfo(pm.vm, 0, V | HWEXC | 13 | 0x1000), EINVAL, "reserved bit 12");
	cr_expect_eq(vm_exit_intinfo(pm.vm, 1, V | HWEXC | 13), EINVAL, "no vcpu 1");
	intinfo(&i1, &i2);
	cr_expect_eq(i1, 0);
	cr_expect_eq(vm_exit_intinfo(pm.vm, 0, V | NMI | 2), 0);
	cr_expect_eq(vm_exit_intinfo(pm.vm, 0, V | HWINT | 0x40), 0, "interrupt vector 0x40");
	intinfo(&i1, &i2);
	cr_expect_eq(i1, V | HWINT | 0x40);
	/* Without the valid bit the info is stored as 0. */
	cr_expect_eq(vm_exit_intinfo(pm.vm, 0, HWEXC | 13 | (UINT64_C(5) << 32)), 0);
	intinfo(&i1, &i2);
	cr_expect_eq(i1, 0);
	/* vm_get_intinfo reports the pending exception without consuming it. */
	struct vm_exception gp = {
	    .cpuid = 0, .vector = IDT_GP, .error_code = 0x18, .error_code_valid = 1};
	cr_assert_eq(vm_inject_exception(pm.vm, 0, &gp), 0);
	intinfo(&i1, &i2);
	intinfo(&i1, &i2);
	cr_expect_eq(i2, V | HWEXC | ERRV | IDT_GP | UINT64_C(0x18) << 32, "info2 %#" PRIx64, i2);
}

/*
 * exitintinfo = info1, then vm_inject_exception(info2), then vm_run: what
 * the guest's handler receives.  Code at PM_CODE is a NOP; handlers report
 * with OUT 0xA0 + vector.
 */
static struct vm_exit nested(uint64_t info1, int vector2, int err2)
{
	pm_teardown();
	pm_machine(PM_PROT32, 0);
	static const uint8_t nop[] = {0x90, 0xe6, 0x80};
	pm_put(PM_CODE, nop, sizeof(nop));
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	cr_assert_eq(vm_exit_intinfo(pm.vm, 0, info1), 0);
	if (vector2 >= 0) {
		struct vm_exception e = {.cpuid = 0,
		                         .vector = vector2,
		                         .error_code = (uint32_t)err2,
		                         .error_code_valid = err2 >= 0};
		cr_assert_eq(vm_inject_exception(pm.vm, 0, &e), 0);
	}
	struct vm_exit x = run_at(PM_CODE);
	uint64_t i1, i2;
	intinfo(&i1, &i2);
	cr_expect_eq(i1, 0, "exitintinfo consumed");
	cr_expect_eq(i2, 0, "pending exception consumed");
	return x;
}

/* The handler of 'vector' ran at CPL 0 from CPL 0, with 'err' (-1: none)
 * and return address eip on top of its stack. */
static void expect_handler_at(const struct vm_exit *x, int vector, int64_t err, uint32_t eip)
{
	cr_assert_eq(x->exitcode, VM_EXITCODE_INOUT, "exit %d", x->exitcode);
	cr_expect_eq(x->u.inout.port, PORT_EXC + vector, "port %#x, handler of %d expected",
	             x->u.inout.port, vector);
	uint64_t sp = pm_reg(VM_REG_GUEST_RSP);
	uint32_t w[4];
	pm_get(sp, w, sizeof(w));
	unsigned k = 0;
	if (err >= 0)
		cr_expect_eq(w[k++], (uint32_t)err, "error code %#x", w[0]);
	cr_expect_eq(w[k], eip, "EIP %#x", w[k]);
	cr_expect_eq(sp + (err >= 0 ? 16 : 12), PM_SP);
}

static void expect_handler(const struct vm_exit *x, int vector, int64_t err)
{
	expect_handler_at(x, vector, err, (uint32_t)PM_CODE);
}

Test(intinfo, page_fault_then_gp_is_double_fault)
{
	struct vm_exit x = nested(V | HWEXC | ERRV | IDT_PF | UINT64_C(2) << 32, IDT_GP, 0);
	expect_handler(&x, IDT_DF, 0);
}

Test(intinfo, page_fault_then_page_fault_is_double_fault)
{
	struct vm_exit x = nested(V | HWEXC | ERRV | IDT_PF, IDT_PF, 2);
	expect_handler(&x, IDT_DF, 0);
}

Test(intinfo, contributory_then_contributory_is_double_fault)
{
	struct vm_exit x = nested(V | HWEXC | ERRV | IDT_TS | UINT64_C(0x48) << 32, IDT_SS, 0);
	expect_handler(&x, IDT_DF, 0);
}

/* Table 6-5's serial cases: the second event alone, the first dropped. */
Test(intinfo, contributory_then_page_fault_delivers_the_page_fault)
{
	struct vm_exit x = nested(V | HWEXC | ERRV | IDT_GP, IDT_PF, 4);
	expect_handler(&x, IDT_PF, 4);
}

Test(intinfo, benign_first_delivers_the_second)
{
	struct vm_exit x = nested(V | HWEXC | IDT_UD, IDT_GP, 0);
	expect_handler(&x, IDT_GP, 0);
	x = nested(V | HWINT | 0x20, IDT_GP, 0x10);
	expect_handler(&x, IDT_GP, 0x10);
	x = nested(V | NMI | IDT_NMI, IDT_NP, 0x20);
	expect_handler(&x, IDT_NP, 0x20);
}

Test(intinfo, exit_intinfo_alone_is_delivered)
{
	struct vm_exit x = nested(V | HWEXC | ERRV | IDT_GP | UINT64_C(0x28) << 32, -1, -1);
	expect_handler(&x, IDT_GP, 0x28);
	x = nested(V | NMI | IDT_NMI, -1, -1);
	expect_handler(&x, IDT_NMI, -1);
}

/* #DF in delivery plus any exception: vm_suspend(TRIPLEFAULT), nothing
 * injected, SUSPENDED {TRIPLEFAULT} at the entry's rip. */
Test(intinfo, double_fault_then_exception_is_triple_fault)
{
	pm_machine(PM_PROT32, 0);
	cr_assert_eq(vm_exit_intinfo(pm.vm, 0, V | HWEXC | ERRV | IDT_DF), 0);
	struct vm_exception ud = {.cpuid = 0, .vector = IDT_UD};
	cr_assert_eq(vm_inject_exception(pm.vm, 0, &ud), 0);
	struct vm_exit x = run_at(PM_CODE);
	cr_expect_eq(x.exitcode, VM_EXITCODE_SUSPENDED);
	cr_expect_eq(x.u.suspended.how, VM_SUSPEND_TRIPLEFAULT);
	cr_expect_eq(x.rip, PM_CODE);
	cr_expect_eq(x.inst_length, 0);
}

/* ---- IDT task gates ------------------------------------------------------ */

#define S_TASK S_FREE

/* Gate 'vec' as a task gate (type 5, DPL 3) to an available 32-bit TSS. */
static void task_gate(unsigned vec)
{
	pm_gdt(S_TASK, pm_desc(0x7000, 0x67, 0x89, 0));
	pm_put64(PM_IDT + 8 * vec, (uint64_t)S_TASK << 16 | UINT64_C(0xe5) << 40);
}

static struct vm_exit task_run(const uint8_t *code, unsigned n, uint16_t ax)
{
	pm_put(PM_CODE, code, n);
	pm_set_reg(VM_REG_GUEST_RAX, ax);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	struct vm_exit x = run_at(PM_CODE);
	cr_assert_eq(x.exitcode, VM_EXITCODE_TASK_SWITCH, "exit %d", x.exitcode);
	cr_expect_eq(x.u.task_switch.tsssel, S_TASK);
	cr_expect_eq(x.u.task_switch.reason, TSR_IDT_GATE);
	cr_expect_eq(x.rip, PM_CODE);
	return x;
}

/* #GP(0x100) through a task gate: ext 1, the error code, inst_length 0,
 * and exitintinfo = the #GP with its error code.  A #NP injected for the
 * switch (as the runner's checks do) combines with it into #DF. */
Test(intinfo, task_gate_exception_is_in_exitintinfo_and_combines)
{
	pm_machine(PM_PROT32, 0);
	task_gate(IDT_GP);
	static const uint8_t mov_ds[] = {0x8e, 0xd8};
	struct vm_exit x = task_run(mov_ds, 2, 0x100);
	cr_expect_eq(x.inst_length, 0);
	cr_expect_eq(x.u.task_switch.ext, 1);
	cr_expect_eq(x.u.task_switch.errcode_valid, 1);
	cr_expect_eq(x.u.task_switch.errcode, 0x100);
	uint64_t i1, i2;
	intinfo(&i1, &i2);
	cr_expect_eq(i1, V | HWEXC | ERRV | IDT_GP | UINT64_C(0x100) << 32, "info1 %#" PRIx64, i1);
	cr_expect_eq(i2, 0);
	/* The #DF's gate is an interrupt gate: its handler reports. */
	vm_inject_fault(pm.vm, 0, IDT_NP, 1, S_TASK);
	x = run_at(PM_CODE);
	cr_assert_eq(x.exitcode, VM_EXITCODE_INOUT);
	cr_expect_eq(x.u.inout.port, PORT_EXC + IDT_DF);
	uint32_t w[4];
	pm_get(pm_reg(VM_REG_GUEST_RSP), w, sizeof(w));
	cr_expect_eq(w[0], 0, "#DF error code");
	cr_expect_eq(w[1], (uint32_t)PM_CODE);
}

/* Cleared by the task switch (vm_exit_intinfo(0), as bhyverun does), the
 * injected fault is delivered alone. */
Test(intinfo, task_gate_event_cleared_then_fault_alone)
{
	pm_machine(PM_PROT32, 0);
	task_gate(IDT_GP);
	static const uint8_t mov_ds[] = {0x8e, 0xd8};
	task_run(mov_ds, 2, 0x100);
	cr_assert_eq(vm_exit_intinfo(pm.vm, 0, 0), 0);
	vm_inject_fault(pm.vm, 0, IDT_NP, 1, S_TASK);
	struct vm_exit x = run_at(PM_CODE);
	cr_assert_eq(x.exitcode, VM_EXITCODE_INOUT);
	cr_expect_eq(x.u.inout.port, PORT_EXC + IDT_NP);
}

/* INT n and INT3 through a task gate: ext 0, the instruction's length, and
 * exitintinfo a software interrupt (type 4) or software exception (type
 * 6), as VT-x reports them (SDM vol. 3 24.9.3). */
Test(intinfo, task_gate_software_events)
{
	pm_machine(PM_PROT32, 0);
	task_gate(30);
	static const uint8_t int30[] = {0xcd, 0x1e};
	struct vm_exit x = task_run(int30, 2, 0);
	cr_expect_eq(x.inst_length, 2);
	cr_expect_eq(x.u.task_switch.ext, 0);
	cr_expect_eq(x.u.task_switch.errcode_valid, 0);
	uint64_t i1, i2;
	intinfo(&i1, &i2);
	cr_expect_eq(i1, V | SWINT | 30, "info1 %#" PRIx64, i1);
	pm_teardown();
	pm_machine(PM_PROT32, 0);
	task_gate(IDT_BP);
	static const uint8_t int3[] = {0xcc};
	x = task_run(int3, 1, 0);
	cr_expect_eq(x.inst_length, 1);
	intinfo(&i1, &i2);
	cr_expect_eq(i1, V | SWEXC | IDT_BP, "info1 %#" PRIx64, i1);
}

/* INT1 (ICEBP) through a task gate: a privileged software exception
 * (type 5), so ext 0 and its length, as for INT n (BHYVE-EXITS.md
 * section 6). */
Test(intinfo, task_gate_int1_is_a_privileged_software_exception)
{
	pm_machine(PM_PROT32, 0);
	task_gate(IDT_DB);
	static const uint8_t int1[] = {0xf1};
	struct vm_exit x = task_run(int1, 1, 0);
	cr_expect_eq(x.inst_length, 1);
	cr_expect_eq(x.u.task_switch.ext, 0);
	uint64_t i1, i2;
	intinfo(&i1, &i2);
	cr_expect_eq(i1, V | PRIVSW | IDT_DB, "info1 %#" PRIx64, i1);
}

/* Gate 'vec' back to the machine's interrupt gate (pm_install_idt). */
static void interrupt_gate(unsigned vec)
{
	uint64_t h = PM_HANDLERS + 2 * vec;
	pm_put64(PM_IDT + 8 * vec, (h & 0xffff) | (uint64_t)S_CODE32 << 16 |
	                               (uint64_t)0x8e00 << 32 | (h >> 16) << 48);
}

/*
 * A software event left in exitintinfo is injected as one: VT-x returns
 * after the instruction, by the VM-entry instruction length bhyve took
 * from the exit (SDM vol. 3 26.6.1.1).  INT 30 through a task gate exits;
 * with the gate made an interrupt gate again and the intinfo kept, the
 * next run delivers vector 30 returning to PM_CODE + 2, without running
 * the INT again.
 */
Test(intinfo, an_injected_software_interrupt_returns_after_the_instruction)
{
	pm_machine(PM_PROT32, 0);
	task_gate(30);
	static const uint8_t int30[] = {0xcd, 0x1e};
	task_run(int30, 2, 0);
	interrupt_gate(30);
	struct vm_exit x = run_at(PM_CODE);
	expect_handler_at(&x, 30, -1, (uint32_t)PM_CODE + 2);
	struct vm_vcpu_stats st;
	vm_get_stats(pm.vm, 0, &st);
	cr_expect_eq(st.events_delivered, 1, "events %" PRIu64, st.events_delivered);
}

/* At CPL 3 the gate's DPL is checked for a software interrupt or software
 * exception injected, as for INT n and INT3: #GP(vector * 8 + 2), EXT 0.
 * #BP and #OF injected as hardware exceptions are retyped as software
 * exceptions (bhyve's vmx_inject_interrupts).  A hardware exception of
 * the same vector passes the DPL-0 gate. */
static void expect_gp_at_cpl3(uint64_t info, struct vm_exception *e, uint32_t err)
{
	pm_machine(PM_PROT32, 3);
	static const uint8_t nop[] = {0x90, 0xe6, 0x80};
	pm_put(PM_CODE, nop, sizeof(nop));
	if (info)
		cr_assert_eq(vm_exit_intinfo(pm.vm, 0, info), 0);
	if (e)
		cr_assert_eq(vm_inject_exception(pm.vm, 0, e), 0);
	struct vm_exit x = run_at(PM_CODE);
	cr_assert_eq(x.exitcode, VM_EXITCODE_INOUT, "exit %d", x.exitcode);
	cr_expect_eq(x.u.inout.port, PORT_EXC + IDT_GP, "port %#x", x.u.inout.port);
	uint32_t w[2];
	pm_get(pm_reg(VM_REG_GUEST_RSP), w, sizeof(w));
	cr_expect_eq(w[0], err, "error code %#x", w[0]);
	cr_expect_eq(w[1], (uint32_t)PM_CODE, "EIP %#x", w[1]);
	pm_teardown();
}

Test(intinfo, injected_software_events_check_the_gate_dpl)
{
	expect_gp_at_cpl3(V | SWINT | 30, NULL, 30 * 8 + 2);
	expect_gp_at_cpl3(V | SWEXC | IDT_BP, NULL, IDT_BP * 8 + 2);
	struct vm_exception bp = {.cpuid = 0, .vector = IDT_BP};
	expect_gp_at_cpl3(0, &bp, IDT_BP * 8 + 2);
	struct vm_exception of = {.cpuid = 0, .vector = IDT_OF};
	expect_gp_at_cpl3(0, &of, IDT_OF * 8 + 2);
	/* The hardware exception: its handler runs. */
	pm_machine(PM_PROT32, 3);
	static const uint8_t nop[] = {0x90, 0xe6, 0x80};
	pm_put(PM_CODE, nop, sizeof(nop));
	cr_assert_eq(vm_exit_intinfo(pm.vm, 0, V | HWEXC | 30), 0);
	struct vm_exit x = run_at(PM_CODE);
	cr_assert_eq(x.exitcode, VM_EXITCODE_INOUT, "exit %d", x.exitcode);
	cr_expect_eq(x.u.inout.port, PORT_EXC + 30, "port %#x", x.u.inout.port);
}
