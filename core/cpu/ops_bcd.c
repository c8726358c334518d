/*
 * The decimal-arithmetic adjustments: DAA, DAS, AAA, AAS, AAM and AAD, each
 * the SDM vol. 2A pseudo-code of its page.  They exist only outside 64-bit
 * mode, where Zydis does not decode them (opcodes 27, 2F, 37, 3F, D4 and D5
 * are invalid there); the handlers check the mode anyway.
 *
 * Undefined flags follow the vendor profile (docs/undefined-behaviour.md).
 * Measured on Intel over every AX, input CF/AF and (AAM, AAD) several
 * immediates: OF = 0 after DAA, DAS, AAA and AAS; SF, ZF and PF from the
 * final AL after AAA and AAS; CF = OF = AF = 0 after AAM; and after AAD the
 * flags of the 8-bit ADD AL, (AH * imm8) AND FFH that computes the result.
 * The AMD profile differs for AAD only (CF = OF = AF = 0, as box64
 * describes AMD processors); elsewhere it uses the Intel rules until AMD
 * hardware is measured.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

enum bcd_op { B_DAA, B_DAS, B_AAA, B_AAS, B_AAM, B_AAD };

static inline uint8_t al_of(const struct cpu *c)
{
	return c->gpr[0].b[0];
}

/* AF as the instruction finds it (lazy or materialised). */
static inline bool af_in(const struct cpu *c)
{
	return c->lf.kind == LF_NONE ? (c->rflags & RF_AF) != 0 : lf_af(c);
}

/* Replace the arithmetic flags: SF ZF PF from AL, then CF and AF. */
static void bcd_flags(struct cpu *c, uint8_t al, bool cf, bool af)
{
	uint64_t f = flags_szp(al, 1);
	if (cf)
		f |= RF_CF;
	if (af)
		f |= RF_AF;
	flags_set_arith(c, f); /* OF = 0: see the top of the file */
}

/* DAA (SDM vol. 2A, "DAA"). */
static int op_daa(struct cpu *c, const struct insn *i)
{
	(void)i;
	if (c->mode == MODE_LONG64)
		return cpu_ud(c);
	uint8_t al = al_of(c), old_al = al;
	bool old_cf = cpu_cf(c), af = af_in(c), cf = false;
	if ((al & 0x0f) > 9 || af) {
		cf = old_cf || al > 0xff - 6; /* carry from AL <- AL + 6 */
		al = (uint8_t)(al + 6);
		af = true;
	} else {
		af = false;
	}
	if (old_al > 0x99 || old_cf) {
		al = (uint8_t)(al + 0x60);
		cf = true;
	} else {
		cf = false;
	}
	c->gpr[0].b[0] = al;
	bcd_flags(c, al, cf, af);
	return EXEC_NEXT;
}

/* DAS (SDM vol. 2A, "DAS").  Unlike DAA, the second step has no ELSE: CF
 * keeps the first step's borrow when old_AL <= 99H and CF was clear. */
static int op_das(struct cpu *c, const struct insn *i)
{
	(void)i;
	if (c->mode == MODE_LONG64)
		return cpu_ud(c);
	uint8_t al = al_of(c), old_al = al;
	bool old_cf = cpu_cf(c), af = af_in(c), cf = false;
	if ((al & 0x0f) > 9 || af) {
		cf = old_cf || al < 6; /* borrow from AL <- AL - 6 */
		al = (uint8_t)(al - 6);
		af = true;
	} else {
		af = false;
	}
	if (old_al > 0x99 || old_cf) {
		al = (uint8_t)(al - 0x60);
		cf = true;
	}
	c->gpr[0].b[0] = al;
	bcd_flags(c, al, cf, af);
	return EXEC_NEXT;
}

/* AAA (SDM vol. 2A, "AAA"): AX <- AX + 106H and AF = CF = 1 when
 * (AL AND 0FH) > 9 or AF = 1, else AF = CF = 0; then AL <- AL AND 0FH.
 * AAS (SDM vol. 2A, "AAS"): AX <- AX - 6, AH <- AH - 1 under the same test. */
static int op_aaa_aas(struct cpu *c, const struct insn *i)
{
	if (c->mode == MODE_LONG64)
		return cpu_ud(c);
	uint16_t ax = c->gpr[0].w;
	bool adjust = (ax & 0x0f) > 9 || af_in(c);
	if (adjust) {
		if (i->sub == B_AAA)
			ax = (uint16_t)(ax + 0x106);
		else
			ax = (uint16_t)((ax - 6) - 0x100);
	}
	ax &= 0xff0f;
	c->gpr[0].w = ax;
	bcd_flags(c, (uint8_t)ax, adjust, adjust);
	return EXEC_NEXT;
}

/* AAM imm8 (SDM vol. 2A, "AAM"): AH <- AL / imm8, AL <- AL MOD imm8; an
 * imm8 of 0 is #DE.  SF ZF PF from AL. */
static int op_aam(struct cpu *c, const struct insn *i)
{
	if (c->mode == MODE_LONG64)
		return cpu_ud(c);
	uint8_t base = (uint8_t)i->imm, al = al_of(c);
	if (base == 0)
		return cpu_raise(c, IDT_DE, false, 0);
	c->gpr[0].b[1] = (uint8_t)(al / base);
	c->gpr[0].b[0] = (uint8_t)(al % base);
	bcd_flags(c, (uint8_t)(al % base), false, false);
	return EXEC_NEXT;
}

/* AAD imm8 (SDM vol. 2A, "AAD"): AL <- (AL + AH * imm8) AND FFH, AH <- 0.
 * SF ZF PF from AL; CF, OF and AF as the 8-bit addition sets them (the
 * measured Intel rule, see the top of the file). */
static int op_aad(struct cpu *c, const struct insn *i)
{
	if (c->mode == MODE_LONG64)
		return cpu_ud(c);
	uint8_t a = al_of(c), b = (uint8_t)(c->gpr[0].b[1] * (uint8_t)i->imm);
	uint8_t al = (uint8_t)(a + b);
	c->gpr[0].w = al;
	if (cpu_profile_amd(c))
		bcd_flags(c, al, false, false); /* AMD: CF = OF = AF = 0, as AAM */
	else
		lf_set(c, LF_ADD, 1, al, a, b);
	return EXEC_NEXT;
}

bool lower_bcd(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_DAA:
		i->fn = op_daa;
		break;
	case ZYDIS_MNEMONIC_DAS:
		i->fn = op_das;
		break;
	case ZYDIS_MNEMONIC_AAA:
		i->sub = B_AAA;
		i->fn = op_aaa_aas;
		break;
	case ZYDIS_MNEMONIC_AAS:
		i->sub = B_AAS;
		i->fn = op_aaa_aas;
		break;
	case ZYDIS_MNEMONIC_AAM:
		i->fn = op_aam;
		break;
	case ZYDIS_MNEMONIC_AAD:
		i->fn = op_aad;
		break;
	default:
		return false;
	}
	/* LOCK is #UD on all of them (Zydis refuses it already). */
	if (i->flags & INSN_F_LOCK)
		i->fn = insn_invalid;
	return true;
}
