/* The scratch register bank; see scratch_mmio.h. */
#include "runner/scratch_mmio.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "runner/mem_ranges.h"

void scratch_mmio_init(struct scratch_mmio *s)
{
	memset(s, 0, sizeof(*s));
}

/* Little-endian, byte by byte, so any size and alignment works the same. */
int scratch_mmio_access(struct vm *vm, int vcpu, int dir, uint64_t gpa, int size, uint64_t *val,
                        void *arg1, long arg2)
{
	struct scratch_mmio *s = arg1;
	(void)vm;
	(void)vcpu;
	(void)arg2;
	if (size < 1 || size > 8 || gpa < SCRATCH_MMIO_BASE)
		return EINVAL;
	uint64_t offset = gpa - SCRATCH_MMIO_BASE;
	uint64_t value = dir == MEM_F_WRITE ? *val : 0;
	for (int i = 0; i < size; i++) {
		bool inside = offset + i < SCRATCH_MMIO_SIZE;
		if (dir == MEM_F_WRITE) {
			if (inside)
				s->bytes[offset + i] = (uint8_t)(value >> (8 * i));
		} else {
			uint64_t b = inside ? s->bytes[offset + i] : 0xff;
			value |= b << (8 * i);
		}
	}
	if (dir == MEM_F_READ)
		*val = value;
	return 0;
}
