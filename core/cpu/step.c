/*
 * Single-step traps, the interrupt shadow and the interrupt window: what
 * happens at an instruction boundary when EFLAGS.TF is set, after STI,
 * MOV SS or POP SS, or with an ExtINT waiting.  The run loop (exec.c)
 * comes here only in those states, one instruction at a time, so its
 * fast path pays a single test per block.
 */
#include <Zydis/Zydis.h>

#include "core/cpu/step.h"
#include "core/cpu/debugreg.h"

/*
 * At vm_run entry: bhyve clears blocking by STI / MOV SS when the guest's
 * rip is no longer the one the exit left (vmx.c, vmx_inject_interrupts):
 * the vmm or the caller completed the instruction in the shadow (an OUT,
 * a HLT), and the next one is not in it.
 */
void step_entry(struct cpu *c)
{
	if (c->interrupt_shadow && c->rip != c->shadow_rip)
		c->interrupt_shadow = 0;
}

/*
 * An NMI (vector 2) is delivered at an instruction boundary whatever
 * RFLAGS.IF, unless NMIs are blocked: by an NMI handler until the next
 * IRET (SDM vol. 3 6.7.1), or by MOV SS / POP SS (SDM 6.8.3).  bhyve's
 * vmx_inject_interrupts also waits out blocking by STI, which the SDM
 * permits (vol. 3 25.4.1, table 25-3), and injects nothing while another
 * event is queued (BHYVE-EXITS.md section 9): the NMI then comes at the
 * next boundary, before the first instruction of that event's handler.
 * Its delivery blocks NMIs.  Returns true with the NMI queued.
 */
bool step_take_nmi(struct cpu *c)
{
	if ((c->dbg_step & STEP_NMI) != STEP_NMI_PENDING || c->interrupt_shadow || c->exc_pending)
		return false;
	c->dbg_step = (uint8_t)((c->dbg_step & ~STEP_NMI_PENDING) | STEP_NMI_BLOCKED);
	c->exc = (struct pending_exception){.vector = IDT_NMI, .hw_intr = true, .nmi = true};
	c->exc_pending = true;
	c->stop = STOP_EXCEPTION;
	return true;
}

/*
 * IRET ends NMI blocking (SDM vol. 3 6.7.1), also when it faults (SDM
 * vol. 3 6.7.1 note: "even if the instruction causes a fault") or leaves
 * for a task switch; an exit that restarts it (a PAGING first touch) does
 * not, since it runs again.
 */
static void iret_unblocks_nmi(struct cpu *c, const struct insn *i, bool retired)
{
	if (!(c->dbg_step & STEP_NMI_BLOCKED) || !i)
		return;
	if (i->mnem != ZYDIS_MNEMONIC_IRET && i->mnem != ZYDIS_MNEMONIC_IRETD &&
	    i->mnem != ZYDIS_MNEMONIC_IRETQ)
		return;
	bool ends = retired || c->stop == STOP_EXCEPTION ||
	            (c->stop == STOP_EXIT && c->exit->exitcode == VM_EXITCODE_TASK_SWITCH);
	if (ends)
		c->dbg_step &= (uint8_t)~STEP_NMI_BLOCKED;
}

/*
 * An ExtINT is delivered at an instruction boundary where RFLAGS.IF = 1
 * and there is no blocking by STI or by MOV SS (SDM vol. 3 6.8.1, 6.8.3;
 * bhyve's vmx_inject_interrupts, BHYVE-EXITS.md section 9).  Queues it as
 * the event to deliver (stop = STOP_EXCEPTION) and returns true, or
 * returns false when the window is closed.
 */
bool step_take_interrupt(struct cpu *c)
{
	/* An NMI goes first (bhyve's vmx_inject_interrupts; SDM vol. 3 6.9,
	 * table 6-2: NMI above maskable interrupts). */
	if (step_take_nmi(c))
		return true;
	if (!c->extint_pending || !(c->rflags & RF_IF) || c->interrupt_shadow || c->exc_pending)
		return false;
	c->extint_pending = false;
	c->exc = (struct pending_exception){.vector = c->extint_vector, .hw_intr = true};
	c->exc_pending = true;
	c->stop = STOP_EXCEPTION;
	return true;
}

/* Before one instruction: it runs under the shadow the last one left, and
 * may set a new one (cpu_set_shadow).  A single-step trap is due after it
 * when it starts with TF = 1 (SDM vol. 3 17.3.1.4): the instruction that
 * sets TF does not trap, the one that clears it does. */
void step_begin(struct cpu *c, struct step_state *s)
{
	s->shadow = c->interrupt_shadow;
	c->interrupt_shadow = 0;
	if (!(c->dbg_step & STEP_HELD_BP))
		c->bp_hits = 0;
	if (c->rflags & RF_TF)
		c->dbg_step |= STEP_NOW;
}

/*
 * HLT under TF without VM_CAP_HALT_EXIT: the HLT runs in the guest (bhyve
 * sets HLT exiting only for the capability), and the pending single-step
 * trap is a debug exception, which resumes a halted processor (SDM vol. 2
 * HLT): the trap is delivered at once, RIP after the HLT, and the vcpu
 * never halts.
 */
static bool hlt_steps(struct cpu *c)
{
	if (c->exit->exitcode != VM_EXITCODE_HLT || c->caps[VM_CAP_HALT_EXIT])
		return false;
	c->rip += (uint64_t)c->exit->inst_length;
	c->icount++;
	c->rflags &= ~(uint64_t)RF_RF;
	dbg_raise_trap(c, true, true);
	return true;
}

/*
 * After one instruction: 'retired' when it completed, 'iterated' when a
 * REP string instruction did one iteration (RIP still at it).
 *  - Completion ends the shadow it ran under and RF (SDM vol. 3 17.3.1.1).
 *  - A single-step trap follows each completion and each REP iteration
 *    (SDM vol. 3 17.3.1.4), unless an event was delivered meanwhile: INT n,
 *    INT3 and INTO clear TF and deliver, and delivery drops the trap
 *    (except.c), so the handler is not stepped into.
 *  - Data breakpoints met by the instruction (debugreg.c) are traps as
 *    well: one #DB reports them with the single step (SDM vol. 3
 *    17.3.1.2).
 *  - After MOV SS or POP SS the traps wait one more instruction (SDM vol.
 *    3 6.8.3): all are reported by one #DB after that instruction.
 *  - While a breakpoint is enabled, RF is 1 between the iterations of a
 *    REP string instruction: an event after an iteration but the last
 *    pushes RF = 1 (SDM vol. 3 17.3.1.1), and the resumed instruction is
 *    not checked for its instruction breakpoint again.
 *  - A fault delivers no trap: the faulting instruction did not complete.
 *  - An instruction that exits gets no trap of its own: the vmm or the
 *    caller completes it, and bhyve's exit handlers do not look at TF.
 *    The shadow it ran under is kept for step_entry to judge.
 */
void step_end(struct cpu *c, const struct step_state *s, bool retired, bool iterated)
{
	iret_unblocks_nmi(c, c->cur, retired);
	if (c->stop == STOP_EXIT) {
		if ((c->dbg_step & STEP_NOW) && hlt_steps(c))
			return;
		c->dbg_step &= (uint8_t)~STEP_NOW;
		c->interrupt_shadow = s->shadow;
		return;
	}
	if (!retired && !iterated) {
		if (c->stop == STOP_NONE) {
			/* A stale record: the instruction runs again. */
			c->interrupt_shadow = s->shadow;
			c->dbg_step &= (uint8_t)~STEP_NOW;
		}
		return; /* an exception: its delivery drops the trap */
	}
	if (retired)
		c->rflags &= ~(uint64_t)RF_RF;
	else if (c->dbg_step & STEP_BP)
		c->rflags |= RF_RF;
	bool bs = (c->dbg_step & STEP_SS) != 0;
	if (!bs && !c->bp_hits)
		return;
	if (c->interrupt_shadow & SHADOW_MOVSS) {
		c->dbg_step = (uint8_t)((c->dbg_step & (STEP_NMI | STEP_BP)) |
		                        (bs ? STEP_HELD : 0) | (c->bp_hits ? STEP_HELD_BP : 0));
		return;
	}
	dbg_raise_trap(c, bs, retired);
}
