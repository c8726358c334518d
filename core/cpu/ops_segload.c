/*
 * Far-pointer loads LDS, LES, LFS, LGS, LSS (SDM vol. 2A LDS/LES/LFS/LGS/
 * LSS) and SWAPGS (SDM vol. 2B SWAPGS).  The segment checks are
 * cpu_load_seg's (seg.c).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"

/*
 * Lxx r, m16:16 / m16:32 / m16:64: the offset (operand size) then the
 * selector after it.  Both are read before anything changes; the segment
 * register is loaded (its checks may fault) and then the general register
 * is written.  A register source is #UD.
 */
static int op_load_far(struct cpu *c, const struct insn *i)
{
	if (!(i->flags & INSN_F_MEM))
		return cpu_ud(c);
	uint64_t ea = cpu_ea(c, i), off, sel;
	if (cpu_read(c, i->seg, ea, i->osz, &off) ||
	    cpu_read(c, i->seg, (ea + i->osz) & size_mask(i->asz), 2, &sel))
		return EXEC_STOP;
	if (cpu_load_seg(c, i->sub, (uint16_t)sel))
		return EXEC_STOP;
	reg_write(c, i->r1, i->osz, off);
	c->rip += i->len;
	return EXEC_JUMP; /* LSS changes the stack size, SS the CPL's view */
}

/*
 * SWAPGS: exchange GS.base with IA32_KERNEL_GS_BASE (C0000102H).  64-bit
 * mode only (#UD elsewhere), CPL 0 (#GP(0) otherwise).
 */
static int op_swapgs(struct cpu *c, const struct insn *i)
{
	(void)i;
	if (c->mode != MODE_LONG64)
		return cpu_ud(c);
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t k = c->msr_kgsbase;
	c->msr_kgsbase = c->seg[SEG_GS].d.base;
	c->seg[SEG_GS].d.base = k;
	cpu_seg_bounds(c, &c->seg[SEG_GS]);
	return EXEC_NEXT;
}

bool lower_segload(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_LDS:
		i->sub = SEG_DS;
		break;
	case ZYDIS_MNEMONIC_LES:
		i->sub = SEG_ES;
		break;
	case ZYDIS_MNEMONIC_LFS:
		i->sub = SEG_FS;
		break;
	case ZYDIS_MNEMONIC_LGS:
		i->sub = SEG_GS;
		break;
	case ZYDIS_MNEMONIC_LSS:
		i->sub = SEG_SS;
		break;
	case ZYDIS_MNEMONIC_SWAPGS:
		i->fn = op_swapgs;
		return true;
	default:
		return false;
	}
	i->osz = (uint8_t)(l->op[0].size / 8);
	i->fn = op_load_far;
	l->ends_block = true;
	return true;
}
