/*
 * The TSS limit check on the inner stack slot of a privilege change (SDM
 * vol. 2 CALL and INT n pseudocode): a 32-bit TSS needs
 * TSSstackAddress + 7 within its limit (ESP and the doubleword holding
 * SS), a 16-bit TSS TSSstackAddress + 4 (one byte past SS).  A #UD at
 * CPL 3 goes to a ring-0 handler through the TSS's ring-0 slot: with the
 * limit one byte short the slot read faults #TS, whose own delivery
 * faults again, #DF, and the run ends in a triple fault; at the exact
 * limit the handler runs.  Machines from prot_machine.h.
 */
#include "prot_machine.h"

TestSuite(tss_stack_limit, .fini = pm_teardown);

/* UD2 at CPL 3 under a TSS of 'access' type and 'limit' at PM_TSS. */
static struct vm_exit ud2_under_tss(uint32_t access, uint32_t limit)
{
	pm_machine(PM_PROT32, 3);
	pm_seg(VM_REG_GUEST_TR, S_TSS, PM_TSS, limit, access);
	static const uint8_t ud2[] = {0x0f, 0x0b};
	uint64_t r[16] = {0};
	struct vm_exit e;
	pm_start(ud2, sizeof(ud2), r, 0, &e);
	return e;
}

static void expect_handler(const struct vm_exit *e)
{
	cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "exit %d", e->exitcode);
	cr_expect_eq(e->u.inout.port, PORT_EXC + IDT_UD, "port %#x", e->u.inout.port);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RSP), RING0_SP - 20,
	             "the ring-0 stack holds the 5-doubleword frame");
}

static void expect_triple_fault(const struct vm_exit *e)
{
	cr_assert_eq(e->exitcode, VM_EXITCODE_SUSPENDED, "exit %d", e->exitcode);
	cr_expect_eq(e->u.suspended.how, VM_SUSPEND_TRIPLEFAULT);
}

/* 32-bit TSS, ring-0 slot at 4: limit 11 (4 + 7) is enough, 10 is not. */
Test(tss_stack_limit, tss32_needs_slot_plus_7)
{
	struct vm_exit e = ud2_under_tss(0x8b, 11);
	expect_handler(&e);
	pm_teardown();
	e = ud2_under_tss(0x8b, 10);
	expect_triple_fault(&e);
}

/* 16-bit TSS, SP0 at 2 and SS0 at 4: limit 6 (2 + 4) is enough, 5 is
 * not, though SS0 ends at byte 5. */
Test(tss_stack_limit, tss16_needs_slot_plus_4)
{
	struct vm_exit e;
	for (int k = 0; k < 2; k++) {
		uint32_t limit = k == 0 ? 6 : 5;
		pm_machine(PM_PROT32, 3);
		uint16_t slot[2] = {(uint16_t)RING0_SP, S_DATA32};
		pm_put(PM_TSS + 2, slot, sizeof(slot));
		pm_seg(VM_REG_GUEST_TR, S_TSS, PM_TSS, limit, 0x83);
		static const uint8_t ud2[] = {0x0f, 0x0b};
		uint64_t r[16] = {0};
		pm_start(ud2, sizeof(ud2), r, 0, &e);
		if (k == 0) {
			/* A 16-bit TSS's stack for a 32-bit gate: SP0 zero-extended. */
			expect_handler(&e);
		} else {
			expect_triple_fault(&e);
		}
		pm_teardown();
	}
}
