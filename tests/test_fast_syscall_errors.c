/*
 * Error paths of the fast system calls (issue 5): SYSCALL, SYSRET,
 * SYSENTER and SYSEXIT, each fault with its exact vector, error code and
 * frame (prot_machine.h compares the frame byte for byte), and the 64-bit
 * SYSEXIT with REX.W.  The rules are the "Operation" and "Exceptions"
 * sections of SDM vol. 2 SYSCALL, SYSRET, SYSENTER and SYSEXIT.
 */
#include "prot_machine.h"

TestSuite(fastsys, .fini = pm_teardown);

static const uint64_t R0[16];

#define MSR_SYSENTER_CS 0x174u

/* A little-endian 32-bit immediate at b[n]; returns n + 4. */
static unsigned imm32(uint8_t *b, unsigned n, uint32_t v)
{
	memcpy(b + n, &v, 4);
	return n + 4;
}

/* mov ecx, msr; mov eax, lo; xor edx, edx; wrmsr (14 bytes). */
static unsigned wrmsr_code(uint8_t *b, unsigned n, uint32_t msr, uint32_t lo)
{
	b[n++] = 0xb9;
	n = imm32(b, n, msr);
	b[n++] = 0xb8;
	n = imm32(b, n, lo);
	b[n++] = 0x31;
	b[n++] = 0xd2;
	b[n++] = 0x0f;
	b[n++] = 0x30;
	return n;
}

/* SDM SYSCALL "64-Bit Mode Exceptions": #UD if IA32_EFER.SCE = 0. */
Test(fastsys, syscall_with_sce_clear_is_ud)
{
	pm_machine(PM_LONG64, 0);
	pm_set_reg(VM_REG_GUEST_EFER, 0x500);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x05);
	pm_expect_exc(&o, IDT_UD, -1, PM_CODE, 0);
}

/* Intel: "#UD If not in 64-Bit Mode" (SDM SYSCALL "Protected Mode" and
 * "Compatibility Mode Exceptions"), even with SCE set. */
Test(fastsys, syscall_outside_64bit_mode_is_ud_on_intel)
{
	pm_machine_model(PM_COMPAT32, 0, "x86-64-intel");
	pm_set_reg(VM_REG_GUEST_EFER, 0x501);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x05);
	pm_expect_exc(&o, IDT_UD, -1, PM_CODE, 0);
	pm_teardown();

	pm_machine_model(PM_PROT32, 0, "x86-64-intel");
	pm_set_reg(VM_REG_GUEST_EFER, 0x1);
	o = PM_RUN(R0, 0, 0x0f, 0x05);
	pm_expect_exc(&o, IDT_UD, -1, PM_CODE, 0);
	pm_teardown();

	/* The control: the same machine in 64-bit mode takes SYSCALL to LSTAR
	 * with CS = STAR[47:32] (28H), SS = 30H, RCX = the next RIP. */
	pm_machine_model(PM_LONG64, 0, "x86-64-intel");
	pm_set_reg(VM_REG_GUEST_EFER, 0x501);
	uint8_t b[64];
	unsigned n = wrmsr_code(b, 0, 0xc0000081u, 0); /* STAR[31:0] */
	/* STAR[63:32] = 0x00000028 through EDX. */
	b[n - 4] = 0xba;
	n = imm32(b, n - 3, 0x28);
	b[n++] = 0x0f;
	b[n++] = 0x30;
	unsigned at_lstar = n;
	n = wrmsr_code(b, n, 0xc0000082u, 0); /* LSTAR: patched below */
	b[n++] = 0x0f;
	b[n++] = 0x05;
	imm32(b, at_lstar + 6, (uint32_t)(PM_CODE + n)); /* the OUT after SYSCALL */
	o = pm_run(b, n, R0, 0);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], PM_CODE + n);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), 0x28);
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), 0x30);
}

/* SDM SYSRET: "#GP(0) If CPL != 0". */
Test(fastsys, sysret_at_cpl3_is_gp0)
{
	pm_machine(PM_LONG64, 3);
	pm_set_reg(VM_REG_GUEST_EFER, 0x501);
	uint64_t r[16] = {[RCX] = PM_CODE};
	struct pm_out o = PM_RUN(r, 0, 0x48, 0x0f, 0x07);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE, 0);
}

/* SDM SYSRET: "#GP(0) If the return is to 64-bit mode and RCX contains a
 * non-canonical address" -- raised at CPL 0, on the kernel's stack, with
 * nothing of the return done (CS, SS, RFLAGS from R11 untouched). */
Test(fastsys, sysret_to_noncanonical_rcx_is_gp0_at_cpl0)
{
	pm_machine(PM_LONG64, 0);
	pm_set_reg(VM_REG_GUEST_EFER, 0x501);
	uint64_t r[16] = {[RCX] = UINT64_C(0x0000800000001000), [11] = 0x3202};
	struct pm_out o = PM_RUN(r, 0, 0x48, 0x0f, 0x07);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), S_CODE64, "the handler runs at CPL 0");
	cr_expect_eq(o.rflags & 0x3000, 0, "RFLAGS not loaded from R11");
}

/* SDM SYSENTER: "#GP(0) If IA32_SYSENTER_CS[15:2] = 0" (RPL bits alone
 * do not count). */
Test(fastsys, sysenter_with_null_sysenter_cs_is_gp0)
{
	pm_machine(PM_PROT32, 0);
	uint8_t b[32];
	unsigned n = wrmsr_code(b, 0, MSR_SYSENTER_CS, 3);
	b[n++] = 0x0f;
	b[n++] = 0x34;
	struct pm_out o = pm_run(b, n, R0, 0);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE + n - 2, 0x44); /* ZF PF from XOR */
}

/* SDM SYSEXIT: "#GP(0) If CPL != 0" with a valid SYSENTER_CS; the control
 * SYSEXIT at CPL 0 lands at EDX with CS = SYSENTER_CS + 16 | 3 and SS =
 * + 24 | 3, ESP = ECX. */
Test(fastsys, sysexit_above_cpl0_is_gp0)
{
	pm_machine(PM_PROT32, 0);
	uint8_t b[48];
	unsigned n = wrmsr_code(b, 0, MSR_SYSENTER_CS, S_CODE32);
	b[n++] = 0xb9; /* mov ecx, 0x7000 */
	n = imm32(b, n, 0x7000);
	b[n++] = 0xba; /* mov edx, the OUT after SYSEXIT */
	n = imm32(b, n, (uint32_t)PM_CODE + n + 4 + 2);
	b[n++] = 0x0f;
	b[n++] = 0x35;
	/* IOPL 3 lets the ring-3 OUT run. */
	struct pm_out o = pm_run(b, n, R0, 0x3000);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), S_CODE32 + 16 + 3);
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), S_CODE32 + 24 + 3);
	cr_expect_eq(o.r[RSP], 0x7000, "RSP %#" PRIx64, o.r[RSP]);

	/* The same SYSENTER_CS, now at CPL 3. */
	pm.cpl = 3;
	pm.cs_sel = S_CODE32_3 | 3;
	pm.cs = (struct seg_desc){0, 0xffffffff, 0xc0fb};
	pm_set_ss(S_DATA32_3 | 3, 0, 0xffffffff, 0xc0f3);
	uint64_t r[16] = {[RCX] = 0x7000, [RDX] = PM_CODE};
	o = PM_RUN(r, 0x3000, 0x0f, 0x35);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE, 0x3000);
}

/*
 * SDM SYSEXIT with REX.W in 64-bit mode: CS = SYSENTER_CS + 32 | 3 with
 * L = 1, SS = + 40 | 3, RSP = RCX, RIP = RDX; without REX.W the return is
 * to compatibility mode (CS + 16 | 3, D = 1) with ESP = ECX and EIP = EDX,
 * zero-extended; a non-canonical RDX with REX.W is #GP(0) at CPL 0.
 */
static struct pm_out sysexit64(bool rex_w, uint64_t rcx, uint64_t rdx)
{
	uint8_t b[64];
	unsigned n = wrmsr_code(b, 0, MSR_SYSENTER_CS, 0x08);
	unsigned end = n + 20 + (rex_w ? 3 : 2); /* the OUT after SYSEXIT */
	if (rdx == 0)
		rdx = PM_CODE + end;
	b[n++] = 0x48; /* mov rdx, imm64 (WRMSR needed EDX = 0 first) */
	b[n++] = 0xba;
	memcpy(b + n, &rdx, 8);
	n += 8;
	b[n++] = 0x48; /* mov rcx, imm64 (WRMSR took ECX) */
	b[n++] = 0xb9;
	memcpy(b + n, &rcx, 8);
	n += 8;
	if (rex_w)
		b[n++] = 0x48;
	b[n++] = 0x0f;
	b[n++] = 0x35;
	return pm_run(b, n, R0, 0x3000); /* IOPL 3: the ring-3 OUT runs */
}

Test(fastsys, sysexit_64bit_with_and_without_rex_w)
{
	pm_machine(PM_LONG64, 0);
	struct pm_out o = sysexit64(true, 0x7000, 0);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), 0x08 + 32 + 3);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_CS).access, 0xa0fbu, "64-bit code, DPL 3");
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), 0x08 + 40 + 3);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_SS).access, 0xc0f3u);
	cr_expect_eq(o.r[RSP], 0x7000, "RSP %#" PRIx64, o.r[RSP]);
	pm_teardown();

	pm_machine(PM_LONG64, 0);
	o = sysexit64(false, UINT64_C(0xffffffff00007000), 0);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), 0x08 + 16 + 3);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_CS).access, 0xc0fbu, "32-bit code, DPL 3");
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), 0x08 + 24 + 3);
	cr_expect_eq(o.r[RSP], 0x7000, "ESP = ECX, zero-extended");
	pm_teardown();

	pm_machine(PM_LONG64, 0);
	o = sysexit64(true, 0x7000, UINT64_C(0x0000800000001000));
	/* mov ecx/eax, xor, wrmsr (14) and two mov r64, imm64 (20) precede
	 * it; XOR left ZF and PF. */
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE + 34, 0x3044);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), S_CODE64, "still at CPL 0");
}
