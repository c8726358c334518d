/*
 * System instructions: flag bits (CLI STI CLD STD CLC STC CMC), HLT,
 * descriptor tables, control and segment registers, MSRs (the ones the vmm
 * owns, bhyve's vmm_msr.c and the VMCS-switched ones; the rest become
 * RDMSR/WRMSR exits), CPUID, RDTSC, INVLPG, INVPCID, UD2.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/desc.h"
#include "core/cpu/lower.h"
#include "core/cpu/tlbctl.h"
#include "core/cpu/vme.h"

static int next(struct cpu *c, const struct insn *i)
{
	c->rip += i->len;
	return EXEC_JUMP;
}

static int op_flagbit(struct cpu *c, const struct insn *i)
{
	switch (i->sub) {
	case 0: /* CLC */
	case 1: /* STC */
	case 2: /* CMC */ {
		uint64_t f = cpu_get_rflags(c);
		f = i->sub == 0 ? f & ~(uint64_t)RF_CF : i->sub == 1 ? f | RF_CF : f ^ RF_CF;
		c->rflags = f;
		return EXEC_NEXT;
	}
	case 3:
		c->rflags &= ~(uint64_t)RF_DF;
		return EXEC_NEXT;
	case 4:
		c->rflags |= RF_DF;
		return EXEC_NEXT;
	case 5: /* CLI, STI: IF when CPL <= IOPL (CPL 3 in virtual-8086 mode) */
	case 6:
		if ((c->cr0 & CR0_PE) && (unsigned)c->cpl > ((c->rflags >> 12) & 3)) {
			/* VIF in VME and PVI modes, else #GP(0) (SDM vol. 2 CLI, STI). */
			if (vme_cli_sti(c, i->sub == 6))
				return EXEC_STOP;
			return next(c, i);
		}
		if (i->sub == 5) {
			c->rflags &= ~(uint64_t)RF_IF;
		} else {
			/* STI with IF = 0: blocking by STI (SDM vol. 2 STI). */
			if (!(c->rflags & RF_IF))
				cpu_set_shadow(c, i, SHADOW_STI);
			c->rflags |= RF_IF;
		}
		return next(c, i);
	default:
		return cpu_ud(c);
	}
}

static int op_hlt(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_HLT, i->len);
	vme->u.hlt.rflags = cpu_get_rflags(c);
	return EXEC_STOP;
}

/* LGDT/LIDT m16&32 (24-bit base with a 16-bit operand), m16&64 in 64-bit mode. */
static int op_lxdt(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t ea = cpu_ea(c, i), lim, base;
	unsigned bsz = c->mode == MODE_LONG64 ? 8 : 4;
	if (cpu_read(c, i->seg, ea, 2, &lim) ||
	    cpu_read(c, i->seg, (ea + 2) & size_mask(i->asz), bsz, &base))
		return EXEC_STOP;
	if (c->mode != MODE_LONG64 && i->osz == 2)
		base &= 0xffffff;
	struct dtr *t = i->sub ? &c->idtr : &c->gdtr;
	t->base = base;
	t->limit = (uint32_t)lim;
	return EXEC_NEXT;
}

/* SGDT/SIDT: the full 32-bit base outside 64-bit mode, whatever the
 * operand size (SDM vol. 2B SGDT); #GP(0) under UMIP at CPL > 0. */
static int op_sxdt(struct cpu *c, const struct insn *i)
{
	if (cpu_umip_denies(c))
		return cpu_gp0(c);
	const struct dtr *t = i->sub ? &c->idtr : &c->gdtr;
	uint64_t ea = cpu_ea(c, i);
	unsigned bsz = c->mode == MODE_LONG64 ? 8 : 4;
	if (cpu_write(c, i->seg, ea, 2, t->limit) ||
	    cpu_write(c, i->seg, (ea + 2) & size_mask(i->asz), bsz, t->base))
		return EXEC_STOP;
	return EXEC_NEXT;
}

static uint64_t read_cr(struct cpu *c, int cr)
{
	switch (cr) {
	case 0:
		return c->cr0;
	case 2:
		return c->cr2;
	case 3:
		return c->cr3;
	case 4:
		return c->cr4;
	default:
		return c->cr8;
	}
}

static int op_mov_to_cr(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t v = reg_read(c, i->r1, c->mode == MODE_LONG64 ? 8 : 4);
	if (cpu_write_cr(c, i->sub, v))
		return EXEC_STOP;
	return next(c, i); /* paging or mode may have changed */
}

static int op_mov_from_cr(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	reg_write(c, i->r1, c->mode == MODE_LONG64 ? 8 : 4, read_cr(c, i->sub));
	return EXEC_NEXT;
}

static int op_mov_to_sreg(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	if (cpu_read_rm(c, i, i->r1, 2, &v))
		return EXEC_STOP;
	if (i->sub == SEG_CS)
		return cpu_ud(c);
	if (cpu_load_seg(c, i->sub, (uint16_t)v))
		return EXEC_STOP;
	if (i->sub == SEG_SS) /* blocking by MOV SS (SDM vol. 3 6.8.3) */
		cpu_set_shadow(c, i, SHADOW_MOVSS);
	return next(c, i);
}

static int op_mov_from_sreg(struct cpu *c, const struct insn *i)
{
	uint16_t sel = c->seg[i->sub].sel;
	if (i->flags & INSN_F_MEM)
		return cpu_write(c, i->seg, cpu_ea(c, i), 2, sel) ? EXEC_STOP : EXEC_NEXT;
	reg_write(c, i->r1, i->osz == 2 ? 2 : i->osz, sel);
	return EXEC_NEXT;
}

#define MSR_TSC          0x10
#define MSR_PLATFORM_ID  0x17
#define MSR_APICBASE     0x1b
#define MSR_BIOS_SIGN    0x8b
#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MCG_CAP      0x179
#define MSR_MISC_ENABLE  0x1a0
#define MSR_PAT          0x277
#define MSR_EFER         0xc0000080
#define MSR_STAR         0xc0000081
#define MSR_LSTAR        0xc0000082
#define MSR_CSTAR        0xc0000083
#define MSR_SFMASK       0xc0000084
#define MSR_FSBASE       0xc0000100
#define MSR_GSBASE       0xc0000101
#define MSR_KGSBASE      0xc0000102
#define MSR_TSC_AUX      0xc0000103

/* The MSRs the vmm owns (docs/exits.md).  Returns false for any other. */
static bool msr_read(struct cpu *c, uint32_t msr, uint64_t *v)
{
	switch (msr) {
	case MSR_TSC:
		*v = c->icount + c->tsc_offset;
		return true;
	case MSR_PLATFORM_ID:
	case MSR_MCG_CAP:
	case MSR_BIOS_SIGN:
		*v = 0;
		return true;
	case MSR_APICBASE:
		*v = 0xfee00000ull | 0x800 | (c->vcpuid == 0 ? 0x100 : 0);
		return true;
	case MSR_MISC_ENABLE:
		*v = (1u << 11) | (1u << 12); /* BTS and PEBS unavailable */
		return true;
	case MSR_SYSENTER_CS:
		*v = c->msr_sysenter_cs;
		return true;
	case MSR_SYSENTER_ESP:
		*v = c->msr_sysenter_esp;
		return true;
	case MSR_SYSENTER_EIP:
		*v = c->msr_sysenter_eip;
		return true;
	case MSR_PAT:
		*v = c->msr_pat;
		return true;
	case MSR_EFER:
		*v = c->efer;
		return true;
	case MSR_STAR:
		*v = c->msr_star;
		return true;
	case MSR_LSTAR:
		*v = c->msr_lstar;
		return true;
	case MSR_CSTAR:
		*v = c->msr_cstar;
		return true;
	case MSR_SFMASK:
		*v = c->msr_sfmask;
		return true;
	case MSR_FSBASE:
		*v = c->seg[SEG_FS].d.base;
		return true;
	case MSR_GSBASE:
		*v = c->seg[SEG_GS].d.base;
		return true;
	case MSR_KGSBASE:
		*v = c->msr_kgsbase;
		return true;
	case MSR_TSC_AUX:
		*v = c->msr_tsc_aux;
		return true;
	default:
		return false;
	}
}

/*
 * WRMSR to an MSR that holds a linear address is #GP(0) with a
 * non-canonical value (SDM vol. 2 WRMSR: IA32_FS_BASE, IA32_GS_BASE,
 * IA32_KERNEL_GS_BASE, IA32_LSTAR, IA32_SYSENTER_EIP and
 * IA32_SYSENTER_ESP; softvmm has no IA32_DS_AREA), in any mode.  The width
 * is the processor's largest, 57 bits when it supports 5-level paging,
 * whatever CR4.LA57 says: processors that support LA57 check MSR values
 * that way.
 */
static bool msr_canonical(const struct cpu *c, uint64_t v)
{
	unsigned sh = cpu_model_has(c->model, FEAT_LA57) ? 7 : 16;
	return (uint64_t)((int64_t)(v << sh) >> sh) == v;
}

/* 1 handled, 0 not owned by the vmm, -1 #GP raised. */
static int msr_write(struct cpu *c, uint32_t msr, uint64_t v)
{
	switch (msr) {
	case MSR_FSBASE:
	case MSR_GSBASE:
	case MSR_KGSBASE:
	case MSR_LSTAR:
	case MSR_SYSENTER_EIP:
	case MSR_SYSENTER_ESP:
		if (!msr_canonical(c, v))
			return cpu_gp0(c), -1;
		break;
	default:
		break;
	}
	switch (msr) {
	case MSR_EFER: {
		/* SCE, LME, NXE writable; LMA read-only; LME frozen while paging (SDM 9.8.5). */
		uint64_t allowed = EFER_SCE | EFER_LME | EFER_NXE | EFER_LMA;
		if (v & ~allowed)
			return cpu_gp0(c), -1;
		if ((c->cr0 & CR0_PG) && ((v ^ c->efer) & EFER_LME))
			return cpu_gp0(c), -1;
		bool flush = (v ^ c->efer) & EFER_NXE; /* NX rights are cached in the TLB */
		c->efer = (v & ~(uint64_t)EFER_LMA) | (c->efer & EFER_LMA);
		if (flush)
			cpu_flush_tlb(c);
		return 1;
	}
	case MSR_TSC:
		c->tsc_offset = v - c->icount;
		return 1;
	case MSR_PLATFORM_ID:
	case MSR_MCG_CAP:
	case MSR_MISC_ENABLE:
	case MSR_BIOS_SIGN:
	case MSR_APICBASE:
		return 1; /* bhyve: read-only, writes ignored */
	case MSR_SYSENTER_CS:
		c->msr_sysenter_cs = v;
		return 1;
	case MSR_SYSENTER_ESP:
		c->msr_sysenter_esp = v;
		return 1;
	case MSR_SYSENTER_EIP:
		c->msr_sysenter_eip = v;
		return 1;
	case MSR_PAT:
		c->msr_pat = v;
		return 1;
	case MSR_STAR:
		c->msr_star = v;
		return 1;
	case MSR_LSTAR:
		c->msr_lstar = v;
		return 1;
	case MSR_CSTAR:
		c->msr_cstar = v;
		return 1;
	case MSR_SFMASK:
		c->msr_sfmask = v;
		return 1;
	case MSR_FSBASE:
		c->seg[SEG_FS].d.base = v;
		cpu_seg_bounds(c, &c->seg[SEG_FS]);
		return 1;
	case MSR_GSBASE:
		c->seg[SEG_GS].d.base = v;
		cpu_seg_bounds(c, &c->seg[SEG_GS]);
		return 1;
	case MSR_KGSBASE:
		c->msr_kgsbase = v;
		return 1;
	case MSR_TSC_AUX:
		c->msr_tsc_aux = v & 0xffffffffull;
		return 1;
	default:
		return 0;
	}
}

static int op_rdmsr(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t v;
	if (msr_read(c, c->gpr[1].d, &v)) {
		c->gpr[0].q = (uint32_t)v;
		c->gpr[2].q = v >> 32;
		return EXEC_NEXT;
	}
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_RDMSR, i->len);
	vme->u.msr.code = c->gpr[1].d;
	return EXEC_STOP;
}

static int op_wrmsr(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t v = ((uint64_t)c->gpr[2].d << 32) | c->gpr[0].d;
	int r = msr_write(c, c->gpr[1].d, v);
	if (r > 0)
		return next(c, i);
	if (r < 0)
		return EXEC_STOP;
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_WRMSR, i->len);
	vme->u.msr.code = c->gpr[1].d;
	vme->u.msr.wval = v;
	return EXEC_STOP;
}

static int op_cpuid(struct cpu *c, const struct insn *i)
{
	(void)i;
	uint32_t r[4];
	cpu_model_cpuid(c->model, c->gpr[0].d, c->gpr[1].d, r);
	if (c->gpr[0].d == 1)
		r[1] = (r[1] & 0x00ffffffu) | ((uint32_t)c->vcpuid << 24); /* initial APIC ID */
	c->gpr[0].q = r[0];
	c->gpr[3].q = r[1];
	c->gpr[1].q = r[2];
	c->gpr[2].q = r[3];
	return EXEC_NEXT;
}

/* RDTSC counts retired instructions (DESIGN.md, Determinism). */
static int op_rdtsc(struct cpu *c, const struct insn *i)
{
	(void)i;
	uint64_t t = c->icount + c->tsc_offset;
	c->gpr[0].q = (uint32_t)t;
	c->gpr[2].q = t >> 32;
	return EXEC_NEXT;
}

/* RDTSCP: the TSC and IA32_TSC_AUX in ECX (SDM RDTSCP). */
static int op_rdtscp(struct cpu *c, const struct insn *i)
{
	(void)i;
	uint64_t t = c->icount + c->tsc_offset;
	c->gpr[0].q = (uint32_t)t;
	c->gpr[2].q = t >> 32;
	c->gpr[1].q = (uint32_t)c->msr_tsc_aux;
	return EXEC_NEXT;
}

/* RDPID r: IA32_TSC_AUX, zero-extended (SDM RDPID). */
static int op_rdpid(struct cpu *c, const struct insn *i)
{
	reg_write(c, i->r1, c->mode == MODE_LONG64 ? 8 : 4, (uint32_t)c->msr_tsc_aux);
	return EXEC_NEXT;
}

/*
 * INVLPG m (SDM vol. 2A INVLPG; vol. 3 4.10.4.1): CPL 0; the translations
 * of the page holding the linear address, for the current PCID and global
 * ones, and the whole large page when one maps it.  No segment limit check
 * (no memory is accessed), and in 64-bit mode a non-canonical address
 * makes it a NOP.
 */
static int op_invlpg(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t la = (c->seg[i->seg].base + cpu_ea(c, i)) & c->la_mask;
	if (c->mode != MODE_LONG64 || cpu_canonical(c, la))
		cpu_tlb_invlpg(c, la);
	return next(c, i);
}

/*
 * INVPCID r, m128 (SDM vol. 2A INVPCID; vol. 3 4.10.4.1).  The type is the
 * register (64 bits in 64-bit mode, else 32); the descriptor holds the
 * PCID in bits 11:0 (63:12 must be 0) and a linear address in bits
 * 127:64, used in full by type 0 even outside 64-bit mode.
 *   0: one address in one PCID, not global translations;
 *   1: all non-global translations of one PCID;
 *   2: everything, global translations included;
 *   3: all non-global translations of every PCID.
 * #UD in virtual-8086 mode; #GP(0) at CPL > 0, for a type above 3, a
 * reserved descriptor bit, a non-canonical type-0 address, or a nonzero
 * PCID with types 0 and 1 while CR4.PCIDE = 0.  The SDM gives no order
 * between the type check and the descriptor read: the type comes first
 * here, as a register operand is at hand before the memory one.
 */
static int op_invpcid(struct cpu *c, const struct insn *i)
{
	if (c->rflags & RF_VM)
		return cpu_ud(c);
	if (c->cpl != 0)
		return cpu_gp0(c);
	uint64_t type = reg_read(c, i->r1, c->mode == MODE_LONG64 ? 8 : 4);
	if (type > 3)
		return cpu_gp0(c);
	uint64_t ea = cpu_ea(c, i), lo, hi;
	if (cpu_read(c, i->seg, ea, 8, &lo) ||
	    cpu_read(c, i->seg, (ea + 8) & size_mask(i->asz), 8, &hi))
		return EXEC_STOP;
	unsigned pcid = (unsigned)(lo & 0xfff);
	if ((lo >> 12) != 0)
		return cpu_gp0(c);
	if (type <= 1 && pcid != 0 && !(c->cr4 & CR4_PCIDE))
		return cpu_gp0(c);
	switch (type) {
	case 0:
		if (!cpu_canonical(c, hi))
			return cpu_gp0(c);
		tlb_flush_page_pcid(&c->tlb, hi, pcid);
		break;
	case 1:
		tlb_flush_pcid(&c->tlb, pcid);
		break;
	case 2:
		cpu_tlb_flush_global(c);
		break;
	default:
		tlb_flush_nonglobal(&c->tlb);
		break;
	}
	cpu_tlb_sync(c);
	cpu_flush_jcache(c);
	return next(c, i);
}

/*
 * CLAC / STAC (SDM vol. 2A CLAC, vol. 2B STAC): EFLAGS.AC := 0 / 1, which
 * with CR4.SMAP decides whether supervisor data accesses may touch user
 * pages (vol. 3 4.6).  #UD at CPL > 0 and in virtual-8086 mode (CPL 3
 * there); the model check is made when the instruction is lowered.  AC
 * also drives alignment checking at CPL 3, which cannot be current here.
 */
static int op_clac_stac(struct cpu *c, const struct insn *i)
{
	if (c->cpl != 0)
		return cpu_ud(c);
	cpu_set_rflags(c,
	               i->sub ? cpu_get_rflags(c) | RF_AC : cpu_get_rflags(c) & ~(uint64_t)RF_AC);
	return EXEC_NEXT;
}

static int op_ud(struct cpu *c, const struct insn *i)
{
	(void)i;
	return cpu_ud(c);
}

static int op_pause(struct cpu *c, const struct insn *i)
{
	if (c->caps[VM_CAP_PAUSE_EXIT]) {
		cpu_begin_exit(c, VM_EXITCODE_PAUSE, i->len);
		return EXEC_STOP;
	}
	return EXEC_NEXT;
}

bool lower_system(struct lower *l)
{
	struct insn *i = l->i;
	ZydisMnemonic m = l->zi->mnemonic;
	static const ZydisMnemonic flagbits[] = {
	    ZYDIS_MNEMONIC_CLC, ZYDIS_MNEMONIC_STC, ZYDIS_MNEMONIC_CMC, ZYDIS_MNEMONIC_CLD,
	    ZYDIS_MNEMONIC_STD, ZYDIS_MNEMONIC_CLI, ZYDIS_MNEMONIC_STI};
	for (unsigned k = 0; k < sizeof(flagbits) / sizeof(flagbits[0]); k++) {
		if (flagbits[k] == m) {
			i->sub = (uint8_t)k;
			i->fn = op_flagbit;
			l->ends_block = k >= 5;
			return true;
		}
	}
	switch (m) {
	case ZYDIS_MNEMONIC_HLT:
		i->fn = op_hlt;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_LGDT:
	case ZYDIS_MNEMONIC_LIDT:
		i->sub = m == ZYDIS_MNEMONIC_LIDT;
		i->fn = op_lxdt;
		return true;
	case ZYDIS_MNEMONIC_SGDT:
	case ZYDIS_MNEMONIC_SIDT:
		i->sub = m == ZYDIS_MNEMONIC_SIDT;
		i->fn = op_sxdt;
		return true;
	case ZYDIS_MNEMONIC_MOV:
		if (l->k[0] == OPK_CR || l->k[1] == OPK_CR) {
			bool to = l->k[0] == OPK_CR;
			const ZydisDecodedOperand *cr = &l->op[to ? 0 : 1];
			i->sub = (uint8_t)(cr->reg.value - ZYDIS_REGISTER_CR0);
			i->r1 = (uint8_t)lower_gpr_index(l->op[to ? 1 : 0].reg.value);
			i->fn = to ? op_mov_to_cr : op_mov_from_cr;
			/* CR1, CR5-CR7 and CR9-CR15 do not exist: #UD (SDM vol. 2B MOV CR). */
			if (i->sub != 0 && i->sub != 2 && i->sub != 3 && i->sub != 4 && i->sub != 8)
				i->fn = insn_invalid;
			l->ends_block = to;
			return true;
		}
		if (l->k[0] == OPK_SREG) {
			i->sub = (uint8_t)lower_sreg(l->op[0].reg.value);
			if (l->k[1] == OPK_REG)
				i->r1 = lower_gpr(l->op[1].reg.value);
			i->fn = op_mov_to_sreg;
			l->ends_block = true;
			return true;
		}
		if (l->k[1] == OPK_SREG) {
			i->sub = (uint8_t)lower_sreg(l->op[1].reg.value);
			i->osz = l->k[0] == OPK_MEM ? 2 : (uint8_t)(l->op[0].size / 8);
			i->fn = op_mov_from_sreg;
			return true;
		}
		return false;
	case ZYDIS_MNEMONIC_RDMSR:
		i->fn = op_rdmsr;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_WRMSR:
		i->fn = op_wrmsr;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_CPUID:
		i->fn = op_cpuid;
		return true;
	case ZYDIS_MNEMONIC_RDTSC:
		i->fn = op_rdtsc;
		return true;
	/* Instructions the CPU model must advertise; #UD otherwise (SDM vol. 2
	 * "Feature flag" rows). */
	case ZYDIS_MNEMONIC_RDTSCP:
		i->fn = cpu_model_has(l->model, FEAT_RDTSCP) ? op_rdtscp : op_ud;
		return true;
	case ZYDIS_MNEMONIC_RDPID:
		i->r1 = (uint8_t)lower_gpr_index(l->op[0].reg.value);
		i->fn = cpu_model_has(l->model, FEAT_RDPID) ? op_rdpid : op_ud;
		return true;
	case ZYDIS_MNEMONIC_INVLPG:
		i->fn = op_invlpg;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_CLAC:
	case ZYDIS_MNEMONIC_STAC:
		i->sub = m == ZYDIS_MNEMONIC_STAC;
		i->fn = cpu_model_has(l->model, FEAT_SMAP) ? op_clac_stac : op_ud;
		return true;
	case ZYDIS_MNEMONIC_INVPCID:
		i->r1 = (uint8_t)lower_gpr_index(l->op[0].reg.value);
		i->fn = cpu_model_has(l->model, FEAT_INVPCID) ? op_invpcid : op_ud;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_UD0:
	case ZYDIS_MNEMONIC_UD1:
	case ZYDIS_MNEMONIC_UD2:
		i->fn = op_ud;
		l->ends_block = true;
		return true;
	case ZYDIS_MNEMONIC_PAUSE:
		i->fn = op_pause;
		l->ends_block = true;
		return true;
	default:
		return false;
	}
}
