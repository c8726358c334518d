/* The decode cache (see cache.h). */
#include "decode/cache.h"
#include "decode/memo.h"

#include <stdlib.h>
#include <string.h>

#include "softvmm/vmm.h"

#define HASH_BUCKETS (1u << 16)
#define ARENA_BYTES  (32u << 20)

struct code_cache {
	struct vm_mem *mem;
	struct decode_memo memo;
	struct block *hash[HASH_BUCKETS];
	struct block **page_heads[VM_MAX_MEMSEGS]; /* per RAM page: its blocks */
	uint8_t *arena;
	size_t used;
	struct {
		struct tlb *tlb;
		void *jcache;
		unsigned jcache_bytes;
	} vcpus[VM_MAXCPU];
	int nvcpus;
};

static unsigned hash_of(uint64_t gpa, uint32_t mode)
{
	uint64_t h = (gpa ^ ((uint64_t)mode << 58)) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> 48) & (HASH_BUCKETS - 1);
}

struct code_cache *code_cache_new(struct vm_mem *mem)
{
	struct code_cache *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	cc->mem = mem;
	cc->arena = malloc(ARENA_BYTES);
	if (!cc->arena) {
		free(cc);
		return NULL;
	}
	return cc;
}

void code_cache_free(struct code_cache *cc)
{
	if (!cc)
		return;
	for (int i = 0; i < VM_MAX_MEMSEGS; i++)
		free(cc->page_heads[i]);
	free(cc->arena);
	free(cc);
}

void code_cache_attach(struct code_cache *cc, struct tlb *tlb, void *jcache, unsigned jcache_bytes)
{
	if (cc->nvcpus == VM_MAXCPU)
		return;
	cc->vcpus[cc->nvcpus].tlb = tlb;
	cc->vcpus[cc->nvcpus].jcache = jcache;
	cc->vcpus[cc->nvcpus].jcache_bytes = jcache_bytes;
	cc->nvcpus++;
}

struct decode_memo *code_cache_memo(struct code_cache *cc)
{
	return &cc->memo;
}

struct block *code_cache_lookup(struct code_cache *cc, uint64_t gpa, uint32_t mode)
{
	for (struct block *b = cc->hash[hash_of(gpa, mode)]; b; b = b->hnext)
		if (b->gpa == gpa && b->mode == mode)
			return b;
	return NULL;
}

static void clear_jcaches(struct code_cache *cc)
{
	for (int i = 0; i < cc->nvcpus; i++)
		memset(cc->vcpus[i].jcache, 0, cc->vcpus[i].jcache_bytes);
}

void code_cache_flush(struct code_cache *cc)
{
	memset(cc->hash, 0, sizeof(cc->hash));
	for (int i = 0; i < cc->mem->nsegs; i++) {
		struct mem_seg *s = &cc->mem->segs[i];
		size_t pages = s->len >> 12;
		if (cc->page_heads[i])
			memset(cc->page_heads[i], 0, pages * sizeof(struct block *));
		memset(s->code, 0, (pages + 63) / 64 * sizeof(uint64_t));
	}
	cc->used = 0;
	clear_jcaches(cc);
}

struct block *code_cache_alloc(struct code_cache *cc, unsigned n)
{
	size_t need = sizeof(struct block) + n * sizeof(struct insn);
	need = (need + 15) & ~(size_t)15;
	if (cc->used + need > ARENA_BYTES)
		code_cache_flush(cc);
	struct block *b = (struct block *)(void *)(cc->arena + cc->used);
	memset(b, 0, sizeof(*b));
	return b;
}

struct block *code_cache_insert_tail(struct code_cache *cc, const struct block *b, unsigned k,
                                     uint64_t gpa)
{
	if (k == 0 || k >= b->n || b->gpa2_page != ~0ull || code_cache_lookup(cc, gpa, b->mode))
		return NULL;
	unsigned n = b->n - k;
	size_t need = (sizeof(struct block) + n * sizeof(struct insn) + 15) & ~(size_t)15;
	if (cc->used + need > ARENA_BYTES)
		return NULL; /* a flush here would free b under the caller */
	struct block *t = code_cache_alloc(cc, n);
	t->gpa = gpa;
	t->gpa2_page = ~0ull;
	t->mode = b->mode;
	memcpy(t->insns, b->insns + k, n * sizeof(struct insn));
	code_cache_insert(cc, t, n);
	return t;
}

static struct block **page_head(struct code_cache *cc, uint64_t gpa_page)
{
	for (int i = 0; i < cc->mem->nsegs; i++) {
		struct mem_seg *s = &cc->mem->segs[i];
		if (gpa_page - s->gpa >= s->len)
			continue;
		if (!cc->page_heads[i]) {
			cc->page_heads[i] = calloc(s->len >> 12, sizeof(struct block *));
			if (!cc->page_heads[i])
				return NULL;
		}
		return &cc->page_heads[i][mem_page_index(s, gpa_page)];
	}
	return NULL;
}

/* Mark a page as holding code: no vcpu may keep a write tag for it. */
static void mark_code_page(struct code_cache *cc, uint64_t gpa_page)
{
	struct mem_seg *s = mem_find(cc->mem, gpa_page);
	if (!s)
		return;
	uint64_t pi = mem_page_index(s, gpa_page);
	if (bitmap_test(s->code, pi))
		return;
	bitmap_set(s->code, pi);
	for (int i = 0; i < cc->nvcpus; i++)
		tlb_protect_gpa(cc->vcpus[i].tlb, gpa_page);
}

void code_cache_insert(struct code_cache *cc, struct block *b, unsigned n)
{
	size_t size = sizeof(struct block) + n * sizeof(struct insn);
	cc->used += (size + 15) & ~(size_t)15;
	b->n = (uint16_t)n;
	b->bytes = 0;
	for (unsigned k = 0; k < n; k++)
		b->bytes = (uint16_t)(b->bytes + b->insns[k].len);
	b->valid = true;
	unsigned h = hash_of(b->gpa, b->mode);
	b->hnext = cc->hash[h];
	cc->hash[h] = b;
	uint64_t pages[2] = {b->gpa & TLB_PAGE_MASK, b->gpa2_page};
	for (int k = 0; k < 2; k++) {
		if (k == 1 && b->gpa2_page == ~0ull)
			break;
		struct block **head = page_head(cc, pages[k]);
		if (head) {
			b->pnext[k] = *head;
			*head = b;
		}
		mark_code_page(cc, pages[k]);
	}
}

static void unhash(struct code_cache *cc, struct block *b)
{
	struct block **pp = &cc->hash[hash_of(b->gpa, b->mode)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == b) {
			*pp = b->hnext;
			return;
		}
	}
}

static void kill_block(struct code_cache *cc, struct block *b)
{
	if (!b->valid)
		return;
	b->valid = false;
	unhash(cc, b);
	for (unsigned k = 0; k < b->n; k++)
		b->insns[k].fn = insn_stale;
}

void code_cache_invalidate_page(struct code_cache *cc, uint64_t gpa_page)
{
	struct block **head = page_head(cc, gpa_page);
	if (head) {
		struct block *b = *head;
		*head = NULL;
		while (b) {
			/* A block is on page lists [0] (its first page) and maybe [1]. */
			int k = ((b->gpa & TLB_PAGE_MASK) == gpa_page) ? 0 : 1;
			struct block *next = b->pnext[k];
			kill_block(cc, b);
			b = next;
		}
	}
	struct mem_seg *s = mem_find(cc->mem, gpa_page);
	if (s)
		bitmap_clear(s->code, mem_page_index(s, gpa_page));
	/* Jump-cache entries may point at the dead blocks; they check 'valid'. */
}

void code_cache_invalidate_range(struct code_cache *cc, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return;
	uint64_t first = gpa & TLB_PAGE_MASK, last = (gpa + len - 1) & TLB_PAGE_MASK;
	for (uint64_t p = first;; p += 4096) {
		struct mem_seg *s = mem_find(cc->mem, p);
		if (s && bitmap_test(s->code, mem_page_index(s, p)))
			code_cache_invalidate_page(cc, p);
		if (p == last)
			break;
	}
}
