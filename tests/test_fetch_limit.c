/*
 * Instruction fetch against the CS limit, and IP wrapping at the width of
 * 16-bit code (SDM vol. 3 5.3: a fetch beyond the CS limit is #GP(0), a
 * fault at the instruction; IP is 16 bits wide in 16-bit code, so the
 * instruction after one that ends at FFFFH is at IP 0).  Machines from
 * prot_machine.h.
 */
#include "prot_machine.h"

TestSuite(fetch_limit, .fini = pm_teardown);

static struct vm_exit run_at(uint64_t rip)
{
	struct vm_run run = {.cpuid = 0, .rip = rip};
	cr_assert_eq(vm_set_insn_limit(pm.vm, 0, 1000), 0);
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	return run.vm_exit;
}

/* Real mode, CS = 1000H: NOP NOP at IP FFFEH, then OUT 80H at IP 0 (linear
 * 10000H): the second NOP wraps IP to 0. */
Test(fetch_limit, real_mode_ip_wraps_to_zero)
{
	pm_machine(PM_REAL, 0);
	static const uint8_t nops[] = {0x90, 0x90}, out[] = {0xe6, 0x80};
	pm_put(0x1fffe, nops, 2);
	pm_put(0x10000, out, 2);
	pm_seg(VM_REG_GUEST_CS, 0x1000, 0x10000, 0xffff, pm.cs.access);
	pm_set_reg(VM_REG_GUEST_RSP, 0x8000);
	struct vm_exit e = run_at(0xfffe);
	cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT, "exit %d at %#" PRIx64, e.exitcode, e.rip);
	cr_expect_eq(e.u.inout.port, 0x80);
	cr_expect_eq(e.rip, 0, "OUT at IP %#" PRIx64, e.rip);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), 0x1000);
}

/* Real mode: MOV AX, imm16 at IP FFFEH reaches IP 10000H: #GP, through the
 * IVT (no error code), IP pushed at the instruction. */
Test(fetch_limit, real_mode_instruction_across_ffff_is_gp)
{
	pm_machine(PM_REAL, 0);
	static const uint8_t mov[] = {0x90, 0xb8, 0x34};
	pm_put(0x1fffd, mov, 3);
	pm_seg(VM_REG_GUEST_CS, 0x1000, 0x10000, 0xffff, pm.cs.access);
	pm_set_reg(VM_REG_GUEST_RSP, 0x8000);
	struct vm_exit e = run_at(0xfffd);
	cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT, "exit %d at %#" PRIx64, e.exitcode, e.rip);
	cr_expect_eq(e.u.inout.port, PORT_EXC + IDT_GP, "port %#x", e.u.inout.port);
	uint16_t frame[3];
	pm_get(pm_get_seg(VM_REG_GUEST_SS).base + pm_reg(VM_REG_GUEST_RSP), frame, sizeof(frame));
	cr_expect_eq(frame[0], 0xfffe, "pushed IP %#x", frame[0]);
	cr_expect_eq(frame[1], 0x1000, "pushed CS %#x", frame[1]);
}

/* 32-bit protected mode with a CS limit of 1005H: NOPs run up to 1005H,
 * the fetch at 1006H is #GP(0) with EIP 1006H. */
Test(fetch_limit, prot32_fetch_past_the_limit_is_gp0)
{
	pm_machine(PM_PROT32, 0);
	pm_seg(VM_REG_GUEST_CS, S_CODE32, 0, 0x1005, 0x409b);
	pm.cs = pm_get_seg(VM_REG_GUEST_CS);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE + 6, 0);
}

/* An instruction that starts inside the limit and ends past it faults at
 * its first byte: MOV EAX, imm32 at 1004H with the limit at 1006H. */
Test(fetch_limit, prot32_instruction_straddling_the_limit_is_gp0)
{
	pm_machine(PM_PROT32, 0);
	pm_seg(VM_REG_GUEST_CS, S_CODE32, 0, 0x1006, 0x409b);
	pm.cs = pm_get_seg(VM_REG_GUEST_CS);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0x90, 0x90, 0x90, 0x90, 0xb8, 0x11, 0x22, 0x33, 0x44);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE + 4, 0);
	cr_expect_eq(o.r[RAX], 0, "the MOV did not run");
}

/* The same code with a limit that covers it runs to its end. */
Test(fetch_limit, prot32_code_inside_the_limit_runs)
{
	pm_machine(PM_PROT32, 0);
	pm_seg(VM_REG_GUEST_CS, S_CODE32, 0, 0x100a, 0x409b);
	pm.cs = pm_get_seg(VM_REG_GUEST_CS);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0x90, 0x90, 0x90, 0x90, 0xb8, 0x11, 0x22, 0x33, 0x44);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0x44332211);
}
