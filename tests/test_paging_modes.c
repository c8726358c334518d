/*
 * Guest page walks in every paging mode (SDM vol. 3 chapter 4): 32-bit
 * paging with 4 KiB and 4 MiB pages (PSE, PSE-36), PAE paging with 2 MiB
 * pages, 4-level paging with 2 MiB and 1 GiB pages (the latter only on a
 * model with CPUID 80000001H:EDX.Page1GB), and 5-level paging on the model
 * that has LA57; with the accessed and dirty flags the processor sets
 * (4.8) read back from the paging structures.  The machines are built
 * through the public API (paging_machine.h).
 */
#include "paging_machine.h"

#define V3 "x86-64-intel-v3"

static const char *model_of(enum pg_mode m)
{
	return m == PG_5L ? V3 : NULL;
}

/* A read, then a write, through PG_LA: the values land in PG_DATA; A is
 * set in every entry the walk used, D only in the leaf and only after the
 * write (SDM vol. 3 4.8).  PAE PDPTEs have no accessed flag (bit 5 is
 * reserved there, 4.4.1). */
Test(paging_modes, read_then_write_sets_accessed_then_dirty_on_every_level)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
		pm_put64(PG_DATA, 0x1122334455667788ull);
		uint64_t r[16];
		pg_regs(r, pg.la);
		/* mov eax, [rbx] */
		struct pm_out o = PG_RUN(r, 0x8b, 0x03);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RAX], 0x55667788u, "%s", pg_mode_name[m]);
		for (int l = 0; l < pg.nlev; l++) {
			uint64_t e = pg_get(l);
			bool pdpte = m == PG_PAE && l == 0;
			cr_expect_eq((e & E_A) != 0, !pdpte, "%s level %d: %#" PRIx64,
			             pg_mode_name[m], l, e);
			cr_expect_eq(e & E_D, 0, "%s level %d: D after a read", pg_mode_name[m], l);
		}
		/* mov [rbx], eax with eax = 0xcafef00d */
		r[RAX] = 0xcafef00d;
		o = PG_RUN(r, 0x89, 0x03);
		pm_expect_done(&o);
		cr_expect_eq(pm_get_n(PG_DATA, 8), 0x11223344cafef00dull, "%s", pg_mode_name[m]);
		for (int l = 0; l < pg.nlev; l++) {
			uint64_t e = pg_get(l);
			cr_expect_eq((e & E_D) != 0, l == pg_leaf(), "%s level %d: %#" PRIx64,
			             pg_mode_name[m], l, e);
		}
		pm_teardown();
	}
}

/* A write through an entry whose A flag is clear sets A and D together;
 * entries that already have A keep their other bits unchanged. */
Test(paging_modes, first_access_a_write_sets_a_and_d_in_the_leaf)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_default((enum pg_mode)m, 0, model_of((enum pg_mode)m));
		uint64_t before[5];
		for (int l = 0; l < pg.nlev; l++)
			before[l] = pg_get(l);
		uint64_t r[16];
		pg_regs(r, pg.la);
		r[RAX] = 7;
		struct pm_out o = PG_RUN(r, 0x89, 0x03); /* mov [rbx], eax */
		pm_expect_done(&o);
		for (int l = 0; l < pg.nlev; l++) {
			bool pdpte = m == PG_PAE && l == 0;
			uint64_t want = before[l] | (pdpte ? 0 : E_A) | (l == pg_leaf() ? E_D : 0);
			cr_expect_eq(pg_get(l), want, "%s level %d", pg_mode_name[m], l);
		}
		pm_teardown();
	}
}

/* A large page in each mode that has one: 4 MiB (32-bit with CR4.PSE),
 * 2 MiB (PAE, 4-level, 5-level); A and D go to the entry that maps it. */
Test(paging_modes, large_pages_map_their_offset_and_take_a_and_d)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_machine((enum pg_mode)m, 0, model_of((enum pg_mode)m), E_P | E_W | E_U,
		           m == PG_32 ? CR4_PSEB : 0, false, 0);
		int pde = pg_leaf() - 1;
		pg_set(pde, PG_LARGE | E_PS | E_P | E_W);
		uint64_t off = pg.la & (m == PG_32 ? 0x3fffff : 0x1fffff);
		pm_put64(PG_LARGE + off, 0xabcdef01);
		uint64_t r[16];
		pg_regs(r, pg.la);
		r[RAX] = 0x5a5a5a5a;
		/* mov ecx, [rbx]; mov [rbx + 4], eax */
		struct pm_out o = PG_RUN(r, 0x8b, 0x0b, 0x89, 0x43, 0x04);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RCX], 0xabcdef01u, "%s", pg_mode_name[m]);
		cr_expect_eq(pm_get_n(PG_LARGE + off + 4, 4), 0x5a5a5a5au, "%s", pg_mode_name[m]);
		cr_expect_eq(pg_get(pde), PG_LARGE | E_PS | E_P | E_W | E_A | E_D, "%s",
		             pg_mode_name[m]);
		pm_teardown();
	}
}

/* Without CR4.PSE the PS flag of a 32-bit PDE is ignored: the PDE still
 * points at a page table (SDM vol. 3 4.3, table 4-5). */
Test(paging_modes, ps_without_cr4_pse_is_ignored_in_32_bit_paging)
{
	pg_default(PG_32, 0, NULL);
	pg_set(0, pg_next(0, E_PS | E_P | E_W | E_U));
	pm_put64(PG_DATA, 0x600d);
	uint64_t r[16];
	pg_regs(r, pg.la);
	struct pm_out o = PG_RUN(r, 0x8b, 0x03);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0x600du);
	pm_teardown();
}

/* Run to the first exit, which must be an INST_EMUL read of gpa. */
static void expect_mmio_read(const uint8_t *code, unsigned n, uint64_t gpa)
{
	uint8_t buf[64] = {PG_RELOAD_CR3};
	memcpy(buf + PG_RELOAD_LEN, code, n);
	uint64_t r[16];
	pg_regs(r, pg.la);
	struct vm_exit e;
	pm_start(buf, PG_RELOAD_LEN + n, r, 0, &e);
	cr_assert_eq(e.exitcode, VM_EXITCODE_INST_EMUL, "exit %d", e.exitcode);
	cr_expect_eq(e.u.inst_emul.gpa, gpa, "gpa %#" PRIx64 ", expected %#" PRIx64,
	             e.u.inst_emul.gpa, gpa);
	cr_expect_eq(e.u.inst_emul.gla, pg.la);
}

/* PSE-36: a 4 MiB page's physical bits 39:32 are PDE bits 20:13, as far as
 * MAXPHYADDR goes (SDM vol. 3 table 4-4).  The page lies beyond RAM, so
 * the read reaches the caller as MMIO at that address. */
Test(paging_modes, pse36_takes_physical_bits_above_4g_from_the_pde)
{
	static const uint8_t rd[] = {0x8b, 0x03};
	pg_machine(PG_32, 0, "x86-64-amd", E_P | E_W | E_U, CR4_PSEB, false, 0);
	/* Bits 13 and 20: physical bits 32 and 39 (MAXPHYADDR 40). */
	pg_set(0, PG_LARGE | 1u << 13 | 1u << 20 | E_PS | E_P | E_W);
	expect_mmio_read(rd, sizeof(rd), 0x8100000000ull | PG_LARGE | (pg.la & 0x3fffff));
	pm_teardown();
	pg_machine(PG_32, 0, NULL, E_P | E_W | E_U, CR4_PSEB, false, 0);
	pg_set(0, PG_LARGE | 3u << 13 | E_PS | E_P | E_W);
	expect_mmio_read(rd, sizeof(rd), 0x300000000ull | PG_LARGE | (pg.la & 0x3fffff));
	pm_teardown();
}

/* 1 GiB pages on the model that advertises them: the PDPTE maps the page,
 * and takes A and D. */
Test(paging_modes, one_gib_page_on_a_model_with_page1gb)
{
	static const char *const models[] = {V3, "x86-64-amd-v3"};
	for (int k = 0; k < 2; k++) {
		pg_default(PG_4L, 0, models[k]);
		uint32_t regs[4];
		cr_assert_eq(vm_cpu_model_cpuid(models[k], 0x80000001, 0, regs), 0);
		cr_assert(regs[3] & (1u << 26), "%s advertises Page1GB", models[k]);
		pg_set(1, E_PS | E_P | E_W); /* physical 0 */
		pm_put64(pg.la & 0x3fffffff, 0x1ee7);
		uint64_t r[16];
		pg_regs(r, pg.la);
		r[RAX] = 0x77;
		/* mov ecx, [rbx]; mov [rbx + 8], eax */
		struct pm_out o = PG_RUN(r, 0x8b, 0x0b, 0x89, 0x43, 0x08);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RCX], 0x1ee7u);
		cr_expect_eq(pm_get_n((pg.la & 0x3fffffff) + 8, 4), 0x77u);
		cr_expect_eq(pg_get(1), E_PS | E_P | E_W | E_A | E_D);
		cr_expect_eq(pg_get(0) & E_A, E_A);
		pm_teardown();
	}
}

/* 5-level paging (CR4.LA57) on the model with LA57: the linear address's
 * bits 56:48 index the PML5; A is set on all five levels. */
Test(paging_modes, five_level_paging_walks_five_levels)
{
	uint32_t regs[4];
	cr_assert_eq(vm_cpu_model_cpuid(V3, 7, 0, regs), 0);
	cr_assert(regs[2] & (1u << 16), "the v3 Intel model advertises LA57");
	cr_assert_eq(vm_cpu_model_cpuid(V3, 0x80000008, 0, regs), 0);
	cr_expect_eq((regs[0] >> 8) & 0xff, 57u, "57 linear address bits");
	pg_default(PG_5L, 0, V3);
	pm_put64(PG_DATA, 0x5151);
	/* The same address without bit 48 goes through PML5[0], the identity
	 * PML4, where PML4[0x80] is not present. */
	uint64_t r[16];
	pg_regs(r, pg.la);
	r[RSI] = pg.la & ~(1ull << 48);
	/* mov eax, [rbx]; mov ecx, [rsi] */
	struct pm_out o = PG_RUN(r, 0x8b, 0x03, 0x8b, 0x0e);
	cr_expect_eq(o.r[RAX], 0x5151u);
	pg_expect_pf(&o, 2, 0, r[RSI]);
	for (int l = 0; l < 5; l++)
		cr_expect_eq(pg_get(l) & E_A, E_A, "level %d", l);
	pm_teardown();
}

/* In 5-level paging an address is canonical when bits 63:57 copy bit 56:
 * 0x00ff... is fine (and here not mapped: #PF), 0x0100... is not (#GP(0)),
 * where 4-level paging would take #GP(0) for both. */
Test(paging_modes, five_level_canonical_addresses_have_57_bits)
{
	uint64_t r[16];
	pg_default(PG_5L, 0, V3);
	pg_regs(r, 0x00ff000000000000ull);
	struct pm_out o = PG_RUN(r, 0x8b, 0x03);
	pg_expect_pf(&o, 0, 0, r[RBX]);
	pg_regs(r, 0x0100000000000000ull);
	o = PG_RUN(r, 0x8b, 0x03);
	pm_expect_exc(&o, 13, 0, PM_CODE + PG_RELOAD_LEN, 0);
	pm_teardown();
	pg_default(PG_4L, 0, V3);
	pg_regs(r, 0x00ff000000000000ull);
	o = PG_RUN(r, 0x8b, 0x03);
	pm_expect_exc(&o, 13, 0, PM_CODE + PG_RELOAD_LEN, 0);
	pm_teardown();
}

/* 4-level entries ignore bits 58:52 (and 62:59 without protection keys,
 * which no model has): a read through entries with them set works. */
Test(paging_modes, ignored_high_bits_of_4_level_entries)
{
	pg_default(PG_4L, 0, NULL);
	for (int l = 0; l < pg.nlev; l++)
		pg_set(l, pg_get(l) | 0x7ff0000000000000ull);
	pm_put64(PG_DATA, 0x1234);
	uint64_t r[16];
	pg_regs(r, pg.la);
	struct pm_out o = PG_RUN(r, 0x8b, 0x03);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0x1234u);
	pm_teardown();
}

/* The PDPTE registers are what a PAE walk uses: loaded by MOV to CR3, they
 * stay when the PDPTE in memory changes (SDM vol. 3 4.4.1), until the next
 * load. */
Test(paging_modes, pae_walks_use_the_pdpte_registers_loaded_at_mov_cr3)
{
	pg_default(PG_PAE, 0, NULL);
	pm_put64(PG_DATA, 0xaaaa);
	uint64_t r[16];
	pg_regs(r, pg.la);
	r[RSI] = pg_entry_gpa(0);
	/* mov dword [rsi], 0 (the PDPTE in memory: not present); mov eax, [rbx];
	 * then MOV CR3 again: mov edx, cr3; mov cr3, edx; mov ecx, [rbx] */
	struct pm_out o = PG_RUN(r, 0xc7, 0x06, 0, 0, 0, 0, 0x8b, 0x03, 0x0f, 0x20, 0xda, 0x0f,
	                         0x22, 0xda, 0x8b, 0x0b);
	cr_expect_eq(o.r[RAX], 0xaaaau);
	pg_expect_pf(&o, 14, 0, pg.la);
	uint64_t pdpte1;
	cr_assert_eq(vm_get_register(pm.vm, 0, VM_REG_GUEST_PDPTE1, &pdpte1), 0);
	cr_expect_eq(pdpte1, 0, "PDPTE1 reloaded");
	pm_teardown();
}
