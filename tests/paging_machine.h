/*
 * Page tables for the paging tests (test_paging_modes.c,
 * test_paging_faults.c, test_tlb_flush.c), on the protection tests'
 * machine (prot_machine.h) and through the public API only, so the tests
 * run unchanged on a hardware backend.
 *
 * Every mode gets the same shape: the low 4 MiB identity-mapped (code,
 * handlers, IDT, GDT, TSS, stacks and the tables themselves), and one test
 * address PG_LA whose translation goes through a chain of tables of its
 * own, one entry per level, which a test writes as it likes with
 * pg_set(level, value) and reads back with pg_get(level) (accessed and
 * dirty flags).  Level 0 is the top table (the PD of 32-bit paging, the
 * PDPTE of PAE paging, the PML4 or PML5); the last level is the PTE.
 *
 *   mode  levels  PG_LA                  tables of the chain
 *   32    2       0x00C03000             PD 0x100000[3], PT 0x105000[3]
 *   PAE   3       0x40603000             PDPT 0x100000[1], PD 0x104000[3], PT 0x105000[3]
 *   4L    4       0x0000400040603000     PML4 0x100000[0x80], PDPT 0x103000[1], PD 0x104000[3],
 *                                        PT 0x105000[3]
 *   5L    5       0x0001400040603000     PML5 0x106000[1], PML4 0x107000[0x80], then as 4L
 *
 * Data pages for the test address: PG_DATA and PG_DATA2 (4 KiB each);
 * large pages map physical PG_LARGE (4 MiB aligned).
 */
#ifndef SOFTVMM_TESTS_PAGING_MACHINE_H
#define SOFTVMM_TESTS_PAGING_MACHINE_H

#include "prot_machine.h"

enum pg_mode { PG_32, PG_PAE, PG_4L, PG_5L, PG_NMODES };

static const char *const pg_mode_name[PG_NMODES] = {"32-bit", "PAE", "4-level", "5-level"};

#define PG_TOP   UINT64_C(0x100000)
#define PG_IDPT  UINT64_C(0x101000) /* 32-bit: PT of 0..4 MiB; 4L: PDPT of the identity map */
#define PG_IDPD  UINT64_C(0x102000) /* PAE, 4L: PD of the identity map (2 MiB pages) */
#define PG_PML5  UINT64_C(0x106000)
#define PG_PML4T UINT64_C(0x107000) /* 5L: the test address's PML4 */
#define PG_DATA  UINT64_C(0x300000)
#define PG_DATA2 UINT64_C(0x301000)
#define PG_LARGE UINT64_C(0x400000)
#define PG_CODE2 UINT64_C(0x302000) /* a second code page for fetch tests */
#define PG_LA32  UINT64_C(0x00C03000)
#define PG_LAPAE UINT64_C(0x40603000)
#define PG_LA4   UINT64_C(0x0000400040603000)
#define PG_LA5   UINT64_C(0x0001400040603000)

/* Entry bits (SDM vol. 3 tables 4-4 to 4-20). */
#define E_P  UINT64_C(0x1)
#define E_W  UINT64_C(0x2)
#define E_U  UINT64_C(0x4)
#define E_A  UINT64_C(0x20)
#define E_D  UINT64_C(0x40)
#define E_PS UINT64_C(0x80)
#define E_G  UINT64_C(0x100)
#define E_XD (UINT64_C(1) << 63)

/* #PF error code bits (SDM vol. 3 4.7). */
#define PFE_P    0x1
#define PFE_W    0x2
#define PFE_U    0x4
#define PFE_RSVD 0x8
#define PFE_ID   0x10

#define CR0_PGPE  UINT64_C(0x80000011)
#define CR0_WPBIT UINT64_C(0x10000)
#define CR4_PSEB  UINT64_C(0x10)
#define CR4_PAEB  UINT64_C(0x20)
#define CR4_PGEB  UINT64_C(0x80)
#define CR4_LA57B UINT64_C(0x1000)
#define CR4_PCIDB UINT64_C(0x20000)
#define CR4_SMEPB UINT64_C(0x100000)
#define CR4_SMAPB UINT64_C(0x200000)
#define EFER_LM   UINT64_C(0x500)
#define EFER_NX   UINT64_C(0x800)

/* PAE: the PDPTE registers, as bhyve's API sets them (the VMCS fields;
 * a hardware backend may also load them when CR3 is set). */
static inline void pg_load_pdptes(void);

struct pg {
	enum pg_mode mode;
	int nlev;
	uint64_t la;
	uint64_t table[5]; /* gpa of the chain's table at each level */
	unsigned idx[5];
	unsigned esz; /* entry size: 4 or 8 */
};

static struct pg pg;

static inline void pg_load_pdptes(void)
{
	for (int k = 0; pg.mode == PG_PAE && k < 4; k++)
		pm_set_reg(VM_REG_GUEST_PDPTE0 + k, pm_get_n(PG_TOP + 8 * (uint64_t)k, 8));
}

static inline uint64_t pg_entry_gpa(int level)
{
	return pg.table[level] + (uint64_t)pg.idx[level] * pg.esz;
}

static inline void pg_set(int level, uint64_t v)
{
	pm_put(pg_entry_gpa(level), &v, pg.esz);
}

static inline uint64_t pg_get(int level)
{
	return pm_get_n(pg_entry_gpa(level), pg.esz);
}

static inline int pg_leaf(void)
{
	return pg.nlev - 1;
}

/* An entry pointing at the next table of the chain, with flags f. */
static inline uint64_t pg_next(int level, uint64_t f)
{
	return pg.table[level + 1] | f;
}

/*
 * A machine in 'mode' at CPL 'cpl' on CPU model 'model' (NULL: the
 * default), paging registers set through the API: CR4 (PAE, LA57 as the
 * mode needs, plus cr4_extra), EFER (NXE with nxe) and CR0 (PG PE ET, plus
 * cr0_extra), CR3 = PG_TOP.  The identity map has flags ident (user pages
 * when cpl = 3 need E_U); the chain of PG_LA is filled with present,
 * writable, user tables down to a 4 KiB page at PG_DATA.  With PAE the
 * PDPTE registers are set too; pg_run reloads CR3 (at CPL 0) or sets them
 * again (CPL 3) before each run.
 */
static inline void pg_machine(enum pg_mode mode, int cpl, const char *model, uint64_t ident,
                              uint64_t cr4_extra, bool nxe, uint64_t cr0_extra)
{
	bool longm = mode >= PG_4L;
	pm_machine_model(longm ? PM_LONG64 : PM_PROT32, cpl, model);
	memset(&pg, 0, sizeof(pg));
	pg.mode = mode;
	uint8_t zero[0x1000] = {0};
	for (uint64_t t = PG_TOP; t < PG_PML4T + 0x1000; t += 0x1000)
		pm_put(t, zero, sizeof(zero));
	uint64_t tf = E_P | E_W | E_U; /* chain tables: every right */
	switch (mode) {
	case PG_32:
		pg.nlev = 2;
		pg.esz = 4;
		pg.la = PG_LA32;
		pg.table[0] = PG_TOP;
		pg.table[1] = 0x105000;
		pg.idx[0] = 3;
		pg.idx[1] = 3;
		for (uint64_t k = 0; k < 1024; k++) {
			uint32_t e = (uint32_t)((k << 12) | ident);
			pm_put(PG_IDPT + 4 * k, &e, 4);
		}
		{
			uint32_t e = (uint32_t)(PG_IDPT | (ident & (E_P | E_W | E_U)));
			pm_put(PG_TOP, &e, 4);
		}
		break;
	case PG_PAE:
		pg.nlev = 3;
		pg.esz = 8;
		pg.la = PG_LAPAE;
		pg.table[0] = PG_TOP;
		pg.table[1] = 0x104000;
		pg.table[2] = 0x105000;
		pg.idx[0] = 1;
		pg.idx[1] = 3;
		pg.idx[2] = 3;
		pm_put64(PG_TOP, PG_IDPD | E_P); /* PDPTEs: P and address only */
		for (uint64_t k = 0; k < 2; k++)
			pm_put64(PG_IDPD + 8 * k, (k << 21) | E_PS | ident);
		tf = E_P; /* the PDPTE */
		break;
	case PG_4L:
	case PG_5L:
		pg.nlev = mode == PG_5L ? 5 : 4;
		pg.esz = 8;
		pg.la = mode == PG_5L ? PG_LA5 : PG_LA4;
		pm_put64(PG_TOP, PG_IDPT | (ident & (E_P | E_W | E_U)));
		pm_put64(PG_IDPT, PG_IDPD | (ident & (E_P | E_W | E_U)));
		for (uint64_t k = 0; k < 2; k++)
			pm_put64(PG_IDPD + 8 * k, (k << 21) | E_PS | ident);
		{
			int l = 0;
			if (mode == PG_5L) {
				pg.table[l] = PG_PML5;
				pg.idx[l++] = 1;
				pm_put64(PG_PML5, PG_TOP | (ident & (E_P | E_W | E_U)));
				pg.table[l] = PG_PML4T;
			} else {
				pg.table[l] = PG_TOP;
			}
			pg.idx[l++] = 0x80;
			pg.table[l] = 0x103000;
			pg.idx[l++] = 1;
			pg.table[l] = 0x104000;
			pg.idx[l++] = 3;
			pg.table[l] = 0x105000;
			pg.idx[l++] = 3;
		}
		break;
	default:
		cr_assert_fail();
	}
	for (int l = 0; l < pg.nlev - 1; l++)
		pg_set(l, pg_next(l, l == 0 ? tf : E_P | E_W | E_U));
	pg_set(pg_leaf(), PG_DATA | E_P | E_W | E_U);
	uint64_t cr4 = cr4_extra | (mode == PG_32 ? 0 : CR4_PAEB) | (mode == PG_5L ? CR4_LA57B : 0);
	pm_set_reg(VM_REG_GUEST_CR4, cr4);
	pm_set_reg(VM_REG_GUEST_EFER, (longm ? EFER_LM : 0) | (nxe ? EFER_NX : 0));
	pm_set_reg(VM_REG_GUEST_CR3, mode == PG_5L ? PG_PML5 : PG_TOP);
	pm_set_reg(VM_REG_GUEST_CR0, CR0_PGPE | cr0_extra);
	pg_load_pdptes();
}

static inline void pg_default(enum pg_mode mode, int cpl, const char *model)
{
	pg_machine(mode, cpl, model, E_P | E_W | E_U, 0, false, 0);
}

/* MOV EBP, CR3; MOV CR3, EBP: loads the PDPTE registers in PAE mode (rBP
 * is free for it: no test uses it). */
#define PG_RELOAD_CR3 0x0f, 0x20, 0xdd, 0x0f, 0x22, 0xdd
#define PG_RELOAD_LEN 6u

/* Registers with rBX = the test address. */
static inline void pg_regs(uint64_t r[16], uint64_t la)
{
	memset(r, 0, 16 * sizeof(r[0]));
	r[RBX] = la;
}

/* The code 'c' preceded by a CR3 reload at CPL 0 (in every mode, so that
 * offsets do not depend on the mode); at CPL 3, where MOV CR3 faults, by
 * as many NOPs, the PDPTE registers then being set through the API. */
static inline struct pm_out pg_run(const uint8_t *c, unsigned n, const uint64_t r[16])
{
	uint8_t buf[128] = {PG_RELOAD_CR3};
	cr_assert_leq(n + PG_RELOAD_LEN, sizeof(buf));
	if (pm.cpl != 0) {
		memset(buf, 0x90, PG_RELOAD_LEN);
		pg_load_pdptes();
	}
	memcpy(buf + PG_RELOAD_LEN, c, n);
	return pm_run(buf, n + PG_RELOAD_LEN, r, 0);
}

#define PG_RUN(regs, ...)                                                                          \
	({                                                                                         \
		static const uint8_t code_[] = {__VA_ARGS__};                                      \
		pg_run(code_, sizeof(code_), (regs));                                              \
	})

/* A #PF at the instruction 'off' bytes into the test code (after the
 * CR3 reload), error code err, CR2 = cr2. */
static inline void pg_expect_pf(const struct pm_out *o, unsigned off, uint32_t err, uint64_t cr2)
{
	pm_expect_exc(o, 14, err, PM_CODE + PG_RELOAD_LEN + off, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), cr2, "%s: CR2 %#" PRIx64 ", expected %#" PRIx64,
	             pg_mode_name[pg.mode], pm_reg(VM_REG_GUEST_CR2), cr2);
}

#endif
