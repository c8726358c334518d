/* The MMIO range table; see mem_ranges.h. */
#include "runner/mem_ranges.h"

#include <errno.h>
#include <string.h>

#include <softvmm/vmm_instruction_emul.h>

void mem_range_table_init(struct mem_range_table *t)
{
	memset(t, 0, sizeof(*t));
}

static int ranges_overlap(const struct mem_range *a, const struct mem_range *b)
{
	return a->base < b->base + b->size && b->base < a->base + a->size;
}

int mem_range_register(struct mem_range_table *t, const struct mem_range *r)
{
	if (r->handler == NULL || r->size == 0 || r->base + r->size < r->base)
		return EINVAL;
	for (int i = 0; i < t->nranges; i++)
		if (ranges_overlap(&t->ranges[i], r))
			return EEXIST;
	if (t->nranges == MEM_MAX_RANGES)
		return ENOSPC;
	t->ranges[t->nranges++] = *r;
	return 0;
}

const struct mem_range *mem_range_lookup(const struct mem_range_table *t, uint64_t gpa)
{
	for (int i = 0; i < t->nranges; i++) {
		const struct mem_range *r = &t->ranges[i];
		if (gpa - r->base < r->size)
			return r;
	}
	return NULL;
}

/*
 * The mem_region_read_t / mem_region_write_t adapters: 'arg' is the table.
 * bhyverun's mem.c hands every access of one emulation to the range that
 * holds the exit's gpa; here each access goes to the range holding its own
 * gpa, which differs only for a MOVS between two devices (its source and
 * destination gpas, bhyve's emulate_movs).  A gpa no range holds is ESRCH.
 */
static int range_access(const struct mem_range_table *t, struct vm *vm, int vcpu, int dir,
                        uint64_t gpa, int size, uint64_t *val)
{
	const struct mem_range *r = mem_range_lookup(t, gpa);
	if (r == NULL)
		return ESRCH;
	return r->handler(vm, vcpu, dir, gpa, size, val, r->arg1, r->arg2);
}

static int range_read(void *vm, int vcpu, uint64_t gpa, uint64_t *rval, int rsize, void *arg)
{
	return range_access(arg, vm, vcpu, MEM_F_READ, gpa, rsize, rval);
}

static int range_write(void *vm, int vcpu, uint64_t gpa, uint64_t wval, int wsize, void *arg)
{
	return range_access(arg, vm, vcpu, MEM_F_WRITE, gpa, wsize, &wval);
}

int mem_range_emulate(const struct mem_range_table *t, struct vm *vm, int vcpu, uint64_t gpa,
                      struct vie *vie, struct vm_guest_paging *paging)
{
	if (mem_range_lookup(t, gpa) == NULL)
		return ESRCH;
	/* The callbacks take a non-const arg; they only read the table. */
	return vmm_emulate_instruction(vm, vcpu, gpa, vie, paging, range_read, range_write,
	                               (void *)t);
}
