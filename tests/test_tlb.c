/*
 * The soft TLB's invalidations, unit by unit (paging/tlb.h): a flush must
 * leave no entry that can match where the SDM asks for an invalidation
 * (vol. 3 4.10.4.1), whether it takes the short path (only the entries
 * filled since the last flush) or the full one; and it keeps what the SDM
 * lets it keep: other PCIDs' entries, global ones across a CR3 load.
 * These are white-box tests of softvmm's TLB, not of a processor: keeping
 * an entry is never required of hardware.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "paging/tlb.h"

static struct tlb *new_tlb(void)
{
	struct tlb *t = calloc(1, sizeof(*t));
	cr_assert(t);
	tlb_init(t);
	return t;
}

/* Fill the entry of la as the slow path does, in the current context. */
static void fill_sized(struct tlb *t, uint64_t la, bool global, uint64_t size)
{
	struct tlb_entry *e = tlb_entry_for(t, la);
	tlb_fill(t, e, 0x100000 + (la & 0xfff000), global, la, size);
	e->tag_r = e->tag_w = e->tag_x = tlb_tag(t, la);
	e->host = 0x1000;
}

static void fill(struct tlb *t, uint64_t la, bool global)
{
	fill_sized(t, la, global, 4096);
}

/* Would an access to la hit (after the slow path's take-over of a global
 * entry made in another context)? */
static bool hits(struct tlb *t, uint64_t la)
{
	struct tlb_entry *e = tlb_entry_for(t, la);
	if (e->tag_r == tlb_tag(t, la))
		return true;
	return tlb_revive_global(t, la) && e->tag_r == tlb_tag(t, la);
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
	struct tlb *t = new_tlb();
	assert_all_empty(t);
	cr_assert(!hits(t, 0));
	cr_assert_neq(tlb_tag(t, 0), TLB_INVALID, "context 0 is never current");
	free(t);
}

Test(tlb, flush_all_of_a_few_fills_clears_exactly_those)
{
	struct tlb *t = new_tlb();
	for (uint64_t p = 0; p < 10; p++)
		fill(t, p << 12, p & 1);
	cr_assert_eq(t->nfilled, 10);
	tlb_flush_all(t);
	assert_all_empty(t);
	cr_assert_eq(t->nfilled, 0);
	free(t);
}

Test(tlb, an_entry_is_listed_once_however_often_it_is_refilled)
{
	struct tlb *t = new_tlb();
	for (int k = 0; k < 100; k++) {
		fill(t, 0x5000, false);
		tlb_flush_page(t, 0x5000);
	}
	fill(t, 0x5000 + ((uint64_t)TLB_ENTRIES << 12), false); /* same slot, other page */
	cr_assert_eq(t->nfilled, 1);
	tlb_flush_all(t);
	assert_all_empty(t);
	free(t);
}

Test(tlb, flush_after_filling_every_entry_clears_them_all)
{
	struct tlb *t = new_tlb();
	for (uint64_t p = 0; p < 3 * TLB_ENTRIES; p++)
		fill(t, p << 12, p % 3 == 0);
	tlb_flush_all(t);
	assert_all_empty(t);
	free(t);
}

Test(tlb, invlpg_drops_only_its_page)
{
	struct tlb *t = new_tlb();
	fill(t, 0x1000, false);
	fill(t, 0x2000, false);
	fill(t, 0x3000, true);
	tlb_flush_page(t, 0x1000);
	tlb_flush_page(t, 0x3000);
	cr_assert(!hits(t, 0x1000));
	cr_assert(hits(t, 0x2000));
	cr_assert(!hits(t, 0x3000), "INVLPG drops a global translation too");
	free(t);
}

/* INVLPG anywhere in a large page drops every 4 KiB piece of it (SDM vol.
 * 3 4.10.4.1, INVLPG); pieces of other large pages stay. */
Test(tlb, invlpg_inside_a_large_page_drops_all_its_pieces)
{
	static const uint64_t sizes[] = {2ull << 20, 4ull << 20, 1ull << 30};
	for (unsigned k = 0; k < 3; k++) {
		struct tlb *t = new_tlb();
		uint64_t base = 4 * sizes[k], other = 8 * sizes[k];
		fill_sized(t, base, false, sizes[k]);
		fill_sized(t, base + 0x5000, true, sizes[k]);
		fill_sized(t, base + sizes[k] - 0x1000, false, sizes[k]);
		fill_sized(t, other + 0x1000, false, sizes[k]);
		fill(t, base + sizes[k], false); /* a 4 KiB page just above */
		tlb_flush_page(t, base + 0x123456 % sizes[k]);
		cr_assert(!hits(t, base), "size %#llx", (unsigned long long)sizes[k]);
		cr_assert(!hits(t, base + 0x5000));
		cr_assert(!hits(t, base + sizes[k] - 0x1000));
		cr_assert(hits(t, other + 0x1000));
		cr_assert(hits(t, base + sizes[k]));
		free(t);
	}
}

/* More large pages than the TLB tracks one by one: INVLPG still finds the
 * pieces. */
Test(tlb, invlpg_finds_large_pages_past_the_tracked_ones)
{
	struct tlb *t = new_tlb();
	/* Page k at offset k pages into its 2 MiB page: distinct slots. */
	for (uint64_t k = 0; k < 2 * TLB_NLARGE; k++)
		fill_sized(t, k << 21 | k << 12, false, 2ull << 20);
	uint64_t last = (uint64_t)(2 * TLB_NLARGE - 1) << 21;
	fill_sized(t, last + 0x3000, false, 2ull << 20);
	tlb_flush_page(t, last + 0x10000);
	cr_assert(!hits(t, last | (uint64_t)(2 * TLB_NLARGE - 1) << 12));
	cr_assert(!hits(t, last + 0x3000));
	cr_assert(hits(t, 0));
	free(t);
}

/* MOV to CR3 without PCIDs: the non-global entries go, the global ones
 * stay (SDM vol. 3 4.10.4.1). */
Test(tlb, cr3_load_keeps_only_global_entries)
{
	struct tlb *t = new_tlb();
	fill(t, 0x1000, false);
	fill(t, 0x2000, true);
	tlb_set_pcid(t, 0, true);
	cr_assert(!hits(t, 0x1000));
	cr_assert(hits(t, 0x2000));
	/* Refilled in the new context, then flushed again. */
	fill(t, 0x1000, false);
	tlb_set_pcid(t, 0, true);
	cr_assert(!hits(t, 0x1000));
	cr_assert(hits(t, 0x2000));
	free(t);
}

/* PCIDs: a switch with the no-flush bit keeps every PCID's entries; a
 * switch without it flushes only the new PCID's non-global ones. */
Test(tlb, pcid_switches_keep_other_pcids_entries)
{
	struct tlb *t = new_tlb();
	tlb_set_pcid(t, 1, true);
	fill(t, 0x1000, false);
	tlb_set_pcid(t, 2, true);
	cr_assert(!hits(t, 0x1000), "another PCID's entry must not match");
	fill(t, 0x1000 + ((uint64_t)TLB_ENTRIES << 12), false); /* other slot user */
	fill(t, 0x7000, false);
	tlb_set_pcid(t, 1, false);
	cr_assert(hits(t, 0x7000) == false);
	tlb_set_pcid(t, 2, false);
	cr_assert(hits(t, 0x7000), "no-flush switch back keeps PCID 2's entry");
	tlb_set_pcid(t, 2, true);
	cr_assert(!hits(t, 0x7000));
	free(t);
}

/* INVPCID types 0, 1, 3 (SDM vol. 2A INVPCID). */
Test(tlb, invpcid_types_drop_what_they_name)
{
	struct tlb *t = new_tlb();
	tlb_set_pcid(t, 5, true);
	fill(t, 0x1000, false);
	fill(t, 0x2000, false);
	fill(t, 0x3000, true);
	tlb_set_pcid(t, 6, true);
	fill(t, 0x4000, false);
	/* Type 0: one address of PCID 5, not the global one. */
	tlb_flush_page_pcid(t, 0x1000, 5);
	tlb_flush_page_pcid(t, 0x3000, 5);
	tlb_flush_page_pcid(t, 0x4000, 5); /* PCID 6's entry stays */
	cr_assert(hits(t, 0x4000));
	cr_assert(hits(t, 0x3000));
	tlb_set_pcid(t, 5, false);
	cr_assert(!hits(t, 0x1000));
	cr_assert(hits(t, 0x2000));
	/* Type 1 of a PCID that is not current. */
	tlb_flush_pcid(t, 6);
	tlb_set_pcid(t, 6, false);
	cr_assert(!hits(t, 0x4000));
	cr_assert(hits(t, 0x3000));
	/* Type 3: every PCID's non-global entries. */
	fill(t, 0x4000, false);
	tlb_set_pcid(t, 5, false);
	tlb_flush_nonglobal(t);
	cr_assert(!hits(t, 0x2000));
	cr_assert(hits(t, 0x3000));
	tlb_set_pcid(t, 6, false);
	cr_assert(!hits(t, 0x4000));
	cr_assert(hits(t, 0x3000));
	free(t);
}

/* After 4095 contexts the numbering starts again: entries of the old
 * contexts must not match the new ones. */
Test(tlb, context_numbers_wrap_without_stale_hits)
{
	struct tlb *t = new_tlb();
	fill(t, 0x1000, false);
	fill(t, 0x2000, true);
	for (unsigned k = 0; k < 3 * TLB_NCTX; k++) {
		tlb_set_pcid(t, 0, true);
		cr_assert(!hits(t, 0x1000), "after %u loads", k);
		cr_assert(hits(t, 0x2000));
		if (k % 1000 == 0)
			fill(t, 0x1000, false);
	}
	free(t);
}

Test(tlb, protect_gpa_drops_write_permission)
{
	struct tlb *t = new_tlb();
	fill(t, 0x1000, false);
	fill(t, 0x2000, false);
	tlb_protect_gpa(t, 0x100000 + 0x1000);
	cr_assert_eq(tlb_entry_for(t, 0x1000)->tag_w, TLB_INVALID);
	cr_assert_eq(tlb_entry_for(t, 0x2000)->tag_w, tlb_tag(t, 0x2000));
	free(t);
}

/* INVPCID type 0 for a PCID that is not current still finds every piece of
 * that PCID's large page, and leaves the current PCID's pieces alone. */
Test(tlb, invpcid_of_another_pcid_drops_its_large_page_whole)
{
	struct tlb *t = new_tlb();
	uint64_t base = 6ull << 21;
	tlb_set_pcid(t, 1, true);
	fill_sized(t, base, false, 2ull << 20);
	fill_sized(t, base + 0x7000, false, 2ull << 20);
	tlb_set_pcid(t, 2, true);
	fill_sized(t, base + 0x9000, false, 2ull << 20);
	tlb_flush_page_pcid(t, base + 0x1000, 1);
	cr_assert(hits(t, base + 0x9000));
	tlb_set_pcid(t, 1, false);
	cr_assert(!hits(t, base));
	cr_assert(!hits(t, base + 0x7000));
	free(t);
}

/* Regions of contexts that are gone make room for new ones: after many
 * CR3 loads with a large page each, INVLPG still drops the current one. */
Test(tlb, large_regions_of_dead_contexts_are_recycled)
{
	struct tlb *t = new_tlb();
	for (unsigned k = 0; k < 4 * TLB_NLARGE; k++) {
		tlb_set_pcid(t, 0, true);
		fill_sized(t, (uint64_t)k << 21, false, 2ull << 20);
		fill_sized(t, ((uint64_t)k << 21) + 0x4000, false, 2ull << 20);
		tlb_flush_page(t, ((uint64_t)k << 21) + 0x8000);
		cr_assert(!hits(t, (uint64_t)k << 21), "k %u", k);
		cr_assert(!hits(t, ((uint64_t)k << 21) + 0x4000), "k %u", k);
	}
	cr_assert(!t->large_overflow);
	free(t);
}

/* The two CPL classes keep their entries apart and both survive a change
 * of class; a global entry is taken over only within its class. */
Test(tlb, cpl_classes_keep_their_own_entries)
{
	struct tlb *t = new_tlb();
	fill(t, 0x1000, false);
	fill(t, 0x3000, true);
	tlb_set_user(t, true);
	cr_assert(!hits(t, 0x1000), "a supervisor entry must not match at CPL 3");
	cr_assert(!hits(t, 0x3000), "nor a supervisor global one");
	fill(t, 0x2000, false);
	tlb_set_user(t, false);
	cr_assert(hits(t, 0x1000));
	cr_assert(!hits(t, 0x2000));
	tlb_set_pcid(t, 0, true); /* MOV CR3: both classes' non-global entries go */
	cr_assert(!hits(t, 0x1000));
	cr_assert(hits(t, 0x3000));
	tlb_set_user(t, true);
	cr_assert(!hits(t, 0x2000));
	free(t);
}
