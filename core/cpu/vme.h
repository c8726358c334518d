/*
 * Virtual-8086 mode extensions and protected-mode virtual interrupts
 * (CR4.VME, CR4.PVI; SDM vol. 3 20.3 and 20.4): the IOPL-sensitive
 * instructions of virtual-8086 mode with IOPL < 3 (PUSHF, POPF, IRET, INT
 * n), which fault without VME, and CLI/STI acting on VIF.
 */
#ifndef SOFTVMM_CORE_CPU_VME_H
#define SOFTVMM_CORE_CPU_VME_H

#include "core/cpu/cpu.h"

#ifndef CR4_VME
#define CR4_VME 0x1u /* virtual-8086 mode extensions (SDM vol. 3 2.5) */
#endif
#ifndef CR4_PVI
#define CR4_PVI 0x2u /* protected-mode virtual interrupts */
#endif

/* Virtual-8086 mode with IOPL < 3, where PUSHF, POPF, IRET and INT n are
 * #GP(0) unless CR4.VME turns them into their virtual-interrupt forms
 * (SDM vol. 3 20.2.7). */
static inline bool vme_v86_sensitive(const struct cpu *c)
{
	return (c->rflags & RF_VM) && (c->rflags & RF_IOPL) != RF_IOPL;
}

/*
 * CLI or STI ('set') when CPL > IOPL in protected or virtual-8086 mode:
 * in VME mode (VM = 1, CR4.VME) or PVI mode (VM = 0, CPL 3, CR4.PVI) they
 * clear or set VIF and leave IF alone; STI with VIP = 1 and every other
 * case are #GP(0) (SDM vol. 2 CLI and STI, their decision tables).
 * 0 or EXEC_STOP.
 */
int vme_cli_sti(struct cpu *c, bool set);

/* PUSHF and POPF in virtual-8086 mode with IOPL < 3 (vme_v86_sensitive). */
int vme_pushf(struct cpu *c, const struct insn *i);
int vme_popf(struct cpu *c, const struct insn *i);

/* IRET in virtual-8086 mode with IOPL < 3 is #GP(0) before it reads its
 * frame, but for the 16-bit IRET of VME (vme_iret). */
static inline bool vme_iret_faults(const struct cpu *c, unsigned sz)
{
	return vme_v86_sensitive(c) && (!(c->cr4 & CR4_VME) || sz != 2);
}

/* The 16-bit IRET of VME with IOPL < 3, its frame (IP, CS, FLAGS) read.
 * EXEC_JUMP or EXEC_STOP. */
int vme_iret(struct cpu *c, uint64_t ip, uint64_t cs, uint64_t fl);

/*
 * INT n in virtual-8086 mode with CR4.VME = 1: the software interrupt
 * redirection bitmap decides between the 8086 program's own interrupt
 * vector table and the protected-mode IDT (SDM vol. 3 20.3.3, table 20-2).
 */
int vme_int_n(struct cpu *c, unsigned vector, uint64_t next_rip);

#endif
