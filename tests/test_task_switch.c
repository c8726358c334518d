/*
 * The runner's task switch (runner/task_switch.c, bhyverun's
 * vmexit_task_switch; SDM vol. 3 7.3), driven by tests/guests/taskswitch.asm:
 * JMP to a TSS, CALL through a task gate, IRET with NT back, and #GP
 * through an IDT task gate with its error code, then a JMP whose new task
 * has a not-present DS (#NP(48) delivered in the new task).  Asserted: the
 * complete exit stream (every PAGING, report, TASK_SWITCH payload field and
 * the final OUT), and after each switch the old TSS byte for byte, the new
 * TSS (only its link may change), the busy bits in the GDT, TR, CR0.TS and
 * where the guest resumes.  The second group feeds the runner exits whose
 * TSS fails the checks the vmm already made (a descriptor changed after
 * the exit, as another vcpu could), to see bhyve's faults and error codes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"
#include "runner/task_switch.h"

/* Addresses pinned with AT and EQU in taskswitch.asm. */
#define JMP_B        0x7c87
#define TASK_B       0x7c8f
#define CALL_C       0x7d38
#define AFTER_CALL_C 0x7d3f
#define GP_INSN      0x7d96
#define AFTER_GP     0x7d98
#define JMP_E        0x7ddf
#define TASK_C       0x7de7
#define IRET_C       0x7e3a
#define TASK_D       0x7e3b
#define IRET_D       0x7e98
#define TASK_E       0x7e99
#define END_OUT      0x7ed0
#define REPORT_OUT   0x7ed2
#define STACK_A      0x7c00u
#define ESP_B        0x7b00u
#define ESP_C        0x7a00u
#define ESP_D        0x7900u
#define ESP_E        0x7800u
#define PD_A         0x9000u
#define PD_B         0xa000u
#define GDT_ADDR     0x8100u
#define TSS_A        0x8200u
#define TSS_B        0x8280u
#define TSS_C        0x8300u
#define TSS_D        0x8380u
#define TSS_E        0x8400u
#define CR0_RUN      0x80000019u /* PG ET TS PE */

static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(task_switch, .fini = close_guest);

/* Open the guest with TR = 18: TSS A, busy, as LTR would leave it. */
static void open_taskswitch(void)
{
	cr_assert_eq(guest_open(&g, "taskswitch"), 0, "%s", g.err);
	struct seg_desc tr = {TSS_A, 0x67, 0x8b};
	cr_assert_eq(vm_set_seg_desc(g.vm, 0, VM_REG_GUEST_TR, &tr), 0);
	cr_assert_eq(vm_set_register(g.vm, 0, VM_REG_GUEST_TR, 0x18), 0);
}

/* ---- the expected stream ---- */

enum kind { PG, REP, TS, END };

struct expect {
	enum kind k;
	uint64_t rip;
	uint32_t v; /* PG: gpa; REP: value */
	int a;      /* PG: fault_type; TS: inst_length */
	/* TS payload */
	uint16_t sel;
	enum task_switch_reason reason;
	int ext, errcode_valid;
	uint32_t errcode;
	uint64_t cr3;
};

#define P(rip, gpa, type)                                                                          \
	{                                                                                          \
		PG, rip, gpa, type, 0, 0, 0, 0, 0, 0                                               \
	}
#define R(value)                                                                                   \
	{                                                                                          \
		REP, REPORT_OUT, value, 0, 0, 0, 0, 0, 0, 0                                        \
	}
#define T(rip, len, sel, reason, ext, ev, ec, cr3)                                                 \
	{                                                                                          \
		TS, rip, 0, len, sel, reason, ext, ev, ec, cr3                                     \
	}

/* clang-format off */
static const struct expect stream[] = {
    P(0x7c00, 0x7000, VM_PROT_EXECUTE),	/* the first fetch */
    P(0x7c01, 0x8000, VM_PROT_READ),	/* lgdt [gdt_desc] */
    P(0x7c2e, 0x9000, VM_PROT_WRITE),	/* mov [PD_A] */
    P(0x7c38, 0xa000, VM_PROT_WRITE),	/* mov [PD_B] */
    /* JMP 20:0: a JMP's exit, ext 0, no error code (BHYVE-EXITS.md 6). */
    T(JMP_B, 7, 0x20, TSR_JMP, 0, 0, 0, PD_A),
    /* B: its registers, EFLAGS (NT clear: not nested), CR0.TS set, CR3
     * and the selectors, all from TSS B (SDM 7.3 steps 11-13). */
    R(0xb0000001), R(0xb0000002), R(0xb0000003), R(0xb0000004), R(ESP_B),
    R(0xb0000006), R(0xb0000007), R(0xb0000008), R(0x13), R(CR0_RUN), R(PD_B),
    R(0x50), R(0x08), R(0x10), R(0x50), R(0x10), R(0x50),
    /* CALL through the task gate: the exit names the gate's TSS. */
    T(CALL_C, 7, 0x28, TSR_CALL, 0, 0, 0, PD_B),
    /* C: NT set, back link 20, TS set again, CR3 and ESI from TSS C. */
    R(0x4002), R(0x20), R(CR0_RUN), R(PD_A), R(0xc0000007),
    /* IRETD with NT = 1: to the link, reason IRET. */
    T(IRET_C, 1, 0x20, TSR_IRET, 0, 0, 0, PD_A),
    /* B again: EFLAGS and EBX as the CALL saved them, TS, C available (89), B busy (8B). */
    R(0x887), R(0xb1000004), R(CR0_RUN), R(0x89), R(0x8b),
    /* #GP(1F8) through IDT vector 13's task gate: a hardware exception,
     * so ext 1, the error code, inst_length 0 (BHYVE-EXITS.md 6). */
    T(GP_INSN, 0, 0x38, TSR_IDT_GATE, 1, 1, 0x1f8, PD_B),
    /* D: the error code on its stack (SDM 6.13), ESP, NT, link 20, TS. */
    R(0x1f8), R(ESP_D - 4), R(0x4002), R(0x20), R(CR0_RUN),
    T(IRET_D, 1, 0x20, TSR_IRET, 0, 0, 0, PD_A),
    /* B after the fault: ES never loaded, EBX and EFLAGS as the #GP saved them, D available. */
    R(0x50), R(0xb20001f4), R(0x846), R(0x89),
    T(JMP_E, 7, 0x40, TSR_JMP, 0, 0, 0, PD_B),
    /* #NP(48) in task E through an interrupt gate: the frame holds E's
     * EIP, CS 08 and EFLAGS 2 with RF (a fault, docs/deviations.md);
     * DS holds the selector 48. */
    R(0x48), R(TASK_E), R(0x08), R(0x10002), R(ESP_E - 16), R(0x48),
    {END, END_OUT, 0, 2, 0, 0, 0, 0, 0, 0},
};
/* clang-format on */

static void expect_exit(const struct recorded_exit *r, const struct expect *e, size_t k)
{
	char d[256];
	exit_describe(&r->vme, d, sizeof(d));
	const struct vm_exit *v = &r->vme;
	cr_assert_eq(v->rip, e->rip, "exit %zu (%s): rip, expected %#" PRIx64, k, d, e->rip);
	switch (e->k) {
	case PG:
		cr_assert(r->handled, "exit %zu (%s): PAGING not handled", k, d);
		cr_assert_eq(v->exitcode, VM_EXITCODE_PAGING, "exit %zu (%s): expected PAGING", k,
		             d);
		cr_assert_eq(v->u.paging.gpa, e->v, "exit %zu (%s): gpa", k, d);
		cr_assert_eq(v->u.paging.fault_type, e->a, "exit %zu (%s): fault_type", k, d);
		cr_assert_eq(v->inst_length, 0, "exit %zu (%s): inst_length", k, d);
		return;
	case REP:
	case END:
		cr_assert(!r->handled, "exit %zu (%s): handled", k, d);
		cr_assert_eq(v->exitcode, VM_EXITCODE_INOUT, "exit %zu (%s): expected INOUT", k, d);
		cr_assert_eq(v->inst_length, e->k == REP ? 2 : 2, "exit %zu (%s): inst_length", k,
		             d);
		cr_assert_eq(v->u.inout.port, e->k == REP ? 0x80 : 0xf4, "exit %zu (%s): port", k,
		             d);
		cr_assert_eq(v->u.inout.in, 0, "exit %zu (%s): in", k, d);
		if (e->k == REP)
			cr_assert_eq(v->u.inout.eax, e->v, "exit %zu: reported %#x, expected %#x",
			             k, v->u.inout.eax, e->v);
		return;
	case TS:
		break;
	}
	const struct vm_task_switch *t = &v->u.task_switch;
	cr_assert(!r->handled, "exit %zu (%s): handled", k, d);
	cr_assert_eq(v->exitcode, VM_EXITCODE_TASK_SWITCH, "exit %zu (%s): expected TASK_SWITCH", k,
	             d);
	cr_assert_eq(v->inst_length, e->a, "exit %zu (%s): inst_length", k, d);
	cr_assert_eq(t->tsssel, e->sel, "exit %zu: tsssel %#x, expected %#x", k, t->tsssel, e->sel);
	cr_assert_eq(t->reason, e->reason, "exit %zu: reason %d, expected %d", k, t->reason,
	             e->reason);
	cr_assert_eq(t->ext, e->ext, "exit %zu: ext", k);
	cr_assert_eq(t->errcode_valid, e->errcode_valid, "exit %zu: errcode_valid", k);
	cr_assert_eq(t->errcode, e->errcode, "exit %zu: errcode %#x", k, t->errcode);
	cr_assert_eq(t->paging.cr3, e->cr3, "exit %zu: paging.cr3 %#" PRIx64, k, t->paging.cr3);
	cr_assert_eq(t->paging.cpl, 0, "exit %zu: paging.cpl", k);
	cr_assert_eq(t->paging.cpu_mode, CPU_MODE_PROTECTED, "exit %zu: cpu_mode", k);
	cr_assert_eq(t->paging.paging_mode, PAGING_MODE_32, "exit %zu: paging_mode", k);
}

/* ---- what each switch leaves behind ---- */

struct tss_fields {
	uint16_t link;
	uint32_t cr3, eip, eflags, regbase, esp;
	uint16_t seg[6]; /* ES CS SS DS FS GS */
};

/* The 104 bytes of a TSS as taskswitch.asm's TSS32 lays it out (SDM figure 7-2). */
static void tss_image(const struct tss_fields *f, uint8_t out[104])
{
	memset(out, 0, 104);
	uint32_t dw[26] = {0};
	dw[0] = f->link;
	dw[7] = f->cr3;
	dw[8] = f->eip;
	dw[9] = f->eflags;
	for (int i = 0; i < 8; i++)
		dw[10 + i] = i == 4 ? f->esp : f->regbase + (uint32_t)i + 1;
	for (int i = 0; i < 6; i++)
		dw[18 + i] = f->seg[i];
	dw[25] = 0x68u << 16; /* T = 0, I/O map base 68H */
	for (int i = 0; i < 26; i++)
		for (int b = 0; b < 4; b++)
			out[4 * i + b] = (uint8_t)(dw[i] >> (8 * b));
}

#define SEGS_FLAT                                                                                  \
	{                                                                                          \
		0x10, 0x08, 0x10, 0x10, 0x10, 0x10                                                 \
	}
#define SEGS_B                                                                                     \
	{                                                                                          \
		0x50, 0x08, 0x10, 0x50, 0x10, 0x50                                                 \
	}

struct after {
	uint64_t exit_rip;
	uint32_t old_addr;
	struct tss_fields old; /* the old TSS as the switch saved it */
	uint32_t new_addr;
	uint16_t new_link; /* link written into the new TSS (0: untouched) */
	uint16_t old_sel, new_sel;
	uint8_t old_type, new_type; /* GDT access bytes afterwards */
	uint64_t resume;
};

/* clang-format off */
static const struct after afters[] = {
    /* JMP: A saved with EIP after the JMP, A's busy bit cleared, B's set (SDM 7.3 steps 7-10). */
    {JMP_B, TSS_A, {0, PD_A, JMP_B + 7, 0x97, 0xa0000000, STACK_A, SEGS_FLAT},
     TSS_B, 0, 0x18, 0x20, 0x89, 0x8b, TASK_B},
    /* CALL: B stays busy, C busy and linked to B. */
    {CALL_C, TSS_B, {0, PD_B, AFTER_CALL_C, 0x887, 0xb1000000, ESP_B, SEGS_B},
     TSS_C, 0x20, 0x20, 0x28, 0x8b, 0x8b, TASK_C},
    /* IRET: C saved with NT cleared and its busy bit cleared; B not re-marked. */
    {IRET_C, TSS_C, {0x20, PD_A, IRET_C + 1, 0xc3, 0xc1000000, ESP_C, SEGS_FLAT},
     TSS_B, 0, 0x28, 0x20, 0x89, 0x8b, AFTER_CALL_C},
    /* #GP through a task gate: B saved at the faulting MOV (inst_length 0). */
    {GP_INSN, TSS_B, {0, PD_B, GP_INSN, 0x846, 0xb20001f0, ESP_B, SEGS_B},
     TSS_D, 0x20, 0x20, 0x38, 0x8b, 0x8b, TASK_D},
    {IRET_D, TSS_D, {0x20, PD_A, IRET_D + 1, 0x83, 0xd1000000, ESP_D, SEGS_FLAT},
     TSS_B, 0, 0x38, 0x20, 0x89, 0x8b, AFTER_GP},
    /* JMP to E commits before E's DS faults: the switch is complete. */
    {JMP_E, TSS_B, {0, PD_B, JMP_E + 7, 0x2, 0xb3000000, ESP_B, SEGS_B},
     TSS_E, 0, 0x20, 0x40, 0x89, 0x8b, TASK_E},
};
/* clang-format on */

static void read_guest(uint64_t gpa, void *buf, size_t len)
{
	cr_assert_eq(guest_mem_read(g.vm, gpa, buf, len), 0, "reading gpa %#" PRIx64, gpa);
}

static uint64_t reg(int r)
{
	uint64_t v = 0;
	cr_assert_eq(vm_get_register(g.vm, 0, r, &v), 0);
	return v;
}

static void assert_bytes(const uint8_t *want, const uint8_t *got, size_t n, const char *what,
                         size_t step)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(got[i], want[i], "switch %zu: %s byte %#zx is %#x, expected %#x", step,
		             what, i, got[i], want[i]);
}

/* Run the runner's task switch on 'vme' and check what it left (afters[step]). */
static void switch_and_check(struct vm_exit *vme, size_t step)
{
	const struct after *a = &afters[step];
	cr_assert_eq(vme->rip, a->exit_rip, "switch %zu at rip %#" PRIx64, step, vme->rip);
	uint8_t new_before[104];
	read_guest(a->new_addr, new_before, 104);
	cr_assert_eq(task_switch_emulate(g.vm, 0, vme, stderr), 0, "switch %zu", step);
	cr_assert_eq(vme->inst_length, 0, "switch %zu: inst_length", step);
	cr_assert_eq(vme->rip, a->resume, "switch %zu: resumes at %#" PRIx64, step, vme->rip);
	g.rip = vme->rip;

	uint8_t want[104], got[104];
	tss_image(&a->old, want);
	read_guest(a->old_addr, got, 104);
	assert_bytes(want, got, 104, "old TSS", step);
	memcpy(want, new_before, 104);
	if (a->new_link != 0) {
		want[0] = (uint8_t)a->new_link;
		want[1] = (uint8_t)(a->new_link >> 8);
	}
	read_guest(a->new_addr, got, 104);
	assert_bytes(want, got, 104, "new TSS", step);

	uint8_t type;
	read_guest(GDT_ADDR + (a->old_sel & ~7u) + 5, &type, 1);
	cr_assert_eq(type, a->old_type, "switch %zu: old descriptor %#x", step, type);
	read_guest(GDT_ADDR + (a->new_sel & ~7u) + 5, &type, 1);
	cr_assert_eq(type, a->new_type, "switch %zu: new descriptor %#x", step, type);
	cr_assert_eq(reg(VM_REG_GUEST_TR), a->new_sel, "switch %zu: TR", step);
	struct seg_desc tr;
	cr_assert_eq(vm_get_seg_desc(g.vm, 0, VM_REG_GUEST_TR, &tr), 0);
	cr_assert_eq(tr.base, a->new_addr, "switch %zu: TR base", step);
	cr_assert_eq(tr.limit, 0x67u, "switch %zu: TR limit", step);
	cr_assert_eq(tr.access, 0x8bu, "switch %zu: TR access %#x", step, tr.access);
	cr_assert(reg(VM_REG_GUEST_CR0) & 8, "switch %zu: CR0.TS", step);
}

Test(task_switch, all_four_causes_and_a_fault_in_the_new_task)
{
	open_taskswitch();
	struct vm_exit vme;
	size_t nswitch = 0;
	for (int n = 0; n < 200; n++) {
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		if (vme.exitcode == VM_EXITCODE_TASK_SWITCH) {
			cr_assert_lt(nswitch, sizeof(afters) / sizeof(afters[0]),
			             "too many switches");
			switch_and_check(&vme, nswitch++);
			if (nswitch == sizeof(afters) / sizeof(afters[0])) {
				/* #NP(48) pending for the new task (bhyve's validate_seg_desc). */
				uint64_t info1, info2;
				cr_assert_eq(vm_get_intinfo(g.vm, 0, &info1, &info2), 0);
				cr_assert_eq(info2,
				             ((uint64_t)0x48 << 32) | VM_INTINFO_VALID |
				                 VM_INTINFO_DEL_ERRCODE | VM_INTINFO_HWEXCEPTION |
				                 IDT_NP,
				             "pending %#" PRIx64, info2);
			}
			continue;
		}
		if (vme.exitcode != VM_EXITCODE_INOUT || vme.u.inout.port != 0x80)
			break;
	}
	char d[256];
	exit_describe(&vme, d, sizeof(d));
	cr_assert(vme.exitcode == VM_EXITCODE_INOUT && vme.u.inout.port == 0xf4,
	          "the run ended with %s", d);
	cr_assert_eq(nswitch, sizeof(afters) / sizeof(afters[0]));
	cr_assert(!g.log.truncated);
	size_t n = sizeof(stream) / sizeof(stream[0]);
	for (size_t k = 0; k < g.log.n && k < n; k++)
		expect_exit(&g.log.v[k], &stream[k], k);
	cr_assert_eq(g.log.n, n, "%zu exits, expected %zu", g.log.n, n);
}

/* ---- the runner's own checks: exits whose TSS changed after the vmm checked it ---- */

/* Run the guest to its first exit that is not PAGING: the JMP to TSS B. */
static struct vm_exit at_jmp_b(void)
{
	open_taskswitch();
	struct vm_exit vme;
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	cr_assert_eq(vme.exitcode, VM_EXITCODE_TASK_SWITCH);
	cr_assert_eq(vme.rip, JMP_B);
	return vme;
}

static void set_desc_byte(uint16_t sel, unsigned off, uint8_t v)
{
	cr_assert_eq(guest_mem_write(g.vm, GDT_ADDR + (sel & ~7u) + off, &v, 1), 0);
}

struct bad_case {
	const char *what;
	enum task_switch_reason reason;
	int ext;
	uint16_t sel;
	unsigned off; /* GDT byte of descriptor 20 to change (0: none) */
	uint8_t val;
	bool null_tr;
	int vector;
	uint32_t errcode;
};

/* clang-format off */
static const struct bad_case bad_cases[] = {
    /* bhyve's vmexit_task_switch checks, SDM 7.3 steps 2-4. */
    {"not present", TSR_JMP, 0, 0x20, 5, 0x09, false, IDT_NP, 0x20},
    {"not present, ext", TSR_IDT_GATE, 1, 0x20, 5, 0x09, false, IDT_NP, 0x21},
    {"busy for JMP", TSR_JMP, 0, 0x20, 5, 0x8b, false, IDT_GP, 0x20},
    {"busy for CALL", TSR_CALL, 0, 0x20, 5, 0x8b, false, IDT_GP, 0x20},
    {"available for IRET", TSR_IRET, 0, 0x20, 0, 0, false, IDT_TS, 0x20},
    {"limit 66H", TSR_JMP, 0, 0x20, 0, 0x66, false, IDT_TS, 0x20},
    {"a data segment", TSR_JMP, 0, 0x20, 5, 0x93, false, IDT_TS, 0x20},
    {"an LDT", TSR_CALL, 0, 0x20, 5, 0x82, false, IDT_TS, 0x20},
    /* read_tss_descriptor: beyond the GDT, #GP(sel), #TS(sel) for IRET. */
    {"beyond the GDT", TSR_JMP, 0, 0x1fb, 0, 0, false, IDT_GP, 0x1f8},
    {"beyond the GDT, IRET", TSR_IRET, 0, 0x1f8, 0, 0, false, IDT_TS, 0x1f8},
    /* TR null, as at power-on: #TS(TR). */
    {"TR null", TSR_JMP, 0, 0x20, 0, 0, true, IDT_TS, 0},
};
/* clang-format on */

Test(task_switch, faults_before_the_switch_restart_the_instruction)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct vm_exit vme = at_jmp_b();
		vme.u.task_switch.reason = b->reason;
		vme.u.task_switch.ext = b->ext;
		vme.u.task_switch.tsssel = b->sel;
		if (b->off == 5)
			set_desc_byte(0x20, 5, b->val);
		else if (b->val != 0)
			set_desc_byte(0x20, 0, b->val);
		if (b->null_tr)
			cr_assert_eq(vm_set_register(g.vm, 0, VM_REG_GUEST_TR, 0), 0);
		uint8_t gdt_before[0x58], a_before[104], gdt_after[0x58], a_after[104];
		read_guest(GDT_ADDR, gdt_before, sizeof(gdt_before));
		read_guest(TSS_A, a_before, 104);

		cr_assert_eq(task_switch_emulate(g.vm, 0, &vme, stderr), 0, "%s", b->what);
		cr_assert_eq(vme.rip, JMP_B, "%s: rip %#" PRIx64, b->what, vme.rip);
		cr_assert_eq(vme.inst_length, 0, "%s: inst_length", b->what);
		uint64_t info1, info2;
		cr_assert_eq(vm_get_intinfo(g.vm, 0, &info1, &info2), 0);
		uint64_t want = ((uint64_t)b->errcode << 32) | VM_INTINFO_VALID |
		                VM_INTINFO_DEL_ERRCODE | VM_INTINFO_HWEXCEPTION |
		                (uint64_t)b->vector;
		cr_assert_eq(info2, want, "%s: pending %#" PRIx64 ", expected %#" PRIx64, b->what,
		             info2, want);
		/* Nothing else changed: no TSS, descriptor, TR or CR0.TS written. */
		read_guest(GDT_ADDR, gdt_after, sizeof(gdt_after));
		read_guest(TSS_A, a_after, 104);
		cr_assert_arr_eq(gdt_after, gdt_before, sizeof(gdt_before), "%s: GDT", b->what);
		cr_assert_arr_eq(a_after, a_before, 104, "%s: TSS A", b->what);
		cr_assert_eq(reg(VM_REG_GUEST_TR), b->null_tr ? 0u : 0x18u, "%s: TR", b->what);
		cr_assert_eq(reg(VM_REG_GUEST_CR0) & 8, 0, "%s: CR0.TS", b->what);
		guest_close(&g);
	}
}

/* bhyve has no 16-bit task switch: the run ends (ENOTSUP) instead of guessing. */
Test(task_switch, a_16bit_tss_ends_the_run)
{
	struct vm_exit vme = at_jmp_b();
	set_desc_byte(0x20, 5, 0x81); /* 16-bit TSS, available, limit 67H >= 2BH */
	FILE *diag = tmpfile();
	cr_assert_not_null(diag);
	cr_assert_eq(task_switch_emulate(g.vm, 0, &vme, diag), ENOTSUP);
	char line[256] = "";
	rewind(diag);
	cr_assert_not_null(fgets(line, sizeof(line), diag));
	fclose(diag);
	cr_assert(strstr(line, "16-bit TSS") != NULL, "message: %s", line);
}
