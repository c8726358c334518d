/*
 * The two-operand arithmetic and logic group (ADD OR ADC SBB AND SUB XOR
 * CMP TEST) and INC, DEC, NEG, NOT: one handler per operation, operand form
 * and size, generated from one body so the flags rules live in one place.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

enum alu_op { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP, A_TEST, A_COUNT };

static inline uint64_t alu(struct cpu *c, enum alu_op op, unsigned sz, uint64_t a, uint64_t b)
{
	uint64_t m = size_mask(sz), r;
	unsigned cin;
	switch (op) {
	case A_ADD:
		r = (a + b) & m;
		lf_set(c, LF_ADD, sz, r, a, b);
		return r;
	case A_ADC:
		cin = cpu_cf(c);
		r = (a + b + cin) & m;
		lf_set(c, LF_ADC, sz, r, a, b);
		c->lf.c = (uint8_t)cin;
		return r;
	case A_SUB:
	case A_CMP:
		r = (a - b) & m;
		lf_set(c, LF_SUB, sz, r, a, b);
		return r;
	case A_SBB:
		cin = cpu_cf(c);
		r = (a - b - cin) & m;
		lf_set(c, LF_SBB, sz, r, a, b);
		c->lf.c = (uint8_t)cin;
		return r;
	case A_AND:
	case A_TEST:
		r = a & b;
		break;
	case A_OR:
		r = a | b;
		break;
	default:
		r = a ^ b;
		break;
	}
	lf_set(c, LF_LOGIC, sz, r, 0, 0);
	return r;
}

#define WB(op) ((op) != A_CMP && (op) != A_TEST)

#define GEN_ALU_SIZE(op, sz)                                                                       \
	static int alu_rr_##op##_##sz(struct cpu *c, const struct insn *i)                         \
	{                                                                                          \
		uint64_t r = alu(c, op, sz, reg_read(c, i->r1, sz), reg_read(c, i->r2, sz));       \
		if (WB(op))                                                                        \
			reg_write(c, i->r1, sz, r);                                                \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int alu_ri_##op##_##sz(struct cpu *c, const struct insn *i)                         \
	{                                                                                          \
		uint64_t r = alu(c, op, sz, reg_read(c, i->r1, sz), i->imm);                       \
		if (WB(op))                                                                        \
			reg_write(c, i->r1, sz, r);                                                \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int alu_rm_##op##_##sz(struct cpu *c, const struct insn *i)                         \
	{                                                                                          \
		uint64_t b;                                                                        \
		if (cpu_read(c, i->seg, cpu_ea(c, i), sz, &b))                                     \
			return EXEC_STOP;                                                          \
		uint64_t r = alu(c, op, sz, reg_read(c, i->r1, sz), b);                            \
		if (WB(op))                                                                        \
			reg_write(c, i->r1, sz, r);                                                \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int alu_m_##op##_##sz(struct cpu *c, const struct insn *i, uint64_t b)              \
	{                                                                                          \
		uint64_t a, la;                                                                    \
		if (!WB(op)) {                                                                     \
			if (cpu_read(c, i->seg, cpu_ea(c, i), sz, &a))                             \
				return EXEC_STOP;                                                  \
			alu(c, op, sz, a, b);                                                      \
			return EXEC_NEXT;                                                          \
		}                                                                                  \
		if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), sz, &a, &la))                           \
			return EXEC_STOP;                                                          \
		struct lazy_flags saved = c->lf;                                                   \
		uint64_t r = alu(c, op, sz, a, b);                                                 \
		if (cpu_rmw_commit(c, la, sz, r)) {                                                \
			c->lf = saved;                                                             \
			return EXEC_STOP;                                                          \
		}                                                                                  \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int alu_mr_##op##_##sz(struct cpu *c, const struct insn *i)                         \
	{                                                                                          \
		return alu_m_##op##_##sz(c, i, reg_read(c, i->r1, sz));                            \
	}                                                                                          \
	static int alu_mi_##op##_##sz(struct cpu *c, const struct insn *i)                         \
	{                                                                                          \
		return alu_m_##op##_##sz(c, i, i->imm);                                            \
	}

#define GEN_ALU(op)                                                                                \
	GEN_ALU_SIZE(op, 1)                                                                        \
	GEN_ALU_SIZE(op, 2)                                                                        \
	GEN_ALU_SIZE(op, 4)                                                                        \
	GEN_ALU_SIZE(op, 8)

GEN_ALU(A_ADD)
GEN_ALU(A_OR)
GEN_ALU(A_ADC)
GEN_ALU(A_SBB)
GEN_ALU(A_AND)
GEN_ALU(A_SUB)
GEN_ALU(A_XOR)
GEN_ALU(A_CMP)
GEN_ALU(A_TEST)

enum form { F_RR, F_RI, F_RM, F_MR, F_MI, F_COUNT };

#define ROW(op)                                                                                    \
	{                                                                                          \
		{alu_rr_##op##_1, alu_rr_##op##_2, alu_rr_##op##_4, alu_rr_##op##_8},              \
		    {alu_ri_##op##_1, alu_ri_##op##_2, alu_ri_##op##_4, alu_ri_##op##_8},          \
		    {alu_rm_##op##_1, alu_rm_##op##_2, alu_rm_##op##_4, alu_rm_##op##_8},          \
		    {alu_mr_##op##_1, alu_mr_##op##_2, alu_mr_##op##_4, alu_mr_##op##_8},          \
		    {alu_mi_##op##_1, alu_mi_##op##_2, alu_mi_##op##_4, alu_mi_##op##_8},          \
	}

static const insn_fn alu_table[A_COUNT][F_COUNT][4] = {
    ROW(A_ADD), ROW(A_OR),  ROW(A_ADC), ROW(A_SBB),  ROW(A_AND),
    ROW(A_SUB), ROW(A_XOR), ROW(A_CMP), ROW(A_TEST),
};

static unsigned size_slot(unsigned sz)
{
	return sz == 1 ? 0 : sz == 2 ? 1 : sz == 4 ? 2 : 3;
}

/* ---- INC DEC NEG NOT -------------------------------------------------------- */

enum un_op { U_INC, U_DEC, U_NEG, U_NOT };

static inline uint64_t unary(struct cpu *c, enum un_op op, unsigned sz, uint64_t a)
{
	uint64_t m = size_mask(sz), r;
	switch (op) {
	case U_INC:
	case U_DEC: {
		uint8_t cf = cpu_cf(c); /* INC and DEC leave CF alone */
		r = (op == U_INC ? a + 1 : a - 1) & m;
		lf_set(c, op == U_INC ? LF_INC : LF_DEC, sz, r, a, 1);
		c->lf.c = cf;
		return r;
	}
	case U_NEG:
		r = (0 - a) & m;
		lf_set(c, LF_SUB, sz, r, 0, a);
		return r;
	default:
		return ~a & m; /* NOT changes no flags */
	}
}

#define GEN_UN(op, sz)                                                                             \
	static int un_r_##op##_##sz(struct cpu *c, const struct insn *i)                           \
	{                                                                                          \
		reg_write(c, i->r1, sz, unary(c, op, sz, reg_read(c, i->r1, sz)));                 \
		return EXEC_NEXT;                                                                  \
	}                                                                                          \
	static int un_m_##op##_##sz(struct cpu *c, const struct insn *i)                           \
	{                                                                                          \
		uint64_t a, la;                                                                    \
		if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), sz, &a, &la))                           \
			return EXEC_STOP;                                                          \
		struct lazy_flags saved = c->lf;                                                   \
		if (cpu_rmw_commit(c, la, sz, unary(c, op, sz, a))) {                              \
			c->lf = saved;                                                             \
			return EXEC_STOP;                                                          \
		}                                                                                  \
		return EXEC_NEXT;                                                                  \
	}
#define GEN_UN_ALL(op) GEN_UN(op, 1) GEN_UN(op, 2) GEN_UN(op, 4) GEN_UN(op, 8)
GEN_UN_ALL(U_INC)
GEN_UN_ALL(U_DEC)
GEN_UN_ALL(U_NEG)
GEN_UN_ALL(U_NOT)

#define UROW(op)                                                                                   \
	{                                                                                          \
		{un_r_##op##_1, un_r_##op##_2, un_r_##op##_4, un_r_##op##_8},                      \
		    {un_m_##op##_1, un_m_##op##_2, un_m_##op##_4, un_m_##op##_8},                  \
	}
static const insn_fn un_table[4][2][4] = {UROW(U_INC), UROW(U_DEC), UROW(U_NEG), UROW(U_NOT)};

bool lower_alu(struct lower *l)
{
	struct insn *i = l->i;
	int op;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_ADD:
		op = A_ADD;
		break;
	case ZYDIS_MNEMONIC_OR:
		op = A_OR;
		break;
	case ZYDIS_MNEMONIC_ADC:
		op = A_ADC;
		break;
	case ZYDIS_MNEMONIC_SBB:
		op = A_SBB;
		break;
	case ZYDIS_MNEMONIC_AND:
		op = A_AND;
		break;
	case ZYDIS_MNEMONIC_SUB:
		op = A_SUB;
		break;
	case ZYDIS_MNEMONIC_XOR:
		op = A_XOR;
		break;
	case ZYDIS_MNEMONIC_CMP:
		op = A_CMP;
		break;
	case ZYDIS_MNEMONIC_TEST:
		op = A_TEST;
		break;
	case ZYDIS_MNEMONIC_INC:
	case ZYDIS_MNEMONIC_DEC:
	case ZYDIS_MNEMONIC_NEG:
	case ZYDIS_MNEMONIC_NOT: {
		int u = l->zi->mnemonic == ZYDIS_MNEMONIC_INC   ? U_INC
		        : l->zi->mnemonic == ZYDIS_MNEMONIC_DEC ? U_DEC
		        : l->zi->mnemonic == ZYDIS_MNEMONIC_NEG ? U_NEG
		                                                : U_NOT;
		i->fn = un_table[u][l->k[0] == OPK_MEM][size_slot(l->osz)];
		return true;
	}
	default:
		return false;
	}
	enum form f;
	if (l->k[0] == OPK_REG && l->k[1] == OPK_REG)
		f = F_RR;
	else if (l->k[0] == OPK_REG && l->k[1] == OPK_IMM)
		f = F_RI;
	else if (l->k[0] == OPK_REG && l->k[1] == OPK_MEM)
		f = F_RM;
	else if (l->k[0] == OPK_MEM && l->k[1] == OPK_REG)
		f = F_MR;
	else if (l->k[0] == OPK_MEM && l->k[1] == OPK_IMM)
		f = F_MI;
	else
		return false;
	i->imm &= size_mask(l->osz);
	i->fn = alu_table[op][f][size_slot(l->osz)];
	return true;
}
