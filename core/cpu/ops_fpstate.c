/*
 * The x87, MMX and SSE instructions: the checks that come before they
 * touch their state, and the few instructions of those extensions that
 * touch no such state.
 *
 * softvmm has no x87/MMX/SSE arithmetic yet.  What it does have is every
 * check the processor makes before such an instruction runs, in the SDM's
 * order: #UD for an extension the CPU model does not advertise, for
 * CR0.EM (MMX and SSE) and for CR4.OSFXSR = 0 (SSE), then #NM for CR0.TS
 * (and CR0.EM for x87).  An operating system that saves FPU state lazily
 * (CLTS in its #NM handler) therefore sees its #NM exactly as on hardware.
 * An instruction that passes the checks is counted as unimplemented and
 * raises #UD (insn_unimplemented), so a run shows it in --stats.
 *
 * Sources: SDM vol. 3 2.5 (CR0.EM/MP/TS), 13.1.3 and table 13-1 (the
 * SSE conditions and their exceptions), 12.x table "Effects of EM, MP
 * and TS" (x87 and MMX), and the FXSAVE, LDMXCSR, WAIT and CLFLUSH pages
 * of vol. 2.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/lower.h"

/* How an instruction's state is gated (insn.sub). */
enum fp_class {
	FPC_X87,  /* x87: #NM if CR0.EM or CR0.TS */
	FPC_FXSR, /* FXSAVE/FXRSTOR: #NM if CR0.EM or CR0.TS */
	FPC_MMX,  /* MMX: #UD if CR0.EM, #NM if CR0.TS */
	FPC_SSE,  /* XMM or MXCSR state: #UD if CR0.EM or !CR4.OSFXSR, #NM if CR0.TS */
};

static int op_fp_gated(struct cpu *c, const struct insn *i)
{
	bool em = c->cr0 & CR0_EM, ts = c->cr0 & CR0_TS;
	switch ((enum fp_class)i->sub) {
	case FPC_X87:
	case FPC_FXSR:
		if (em || ts)
			return cpu_raise(c, IDT_NM, false, 0);
		break;
	case FPC_MMX:
		if (em)
			return cpu_ud(c);
		if (ts)
			return cpu_raise(c, IDT_NM, false, 0);
		break;
	case FPC_SSE:
		if (em || !(c->cr4 & CR4_OSFXSR))
			return cpu_ud(c);
		if (ts)
			return cpu_raise(c, IDT_NM, false, 0);
		break;
	}
	return insn_unimplemented(c, i);
}

/*
 * WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set (SDM vol. 2 WAIT,
 * vol. 3 table 2-2).  Otherwise it waits for pending unmasked x87
 * exceptions (#MF); softvmm has no x87 arithmetic, so none is ever
 * pending and WAIT completes as a no-op.
 */
static int op_wait(struct cpu *c, const struct insn *i)
{
	(void)i;
	if ((c->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		return cpu_raise(c, IDT_NM, false, 0);
	return EXEC_NEXT;
}

/* LFENCE, MFENCE, SFENCE: ordering only, and one vcpu runs its own
 * accesses in program order: nothing to do.  They are not gated by CR0
 * or OSFXSR (13.1.3). */
static int op_fence(struct cpu *c, const struct insn *i)
{
	(void)c;
	(void)i;
	return EXEC_NEXT;
}

/* CLFLUSH m8: checked as a one-byte read of its operand (segment limit,
 * page fault); there is no cache to flush.  On MMIO the read reaches the
 * caller as INST_EMUL, as the EPT exit would under bhyve. */
static int op_clflush(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (cpu_read(c, i->seg, cpu_ea(c, i), 1, &v))
		return EXEC_STOP;
	return EXEC_NEXT;
}

/* MOVNTI m32/m64, r: a store of a general-purpose register; the
 * non-temporal hint means nothing here. */
static int op_movnti(struct cpu *c, const struct insn *i)
{
	if (cpu_write(c, i->seg, cpu_ea(c, i), i->osz, reg_read(c, i->r1, i->osz)))
		return EXEC_STOP;
	return EXEC_NEXT;
}

/* The feature an extension needs; FEAT_COUNT when it is none of ours. */
static enum cpu_feature feature_of(const ZydisDecodedInstruction *zi)
{
	switch (zi->meta.isa_ext) {
	case ZYDIS_ISA_EXT_X87:
		return FEAT_FPU;
	case ZYDIS_ISA_EXT_MMX:
		return FEAT_MMX;
	case ZYDIS_ISA_EXT_SSE:
		return zi->meta.isa_set == ZYDIS_ISA_SET_FXSAVE ||
		               zi->meta.isa_set == ZYDIS_ISA_SET_FXSAVE64
		           ? FEAT_FXSR
		           : FEAT_SSE;
	case ZYDIS_ISA_EXT_SSE2:
		return FEAT_SSE2;
	case ZYDIS_ISA_EXT_SSE3:
		return FEAT_SSE3;
	case ZYDIS_ISA_EXT_SSSE3:
		return FEAT_SSSE3;
	case ZYDIS_ISA_EXT_SSE4:
		return zi->meta.isa_set == ZYDIS_ISA_SET_SSE42 ? FEAT_SSE42 : FEAT_SSE41;
	default:
		return FEAT_COUNT;
	}
}

/*
 * The class decides the checks.  CR4.OSFXSR says the OS saves XMM and
 * MXCSR state, so it gates what touches that state; SDM vol. 3 13.1.3
 * names PSHUFW and MOVNTQ, SSE instructions on MMX registers, as not
 * gated by it.  softvmm applies the MMX rule to every instruction whose
 * only SIMD registers are MMX registers (PAVGB mm, PADDQ mm, ...), which
 * the SDM does not spell out for each.
 */
static enum fp_class class_of(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	if (zi->meta.isa_ext == ZYDIS_ISA_EXT_X87)
		return FPC_X87;
	if (zi->meta.isa_set == ZYDIS_ISA_SET_FXSAVE || zi->meta.isa_set == ZYDIS_ISA_SET_FXSAVE64)
		return FPC_FXSR;
	bool mmx = zi->meta.isa_ext == ZYDIS_ISA_EXT_MMX;
	for (unsigned n = 0; n < zi->operand_count; n++) {
		if (ops[n].type != ZYDIS_OPERAND_TYPE_REGISTER)
			continue;
		ZydisRegister r = ops[n].reg.value;
		if (r == ZYDIS_REGISTER_MXCSR || ZydisRegisterGetClass(r) == ZYDIS_REGCLASS_XMM)
			return FPC_SSE;
		if (ZydisRegisterGetClass(r) == ZYDIS_REGCLASS_MMX)
			mmx = true;
	}
	return mmx ? FPC_MMX : FPC_SSE;
}

bool lower_fpstate(struct lower *l)
{
	const ZydisDecodedInstruction *zi = l->zi;
	struct insn *i = l->i;
	if (zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
		return false;
	enum cpu_feature f = feature_of(zi);
	if (f == FEAT_COUNT)
		return false;
	if (!cpu_model_has(l->model, f)) {
		/* The model does not have the extension: #UD, which is the
		 * architecture's answer, not a gap in softvmm. */
		i->fn = insn_invalid;
		l->ends_block = true;
		return true;
	}
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_FWAIT:
		i->fn = op_wait;
		return true;
	case ZYDIS_MNEMONIC_LFENCE:
	case ZYDIS_MNEMONIC_MFENCE:
	case ZYDIS_MNEMONIC_SFENCE:
		i->fn = op_fence;
		return true;
	case ZYDIS_MNEMONIC_MOVNTI:
		i->fn = op_movnti;
		return true;
	default:
		break;
	}
	i->sub = (uint8_t)class_of(zi, l->op);
	i->fn = op_fp_gated;
	l->ends_block = true;
	return true;
}

/* CLFLUSH has its own CPUID bit and is not gated by CR0 or OSFXSR. */
bool lower_clflush(struct lower *l)
{
	if (l->zi->mnemonic != ZYDIS_MNEMONIC_CLFLUSH)
		return false;
	if (!cpu_model_has(l->model, FEAT_CLFSH)) {
		l->i->fn = insn_invalid;
		l->ends_block = true;
		return true;
	}
	l->i->fn = op_clflush;
	return true;
}
