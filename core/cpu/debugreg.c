/*
 * Hardware breakpoints (SDM vol. 3 17.2, 17.3.1.1, 17.3.1.2): which of
 * DR0-DR3 DR7 enables and for what, the instruction-breakpoint fault
 * checked before an instruction, the data accesses matched in the memory
 * slow path, and the trap-class #DB that reports them.
 *
 * DR6 B0-B3: "certain debug exceptions may clear bits 0-3" (SDM vol. 3
 * 17.2.3); every #DB raised here writes B0-B3 with the breakpoints of
 * that #DB and keeps the other bits, as a VT-x processor delivers pending
 * debug exceptions and as KVM does.  Only enabled breakpoints are
 * reported: the SDM lets B0-B3 be set for a disabled breakpoint whose
 * condition is met, but Intel documents doing so as an erratum ("B0-B3
 * bits in DR6 for non-enabled breakpoints may be incorrectly set").
 */
#include "core/cpu/debugreg.h"
#include "core/cpu/step.h"

/* Breakpoint n's fields of DR7 (SDM vol. 3 17.2.4, figure 17-2). */
static unsigned dr7_enabled(uint64_t dr7, unsigned n)
{
	return (dr7 >> (2 * n)) & 3;
}

static unsigned dr7_rw(uint64_t dr7, unsigned n)
{
	return (dr7 >> (16 + 4 * n)) & 3;
}

/* LEN 00, 01, 10, 11: 1, 2, 8 and 4 bytes (SDM vol. 3 17.2.4; every CPU
 * model is an Intel 64 processor, where 10 means 8 bytes). */
static uint64_t bp_len(uint64_t dr7, unsigned n)
{
	static const uint8_t bytes[4] = {1, 2, 8, 4};
	return bytes[(dr7 >> (18 + 4 * n)) & 3];
}

/* The first byte a data breakpoint covers: the LEN field masks the low
 * address bits (SDM vol. 3 17.2.5), so the range is aligned to its size
 * and never crosses a page. */
static uint64_t bp_base(const struct cpu *c, unsigned n)
{
	return c->dr[n] & ~(bp_len(c->dr[7], n) - 1);
}

/*
 * R/W 00 with LEN 00 is an instruction breakpoint; LEN must be 00 for it,
 * other lengths are undefined (SDM vol. 3 17.2.5) and match nothing here.
 * R/W 01 (writes) and 11 (reads and writes) are data breakpoints.  R/W 10
 * (I/O, with CR4.DE = 1; undefined with CR4.DE = 0) never fires: every
 * I/O instruction ends the run with an exit and is completed by the vmm or
 * the caller, which, as bhyve's exit handlers, look neither at TF nor at
 * DR7 (docs/deviations.md).  Data breakpoints keep their pages out of the
 * soft TLB's read and write tags: flush it so that no entry filled before
 * escapes (the entries refill without them).
 */
void dbg_update(struct cpu *c)
{
	uint8_t insn = 0, data = 0;
	uint64_t dr7 = c->dr[7];
	for (unsigned n = 0; n < 4; n++) {
		if (!dr7_enabled(dr7, n))
			continue;
		unsigned rw = dr7_rw(dr7, n);
		if (rw == 0 && bp_len(dr7, n) == 1)
			insn |= (uint8_t)(1u << n);
		else if (rw == 1 || rw == 3)
			data |= (uint8_t)(1u << n);
	}
	c->bp_insn = insn;
	c->bp_data = data;
	if (insn | data)
		c->dbg_step |= STEP_BP;
	else
		c->dbg_step &= (uint8_t)~STEP_BP;
	if (data)
		cpu_flush_tlb(c);
}

static uint64_t cs_rip_linear(const struct cpu *c)
{
	return (c->seg[SEG_CS].base + c->rip) & c->la_mask;
}

bool dbg_insn_page(const struct cpu *c, uint64_t len)
{
	uint64_t first = cs_rip_linear(c) & TLB_PAGE_MASK;
	uint64_t last = (cs_rip_linear(c) + len - 1) & c->la_mask & TLB_PAGE_MASK;
	for (unsigned n = 0; n < 4; n++) {
		uint64_t page = c->dr[n] & TLB_PAGE_MASK;
		if (((c->bp_insn >> n) & 1) && (page == first || page == last))
			return true;
	}
	return false;
}

/*
 * The instruction breakpoint (SDM vol. 3 17.3.1.1): a fault-class #DB
 * before the instruction whose first byte (prefixes included) is at the
 * linear address DRn holds.  It is taken before any other fault of that
 * instruction, fetch faults included (SDM vol. 3 6.9, table 6-2), and
 * pushes RF as it is (0: RF = 1 would have suppressed it).  RF = 1 makes
 * the processor ignore instruction breakpoints until an instruction
 * completes.  After MOV SS or POP SS the breakpoint "may not be
 * triggered" (17.3.1.1): Intel processors do not take it while blocking
 * by MOV SS is in force, AMD processors do.
 */
bool dbg_insn_fault(struct cpu *c)
{
	if (!c->bp_insn || (c->rflags & RF_RF))
		return false;
	if ((c->interrupt_shadow & SHADOW_MOVSS) && !cpu_profile_amd(c))
		return false;
	uint64_t la = cs_rip_linear(c);
	uint8_t hits = 0;
	for (unsigned n = 0; n < 4; n++)
		if (((c->bp_insn >> n) & 1) && c->dr[n] == la)
			hits |= (uint8_t)(1u << n);
	if (!hits)
		return false;
	c->dr[6] = (c->dr[6] & ~DR6_BN) | hits;
	cpu_raise(c, IDT_DB, false, 0);
	return true;
}

bool dbg_data_page(const struct cpu *c, uint64_t la)
{
	for (unsigned n = 0; n < 4; n++)
		if (((c->bp_data >> n) & 1) && ((bp_base(c, n) ^ la) & TLB_PAGE_MASK) == 0)
			return true;
	return false;
}

/*
 * A data breakpoint is met when any byte of the access falls in the
 * range it covers (SDM vol. 3 17.2.5); R/W 01 only by writes (a
 * read-modify-write counts as one).  Linear addresses wrap at la_mask
 * outside 64-bit mode, so the overlap is computed modulo it.
 */
void dbg_data_access(struct cpu *c, uint64_t la, unsigned size, bool write)
{
	for (unsigned n = 0; n < 4; n++) {
		if (!((c->bp_data >> n) & 1) || (!write && dr7_rw(c->dr[7], n) == 1))
			continue;
		uint64_t base = bp_base(c, n);
		if (base & ~c->la_mask)
			continue;
		if (((base - la) & c->la_mask) < size ||
		    ((la - base) & c->la_mask) < bp_len(c->dr[7], n))
			c->bp_hits |= (uint8_t)(1u << n);
	}
}

/*
 * Data breakpoints and single steps are traps: #DB after the instruction,
 * RIP at the next one, or after one iteration of a REP string instruction
 * with RIP still at it (SDM vol. 3 17.3.1.2, 17.3.1.4); one #DB reports
 * all of them.  A trap after an iteration that is not the last pushes
 * RF = 1 (SDM vol. 3 17.3.1.1), so the resumed instruction does not take
 * its instruction breakpoint again; delivery clears RF.
 */
void dbg_raise_trap(struct cpu *c, bool bs, bool completed)
{
	c->dr[6] = (c->dr[6] & ~DR6_BN) | c->bp_hits | (bs ? DR6_BS : 0);
	c->bp_hits = 0;
	c->dbg_step &= (uint8_t)(STEP_NMI | STEP_BP);
	if (!completed)
		c->rflags |= RF_RF;
	cpu_raise(c, IDT_DB, false, 0);
}
