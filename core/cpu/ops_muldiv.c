/*
 * MUL, IMUL (one, two and three operands), DIV and IDIV (SDM vol. 2).
 * #DE for a zero divisor and for a quotient that does not fit.  The flags
 * the SDM leaves undefined (SF ZF AF PF after multiplies, all six after
 * divides) follow the vendor profile; docs/undefined-behaviour.md gives
 * each rule and where it was measured.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

static int operand(struct cpu *c, const struct insn *i, uint64_t *v)
{
	return cpu_read_rm(c, i, i->r1, i->osz, v);
}

/*
 * Flags after any multiply: CF = OF = the product did not fit (SDM MUL,
 * IMUL).  SF, ZF, AF, PF are undefined: Intel (measured) gives SF = the
 * sign of the low half (rAX, AL for bytes, the destination for IMUL r), PF
 * its parity, ZF = AF = 0, whatever the product; AMD leaves the four as
 * they were (docs/undefined-behaviour.md).
 */
static void mul_flags(struct cpu *c, uint64_t low, unsigned sz, bool over)
{
	uint64_t f = cpu_profile_amd(c) ? cpu_get_rflags(c) & (RF_SF | RF_ZF | RF_AF | RF_PF)
	                                : flags_szp(low, sz) & ~(uint64_t)RF_ZF;
	flags_set_arith(c, f | (over ? RF_CF | RF_OF : 0));
}

/* One-operand MUL/IMUL: rDX:rAX = rAX * src (AX = AL * src for bytes). */
static int op_mul1(struct cpu *c, const struct insn *i)
{
	uint64_t b;
	if (operand(c, i, &b))
		return EXEC_STOP;
	unsigned sz = i->osz;
	bool sgn = i->sub;
	uint64_t a = reg_read(c, 0, sz), lo, hi;
	if (sz == 8) {
		if (sgn) {
			__int128 p = (__int128)(int64_t)a * (int64_t)b;
			lo = (uint64_t)p;
			hi = (uint64_t)(p >> 64);
		} else {
			unsigned __int128 p = (unsigned __int128)a * b;
			lo = (uint64_t)p;
			hi = (uint64_t)(p >> 64);
		}
	} else {
		uint64_t p = sgn ? (uint64_t)(sext(a, sz) * sext(b, sz)) : a * b;
		lo = p & size_mask(sz);
		hi = (p >> (sz * 8)) & size_mask(sz);
	}
	bool over = sgn ? hi != ((lo & sign_bit(sz)) ? size_mask(sz) : 0) : hi != 0;
	if (sz == 1) {
		c->gpr[0].w = (uint16_t)(lo | (hi << 8));
	} else {
		reg_write(c, 0, sz, lo);
		reg_write(c, 2, sz, hi);
	}
	mul_flags(c, lo, sz, over);
	return EXEC_NEXT;
}

/* IMUL r, r/m [, imm]: truncated signed product; CF = OF = it did not fit.
 * One handler per operand size (there is no byte form), so the product
 * and its overflow are one host multiply (paging64 spends a tenth of its
 * host instructions here). */
#define IMUL_N(N, T)                                                                               \
	static int op_imul_##N(struct cpu *c, const struct insn *i)                                \
	{                                                                                          \
		uint64_t b;                                                                        \
		if (cpu_read_rm(c, i, i->r2, N, &b))                                               \
			return EXEC_STOP;                                                          \
		uint64_t a = i->sub == 3 ? i->imm : reg_read(c, i->r1, N);                         \
		T r;                                                                               \
		bool over = __builtin_mul_overflow((T)a, (T)b, &r);                                \
		uint64_t low = (uint64_t)r & size_mask(N);                                         \
		reg_write(c, i->r1, N, low);                                                       \
		mul_flags(c, low, N, over);                                                        \
		return EXEC_NEXT;                                                                  \
	}
IMUL_N(2, int16_t)
IMUL_N(4, int32_t)
IMUL_N(8, int64_t)

/* DIV/IDIV leave all six arithmetic flags undefined; the Intel profile
 * (measured) leaves them unchanged, and so does the AMD one until measured. */
static int op_div(struct cpu *c, const struct insn *i)
{
	uint64_t d;
	if (operand(c, i, &d))
		return EXEC_STOP;
	unsigned sz = i->osz;
	if (d == 0)
		return cpu_raise(c, IDT_DE, false, 0);
	bool sgn = i->sub;
	unsigned __int128 n;
	if (sz == 1)
		n = c->gpr[0].w;
	else
		n = ((unsigned __int128)reg_read(c, 2, sz) << (sz * 8)) | reg_read(c, 0, sz);
	uint64_t q, r;
	if (!sgn) {
		unsigned __int128 qq = n / d;
		if (qq > size_mask(sz))
			return cpu_raise(c, IDT_DE, false, 0);
		q = (uint64_t)qq;
		r = (uint64_t)(n % d);
	} else {
		unsigned nb = sz * 16;
		__int128 sn = nb == 128 ? (__int128)n : (__int128)(n << (128 - nb)) >> (128 - nb);
		__int128 sd = sext(d, sz);
		/* The most negative dividend over -1 overflows any quotient size
		 * (and the host's own 128-bit division). */
		__int128 most_negative = (__int128)((unsigned __int128)1 << (nb - 1));
		if (nb < 128)
			most_negative = -((__int128)1 << (nb - 1));
		if (sd == -1 && sn == most_negative)
			return cpu_raise(c, IDT_DE, false, 0);
		__int128 qq = sn / sd, rr = sn % sd;
		__int128 lim = (__int128)1 << (sz * 8 - 1);
		if (qq >= lim || qq < -lim)
			return cpu_raise(c, IDT_DE, false, 0);
		q = (uint64_t)qq & size_mask(sz);
		r = (uint64_t)rr & size_mask(sz);
	}
	if (sz == 1) {
		c->gpr[0].w = (uint16_t)(q | (r << 8));
	} else {
		reg_write(c, 0, sz, q);
		reg_write(c, 2, sz, r);
	}
	return EXEC_NEXT;
}

bool lower_muldiv(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_MUL:
		i->fn = op_mul1;
		return true;
	case ZYDIS_MNEMONIC_IMUL:
		if (l->nops == 1) {
			i->sub = 1;
			i->fn = op_mul1;
		} else {
			i->sub = (uint8_t)l->nops;
			i->imm &= size_mask(l->osz);
			i->fn = l->osz == 2 ? op_imul_2 : l->osz == 8 ? op_imul_8 : op_imul_4;
		}
		return true;
	case ZYDIS_MNEMONIC_DIV:
		i->fn = op_div;
		return true;
	case ZYDIS_MNEMONIC_IDIV:
		i->sub = 1;
		i->fn = op_div;
		return true;
	default:
		return false;
	}
}
