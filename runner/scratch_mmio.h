/*
 * The scratch register bank: 4 KiB of MMIO at gpa 0xFEB00000 for test
 * guests.  A read returns the bytes last written at those offsets (all
 * zero at start); a write stores them.  Bytes of an access that fall past
 * the end of the bank read as all ones and are not stored, as on an
 * unclaimed bus.  Because it is MMIO and not RAM, every access to it is an
 * INST_EMUL exit.
 */
#ifndef SOFTVMM_RUNNER_SCRATCH_MMIO_H
#define SOFTVMM_RUNNER_SCRATCH_MMIO_H

#include <stdint.h>

#include <softvmm/vmm.h>

#define SCRATCH_MMIO_BASE 0xfeb00000ull
#define SCRATCH_MMIO_SIZE 4096

struct scratch_mmio {
	uint8_t bytes[SCRATCH_MMIO_SIZE];
};

void scratch_mmio_init(struct scratch_mmio *s);

/* A mem_func_t; 'arg1' is the struct scratch_mmio, 'arg2' unused. */
int scratch_mmio_access(struct vm *vm, int vcpu, int dir, uint64_t gpa, int size, uint64_t *val,
                        void *arg1, long arg2);

#endif
