/*
 * Stack instructions: PUSH/POP of registers, memory, immediates and
 * segment registers, PUSHF/POPF, PUSHA/POPA, ENTER, LEAVE.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"
#include "core/cpu/vme.h"

static int op_push_r(struct cpu *c, const struct insn *i)
{
	/* PUSH rSP pushes the value before the decrement (SDM PUSH). */
	return cpu_push(c, i->osz, reg_read(c, i->r1, i->osz)) ? EXEC_STOP : EXEC_NEXT;
}

static int op_push_i(struct cpu *c, const struct insn *i)
{
	return cpu_push(c, i->osz, i->imm) ? EXEC_STOP : EXEC_NEXT;
}

static int op_push_m(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (cpu_read(c, i->seg, cpu_ea(c, i), i->osz, &v))
		return EXEC_STOP;
	return cpu_push(c, i->osz, v) ? EXEC_STOP : EXEC_NEXT;
}

static int op_pop_r(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (cpu_pop(c, i->osz, &v))
		return EXEC_STOP;
	reg_write(c, i->r1, i->osz, v); /* POP rSP: the popped value wins */
	return EXEC_NEXT;
}

static int op_pop_m(struct cpu *c, const struct insn *i)
{
	uint64_t v, old = c->gpr[4].q;
	if (cpu_pop(c, i->osz, &v))
		return EXEC_STOP;
	/* The address is computed with rSP already incremented (SDM POP). */
	if (cpu_write(c, i->seg, cpu_ea(c, i), i->osz, v)) {
		c->gpr[4].q = old;
		return EXEC_STOP;
	}
	return EXEC_NEXT;
}

static int op_push_sreg(struct cpu *c, const struct insn *i)
{
	return cpu_push(c, i->osz, c->seg[i->sub].sel) ? EXEC_STOP : EXEC_NEXT;
}

static int op_pop_sreg(struct cpu *c, const struct insn *i)
{
	uint64_t v, old = c->gpr[4].q;
	if (cpu_pop_peek(c, i->osz, 0, &v))
		return EXEC_STOP;
	cpu_set_sp(c, c->gpr[4].q + i->osz);
	if (cpu_load_seg(c, i->sub, (uint16_t)v)) {
		c->gpr[4].q = old;
		return EXEC_STOP;
	}
	if (i->sub == SEG_SS) /* POP SS blocks as MOV SS (SDM vol. 3 6.8.3) */
		cpu_set_shadow(c, i, SHADOW_MOVSS);
	c->rip += i->len;
	return EXEC_JUMP; /* SS/segment changes may change later accesses' bounds */
}

static uint64_t popf_mask(const struct cpu *c, unsigned osz)
{
	/* SDM POPF: IOPL only at CPL 0, IF only when CPL <= IOPL; VM, RF, VIP,
	 * VIF are never loaded by POPF. */
	uint64_t m = RF_ARITH | RF_TF | RF_DF | RF_NT | RF_AC | RF_ID | RF_IF | RF_IOPL;
	unsigned iopl = (c->rflags >> 12) & 3;
	if (c->cpl > 0)
		m &= ~(uint64_t)RF_IOPL;
	if ((unsigned)c->cpl > iopl)
		m &= ~(uint64_t)RF_IF;
	if (osz == 2)
		m &= 0xffff;
	return m;
}

static int op_pushf(struct cpu *c, const struct insn *i)
{
	if (unlikely(vme_v86_sensitive(c)))
		return vme_pushf(c, i);
	/* VM and RF are pushed as 0 (SDM PUSHF). */
	uint64_t f = cpu_get_rflags(c) & ~(uint64_t)(RF_VM | RF_RF);
	return cpu_push(c, i->osz, f) ? EXEC_STOP : EXEC_NEXT;
}

static int op_popf(struct cpu *c, const struct insn *i)
{
	if (unlikely(vme_v86_sensitive(c)))
		return vme_popf(c, i);
	uint64_t v;
	if (cpu_pop(c, i->osz, &v))
		return EXEC_STOP;
	uint64_t m = popf_mask(c, i->osz);
	cpu_set_rflags(c, (cpu_get_rflags(c) & ~m) | (v & m));
	c->rip += i->len;
	return EXEC_JUMP; /* IF/TF may have changed: let the loop look */
}

static int op_pusha(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t sp = reg_read(c, 4, sz), old = c->gpr[4].q;
	for (unsigned r = 0; r < 8; r++) {
		if (cpu_push(c, sz, r == 4 ? sp : reg_read(c, r, sz))) {
			c->gpr[4].q = old;
			return EXEC_STOP;
		}
	}
	return EXEC_NEXT;
}

static int op_popa(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t v[8];
	for (unsigned r = 0; r < 8; r++)
		if (cpu_pop_peek(c, sz, (uint64_t)r * sz, &v[7 - r]))
			return EXEC_STOP;
	for (unsigned r = 0; r < 8; r++)
		if (r != 4)
			reg_write(c, r, sz, v[r]);
	cpu_set_sp(c, c->gpr[4].q + 8 * sz);
	return EXEC_NEXT;
}

static int op_leave(struct cpu *c, const struct insn *i)
{
	unsigned ss = cpu_stack_size(c);
	uint64_t old = c->gpr[4].q, v;
	cpu_set_sp(c, c->gpr[5].q & size_mask(ss));
	if (cpu_pop(c, i->osz, &v)) {
		c->gpr[4].q = old;
		return EXEC_STOP;
	}
	reg_write(c, 5, i->osz, v);
	return EXEC_NEXT;
}

/*
 * ENTER imm16, imm8 (SDM vol. 2A ENTER, "Operation"):
 * - the nesting level is imm8 MOD 32; AllocSize is imm16;
 * - Push(rBP) at the operand size; FrameTemp <- rSP at the operand size
 *   (SP, ESP, RSP), whatever the stack size; in 64-bit mode RSP, even with
 *   a 16-bit operand;
 * - for levels 2..31, level - 1 times: rBP <- rBP - OperandSize at the
 *   stack-address size (BP, EBP, RBP), Push([SS:rBP]) at the operand size;
 * - for levels >= 1, Push(FrameTemp);
 * - rBP <- FrameTemp (RBP in 64-bit mode; EBP or BP by operand size
 *   elsewhere, BP leaving bits 31:16 alone); rSP <- rSP - AllocSize at
 *   the stack-address size.
 * A fault leaves rSP and rBP as they were (the copies made so far are
 * below the stack pointer).  "Protected Mode Exceptions": #SS(0)/#PF "if
 * a write using the final value of the stack pointer ... would cause a
 * page fault" - so the final rSP is probed for a write of operand size,
 * without writing, before rBP changes.
 */
static int op_enter(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, ss = cpu_stack_size(c), level = i->imm2 & 31;
	uint64_t old_sp = c->gpr[4].q, bp = c->gpr[5].q & size_mask(ss);
	if (cpu_push(c, sz, reg_read(c, 5, sz)))
		return EXEC_STOP;
	unsigned fsz = ss == 8 ? 8 : sz;
	uint64_t frame = reg_read(c, 4, fsz);
	for (unsigned k = 1; k < level; k++) {
		uint64_t v;
		bp = (bp - sz) & size_mask(ss);
		if (cpu_read(c, SEG_SS, bp, sz, &v) || cpu_push(c, sz, v))
			goto fault;
	}
	if (level > 0 && cpu_push(c, sz, frame))
		goto fault;
	uint64_t sp = (c->gpr[4].q - (i->imm & 0xffff)) & size_mask(ss), probe, la;
	if (cpu_rmw_begin(c, SEG_SS, sp, sz, &probe, &la))
		goto fault;
	cpu_set_sp(c, sp);
	reg_write(c, 5, fsz, frame);
	return EXEC_NEXT;
fault:
	c->gpr[4].q = old_sp;
	return EXEC_STOP;
}

bool lower_stack(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_PUSH:
		if (l->k[0] == OPK_SREG) {
			i->sub = (uint8_t)lower_sreg(l->op[0].reg.value);
			i->fn = op_push_sreg;
		} else {
			i->fn = l->k[0] == OPK_REG   ? op_push_r
			        : l->k[0] == OPK_MEM ? op_push_m
			                             : op_push_i;
			i->imm &= size_mask(l->osz);
		}
		return true;
	case ZYDIS_MNEMONIC_POP:
		if (l->k[0] == OPK_SREG) {
			i->sub = (uint8_t)lower_sreg(l->op[0].reg.value);
			i->fn = op_pop_sreg;
			l->ends_block = true;
		} else {
			i->fn = l->k[0] == OPK_REG ? op_pop_r : op_pop_m;
		}
		return true;
	case ZYDIS_MNEMONIC_PUSHF:
	case ZYDIS_MNEMONIC_PUSHFD:
	case ZYDIS_MNEMONIC_PUSHFQ:
		i->fn = op_pushf;
		return true;
	case ZYDIS_MNEMONIC_POPF:
	case ZYDIS_MNEMONIC_POPFD:
	case ZYDIS_MNEMONIC_POPFQ:
		i->fn = op_popf;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_PUSHA:
	case ZYDIS_MNEMONIC_PUSHAD:
		i->fn = op_pusha;
		return true;
	case ZYDIS_MNEMONIC_POPA:
	case ZYDIS_MNEMONIC_POPAD:
		i->fn = op_popa;
		return true;
	case ZYDIS_MNEMONIC_LEAVE:
		i->fn = op_leave;
		return true;
	case ZYDIS_MNEMONIC_ENTER:
		i->fn = op_enter;
		return true;
	default:
		return false;
	}
}
