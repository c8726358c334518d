/*
 * The soft TLB's flushes: a flush must leave no entry that can match,
 * whether it takes the short path (only the entries filled since the last
 * flush) or the full one.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "paging/tlb.h"

static void fill(struct tlb *t, uint64_t la)
{
	struct tlb_entry *e = tlb_entry_for(t, la);
	tlb_note_fill(t, e);
	e->tag_r = e->tag_w = e->tag_x = la & TLB_PAGE_MASK;
	e->host = 0x1000;
}

static void assert_all_empty(const struct tlb *t)
{
	for (unsigned i = 0; i < TLB_ENTRIES; i++) {
		cr_assert_eq(t->e[i].tag_r, TLB_INVALID, "entry %u tag_r", i);
		cr_assert_eq(t->e[i].tag_w, TLB_INVALID, "entry %u tag_w", i);
		cr_assert_eq(t->e[i].tag_x, TLB_INVALID, "entry %u tag_x", i);
	}
}

Test(tlb, init_leaves_no_entry_matching_page_zero)
{
	struct tlb *t = calloc(1, sizeof(*t)); /* zeroed tags would match page 0 */
	tlb_init(t);
	assert_all_empty(t);
	free(t);
}

Test(tlb, flush_of_a_few_fills_clears_exactly_those)
{
	struct tlb *t = calloc(1, sizeof(*t));
	tlb_init(t);
	for (uint64_t p = 0; p < 10; p++)
		fill(t, p << 12);
	cr_assert_eq(t->nfilled, 10);
	tlb_flush_all(t);
	assert_all_empty(t);
	cr_assert_eq(t->nfilled, 0);
	free(t);
}

Test(tlb, refill_after_invlpg_is_flushed_too)
{
	struct tlb *t = calloc(1, sizeof(*t));
	tlb_init(t);
	fill(t, 0x5000);
	tlb_flush_page(t, 0x5000);
	fill(t, 0x5000 + ((uint64_t)TLB_ENTRIES << 12)); /* same slot, other page */
	tlb_flush_all(t);
	assert_all_empty(t);
	free(t);
}

Test(tlb, flush_after_filling_every_entry_clears_them_all)
{
	struct tlb *t = calloc(1, sizeof(*t));
	tlb_init(t);
	for (uint64_t p = 0; p < 3 * TLB_ENTRIES; p++)
		fill(t, p << 12);
	tlb_flush_all(t);
	assert_all_empty(t);
	free(t);
}

Test(tlb, invlpg_drops_only_its_page_without_large_pages)
{
	struct tlb *t = calloc(1, sizeof(*t));
	tlb_init(t);
	fill(t, 0x1000);
	fill(t, 0x2000);
	tlb_flush_page(t, 0x1000);
	cr_assert_eq(tlb_entry_for(t, 0x1000)->tag_r, TLB_INVALID);
	cr_assert_eq(tlb_entry_for(t, 0x2000)->tag_r, 0x2000);
	t->has_large = true;
	tlb_flush_page(t, 0x1000);
	assert_all_empty(t);
	free(t);
}
