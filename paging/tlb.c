/* The soft TLB's flush operations; the lookups are inline in tlb.h. */
#include "paging/tlb.h"

static void entry_clear(struct tlb_entry *e)
{
	e->tag_r = e->tag_w = e->tag_x = TLB_INVALID;
}

static bool entry_empty(const struct tlb_entry *e)
{
	return e->tag_r == TLB_INVALID && e->tag_w == TLB_INVALID && e->tag_x == TLB_INVALID;
}

void tlb_init(struct tlb *t)
{
	for (unsigned i = 0; i < TLB_ENTRIES; i++)
		entry_clear(&t->e[i]);
	t->nfilled = 0;
	t->has_large = false;
}

void tlb_note_fill(struct tlb *t, struct tlb_entry *e)
{
	/* An entry is listed once: when it goes from empty to filled. */
	if (entry_empty(e) && t->nfilled < TLB_ENTRIES)
		t->filled[t->nfilled++] = (uint16_t)(e - t->e);
}

void tlb_flush_all(struct tlb *t)
{
	if (t->nfilled < TLB_ENTRIES / 4) {
		for (unsigned k = 0; k < t->nfilled; k++)
			entry_clear(&t->e[t->filled[k]]);
	} else {
		for (unsigned i = 0; i < TLB_ENTRIES; i++)
			entry_clear(&t->e[i]);
	}
	t->nfilled = 0;
	t->has_large = false;
}

/*
 * INVLPG semantics (SDM vol. 3 4.10.4.1): the translations for the page
 * holding la go.  A large page is cached here as many 4 KiB entries, so if
 * any large page was cached the whole TLB goes, which the SDM allows.
 */
void tlb_flush_page(struct tlb *t, uint64_t la)
{
	if (t->has_large) {
		tlb_flush_all(t);
		return;
	}
	struct tlb_entry *e = tlb_entry_for(t, la);
	if (e->tag_r == (la & TLB_PAGE_MASK) || e->tag_w == (la & TLB_PAGE_MASK) ||
	    e->tag_x == (la & TLB_PAGE_MASK))
		entry_clear(e);
}

/* Only entries filled since the last flush can hold a translation; when the
 * fill list is full it may have lost some, so look at every entry. */
void tlb_protect_gpa(struct tlb *t, uint64_t gpa)
{
	if (t->nfilled < TLB_ENTRIES) {
		for (unsigned k = 0; k < t->nfilled; k++) {
			struct tlb_entry *e = &t->e[t->filled[k]];
			if (e->gpa == gpa)
				e->tag_w = TLB_INVALID;
		}
		return;
	}
	for (unsigned i = 0; i < TLB_ENTRIES; i++)
		if (t->e[i].gpa == gpa)
			t->e[i].tag_w = TLB_INVALID;
}
