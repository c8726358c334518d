/*
 * Hostile guests must not hang the host: a guest that keeps delivering an
 * exception to itself retires no instruction, and the budget of
 * vm_set_insn_limit, which counts delivered exceptions too, still ends the
 * run with a BOGUS exit at exactly the budget.
 */
#include <criterion/criterion.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(hostile, .fini = close_guest);

Test(hostile, an_exception_loop_ends_at_the_budget_with_bogus)
{
	/* The setup before the UD2: xor ax, mov ds, two movs to the IVT,
	 * mov ax, mov ss, xor sp: 7 instructions. */
	const uint64_t budget = 100000, setup = 7;
	cr_assert_eq(guest_open(&g, "ud_loop"), 0, "%s", g.err);
	cr_assert_eq(vm_set_insn_limit(g.vm, 0, budget), 0);
	struct vm_exit vme;
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	cr_assert_eq(vme.exitcode, VM_EXITCODE_BOGUS, "exit %d", vme.exitcode);
	cr_assert_eq(vme.rip, 0x7c17, "stopped at the UD2, rip 0x%llx",
	             (unsigned long long)vme.rip);
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(g.vm, 0, &st), 0);
	cr_assert_eq(st.insns_retired, setup);
	cr_assert_eq(st.events_delivered, budget - setup);
}

/* A long REP is one instruction for the count (RDTSC, replay) however many
 * chunks it runs in; each unfinished chunk is one step of the budget. */
Test(hostile, a_long_rep_retires_once_and_counts_its_chunks_as_steps)
{
	cr_assert_eq(guest_open(&g, "rep_count"), 0, "%s", g.err);
	struct vm_exit vme;
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	cr_assert_eq(vme.exitcode, VM_EXITCODE_INOUT);
	cr_assert_eq(vme.u.inout.port, 0xf4);
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(g.vm, 0, &st), 0);
	cr_assert_eq(st.insns_retired, 7);
	cr_assert_eq(st.partial_steps, 2, "10,000 iterations: two unfinished chunks of 4,096");
	uint64_t rcx, rdi;
	cr_assert_eq(vm_get_register(g.vm, 0, VM_REG_GUEST_RCX, &rcx), 0);
	cr_assert_eq(vm_get_register(g.vm, 0, VM_REG_GUEST_RDI, &rdi), 0);
	cr_assert_eq(rcx, 0);
	cr_assert_eq(rdi, 0x8000 + 10000);
}
