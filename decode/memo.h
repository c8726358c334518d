/*
 * The decode memo: the record last lowered for an instruction's bytes.
 * A record depends only on the instruction's bytes, the decode mode and
 * the CPU model (fixed per VM), and x86 decoding reads exactly the
 * instruction's own bytes, so when a block is decoded again (its page was
 * written, the cache was flushed) an instruction whose bytes did not
 * change needs no second Zydis decode.  JIT-like guests that rewrite only
 * the immediates of the code they generate hit here for every other
 * instruction.
 *
 * Direct-mapped, indexed by the first bytes at the decode address; a hit
 * compares all of the entry's bytes.
 */
#ifndef SOFTVMM_DECODE_MEMO_H
#define SOFTVMM_DECODE_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode/insn.h"

#define MEMO_ENTRIES 2048

struct memo_entry {
	struct insn rec;
	int64_t rel;       /* a relative branch's displacement, or INT64_MIN */
	uint8_t bytes[15]; /* the instruction's bytes; rec.len of them count */
	uint8_t mode;      /* enum decode_mode */
	bool ends;         /* the record ends its block */
	bool valid;
};

struct decode_memo {
	struct memo_entry e[MEMO_ENTRIES];
};

static inline struct memo_entry *memo_slot(struct decode_memo *m, const uint8_t *buf, size_t avail,
                                           unsigned mode)
{
	uint32_t w = 0;
	memcpy(&w, buf, avail < 4 ? avail : 4);
	uint32_t h = (w ^ mode) * 0x9e3779b1u;
	_Static_assert(MEMO_ENTRIES == 1u << 11, "the shift below");
	return &m->e[h >> (32 - 11)];
}

/* The memoized record for the instruction at buf (avail bytes readable),
 * or NULL. */
static inline const struct memo_entry *memo_find(struct decode_memo *m, const uint8_t *buf,
                                                 size_t avail, unsigned mode)
{
	const struct memo_entry *e = memo_slot(m, buf, avail, mode);
	if (e->valid && e->mode == mode && e->rec.len <= avail &&
	    memcmp(e->bytes, buf, e->rec.len) == 0)
		return e;
	return NULL;
}

static inline void memo_store(struct decode_memo *m, const uint8_t *buf, size_t avail,
                              unsigned mode, const struct insn *rec, bool ends, int64_t rel)
{
	struct memo_entry *e = memo_slot(m, buf, avail, mode);
	e->rec = *rec;
	e->rel = rel;
	memcpy(e->bytes, buf, rec->len);
	e->mode = (uint8_t)mode;
	e->ends = ends;
	e->valid = true;
}

#endif
