/*
 * Bit scans: BSF and BSR (SDM vol. 2).  A zero source sets ZF and leaves
 * the destination unchanged, as both Intel and AMD processors do; the
 * other flags are undefined and left unchanged here (issue 4 brings the
 * vendor profiles and BT/BTS/BTR/BTC).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

static int op_bsx(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (cpu_read_rm(c, i, i->r2, i->osz, &v))
		return EXEC_STOP;
	uint64_t f = cpu_get_rflags(c) & RF_ARITH & ~(uint64_t)RF_ZF;
	if (v == 0) {
		flags_set_arith(c, f | RF_ZF);
		return EXEC_NEXT;
	}
	unsigned bit = i->sub ? 63u - (unsigned)__builtin_clzll(v) : (unsigned)__builtin_ctzll(v);
	reg_write(c, i->r1, i->osz, bit);
	flags_set_arith(c, f);
	return EXEC_NEXT;
}

bool lower_bit(struct lower *l)
{
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_BSF:
	case ZYDIS_MNEMONIC_BSR:
		l->i->sub = l->zi->mnemonic == ZYDIS_MNEMONIC_BSR;
		l->i->fn = op_bsx;
		return true;
	default:
		return false;
	}
}
