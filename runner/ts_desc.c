/*
 * Task switch: register access, descriptors and the GDT/LDT, as bhyverun's
 * task_switch.c reads and writes them (GETREG/SETREG, usd_to_seg_desc,
 * sel_exception, desc_table_limit_check, desc_table_rw,
 * read_tss_descriptor).
 */
#include "runner/ts_internal.h"

uint64_t ts_getreg(struct ts_ctx *c, int reg)
{
	uint64_t v = 0;
	int e = vm_get_register(c->vm, c->vcpu, reg, &v);
	if (e != 0 && c->err == 0)
		c->err = e;
	return v;
}

void ts_setreg(struct ts_ctx *c, int reg, uint64_t val)
{
	int e = vm_set_register(c->vm, c->vcpu, reg, val);
	if (e != 0 && c->err == 0)
		c->err = e;
}

struct seg_desc ts_getdesc(struct ts_ctx *c, int reg)
{
	struct seg_desc d = {0, 0, 0};
	int e = vm_get_seg_desc(c->vm, c->vcpu, reg, &d);
	if (e != 0 && c->err == 0)
		c->err = e;
	return d;
}

void ts_setdesc(struct ts_ctx *c, int reg, struct seg_desc d)
{
	int e = vm_set_seg_desc(c->vm, c->vcpu, reg, &d);
	if (e != 0 && c->err == 0)
		c->err = e;
}

unsigned ts_desc_type(uint64_t d)
{
	return (unsigned)(d >> 40) & 0x1f;
}

/*
 * A GDT/LDT descriptor as a segment register's hidden part (SDM vol. 3
 * 3.4.5, figure 3-8; bhyve's usd_to_seg_desc): 32-bit base, limit scaled
 * by G, access = type and S, DPL, P, then AVL, L, D/B and G at 15:12.
 * The accessed bit is taken as the descriptor has it (bhyve writes none).
 */
struct seg_desc ts_desc_to_seg(uint64_t d)
{
	struct seg_desc s;
	s.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	uint32_t limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16));
	if ((d >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	s.limit = limit;
	s.access = (uint32_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12));
	return s;
}

/*
 * A selector error code (SDM vol. 3 6.13): the selector with bits 1:0
 * replaced by IDT = 0 (no selector met in a task switch names the IDT) and
 * EXT; bhyve's sel_exception.
 */
void ts_sel_exception(struct ts_ctx *c, int vector, uint16_t sel, int ext)
{
	uint32_t code = (uint32_t)(sel & ~3u) | (ext ? 1u : 0u);
	vm_inject_fault(c->vm, c->vcpu, vector, 1, (int)code);
}

/* The selector's 8 bytes lie inside the GDT, or inside a usable LDT
 * (bhyve's desc_table_limit_check). */
bool ts_desc_table_limit_ok(struct ts_ctx *c, uint16_t sel)
{
	int reg = TS_SEL_TI(sel) ? VM_REG_GUEST_LDTR : VM_REG_GUEST_GDTR;
	struct seg_desc t = ts_getdesc(c, reg);
	if (reg == VM_REG_GUEST_LDTR &&
	    (SEG_DESC_UNUSABLE(t.access) || !SEG_DESC_PRESENT(t.access)))
		return false;
	return t.limit >= (uint32_t)(sel | 7u);
}

/*
 * Read or write the descriptor 'sel' names, at CPL 0: descriptor-table
 * accesses are implicitly supervisor (SDM vol. 3 4.6).  0, 1 when
 * vm_copy_setup injected a fault, -1 otherwise (bhyve's desc_table_rw).
 */
static int desc_rw(struct ts_ctx *c, uint16_t sel, uint64_t *d, bool read)
{
	int reg = TS_SEL_TI(sel) ? VM_REG_GUEST_LDTR : VM_REG_GUEST_GDTR;
	struct seg_desc t = ts_getdesc(c, reg);
	if (c->err != 0 || t.limit < (uint32_t)(sel | 7u))
		return TS_FAILED;
	struct vm_guest_paging sup = c->ts->paging;
	sup.cpl = 0;
	struct vm_copyinfo iov[2];
	int r = vm_copy_setup(c->vm, c->vcpu, &sup, t.base + (sel & ~7u), sizeof(*d),
	                      read ? VM_PROT_READ : VM_PROT_WRITE, iov, 2);
	if (r != 0)
		return r == 1 ? TS_FAULTED : TS_FAILED;
	if (read)
		vm_copyin(c->vm, c->vcpu, iov, d, sizeof(*d));
	else
		vm_copyout(c->vm, c->vcpu, d, iov, sizeof(*d));
	vm_copy_teardown(c->vm, c->vcpu, iov, 2);
	return TS_OK;
}

int ts_desc_read(struct ts_ctx *c, uint16_t sel, uint64_t *d)
{
	return desc_rw(c, sel, d, true);
}

int ts_desc_write(struct ts_ctx *c, uint16_t sel, uint64_t d)
{
	return desc_rw(c, sel, &d, false);
}

/*
 * A TSS descriptor (bhyve's read_tss_descriptor): outside the GDT's limit
 * it is #TS(sel) for IRET (SDM IRET, TASK-RETURN) and #GP(sel) otherwise
 * (SDM JMP/CALL "TASK-GATE", 6.11.1).
 */
int ts_read_tss_descriptor(struct ts_ctx *c, uint16_t sel, uint64_t *d)
{
	if (TS_SEL_TI(sel) || TS_SEL_IDX(sel) == 0)
		return TS_FAILED; /* the vmm never names one (bhyve asserts) */
	if (!ts_desc_table_limit_ok(c, sel)) {
		ts_sel_exception(c, c->ts->reason == TSR_IRET ? IDT_TS : IDT_GP, sel, c->ts->ext);
		return TS_FAULTED;
	}
	return ts_desc_read(c, sel, d);
}
