/*
 * Lowering: from one Zydis-decoded instruction to a predecoded record.
 * lower.c fills the fields every record shares (length, sizes, memory
 * operand, registers, immediate); each handler group then picks the handler
 * in its own lower_* function, next to the handlers it knows.
 */
#ifndef SOFTVMM_CORE_CPU_LOWER_H
#define SOFTVMM_CORE_CPU_LOWER_H

#include <Zydis/Zydis.h>
#include <stdbool.h>

#include "decode/insn.h"

struct cpu_model;

enum opk { OPK_NONE, OPK_REG, OPK_MEM, OPK_IMM, OPK_SREG, OPK_CR, OPK_DR, OPK_PTR, OPK_OTHER };

struct lower {
	const ZydisDecodedInstruction *zi;
	const ZydisDecodedOperand *op; /* the visible operands */
	unsigned nops;
	enum opk k[4]; /* kind of each visible operand */
	unsigned osz;  /* operand size in bytes */
	struct insn *i;
	const struct cpu_model *model;
	bool ends_block; /* the block must end after this record */
};

/* Register operand encoding for struct insn: index, or byte offset for 8-bit. */
uint8_t lower_gpr(ZydisRegister r);
/* Index 0-15 of any GPR, whatever its size. */
int lower_gpr_index(ZydisRegister r);
int lower_sreg(ZydisRegister r);

/* Each handler group: returns true if it lowered the instruction. */
bool lower_alu(struct lower *l);
bool lower_shift(struct lower *l);
bool lower_muldiv(struct lower *l);
bool lower_mov(struct lower *l);
bool lower_stack(struct lower *l);
bool lower_branch(struct lower *l);
bool lower_far(struct lower *l);
bool lower_string(struct lower *l);
bool lower_system(struct lower *l);
bool lower_io(struct lower *l);
bool lower_bit(struct lower *l);
bool lower_atomic(struct lower *l);
bool lower_bcd(struct lower *l);
bool lower_bmi(struct lower *l);
bool lower_desc(struct lower *l);
bool lower_segload(struct lower *l);
bool lower_ctrl(struct lower *l);
bool lower_syscall(struct lower *l);
bool lower_clflush(struct lower *l);
bool lower_fpstate(struct lower *l);

/*
 * A Zydis decoder as the soft CPU decodes: MPX, CET and CLDEMOTE decoding
 * off, since no CPU model advertises them, so that their encodings in the
 * 0F 18-0F 1F hint space decode as the NOPs such a CPU runs (SDM vol. 2B
 * NOP, "reserved NOP" opcodes).
 */
void lower_decoder_init(ZydisDecoder *dec, ZydisMachineMode mode, ZydisStackWidth width);

/*
 * Decode one instruction for lower_insn, as ZydisDecoderDecodeFull does
 * but without the hidden operands lowering never reads (then
 * zi->operand_count equals operand_count_visible).  The records lowered
 * are the same as from a full decode (tests/test_opcode_coverage.c).
 */
ZyanStatus lower_decode(const ZydisDecoder *dec, const void *buf, size_t len,
                        ZydisDecodedInstruction *zi, ZydisDecodedOperand *ops);

/* Lower one instruction; returns false if no handler exists (the record
 * then raises #UD and counts the mnemonic). */
bool lower_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops,
                const struct cpu_model *model, struct insn *out, bool *ends_block);

int insn_unimplemented(struct cpu *c, const struct insn *i);
int insn_invalid(struct cpu *c, const struct insn *i);

#endif
