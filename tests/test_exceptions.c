/*
 * Exception delivery for every vector the soft CPU raises, in real mode
 * (IVT frame FLAGS CS IP, SDM vol. 3 20.1.4), 16- and 32-bit protected
 * mode at CPL 0 and CPL 3 (SS:ESP pushed on a privilege change, SDM vol. 3
 * 6.12.1), IA-32e mode (SS:RSP always, 16-byte aligned stack, IST, SDM
 * vol. 3 6.14.2-6.14.5) and virtual-8086 mode (GS FS DS ES pushed, data
 * segments nulled, SDM vol. 3 20.3.1.1).  Frames are compared byte for
 * byte, with RF set in the EFLAGS image of faults (SDM vol. 3 17.3.1.1).
 * Machines are built through the public API (prot_machine.h).
 *
 * #NM comes from WAIT with CR0.MP and CR0.TS, #AC(0) from an unaligned
 * read at CPL 3 with CR0.AM and EFLAGS.AC.  Not raised by any instruction
 * the soft CPU runs: #MF and #XM (no x87/SSE arithmetic yet) and #MC.
 */
#include <errno.h>

#include "prot_machine.h"

TestSuite(exc, .fini = pm_teardown);

/* ---- machines ---------------------------------------------------------- */

enum mach {
	M_REAL,
	M_PROT16,
	M_PROT32,
	M_PROT32_3,
	M_COMPAT,
	M_COMPAT_3,
	M_LONG,
	M_LONG_3,
	M_V86,
	M_N
};

static const char *const mach_name[M_N] = {"real",        "prot16",      "prot32",
                                           "prot32-cpl3", "compat32",    "compat32-cpl3",
                                           "long64",      "long64-cpl3", "v8086"};

static bool v86;

/* Byte 5 of gate 'vec' (P DPL 0 type): set the DPL so that INT n, INT3
 * and INTO may use it from CPL 3 (SDM vol. 3 6.12.1.1). */
static void gate_dpl3(unsigned vec)
{
	unsigned gsz = pm.mode >= PM_COMPAT32 ? 16 : 8;
	uint8_t b;
	pm_get(PM_IDT + vec * gsz + 5, &b, 1);
	b |= 0x60;
	pm_put(PM_IDT + vec * gsz + 5, &b, 1);
}

static void machine(enum mach m)
{
	static const enum pm_mode mode[M_N] = {PM_REAL,   PM_PROT16,   PM_PROT32,
	                                       PM_PROT32, PM_COMPAT32, PM_COMPAT32,
	                                       PM_LONG64, PM_LONG64,   PM_PROT32};
	int cpl = m == M_PROT32_3 || m == M_COMPAT_3 || m == M_LONG_3 ? 3 : 0;
	pm_machine(mode[m], cpl);
	v86 = m == M_V86;
	if (mode[m] != PM_REAL) {
		gate_dpl3(3);
		gate_dpl3(4);
		gate_dpl3(30);
	}
	if (v86) {
		/* Virtual-8086 segments: base = selector << 4, limit FFFFH,
		 * DPL 3 (SDM vol. 3 20.1.1); distinct ES, FS and GS to find in
		 * the frame. */
		pm_seg(VM_REG_GUEST_CS, 0, 0, 0xffff, 0xfb);
		pm_seg(VM_REG_GUEST_SS, 0, 0, 0xffff, 0xf3);
		pm_seg(VM_REG_GUEST_DS, 0, 0, 0xffff, 0xf3);
		pm_seg(VM_REG_GUEST_ES, 0x1111, 0x11110, 0xffff, 0xf3);
		pm_seg(VM_REG_GUEST_FS, 0x3333, 0x33330, 0xffff, 0xf3);
		pm_seg(VM_REG_GUEST_GS, 0x4444, 0x44440, 0xffff, 0xf3);
		pm.cs = pm_get_seg(VM_REG_GUEST_CS);
		pm.cs_sel = 0;
		pm.ss = pm_get_seg(VM_REG_GUEST_SS);
		pm.ss_sel = 0;
		pm.cpl = 3;
	}
}

/* RFLAGS for a run in machine m: VM and IOPL 3 in virtual-8086 mode. */
static uint64_t mach_flags(uint64_t flags)
{
	return v86 ? flags | 0x23000 : flags;
}

/*
 * The frame of 'vector' compared byte for byte: [error] IP CS EFLAGS, SS:SP
 * when the CPL changed or in IA-32e mode, and from virtual-8086 mode ES DS
 * FS GS; slots of 2 (IVT), 4 (32-bit gate) or 8 bytes (IA-32e); the frame
 * must end at the top of the handler's stack.
 */
static void expect_frame(const struct pm_out *o, int vector, int64_t err, uint64_t ip,
                         uint64_t eflags)
{
	const char *mn = pm_mode_name[pm.mode];
	cr_assert_eq(o->vector, vector, "%s%s: vector %d, expected %d", mn, v86 ? "/v86" : "",
	             o->vector, vector);
	unsigned w = pm.mode == PM_REAL ? 2 : pm.mode >= PM_COMPAT32 ? 8 : 4;
	uint64_t want[12];
	unsigned n = 0;
	if (err >= 0 && pm.mode != PM_REAL)
		want[n++] = (uint64_t)err;
	want[n++] = ip;
	want[n++] = pm.cs_sel;
	want[n++] = pm.mode == PM_REAL ? eflags & 0xffff : eflags;
	if (pm.cpl == 3 || pm.mode >= PM_COMPAT32) {
		want[n++] = PM_SP;
		want[n++] = pm.ss_sel;
	}
	if (v86) {
		want[n++] = 0x1111; /* ES */
		want[n++] = 0;      /* DS */
		want[n++] = 0x3333; /* FS */
		want[n++] = 0x4444; /* GS */
	}
	uint8_t exp[96] = {0}, got[96];
	for (unsigned k = 0; k < n; k++)
		memcpy(exp + k * w, &want[k], w);
	pm_get(o->frame, got, n * w);
	for (unsigned k = 0; k < n * w; k++)
		cr_expect_eq(got[k], exp[k], "%s%s vector %d: frame byte %u is %#x, expected %#x",
		             mn, v86 ? "/v86" : "", vector, k, got[k], exp[k]);
	uint64_t top = pm.cpl == 3 ? RING0_SP : PM_SP;
	if (pm.mode >= PM_COMPAT32)
		top &= ~UINT64_C(0xf);
	cr_expect_eq(o->frame + n * w, top, "%s: frame ends at %#" PRIx64 ", expected %#" PRIx64,
	             mn, o->frame + n * w, top);
	if (v86) {
		/* GS, FS, DS and ES hold null selectors in the handler. */
		static const int segs[] = {VM_REG_GUEST_ES, VM_REG_GUEST_DS, VM_REG_GUEST_FS,
		                           VM_REG_GUEST_GS};
		for (unsigned k = 0; k < 4; k++) {
			cr_expect_eq(pm_reg(segs[k]), 0, "v86: segment %u not null", k);
			cr_expect(pm_get_seg(segs[k]).access & 0x10000, "v86: segment %u usable",
			          k);
		}
		cr_expect_eq(pm_reg(VM_REG_GUEST_RFLAGS) & 0x20000, 0, "v86: VM still set");
	}
}

/* ---- the table ------------------------------------------------------------ */

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

struct code {
	const uint8_t *b;
	unsigned n;
};

struct exc_case {
	const char *name;
	int vector;
	int64_t err;               /* -1: no error code; -2: the error code of c16/c32 below */
	bool fault;                /* RIP at the instruction, RF = 1 pushed */
	uint64_t flags;            /* RFLAGS before (besides bit 1) */
	uint64_t rax, rbp;         /* registers the code uses */
	struct code c16, c32, c64; /* 16-bit code (real, prot16, v86), 32-bit, 64-bit */
	unsigned skip;             /* machines (1 << M_*) where the case does not apply */
	uint64_t cr0;              /* CR0 bits set before the run */
};

#define NO_CODE                                                                                    \
	{                                                                                          \
		NULL, 0                                                                            \
	}
#define C(...)                                                                                     \
	{                                                                                          \
		B(__VA_ARGS__)                                                                     \
	}

/* Per-machine error codes for the cases with err = -2. */
static int64_t case_err(const struct exc_case *k, enum mach m)
{
	if (k->vector == IDT_GP)
		return m == M_REAL || m == M_V86 || m == M_PROT16 ? 0 : 0x100;
	return k->err;
}

static const struct exc_case cases[] = {
    /* #DE: DIV CL with CL = 0 (SDM vol. 2 DIV), a fault. */
    {"DE", IDT_DE, -1, true, 0, 0, 0, C(0xb1, 0x00, 0xf6, 0xf1), C(0xb1, 0x00, 0xf6, 0xf1),
     C(0xb1, 0x00, 0xf6, 0xf1), 0, 0},
    /* #DB: the single-step trap after a NOP (SDM vol. 3 17.3.1.4): TF in
     * the image, RF clear. */
    {"DB", IDT_DB, -1, false, 0x100, 0, 0, C(0x90), C(0x90), C(0x90), 0, 0},
    /* #BP: INT3, a trap (after the instruction). */
    {"BP", IDT_BP, -1, false, 0, 0, 0, C(0xcc), C(0xcc), C(0xcc), 0, 0},
    /* #OF: INTO with OF = 1; #UD in 64-bit mode (below). */
    {"OF", IDT_OF, -1, false, 0x800, 0, 0, C(0xce), C(0xce), NO_CODE, 1u << M_LONG | 1u << M_LONG_3,
     0},
    /* #BR: BOUND with the index 0x30 above [0x10, 0x20] at 0x7000, a fault;
     * no BOUND in 64-bit mode. */
    {"BR", IDT_BR, -1, true, 0, 0x30, 0, C(0x62, 0x06, 0x00, 0x70),
     C(0x62, 0x05, 0x00, 0x70, 0x00, 0x00), NO_CODE, 1u << M_LONG | 1u << M_LONG_3, 0},
    /* #UD: UD2, a fault; and INTO in 64-bit mode. */
    {"UD", IDT_UD, -1, true, 0, 0, 0, C(0x0f, 0x0b), C(0x0f, 0x0b), C(0x0f, 0x0b), 0, 0},
    {"UD-into64", IDT_UD, -1, true, 0x800, 0, 0, NO_CODE, NO_CODE, C(0xce),
     ~(1u << M_LONG | 1u << M_LONG_3), 0},
    /* #GP: a word read at offset FFFFH of a 64 KiB segment (real, v86,
     * prot16: #GP(0), no error code in the IVT frame), MOV DS with a
     * selector past the GDT limit (#GP(selector)). */
    {"GP", IDT_GP, -2, true, 0, 0x100, 0, C(0x8b, 0x06, 0xff, 0xff), C(0x8e, 0xd8), C(0x8e, 0xd8),
     0, 0},
    /* #NP: MOV DS with a not-present DPL-3 data descriptor: #NP(selector). */
    {"NP", IDT_NP, S_FREE, true, 0, S_FREE, 0, C(0x8e, 0xd8), C(0x8e, 0xd8), C(0x8e, 0xd8),
     1u << M_REAL | 1u << M_V86, 0},
    /* #SS(0): MOV AX, [EBP] past SS's 64 KiB limit (prot16); a
     * non-canonical stack reference (64-bit mode). */
    {"SS", IDT_SS, 0, true, 0, 0, 0x10000, C(0x67, 0x8b, 0x45, 0x00), NO_CODE,
     C(0x48, 0xbd, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x8b, 0x45, 0x00),
     ~(1u << M_PROT16 | 1u << M_LONG | 1u << M_LONG_3), 0},
    /* INT n: vector 30 through a DPL-3 gate, a software interrupt: RIP after
     * it, RF clear. */
    {"INT30", 30, -1, false, 0, 0, 0, C(0xcd, 0x1e), C(0xcd, 0x1e), C(0xcd, 0x1e), 0, 0},
    /* #NM: WAIT with CR0.MP and CR0.TS (SDM vol. 2 WAIT), a fault. */
    {"NM", IDT_NM, -1, true, 0, 0, 0, C(0x9b), C(0x9b), C(0x9b), 0, 0xa},
    /* #AC(0): a word or doubleword read at 0x7001 at CPL 3 with CR0.AM and
     * EFLAGS.AC (SDM vol. 3 6.15), a fault; CPL 3 machines only. */
    {"AC", IDT_AC, 0, true, 0x40000, 0, 0, C(0x8b, 0x06, 0x01, 0x70),
     C(0x8b, 0x05, 0x01, 0x70, 0x00, 0x00), C(0x8b, 0x04, 0x25, 0x01, 0x70, 0x00, 0x00),
     ~(1u << M_PROT32_3 | 1u << M_COMPAT_3 | 1u << M_LONG_3 | 1u << M_V86), 0x40000},
};

static struct code case_code(const struct exc_case *k, enum mach m)
{
	switch (m) {
	case M_REAL:
	case M_PROT16:
	case M_V86:
		return k->c16;
	case M_LONG:
	case M_LONG_3:
		return k->c64;
	default:
		return k->c32;
	}
}

static unsigned run_table_in(enum mach m)
{
	unsigned ran = 0;
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct exc_case *k = &cases[ci];
		struct code code = case_code(k, m);
		if ((k->skip >> m) & 1 || !code.b)
			continue;
		machine(m);
		pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x72, 0xc)); /* not present, DPL 3 */
		uint32_t bounds[2] = {0x10, 0x20};
		pm_put(0x7000, bounds, 8);
		if (k->cr0)
			pm_set_reg(VM_REG_GUEST_CR0, pm_reg(VM_REG_GUEST_CR0) | k->cr0);
		uint64_t r[16] = {[RAX] = k->rax, [RBP] = k->rbp};
		uint64_t flags = mach_flags(k->flags);
		struct pm_out o = pm_run(code.b, code.n, r, flags);
		uint64_t ip = PM_CODE + (k->fault ? 0 : code.n);
		if (k->vector == IDT_SS && (m == M_LONG || m == M_LONG_3))
			ip = PM_CODE + 10; /* the MOV after MOV RBP, imm64 */
		if (k->vector == IDT_DE)
			ip = PM_CODE + 2; /* the DIV after MOV CL, 0 */
		uint64_t eflags = flags | 2;
		if (k->fault && m != M_REAL)
			eflags |= RF_BIT;
		cr_log_info("%s in %s", k->name, mach_name[m]);
		expect_frame(&o, k->vector, case_err(k, m), ip, eflags);
		if (k->vector == IDT_DB)
			cr_expect_eq(pm_reg(VM_REG_GUEST_DR6) & 0x4000, 0x4000, "DR6.BS");
		pm_teardown();
		ran++;
	}
	return ran;
}

Test(exc, every_vector_real_mode)
{
	cr_expect_eq(run_table_in(M_REAL), 9);
}

Test(exc, every_vector_prot16)
{
	cr_expect_eq(run_table_in(M_PROT16), 11);
}

Test(exc, every_vector_prot32)
{
	cr_expect_eq(run_table_in(M_PROT32), 10);
}

Test(exc, every_vector_prot32_from_cpl3)
{
	cr_expect_eq(run_table_in(M_PROT32_3), 11);
}

Test(exc, every_vector_compat32)
{
	cr_expect_eq(run_table_in(M_COMPAT), 10);
}

Test(exc, every_vector_compat32_from_cpl3)
{
	cr_expect_eq(run_table_in(M_COMPAT_3), 11);
}

Test(exc, every_vector_long64)
{
	cr_expect_eq(run_table_in(M_LONG), 10);
}

Test(exc, every_vector_long64_from_cpl3)
{
	cr_expect_eq(run_table_in(M_LONG_3), 11);
}

Test(exc, every_vector_from_virtual_8086_mode)
{
	cr_expect_eq(run_table_in(M_V86), 10);
}

/* INT n in virtual-8086 mode with IOPL < 3 is #GP(0) at the INT, no event
 * (SDM vol. 2 INT n; vol. 3 20.2.7); INT3 is not IOPL-sensitive. */
Test(exc, v8086_int_n_needs_iopl3)
{
	machine(M_V86);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0x20000, 0xcd, 0x1e);
	expect_frame(&o, IDT_GP, 0, PM_CODE, 0x20000 | 2 | RF_BIT);
	pm_teardown();
	machine(M_V86);
	o = PM_RUN(r, 0x20000, 0xcc);
	expect_frame(&o, IDT_BP, -1, PM_CODE + 1, 0x20000 | 2);
}

/* A handler reached from virtual-8086 mode must be at CPL 0: a DPL-3 code
 * segment in the gate is #GP(selector | EXT) (SDM INT n,
 * INTERRUPT-FROM-VIRTUAL-8086-MODE); that #GP's own gate is fine. */
Test(exc, v8086_handler_must_be_ring0)
{
	machine(M_V86);
	pm_put64(PM_IDT + 8 * IDT_UD,
	         (PM_HANDLERS + 12) | (uint64_t)(S_CODE32_3 | 3) << 16 | (uint64_t)0x8e00 << 32);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, mach_flags(0), 0x0f, 0x0b);
	expect_frame(&o, IDT_GP, S_CODE32_3 | 1, PM_CODE, 0x23002 | RF_BIT);
}

/* INT n at CPL 3 through a DPL-0 gate: #GP(vector * 8 + 2), a fault (SDM
 * vol. 3 6.12.1.1). */
Test(exc, int_n_through_a_dpl0_gate_from_cpl3)
{
	machine(M_PROT32_3);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0xcd, 0x1d);
	expect_frame(&o, IDT_GP, 29 * 8 + 2, PM_CODE, 2 | RF_BIT);
}

/*
 * #TS: INT 31 at CPL 3 through a gate to a ring-1 handler, with a null SS1
 * in the TSS: #TS(EXT = 0) at the INT (SDM vol. 3 6.12.1 and INT n:
 * "IF NewSS is NULL THEN #TS(EXT)").  Its own delivery to ring 0 works.
 */
Test(exc, ts_from_a_null_inner_stack)
{
	machine(M_PROT32_3);
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0xbb, 0xc)); /* DPL 1 code */
	pm_put64(PM_IDT + 8 * 31,
	         (PM_HANDLERS + 62) | (uint64_t)(S_FREE | 1) << 16 | (uint64_t)0xee00 << 32);
	pm_put64(PM_TSS + 12, 0); /* ESP1, SS1 = 0 */
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0xcd, 0x1f);
	expect_frame(&o, IDT_TS, 0, PM_CODE, 2 | RF_BIT);
}

/* ---- #PF: CR2 and every error-code bit (SDM vol. 3 4.7) ------------------ */

struct pf_case {
	const char *name;
	uint64_t pde; /* the 2 MiB PDE for 6-8 MiB */
	uint64_t cr0, efer;
	bool cpl3;
	uint8_t code[8]; /* at PM_CODE: the access through RBX = 0x600010 */
	unsigned n;
	uint32_t err;
	bool fetch; /* the fault is the fetch at 0x600010 (RIP there) */
};

#define PF_VA UINT64_C(0x600010)

static const struct pf_case pf_cases[] = {
    {"read, not present", 0, 0, 0, false, {0x8b, 0x03}, 2, 0x0, false},
    {"write, not present", 0, 0, 0, false, {0x89, 0x03}, 2, 0x2, false},
    {"user read, not present", 0, 0, 0, true, {0x8b, 0x03}, 2, 0x4, false},
    {"user write, read-only", 0x600085, 0, 0, true, {0x89, 0x03}, 2, 0x7, false},
    {"supervisor write, read-only, WP", 0x600081, 0x10000, 0, false, {0x89, 0x03}, 2, 0x3, false},
    {"user read, supervisor page", 0x600083, 0, 0, true, {0x8b, 0x03}, 2, 0x5, false},
    /* Bit 13 of a 2 MiB PDE is reserved (SDM vol. 3 table 4-17). */
    {"read, reserved bit", 0x602083, 0, 0, false, {0x8b, 0x03}, 2, 0x9, false},
    {"fetch, not present, NXE", 0, 0, 0x800, false, {0xff, 0xe3}, 2, 0x10, true},
    {"fetch, XD page", 0x8000000000600083ull, 0, 0x800, false, {0xff, 0xe3}, 2, 0x11, true},
};

Test(exc, page_fault_error_codes_and_cr2_long64)
{
	for (size_t ci = 0; ci < sizeof(pf_cases) / sizeof(pf_cases[0]); ci++) {
		const struct pf_case *k = &pf_cases[ci];
		machine(k->cpl3 ? M_LONG_3 : M_LONG);
		pm_put64(PM_PD + 8 * 3, k->pde);
		if (k->cr0)
			pm_set_reg(VM_REG_GUEST_CR0, 0x80000011 | k->cr0);
		if (k->efer)
			pm_set_reg(VM_REG_GUEST_EFER, 0x500 | k->efer);
		uint64_t r[16] = {[RBX] = PF_VA};
		struct pm_out o = pm_run(k->code, k->n, r, 0);
		cr_log_info("#PF %s", k->name);
		expect_frame(&o, IDT_PF, k->err, k->fetch ? PF_VA : PM_CODE, 2 | RF_BIT);
		cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), PF_VA, "%s: CR2 %#" PRIx64, k->name,
		             pm_reg(VM_REG_GUEST_CR2));
		pm_teardown();
	}
}

/* ---- #DF and triple fault (SDM vol. 3 6.15, tables 6-4 and 6-5) ---------- */

static void gate_not_present(unsigned vec)
{
	unsigned gsz = pm.mode >= PM_COMPAT32 ? 16 : 8;
	uint8_t b;
	pm_get(PM_IDT + vec * gsz + 5, &b, 1);
	b &= 0x7f;
	pm_put(PM_IDT + vec * gsz + 5, &b, 1);
}

/* The #DF frame: error code 0, CS:EIP of the first fault's instruction, an
 * abort's EFLAGS (RF as it was). */
Test(exc, contributory_then_contributory_is_double_fault_prot32)
{
	machine(M_PROT32);
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x72, 0xc));
	gate_not_present(IDT_NP); /* #NP's delivery: #NP(11 * 8 + 2 + EXT) */
	uint64_t r[16] = {[RAX] = S_FREE};
	struct pm_out o = PM_RUN(r, 0, 0x8e, 0xd8);
	expect_frame(&o, IDT_DF, 0, PM_CODE, 2);
}

Test(exc, benign_then_contributory_delivers_the_second_prot32)
{
	machine(M_PROT32);
	gate_not_present(IDT_UD); /* #UD's delivery: #NP(6 * 8 + 2 + 1) */
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x0b);
	expect_frame(&o, IDT_NP, 6 * 8 + 3, PM_CODE, 2 | RF_BIT);
}

/* Long mode: #DF through IST 1 (TSS offset 24H), so that a fault on the
 * normal stack can still be reported. */
static void df_on_ist1(uint64_t ist_top)
{
	pm_put64(PM_TSS + 0x24, ist_top);
	uint8_t ist = 1;
	pm_put(PM_IDT + 16 * IDT_DF + 4, &ist, 1);
}

/* #PF whose frame push faults (RSP on the not-present 6 MiB page): #PF +
 * #PF is #DF, on the IST stack, CR2 at the push. */
Test(exc, page_fault_then_page_fault_is_double_fault_on_ist_long64)
{
	machine(M_LONG);
	pm_put64(PM_PD + 8 * 3, 0);
	df_on_ist1(0x7f000);
	uint64_t r[16] = {[RBX] = PF_VA, [RSP] = 0x601000};
	struct pm_out o = PM_RUN(r, 0, 0x8b, 0x03);
	cr_assert_eq(o.vector, IDT_DF);
	uint64_t want[6] = {0, PM_CODE, S_CODE64, 2, 0x601000, S_DATA32};
	uint64_t got[6];
	pm_get(o.frame, got, sizeof(got));
	cr_expect_arr_eq(got, want, sizeof(want));
	cr_expect_eq(o.frame + sizeof(got), 0x7f000);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), 0x600ff8, "CR2 %#" PRIx64, pm_reg(VM_REG_GUEST_CR2));
}

/* #PF whose gate is not present: #PF + #NP is #DF. */
Test(exc, page_fault_then_contributory_is_double_fault_long64)
{
	machine(M_LONG);
	pm_put64(PM_PD + 8 * 3, 0);
	gate_not_present(IDT_PF);
	uint64_t r[16] = {[RBX] = PF_VA};
	struct pm_out o = PM_RUN(r, 0, 0x8b, 0x03);
	expect_frame(&o, IDT_DF, 0, PM_CODE, 2);
}

/* #GP whose IST stack is not present: contributory + #PF delivers the #PF
 * (SDM table 6-5), on the normal stack. */
Test(exc, contributory_then_page_fault_delivers_the_page_fault_long64)
{
	machine(M_LONG);
	pm_put64(PM_PD + 8 * 3, 0);
	pm_put64(PM_TSS + 0x2c, 0x601000); /* IST 2 */
	uint8_t ist = 2;
	pm_put(PM_IDT + 16 * IDT_GP + 4, &ist, 1);
	uint64_t r[16] = {[RAX] = 0x100};
	struct pm_out o = PM_RUN(r, 0, 0x8e, 0xd8);
	/* The push's #PF is an event of the delivery: EXT is not in a #PF
	 * error code; a supervisor write to a not-present page is 2. */
	expect_frame(&o, IDT_PF, 2, PM_CODE, 2 | RF_BIT);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), 0x600ff8);
}

/* An IDT too short for #UD, #GP and #DF: #UD -> #GP(6*8+3) -> #GP(13*8+3)
 * -> #DF -> a fault delivering #DF: triple fault, SUSPENDED {TRIPLEFAULT}
 * at the faulting RIP, inst_length 0; the vcpu is then suspended. */
Test(exc, fault_delivering_double_fault_is_triple_fault)
{
	machine(M_PROT32);
	struct seg_desc idtr = {PM_IDT, 8 * 6 - 1, 0};
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, VM_REG_GUEST_IDTR, &idtr), 0);
	uint8_t code[] = {0x0f, 0x0b};
	pm_put(PM_CODE, code, 2);
	pm_set_reg(VM_REG_GUEST_RFLAGS, 2);
	struct vm_run run = {.cpuid = 0, .rip = PM_CODE};
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	cr_expect_eq(run.vm_exit.exitcode, VM_EXITCODE_SUSPENDED);
	cr_expect_eq(run.vm_exit.u.suspended.how, VM_SUSPEND_TRIPLEFAULT);
	cr_expect_eq(run.vm_exit.rip, PM_CODE);
	cr_expect_eq(run.vm_exit.inst_length, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RIP), PM_CODE);
	cr_expect_eq(vm_run(pm.vm, &run), EINVAL);
}

/* A benign exception whose delivery gives a benign one delivers the
 * second: #UD while delivering #BP (gate not present gives #NP, so use a
 * real-mode IVT past its limit: #GP, no escalation from a benign first). */
Test(exc, benign_first_never_escalates_real_mode)
{
	machine(M_REAL);
	struct seg_desc idtr = {0, 4 * 13 + 3, 0}; /* #GP's entry is the last */
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, VM_REG_GUEST_IDTR, &idtr), 0);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, 0, 0xcd, 0x1e); /* INT 30: past the limit */
	expect_frame(&o, IDT_GP, -1, PM_CODE, 2);
}
