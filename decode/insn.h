/*
 * The predecoded instruction record: what Zydis told us about one
 * instruction, lowered once into the few fields its handler needs.  Records
 * live in blocks (decode/cache.h) keyed by guest-physical address and decode
 * mode; the run loop calls record->fn(cpu, record) and never decodes again.
 */
#ifndef SOFTVMM_DECODE_INSN_H
#define SOFTVMM_DECODE_INSN_H

#include <stdint.h>

struct cpu;
struct insn;

typedef int (*insn_fn)(struct cpu *c, const struct insn *i);

/* Decode modes: what changes how bytes decode or execute. */
enum decode_mode {
	MODE_REAL16,   /* real mode (and virtual-8086) */
	MODE_PROT16,   /* protected mode, CS.D = 0 */
	MODE_PROT32,   /* protected mode, CS.D = 1 */
	MODE_COMPAT16, /* IA-32e compatibility mode, CS.D = 0 */
	MODE_COMPAT32, /* IA-32e compatibility mode, CS.D = 1 */
	MODE_LONG64,   /* 64-bit mode */
	MODE_COUNT
};

#define INSN_NOREG  0xff /* no base or index register */
#define INSN_RIPREL 0xfe /* base is RIP (of the next instruction) */
#define INSN_ABS64  0xfd /* no base: a 64-bit moffs too wide for disp, kept in imm */

struct insn {
	insn_fn fn;
	uint64_t imm;  /* immediate, or far pointer offset, or 64-bit moffs */
	int32_t disp;  /* memory displacement */
	uint16_t mnem; /* ZydisMnemonic, for statistics and #UD accounting */
	uint16_t imm2; /* second immediate (ENTER), far pointer selector */
	uint8_t len;   /* instruction length in bytes */
	uint8_t osz;   /* operand size in bytes: 1, 2, 4, 8 */
	uint8_t asz;   /* address size in bytes: 2, 4, 8 */
	uint8_t seg;   /* segment of the memory operand (SEG_*) */
	uint8_t r1;    /* first register operand: index, or byte offset for 8-bit */
	uint8_t r2;    /* second register operand, same encoding */
	uint8_t base;  /* base register index, INSN_NOREG or INSN_RIPREL */
	uint8_t index; /* index register index or INSN_NOREG */
	uint8_t scale; /* log2 of the scale factor */
	uint8_t sub;   /* handler-specific: condition code, ALU op, size of 2nd operand */
	uint8_t flags; /* INSN_F_* */
};

#define INSN_F_REP   0x01 /* REP / REPE prefix */
#define INSN_F_REPNE 0x02 /* REPNE prefix */
#define INSN_F_MEM   0x04 /* has a memory operand */
#define INSN_F_LOCK  0x08
#define INSN_F_CL    0x10 /* shifts and rotates: the count is in CL */

#endif
