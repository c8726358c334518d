/*
 * Hardware breakpoints: DR0-DR3 with the enable, R/W and LEN fields of DR7
 * (SDM vol. 3 17.2), the instruction-breakpoint fault and the data
 * breakpoint trap (17.3.1.1, 17.3.1.2).  The run loop and the memory slow
 * path come here only while a breakpoint is enabled (STEP_BP in dbg_step,
 * cpu->bp_data), so a vcpu without breakpoints pays nothing.
 */
#ifndef SOFTVMM_CORE_CPU_DEBUGREG_H
#define SOFTVMM_CORE_CPU_DEBUGREG_H

#include "core/cpu/cpu.h"

#define DR6_BN 0xfull    /* B0-B3 (SDM vol. 3 17.2.3) */
#define DR6_BD 0x2000ull /* bit 13, debug register access detected */

/* Recompute cpu->bp_insn, bp_data and STEP_BP from DR0-DR3 and DR7, after
 * any of them changed (MOV DRn, vm_set_register, reset). */
void dbg_update(struct cpu *c);

/* True when a page of the len bytes at CS:RIP (at most two pages: a
 * block's) holds an enabled instruction breakpoint: the run loop then
 * checks each instruction of the block alone. */
bool dbg_insn_page(const struct cpu *c, uint64_t len);

/* Before the instruction at CS:RIP: raise the instruction-breakpoint #DB
 * (a fault) and return true when an enabled breakpoint matches it. */
bool dbg_insn_fault(struct cpu *c);

/* True when the page holding la is covered by an enabled data breakpoint:
 * the soft TLB then gives it no read or write tag (cpu_mem.c). */
bool dbg_data_page(const struct cpu *c, uint64_t la);

/* A data access of 'size' bytes at la that the slow path made: the data
 * breakpoints it meets are added to cpu->bp_hits. */
void dbg_data_access(struct cpu *c, uint64_t la, unsigned size, bool write);

/*
 * The trap-class #DB after an instruction or a REP iteration: DR6 B0-B3
 * from cpu->bp_hits, BS when 'bs' (single step); 'completed' false for a
 * REP iteration that was not the last, whose #DB pushes RF = 1.
 */
void dbg_raise_trap(struct cpu *c, bool bs, bool completed);

#endif
