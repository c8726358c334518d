/*
 * TLB invalidation as the SDM requires it (vol. 3 4.10.4.1), seen from a
 * guest: after INVLPG, MOV to CR3, MOV to CR4 changing PGE, or INVPCID of
 * each type, the translation a guest changed in memory is the one used.
 * Hardware may drop translations at any time, so these tests never rely
 * on one being kept - except the two marked softvmm-specific, which show
 * that the soft TLB keeps what the SDM lets it keep (global entries across
 * MOV to CR3, other PCIDs' entries).  Also the #GP and #UD conditions of
 * INVPCID and of MOV to CR3/CR4 with PCIDs, LA57 and PAE PDPTEs.
 */
#include "paging_machine.h"

#define V3 "x86-64-intel-v3"

struct code {
	uint8_t b[128];
	unsigned n;
};

static void emit(struct code *c, const uint8_t *b, unsigned n)
{
	cr_assert_leq(c->n + n, sizeof(c->b));
	memcpy(c->b + c->n, b, n);
	c->n += n;
}

#define EMIT(c, ...)                                                                               \
	do {                                                                                       \
		static const uint8_t b_[] = {__VA_ARGS__};                                         \
		emit((c), b_, sizeof(b_));                                                         \
	} while (0)

static bool longm(void)
{
	return pg.mode >= PG_4L;
}

/* mov eax, [rbx] (first read) / mov ecx, [rbx] (second read) */
static void read_eax(struct code *c)
{
	EMIT(c, 0x8b, 0x03);
}

static void read_ecx(struct code *c)
{
	EMIT(c, 0x8b, 0x0b);
}

/* mov [rsi], rdi (8 bytes in IA-32e mode; the low 4 bytes otherwise, the
 * high ones being 0 in every entry used here) */
static void store_entry(struct code *c)
{
	if (longm())
		EMIT(c, 0x48, 0x89, 0x3e);
	else
		EMIT(c, 0x89, 0x3e);
}

/* Registers: rBX the test address, rSI the entry to change, rDI its new
 * value, rDX the operand of MOV CRn or INVPCID's type in rAX. */
static void regs_for(uint64_t r[16], int level, uint64_t newval)
{
	pg_regs(r, pg.la);
	r[RSI] = pg_entry_gpa(level);
	r[RDI] = newval;
}

static void put_values(void)
{
	pm_put64(PG_DATA, 0x1111);
	pm_put64(PG_DATA2, 0x2222);
}

/* The guest reads through PG_LA (0x1111 from PG_DATA), points the leaf at
 * PG_DATA2, runs 'flush', reads again: 0x2222. */
static void expect_flushed(const struct code *flush, uint64_t leaf_flags)
{
	put_values();
	pg_set(pg_leaf(), PG_DATA | leaf_flags);
	struct code c = {0};
	read_eax(&c);
	store_entry(&c);
	emit(&c, flush->b, flush->n);
	read_ecx(&c);
	uint64_t r[16];
	regs_for(r, pg_leaf(), PG_DATA2 | leaf_flags);
	struct pm_out o = pg_run(c.b, c.n, r);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0x1111u, "%s", pg_mode_name[pg.mode]);
	cr_expect_eq(o.r[RCX], 0x2222u, "%s: the new translation after the flush",
	             pg_mode_name[pg.mode]);
}

#define LEAF (E_P | E_W | E_U)

/* INVLPG [rbx] in every mode (SDM vol. 2A INVLPG). */
Test(tlb_flush, invlpg_makes_the_changed_translation_used)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_default((enum pg_mode)m, 0, m == PG_5L ? V3 : NULL);
		struct code f = {0};
		EMIT(&f, 0x0f, 0x01, 0x3b);
		expect_flushed(&f, LEAF);
		pm_teardown();
	}
}

/* MOV to CR3 (the same value) in every mode. */
Test(tlb_flush, mov_cr3_makes_the_changed_translation_used)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_default((enum pg_mode)m, 0, m == PG_5L ? V3 : NULL);
		struct code f = {0};
		EMIT(&f, 0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda); /* mov rdx, cr3; mov cr3, rdx */
		expect_flushed(&f, LEAF);
		pm_teardown();
	}
}

/* A global translation (G = 1, CR4.PGE = 1) goes with INVLPG, and with a
 * MOV to CR4 that changes PGE (SDM vol. 3 4.10.4.1). */
Test(tlb_flush, global_translations_go_with_invlpg_and_a_pge_change)
{
	for (int m = 0; m < PG_NMODES; m++) {
		const char *model = m == PG_5L ? V3 : NULL;
		pg_machine((enum pg_mode)m, 0, model, E_P | E_W | E_U, CR4_PGEB, false, 0);
		struct code f = {0};
		EMIT(&f, 0x0f, 0x01, 0x3b);
		expect_flushed(&f, LEAF | E_G);
		pm_teardown();
		pg_machine((enum pg_mode)m, 0, model, E_P | E_W | E_U, CR4_PGEB, false, 0);
		struct code g = {0};
		/* mov rdx, cr4; xor edx, 0x80; mov cr4, rdx */
		EMIT(&g, 0x0f, 0x20, 0xe2, 0x81, 0xf2, 0x80, 0, 0, 0, 0x0f, 0x22, 0xe2);
		expect_flushed(&g, LEAF | E_G);
		cr_expect_eq(pm_reg(VM_REG_GUEST_CR4) & CR4_PGEB, 0);
		pm_teardown();
	}
}

/* INVLPG of any address inside a large page drops the whole page: the
 * guest reads PG_LA + 0x5000, moves the large page, invalidates PG_LA
 * (another 4 KiB of it) and reads PG_LA + 0x5000 again. */
Test(tlb_flush, invlpg_anywhere_in_a_large_page_drops_it_whole)
{
	for (int m = 0; m < PG_NMODES; m++) {
		pg_machine((enum pg_mode)m, 0, m == PG_5L ? V3 : NULL, E_P | E_W | E_U,
		           m == PG_32 ? CR4_PSEB : 0, false, 0);
		int pde = pg_leaf() - 1;
		uint64_t size = m == PG_32 ? 4ull << 20 : 2ull << 20;
		uint64_t off = (pg.la & (size - 1)) + 0x5000;
		/* The old page at PG_LARGE, the new one at PG_LARGE + size for
		 * 2 MiB pages, at 0 for 4 MiB ones (8 MiB of RAM). */
		uint64_t newp = m == PG_32 ? 0 : PG_LARGE + size;
		pm_put64(PG_LARGE + off, 0x1111);
		pm_put64(newp + off, 0x2222);
		pg_set(pde, PG_LARGE | E_PS | E_P | E_W);
		struct code c = {0};
		EMIT(&c, 0x8b, 0x83, 0x00, 0x50, 0, 0); /* mov eax, [rbx + 0x5000] */
		store_entry(&c);
		EMIT(&c, 0x0f, 0x01, 0x3b);             /* invlpg [rbx] */
		EMIT(&c, 0x8b, 0x8b, 0x00, 0x50, 0, 0); /* mov ecx, [rbx + 0x5000] */
		uint64_t r[16];
		regs_for(r, pde, newp | E_PS | E_P | E_W);
		struct pm_out o = pg_run(c.b, c.n, r);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RAX], 0x1111u, "%s", pg_mode_name[m]);
		cr_expect_eq(o.r[RCX], 0x2222u, "%s", pg_mode_name[m]);
		pm_teardown();
	}
}

/* A 4-level machine on the v3 model with CR4.PCIDE and CR3 = PG_TOP | pcid. */
static void pcid_machine(unsigned pcid, uint64_t cr4_extra)
{
	pg_machine(PG_4L, 0, V3, E_P | E_W | E_U, CR4_PCIDB | cr4_extra, false, 0);
	pm_set_reg(VM_REG_GUEST_CR3, PG_TOP | pcid);
}

/* pg_run's CR3 reload keeps the PCID (no bit 63: it flushes that PCID). */

/* MOV to CR3 with PCIDs: without bit 63 the new PCID's non-global
 * translations go, to the same PCID or to another. */
Test(tlb_flush, mov_cr3_with_pcids_flushes_the_new_pcid)
{
	for (unsigned to = 1; to <= 2; to++) {
		pcid_machine(1, 0);
		struct code f = {0};
		EMIT(&f, 0x0f, 0x22, 0xda); /* mov cr3, rdx */
		put_values();
		struct code c = {0};
		read_eax(&c);
		store_entry(&c);
		emit(&c, f.b, f.n);
		read_ecx(&c);
		uint64_t r[16];
		regs_for(r, pg_leaf(), PG_DATA2 | LEAF);
		r[RDX] = PG_TOP | to;
		struct pm_out o = pg_run(c.b, c.n, r);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RAX], 0x1111u);
		cr_expect_eq(o.r[RCX], 0x2222u, "PCID 1 -> %u", to);
		cr_expect_eq(pm_reg(VM_REG_GUEST_CR3), PG_TOP | to);
		pm_teardown();
	}
}

/* INVPCID rax, [rdi] with the descriptor at PM_DATA. */
static void invpcid_code(struct code *f)
{
	EMIT(f, 0x66, 0x0f, 0x38, 0x82, 0x07);
}

static void put_desc(uint64_t pcid, uint64_t la)
{
	pm_put64(PM_DATA, pcid);
	pm_put64(PM_DATA + 8, la);
}

/* INVPCID: type 0 (this address in PCID 1), type 1 (PCID 1), type 2 (all,
 * global translations included), type 3 (all but global): each makes the
 * changed translation used (SDM vol. 2A INVPCID). */
Test(tlb_flush, invpcid_types_make_the_changed_translation_used)
{
	for (unsigned type = 0; type < 4; type++) {
		bool global = type == 2;
		pcid_machine(1, global ? CR4_PGEB : 0);
		put_values();
		put_desc(1, pg.la);
		pg_set(pg_leaf(), PG_DATA | LEAF | (global ? E_G : 0));
		struct code c = {0};
		read_eax(&c);
		store_entry(&c);
		EMIT(&c, 0x66, 0x44, 0x0f, 0x38, 0x82, 0x02); /* invpcid r8, [rdx] */
		read_ecx(&c);
		uint64_t r[16];
		regs_for(r, pg_leaf(), PG_DATA2 | LEAF | (global ? E_G : 0));
		r[8] = type;
		r[RDX] = PM_DATA;
		struct pm_out o = pg_run(c.b, c.n, r);
		pm_expect_done(&o);
		cr_expect_eq(o.r[RAX], 0x1111u, "type %u", type);
		cr_expect_eq(o.r[RCX], 0x2222u, "type %u", type);
		pm_teardown();
	}
}

/* Run INVPCID rax, [rdi] alone; the result of pm_run. */
static struct pm_out run_invpcid(uint64_t type, uint64_t desc_gpa)
{
	struct code c = {0};
	invpcid_code(&c);
	uint64_t r[16];
	pg_regs(r, pg.la);
	r[RAX] = type;
	r[RDI] = desc_gpa;
	return pg_run(c.b, c.n, r);
}

static void expect_gp(const struct pm_out *o, unsigned off)
{
	pm_expect_exc(o, 13, 0, PM_CODE + PG_RELOAD_LEN + off, 0);
}

/* An exception 'vec' with error code 'err' at 'ip', whatever the flags
 * the code before it left. */
static void expect_fault(const struct pm_out *o, int vec, uint32_t err, uint64_t ip)
{
	cr_assert_eq(o->vector, vec, "vector %d, expected %d", o->vector, vec);
	unsigned w = pm.mode >= PM_COMPAT32 ? 8 : 4;
	cr_expect_eq(pm_get_n(o->frame, 4), err, "error code %#" PRIx64, pm_get_n(o->frame, 4));
	cr_expect_eq(pm_get_n(o->frame + w, w), ip, "ip %#" PRIx64, pm_get_n(o->frame + w, w));
}

/* INVPCID's #GP(0) conditions: a type above 3; descriptor bits 63:12 not
 * 0; a non-canonical type-0 address; a PCID other than 0 for types 0 and
 * 1 while CR4.PCIDE = 0; CPL > 0.  #UD on a model without INVPCID. */
Test(tlb_flush, invpcid_faults)
{
	pcid_machine(0, 0);
	put_desc(0, 0);
	struct pm_out o = run_invpcid(4, PM_DATA);
	expect_gp(&o, 0);
	o = run_invpcid(1ull << 32, PM_DATA);
	expect_gp(&o, 0);
	put_desc(1ull << 12, 0);
	o = run_invpcid(2, PM_DATA);
	expect_gp(&o, 0);
	put_desc(0, 0x0000800000000000ull);
	o = run_invpcid(0, PM_DATA);
	expect_gp(&o, 0);
	o = run_invpcid(1, PM_DATA); /* the address matters to type 0 only */
	pm_expect_done(&o);
	put_desc(0xfff, 0);
	o = run_invpcid(1, PM_DATA);
	pm_expect_done(&o);
	pm_teardown();
	/* PCIDE = 0: PCID 0 only, for types 0 and 1. */
	pg_default(PG_4L, 0, V3);
	put_desc(1, pg.la);
	o = run_invpcid(0, PM_DATA);
	expect_gp(&o, 0);
	o = run_invpcid(1, PM_DATA);
	expect_gp(&o, 0);
	o = run_invpcid(2, PM_DATA);
	pm_expect_done(&o);
	o = run_invpcid(3, PM_DATA);
	pm_expect_done(&o);
	pm_teardown();
	/* CPL 3. */
	pg_machine(PG_4L, 3, V3, E_P | E_W | E_U, 0, false, 0);
	put_desc(0, 0);
	o = run_invpcid(2, PM_DATA);
	expect_gp(&o, 0);
	pm_teardown();
	/* No INVPCID in the model: #UD, whatever the operands. */
	pg_default(PG_4L, 0, NULL);
	o = run_invpcid(4, PM_DATA);
	pm_expect_exc(&o, 6, -1, PM_CODE + PG_RELOAD_LEN, 0);
	pm_teardown();
}

/* INVPCID in 32-bit protected mode: the type register has 32 bits, and a
 * type-0 address is taken in full from the descriptor (SDM vol. 2A). */
Test(tlb_flush, invpcid_outside_64_bit_mode)
{
	pg_default(PG_PAE, 0, V3);
	put_values();
	put_desc(0, pg.la);
	pm_put64(PM_DATA + 16, 0);
	pm_put64(PM_DATA + 24, 0x0000800000000000ull);
	struct code c = {0};
	read_eax(&c);
	store_entry(&c);
	EMIT(&c, 0x50);                         /* push eax */
	EMIT(&c, 0x31, 0xc0);                   /* xor eax, eax */
	EMIT(&c, 0x66, 0x0f, 0x38, 0x82, 0x02); /* invpcid eax, [edx] */
	read_ecx(&c);
	EMIT(&c, 0x58);                         /* pop eax */
	EMIT(&c, 0x83, 0xc2, 0x10);             /* add edx, 16 */
	EMIT(&c, 0x31, 0xff);                   /* xor edi, edi */
	EMIT(&c, 0x66, 0x0f, 0x38, 0x82, 0x3a); /* invpcid edi, [edx] */
	uint64_t r[16];
	regs_for(r, pg_leaf(), PG_DATA2 | LEAF);
	r[RDX] = PM_DATA;
	struct pm_out o = pg_run(c.b, c.n, r);
	cr_expect_eq(o.r[RAX], 0x1111u);
	cr_expect_eq(o.r[RCX], 0x2222u);
	expect_fault(&o, 13, 0, PM_CODE + PG_RELOAD_LEN + c.n - 5);
	pm_teardown();
}

/* MOV to CR4 setting PCIDE: #GP(0) outside IA-32e mode and while CR3 bits
 * 11:0 are not 0 (SDM vol. 2B MOV CR; vol. 3 4.10.1).  MOV to CR4 changing
 * LA57 in IA-32e mode: #GP(0). */
Test(tlb_flush, mov_cr4_pcide_and_la57_faults)
{
	/* mov rdx, cr4; or edx, imm32; mov cr4, rdx */
#define SET_CR4(imm)                                                                               \
	PG_RUN(r, 0x0f, 0x20, 0xe2, 0x81, 0xca, (imm)&0xff, ((imm) >> 8) & 0xff,                   \
	       ((imm) >> 16) & 0xff, 0, 0x0f, 0x22, 0xe2)
	uint64_t r[16];
	pg_default(PG_4L, 0, V3);
	pm_set_reg(VM_REG_GUEST_CR3, PG_TOP | 0x18); /* PWT PCD */
	pg_regs(r, pg.la);
	struct pm_out o = SET_CR4(0x20000);
	expect_fault(&o, 13, 0, PM_CODE + PG_RELOAD_LEN + 9);
	pm_set_reg(VM_REG_GUEST_CR3, PG_TOP);
	o = SET_CR4(0x20000);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR4) & CR4_PCIDB, CR4_PCIDB);
	o = SET_CR4(0x1000);
	expect_fault(&o, 13, 0, PM_CODE + PG_RELOAD_LEN + 9);
	pm_teardown();
	pg_default(PG_PAE, 0, V3);
	pg_regs(r, pg.la);
	o = SET_CR4(0x20000);
	expect_fault(&o, 13, 0, PM_CODE + PG_RELOAD_LEN + 9);
	/* Outside IA-32e mode LA57 may change (paging stays PAE). */
	o = SET_CR4(0x1000);
	pm_expect_done(&o);
	pm_teardown();
	/* 5-level: clearing LA57 is a change too. */
	pg_default(PG_5L, 0, V3);
	pg_regs(r, pg.la);
	/* mov rdx, cr4; and edx, ~0x1000; mov cr4, rdx */
	o = PG_RUN(r, 0x0f, 0x20, 0xe2, 0x81, 0xe2, 0xff, 0xef, 0xff, 0xff, 0x0f, 0x22, 0xe2);
	expect_fault(&o, 13, 0, PM_CODE + PG_RELOAD_LEN + 9);
	pm_teardown();
#undef SET_CR4
}

/* MOV to CR3 in IA-32e mode: bit 63 is reserved without PCIDs (#GP(0)),
 * and with CR4.PCIDE = 1 asks for no flush and is not stored. */
Test(tlb_flush, mov_cr3_bit_63)
{
	uint64_t r[16];
	pg_default(PG_4L, 0, V3);
	pg_regs(r, pg.la);
	r[RDX] = PG_TOP | 1ull << 63;
	struct pm_out o = PG_RUN(r, 0x0f, 0x22, 0xda);
	expect_gp(&o, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR3), PG_TOP);
	pm_teardown();
	pcid_machine(3, 0);
	pg_regs(r, pg.la);
	r[RDX] = PG_TOP | 7 | 1ull << 63;
	o = PG_RUN(r, 0x0f, 0x22, 0xda);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR3), PG_TOP | 7);
	pm_teardown();
}

/* Write PDPTE 'k' in memory (PAE). */
static void put_pdpte(int k, uint64_t v)
{
	pm_put64(PG_TOP + 8 * (uint64_t)k, v);
}

/* PAE: a present PDPTE with a reserved bit makes the MOV to CR3 that loads
 * it #GP(0), CR3 and the PDPTE registers unchanged; so does a MOV to CR0
 * or CR4 that loads the PDPTEs (changing CD, NW, PG, PAE, PGE, PSE or
 * SMEP), and not one that changes another bit (SDM vol. 3 4.4.1). */
Test(tlb_flush, pae_pdpte_reserved_bits_fault_the_mov_that_loads_them)
{
	static const uint8_t reload[] = {0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda};
	/* mov rdx, cr4; xor edx, imm32; mov cr4, rdx */
	static const struct {
		uint8_t code[12];
		bool loads;
	} cr4[] = {
	    {{0x0f, 0x20, 0xe2, 0x81, 0xf2, 0x80, 0, 0, 0, 0x0f, 0x22, 0xe2}, true},  /* PGE */
	    {{0x0f, 0x20, 0xe2, 0x81, 0xf2, 0x10, 0, 0, 0, 0x0f, 0x22, 0xe2}, true},  /* PSE */
	    {{0x0f, 0x20, 0xe2, 0x81, 0xf2, 0, 0, 0x10, 0, 0x0f, 0x22, 0xe2}, true},  /* SMEP */
	    {{0x0f, 0x20, 0xe2, 0x81, 0xf2, 0, 0x02, 0, 0, 0x0f, 0x22, 0xe2}, false}, /* OSFXSR */
	    {{0x0f, 0x20, 0xc2, 0x81, 0xf2, 0, 0, 0, 0x40, 0x0f, 0x22, 0xc2}, true},  /* CR0.CD */
	    {{0x0f, 0x20, 0xc2, 0x81, 0xf2, 0, 0, 0x01, 0, 0x0f, 0x22, 0xc2}, false}, /* CR0.WP */
	};
	uint64_t r[16];
	static const uint64_t bad[] = {1ull << 1, 1ull << 5, 1ull << 8, 1ull << 39, 1ull << 63};
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		pg_default(PG_PAE, 0, NULL);
		put_pdpte(2, 0x110000 | E_P | bad[k]);
		pg_regs(r, pg.la);
		struct pm_out o = pm_run(reload, sizeof(reload), r, 0);
		pm_expect_exc(&o, 13, 0, PM_CODE + 3, 0);
		cr_expect_eq(pm_reg(VM_REG_GUEST_CR3), PG_TOP);
		cr_expect_eq(pm_reg(VM_REG_GUEST_PDPTE2), 0, "bit %#llx",
		             (unsigned long long)bad[k]);
		pm_teardown();
	}
	for (unsigned k = 0; k < sizeof(cr4) / sizeof(cr4[0]); k++) {
		pg_machine(PG_PAE, 0, "x86-64-intel-v3", E_P | E_W | E_U, 0, false, 0);
		put_pdpte(2, 0x110000 | E_P | 1ull << 5);
		pg_regs(r, pg.la);
		struct pm_out o = pm_run(cr4[k].code, sizeof(cr4[k].code), r, 0);
		if (cr4[k].loads)
			expect_fault(&o, 13, 0, PM_CODE + 9);
		else
			pm_expect_done(&o);
		pm_teardown();
	}
}

/* The PDPTE registers change only when loaded: after the PDPTE in memory
 * is made not present, a MOV to CR4 changing PGE loads it (the next access
 * faults), one changing OSFXSR does not (the access works). */
Test(tlb_flush, pae_pdptes_load_only_at_the_movs_that_load_them)
{
	static const uint8_t pge[] = {0x0f, 0x20, 0xe2, 0x81, 0xf2, 0x80, 0,
	                              0,    0,    0x0f, 0x22, 0xe2, 0x8b, 0x03};
	static const uint8_t fxsr[] = {0x0f, 0x20, 0xe2, 0x81, 0xf2, 0,    0x02,
	                               0,    0,    0x0f, 0x22, 0xe2, 0x8b, 0x03};
	uint64_t r[16];
	pg_default(PG_PAE, 0, NULL);
	put_pdpte(1, 0);
	pg_regs(r, pg.la);
	struct pm_out o = pm_run(fxsr, sizeof(fxsr), r, 0);
	pm_expect_done(&o);
	o = pm_run(pge, sizeof(pge), r, 0);
	expect_fault(&o, 14, 0, PM_CODE + 12);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), pg.la);
	pm_teardown();
}

/*
 * softvmm-specific, not hardware-portable: a processor may drop any TLB
 * entry at any time, so these only show that the soft TLB keeps what the
 * SDM lets it keep.  A global translation survives MOV to CR3 (the stale
 * one is still used); a PCID's translations survive a switch to another
 * PCID and back with the no-flush bit.
 */
Test(tlb_flush, softvmm_keeps_global_entries_across_mov_cr3)
{
	pg_machine(PG_4L, 0, NULL, E_P | E_W | E_U, CR4_PGEB, false, 0);
	put_values();
	pg_set(pg_leaf(), PG_DATA | LEAF | E_G);
	struct code c = {0};
	read_eax(&c);
	store_entry(&c);
	EMIT(&c, 0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda); /* mov rdx, cr3; mov cr3, rdx */
	read_ecx(&c);
	uint64_t r[16];
	regs_for(r, pg_leaf(), PG_DATA2 | LEAF | E_G);
	struct pm_out o = pg_run(c.b, c.n, r);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 0x1111u, "the global translation was kept");
	pm_teardown();
}

Test(tlb_flush, softvmm_keeps_a_pcids_entries_across_no_flush_switches)
{
	pcid_machine(1, 0);
	put_values();
	struct code c = {0};
	read_eax(&c);
	EMIT(&c, 0x0f, 0x22, 0xda); /* mov cr3, rdx: PCID 2, no flush */
	store_entry(&c);
	EMIT(&c, 0x0f, 0x22, 0xd9); /* mov cr3, rcx: PCID 1, no flush */
	read_ecx(&c);
	uint64_t r[16];
	regs_for(r, pg_leaf(), PG_DATA2 | LEAF);
	r[RDX] = PG_TOP | 2 | 1ull << 63;
	r[RCX] = PG_TOP | 1 | 1ull << 63;
	struct pm_out o = pg_run(c.b, c.n, r);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0x1111u);
	cr_expect_eq(o.r[RCX], 0x1111u, "PCID 1's translation was kept");
	pm_teardown();
}

/* The paging-structure caches go with the TLB (SDM vol. 3 4.10.4.1): after
 * the guest points the PDE at another page table, INVLPG (of the address,
 * or of any other one for the PDE cache), MOV to CR3 and INVPCID make the
 * new table used. */
Test(tlb_flush, a_changed_pde_is_used_after_each_invalidation)
{
	static const uint8_t flushes[][6] = {
	    {0x0f, 0x01, 0x3b, 0x90, 0x90, 0x90}, /* invlpg [rbx] */
	    {0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda}, /* mov rdx, cr3; mov cr3, rdx */
	    {0x66, 0x44, 0x0f, 0x38, 0x82, 0x02}, /* invpcid r8, [rdx] (type 0) */
	};
	for (int m = PG_PAE; m < PG_NMODES; m++) {
		for (unsigned k = 0; k < 3; k++) {
			bool inv = k == 2;
			if (inv && m == PG_PAE)
				continue; /* the INVPCID encoding here is 64-bit */
			pg_default((enum pg_mode)m, 0, inv || m == PG_5L ? V3 : NULL);
			uint8_t zero[0x1000] = {0};
			pm_put(PG_CODE2, zero, sizeof(zero));
			pm_put64(PG_CODE2 + 8 * 3, PG_DATA2 | LEAF);
			put_values();
			put_desc(0, pg.la);
			struct code c = {0};
			read_eax(&c);
			store_entry(&c);
			emit(&c, flushes[k], 6);
			read_ecx(&c);
			uint64_t r[16];
			regs_for(r, pg_leaf() - 1, PG_CODE2 | E_P | E_W | E_U);
			r[RDX] = PM_DATA; /* the INVPCID descriptor; R8 = 0: type 0 */
			struct pm_out o = pg_run(c.b, c.n, r);
			pm_expect_done(&o);
			cr_expect_eq(o.r[RAX], 0x1111u, "%s flush %u", pg_mode_name[m], k);
			cr_expect_eq(o.r[RCX], 0x2222u, "%s flush %u", pg_mode_name[m], k);
			pm_teardown();
		}
	}
}

/* Rights the TLB may have cached narrow: a supervisor write to a read-only
 * page works with CR0.WP = 0 and faults once MOV to CR0 sets WP; a
 * supervisor fetch from a user page works until MOV to CR4 sets SMEP
 * (SDM vol. 3 4.6, 4.10.4.1). */
Test(tlb_flush, setting_cr0_wp_or_cr4_smep_applies_to_cached_pages)
{
	pg_default(PG_4L, 0, NULL);
	pg_set(pg_leaf(), PG_DATA | E_P | E_U | E_A | E_D);
	uint64_t r[16];
	pg_regs(r, pg.la);
	r[RAX] = 0x31;
	/* mov [rbx], eax; mov rdx, cr0; or edx, 0x10000; mov cr0, rdx; mov [rbx], eax */
	struct pm_out o = PG_RUN(r, 0x89, 0x03, 0x0f, 0x20, 0xc2, 0x81, 0xca, 0, 0, 1, 0, 0x0f,
	                         0x22, 0xc2, 0x89, 0x03);
	cr_expect_eq(pm_get_n(PG_DATA, 4), 0x31u);
	expect_fault(&o, 14, PFE_P | PFE_W, PM_CODE + PG_RELOAD_LEN + 14);
	pm_teardown();

	pg_machine(PG_4L, 0, V3, E_P | E_W, 0, false, 0);
	pm_put64(PG_DATA, 0xe1ff); /* jmp rcx */
	pg_regs(r, pg.la);
	r[RCX] = PM_CODE + PG_RELOAD_LEN + 2;
	/* jmp rbx; (back here) mov rdx, cr4; or edx, 0x100000; mov cr4, rdx; jmp rbx */
	o = PG_RUN(r, 0xff, 0xe3, 0x0f, 0x20, 0xe2, 0x81, 0xca, 0, 0, 0x10, 0, 0x0f, 0x22, 0xe2,
	           0xff, 0xe3);
	expect_fault(&o, 14, PFE_P | PFE_ID, pg.la);
	pm_teardown();
}

/* Turning paging on with CR4.PAE loads the PDPTE registers: with a bad
 * PDPTE the MOV to CR0 is #GP(0) and paging stays off; with good ones
 * the registers take the table's values (SDM vol. 3 4.4.1). */
Test(tlb_flush, enabling_pae_paging_loads_the_pdptes)
{
	/* mov rdx, cr0; or edx, 0x80000000; mov cr0, rdx */
	static const uint8_t pg_on[] = {0x0f, 0x20, 0xc2, 0x81, 0xca, 0,
	                                0,    0,    0x80, 0x0f, 0x22, 0xc2};
	uint64_t r[16];
	for (int bad = 1; bad >= 0; bad--) {
		pg_default(PG_PAE, 0, NULL);
		pm_set_reg(VM_REG_GUEST_CR0, 0x11);
		for (int k = 0; k < 4; k++)
			pm_set_reg(VM_REG_GUEST_PDPTE0 + k, 0);
		if (bad)
			pm_put64(PG_TOP + 24, 0x110000 | E_P | E_W);
		pg_regs(r, pg.la);
		struct pm_out o = pm_run(pg_on, sizeof(pg_on), r, 0);
		if (bad) {
			expect_fault(&o, 13, 0, PM_CODE + 9);
			cr_expect_eq(pm_reg(VM_REG_GUEST_CR0) & 0x80000000u, 0);
		} else {
			pm_expect_done(&o);
			cr_expect_eq(pm_reg(VM_REG_GUEST_PDPTE0), PG_IDPD | E_P);
			cr_expect_eq(pm_reg(VM_REG_GUEST_PDPTE1), pg_get(0));
		}
		pm_teardown();
	}
}

/* A CPL change needs no invalidation, but the rights a translation gives
 * differ between CPL 3 and CPL 0-2: a supervisor page read at CPL 0 still
 * faults at CPL 3 (P | U), and with SMAP a user page read at CPL 3 still
 * faults at CPL 0 (P), whatever the TLB kept of the other access. */
Test(tlb_flush, user_and_supervisor_rights_stay_apart_across_cpl_changes)
{
	/* CPL 0 reads PG_LA (a supervisor page), IRETQ to CPL 3, reads it again. */
	pg_default(PG_4L, 0, NULL);
	pg_set(pg_leaf(), PG_DATA | E_P | E_W);
	uint64_t r[16];
	pg_regs(r, pg.la);
	struct pm_out o = PG_RUN(r, 0x8b, 0x03,                      /* mov eax, [rbx] */
	                         0x48, 0x89, 0xe2,                   /* mov rdx, rsp */
	                         0x6a, 0x3b, 0x52, 0x9c, 0x6a, 0x43, /* push ss, rsp, rflags, cs */
	                         0x48, 0x8d, 0x05, 0x03, 0, 0, 0,    /* lea rax, [rip + 3] */
	                         0x50, 0x48, 0xcf,                   /* push rax; iretq */
	                         0x8b, 0x0b);                        /* mov ecx, [rbx] */
	expect_fault(&o, 14, PFE_P | PFE_U, PM_CODE + PG_RELOAD_LEN + 21);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), pg.la);
	pm_teardown();

	/* CPL 3 code in the user page PG_LA reads it; then CPL 0 with SMAP. */
	pg_machine(PG_4L, 0, V3, E_P | E_W, CR4_SMAPB, false, 0);
	static const uint8_t user_code[] = {0x8b, 0x83, 0x00, 0x01, 0, 0, /* mov eax, [rbx+0x100] */
	                                    0xf4};                        /* hlt: #GP(0) */
	pm_put(PG_DATA, user_code, sizeof(user_code));
	pm_put64(PG_DATA + 0x100, 0xfeed);
	pg_regs(r, pg.la);
	o = PG_RUN(r, 0x48, 0x89, 0xda,                      /* mov rdx, rbx */
	           0x48, 0x81, 0xc2, 0x00, 0x0f, 0, 0,       /* add rdx, 0xf00 */
	           0x6a, 0x3b, 0x52, 0x6a, 0x02, 0x6a, 0x43, /* push ss, rsp, rflags 2, cs */
	           0x53, 0x48, 0xcf);                        /* push rbx; iretq */
	expect_fault(&o, 13, 0, pg.la + 6);
	cr_expect_eq(o.r[RAX], 0xfeedu);
	pg_regs(r, pg.la);
	o = PG_RUN(r, 0x8b, 0x8b, 0x00, 0x01, 0, 0); /* mov ecx, [rbx + 0x100] */
	pg_expect_pf(&o, 0, PFE_P, pg.la + 0x100);
	pm_teardown();
}
