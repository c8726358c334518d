/*
 * The port I/O table (bhyverun's inout.c): devices register port ranges,
 * and an INOUT exit is dispatched to the handler of its port.  Ports no
 * device claims behave as bhyve's default handler does: IN reads all ones
 * for the access size and OUT is dropped.
 */
#ifndef SOFTVMM_RUNNER_INOUT_H
#define SOFTVMM_RUNNER_INOUT_H

#include <stdint.h>

#include <softvmm/vmm.h>

#define INOUT_MAX_RANGES 16

/*
 * A port handler: 'in' is 1 for IN.  For OUT, *eax holds the value written
 * (masked to 'bytes'); for IN the handler stores the value read in the low
 * 'bytes' bytes of *eax.  Returns 0, or an errno value that ends the run.
 */
typedef int (*inout_func_t)(struct vm *vm, int vcpu, int in, int port, int bytes, uint32_t *eax,
                            void *arg);

struct inout_port {
	const char *name;
	int port;
	int size; /* number of consecutive ports */
	inout_func_t handler;
	void *arg;
};

struct inout_table {
	struct inout_port ranges[INOUT_MAX_RANGES];
	int nranges;
};

void inout_table_init(struct inout_table *t);

/* Returns 0, EINVAL for a range outside 0..0xFFFF, EEXIST for an overlap, ENOSPC when full. */
int inout_register(struct inout_table *t, const struct inout_port *p);

/* The registered range holding 'port', or NULL. */
const struct inout_port *inout_lookup(const struct inout_table *t, int port);

/*
 * Run one non-string IN or OUT (bhyverun's emulate_inout).  For IN, *eax is
 * the guest's EAX on entry and the merged result on return: the value read
 * replaces its low 'bytes' bytes.  Returns 0 or the handler's error.
 */
int inout_emulate(const struct inout_table *t, struct vm *vm, int vcpu, int in, int port, int bytes,
                  uint32_t *eax);

/* All ones in the low 'bytes' bytes of a port access (1, 2 or 4). */
uint32_t inout_size_mask(int bytes);

#endif
