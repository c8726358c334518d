/*
 * String instructions: MOVS, STOS, LODS, CMPS and SCAS, with and without a
 * repeat prefix (SDM vol. 2B, "MOVS/MOVSB/MOVSW/MOVSD/MOVSQ", "STOS/STOSB/
 * STOSW/STOSD/STOSQ", "LODS/LODSB/LODSW/LODSD/LODSQ", "CMPS/CMPSB/CMPSW/
 * CMPSD/CMPSQ", "SCAS/SCASB/SCASW/SCASD/SCASQ" and "REP/REPE/REPZ/REPNE/
 * REPNZ"; vol. 1 section 7.3.9).
 *
 * rSI, rDI and rCX are used at the address size: with 16-bit addressing
 * only SI, DI and CX change and wrap at 64 KiB, the upper bits of RSI, RDI
 * and RCX are kept; with 32-bit addressing in 64-bit mode (0x67) ESI, EDI
 * and ECX are written and zero-extended (SDM vol. 1 3.4.1.1).  The source
 * DS:rSI takes a segment override, the destination is always ES:rDI.
 *
 * A repeated instruction runs at most REP_CHUNK iterations per call of its
 * handler; while the count is not exhausted (and, for CMPS/SCAS, the ZF
 * condition still holds) the handler returns with RIP unchanged, so the run
 * loop comes back to it and the budget and interrupt points are kept.  The
 * registers are updated after every iteration, so an exception or exit in
 * the middle leaves them showing the iterations that completed, with RIP at
 * the instruction, ready to restart it (SDM vol. 2B, REP: a repeating
 * string operation suspended by an exception or interrupt keeps its
 * register state so that it resumes after the handler returns).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

enum str_op { STR_MOVS, STR_STOS, STR_LODS, STR_CMPS, STR_SCAS };

/* Iterations per visit of the run loop, so a long REP stays interruptible
 * and the instruction budget is honoured between visits. */
#define REP_CHUNK 4096

/* rSI, rDI and rCX */
enum { R_AX = 0, R_CX = 1, R_SI = 6, R_DI = 7 };

/*
 * A REP whose count is already 0, with a 32-bit address size: what it
 * writes is not in the SDM.  Measured on Intel (64-bit mode, 67 F3/F2):
 * ECX is written (zero-extending RCX), and MOVS also writes ESI and EDI,
 * STOS EDI, as their fast-string loops do; LODS, CMPS and SCAS write only
 * ECX.  The AMD profile uses the same until AMD hardware is measured
 * (docs/undefined-behaviour.md).  Outside 64-bit mode these writes change
 * nothing visible.
 */
static void rep_zero_count_writes(struct cpu *c, unsigned op)
{
	reg_write(c, R_CX, 4, 0);
	if (op == STR_MOVS)
		reg_write(c, R_SI, 4, reg_read(c, R_SI, 4));
	if (op == STR_MOVS || op == STR_STOS)
		reg_write(c, R_DI, 4, reg_read(c, R_DI, 4));
}

static int op_string(struct cpu *c, const struct insn *i)
{
	/* Everything the loop needs is read once: a write of the loop may
	 * invalidate this record (self-modifying code) while it runs. */
	const unsigned sz = i->osz, as = i->asz, op = i->sub, len = i->len;
	const int seg = i->seg;
	const uint64_t am = size_mask(as);
	/* REP with MOVS/STOS/LODS ignores the E/NE distinction: F2 repeats as
	 * F3 does.  CMPS/SCAS stop on ZF = 0 (REPE) or ZF = 1 (REPNE). */
	const bool rep = (i->flags & (INSN_F_REP | INSN_F_REPNE)) != 0;
	const bool repne = (i->flags & INSN_F_REPNE) != 0;
	const uint64_t step = (c->rflags & RF_DF) ? -(uint64_t)sz : sz;
	/* Under MTRAP, TF or data breakpoints one iteration per call: the
	 * monitor trap flag's exit, the single-step trap and the data
	 * breakpoint trap follow each iteration of a REP (SDM vol. 3 25.5.2,
	 * 17.3.1.4, 17.3.1.2; core/cpu/exec.c, step.c, debugreg.c). */
	const unsigned chunk =
	    (c->caps[VM_CAP_MTRAP_EXIT] || (c->rflags & RF_TF) || c->bp_data) ? 1 : REP_CHUNK;
	for (unsigned n = 0; n < chunk; n++) {
		/* REP: "WHILE CountReg != 0": a zero count touches no memory and
		 * leaves the flags as they were. */
		if (rep && reg_read(c, R_CX, as) == 0) {
			if (n == 0 && as == 4)
				rep_zero_count_writes(c, op);
			goto done;
		}
		uint64_t si = reg_read(c, R_SI, as), di = reg_read(c, R_DI, as), a, b;
		switch (op) {
		case STR_MOVS:
			/* ES:rDI <- seg:rSI */
			if (cpu_read(c, seg, si, sz, &a) || cpu_write(c, SEG_ES, di, sz, a))
				return EXEC_STOP;
			reg_write(c, R_SI, as, (si + step) & am);
			reg_write(c, R_DI, as, (di + step) & am);
			break;
		case STR_STOS:
			/* ES:rDI <- AL/AX/EAX/RAX */
			if (cpu_write(c, SEG_ES, di, sz, reg_read(c, R_AX, sz)))
				return EXEC_STOP;
			reg_write(c, R_DI, as, (di + step) & am);
			break;
		case STR_LODS:
			/* AL/AX/EAX/RAX <- seg:rSI; EAX zero-extends into RAX. */
			if (cpu_read(c, seg, si, sz, &a))
				return EXEC_STOP;
			reg_write(c, R_AX, sz, a);
			reg_write(c, R_SI, as, (si + step) & am);
			break;
		case STR_CMPS:
			/* seg:rSI - ES:rDI, flags as CMP; the source is read first. */
			if (cpu_read(c, seg, si, sz, &a) || cpu_read(c, SEG_ES, di, sz, &b))
				return EXEC_STOP;
			lf_set(c, LF_SUB, sz, (a - b) & size_mask(sz), a, b);
			reg_write(c, R_SI, as, (si + step) & am);
			reg_write(c, R_DI, as, (di + step) & am);
			break;
		default:
			/* SCAS: AL/AX/EAX/RAX - ES:rDI, flags as CMP. */
			a = reg_read(c, R_AX, sz);
			if (cpu_read(c, SEG_ES, di, sz, &b))
				return EXEC_STOP;
			lf_set(c, LF_SUB, sz, (a - b) & size_mask(sz), a, b);
			reg_write(c, R_DI, as, (di + step) & am);
			break;
		}
		if (!rep)
			return EXEC_NEXT;
		/* REP: the count is decremented, then tested, then ZF. */
		uint64_t cnt = (reg_read(c, R_CX, as) - 1) & am;
		reg_write(c, R_CX, as, cnt);
		if (cnt == 0)
			goto done;
		if (op >= STR_CMPS && (c->lf.res == 0) == repne)
			goto done;
	}
	/* Not finished: the instruction has not retired, RIP stays, and the run
	 * loop comes back to it.  The chunk counts as one step of the budget, so
	 * a REP with a huge count still ends a budgeted run. */
	c->partial_steps++;
	c->stop = STOP_NONE;
	return EXEC_STOP;
done:
	c->rip += len;
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
	case ZYDIS_MNEMONIC_CMPSB:
	case ZYDIS_MNEMONIC_CMPSW:
	case ZYDIS_MNEMONIC_CMPSD:
	case ZYDIS_MNEMONIC_CMPSQ:
		i->sub = STR_CMPS;
		break;
	case ZYDIS_MNEMONIC_SCASB:
	case ZYDIS_MNEMONIC_SCASW:
	case ZYDIS_MNEMONIC_SCASD:
	case ZYDIS_MNEMONIC_SCASQ:
		i->sub = STR_SCAS;
		break;
	default:
		return false;
	}
	/* MOVSD and CMPSD with operands are the SSE2 scalar double move and
	 * compare (F2 0F 10/11, F2 0F C2); the string forms have none visible. */
	if ((m == ZYDIS_MNEMONIC_MOVSD || m == ZYDIS_MNEMONIC_CMPSD) && l->nops != 0)
		return false;
	/* The source segment (DS or an override) is on the hidden rSI memory
	 * operand; ES:rDI cannot be overridden (SDM vol. 1 7.3.9.1). */
	i->seg = SEG_DS;
	for (unsigned n = 0; n < l->zi->operand_count; n++) {
		const ZydisDecodedOperand *o = &l->op[n];
		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && o->mem.base != ZYDIS_REGISTER_NONE &&
		    lower_gpr_index(o->mem.base) == R_SI) {
			int s = lower_sreg(o->mem.segment);
			if (s >= 0)
				i->seg = (uint8_t)s;
		}
	}
	i->flags &= (uint8_t)~INSN_F_MEM;
	/* Operand 0 is the element: ES:[rDI], AL..RAX or [rSI] for CMPS. */
	i->osz = (uint8_t)(l->op[0].size ? l->op[0].size / 8 : l->osz);
	i->fn = op_string;
	l->ends_block = (i->flags & (INSN_F_REP | INSN_F_REPNE)) != 0;
	return true;
}
