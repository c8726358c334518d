/*
 * IRET, IRETD, IRETQ (SDM vol. 2 IRET "Operation"): real mode, virtual-8086
 * mode (IOPL 3, or the 16-bit IRET of CR4.VME, vme.c), the task return with
 * NT = 1 (bhyve's TASK_SWITCH exit with reason IRET), the protected-mode and
 * IA-32e returns to the same or an outer ring, and the return to
 * virtual-8086 mode from ring 0.
 */
#include "core/cpu/far.h"
#include "core/cpu/vme.h"

int op_iret(struct cpu *c, const struct insn *i);

/* EFLAGS bits IRET loads whatever the privilege (SDM IRET: CF PF AF ZF SF
 * TF DF OF NT, and RF AC ID with a 32- or 64-bit operand). */
#define IRET_ALWAYS (RF_ARITH | RF_TF | RF_DF | RF_NT | RF_RF | RF_AC | RF_ID)

/* The EFLAGS image an IRET leaves, by the rules of the CPL and IOPL it
 * ran at: IF when CPL <= IOPL, IOPL, VIF and VIP only at CPL 0. */
static uint64_t iret_flags(struct cpu *c, uint64_t popped, unsigned sz)
{
	uint64_t cur = cpu_get_rflags(c), m = IRET_ALWAYS;
	unsigned iopl = (unsigned)(cur >> 12) & 3;
	if ((unsigned)c->cpl <= iopl)
		m |= RF_IF;
	if (c->cpl == 0)
		m |= RF_IOPL | RF_VIF | RF_VIP;
	if (sz == 2)
		m &= 0xffff;
	return (cur & ~m) | (popped & m);
}

/* Real mode (SDM IRET "REAL-ADDRESS-MODE"): every flag IRET can load, but
 * VM, VIF and VIP stay. */
static int iret_real(struct cpu *c, unsigned sz, uint64_t ip, uint64_t cs, uint64_t fl)
{
	uint64_t m = IRET_ALWAYS | RF_IF | RF_IOPL;
	if (sz == 2)
		m &= 0xffff;
	cpu_set_sp(c, c->gpr[4].q + 3 * sz);
	cpu_far_jump(c, (uint16_t)cs, ip, sz);
	cpu_set_rflags(c, (cpu_get_rflags(c) & ~m) | (fl & m));
	return EXEC_JUMP;
}

/* Virtual-8086 mode: IOPL 3 returns within the mode; VM, IOPL, VIP and VIF
 * stay (SDM IRET, "RETURN-FROM-VIRTUAL-8086-MODE").  IOPL < 3 is #GP(0),
 * checked before the frame is read, or with CR4.VME the 16-bit IRET that
 * loads VIF (vme_iret). */
static int iret_v86(struct cpu *c, unsigned sz, uint64_t ip, uint64_t cs, uint64_t fl)
{
	if ((c->rflags & RF_IOPL) != RF_IOPL)
		return vme_iret(c, ip, cs, fl);
	uint64_t m = IRET_ALWAYS | RF_IF;
	if (sz == 2)
		m &= 0xffff;
	if (ip & ~0xffffull)
		return cpu_gp0(c);
	cpu_set_sp(c, c->gpr[4].q + 3 * sz);
	cpu_load_seg_real(c, SEG_CS, (uint16_t)cs);
	c->rip = ip;
	cpu_set_rflags(c, (cpu_get_rflags(c) & ~m) | (fl & m));
	return EXEC_JUMP;
}

/*
 * RETURN-TO-VIRTUAL-8086-MODE (CPL 0, popped EFLAGS.VM = 1, 32-bit operand):
 * EIP CS EFLAGS ESP SS ES DS FS GS, nine doublewords; the segments load as
 * in real mode and the CPL becomes 3 (SDM IRET; vol. 3 20.2.1).
 */
static int iret_to_v86(struct cpu *c, uint64_t ip, uint64_t cs, uint64_t fl)
{
	uint64_t v[6];
	for (unsigned k = 0; k < 6; k++)
		if (cpu_pop_peek(c, 4, 12 + 4 * k, &v[k]))
			return EXEC_STOP;
	cpu_set_rflags(c, fl & 0x3f7fd7ull);
	static const int segs[] = {SEG_SS, SEG_ES, SEG_DS, SEG_FS, SEG_GS};
	for (unsigned k = 0; k < 5; k++)
		cpu_load_seg_real(c, segs[k], (uint16_t)v[k + 1]);
	cpu_load_seg_real(c, SEG_CS, (uint16_t)cs);
	c->gpr[4].q = (uint32_t)v[0];
	c->rip = ip & 0xffff;
	cpu_update_mode(c);
	if (ip & ~0xffffull)
		return cpu_gp0(c);
	return EXEC_JUMP;
}

/*
 * TASK-RETURN (NT = 1, outside IA-32e mode): the previous task's TSS is
 * named by the link field at offset 0 of the current TSS.  The checks made
 * before a VM exit for a task switch (SDM vol. 3 25.4.2, items 1h-4: GDT
 * selector within limits, a busy TSS, present, large enough), then bhyve's
 * TASK_SWITCH exit, reason IRET.
 */
static int iret_task(struct cpu *c, const struct insn *i)
{
	uint16_t link;
	if (cpu_read_linear(c, c->tr.d.base, &link, 2))
		return EXEC_STOP;
	if (link & 4)
		return cpu_raise(c, IDT_TS, true, link & ~3u);
	uint64_t d[2], addr;
	if (far_read_desc(c, link, false, IDT_TS, 0, d, &addr))
		return EXEC_STOP;
	unsigned type = desc_type(d[0]);
	if (desc_s(d[0]) || (type != DT_TSS32_BUSY && type != DT_TSS16_BUSY))
		return cpu_raise(c, IDT_TS, true, link & ~3u);
	if (!desc_p(d[0]))
		return cpu_raise(c, IDT_NP, true, link & ~3u);
	if (far_desc_limit(d[0]) < (type == DT_TSS32_BUSY ? 0x67u : 0x2bu))
		return cpu_raise(c, IDT_TS, true, link & ~3u);
	return far_task_switch_exit(c, link, TSR_IRET, i->len);
}

static int iret(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t ip, cs, fl;
	if (vme_iret_faults(c, sz))
		return cpu_gp0(c);
	if (cpu_pop_peek(c, sz, 0, &ip) || cpu_pop_peek(c, sz, sz, &cs) ||
	    cpu_pop_peek(c, sz, 2 * sz, &fl))
		return EXEC_STOP;
	cs &= 0xffff;
	if (!(c->cr0 & CR0_PE))
		return iret_real(c, sz, ip, cs, fl);
	if (c->rflags & RF_VM)
		return iret_v86(c, sz, ip, cs, fl);
	bool lma = (c->efer & EFER_LMA) != 0;
	if (c->rflags & RF_NT)
		return lma ? cpu_gp0(c) : iret_task(c, i);
	if (!lma && (fl & RF_VM) && c->cpl == 0 && sz == 4)
		return iret_to_v86(c, ip, cs, fl);

	/* PROTECTED-MODE-RETURN / IA-32e-MODE-RETURN: the return CS's checks
	 * are RET's. */
	unsigned cpl = (unsigned)c->cpl, rpl = (unsigned)cs & 3;
	uint32_t err = (uint32_t)cs & ~3u;
	if ((cs & ~3u) == 0)
		return cpu_gp0(c);
	uint64_t d[2], addr;
	if (far_read_desc(c, (uint16_t)cs, false, IDT_GP, 0, d, &addr))
		return EXEC_STOP;
	unsigned dpl = desc_dpl(d[0]);
	if (!desc_code(d[0]) || rpl < cpl)
		return cpu_raise(c, IDT_GP, true, err);
	if (lma && ((d[0] >> 53) & 1) && ((d[0] >> 54) & 1))
		return cpu_raise(c, IDT_GP, true, err);
	if (desc_conforming(d[0]) ? dpl > rpl : dpl != rpl)
		return cpu_raise(c, IDT_GP, true, err);
	if (!desc_p(d[0]))
		return cpu_raise(c, IDT_NP, true, err);
	/* 64-bit mode always pops SS:RSP; elsewhere only for an outer ring. */
	bool pop_stack = c->mode == MODE_LONG64 || rpl > cpl;
	uint64_t nsp = 0, nss = 0;
	if (pop_stack && (cpu_pop_peek(c, sz, 3 * sz, &nsp) || cpu_pop_peek(c, sz, 4 * sz, &nss)))
		return EXEC_STOP;
	if (far_mark_accessed(c, d[0], addr))
		return EXEC_STOP;
	uint64_t flags = iret_flags(c, fl, sz);
	uint64_t rip = sz == 8 ? ip : ip & size_mask(sz);
	if (!pop_stack) {
		cpu_set_sp(c, c->gpr[4].q + 3 * sz);
		far_set_cs(c, (uint16_t)cs, d[0], cpl, rip);
	} else {
		far_set_cs(c, (uint16_t)cs, d[0], rpl, rip);
		if (cpu_load_seg(c, SEG_SS, (uint16_t)nss))
			return EXEC_STOP;
		if (sz == 2)
			c->gpr[4].w = (uint16_t)nsp;
		else
			c->gpr[4].q = nsp & size_mask(sz);
	}
	if (!(c->mode == MODE_LONG64 ? far_canonical(c, rip) : rip <= c->seg[SEG_CS].d.limit))
		return cpu_gp0(c);
	cpu_set_rflags(c, flags);
	if (rpl > cpl)
		far_null_data_segs(c);
	return EXEC_JUMP;
}

int op_iret(struct cpu *c, const struct insn *i)
{
	struct far_snapshot s;
	far_snapshot_take(c, &s);
	int r = iret(c, i);
	return r == EXEC_STOP ? far_snapshot_restore(c, &s) : EXEC_JUMP;
}
