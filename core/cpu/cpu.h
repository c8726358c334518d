/*
 * The software CPU's state and the inline fast paths every handler uses:
 * register access, lazy flags, effective addresses and memory accesses that
 * hit the soft TLB.  Everything slow lives in the .c files next to this one.
 */
#ifndef SOFTVMM_CORE_CPU_CPU_H
#define SOFTVMM_CORE_CPU_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "softvmm/vmm.h"
#include "core/mem.h"
#include "core/cpu/cpumodel.h"
#include "decode/insn.h"
#include "paging/tlb.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "softvmm assumes a little-endian 64-bit host"
#endif

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* RFLAGS bits (SDM vol. 1 section 3.4.3). */
#define RF_CF    0x0001u
#define RF_PF    0x0004u
#define RF_AF    0x0010u
#define RF_ZF    0x0040u
#define RF_SF    0x0080u
#define RF_TF    0x0100u
#define RF_IF    0x0200u
#define RF_DF    0x0400u
#define RF_OF    0x0800u
#define RF_IOPL  0x3000u
#define RF_NT    0x4000u
#define RF_RF    0x10000u
#define RF_VM    0x20000u
#define RF_AC    0x40000u
#define RF_VIF   0x80000u
#define RF_VIP   0x100000u
#define RF_ID    0x200000u
#define RF_ARITH (RF_CF | RF_PF | RF_AF | RF_ZF | RF_SF | RF_OF)

#define CR0_PE 0x1u
#define CR0_MP 0x2u
#define CR0_EM 0x4u
#define CR0_TS 0x8u
#define CR0_ET 0x10u
#define CR0_NE 0x20u
#define CR0_WP 0x10000u
#define CR0_AM 0x40000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u

#define CR4_DE      0x8u
#define CR4_PSE     0x10u
#define CR4_PAE     0x20u
#define CR4_PGE     0x80u
#define CR4_OSFXSR  0x200u
#define CR4_UMIP    0x800u
#define CR4_LA57    0x1000u
#define CR4_PCIDE   0x20000u
#define CR4_OSXSAVE 0x40000u
#define CR4_SMEP    0x100000u
#define CR4_SMAP    0x200000u

#define EFER_SCE 0x1u
#define EFER_LME 0x100u
#define EFER_LMA 0x400u
#define EFER_NXE 0x800u

/* Segment register numbers, in the ModRM/sreg encoding order. */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_NONE = 7 };

/* Access-rights bits of struct seg_desc (VMCS layout). */
#define SEGA_TYPE_ACCESSED 0x1u
#define SEGA_S             0x10u
#define SEGA_P             0x80u
#define SEGA_L             0x2000u
#define SEGA_DB            0x4000u
#define SEGA_G             0x8000u
#define SEGA_UNUSABLE      0x10000u

struct segreg {
	uint16_t sel;
	struct seg_desc d;
	/* Offsets an access may use: [lo, hi], precomputed from limit and
	 * expand-down; in 64-bit mode lo = 0, hi = ~0 (no limit checks).
	 * [wlo, whi] for writes, empty when the segment's type forbids them,
	 * as [lo, hi] is for an execute-only code segment (SDM vol. 3 5.4.1). */
	uint64_t lo, hi;
	uint64_t wlo, whi;
	/* The base an access adds: d.base, but 0 for CS, DS, ES and SS in
	 * 64-bit mode (SDM vol. 1 3.4.2.1).  Kept by cpu_seg_bounds. */
	uint64_t base;
};

struct dtr {
	uint64_t base;
	uint32_t limit;
};

/*
 * Lazily evaluated arithmetic flags.  The last flag-setting operation is
 * remembered as (kind, size, result, operands); each flag is computed only
 * when something reads it.  LF_NONE means RFLAGS' arithmetic bits in
 * cpu.rflags are current.
 */
enum lazy_kind {
	LF_NONE,
	LF_ADD,   /* res = a + b */
	LF_ADC,   /* res = a + b + carry_in (in 'c') */
	LF_SUB,   /* res = a - b, also CMP and NEG (a = 0) */
	LF_SBB,   /* res = a - b - borrow_in (in 'c') */
	LF_LOGIC, /* AND/OR/XOR/TEST: CF = OF = 0, AF = 0 */
	LF_INC,   /* res = a + 1, CF kept in 'c' */
	LF_DEC,   /* res = a - 1, CF kept in 'c' */
	LF_SHL,   /* res = a << b (b = masked count, 1..63) */
	LF_SHR,   /* res = a >> b, logical */
	LF_SAR,   /* res = a >> b, arithmetic */
	/* ROL/ROR after a lazy operation, whose kind moves to 'under': a
	 * rotate changes CF and OF only, so SF, ZF, PF and AF are still that
	 * operation's; CF, and OF once a rotate defined it, are in 'rot'. */
	LF_ROT,
};

#define LF_ROT_CF  0x1 /* CF */
#define LF_ROT_OF  0x2 /* OF, valid with LF_ROT_OFV */
#define LF_ROT_OFV 0x4 /* OF is the rotate's, not the operation under it */

struct lazy_flags {
	uint64_t res, a, b;
	uint8_t kind;
	uint8_t size;  /* operand size in bytes */
	uint8_t c;     /* carry in (ADC/SBB) or preserved CF (INC/DEC) */
	uint8_t under; /* LF_ROT: the kind of the operation before the rotates */
	uint8_t rot;   /* LF_ROT: LF_ROT_* */
};

/* Why the run loop stopped: set by a handler that returns EXEC_STOP. */
enum cpu_stop {
	STOP_NONE,
	STOP_EXIT,      /* c->exit is filled in and goes to the caller */
	STOP_EXCEPTION, /* c->exc holds an exception to deliver */
};

struct pending_exception {
	uint8_t vector;
	bool has_error;
	uint32_t error;
	uint64_t cr2; /* for #PF */
	bool hw_intr; /* an external interrupt: benign, RF pushed as it is */
	bool nmi;     /* with hw_intr: the NMI (intinfo type NMI) */
	/* An injected software event: its intinfo type (4 software
	 * interrupt, 5 privileged software exception, 6 software exception),
	 * else 0; and its VM-entry instruction length. */
	uint8_t soft_type;
	uint8_t soft_len;
};

#define JCACHE_SIZE 4096

struct block;

/* Jump cache: CS-linear address -> block.  An entry is valid only in the
 * epoch that filled it, so flushing is one increment. */
struct jcache_entry {
	uint64_t la;
	struct block *b;
	uint32_t mode;
	uint32_t epoch;
};

struct cpu_stats {
	uint64_t block_lookups;
	uint64_t block_misses;
	uint64_t insns_decoded;
	uint64_t unimplemented;
	uint64_t tlb_fills;
	uint64_t tlb_flushes;
	uint64_t unimpl_by_mnemonic[2048];
};

struct code_cache;

struct cpu {
	union gpr {
		uint64_t q;
		uint32_t d;
		uint16_t w;
		uint8_t b[8];
	} gpr[16];
	uint64_t rip;
	uint64_t rflags; /* arithmetic bits valid only when lf.kind == LF_NONE */
	struct lazy_flags lf;

	struct segreg seg[6];
	struct segreg ldtr, tr;
	struct dtr gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t dr[8];
	uint64_t pdpte[4];
	uint64_t msr_star, msr_lstar, msr_cstar, msr_sfmask, msr_kgsbase;
	uint64_t msr_sysenter_cs, msr_sysenter_esp, msr_sysenter_eip;
	uint64_t msr_pat, msr_tsc_aux, tsc_offset;
	uint64_t xcr0;

	int cpl;
	uint32_t mode;    /* decode mode key, see cpu_mode_key() */
	uint64_t la_mask; /* 0xffffffff outside long mode */
	/* tlb.ctx, next to la_mask for the fast path's tag (tlbctl.h keeps it
	 * equal). */
	uint64_t tlb_ctx;
	uint64_t icount; /* retired instructions */
	/* Blocking by STI / by MOV SS (SDM vol. 3 6.8.3, table 25-3):
	 * SHADOW_* bits set by STI, MOV SS and POP SS for the instruction at
	 * shadow_rip; it ends when that instruction completes or an event is
	 * delivered.  core/cpu/step.c. */
	uint8_t interrupt_shadow;
	uint8_t dbg_step;    /* STEP_* single-step trap state (core/cpu/step.c) */
	bool extint_pending; /* an ExtINT waits for IF = 1 and no shadow */
	uint8_t extint_vector;
	uint64_t shadow_rip;
	/* Hardware breakpoints (debugreg.c), recomputed when DR0-DR3 or DR7
	 * change, and alignment checking (align.c), recomputed when CR0.AM,
	 * EFLAGS.AC or the CPL change.  While bp_data or ac_check is set the
	 * soft TLB keeps the pages concerned off its read/write fast path, so
	 * that the slow path sees those accesses (cpu_mem.c). */
	uint8_t bp_insn; /* enabled instruction breakpoints: bit n for DRn */
	uint8_t bp_data; /* enabled data breakpoints */
	uint8_t bp_hits; /* data breakpoints met since the last boundary: DR6 B0-B3 */
	bool ac_check;   /* CR0.AM = 1, EFLAGS.AC = 1 and CPL 3 (SDM vol. 3 6.15) */

	/* Event handling. */
	enum cpu_stop stop;
	struct pending_exception exc;
	bool exc_pending;
	struct vm_exit *exit;   /* where an exit is written */
	const struct insn *cur; /* the instruction executing now */
	uint64_t events;        /* exceptions delivered (not instructions) */
	uint64_t partial_steps; /* REP chunks that did not finish their instruction */
	/* Stop when icount + events + partial_steps reaches it (0: none): a
	 * guest stuck delivering a fault to itself, or in a REP with a huge
	 * count, retires nothing yet must stop. */
	uint64_t insn_limit;
	int fault_depth; /* 0 normal, 1 delivering, 2 delivering #DF */

	struct tlb tlb;
	struct jcache_entry jcache[JCACHE_SIZE];
	uint32_t jepoch;
	struct code_cache *cc;
	struct vm_mem *mem;
	const struct cpu_model *model;
	int vcpuid;
	int caps[VM_CAP_MAX];

	struct cpu_stats stats;
	/* The event whose delivery the last exit interrupted, in the intinfo
	 * layout (bhyve's IDT-vectoring information), or 0 (except.c). */
	uint64_t exit_intinfo;
	uint8_t exit_intinfo_len; /* a software event's instruction length, with exit_intinfo */
};

/* Results of an instruction handler. */
#define EXEC_NEXT 0 /* retired; the loop advances rip by the length */
#define EXEC_JUMP 1 /* retired; the handler set rip; the block ends */
#define EXEC_STOP 2 /* not retired: exception or exit, see c->stop */

/* True when the model follows AMD's rules where the SDM leaves a result
 * undefined (docs/undefined-behaviour.md); Intel's otherwise. */
static inline bool cpu_profile_amd(const struct cpu *c)
{
	return c->model->profile == VENDOR_AMD;
}

/* ---- registers ------------------------------------------------------- */

static inline uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline uint64_t sign_bit(unsigned size)
{
	return 1ull << (size * 8 - 1);
}

static inline int64_t sext(uint64_t v, unsigned size)
{
	unsigned sh = 64 - size * 8;
	return (int64_t)(v << sh) >> sh;
}

/* r is a register index, or for size 1 a byte offset into the register file
 * (AH..BH are offsets 1, 9, 17, 25 without REX). */
static inline uint64_t reg_read(const struct cpu *c, unsigned r, unsigned size)
{
	switch (size) {
	case 1:
		return ((const uint8_t *)c->gpr)[r];
	case 2:
		return c->gpr[r].w;
	case 4:
		return c->gpr[r].d;
	default:
		return c->gpr[r].q;
	}
}

static inline void reg_write(struct cpu *c, unsigned r, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		((uint8_t *)c->gpr)[r] = (uint8_t)v;
		break;
	case 2:
		c->gpr[r].w = (uint16_t)v;
		break;
	case 4:
		c->gpr[r].q = (uint32_t)v; /* 32-bit writes zero-extend (SDM 3.4.1.1) */
		break;
	default:
		c->gpr[r].q = v;
		break;
	}
}

/* ---- flags ------------------------------------------------------------- */

uint64_t cpu_get_rflags(struct cpu *c);
void cpu_set_rflags(struct cpu *c, uint64_t v);
bool lf_cf(const struct cpu *c);
bool lf_of(const struct cpu *c);
bool lf_af(const struct cpu *c);
bool lf_pf(const struct cpu *c);

static inline bool cpu_zf(const struct cpu *c)
{
	return c->lf.kind == LF_NONE ? (c->rflags & RF_ZF) != 0 : c->lf.res == 0;
}

static inline bool cpu_sf(const struct cpu *c)
{
	return c->lf.kind == LF_NONE ? (c->rflags & RF_SF) != 0
	                             : (c->lf.res & sign_bit(c->lf.size)) != 0;
}

static inline bool cpu_cf(const struct cpu *c)
{
	return c->lf.kind == LF_NONE ? (c->rflags & RF_CF) != 0 : lf_cf(c);
}

static inline bool cpu_of(const struct cpu *c)
{
	return c->lf.kind == LF_NONE ? (c->rflags & RF_OF) != 0 : lf_of(c);
}

static inline bool cpu_pf(const struct cpu *c)
{
	return c->lf.kind == LF_NONE ? (c->rflags & RF_PF) != 0 : lf_pf(c);
}

/* Condition code tttn (SDM vol. 1 appendix B). */
bool cpu_cond(const struct cpu *c, unsigned cc);

static inline void lf_set(struct cpu *c, enum lazy_kind k, unsigned size, uint64_t res, uint64_t a,
                          uint64_t b)
{
	c->lf.kind = (uint8_t)k;
	c->lf.size = (uint8_t)size;
	c->lf.res = res;
	c->lf.a = a;
	c->lf.b = b;
}

/* Replace the arithmetic flags with explicit values (shifts, multiplies). */
static inline void flags_set_arith(struct cpu *c, uint64_t arith)
{
	c->rflags = (c->rflags & ~(uint64_t)RF_ARITH) | (arith & RF_ARITH);
	c->lf.kind = LF_NONE;
}

/* Materialise the lazy flags into c->rflags (before a partial update). */
void flags_materialize(struct cpu *c);

/* ZF, SF and PF of a result of 'size' bytes.  Inline: multiplies and
 * flag-setting handlers call it on their hot path. */
static inline uint64_t flags_szp(uint64_t res, unsigned size)
{
	res &= size_mask(size);
	return (res == 0 ? RF_ZF : 0) | ((res & sign_bit(size)) ? RF_SF : 0) |
	       (__builtin_parity((unsigned)(res & 0xff)) ? 0 : RF_PF);
}

/* ---- exceptions and exits ------------------------------------------------ */

int cpu_raise(struct cpu *c, int vector, bool has_error, uint32_t error);
int cpu_raise_pf(struct cpu *c, uint64_t la, uint32_t error);
/* Software-raised events (except.c): INT3/INTO/INT n deliver at once with
 * the return address next_rip; INT n in v8086 mode is #GP(0) with IOPL < 3
 * or, with CR4.VME, redirected by the TSS bitmap (vme.c); INT1 (ICEBP) is a
 * privileged software exception. */
int cpu_soft_interrupt(struct cpu *c, unsigned vector, uint64_t next_rip);
int cpu_int_n(struct cpu *c, unsigned vector, uint64_t next_rip);
int cpu_int1(struct cpu *c, uint64_t next_rip);
static inline int cpu_ud(struct cpu *c)
{
	return cpu_raise(c, IDT_UD, false, 0);
}
static inline int cpu_gp0(struct cpu *c)
{
	return cpu_raise(c, IDT_GP, true, 0);
}
/* STI when IF = 0, MOV SS and POP SS: interrupts (and for MOV SS, #DB
 * and single-step traps) wait until the next instruction completes (SDM
 * vol. 3 6.8.3; STI, MOV and POP in vol. 2). */
#define SHADOW_STI   0x1u
#define SHADOW_MOVSS 0x2u
static inline void cpu_set_shadow(struct cpu *c, const struct insn *i, unsigned kind)
{
	c->interrupt_shadow |= (uint8_t)kind;
	c->shadow_rip = c->rip + i->len;
}
/* Ends the run with c->exit filled in (the caller sets the fields). */
struct vm_exit *cpu_begin_exit(struct cpu *c, enum vm_exitcode code, int inst_length);
void cpu_paging_info(const struct cpu *c, struct vm_guest_paging *p);

/* ---- memory --------------------------------------------------------------- */

int cpu_read_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t *val, int seg);
int cpu_write_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t val, int seg);
int cpu_seg_fault(struct cpu *c, int seg);
/* Linear address for (seg, ea) after the limit check; returns -1 on fault. */
static inline int cpu_linear(struct cpu *c, int seg, uint64_t ea, unsigned size, uint64_t *la)
{
	const struct segreg *s = &c->seg[seg];
	if (unlikely(ea < s->lo || ea + (size - 1) > s->hi || ea + (size - 1) < ea))
		return cpu_seg_fault(c, seg);
	*la = (s->base + ea) & c->la_mask;
	return 0;
}

/* cpu_linear for a write: the segment's write bounds. */
static inline int cpu_linear_w(struct cpu *c, int seg, uint64_t ea, unsigned size, uint64_t *la)
{
	const struct segreg *s = &c->seg[seg];
	if (unlikely(ea < s->wlo || ea + (size - 1) > s->whi || ea + (size - 1) < ea))
		return cpu_seg_fault(c, seg);
	*la = (s->base + ea) & c->la_mask;
	return 0;
}

static inline uint64_t load_le(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1:
		return *p;
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

static inline void store_le(uint8_t *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2: {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, 2);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
		break;
	}
}

/* The soft-TLB tag an access to la must find: its page in the current
 * context (paging/tlb.h), from the copy next to la_mask. */
static inline uint64_t cpu_tag(const struct cpu *c, uint64_t la)
{
	return (la & TLB_PAGE_MASK) | c->tlb_ctx;
}

/* Read 'size' bytes at seg:ea.  0 on success; otherwise the handler must
 * return EXEC_STOP (an exception or exit is pending). */
static inline int cpu_read(struct cpu *c, int seg, uint64_t ea, unsigned size, uint64_t *val)
{
	uint64_t la = 0;
	if (unlikely(cpu_linear(c, seg, ea, size, &la)))
		return -1;
	const struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	if (likely(e->tag_r == cpu_tag(c, la) && (la & 0xfff) <= 0x1000 - size)) {
		*val = load_le((const uint8_t *)(e->host + (la & 0xfff)), size);
		return 0;
	}
	return cpu_read_slow(c, la, size, val, seg);
}

static inline int cpu_write(struct cpu *c, int seg, uint64_t ea, unsigned size, uint64_t val)
{
	uint64_t la = 0;
	if (unlikely(cpu_linear_w(c, seg, ea, size, &la)))
		return -1;
	const struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	if (likely(e->tag_w == cpu_tag(c, la) && (la & 0xfff) <= 0x1000 - size)) {
		store_le((uint8_t *)(e->host + (la & 0xfff)), size, val);
		return 0;
	}
	return cpu_write_slow(c, la, size, val, seg);
}

/*
 * Read-modify-write: check the write permission first (a RMW instruction
 * faults as a write, SDM vol. 3 4.7), then read.  *la_out is kept for the
 * matching cpu_rmw_commit.
 */
int cpu_rmw_begin_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t *val, int seg);
static inline int cpu_rmw_begin(struct cpu *c, int seg, uint64_t ea, unsigned size, uint64_t *val,
                                uint64_t *la_out)
{
	uint64_t la = 0;
	if (unlikely(cpu_linear_w(c, seg, ea, size, &la)))
		return -1;
	*la_out = la;
	const struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	if (likely(e->tag_w == cpu_tag(c, la) && (la & 0xfff) <= 0x1000 - size)) {
		*val = load_le((const uint8_t *)(e->host + (la & 0xfff)), size);
		return 0;
	}
	return cpu_rmw_begin_slow(c, la, size, val, seg);
}

static inline int cpu_rmw_commit(struct cpu *c, uint64_t la, unsigned size, uint64_t val)
{
	const struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	if (likely(e->tag_w == cpu_tag(c, la) && (la & 0xfff) <= 0x1000 - size)) {
		store_le((uint8_t *)(e->host + (la & 0xfff)), size, val);
		return 0;
	}
	return cpu_write_slow(c, la, size, val, SEG_NONE);
}

/* Effective address of the instruction's memory operand (SDM vol. 1 3.7.5). */
static inline uint64_t cpu_ea(const struct cpu *c, const struct insn *i)
{
	uint64_t a = (uint64_t)(int64_t)i->disp;
	if (i->base < 16)
		a += c->gpr[i->base].q;
	else if (i->base == INSN_RIPREL)
		a += c->rip + i->len;
	else if (i->base == INSN_ABS64)
		a = i->imm; /* moffs64 */
	if (i->index < 16)
		a += c->gpr[i->index].q << i->scale;
	return a & size_mask(i->asz);
}

/*
 * The r/m operand of a ModRM instruction: memory, or register 'reg' (r1 or
 * r2 in the record's encoding), 'size' bytes.  0, or -1 with an exception
 * or exit pending.
 */
static inline int cpu_read_rm(struct cpu *c, const struct insn *i, unsigned reg, unsigned size,
                              uint64_t *v)
{
	if (i->flags & INSN_F_MEM)
		return cpu_read(c, i->seg, cpu_ea(c, i), size, v);
	*v = reg_read(c, reg, size);
	return 0;
}

/* ---- stack ------------------------------------------------------------------ */

static inline unsigned cpu_stack_size(const struct cpu *c)
{
	if (c->mode == MODE_LONG64)
		return 8;
	return (c->seg[SEG_SS].d.access & SEGA_DB) ? 4 : 2;
}

int cpu_push(struct cpu *c, unsigned size, uint64_t v);
int cpu_pop(struct cpu *c, unsigned size, uint64_t *v);
/* Pop without committing RSP: *newsp receives the updated stack pointer. */
int cpu_pop_peek(struct cpu *c, unsigned size, uint64_t off, uint64_t *v);
void cpu_set_sp(struct cpu *c, uint64_t sp);

/* ---- modes and control registers --------------------------------------------- */

/* Recompute mode, la_mask and segment bounds after CR0/EFER/CS changes. */
void cpu_update_mode(struct cpu *c);
/* The same with the CPL given, for a transfer that loads CS before SS: one
 * TLB flush when the CPL changes, none for a CPL that only looks different
 * in between. */
void cpu_update_mode_cpl(struct cpu *c, int cpl);
void cpu_seg_bounds(struct cpu *c, struct segreg *s);
int cpu_load_seg(struct cpu *c, int seg, uint16_t sel);
void cpu_load_seg_real(struct cpu *c, int seg, uint16_t sel);
int cpu_far_jump(struct cpu *c, uint16_t sel, uint64_t off, unsigned osz);
void cpu_flush_tlb(struct cpu *c);
void cpu_flush_jcache(struct cpu *c);
int cpu_write_cr(struct cpu *c, int cr, uint64_t v);
void cpu_reset(struct cpu *c);

/* Entry points used by the backend. */
int cpu_run(struct cpu *c, struct vm_exit *vme);
int cpu_read_linear(struct cpu *c, uint64_t la, void *dst, unsigned len);
int cpu_write_linear(struct cpu *c, uint64_t la, const void *src, unsigned len);
int cpu_translate_fetch(struct cpu *c, uint64_t la, uint64_t *gpa, const uint8_t **host);
/* Would a fetch from la succeed now and change nothing (no A flag to set,
 * no first touch, no fault)?  Then true with its translation; nothing is
 * changed either way (cpu_mem.c). */
bool cpu_probe_fetch(struct cpu *c, uint64_t la, uint64_t *gpa, const uint8_t **host);
int cpu_deliver_pending(struct cpu *c);

#endif
