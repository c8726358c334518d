/*
 * The checks before x87, MMX and SSE instructions (core/cpu/ops_fpstate.c):
 * #UD for CR0.EM, CR4.OSFXSR and unadvertised extensions, #NM for CR0.TS
 * (and EM for x87, MP with TS for WAIT), in the SDM's order (vol. 3 2.5,
 * 13.1.3 and table 13-1; vol. 2 WAIT, FXSAVE, LDMXCSR), and the
 * instructions of those extensions that touch no FPU state (fences,
 * MOVNTI, CLFLUSH).  Machines from prot_machine.h, public API only.
 */
#include "prot_machine.h"

#define CR0_MP 0x2u
#define CR0_EM 0x4u
#define CR0_TS 0x8u
#define OSFXSR 0x200u

static void set_cr0_bits(uint64_t bits)
{
	pm_set_reg(VM_REG_GUEST_CR0, (pm_reg(VM_REG_GUEST_CR0) & ~(uint64_t)0xe) | bits);
}

static void set_osfxsr(bool on)
{
	uint64_t cr4 = pm_reg(VM_REG_GUEST_CR4);
	pm_set_reg(VM_REG_GUEST_CR4, on ? cr4 | OSFXSR : cr4 & ~(uint64_t)OSFXSR);
}

/* WAIT is #NM only with MP and TS both set, in every mode; otherwise it
 * completes (no x87 exception can be pending). */
Test(fpstate, wait_faults_only_with_mp_and_ts)
{
	uint64_t r[16] = {0};
	for (enum pm_mode m = PM_REAL; m < PM_NMODES; m++) {
		for (unsigned bits = 0; bits < 4; bits++) {
			pm_machine(m, 0);
			uint64_t cr0 = (bits & 1 ? CR0_MP : 0) | (bits & 2 ? CR0_TS : 0);
			set_cr0_bits(cr0);
			struct pm_out o = PM_RUN(r, 0, 0x9b);
			if (cr0 == (CR0_MP | CR0_TS))
				pm_expect_exc(&o, 7, -1, PM_CODE, 0);
			else
				pm_expect_done(&o);
			pm_teardown();
		}
	}
}

/* WAIT at CPL 3 too, through the same rule (no privilege involved). */
Test(fpstate, wait_at_cpl3)
{
	uint64_t r[16] = {0};
	pm_machine(PM_LONG64, 3);
	set_cr0_bits(CR0_MP | CR0_TS);
	struct pm_out o = PM_RUN(r, 0, 0x9b);
	pm_expect_exc(&o, 7, -1, PM_CODE, 0);
	pm_teardown();
}

/* x87 (FLD1, FNSTSW AX): #NM for EM or TS, whatever MP says. */
Test(fpstate, x87_faults_nm_for_em_or_ts)
{
	uint64_t r[16] = {0};
	static const uint64_t cases[] = {CR0_TS, CR0_EM, CR0_EM | CR0_TS, CR0_MP | CR0_TS,
	                                 CR0_EM | CR0_MP};
	for (enum pm_mode m = PM_REAL; m < PM_NMODES; m++) {
		for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
			pm_machine(m, 0);
			set_cr0_bits(cases[k]);
			struct pm_out o = PM_RUN(r, 0, 0xd9, 0xe8);
			pm_expect_exc(&o, 7, -1, PM_CODE, 0);
			o = PM_RUN(r, 0, 0xdf, 0xe0);
			pm_expect_exc(&o, 7, -1, PM_CODE, 0);
			pm_teardown();
		}
	}
}

/* MMX (PXOR MM0, MM0; EMMS): #UD for EM, before #NM for TS. */
Test(fpstate, mmx_ud_for_em_then_nm_for_ts)
{
	uint64_t r[16] = {0};
	for (enum pm_mode m = PM_REAL; m < PM_NMODES; m++) {
		pm_machine(m, 0);
		set_cr0_bits(CR0_EM | CR0_TS);
		struct pm_out o = PM_RUN(r, 0, 0x0f, 0xef, 0xc0);
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
		o = PM_RUN(r, 0, 0x0f, 0x77);
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
		set_cr0_bits(CR0_MP | CR0_TS);
		o = PM_RUN(r, 0, 0x0f, 0xef, 0xc0);
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		o = PM_RUN(r, 0, 0x0f, 0x77);
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		pm_teardown();
	}
}

/* SSE (ADDPS XMM0, XMM0; SSE2 PADDQ XMM0, XMM0; SSSE3 PSHUFB): #UD for
 * EM or a clear OSFXSR, even with TS set; with OSFXSR and TS, #NM. */
Test(fpstate, sse_ud_for_em_or_osfxsr_then_nm_for_ts)
{
	uint64_t r[16] = {0};
	for (enum pm_mode m = PM_REAL; m < PM_NMODES; m++) {
		pm_machine(m, 0);
		set_cr0_bits(CR0_MP | CR0_TS);
		set_osfxsr(false);
		struct pm_out o = PM_RUN(r, 0, 0x0f, 0x58, 0xc0);
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
		set_osfxsr(true);
		o = PM_RUN(r, 0, 0x0f, 0x58, 0xc0);
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		o = PM_RUN(r, 0, 0x66, 0x0f, 0xd4, 0xc0);
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		o = PM_RUN(r, 0, 0x66, 0x0f, 0x38, 0x00, 0xc0);
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		set_cr0_bits(CR0_EM | CR0_TS);
		o = PM_RUN(r, 0, 0x0f, 0x58, 0xc0);
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
		pm_teardown();
	}
}

/* PSHUFW and MOVNTQ are not gated by OSFXSR (SDM vol. 3 13.1.3): with it
 * clear and TS set they give #NM, where ADDPS gives #UD.  softvmm applies
 * the same MMX rule to SSE2's PADDQ MM0, MM0. */
Test(fpstate, pshufw_and_movntq_ignore_osfxsr)
{
	uint64_t r[16] = {0};
	r[RAX] = PM_DATA;
	pm_machine(PM_PROT32, 0);
	set_cr0_bits(CR0_MP | CR0_TS);
	set_osfxsr(false);
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x70, 0xc0, 0x00);
	pm_expect_exc(&o, 7, -1, PM_CODE, 0);
	o = PM_RUN(r, 0, 0x0f, 0xe7, 0x00);
	pm_expect_exc(&o, 7, -1, PM_CODE, 0);
	o = PM_RUN(r, 0, 0x0f, 0xd4, 0xc0);
	pm_expect_exc(&o, 7, -1, PM_CODE, 0);
	o = PM_RUN(r, 0, 0x0f, 0x58, 0xc0);
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
	pm_teardown();
}

/* FXSAVE/FXRSTOR: #NM for EM or TS (not #UD for EM), OSFXSR or not;
 * LDMXCSR/STMXCSR: #UD without OSFXSR, #NM with it and TS.  #NM comes
 * before the memory operand is looked at: [EAX] (from 32-bit code) lies
 * past the 8 MiB of RAM, unmapped in IA-32e mode. */
Test(fpstate, fxsave_and_mxcsr_gates)
{
	uint64_t r[16] = {0};
	r[RAX] = 0xfff000;
	for (enum pm_mode m = PM_REAL; m < PM_NMODES; m++) {
		pm_machine(m, 0);
		set_osfxsr(false);
		set_cr0_bits(CR0_EM);
		struct pm_out o = PM_RUN(r, 0, 0x0f, 0xae, 0x00); /* FXSAVE */
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		set_cr0_bits(CR0_TS);
		o = PM_RUN(r, 0, 0x0f, 0xae, 0x08); /* FXRSTOR */
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		o = PM_RUN(r, 0, 0x0f, 0xae, 0x10); /* LDMXCSR */
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
		set_osfxsr(true);
		o = PM_RUN(r, 0, 0x0f, 0xae, 0x18); /* STMXCSR */
		pm_expect_exc(&o, 7, -1, PM_CODE, 0);
		pm_teardown();
	}
}

/* Extensions no model advertises (SSE4.1 PTEST, SSE4.2 CRC32): #UD, the
 * feature check first, even with TS set. */
Test(fpstate, unadvertised_extensions_are_ud)
{
	uint64_t r[16] = {0};
	for (enum pm_mode m = PM_REAL; m < PM_NMODES; m++) {
		pm_machine(m, 0);
		set_osfxsr(true);
		set_cr0_bits(CR0_MP | CR0_TS);
		struct pm_out o = PM_RUN(r, 0, 0x66, 0x0f, 0x38, 0x17, 0xc0);
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
		o = PM_RUN(r, 0, 0xf2, 0x0f, 0x38, 0xf0, 0xc0);
		pm_expect_exc(&o, 6, -1, PM_CODE, 0);
		pm_teardown();
	}
}

/* LFENCE, MFENCE, SFENCE and MOVNTI run whatever CR0 and OSFXSR say;
 * MOVNTI stores its register. */
Test(fpstate, fences_and_movnti_are_not_gated)
{
	uint64_t r[16] = {0};
	r[RAX] = 0x89abcdef;
	r[RDI] = PM_DATA;
	for (enum pm_mode m = PM_PROT32; m < PM_NMODES; m++) {
		pm_machine(m, 0);
		set_osfxsr(false);
		set_cr0_bits(CR0_EM | CR0_MP | CR0_TS);
		pm_put64(PM_DATA, 0);
		struct pm_out o = PM_RUN(r, 0, 0x0f, 0xae, 0xe8, 0x0f, 0xae, 0xf0, 0x0f, 0xae, 0xf8,
		                         0x0f, 0xc3, 0x07);
		pm_expect_done(&o);
		cr_expect_eq(pm_get_n(PM_DATA, 8), 0x89abcdef, "%s: MOVNTI stored %#" PRIx64,
		             pm_mode_name[m], pm_get_n(PM_DATA, 8));
		pm_teardown();
	}
	/* The 64-bit form (REX.W) stores eight bytes. */
	r[RAX] = 0x0123456789abcdefull;
	pm_machine(PM_LONG64, 3);
	struct pm_out o = PM_RUN(r, 0, 0x48, 0x0f, 0xc3, 0x07);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_n(PM_DATA, 8), 0x0123456789abcdefull);
	pm_teardown();
}

/* CLFLUSH checks its operand as a one-byte read: fine inside RAM, #PF
 * (not present, read) past the mapped 8 MiB, #GP(0) past DS's limit. */
Test(fpstate, clflush_checks_its_operand)
{
	uint64_t r[16] = {0};
	r[RAX] = PM_DATA;
	pm_machine(PM_LONG64, 0);
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0xae, 0x38);
	pm_expect_done(&o);
	r[RAX] = 0x1000010;
	o = PM_RUN(r, 0, 0x0f, 0xae, 0x38);
	pm_expect_exc(&o, 14, 0, PM_CODE, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), 0x1000010);
	pm_teardown();

	pm_machine(PM_PROT32, 0);
	pm_seg(VM_REG_GUEST_DS, S_DATA32, 0, 0xfff, 0x4093);
	r[RAX] = 0x1000;
	o = PM_RUN(r, 0, 0x0f, 0xae, 0x38);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = 0xfff;
	o = PM_RUN(r, 0, 0x0f, 0xae, 0x38);
	pm_expect_done(&o);
	pm_teardown();
}
