/* The soft TLB's fills and invalidations; the lookups are inline in tlb.h. */
#include "paging/tlb.h"

#include <string.h>

#include "softvmm/vmm.h"

static void entry_clear(struct tlb_entry *e)
{
	e->tag_r = e->tag_w = e->tag_x = TLB_INVALID;
}

static bool entry_empty(const struct tlb_entry *e)
{
	return e->tag_r == TLB_INVALID && e->tag_w == TLB_INVALID && e->tag_x == TLB_INVALID;
}

/* The linear page an entry maps (any tag it still has), or 1 when empty. */
static uint64_t entry_page(const struct tlb_entry *e)
{
	uint64_t t = e->tag_r != TLB_INVALID   ? e->tag_r
	             : e->tag_w != TLB_INVALID ? e->tag_w
	                                       : e->tag_x;
	return t == TLB_INVALID ? 1 : t & TLB_PAGE_MASK;
}

static uint64_t entry_ctx(const struct tlb_entry *e)
{
	uint64_t t = e->tag_r | e->tag_w | e->tag_x;
	return t & TLB_CTX_MASK;
}

static unsigned entry_shift(uint64_t gpa)
{
	return (unsigned)((gpa & TLB_M_SHIFT_MASK) >> TLB_M_SHIFT_POS);
}

static void unlist(struct tlb *t, unsigned i)
{
	t->listed[i / 64] &= ~(1ull << (i % 64));
}

static bool is_global(const struct tlb *t, unsigned i)
{
	return (t->global[i / 64] >> (i % 64)) & 1;
}

/* Forget every PCID's contexts, so that each gets fresh ones when used. */
static void contexts_reset(struct tlb *t)
{
	memset(t->pcid_ctx, 0, sizeof(t->pcid_ctx));
	t->next_ctx = 2;
}

static uint64_t ctx_alloc(struct tlb *t, unsigned pcid);

void tlb_init(struct tlb *t)
{
	for (unsigned i = 0; i < TLB_ENTRIES; i++) {
		entry_clear(&t->e[i]);
		t->gpa[i] = 0;
	}
	memset(t->listed, 0, sizeof(t->listed));
	memset(t->global, 0, sizeof(t->global));
	t->nfilled = 0;
	t->nlarge = 0;
	t->large_overflow = false;
	contexts_reset(t);
	t->cur_pcid = 0;
	t->cls = 0;
	t->ctx = ctx_alloc(t, 0);
	psc_init(&t->psc);
}

/* Clear the entries 'keep' does not keep: the filled ones only, or all of
 * them once so many were filled that a sweep is cheaper. */
static void sweep(struct tlb *t, bool keep_global)
{
	if (!keep_global) {
		if (t->nfilled < TLB_ENTRIES / 4) {
			for (unsigned k = 0; k < t->nfilled; k++) {
				entry_clear(&t->e[t->filled[k]]);
				unlist(t, t->filled[k]);
			}
		} else {
			for (unsigned i = 0; i < TLB_ENTRIES; i++)
				entry_clear(&t->e[i]);
			memset(t->listed, 0, sizeof(t->listed));
		}
		t->nfilled = 0;
		t->nlarge = 0;
		t->large_overflow = false;
		return;
	}
	/* Keep the global entries, listed again as the only ones filled. */
	unsigned n = 0;
	for (unsigned k = 0; k < t->nfilled; k++) {
		uint16_t i = t->filled[k];
		if (!entry_empty(&t->e[i]) && is_global(t, i)) {
			t->filled[n++] = i;
			continue;
		}
		entry_clear(&t->e[i]);
		unlist(t, i);
	}
	t->nfilled = n;
	unsigned m = 0;
	for (unsigned k = 0; k < t->nlarge; k++)
		if (t->large[k].global)
			t->large[m++] = t->large[k];
	t->nlarge = m;
}

/*
 * A fresh pair of contexts for pcid; the one of the current class.  When
 * the 2047 pairs are used up, the non-global entries go (their contexts
 * will be reused) and every PCID starts again; the global entries stay,
 * as they match in any PCID.
 */
static uint64_t ctx_alloc(struct tlb *t, unsigned pcid)
{
	if (t->next_ctx >= TLB_NCTX) {
		sweep(t, true);
		contexts_reset(t);
	}
	t->ctx_pcid[t->next_ctx] = (uint16_t)pcid;
	t->pcid_ctx[pcid] = (uint16_t)t->next_ctx;
	t->next_ctx += 2;
	return t->pcid_ctx[pcid] | t->cls;
}

void tlb_set_user(struct tlb *t, bool user)
{
	t->cls = user;
	t->ctx = (t->ctx & ~1ull) | t->cls;
}

void tlb_flush_all(struct tlb *t)
{
	psc_flush(&t->psc);
	sweep(t, false);
	contexts_reset(t);
	t->ctx = ctx_alloc(t, t->cur_pcid);
}

void tlb_set_pcid(struct tlb *t, unsigned pcid, bool flush)
{
	pcid &= TLB_NPCID - 1;
	psc_flush(&t->psc);
	t->cur_pcid = pcid;
	if (flush || t->pcid_ctx[pcid] == 0)
		t->ctx = ctx_alloc(t, pcid);
	else
		t->ctx = t->pcid_ctx[pcid] | t->cls;
}

void tlb_flush_pcid(struct tlb *t, unsigned pcid)
{
	pcid &= TLB_NPCID - 1;
	psc_flush(&t->psc);
	if (pcid == t->cur_pcid)
		t->ctx = ctx_alloc(t, pcid);
	else
		t->pcid_ctx[pcid] = 0;
}

void tlb_flush_nonglobal(struct tlb *t)
{
	psc_flush(&t->psc);
	sweep(t, true);
	contexts_reset(t);
	t->ctx = ctx_alloc(t, t->cur_pcid);
}

/* Drop the entry of page la if it belongs to the pair of contexts 'pair'
 * (0: none) or, with globals, is global. */
static void drop_if(struct tlb *t, struct tlb_entry *e, uint64_t page, uint64_t pair, bool globals)
{
	if (entry_page(e) != page)
		return;
	bool global = is_global(t, (unsigned)(e - t->e));
	if ((globals && global) || (!global && pair && (entry_ctx(e) & ~1ull) == pair))
		entry_clear(e);
}

/* Can entries of this region still match?  Global ones always; others
 * while their context is still its PCID's. */
static bool region_live(const struct tlb *t, const struct tlb_large *r)
{
	unsigned pair = r->ctx & ~1u;
	return r->global || t->pcid_ctx[t->ctx_pcid[pair]] == pair;
}

/* Is la inside a large page entries of the pair of contexts 'pair' (or,
 * with globals, global ones) were cut from? */
static bool in_large(const struct tlb *t, uint64_t la, uint64_t pair, bool globals)
{
	if (t->large_overflow)
		return true;
	for (unsigned k = 0; k < t->nlarge; k++) {
		const struct tlb_large *r = &t->large[k];
		if ((la & ~r->mask) == r->base &&
		    ((globals && r->global) || (r->ctx & ~1u) == pair))
			return true;
	}
	return false;
}

static void note_large(struct tlb *t, uint64_t la, uint64_t size, bool global)
{
	struct tlb_large n = {la & ~(size - 1), size - 1, (uint16_t)t->ctx, global};
	for (unsigned k = 0; k < t->nlarge; k++) {
		const struct tlb_large *r = &t->large[k];
		if (r->base == n.base && r->mask == n.mask && r->ctx == n.ctx &&
		    r->global == global)
			return;
	}
	if (t->nlarge == TLB_NLARGE) {
		/* Forget the regions of contexts no PCID has any more. */
		unsigned m = 0;
		for (unsigned k = 0; k < t->nlarge; k++)
			if (region_live(t, &t->large[k]))
				t->large[m++] = t->large[k];
		t->nlarge = m;
	}
	if (t->nlarge < TLB_NLARGE)
		t->large[t->nlarge++] = n;
	else
		t->large_overflow = true;
}

static void flush_page(struct tlb *t, uint64_t la, uint64_t pair, bool globals)
{
	uint64_t page = la & TLB_PAGE_MASK;
	/* INVLPG and INVPCID invalidate the paging-structure caches of the
	 * PCID whatever the address (SDM vol. 3 4.10.4.1): all of them here. */
	psc_flush(&t->psc);
	drop_if(t, tlb_entry_for(t, la), page, pair, globals);
	if (!in_large(t, la, pair, globals))
		return;
	/* Every 4 KiB piece of the large page holding la. */
	for (unsigned k = 0; k < t->nfilled; k++) {
		struct tlb_entry *e = &t->e[t->filled[k]];
		unsigned shift = entry_shift(t->gpa[t->filled[k]]);
		if (shift == 0)
			continue;
		uint64_t mask = ~((1ull << shift) - 1);
		uint64_t ep = entry_page(e);
		if (ep != 1 && (ep & mask) == (la & mask))
			drop_if(t, e, ep, pair, globals);
	}
}

void tlb_flush_page(struct tlb *t, uint64_t la)
{
	flush_page(t, la, t->ctx & ~1ull, true);
}

void tlb_flush_page_pcid(struct tlb *t, uint64_t la, unsigned pcid)
{
	flush_page(t, la, t->pcid_ctx[pcid & (TLB_NPCID - 1)], false);
}

void tlb_fill(struct tlb *t, struct tlb_entry *e, uint64_t gpa_page, bool global, uint64_t la,
              uint64_t large_size)
{
	/* Each entry is listed once, so the list never overflows. */
	unsigned i = (unsigned)(e - t->e);
	if (!(t->listed[i / 64] & (1ull << (i % 64)))) {
		t->listed[i / 64] |= 1ull << (i % 64);
		t->filled[t->nfilled++] = (uint16_t)i;
	}
	unsigned shift = 0;
	if (large_size > 4096) {
		shift = (unsigned)__builtin_ctzll(large_size);
		note_large(t, la, large_size, global);
	}
	if (global)
		t->global[i / 64] |= 1ull << (i % 64);
	else
		t->global[i / 64] &= ~(1ull << (i % 64));
	t->gpa[i] = (gpa_page & TLB_PAGE_MASK) | (global ? TLB_M_GLOBAL : 0) |
	            ((uint64_t)shift << TLB_M_SHIFT_POS);
}

bool tlb_refresh(struct tlb *t, struct tlb_entry *e, uint64_t la, uint64_t gpa_page, bool global,
                 bool writable, bool executable, int prot)
{
	uint64_t gpa = (gpa_page & TLB_PAGE_MASK) | (global ? TLB_M_GLOBAL : 0);
	if (t->gpa[e - t->e] != gpa || entry_page(e) != (la & TLB_PAGE_MASK))
		return false;
	const uint64_t *old = (prot & VM_PROT_EXECUTE) ? &e->tag_x
	                      : (prot & VM_PROT_WRITE) ? &e->tag_w
	                                               : &e->tag_r;
	if (*old == TLB_INVALID)
		return false;
	uint64_t tag = tlb_tag(t, la);
	if (e->tag_r != TLB_INVALID)
		e->tag_r = tag;
	e->tag_w = writable && e->tag_w != TLB_INVALID ? tag : TLB_INVALID;
	e->tag_x = executable && e->tag_x != TLB_INVALID ? tag : TLB_INVALID;
	return true;
}

bool tlb_revive_global(struct tlb *t, uint64_t la)
{
	struct tlb_entry *e = tlb_entry_for(t, la);
	/* Only within the class: the tags hold one class's rights. */
	if (!is_global(t, (unsigned)(e - t->e)) || entry_page(e) != (la & TLB_PAGE_MASK) ||
	    (entry_ctx(e) & 1) != t->cls)
		return false;
	uint64_t tag = tlb_tag(t, la);
	if (e->tag_r != TLB_INVALID)
		e->tag_r = tag;
	if (e->tag_w != TLB_INVALID)
		e->tag_w = tag;
	if (e->tag_x != TLB_INVALID)
		e->tag_x = tag;
	return true;
}

/* Only listed entries can hold a translation. */
void tlb_protect_gpa(struct tlb *t, uint64_t gpa)
{
	for (unsigned k = 0; k < t->nfilled; k++) {
		uint16_t i = t->filled[k];
		if ((t->gpa[i] & TLB_PAGE_MASK) == gpa)
			t->e[i].tag_w = TLB_INVALID;
	}
}
