/*
 * The exchange-and-compare group: XADD, CMPXCHG, CMPXCHG8B and CMPXCHG16B.
 *
 * The soft CPU runs one vcpu at a time in one thread, so LOCK needs no bus
 * lock here: a memory form is one read-modify-write (cpu_rmw_begin checks
 * write permission before it reads, cpu_rmw_commit writes back), which is
 * what a locked access looks like to the guest.  What LOCK does change is
 * validity: with a register destination it is #UD (SDM vol. 2A, "LOCK").
 */
#include "core/cpu/cpu.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/lower.h"

/* ---- XADD (SDM vol. 2D, "XADD") --------------------------------------------
 * TEMP <- SRC + DEST; SRC <- DEST; DEST <- TEMP.  Flags as ADD.  SRC is
 * written before DEST, so XADD r, r with one register leaves the sum. */

static inline int xadd_r(struct cpu *c, const struct insn *i, unsigned sz)
{
	uint64_t d = reg_read(c, i->r1, sz), s = reg_read(c, i->r2, sz);
	uint64_t r = (d + s) & size_mask(sz);
	lf_set(c, LF_ADD, sz, r, d, s);
	reg_write(c, i->r2, sz, d);
	reg_write(c, i->r1, sz, r);
	return EXEC_NEXT;
}

/* Memory destination; r1 is the source register. */
static inline int xadd_m(struct cpu *c, const struct insn *i, unsigned sz)
{
	uint64_t d, la, s = reg_read(c, i->r1, sz);
	if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), sz, &d, &la))
		return EXEC_STOP;
	uint64_t r = (d + s) & size_mask(sz);
	if (cpu_rmw_commit(c, la, sz, r))
		return EXEC_STOP;
	lf_set(c, LF_ADD, sz, r, d, s);
	reg_write(c, i->r1, sz, d);
	return EXEC_NEXT;
}

/* ---- CMPXCHG (SDM vol. 2A, "CMPXCHG") ----------------------------------------
 * TEMP <- DEST; flags as CMP accumulator, TEMP;
 * equal: ZF = 1, DEST <- SRC; else ZF = 0, accumulator <- TEMP, DEST <- TEMP.
 * The accumulator is AL/AX/EAX/RAX: register 0, byte offset 0 for AL. */

/*
 * Register destination.  The pseudo-code's DEST <- TEMP on a mismatch is not
 * a register write: hardware leaves the destination alone (a 32-bit one is
 * not zero-extended) and writes only the accumulator, and on a match writes
 * only the destination.  test_atomic_bcd checks both against the host.
 */
static inline int cmpxchg_r(struct cpu *c, const struct insn *i, unsigned sz)
{
	uint64_t acc = reg_read(c, 0, sz), d = reg_read(c, i->r1, sz);
	lf_set(c, LF_SUB, sz, (acc - d) & size_mask(sz), acc, d);
	if (acc == d)
		reg_write(c, i->r1, sz, reg_read(c, i->r2, sz));
	else
		reg_write(c, 0, sz, d);
	return EXEC_NEXT;
}

/*
 * Memory destination; r1 is the source register.  The destination is
 * written whatever the comparison gives, the old value on a mismatch ("the
 * processor never produces a locked read without also producing a locked
 * write"): a read-only page faults either way and a write to code is seen
 * as self-modifying code either way.
 */
static inline int cmpxchg_m(struct cpu *c, const struct insn *i, unsigned sz)
{
	uint64_t d, la, acc = reg_read(c, 0, sz);
	if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), sz, &d, &la))
		return EXEC_STOP;
	bool eq = acc == d;
	if (cpu_rmw_commit(c, la, sz, eq ? reg_read(c, i->r1, sz) : d))
		return EXEC_STOP;
	lf_set(c, LF_SUB, sz, (acc - d) & size_mask(sz), acc, d);
	if (!eq)
		reg_write(c, 0, sz, d);
	return EXEC_NEXT;
}

#define GEN_SIZE(sz)                                                                               \
	static int op_xadd_r_##sz(struct cpu *c, const struct insn *i)                             \
	{                                                                                          \
		return xadd_r(c, i, sz);                                                           \
	}                                                                                          \
	static int op_xadd_m_##sz(struct cpu *c, const struct insn *i)                             \
	{                                                                                          \
		return xadd_m(c, i, sz);                                                           \
	}                                                                                          \
	static int op_cmpxchg_r_##sz(struct cpu *c, const struct insn *i)                          \
	{                                                                                          \
		return cmpxchg_r(c, i, sz);                                                        \
	}                                                                                          \
	static int op_cmpxchg_m_##sz(struct cpu *c, const struct insn *i)                          \
	{                                                                                          \
		return cmpxchg_m(c, i, sz);                                                        \
	}
GEN_SIZE(1)
GEN_SIZE(2)
GEN_SIZE(4)
GEN_SIZE(8)

/* [XADD, CMPXCHG][register, memory][size 1, 2, 4, 8] */
static const insn_fn xchg_table[2][2][4] = {
    {{op_xadd_r_1, op_xadd_r_2, op_xadd_r_4, op_xadd_r_8},
     {op_xadd_m_1, op_xadd_m_2, op_xadd_m_4, op_xadd_m_8}},
    {{op_cmpxchg_r_1, op_cmpxchg_r_2, op_cmpxchg_r_4, op_cmpxchg_r_8},
     {op_cmpxchg_m_1, op_cmpxchg_m_2, op_cmpxchg_m_4, op_cmpxchg_m_8}},
};

/* ---- CMPXCHG8B / CMPXCHG16B (SDM vol. 2A, "CMPXCHG8B/CMPXCHG16B") -------------
 * TEMP <- DEST; if EDX:EAX (RDX:RAX) = TEMP: ZF = 1, DEST <- ECX:EBX
 * (RCX:RBX); else ZF = 0, EDX:EAX <- TEMP, DEST <- TEMP.  Only ZF changes.
 * As for CMPXCHG, the destination is always written and, on a match, the
 * registers are not (EAX and EDX are not zero-extended then). */

static void set_zf(struct cpu *c, bool zf)
{
	flags_materialize(c);
	c->rflags = zf ? c->rflags | RF_ZF : c->rflags & ~(uint64_t)RF_ZF;
}

static int op_cmpxchg8b(struct cpu *c, const struct insn *i)
{
	uint64_t m, la;
	if (cpu_rmw_begin(c, i->seg, cpu_ea(c, i), 8, &m, &la))
		return EXEC_STOP;
	uint64_t edx_eax = (uint64_t)c->gpr[2].d << 32 | c->gpr[0].d;
	uint64_t ecx_ebx = (uint64_t)c->gpr[1].d << 32 | c->gpr[3].d;
	bool eq = m == edx_eax;
	if (cpu_rmw_commit(c, la, 8, eq ? ecx_ebx : m))
		return EXEC_STOP;
	set_zf(c, eq);
	if (!eq) {
		reg_write(c, 0, 4, (uint32_t)m);
		reg_write(c, 2, 4, m >> 32);
	}
	return EXEC_NEXT;
}

/*
 * 64-bit mode with REX.W only (Zydis decodes it nowhere else).  The m128
 * operand must be 16-byte aligned, else #GP(0) ("64-Bit Mode Exceptions"),
 * checked on the linear address before any access.  The two halves are on
 * one page, so once both rmw_begin calls passed (write permission for the
 * whole operand), the two commits cannot fault between them.
 */
static int op_cmpxchg16b(struct cpu *c, const struct insn *i)
{
	uint64_t ea = cpu_ea(c, i);
	if ((c->seg[i->seg].base + ea) & 15)
		return cpu_gp0(c);
	uint64_t lo, hi, la_lo, la_hi;
	if (cpu_rmw_begin(c, i->seg, ea, 8, &lo, &la_lo) ||
	    cpu_rmw_begin(c, i->seg, (ea + 8) & size_mask(i->asz), 8, &hi, &la_hi))
		return EXEC_STOP;
	bool eq = lo == c->gpr[0].q && hi == c->gpr[2].q;
	if (cpu_rmw_commit(c, la_lo, 8, eq ? c->gpr[3].q : lo) ||
	    cpu_rmw_commit(c, la_hi, 8, eq ? c->gpr[1].q : hi))
		return EXEC_STOP;
	set_zf(c, eq);
	if (!eq) {
		c->gpr[0].q = lo;
		c->gpr[2].q = hi;
	}
	return EXEC_NEXT;
}

static unsigned size_slot(unsigned sz)
{
	return sz == 1 ? 0 : sz == 2 ? 1 : sz == 4 ? 2 : 3;
}

bool lower_atomic(struct lower *l)
{
	struct insn *i = l->i;
	bool mem = l->k[0] == OPK_MEM;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_XADD:
	case ZYDIS_MNEMONIC_CMPXCHG:
		if (!(l->k[0] == OPK_REG || mem) || l->k[1] != OPK_REG)
			return false;
		/* LOCK with a register destination: #UD (Zydis already refuses
		 * most such encodings; this covers any it lets through). */
		if (!mem && (i->flags & INSN_F_LOCK)) {
			i->fn = insn_invalid;
			return true;
		}
		i->fn =
		    xchg_table[l->zi->mnemonic == ZYDIS_MNEMONIC_CMPXCHG][mem][size_slot(l->osz)];
		return true;
	case ZYDIS_MNEMONIC_CMPXCHG8B:
		/* A register operand (mod = 3) is #UD; so is a CPU without CX8. */
		i->fn = mem && cpu_model_has(l->model, FEAT_CX8) ? op_cmpxchg8b : insn_invalid;
		return true;
	case ZYDIS_MNEMONIC_CMPXCHG16B:
		i->fn = mem && cpu_model_has(l->model, FEAT_CX16) ? op_cmpxchg16b : insn_invalid;
		return true;
	default:
		return false;
	}
}
