/*
 * The last system instructions the opcode audit named as missing: ICEBP
 * (INT1), WBINVD, INVD, RSM and RDPMC (SDM vol. 2 INT n/INT1, WBINVD, INVD,
 * RSM, RDPMC), on machines built through the public API (prot_machine.h).
 */
#include "prot_machine.h"

/* ICEBP at CPL 3 through a DPL-0 gate: a privileged software exception
 * skips the gate's DPL check (INT3 there would be #GP), and is a trap: the
 * frame's EIP is the next instruction and RF is 0 in the pushed EFLAGS. */
Test(icebp, delivers_db_past_a_dpl0_gate_as_a_trap)
{
	pm_machine(PM_PROT32, 3);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0xf1);
	cr_assert_eq(o.vector, 1, "vector %d", o.vector);
	cr_expect_eq(pm_get_n(o.frame, 4), PM_CODE + 1, "pushed EIP");
	cr_expect_eq(pm_get_n(o.frame + 4, 4), S_CODE32_3 | 3, "pushed CS");
	cr_expect_eq(pm_get_n(o.frame + 8, 4), 2, "pushed EFLAGS (RF clear)");
	cr_expect_eq(pm_get_n(o.frame + 12, 4), PM_SP, "pushed ESP");
	/* INT3 (CC) through the same DPL-0 gate is #GP(vector 3 * 8 + 2). */
	o = PM_RUN(r, 0, 0xcc);
	cr_expect_eq(o.vector, 13);
	cr_expect_eq(pm_get_n(o.frame, 4), 3 * 8 + 2, "INT3's error code");
}

Test(icebp, real_mode_goes_through_the_ivt)
{
	pm_machine(PM_REAL, 0);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0xf1);
	cr_assert_eq(o.vector, 1);
	cr_expect_eq(pm_get_n(o.frame, 2), (PM_CODE + 1) & 0xffff, "pushed IP");
}

/* WBINVD: nothing to write back at CPL 0; #GP(0) at CPL 3. */
Test(cache, wbinvd_at_cpl0_and_cpl3)
{
	uint64_t r[16] = {0};
	pm_machine(PM_PROT32, 0);
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x09);
	pm_expect_done(&o);
	pm_machine(PM_PROT32, 3);
	o = PM_RUN(r, 0, 0x0f, 0x09);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

/* INVD at CPL 0 leaves the guest as bhyve hands it on: a VMX exit with
 * exit reason 13 at the instruction; at CPL 3 the privilege check wins:
 * #GP(0). */
Test(cache, invd_exits_at_cpl0_and_faults_at_cpl3)
{
	uint64_t r[16] = {0};
	pm_machine(PM_LONG64, 0);
	static const uint8_t invd[] = {0x0f, 0x08};
	struct vm_exit e;
	pm_start(invd, sizeof(invd), r, 0, &e);
	cr_assert_eq(e.exitcode, VM_EXITCODE_VMX, "exit %d", e.exitcode);
	cr_expect_eq(e.rip, PM_CODE);
	cr_expect_eq(e.inst_length, 2);
	cr_expect_eq(e.u.vmx.status, 0);
	cr_expect_eq(e.u.vmx.exit_reason, VMX_EXIT_REASON_INVD);
	cr_expect_eq(e.u.vmx.exit_qualification, 0);
	pm_machine(PM_LONG64, 3);
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x08);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

/* RSM outside system-management mode: #UD, in every mode. */
Test(smm, rsm_is_ud_outside_smm)
{
	uint64_t r[16] = {0};
	for (enum pm_mode m = PM_REAL; m < PM_NMODES; m++) {
		pm_machine(m, 0);
		struct pm_out o = PM_RUN(r, 0, 0x0f, 0xaa);
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
	}
}

/* RDPMC: no model has performance counters, so any ECX is #GP(0), at CPL 0
 * as at CPL 3. */
Test(pmc, rdpmc_is_gp0_without_counters)
{
	uint64_t r[16] = {0};
	pm_machine(PM_PROT32, 0);
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x33);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	pm_machine(PM_LONG64, 3);
	o = PM_RUN(r, 0, 0x0f, 0x33);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}
