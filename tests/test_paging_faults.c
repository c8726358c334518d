/*
 * Page faults in every paging mode, for every cause, with the exact error
 * code (SDM vol. 3 4.7: P, W/R, U/S, RSVD, I/D) and CR2: not-present
 * entries at each level, user/supervisor and read/write rights with
 * CR0.WP, execute-disable with IA32_EFER.NXE, SMEP, reserved bits
 * (MAXPHYADDR, XD without NXE, PS where it is reserved, large-page address
 * bits), the order of checks, and accesses that straddle two pages.
 */
#include "paging_machine.h"

#define V3 "x86-64-intel-v3"

/* mov eax, [rbx] / mov [rbx], eax / jmp rbx */
#define RD  0x8b, 0x03
#define WR  0x89, 0x03
#define JMP 0xff, 0xe3

static const char *model_of(enum pg_mode m)
{
	return m == PG_5L ? V3 : NULL;
}

static struct pm_out run_read(void)
{
	uint64_t r[16];
	pg_regs(r, pg.la);
	return PG_RUN(r, RD);
}

static struct pm_out run_write(void)
{
	uint64_t r[16];
	pg_regs(r, pg.la);
	r[RAX] = 0x99;
	return PG_RUN(r, WR);
}

static struct pm_out run_fetch(void)
{
	uint64_t r[16];
	pg_regs(r, pg.la);
	return PG_RUN(r, JMP);
}

/* A fetch fault: at the target, CR2 = the target. */
static void expect_fetch_pf(const struct pm_out *o, uint32_t err)
{
	pm_expect_exc(o, 14, err, pg.la, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), pg.la);
}

/* P = 0 at any level: error code 0 for a read, W for a write, plus U at
 * CPL 3; CR2 is the linear address; no flag of the walk is set. */
Test(paging_faults, not_present_at_every_level)
{
	for (int m = 0; m < PG_NMODES; m++) {
		for (int cpl = 0; cpl <= 3; cpl += 3) {
			pg_default((enum pg_mode)m, cpl, model_of((enum pg_mode)m));
			int nlev = pg.nlev;
			pm_teardown();
			for (int l = 0; l < nlev; l++) {
				pg_default((enum pg_mode)m, cpl, model_of((enum pg_mode)m));
				pg_set(l, 0);
				uint32_t u = cpl == 3 ? PFE_U : 0;
				struct pm_out o = run_read();
				pg_expect_pf(&o, 0, u, pg.la);
				o = run_write();
				pg_expect_pf(&o, 0, PFE_W | u, pg.la);
				cr_expect_eq(pm_get_n(PG_DATA, 4), 0,
				             "%s level %d: nothing written", pg_mode_name[m], l);
				pm_teardown();
			}
		}
	}
}

/* User accesses to a page whose U/S is 0 at any level (PAE PDPTEs have no
 * U/S): P | U, plus W for a write (SDM vol. 3 4.6). */
Test(paging_faults, user_access_to_a_supervisor_page)
{
	for (int m = 0; m < PG_NMODES; m++) {
		for (int l = m == PG_PAE ? 1 : 0; l < (m == PG_5L ? 5 : m == PG_4L ? 4 : 3); l++) {
			pg_default((enum pg_mode)m, 3, model_of((enum pg_mode)m));
			if (l >= pg.nlev) {
				pm_teardown();
				break;
			}
			pg_set(l, pg_get(l) & ~E_U);
			struct pm_out o = run_read();
			pg_expect_pf(&o, 0, PFE_P | PFE_U, pg.la);
			o = run_write();
			pg_expect_pf(&o, 0, PFE_P | PFE_W | PFE_U, pg.la);
			pm_teardown();
		}
	}
}

/* Writes to a page whose R/W is 0 at some level: from CPL 3 always P | W |
 * U; from CPL 0 only with CR0.WP = 1 (P | W), and with WP = 0 the write
 * happens and sets D (SDM vol. 3 4.6). */
Test(paging_faults, read_only_pages_and_cr0_wp)
{
	for (int m = 0; m < PG_NMODES; m++) {
		int first = m == PG_PAE ? 1 : 0;
		pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
		int nlev = pg.nlev;
		pm_teardown();
		for (int l = first; l < nlev; l++) {
			pg_default((enum pg_mode)m, 3, model_of((enum pg_mode)m));
			pg_set(l, pg_get(l) & ~E_W);
			struct pm_out o = run_write();
			pg_expect_pf(&o, 0, PFE_P | PFE_W | PFE_U, pg.la);
			o = run_read();
			pm_expect_done(&o);
			pm_teardown();

			pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
			pg_set(l, pg_get(l) & ~E_W);
			o = run_write();
			pm_expect_done(&o);
			cr_expect_eq(pm_get_n(PG_DATA, 4), 0x99, "%s level %d", pg_mode_name[m], l);
			cr_expect_eq(pg_get(pg_leaf()) & E_D, E_D);
			pm_teardown();

			pg_machine((enum pg_mode)m, 0, model_of((enum pg_mode)m), E_P | E_W | E_U,
			           0, false, CR0_WPBIT);
			pg_set(l, pg_get(l) & ~E_W);
			o = run_write();
			pg_expect_pf(&o, 0, PFE_P | PFE_W, pg.la);
			cr_expect_eq(pm_get_n(PG_DATA, 4), 0, "%s level %d", pg_mode_name[m], l);
			pm_teardown();
		}
	}
}

/* A read-modify-write instruction on a read-only page faults as a write,
 * before it reads (SDM vol. 3 4.7): ADD [rbx], eax from CPL 3. */
Test(paging_faults, read_modify_write_faults_as_a_write)
{
	pg_default(PG_4L, 3, NULL);
	pg_set(pg_leaf(), pg_get(pg_leaf()) & ~E_W);
	uint64_t r[16];
	pg_regs(r, pg.la);
	struct pm_out o = PG_RUN(r, 0x01, 0x03);
	pg_expect_pf(&o, 0, PFE_P | PFE_W | PFE_U, pg.la);
	pm_teardown();
}

/* Execute-disable with IA32_EFER.NXE = 1 (PAE and wider): a fetch from a
 * page with XD at any level is P | I/D; a read works.  A fetch from a
 * not-present page reports I/D too; without NXE (and SMEP) it does not
 * (SDM vol. 3 4.7, I/D flag). */
Test(paging_faults, execute_disable_and_the_id_flag)
{
	for (int m = PG_PAE; m < PG_NMODES; m++) {
		pg_machine((enum pg_mode)m, 0, model_of((enum pg_mode)m), E_P | E_W | E_U, 0, true,
		           0);
		int nlev = pg.nlev;
		pm_teardown();
		for (int l = m == PG_PAE ? 1 : 0; l < nlev; l++) {
			pg_machine((enum pg_mode)m, 0, model_of((enum pg_mode)m), E_P | E_W | E_U,
			           0, true, 0);
			pm_put64(PG_DATA, 0xc3); /* RET, were it fetched */
			pg_set(l, pg_get(l) | E_XD);
			struct pm_out o = run_fetch();
			expect_fetch_pf(&o, PFE_P | PFE_ID);
			o = run_read();
			pm_expect_done(&o);
			cr_expect_eq(o.r[RAX], 0xc3u);
			pm_teardown();
		}
		pg_machine((enum pg_mode)m, 0, model_of((enum pg_mode)m), E_P | E_W | E_U, 0, true,
		           0);
		pg_set(pg_leaf(), 0);
		struct pm_out o = run_fetch();
		expect_fetch_pf(&o, PFE_ID);
		pm_teardown();
		pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
		pg_set(pg_leaf(), 0);
		o = run_fetch();
		expect_fetch_pf(&o, 0);
		pm_teardown();
	}
	/* 32-bit paging has no XD: a not-present fetch reports no I/D even
	 * with NXE set. */
	pg_machine(PG_32, 0, NULL, E_P | E_W | E_U, 0, true, 0);
	pg_set(pg_leaf(), 0);
	struct pm_out o = run_fetch();
	expect_fetch_pf(&o, 0);
	pm_teardown();
}

/* XD set while IA32_EFER.NXE = 0 is a reserved bit: P | RSVD on any access
 * (SDM vol. 3 4.4.2, 4.5.4). */
Test(paging_faults, xd_without_nxe_is_reserved)
{
	for (int m = PG_PAE; m < PG_NMODES; m++) {
		pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
		pg_set(pg_leaf(), pg_get(pg_leaf()) | E_XD);
		struct pm_out o = run_read();
		pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
		o = run_write();
		pg_expect_pf(&o, 0, PFE_P | PFE_RSVD | PFE_W, pg.la);
		pm_teardown();
	}
}

/* SMEP (CR4.SMEP, on the v3 models): a supervisor fetch from a user page
 * is P | I/D, in 32-bit paging too; user pages stay readable (SDM vol. 3
 * 4.6).  The identity map is supervisor here so the code itself runs. */
Test(paging_faults, smep_forbids_supervisor_fetches_from_user_pages)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_machine((enum pg_mode)m, 0, V3, E_P | E_W, CR4_SMEPB, false, 0);
		pm_put64(PG_DATA, 0xc3);
		struct pm_out o = run_fetch();
		expect_fetch_pf(&o, PFE_P | PFE_ID);
		o = run_read();
		pm_expect_done(&o);
		pm_teardown();
		/* Not present: I/D with SMEP even in 32-bit paging. */
		pg_machine((enum pg_mode)m, 0, V3, E_P | E_W, CR4_SMEPB, false, 0);
		pg_set(pg_leaf(), 0);
		o = run_fetch();
		expect_fetch_pf(&o, PFE_ID);
		pm_teardown();
	}
}

/* A physical-address bit at or above MAXPHYADDR in any entry: P | RSVD
 * (x86-64-intel: 39 bits).  A bit below it is an address. */
Test(paging_faults, address_bits_above_maxphyaddr_are_reserved)
{
	for (int m = PG_PAE; m < PG_NMODES; m++) {
		pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
		int nlev = pg.nlev;
		unsigned maxphy = m == PG_5L ? 46 : 39;
		pm_teardown();
		for (int l = m == PG_PAE ? 1 : 0; l < nlev; l++) {
			pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
			pg_set(l, pg_get(l) | 1ull << maxphy);
			struct pm_out o = run_read();
			pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
			pm_teardown();
			/* PAE reserves bits 62:MAXPHYADDR; 4-level only up to 51. */
			pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
			pg_set(l, pg_get(l) | 1ull << 51);
			o = run_read();
			pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
			pm_teardown();
			if (m == PG_PAE) {
				pg_default((enum pg_mode)m, 0, NULL);
				pg_set(l, pg_get(l) | 1ull << 57);
				o = run_read();
				pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
				pm_teardown();
			}
		}
	}
}

/* PS is reserved in a PML4E (and a PML5E); in a PDPTE it is reserved on a
 * model without Page1GB (SDM vol. 3 4.5.4). */
Test(paging_faults, ps_where_it_is_reserved)
{
	pg_default(PG_4L, 0, NULL);
	pg_set(0, pg_get(0) | E_PS);
	struct pm_out o = run_read();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
	pm_teardown();
	pg_default(PG_5L, 0, V3);
	pg_set(0, pg_get(0) | E_PS);
	o = run_read();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
	pm_teardown();
	pg_default(PG_5L, 0, V3);
	pg_set(1, pg_get(1) | E_PS);
	o = run_write();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD | PFE_W, pg.la);
	pm_teardown();
	static const char *const no1g[] = {"x86-64-intel", "x86-64-amd"};
	for (int k = 0; k < 2; k++) {
		uint32_t regs[4];
		cr_assert_eq(vm_cpu_model_cpuid(no1g[k], 0x80000001, 0, regs), 0);
		cr_assert_eq(regs[3] & (1u << 26), 0, "%s has no Page1GB", no1g[k]);
		pg_default(PG_4L, 3, no1g[k]);
		pg_set(1, E_PS | E_P | E_W | E_U);
		o = run_read();
		pg_expect_pf(&o, 0, PFE_P | PFE_RSVD | PFE_U, pg.la);
		pm_teardown();
	}
}

/* A large-page entry's address bits below the page size, above PAT (bit
 * 12), are reserved: bit 13 of a 2 MiB PDE, bit 29 of a 1 GiB PDPTE, bit
 * 21 of a 4 MiB PDE (SDM vol. 3 tables 4-4, 4-9, 4-15, 4-17). */
Test(paging_faults, large_page_address_bits_below_the_size)
{
	pg_machine(PG_32, 0, NULL, E_P | E_W | E_U, CR4_PSEB, false, 0);
	pg_set(0, PG_LARGE | 1u << 21 | E_PS | E_P | E_W);
	struct pm_out o = run_read();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
	pm_teardown();
	/* MAXPHYADDR 39: PSE-36 bit 20 (physical bit 39) is reserved too. */
	pg_machine(PG_32, 0, NULL, E_P | E_W | E_U, CR4_PSEB, false, 0);
	pg_set(0, PG_LARGE | 1u << 20 | E_PS | E_P | E_W);
	o = run_read();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
	pm_teardown();
	for (int m = PG_PAE; m <= PG_4L; m++) {
		pg_default((enum pg_mode)m, 0, NULL);
		pg_set(pg_leaf() - 1, PG_LARGE | 1u << 13 | E_PS | E_P | E_W);
		o = run_read();
		pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
		pm_teardown();
		/* Bit 12 is PAT, not reserved. */
		pg_default((enum pg_mode)m, 0, NULL);
		pg_set(pg_leaf() - 1, PG_LARGE | 1u << 12 | E_PS | E_P | E_W);
		o = run_read();
		pm_expect_done(&o);
		pm_teardown();
	}
	pg_default(PG_4L, 0, V3);
	pg_set(1, 1ull << 29 | E_PS | E_P | E_W);
	o = run_read();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD, pg.la);
	pm_teardown();
}

/* The walk stops at the first entry that is not present or has a reserved
 * bit: a not-present entry's reserved bits do not count, a reserved bit
 * above a not-present entry wins, and a reserved bit wins over a rights
 * violation in the same entry (SDM vol. 3 4.7). */
Test(paging_faults, first_failing_entry_decides)
{
	pg_default(PG_4L, 3, NULL);
	pg_set(2, 1ull << 45 | E_W); /* P = 0 with a reserved bit */
	struct pm_out o = run_read();
	pg_expect_pf(&o, 0, PFE_U, pg.la);
	pm_teardown();
	pg_default(PG_4L, 3, NULL);
	pg_set(1, pg_get(1) | 1ull << 45);
	pg_set(3, 0);
	o = run_read();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD | PFE_U, pg.la);
	pm_teardown();
	pg_default(PG_4L, 3, NULL);
	pg_set(3, (pg_get(3) | 1ull << 45) & ~E_U);
	o = run_read();
	pg_expect_pf(&o, 0, PFE_P | PFE_RSVD | PFE_U, pg.la);
	pm_teardown();
}

/* A 4-byte write at PG_LA + 0xffe whose upper page is not present: #PF for
 * the upper page (CR2 = its first byte), and the two bytes of the lower
 * page are not written.  A read likewise.  With both pages unusable the
 * lower one faults first (CR2 = the access's own address). */
Test(paging_faults, straddling_accesses_fault_before_writing_anything)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
		pm_put64(PG_DATA + 0xff8, 0x0706050403020100ull);
		uint64_t r[16];
		pg_regs(r, pg.la);
		r[RAX] = 0xaabbccdd;
		/* mov [rbx + 0xffe], eax */
		struct pm_out o = PG_RUN(r, 0x89, 0x83, 0xfe, 0x0f, 0, 0);
		pg_expect_pf(&o, 0, PFE_W, pg.la + 0x1000);
		cr_expect_eq(pm_get_n(PG_DATA + 0xff8, 8), 0x0706050403020100ull, "%s",
		             pg_mode_name[m]);
		/* mov ecx, [rbx + 0xffe] */
		o = PG_RUN(r, 0x8b, 0x8b, 0xfe, 0x0f, 0, 0);
		pg_expect_pf(&o, 0, 0, pg.la + 0x1000);
		/* The upper page read-only from CPL 0 with WP: still nothing
		 * written below. */
		uint64_t next = pg_entry_gpa(pg_leaf()) + pg.esz;
		uint64_t e = PG_DATA2 | E_P;
		pm_put(next, &e, pg.esz);
		pm_set_reg(VM_REG_GUEST_CR0, CR0_PGPE | CR0_WPBIT);
		pg_load_pdptes();
		o = PG_RUN(r, 0x89, 0x83, 0xfe, 0x0f, 0, 0);
		pg_expect_pf(&o, 0, PFE_W | PFE_P, pg.la + 0x1000);
		cr_expect_eq(pm_get_n(PG_DATA + 0xff8, 8), 0x0706050403020100ull, "%s",
		             pg_mode_name[m]);
		/* Lower page not present, upper present: CR2 is the address. */
		pg_set(pg_leaf(), 0);
		o = PG_RUN(r, 0x8b, 0x8b, 0xfe, 0x0f, 0, 0);
		pg_expect_pf(&o, 0, 0, pg.la + 0xffe);
		pm_teardown();
	}
}

/* SMEP, PCIDE and LA57 are reserved CR4 bits on a model without them. */
Test(paging_faults, cr4_bits_of_features_the_model_lacks_are_reserved)
{
	static const uint64_t bits[] = {CR4_SMEPB, CR4_PCIDB, CR4_LA57B};
	for (int k = 0; k < 3; k++) {
		pg_default(PG_32, 0, NULL);
		uint64_t r[16];
		pg_regs(r, pg.la);
		r[RAX] = bits[k];
		struct pm_out o = PG_RUN(r, 0x0f, 0x22, 0xe0); /* mov cr4, eax */
		pm_expect_exc(&o, 13, 0, PM_CODE + PG_RELOAD_LEN, 0);
		cr_expect_eq(pm_reg(VM_REG_GUEST_CR4), 0);
		pm_teardown();
	}
}

/* SMAP (CR4.SMAP, on the v3 models): a supervisor data access to a user
 * page is P (| W) unless EFLAGS.AC = 1, which STAC sets and CLAC clears
 * (SDM vol. 3 4.6; vol. 2 STAC, CLAC); the soft TLB must not keep a
 * permission STAC gave once CLAC took it away.  Fetches are not SMAP's
 * concern. */
Test(paging_faults, smap_and_eflags_ac)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_machine((enum pg_mode)m, 0, V3, E_P | E_W, CR4_SMAPB, false, 0);
		pm_put64(PG_DATA, 0x5a);
		struct pm_out o = run_read();
		pg_expect_pf(&o, 0, PFE_P, pg.la);
		o = run_write();
		pg_expect_pf(&o, 0, PFE_P | PFE_W, pg.la);
		uint64_t r[16];
		pg_regs(r, pg.la);
		r[RAX] = 0x77;
		/* stac; mov ecx, [rbx]; mov [rbx], eax; clac; mov edx, [rbx] */
		o = PG_RUN(r, 0x0f, 0x01, 0xcb, 0x8b, 0x0b, 0x89, 0x03, 0x0f, 0x01, 0xca, 0x8b,
		           0x13);
		cr_expect_eq(o.r[RCX], 0x5au, "%s", pg_mode_name[m]);
		cr_expect_eq(pm_get_n(PG_DATA, 4), 0x77u, "%s", pg_mode_name[m]);
		pg_expect_pf(&o, 10, PFE_P, pg.la);
		/* A fetch from the user page: jmp rbx; there jmp rcx back to the
		 * end of the code. */
		pm_put64(PG_DATA, 0xe1ff);
		pg_regs(r, pg.la);
		r[RCX] = PM_CODE + PG_RELOAD_LEN + 2;
		o = PG_RUN(r, JMP);
		pm_expect_done(&o);
		pm_teardown();
	}
}

/* CLAC and STAC: #UD at CPL 3 and on a model without SMAP. */
Test(paging_faults, clac_stac_need_cpl_0_and_smap)
{
	uint64_t r[16];
	pg_default(PG_4L, 3, V3);
	pg_regs(r, pg.la);
	struct pm_out o = PG_RUN(r, 0x0f, 0x01, 0xcb);
	pm_expect_exc(&o, 6, -1, PM_CODE + PG_RELOAD_LEN, 0);
	pm_teardown();
	pg_default(PG_4L, 0, NULL);
	pg_regs(r, pg.la);
	o = PG_RUN(r, 0x0f, 0x01, 0xca);
	pm_expect_exc(&o, 6, -1, PM_CODE + PG_RELOAD_LEN, 0);
	pm_teardown();
	pg_default(PG_32, 0, V3);
	pg_regs(r, pg.la);
	o = PG_RUN(r, 0x0f, 0x01, 0xcb); /* stac */
	pm_expect_done(&o);
	cr_expect_eq(o.rflags & 0x40000, 0x40000u, "AC set");
	pm_teardown();
}

/*
 * After a first access to the neighbouring page (the same page table)
 * the PDE cache holds the test address's PDE, and a TLB refill of the test
 * page may skip the full walk when its PTE needs no update (paging/walk.c,
 * paging_walk_cached).  Every outcome must still be the full walk's:
 * faults with their error codes, A and D set where they were clear, the
 * data reached.
 * mov edx, [rcx] (the neighbour); then mov eax, [rbx] or mov [rbx], eax.
 */
static struct pm_out run_after_neighbour(bool write)
{
	uint64_t r[16];
	pg_regs(r, pg.la);
	r[RCX] = pg.la + 0x1000;
	r[RAX] = 0x99;
	if (write)
		return PG_RUN(r, 0x8b, 0x11, WR);
	return PG_RUN(r, 0x8b, 0x11, RD);
}

/* A machine whose neighbouring page maps PG_DATA2, and the test page's
 * PTE set to 'pte' (flags on PG_DATA). */
static void pde_cached_machine(enum pg_mode m, int cpl, uint64_t cr0_extra, uint64_t pte)
{
	pg_machine(m, cpl, model_of(m), E_P | E_W | E_U, 0, false, cr0_extra);
	uint64_t next = PG_DATA2 | E_P | E_W | E_U | E_A | E_D;
	pm_put(pg_entry_gpa(pg_leaf()) + pg.esz, &next, pg.esz);
	pm_put64(PG_DATA, 0x5a5a);
	pg_set(pg_leaf(), PG_DATA | pte);
}

Test(paging_faults, a_cached_pde_changes_no_outcome_of_the_walk)
{
	const uint64_t full = E_P | E_W | E_U | E_A | E_D;
	for (int m = PG_PAE; m < PG_NMODES; m++) {
		for (int cpl = 0; cpl <= 3; cpl += 3) {
			uint32_t u = cpl == 3 ? PFE_U : 0;
			/* Not present. */
			pde_cached_machine((enum pg_mode)m, cpl, 0, 0);
			struct pm_out o = run_after_neighbour(false);
			pg_expect_pf(&o, 2, u, pg.la);
			pm_teardown();
			/* A clear: the read sets it, and not D. */
			pde_cached_machine((enum pg_mode)m, cpl, 0, E_P | E_W | E_U);
			o = run_after_neighbour(false);
			pm_expect_done(&o);
			cr_expect_eq(o.r[RAX], 0x5a5au, "%s CPL %d", pg_mode_name[m], cpl);
			cr_expect_eq(pg_get(pg_leaf()) & (E_A | E_D), E_A, "%s CPL %d",
			             pg_mode_name[m], cpl);
			pm_teardown();
			/* D clear: the write sets it. */
			pde_cached_machine((enum pg_mode)m, cpl, 0, E_P | E_W | E_U | E_A);
			o = run_after_neighbour(true);
			pm_expect_done(&o);
			cr_expect_eq(pm_get_n(PG_DATA, 4), 0x99u, "%s CPL %d", pg_mode_name[m],
			             cpl);
			cr_expect_eq(pg_get(pg_leaf()) & E_D, E_D, "%s CPL %d", pg_mode_name[m],
			             cpl);
			pm_teardown();
			/* A read-only page: a write faults at CPL 3 and, with WP, at
			 * CPL 0; without WP a CPL-0 write is done. */
			pde_cached_machine((enum pg_mode)m, cpl, CR0_WPBIT, full & ~E_W);
			o = run_after_neighbour(true);
			pg_expect_pf(&o, 2, PFE_P | PFE_W | u, pg.la);
			pm_teardown();
			pde_cached_machine((enum pg_mode)m, cpl, 0, full & ~E_W);
			o = run_after_neighbour(true);
			if (cpl == 3) {
				pg_expect_pf(&o, 2, PFE_P | PFE_W | u, pg.la);
			} else {
				pm_expect_done(&o);
				cr_expect_eq(pm_get_n(PG_DATA, 4), 0x99u, "%s", pg_mode_name[m]);
			}
			pm_teardown();
			/* A supervisor page: CPL 3 faults, CPL 0 reads it. */
			pde_cached_machine((enum pg_mode)m, cpl, 0, full & ~E_U);
			o = run_after_neighbour(false);
			if (cpl == 3) {
				pg_expect_pf(&o, 2, PFE_P | PFE_U, pg.la);
			} else {
				pm_expect_done(&o);
				cr_expect_eq(o.r[RAX], 0x5a5au, "%s", pg_mode_name[m]);
			}
			pm_teardown();
			/* Reserved bits: bit 51 (above MAXPHYADDR), and XD without
			 * IA32_EFER.NXE. */
			pde_cached_machine((enum pg_mode)m, cpl, 0, full | (UINT64_C(1) << 51));
			o = run_after_neighbour(false);
			pg_expect_pf(&o, 2, PFE_P | PFE_RSVD | u, pg.la);
			pm_teardown();
			pde_cached_machine((enum pg_mode)m, cpl, 0, full | E_XD);
			o = run_after_neighbour(true);
			pg_expect_pf(&o, 2, PFE_P | PFE_W | PFE_RSVD | u, pg.la);
			pm_teardown();
		}
	}
}

/*
 * A refill after MOV to CR3 whose entry still maps the page from the
 * retired context, with the PDE cached again (core/cpu/cpu_mem.c,
 * refill_cached): the PTE the guest changed before the reload decides,
 * not the old entry.  mov eax, [rbx] (the entry); mov [rdi], esi (the new
 * PTE's low half); the CR3 reload; mov edx, [rcx] (the neighbour: the
 * PDE cached); then mov esi, [rbx] or mov [rbx], edi at offset 12, or
 * both.
 */
enum reloaded_access { RELOADED_READ, RELOADED_WRITE, RELOADED_READ_WRITE };

static struct pm_out run_reloaded(uint32_t pte, enum reloaded_access a)
{
	uint64_t r[16];
	pg_regs(r, pg.la);
	r[RCX] = pg.la + 0x1000;
	r[RDI] = pg_entry_gpa(pg_leaf());
	r[RSI] = pte;
	switch (a) {
	case RELOADED_WRITE:
		return PG_RUN(r, RD, 0x89, 0x37, PG_RELOAD_CR3, 0x8b, 0x11, 0x89, 0x3b);
	case RELOADED_READ_WRITE: /* mov esi, [rbx]; mov [rbx], edi at offset 14 */
		return PG_RUN(r, RD, 0x89, 0x37, PG_RELOAD_CR3, 0x8b, 0x11, 0x8b, 0x33, 0x89, 0x3b);
	default:
		return PG_RUN(r, RD, 0x89, 0x37, PG_RELOAD_CR3, 0x8b, 0x11, 0x8b, 0x33);
	}
}

Test(paging_faults, a_refill_after_a_cr3_reload_sees_the_changed_pte)
{
	const uint32_t full = E_P | E_W | E_U | E_A | E_D;
	for (int m = PG_PAE; m < PG_NMODES; m++) {
		const enum pg_mode pm_ = (enum pg_mode)m;
		/* Unchanged: the same data. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		pm_put64(PG_DATA2, 0x2222);
		struct pm_out o = run_reloaded((uint32_t)PG_DATA | full, RELOADED_READ);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RSI], 0x5a5au, "%s", pg_mode_name[m]);
		pm_teardown();
		/* Another page. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		pm_put64(PG_DATA2, 0x2222);
		o = run_reloaded((uint32_t)PG_DATA2 | full, RELOADED_READ);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RSI], 0x2222u, "%s", pg_mode_name[m]);
		pm_teardown();
		/* Not present. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		o = run_reloaded(0, RELOADED_READ);
		pg_expect_pf(&o, 12, 0, pg.la);
		pm_teardown();
		/* Read-only, with CR0.WP: the write faults. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		o = run_reloaded((uint32_t)PG_DATA | (full & ~E_W), RELOADED_WRITE);
		pg_expect_pf(&o, 12, PFE_P | PFE_W, pg.la);
		cr_expect_eq(pm_get_n(PG_DATA, 4), 0x5a5au, "%s", pg_mode_name[m]);
		pm_teardown();
		/* The same after a read refilled the entry: the write still faults. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		o = run_reloaded((uint32_t)PG_DATA | (full & ~E_W), RELOADED_READ_WRITE);
		pg_expect_pf(&o, 14, PFE_P | PFE_W, pg.la);
		cr_expect_eq(o.r[RSI], 0x5a5au, "%s", pg_mode_name[m]);
		cr_expect_eq(pm_get_n(PG_DATA, 4), 0x5a5au, "%s", pg_mode_name[m]);
		pm_teardown();
		/* D cleared, then a read and a write: the write sets D. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		o = run_reloaded((uint32_t)PG_DATA | (full & ~E_D), RELOADED_READ_WRITE);
		pm_expect_done(&o);
		cr_expect_eq(pg_get(pg_leaf()) & E_D, E_D, "%s", pg_mode_name[m]);
		pm_teardown();
		/* A cleared: the read sets it again. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		o = run_reloaded((uint32_t)PG_DATA | (full & ~(E_A | E_D)), RELOADED_READ);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RSI], 0x5a5au, "%s", pg_mode_name[m]);
		cr_expect_eq(pg_get(pg_leaf()) & (E_A | E_D), E_A, "%s", pg_mode_name[m]);
		pm_teardown();
		/* D cleared: the write sets it again. */
		pde_cached_machine(pm_, 0, CR0_WPBIT, full);
		o = run_reloaded((uint32_t)PG_DATA | (full & ~E_D), RELOADED_WRITE);
		pm_expect_done(&o);
		cr_expect_eq(pm_get_n(PG_DATA, 4), (uint32_t)pg_entry_gpa(pg_leaf()), "%s",
		             pg_mode_name[m]);
		cr_expect_eq(pg_get(pg_leaf()) & E_D, E_D, "%s", pg_mode_name[m]);
		pm_teardown();
	}
}
