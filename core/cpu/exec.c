/*
 * The software CPU's run loop: find the block for CS:RIP (jump cache, then
 * the decode cache, then Zydis), call its records' handlers one after the
 * other, and turn what stops them (an exception, an exit, the instruction
 * budget) into the next step.
 */
#include <Zydis/Zydis.h>

#include "core/cpu/cpu.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/debugreg.h"
#include "core/cpu/lower.h"
#include "core/cpu/step.h"
#include "decode/cache.h"
#include "decode/memo.h"

static const ZydisMachineMode zydis_mode[MODE_COUNT] = {
    [MODE_REAL16] = ZYDIS_MACHINE_MODE_REAL_16,
    [MODE_PROT16] = ZYDIS_MACHINE_MODE_LEGACY_16,
    [MODE_PROT32] = ZYDIS_MACHINE_MODE_LEGACY_32,
    [MODE_COMPAT16] = ZYDIS_MACHINE_MODE_LONG_COMPAT_16,
    [MODE_COMPAT32] = ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
    [MODE_LONG64] = ZYDIS_MACHINE_MODE_LONG_64,
};

static const ZydisStackWidth zydis_stack[MODE_COUNT] = {
    [MODE_REAL16] = ZYDIS_STACK_WIDTH_16,   [MODE_PROT16] = ZYDIS_STACK_WIDTH_16,
    [MODE_PROT32] = ZYDIS_STACK_WIDTH_32,   [MODE_COMPAT16] = ZYDIS_STACK_WIDTH_16,
    [MODE_COMPAT32] = ZYDIS_STACK_WIDTH_32, [MODE_LONG64] = ZYDIS_STACK_WIDTH_64,
};

int insn_stale(struct cpu *c, const struct insn *i)
{
	(void)i;
	c->stop = STOP_NONE;
	return EXEC_STOP;
}

/* Decode one instruction from buf; fills rec (an #UD record when invalid).
 * *rel receives a relative branch's displacement from the next
 * instruction, or INT64_MIN. */
static void decode_one(struct cpu *c, const uint8_t *buf, size_t avail, struct insn *rec,
                       bool *ends, ZyanStatus *st, int64_t *rel)
{
	*rel = INT64_MIN;
	struct decode_memo *memo = code_cache_memo(c->cc);
	const struct memo_entry *m = memo_find(memo, buf, avail, c->mode);
	if (m) {
		*rec = m->rec;
		*ends = m->ends;
		*rel = m->rel;
		*st = ZYAN_STATUS_SUCCESS;
		return;
	}
	ZydisDecoder dec;
	lower_decoder_init(&dec, zydis_mode[c->mode], zydis_stack[c->mode]);
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	*st = lower_decode(&dec, buf, avail, &zi, ops);
	c->stats.insns_decoded++;
	if (ZYAN_SUCCESS(*st)) {
		lower_insn(&zi, ops, c->model, rec, ends);
		if ((zi.attributes & ZYDIS_ATTRIB_IS_RELATIVE) &&
		    zi.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE && zi.operand_count_visible > 0 &&
		    ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			*rel = ops[0].imm.value.s;
		memo_store(memo, buf, avail, c->mode, rec, *ends, *rel);
		return;
	}
	memset(rec, 0, sizeof(*rec));
	rec->fn = insn_invalid;
	rec->len = 1;
	*ends = true;
}

/*
 * A block that ends with a relative branch back into itself (a loop whose
 * head is not the block's start): register the tail from the target on,
 * so that the branch finds it decoded.  'start' holds each record's page
 * offset.  The target's IP is the block's own IP plus the offset
 * difference, as long as the branch goes backward within the block, so no
 * operand-size wrap can make it another address.
 */
static void insert_loop_tail(struct cpu *c, const struct block *b, const uint16_t *start,
                             unsigned n, int64_t rel)
{
	int64_t target = (int64_t)start[n - 1] + b->insns[n - 1].len + rel;
	if (target <= start[0] || target > start[n - 1])
		return;
	for (unsigned k = 1; k < n; k++) {
		if (start[k] == target) {
			code_cache_insert_tail(c->cc, b, k,
			                       (b->gpa & TLB_PAGE_MASK) | (uint64_t)target);
			return;
		}
	}
}

/*
 * The fetch of the page after the one la is on, for a block that reaches
 * it: a real fetch when the block's first instruction straddles the two
 * pages ('first': its fault or exit is that instruction's), otherwise
 * only when the fetch would change nothing (cpu_probe_fetch), since it
 * comes ahead of the instructions before it.  0 with *gpa2 and *h2 set;
 * 1 when the block must end before the page; -1 with c->stop set.
 */
static int fetch_second_page(struct cpu *c, uint64_t la, bool first, uint64_t *gpa2,
                             const uint8_t **h2)
{
	uint64_t la2 = ((la | 0xfff) + 1) & c->la_mask;
	if (first)
		return cpu_translate_fetch(c, la2, gpa2, h2) ? -1 : 0;
	return cpu_probe_fetch(c, la2, gpa2, h2) ? 0 : 1;
}

/* fetch_second_page for block b, recording the page in it. */
static int second_page(struct cpu *c, struct block *b, uint64_t la, bool first, const uint8_t **h2)
{
	uint64_t gpa2;
	int r = fetch_second_page(c, la, first, &gpa2, h2);
	if (r == 0)
		b->gpa2_page = gpa2 & TLB_PAGE_MASK;
	return r;
}

/*
 * Build the block starting at la (guest-physical gpa, host bytes h).  It
 * may run on into the next page (its second page, b->gpa2_page) where
 * second_page allows, and ends at that page's end.  Returns NULL with
 * c->stop set when the first instruction's second page cannot be fetched.
 */
__attribute__((noinline)) static struct block *build_block(struct cpu *c, uint64_t la, uint64_t gpa,
                                                           const uint8_t *h)
{
	struct block *b = code_cache_alloc(c->cc, BLOCK_MAX_INSNS);
	b->gpa = gpa;
	b->gpa2_page = ~0ull;
	b->mode = c->mode;
	/* Offsets from the start of gpa's page; 0x1000 and up are on the second. */
	unsigned base = gpa & 0xfff, off = base, n = 0;
	const uint8_t *h2 = NULL;
	uint16_t start[BLOCK_MAX_INSNS];
	int64_t rel = INT64_MIN;
	while (n < BLOCK_MAX_INSNS) {
		if (off == 0x1000 && !h2 && second_page(c, b, la, false, &h2))
			break;
		if (off >= 0x2000)
			break;
		const uint8_t *p = off < 0x1000 ? h + (off - base) : h2 + (off - 0x1000);
		size_t avail = (off < 0x1000 ? 0x1000u : 0x2000u) - off;
		bool ends = false;
		ZyanStatus st;
		start[n] = (uint16_t)off;
		decode_one(c, p, avail < 15 ? avail : 15, &b->insns[n], &ends, &st, &rel);
		if (st == ZYDIS_STATUS_NO_MORE_DATA) {
			/* The instruction runs past the page end. */
			if (off >= 0x1000)
				break;
			int r = second_page(c, b, la, n == 0, &h2);
			if (r < 0)
				return NULL;
			if (r > 0)
				break;
			uint8_t buf[15];
			memcpy(buf, p, avail);
			memcpy(buf + avail, h2, 15 - avail);
			decode_one(c, buf, 15, &b->insns[n], &ends, &st, &rel);
		}
		off += b->insns[n].len;
		n++;
		if (ends)
			break;
	}
	code_cache_insert(c->cc, b, n);
	if (rel != INT64_MIN && n > 1 && b->gpa2_page == ~0ull)
		insert_loop_tail(c, b, start, n, rel);
	return b;
}

static inline struct jcache_entry *jcache_slot(struct cpu *c, uint64_t la)
{
	return &c->jcache[(la ^ (la >> 12)) & (JCACHE_SIZE - 1)];
}

/*
 * Instruction fetch against the CS limit and the IP width (SDM vol. 3
 * 5.3: a fetch beyond the limit is #GP(0), a fault at the instruction;
 * none in 64-bit mode), and IP/EIP wrapping at the operand size of the
 * code after an instruction (16-bit code continues at IP 0 after one that
 * ends at FFFFH).  A block runs on the fast path only when it ends below
 * both, so its instructions need no check and no wrap; otherwise run_one
 * takes it an instruction at a time.
 */
static const uint64_t ip_max[MODE_COUNT] = {
    [MODE_REAL16] = 0xffff,   [MODE_PROT16] = 0xffff,       [MODE_PROT32] = 0xffffffff,
    [MODE_COMPAT16] = 0xffff, [MODE_COMPAT32] = 0xffffffff, [MODE_LONG64] = UINT64_MAX,
};

static inline bool block_fits(const struct cpu *c, const struct block *b)
{
	if (c->mode == MODE_LONG64)
		return true;
	uint64_t lim = c->seg[SEG_CS].d.limit, max = ip_max[c->mode];
	return c->rip + b->bytes <= (lim < max ? lim : max);
}

/* #GP(0) when instruction i at CS:RIP reaches past the CS limit. */
static bool fetch_beyond_limit(struct cpu *c, const struct insn *i)
{
	if (c->mode == MODE_LONG64 || c->rip + (i->len - 1u) <= c->seg[SEG_CS].d.limit)
		return false;
	cpu_gp0(c);
	return true;
}

/* After one instruction that ran in decode mode m: IP wraps at the code's
 * width if the instruction did not change the mode (a transfer that did
 * set RIP for the new one). */
static void wrap_ip(struct cpu *c, uint32_t m)
{
	if (c->mode == m)
		c->rip &= ip_max[m];
}

/* find_block past a jump-cache miss: translate the fetch, look the block
 * up in the decode cache or build it, and fill the jump-cache entry j. */
__attribute__((noinline)) static struct block *find_block_slow(struct cpu *c, uint64_t la,
                                                               struct jcache_entry *j)
{
	c->cur = NULL;
	uint64_t gpa;
	const uint8_t *h;
	if (cpu_translate_fetch(c, la, &gpa, &h))
		return NULL;
	struct block *b = code_cache_lookup(c->cc, gpa, c->mode);
	if (b && b->gpa2_page != ~0ull) {
		/* A block on two pages: its second page must still map the same,
		 * fetched as build_block fetched it; otherwise a block that ends
		 * before it is built. */
		uint64_t gpa2;
		const uint8_t *h2;
		bool first = b->insns[0].len > 0x1000 - (gpa & 0xfff);
		int r = fetch_second_page(c, la, first, &gpa2, &h2);
		if (r < 0)
			return NULL;
		if (r > 0 || (gpa2 & TLB_PAGE_MASK) != b->gpa2_page)
			b = NULL;
	}
	if (!b) {
		c->stats.block_misses++;
		b = build_block(c, la, gpa, h);
		if (!b)
			return NULL;
	}
	/* A block whose instruction straddles two pages goes in too: whatever
	 * changes the second page's translation (INVLPG, MOV to CR3, a mode or
	 * CPL change) empties the jump cache as it does for the first page, and
	 * a write to either page kills the block ('valid'). */
	j->la = la;
	j->mode = c->mode;
	j->epoch = c->jepoch;
	j->b = b;
	return b;
}

/* The block at CS:RIP, or NULL with c->stop set (fault or exit on fetch):
 * the jump cache's hit inline in the run loop, the rest out of line. */
static inline __attribute__((always_inline)) struct block *find_block(struct cpu *c)
{
	uint64_t la = (c->seg[SEG_CS].base + c->rip) & c->la_mask;
	struct jcache_entry *j = jcache_slot(c, la);
	c->stats.block_lookups++;
	if (likely(j->la == la && j->epoch == c->jepoch && j->mode == c->mode && j->b->valid))
		return j->b;
	return find_block_slow(c, la, j);
}

/* Run the records of b; at most 'budget' of them retire.  Inlined into
 * cpu_run's fast path whatever the number of callers (the measured alu
 * bench loses 9% when it is a call). */
static inline __attribute__((always_inline)) void run_block(struct cpu *c, const struct block *b,
                                                            uint64_t budget)
{
	const struct insn *i = b->insns;
	unsigned n = b->n, k;
	if (budget < n)
		n = (unsigned)budget;
	for (k = 0; k < n; k++, i++) {
		c->cur = i;
		int r = i->fn(c, i);
		if (likely(r == EXEC_NEXT)) {
			c->rip += i->len;
			continue;
		}
		if (r == EXEC_JUMP)
			k++;
		break;
	}
	c->icount += k;
}

/*
 * The instruction budget (vm_set_insn_limit): true, with a BOGUS exit
 * made, when it is used up; otherwise *budget is what is left.
 */
static inline bool budget_spent(struct cpu *c, uint64_t *budget)
{
	*budget = ~0ull;
	if (c->insn_limit) {
		uint64_t used = c->icount + c->events + c->partial_steps;
		if (used >= c->insn_limit) {
			cpu_begin_exit(c, VM_EXITCODE_BOGUS, 0);
			c->stop = STOP_NONE;
			return true;
		}
		*budget = c->insn_limit - used;
	}
	return false;
}

/*
 * VM_CAP_MTRAP_EXIT, bhyve's use of the VT-x monitor trap flag: an MTRAP
 * exit (no payload, inst_length 0) at the instruction boundary where the
 * flag's VM exit would be pending (SDM vol. 3 25.5.2): after an
 * instruction completes, after each iteration of a REP string instruction
 * (rip still at it), and after the delivery of an event, injected or
 * raised by an instruction (rip at the handler).  An instruction that
 * exits instead (I/O, HLT with HLT exiting, a PAGING restart, ...) gives
 * no MTRAP.
 */
static int mtrap_exit(struct cpu *c)
{
	cpu_begin_exit(c, VM_EXITCODE_MTRAP, 0);
	c->stop = STOP_NONE;
	return 0;
}

/*
 * One instruction, or one iteration of a REP string instruction, alone,
 * with the single-step and shadow bookkeeping of core/cpu/step.c around
 * it.  Sets *progressed when it retired or iterated.
 */
static void run_one(struct cpu *c, bool *progressed)
{
	*progressed = false;
	/* An instruction breakpoint comes before the fetch (SDM vol. 3 6.9). */
	if (unlikely(c->bp_insn) && dbg_insn_fault(c))
		return;
	struct block *b = find_block(c);
	if (!b || fetch_beyond_limit(c, &b->insns[0]))
		return;
	struct step_state s;
	uint64_t icount = c->icount, iterations = c->partial_steps;
	uint32_t mode = c->mode;
	step_begin(c, &s);
	run_block(c, b, 1);
	wrap_ip(c, mode);
	bool retired = c->icount != icount, iterated = c->partial_steps != iterations;
	step_end(c, &s, retired, iterated);
	*progressed = c->icount != icount || iterated;
}

/*
 * cpu_run under MTRAP: one record at a time, out of the normal path so
 * that path is unchanged.  A step earns an MTRAP exit when it retired, or
 * did one iteration of a REP (ops_string.c runs one per call under MTRAP).
 * The MTF exit comes before a single-step #DB the step left pending (SDM
 * vol. 3 25.5.2: MTF VM exits take priority over debug-trap exceptions);
 * the next run delivers the #DB and gives the MTRAP after it.
 */
__attribute__((noinline, cold)) static int run_mtrap(struct cpu *c)
{
	if (c->exc_pending)
		return cpu_deliver_pending(c) ? 0 : mtrap_exit(c);
	for (;;) {
		uint64_t budget;
		if (budget_spent(c, &budget))
			return 0;
		if (step_take_interrupt(c))
			return cpu_deliver_pending(c) ? 0 : mtrap_exit(c);
		bool progressed;
		run_one(c, &progressed);
		if (progressed && c->stop != STOP_EXIT)
			return mtrap_exit(c);
		switch (c->stop) {
		case STOP_NONE:
			continue; /* a stale record: look the block up again */
		case STOP_EXIT:
			c->stop = STOP_NONE;
			return 0;
		case STOP_EXCEPTION:
			return cpu_deliver_pending(c) ? 0 : mtrap_exit(c);
		}
	}
}

/*
 * run_block with data breakpoints enabled (debugreg.c): the block stops
 * after the first instruction that met one, or after a REP iteration that
 * did, and the trap-class #DB follows it (SDM vol. 3 17.3.1.2).  A REP
 * string instruction does one iteration per call while data breakpoints
 * are enabled (ops_string.c).  A MOV SS or POP SS that met one ends its
 * block with the shadow set: the #DB waits for the next instruction,
 * which step.c runs alone (SDM vol. 3 6.8.3).
 */
static void run_block_watched(struct cpu *c, const struct block *b, uint64_t budget)
{
	const struct insn *i = b->insns;
	unsigned n = b->n;
	if (budget < n)
		n = (unsigned)budget;
	for (unsigned k = 0; k < n; k++, i++) {
		c->cur = i;
		c->bp_hits = 0;
		uint64_t iterations = c->partial_steps;
		int r = i->fn(c, i);
		if (r == EXEC_NEXT)
			c->rip += i->len;
		bool retired = r != EXEC_STOP;
		bool iterated = !retired && c->stop == STOP_NONE && c->partial_steps != iterations;
		if (retired)
			c->icount++;
		else if (iterated)
			c->rflags |= RF_RF; /* between iterations, as step_end */
		if (c->bp_hits && (retired || iterated)) {
			if (c->interrupt_shadow & SHADOW_MOVSS)
				c->dbg_step |= STEP_HELD_BP;
			else
				dbg_raise_trap(c, false, retired);
			return;
		}
		if (r != EXEC_NEXT)
			return;
	}
}

/*
 * Breakpoints enabled, nothing else: a block on a page that holds an
 * instruction breakpoint (either page, for a block on two) runs one
 * instruction at a time, each checked first; the others run whole,
 * watched for data breakpoints when some are enabled.  The page of CS:RIP
 * is looked at before the block is found: the breakpoint comes before
 * the fetch and its faults.
 */
static void run_breakpoints(struct cpu *c, uint64_t budget)
{
	if (c->bp_insn && dbg_insn_page(c, 1)) {
		bool progressed;
		run_one(c, &progressed);
		return;
	}
	struct block *b = find_block(c);
	if (!b)
		return;
	if (unlikely(!block_fits(c, b)) || (c->bp_insn && dbg_insn_page(c, b->bytes))) {
		bool progressed;
		run_one(c, &progressed);
	} else if (c->bp_data) {
		run_block_watched(c, b, budget);
	} else {
		run_block(c, b, budget);
	}
}

/*
 * The states step_needed names: deliver a waiting ExtINT when the window
 * is open; run one instruction alone under TF, RF (which lasts until an
 * instruction completes, SDM vol. 3 17.3.1.1), a shadow or a held trap;
 * with breakpoints enabled, run_breakpoints; otherwise (an ExtINT with
 * IF = 0) the whole block, since only an instruction that ends a block
 * (STI, POPF, IRET, ...) can set IF.
 */
__attribute__((noinline, cold)) static void run_slow(struct cpu *c, uint64_t budget)
{
	if (step_take_interrupt(c))
		return;
	if (step_one_needed(c)) {
		bool progressed;
		run_one(c, &progressed);
		return;
	}
	if (c->dbg_step & STEP_BP) {
		run_breakpoints(c, budget);
		return;
	}
	struct block *b = find_block(c);
	if (b && likely(block_fits(c, b))) {
		run_block(c, b, budget);
	} else if (b) {
		bool progressed;
		run_one(c, &progressed);
	}
}

/*
 * Run until an exit.  Returns 0 with vme filled in.  Exceptions are
 * delivered here; an exception that cannot be delivered escalates to #DF
 * and then to a triple fault, which ends the run with SUSPENDED/TRIPLEFAULT.
 */
int cpu_run(struct cpu *c, struct vm_exit *vme)
{
	c->exit = vme;
	c->stop = STOP_NONE;
	step_entry(c);
	/* Capabilities change only between runs. */
	if (unlikely(c->caps[VM_CAP_MTRAP_EXIT]))
		return run_mtrap(c);
	/* An exception was being delivered when the last exit came. */
	if (c->exc_pending && cpu_deliver_pending(c))
		return 0;
	for (;;) {
		uint64_t budget;
		if (budget_spent(c, &budget))
			return 0;
		if (unlikely(step_needed(c))) {
			run_slow(c, budget);
		} else {
			struct block *b = find_block(c);
			if (b && likely(block_fits(c, b))) {
				run_block(c, b, budget);
			} else if (b) {
				bool progressed;
				run_one(c, &progressed);
			}
		}
		switch (c->stop) {
		case STOP_NONE:
			continue;
		case STOP_EXIT:
			c->stop = STOP_NONE;
			return 0;
		case STOP_EXCEPTION:
			if (cpu_deliver_pending(c))
				return 0;
			continue;
		}
	}
}
