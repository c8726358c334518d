/*
 * The I/O permission check of IN, OUT, INS and OUTS (SDM vol. 1 19.5,
 * "Protected-Mode I/O"; vol. 3 20.2.8 for virtual-8086 mode) and the TSS
 * field it starts from, the I/O map base, which virtual-8086 mode's
 * interrupt redirection (core/cpu/vme.c) also uses.
 */
#ifndef SOFTVMM_CORE_CPU_IOPERM_H
#define SOFTVMM_CORE_CPU_IOPERM_H

#include "core/cpu/cpu.h"

/* The I/O map base: the 16-bit field at offset 102 of a 32-bit TSS (SDM
 * vol. 3 figure 8-2) and of a 64-bit TSS (figure 8-11). */
#define TSS_IOMAP_BASE 0x66u

/*
 * The I/O map base of the current TSS (TR).  A 16-bit TSS has no such
 * field, and neither has a TSS whose limit ends before it: #GP(0) (no
 * bitmap, so every port is denied, SDM vol. 1 19.5.2).  The read is an
 * implicit supervisor access through TR's base (SDM vol. 3 4.6), so it may
 * also fault (#PF) or exit.  0, or EXEC_STOP with the event pending.
 */
int ioperm_map_base(struct cpu *c, uint32_t *base);

/* The bitmap check itself, for ioperm_check. */
int ioperm_check_slow(struct cpu *c, uint16_t port, unsigned size);

/*
 * IN, OUT, INS, OUTS: in protected mode (compatibility and 64-bit mode
 * included) with CPL > IOPL, and always in virtual-8086 mode, every bit of
 * the TSS I/O permission bitmap for the ports port .. port + size - 1 must
 * be 0, else #GP(0) (SDM vol. 2 IN/OUT "Operation"; vol. 1 19.5.2).  Real
 * mode and CPL <= IOPL cost two tests.  0 when the access is allowed,
 * else EXEC_STOP with the exception (or exit) pending.
 */
static inline int ioperm_check(struct cpu *c, uint16_t port, unsigned size)
{
	if (likely(!(c->cr0 & CR0_PE)))
		return 0;
	if (likely(!(c->rflags & RF_VM) && (unsigned)c->cpl <= ((c->rflags >> 12) & 3)))
		return 0;
	return ioperm_check_slow(c, port, size);
}

#endif
