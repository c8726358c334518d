/*
 * System instructions (issue 5): LLDT, LTR, SLDT, STR, SMSW, LMSW, CLTS,
 * LAR, LSL, VERR, VERW, ARPL, SWAPGS, LGDT/SGDT and XGETBV, with their
 * privilege and mode checks and exact error codes.  Machines come from
 * prot_machine.h (public API only); the SDM page of each instruction gives
 * the expected values.
 */
#include "prot_machine.h"

TestSuite(sys, .fini = pm_teardown);

static const uint64_t R0[16];

#define F_ZF UINT64_C(0x40)

/* An LDT descriptor (type 2) or TSS descriptor (type 9) in the GDT; in
 * IA-32e mode the upper 8 bytes hold base 63:32 (SDM vol. 3 7.2.3). */
static void sys_desc(unsigned sel, uint64_t base, uint32_t limit, unsigned access, uint64_t upper)
{
	pm_gdt(sel, pm_desc((uint32_t)base, limit, access, 0));
	pm_put64(PM_GDT + sel + 8, (base >> 32) | upper);
}

/* ---- LLDT / SLDT (SDM vol. 2A LLDT; vol. 2B SLDT) ------------------------ */

Test(sys, lldt_checks_prot32)
{
	pm_machine(PM_PROT32, 0);
	sys_desc(S_FREE, PM_LDT, 0x17, 0x82, 0);
	pm_put64(PM_LDT + 8, pm_desc(0x4444, 0xfffff, 0x93, 0xc)); /* LDT entry 1 */
	/* lldt ax; mov ds, cx (0x0c: LDT entry 1); sldt edx */
	uint64_t r[16] = {[RAX] = S_FREE, [RCX] = 0x0c, [RDX] = 0xffffffff};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0, 0x8e, 0xd9, 0x0f, 0x00, 0xc2);
	pm_expect_done(&o);
	struct seg_desc ldtr = pm_get_seg(VM_REG_GUEST_LDTR);
	cr_expect_eq(pm_reg(VM_REG_GUEST_LDTR), S_FREE);
	cr_expect_eq(ldtr.base, PM_LDT);
	cr_expect_eq(ldtr.limit, 0x17);
	cr_expect_eq(ldtr.access, 0x82, "access %#x", ldtr.access);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_DS).base, 0x4444);
	cr_expect_eq(o.r[RDX], S_FREE, "SLDT r32 zero-extends");
	/* Past the LDT limit 0x17: #GP(selector) with TI set. */
	r[RCX] = 0x1c;
	o = PM_RUN(r, 0, 0x8e, 0xd9);
	pm_expect_exc(&o, 13, 0x1c, PM_CODE, 0);
	/* TI = 1 in LLDT's selector: #GP(selector). */
	r[RAX] = S_FREE | 4;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0);
	pm_expect_exc(&o, 13, S_FREE | 4, PM_CODE, 0);
	/* A TSS descriptor: #GP(selector). */
	r[RAX] = S_TSS;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0);
	pm_expect_exc(&o, 13, S_TSS, PM_CODE, 0);
	/* Past the GDT limit. */
	r[RAX] = 0x103;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0);
	pm_expect_exc(&o, 13, 0x100, PM_CODE, 0);
	/* Not present: #NP(selector). */
	sys_desc(S_FREE + 8, PM_LDT, 0x17, 0x02, 0);
	r[RAX] = S_FREE + 8;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0);
	pm_expect_exc(&o, 11, S_FREE + 8, PM_CODE, 0);
	/* Null: LDTR becomes unusable and LDT selectors then fault. */
	r[RAX] = 0;
	r[RCX] = 0x0c;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0, 0x8e, 0xd9);
	pm_expect_exc(&o, 13, 0x0c, PM_CODE + 3, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_LDTR), 0);
}

Test(sys, lldt_long64_16_byte_descriptor)
{
	pm_machine(PM_LONG64, 0);
	sys_desc(S_FREE, 0x0000001200005000ull, 0x17, 0x82, 0);
	uint64_t r[16] = {[RAX] = S_FREE};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_LDTR).base, 0x0000001200005000ull);
	/* The 16-byte descriptor must fit: entry 0xf8 ends past the limit. */
	pm_gdt(0xf8, pm_desc((uint32_t)PM_LDT, 0x17, 0x82, 0));
	r[RAX] = 0xf8;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd0);
	pm_expect_exc(&o, 13, 0xf8, PM_CODE, 0);
}

Test(sys, lldt_ltr_not_in_real_mode)
{
	pm_machine(PM_REAL, 0);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x00, 0xd0);
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
	o = PM_RUN(R0, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
	o = PM_RUN(R0, 0, 0x0f, 0x00, 0xc0); /* sldt ax */
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
	o = PM_RUN(R0, 0, 0x0f, 0x02, 0xc3); /* lar ax, bx */
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
	o = PM_RUN(R0, 0, 0x63, 0xc3); /* arpl bx, ax */
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
}

Test(sys, privileged_at_cpl3)
{
	pm_machine(PM_PROT32, 3);
	static const uint8_t codes[][3] = {
	    {0x0f, 0x00, 0xd0}, /* lldt ax */
	    {0x0f, 0x00, 0xd8}, /* ltr ax */
	    {0x0f, 0x01, 0xf0}, /* lmsw ax */
	    {0x0f, 0x06, 0x90}, /* clts; nop */
	    {0x0f, 0x01, 0x13}, /* lgdt [ebx] */
	    {0x0f, 0x01, 0x1b}, /* lidt [ebx] */
	};
	uint64_t r[16] = {[RBX] = PM_DATA};
	for (unsigned k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
		struct pm_out o = pm_run(codes[k], 3, r, 0);
		pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	}
	/* SLDT, SMSW and SGDT are allowed at CPL 3 without UMIP. */
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x00, 0xc0, 0x0f, 0x01, 0xe1, 0x0f, 0x01, 0x03);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 0x11, "SMSW ecx = CR0");
	cr_expect_eq(pm_get_n(PM_DATA, 2), PM_GDT_LIM);
	cr_expect_eq(pm_get_n(PM_DATA + 2, 4), PM_GDT);
}

/* ---- LTR / STR (SDM vol. 2A LTR; vol. 2B STR) ---------------------------- */

Test(sys, ltr_checks_prot32)
{
	pm_machine(PM_PROT32, 0);
	sys_desc(S_FREE, 0x7000, 0x67, 0x89, 0); /* available 32-bit TSS */
	uint64_t r[16] = {[RAX] = S_FREE, [RBX] = PM_DATA, [RCX] = 0xffffffff};
	/* ltr ax; str ecx; str [ebx] */
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8, 0x0f, 0x00, 0xc9, 0x0f, 0x00, 0x0b);
	pm_expect_done(&o);
	struct seg_desc tr = pm_get_seg(VM_REG_GUEST_TR);
	cr_expect_eq(tr.base, 0x7000);
	cr_expect_eq(tr.limit, 0x67);
	cr_expect_eq(tr.access, 0x8b, "TR access %#x: busy", tr.access);
	cr_expect_eq(pm_get_n(PM_GDT + S_FREE + 5, 1), 0x8b, "busy bit in the GDT");
	cr_expect_eq(o.r[RCX], S_FREE);
	cr_expect_eq(pm_get_n(PM_DATA, 2), S_FREE);
	/* Now busy: #GP(selector). */
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 13, S_FREE, PM_CODE, 0);
	/* Null: #GP(0). */
	r[RAX] = 3;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* An LDT selector: #GP(selector). */
	r[RAX] = S_FREE | 4;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 13, S_FREE | 4, PM_CODE, 0);
	/* A data segment: #GP(selector). */
	r[RAX] = S_DATA32;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 13, S_DATA32, PM_CODE, 0);
	/* A 16-bit TSS is fine outside IA-32e mode. */
	sys_desc(S_FREE + 8, 0x7100, 0x2b, 0x81, 0);
	r[RAX] = S_FREE + 8;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_TR).access, 0x83);
	/* Not present: #NP(selector). */
	sys_desc(S_FREE + 16, 0x7200, 0x67, 0x09, 0);
	r[RAX] = S_FREE + 16;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 11, S_FREE + 16, PM_CODE, 0);
}

Test(sys, ltr_long64)
{
	pm_machine(PM_LONG64, 0);
	sys_desc(S_FREE, 0x0000000300007000ull, 0x67, 0x89, 0);
	uint64_t r[16] = {[RAX] = S_FREE};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_TR).base, 0x0000000300007000ull);
	/* A 16-bit TSS type is not valid in IA-32e mode. */
	sys_desc(S_FREE + 16, 0x7000, 0x67, 0x81, 0);
	r[RAX] = S_FREE + 16;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 13, S_FREE + 16, PM_CODE, 0);
	/* The upper 8 bytes' type field must be 0. */
	sys_desc(S_FREE + 32, 0x7000, 0x67, 0x89, 0x0000090000000000ull);
	r[RAX] = S_FREE + 32;
	o = PM_RUN(r, 0, 0x0f, 0x00, 0xd8);
	pm_expect_exc(&o, 13, S_FREE + 32, PM_CODE, 0);
	/* STR r64 zero-extends. */
	r[RCX] = ~0ull;
	o = PM_RUN(r, 0, 0x48, 0x0f, 0x00, 0xc9);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], S_FREE);
}

/* ---- SMSW / LMSW / CLTS (SDM vol. 2B SMSW; vol. 2A LMSW, CLTS) ----------- */

Test(sys, smsw_forms)
{
	pm_machine(PM_PROT32, 0);
	pm_set_reg(VM_REG_GUEST_CR0, 0x8000003b & ~0x80000000u); /* PE MP TS ET NE */
	uint64_t r[16] = {[RAX] = 0xaaaaaaaa, [RCX] = 0xcccccccc, [RBX] = PM_DATA};
	/* smsw ax; smsw ecx; smsw [ebx] */
	struct pm_out o = PM_RUN(r, 0, 0x66, 0x0f, 0x01, 0xe0, 0x0f, 0x01, 0xe1, 0x0f, 0x01, 0x23);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0xaaaa003b);
	cr_expect_eq(o.r[RCX], 0x3b);
	cr_expect_eq(pm_get_n(PM_DATA, 4), 0x3b);
}

Test(sys, lmsw_enters_protected_mode_but_cannot_leave)
{
	pm_machine(PM_REAL, 0);
	/* lmsw ax with AX = 0x000f: PE MP EM TS set; then lmsw cx with 0:
	 * PE stays, MP EM TS clear; smsw dx. */
	uint64_t r[16] = {[RAX] = 0xfff, [RCX] = 0};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x01, 0xf0, 0x0f, 0x01, 0xf1, 0x0f, 0x01, 0xe2);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RDX] & 0xffff, 0x11);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR0) & 0xffff, 0x11);
}

Test(sys, clts)
{
	pm_machine(PM_PROT32, 0);
	pm_set_reg(VM_REG_GUEST_CR0, 0x19);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x06);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR0), 0x11);
}

/* ---- LAR / LSL / VERR / VERW (SDM vol. 2A LAR, LSL; vol. 2B VERR) ------ */

struct probe {
	uint64_t out;
	bool zf;
};

static struct probe probe(const uint8_t *code, unsigned n, uint16_t sel)
{
	uint64_t r[16] = {[RAX] = 0x5555555555555555ull, [RBX] = sel};
	struct pm_out o = pm_run(code, n, r, 0);
	pm_expect_done(&o);
	return (struct probe){o.r[RAX], (o.rflags & F_ZF) != 0};
}

static const uint8_t lar32[] = {0x0f, 0x02, 0xc3};       /* lar eax, ebx */
static const uint8_t lar16[] = {0x66, 0x0f, 0x02, 0xc3}; /* lar ax, bx */
static const uint8_t lsl32[] = {0x0f, 0x03, 0xc3};       /* lsl eax, ebx */
static const uint8_t lsl16[] = {0x66, 0x0f, 0x03, 0xc3};
static const uint8_t verr[] = {0x0f, 0x00, 0xe3}; /* verr bx */
static const uint8_t verw[] = {0x0f, 0x00, 0xeb}; /* verw bx */

Test(sys, lar_lsl_prot32)
{
	pm_machine(PM_PROT32, 0);
	/* LAR: bytes 4-7 masked with 00FFFF00H (limit 19:16 included, as on
	 * Intel hardware); 16-bit: FF00H. */
	struct probe p = probe(lar32, 3, S_DATA32);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0x00cf9300);
	p = probe(lar16, 4, S_CODE32);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0x5555555555559b00);
	/* LSL: the limit scaled by G. */
	p = probe(lsl32, 3, S_DATA32);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0xffffffff);
	p = probe(lsl16, 4, S_TSS);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0x5555555555550067);
	/* A call gate: valid for LAR, not for LSL. */
	pm_gdt(S_FREE, 0x0000ec0000081000ull);
	p = probe(lar32, 3, S_FREE);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0x0000ec00);
	p = probe(lsl32, 3, S_FREE);
	cr_expect(!p.zf);
	cr_expect_eq(p.out, 0x5555555555555555ull, "unchanged on failure");
	/* An interrupt gate type is valid for neither. */
	pm_gdt(S_FREE, 0x00008e0000081000ull);
	cr_expect(!probe(lar32, 3, S_FREE).zf);
	/* Null selector and past the limit: ZF = 0. */
	cr_expect(!probe(lar32, 3, 0).zf);
	cr_expect(!probe(lsl32, 3, 0x100).zf);
	/* Not present is fine: LAR reports P = 0. */
	pm_gdt(S_FREE, pm_desc(0, 0xfff, 0x13, 0x4));
	p = probe(lar32, 3, S_FREE);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0x00401300);
}

Test(sys, lar_privilege_cpl3)
{
	pm_machine(PM_PROT32, 3);
	/* DPL 0 data at CPL 3: not visible. */
	struct probe p = probe(lar32, 3, S_DATA32);
	cr_expect(!p.zf);
	cr_expect_eq(p.out, 0x5555555555555555ull);
	/* DPL 3 with RPL 3: visible. */
	cr_expect(probe(lar32, 3, S_DATA32_3 | 3).zf);
	/* Conforming code of DPL 0: no privilege check. */
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x9e, 0xc));
	p = probe(lsl32, 3, S_FREE | 3);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0xffffffff);
	/* VERR/VERW follow the same visibility. */
	cr_expect(!probe(verr, 3, S_DATA32).zf);
	cr_expect(probe(verw, 3, S_DATA32_3 | 3).zf);
}

Test(sys, lar_long64_types)
{
	pm_machine(PM_LONG64, 0);
	/* A 64-bit TSS: valid; an LDT: not valid for LAR in IA-32e mode
	 * (SDM LAR table), valid for LSL; REX.W zero-extends. */
	static const uint8_t lar64[] = {0x48, 0x0f, 0x02, 0xc3};
	static const uint8_t lsl64[] = {0x48, 0x0f, 0x03, 0xc3};
	struct probe p = probe(lar64, 4, S_TSS);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0x8b00);
	sys_desc(S_FREE, PM_LDT, 0x17, 0x82, 0);
	cr_expect(!probe(lar64, 4, S_FREE).zf);
	p = probe(lsl64, 4, S_FREE);
	cr_expect(p.zf);
	cr_expect_eq(p.out, 0x17);
	/* A 16-bit TSS type is reserved in IA-32e mode. */
	sys_desc(S_FREE, 0x7000, 0x67, 0x81, 0);
	cr_expect(!probe(lsl64, 4, S_FREE).zf);
}

Test(sys, verr_verw)
{
	pm_machine(PM_PROT32, 0);
	cr_expect(probe(verr, 3, S_DATA32).zf);
	cr_expect(probe(verw, 3, S_DATA32).zf);
	cr_expect(probe(verr, 3, S_CODE32).zf); /* readable code */
	cr_expect(!probe(verw, 3, S_CODE32).zf);
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x98, 0xc)); /* execute-only */
	cr_expect(!probe(verr, 3, S_FREE).zf);
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x91, 0xc)); /* read-only data */
	cr_expect(probe(verr, 3, S_FREE).zf);
	cr_expect(!probe(verw, 3, S_FREE).zf);
	cr_expect(!probe(verr, 3, S_TSS).zf); /* system */
	cr_expect(!probe(verr, 3, 0).zf);
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0xb3, 0xc)); /* DPL 1 */
	cr_expect(!probe(verw, 3, S_FREE | 2).zf);      /* RPL 2 > DPL 1 */
}

/* ---- ARPL (SDM vol. 2A ARPL) ---------------------------------------------- */

Test(sys, arpl)
{
	pm_machine(PM_PROT32, 0);
	uint64_t r[16] = {[RAX] = 0x12, [RBX] = 0xabcd0011};
	/* arpl bx, ax: RPL 1 < 2: BX = 0x0012, ZF = 1 */
	struct pm_out o = PM_RUN(r, 0, 0x63, 0xc3);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RBX], 0xabcd0012);
	cr_expect(o.rflags & F_ZF);
	/* RPL 3 >= 2: unchanged, ZF = 0 */
	r[RBX] = 0x13;
	o = PM_RUN(r, F_ZF, 0x63, 0xc3);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RBX], 0x13);
	cr_expect(!(o.rflags & F_ZF));
	/* Memory form: arpl [ebx], ax */
	pm_put64(PM_DATA, 0xffff0008);
	r[RBX] = PM_DATA;
	o = PM_RUN(r, 0, 0x63, 0x03);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_n(PM_DATA, 4), 0xffff000a);
	cr_expect(o.rflags & F_ZF);
}

/* ---- SWAPGS (SDM vol. 2B SWAPGS) ------------------------------------------ */

Test(sys, swapgs)
{
	pm_machine(PM_LONG64, 0);
	pm_seg(VM_REG_GUEST_GS, S_DATA32, 0x1000, 0xffffffff, 0xc093);
	pm_put64(0x5000, 0x77);
	/* wrmsr KERNEL_GS_BASE = 0x5000; swapgs; mov ebx, gs:[0];
	 * mov ecx, C0000102H; rdmsr */
	uint64_t r[16] = {[RCX] = 0xc0000102, [RDX] = 0, [RAX] = 0x5000};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x30, 0x0f, 0x01, 0xf8, 0x65, 0x8b, 0x1c, 0x25, 0x00,
	                         0x00, 0x00, 0x00, 0xb9, 0x02, 0x01, 0x00, 0xc0, 0x0f, 0x32);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RBX], 0x77, "GS.base is the MSR's old value");
	cr_expect_eq(o.r[RAX], 0x1000, "the MSR holds the old GS.base");
	cr_expect_eq(o.r[RDX], 0);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_GS).base, 0x5000);
}

Test(sys, swapgs_checks)
{
	pm_machine(PM_LONG64, 3);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x01, 0xf8);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	pm_teardown();
	pm_machine(PM_COMPAT32, 0);
	o = PM_RUN(R0, 0, 0x0f, 0x01, 0xf8);
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
}

/* ---- LGDT / SGDT and XGETBV ------------------------------------------------- */

Test(sys, lgdt_sgdt_prot16)
{
	pm_machine(PM_PROT16, 0);
	/* LGDT with a 16-bit operand keeps 24 bits of the base; SGDT stores
	 * all 32 (SDM vol. 2A LGDT, vol. 2B SGDT). */
	pm_put64(0x500, 0x12345678ull << 16 | 0x3ff);
	uint64_t r[16] = {[RBX] = 0x500, [RSI] = 0x600};
	/* lgdt [bx]; sgdt [si] */
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x01, 0x17, 0x0f, 0x01, 0x04);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_n(0x600, 2), 0x3ff);
	cr_expect_eq(pm_get_n(0x602, 4), 0x345678);
}

Test(sys, xgetbv_without_xsave_is_ud)
{
	pm_machine(PM_LONG64, 0);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x01, 0xd0);
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
	o = PM_RUN(R0, 0, 0x0f, 0x01, 0xd1); /* xsetbv */
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
}
