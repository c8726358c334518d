/*
 * Near control transfers: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JrCXZ, and
 * INT n/INT3/INTO, BOUND (far JMP/CALL/RET and IRET are in ops_far.c and
 * ops_iret.c).  Near targets are truncated to the operand
 * size outside 64-bit mode (SDM JMP/CALL: "EIP <- tempEIP AND 0000FFFFH"
 * for 16-bit operands).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

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

static int op_int(struct cpu *c, const struct insn *i)
{
	return cpu_int_n(c, (unsigned)(i->imm & 0xff), next_ip(c, i));
}

static int op_int3(struct cpu *c, const struct insn *i)
{
	return cpu_soft_interrupt(c, IDT_BP, next_ip(c, i));
}

static int op_int1(struct cpu *c, const struct insn *i)
{
	return cpu_int1(c, next_ip(c, i));
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
	/* Far JMP, CALL and RET are lower_far's (ops_far.c), asked first; one
	 * it declines must not run as a near transfer. */
	if (l->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR &&
	    (m == ZYDIS_MNEMONIC_JMP || m == ZYDIS_MNEMONIC_CALL || m == ZYDIS_MNEMONIC_RET)) {
		l->ends_block = false;
		return false;
	}
	switch (m) {
	case ZYDIS_MNEMONIC_JMP:
		i->fn = l->k[0] == OPK_IMM ? op_jmp_rel : op_jmp_ind;
		return true;
	case ZYDIS_MNEMONIC_CALL:
		i->fn = l->k[0] == OPK_IMM ? op_call_rel : op_call_ind;
		return true;
	case ZYDIS_MNEMONIC_RET:
		i->fn = op_ret;
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
	case ZYDIS_MNEMONIC_INT:
		i->fn = op_int;
		return true;
	case ZYDIS_MNEMONIC_INT3:
		i->fn = op_int3;
		return true;
	case ZYDIS_MNEMONIC_INTO:
		i->fn = op_into;
		return true;
	case ZYDIS_MNEMONIC_INT1:
		i->fn = op_int1;
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
