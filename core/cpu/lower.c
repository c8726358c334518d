/* Lowering of Zydis output into predecoded records (see lower.h). */
#include "core/cpu/lower.h"

#include <string.h>

#include "core/cpu/cpu.h"

int lower_gpr_index(ZydisRegister r)
{
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL)
		return r - ZYDIS_REGISTER_AL;
	if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH)
		return r - ZYDIS_REGISTER_AH;
	if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_R15B)
		return 4 + (r - ZYDIS_REGISTER_SPL);
	if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W)
		return r - ZYDIS_REGISTER_AX;
	if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D)
		return r - ZYDIS_REGISTER_EAX;
	if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15)
		return r - ZYDIS_REGISTER_RAX;
	return -1;
}

uint8_t lower_gpr(ZydisRegister r)
{
	/* AH, CH, DH, BH are byte 1 of RAX..RBX: offsets 1, 9, 17, 25. */
	if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH)
		return (uint8_t)((r - ZYDIS_REGISTER_AH) * 8 + 1);
	int idx = lower_gpr_index(r);
	if (idx < 0)
		return INSN_NOREG;
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_R15B)
		return (uint8_t)(idx * 8);
	return (uint8_t)idx;
}

int lower_sreg(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES:
		return SEG_ES;
	case ZYDIS_REGISTER_CS:
		return SEG_CS;
	case ZYDIS_REGISTER_SS:
		return SEG_SS;
	case ZYDIS_REGISTER_DS:
		return SEG_DS;
	case ZYDIS_REGISTER_FS:
		return SEG_FS;
	case ZYDIS_REGISTER_GS:
		return SEG_GS;
	default:
		return -1;
	}
}

static enum opk kind_of(const ZydisDecodedOperand *o)
{
	switch (o->type) {
	case ZYDIS_OPERAND_TYPE_REGISTER:
		if (lower_gpr_index(o->reg.value) >= 0)
			return OPK_REG;
		if (lower_sreg(o->reg.value) >= 0)
			return OPK_SREG;
		if (o->reg.value >= ZYDIS_REGISTER_CR0 && o->reg.value <= ZYDIS_REGISTER_CR15)
			return OPK_CR;
		if (o->reg.value >= ZYDIS_REGISTER_DR0 && o->reg.value <= ZYDIS_REGISTER_DR15)
			return OPK_DR;
		return OPK_OTHER;
	case ZYDIS_OPERAND_TYPE_MEMORY:
		return o->mem.type == ZYDIS_MEMOP_TYPE_MEM || o->mem.type == ZYDIS_MEMOP_TYPE_AGEN
		           ? OPK_MEM
		           : OPK_OTHER;
	case ZYDIS_OPERAND_TYPE_IMMEDIATE:
		return OPK_IMM;
	case ZYDIS_OPERAND_TYPE_POINTER:
		return OPK_PTR;
	default:
		return OPK_NONE;
	}
}

static void fill_mem(struct insn *i, const ZydisDecodedInstruction *zi,
                     const ZydisDecodedOperand *o)
{
	int s = lower_sreg(o->mem.segment);
	i->seg = (uint8_t)(s < 0 ? SEG_DS : s);
	if (o->mem.base == ZYDIS_REGISTER_RIP || o->mem.base == ZYDIS_REGISTER_EIP)
		i->base = INSN_RIPREL;
	else
		i->base = o->mem.base == ZYDIS_REGISTER_NONE
		              ? INSN_NOREG
		              : (uint8_t)lower_gpr_index(o->mem.base);
	i->index = o->mem.index == ZYDIS_REGISTER_NONE ? INSN_NOREG
	                                               : (uint8_t)lower_gpr_index(o->mem.index);
	i->scale = o->mem.scale == 8 ? 3 : o->mem.scale == 4 ? 2 : o->mem.scale == 2 ? 1 : 0;
	int64_t disp = o->mem.disp.value;
	/*
	 * ModRM.mod = 00 with a SIB base of 101 means "disp32, no base" whatever
	 * REX.B says (SDM vol. 2 table 2-3 and 2.2.1.2).  Zydis 4.0.0 decodes
	 * it with a 67 prefix and REX.B as [r13d] without the displacement
	 * (its length still counts the disp32): take both from the raw fields.
	 */
	if (zi->raw.modrm.mod == 0 && zi->raw.modrm.rm == 4 && zi->raw.sib.base == 5 &&
	    o->mem.base != ZYDIS_REGISTER_NONE) {
		i->base = INSN_NOREG;
		disp = zi->raw.disp.value;
	}
	i->disp = (int32_t)disp;
	/* A 64-bit moffs (MOV AL, [imm64]) does not fit disp: keep it in imm,
	 * which cpu_ea reads for INSN_ABS64 (SDM vol. 2 2.2.1.4). */
	if ((int64_t)i->disp != disp) {
		i->imm = (uint64_t)disp;
		i->base = INSN_ABS64;
		i->disp = 0;
	}
	i->flags |= INSN_F_MEM;
}

/*
 * LOCK (SDM vol. 2A, "LOCK-Assert LOCK# Signal Prefix"): allowed only on
 * ADD, ADC, AND, BTC, BTR, BTS, CMPXCHG, CMPXCHG8B, CMPXCHG16B, DEC, INC,
 * NEG, NOT, OR, SBB, SUB, XOR, XADD and XCHG, and only when the destination
 * (the first operand) is in memory; "otherwise, an invalid-opcode exception
 * (#UD) may be generated" - and is, on every current CPU.  Zydis already
 * refuses such encodings (ZYDIS_STATUS_ILLEGAL_LOCK, which exec.c turns
 * into an #UD record); this keeps the rule whatever the decoder lets
 * through.  LOCK MOV CR0 (F0 0F 22/20) is AMD's CR8 alias only with
 * CPUID 80000001H:ECX.AltMovCr8; no model has it, so it is #UD here too.
 */
static bool lock_allowed(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_ADD:
	case ZYDIS_MNEMONIC_ADC:
	case ZYDIS_MNEMONIC_AND:
	case ZYDIS_MNEMONIC_BTC:
	case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_CMPXCHG:
	case ZYDIS_MNEMONIC_CMPXCHG8B:
	case ZYDIS_MNEMONIC_CMPXCHG16B:
	case ZYDIS_MNEMONIC_DEC:
	case ZYDIS_MNEMONIC_INC:
	case ZYDIS_MNEMONIC_NEG:
	case ZYDIS_MNEMONIC_NOT:
	case ZYDIS_MNEMONIC_OR:
	case ZYDIS_MNEMONIC_SBB:
	case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_XOR:
	case ZYDIS_MNEMONIC_XADD:
	case ZYDIS_MNEMONIC_XCHG:
		return zi->operand_count_visible > 0 && kind_of(&ops[0]) == OPK_MEM;
	default:
		return false;
	}
}

void lower_decoder_init(ZydisDecoder *dec, ZydisMachineMode mode, ZydisStackWidth width)
{
	ZydisDecoderInit(dec, mode, width);
	ZydisDecoderEnableMode(dec, ZYDIS_DECODER_MODE_MPX, ZYAN_FALSE);
	ZydisDecoderEnableMode(dec, ZYDIS_DECODER_MODE_CET, ZYAN_FALSE);
	ZydisDecoderEnableMode(dec, ZYDIS_DECODER_MODE_CLDEMOTE, ZYAN_FALSE);
}

/*
 * Whether lowering looks at the instruction's hidden operands: the
 * segment of the string and I/O string instructions' and XLAT's implicit
 * memory operand,
 * and MXCSR for the SSE state checks (ops_fpstate.c).  Every other group
 * reads only the visible ones.
 */
static bool needs_hidden_operands(const ZydisDecodedInstruction *zi)
{
	switch (zi->meta.isa_ext) {
	case ZYDIS_ISA_EXT_X87:
	case ZYDIS_ISA_EXT_MMX:
	case ZYDIS_ISA_EXT_SSE:
	case ZYDIS_ISA_EXT_SSE2:
	case ZYDIS_ISA_EXT_SSE3:
	case ZYDIS_ISA_EXT_SSSE3:
	case ZYDIS_ISA_EXT_SSE4:
		return true;
	default:
		return zi->meta.category == ZYDIS_CATEGORY_STRINGOP ||
		       zi->meta.category == ZYDIS_CATEGORY_IOSTRINGOP ||
		       zi->mnemonic == ZYDIS_MNEMONIC_XLAT;
	}
}

ZyanStatus lower_decode(const ZydisDecoder *dec, const void *buf, size_t len,
                        ZydisDecodedInstruction *zi, ZydisDecodedOperand *ops)
{
	ZydisDecoderContext ctx;
	ZyanStatus st = ZydisDecoderDecodeInstruction(dec, &ctx, buf, len, zi);
	if (!ZYAN_SUCCESS(st))
		return st;
	/* Hidden operands (flags, implicit registers) cost a third of the
	 * operand decoding and most instructions never need them: decode
	 * them only where lowering reads them, and say so in operand_count. */
	if (!needs_hidden_operands(zi))
		zi->operand_count = zi->operand_count_visible;
	return ZydisDecoderDecodeOperands(dec, &ctx, zi, ops, zi->operand_count);
}

bool lower_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops,
                const struct cpu_model *model, struct insn *out, bool *ends_block)
{
	struct lower l = {.zi = zi, .op = ops, .nops = zi->operand_count_visible, .model = model};
	struct insn *i = out;
	memset(i, 0, sizeof(*i));
	l.i = i;
	i->len = zi->length;
	i->mnem = (uint16_t)zi->mnemonic;
	i->asz = (uint8_t)(zi->address_width / 8);
	l.osz = zi->operand_width / 8;
	if (l.osz == 0)
		l.osz = 1;
	i->osz = (uint8_t)l.osz;
	i->base = i->index = INSN_NOREG;
	i->r1 = i->r2 = INSN_NOREG;
	i->seg = SEG_DS;
	if (zi->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE))
		i->flags |= INSN_F_REP;
	if (zi->attributes & ZYDIS_ATTRIB_HAS_REPNE)
		i->flags |= INSN_F_REPNE;
	if (zi->attributes & ZYDIS_ATTRIB_HAS_LOCK) {
		i->flags |= INSN_F_LOCK;
		if (!lock_allowed(zi, ops)) {
			i->fn = insn_invalid; /* #UD at the instruction */
			*ends_block = true;
			return true;
		}
	}
	if (l.nops > 4)
		l.nops = 4;
	bool have_r1 = false, have_imm = false;
	for (unsigned n = 0; n < l.nops; n++) {
		l.k[n] = kind_of(&ops[n]);
		switch (l.k[n]) {
		case OPK_REG:
			if (!have_r1) {
				i->r1 = lower_gpr(ops[n].reg.value);
				have_r1 = true;
			} else {
				i->r2 = lower_gpr(ops[n].reg.value);
			}
			break;
		case OPK_MEM:
			fill_mem(i, zi, &ops[n]);
			break;
		case OPK_IMM:
			if (!have_imm) {
				i->imm = ops[n].imm.value.u;
				have_imm = true;
			} else {
				i->imm2 = (uint16_t)ops[n].imm.value.u;
			}
			break;
		case OPK_PTR:
			i->imm = ops[n].ptr.offset;
			i->imm2 = ops[n].ptr.segment;
			break;
		default:
			break;
		}
	}
	bool (*const groups[])(struct lower *) = {
	    lower_alu,     lower_mov,    lower_far,    lower_branch,  lower_stack,
	    lower_shift,   lower_muldiv, lower_string, lower_io,      lower_bit,
	    lower_atomic,  lower_bcd,    lower_bmi,    lower_syscall, lower_desc,
	    lower_segload, lower_ctrl,   lower_system, lower_clflush, lower_fpstate};
	for (unsigned g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		if (groups[g](&l)) {
			*ends_block = l.ends_block;
			return true;
		}
	}
	i->fn = insn_unimplemented;
	*ends_block = true;
	return false;
}

int insn_unimplemented(struct cpu *c, const struct insn *i)
{
	c->stats.unimplemented++;
	if (i->mnem < sizeof(c->stats.unimpl_by_mnemonic) / sizeof(c->stats.unimpl_by_mnemonic[0]))
		c->stats.unimpl_by_mnemonic[i->mnem]++;
	return cpu_ud(c);
}

int insn_invalid(struct cpu *c, const struct insn *i)
{
	(void)i;
	return cpu_ud(c);
}
