/*
 * Segmentation, modes and control registers: descriptor loads (SDM vol. 3
 * 3.4-3.5, 5.5-5.8), the decode mode, CR0/CR3/CR4 writes and the stack.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/align.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/debugreg.h"
#include "core/cpu/desc.h"
#include "core/cpu/tlbctl.h"
#include "decode/cache.h"
#include "paging/walk.h"

void cpu_flush_jcache(struct cpu *c)
{
	if (++c->jepoch == 0) {
		/* Epoch wrapped: old entries could match again. */
		memset(c->jcache, 0, sizeof(c->jcache));
		c->jepoch = 1;
	}
}

void cpu_seg_bounds(struct cpu *c, struct segreg *s)
{
	uint32_t a = s->d.access;
	bool fs_gs = s == &c->seg[SEG_FS] || s == &c->seg[SEG_GS];
	s->base = (c->mode == MODE_LONG64 && !fs_gs) ? 0 : s->d.base;
	if (c->mode == MODE_LONG64) {
		/* No limit or type checks in 64-bit mode (SDM vol. 3 5.3.1). */
		s->lo = s->wlo = 0;
		s->hi = s->whi = ~0ull;
		return;
	}
	if ((c->cr0 & CR0_PE) && (a & SEGA_UNUSABLE) && s != &c->seg[SEG_CS]) {
		s->lo = s->wlo = 1; /* any access faults */
		s->hi = s->whi = 0;
		return;
	}
	if ((a & SEGA_S) && !(a & 0x8) && (a & 0x4)) {
		/* Expand-down data segment: valid offsets are above the limit,
		 * up to FFFFH or FFFFFFFFH by the B flag (SDM vol. 3 5.3). */
		s->lo = (uint64_t)s->d.limit + 1;
		s->hi = (a & SEGA_DB) ? 0xffffffffull : 0xffffull;
	} else {
		s->lo = 0;
		s->hi = s->d.limit;
	}
	s->wlo = s->lo;
	s->whi = s->hi;
	/* Type checks (SDM vol. 3 5.4.1): no writes to a code segment or a
	 * read-only data segment, no reads from an execute-only code segment.
	 * Protected mode only: real-address and virtual-8086 mode check
	 * limits but not types. */
	if (!(c->cr0 & CR0_PE) || (c->rflags & RF_VM) || !(a & SEGA_S))
		return;
	bool code = a & 0x8, rw = a & 0x2;
	if (code || !rw) {
		s->wlo = 1;
		s->whi = 0;
	}
	if (code && !rw) {
		s->lo = 1;
		s->hi = 0;
	}
}

void cpu_update_mode(struct cpu *c)
{
	int cpl = (c->cr0 & CR0_PE) ? (int)SEG_DESC_DPL(c->seg[SEG_SS].d.access) : 0;
	cpu_update_mode_cpl(c, (c->rflags & RF_VM) ? 3 : cpl);
}

void cpu_update_mode_cpl(struct cpu *c, int cpl)
{
	uint32_t cs = c->seg[SEG_CS].d.access;
	int old_cpl = c->cpl;
	if (!(c->cr0 & CR0_PE) || (c->rflags & RF_VM)) {
		c->mode = MODE_REAL16;
	} else if (c->efer & EFER_LMA) {
		if (cs & SEGA_L)
			c->mode = MODE_LONG64;
		else
			c->mode = (cs & SEGA_DB) ? MODE_COMPAT32 : MODE_COMPAT16;
	} else {
		c->mode = (cs & SEGA_DB) ? MODE_PROT32 : MODE_PROT16;
	}
	/* Linear addresses wrap at 4 GiB outside 64-bit mode (SDM 3.3.6). */
	c->la_mask = c->mode == MODE_LONG64 ? ~0ull : 0xffffffffull;
	c->cpl = cpl;
	for (int i = 0; i < 6; i++)
		cpu_seg_bounds(c, &c->seg[i]);
	/* The TLB keeps the user and the supervisor rights apart (tlbctl.c). */
	cpu_tlb_cpl_changed(c, old_cpl);
	/* CR0.AM and the CPL decide alignment checking (SDM vol. 3 6.15). */
	align_update(c);
}

void cpu_load_seg_real(struct cpu *c, int seg, uint16_t sel)
{
	/* Real mode: only selector and base change (SDM 20.1.1); limit and
	 * attributes stay, which is what makes "unreal mode" work. */
	struct segreg *s = &c->seg[seg];
	s->sel = sel;
	s->d.base = (uint64_t)sel << 4;
	if (c->rflags & RF_VM) {
		s->d.limit = 0xffff;
		s->d.access = 0xf3 | (seg == SEG_CS ? 0x8 : 0);
	}
	cpu_seg_bounds(c, s);
}

uint32_t desc_access(uint64_t d)
{
	return (uint32_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12));
}

void desc_to_seg(uint64_t d, struct seg_desc *sd)
{
	sd->base = ((d >> 16) & 0xffffff) | ((d >> 56) << 24);
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if ((d >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	sd->limit = limit;
	sd->access = desc_access(d);
}

bool desc_in_table(const struct cpu *c, uint16_t sel, unsigned bytes, uint64_t *addr)
{
	bool ldt = sel & 4;
	if (ldt && (c->ldtr.d.access & SEGA_UNUSABLE))
		return false;
	uint64_t base = ldt ? c->ldtr.d.base : c->gdtr.base;
	uint32_t limit = ldt ? c->ldtr.d.limit : c->gdtr.limit;
	/* The whole descriptor must lie within the limit (SDM vol. 3 3.5.1). */
	if ((uint64_t)(sel & ~7u) + bytes - 1 > limit)
		return false;
	*addr = base + (sel & ~7u);
	return true;
}

int cpu_read_desc(struct cpu *c, uint16_t sel, uint64_t *d, uint64_t *addr)
{
	if (!desc_in_table(c, sel, 8, addr))
		return cpu_raise(c, IDT_GP, true, sel & ~3u);
	if (cpu_read_linear(c, *addr, d, 8))
		return EXEC_STOP;
	return 0;
}

int desc_set_bit(struct cpu *c, uint64_t addr, uint64_t *d, unsigned bit)
{
	*d |= 1ull << bit;
	uint8_t b = (uint8_t)(*d >> 40);
	return cpu_write_linear(c, addr + 5, &b, 1) ? EXEC_STOP : 0;
}

/*
 * Load a data or stack segment register (SDM vol. 2B MOV, POP, LDS/LES/
 * LFS/LGS/LSS "Operation"; vol. 3 5.6-5.7).  Real-address and virtual-8086
 * mode load the selector and base only.  In protected mode, in this order:
 *  - a null selector: #GP(0) for SS, except in 64-bit mode at CPL < 3 with
 *    RPL = CPL; any other register becomes unusable;
 *  - the descriptor outside the GDT/LDT limit: #GP(selector);
 *  - SS: not a writable data segment, RPL != CPL or DPL != CPL:
 *    #GP(selector); not present: #SS(selector);
 *  - DS/ES/FS/GS: not a data or readable code segment, or data or
 *    non-conforming code with RPL > DPL or CPL > DPL: #GP(selector); not
 *    present: #NP(selector).
 * Error codes are the selector with RPL cleared (SDM vol. 3 6.13).
 */
int cpu_load_seg(struct cpu *c, int seg, uint16_t sel)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & RF_VM)) {
		cpu_load_seg_real(c, seg, sel);
		return 0;
	}
	struct segreg *s = &c->seg[seg];
	unsigned rpl = sel & 3;
	if ((sel & ~3u) == 0) {
		if (seg == SEG_SS &&
		    !(c->mode == MODE_LONG64 && c->cpl < 3 && rpl == (unsigned)c->cpl))
			return cpu_raise(c, IDT_GP, true, 0);
		s->sel = sel;
		s->d.base = 0;
		s->d.limit = 0;
		s->d.access = SEGA_UNUSABLE | (seg == SEG_SS ? (uint32_t)rpl << 5 : 0);
		cpu_seg_bounds(c, s);
		return 0;
	}
	uint64_t d, addr;
	if (cpu_read_desc(c, sel, &d, &addr))
		return EXEC_STOP;
	uint32_t a = desc_access(d);
	unsigned dpl = SEG_DESC_DPL(a);
	bool code = a & 0x8, readable = a & 0x2, writable = a & 0x2, conforming = a & 0x4;
	if (seg == SEG_SS) {
		if (!(a & SEGA_S) || code || !writable || rpl != (unsigned)c->cpl ||
		    dpl != (unsigned)c->cpl)
			return cpu_raise(c, IDT_GP, true, sel & ~3u);
		if (!(a & SEGA_P))
			return cpu_raise(c, IDT_SS, true, sel & ~3u);
	} else {
		if (!(a & SEGA_S) || (code && !readable))
			return cpu_raise(c, IDT_GP, true, sel & ~3u);
		if ((!code || !conforming) && (rpl > dpl || (unsigned)c->cpl > dpl))
			return cpu_raise(c, IDT_GP, true, sel & ~3u);
		if (!(a & SEGA_P))
			return cpu_raise(c, IDT_NP, true, sel & ~3u);
	}
	/* The processor sets the accessed bit in the descriptor (SDM vol. 3
	 * 3.4.5.1). */
	if (!(a & SEGA_TYPE_ACCESSED) && desc_set_bit(c, addr, &d, 40))
		return EXEC_STOP;
	s->sel = sel;
	desc_to_seg(d, &s->d);
	cpu_seg_bounds(c, s);
	if (seg == SEG_SS)
		cpu_update_mode(c);
	return 0;
}

/*
 * Far JMP to a code segment (SDM JMP, "far jumps in protected mode"): the
 * conforming and non-conforming rules; call gates and TSS targets are not
 * supported yet and raise #GP.
 */
int cpu_far_jump(struct cpu *c, uint16_t sel, uint64_t off, unsigned osz)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & RF_VM)) {
		cpu_load_seg_real(c, SEG_CS, sel);
		c->rip = off & size_mask(osz);
		cpu_update_mode(c);
		return EXEC_JUMP;
	}
	if ((sel & ~3u) == 0)
		return cpu_raise(c, IDT_GP, true, 0);
	uint64_t d, addr;
	if (cpu_read_desc(c, sel, &d, &addr))
		return EXEC_STOP;
	uint32_t a = desc_access(d);
	unsigned dpl = SEG_DESC_DPL(a), rpl = sel & 3;
	if (!(a & SEGA_S) || !(a & 0x8))
		return cpu_raise(c, IDT_GP, true, sel & ~3u);
	if (a & 0x4) {
		if (dpl > (unsigned)c->cpl)
			return cpu_raise(c, IDT_GP, true, sel & ~3u);
	} else if (rpl > (unsigned)c->cpl || dpl != (unsigned)c->cpl) {
		return cpu_raise(c, IDT_GP, true, sel & ~3u);
	}
	if (!(a & SEGA_P))
		return cpu_raise(c, IDT_NP, true, sel & ~3u);
	if ((c->efer & EFER_LMA) && (a & SEGA_L) && (a & SEGA_DB))
		return cpu_raise(c, IDT_GP, true, sel & ~3u);
	struct seg_desc nd;
	desc_to_seg(d | (1ull << 40), &nd);
	bool to64 = (c->efer & EFER_LMA) && (nd.access & SEGA_L);
	if (!to64 && off > nd.limit)
		return cpu_raise(c, IDT_GP, true, 0);
	if (!(d & (1ull << 40)) && desc_set_bit(c, addr, &d, 40))
		return EXEC_STOP;
	struct segreg *cs = &c->seg[SEG_CS];
	cs->sel = (uint16_t)((sel & ~3u) | (unsigned)c->cpl);
	cs->d = nd;
	c->rip = to64 ? off : off & size_mask(osz);
	cpu_update_mode(c);
	return EXEC_JUMP;
}

/*
 * PAE paging: load the four PDPTE registers from the 32-byte table at
 * cr3 bits 31:5 (SDM vol. 3 4.4.1).  A present entry with a reserved bit
 * set (2:1, 8:5, 63:MAXPHYADDR) makes the MOV to CR0, CR3 or CR4 that
 * loads it #GP(0), with no register changed; so does a table that is not
 * in RAM, which a processor would read as all-ones bus data.
 */
static int load_pdptes(struct cpu *c, uint64_t cr3)
{
	uint8_t *h = mem_host(c->mem, cr3 & 0xffffffe0ull, 32);
	if (!h)
		return cpu_raise(c, IDT_GP, true, 0);
	uint64_t e[4];
	memcpy(e, h, sizeof(e));
	for (int k = 0; k < 4; k++)
		if ((e[k] & 1) && (e[k] & paging_pdpte_rsvd(c->model->maxphyaddr)))
			return cpu_raise(c, IDT_GP, true, 0);
	memcpy(c->pdpte, e, sizeof(e));
	return 0;
}

/* PAE paging in use with these CR0/CR4 and the current EFER (4.1.1). */
static bool pae_paging(const struct cpu *c, uint64_t cr0, uint64_t cr4)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(c->efer & EFER_LME);
}

/*
 * MOV to CR0 (SDM vol. 2B MOV CR; vol. 3 2.5, 9.8.5 for IA-32e activation).
 * Invalidations (vol. 3 4.10.4.1): clearing PG drops every translation,
 * global ones included.  Setting PG drops the flat ones the soft TLB made
 * while paging was off, and setting WP the write permissions it cached;
 * the processor has nothing to drop there.  With PAE paging in use after
 * it, a change of CD, NW or PG loads the PDPTEs (4.4.1).
 */
static int write_cr0(struct cpu *c, uint64_t v)
{
	/* Bits 63:32 are reserved: #GP(0) (64-bit mode exceptions).  The
	 * reserved bits of 31:0 are ignored and read as 0; ET is fixed at 1. */
	if ((v >> 32) != 0 && c->mode == MODE_LONG64)
		return cpu_raise(c, IDT_GP, true, 0);
	v &= CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW |
	     CR0_CD | CR0_PG;
	if ((v & CR0_PG) && !(v & CR0_PE))
		return cpu_raise(c, IDT_GP, true, 0);
	if ((v & CR0_NW) && !(v & CR0_CD))
		return cpu_raise(c, IDT_GP, true, 0);
	bool pg_on = (v & CR0_PG) && !(c->cr0 & CR0_PG);
	bool pg_off = !(v & CR0_PG) && (c->cr0 & CR0_PG);
	if (pg_on && (c->efer & EFER_LME) && !(c->cr4 & CR4_PAE))
		return cpu_raise(c, IDT_GP, true, 0);
	/* Paging stays on in 64-bit mode and while CR4.PCIDE = 1. */
	if (pg_off && (c->mode == MODE_LONG64 || (c->cr4 & CR4_PCIDE)))
		return cpu_raise(c, IDT_GP, true, 0);
	if (pae_paging(c, v, c->cr4) && ((v ^ c->cr0) & (CR0_CD | CR0_NW | CR0_PG)) &&
	    load_pdptes(c, c->cr3))
		return EXEC_STOP;
	if (pg_on && (c->efer & EFER_LME))
		c->efer |= EFER_LMA;
	if (pg_off)
		c->efer &= ~(uint64_t)EFER_LMA;
	bool flush = ((v ^ c->cr0) & CR0_PG) || ((v & ~c->cr0) & CR0_WP);
	c->cr0 = v | CR0_ET;
	if (flush)
		cpu_tlb_flush_global(c);
	cpu_update_mode(c);
	return 0;
}

/*
 * MOV to CR3.  In IA-32e mode bits 63:MAXPHYADDR are reserved, except that
 * with CR4.PCIDE = 1 bit 63 asks for no invalidation and is not stored
 * (SDM vol. 3 4.5.2, 4.10.4.1).  Outside IA-32e mode CR3 has 32 bits; PAE
 * paging loads the PDPTEs from the new value.
 */
static int write_cr3(struct cpu *c, uint64_t v)
{
	bool noflush = false;
	if (c->efer & EFER_LMA) {
		if (c->cr4 & CR4_PCIDE) {
			noflush = v >> 63;
			v &= ~(1ull << 63);
		}
		if ((v >> c->model->maxphyaddr) != 0)
			return cpu_raise(c, IDT_GP, true, 0);
	} else {
		v &= 0xffffffffull;
		if (pae_paging(c, c->cr0, c->cr4) && load_pdptes(c, v))
			return EXEC_STOP;
	}
	c->cr3 = v;
	cpu_tlb_cr3_loaded(c, noflush);
	return 0;
}

/*
 * MOV to CR4.  #GP(0) for: a bit the model does not have; clearing PAE in
 * IA-32e mode; changing LA57 in IA-32e mode; setting PCIDE outside IA-32e
 * mode or with CR3 bits 11:0 not 0 (SDM vol. 2B MOV CR; vol. 3 4.10.1).
 * Invalidations (vol. 3 4.10.4.1): a change of PGE, or PCIDE going 1 -> 0,
 * drops everything, global entries included; a change of PAE or SMEP
 * going 0 -> 1 every entry of the current PCID (here: everything too).
 * SMAP going 0 -> 1 narrows rights the soft TLB cached: it flushes as
 * well.  With PAE paging in use after it, a change of PAE, PGE, PSE or
 * SMEP loads the PDPTEs (4.4.1).
 */
static int write_cr4(struct cpu *c, uint64_t v)
{
	uint64_t old = c->cr4, chg = v ^ old;
	if (v & ~c->model->cr4_allowed)
		return cpu_raise(c, IDT_GP, true, 0);
	bool ia32e = c->efer & EFER_LMA;
	if (ia32e && (!(v & CR4_PAE) || (chg & CR4_LA57)))
		return cpu_raise(c, IDT_GP, true, 0);
	if ((v & ~old & CR4_PCIDE) && (!ia32e || (c->cr3 & 0xfff)))
		return cpu_raise(c, IDT_GP, true, 0);
	if (pae_paging(c, c->cr0, v) && (chg & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP)) &&
	    load_pdptes(c, c->cr3))
		return EXEC_STOP;
	c->cr4 = v;
	if ((chg & (CR4_PGE | CR4_PAE)) || (old & ~v & CR4_PCIDE) ||
	    (v & ~old & (CR4_SMEP | CR4_SMAP)))
		cpu_tlb_flush_global(c);
	return 0;
}

/* MOV to CR0/CR2/CR3/CR4/CR8 with their #GP checks.  Returns 0 or
 * EXEC_STOP; the caller ends the block. */
int cpu_write_cr(struct cpu *c, int cr, uint64_t v)
{
	switch (cr) {
	case 0:
		return write_cr0(c, v);
	case 2:
		c->cr2 = v;
		return 0;
	case 3:
		return write_cr3(c, v);
	case 4:
		return write_cr4(c, v);
	case 8:
		/* CR8 bits 63:4 are reserved (SDM vol. 3 10.8.6.1). */
		if (v > 15)
			return cpu_raise(c, IDT_GP, true, 0);
		c->cr8 = v;
		return 0;
	default:
		return cpu_ud(c);
	}
}

/* ---- stack ----------------------------------------------------------------- */

void cpu_set_sp(struct cpu *c, uint64_t sp)
{
	switch (cpu_stack_size(c)) {
	case 2:
		c->gpr[4].w = (uint16_t)sp;
		break;
	case 4:
		c->gpr[4].q = (uint32_t)sp;
		break;
	default:
		c->gpr[4].q = sp;
		break;
	}
}

int cpu_push(struct cpu *c, unsigned size, uint64_t v)
{
	unsigned ss = cpu_stack_size(c);
	uint64_t sp = (c->gpr[4].q - size) & size_mask(ss);
	if (cpu_write(c, SEG_SS, sp, size, v))
		return -1;
	cpu_set_sp(c, sp);
	return 0;
}

int cpu_pop_peek(struct cpu *c, unsigned size, uint64_t off, uint64_t *v)
{
	unsigned ss = cpu_stack_size(c);
	uint64_t sp = (c->gpr[4].q + off) & size_mask(ss);
	return cpu_read(c, SEG_SS, sp, size, v);
}

int cpu_pop(struct cpu *c, unsigned size, uint64_t *v)
{
	if (cpu_pop_peek(c, size, 0, v))
		return -1;
	cpu_set_sp(c, c->gpr[4].q + size);
	return 0;
}

/* ---- reset ------------------------------------------------------------------- */

/* Power-on state (SDM vol. 3 table 9-1), CS:IP = F000:FFF0. */
void cpu_reset(struct cpu *c)
{
	memset(c->gpr, 0, sizeof(c->gpr));
	c->rflags = 0x2;
	c->lf.kind = LF_NONE;
	c->rip = 0xfff0;
	for (int i = 0; i < 6; i++) {
		c->seg[i].sel = 0;
		c->seg[i].d.base = 0;
		c->seg[i].d.limit = 0xffff;
		c->seg[i].d.access = 0x93;
	}
	c->seg[SEG_CS].sel = 0xf000;
	c->seg[SEG_CS].d.base = 0xffff0000ull;
	c->seg[SEG_CS].d.access = 0x9b;
	c->ldtr.sel = 0;
	c->ldtr.d = (struct seg_desc){0, 0xffff, 0x82};
	c->tr.sel = 0;
	c->tr.d = (struct seg_desc){0, 0xffff, 0x8b};
	c->gdtr = (struct dtr){0, 0xffff};
	c->idtr = (struct dtr){0, 0xffff};
	c->cr0 = 0x60000010;
	c->cr2 = c->cr3 = c->cr4 = c->cr8 = 0;
	c->efer = 0;
	memset(c->dr, 0, sizeof(c->dr));
	c->dr[6] = 0xffff0ff0;
	c->dr[7] = 0x400;
	dbg_update(c);
	c->xcr0 = 1;
	c->msr_pat = 0x0007040600070406ull;
	c->icount = 0;
	c->events = 0;
	c->partial_steps = 0;
	c->exc_pending = false;
	c->stop = STOP_NONE;
	c->cpl = 0;
	c->mode = MODE_REAL16;
	cpu_update_mode(c);
	cpu_flush_tlb(c);
}
