/*
 * Bit instructions (SDM vol. 2): BT, BTS, BTR, BTC; the bit scans BSF and
 * BSR; POPCNT, LZCNT, TZCNT; MOVBE.
 *
 * Flags these instructions leave undefined follow the vendor profile
 * (docs/undefined-behaviour.md): the Intel rules below were measured on
 * Intel hardware, the AMD ones come from box64's description of AMD
 * processors until AMD hardware is measured here.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/lower.h"

/* Replace the arithmetic flags in 'mask' (CF, ZF or both) and keep the
 * others as they were. */
static inline void flags_update(struct cpu *c, uint64_t mask, uint64_t val)
{
	uint64_t f = cpu_get_rflags(c) & ~mask;
	flags_set_arith(c, f | (val & mask));
}

/* ---- BT, BTS, BTR, BTC ------------------------------------------------- */

enum bt_op { BT_TEST, BT_SET, BT_RESET, BT_COMPLEMENT };

static inline uint64_t bt_apply(unsigned op, uint64_t v, uint64_t m)
{
	switch (op) {
	case BT_SET:
		return v | m;
	case BT_RESET:
		return v & ~m;
	case BT_COMPLEMENT:
		return v ^ m;
	default:
		return v;
	}
}

/*
 * SDM BT/BTS/BTR/BTC "Flags Affected": CF holds the selected bit (its value
 * before BTS/BTR/BTC change it); ZF is unaffected; OF, SF, AF and PF are
 * undefined: both profiles leave them unchanged (measured on Intel).
 */
static inline void bt_flags(struct cpu *c, bool bit)
{
	flags_update(c, RF_CF, bit ? RF_CF : 0);
}

/*
 * Register bit base.  The offset, from a register or imm8, is taken modulo
 * the operand size (SDM BT: "the bit offset ... modulo 16, 32 or 64").
 * r1 is the base; r2 the offset register, or INSN_NOREG for imm8.
 */
static int op_bt_r(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t off = i->r2 == INSN_NOREG ? i->imm : reg_read(c, i->r2, sz);
	uint64_t m = 1ull << (off & (sz * 8 - 1));
	uint64_t v = reg_read(c, i->r1, sz);
	bt_flags(c, (v & m) != 0);
	/* BT writes nothing, so a 32-bit BT keeps bits 63:32; BTS/BTR/BTC
	 * write the register and zero-extend as any 32-bit write. */
	if (i->sub != BT_TEST)
		reg_write(c, i->r1, sz, bt_apply(i->sub, v, m));
	return EXEC_NEXT;
}

/*
 * Memory bit base (SDM BT, "bit base" addressing, and vol. 1 3.4.3.1 "Bit
 * String"): an imm8 offset is taken modulo the operand size and selects a
 * bit of the addressed operand.  A register offset is a signed integer of
 * the operand size (-2^15..2^15-1, -2^31..2^31-1, -2^63..2^63-1) and reaches
 * outside it: the operand read is the one at EA + (offset SAR log2(bits)) *
 * size, computed modulo the address size like the rest of the effective
 * address, and the bit within it is offset & (bits - 1).  r1 is the offset
 * register, or INSN_NOREG for imm8.
 */
static int op_bt_m(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, bits = sz * 8;
	uint64_t ea = cpu_ea(c, i), off;
	if (i->r1 != INSN_NOREG) {
		int64_t s = sext(reg_read(c, i->r1, sz), sz);
		int64_t unit = s >> __builtin_ctz(bits); /* arithmetic: rounds down */
		ea = (ea + (uint64_t)unit * sz) & size_mask(i->asz);
		off = (uint64_t)s;
	} else {
		off = i->imm;
	}
	uint64_t m = 1ull << (off & (bits - 1)), v;
	if (i->sub == BT_TEST) {
		if (cpu_read(c, i->seg, ea, sz, &v))
			return EXEC_STOP;
		bt_flags(c, (v & m) != 0);
		return EXEC_NEXT;
	}
	/* A RMW (LOCK allowed, nothing more to do single-threaded).  The flags
	 * change only after the write is done, so a faulting write leaves the
	 * lazy flags as they were without having to restore them. */
	uint64_t la;
	if (cpu_rmw_begin(c, i->seg, ea, sz, &v, &la))
		return EXEC_STOP;
	if (cpu_rmw_commit(c, la, sz, bt_apply(i->sub, v, m)))
		return EXEC_STOP;
	bt_flags(c, (v & m) != 0);
	return EXEC_NEXT;
}

/* ---- BSF, BSR, LZCNT, TZCNT, POPCNT -------------------------------------- */

/*
 * BSF/BSR (SDM BSF, BSR): ZF = (source == 0); CF, OF, SF, AF and PF are
 * undefined: measured on Intel, CF = OF = SF = AF = 0 and PF is the parity
 * of the index found (of 0 for a zero source), whatever the input flags;
 * AMD leaves them as they were.
 * The SDM calls the destination undefined for a zero source;
 * AMD documents it as unchanged and Intel processors behave the same in
 * practice (test_bit_ops checks it against the host), bits 63:32 included
 * with a 32-bit operand size, so nothing is written then.  A nonzero source writes
 * the index, zero-extended from 32 bits as any 32-bit write.  sub = 1: BSR.
 */
static int op_bsx(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (cpu_read_rm(c, i, i->r2, i->osz, &v))
		return EXEC_STOP;
	/* AMD changes only ZF (docs/undefined-behaviour.md). */
	bool amd = cpu_profile_amd(c);
	if (v == 0) {
		if (amd)
			flags_update(c, RF_ZF, RF_ZF);
		else
			flags_set_arith(c, RF_ZF | RF_PF);
		return EXEC_NEXT;
	}
	unsigned bit = i->sub ? 63u - (unsigned)__builtin_clzll(v) : (unsigned)__builtin_ctzll(v);
	reg_write(c, i->r1, i->osz, bit);
	if (amd)
		flags_update(c, RF_ZF, 0);
	else
		flags_set_arith(c, flags_szp(bit, 1) & RF_PF);
	return EXEC_NEXT;
}

/*
 * LZCNT/TZCNT (SDM LZCNT, TZCNT): the count of leading/trailing zero bits,
 * the operand size in bits for a zero source.  CF = (source == 0), ZF =
 * (result == 0); OF, SF, AF and PF are undefined: measured on Intel,
 * all four are cleared; AMD clears SF, AF, PF and keeps OF.  sub = 1: LZCNT.
 */
static int op_xzcnt(struct cpu *c, const struct insn *i)
{
	unsigned bits = i->osz * 8u, n;
	uint64_t v;
	if (cpu_read_rm(c, i, i->r2, i->osz, &v))
		return EXEC_STOP;
	if (v == 0)
		n = bits;
	else if (i->sub)
		n = (unsigned)__builtin_clzll(v) - (64 - bits);
	else
		n = (unsigned)__builtin_ctzll(v);
	reg_write(c, i->r1, i->osz, n);
	/* AMD keeps OF (docs/undefined-behaviour.md). */
	uint64_t keep = cpu_profile_amd(c) ? cpu_get_rflags(c) & RF_OF : 0;
	flags_set_arith(c, keep | (v == 0 ? RF_CF : 0) | (n == 0 ? RF_ZF : 0));
	return EXEC_NEXT;
}

/* POPCNT (SDM POPCNT): ZF = (source == 0); OF, SF, AF, CF and PF are
 * cleared. */
static int op_popcnt(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (cpu_read_rm(c, i, i->r2, i->osz, &v))
		return EXEC_STOP;
	reg_write(c, i->r1, i->osz, (uint64_t)__builtin_popcountll(v));
	flags_set_arith(c, v == 0 ? RF_ZF : 0);
	return EXEC_NEXT;
}

/* ---- MOVBE ------------------------------------------------------------------ */

static inline uint64_t bswap_size(uint64_t v, unsigned sz)
{
	switch (sz) {
	case 2:
		return __builtin_bswap16((uint16_t)v);
	case 4:
		return __builtin_bswap32((uint32_t)v);
	default:
		return __builtin_bswap64(v);
	}
}

/*
 * MOVBE (SDM MOVBE): a load or store with the bytes reversed; flags are not
 * affected.  A 16-bit load writes only the low word of the register (the
 * upper bits are unchanged), a 32-bit one zero-extends, as any register
 * write of that size.  sub = 1: store (MOVBE m, r).
 */
static int op_movbe(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t ea = cpu_ea(c, i), v;
	if (i->sub)
		return cpu_write(c, i->seg, ea, sz, bswap_size(reg_read(c, i->r1, sz), sz))
		           ? EXEC_STOP
		           : EXEC_NEXT;
	if (cpu_read(c, i->seg, ea, sz, &v))
		return EXEC_STOP;
	reg_write(c, i->r1, sz, bswap_size(v, sz));
	return EXEC_NEXT;
}

/* ---- lowering ------------------------------------------------------------------ */

static bool lower_bt(struct lower *l, enum bt_op op)
{
	l->i->sub = (uint8_t)op;
	l->i->fn = l->k[0] == OPK_MEM ? op_bt_m : op_bt_r;
	return true;
}

static bool lower_scan(struct lower *l, insn_fn fn, bool reverse)
{
	l->i->sub = reverse;
	l->i->fn = fn;
	return true;
}

bool lower_bit(struct lower *l)
{
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_BT:
		return lower_bt(l, BT_TEST);
	case ZYDIS_MNEMONIC_BTS:
		return lower_bt(l, BT_SET);
	case ZYDIS_MNEMONIC_BTR:
		return lower_bt(l, BT_RESET);
	case ZYDIS_MNEMONIC_BTC:
		return lower_bt(l, BT_COMPLEMENT);
	case ZYDIS_MNEMONIC_BSF:
		return lower_scan(l, op_bsx, false);
	case ZYDIS_MNEMONIC_BSR:
		return lower_scan(l, op_bsx, true);
	/*
	 * Zydis decodes F3 0F BC/BD as TZCNT/LZCNT whatever the CPU.  A
	 * processor without BMI1 (TZCNT) or ABM (LZCNT) ignores the F3 prefix
	 * and executes BSF/BSR (SDM LZCNT and TZCNT, "Description": "the
	 * instruction byte encoding is executed as BSR/BSF"), so a model
	 * without the feature gets exactly that.
	 */
	case ZYDIS_MNEMONIC_TZCNT:
		if (!cpu_model_has(l->model, FEAT_BMI1))
			return lower_scan(l, op_bsx, false);
		return lower_scan(l, op_xzcnt, false);
	case ZYDIS_MNEMONIC_LZCNT:
		if (!cpu_model_has(l->model, FEAT_LZCNT))
			return lower_scan(l, op_bsx, true);
		return lower_scan(l, op_xzcnt, true);
	case ZYDIS_MNEMONIC_POPCNT:
		/* SDM POPCNT: #UD if CPUID.01H:ECX.POPCNT[bit 23] = 0. */
		l->i->fn = cpu_model_has(l->model, FEAT_POPCNT) ? op_popcnt : insn_invalid;
		return true;
	case ZYDIS_MNEMONIC_MOVBE:
		/* SDM MOVBE: #UD if CPUID.01H:ECX.MOVBE[bit 22] = 0, and for a
		 * register source (only the memory forms exist). */
		if (!cpu_model_has(l->model, FEAT_MOVBE) || l->nops < 2 ||
		    (l->k[0] == OPK_MEM) == (l->k[1] == OPK_MEM)) {
			l->i->fn = insn_invalid;
			return true;
		}
		l->i->sub = l->k[0] == OPK_MEM;
		l->i->fn = op_movbe;
		return true;
	default:
		return false;
	}
}
