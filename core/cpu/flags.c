/*
 * Lazy arithmetic flags (see cpu.h).  Each flag is a function of the last
 * flag-setting operation's kind, size, operands and result, following the
 * definitions in the SDM vol. 2 pages of ADD, ADC, SUB, SBB, INC, DEC and
 * the logical instructions.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/align.h"

/* CF and OF of the lazy operation f read as an operation of kind 'kind':
 * its own, or for LF_ROT the one under the rotates. */
static bool kind_cf(const struct lazy_flags *f, unsigned kind)
{
	switch (kind) {
	case LF_ADD:
		return f->res < f->a;
	case LF_ADC:
		return f->c ? f->res <= f->a : f->res < f->a;
	case LF_SUB:
		return f->a < f->b;
	case LF_SBB:
		return f->c ? f->a <= f->b : f->a < f->b;
	case LF_INC:
	case LF_DEC:
		return f->c;
	case LF_SHL: {
		/* The last bit shifted out; none is left once the count passes the
		 * operand size (8- and 16-bit operands, counts up to 31). */
		unsigned bits = f->size * 8u;
		return f->b <= bits && ((f->a >> (bits - f->b)) & 1);
	}
	case LF_SHR:
		return (f->a >> (f->b - 1)) & 1;
	case LF_SAR:
		return ((uint64_t)(sext(f->a, f->size) >> (f->b - 1)) & 1) != 0;
	default:
		return false;
	}
}

bool lf_cf(const struct cpu *c)
{
	if (c->lf.kind == LF_ROT)
		return c->lf.rot & LF_ROT_CF;
	return kind_cf(&c->lf, c->lf.kind);
}

static bool kind_of(const struct cpu *c, const struct lazy_flags *f, unsigned kind)
{
	uint64_t sb = sign_bit(f->size);
	switch (kind) {
	case LF_ADD:
	case LF_ADC:
		return ((f->a ^ f->res) & (f->b ^ f->res) & sb) != 0;
	case LF_SUB:
	case LF_SBB:
		return ((f->a ^ f->b) & (f->a ^ f->res) & sb) != 0;
	case LF_INC:
		return f->res == sb;
	case LF_DEC:
		return f->res == sb - 1;
	case LF_SHL:
		/* Defined for a count of 1 as MSB(result) XOR CF, which is the top
		 * two bits of the operand XORed.  Undefined for larger counts
		 * (docs/undefined-behaviour.md): Intel (measured) keeps the operand
		 * formula; AMD applies MSB(result) XOR CF to the final result. */
		if (cpu_profile_amd(c))
			return ((f->res & sb) != 0) != kind_cf(f, kind);
		return (((f->a >> (f->size * 8 - 1)) ^ (f->a >> (f->size * 8 - 2))) & 1) != 0;
	case LF_SHR:
		/* Defined for a count of 1 as the operand's MSB, which is bit
		 * size-2 of the result.  Intel (measured) keeps the operand's MSB
		 * for every count; AMD takes the result's bit size-2. */
		if (cpu_profile_amd(c))
			return (f->res >> (f->size * 8 - 2)) & 1;
		return (f->a & sb) != 0;
	default:
		return false; /* SAR: OF = 0 */
	}
}

bool lf_of(const struct cpu *c)
{
	const struct lazy_flags *f = &c->lf;
	if (f->kind != LF_ROT)
		return kind_of(c, f, f->kind);
	if (f->rot & LF_ROT_OFV)
		return f->rot & LF_ROT_OF;
	return kind_of(c, f, f->under);
}

bool lf_af(const struct cpu *c)
{
	const struct lazy_flags *f = &c->lf;
	switch (f->kind == LF_ROT ? f->under : f->kind) {
	case LF_ADD:
	case LF_ADC:
	case LF_SUB:
	case LF_SBB:
	case LF_INC:
	case LF_DEC:
		return ((f->a ^ f->b ^ f->res) & 0x10) != 0;
	case LF_SHL:
	case LF_SHR:
	case LF_SAR:
		/* Undefined after a shift: Intel (measured) clears it, AMD sets it
		 * (docs/undefined-behaviour.md). */
		return cpu_profile_amd(c);
	default:
		return false;
	}
}

bool lf_pf(const struct cpu *c)
{
	return !__builtin_parity((unsigned)(c->lf.res & 0xff));
}

void flags_materialize(struct cpu *c)
{
	if (c->lf.kind == LF_NONE)
		return;
	uint64_t f = flags_szp(c->lf.res, c->lf.size);
	if (lf_cf(c))
		f |= RF_CF;
	if (lf_of(c))
		f |= RF_OF;
	if (lf_af(c))
		f |= RF_AF;
	c->rflags = (c->rflags & ~(uint64_t)RF_ARITH) | f;
	c->lf.kind = LF_NONE;
}

uint64_t cpu_get_rflags(struct cpu *c)
{
	flags_materialize(c);
	return c->rflags;
}

/* Bit 1 is always 1; bits 3, 5, 15 and 22-63 are always 0 (SDM vol. 1 3.4.3). */
void cpu_set_rflags(struct cpu *c, uint64_t v)
{
	uint64_t old = c->rflags;
	c->rflags = (v & 0x3f7fd5ull) | 0x2;
	c->lf.kind = LF_NONE;
	/* EFLAGS.AC turns alignment checking on or off at CPL 3 (align.c). */
	if (unlikely((old ^ c->rflags) & RF_AC))
		align_update(c);
}

bool cpu_cond(const struct cpu *c, unsigned cc)
{
	const struct lazy_flags *f = &c->lf;
	/* After SUB/CMP the unsigned and signed relations read directly. */
	if (f->kind == LF_SUB) {
		int64_t sa = sext(f->a, f->size), sbv = sext(f->b, f->size);
		switch (cc) {
		case 0x2:
			return f->a < f->b;
		case 0x3:
			return f->a >= f->b;
		case 0x4:
			return f->res == 0;
		case 0x5:
			return f->res != 0;
		case 0x6:
			return f->a <= f->b;
		case 0x7:
			return f->a > f->b;
		case 0xc:
			return sa < sbv;
		case 0xd:
			return sa >= sbv;
		case 0xe:
			return sa <= sbv;
		case 0xf:
			return sa > sbv;
		default:
			break;
		}
	}
	bool r;
	switch (cc >> 1) {
	case 0:
		r = cpu_of(c);
		break;
	case 1:
		r = cpu_cf(c);
		break;
	case 2:
		r = cpu_zf(c);
		break;
	case 3:
		r = cpu_cf(c) || cpu_zf(c);
		break;
	case 4:
		r = cpu_sf(c);
		break;
	case 5:
		r = cpu_pf(c);
		break;
	case 6:
		r = cpu_sf(c) != cpu_of(c);
		break;
	default:
		r = cpu_zf(c) || (cpu_sf(c) != cpu_of(c));
		break;
	}
	return (cc & 1) ? !r : r;
}
