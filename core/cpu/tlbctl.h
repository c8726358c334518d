/*
 * The soft CPU's side of the TLB rules (SDM vol. 3 4.10): which PCID is
 * current, canonical linear addresses under 4- or 5-level paging, and the
 * invalidations MOV to CR3, INVLPG, INVPCID and the mode changes make.
 */
#ifndef SOFTVMM_CORE_CPU_TLBCTL_H
#define SOFTVMM_CORE_CPU_TLBCTL_H

#include "core/cpu/cpu.h"

/* The current PCID: CR3 bits 11:0 with CR4.PCIDE = 1, else 0 (4.10.1). */
static inline unsigned cpu_pcid(const struct cpu *c)
{
	return (c->cr4 & CR4_PCIDE) ? (unsigned)(c->cr3 & 0xfff) : 0;
}

/* Canonical in IA-32e mode: bits 63:47 equal, or 63:56 with CR4.LA57
 * (SDM vol. 1 3.3.7.1; vol. 3 4.5). */
static inline bool cpu_canonical(const struct cpu *c, uint64_t la)
{
	unsigned sh = (c->cr4 & CR4_LA57) ? 7 : 16;
	return (uint64_t)((int64_t)(la << sh) >> sh) == la;
}

/* The fast path's copy of the TLB's current context (cpu.h). */
static inline void cpu_tlb_sync(struct cpu *c)
{
	c->tlb_ctx = c->tlb.ctx;
}

/* MOV to CR3 made value v current: flush as 4.10.4.1 says (all non-global
 * entries of the new PCID, or none with the no-flush bit). */
void cpu_tlb_cr3_loaded(struct cpu *c, bool noflush);
/* INVLPG la: the page for the current PCID and the global one. */
void cpu_tlb_invlpg(struct cpu *c, uint64_t la);
/* After the CPL changed from old_cpl (cpu_update_mode). */
void cpu_tlb_cpl_changed(struct cpu *c, int old_cpl);
/* Everything, global entries included (CR4.PGE, PCIDE 1 -> 0, CR0.PG). */
void cpu_tlb_flush_global(struct cpu *c);

#endif
