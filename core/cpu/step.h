/*
 * The rare per-instruction states the run loop leaves its fast path for:
 * EFLAGS.TF single-step traps, the interrupt shadow of STI and MOV SS,
 * an ExtINT waiting for the interrupt window (core/cpu/step.c), and
 * enabled hardware breakpoints (core/cpu/debugreg.c).
 */
#ifndef SOFTVMM_CORE_CPU_STEP_H
#define SOFTVMM_CORE_CPU_STEP_H

#include <stddef.h>

#include "core/cpu/cpu.h"

/* dbg_step bits. */
#define STEP_NOW  0x1u /* the instruction running started with TF = 1 */
#define STEP_HELD 0x2u /* a single-step trap held by MOV SS / POP SS */
#define STEP_SS   (STEP_NOW | STEP_HELD)
/* Data breakpoint hits (cpu->bp_hits) held by MOV SS / POP SS with the
 * single-step trap: one #DB after the next instruction reports both. */
#define STEP_HELD_BP 0x20u
/* The traps an event delivery drops (except.c). */
#define STEP_TRAP (STEP_SS | STEP_HELD_BP)
/* The NMI state lives in the same byte, so that the fast path leaves for
 * step.c while an NMI waits or blocks NMIs (SDM vol. 3 6.7.1). */
#define STEP_NMI_PENDING 0x4u /* vm_inject_nmi: an NMI waits for delivery */
#define STEP_NMI_BLOCKED 0x8u /* an NMI handler runs: NMIs wait for IRET */
#define STEP_NMI         (STEP_NMI_PENDING | STEP_NMI_BLOCKED)
/* A breakpoint is enabled in DR7 (debugreg.c): the loop checks blocks
 * against instruction breakpoints and instructions for data breakpoint
 * hits.  In this byte so that the fast path's test covers it for free. */
#define STEP_BP 0x10u

#define DR6_BS 0x4000ull /* DR6 bit 14, single step (SDM vol. 3 17.2.3) */

/* What step_begin saved for step_end. */
struct step_state {
	uint8_t shadow; /* the shadow this instruction runs under */
};

/* interrupt_shadow, dbg_step and extint_pending are adjacent bytes, read
 * with one load by step_needed. */
_Static_assert(offsetof(struct cpu, dbg_step) == offsetof(struct cpu, interrupt_shadow) + 1 &&
                   offsetof(struct cpu, extint_pending) ==
                       offsetof(struct cpu, interrupt_shadow) + 2 &&
                   sizeof(bool) == 1,
               "step state bytes");

/* True when the fast path must not run: TF, RF, a shadow, a held trap, a
 * waiting ExtINT or an enabled breakpoint.  All are rare; two loads and a
 * test per block. */
static inline bool step_needed(const struct cpu *c)
{
	uint32_t w;
	memcpy(&w, &c->interrupt_shadow, 4);
	return ((c->rflags & (RF_TF | RF_RF)) | (w & 0xffffffu)) != 0;
}

/* True when an instruction must run alone (not only an ExtINT waiting or
 * breakpoints enabled). */
static inline bool step_one_needed(const struct cpu *c)
{
	return ((c->rflags & (RF_TF | RF_RF)) | c->interrupt_shadow |
	        (c->dbg_step & (uint8_t)~STEP_BP)) != 0;
}

bool step_take_nmi(struct cpu *c);
bool step_take_interrupt(struct cpu *c);
void step_begin(struct cpu *c, struct step_state *s);
void step_end(struct cpu *c, const struct step_state *s, bool retired, bool iterated);
void step_entry(struct cpu *c);

#endif
