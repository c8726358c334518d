/*
 * UMIP (SDM vol. 3 2.5, CR4.UMIP; vol. 2 SGDT, SIDT, SLDT, SMSW, STR): on
 * the models that advertise it (CPUID 7.0:ECX[2], the -v3 models), with
 * CR4.UMIP set, the five instructions raise #GP(0) at CPL > 0 and run at
 * CPL 0; with it clear they run at any CPL.  On the baselines CR4.UMIP is
 * reserved: MOV to CR4 setting it is #GP(0).  Machines from
 * prot_machine.h.
 */
#include "prot_machine.h"

#define CR4_UMIP 0x800u
#define V3       "x86-64-intel-v3"

TestSuite(umip, .fini = pm_teardown);

static const struct {
	const char *name;
	uint8_t b[3];
} insns[] = {
    {"SGDT [EAX]", {0x0f, 0x01, 0x00}}, {"SIDT [EAX]", {0x0f, 0x01, 0x08}},
    {"SLDT EAX", {0x0f, 0x00, 0xc0}},   {"SMSW EAX", {0x0f, 0x01, 0xe0}},
    {"STR EAX", {0x0f, 0x00, 0xc8}},
};

static void run_each(enum pm_mode m, int cpl, const char *model, bool umip, bool expect_gp)
{
	for (size_t k = 0; k < sizeof(insns) / sizeof(insns[0]); k++) {
		pm_machine_model(m, cpl, model);
		if (umip)
			pm_set_reg(VM_REG_GUEST_CR4, pm_reg(VM_REG_GUEST_CR4) | CR4_UMIP);
		uint64_t r[16] = {[RAX] = PM_DATA};
		struct pm_out o = pm_run(insns[k].b, 3, r, 0);
		cr_log_info("%s in %s at CPL %d, UMIP %d", insns[k].name, pm_mode_name[m], cpl,
		            umip);
		if (expect_gp)
			pm_expect_exc(&o, IDT_GP, 0, PM_CODE, 0);
		else
			pm_expect_done(&o);
		pm_teardown();
	}
}

Test(umip, faults_at_cpl3_with_cr4_umip)
{
	run_each(PM_PROT32, 3, V3, true, true);
	run_each(PM_COMPAT32, 3, V3, true, true);
	run_each(PM_LONG64, 3, V3, true, true);
	run_each(PM_LONG64, 3, "x86-64-amd-v3", true, true);
}

Test(umip, runs_at_cpl0_with_cr4_umip)
{
	run_each(PM_PROT32, 0, V3, true, false);
	run_each(PM_LONG64, 0, V3, true, false);
}

Test(umip, runs_at_cpl3_without_cr4_umip)
{
	run_each(PM_PROT32, 3, V3, false, false);
	run_each(PM_LONG64, 3, V3, false, false);
}

/* MOV CR4 setting UMIP: allowed on a -v3 model, #GP(0) on a baseline. */
Test(umip, cr4_umip_is_reserved_on_the_baselines)
{
	/* mov eax, cr4; or eax, 0x800; mov cr4, eax */
	static const uint8_t set[] = {0x0f, 0x20, 0xe0, 0x0d, 0x00, 0x08,
	                              0x00, 0x00, 0x0f, 0x22, 0xe0};
	uint64_t r[16] = {0};
	pm_machine_model(PM_PROT32, 0, V3);
	struct pm_out o = pm_run(set, sizeof(set), r, 0);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR4) & CR4_UMIP, CR4_UMIP);
	pm_teardown();
	pm_machine_model(PM_PROT32, 0, NULL);
	o = pm_run(set, sizeof(set), r, 0);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE + 8, 0x4); /* PF from the OR */
	pm_teardown();
}
