/*
 * Shifts and rotates (SHL SHR SAR ROL ROR RCL RCR, SHLD SHRD), flags per
 * the SDM's SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR and SHLD/SHRD pages.  Where the
 * SDM says "undefined" (OF for counts other than 1, AF, CF for SHL/SHR
 * counts past the operand size, SHLD/SHRD counts past a 16-bit operand) the
 * vendor profile decides (docs/undefined-behaviour.md).  Measured on Intel:
 * OF is always the count-1 formula applied to the first one-bit step, AF
 * is 0, and an RCL/RCR whose count is a multiple of 9 (bytes) or 17 (words)
 * changes no flag.  The AMD profile follows box64's description of AMD
 * processors (BOX64_CPUTYPE=1; see docs/undefined-behaviour.md): OF from
 * the final result, AF set by shifts, until AMD hardware is measured here.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

enum sh_op { S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAL, S_SAR };

/*
 * SHL/SAL, SHR, SAR with a nonzero masked count: every arithmetic flag is
 * a function of the operand, the count and the result, so they are left
 * lazy (flags.c).  AF is undefined and reads 0.
 */
static inline uint64_t shift_lazy(struct cpu *c, enum sh_op op, unsigned sz, uint64_t a,
                                  unsigned cnt)
{
	uint64_t m = size_mask(sz), r;
	enum lazy_kind k;
	if (op == S_SHL || op == S_SAL) {
		r = (a << cnt) & m;
		k = LF_SHL;
	} else if (op == S_SHR) {
		r = a >> cnt;
		k = LF_SHR;
	} else {
		r = (uint64_t)(sext(a, sz) >> cnt) & m;
		k = LF_SAR;
	}
	lf_set(c, k, sz, r, a, cnt);
	return r;
}

/*
 * ROL/ROR with a nonzero masked count: CF and OF only; SF, ZF, AF and PF
 * are kept.  Over lazy flags the operation before stays in place for
 * them (LF_ROT), so a rotate costs no materialisation.  keep_of: OF is
 * left as it was (Intel, a count other than 1 in an immediate; see
 * GEN_ROT_REG).  Inline so that each size's handler gets constant widths.
 */
static inline __attribute__((always_inline)) uint64_t
rotate(struct cpu *c, enum sh_op op, unsigned sz, uint64_t a, unsigned cnt, bool keep_of)
{
	unsigned bits = sz * 8, n = cnt & (bits - 1);
	uint64_t m = size_mask(sz), sb = sign_bit(sz), r;
	bool cf, of, amd = cpu_profile_amd(c);
	if (op == S_ROL) {
		r = n ? ((a << n) | (a >> (bits - n))) & m : a;
		cf = r & 1;
		/* AMD: MSB(result) XOR CF on the final result.  Intel: the first
		 * step's MSB(result) XOR CF, the top two bits of a. */
		of = amd ? ((r & sb) != 0) != cf : ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
	} else {
		r = n ? ((a >> n) | (a << (bits - n))) & m : a;
		cf = (r & sb) != 0;
		/* AMD: the final result's top two bits.  Intel: the first step's
		 * top two result bits, LSB and MSB of a. */
		of =
		    amd ? ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1 : ((a >> (bits - 1)) ^ a) & 1;
	}
	keep_of = keep_of && !amd && cnt != 1;
	if (c->lf.kind == LF_NONE) {
		uint64_t set = RF_CF | (keep_of ? 0 : RF_OF);
		c->rflags = (c->rflags & ~set) | (cf ? RF_CF : 0) | (of && !keep_of ? RF_OF : 0);
		return r;
	}
	if (c->lf.kind != LF_ROT) {
		c->lf.under = c->lf.kind;
		c->lf.rot = 0;
		c->lf.kind = LF_ROT;
	}
	uint8_t keep = keep_of ? c->lf.rot & (LF_ROT_OF | LF_ROT_OFV) : 0;
	c->lf.rot =
	    (uint8_t)((cf ? LF_ROT_CF : 0) | (keep_of ? keep : LF_ROT_OFV | (of ? LF_ROT_OF : 0)));
	return r;
}

/* Returns the result and sets the flags; with a masked count of 0 it
 * returns with *unchanged set and changes nothing. */
static uint64_t shift(struct cpu *c, enum sh_op op, unsigned sz, uint64_t a, unsigned cnt,
                      bool keep_of, bool *unchanged)
{
	unsigned bits = sz * 8;
	uint64_t m = size_mask(sz), sb = sign_bit(sz), r;
	cnt &= sz == 8 ? 0x3f : 0x1f;
	*unchanged = false;
	if (cnt == 0) {
		*unchanged = true;
		return a;
	}
	if (op >= S_SHL)
		return shift_lazy(c, op, sz, a, cnt);
	if (op == S_ROL || op == S_ROR)
		return rotate(c, op, sz, a, cnt, keep_of);
	uint64_t f = cpu_get_rflags(c) & RF_ARITH;
	bool of, amd = cpu_profile_amd(c);
	switch (op) {
	case S_RCL:
	case S_RCR: {
		/* Rotate through CF: a (bits+1)-bit rotation. */
		unsigned n = cnt % (bits + 1);
		bool carry = f & RF_CF;
		if (n == 0) {
			/* A count that is a multiple of bits+1: nothing rotates.
			 * Intel changes no flag; AMD sets OF as below, from a. */
			*unchanged = true;
			if (amd) {
				of = op == S_RCL ? ((a & sb) != 0) != carry
				                 : ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
				flags_set_arith(c, (f & ~(uint64_t)RF_OF) | (of ? RF_OF : 0));
			}
			return a;
		}
		/* Intel: OF of the first step (RCL, the top two bits of a; RCR,
		 * MSB(a) XOR the incoming CF). */
		if (op == S_RCL)
			of = ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
		else
			of = ((a & sb) != 0) != carry;
		r = a;
		for (unsigned k = 0; k < n; k++) {
			bool out;
			if (op == S_RCL) {
				out = (r & sb) != 0;
				r = ((r << 1) | carry) & m;
			} else {
				out = r & 1;
				r = (r >> 1) | (carry ? sb : 0);
			}
			carry = out;
		}
		/* AMD: RCL, MSB(result) XOR CF; RCR, the result's top two bits. */
		if (amd)
			of = op == S_RCL ? ((r & sb) != 0) != carry
			                 : ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1;
		f = (f & ~(uint64_t)(RF_CF | RF_OF)) | (carry ? RF_CF : 0) | (of ? RF_OF : 0);
		break;
	}
	default:
		return shift_lazy(c, op, sz, a, cnt);
	}
	flags_set_arith(c, f);
	return r;
}

/* Index of an operand size of 1, 2, 4 or 8 bytes in the handler tables. */
static unsigned size_slot(unsigned osz)
{
	return osz == 1 ? 0 : osz == 2 ? 1 : osz == 4 ? 2 : 3;
}

static unsigned count_of(const struct cpu *c, const struct insn *i)
{
	return (i->flags & INSN_F_CL) ? c->gpr[1].b[0] : i->sub;
}

/* RCL and RCR on a register; the other shifts and rotates have the
 * handlers below. */
static int op_shift_r(struct cpu *c, const struct insn *i)
{
	bool same;
	uint64_t r = shift(c, (enum sh_op)(i->imm2), i->osz, reg_read(c, i->r1, i->osz),
	                   count_of(c, i), false, &same);
	/* A 32-bit destination is written, and zero-extended, even when the
	 * count leaves it unchanged (measured: so does the host). */
	if (!same || i->osz == 4)
		reg_write(c, i->r1, i->osz, r);
	return EXEC_NEXT;
}

/*
 * Shifts and rotates of a register by an immediate or CL, one handler per
 * operation and size: the hot forms in compiled code.  'result' computes
 * the new value from v and the masked count cnt when cnt is not 0; with a
 * count of 0 nothing changes, but a 32-bit destination is still written,
 * and zero-extended (measured: so does the host).
 */
#define GEN_COUNT_REG(fn, sz, result)                                                              \
	static int fn(struct cpu *c, const struct insn *i)                                         \
	{                                                                                          \
		unsigned cnt = count_of(c, i) & ((sz) == 8 ? 0x3f : 0x1f);                         \
		uint64_t v = reg_read(c, i->r1, sz);                                               \
		if (cnt)                                                                           \
			reg_write(c, i->r1, sz, result);                                           \
		else if ((sz) == 4)                                                                \
			reg_write(c, i->r1, 4, v);                                                 \
		return EXEC_NEXT;                                                                  \
	}

/* SHL, SHR, SAR: lazy flags. */
#define GEN_SHIFT_REG(name, op, sz)                                                                \
	GEN_COUNT_REG(shift_reg_##name##_##sz, sz, shift_lazy(c, op, sz, v, cnt))
/* One handler per operand size. */
#define GEN_SIZES(gen, name, op) gen(name, op, 1) gen(name, op, 2) gen(name, op, 4) gen(name, op, 8)
GEN_SIZES(GEN_SHIFT_REG, shl, S_SHL)
GEN_SIZES(GEN_SHIFT_REG, shr, S_SHR)
GEN_SIZES(GEN_SHIFT_REG, sar, S_SAR)

/* ROL and ROR.  Measured on Intel: by an imm8 count other than 1 they
 * leave OF as it was; by CL, OF is the first step's. */
#define GEN_ROT_REG(name, op, sz)                                                                  \
	GEN_COUNT_REG(rot_reg_##name##_##sz, sz, rotate(c, op, sz, v, cnt, !(i->flags & INSN_F_CL)))
GEN_SIZES(GEN_ROT_REG, rol, S_ROL)
GEN_SIZES(GEN_ROT_REG, ror, S_ROR)

static const insn_fn rot_reg_table[2][4] = {
    {rot_reg_rol_1, rot_reg_rol_2, rot_reg_rol_4, rot_reg_rol_8},
    {rot_reg_ror_1, rot_reg_ror_2, rot_reg_ror_4, rot_reg_ror_8},
};

static const insn_fn shift_reg_table[3][4] = {
    {shift_reg_shl_1, shift_reg_shl_2, shift_reg_shl_4, shift_reg_shl_8},
    {shift_reg_shr_1, shift_reg_shr_2, shift_reg_shr_4, shift_reg_shr_8},
    {shift_reg_sar_1, shift_reg_sar_2, shift_reg_sar_4, shift_reg_sar_8},
};

static int op_shift_m(struct cpu *c, const struct insn *i)
{
	uint64_t a, la;
	if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), i->osz, &a, &la))
		return EXEC_STOP;
	struct lazy_flags lf = c->lf;
	uint64_t fl = c->rflags;
	bool same;
	uint64_t r = shift(c, (enum sh_op)(i->imm2), i->osz, a, count_of(c, i), false, &same);
	if (!same && cpu_rmw_commit(c, la, i->osz, r)) {
		c->lf = lf;
		c->rflags = fl;
		return EXEC_STOP;
	}
	return EXEC_NEXT;
}

/* SHLD/SHRD dst, src, count (SDM SHLD/SHRD). */
static int op_shxd(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, bits = sz * 8;
	unsigned cnt = count_of(c, i) & (sz == 8 ? 0x3f : 0x1f);
	uint64_t a,
	    la = 0,
	    src = reg_read(c, i->r2 != INSN_NOREG && !(i->flags & INSN_F_MEM) ? i->r2 : i->r1, sz);
	if (i->flags & INSN_F_MEM) {
		if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), sz, &a, &la))
			return EXEC_STOP;
	} else {
		a = reg_read(c, i->r1, sz);
	}
	if (cnt == 0) {
		/* Nothing shifts, but a 32-bit register is still written and
		 * zero-extended (measured). */
		if (sz == 4 && !(i->flags & INSN_F_MEM))
			reg_write(c, i->r1, 4, a);
		return EXEC_NEXT;
	}
	uint64_t m = size_mask(sz), r;
	bool cf, of;
	bool amd = cpu_profile_amd(c);
	if (sz == 2) {
		/* A 16-bit operand takes counts up to 31, past its size, where
		 * the SDM leaves result and flags undefined.  Both vendors shift
		 * the 48-bit string dest:src:dest; AMD clears CF past 16. */
		uint64_t v = a << 32 | src << 16 | a;
		if (i->imm2) {
			r = (v >> cnt) & m;
			cf = (v >> (cnt - 1)) & 1;
		} else {
			r = (v >> (32 - cnt)) & m;
			cf = (v >> (48 - cnt)) & 1;
		}
		if (amd && cnt > 16)
			cf = false;
	} else if (i->imm2) { /* SHRD */
		r = ((a >> cnt) | (src << (bits - cnt))) & m;
		cf = (a >> (cnt - 1)) & 1;
	} else {
		r = ((a << cnt) | (src >> (bits - cnt))) & m;
		cf = (a >> (bits - cnt)) & 1;
	}
	/* OF: the sign change of the first one-bit step, for every count
	 * (defined for 1, measured on Intel for the rest).  AMD: SHRD, the
	 * result's top two bits; SHLD, CF XOR MSB(result), or CF alone once a
	 * 16-bit count passes 15. */
	if (amd && i->imm2)
		of = ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1;
	else if (amd)
		of = sz == 2 && cnt > 15 ? cf : cf != ((r & sign_bit(sz)) != 0);
	else if (i->imm2)
		of = ((a >> (bits - 1)) ^ src) & 1;
	else
		of = ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
	uint64_t saved_f = c->rflags;
	struct lazy_flags saved_lf = c->lf;
	/* AF: Intel clears it, AMD sets it. */
	flags_set_arith(c,
	                flags_szp(r, sz) | (cf ? RF_CF : 0) | (of ? RF_OF : 0) | (amd ? RF_AF : 0));
	if (i->flags & INSN_F_MEM) {
		if (cpu_rmw_commit(c, la, sz, r)) {
			c->rflags = saved_f;
			c->lf = saved_lf;
			return EXEC_STOP;
		}
	} else {
		reg_write(c, i->r1, sz, r);
	}
	return EXEC_NEXT;
}

bool lower_shift(struct lower *l)
{
	struct insn *i = l->i;
	enum sh_op op;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_ROL:
		op = S_ROL;
		break;
	case ZYDIS_MNEMONIC_ROR:
		op = S_ROR;
		break;
	case ZYDIS_MNEMONIC_RCL:
		op = S_RCL;
		break;
	case ZYDIS_MNEMONIC_RCR:
		op = S_RCR;
		break;
	case ZYDIS_MNEMONIC_SHL:
		op = S_SHL;
		break;
	case ZYDIS_MNEMONIC_SHR:
		op = S_SHR;
		break;
	case ZYDIS_MNEMONIC_SAR:
		op = S_SAR;
		break;
	case ZYDIS_MNEMONIC_SHLD:
	case ZYDIS_MNEMONIC_SHRD: {
		i->imm2 = l->zi->mnemonic == ZYDIS_MNEMONIC_SHRD;
		if (l->k[2] == OPK_IMM)
			i->sub = (uint8_t)l->op[2].imm.value.u;
		else
			i->flags |= INSN_F_CL;
		/* The source is the second operand; the generic lowering put CL
		 * in r2 when the count is in CL. */
		if (l->k[0] == OPK_MEM)
			i->r1 = lower_gpr(l->op[1].reg.value);
		else
			i->r2 = lower_gpr(l->op[1].reg.value);
		i->fn = op_shxd;
		return true;
	}
	default:
		return false;
	}
	i->imm2 = (uint16_t)op;
	/* Count: an immediate (1 for the D0/D1 forms) or CL (INSN_F_CL). */
	if (l->nops < 2)
		i->sub = 1;
	else if (l->k[1] == OPK_IMM)
		i->sub = (uint8_t)l->op[1].imm.value.u;
	else
		i->flags |= INSN_F_CL;
	if (l->k[0] == OPK_MEM) {
		i->fn = op_shift_m;
	} else if (op == S_SHL || op == S_SHR || op == S_SAR) {
		i->fn = shift_reg_table[op == S_SHL ? 0 : op == S_SHR ? 1 : 2][size_slot(l->osz)];
	} else if (op == S_ROL || op == S_ROR) {
		i->fn = rot_reg_table[op == S_ROR][size_slot(l->osz)];
	} else {
		i->fn = op_shift_r;
	}
	return true;
}
