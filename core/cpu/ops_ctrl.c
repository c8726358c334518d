/*
 * Control and debug registers beyond MOV CRn: SMSW, LMSW, CLTS (SDM vol.
 * 2A/2B, each instruction's page), MOV to and from DR0-DR7 (SDM vol. 2B
 * MOV DR; vol. 3 17.2) and XGETBV/XSETBV (SDM vol. 2C; vol. 1 13.3).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/debugreg.h"
#include "core/cpu/desc.h"
#include "core/cpu/lower.h"

/* DR6: B0-B3, BD, BS, BT are writable; bits 4-11 and 16-31 read as 1 and
 * bit 12 as 0 on a model without RTM or bus-lock detection (SDM vol. 3
 * 17.2.3).  DR7: bits 0-9, GD and 16-31 are writable, bit 10 reads as 1,
 * bits 11, 12, 14, 15 as 0 (SDM vol. 3 17.2.4). */
#define DR6_WRITABLE 0x0000e00full
#define DR6_FIXED1   0xffff0ff0ull
#define DR7_WRITABLE 0xffff23ffull
#define DR7_FIXED1   0x00000400ull
#define DR7_GD       0x2000ull

static int next(struct cpu *c, const struct insn *i)
{
	c->rip += i->len;
	return EXEC_JUMP;
}

/*
 * SMSW r/m16, r32, r64: CR0's low 16 bits to memory or a 16-bit register;
 * a 32- or 64-bit register gets CR0 itself (the SDM leaves the upper bits
 * undefined; Intel and AMD store CR0).  #GP(0) under UMIP at CPL > 0.
 */
static int op_smsw(struct cpu *c, const struct insn *i)
{
	if (cpu_umip_denies(c))
		return cpu_gp0(c);
	if (i->flags & INSN_F_MEM)
		return cpu_write(c, i->seg, cpu_ea(c, i), 2, c->cr0) ? EXEC_STOP : EXEC_NEXT;
	reg_write(c, i->r1, i->osz, c->cr0);
	return EXEC_NEXT;
}

/*
 * LMSW r/m16: CR0 bits 3:0 (PE MP EM TS) from the operand, the rest kept;
 * it can set PE but not clear it (SDM vol. 2A LMSW).  CPL 0, #GP(0)
 * otherwise (so always in virtual-8086 mode).
 */
static int op_lmsw(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t v;
	if (cpu_read_rm(c, i, i->r1, 2, &v))
		return EXEC_STOP;
	uint64_t cr0 = (c->cr0 & ~0xfull) | (v & 0xf) | (c->cr0 & CR0_PE);
	if (cpu_write_cr(c, 0, cr0))
		return EXEC_STOP;
	return next(c, i);
}

/* CLTS: clear CR0.TS; CPL 0, #GP(0) otherwise (SDM vol. 2A CLTS). */
static int op_clts(struct cpu *c, const struct insn *i)
{
	(void)i;
	if (c->cpl != 0)
		return cpu_gp0(c);
	c->cr0 &= ~(uint64_t)CR0_TS;
	return EXEC_NEXT;
}

/*
 * WBINVD and INVD: CPL 0 only, #GP(0) otherwise (SDM vol. 2A INVD, vol. 2B
 * WBINVD; the privilege check comes before a VM exit, SDM vol. 3 25.1.1).
 * There is no cache to write back.  WBINVD runs in the guest under bhyve
 * (it does not enable WBINVD exiting); INVD exits unconditionally in VMX
 * non-root operation, and bhyve, which does not handle that exit, returns
 * it to user space as a VMX exit with reason 13 (BHYVE-EXITS.md section 8).
 * sub = 1: INVD.
 */
static int op_invd_wbinvd(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	if (!i->sub)
		return EXEC_NEXT;
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_VMX, i->len);
	vme->u.vmx.status = 0;
	vme->u.vmx.exit_reason = VMX_EXIT_REASON_INVD;
	vme->u.vmx.exit_qualification = 0;
	vme->u.vmx.inst_type = 0;
	vme->u.vmx.inst_error = 0;
	return EXEC_STOP;
}

static int op_rdpmc(struct cpu *c, const struct insn *i)
{
	(void)i;
	return cpu_gp0(c);
}

/*
 * The checks of MOV to or from DRn (SDM vol. 2B MOV DR, "Protected Mode
 * Exceptions", in this order): #GP(0) at CPL > 0; #UD for DR4/DR5 with
 * CR4.DE = 1, else they are DR6/DR7 (SDM vol. 3 17.2.2); #DB with DR6.BD
 * set when DR7.GD is set (SDM vol. 3 17.2.4: a fault before the access,
 * GD cleared for the handler).  Returns the register number, or -1 with
 * the exception raised.
 */
static int dr_check(struct cpu *c, unsigned n)
{
	if (c->cpl != 0)
		return cpu_gp0(c), -1;
	if (n == 4 || n == 5) {
		if (c->cr4 & CR4_DE)
			return cpu_ud(c), -1;
		n += 2;
	}
	if (c->dr[7] & DR7_GD) {
		/* A fault-class #DB that is not an instruction breakpoint pushes
		 * RF = 1 (SDM vol. 3 17.3.1.1); delivery clears RF again.  B0-B3
		 * report no breakpoint (debugreg.c). */
		c->dr[6] = (c->dr[6] & ~DR6_BN) | DR6_BD;
		c->dr[7] &= ~DR7_GD;
		c->rflags |= RF_RF;
		return cpu_raise(c, IDT_DB, false, 0), -1;
	}
	return (int)n;
}

static int op_mov_from_dr(struct cpu *c, const struct insn *i)
{
	int n = dr_check(c, i->sub);
	if (n < 0)
		return EXEC_STOP;
	reg_write(c, i->r1, c->mode == MODE_LONG64 ? 8 : 4, c->dr[n]);
	return EXEC_NEXT;
}

/* MOV DRn, r: 64 bits in 64-bit mode, where DR6 and DR7 bits 63:32 must be
 * 0 (#GP(0), SDM vol. 2B MOV DR, 64-bit mode exceptions); 32 elsewhere. */
static int op_mov_to_dr(struct cpu *c, const struct insn *i)
{
	int n = dr_check(c, i->sub);
	if (n < 0)
		return EXEC_STOP;
	uint64_t v = reg_read(c, i->r1, c->mode == MODE_LONG64 ? 8 : 4);
	if (n >= 6 && (v >> 32) != 0)
		return cpu_gp0(c);
	if (n == 6)
		v = (v & DR6_WRITABLE) | DR6_FIXED1;
	else if (n == 7)
		v = (v & DR7_WRITABLE) | DR7_FIXED1;
	c->dr[n] = v;
	/* The new breakpoints apply from the next instruction: MOV to DRn
	 * ends its block. */
	if (n != 6)
		dbg_update(c);
	return next(c, i);
}

/* The XCR0 bits the models support: x87 and SSE state (no AVX). */
#define XCR0_SUPPORTED 0x3ull

/*
 * XGETBV / XSETBV (SDM vol. 2C): #UD unless CR4.OSXSAVE is set, which needs
 * a model with XSAVE; XCR0 is the only register (ECX = 0, #GP(0)
 * otherwise).  XSETBV: CPL 0; XCR0 bit 0 must be 1, unsupported bits 0,
 * and AVX state (bit 2) needs SSE state (bit 1) (SDM vol. 1 13.3).
 */
static int op_xgetbv(struct cpu *c, const struct insn *i)
{
	(void)i;
	if (!(c->cr4 & CR4_OSXSAVE))
		return cpu_ud(c);
	if (c->gpr[1].d != 0)
		return cpu_gp0(c);
	c->gpr[0].q = (uint32_t)c->xcr0;
	c->gpr[2].q = c->xcr0 >> 32;
	return EXEC_NEXT;
}

static int op_xsetbv(struct cpu *c, const struct insn *i)
{
	if (!(c->cr4 & CR4_OSXSAVE))
		return cpu_ud(c);
	uint64_t v = ((uint64_t)c->gpr[2].d << 32) | c->gpr[0].d;
	if (c->cpl != 0 || c->gpr[1].d != 0 || !(v & 1) || (v & ~XCR0_SUPPORTED) ||
	    ((v & 4) && !(v & 2)))
		return cpu_gp0(c);
	c->xcr0 = v;
	return next(c, i);
}

/* CPUID.01H:ECX.XSAVE[bit 26] of the model. */
static bool model_has_xsave(const struct cpu_model *m)
{
	uint32_t r[4];
	cpu_model_cpuid(m, 1, 0, r);
	return (r[2] >> 26) & 1;
}

bool lower_ctrl(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_SMSW:
		i->osz = l->k[0] == OPK_MEM ? 2 : (uint8_t)(l->op[0].size / 8);
		i->fn = op_smsw;
		return true;
	case ZYDIS_MNEMONIC_LMSW:
		i->fn = op_lmsw;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_CLTS:
		i->fn = op_clts;
		return true;
	case ZYDIS_MNEMONIC_WBINVD:
	case ZYDIS_MNEMONIC_INVD:
		i->sub = l->zi->mnemonic == ZYDIS_MNEMONIC_INVD;
		i->fn = op_invd_wbinvd;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_RDPMC:
		/* No CPU model has performance counters (CPUID leaf 0AH is not
		 * listed), so every ECX names a counter that does not exist:
		 * #GP(0) at any CPL, whatever CR4.PCE (SDM vol. 2B RDPMC). */
		i->fn = op_rdpmc;
		return true;
	case ZYDIS_MNEMONIC_RSM:
		/* #UD outside system-management mode, which no vcpu enters
		 * (SDM vol. 2B RSM; VMX non-root operation, vol. 3 25.1.2). */
		i->fn = insn_invalid;
		return true;
	case ZYDIS_MNEMONIC_MOV: {
		if (l->k[0] != OPK_DR && l->k[1] != OPK_DR)
			return false;
		bool to = l->k[0] == OPK_DR;
		unsigned n = (unsigned)(l->op[to ? 0 : 1].reg.value - ZYDIS_REGISTER_DR0);
		i->sub = (uint8_t)n;
		i->r1 = (uint8_t)lower_gpr_index(l->op[to ? 1 : 0].reg.value);
		/* DR8-DR15 (REX.R) do not exist: #UD (SDM vol. 2B MOV DR). */
		i->fn = n > 7 ? insn_invalid : to ? op_mov_to_dr : op_mov_from_dr;
		l->ends_block = to;
		return true;
	}
	case ZYDIS_MNEMONIC_XGETBV:
	case ZYDIS_MNEMONIC_XSETBV:
		if (!model_has_xsave(l->model))
			i->fn = insn_invalid;
		else
			i->fn = l->zi->mnemonic == ZYDIS_MNEMONIC_XGETBV ? op_xgetbv : op_xsetbv;
		l->ends_block = true;
		return true;
	default:
		return false;
	}
}
