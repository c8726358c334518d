/*
 * The MMIO range table (bhyverun's mem.c): devices register guest-physical
 * ranges, and an INST_EMUL exit is emulated against the range holding its
 * gpa with vmm_emulate_instruction, whose memory callbacks call the range's
 * handler.
 */
#ifndef SOFTVMM_RUNNER_MEM_RANGES_H
#define SOFTVMM_RUNNER_MEM_RANGES_H

#include <stdint.h>

#include <softvmm/vmm.h>

#define MEM_F_READ  0x1
#define MEM_F_WRITE 0x2

#define MEM_MAX_RANGES 16

/*
 * A range handler: 'dir' is MEM_F_READ or MEM_F_WRITE, 'size' 1, 2, 4 or 8.
 * For a write *val holds the value (only its low 'size' bytes count); for a
 * read the handler stores the value in *val.  Returns 0 or an errno value.
 */
typedef int (*mem_func_t)(struct vm *vm, int vcpu, int dir, uint64_t gpa, int size, uint64_t *val,
                          void *arg1, long arg2);

struct mem_range {
	const char *name;
	uint64_t base;
	uint64_t size;
	mem_func_t handler;
	void *arg1;
	long arg2;
};

struct mem_range_table {
	struct mem_range ranges[MEM_MAX_RANGES];
	int nranges;
};

void mem_range_table_init(struct mem_range_table *t);

/* Returns 0, EINVAL for an empty or wrapping range, EEXIST for an overlap, ENOSPC when full. */
int mem_range_register(struct mem_range_table *t, const struct mem_range *r);

/* The registered range holding 'gpa', or NULL. */
const struct mem_range *mem_range_lookup(const struct mem_range_table *t, uint64_t gpa);

/*
 * Emulate the decoded instruction of an INST_EMUL exit against the range
 * holding 'gpa' (bhyverun's mem.c:emulate_mem), each device access going to
 * the range that holds its gpa.  Returns 0, ESRCH when no range holds 'gpa'
 * (or the other gpa of a MOVS between two MMIO addresses), or the error of
 * vmm_emulate_instruction.  When it returns 0 with vie->restart set (a REP
 * MOVS/STOS with count left) the instruction must run again: resume at the
 * exit's rip.
 */
int mem_range_emulate(const struct mem_range_table *t, struct vm *vm, int vcpu, uint64_t gpa,
                      struct vie *vie, struct vm_guest_paging *paging);

#endif
