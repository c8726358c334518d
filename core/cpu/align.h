/*
 * Alignment checking (SDM vol. 3 6.15, "Interrupt 17—Alignment Check
 * Exception (#AC)"; vol. 1 3.4.3 EFLAGS.AC; vol. 3 2.5 CR0.AM): on while
 * CR0.AM = 1, EFLAGS.AC = 1 and CPL = 3, when every data and stack access
 * of 2, 4 or 8 bytes must be aligned to its size.  The check itself is on
 * the memory slow path (cpu_mem.c), which all data accesses take while it
 * is on.
 */
#ifndef SOFTVMM_CORE_CPU_ALIGN_H
#define SOFTVMM_CORE_CPU_ALIGN_H

#include "core/cpu/cpu.h"

/* Recompute cpu->ac_check after CR0, EFLAGS.AC or the CPL changed. */
void align_update(struct cpu *c);

/* True when an access of 'size' bytes at la raises #AC(0). */
static inline bool align_faults(const struct cpu *c, uint64_t la, unsigned size)
{
	return c->ac_check && size > 1 && (la & (size - 1)) != 0;
}

#endif
