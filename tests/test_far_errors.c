/*
 * Far transfers through call gates, far RET and IRET to an outer ring,
 * and their faults (issue 5), with exact vectors, error codes and stack
 * contents byte for byte.  Rules: SDM vol. 2 CALL, JMP, RET and IRET
 * "Operation"; vol. 3 5.8.3-5.8.6 (call gates, the parameter copy of
 * figure 5-13), 5.8.3.1 (IA-32e call gates).  Machines come from
 * prot_machine.h (public API only).
 */
#include "prot_machine.h"

TestSuite(farerr, .fini = pm_teardown);

static const uint64_t R0[16];

#define G_GATE  S_FREE        /* the gate under test */
#define G_CODE  (S_FREE + 16) /* a code segment a case builds */
#define G_DATA3 (S_FREE + 24) /* a second ring-3 stack segment */

/* A 16- (type 4) or 32-bit (type 12) call gate (SDM vol. 3 figure 5-8). */
static uint64_t call_gate(unsigned type, uint16_t sel, uint32_t off, unsigned dpl, bool p,
                          unsigned params)
{
	return (off & 0xffffull) | (uint64_t)sel << 16 | (uint64_t)(params & 0x1f) << 32 |
	       (uint64_t)(type | dpl << 5 | (p ? 0x80u : 0)) << 40 | (uint64_t)(off >> 16) << 48;
}

/* call far sel:0 (9A ptr16:32), or jmp far (EA). */
static struct pm_out far_to(uint8_t op, uint16_t sel, uint64_t flags)
{
	uint8_t b[7] = {op, 0, 0, 0, 0, (uint8_t)sel, (uint8_t)(sel >> 8)};
	return pm_run(b, 7, R0, flags);
}

static void at_cpl3_prot32(void)
{
	pm.cpl = 3;
	pm.cs_sel = S_CODE32_3 | 3;
	pm.cs = (struct seg_desc){0, 0xffffffff, 0xc0fb};
	pm_set_ss(S_DATA32_3 | 3, 0, 0xffffffff, 0xc0f3);
	pm_data_segs(S_DATA32_3 | 3, 0xffffffff, 0xc0f3);
	pm_set_ss(S_DATA32_3 | 3, 0, 0xffffffff, 0xc0f3);
}

/* CALL "CALL-GATE": "IF call gate (DPL < CPL) or (RPL > DPL) THEN
 * #GP(call-gate selector)"; "IF call gate not present THEN #NP(call-gate
 * selector)" -- for JMP too. */
Test(farerr, call_gate_privilege_and_presence)
{
	pm_machine(PM_PROT32, 0);
	at_cpl3_prot32();
	pm_gdt(G_GATE, call_gate(12, S_CODE32, 0x1000, 0, true, 0));
	struct pm_out o = far_to(0x9a, G_GATE | 3, 0);
	pm_expect_exc(&o, IDT_GP, G_GATE, PM_CODE, 0);
	pm_teardown();

	pm_machine(PM_PROT32, 0);
	pm_gdt(G_GATE, call_gate(12, S_CODE32, 0x1000, 0, true, 0));
	o = far_to(0x9a, G_GATE | 3, 0); /* RPL 3 > gate DPL 0 at CPL 0 */
	pm_expect_exc(&o, IDT_GP, G_GATE, PM_CODE, 0);
	pm_gdt(G_GATE, call_gate(12, S_CODE32, 0x1000, 0, false, 0));
	o = far_to(0x9a, G_GATE, 0);
	pm_expect_exc(&o, IDT_NP, G_GATE, PM_CODE, 0);
	o = far_to(0xea, G_GATE, 0);
	pm_expect_exc(&o, IDT_NP, G_GATE, PM_CODE, 0);
}

/*
 * The gate's code segment (CALL "CALL-GATE"): null -> #GP(0); outside the
 * table, not code, DPL > CPL -> #GP(code selector); not present ->
 * #NP(code selector).  JMP through a gate to non-conforming code of
 * another DPL -> #GP(code selector) (JMP "CALL-GATE").
 */
struct target_case {
	const char *what;
	int cpl;
	uint8_t op;
	uint16_t target;
	uint64_t code_desc; /* written at G_CODE when nonzero */
	int vector;
	uint32_t err;
};

Test(farerr, call_gate_target_checks)
{
	static const struct target_case cases[] = {
	    {"null", 3, 0x9a, 0, 0, IDT_GP, 0},
	    {"null with RPL 3", 3, 0x9a, 3, 0, IDT_GP, 0},
	    {"beyond the GDT", 3, 0x9a, 0x100, 0, IDT_GP, 0x100},
	    {"in an LDT that is null", 3, 0x9a, 0x0c, 0, IDT_GP, 0x0c},
	    {"a data segment", 3, 0x9a, S_DATA32, 0, IDT_GP, S_DATA32},
	    {"DPL 3 > CPL 0", 0, 0x9a, S_CODE32_3, 0, IDT_GP, S_CODE32_3},
	    {"not present", 3, 0x9a, G_CODE, 0x00cf1b000000ffffull, IDT_NP, G_CODE},
	    {"JMP to DPL 0 from CPL 3", 3, 0xea, S_CODE32, 0, IDT_GP, S_CODE32},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct target_case *t = &cases[k];
		pm_machine(PM_PROT32, 0);
		if (t->cpl == 3)
			at_cpl3_prot32();
		if (t->code_desc)
			pm_gdt(G_CODE, t->code_desc);
		pm_gdt(G_GATE, call_gate(12, t->target, 0x1000, 3, true, 0));
		struct pm_out o = far_to(t->op, G_GATE | 3, 0);
		cr_expect_eq(o.vector, t->vector, "%s: vector %d", t->what, o.vector);
		pm_expect_exc(&o, t->vector, t->err, PM_CODE, 0);
		pm_teardown();
	}
}

/*
 * CALL through a call gate to ring 0 from ring 3 (SDM 5.8.5, figure 5-13;
 * CALL "MORE-PRIVILEGE"): the new stack from TSS.SS0:ESP0 gets, from its
 * top, the caller's SS and ESP, the gate's parameter count of parameters
 * copied in their order, CS and EIP, each at the gate's size.  The target
 * is the OUT right after the CALL, so the run ends at ring 0.
 */
static void gate_param_copy(unsigned type, unsigned w)
{
	pm_machine(PM_PROT32, 0);
	at_cpl3_prot32();
	uint8_t b[32];
	unsigned n = 0;
	static const uint32_t params[3] = {0x11112222, 0x33334444, 0x55556666};
	for (unsigned k = 0; k < 3; k++) {
		if (w == 2)
			b[n++] = 0x66;
		b[n++] = 0x68; /* push imm */
		memcpy(b + n, &params[k], w);
		n += w;
	}
	unsigned call_at = n;
	b[n++] = 0x9a;
	memset(b + n, 0, 4);
	n += 4;
	b[n++] = G_GATE | 3;
	b[n++] = 0;
	pm_gdt(G_GATE, call_gate(type, S_CODE32, (uint32_t)PM_CODE + n, 3, true, 3));
	struct pm_out o = pm_run(b, n, R0, 0);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), S_CODE32);
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), S_DATA32);
	unsigned size = (4 + 3) * w;
	cr_expect_eq(o.r[RSP], RING0_SP - size, "%u-bit gate: ESP %#" PRIx64, 8 * w, o.r[RSP]);
	uint64_t want[7] = {PM_CODE + call_at + 7, S_CODE32_3 | 3, params[2], params[1], params[0],
	                    PM_SP - 3 * w,         S_DATA32_3 | 3};
	uint8_t exp[28] = {0}, got[28];
	for (unsigned k = 0; k < 7; k++)
		memcpy(exp + k * w, &want[k], w);
	pm_get(RING0_SP - size, got, size);
	for (unsigned k = 0; k < size; k++)
		cr_expect_eq(got[k], exp[k], "%u-bit gate: stack byte %u is %#x, expected %#x",
		             8 * w, k, got[k], exp[k]);
	pm_teardown();
}

Test(farerr, call_gate_parameter_copy_16_and_32_bit)
{
	gate_param_copy(12, 4);
	gate_param_copy(4, 2);
}

/* A 16-byte IA-32e call gate (SDM 5.8.3.1, figure 5-9). */
static void gate64(uint16_t sel, uint64_t off, unsigned dpl, unsigned upper_type)
{
	pm_gdt(G_GATE, call_gate(12, sel, (uint32_t)off, dpl, true, 0));
	pm_put64(PM_GDT + G_GATE + 8, (off >> 32) | (uint64_t)upper_type << 40);
}

/* call far [PM_DATA] (FF 1C 25 disp32) with m16:32 = 0:G_GATE | rpl. */
static struct pm_out call_far_m64(unsigned rpl)
{
	uint8_t ptr[6] = {0, 0, 0, 0, (uint8_t)(G_GATE | rpl), 0};
	pm_put(PM_DATA, ptr, 6);
	static const uint8_t code[] = {0xff, 0x1c, 0x25, 0x00, 0x00, 0x02, 0x00};
	return pm_run(code, sizeof(code), R0, 0);
}

/*
 * IA-32e call gates (SDM CALL "CALL-GATE", 5.8.3.1): the target must be a
 * 64-bit code segment (L = 1, D = 0), else #GP(code selector); the upper
 * half's type must be 0 and a 16-bit gate type is invalid, #GP(gate
 * selector).  The control: through a valid gate at the same level CS and
 * RIP are pushed as 8 bytes each; from ring 3 to ring 0 the new SS is a
 * null selector and SS, RSP, CS, RIP are pushed, no parameters.
 */
Test(farerr, ia32e_call_gates)
{
	pm_machine(PM_LONG64, 0);
	uint64_t target = PM_CODE + 7;
	gate64(S_CODE32, target, 0, 0);
	struct pm_out o = call_far_m64(0);
	pm_expect_exc(&o, IDT_GP, S_CODE32, PM_CODE, 0);
	pm_gdt(G_CODE, pm_desc(0, 0xfffff, 0x9b, 0xe)); /* L and D both set */
	gate64(G_CODE, target, 0, 0);
	o = call_far_m64(0);
	pm_expect_exc(&o, IDT_GP, G_CODE, PM_CODE, 0);
	gate64(S_CODE64, target, 0, 0x0c);
	o = call_far_m64(0);
	pm_expect_exc(&o, IDT_GP, G_GATE, PM_CODE, 0);
	pm_gdt(G_GATE, call_gate(4, S_CODE64, (uint32_t)target, 0, true, 0));
	pm_put64(PM_GDT + G_GATE + 8, 0);
	o = call_far_m64(0);
	pm_expect_exc(&o, IDT_GP, G_GATE, PM_CODE, 0);

	gate64(S_CODE64, target, 0, 0);
	o = call_far_m64(0);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RSP], PM_SP - 16);
	cr_expect_eq(pm_get_n(PM_SP - 16, 8), target, "return RIP");
	cr_expect_eq(pm_get_n(PM_SP - 8, 8), S_CODE64, "CS");
	pm_teardown();

	pm_machine(PM_LONG64, 3);
	gate64(S_CODE64, target, 3, 0);
	o = call_far_m64(3);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), S_CODE64);
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), 0, "a null SS with RPL 0");
	cr_expect_eq(o.r[RSP], RING0_SP - 32);
	uint64_t want[4] = {target, S_CODE64_3 | 3, PM_SP, S_DATA32_3 | 3};
	for (unsigned k = 0; k < 4; k++)
		cr_expect_eq(pm_get_n(RING0_SP - 32 + 8 * k, 8), want[k], "slot %u: %#" PRIx64, k,
		             pm_get_n(RING0_SP - 32 + 8 * k, 8));
}

/*
 * RET imm16 to an outer ring (SDM RET "RETURN-TO-OUTER-PRIVILEGE-LEVEL"):
 * EIP and CS popped, imm16 bytes released, ESP and SS popped, imm16
 * released again on the outer stack; DS and ES holding a DPL-0 data
 * segment are nulled, FS with a DPL-3 one and GS with conforming code
 * kept.  The faults: SS RPL other than the return CS's -> #GP(SS), SS not
 * present -> #SS(SS), a null SS -> #GP(0).
 */
static struct pm_out retf_outer(uint16_t ss)
{
	uint32_t frame[6] = {(uint32_t)PM_CODE + 3, S_CODE32_3 | 3, 0xaaaa, 0xbbbb, 0x7000, ss};
	pm_put(PM_SP, frame, sizeof(frame));
	uint64_t r[16] = {[RSP] = PM_SP};
	static const uint8_t code[] = {0xca, 0x08, 0x00}; /* retf 8 */
	return pm_run(code, 3, r, 0x3000);                /* IOPL 3: the ring-3 OUT runs */
}

Test(farerr, retf_imm16_to_an_outer_ring)
{
	pm_machine(PM_PROT32, 0);
	pm_gdt(G_CODE, pm_desc(0, 0xfffff, 0x9f, 0xc)); /* conforming code, DPL 0 */
	pm_seg(VM_REG_GUEST_FS, S_DATA32_3 | 3, 0, 0xffffffff, 0xc0f3);
	pm_seg(VM_REG_GUEST_GS, G_CODE, 0, 0xffffffff, 0xc09f);
	struct pm_out o = retf_outer(S_DATA32_3 | 3);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), S_CODE32_3 | 3);
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), S_DATA32_3 | 3);
	cr_expect_eq(o.r[RSP], 0x7000 + 8, "ESP %#" PRIx64, o.r[RSP]);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DS), 0);
	cr_expect(pm_get_seg(VM_REG_GUEST_DS).access & 0x10000, "DS unusable");
	cr_expect_eq(pm_reg(VM_REG_GUEST_ES), 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_FS), S_DATA32_3 | 3);
	cr_expect_eq(pm_reg(VM_REG_GUEST_GS), G_CODE);
	pm_teardown();

	pm_machine(PM_PROT32, 0);
	pm_gdt(G_DATA3, pm_desc(0, 0xfffff, 0x73, 0xc)); /* DPL 3, not present */
	o = retf_outer(S_DATA32_3);                      /* RPL 0 */
	pm_expect_exc(&o, IDT_GP, S_DATA32_3, PM_CODE, 0x3000);
	o = retf_outer(G_DATA3 | 3);
	pm_expect_exc(&o, IDT_SS, G_DATA3, PM_CODE, 0x3000);
	o = retf_outer(3);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE, 0x3000);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DS), S_DATA32, "nothing nulled by a faulting RET");
}

/*
 * IRETD to ring 3 (SDM IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL"): CS, EIP,
 * EFLAGS, ESP and SS from the frame; DS (DPL-0 data) and GS (DPL-0
 * readable non-conforming code) become null, ES (DPL 3) and FS (DPL-0
 * conforming code) stay.
 */
Test(farerr, iret_to_an_outer_ring_nulls_data_segments)
{
	pm_machine(PM_PROT32, 0);
	pm_gdt(G_CODE, pm_desc(0, 0xfffff, 0x9f, 0xc));
	pm_seg(VM_REG_GUEST_ES, S_DATA32_3 | 3, 0, 0xffffffff, 0xc0f3);
	pm_seg(VM_REG_GUEST_FS, G_CODE, 0, 0xffffffff, 0xc09f);
	pm_seg(VM_REG_GUEST_GS, S_CODE32, 0, 0xffffffff, 0xc09b);
	uint32_t frame[5] = {(uint32_t)PM_CODE + 1, S_CODE32_3 | 3, 0x3202, 0x7000, S_DATA32_3 | 3};
	pm_put(PM_SP, frame, sizeof(frame));
	uint64_t r[16] = {[RSP] = PM_SP};
	struct pm_out o = PM_RUN(r, 0, 0xcf);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, 0x3202);
	cr_expect_eq(o.r[RSP], 0x7000);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DS), 0);
	cr_expect(pm_get_seg(VM_REG_GUEST_DS).access & 0x10000, "DS unusable");
	cr_expect_eq(pm_reg(VM_REG_GUEST_GS), 0);
	cr_expect(pm_get_seg(VM_REG_GUEST_GS).access & 0x10000, "GS unusable");
	cr_expect_eq(pm_reg(VM_REG_GUEST_ES), S_DATA32_3 | 3);
	cr_expect_eq(pm_reg(VM_REG_GUEST_FS), G_CODE);
}

/* SDM IRET "IA-32e-MODE": "IF NT = 1 THEN #GP(0)", in 64-bit and in
 * compatibility mode, before anything is popped. */
Test(farerr, iret_with_nt_in_ia32e_mode_is_gp0)
{
	pm_machine(PM_LONG64, 0);
	struct pm_out o = PM_RUN(R0, 0x4000, 0x48, 0xcf);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE, 0x4000);
	pm_teardown();
	pm_machine(PM_COMPAT32, 0);
	o = PM_RUN(R0, 0x4000, 0xcf);
	pm_expect_exc(&o, IDT_GP, 0, PM_CODE, 0x4000);
}
