/*
 * Hardware breakpoints: DR0-DR3 with DR7's enable, R/W and LEN fields (SDM
 * vol. 3 17.2), the instruction-breakpoint fault and RF (17.3.1.1), data
 * breakpoints as traps, after REP iterations too (17.3.1.2), one #DB for
 * a data breakpoint and a single step (17.3.1.4), and the #DB a MOV SS
 * holds for one instruction (6.8.3).  Everything goes through the public
 * API and guest-visible state (the pushed frame, DR6, registers and
 * memory), so the tests hold on a hardware backend too.
 */
#include "prot_machine.h"

#define DR6_INIT 0xffff0ff0ull
#define DR6_BS   0x4000ull
#define DR7_INIT 0x400ull
#define TF_BIT   0x100ull

static const uint64_t R0[16];

TestSuite(bp, .fini = pm_teardown);

/* DR7's R/W and LEN encodings (SDM vol. 3 17.2.4). */
enum { RW_X = 0, RW_W = 1, RW_RW = 3 };
enum { LEN1 = 0, LEN2 = 1, LEN8 = 2, LEN4 = 3 };

/* DR7 bits enabling breakpoint n globally (Gn) for rw and len. */
static uint64_t bp(unsigned n, unsigned rw, unsigned len)
{
	return (2ull << (2 * n)) | (uint64_t)rw << (16 + 4 * n) | (uint64_t)len << (18 + 4 * n);
}

/* DR0-DR3 = addr[], DR7 = dr7 (plus its fixed bit 10), DR6 reset. */
static void debug_regs(uint64_t dr7, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	pm_set_reg(VM_REG_GUEST_DR0, a0);
	pm_set_reg(VM_REG_GUEST_DR1, a1);
	pm_set_reg(VM_REG_GUEST_DR2, a2);
	pm_set_reg(VM_REG_GUEST_DR3, a3);
	pm_set_reg(VM_REG_GUEST_DR6, DR6_INIT);
	pm_set_reg(VM_REG_GUEST_DR7, DR7_INIT | dr7);
}

/*
 * A #DB delivered to the machine's ring-0 handler at CPL 0: the frame is
 * (E/R)IP, CS, (E/R)FLAGS, and in IA-32e mode RSP and SS, compared byte
 * for byte (SDM vol. 3 6.12.1, 6.14.2; real mode 20.1.4, FLAGS' low 16
 * bits); 'sp' is the stack pointer when the #DB came.  DR6 must read dr6.
 */
static void expect_db(const struct pm_out *o, uint64_t ip, uint64_t flags, uint64_t sp,
                      uint64_t dr6)
{
	const char *mn = pm_mode_name[pm.mode];
	cr_assert_eq(o->vector, 1, "%s: vector %d, expected #DB", mn, o->vector);
	unsigned w = pm.mode == PM_REAL ? 2 : pm.mode >= PM_COMPAT32 ? 8 : 4;
	uint64_t want[5];
	unsigned n = 0;
	want[n++] = ip;
	want[n++] = pm.cs_sel;
	want[n++] = pm.mode == PM_REAL ? (flags | 2) & 0xffff : flags | 2;
	if (pm.mode >= PM_COMPAT32) {
		want[n++] = sp;
		want[n++] = pm.ss_sel;
	}
	uint8_t exp[40] = {0}, got[40];
	for (unsigned k = 0; k < n; k++)
		memcpy(exp + k * w, &want[k], w);
	pm_get(o->frame, got, n * w);
	for (unsigned k = 0; k < n * w; k++)
		cr_expect_eq(got[k], exp[k], "%s: frame byte %u is %#x, expected %#x", mn, k,
		             got[k], exp[k]);
	uint64_t top = pm.mode >= PM_COMPAT32 ? sp & ~UINT64_C(0xf) : sp;
	cr_expect_eq(o->frame + n * w, top, "%s: frame ends at %#" PRIx64 ", expected %#" PRIx64,
	             mn, o->frame + n * w, top);
	uint64_t got6 = pm_reg(VM_REG_GUEST_DR6);
	cr_expect_eq(got6, dr6, "%s: DR6 %#" PRIx64 ", expected %#" PRIx64, mn, got6, dr6);
}

/* ---- instruction breakpoints (SDM vol. 3 17.3.1.1) ---------------------------- */

/* nop; nop; mov eax, 1: a fault before the third instruction, which has
 * not run; RF is pushed as it was (0). */
static void insn_breakpoint_in(enum pm_mode m)
{
	pm_machine(m, 0);
	debug_regs(bp(0, RW_X, LEN1), PM_CODE + 2, 0, 0, 0);
	struct pm_out o = PM_RUN(R0, 0, 0x90, 0x90, 0xb8, 0x01, 0x00, 0x00, 0x00);
	expect_db(&o, PM_CODE + 2, 0, PM_SP, DR6_INIT | 1);
	cr_expect_eq(o.r[RAX], 0, "%s: the instruction ran", pm_mode_name[m]);
}

Test(bp, insn_real_mode)
{
	insn_breakpoint_in(PM_REAL);
}

Test(bp, insn_prot32)
{
	insn_breakpoint_in(PM_PROT32);
}

Test(bp, insn_long64)
{
	insn_breakpoint_in(PM_LONG64);
}

/* Every enabled breakpoint that matches is reported; a disabled one (no
 * L or G bit) never fires. */
Test(bp, insn_two_match_and_disabled)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(bp(0, RW_X, LEN1) | bp(2, RW_X, LEN1), PM_CODE + 1, 0, PM_CODE + 1, 0);
	struct pm_out o = PM_RUN(R0, 0, 0x90, 0x90, 0x90);
	expect_db(&o, PM_CODE + 1, 0, PM_SP, DR6_INIT | 5);
	/* R/W and LEN set, L1 and G1 clear. */
	debug_regs((uint64_t)RW_X << 20, 0, PM_CODE + 1, 0, 0);
	o = PM_RUN(R0, 0, 0x90, 0x90, 0x90);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DR6), DR6_INIT);
}

/* RF = 1 makes the first instruction ignore its instruction breakpoint;
 * RF is cleared when it completes, so the second one's fires. */
Test(bp, insn_rf_suppresses_first_instruction)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(bp(0, RW_X, LEN1) | bp(1, RW_X, LEN1), PM_CODE, PM_CODE + 1, 0, 0);
	struct pm_out o = PM_RUN(R0, RF_BIT, 0x90, 0x90, 0x90);
	expect_db(&o, PM_CODE + 1, 0, PM_SP, DR6_INIT | 2);
	o = PM_RUN(R0, 0, 0x90, 0x90, 0x90);
	expect_db(&o, PM_CODE, 0, PM_SP, DR6_INIT | 1);
}

/* The #DB handler at DB_HANDLER reports with OUT 0xA1, then sets RF in
 * the pushed EFLAGS and returns with IRET, as SDM vol. 3 17.3.1.1 tells a
 * handler to: the breakpointed instruction runs once, and the next time
 * it comes the breakpoint fires again. */
#define DB_HANDLER UINT64_C(0x2800)

static void install_rf_handler(void)
{
	static const uint8_t h32[] = {0xe6, 0xa1, 0x81, 0x4c, 0x24, 0x08,
	                              0x00, 0x00, 0x01, 0x00, 0xcf}; /* or [esp+8]; iretd */
	static const uint8_t h64[] = {0xe6, 0xa1, 0x48, 0x81, 0x4c, 0x24, 0x10,
	                              0x00, 0x00, 0x01, 0x00, 0x48, 0xcf};
	uint64_t h = DB_HANDLER;
	if (pm.mode == PM_LONG64) {
		pm_put(h, h64, sizeof(h64));
		pm_put64(PM_IDT + 16, (h & 0xffff) | (uint64_t)S_CODE64 << 16 |
		                          (uint64_t)0x8e00 << 32 | (h >> 16) << 48);
		pm_put64(PM_IDT + 24, h >> 32);
	} else {
		pm_put(h, h32, sizeof(h32));
		pm_put64(PM_IDT + 8, (h & 0xffff) | (uint64_t)S_CODE32 << 16 |
		                         (uint64_t)0x8e00 << 32 | (h >> 16) << 48);
	}
}

static void resume(struct vm_exit *e)
{
	struct vm_run run = {.cpuid = 0, .rip = e->rip + (uint64_t)e->inst_length};
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	*e = run.vm_exit;
}

/* mov ecx, 2; L: inc eax (FF C0, the breakpoint); loop L */
static void iret_rf_in(enum pm_mode m)
{
	pm_machine(m, 0);
	install_rf_handler();
	debug_regs(bp(3, RW_X, LEN1), 0, 0, 0, PM_CODE + 5);
	static const uint8_t code[] = {0xb9, 0x02, 0x00, 0x00, 0x00, 0xff, 0xc0, 0xe2, 0xfc};
	struct vm_exit e;
	pm_start(code, sizeof(code), R0, 0, &e);
	unsigned hits = 0;
	while (e.exitcode == VM_EXITCODE_INOUT && e.u.inout.port == PORT_EXC + 1) {
		cr_assert_eq(e.rip, DB_HANDLER, "%s: OUT at %#" PRIx64, pm_mode_name[m], e.rip);
		uint64_t sp = pm_reg(VM_REG_GUEST_RSP);
		unsigned w = m == PM_LONG64 ? 8 : 4;
		cr_expect_eq(pm_get_n(sp, w), PM_CODE + 5, "%s: pushed IP", pm_mode_name[m]);
		cr_expect_eq(pm_get_n(sp + 2 * w, w), 2, "%s: pushed FLAGS", pm_mode_name[m]);
		cr_expect_eq(pm_reg(VM_REG_GUEST_DR6), DR6_INIT | 8);
		cr_assert_lt(++hits, 10);
		resume(&e);
	}
	cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT);
	cr_assert_eq(e.u.inout.port, PORT_DONE, "%s: OUT %#x", pm_mode_name[m], e.u.inout.port);
	cr_expect_eq(hits, 2, "%s: %u #DBs", pm_mode_name[m], hits);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RAX), 2);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RCX), 0);
}

Test(bp, insn_iret_with_rf_prot32)
{
	iret_rf_in(PM_PROT32);
}

Test(bp, insn_iret_with_rf_long64)
{
	iret_rf_in(PM_LONG64);
}

/* ---- data breakpoints (SDM vol. 3 17.3.1.2) ------------------------------------ */

/* mov [ebx], eax: a trap after the write, EIP at the next instruction. */
Test(bp, data_write_prot32)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(bp(1, RW_W, LEN4), 0, PM_DATA, 0, 0);
	uint64_t r[16] = {[RAX] = 0x11223344, [RBX] = PM_DATA};
	struct pm_out o = PM_RUN(r, 0, 0x89, 0x03, 0x90);
	expect_db(&o, PM_CODE + 2, 0, PM_SP, DR6_INIT | 2);
	cr_expect_eq(pm_get_n(PM_DATA, 4), 0x11223344, "the write happened");
	/* A read does not meet a write breakpoint (mov eax, [ebx]) ... */
	pm_set_reg(VM_REG_GUEST_DR6, DR6_INIT);
	o = PM_RUN(r, 0, 0x8b, 0x03, 0x90);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DR6), DR6_INIT);
	/* ... but meets a read/write one. */
	debug_regs(bp(1, RW_RW, LEN4), 0, PM_DATA, 0, 0);
	o = PM_RUN(r, 0, 0x8b, 0x03, 0x90);
	expect_db(&o, PM_CODE + 2, 0, PM_SP, DR6_INIT | 2);
	/* Disabled again, the same page is read and written freely. */
	debug_regs(0, 0, PM_DATA, 0, 0);
	o = PM_RUN(r, 0, 0x89, 0x03, 0x8b, 0x0b);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 0x11223344);
}

Test(bp, data_real_mode)
{
	pm_machine(PM_REAL, 0);
	debug_regs(bp(2, RW_W, LEN2), 0, 0, 0x7002, 0);
	uint64_t r[16] = {[RAX] = 0xabcd, [RBX] = 0x7001};
	struct pm_out o = PM_RUN(r, 0, 0x89, 0x07, 0x90); /* mov [bx], ax */
	expect_db(&o, PM_CODE + 2, 0, PM_SP, DR6_INIT | 4);
	cr_expect_eq(pm_get_n(0x7001, 2), 0xabcd);
}

Test(bp, data_long64_len8)
{
	pm_machine(PM_LONG64, 0);
	debug_regs(bp(0, RW_RW, LEN8), PM_DATA + 8, 0, 0, 0);
	uint64_t r[16] = {[RBX] = PM_DATA + 0xc};
	struct pm_out o = PM_RUN(r, 0, 0x8b, 0x03, 0x90); /* mov eax, [rbx] */
	expect_db(&o, PM_CODE + 2, 0, PM_SP, DR6_INIT | 1);
	r[RBX] = PM_DATA + 0x10;
	o = PM_RUN(r, 0, 0x48, 0x89, 0x03); /* mov [rbx], rax: the next quadword */
	pm_expect_done(&o);
	r[RBX] = PM_DATA + 1;
	o = PM_RUN(r, 0, 0x48, 0x89, 0x03); /* +1..+8: its last byte */
	expect_db(&o, PM_CODE + 3, 0, PM_SP, DR6_INIT | 1);
}

/* Which accesses meet a write breakpoint of each length: any byte of the
 * access in the range (SDM vol. 3 17.2.5, table 17-3).  The LEN bits mask
 * the low bits of DRn, so an unaligned DRn covers the aligned range. */
struct len_case {
	unsigned len;
	unsigned dr_off; /* DR0 = PM_DATA + dr_off */
	unsigned off;    /* the access at PM_DATA + off */
	unsigned size;   /* 1, 2 or 4 bytes */
	bool hit;
};

static const struct len_case len_cases[] = {
    {LEN1, 5, 5, 1, true},   {LEN1, 5, 4, 1, false}, {LEN1, 5, 6, 1, false},
    {LEN1, 5, 4, 2, true},   {LEN1, 5, 2, 4, true},  {LEN1, 5, 6, 4, false},
    {LEN2, 4, 5, 1, true},   {LEN2, 4, 3, 1, false}, {LEN2, 4, 6, 1, false},
    {LEN2, 4, 3, 2, true},   {LEN2, 4, 6, 4, false}, {LEN2, 4, 1, 4, true},
    {LEN4, 4, 7, 1, true},   {LEN4, 4, 8, 1, false}, {LEN4, 4, 3, 1, false},
    {LEN4, 4, 2, 2, false},  {LEN4, 4, 3, 2, true},  {LEN4, 4, 6, 4, true},
    {LEN8, 8, 8, 1, true},   {LEN8, 8, 15, 1, true}, {LEN8, 8, 16, 1, false},
    {LEN8, 8, 7, 1, false},  {LEN8, 8, 6, 4, true},  {LEN8, 8, 16, 4, false},
    {LEN4, 6, 4, 1, true},   {LEN4, 6, 8, 1, false}, {LEN2, 7, 6, 1, true},
    {LEN8, 0xd, 8, 1, true},
};

Test(bp, data_len_coverage)
{
	pm_machine(PM_PROT32, 0);
	for (size_t k = 0; k < sizeof(len_cases) / sizeof(len_cases[0]); k++) {
		const struct len_case *t = &len_cases[k];
		debug_regs(bp(0, RW_W, t->len), PM_DATA + t->dr_off, 0, 0, 0);
		uint64_t r[16] = {[RBX] = PM_DATA + t->off};
		static const uint8_t st8[] = {0x88, 0x03}, st16[] = {0x66, 0x89, 0x03},
		                     st32[] = {0x89, 0x03};
		const uint8_t *code = t->size == 1 ? st8 : t->size == 2 ? st16 : st32;
		unsigned n = t->size == 2 ? 3 : 2;
		struct pm_out o = pm_run(code, n, r, 0);
		cr_log_info("case %zu: LEN %u at +%u, %u bytes at +%u", k, t->len, t->dr_off,
		            t->size, t->off);
		if (t->hit) {
			expect_db(&o, PM_CODE + n, 0, PM_SP, DR6_INIT | 1);
		} else {
			pm_expect_done(&o);
			cr_expect_eq(pm_reg(VM_REG_GUEST_DR6), DR6_INIT, "case %zu", k);
		}
	}
}

/* The stack is data: PUSH meets a write breakpoint on the slot it writes.
 * (The #DB's frame goes below that slot, so its delivery meets none.) */
Test(bp, data_stack_push)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(bp(1, RW_W, LEN4), 0, PM_SP - 4, 0, 0);
	uint64_t r[16] = {[RAX] = 0x5a5a5a5a};
	struct pm_out o = PM_RUN(r, 0, 0x90, 0x50); /* nop; push eax */
	expect_db(&o, PM_CODE + 2, 0, PM_SP - 4, DR6_INIT | 2);
	cr_expect_eq(pm_get_n(PM_SP - 4, 4), 0x5a5a5a5a);
}

/* REP STOSB of 8 bytes: the trap follows the iteration that wrote the
 * breakpointed byte, with EIP still at the REP, ECX and EDI showing the
 * iterations done, and RF = 1 pushed (SDM vol. 3 17.3.1.1: a trap after
 * an iteration that is not the last); after the last one, EIP is past
 * the REP and RF is pushed as 0. */
Test(bp, data_rep_iteration)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(bp(0, RW_W, LEN1), PM_DATA + 3, 0, 0, 0);
	uint64_t r[16] = {[RAX] = 0x55, [RCX] = 8, [RDI] = PM_DATA};
	struct pm_out o = PM_RUN(r, 0, 0xf3, 0xaa);
	expect_db(&o, PM_CODE, RF_BIT, PM_SP, DR6_INIT | 1);
	cr_expect_eq(o.r[RCX], 4);
	cr_expect_eq(o.r[RDI], PM_DATA + 4);
	cr_expect_eq(pm_get_n(PM_DATA, 8), 0x55555555);
	debug_regs(bp(0, RW_W, LEN1), PM_DATA + 0x17, 0, 0, 0);
	r[RDI] = PM_DATA + 0x10;
	o = PM_RUN(r, 0, 0xf3, 0xaa);
	expect_db(&o, PM_CODE + 2, 0, PM_SP, DR6_INIT | 1);
	cr_expect_eq(o.r[RCX], 0);
	cr_expect_eq(o.r[RDI], PM_DATA + 0x18);
}

/* A data breakpoint and a single step on one instruction: one #DB, DR6
 * with both Bn and BS; the pushed EFLAGS have TF. */
Test(bp, data_and_single_step_one_db)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(bp(3, RW_W, LEN4), 0, 0, 0, PM_DATA);
	uint64_t r[16] = {[RBX] = PM_DATA};
	struct pm_out o = PM_RUN(r, TF_BIT, 0x89, 0x03, 0x90);
	expect_db(&o, PM_CODE + 2, TF_BIT, PM_SP, DR6_INIT | DR6_BS | 8);
}

/* MOV SS that meets a data breakpoint: the #DB waits until the next
 * instruction completes (SDM vol. 3 6.8.3). */
Test(bp, data_mov_ss_held)
{
	pm_machine(PM_PROT32, 0);
	uint16_t sel = S_DATA32;
	pm_put(PM_DATA, &sel, 2);
	debug_regs(bp(0, RW_RW, LEN2), PM_DATA, 0, 0, 0);
	uint64_t r[16] = {[RBX] = PM_DATA};
	/* mov ss, [ebx]; mov ecx, 5; nop */
	struct pm_out o = PM_RUN(r, 0, 0x8e, 0x13, 0xb9, 0x05, 0x00, 0x00, 0x00, 0x90);
	expect_db(&o, PM_CODE + 7, 0, PM_SP, DR6_INIT | 1);
	cr_expect_eq(o.r[RCX], 5);
}

/* A single-step trap after an iteration of a REP that is not the last
 * pushes RF = 1 as well (SDM vol. 3 17.3.1.1), EIP still at the REP. */
Test(bp, single_step_rep_iteration_pushes_rf)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(0, 0, 0, 0, 0);
	uint64_t r[16] = {[RCX] = 3, [RDI] = PM_DATA};
	struct pm_out o = PM_RUN(r, TF_BIT, 0xf3, 0xaa);
	expect_db(&o, PM_CODE, TF_BIT | RF_BIT, PM_SP, DR6_INIT | DR6_BS);
	cr_expect_eq(o.r[RCX], 2);
}

/* The guest arms a breakpoint with MOV DRn on a page it has just read: mov
 * eax, [ebx]; mov dr0, ebx; mov dr7, ecx; mov eax, [ebx] traps after the
 * second read. */
Test(bp, data_armed_by_mov_dr)
{
	pm_machine(PM_PROT32, 0);
	debug_regs(0, 0, 0, 0, 0);
	uint64_t r[16] = {[RBX] = PM_DATA, [RCX] = DR7_INIT | bp(0, RW_RW, LEN4)};
	struct pm_out o =
	    PM_RUN(r, 0, 0x8b, 0x03, 0x0f, 0x23, 0xc3, 0x0f, 0x23, 0xf9, 0x8b, 0x03, 0x90);
	expect_db(&o, PM_CODE + 10, 0, PM_SP, DR6_INIT | 1);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DR7), DR7_INIT | bp(0, RW_RW, LEN4));
}
