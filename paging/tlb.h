/*
 * The soft TLB: guest-linear page -> host pointer, direct-mapped, with one
 * tag per access kind.  An entry's read, write and execute tags are set only
 * when the page walk allowed that access at the CPL that filled it; a tag
 * that does not match sends the access to the slow path, which walks the
 * guest page tables (or faults) and refills the entry.
 *
 * Tags carry a context in their low 12 bits: tag = linear page | ctx.  A
 * context names one PCID (SDM vol. 3 4.10.1) between two invalidations of
 * its non-global translations, so that
 *  - a MOV to CR3 that must flush the current PCID (4.10.4.1) only gives
 *    that PCID a fresh context: O(1), the old entries simply stop matching;
 *  - a MOV to CR3 with the no-flush bit, or to another PCID, keeps every
 *    entry: switching back to a PCID finds its entries again;
 *  - the fast path still makes one 64-bit compare (the tag against the
 *    page ORed with the current context).
 * Contexts come in pairs, one per CPL class: bit 0 of a context is 1 for
 * entries filled at CPL 3, whose tags hold user-mode rights, and 0 for
 * CPL 0-2.  A CPL change only selects the other context of the pair: the
 * SDM asks for no invalidation there, and each class keeps its entries.
 * Global translations (4.10.2.4) match in every PCID: an entry marked
 * global whose context is not current but has the current class is taken
 * over by the current context on the slow path (tlb_revive_global),
 * without a walk.
 */
#ifndef SOFTVMM_PAGING_TLB_H
#define SOFTVMM_PAGING_TLB_H

#include <stdbool.h>
#include <stdint.h>

#include "paging/psc.h"

/* 16 K entries (64 MiB of 4 KiB pages): a guest that walks tens of MiB at
 * random (paging64) still hits; flushes cost only what was filled. */
#define TLB_ENTRIES   16384
#define TLB_PAGE_MASK (~(uint64_t)0xfff)
#define TLB_CTX_MASK  ((uint64_t)0xfff)
#define TLB_INVALID   0ull /* page 0 in context 0, which is never allocated */
#define TLB_NCTX      4096 /* contexts 2..4095, in pairs */
#define TLB_NPCID     4096
#define TLB_NLARGE    32 /* large-page regions tracked one by one */

/* 32 bytes: an entry never straddles two cache lines, and 16 K of them
 * take 512 KiB. */
struct tlb_entry {
	uint64_t tag_r, tag_w, tag_x;
	uintptr_t host; /* host address of the page's first byte */
};

/* Entry flags, in the low bits of tlb.gpa[]: global, and the size of the
 * page the entry was cut from (log2, 0 for 4 KiB). */
#define TLB_M_GLOBAL     0x1ull /* from a translation with G = 1 and CR4.PGE = 1 */
#define TLB_M_SHIFT_POS  1
#define TLB_M_SHIFT_MASK 0x7eull /* bits 6:1: log2 of the page size, 0 for 4 KiB */

/* A large page some entries were cut from, in one context (or global):
 * INVLPG of any address inside it drops every piece (SDM vol. 3 4.10.4.1,
 * INVLPG footnote); an INVLPG elsewhere need not look for pieces. */
struct tlb_large {
	uint64_t base, mask; /* linear base and size - 1 */
	uint16_t ctx;
	bool global;
};

struct tlb {
	/* The current context, ORed into the looked-up tag.  struct cpu keeps
	 * a copy next to la_mask for its fast path (cpu.h): whoever calls a
	 * function below that can change it calls cpu_tlb_sync (tlbctl.h). */
	uint64_t ctx;
	struct tlb_entry e[TLB_ENTRIES];
	/* Each entry's guest-physical page | TLB_M_*: written by a fill, read
	 * by the slow paths only. */
	uint64_t gpa[TLB_ENTRIES];
	/* Entries filled since the last full flush, each once (bit set in
	 * 'listed'), so that a flush costs what was filled, not the whole
	 * table (mode switches flush often). */
	uint16_t filled[TLB_ENTRIES];
	uint64_t listed[TLB_ENTRIES / 64];
	/* The entries made from global translations (also TLB_M_GLOBAL in
	 * gpa[]): 2 KiB that a TLB miss can test without touching gpa[]. */
	uint64_t global[TLB_ENTRIES / 64];
	unsigned nfilled;
	/* PCID -> its current pair of contexts (the even one), 0 when it has
	 * none yet; and back. */
	uint16_t pcid_ctx[TLB_NPCID];
	uint16_t ctx_pcid[TLB_NCTX];
	unsigned next_ctx;
	unsigned cur_pcid;
	unsigned cls; /* 1 at CPL 3, else 0: bit 0 of ctx */
	/* The PDE cache, invalidated by every operation below that
	 * invalidates translations (SDM vol. 3 4.10.4.1). */
	struct psc psc;
	struct tlb_large large[TLB_NLARGE];
	unsigned nlarge;     /* regions in 'large' */
	bool large_overflow; /* more regions than 'large' holds */
};

static inline struct tlb_entry *tlb_entry_for(struct tlb *t, uint64_t la)
{
	return &t->e[(la >> 12) & (TLB_ENTRIES - 1)];
}

/* The guest-physical page (and flags) of entry e. */
static inline uint64_t *tlb_gpa_of(struct tlb *t, const struct tlb_entry *e)
{
	return &t->gpa[e - t->e];
}

/* The tag an access to la must find: its page in the current context. */
static inline uint64_t tlb_tag(const struct tlb *t, uint64_t la)
{
	return (la & TLB_PAGE_MASK) | t->ctx;
}

/* Empty every entry and make PCID 0 and CPL 0 current; must run once
 * before use. */
void tlb_init(struct tlb *t);
/* The CPL moved between 3 and 0-2: select the context of the new class. */
void tlb_set_user(struct tlb *t, bool user);
/* Every entry goes, global ones included (MOV to CR4 changing PGE, ...). */
void tlb_flush_all(struct tlb *t);
/* Make 'pcid' current; flush = true invalidates its non-global entries
 * first (MOV to CR3 without the no-flush bit, SDM vol. 3 4.10.4.1). */
void tlb_set_pcid(struct tlb *t, unsigned pcid, bool flush);
/* The non-global entries of one PCID (INVPCID type 1), or of all of them
 * (INVPCID type 3). */
void tlb_flush_pcid(struct tlb *t, unsigned pcid);
void tlb_flush_nonglobal(struct tlb *t);
/* The translations of the page holding la: for the current PCID and the
 * global ones (INVLPG); or for 'pcid' only, not the global ones (INVPCID
 * type 0).  A large page goes whole. */
void tlb_flush_page(struct tlb *t, uint64_t la);
void tlb_flush_page_pcid(struct tlb *t, uint64_t la, unsigned pcid);
/* Start filling entry e for the page of la in the current context; the
 * caller then sets the tags it allows with tlb_tag() or TLB_INVALID. */
void tlb_fill(struct tlb *t, struct tlb_entry *e, uint64_t gpa_page, bool global, uint64_t la,
              uint64_t large_size);
/*
 * A refill that finds entry e still mapping la's page to the same 4 KiB
 * guest-physical page gpa_page (global alike), from a context a flush
 * retired: a fresh walk gave that translation again, so only the tags
 * are set for the current context, each where the walk allows the access
 * (writable, executable) and the old tag allowed it too (whatever kept it
 * off, the decode cache's write protection included, still holds).  The
 * old tag of the access kind 'prot' must be valid.  false, with nothing
 * changed, when the entry holds anything else: the caller fills it.
 */
bool tlb_refresh(struct tlb *t, struct tlb_entry *e, uint64_t la, uint64_t gpa_page, bool global,
                 bool writable, bool executable, int prot);
/* A global entry for la's page made in another context: retag it for the
 * current one and return true, else false. */
bool tlb_revive_global(struct tlb *t, uint64_t la);
/* Drop write permission for every entry that maps guest-physical page gpa. */
void tlb_protect_gpa(struct tlb *t, uint64_t gpa);

#endif
