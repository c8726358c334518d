/*
 * NMI delivery (vm_inject_nmi): vector 2 at an instruction boundary,
 * whatever RFLAGS.IF; held by blocking by MOV SS (SDM vol. 3 6.8.3) and,
 * as bhyve's vmx_inject_interrupts does, by STI; after an exception that
 * is being injected; and NMIs blocked from the NMI's delivery until the
 * next IRET (SDM vol. 3 6.7.1).  Machines from prot_machine.h; every exit
 * of the stream is asserted.
 */
#include <errno.h>

#include "prot_machine.h"

TestSuite(nmi, .fini = pm_teardown);

static struct vm_exit run_at(uint64_t rip)
{
	struct vm_run run = {.cpuid = 0, .rip = rip};
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	return run.vm_exit;
}

static void expect_out(const struct vm_exit *e, uint64_t rip, uint16_t port)
{
	cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "exit %d at %#" PRIx64, e->exitcode, e->rip);
	cr_expect_eq(e->u.inout.port, port, "port %#x, expected %#x", e->u.inout.port, port);
	cr_expect_eq(e->rip, rip, "rip %#" PRIx64 ", expected %#" PRIx64, e->rip, rip);
	cr_expect_eq(e->inst_length, 2);
}

static void expect_mtrap(const struct vm_exit *e, uint64_t rip)
{
	cr_assert_eq(e->exitcode, VM_EXITCODE_MTRAP, "exit %d at %#" PRIx64, e->exitcode, e->rip);
	cr_expect_eq(e->rip, rip, "MTRAP at %#" PRIx64 ", expected %#" PRIx64, e->rip, rip);
}

/* The 32-bit frame at the handler's ESP: EIP CS EFLAGS. */
static void expect_frame32(uint64_t eip, uint64_t eflags)
{
	uint64_t sp = pm_reg(VM_REG_GUEST_RSP);
	uint32_t got[3], want[3] = {(uint32_t)eip, S_CODE32, (uint32_t)eflags};
	pm_get(sp, got, sizeof(got));
	cr_expect_arr_eq(got, want, sizeof(want), "frame %#x %#x %#x", got[0], got[1], got[2]);
	cr_expect_eq(sp + 12, PM_SP);
}

static void code(const uint8_t *b, size_t n)
{
	pm_put(PM_CODE, b, n);
}

#define CODE(...)                                                                                  \
	do {                                                                                       \
		static const uint8_t c_[] = {__VA_ARGS__};                                         \
		code(c_, sizeof(c_));                                                              \
	} while (0)

#define H_NMI (PM_HANDLERS + 2 * IDT_NMI)

/* IF = 0 does not hold an NMI: it comes before the first instruction; the
 * frame has IF = 0 and RF clear (an interrupt pushes RF as it is); the
 * handler runs with NMIs pending no more. */
Test(nmi, delivered_at_once_with_if_clear_prot32)
{
	pm_machine(PM_PROT32, 0);
	CODE(0x90, 0xe6, 0x80);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	cr_expect_eq(vm_nmi_pending(pm.vm, 0), 1);
	struct vm_exit e = run_at(PM_CODE);
	expect_out(&e, H_NMI, PORT_EXC + IDT_NMI);
	expect_frame32(PM_CODE, 2);
	cr_expect_eq(vm_nmi_pending(pm.vm, 0), 0);
}

/* Real mode: the IVT frame FLAGS CS IP. */
Test(nmi, real_mode_ivt_frame)
{
	pm_machine(PM_REAL, 0);
	CODE(0x90, 0xe6, 0x80);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 0x202);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	struct vm_exit e = run_at(PM_CODE);
	expect_out(&e, H_NMI, PORT_EXC + IDT_NMI);
	uint16_t got[3], want[3] = {(uint16_t)PM_CODE, 0, 0x202};
	pm_get(PM_SP - 6, got, 6);
	cr_expect_arr_eq(got, want, 6, "frame %#x %#x %#x", got[0], got[1], got[2]);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RSP), PM_SP - 6);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RFLAGS) & 0x200, 0, "IF cleared by the IVT delivery");
}

/*
 * MOV SS blocks the NMI for one instruction (SDM vol. 3 6.8.3): under the
 * monitor trap flag the stream is MTRAP after MOV SS (the shadow kept:
 * the run resumes at the instruction in it), NMI injected, MTRAP after
 * the NOP in the shadow, MTRAP at the NMI handler, and the frame's EIP is
 * past the NOP.  Without the MOV SS (a NOP there) the NMI comes at once.
 */
static void mov_ss_then_nmi(bool mov_ss)
{
	pm_machine(PM_PROT32, 0);
	if (mov_ss)
		CODE(0x8e, 0xd0, 0x90, 0xe6, 0x80); /* MOV SS, AX; NOP */
	else
		CODE(0x66, 0x90, 0x90, 0xe6, 0x80); /* 66 NOP; NOP */
	pm_set_reg(VM_REG_GUEST_RAX, S_DATA32);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	cr_assert_eq(vm_set_capability(pm.vm, 0, VM_CAP_MTRAP_EXIT, 1), 0);
	struct vm_exit e = run_at(PM_CODE);
	expect_mtrap(&e, PM_CODE + 2);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	e = run_at(e.rip);
	if (mov_ss) {
		expect_mtrap(&e, PM_CODE + 3);
		cr_expect_eq(vm_nmi_pending(pm.vm, 0), 1, "held by MOV SS");
		e = run_at(e.rip);
	}
	expect_mtrap(&e, H_NMI);
	cr_assert_eq(vm_set_capability(pm.vm, 0, VM_CAP_MTRAP_EXIT, 0), 0);
	e = run_at(e.rip);
	expect_out(&e, H_NMI, PORT_EXC + IDT_NMI);
	expect_frame32(mov_ss ? PM_CODE + 3 : PM_CODE + 2, 2);
}

Test(nmi, held_by_mov_ss_for_one_instruction)
{
	mov_ss_then_nmi(true);
}

Test(nmi, not_held_without_mov_ss)
{
	mov_ss_then_nmi(false);
}

/*
 * NMI blocking until IRET: the handler at 0x2800 reports itself (OUT 0x90),
 * runs a NOP and OUT 0x91, then IRETs.  A second NMI injected inside waits
 * through the NOP and the OUT, and comes right after the IRET, before the
 * interrupted code's next instruction (its frame's EIP is that
 * instruction).
 */
Test(nmi, blocked_until_iret)
{
	pm_machine(PM_PROT32, 0);
	const uint64_t h = 0x2800;
	pm_put64(PM_IDT + 8 * IDT_NMI,
	         (h & 0xffff) | (uint64_t)S_CODE32 << 16 | (uint64_t)0x8e00 << 32);
	static const uint8_t handler[] = {0xe6, 0x90, 0x90, 0xe6, 0x91, 0xcf};
	pm_put(h, handler, sizeof(handler));
	CODE(0x90, 0x90, 0xe6, 0x80);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 0x202);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	struct vm_exit e = run_at(PM_CODE);
	expect_out(&e, h, 0x90);
	expect_frame32(PM_CODE, 0x202);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	e = run_at(h + 2);
	expect_out(&e, h + 3, 0x91); /* blocked: the handler went on */
	cr_expect_eq(vm_nmi_pending(pm.vm, 0), 1);
	e = run_at(h + 5);
	expect_out(&e, h, 0x90); /* after the IRET */
	expect_frame32(PM_CODE, 0x202);
	cr_expect_eq(vm_nmi_pending(pm.vm, 0), 0);
	/* With no NMI pending the handler's IRET returns to the code. */
	e = run_at(h + 2);
	expect_out(&e, h + 3, 0x91);
	e = run_at(h + 5);
	expect_out(&e, PM_CODE + 2, PORT_DONE);
}

/* An injected exception goes first (bhyve's vmx_inject_interrupts); the NMI
 * comes at the next boundary, the #UD handler's first instruction: its
 * frame's EIP is that handler, and the #UD frame lies above it. */
Test(nmi, after_an_injected_exception)
{
	pm_machine(PM_PROT32, 0);
	CODE(0x90, 0xe6, 0x80);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	struct vm_exception ud = {.cpuid = 0, .vector = IDT_UD};
	cr_assert_eq(vm_inject_exception(pm.vm, 0, &ud), 0);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	struct vm_exit e = run_at(PM_CODE);
	expect_out(&e, H_NMI, PORT_EXC + IDT_NMI);
	uint32_t got[6], want[6] = {(uint32_t)(PM_HANDLERS + 2 * IDT_UD),
	                            S_CODE32,
	                            2,
	                            (uint32_t)PM_CODE,
	                            S_CODE32,
	                            2 | 0x10000};
	pm_get(pm_reg(VM_REG_GUEST_RSP), got, sizeof(got));
	cr_expect_arr_eq(got, want, sizeof(want));
}

/* A vcpu halted in the guest (HLT without VM_CAP_HALT_EXIT, IF = 0): vm_run
 * gives BOGUS until an NMI, which wakes it; the frame's EIP is after the
 * HLT (SDM vol. 2 HLT). */
Test(nmi, wakes_a_halted_vcpu)
{
	pm_machine(PM_PROT32, 0);
	CODE(0xf4, 0xe6, 0x80);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	struct vm_exit e = run_at(PM_CODE);
	cr_assert_eq(e.exitcode, VM_EXITCODE_BOGUS, "exit %d", e.exitcode);
	cr_expect_eq(e.rip, PM_CODE + 1);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	e = run_at(e.rip);
	expect_out(&e, H_NMI, PORT_EXC + IDT_NMI);
	expect_frame32(PM_CODE + 1, 2);
}

/* VM_REG_SOFTVMM_NMI_BLOCKED: 1 from the NMI's delivery until its IRET.
 * An NMI handler that halts with a second NMI pending stays halted (the
 * processor holds the NMI while NMIs are blocked, SDM vol. 3 6.7.1):
 * BOGUS again, the NMI still pending.  Clearing the register, as a
 * snapshot restore might, lets the NMI wake the vcpu; its frame's EIP is
 * after the HLT. */
Test(nmi, halted_handler_stays_halted_while_nmis_are_blocked)
{
	pm_machine(PM_PROT32, 0);
	const uint64_t h = 0x2800;
	pm_put64(PM_IDT + 8 * IDT_NMI,
	         (h & 0xffff) | (uint64_t)S_CODE32 << 16 | (uint64_t)0x8e00 << 32);
	static const uint8_t handler[] = {0xe6, 0x90, 0xf4, 0xe6, 0x91, 0xcf};
	pm_put(h, handler, sizeof(handler));
	CODE(0x90, 0xe6, 0x80);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	cr_expect_eq(pm_reg(VM_REG_SOFTVMM_NMI_BLOCKED), 0);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	struct vm_exit e = run_at(PM_CODE);
	expect_out(&e, h, 0x90);
	cr_expect_eq(pm_reg(VM_REG_SOFTVMM_NMI_BLOCKED), 1);
	e = run_at(h + 2);
	cr_assert_eq(e.exitcode, VM_EXITCODE_BOGUS, "exit %d", e.exitcode);
	cr_expect_eq(e.rip, h + 3);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	e = run_at(h + 3);
	cr_assert_eq(e.exitcode, VM_EXITCODE_BOGUS, "blocked NMI woke the vcpu: exit %d",
	             e.exitcode);
	cr_expect_eq(e.rip, h + 3);
	cr_expect_eq(vm_nmi_pending(pm.vm, 0), 1);
	cr_expect_eq(vm_set_register(pm.vm, 0, VM_REG_SOFTVMM_NMI_BLOCKED, 2), EINVAL);
	pm_set_reg(VM_REG_SOFTVMM_NMI_BLOCKED, 0);
	e = run_at(h + 3);
	expect_out(&e, h, 0x90);
	cr_expect_eq(vm_nmi_pending(pm.vm, 0), 0);
	uint32_t got[3];
	pm_get(pm_reg(VM_REG_GUEST_RSP), got, sizeof(got));
	cr_expect_eq(got[0], h + 3, "frame EIP %#x", got[0]);
}

/* The register follows IRET: 0 once the handler returns. */
Test(nmi, blocked_register_clears_at_iret)
{
	pm_machine(PM_PROT32, 0);
	const uint64_t h = 0x2800;
	pm_put64(PM_IDT + 8 * IDT_NMI,
	         (h & 0xffff) | (uint64_t)S_CODE32 << 16 | (uint64_t)0x8e00 << 32);
	static const uint8_t handler[] = {0xcf};
	pm_put(h, handler, sizeof(handler));
	CODE(0x90, 0xe6, 0x80);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	pm_set_reg(VM_REG_GUEST_RSP, PM_SP);
	cr_assert_eq(vm_inject_nmi(pm.vm, 0), 0);
	struct vm_exit e = run_at(PM_CODE);
	expect_out(&e, PM_CODE + 1, PORT_DONE);
	cr_expect_eq(pm_reg(VM_REG_SOFTVMM_NMI_BLOCKED), 0);
}
