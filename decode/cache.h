/*
 * The decode cache: blocks of predecoded records keyed by the guest-physical
 * address of their first byte and the decode mode.  A block is straight-line
 * code that ends at a control transfer, at an instruction that may change
 * how later bytes decode, or at the end of its 4 KiB page; an instruction
 * that straddles two pages forms a block of its own, registered on both.
 *
 * Writes into a page that holds records (the page's 'code' bit is set, and
 * no vcpu's TLB keeps a write tag for it) invalidate all of the page's
 * blocks before the next fetch: their records are turned into "stale"
 * records, so even the block running now stops at its next record.
 */
#ifndef SOFTVMM_DECODE_CACHE_H
#define SOFTVMM_DECODE_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mem.h"
#include "decode/insn.h"
#include "paging/tlb.h"

#define BLOCK_MAX_INSNS 64

struct block {
	uint64_t gpa;       /* first byte */
	uint64_t gpa2_page; /* second page of a straddling instruction, else ~0 */
	uint32_t mode;
	uint16_t n;     /* records */
	uint16_t bytes; /* their lengths' sum: the code the block spans */
	bool valid;
	struct block *hnext;    /* hash chain */
	struct block *pnext[2]; /* per-page lists: [0] first page, [1] second page */
	struct insn insns[];
};

struct code_cache;
struct decode_memo;

struct code_cache *code_cache_new(struct vm_mem *mem);
void code_cache_free(struct code_cache *cc);
/* Each vcpu's TLB and jump cache, so the cache can revoke write tags and
 * clear stale jump-cache entries. */
void code_cache_attach(struct code_cache *cc, struct tlb *tlb, void *jcache, unsigned jcache_bytes);

/* The VM's decode memo (decode/memo.h). */
struct decode_memo *code_cache_memo(struct code_cache *cc);

struct block *code_cache_lookup(struct code_cache *cc, uint64_t gpa, uint32_t mode);
/* Space for a block of n records; may flush the whole cache first. */
struct block *code_cache_alloc(struct code_cache *cc, unsigned n);
/* Publish a block allocated last (after filling it), shrinking it to n. */
void code_cache_insert(struct code_cache *cc, struct block *b, unsigned n);
/*
 * A block for the tail of b from its record k, at guest-physical gpa: the
 * head of a loop that does not start its block (mov ecx, n; loop: ...;
 * jnz loop) then needs no second decode.  The records are copied; the
 * tail lives on the same page and dies with it.  NULL when there is no
 * tail to make, one exists already, or the arena is full.
 */
struct block *code_cache_insert_tail(struct code_cache *cc, const struct block *b, unsigned k,
                                     uint64_t gpa);
void code_cache_invalidate_page(struct code_cache *cc, uint64_t gpa_page);
void code_cache_invalidate_range(struct code_cache *cc, uint64_t gpa, uint64_t len);
void code_cache_flush(struct code_cache *cc);

/* The handler stale records get: ends the block without executing. */
int insn_stale(struct cpu *c, const struct insn *i);

#endif
