/*
 * Far JMP, far CALL and far RET (SDM vol. 2 JMP, CALL, RET "Operation"):
 * code-segment targets, call gates (SDM vol. 3 5.8.3-5.8.6: 16- and 32-bit
 * gates with the parameter copy and the inner stack from the TSS, 64-bit
 * gates in IA-32e mode, 5.8.3.1), task gates and TSS descriptors (which
 * end the run with bhyve's TASK_SWITCH exit, BHYVE-EXITS.md section 6),
 * and the far RET to an outer ring with its stack switch back.
 *
 * Every transfer takes a snapshot first; a fault or an exit partway
 * restores it, so the instruction restarts from the state it began in.
 */
#include "core/cpu/far.h"
#include "core/cpu/lower.h"

/* Stack-address-size mask for the current SS (SDM vol. 1 6.2.3). */
static uint64_t stack_mask(const struct cpu *c)
{
	return size_mask(cpu_stack_size(c));
}

/*
 * The new stack has room for 'need' bytes below sp (CALL "MORE-PRIVILEGE":
 * "IF stack does not have room ... THEN #SS(SS selector)").
 */
static bool stack_room(const struct cpu *c, uint64_t sp, unsigned need)
{
	const struct segreg *ss = &c->seg[SEG_SS];
	uint64_t m = stack_mask(c);
	uint64_t top = (sp - 1) & m, bottom = (sp - need) & m;
	return bottom <= top && bottom >= ss->lo && top <= ss->hi;
}

/* The new RIP fits the code segment just loaded (#GP(0) otherwise). */
static bool target_ok(const struct cpu *c, uint64_t rip)
{
	if (c->mode == MODE_LONG64)
		return far_canonical(c, rip);
	return rip <= c->seg[SEG_CS].d.limit;
}

/* JMP or CALL to a code segment: the code-segment checks are
 * cpu_far_jump's (SDM JMP/CALL "far jump/call to a code segment"). */
static int to_code(struct cpu *c, const struct insn *i, uint16_t sel, uint64_t off, bool call)
{
	if (call &&
	    (cpu_push(c, i->osz, c->seg[SEG_CS].sel) || cpu_push(c, i->osz, c->rip + i->len)))
		return EXEC_STOP;
	return cpu_far_jump(c, sel, off, i->osz);
}

/*
 * Through a call gate (SDM CALL "CALL-GATE", JMP "CALL-GATE"; vol. 3
 * 5.8.4-5.8.6).  g[0..1] is the gate; in IA-32e mode it is a 16-byte
 * 64-bit gate whose upper type field was checked by the caller.
 */
static int via_call_gate(struct cpu *c, const struct insn *i, uint16_t sel, const uint64_t g[2],
                         bool call)
{
	bool lm = (c->efer & EFER_LMA) != 0;
	unsigned cpl = (unsigned)c->cpl, gdpl = desc_dpl(g[0]);
	if (gdpl < cpl || (sel & 3u) > gdpl)
		return cpu_raise(c, IDT_GP, true, sel & ~3u);
	if (!desc_p(g[0]))
		return cpu_raise(c, IDT_NP, true, sel & ~3u);
	uint16_t csel = (uint16_t)(g[0] >> 16);
	bool gate32 = desc_type(g[0]) == DT_CALLGATE32;
	unsigned gsz = lm ? 8 : gate32 ? 4 : 2;
	uint64_t off = g[0] & 0xffff;
	if (gate32 || lm)
		off |= (g[0] >> 32) & 0xffff0000ull;
	if (lm)
		off |= (g[1] & 0xffffffffull) << 32;
	if ((csel & ~3u) == 0)
		return cpu_raise(c, IDT_GP, true, 0);
	uint64_t cd[2], caddr;
	if (far_read_desc(c, csel, false, IDT_GP, 0, cd, &caddr))
		return EXEC_STOP;
	unsigned cdpl = desc_dpl(cd[0]);
	uint32_t cerr = csel & ~3u;
	if (!desc_code(cd[0]) || cdpl > cpl)
		return cpu_raise(c, IDT_GP, true, cerr);
	/* JMP through a gate never changes privilege (SDM JMP "CALL-GATE"). */
	if (!call && !desc_conforming(cd[0]) && cdpl != cpl)
		return cpu_raise(c, IDT_GP, true, cerr);
	/* IA-32e: the target must be a 64-bit code segment (SDM 5.8.3.1). */
	if (lm && (!((cd[0] >> 53) & 1) || ((cd[0] >> 54) & 1)))
		return cpu_raise(c, IDT_GP, true, cerr);
	if (!desc_p(cd[0]))
		return cpu_raise(c, IDT_NP, true, cerr);
	if (far_mark_accessed(c, cd[0], caddr))
		return EXEC_STOP;
	uint16_t old_cs = c->seg[SEG_CS].sel, old_ss = c->seg[SEG_SS].sel;
	uint64_t old_sp = c->gpr[4].q, ret = (c->rip + i->len) & size_mask(i->osz);
	if (c->mode == MODE_LONG64)
		ret = c->rip + i->len;

	if (!call || desc_conforming(cd[0]) || cdpl == cpl) {
		/* SAME-PRIVILEGE: CS:EIP pushed at the gate's size. */
		far_set_cs(c, csel, cd[0], cpl, off);
		if (!target_ok(c, off))
			return cpu_raise(c, IDT_GP, true, 0);
		if (call && (cpu_push(c, gsz, old_cs) || cpu_push(c, gsz, ret)))
			return EXEC_STOP;
		return EXEC_JUMP;
	}

	/* MORE-PRIVILEGE: the parameters are read from the caller's stack
	 * before it is left (SDM 5.8.5, figure 5-13); IA-32e gates copy none. */
	unsigned pcount = lm ? 0 : (unsigned)(g[0] >> 32) & 0x1f;
	uint64_t param[32];
	for (unsigned k = 0; k < pcount; k++)
		if (cpu_pop_peek(c, gsz, k * gsz, &param[k]))
			return EXEC_STOP;
	uint16_t nss;
	uint64_t nsp;
	if (far_tss_stack(c, cdpl, 0, 0, &nss, &nsp))
		return EXEC_STOP;
	if (lm && !far_canonical(c, nsp))
		return cpu_raise(c, IDT_SS, true, 0);
	if (far_load_inner_ss(c, nss, cdpl, 0))
		return EXEC_STOP;
	if (!lm && !stack_room(c, nsp, 4 * gsz + pcount * gsz))
		return cpu_raise(c, IDT_SS, true, nss & ~3u);
	far_set_cs(c, csel, cd[0], cdpl, off);
	if (!target_ok(c, off))
		return cpu_raise(c, IDT_GP, true, 0);
	c->gpr[4].q = lm ? nsp : (uint32_t)nsp;
	if (cpu_push(c, gsz, old_ss) || cpu_push(c, gsz, old_sp & size_mask(gsz)))
		return EXEC_STOP;
	for (unsigned k = pcount; k-- > 0;)
		if (cpu_push(c, gsz, param[k]))
			return EXEC_STOP;
	if (cpu_push(c, gsz, old_cs) || cpu_push(c, gsz, ret))
		return EXEC_STOP;
	return EXEC_JUMP;
}

/*
 * Through a task gate or to a TSS (SDM CALL/JMP "TASK-GATE",
 * "TASK-STATE-SEGMENT"): the checks the processor makes before a VM exit
 * for a task switch (SDM vol. 3 25.4.2, items 1-4), then bhyve's
 * TASK_SWITCH exit with the new TSS selector.
 */
static int via_task(struct cpu *c, const struct insn *i, uint16_t sel, uint64_t d, bool call)
{
	unsigned cpl = (unsigned)c->cpl, dpl = desc_dpl(d), rpl = sel & 3u;
	uint16_t tss = sel;
	if (dpl < cpl || dpl < rpl)
		return cpu_raise(c, IDT_GP, true, sel & ~3u);
	if (desc_type(d) == DT_TASKGATE) {
		if (!desc_p(d))
			return cpu_raise(c, IDT_NP, true, sel & ~3u);
		tss = (uint16_t)(d >> 16);
		if (tss & 4)
			return cpu_raise(c, IDT_GP, true, tss & ~3u);
		uint64_t td[2], taddr;
		if (far_read_desc(c, tss, false, IDT_GP, 0, td, &taddr))
			return EXEC_STOP;
		d = td[0];
	}
	unsigned type = desc_type(d);
	if (desc_s(d) || (type != DT_TSS32_AVAIL && type != DT_TSS16_AVAIL))
		return cpu_raise(c, IDT_GP, true, tss & ~3u);
	if (!desc_p(d))
		return cpu_raise(c, IDT_NP, true, tss & ~3u);
	/* A TSS smaller than its format is invalid (SDM vol. 3 7.2.2). */
	if (far_desc_limit(d) < (type == DT_TSS32_AVAIL ? 0x67u : 0x2bu))
		return cpu_raise(c, IDT_TS, true, tss & ~3u);
	return far_task_switch_exit(c, tss, call ? TSR_CALL : TSR_JMP, i->len);
}

static int far_transfer(struct cpu *c, const struct insn *i, uint16_t sel, uint64_t off, bool call)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & RF_VM) || (sel & ~3u) == 0)
		return to_code(c, i, sel, off, call); /* real mode, v8086, #GP(0) */
	uint64_t d[2], addr;
	if (far_read_desc(c, sel, false, IDT_GP, 0, d, &addr))
		return EXEC_STOP;
	if (desc_s(d[0]))
		return to_code(c, i, sel, off, call); /* #GP(sel) for data */
	unsigned type = desc_type(d[0]);
	if (c->efer & EFER_LMA) {
		/* Only 64-bit call gates, whose upper half's type is 0 (SDM
		 * 5.8.3.1; TSS and task gates #GP in IA-32e mode, 7.7). */
		if (type != DT_CALLGATE32)
			return cpu_raise(c, IDT_GP, true, sel & ~3u);
		if (far_read_desc(c, sel, true, IDT_GP, 0, d, &addr))
			return EXEC_STOP;
		if ((d[1] >> 40) & 0x1f)
			return cpu_raise(c, IDT_GP, true, sel & ~3u);
		return via_call_gate(c, i, sel, d, call);
	}
	switch (type) {
	case DT_CALLGATE16:
	case DT_CALLGATE32:
		return via_call_gate(c, i, sel, d, call);
	case DT_TASKGATE:
	case DT_TSS16_AVAIL:
	case DT_TSS16_BUSY:
	case DT_TSS32_AVAIL:
	case DT_TSS32_BUSY:
		return via_task(c, i, sel, d[0], call);
	default:
		return cpu_raise(c, IDT_GP, true, sel & ~3u);
	}
}

static int far_guarded(struct cpu *c, const struct insn *i, uint16_t sel, uint64_t off, bool call)
{
	struct far_snapshot s;
	far_snapshot_take(c, &s);
	int r = far_transfer(c, i, sel, off, call);
	return r == EXEC_STOP ? far_snapshot_restore(c, &s) : EXEC_JUMP;
}

/* ptr16:16/32: the immediate selector and offset. */
static int op_jmp_far(struct cpu *c, const struct insn *i)
{
	return far_guarded(c, i, i->imm2, i->imm, false);
}

static int op_call_far(struct cpu *c, const struct insn *i)
{
	return far_guarded(c, i, i->imm2, i->imm, true);
}

/* m16:16/32/64: offset, then the selector (SDM JMP/CALL). */
static int far_mem(struct cpu *c, const struct insn *i, bool call)
{
	uint64_t off, sel, ea = cpu_ea(c, i);
	if (cpu_read(c, i->seg, ea, i->osz, &off) ||
	    cpu_read(c, i->seg, (ea + i->osz) & size_mask(i->asz), 2, &sel))
		return EXEC_STOP;
	return far_guarded(c, i, (uint16_t)sel, off, call);
}

static int op_jmp_far_m(struct cpu *c, const struct insn *i)
{
	return far_mem(c, i, false);
}

static int op_call_far_m(struct cpu *c, const struct insn *i)
{
	return far_mem(c, i, true);
}

/*
 * RET far (SDM RET "Operation", protected-mode and IA-32e returns): the
 * return CS's checks, then for a return to an outer ring SS:ESP popped
 * after imm16 bytes of parameters, SS checked at the new CPL (cpu_load_seg
 * makes MOV SS's checks, which are RET's), imm16 added again on the outer
 * stack, and the data segments the outer ring may not use nulled.
 */
static int retf(struct cpu *c, const struct insn *i)
{
	unsigned osz = i->osz, imm = (unsigned)(i->imm & 0xffff);
	uint64_t off, sel;
	if (cpu_pop_peek(c, osz, 0, &off) || cpu_pop_peek(c, osz, osz, &sel))
		return EXEC_STOP;
	sel &= 0xffff;
	if (!(c->cr0 & CR0_PE) || (c->rflags & RF_VM)) {
		cpu_set_sp(c, c->gpr[4].q + 2 * osz + imm);
		return cpu_far_jump(c, (uint16_t)sel, off, osz);
	}
	unsigned cpl = (unsigned)c->cpl, rpl = sel & 3u;
	uint32_t err = (uint32_t)sel & ~3u;
	if ((sel & ~3u) == 0)
		return cpu_raise(c, IDT_GP, true, 0);
	uint64_t d[2], addr;
	if (far_read_desc(c, (uint16_t)sel, false, IDT_GP, 0, d, &addr))
		return EXEC_STOP;
	unsigned dpl = desc_dpl(d[0]);
	if (!desc_code(d[0]) || rpl < cpl)
		return cpu_raise(c, IDT_GP, true, err);
	if (desc_conforming(d[0]) ? dpl > rpl : dpl != rpl)
		return cpu_raise(c, IDT_GP, true, err);
	if ((c->efer & EFER_LMA) && ((d[0] >> 53) & 1) && ((d[0] >> 54) & 1))
		return cpu_raise(c, IDT_GP, true, err);
	if (!desc_p(d[0]))
		return cpu_raise(c, IDT_NP, true, err);
	uint64_t nsp = 0, nss = 0;
	if (rpl > cpl && (cpu_pop_peek(c, osz, 2 * osz + imm, &nsp) ||
	                  cpu_pop_peek(c, osz, 3 * osz + imm, &nss)))
		return EXEC_STOP;
	if (far_mark_accessed(c, d[0], addr))
		return EXEC_STOP;
	uint64_t rip = off & size_mask(osz);
	if (rpl == cpl) {
		cpu_set_sp(c, c->gpr[4].q + 2 * osz + imm);
		far_set_cs(c, (uint16_t)sel, d[0], cpl, rip);
		return target_ok(c, rip) ? EXEC_JUMP : cpu_raise(c, IDT_GP, true, 0);
	}
	far_set_cs(c, (uint16_t)sel, d[0], rpl, rip);
	if (cpu_load_seg(c, SEG_SS, (uint16_t)nss))
		return EXEC_STOP;
	if (!target_ok(c, rip))
		return cpu_raise(c, IDT_GP, true, 0);
	if (osz == 2)
		c->gpr[4].w = (uint16_t)nsp;
	else
		c->gpr[4].q = nsp & size_mask(osz);
	cpu_set_sp(c, c->gpr[4].q + imm);
	far_null_data_segs(c);
	return EXEC_JUMP;
}

static int op_retf(struct cpu *c, const struct insn *i)
{
	struct far_snapshot s;
	far_snapshot_take(c, &s);
	int r = retf(c, i);
	return r == EXEC_STOP ? far_snapshot_restore(c, &s) : EXEC_JUMP;
}

int op_iret(struct cpu *c, const struct insn *i); /* ops_iret.c */

bool lower_far(struct lower *l)
{
	struct insn *i = l->i;
	bool far = l->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_JMP:
		if (l->k[0] == OPK_PTR)
			i->fn = op_jmp_far;
		else if (far)
			i->fn = op_jmp_far_m;
		else
			return false;
		break;
	case ZYDIS_MNEMONIC_CALL:
		if (l->k[0] == OPK_PTR)
			i->fn = op_call_far;
		else if (far)
			i->fn = op_call_far_m;
		else
			return false;
		break;
	case ZYDIS_MNEMONIC_RET:
		if (!far)
			return false;
		i->fn = op_retf;
		break;
	case ZYDIS_MNEMONIC_IRET:
	case ZYDIS_MNEMONIC_IRETD:
	case ZYDIS_MNEMONIC_IRETQ:
		i->fn = op_iret;
		break;
	default:
		return false;
	}
	l->ends_block = true;
	return true;
}
