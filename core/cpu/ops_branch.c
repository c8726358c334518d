/*
 * Control transfers: JMP, Jcc, CALL, RET (near and far), LOOP/LOOPcc,
 * JrCXZ, INT n/INT3/INTO, BOUND, IRET.  Near targets are truncated to the operand
 * size outside 64-bit mode (SDM JMP/CALL: "EIP <- tempEIP AND 0000FFFFH"
 * for 16-bit operands).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

int cpu_soft_interrupt(struct cpu *c, unsigned vector, uint64_t next_rip);

static inline uint64_t next_ip(const struct cpu *c, const struct insn *i)
{
	return c->rip + i->len;
}

static inline int jump_to(struct cpu *c, const struct insn *i, uint64_t target)
{
	if (i->osz != 8)
		target &= size_mask(i->osz);
	c->rip = target;
	return EXEC_JUMP;
}

static int op_jmp_rel(struct cpu *c, const struct insn *i)
{
	return jump_to(c, i, next_ip(c, i) + i->imm);
}

static int op_jcc(struct cpu *c, const struct insn *i)
{
	if (cpu_cond(c, i->sub))
		return jump_to(c, i, next_ip(c, i) + i->imm);
	c->rip = next_ip(c, i);
	return EXEC_JUMP;
}

static int indirect_target(struct cpu *c, const struct insn *i, uint64_t *t)
{
	return cpu_read_rm(c, i, i->r1, i->osz, t);
}

static int op_jmp_ind(struct cpu *c, const struct insn *i)
{
	uint64_t t;
	if (indirect_target(c, i, &t))
		return EXEC_STOP;
	return jump_to(c, i, t);
}

static int op_call_rel(struct cpu *c, const struct insn *i)
{
	uint64_t ret = next_ip(c, i);
	if (cpu_push(c, i->osz, ret))
		return EXEC_STOP;
	return jump_to(c, i, ret + i->imm);
}

static int op_call_ind(struct cpu *c, const struct insn *i)
{
	uint64_t t;
	if (indirect_target(c, i, &t) || cpu_push(c, i->osz, next_ip(c, i)))
		return EXEC_STOP;
	return jump_to(c, i, t);
}

static int op_ret(struct cpu *c, const struct insn *i)
{
	uint64_t t;
	if (cpu_pop_peek(c, i->osz, 0, &t))
		return EXEC_STOP;
	cpu_set_sp(c, c->gpr[4].q + i->osz + (i->imm & 0xffff));
	return jump_to(c, i, t);
}

/* LOOP/LOOPE/LOOPNE/JCXZ: the counter is CX, ECX or RCX by address size. */
static int op_loop(struct cpu *c, const struct insn *i)
{
	unsigned as = i->asz;
	uint64_t cnt = (reg_read(c, 1, as) - 1) & size_mask(as);
	bool take = cnt != 0;
	if (i->sub == 1)
		take = take && cpu_zf(c);
	else if (i->sub == 2)
		take = take && !cpu_zf(c);
	reg_write(c, 1, as, cnt);
	if (take)
		return jump_to(c, i, next_ip(c, i) + i->imm);
	c->rip = next_ip(c, i);
	return EXEC_JUMP;
}

static int op_jrcxz(struct cpu *c, const struct insn *i)
{
	if (reg_read(c, 1, i->asz) == 0)
		return jump_to(c, i, next_ip(c, i) + i->imm);
	c->rip = next_ip(c, i);
	return EXEC_JUMP;
}

static int op_jmp_far(struct cpu *c, const struct insn *i)
{
	return cpu_far_jump(c, i->imm2, i->imm, i->osz);
}

/* JMP m16:16/32/64 */
static int op_jmp_far_m(struct cpu *c, const struct insn *i)
{
	uint64_t off, sel, ea = cpu_ea(c, i);
	if (cpu_read(c, i->seg, ea, i->osz, &off) ||
	    cpu_read(c, i->seg, (ea + i->osz) & size_mask(i->asz), 2, &sel))
		return EXEC_STOP;
	return cpu_far_jump(c, (uint16_t)sel, off, i->osz);
}

/* Far CALL/RET to the same privilege level (real mode, or a code segment
 * of the current CPL). */
static int far_call(struct cpu *c, const struct insn *i, uint16_t sel, uint64_t off)
{
	uint64_t old_sp = c->gpr[4].q;
	uint16_t old_cs = c->seg[SEG_CS].sel;
	if (cpu_push(c, i->osz, old_cs) || cpu_push(c, i->osz, next_ip(c, i))) {
		c->gpr[4].q = old_sp;
		return EXEC_STOP;
	}
	int r = cpu_far_jump(c, sel, off, i->osz);
	if (r == EXEC_STOP)
		c->gpr[4].q = old_sp;
	return r;
}

static int op_call_far(struct cpu *c, const struct insn *i)
{
	return far_call(c, i, i->imm2, i->imm);
}

static int op_call_far_m(struct cpu *c, const struct insn *i)
{
	uint64_t off, sel, ea = cpu_ea(c, i);
	if (cpu_read(c, i->seg, ea, i->osz, &off) ||
	    cpu_read(c, i->seg, (ea + i->osz) & size_mask(i->asz), 2, &sel))
		return EXEC_STOP;
	return far_call(c, i, (uint16_t)sel, off);
}

static int op_retf(struct cpu *c, const struct insn *i)
{
	uint64_t off, sel, old_sp = c->gpr[4].q;
	if (cpu_pop_peek(c, i->osz, 0, &off) || cpu_pop_peek(c, i->osz, i->osz, &sel))
		return EXEC_STOP;
	if ((c->cr0 & CR0_PE) && !(c->rflags & RF_VM) && (sel & 3) != (unsigned)c->cpl)
		return cpu_raise(c, IDT_GP, true, (uint32_t)sel & ~3u); /* outer ring: not yet */
	cpu_set_sp(c, c->gpr[4].q + 2 * i->osz + (i->imm & 0xffff));
	int r = cpu_far_jump(c, (uint16_t)sel, off, i->osz);
	if (r == EXEC_STOP)
		c->gpr[4].q = old_sp;
	return r;
}

/* IRET in real mode, and to the same privilege level in protected and
 * IA-32e mode (SDM IRET; returns to outer rings, v8086 and NT are later). */
static int op_iret(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t ip, cs, fl, sp = 0, ss = 0, old_sp = c->gpr[4].q;
	bool lm = c->mode == MODE_LONG64;
	if (cpu_pop_peek(c, sz, 0, &ip) || cpu_pop_peek(c, sz, sz, &cs) ||
	    cpu_pop_peek(c, sz, 2 * sz, &fl))
		return EXEC_STOP;
	if (lm && (cpu_pop_peek(c, sz, 3 * sz, &sp) || cpu_pop_peek(c, sz, 4 * sz, &ss)))
		return EXEC_STOP;
	if ((c->cr0 & CR0_PE) && (c->rflags & RF_NT))
		return cpu_raise(c, IDT_GP, true, 0); /* task return: TASK_SWITCH, later */
	if ((c->cr0 & CR0_PE) && (cs & 3) != (unsigned)c->cpl)
		return cpu_raise(c, IDT_GP, true, (uint32_t)cs & ~3u);
	int r = cpu_far_jump(c, (uint16_t)cs, ip, sz);
	if (r == EXEC_STOP) {
		c->gpr[4].q = old_sp;
		return r;
	}
	if (lm) {
		c->gpr[4].q = sp;
		if (cpu_load_seg(c, SEG_SS, (uint16_t)ss))
			return EXEC_STOP;
	} else {
		cpu_set_sp(c, old_sp + 3 * sz);
	}
	uint64_t m = RF_ARITH | RF_TF | RF_DF | RF_NT | RF_AC | RF_ID | RF_IF | RF_RF;
	if (c->cpl == 0)
		m |= RF_IOPL;
	if (sz == 2)
		m &= 0xffff;
	cpu_set_rflags(c, (cpu_get_rflags(c) & ~m) | (fl & m));
	return EXEC_JUMP;
}

static int op_int(struct cpu *c, const struct insn *i)
{
	return cpu_soft_interrupt(c, (unsigned)(i->imm & 0xff), next_ip(c, i));
}

static int op_int3(struct cpu *c, const struct insn *i)
{
	return cpu_soft_interrupt(c, IDT_BP, next_ip(c, i));
}

static int op_into(struct cpu *c, const struct insn *i)
{
	if (!cpu_of(c)) {
		c->rip = next_ip(c, i);
		return EXEC_JUMP;
	}
	return cpu_soft_interrupt(c, IDT_OF, next_ip(c, i));
}

/*
 * BOUND r, m (SDM vol. 2A BOUND): m holds a signed lower and upper bound of
 * the operand size; an index below the one or above the other raises #BR,
 * a fault (RIP stays at the BOUND).  Zydis decodes no register form and
 * nothing in 64-bit mode (62 is EVEX there), which are #UD.
 */
static int op_bound(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t ea = cpu_ea(c, i), lo, hi;
	if (cpu_read(c, i->seg, ea, sz, &lo) ||
	    cpu_read(c, i->seg, (ea + sz) & size_mask(i->asz), sz, &hi))
		return EXEC_STOP;
	int64_t v = sext(reg_read(c, i->r1, sz), sz);
	if (v < sext(lo, sz) || v > sext(hi, sz))
		return cpu_raise(c, IDT_BR, false, 0);
	return EXEC_NEXT;
}

static const struct {
	ZydisMnemonic m;
	uint8_t cc;
} jcc_table[] = {
    {ZYDIS_MNEMONIC_JO, 0x0},   {ZYDIS_MNEMONIC_JNO, 0x1},  {ZYDIS_MNEMONIC_JB, 0x2},
    {ZYDIS_MNEMONIC_JNB, 0x3},  {ZYDIS_MNEMONIC_JZ, 0x4},   {ZYDIS_MNEMONIC_JNZ, 0x5},
    {ZYDIS_MNEMONIC_JBE, 0x6},  {ZYDIS_MNEMONIC_JNBE, 0x7}, {ZYDIS_MNEMONIC_JS, 0x8},
    {ZYDIS_MNEMONIC_JNS, 0x9},  {ZYDIS_MNEMONIC_JP, 0xa},   {ZYDIS_MNEMONIC_JNP, 0xb},
    {ZYDIS_MNEMONIC_JL, 0xc},   {ZYDIS_MNEMONIC_JNL, 0xd},  {ZYDIS_MNEMONIC_JLE, 0xe},
    {ZYDIS_MNEMONIC_JNLE, 0xf},
};

bool lower_branch(struct lower *l)
{
	struct insn *i = l->i;
	ZydisMnemonic m = l->zi->mnemonic;
	l->ends_block = true;
	for (unsigned k = 0; k < sizeof(jcc_table) / sizeof(jcc_table[0]); k++) {
		if (jcc_table[k].m == m) {
			i->sub = jcc_table[k].cc;
			i->fn = op_jcc;
			return true;
		}
	}
	switch (m) {
	case ZYDIS_MNEMONIC_JMP:
		if (l->k[0] == OPK_IMM)
			i->fn = op_jmp_rel;
		else if (l->k[0] == OPK_PTR)
			i->fn = op_jmp_far;
		else if (l->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
			i->fn = op_jmp_far_m;
		else
			i->fn = op_jmp_ind;
		return true;
	case ZYDIS_MNEMONIC_CALL:
		if (l->k[0] == OPK_IMM)
			i->fn = op_call_rel;
		else if (l->k[0] == OPK_PTR)
			i->fn = op_call_far;
		else if (l->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
			i->fn = op_call_far_m;
		else
			i->fn = op_call_ind;
		return true;
	case ZYDIS_MNEMONIC_RET:
		i->fn = l->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR ? op_retf : op_ret;
		return true;
	case ZYDIS_MNEMONIC_LOOP:
	case ZYDIS_MNEMONIC_LOOPE:
	case ZYDIS_MNEMONIC_LOOPNE:
		i->sub = m == ZYDIS_MNEMONIC_LOOP ? 0 : m == ZYDIS_MNEMONIC_LOOPE ? 1 : 2;
		i->fn = op_loop;
		return true;
	case ZYDIS_MNEMONIC_JCXZ:
	case ZYDIS_MNEMONIC_JECXZ:
	case ZYDIS_MNEMONIC_JRCXZ:
		i->fn = op_jrcxz;
		return true;
	case ZYDIS_MNEMONIC_IRET:
	case ZYDIS_MNEMONIC_IRETD:
	case ZYDIS_MNEMONIC_IRETQ:
		i->fn = op_iret;
		return true;
	case ZYDIS_MNEMONIC_INT:
		i->fn = op_int;
		return true;
	case ZYDIS_MNEMONIC_INT3:
		i->fn = op_int3;
		return true;
	case ZYDIS_MNEMONIC_INTO:
		i->fn = op_into;
		return true;
	case ZYDIS_MNEMONIC_BOUND:
		i->fn = op_bound;
		l->ends_block = false;
		return true;
	default:
		l->ends_block = false;
		return false;
	}
}
