/*
 * Task switch: the new task's LDTR and segment registers, checked and
 * loaded in the order of bhyverun's tss32_restore (LDTR; CS and SS
 * together; DS, ES, FS, GS), each with validate_seg_desc's rules, which
 * are those of SDM vol. 3 7.3 step 13 and table 7-1 (#TS, #NP or #SS with
 * the selector as error code).  The selectors themselves are already in
 * the registers: a fault leaves the new selector with the old hidden part.
 */
#include "runner/ts_internal.h"

static bool code_type(unsigned t)
{
	return (t & 0x18) == 0x18;
}

static bool stack_type(unsigned t) /* writable data */
{
	return (t & 0x1a) == 0x12;
}

static bool data_type(unsigned t) /* data, or readable code */
{
	return (t & 0x18) == 0x10 || (t & 0x1a) == 0x1a;
}

enum seg_kind { SEG_LDT, SEG_CODE, SEG_STACK, SEG_DATA };

static enum seg_kind kind_of(int reg)
{
	switch (reg) {
	case VM_REG_GUEST_LDTR:
		return SEG_LDT;
	case VM_REG_GUEST_CS:
		return SEG_CODE;
	case VM_REG_GUEST_SS:
		return SEG_STACK;
	default:
		return SEG_DATA;
	}
}

static bool type_fits(enum seg_kind k, unsigned t)
{
	switch (k) {
	case SEG_LDT:
		return t == TS_SDT_SYSLDT;
	case SEG_CODE:
		return code_type(t);
	case SEG_STACK:
		return stack_type(t);
	default:
		return data_type(t);
	}
}

/* DPL and RPL rules against the new CPL (CS.RPL), SDM vol. 3 table 7-1. */
static bool privilege_ok(enum seg_kind k, unsigned t, unsigned dpl, unsigned rpl, unsigned cpl)
{
	bool conforming = code_type(t) && (t & 0x4);
	switch (k) {
	case SEG_STACK:
		return rpl == cpl && dpl == cpl;
	case SEG_CODE:
		return conforming ? cpl >= dpl : cpl == dpl;
	case SEG_DATA:
		return conforming || (rpl <= dpl && cpl <= dpl);
	default:
		return true;
	}
}

/* bhyve's validate_seg_desc: 0 with *out, 1 with a fault injected, -1. */
static int validate(struct ts_ctx *c, int reg, uint16_t cs_sel, struct seg_desc *out)
{
	const enum seg_kind k = kind_of(reg);
	const int ext = c->ts->ext;
	uint16_t sel = (uint16_t)ts_getreg(c, reg);
	if (c->err != 0)
		return TS_FAILED;
	/* The LDT's selector must name the GDT; the descriptor must be inside its table. */
	if ((k == SEG_LDT && TS_SEL_TI(sel)) || !ts_desc_table_limit_ok(c, sel)) {
		ts_sel_exception(c, IDT_TS, sel, ext);
		return TS_FAULTED;
	}
	if (TS_SEL_IDX(sel) == 0) {
		if (k == SEG_CODE || k == SEG_STACK) {
			ts_sel_exception(c, IDT_TS, sel, ext);
			return TS_FAULTED;
		}
		*out = (struct seg_desc){0, 0, 0x10000}; /* unusable */
		return TS_OK;
	}
	uint64_t d;
	int r = ts_desc_read(c, sel, &d);
	if (r != TS_OK)
		return r;
	unsigned t = ts_desc_type(d);
	if (!type_fits(k, t)) {
		ts_sel_exception(c, IDT_TS, sel, ext);
		return TS_FAULTED;
	}
	if (!((d >> 47) & 1)) {
		int vec = k == SEG_LDT ? IDT_TS : k == SEG_STACK ? IDT_SS : IDT_NP;
		ts_sel_exception(c, vec, sel, ext);
		return TS_FAULTED;
	}
	unsigned dpl = (unsigned)(d >> 45) & 3, rpl = sel & 3u, cpl = cs_sel & 3u;
	if (!privilege_ok(k, t, dpl, rpl, cpl)) {
		ts_sel_exception(c, IDT_TS, sel, ext);
		return TS_FAULTED;
	}
	*out = ts_desc_to_seg(d);
	return TS_OK;
}

static int load_one(struct ts_ctx *c, int reg, uint16_t cs_sel)
{
	struct seg_desc d;
	int r = validate(c, reg, cs_sel, &d);
	if (r != TS_OK)
		return r;
	ts_setdesc(c, reg, d);
	return c->err != 0 ? TS_FAILED : TS_OK;
}

int ts_load_segments(struct ts_ctx *c, uint16_t cs_sel)
{
	int r = load_one(c, VM_REG_GUEST_LDTR, cs_sel);
	if (r != TS_OK)
		return r;
	/* CS and SS are both checked before either is loaded (bhyve: so that
	 * the vcpu state stays enterable for a fault delivered meanwhile). */
	struct seg_desc cs, ss;
	r = validate(c, VM_REG_GUEST_CS, cs_sel, &cs);
	if (r == TS_OK)
		r = validate(c, VM_REG_GUEST_SS, cs_sel, &ss);
	if (r != TS_OK)
		return r;
	ts_setdesc(c, VM_REG_GUEST_CS, cs);
	ts_setdesc(c, VM_REG_GUEST_SS, ss);
	c->ts->paging.cpl = cs_sel & 3;
	static const int data[] = {VM_REG_GUEST_DS, VM_REG_GUEST_ES, VM_REG_GUEST_FS,
	                           VM_REG_GUEST_GS};
	for (unsigned i = 0; i < 4; i++) {
		r = load_one(c, data[i], cs_sel);
		if (r != TS_OK)
			return r;
	}
	return c->err != 0 ? TS_FAILED : TS_OK;
}
