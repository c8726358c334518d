/*
 * Privilege transitions (issue 5), asserted through the exit stream of
 * tests/guests/rings.asm: ring 0 -> 3 by IRETD, back by INT 0x80 through a
 * DPL-3 gate (stack switch from TSS.SS0:ESP0, SDM vol. 3 6.12.1), by a
 * 32-bit call gate with two parameters (SDM vol. 3 5.8.5, figure 5-13)
 * and RETF 8 to the outer ring (SDM RET), by SYSENTER/SYSEXIT (SDM
 * SYSENTER, SYSEXIT); then IRETQ to ring 3 in 64-bit mode and
 * SYSCALL/SYSRET (SDM SYSCALL, SYSRET).  The guest reports every selector,
 * stack pointer and frame slot with OUT 0x80, EAX from one 'report'
 * routine, so the stream is the list of values below, each worked out
 * from the SDM rule named beside it.  Everything is observed through the
 * public API and the guest's own reports, so the test can run unchanged on
 * a hardware backend.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

/* Addresses pinned with AT in rings.asm. */
#define REPORT_OUT    0x7cd7 /* out 0x80, eax (E7 80) */
#define END_OUT       0x7e58 /* out 0xF4, al */
#define AFTER_INT     0x7c89
#define AFTER_CG      0x7ca1
#define AFTER_SYSCALL 0x7e36

#define STACK3    0x11000u
#define STACK3_64 0x12000u
#define ESP0      0xe000u
#define SE_STACK  0xf000u
#define TSS_BASE  0x830eu /* tss in rings.asm */

static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(rings, .fini = close_guest);

/* The values the guest reports, in order (see rings.asm). */
/* clang-format off */
static const uint32_t expected_reports[] = {
    /* IRETD to ring 3 (SDM IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL"): CS, SS
     * and ESP from the frame; DS and ES held a DPL-0 segment and are
     * nulled. */
    0x1b, 0x23, STACK3, 0, 0,
    /* INT 0x80 through the DPL-3 gate: the stack is TSS.SS0:ESP0 and the
     * frame, from the top, SS ESP EFLAGS CS EIP (SDM 6.12.1, figure 6-4);
     * ESP at entry ESP0 - 20; CS 08 and SS 10 in the handler, DS kept. */
    ESP0 - 20, 0x23, STACK3, 0x3002, 0x1b, AFTER_INT, 0x08, 0x10, 0x23,
    /* IRETD back: the ring-3 stack pointer as it was. */
    STACK3,
    /* CALL 33:0 through the call gate (param count 2): on the inner stack
     * SS, ESP (before the CALL, after the two pushes), the two parameters
     * copied in their order, CS, EIP (SDM 5.8.5); ESP at entry ESP0 - 24. */
    ESP0 - 24, 0x23, STACK3 - 8, 0xaaaa0001, 0xbbbb0002, 0x1b, AFTER_CG,
    /* RETF 8 to ring 3: the parameters released on the outer stack, DS
     * (loaded with the DPL-0 selector 10 at ring 0) nulled, ES (DPL 3)
     * kept (SDM RET). */
    STACK3, 0, 0x23,
    /* SYSENTER: CS = SYSENTER_CS, SS = CS + 8, ESP = SYSENTER_ESP; IF, VM
     * and RF cleared, IOPL kept (SDM SYSENTER). */
    0x08, 0x10, SE_STACK, 0x3002,
    /* SYSEXIT: CS = SYSENTER_CS + 16 | 3, SS = + 24 | 3, ESP = ECX. */
    0x1b, 0x23, STACK3,
    /* IRETQ to ring 3 in 64-bit mode pops SS:RSP; DS (10, DPL 0) nulled
     * (SDM IRET, IA-32e "RETURN-TO-OUTER-PRIVILEGE-LEVEL"). */
    0x5b, 0x53, STACK3_64, 0,
    /* SYSCALL: RCX = the next RIP, R11 = RFLAGS, RFLAGS &= ~FMASK (DF),
     * CS = STAR[47:32], SS = that + 8, RSP unchanged (SDM SYSCALL). */
    AFTER_SYSCALL, 0x3402, 0x3002, 0x38, 0x40, STACK3_64,
    /* SYSRET with REX.W: CS = STAR[63:48] + 16 | 3, SS = + 8 | 3,
     * RFLAGS = R11 (SDM SYSRET). */
    0x5b, 0x53, 0x3402, STACK3_64,
};
/* clang-format on */

/*
 * The pages the guest touches first, in order: each first touch is a
 * PAGING exit handled in the vmm (BHYVE-EXITS.md section 5) at the
 * instruction that made it, which then runs again.  'after' is the number
 * of reports that precede it.
 */
struct paging {
	size_t after;
	uint64_t rip, gpa;
	int type;
};

static const struct paging expected_paging[] = {
    {0, 0x7c00, 0x7000, VM_PROT_EXECUTE}, /* the first fetch */
    {0, 0x7c23, 0x8000, VM_PROT_READ},    /* lidt [idt_desc] */
    {0, 0x7c5e, 0x10000, VM_PROT_WRITE},  /* ring 3's first CALL: STACK3 - 4 */
    /* INT 0x80's first push, ESP0 - 4: in the middle of the delivery. */
    {5, 0x7c87, 0xd000, VM_PROT_WRITE},
    /* sysenter_entry's first CALL: SE_STACK - 4 */
    {25, 0x7d65, 0xe000, VM_PROT_WRITE},
    /* int81's page tables: PML4, PDPT, PD */
    {32, 0x7d8e, 0x20000, VM_PROT_WRITE},
    {32, 0x7d98, 0x21000, VM_PROT_WRITE},
    {32, 0x7da2, 0x22000, VM_PROT_WRITE},
    /* ring3_64's first CALL: STACK3_64 - 8 */
    {32, 0x7e19, 0x11000, VM_PROT_WRITE},
};

static void expect_paging(const struct recorded_exit *r, const struct paging *p, size_t k)
{
	cr_assert(r->handled, "exit %zu: PAGING not handled", k);
	cr_assert_eq(r->vme.exitcode, VM_EXITCODE_PAGING, "exit %zu: code %d, expected PAGING", k,
	             r->vme.exitcode);
	cr_assert_eq(r->vme.rip, p->rip, "exit %zu: PAGING rip %#" PRIx64 ", expected %#" PRIx64, k,
	             r->vme.rip, p->rip);
	cr_assert_eq(r->vme.u.paging.gpa, p->gpa,
	             "exit %zu: PAGING gpa %#" PRIx64 ", expected %#" PRIx64, k,
	             (uint64_t)r->vme.u.paging.gpa, p->gpa);
	cr_assert_eq(r->vme.u.paging.fault_type, p->type, "exit %zu: fault_type %d, expected %d", k,
	             r->vme.u.paging.fault_type, p->type);
	cr_assert_eq(r->vme.inst_length, 0, "exit %zu: PAGING inst_length", k);
}

static void expect_report(const struct recorded_exit *r, uint32_t value, size_t k, size_t n)
{
	char desc[256];
	exit_describe(&r->vme, desc, sizeof(desc));
	cr_assert(!r->handled, "exit %zu (%s): handled", k, desc);
	cr_assert_eq(r->vme.exitcode, VM_EXITCODE_INOUT, "exit %zu (%s), expected report %zu", k,
	             desc, n);
	cr_assert_eq(r->vme.rip, REPORT_OUT, "exit %zu (%s): rip", k, desc);
	cr_assert_eq(r->vme.inst_length, 2, "exit %zu (%s): inst_length", k, desc);
	cr_assert_eq(r->vme.u.inout.port, 0x80, "exit %zu (%s): port", k, desc);
	cr_assert_eq(r->vme.u.inout.bytes, 4, "exit %zu (%s): bytes", k, desc);
	cr_assert_eq(r->vme.u.inout.in, 0, "exit %zu (%s): in", k, desc);
	cr_assert_eq(r->vme.u.inout.eax, value, "report %zu: %#x, expected %#x (%s)", n,
	             r->vme.u.inout.eax, value, desc);
}

Test(rings, transitions_and_stacks)
{
	cr_assert_eq(guest_open(&g, "rings"), 0, "%s", g.err);
	/* TR = 28: the guest's 32-bit TSS, busy (as LTR leaves it). */
	struct seg_desc tr = {TSS_BASE, 0x67, 0x8b};
	cr_assert_eq(vm_set_seg_desc(g.vm, 0, VM_REG_GUEST_TR, &tr), 0);
	cr_assert_eq(vm_set_register(g.vm, 0, VM_REG_GUEST_TR, 0x28), 0);
	struct vm_exit vme;
	for (int n = 0; n < 200; n++) {
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		if (vme.exitcode != VM_EXITCODE_INOUT || vme.u.inout.port != 0x80)
			break;
	}
	char desc[256];
	exit_describe(&vme, desc, sizeof(desc));
	cr_assert_eq(vme.exitcode, VM_EXITCODE_INOUT, "the run ended with %s", desc);
	cr_assert_eq(vme.u.inout.port, 0xf4, "the run ended with %s", desc);
	cr_assert_eq(vme.rip, END_OUT, "the run ended with %s", desc);

	size_t nrep = sizeof(expected_reports) / sizeof(expected_reports[0]);
	size_t npg = sizeof(expected_paging) / sizeof(expected_paging[0]);
	size_t k = 0, rep = 0, pg = 0;
	cr_assert(!g.log.truncated);
	for (; k < g.log.n; k++) {
		const struct recorded_exit *r = &g.log.v[k];
		if (pg < npg && expected_paging[pg].after == rep) {
			expect_paging(r, &expected_paging[pg++], k);
			continue;
		}
		if (rep == nrep)
			break;
		expect_report(r, expected_reports[rep], k, rep);
		rep++;
	}
	cr_assert_eq(pg, npg, "%zu of %zu PAGING exits", pg, npg);
	cr_assert_eq(rep, nrep, "%zu of %zu reports", rep, nrep);
	cr_assert_eq(g.log.n, k + 1, "%zu exits, expected %zu", g.log.n, k + 1);
	exit_describe(&g.log.v[k].vme, desc, sizeof(desc));
	cr_assert_eq(g.log.v[k].vme.exitcode, VM_EXITCODE_INOUT, "last exit %s", desc);
	cr_assert_eq(g.log.v[k].vme.u.inout.port, 0xf4, "last exit %s", desc);
}
