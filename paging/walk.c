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
#define PTE_NX (1ull << 63)

#define CR0_WP   0x10000ull
#define CR0_PG   0x80000000ull
#define CR4_PSE  0x10ull
#define CR4_PAE  0x20ull
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
	uint64_t rsvd; /* reserved physical-address bits for 64-bit entries */
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

/* Access-rights checks of SDM vol. 3 4.6 once the leaf is known, for an
 * access of kind prot. */
static bool rights_ok(const struct walk_state *w, int prot)
{
	const struct walk_regs *r = w->r;
	bool write = prot & VM_PROT_WRITE, fetch = prot & VM_PROT_EXECUTE;
	if (w->user) {
		if (!w->all_us)
			return false;
		if (write && !w->all_rw)
			return false;
		if (fetch && w->any_nx)
			return false;
		return true;
	}
	if (write && !w->all_rw && (r->cr0 & CR0_WP))
		return false;
	if (fetch && w->any_nx)
		return false;
	if (w->all_us) {
		if (fetch && (r->cr4 & CR4_SMEP))
			return false;
		/* SMAP (SDM 4.6): explicit accesses obey EFLAGS.AC; implicit ones
		 * made at CPL 3 are always checked. */
		bool implicit = w->flags & WALK_F_IMPLICIT_SV;
		bool ac_allows = r->rflags_ac && !(implicit && r->cpl == 3);
		if (!fetch && (r->cr4 & CR4_SMAP) && !ac_allows)
			return false;
	}
	return true;
}

static void accumulate(struct walk_state *w, uint64_t e)
{
	w->all_rw = w->all_rw && (e & PTE_RW);
	w->all_us = w->all_us && (e & PTE_US);
	w->any_nx = w->any_nx || (w->nxe && (e & PTE_NX));
}

static enum walk_status finish(struct walk_state *w, uint64_t gpa, uint64_t page_size,
                               struct walk_result *out)
{
	if (!rights_ok(w, w->prot)) {
		out->pf_error = pf_code(w, true, false);
		return WALK_PF;
	}
	bool write = w->prot & VM_PROT_WRITE;
	struct entry_ref *leaf = &w->refs[w->nrefs - 1];
	if (!(w->flags & WALK_F_NO_AD)) {
		for (int i = 0; i < w->nrefs; i++)
			if (!(entry_load(&w->refs[i]) & PTE_A))
				entry_or(&w->refs[i], PTE_A);
		if (write && !(entry_load(leaf) & PTE_D))
			entry_or(leaf, PTE_D);
	}
	/* Later writes may skip the walk only if D is already set. */
	out->writable = rights_ok(w, VM_PROT_WRITE) && (entry_load(leaf) & PTE_D);
	out->executable = rights_ok(w, VM_PROT_EXECUTE);
	out->gpa = gpa;
	out->page_size = page_size;
	return WALK_OK;
}

static enum walk_status walk_32(struct vm_mem *m, struct walk_state *w, uint64_t la,
                                struct walk_result *out)
{
	const struct walk_regs *r = w->r;
	uint64_t pde_gpa = (r->cr3 & 0xfffff000ull) + ((la >> 22) & 0x3ff) * 4;
	enum walk_status st = entry_at(m, pde_gpa, 4, w->flags, &w->refs[w->nrefs], out);
	if (st != WALK_OK)
		return st;
	uint64_t pde = entry_load(&w->refs[w->nrefs++]);
	if (!(pde & PTE_P)) {
		out->pf_error = pf_code(w, false, false);
		return WALK_PF;
	}
	accumulate(w, pde);
	if ((pde & PTE_PS) && (r->cr4 & CR4_PSE)) {
		/* 4 MiB page; PSE-36 puts physical bits 39:32 in PDE bits 20:13. */
		uint64_t hi = ((pde >> 13) & 0xff) << 32;
		if (pde & (1ull << 21)) {
			out->pf_error = pf_code(w, true, true);
			return WALK_PF;
		}
		uint64_t gpa = (pde & 0xffc00000ull) | hi | (la & 0x3fffff);
		return finish(w, gpa, 4ull << 20, out);
	}
	uint64_t pte_gpa = (pde & 0xfffff000ull) + ((la >> 12) & 0x3ff) * 4;
	st = entry_at(m, pte_gpa, 4, w->flags, &w->refs[w->nrefs], out);
	if (st != WALK_OK)
		return st;
	uint64_t pte = entry_load(&w->refs[w->nrefs++]);
	if (!(pte & PTE_P)) {
		out->pf_error = pf_code(w, false, false);
		return WALK_PF;
	}
	accumulate(w, pte);
	return finish(w, (pte & 0xfffff000ull) | (la & 0xfff), 4096, out);
}

/*
 * PAE and 4-level walks share the 8-byte entry format.  'level' counts down
 * from the top table; levels 2 (PDPT, 1 GiB) and 1 (PD, 2 MiB) may map a
 * large page.
 */
static enum walk_status walk_64(struct vm_mem *m, struct walk_state *w, uint64_t la, uint64_t table,
                                int level, struct walk_result *out)
{
	const uint64_t addr_mask = 0x000ffffffffff000ull;
	for (; level >= 0; level--) {
		unsigned shift = 12 + 9 * (unsigned)level;
		uint64_t egpa = (table & addr_mask) + ((la >> shift) & 0x1ff) * 8;
		enum walk_status st = entry_at(m, egpa, 8, w->flags, &w->refs[w->nrefs], out);
		if (st != WALK_OK)
			return st;
		uint64_t e = entry_load(&w->refs[w->nrefs++]);
		if (!(e & PTE_P)) {
			out->pf_error = pf_code(w, false, false);
			return WALK_PF;
		}
		uint64_t rsvd = w->rsvd | (w->nxe ? 0 : PTE_NX);
		bool ps = (e & PTE_PS) && level > 0;
		/* PS is reserved in a PML4E; 1 GiB pages need the model to have them. */
		if ((e & rsvd) || ((e & PTE_PS) && level == 3)) {
			out->pf_error = pf_code(w, true, true);
			return WALK_PF;
		}
		accumulate(w, e);
		if (ps) {
			uint64_t size = 1ull << shift;
			/* Bits 12 .. shift-1 above PAT must be zero in a large-page entry. */
			if (e & (size - 1) & ~0x1fffull) {
				out->pf_error = pf_code(w, true, true);
				return WALK_PF;
			}
			uint64_t gpa = (e & addr_mask & ~(size - 1)) | (la & (size - 1));
			return finish(w, gpa, size, out);
		}
		if (level == 0)
			return finish(w, (e & addr_mask) | (la & 0xfff), 4096, out);
		table = e;
	}
	return WALK_PF; /* not reached */
}

enum walk_status paging_walk(struct vm_mem *m, const struct walk_regs *r, uint64_t la, int prot,
                             unsigned flags, struct walk_result *out)
{
	struct walk_state w = {
	    .r = r,
	    .prot = prot,
	    .flags = flags,
	    .user = r->cpl == 3 && !(flags & WALK_F_IMPLICIT_SV),
	    .nxe = (r->efer & EFER_NXE) != 0,
	    .all_rw = true,
	    .all_us = true,
	};
	unsigned maxphy = r->maxphyaddr ? r->maxphyaddr : 39;
	w.rsvd = ((1ull << 52) - 1) & ~((1ull << maxphy) - 1);
	out->pf_error = 0;
	out->writable = out->executable = false;
	switch (paging_mode_of(r->cr0, r->cr4, r->efer)) {
	case PAGING_MODE_FLAT:
		out->gpa = la;
		out->page_size = 4096;
		out->writable = out->executable = true;
		return WALK_OK;
	case PAGING_MODE_32:
		return walk_32(m, &w, la & 0xffffffffull, out);
	case PAGING_MODE_PAE: {
		uint64_t pdpte = r->pdpte[(la >> 30) & 3];
		if (!(pdpte & PTE_P)) {
			out->pf_error = pf_code(&w, false, false);
			return WALK_PF;
		}
		/* PAE PDPTEs carry no rights; they were checked at MOV CR3. */
		return walk_64(m, &w, la & 0xffffffffull, pdpte, 1, out);
	}
	default:
		return walk_64(m, &w, la, r->cr3, 3, out);
	}
}
