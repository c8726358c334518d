/*
 * Fast system calls: SYSCALL/SYSRET (SDM vol. 2 SYSCALL, SYSRET; vol. 3
 * 5.8.8) with STAR, LSTAR, CSTAR and FMASK, and SYSENTER/SYSEXIT (SDM vol. 2
 * SYSENTER, SYSEXIT; vol. 3 5.8.7) with the SYSENTER_CS/ESP/EIP MSRs.  The
 * segment registers are loaded with the fixed flat descriptors the SDM
 * gives, never from the GDT.
 *
 * Intel runs SYSCALL and SYSRET only in 64-bit mode.  On the AMD models
 * they also run in legacy protected mode (STAR's EIP, no FMASK) and
 * SYSCALL in compatibility mode (CSTAR), as AMD's manual describes
 * (APM vol. 3 SYSCALL, SYSRET); SYSENTER and SYSEXIT are #UD in long mode
 * there (APM vol. 3 SYSENTER).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/tlbctl.h"
#include "core/cpu/lower.h"

/* VMCS-layout access rights of the flat segments these instructions load:
 * code type 11 (execute/read, accessed), data type 3 (read/write,
 * accessed), S, P, G, and L or D/B. */
#define ACC_CODE64 0xa09bu
#define ACC_CODE32 0xc09bu
#define ACC_DATA   0xc093u

static void flat(struct segreg *s, uint16_t sel, uint32_t access, unsigned dpl)
{
	s->sel = sel;
	s->d.base = 0;
	s->d.limit = 0xffffffffu;
	s->d.access = access | (dpl << 5);
}

/* Load CS and SS and the mode and CPL that follow from them. */
static void load_cs_ss(struct cpu *c, uint16_t cs, uint32_t cs_acc, uint16_t ss, unsigned dpl)
{
	flat(&c->seg[SEG_CS], cs, cs_acc, dpl);
	flat(&c->seg[SEG_SS], ss, ACC_DATA, dpl);
	cpu_update_mode(c); /* CPL from SS.DPL; the TLB's class follows it */
}

/* Canonical under the current paging: 48 or, with CR4.LA57, 57 bits. */
static bool canonical(const struct cpu *c, uint64_t a)
{
	return cpu_canonical(c, a);
}

/*
 * SYSCALL (SDM SYSCALL "Operation"): RCX = the next RIP, R11 = RFLAGS (RF
 * clear, as SYSCALL clears RF), RFLAGS &= ~FMASK, CS = STAR[47:32] & FFFCH
 * (64-bit, DPL 0), SS = that + 8, RIP = LSTAR.  #UD unless EFER.SCE and
 * 64-bit mode (AMD: compatibility and legacy protected mode too).
 */
static int op_syscall(struct cpu *c, const struct insn *i)
{
	bool amd = cpu_profile_amd(c);
	if (!(c->efer & EFER_SCE) || !(c->cr0 & CR0_PE) || (c->rflags & RF_VM))
		return cpu_ud(c);
	if (c->mode != MODE_LONG64 && !amd)
		return cpu_ud(c);
	uint16_t sel = (uint16_t)(c->msr_star >> 32);
	uint64_t next = c->rip + i->len, fl = cpu_get_rflags(c) & ~(uint64_t)RF_RF;
	if (c->efer & EFER_LMA) {
		bool from64 = c->mode == MODE_LONG64;
		c->gpr[1].q = from64 ? next : (uint32_t)next;
		c->gpr[11].q = fl;
		cpu_set_rflags(c, fl & ~(c->msr_sfmask & 0xffffffffu));
		load_cs_ss(c, sel & 0xfffc, ACC_CODE64, (uint16_t)(sel + 8), 0);
		c->rip = from64 ? c->msr_lstar : c->msr_cstar;
		return EXEC_JUMP;
	}
	/* AMD legacy mode: ECX = EIP, EIP = STAR[31:0]; VM, IF and RF clear. */
	c->gpr[1].q = (uint32_t)next;
	cpu_set_rflags(c, fl & ~(uint64_t)(RF_VM | RF_IF | RF_RF));
	load_cs_ss(c, sel & 0xfffc, ACC_CODE32, (uint16_t)(sel + 8), 0);
	c->rip = (uint32_t)c->msr_star;
	return EXEC_JUMP;
}

/*
 * SYSRET (SDM SYSRET "Operation"): #UD unless EFER.SCE and 64-bit mode
 * (AMD: legacy protected mode too), #GP(0) unless CPL 0, and with REX.W
 * #GP(0) for a non-canonical RCX.  CS = STAR[63:48] (+ 16 with REX.W) | 3,
 * SS = STAR[63:48] + 8 | 3, RIP = RCX (ECX without REX.W), RFLAGS = R11.
 */
static int op_sysret(struct cpu *c, const struct insn *i)
{
	bool amd = cpu_profile_amd(c);
	if (!(c->efer & EFER_SCE) || !(c->cr0 & CR0_PE) || (c->rflags & RF_VM))
		return cpu_ud(c);
	if (c->mode != MODE_LONG64 && (!amd || (c->efer & EFER_LMA)))
		return cpu_ud(c);
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint16_t base = (uint16_t)(c->msr_star >> 48);
	if (!(c->efer & EFER_LMA)) {
		/* AMD legacy mode: EIP = ECX, IF set (APM vol. 3 SYSRET). */
		c->rflags |= RF_IF;
		load_cs_ss(c, base | 3, ACC_CODE32, (uint16_t)((base + 8) | 3), 3);
		c->rip = c->gpr[1].d;
		return EXEC_JUMP;
	}
	bool to64 = i->osz == 8;
	uint64_t rip = to64 ? c->gpr[1].q : c->gpr[1].d;
	if (to64 && !canonical(c, rip))
		return cpu_gp0(c);
	cpu_set_rflags(c, c->gpr[11].q & 0x3c7fd7u);
	load_cs_ss(c, (uint16_t)((to64 ? base + 16 : base) | 3), to64 ? ACC_CODE64 : ACC_CODE32,
	           (uint16_t)((base + 8) | 3), 3);
	c->rip = rip;
	return EXEC_JUMP;
}

/*
 * SYSENTER (SDM SYSENTER "Operation"): #GP(0) in real mode or when
 * SYSENTER_CS[15:2] is 0; VM, IF and RF clear; CS = SYSENTER_CS & FFFCH
 * (64-bit code in IA-32e mode, else 32-bit), SS = CS + 8, RSP and RIP from
 * SYSENTER_ESP and SYSENTER_EIP (their low 32 bits outside IA-32e mode).
 */
static int op_sysenter(struct cpu *c, const struct insn *i)
{
	(void)i;
	bool lma = (c->efer & EFER_LMA) != 0;
	if (lma && cpu_profile_amd(c))
		return cpu_ud(c);
	uint16_t cs = (uint16_t)c->msr_sysenter_cs;
	if (!(c->cr0 & CR0_PE) || (cs & 0xfffc) == 0)
		return cpu_gp0(c);
	cpu_set_rflags(c, cpu_get_rflags(c) & ~(uint64_t)(RF_VM | RF_IF | RF_RF));
	load_cs_ss(c, cs & 0xfffc, lma ? ACC_CODE64 : ACC_CODE32, (uint16_t)((cs & 0xfffc) + 8), 0);
	c->gpr[4].q = lma ? c->msr_sysenter_esp : (uint32_t)c->msr_sysenter_esp;
	c->rip = lma ? c->msr_sysenter_eip : (uint32_t)c->msr_sysenter_eip;
	return EXEC_JUMP;
}

/*
 * SYSEXIT (SDM SYSEXIT "Operation"): #GP(0) when SYSENTER_CS[15:2] is 0,
 * in real mode or at CPL > 0.  With REX.W: CS = SYSENTER_CS + 32 | 3
 * (64-bit), SS = + 40 | 3, RSP = RCX, RIP = RDX, both canonical or #GP(0);
 * otherwise CS = + 16 | 3 (32-bit), SS = + 24 | 3, ESP = ECX, EIP = EDX.
 */
static int op_sysexit(struct cpu *c, const struct insn *i)
{
	if ((c->efer & EFER_LMA) && cpu_profile_amd(c))
		return cpu_ud(c);
	uint16_t cs = (uint16_t)c->msr_sysenter_cs;
	if ((cs & 0xfffc) == 0 || !(c->cr0 & CR0_PE) || (c->rflags & RF_VM) || c->cpl != 0)
		return cpu_gp0(c);
	bool to64 = i->osz == 8;
	uint64_t sp = to64 ? c->gpr[1].q : c->gpr[1].d, ip = to64 ? c->gpr[2].q : c->gpr[2].d;
	if (to64 && (!canonical(c, sp) || !canonical(c, ip)))
		return cpu_gp0(c);
	load_cs_ss(c, (uint16_t)((cs + (to64 ? 32 : 16)) | 3), to64 ? ACC_CODE64 : ACC_CODE32,
	           (uint16_t)((cs + (to64 ? 40 : 24)) | 3), 3);
	c->gpr[4].q = sp;
	c->rip = ip;
	return EXEC_JUMP;
}

bool lower_syscall(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_SYSCALL:
		i->fn = op_syscall;
		break;
	case ZYDIS_MNEMONIC_SYSRET:
		i->fn = op_sysret;
		break;
	case ZYDIS_MNEMONIC_SYSENTER:
		i->fn = op_sysenter;
		break;
	case ZYDIS_MNEMONIC_SYSEXIT:
		i->fn = op_sysexit;
		break;
	default:
		return false;
	}
	l->ends_block = true;
	return true;
}
