/*
 * The soft TLB: guest-linear page -> host pointer, direct-mapped, with one
 * tag per access kind.  An entry's read, write and execute tags are set only
 * when the page walk allowed that access at the CPL that filled it; a tag
 * that does not match sends the access to the slow path, which walks the
 * guest page tables (or faults) and refills the entry.
 */
#ifndef SOFTVMM_PAGING_TLB_H
#define SOFTVMM_PAGING_TLB_H

#include <stdbool.h>
#include <stdint.h>

/* 16 K entries (64 MiB of 4 KiB pages): a guest that walks tens of MiB at
 * random (paging64) still hits; flushes cost only what was filled. */
#define TLB_ENTRIES   16384
#define TLB_PAGE_MASK (~(uint64_t)0xfff)
#define TLB_INVALID   1ull /* never equal to a page-aligned tag */

struct tlb_entry {
	uint64_t tag_r, tag_w, tag_x;
	uintptr_t host; /* host address of the page's first byte */
	uint64_t gpa;   /* guest-physical address of the page */
};

struct tlb {
	struct tlb_entry e[TLB_ENTRIES];
	bool has_large; /* some entry came from a 2 MiB / 4 MiB / 1 GiB page */
	/* Entries filled since the last full flush, so that a flush costs what
	 * was filled, not the whole table (mode switches flush often). */
	uint16_t filled[TLB_ENTRIES];
	unsigned nfilled;
};

static inline struct tlb_entry *tlb_entry_for(struct tlb *t, uint64_t la)
{
	return &t->e[(la >> 12) & (TLB_ENTRIES - 1)];
}

/* Empty every entry; must run once before first use (zeroed tags are valid). */
void tlb_init(struct tlb *t);
void tlb_flush_all(struct tlb *t);
/* Note that entry e was (re)filled; call before setting its tags. */
void tlb_note_fill(struct tlb *t, struct tlb_entry *e);
void tlb_flush_page(struct tlb *t, uint64_t la);
/* Drop write permission for every entry that maps guest-physical page gpa. */
void tlb_protect_gpa(struct tlb *t, uint64_t gpa);

#endif
