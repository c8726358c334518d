/* Guest page-table walks (see walk.h). */
#include "paging/walk.h"

#include <string.h>

#include "softvmm/vmm.h"

#define PTE_P  0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_A  0x20ull
#define PTE_D  0x40ull
#define PTE_PS 0x80ull
#define PTE_G  0x100ull
#define PTE_NX (1ull << 63)

#define CR0_WP   0x10000ull
#define CR0_PG   0x80000000ull
#define CR4_PSE  0x10ull
#define CR4_PAE  0x20ull
#define CR4_PGE  0x80ull
#define CR4_LA57 0x1000ull
#define CR4_SMEP 0x100000ull
#define CR4_SMAP 0x200000ull
#define EFER_LME 0x100ull
#define EFER_NXE 0x800ull

int paging_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	if (!(cr0 & CR0_PG))
		return PAGING_MODE_FLAT;
	if (!(cr4 & CR4_PAE))
		return PAGING_MODE_32;
	if (efer & EFER_LME)
		return PAGING_MODE_64;
	return PAGING_MODE_PAE;
}

/* One paging-structure entry, read through the memory map. */
struct entry_ref {
	uint8_t *host;
	unsigned size; /* 4 or 8 */
};

static enum walk_status entry_at(struct vm_mem *m, uint64_t gpa, unsigned size, unsigned flags,
                                 struct entry_ref *ref, struct walk_result *out)
{
	struct mem_seg *s = mem_find(m, gpa);
	if (!s) {
		out->gpa = gpa;
		return WALK_UNBACKED;
	}
	if (!(flags & WALK_F_NO_POPULATE) && !bitmap_test(s->touched, mem_page_index(s, gpa))) {
		out->gpa = gpa;
		return WALK_POPULATE;
	}
	ref->host = s->hva + (gpa - s->gpa);
	ref->size = size;
	return WALK_OK;
}

static uint64_t entry_load(const struct entry_ref *ref)
{
	if (ref->size == 4) {
		uint32_t v;
		memcpy(&v, ref->host, 4);
		return v;
	}
	uint64_t v;
	memcpy(&v, ref->host, 8);
	return v;
}

/* Set bits in an entry atomically, as the processor's locked update does. */
static void entry_or(const struct entry_ref *ref, uint64_t bits)
{
	if (ref->size == 4)
		__atomic_fetch_or((uint32_t *)(void *)ref->host, (uint32_t)bits, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint64_t *)(void *)ref->host, bits, __ATOMIC_RELAXED);
}

struct walk_state {
	const struct walk_regs *r;
	int prot;
	unsigned flags;
	bool user; /* a user-mode access (CPL 3, not implicit supervisor) */
	bool nxe;
	uint64_t rsvd; /* reserved bits of every 8-byte entry (not PS-dependent ones) */
	/* Accumulated rights over all levels. */
	bool all_rw, all_us, any_nx;
	struct entry_ref refs[5];
	int nrefs;
};

static uint32_t pf_code(const struct walk_state *w, bool present, bool rsvd)
{
	uint32_t e = 0;
	if (present)
		e |= PF_P;
	if (w->prot & VM_PROT_WRITE)
		e |= PF_W;
	if (w->user)
		e |= PF_U;
	if (rsvd)
		e |= PF_RSVD | PF_P;
	/* I/D is reported only when NX or SMEP can make fetches fault (SDM 4.7). */
	if ((w->prot & VM_PROT_EXECUTE) &&
	    ((w->nxe && (w->r->cr4 & CR4_PAE)) || (w->r->cr4 & CR4_SMEP)))
		e |= PF_ID;
	return e;
}

/* The access-rights checks of SDM vol. 3 4.6 once the leaf is known: the
 * kinds of access (VM_PROT_*) the accumulated rights allow. */
static unsigned rights_mask(const struct walk_state *w)
{
	const struct walk_regs *r = w->r;
	unsigned m = VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE;
	if (w->any_nx)
		m &= ~(unsigned)VM_PROT_EXECUTE;
	if (w->user) {
		if (!w->all_us)
			return 0;
		return w->all_rw ? m : m & ~(unsigned)VM_PROT_WRITE;
	}
	if (!w->all_rw && (r->cr0 & CR0_WP))
		m &= ~(unsigned)VM_PROT_WRITE;
	if (w->all_us) {
		if (r->cr4 & CR4_SMEP)
			m &= ~(unsigned)VM_PROT_EXECUTE;
		/* SMAP (SDM 4.6): explicit accesses obey EFLAGS.AC; implicit ones
		 * made at CPL 3 are always checked. */
		bool implicit = w->flags & WALK_F_IMPLICIT_SV;
		bool ac_allows = r->rflags_ac && !(implicit && r->cpl == 3);
		if ((r->cr4 & CR4_SMAP) && !ac_allows)
			m &= ~(unsigned)(VM_PROT_READ | VM_PROT_WRITE);
	}
	return m;
}

/* Does the mask m allow every kind of access in prot? */
static bool allows(unsigned m, int prot)
{
	return (m & (unsigned)prot) == (unsigned)prot;
}

static void accumulate(struct walk_state *w, uint64_t e)
{
	w->all_rw = w->all_rw && (e & PTE_RW);
	w->all_us = w->all_us && (e & PTE_US);
	w->any_nx = w->any_nx || (w->nxe && (e & PTE_NX));
}

/* Accessed and dirty flags (SDM vol. 3 4.8): once the access is allowed,
 * A in every entry the walk used, D in the leaf on a write; each only if
 * not already set, with a locked update as the processor makes. */
static void set_ad(struct walk_state *w, struct walk_result *out)
{
	bool probe = w->flags & WALK_F_NO_AD;
	for (int i = 0; i < w->nrefs; i++) {
		if (!(entry_load(&w->refs[i]) & PTE_A)) {
			out->ad_clear = true;
			if (!probe)
				entry_or(&w->refs[i], PTE_A);
		}
	}
	struct entry_ref *leaf = &w->refs[w->nrefs - 1];
	if ((w->prot & VM_PROT_WRITE) && !(entry_load(leaf) & PTE_D)) {
		out->ad_clear = true;
		if (!probe)
			entry_or(leaf, PTE_D);
	}
}

static enum walk_status fault(struct walk_state *w, bool present, bool rsvd,
                              struct walk_result *out)
{
	out->pf_error = pf_code(w, present, rsvd);
	return WALK_PF;
}

static enum walk_status finish(struct walk_state *w, uint64_t gpa, uint64_t page_size,
                               struct walk_result *out)
{
	unsigned m = rights_mask(w);
	if (!allows(m, w->prot))
		return fault(w, true, false, out);
	set_ad(w, out);
	/* Later writes may skip the walk only if D is already set. */
	out->writable = allows(m, VM_PROT_WRITE) && (entry_load(&w->refs[w->nrefs - 1]) & PTE_D);
	out->executable = allows(m, VM_PROT_EXECUTE);
	out->user_page = w->all_us;
	out->gpa = gpa;
	out->page_size = page_size;
	return WALK_OK;
}

/* Read the entry at gpa (size 4 or 8) into *e, recording it for set_ad. */
static inline __attribute__((always_inline)) enum walk_status
load(struct vm_mem *m, struct walk_state *w, uint64_t gpa, unsigned size, uint64_t *e,
     struct walk_result *out)
{
	enum walk_status st = entry_at(m, gpa, size, w->flags, &w->refs[w->nrefs], out);
	if (st != WALK_OK)
		return st;
	*e = entry_load(&w->refs[w->nrefs++]);
	return WALK_OK;
}

/* Read the 8-byte entry at host address 'host' (a page table the PDE
 * cache located), recording it for set_ad. */
static uint64_t load_host(struct walk_state *w, uint8_t *host)
{
	w->refs[w->nrefs] = (struct entry_ref){host, 8};
	return entry_load(&w->refs[w->nrefs++]);
}

/*
 * 32-bit paging (SDM vol. 3 4.3): a page directory and page tables of
 * 4-byte entries.  With CR4.PSE, a PDE with PS = 1 maps a 4 MiB page whose
 * physical bits 39:32 are in PDE bits 20:13 (PSE-36); bit 21 is reserved,
 * and so are bits 20:(MAXPHYADDR - 19) when MAXPHYADDR < 40 (table 4-4).
 * No other bit of a 32-bit entry is reserved, and there is no XD bit.
 */
static enum walk_status walk_32(struct vm_mem *m, struct walk_state *w, uint64_t la,
                                struct walk_result *out)
{
	const struct walk_regs *r = w->r;
	uint64_t pde;
	enum walk_status st =
	    load(m, w, (r->cr3 & 0xfffff000ull) + ((la >> 22) & 0x3ff) * 4, 4, &pde, out);
	if (st != WALK_OK)
		return st;
	if (!(pde & PTE_P))
		return fault(w, false, false, out);
	if ((pde & PTE_PS) && (r->cr4 & CR4_PSE)) {
		unsigned maxphy = r->maxphyaddr < 40 ? r->maxphyaddr : 40;
		uint64_t rsvd =
		    (1ull << 21) | (((1ull << 21) - 1) & ~((1ull << (maxphy - 19)) - 1));
		if (pde & rsvd)
			return fault(w, true, true, out);
		accumulate(w, pde);
		uint64_t gpa =
		    (pde & 0xffc00000ull) | (((pde >> 13) & 0xff) << 32) | (la & 0x3fffff);
		out->global = (pde & PTE_G) && (r->cr4 & CR4_PGE);
		return finish(w, gpa, 4ull << 20, out);
	}
	accumulate(w, pde);
	uint64_t pte;
	st = load(m, w, (pde & 0xfffff000ull) + ((la >> 12) & 0x3ff) * 4, 4, &pte, out);
	if (st != WALK_OK)
		return st;
	if (!(pte & PTE_P))
		return fault(w, false, false, out);
	accumulate(w, pte);
	out->global = (pte & PTE_G) && (r->cr4 & CR4_PGE);
	return finish(w, (pte & 0xfffff000ull) | (la & 0xfff), 4096, out);
}

/*
 * The common TLB refill: a 4 KiB page whose PDE the PDE cache holds
 * ('hit'), whose PTE is present, has no reserved bit set and already has
 * A (and D for a write) set, and whose rights allow w's access.  The full
 * walk would read that PTE, find the same and write nothing, so this
 * gives its result without the bookkeeping: true with *out filled.  false
 * for anything else (a fault, an A/D update), having changed nothing but
 * w's rights and entry list.
 */
static inline __attribute__((always_inline)) bool
pte_ready(struct walk_state *w, const struct psc_entry *hit, uint64_t la, struct walk_result *out)
{
	uint64_t pte = load_host(w, hit->pt_host + ((la >> 12) & 0x1ff) * 8);
	uint64_t need = PTE_P | PTE_A | ((w->prot & VM_PROT_WRITE) ? PTE_D : 0);
	if ((pte & need) != need || (pte & w->rsvd))
		return false;
	w->all_rw = hit->rw;
	w->all_us = hit->us;
	w->any_nx = hit->nx;
	accumulate(w, pte);
	unsigned m = rights_mask(w);
	if (!allows(m, w->prot))
		return false;
	out->pf_error = 0;
	out->ad_clear = false;
	out->writable = (pte & PTE_D) && allows(m, VM_PROT_WRITE);
	out->executable = allows(m, VM_PROT_EXECUTE);
	out->global = (pte & PTE_G) && (w->r->cr4 & CR4_PGE);
	out->user_page = w->all_us;
	out->gpa = (pte & 0x000ffffffffff000ull) | (la & 0xfff);
	out->page_size = 4096;
	return true;
}

/*
 * PAE, 4-level and 5-level paging share the 8-byte entry format.  'level'
 * counts down from the top table to 0, the page table; level 1 (PDE) may
 * map a 2 MiB page, level 2 (PDPTE) a 1 GiB page when the model has them
 * (SDM vol. 3 4.5.4: PS must be 0 otherwise), and PS is reserved at levels
 * 3 and 4 (PML4E, PML5E).  Reserved bits (tables 4-8 to 4-20): MAXPHYADDR
 * and up to bit 51 (to bit 62 with PAE paging, whose entries have no
 * ignored high bits), bit 63 when IA32_EFER.NXE = 0, and in a large-page
 * entry the address bits below the page size other than PAT (bit 12).
 */
static enum walk_status walk_64(struct vm_mem *m, struct walk_state *w, uint64_t la, uint64_t table,
                                int level, struct walk_result *out)
{
	const uint64_t addr_mask = 0x000ffffffffff000ull;
	struct psc *psc = (w->flags & WALK_F_NO_AD) ? NULL : w->r->psc;
	uint64_t pde = 0; /* the PDE that points at a page table, for the PDE cache */
	bool rw = true, us = true, nx = false;
	uint8_t *pt_host = NULL; /* the page table, when the PDE cache has it */
	const struct psc_entry *hit = psc ? psc_lookup(psc, la) : NULL;
	if (hit) {
		if (pte_ready(w, hit, la, out))
			return WALK_OK;
		/* The levels above the page table come from the PDE cache. */
		w->nrefs = 0;
		w->all_rw = hit->rw;
		w->all_us = hit->us;
		w->any_nx = hit->nx;
		table = hit->pt;
		pt_host = hit->pt_host;
		level = 0;
		psc = NULL;
	}
	for (; level >= 0; level--) {
		unsigned shift = 12 + 9 * (unsigned)level;
		uint64_t e;
		if (pt_host) {
			e = load_host(w, pt_host + ((la >> 12) & 0x1ff) * 8);
		} else {
			enum walk_status st = load(
			    m, w, (table & addr_mask) + ((la >> shift) & 0x1ff) * 8, 8, &e, out);
			if (st != WALK_OK)
				return st;
		}
		if (!(e & PTE_P))
			return fault(w, false, false, out);
		bool ps = (e & PTE_PS) && level > 0;
		if ((e & w->rsvd) || (ps && (level > 2 || (level == 2 && !w->r->page1gb))))
			return fault(w, true, true, out);
		if (ps) {
			uint64_t size = 1ull << shift;
			/* Bits 13 .. shift-1 (above PAT) must be zero. */
			if (e & (size - 1) & ~0x1fffull)
				return fault(w, true, true, out);
			accumulate(w, e);
			out->global = (e & PTE_G) && (w->r->cr4 & CR4_PGE);
			return finish(w, (e & addr_mask & ~(size - 1)) | (la & (size - 1)), size,
			              out);
		}
		accumulate(w, e);
		if (level == 1) {
			pde = e;
			rw = w->all_rw;
			us = w->all_us;
			nx = w->any_nx;
		}
		if (level == 0) {
			out->global = (e & PTE_G) && (w->r->cr4 & CR4_PGE);
			enum walk_status st = finish(w, (e & addr_mask) | (la & 0xfff), 4096, out);
			/* A successful walk set the accessed flags above: cache the PDE. */
			if (st == WALK_OK && psc && pde)
				psc_insert(psc, la, pde,
				           w->refs[w->nrefs - 1].host - ((la >> 12) & 0x1ff) * 8,
				           rw, us, nx);
			return st;
		}
		table = e;
	}
	return WALK_PF; /* not reached */
}

/* The reserved bits of every 8-byte entry of PAE paging (bits 62:MAXPHYADDR,
 * table 4-8) or of 4- and 5-level paging (51:MAXPHYADDR, tables 4-14 to
 * 4-20), and XD without IA32_EFER.NXE; the PS-dependent ones are walk_64's. */
static uint64_t rsvd_bits(const struct walk_regs *r, bool pae)
{
	unsigned maxphy = r->maxphyaddr ? r->maxphyaddr : 39;
	uint64_t top = pae ? ~0ull >> 1 : (1ull << 52) - 1;
	uint64_t rsvd = top & ~((1ull << maxphy) - 1);
	return (r->efer & EFER_NXE) ? rsvd : rsvd | PTE_NX;
}

bool paging_walk_cached(const struct walk_regs *r, uint64_t la, int prot, unsigned flags,
                        struct walk_result *out)
{
	if (!r->psc || flags || !(r->cr0 & CR0_PG) || !(r->cr4 & CR4_PAE))
		return false;
	bool pae = !(r->efer & EFER_LME);
	if (pae)
		la &= 0xffffffffull;
	const struct psc_entry *hit = psc_lookup(r->psc, la);
	if (!hit)
		return false;
	struct walk_state w;
	w.r = r;
	w.prot = prot;
	w.flags = 0;
	w.user = r->cpl == 3;
	w.nxe = (r->efer & EFER_NXE) != 0;
	w.rsvd = rsvd_bits(r, pae);
	w.nrefs = 0;
	return pte_ready(&w, hit, la, out);
}

enum walk_status paging_walk(struct vm_mem *m, const struct walk_regs *r, uint64_t la, int prot,
                             unsigned flags, struct walk_result *out)
{
	/* Field by field: a designated initializer would zero refs[] too, with
	 * a REP STOS that costs more than the rest of a cached walk. */
	struct walk_state w;
	w.r = r;
	w.prot = prot;
	w.flags = flags;
	w.user = r->cpl == 3 && !(flags & WALK_F_IMPLICIT_SV);
	w.nxe = (r->efer & EFER_NXE) != 0;
	w.rsvd = 0;
	w.all_rw = w.all_us = true;
	w.any_nx = false;
	w.nrefs = 0;
	out->pf_error = 0;
	out->writable = out->executable = out->global = out->user_page = out->ad_clear = false;
	switch (paging_mode_of(r->cr0, r->cr4, r->efer)) {
	case PAGING_MODE_FLAT:
		out->gpa = la;
		out->page_size = 4096;
		out->writable = out->executable = true;
		return WALK_OK;
	case PAGING_MODE_32:
		return walk_32(m, &w, la & 0xffffffffull, out);
	case PAGING_MODE_PAE: {
		w.rsvd = rsvd_bits(r, true);
		uint64_t pdpte = r->pdpte[(la >> 30) & 3];
		if (!(pdpte & PTE_P))
			return fault(&w, false, false, out);
		/* The PDPTE registers carry no rights and no accessed flag to set:
		 * they were checked when loaded (SDM vol. 3 4.4.1). */
		return walk_64(m, &w, la & 0xffffffffull, pdpte, 1, out);
	}
	default:
		w.rsvd = rsvd_bits(r, false);
		return walk_64(m, &w, la, r->cr3, (r->cr4 & CR4_LA57) ? 4 : 3, out);
	}
}
