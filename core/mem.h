/*
 * The guest-physical memory map: the RAM segments vm_malloc created.  Each
 * segment carries two page bitmaps: 'touched' (the guest has accessed the
 * page, so its first-touch PAGING exit is behind it; bhyve's lazily
 * populated EPT) and 'code' (the decode cache holds records made from the
 * page, so writes to it must invalidate them).
 */
#ifndef SOFTVMM_CORE_MEM_H
#define SOFTVMM_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_MAX_MEMSEGS 8

struct mem_seg {
	uint64_t gpa;
	uint64_t len;
	uint8_t *hva;
	uint64_t *touched;
	uint64_t *code;
};

struct vm_mem {
	struct mem_seg segs[VM_MAX_MEMSEGS];
	int nsegs;
	uint64_t total;
};

/* The segment holding gpa, or NULL when gpa is not RAM. */
struct mem_seg *mem_find(struct vm_mem *m, uint64_t gpa);
/* Host pointer for [gpa, gpa+len) if it lies inside one segment, else NULL. */
uint8_t *mem_host(struct vm_mem *m, uint64_t gpa, uint64_t len);
int mem_add(struct vm_mem *m, uint64_t gpa, size_t len);
void mem_free_all(struct vm_mem *m);
/* Forget the touched bits (vm_reinit). */
void mem_reset_touched(struct vm_mem *m);

static inline uint64_t mem_page_index(const struct mem_seg *s, uint64_t gpa)
{
	return (gpa - s->gpa) >> 12;
}

static inline bool bitmap_test(const uint64_t *bm, uint64_t i)
{
	return (bm[i >> 6] >> (i & 63)) & 1;
}

static inline void bitmap_set(uint64_t *bm, uint64_t i)
{
	bm[i >> 6] |= 1ull << (i & 63);
}

static inline void bitmap_clear(uint64_t *bm, uint64_t i)
{
	bm[i >> 6] &= ~(1ull << (i & 63));
}

#endif
