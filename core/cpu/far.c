/*
 * Helpers for far control transfers and event delivery (core/cpu/far.h):
 * descriptors, the inner stack of a privilege change, the outer-ring
 * return's segment nulling, task-switch exits, and undoing a transfer.
 */
#include "core/cpu/far.h"

uint32_t far_desc_limit(uint64_t d)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if ((d >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	return limit;
}

static void desc_to_seg(uint64_t d, struct seg_desc *sd)
{
	sd->base = ((d >> 16) & 0xffffff) | ((d >> 56) << 24);
	sd->limit = far_desc_limit(d);
	sd->access = (uint32_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12));
}

/* SDM vol. 3 3.5.1: the selector's index times 8, plus the descriptor's
 * size less one, must be within the GDT's or the LDT's limit. */
int far_read_desc(struct cpu *c, uint16_t sel, bool wide, int vec, unsigned ext, uint64_t d[2],
                  uint64_t *addr)
{
	bool ldt = sel & 4;
	uint64_t base = ldt ? c->ldtr.d.base : c->gdtr.base;
	uint32_t limit = ldt ? c->ldtr.d.limit : c->gdtr.limit;
	uint32_t err = (sel & ~3u) | ext;
	if (ldt && (c->ldtr.d.access & SEGA_UNUSABLE))
		return cpu_raise(c, vec, true, err);
	if ((uint32_t)(sel & ~7u) + (wide ? 15 : 7) > limit)
		return cpu_raise(c, vec, true, err);
	*addr = base + (sel & ~7u);
	d[1] = 0;
	if (cpu_read_linear(c, *addr, d, wide ? 16 : 8))
		return EXEC_STOP;
	return 0;
}

/* SDM vol. 3 3.4.5.1: the processor sets the accessed bit on a load. */
int far_mark_accessed(struct cpu *c, uint64_t d, uint64_t addr)
{
	if (d & (1ull << 40))
		return 0;
	uint64_t w = d | (1ull << 40);
	return cpu_write_linear(c, addr, &w, 8) ? EXEC_STOP : 0;
}

void far_set_cs(struct cpu *c, uint16_t sel, uint64_t d, unsigned cpl, uint64_t rip)
{
	struct segreg *cs = &c->seg[SEG_CS];
	cs->sel = (uint16_t)((sel & ~3u) | cpl);
	desc_to_seg(d | (1ull << 40), &cs->d);
	c->rip = rip;
	/* The CPL is the new CS's, not yet SS's (loaded next); the TLB keeps
	 * U/S results per CPL class and switches class once if it changes. */
	cpu_update_mode_cpl(c, (int)cpl);
}

int far_tss_stack(struct cpu *c, unsigned dpl, unsigned ist, unsigned ext, uint16_t *ss,
                  uint64_t *sp)
{
	uint64_t base = c->tr.d.base;
	uint32_t limit = c->tr.d.limit, err = (c->tr.sel & ~3u) | ext;
	*ss = 0;
	if (c->efer & EFER_LMA) {
		/* 64-bit TSS: RSP0-2 at 4, IST1-7 at 0x24 (SDM vol. 3 figure 8-11). */
		uint32_t slot = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;
		if (slot + 7 > limit)
			return cpu_raise(c, IDT_TS, true, err);
		return cpu_read_linear(c, base + slot, sp, 8) ? EXEC_STOP : 0;
	}
	if ((c->tr.d.access & 0x8) == 0) {
		/* 16-bit TSS: SP at dpl*4 + 2, SS after it (SDM vol. 3 figure 8-12).
		 * The limit check takes one byte past SS, as the CALL and INT n
		 * pseudocode both say ("TSSstackAddress + 4 > TSS limit"). */
		uint32_t slot = dpl * 4 + 2;
		uint16_t v[2];
		if (slot + 4 > limit)
			return cpu_raise(c, IDT_TS, true, err);
		if (cpu_read_linear(c, base + slot, v, 4))
			return EXEC_STOP;
		*sp = v[0];
		*ss = v[1];
		return 0;
	}
	/* 32-bit TSS: ESP at dpl*8 + 4, SS at dpl*8 + 8 (SDM vol. 3 figure 8-2);
	 * the whole doubleword holding SS must be within the limit (CALL, INT n:
	 * "TSSstackAddress + 7 > TSS limit"). */
	uint32_t slot = dpl * 8 + 4, esp;
	if (slot + 7 > limit)
		return cpu_raise(c, IDT_TS, true, err);
	if (cpu_read_linear(c, base + slot, &esp, 4) || cpu_read_linear(c, base + slot + 4, ss, 2))
		return EXEC_STOP;
	*sp = esp;
	return 0;
}

int far_load_inner_ss(struct cpu *c, uint16_t nss, unsigned dpl, unsigned ext)
{
	struct segreg *ss = &c->seg[SEG_SS];
	if (c->efer & EFER_LMA) {
		/* SDM vol. 3 6.14.4 and CALL: SS is a null selector with RPL = CPL. */
		ss->sel = (uint16_t)dpl;
		ss->d.access = SEGA_UNUSABLE | (dpl << 5);
		c->cpl = (int)dpl;
		cpu_update_mode(c);
		return 0;
	}
	if ((nss & ~3u) == 0)
		return cpu_raise(c, IDT_TS, true, ext);
	uint64_t d[2], addr;
	if (far_read_desc(c, nss, false, IDT_TS, ext, d, &addr))
		return EXEC_STOP;
	uint32_t err = (nss & ~3u) | ext;
	bool writable_data = desc_s(d[0]) && !desc_code(d[0]) && ((d[0] >> 41) & 1);
	if ((nss & 3) != dpl || desc_dpl(d[0]) != dpl || !writable_data)
		return cpu_raise(c, IDT_TS, true, err);
	if (!desc_p(d[0]))
		return cpu_raise(c, IDT_SS, true, err);
	if (far_mark_accessed(c, d[0], addr))
		return EXEC_STOP;
	ss->sel = nss;
	desc_to_seg(d[0] | (1ull << 40), &ss->d);
	c->cpl = (int)dpl;
	cpu_update_mode(c);
	return 0;
}

void far_null_data_segs(struct cpu *c)
{
	static const int segs[] = {SEG_ES, SEG_FS, SEG_GS, SEG_DS};
	for (unsigned k = 0; k < 4; k++) {
		struct segreg *s = &c->seg[segs[k]];
		uint32_t a = s->d.access;
		if (a & SEGA_UNUSABLE)
			continue;
		bool conforming_code = (a & 0x8) && (a & 0x4);
		if (!conforming_code && SEG_DESC_DPL(a) < (unsigned)c->cpl) {
			s->sel = 0;
			s->d.base = 0;
			s->d.limit = 0;
			s->d.access = SEGA_UNUSABLE;
			cpu_seg_bounds(c, s);
		}
	}
}

int far_task_switch_exit(struct cpu *c, uint16_t tsssel, enum task_switch_reason reason,
                         int inst_length)
{
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_TASK_SWITCH, inst_length);
	vme->u.task_switch.tsssel = tsssel;
	vme->u.task_switch.reason = reason;
	vme->u.task_switch.ext = 0;
	vme->u.task_switch.errcode = 0;
	vme->u.task_switch.errcode_valid = 0;
	cpu_paging_info(c, &vme->u.task_switch.paging);
	return EXEC_STOP;
}

void far_snapshot_take(const struct cpu *c, struct far_snapshot *s)
{
	memcpy(s->seg, c->seg, sizeof(s->seg));
	s->rsp = c->gpr[4].q;
	s->rip = c->rip;
	s->rflags = c->rflags;
	s->lf = c->lf;
}

int far_snapshot_restore(struct cpu *c, const struct far_snapshot *s)
{
	memcpy(c->seg, s->seg, sizeof(s->seg));
	c->gpr[4].q = s->rsp;
	c->rip = s->rip;
	c->rflags = s->rflags;
	c->lf = s->lf;
	/* cpu_update_mode switches the TLB's CPL class when the CPL it finds
	 * differs from the one the transfer left. */
	cpu_update_mode(c);
	/*
	 * An exit taken partway (a PAGING exit for the new stack's first
	 * touch, INST_EMUL for a stack in MMIO) belongs to the instruction:
	 * VM exits for EPT violations are fault-like, the guest state is the
	 * one before the instruction (SDM vol. 3 27.1), and bhyve resumes or
	 * decodes at the exit's rip (vm_handle_paging, vm_handle_inst_emul).
	 * Without this the exit kept the target's RIP, and the restart after
	 * PAGING ran the target with the caller's CS, SS and stack.
	 */
	if (c->stop == STOP_EXIT) {
		c->exit->rip = s->rip;
		if (c->exit->exitcode == VM_EXITCODE_INST_EMUL)
			cpu_paging_info(c, &c->exit->u.inst_emul.paging);
	}
	return EXEC_STOP;
}
