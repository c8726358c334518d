/*
 * Virtual-8086 mode's IOPL-sensitive instructions and the virtual-interrupt
 * extensions (SDM vol. 3 20.2.7, 20.3 and 20.4; vol. 2 CLI, STI, PUSHF,
 * POPF, IRET, INT n): without CR4.VME, CLI, STI, PUSHF, POPF, IRET and INT n
 * are #GP(0) when IOPL < 3; with it, CLI/STI/PUSHF/POPF/16-bit IRET work on
 * VIF, INT n is redirected to the 8086 program's own vector table by the
 * TSS's redirection bitmap, and VIP makes the instructions that would set
 * VIF fault.  CR4.PVI gives CLI/STI the same VIF meaning at CPL 3 in
 * protected mode.  Hardware interrupts still follow IF.  Machines come from
 * prot_machine.h and tss_bitmaps.h (public API only); every result is
 * guest-visible state.
 */
#include "tss_bitmaps.h"

TestSuite(vme, .fini = pm_teardown);

#define CR4_VME 0x1
#define CR4_PVI 0x2
#define IF_FLAG 0x200
#define TF_FLAG 0x100
#define CF_FLAG 0x1

/* A virtual-8086 task with both TSS maps clear (every port allowed, every
 * INT n redirected) and CR4 as given. */
static void vme_machine(uint64_t cr4)
{
	v86_machine();
	tss_maps(TSS_MAP, TSS_LIMIT);
	pm_set_reg(VM_REG_GUEST_CR4, cr4);
}

static uint64_t rflags(void)
{
	return pm_reg(VM_REG_GUEST_RFLAGS);
}

/* A #GP(0) at the first instruction, nothing pushed: the v8086 frame. */
static void expect_gp_at_start(const struct pm_out *o, uint64_t flags)
{
	v86_expect_exc(o, 13, 0, PM_CODE, PM_SP, flags | 2 | RF_BIT);
}

/* ---- without VME, IOPL < 3 ---------------------------------------------------- */

/* SDM vol. 3 20.2.7: CLI, STI, PUSHF, POPF, INT n and IRET are #GP(0) at
 * IOPL < 3, before they touch the stack; INT3, INTO and INT1 are not
 * IOPL-sensitive. */
Test(vme, sensitive_instructions_fault_without_vme)
{
	static const struct {
		uint8_t b[2];
		unsigned n;
	} insns[] = {
	    {{0xfa}, 1},       /* CLI */
	    {{0xfb}, 1},       /* STI */
	    {{0x9c}, 1},       /* PUSHF */
	    {{0x9d}, 1},       /* POPF */
	    {{0x66, 0x9c}, 2}, /* PUSHFD */
	    {{0x66, 0x9d}, 2}, /* POPFD */
	    {{0xcf}, 1},       /* IRET */
	    {{0x66, 0xcf}, 2}, /* IRETD */
	    {{0xcd, 0x21}, 2}, /* INT 21H */
	};
	for (uint64_t iopl = 0; iopl < IOPL3; iopl += 0x1000) {
		for (unsigned k = 0; k < sizeof(insns) / sizeof(insns[0]); k++) {
			vme_machine(0);
			uint64_t fl = VM_FLAG | iopl | IF_FLAG | VIF;
			uint64_t r[16] = {0};
			struct pm_out o = pm_run(insns[k].b, insns[k].n, r, fl);
			expect_gp_at_start(&o, fl);
			pm_teardown();
		}
	}
	/* INT3 goes through the IDT at any IOPL (a trap: IP after it). */
	vme_machine(0);
	uint8_t b = 0x60 | 0x8e;
	pm_put(PM_IDT + 8 * 3 + 5, &b, 1); /* gate DPL 3 */
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, VM_FLAG, 0xcc);
	v86_expect_exc(&o, 3, -1, PM_CODE + 1, PM_SP, VM_FLAG | 2);
}

/* IOPL 3 without VME: the instructions act on IF; POPF and IRET leave
 * IOPL (and VIF, VIP) as they are (SDM vol. 2 POPF, IRET). */
Test(vme, iopl3_popf_and_iret_keep_iopl)
{
	vme_machine(0);
	/* POPF of 0x0201: IF and CF set, IOPL 0 in the image. */
	uint16_t img = 0x0201;
	pm_put(PM_SP, &img, 2);
	uint64_t r[16] = {0};
	uint64_t fl = VM_FLAG | IOPL3 | VIF;
	struct pm_out o = PM_RUN(r, fl, 0x9d);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | IOPL3 | VIF | IF_FLAG | CF_FLAG | 2, "rflags %#" PRIx64,
	             o.rflags);
	cr_expect_eq(o.r[RSP], PM_SP + 2);
	/* IRETD to 0:PM_CODE+2 with an image clearing IOPL and VIF and
	 * setting VIP: only IF and the arithmetic flags follow it. */
	uint32_t frame[3] = {(uint32_t)PM_CODE + 2, 0, 0x00100000 | IF_FLAG | 0x40};
	pm_put(PM_SP, frame, 12);
	o = PM_RUN(r, fl, 0x66, 0xcf);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | IOPL3 | VIF | IF_FLAG | 0x40 | 2, "rflags %#" PRIx64,
	             o.rflags);
	cr_expect_eq(o.r[RSP], PM_SP + 12);
}

/* ---- CR4.VME with IOPL < 3: VIF -------------------------------------------------- */

Test(vme, cli_sti_act_on_vif)
{
	vme_machine(CR4_VME);
	uint64_t r[16] = {0};
	/* CLI clears VIF; IF (the monitor's) stays set. */
	struct pm_out o = PM_RUN(r, VM_FLAG | IF_FLAG | VIF, 0xfa);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | IF_FLAG | 2, "rflags %#" PRIx64, o.rflags);
	/* STI sets VIF; IF stays clear. */
	o = PM_RUN(r, VM_FLAG | 0x1000, 0xfb);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | 0x1000 | VIF | 2, "rflags %#" PRIx64, o.rflags);
	/* STI with VIP = 1: #GP(0) for the monitor to deliver the interrupt. */
	o = PM_RUN(r, VM_FLAG | IF_FLAG | VIP, 0xfb);
	expect_gp_at_start(&o, VM_FLAG | IF_FLAG | VIP);
	/* CLI with VIP = 1 is fine. */
	o = PM_RUN(r, VM_FLAG | VIP | VIF, 0xfa);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | VIP | 2, "rflags %#" PRIx64, o.rflags);
	/* IOPL 3: VME changes nothing, CLI and STI act on IF. */
	o = PM_RUN(r, VM_FLAG | IOPL3 | IF_FLAG | VIF, 0xfa);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | IOPL3 | VIF | 2, "rflags %#" PRIx64, o.rflags);
}

Test(vme, pushf_shows_vif_as_if_and_iopl3)
{
	vme_machine(CR4_VME);
	uint64_t r[16] = {0};
	/* VIF = 1, IF = 0, IOPL 1, CF: the image has IF = 1 and IOPL 3. */
	struct pm_out o = PM_RUN(r, VM_FLAG | 0x1000 | VIF | CF_FLAG, 0x9c);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RSP], PM_SP - 2);
	cr_expect_eq(pm_get_n(PM_SP - 2, 2), 0x3203, "image %#" PRIx64, pm_get_n(PM_SP - 2, 2));
	/* VIF = 0, IF = 1: IF = 0 in the image. */
	o = PM_RUN(r, VM_FLAG | IF_FLAG, 0x9c);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_n(PM_SP - 2, 2), 0x3002, "image %#" PRIx64, pm_get_n(PM_SP - 2, 2));
	/* PUSHFD stays #GP(0). */
	o = PM_RUN(r, VM_FLAG | VIF, 0x66, 0x9c);
	expect_gp_at_start(&o, VM_FLAG | VIF);
}

Test(vme, popf_loads_vif_from_if)
{
	vme_machine(CR4_VME);
	uint64_t r[16] = {0};
	/* IF = 1, IOPL 3, NT, DF, CF popped: VIF = 1, IF and IOPL kept. */
	uint16_t img = 0x4000 | 0x3000 | 0x400 | IF_FLAG | CF_FLAG;
	pm_put(PM_SP, &img, 2);
	struct pm_out o = PM_RUN(r, VM_FLAG, 0x9d);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | VIF | 0x4000 | 0x400 | CF_FLAG | 2, "rflags %#" PRIx64,
	             o.rflags);
	cr_expect_eq(o.r[RSP], PM_SP + 2);
	/* IF = 0 popped: VIF = 0; the real IF stays 1. */
	img = 0;
	pm_put(PM_SP, &img, 2);
	o = PM_RUN(r, VM_FLAG | IF_FLAG | VIF | 0x2000, 0x9d);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | IF_FLAG | 0x2000 | 2, "rflags %#" PRIx64, o.rflags);
	/* VIP = 1 and IF = 0 popped: allowed. */
	o = PM_RUN(r, VM_FLAG | VIP, 0x9d);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, VM_FLAG | VIP | 2, "rflags %#" PRIx64, o.rflags);
	/* VIP = 1 and IF = 1 popped, or TF = 1 popped: #GP(0), nothing popped. */
	img = IF_FLAG;
	pm_put(PM_SP, &img, 2);
	o = PM_RUN(r, VM_FLAG | VIP, 0x9d);
	expect_gp_at_start(&o, VM_FLAG | VIP);
	img = TF_FLAG;
	pm_put(PM_SP, &img, 2);
	o = PM_RUN(r, VM_FLAG, 0x9d);
	expect_gp_at_start(&o, VM_FLAG);
	/* POPFD stays #GP(0). */
	img = 0;
	pm_put(PM_SP, &img, 2);
	o = PM_RUN(r, VM_FLAG, 0x66, 0x9d);
	expect_gp_at_start(&o, VM_FLAG);
}

/* The 16-bit IRET of VME: IP, CS, FLAGS popped, VIF from the popped IF,
 * IF and IOPL kept, #GP(0) as POPF's; IRETD stays #GP(0). */
Test(vme, iret16_loads_vif)
{
	vme_machine(CR4_VME);
	/* Return to 0100:0800 (linear 1800H), where an OUT 80H ends the run. */
	static const uint8_t out80[] = {0xe6, 0x80};
	pm_put(0x1800, out80, 2);
	uint16_t frame[3] = {0x800, 0x100, 0x3000 | IF_FLAG | 0x80};
	pm_put(PM_SP, frame, 6);
	uint64_t r[16] = {0};
	struct vm_exit e;
	static const uint8_t iret[] = {0xcf};
	pm_start(iret, 1, r, VM_FLAG | 0x1000, &e);
	cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT, "exit %d", e.exitcode);
	cr_expect_eq(e.rip, 0x800);
	cr_expect_eq(e.u.inout.port, 0x80);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), 0x100);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_CS).base, 0x1000);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RSP), PM_SP + 6);
	cr_expect_eq(rflags(), VM_FLAG | 0x1000 | VIF | 0x80 | 2, "rflags %#" PRIx64, rflags());
	/* TF popped, or IF popped with VIP = 1: #GP(0). */
	frame[2] = TF_FLAG;
	pm_put(PM_SP, frame, 6);
	struct pm_out o = PM_RUN(r, VM_FLAG, 0xcf);
	expect_gp_at_start(&o, VM_FLAG);
	frame[2] = IF_FLAG;
	pm_put(PM_SP, frame, 6);
	o = PM_RUN(r, VM_FLAG | VIP, 0xcf);
	expect_gp_at_start(&o, VM_FLAG | VIP);
	o = PM_RUN(r, VM_FLAG, 0x66, 0xcf);
	expect_gp_at_start(&o, VM_FLAG);
}

/* ---- INT n and the redirection bitmap --------------------------------------------- */

/* Entry n of the 8086 program's vector table (linear 4n) -> 0100:0800,
 * where OUT 80H ends the run. */
static void ivt_entry(unsigned n)
{
	uint16_t ent[2] = {0x800, 0x100};
	pm_put(4 * n, ent, 4);
	static const uint8_t out80[] = {0xe6, 0x80};
	pm_put(0x1800, out80, 2);
}

/* Run INT n at PM_CODE (CD n) with 'flags'; return the first exit. */
static struct vm_exit run_int(uint8_t n, uint64_t flags)
{
	uint8_t code[2] = {0xcd, n};
	uint64_t r[16] = {0};
	struct vm_exit e;
	pm_start(code, 2, r, flags, &e);
	return e;
}

static void expect_in_handler(const struct vm_exit *e)
{
	cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "exit %d", e->exitcode);
	cr_expect_eq(e->u.inout.port, 0x80, "port %#x", e->u.inout.port);
	cr_expect_eq(e->rip, 0x800, "rip %#" PRIx64, e->rip);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), 0x100);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RSP), PM_SP - 6);
}

/* The 6-byte frame on the virtual-8086 stack: IP, CS, FLAGS. */
static void expect_ivt_frame(uint16_t flags)
{
	uint16_t f[3];
	pm_get(PM_SP - 6, f, 6);
	cr_expect_eq(f[0], PM_CODE + 2, "IP %#x", f[0]);
	cr_expect_eq(f[1], 0, "CS %#x", f[1]);
	cr_expect_eq(f[2], flags, "FLAGS %#x, expected %#x", f[2], flags);
}

/* Method 6 (IOPL < 3, bit clear): FLAGS pushed with IF from VIF and IOPL
 * 3, VIF and TF cleared, IF kept (SDM vol. 3 20.3.3.5; INT n). */
Test(vme, int_n_redirected_with_iopl_below_3)
{
	vme_machine(CR4_VME);
	ivt_entry(0x21);
	struct vm_exit e = run_int(0x21, VM_FLAG | IF_FLAG | VIF | TF_FLAG | CF_FLAG);
	expect_in_handler(&e);
	expect_ivt_frame(0x3000 | IF_FLAG | TF_FLAG | CF_FLAG | 2);
	/* No single-step trap after the INT: the handler runs with TF = 0. */
	cr_expect_eq(rflags(), VM_FLAG | IF_FLAG | CF_FLAG | 2, "rflags %#" PRIx64, rflags());
	/* VIF = 0, IF = 1: the image shows IF = 0. */
	e = run_int(0x21, VM_FLAG | IF_FLAG | 0x2000);
	expect_in_handler(&e);
	expect_ivt_frame(0x3000 | 2);
	cr_expect_eq(rflags(), VM_FLAG | IF_FLAG | 0x2000 | 2, "rflags %#" PRIx64, rflags());
}

/* Method 5 (IOPL 3, bit clear): the real FLAGS pushed, IF and TF cleared,
 * VIF untouched. */
Test(vme, int_n_redirected_with_iopl3)
{
	vme_machine(CR4_VME);
	ivt_entry(0x10);
	struct vm_exit e = run_int(0x10, VM_FLAG | IOPL3 | IF_FLAG | VIF);
	expect_in_handler(&e);
	expect_ivt_frame(0x3000 | IF_FLAG | 2);
	cr_expect_eq(rflags(), VM_FLAG | IOPL3 | VIF | 2, "rflags %#" PRIx64, rflags());
	/* CD 03 is INT n: redirected like any vector (SDM INT n: the
	 * differences of INT3 do not apply to CD 03). */
	ivt_entry(3);
	e = run_int(3, VM_FLAG | IOPL3);
	expect_in_handler(&e);
}

/* A redirected INT n whose first push leaves the 64 KiB stack segment:
 * #SS(0) at the INT, SP and CS:IP as they were (SDM INT n, "Virtual-8086
 * Mode Exceptions"). */
Test(vme, int_n_redirection_stack_fault)
{
	vme_machine(CR4_VME);
	ivt_entry(0x21);
	uint64_t r[16] = {[RSP] = 1};
	struct pm_out o = PM_RUN(r, VM_FLAG | VIF, 0xcd, 0x21);
	v86_expect_exc(&o, 12, 0, PM_CODE, 1, VM_FLAG | VIF | 2 | RF_BIT);
}

/* Bit set: method 3 (IOPL < 3) is #GP(0); method 4 (IOPL 3) goes through
 * the protected-mode IDT as without VME (SDM vol. 3 table 20-2). */
Test(vme, int_n_with_its_bit_set)
{
	vme_machine(CR4_VME);
	ivt_entry(30);
	tss_redir(30, true);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, VM_FLAG | 0x2000, 0xcd, 30);
	expect_gp_at_start(&o, VM_FLAG | 0x2000);
	uint8_t b = 0xee; /* gate 30: P, DPL 3, 32-bit interrupt gate */
	pm_put(PM_IDT + 8 * 30 + 5, &b, 1);
	o = PM_RUN(r, VM_FLAG | IOPL3, 0xcd, 30);
	v86_expect_exc(&o, 30, -1, PM_CODE + 2, PM_SP, VM_FLAG | IOPL3 | 2);
	/* The neighbouring vectors are still redirected. */
	pm_teardown();
	vme_machine(CR4_VME);
	tss_redir(30, true);
	ivt_entry(31);
	struct vm_exit e = run_int(31, VM_FLAG);
	expect_in_handler(&e);
}

/* INT3, INTO and INT1 are never redirected: they go through the IDT
 * whatever the bitmap and IOPL (SDM INT n; vol. 3 20.3.3). */
Test(vme, int3_into_int1_use_the_idt)
{
	vme_machine(CR4_VME);
	ivt_entry(3);
	ivt_entry(4);
	ivt_entry(1);
	uint8_t b = 0xee;
	pm_put(PM_IDT + 8 * 3 + 5, &b, 1);
	pm_put(PM_IDT + 8 * 4 + 5, &b, 1);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, VM_FLAG, 0xcc);
	v86_expect_exc(&o, 3, -1, PM_CODE + 1, PM_SP, VM_FLAG | 2);
	o = PM_RUN(r, VM_FLAG | 0x800, 0xce);
	v86_expect_exc(&o, 4, -1, PM_CODE + 1, PM_SP, VM_FLAG | 0x800 | 2);
	/* INT1: its gate's DPL is not checked. */
	o = PM_RUN(r, VM_FLAG, 0xf1);
	v86_expect_exc(&o, 1, -1, PM_CODE + 1, PM_SP, VM_FLAG | 2);
}

/* The redirection bitmap is read from the TSS like the I/O bitmap: a
 * 16-bit TSS has none, and a byte outside the TSS limit (a map base below
 * 32 puts it below the TSS) is #GP(0). */
Test(vme, redirection_bitmap_outside_the_tss)
{
	vme_machine(CR4_VME);
	ivt_entry(0x21);
	tss_maps(0x10, TSS_LIMIT);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, VM_FLAG, 0xcd, 0x21);
	expect_gp_at_start(&o, VM_FLAG);
	/* Map base at the limit + 33: vector 0's byte is past the limit. */
	tss_maps(TSS_LIMIT + 33, TSS_LIMIT);
	o = PM_RUN(r, VM_FLAG, 0xcd, 0);
	expect_gp_at_start(&o, VM_FLAG);
	/* The map base at the limit + 32: vectors 0-7 are in the last byte
	 * (all ones: through the IDT, #GP at IOPL < 3), 8 and up past it. */
	tss_maps(TSS_LIMIT + 32, TSS_LIMIT);
	o = PM_RUN(r, VM_FLAG, 0xcd, 0x21);
	expect_gp_at_start(&o, VM_FLAG);
}

/* ---- hardware interrupts follow IF ------------------------------------------------- */

/* VIF and VIP do not mask hardware interrupts: an ExtINT is delivered
 * through the IDT when IF = 1 even with VIF = 0, and waits while IF = 0
 * even with VIF = 1 (SDM vol. 3 20.3.2; the note under table 20-2). */
Test(vme, external_interrupts_follow_if)
{
	vme_machine(CR4_VME);
	cr_assert_eq(vm_inject_extint(pm.vm, 0), 0);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, VM_FLAG | IF_FLAG, 0x90);
	v86_expect_exc(&o, 7, -1, PM_CODE, PM_SP, VM_FLAG | IF_FLAG | 2);
	pm_teardown();
	vme_machine(CR4_VME);
	cr_assert_eq(vm_inject_extint(pm.vm, 0), 0);
	o = PM_RUN(r, VM_FLAG | VIF, 0x90);
	pm_expect_done(&o);
	cr_expect_eq(vm_extint_pending(pm.vm, 0), 1, "the ExtINT was taken");
}

/* ---- CR4.PVI: protected mode at CPL 3 ------------------------------------------------- */

static void pvi_machine(enum pm_mode m, uint64_t cr4)
{
	pm_machine(m, 3);
	tss_maps(TSS_MAP, TSS_LIMIT);
	pm_set_reg(VM_REG_GUEST_CR4, pm_reg(VM_REG_GUEST_CR4) | cr4);
}

/* With PVI, CPL 3 and IOPL < 3, CLI and STI act on VIF (STI #GP(0) when
 * VIP = 1); PUSHF and POPF are not affected (SDM vol. 3 20.4; vol. 2 CLI,
 * STI, POPF). */
Test(vme, pvi_cli_sti_at_cpl3)
{
	static const enum pm_mode modes[] = {PM_PROT32, PM_LONG64};
	for (unsigned m = 0; m < 2; m++) {
		pvi_machine(modes[m], CR4_PVI);
		uint64_t r[16] = {0};
		struct pm_out o = PM_RUN(r, IF_FLAG | VIF, 0xfa);
		pm_expect_done(&o);
		cr_expect_eq(o.rflags, IF_FLAG | 2, "rflags %#" PRIx64, o.rflags);
		o = PM_RUN(r, 0x1000, 0xfb);
		pm_expect_done(&o);
		cr_expect_eq(o.rflags, 0x1000 | VIF | 2, "rflags %#" PRIx64, o.rflags);
		o = PM_RUN(r, VIP, 0xfb);
		pm_expect_exc(&o, 13, 0, PM_CODE, VIP);
		/* PUSHF pushes the real IF and IOPL. */
		o = PM_RUN(r, VIF, 0x9c);
		pm_expect_done(&o);
		cr_expect_eq(pm_get_n(PM_SP - (m ? 8 : 4), 4), VIF | 2, "image %#" PRIx64,
		             pm_get_n(PM_SP - (m ? 8 : 4), 4));
		/* POPF at CPL 3 > IOPL: IF and IOPL silently kept, VIF too. */
		pm_put64(PM_SP, IF_FLAG | IOPL3 | CF_FLAG);
		o = PM_RUN(r, VIF, 0x9d);
		pm_expect_done(&o);
		cr_expect_eq(o.rflags, VIF | CF_FLAG | 2, "rflags %#" PRIx64, o.rflags);
		/* IOPL 3: CLI clears IF as usual. */
		o = PM_RUN(r, IOPL3 | IF_FLAG | VIF, 0xfa);
		pm_expect_done(&o);
		cr_expect_eq(o.rflags, IOPL3 | VIF | 2, "rflags %#" PRIx64, o.rflags);
		pm_teardown();
	}
	/* Without PVI: #GP(0). */
	pvi_machine(PM_PROT32, 0);
	uint64_t r[16] = {0};
	struct pm_out o = PM_RUN(r, VIF, 0xfa);
	pm_expect_exc(&o, 13, 0, PM_CODE, VIF);
}

/* POPF in protected mode: IOPL only at CPL 0, IF only at CPL <= IOPL, no
 * fault either way (SDM vol. 2 POPF; vol. 1 19.4). */
Test(vme, protected_mode_popf_privilege)
{
	pm_machine(PM_PROT32, 3);
	uint64_t r[16] = {0};
	pm_put64(PM_SP, IF_FLAG | IOPL3 | CF_FLAG);
	struct pm_out o = PM_RUN(r, 0x1000, 0x9d);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, 0x1000 | CF_FLAG | 2, "rflags %#" PRIx64, o.rflags);
	o = PM_RUN(r, IOPL3, 0x9d);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, IOPL3 | IF_FLAG | CF_FLAG | 2, "rflags %#" PRIx64, o.rflags);
	pm_teardown();
	pm_machine(PM_PROT32, 0);
	pm_put64(PM_SP, IF_FLAG | 0x2000);
	o = PM_RUN(r, 0, 0x9d);
	pm_expect_done(&o);
	cr_expect_eq(o.rflags, IF_FLAG | 0x2000 | 2, "rflags %#" PRIx64, o.rflags);
}
