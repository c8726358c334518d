/*
 * Descriptor-table and selector instructions: LLDT, LTR, SLDT, STR, LAR,
 * LSL, VERR, VERW and ARPL (SDM vol. 2A/2B, each instruction's page; vol. 3
 * 3.5.1, 7.2.4, 8.2.2 for the LDT and TSS descriptors).  All of them are
 * #UD in real-address and virtual-8086 mode.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/desc.h"
#include "core/cpu/lower.h"

static int next(struct cpu *c, const struct insn *i)
{
	c->rip += i->len;
	return EXEC_JUMP;
}

static int gp_sel(struct cpu *c, uint16_t sel)
{
	return cpu_raise(c, IDT_GP, true, sel & ~3u);
}

/* A system descriptor in IA-32e mode is 16 bytes (SDM vol. 3 7.2.3). */
static unsigned sys_desc_bytes(const struct cpu *c)
{
	return (c->efer & EFER_LMA) ? 16 : 8;
}

static uint64_t sys_desc_base(const struct cpu *c, const uint64_t d[2])
{
	uint64_t base = ((d[0] >> 16) & 0xffffff) | ((d[0] >> 56) << 24);
	if (c->efer & EFER_LMA)
		base |= (d[1] & 0xffffffffull) << 32;
	return base;
}

/* Read the GDT entry for a system-segment selector: #GP(selector) for an
 * LDT selector or one past the GDT limit (SDM LLDT, LTR "Operation"). */
static int read_sys_desc(struct cpu *c, uint16_t sel, uint64_t d[2], uint64_t *addr)
{
	unsigned bytes = sys_desc_bytes(c);
	if ((sel & 4) || !desc_in_table(c, sel, bytes, addr))
		return gp_sel(c, sel);
	d[1] = 0;
	return cpu_read_linear(c, *addr, d, bytes) ? EXEC_STOP : 0;
}

/*
 * LLDT r/m16 (SDM vol. 2A LLDT): CPL 0; a null selector makes LDTR
 * unusable; otherwise the GDT entry must be a present LDT descriptor:
 * #GP(selector) for TI = 1, past the GDT limit or another type,
 * #NP(selector) when not present.
 */
static int op_lldt(struct cpu *c, const struct insn *i)
{
	if (cpu_no_descriptors(c))
		return cpu_ud(c);
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t v, d[2], addr;
	if (cpu_read_rm(c, i, i->r1, 2, &v))
		return EXEC_STOP;
	uint16_t sel = (uint16_t)v;
	if ((sel & ~3u) == 0) {
		c->ldtr.sel = sel;
		c->ldtr.d.access = SEGA_UNUSABLE;
		return next(c, i);
	}
	if (read_sys_desc(c, sel, d, &addr))
		return EXEC_STOP;
	uint32_t a = desc_access(d[0]);
	if ((a & SEGA_S) || (a & 0xf) != DESC_LDT)
		return gp_sel(c, sel);
	if (!(a & SEGA_P))
		return cpu_raise(c, IDT_NP, true, sel & ~3u);
	desc_to_seg(d[0], &c->ldtr.d);
	c->ldtr.d.base = sys_desc_base(c, d);
	c->ldtr.sel = sel;
	return next(c, i);
}

/*
 * LTR r/m16 (SDM vol. 2A LTR): CPL 0; #GP(0) for a null selector;
 * #GP(selector) for TI = 1, past the GDT limit, not an available TSS (a
 * 32-bit one, or a 16-bit one outside IA-32e mode; a 64-bit one in IA-32e
 * mode, whose upper 8 bytes must have a zero type field); #NP(selector)
 * when not present.  The descriptor is marked busy in the GDT.
 */
static int op_ltr(struct cpu *c, const struct insn *i)
{
	if (cpu_no_descriptors(c))
		return cpu_ud(c);
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t v, d[2], addr;
	if (cpu_read_rm(c, i, i->r1, 2, &v))
		return EXEC_STOP;
	uint16_t sel = (uint16_t)v;
	if ((sel & ~3u) == 0)
		return cpu_gp0(c);
	if (read_sys_desc(c, sel, d, &addr))
		return EXEC_STOP;
	uint32_t a = desc_access(d[0]);
	bool lm = c->efer & EFER_LMA;
	unsigned type = a & 0xf;
	bool avail = type == DESC_TSS32_AVAIL || (!lm && type == DESC_TSS16_AVAIL);
	if ((a & SEGA_S) || !avail || (lm && ((d[1] >> 40) & 0x1f) != 0))
		return gp_sel(c, sel);
	if (!(a & SEGA_P))
		return cpu_raise(c, IDT_NP, true, sel & ~3u);
	if (desc_set_bit(c, addr, &d[0], 41)) /* busy */
		return EXEC_STOP;
	desc_to_seg(d[0], &c->tr.d);
	c->tr.d.base = sys_desc_base(c, d);
	c->tr.sel = sel;
	return next(c, i);
}

/*
 * SLDT / STR r/m16, r32, r64 (SDM vol. 2B SLDT, STR): the selector; a
 * memory destination is 16 bits, a 32- or 64-bit register gets it
 * zero-extended.  #GP(0) under UMIP at CPL > 0.
 */
static int op_store_sel(struct cpu *c, const struct insn *i)
{
	if (cpu_no_descriptors(c))
		return cpu_ud(c);
	if (cpu_umip_denies(c))
		return cpu_gp0(c);
	uint16_t sel = i->sub ? c->tr.sel : c->ldtr.sel;
	if (i->flags & INSN_F_MEM)
		return cpu_write(c, i->seg, cpu_ea(c, i), 2, sel) ? EXEC_STOP : EXEC_NEXT;
	reg_write(c, i->r1, i->osz, sel);
	return EXEC_NEXT;
}

static void set_zf(struct cpu *c, bool zf)
{
	flags_materialize(c);
	c->rflags = zf ? c->rflags | RF_ZF : c->rflags & ~(uint64_t)RF_ZF;
}

/*
 * The descriptor for LAR/LSL/VERR/VERW, or false (ZF = 0): a null selector
 * or one outside its table (SDM LAR, LSL, VERR "Operation").  *err is set
 * when the read raised a fault.
 */
static bool probe_desc(struct cpu *c, uint16_t sel, uint64_t *d, bool *err)
{
	uint64_t addr;
	*err = false;
	if ((sel & ~3u) == 0 || !desc_in_table(c, sel, 8, &addr))
		return false;
	if (cpu_read_linear(c, addr, d, 8)) {
		*err = true;
		return false;
	}
	return true;
}

/* DPL >= CPL and DPL >= RPL, except for a conforming code segment (SDM
 * LAR, LSL, VERR "Operation"). */
static bool visible(const struct cpu *c, uint32_t a, uint16_t sel)
{
	unsigned dpl = SEG_DESC_DPL(a);
	bool conforming = (a & SEGA_S) && (a & 0xc) == 0xc;
	return conforming || (dpl >= (unsigned)c->cpl && dpl >= (sel & 3u));
}

/* System types LAR (lsl = false) or LSL accepts: SDM LAR table "Segment
 * and Gate Types" and the LSL one, protected and IA-32e columns. */
static bool sys_type_ok(const struct cpu *c, unsigned type, bool lsl)
{
	if (c->efer & EFER_LMA)
		return type == DESC_TSS32_AVAIL || type == DESC_TSS32_BUSY ||
		       (lsl ? type == DESC_LDT : type == DESC_CALLGATE32);
	switch (type) {
	case DESC_TSS16_AVAIL:
	case DESC_LDT:
	case DESC_TSS16_BUSY:
	case DESC_TSS32_AVAIL:
	case DESC_TSS32_BUSY:
		return true;
	case DESC_CALLGATE16:
	case DESC_TASKGATE:
	case DESC_CALLGATE32:
		return !lsl;
	default:
		return false;
	}
}

/*
 * LAR r, r/m16 (sub 0) and LSL r, r/m16 (sub 1).  LAR loads bytes 4-7 of
 * the descriptor masked with 00FFFF00H (FF00H for a 16-bit destination;
 * the SDM leaves bits 19:16 undefined, Intel hardware returns the limit's
 * bits there, as AMD documents); LSL the limit scaled by G.  ZF = 1 then;
 * ZF = 0 and the destination unchanged otherwise.
 */
static int op_lar_lsl(struct cpu *c, const struct insn *i)
{
	if (cpu_no_descriptors(c))
		return cpu_ud(c);
	uint64_t v, d;
	unsigned src = (i->flags & INSN_F_MEM) ? i->r1 : i->r2;
	if (cpu_read_rm(c, i, src, 2, &v))
		return EXEC_STOP;
	uint16_t sel = (uint16_t)v;
	bool err, ok = probe_desc(c, sel, &d, &err);
	if (err)
		return EXEC_STOP;
	uint32_t a = ok ? desc_access(d) : 0;
	if (ok && !(a & SEGA_S))
		ok = sys_type_ok(c, a & 0xf, i->sub);
	if (ok)
		ok = visible(c, a, sel);
	if (ok) {
		uint64_t r;
		if (i->sub) {
			struct seg_desc sd;
			desc_to_seg(d, &sd);
			r = sd.limit;
		} else {
			r = (d >> 32) & (i->osz == 2 ? 0xff00u : 0x00ffff00u);
		}
		reg_write(c, i->r1, i->osz, r);
	}
	set_zf(c, ok);
	return EXEC_NEXT;
}

/*
 * VERR (sub 0) / VERW (sub 1) r/m16 (SDM vol. 2B VERR/VERW): ZF = 1 when
 * the segment is a code or data segment readable (VERR) or a writable data
 * segment (VERW) at CPL and RPL; conforming code skips the privilege check.
 */
static int op_verr_verw(struct cpu *c, const struct insn *i)
{
	if (cpu_no_descriptors(c))
		return cpu_ud(c);
	uint64_t v, d;
	if (cpu_read_rm(c, i, i->r1, 2, &v))
		return EXEC_STOP;
	uint16_t sel = (uint16_t)v;
	bool err, ok = probe_desc(c, sel, &d, &err);
	if (err)
		return EXEC_STOP;
	uint32_t a = ok ? desc_access(d) : 0;
	bool code = a & 0x8, rw = a & 0x2;
	if (ok && !(a & SEGA_S))
		ok = false;
	else if (ok && i->sub)
		ok = !code && rw;
	else if (ok)
		ok = !code || rw;
	if (ok)
		ok = visible(c, a, sel);
	set_zf(c, ok);
	return EXEC_NEXT;
}

/*
 * ARPL r/m16, r16 (SDM vol. 2A ARPL): when the destination's RPL is below
 * the source's, raise it and set ZF; else ZF = 0 and nothing is written.
 * Not encodable in 64-bit mode (63 is MOVSXD there).
 */
static int op_arpl(struct cpu *c, const struct insn *i)
{
	if (cpu_no_descriptors(c))
		return cpu_ud(c);
	bool mem = i->flags & INSN_F_MEM;
	uint64_t dst, la = 0;
	unsigned src = (unsigned)reg_read(c, mem ? i->r1 : i->r2, 2) & 3;
	if (mem) {
		if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), 2, &dst, &la))
			return EXEC_STOP;
	} else {
		dst = reg_read(c, i->r1, 2);
	}
	bool raise = (dst & 3) < src;
	if (raise) {
		dst = (dst & ~3ull) | src;
		if (mem) {
			if (cpu_rmw_commit(c, la, 2, dst))
				return EXEC_STOP;
		} else {
			reg_write(c, i->r1, 2, dst);
		}
	}
	set_zf(c, raise);
	return EXEC_NEXT;
}

bool lower_desc(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_LLDT:
		i->fn = op_lldt;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_LTR:
		i->fn = op_ltr;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_SLDT:
	case ZYDIS_MNEMONIC_STR:
		i->sub = l->zi->mnemonic == ZYDIS_MNEMONIC_STR;
		i->osz = l->k[0] == OPK_MEM ? 2 : (uint8_t)(l->op[0].size / 8);
		i->fn = op_store_sel;
		return true;
	case ZYDIS_MNEMONIC_LAR:
	case ZYDIS_MNEMONIC_LSL:
		i->sub = l->zi->mnemonic == ZYDIS_MNEMONIC_LSL;
		i->osz = (uint8_t)(l->op[0].size / 8);
		i->fn = op_lar_lsl;
		return true;
	case ZYDIS_MNEMONIC_VERR:
	case ZYDIS_MNEMONIC_VERW:
		i->sub = l->zi->mnemonic == ZYDIS_MNEMONIC_VERW;
		i->fn = op_verr_verw;
		return true;
	case ZYDIS_MNEMONIC_ARPL:
		i->fn = op_arpl;
		return true;
	default:
		return false;
	}
}
