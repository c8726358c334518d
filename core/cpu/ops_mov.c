/*
 * Data movement: MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMOVcc, SETcc, the
 * sign-extension group (CBW..CQO), BSWAP, LAHF/SAHF, SALC, XLAT, NOP and
 * the hint-NOP space (0F 0D, 0F 18-0F 1F).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

#define GEN_MOV(sz)                                                                                \
	static int mov_rr_##sz(struct cpu *c, const struct insn *i)                                \
	{                                                                                          \
		reg_write(c, i->r1, sz, reg_read(c, i->r2, sz));                                   \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int mov_ri_##sz(struct cpu *c, const struct insn *i)                                \
	{                                                                                          \
		reg_write(c, i->r1, sz, i->imm);                                                   \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int mov_rm_##sz(struct cpu *c, const struct insn *i)                                \
	{                                                                                          \
		uint64_t v;                                                                        \
		if (cpu_read(c, i->seg, cpu_ea(c, i), sz, &v))                                     \
			return EXEC_STOP;                                                          \
		reg_write(c, i->r1, sz, v);                                                        \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int mov_mr_##sz(struct cpu *c, const struct insn *i)                                \
	{                                                                                          \
		return cpu_write(c, i->seg, cpu_ea(c, i), sz, reg_read(c, i->r1, sz)) ? EXEC_STOP  \
		                                                                      : EXEC_NEXT; \
	}                                                                                          \
	static int mov_mi_##sz(struct cpu *c, const struct insn *i)                                \
	{                                                                                          \
		return cpu_write(c, i->seg, cpu_ea(c, i), sz, i->imm) ? EXEC_STOP : EXEC_NEXT;     \
	}
GEN_MOV(1)
GEN_MOV(2)
GEN_MOV(4)
GEN_MOV(8)

static const insn_fn mov_table[5][4] = {
    {mov_rr_1, mov_rr_2, mov_rr_4, mov_rr_8}, {mov_ri_1, mov_ri_2, mov_ri_4, mov_ri_8},
    {mov_rm_1, mov_rm_2, mov_rm_4, mov_rm_8}, {mov_mr_1, mov_mr_2, mov_mr_4, mov_mr_8},
    {mov_mi_1, mov_mi_2, mov_mi_4, mov_mi_8},
};

static unsigned slot(unsigned sz)
{
	return sz == 1 ? 0 : sz == 2 ? 1 : sz == 4 ? 2 : 3;
}

/* Source operand of an extending move: size in i->sub. */
static int ext_source(struct cpu *c, const struct insn *i, uint64_t *v)
{
	return cpu_read_rm(c, i, i->r2, i->sub, v);
}

static int op_movzx(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (ext_source(c, i, &v))
		return EXEC_STOP;
	reg_write(c, i->r1, i->osz, v);
	return EXEC_NEXT;
}

static int op_movsx(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (ext_source(c, i, &v))
		return EXEC_STOP;
	reg_write(c, i->r1, i->osz, (uint64_t)sext(v, i->sub));
	return EXEC_NEXT;
}

static int op_lea(struct cpu *c, const struct insn *i)
{
	reg_write(c, i->r1, i->osz, cpu_ea(c, i));
	return EXEC_NEXT;
}

static int op_xchg(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	if (i->flags & INSN_F_MEM) {
		uint64_t m, la;
		if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), sz, &m, &la) ||
		    cpu_rmw_commit(c, la, sz, reg_read(c, i->r1, sz)))
			return EXEC_STOP;
		reg_write(c, i->r1, sz, m);
		return EXEC_NEXT;
	}
	uint64_t a = reg_read(c, i->r1, sz), b = reg_read(c, i->r2, sz);
	reg_write(c, i->r1, sz, b);
	reg_write(c, i->r2, sz, a);
	return EXEC_NEXT;
}

static int op_cmov(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	/* The source is read (and may fault) whether or not the move happens. */
	if (cpu_read_rm(c, i, i->r2, i->osz, &v))
		return EXEC_STOP;
	if (cpu_cond(c, i->sub))
		reg_write(c, i->r1, i->osz, v);
	else if (i->osz == 4)
		reg_write(c, i->r1, 4, reg_read(c, i->r1, 4)); /* 32-bit CMOV always zero-extends */
	return EXEC_NEXT;
}

static int op_setcc(struct cpu *c, const struct insn *i)
{
	uint64_t v = cpu_cond(c, i->sub);
	if (i->flags & INSN_F_MEM)
		return cpu_write(c, i->seg, cpu_ea(c, i), 1, v) ? EXEC_STOP : EXEC_NEXT;
	reg_write(c, i->r1, 1, v);
	return EXEC_NEXT;
}

/* CBW/CWDE/CDQE: sign-extend the lower half of rAX into rAX. */
static int op_cbw(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	reg_write(c, 0, sz, (uint64_t)sext(reg_read(c, 0, sz / 2), sz / 2));
	return EXEC_NEXT;
}

/* CWD/CDQ/CQO: rDX = sign of rAX. */
static int op_cwd(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	reg_write(c, 2, sz, (reg_read(c, 0, sz) & sign_bit(sz)) ? ~0ull : 0);
	return EXEC_NEXT;
}

static int op_bswap(struct cpu *c, const struct insn *i)
{
	if (i->osz == 8)
		reg_write(c, i->r1, 8, __builtin_bswap64(reg_read(c, i->r1, 8)));
	else if (i->osz == 4)
		reg_write(c, i->r1, 4, __builtin_bswap32((uint32_t)reg_read(c, i->r1, 4)));
	else
		reg_write(c, i->r1, 2, 0); /* BSWAP r16 is undefined; Intel and AMD give 0 */
	return EXEC_NEXT;
}

static int op_lahf(struct cpu *c, const struct insn *i)
{
	(void)i;
	((uint8_t *)c->gpr)[1] = (uint8_t)(cpu_get_rflags(c) & 0xd5) | 0x2;
	return EXEC_NEXT;
}

static int op_sahf(struct cpu *c, const struct insn *i)
{
	(void)i;
	uint64_t f = cpu_get_rflags(c);
	f = (f & ~0xd5ull) | (((uint8_t *)c->gpr)[1] & 0xd5);
	cpu_set_rflags(c, f);
	return EXEC_NEXT;
}

/* SALC (D6): AL <- FFH if CF, else 00H; flags unchanged.  Undocumented by
 * Intel's SDM opcode map ("reserved"), but executed by Intel and AMD CPUs
 * outside 64-bit mode; in 64-bit mode D6 is #UD (Zydis refuses it there). */
static int op_salc(struct cpu *c, const struct insn *i)
{
	(void)i;
	c->gpr[0].b[0] = cpu_cf(c) ? 0xff : 0x00;
	return EXEC_NEXT;
}

/* XLAT (SDM XLAT/XLATB): AL <- seg:[rBX + ZeroExtend(AL)], the address
 * taken at the address size (BX, EBX, RBX), so BX + AL wraps at 64 KiB
 * with 16-bit addressing.  DS unless overridden. */
static int op_xlat(struct cpu *c, const struct insn *i)
{
	uint64_t ea = (c->gpr[3].q + c->gpr[0].b[0]) & size_mask(i->asz), v;
	if (cpu_read(c, i->seg, ea, 1, &v))
		return EXEC_STOP;
	c->gpr[0].b[0] = (uint8_t)v;
	return EXEC_NEXT;
}

static int op_nop(struct cpu *c, const struct insn *i)
{
	(void)c;
	(void)i;
	return EXEC_NEXT;
}

/*
 * The hint-NOP space: 0F 1F /0 (NOP r/m), the reserved NOPs 0F 19-0F 1F,
 * and what later extensions put there, which run as NOPs on a CPU without
 * them (SDM vol. 2 appendix A, table A-3, "0F 18-0F 1F"; the MPX pages: "If
 * MPX is not enabled ... NOP"; ENDBR32/ENDBR64 and RDSSP without CET
 * enabled: NOP; CLDEMOTE is a hint).  PREFETCHh (0F 18 /0-3) and PREFETCH/
 * PREFETCHW (0F 0D) are hints too: they never fault.  None of these reads
 * or writes memory, whatever the ModRM byte says (SDM NOP: "The
 * instruction ... does not access memory").  The models advertise none of
 * MPX, CET or CLDEMOTE.
 */
static bool hint_nop(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_NOP:
	case ZYDIS_MNEMONIC_PREFETCH:
	case ZYDIS_MNEMONIC_PREFETCHW:
	case ZYDIS_MNEMONIC_PREFETCHWT1:
	case ZYDIS_MNEMONIC_PREFETCHNTA:
	case ZYDIS_MNEMONIC_PREFETCHT0:
	case ZYDIS_MNEMONIC_PREFETCHT1:
	case ZYDIS_MNEMONIC_PREFETCHT2:
	case ZYDIS_MNEMONIC_CLDEMOTE:
	case ZYDIS_MNEMONIC_BNDCL:
	case ZYDIS_MNEMONIC_BNDCN:
	case ZYDIS_MNEMONIC_BNDCU:
	case ZYDIS_MNEMONIC_BNDLDX:
	case ZYDIS_MNEMONIC_BNDMK:
	case ZYDIS_MNEMONIC_BNDMOV:
	case ZYDIS_MNEMONIC_BNDSTX:
	case ZYDIS_MNEMONIC_ENDBR32:
	case ZYDIS_MNEMONIC_ENDBR64:
	case ZYDIS_MNEMONIC_RDSSPD:
	case ZYDIS_MNEMONIC_RDSSPQ:
		return true;
	default:
		return false;
	}
}

static unsigned cc_of(ZydisMnemonic m, ZydisMnemonic first)
{
	return (unsigned)(m - first);
}

bool lower_mov(struct lower *l)
{
	struct insn *i = l->i;
	ZydisMnemonic m = l->zi->mnemonic;
	switch (m) {
	case ZYDIS_MNEMONIC_MOV: {
		int f;
		if (l->k[0] == OPK_REG && l->k[1] == OPK_REG)
			f = 0;
		else if (l->k[0] == OPK_REG && l->k[1] == OPK_IMM)
			f = 1;
		else if (l->k[0] == OPK_REG && l->k[1] == OPK_MEM)
			f = 2;
		else if (l->k[0] == OPK_MEM && l->k[1] == OPK_REG)
			f = 3;
		else if (l->k[0] == OPK_MEM && l->k[1] == OPK_IMM)
			f = 4;
		else
			return false; /* segment and control registers: ops_system.c */
		i->imm &= size_mask(l->osz);
		i->fn = mov_table[f][slot(l->osz)];
		return true;
	}
	case ZYDIS_MNEMONIC_MOVZX:
	case ZYDIS_MNEMONIC_MOVSX:
	case ZYDIS_MNEMONIC_MOVSXD:
		i->sub = (uint8_t)(l->op[1].size / 8);
		if (m == ZYDIS_MNEMONIC_MOVSXD && i->sub > l->osz)
			i->sub = (uint8_t)l->osz;
		i->fn = m == ZYDIS_MNEMONIC_MOVZX ? op_movzx : op_movsx;
		return true;
	case ZYDIS_MNEMONIC_LEA:
		i->fn = op_lea;
		return true;
	case ZYDIS_MNEMONIC_XCHG:
		if (l->k[0] == OPK_MEM)
			i->r1 = lower_gpr(l->op[1].reg.value);
		i->fn = op_xchg;
		return true;
	case ZYDIS_MNEMONIC_CBW:
	case ZYDIS_MNEMONIC_CWDE:
	case ZYDIS_MNEMONIC_CDQE:
		i->fn = op_cbw;
		return true;
	case ZYDIS_MNEMONIC_CWD:
	case ZYDIS_MNEMONIC_CDQ:
	case ZYDIS_MNEMONIC_CQO:
		i->fn = op_cwd;
		return true;
	case ZYDIS_MNEMONIC_BSWAP:
		i->fn = op_bswap;
		return true;
	case ZYDIS_MNEMONIC_LAHF:
		i->fn = op_lahf;
		return true;
	case ZYDIS_MNEMONIC_SAHF:
		i->fn = op_sahf;
		return true;
	case ZYDIS_MNEMONIC_SALC:
		i->fn = op_salc;
		return true;
	case ZYDIS_MNEMONIC_XLAT:
		/* The table is the hidden memory operand: its segment carries
		 * any override (26/2E/36/3E/64/65 D7). */
		for (unsigned n = 0; n < l->zi->operand_count; n++)
			if (l->op[n].type == ZYDIS_OPERAND_TYPE_MEMORY &&
			    lower_sreg(l->op[n].mem.segment) >= 0)
				i->seg = (uint8_t)lower_sreg(l->op[n].mem.segment);
		i->fn = op_xlat;
		return true;
	default:
		break;
	}
	if (hint_nop(m)) {
		/* No memory access: the record must not look like one. */
		i->flags &= (uint8_t)~INSN_F_MEM;
		i->fn = op_nop;
		return true;
	}
	if (m >= ZYDIS_MNEMONIC_CMOVB && m <= ZYDIS_MNEMONIC_CMOVZ) {
		static const uint8_t cc[] = {
		    [ZYDIS_MNEMONIC_CMOVB - ZYDIS_MNEMONIC_CMOVB] = 0x2,
		    [ZYDIS_MNEMONIC_CMOVBE - ZYDIS_MNEMONIC_CMOVB] = 0x6,
		    [ZYDIS_MNEMONIC_CMOVL - ZYDIS_MNEMONIC_CMOVB] = 0xc,
		    [ZYDIS_MNEMONIC_CMOVLE - ZYDIS_MNEMONIC_CMOVB] = 0xe,
		    [ZYDIS_MNEMONIC_CMOVNB - ZYDIS_MNEMONIC_CMOVB] = 0x3,
		    [ZYDIS_MNEMONIC_CMOVNBE - ZYDIS_MNEMONIC_CMOVB] = 0x7,
		    [ZYDIS_MNEMONIC_CMOVNL - ZYDIS_MNEMONIC_CMOVB] = 0xd,
		    [ZYDIS_MNEMONIC_CMOVNLE - ZYDIS_MNEMONIC_CMOVB] = 0xf,
		    [ZYDIS_MNEMONIC_CMOVNO - ZYDIS_MNEMONIC_CMOVB] = 0x1,
		    [ZYDIS_MNEMONIC_CMOVNP - ZYDIS_MNEMONIC_CMOVB] = 0xb,
		    [ZYDIS_MNEMONIC_CMOVNS - ZYDIS_MNEMONIC_CMOVB] = 0x9,
		    [ZYDIS_MNEMONIC_CMOVNZ - ZYDIS_MNEMONIC_CMOVB] = 0x5,
		    [ZYDIS_MNEMONIC_CMOVO - ZYDIS_MNEMONIC_CMOVB] = 0x0,
		    [ZYDIS_MNEMONIC_CMOVP - ZYDIS_MNEMONIC_CMOVB] = 0xa,
		    [ZYDIS_MNEMONIC_CMOVS - ZYDIS_MNEMONIC_CMOVB] = 0x8,
		    [ZYDIS_MNEMONIC_CMOVZ - ZYDIS_MNEMONIC_CMOVB] = 0x4,
		};
		i->sub = cc[cc_of(m, ZYDIS_MNEMONIC_CMOVB)];
		i->fn = op_cmov;
		return true;
	}
	if (m >= ZYDIS_MNEMONIC_SETB && m <= ZYDIS_MNEMONIC_SETZ) {
		static const uint8_t cc[] = {
		    [ZYDIS_MNEMONIC_SETB - ZYDIS_MNEMONIC_SETB] = 0x2,
		    [ZYDIS_MNEMONIC_SETBE - ZYDIS_MNEMONIC_SETB] = 0x6,
		    [ZYDIS_MNEMONIC_SETL - ZYDIS_MNEMONIC_SETB] = 0xc,
		    [ZYDIS_MNEMONIC_SETLE - ZYDIS_MNEMONIC_SETB] = 0xe,
		    [ZYDIS_MNEMONIC_SETNB - ZYDIS_MNEMONIC_SETB] = 0x3,
		    [ZYDIS_MNEMONIC_SETNBE - ZYDIS_MNEMONIC_SETB] = 0x7,
		    [ZYDIS_MNEMONIC_SETNL - ZYDIS_MNEMONIC_SETB] = 0xd,
		    [ZYDIS_MNEMONIC_SETNLE - ZYDIS_MNEMONIC_SETB] = 0xf,
		    [ZYDIS_MNEMONIC_SETNO - ZYDIS_MNEMONIC_SETB] = 0x1,
		    [ZYDIS_MNEMONIC_SETNP - ZYDIS_MNEMONIC_SETB] = 0xb,
		    [ZYDIS_MNEMONIC_SETNS - ZYDIS_MNEMONIC_SETB] = 0x9,
		    [ZYDIS_MNEMONIC_SETNZ - ZYDIS_MNEMONIC_SETB] = 0x5,
		    [ZYDIS_MNEMONIC_SETO - ZYDIS_MNEMONIC_SETB] = 0x0,
		    [ZYDIS_MNEMONIC_SETP - ZYDIS_MNEMONIC_SETB] = 0xa,
		    [ZYDIS_MNEMONIC_SETS - ZYDIS_MNEMONIC_SETB] = 0x8,
		    [ZYDIS_MNEMONIC_SETZ - ZYDIS_MNEMONIC_SETB] = 0x4,
		};
		unsigned idx = cc_of(m, ZYDIS_MNEMONIC_SETB);
		if (idx >= sizeof(cc) || (m != ZYDIS_MNEMONIC_SETO && cc[idx] == 0))
			return false;
		i->sub = cc[idx];
		i->fn = op_setcc;
		return true;
	}
	return false;
}
