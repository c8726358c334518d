/*
 * The I/O permission check of IN, OUT, INS and OUTS (SDM vol. 1 19.5
 * "Protected-Mode I/O"; vol. 2 IN, OUT, INS, OUTS "Operation"; vol. 3
 * 20.2.8): in protected mode (compatibility and 64-bit mode included) with
 * CPL > IOPL, and in virtual-8086 mode always, each port the access touches
 * must have a clear bit in the TSS's I/O permission bitmap, read two bytes
 * at a time at the I/O map base + port / 8, both within the TSS limit;
 * otherwise #GP(0) and no I/O exit (the check has priority over the VM
 * exit, SDM vol. 3 25.1.1).  Real mode and CPL <= IOPL do not look.
 * Machines are built through the public API (prot_machine.h,
 * tss_bitmaps.h), and only guest-visible state is compared.
 */
#include "tss_bitmaps.h"

TestSuite(iop, .fini = pm_teardown);

/* The INOUT exit, field by field (BHYVE-EXITS.md section 3). */
static void expect_inout(const struct vm_exit *e, uint64_t rip, int len, int bytes, bool in,
                         uint16_t port, uint32_t eax)
{
	cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "exit %d at %#" PRIx64, e->exitcode, e->rip);
	cr_expect_eq(e->rip, rip, "rip %#" PRIx64, e->rip);
	cr_expect_eq(e->inst_length, len);
	cr_expect_eq(e->u.inout.bytes, bytes);
	cr_expect_eq(e->u.inout.in, in);
	cr_expect_eq(e->u.inout.string, 0);
	cr_expect_eq(e->u.inout.rep, 0);
	cr_expect_eq(e->u.inout.port, port, "port %#x", e->u.inout.port);
	cr_expect_eq(e->u.inout.eax, eax, "eax %#x", e->u.inout.eax);
}

/* Run 'code' to its first exit, which must be the INOUT described. */
#define EXPECT_EXIT(regs, flags, bytes, in, port, eax, ...)                                        \
	do {                                                                                       \
		static const uint8_t code_[] = {__VA_ARGS__};                                      \
		struct vm_exit e_;                                                                 \
		pm_start(code_, sizeof(code_), (regs), (flags), &e_);                              \
		expect_inout(&e_, PM_CODE, sizeof(code_), (bytes), (in), (port), (eax));           \
	} while (0)

#define OUT_IMM_AL(p) 0xe6, (p)
#define IN_AL_IMM(p)  0xe4, (p)
#define OUT_DX_AL     0xee
#define OUT_DX_AX_32  0x66, 0xef /* in 32- and 64-bit code */
#define OUT_DX_EAX_32 0xef
#define OUT_DX_AX_16  0xef /* in 16-bit (virtual-8086) code */
#define OUT_DX_EAX_16 0x66, 0xef

/* ---- when the bitmap is not consulted ---------------------------------- */

/* Real mode has no I/O protection (SDM vol. 1 19.5): a TSS that would
 * deny every port changes nothing. */
Test(iop, real_mode_never_checks)
{
	pm_machine(PM_REAL, 0);
	tss_maps(0xffff, TSS_LIMIT); /* map base past the limit: no bitmap */
	uint64_t r[16] = {[RAX] = 0x12345678};
	EXPECT_EXIT(r, 0, 1, false, 0x21, 0x12345678, OUT_IMM_AL(0x21));
}

/* CPL <= IOPL: all I/O allowed without looking at the TSS (SDM vol. 1
 * 19.5.1), at CPL 0 with IOPL 0 and at CPL 3 with IOPL 3. */
Test(iop, cpl_at_most_iopl_skips_the_bitmap)
{
	pm_machine(PM_PROT32, 0);
	tss_maps(0xffff, TSS_LIMIT);
	uint64_t r[16] = {[RAX] = 0xaabbccdd, [RDX] = 0x3f8};
	EXPECT_EXIT(r, 0, 4, false, 0x3f8, 0xaabbccdd, OUT_DX_EAX_32);
	pm_teardown();
	pm_machine(PM_PROT32, 3);
	tss_maps(TSS_LIMIT, TSS_LIMIT); /* map base at the limit: denies all */
	EXPECT_EXIT(r, IOPL3, 4, false, 0x3f8, 0xaabbccdd, OUT_DX_EAX_32);
	pm_teardown();
	pm_machine(PM_LONG64, 3);
	tss_maps(0xffff, TSS_LIMIT);
	EXPECT_EXIT(r, IOPL3, 1, true, 0x60, 0xaabbccdd, IN_AL_IMM(0x60));
}

/* ---- CPL > IOPL: the bitmap decides ------------------------------------ */

Test(iop, cpl3_allowed_ports_exit)
{
	pm_machine(PM_PROT32, 3);
	tss_maps(TSS_MAP, TSS_LIMIT);
	tss_port(0x20, true);
	tss_port(0x22, true);
	uint64_t r[16] = {[RAX] = 0x11223344, [RDX] = 0x21};
	EXPECT_EXIT(r, 0, 1, false, 0x21, 0x11223344, OUT_IMM_AL(0x21));
	EXPECT_EXIT(r, 0, 1, true, 0x21, 0x11223344, IN_AL_IMM(0x21));
	EXPECT_EXIT(r, 0, 1, false, 0x21, 0x11223344, OUT_DX_AL);
	/* IOPL 1 or 2 is still below CPL 3. */
	EXPECT_EXIT(r, 0x2000, 1, false, 0x21, 0x11223344, OUT_DX_AL);
}

Test(iop, cpl3_denied_port_is_gp0_without_exit)
{
	pm_machine(PM_PROT32, 3);
	tss_maps(TSS_MAP, TSS_LIMIT);
	tss_port(0x21, true);
	uint64_t r[16] = {[RAX] = 0x55, [RDX] = 0x21};
	/* The first exit is the #GP handler's: the OUT made none. */
	struct pm_out o = PM_RUN(r, 0, OUT_IMM_AL(0x21));
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	o = PM_RUN(r, 0x1000, IN_AL_IMM(0x21));
	pm_expect_exc(&o, 13, 0, PM_CODE, 0x1000);
	cr_expect_eq(o.r[RAX], 0x55, "IN wrote AL");
	o = PM_RUN(r, 0x2000, OUT_DX_AL);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0x2000);
	/* A port past 3FFH is beyond the map. */
	r[RDX] = 0x400;
	o = PM_RUN(r, 0, OUT_DX_AL);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

/* Every byte port of a word or doubleword access has its own bit (SDM vol.
 * 1 19.5.2: "the processor tests all the bits corresponding to the I/O
 * port being addressed"). */
Test(iop, each_port_of_a_wide_access)
{
	pm_machine(PM_PROT32, 3);
	tss_maps(TSS_MAP, TSS_LIMIT);
	uint64_t r[16] = {[RAX] = 0x87654321, [RDX] = 0x70};
	struct pm_out o;
	for (unsigned bad = 0x70; bad < 0x74; bad++) {
		tss_port(bad, true);
		/* A byte access to 70H touches only bit 70H. */
		if (bad == 0x70) {
			o = PM_RUN(r, 0, OUT_DX_AL);
			pm_expect_exc(&o, 13, 0, PM_CODE, 0);
		} else {
			EXPECT_EXIT(r, 0, 1, false, 0x70, 0x87654321, OUT_DX_AL);
		}
		/* A word access touches 70H and 71H. */
		if (bad <= 0x71) {
			o = PM_RUN(r, 0, OUT_DX_AX_32);
			pm_expect_exc(&o, 13, 0, PM_CODE, 0);
		} else {
			EXPECT_EXIT(r, 0, 2, false, 0x70, 0x87654321, OUT_DX_AX_32);
		}
		/* A doubleword access touches 70H-73H. */
		o = PM_RUN(r, 0, OUT_DX_EAX_32);
		pm_expect_exc(&o, 13, 0, PM_CODE, 0);
		tss_port(bad, false);
	}
	/* The bits just outside the access do not matter. */
	tss_port(0x6f, true);
	tss_port(0x74, true);
	EXPECT_EXIT(r, 0, 4, false, 0x70, 0x87654321, OUT_DX_EAX_32);
}

/* A doubleword at 3EH covers 3EH-3FH (map byte 7) and 40H-41H (map byte
 * 8): the two bytes the processor reads. */
Test(iop, access_straddling_a_map_byte)
{
	pm_machine(PM_PROT32, 3);
	tss_maps(TSS_MAP, TSS_LIMIT);
	uint64_t r[16] = {[RAX] = 0xcafe, [RDX] = 0x3e};
	tss_port(0x42, true);
	tss_port(0x3d, true);
	EXPECT_EXIT(r, 0, 4, false, 0x3e, 0xcafe, OUT_DX_EAX_32);
	tss_port(0x41, true);
	struct pm_out o = PM_RUN(r, 0, OUT_DX_EAX_32);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	tss_port(0x41, false);
	tss_port(0x40, true);
	o = PM_RUN(r, 0, OUT_DX_EAX_32);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* A word at 3EH stays in byte 7. */
	EXPECT_EXIT(r, 0, 2, false, 0x3e, 0xcafe, OUT_DX_AX_32);
}

/* Both bytes read must be within the TSS limit, even when the second holds
 * no bit of the access; ports beyond the map are denied (SDM vol. 1
 * 19.5.2). */
Test(iop, map_reaching_past_the_limit)
{
	pm_machine(PM_PROT32, 3);
	tss_maps(TSS_MAP, TSS_LIMIT);
	uint64_t r[16] = {[RAX] = 1, [RDX] = 0x3ff};
	/* 3FFH: map bytes 7FH and 80H (the all-ones one, at the limit). */
	tss_port(0x400, false);
	EXPECT_EXIT(r, 0, 1, false, 0x3ff, 1, OUT_DX_AL);
	/* 400H: bytes 80H and 81H; 81H is past the limit. */
	r[RDX] = 0x400;
	struct pm_out o = PM_RUN(r, 0, OUT_DX_AL);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* One byte less of TSS: 3FFH's second byte is now past the limit. */
	tss_set_tr(TSS_LIMIT - 1, 0x8b);
	r[RDX] = 0x3ff;
	o = PM_RUN(r, 0, OUT_DX_AL);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RDX] = 0x3f7; /* bytes 7EH and 7FH */
	EXPECT_EXIT(r, 0, 1, false, 0x3f7, 1, OUT_DX_AL);
}

/* A map base at or past the limit means no bitmap: every port is denied
 * (SDM vol. 1 19.5.2); so is a TSS too short to hold the map base field,
 * and a 16-bit TSS, which has none. */
Test(iop, no_bitmap_denies_every_port)
{
	pm_machine(PM_PROT32, 3);
	uint64_t r[16] = {[RDX] = 0x80};
	static const uint16_t bases[] = {0xffff, TSS_LIMIT, TSS_LIMIT + 1};
	for (unsigned k = 0; k < 3; k++) {
		tss_maps(bases[k], TSS_LIMIT);
		struct pm_out o = PM_RUN(r, 0, OUT_DX_AL);
		pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	}
	tss_maps(TSS_MAP, TSS_LIMIT);
	tss_set_tr(0x66, 0x8b); /* the field's second byte is past the limit */
	struct pm_out o = PM_RUN(r, 0, OUT_DX_AL);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	tss_maps(TSS_MAP, TSS_LIMIT);
	/* A busy 16-bit TSS, with SP0 and SS0 where its layout has them
	 * (SDM vol. 3 figure 8-12) for the #GP's stack switch. */
	uint16_t sp0_ss0[2] = {(uint16_t)RING0_SP, S_DATA32};
	pm_put(PM_TSS + 2, sp0_ss0, 4);
	tss_set_tr(TSS_LIMIT, 0x83);
	o = PM_RUN(r, 0, OUT_DX_AL);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

/* ---- INS and OUTS ------------------------------------------------------------ */

/* The check comes before the string I/O exit: a denied port is #GP(0) and
 * no INOUT_STR; an allowed one exits with the usual payload (BHYVE-EXITS.md
 * section 3), whose memory side bhyve's user space then emulates. */
Test(iop, ins_outs_check_before_the_exit)
{
	pm_machine(PM_PROT32, 3);
	tss_maps(TSS_MAP, TSS_LIMIT);
	tss_port(0x3f9, true);
	uint64_t r[16] = {[RAX] = 7, [RDX] = 0x3f8, [RSI] = PM_DATA, [RDI] = PM_DATA + 0x10};
	struct vm_exit e;
	static const uint8_t outsw[] = {0x66, 0x6f}, insb[] = {0x6c}, outsb[] = {0x6e};
	struct pm_out o = pm_run(outsw, 2, r, 0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	cr_expect_eq(o.r[RSI], PM_DATA, "RSI moved");
	pm_start(outsb, 1, r, 0, &e);
	cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT_STR, "exit %d", e.exitcode);
	cr_expect_eq(e.rip, PM_CODE);
	cr_expect_eq(e.inst_length, 1);
	cr_expect_eq(e.u.inout_str.inout.bytes, 1);
	cr_expect_eq(e.u.inout_str.inout.in, 0);
	cr_expect_eq(e.u.inout_str.inout.string, 1);
	cr_expect_eq(e.u.inout_str.inout.rep, 0);
	cr_expect_eq(e.u.inout_str.inout.port, 0x3f8);
	cr_expect_eq(e.u.inout_str.inout.eax, 7);
	cr_expect_eq(e.u.inout_str.paging.cpl, 3);
	cr_expect_eq(e.u.inout_str.paging.cpu_mode, CPU_MODE_PROTECTED);
	cr_expect_eq(e.u.inout_str.paging.paging_mode, PAGING_MODE_FLAT);
	cr_expect_eq(e.u.inout_str.rflags, 2);
	cr_expect_eq(e.u.inout_str.cr0, 0x11);
	cr_expect_eq(e.u.inout_str.index, PM_DATA);
	cr_expect_eq(e.u.inout_str.count, 1);
	cr_expect_eq(e.u.inout_str.addrsize, 4);
	cr_expect_eq(e.u.inout_str.seg_name, VM_REG_GUEST_DS);
	cr_expect_eq(e.u.inout_str.seg_desc.base, 0);
	cr_expect_eq(e.u.inout_str.seg_desc.limit, 0xffffffff);
	tss_port(0x3f8, true);
	o = pm_run(insb, 1, r, 0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	cr_expect_eq(o.r[RDI], PM_DATA + 0x10, "RDI moved");
	tss_port(0x3f8, false);
	pm_start(insb, 1, r, 0, &e);
	cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT_STR, "exit %d", e.exitcode);
	cr_expect_eq(e.u.inout_str.inout.in, 1);
	cr_expect_eq(e.u.inout_str.index, PM_DATA + 0x10);
	cr_expect_eq(e.u.inout_str.seg_name, VM_REG_GUEST_ES);
}

/* ---- virtual-8086 mode: always checked --------------------------------------- */

/* In virtual-8086 mode the bitmap is consulted whatever IOPL is (SDM vol. 3
 * 20.2.8.1): IOPL 3 does not open the ports. */
Test(iop, v8086_checks_at_every_iopl)
{
	for (uint64_t iopl = 0; iopl <= IOPL3; iopl += 0x1000) {
		v86_machine();
		tss_maps(TSS_MAP, TSS_LIMIT);
		tss_port(0x61, true);
		uint64_t r[16] = {[RAX] = 0xbeef, [RDX] = 0x60};
		uint64_t fl = VM_FLAG | iopl;
		EXPECT_EXIT(r, fl, 1, false, 0x60, 0xbeef, OUT_DX_AL);
		EXPECT_EXIT(r, fl, 1, true, 0x60, 0xbeef, IN_AL_IMM(0x60));
		struct pm_out o = PM_RUN(r, fl, OUT_DX_AX_16);
		v86_expect_exc(&o, 13, 0, PM_CODE, PM_SP, fl | 2 | RF_BIT);
		pm_teardown();
		v86_machine();
		tss_maps(0xffff, TSS_LIMIT);
		o = PM_RUN(r, fl, OUT_IMM_AL(0x60));
		v86_expect_exc(&o, 13, 0, PM_CODE, PM_SP, fl | 2 | RF_BIT);
		pm_teardown();
	}
}

/* ---- IA-32e mode ---------------------------------------------------------------- */

Test(iop, long64_and_compat_cpl3)
{
	static const enum pm_mode modes[] = {PM_LONG64, PM_COMPAT32};
	for (unsigned m = 0; m < 2; m++) {
		pm_machine(modes[m], 3);
		tss_maps(TSS_MAP, TSS_LIMIT);
		tss_port(0x3fb, true);
		uint64_t r[16] = {[RAX] = 0x1234, [RDX] = 0x3f8};
		EXPECT_EXIT(r, 0, 1, false, 0x3f8, 0x1234, OUT_DX_AL);
		EXPECT_EXIT(r, 0, 2, false, 0x3f8, 0x1234, OUT_DX_AX_32);
		struct pm_out o = PM_RUN(r, 0, OUT_DX_EAX_32);
		pm_expect_exc(&o, 13, 0, PM_CODE, 0);
		/* IOPL 3 at CPL 3: no check. */
		EXPECT_EXIT(r, IOPL3, 4, false, 0x3f8, 0x1234, OUT_DX_EAX_32);
		pm_teardown();
	}
}

/*
 * The bitmap is read with supervisor rights through TR's base and paging
 * (SDM vol. 3 4.6, implicit supervisor-mode accesses): a map on a page that
 * is not present is #PF with error code 0 (not present, read, supervisor)
 * even at CPL 3, and CR2 the byte read.
 */
Test(iop, bitmap_read_page_fault_long64)
{
	pm_machine(PM_LONG64, 3);
	/* A TSS at 7FFF00H whose map starts at 800000H, past the 8 MiB the
	 * machine's page tables map. */
	uint64_t tss = 0x7fff00;
	pm_put64(tss + 4, RING0_SP); /* RSP0 for the #PF handler */
	uint16_t base = 0x100;
	pm_put(tss + TSS_IOMAP_OFF, &base, 2);
	pm_gdt(S_TSS, pm_desc((uint32_t)tss, 0x200, 0x8b, 0));
	pm_seg(VM_REG_GUEST_TR, S_TSS, tss, 0x200, 0x8b);
	uint64_t r[16] = {[RDX] = 0x21};
	struct pm_out o = PM_RUN(r, 0, OUT_DX_AL);
	pm_expect_exc(&o, 14, 0, PM_CODE, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), 0x800004, "CR2 %#" PRIx64, pm_reg(VM_REG_GUEST_CR2));
}
