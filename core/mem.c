/* The guest-physical memory map (see mem.h). */
#include "core/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mem_seg *mem_find(struct vm_mem *m, uint64_t gpa)
{
	for (int i = 0; i < m->nsegs; i++) {
		struct mem_seg *s = &m->segs[i];
		if (gpa - s->gpa < s->len)
			return s;
	}
	return NULL;
}

uint8_t *mem_host(struct vm_mem *m, uint64_t gpa, uint64_t len)
{
	struct mem_seg *s = mem_find(m, gpa);
	if (!s || len > s->len - (gpa - s->gpa))
		return NULL;
	return s->hva + (gpa - s->gpa);
}

static bool overlaps(const struct vm_mem *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nsegs; i++) {
		const struct mem_seg *s = &m->segs[i];
		if (gpa < s->gpa + s->len && s->gpa < gpa + len)
			return true;
	}
	return false;
}

/*
 * Guest RAM: anonymous memory, 2 MiB aligned and marked for transparent
 * huge pages.  A guest that touches memory at random over tens of MiB
 * (paging64) otherwise spends much of its time in host TLB misses: with
 * 4 KiB host pages every guest page is a host page walk too.  Huge pages
 * change nothing the guest can see.  Where the host refuses them
 * (THP "never"), madvise fails harmlessly and 4 KiB pages are used.
 */
#define HUGE_SIZE ((size_t)2 << 20)

static void *map_guest_ram(size_t len)
{
	size_t span = len >= HUGE_SIZE ? len + HUGE_SIZE : len;
	if (span < len)
		return NULL;
	uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (span == len)
		return p;
	/* Trim to a 2 MiB aligned start, and unmap the slack on both sides. */
	uint8_t *start = (uint8_t *)(((uintptr_t)p + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1));
	size_t head = (size_t)(start - p), tail = span - head - len;
	if (head)
		munmap(p, head);
	if (tail)
		munmap(start + len, tail);
	(void)madvise(start, len, MADV_HUGEPAGE);
	return start;
}

/* bhyve's vm_malloc: page-aligned, non-empty, no overlap, no wrap. */
int mem_add(struct vm_mem *m, uint64_t gpa, size_t len)
{
	if ((gpa & 0xfff) || (len & 0xfff) || len == 0 || gpa + len < gpa)
		return EINVAL;
	if (overlaps(m, gpa, len))
		return EEXIST;
	if (m->nsegs == VM_MAX_MEMSEGS)
		return E2BIG;
	size_t pages = len >> 12, words = (pages + 63) / 64;
	void *hva = map_guest_ram(len);
	if (!hva)
		return ENOMEM;
	uint64_t *touched = calloc(words, sizeof(uint64_t));
	uint64_t *code = calloc(words, sizeof(uint64_t));
	if (!touched || !code) {
		free(touched);
		free(code);
		munmap(hva, len);
		return ENOMEM;
	}
	struct mem_seg *s = &m->segs[m->nsegs++];
	s->gpa = gpa;
	s->len = len;
	s->hva = hva;
	s->touched = touched;
	s->code = code;
	m->total += len;
	return 0;
}

void mem_free_all(struct vm_mem *m)
{
	for (int i = 0; i < m->nsegs; i++) {
		munmap(m->segs[i].hva, m->segs[i].len);
		free(m->segs[i].touched);
		free(m->segs[i].code);
	}
	memset(m, 0, sizeof(*m));
}

void mem_reset_touched(struct vm_mem *m)
{
	for (int i = 0; i < m->nsegs; i++) {
		struct mem_seg *s = &m->segs[i];
		memset(s->touched, 0, ((s->len >> 12) + 63) / 64 * sizeof(uint64_t));
	}
}
