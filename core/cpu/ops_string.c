/*
 * String moves: MOVS, STOS, LODS with and without REP (SDM vol. 2).  The
 * counter and index registers are used at the address size; with REP,
 * each iteration is one step of the same instruction, which is restarted
 * after an exception with the registers showing the progress made.
 * CMPS/SCAS come with issue 4.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

enum str_op { STR_MOVS, STR_STOS, STR_LODS };

/* Iterations per visit of the run loop, so a long REP stays interruptible
 * and the instruction budget is honoured between visits. */
#define REP_CHUNK 4096

static int op_string(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, as = i->asz;
	uint64_t am = size_mask(as);
	bool rep = i->flags & INSN_F_REP;
	int64_t step = (c->rflags & RF_DF) ? -(int64_t)sz : (int64_t)sz;
	for (unsigned n = 0; n < REP_CHUNK; n++) {
		if (rep && reg_read(c, 1, as) == 0)
			break;
		uint64_t si = reg_read(c, 6, as), di = reg_read(c, 7, as), v;
		switch (i->sub) {
		case STR_MOVS:
			if (cpu_read(c, i->seg, si, sz, &v) || cpu_write(c, SEG_ES, di, sz, v))
				return EXEC_STOP;
			reg_write(c, 6, as, (si + (uint64_t)step) & am);
			reg_write(c, 7, as, (di + (uint64_t)step) & am);
			break;
		case STR_STOS:
			if (cpu_write(c, SEG_ES, di, sz, reg_read(c, 0, sz)))
				return EXEC_STOP;
			reg_write(c, 7, as, (di + (uint64_t)step) & am);
			break;
		default:
			if (cpu_read(c, i->seg, si, sz, &v))
				return EXEC_STOP;
			reg_write(c, 0, sz, v);
			reg_write(c, 6, as, (si + (uint64_t)step) & am);
			break;
		}
		if (!rep)
			return EXEC_NEXT;
		reg_write(c, 1, as, (reg_read(c, 1, as) - 1) & am);
	}
	if (rep && reg_read(c, 1, as) != 0)
		return EXEC_JUMP; /* rip unchanged: the loop comes back to this REP */
	c->rip += i->len;
	return EXEC_JUMP;
}

bool lower_string(struct lower *l)
{
	struct insn *i = l->i;
	ZydisMnemonic m = l->zi->mnemonic;
	switch (m) {
	case ZYDIS_MNEMONIC_MOVSB:
	case ZYDIS_MNEMONIC_MOVSW:
	case ZYDIS_MNEMONIC_MOVSD:
	case ZYDIS_MNEMONIC_MOVSQ:
		i->sub = STR_MOVS;
		break;
	case ZYDIS_MNEMONIC_STOSB:
	case ZYDIS_MNEMONIC_STOSW:
	case ZYDIS_MNEMONIC_STOSD:
	case ZYDIS_MNEMONIC_STOSQ:
		i->sub = STR_STOS;
		break;
	case ZYDIS_MNEMONIC_LODSB:
	case ZYDIS_MNEMONIC_LODSW:
	case ZYDIS_MNEMONIC_LODSD:
	case ZYDIS_MNEMONIC_LODSQ:
		i->sub = STR_LODS;
		break;
	default:
		return false;
	}
	/* MOVSD with operands is the SSE2 move; the string form has none visible. */
	if (m == ZYDIS_MNEMONIC_MOVSD && l->nops != 0)
		return false;
	/* The source segment (DS or an override) is on the hidden memory operand. */
	i->seg = SEG_DS;
	for (unsigned n = 0; n < l->zi->operand_count; n++) {
		const ZydisDecodedOperand *o = &l->op[n];
		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && o->mem.base != ZYDIS_REGISTER_NONE &&
		    lower_gpr_index(o->mem.base) == 6) {
			int s = lower_sreg(o->mem.segment);
			if (s >= 0)
				i->seg = (uint8_t)s;
		}
	}
	i->flags &= (uint8_t)~INSN_F_MEM;
	i->osz = (uint8_t)(l->op[0].size ? l->op[0].size / 8 : l->osz);
	i->fn = op_string;
	l->ends_block = (i->flags & INSN_F_REP) != 0;
	return true;
}
