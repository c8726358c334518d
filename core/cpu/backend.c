/*
 * vmm_ops_soft: the software CPU as a backend.  Registers and segment
 * state live in struct cpu; vmrun enters the run loop at the caller's rip.
 */
#include <Zydis/Zydis.h>
#include <errno.h>
#include <stdlib.h>

#include "core/cpu/cpu.h"
#include "core/cpu/tlbctl.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/debugreg.h"
#include "core/cpu/step.h"
#include "core/vmm_ops.h"
#include "decode/cache.h"
#include "paging/walk.h"

struct soft_vm {
	struct vm_mem *mem;
	struct code_cache *cc;
	int ncpus;
	struct cpu *cpus[VM_MAXCPU];
	/* Where the last exit left each vcpu, to count instructions the caller
	 * completed (resuming at rip + inst_length). */
	uint64_t resume_rip[VM_MAXCPU];
	bool resume_counts[VM_MAXCPU];
	/* The VM-entry instruction length an injected software event is
	 * delivered with: bhyve's vmx_exit_process sets it from the exit's
	 * instruction length when the exit's IDT-vectoring event is a
	 * software one (types 4-6), and it holds until the next such exit. */
	uint8_t entry_inst_len[VM_MAXCPU];
};

static void soft_vcpu_reset(void *vmi, int vcpu)
{
	struct soft_vm *s = vmi;
	struct cpu *c = s->cpus[vcpu];
	cpu_reset(c);
	/* No blocking and no pending debug exception after reset (SDM vol. 3
	 * table 9-1); the ExtINT line belongs to core/ and is set per run. */
	c->interrupt_shadow = 0;
	c->dbg_step = 0;
	s->resume_counts[vcpu] = false;
	s->entry_inst_len[vcpu] = 0;
}

static void soft_cleanup(void *vmi)
{
	struct soft_vm *s = vmi;
	if (!s)
		return;
	for (int i = 0; i < s->ncpus; i++)
		free(s->cpus[i]);
	code_cache_free(s->cc);
	free(s);
}

static void *soft_init(struct vm *vm, struct vm_mem *mem, const struct cpu_model *model, int ncpus)
{
	(void)vm;
	struct soft_vm *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->mem = mem;
	s->ncpus = ncpus;
	s->cc = code_cache_new(mem);
	if (!s->cc) {
		free(s);
		return NULL;
	}
	for (int i = 0; i < ncpus; i++) {
		struct cpu *c = calloc(1, sizeof(*c));
		if (!c) {
			soft_cleanup(s);
			return NULL;
		}
		s->cpus[i] = c;
		c->mem = mem;
		c->cc = s->cc;
		c->model = model;
		c->vcpuid = i;
		code_cache_attach(s->cc, &c->tlb, c->jcache, sizeof(c->jcache));
		tlb_init(&c->tlb);
		cpu_reset(c);
	}
	return s;
}

static int soft_run(void *vmi, int vcpu, uint64_t rip, struct vm_exit *vme)
{
	struct soft_vm *s = vmi;
	struct cpu *c = s->cpus[vcpu];
	/* An exit with an instruction length hands that instruction to the
	 * caller, who completes it (resuming at rip + inst_length): it counts as
	 * retired at the exit, and is taken back if the caller restarts it. */
	if (s->resume_counts[vcpu] && rip != s->resume_rip[vcpu])
		c->icount--;
	else if (s->resume_counts[vcpu])
		c->rflags &= ~(uint64_t)RF_RF; /* the caller completed the instruction */
	c->rip = rip;
	c->exit_intinfo = 0;
	int r = cpu_run(c, vme);
	/* VT-x's exit instruction length for an exit in the middle of a
	 * software event's delivery is that event's instruction length (SDM
	 * vol. 3 27.2.4), whatever the exit reports as inst_length. */
	unsigned type = (unsigned)(c->exit_intinfo & VM_INTINFO_TYPE) >> 8;
	if ((c->exit_intinfo & VM_INTINFO_VALID) && type >= 4 && type <= 6)
		s->entry_inst_len[vcpu] = c->exit_intinfo_len;
	s->resume_counts[vcpu] = vme->inst_length > 0;
	if (vme->inst_length > 0)
		c->icount++;
	s->resume_rip[vcpu] = vme->rip + (uint64_t)vme->inst_length;
	return r;
}

static struct segreg *seg_of(struct cpu *c, int reg)
{
	if (reg >= VM_REG_GUEST_ES && reg <= VM_REG_GUEST_GS)
		return &c->seg[reg - VM_REG_GUEST_ES];
	if (reg == VM_REG_GUEST_LDTR)
		return &c->ldtr;
	if (reg == VM_REG_GUEST_TR)
		return &c->tr;
	return NULL;
}

static const int gpr_index[] = {
    [VM_REG_GUEST_RAX] = 0,  [VM_REG_GUEST_RBX] = 3,  [VM_REG_GUEST_RCX] = 1,
    [VM_REG_GUEST_RDX] = 2,  [VM_REG_GUEST_RSI] = 6,  [VM_REG_GUEST_RDI] = 7,
    [VM_REG_GUEST_RBP] = 5,  [VM_REG_GUEST_R8] = 8,   [VM_REG_GUEST_R9] = 9,
    [VM_REG_GUEST_R10] = 10, [VM_REG_GUEST_R11] = 11, [VM_REG_GUEST_R12] = 12,
    [VM_REG_GUEST_R13] = 13, [VM_REG_GUEST_R14] = 14, [VM_REG_GUEST_R15] = 15,
};

static inline int cpu_getreg(struct cpu *c, int reg, uint64_t *val)
{
	if (reg <= VM_REG_GUEST_R15) {
		*val = c->gpr[gpr_index[reg]].q;
		return 0;
	}
	struct segreg *s = seg_of(c, reg);
	if (s) {
		*val = s->sel;
		return 0;
	}
	switch (reg) {
	case VM_REG_GUEST_CR0:
		*val = c->cr0;
		return 0;
	case VM_REG_GUEST_CR3:
		*val = c->cr3;
		return 0;
	case VM_REG_GUEST_CR4:
		*val = c->cr4;
		return 0;
	case VM_REG_GUEST_DR7:
		*val = c->dr[7];
		return 0;
	case VM_REG_GUEST_RSP:
		*val = c->gpr[4].q;
		return 0;
	case VM_REG_GUEST_RIP:
		*val = c->rip;
		return 0;
	case VM_REG_GUEST_RFLAGS:
		*val = cpu_get_rflags(c);
		return 0;
	case VM_REG_GUEST_EFER:
		*val = c->efer;
		return 0;
	case VM_REG_GUEST_CR2:
		*val = c->cr2;
		return 0;
	case VM_REG_GUEST_PDPTE0:
	case VM_REG_GUEST_PDPTE1:
	case VM_REG_GUEST_PDPTE2:
	case VM_REG_GUEST_PDPTE3:
		*val = c->pdpte[reg - VM_REG_GUEST_PDPTE0];
		return 0;
	case VM_REG_GUEST_INTR_SHADOW:
		/* bhyve's vmx_get_intr_shadow: blocking by STI or by MOV SS. */
		*val = c->interrupt_shadow != 0;
		return 0;
	case VM_REG_GUEST_DR0:
	case VM_REG_GUEST_DR1:
	case VM_REG_GUEST_DR2:
	case VM_REG_GUEST_DR3:
		*val = c->dr[reg - VM_REG_GUEST_DR0];
		return 0;
	case VM_REG_GUEST_DR6:
		*val = c->dr[6];
		return 0;
	case VM_REG_SOFTVMM_NMI_BLOCKED:
		*val = (c->dbg_step & STEP_NMI_BLOCKED) != 0;
		return 0;
	default:
		return EINVAL; /* IDTR/GDTR have no selector: use vm_get_seg_desc */
	}
}

static int soft_getreg(void *vmi, int vcpu, int reg, uint64_t *val)
{
	return cpu_getreg(((struct soft_vm *)vmi)->cpus[vcpu], reg, val);
}

static int soft_setreg(void *vmi, int vcpu, int reg, uint64_t val)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	if (reg <= VM_REG_GUEST_R15) {
		c->gpr[gpr_index[reg]].q = val;
		return 0;
	}
	struct segreg *s = seg_of(c, reg);
	if (s) {
		s->sel = (uint16_t)val;
		return 0;
	}
	switch (reg) {
	case VM_REG_GUEST_CR0:
		c->cr0 = val;
		break;
	case VM_REG_GUEST_CR3:
		c->cr3 = val;
		break;
	case VM_REG_GUEST_CR4:
		c->cr4 = val;
		break;
	case VM_REG_GUEST_DR7:
		c->dr[7] = val;
		dbg_update(c);
		return 0;
	case VM_REG_GUEST_RSP:
		c->gpr[4].q = val;
		return 0;
	case VM_REG_GUEST_RIP:
		c->rip = val;
		return 0;
	case VM_REG_GUEST_RFLAGS:
		cpu_set_rflags(c, val);
		break;
	case VM_REG_GUEST_EFER:
		c->efer = val;
		break;
	case VM_REG_GUEST_CR2:
		c->cr2 = val;
		return 0;
	case VM_REG_SOFTVMM_NMI_BLOCKED:
		if (val > 1)
			return EINVAL;
		if (val)
			c->dbg_step |= STEP_NMI_BLOCKED;
		else
			c->dbg_step &= (uint8_t)~STEP_NMI_BLOCKED;
		return 0;
	case VM_REG_GUEST_INTR_SHADOW:
		/* bhyve's vmx_modify_intr_shadow: the shadow can be cleared,
		 * never forced on. */
		if (val)
			return EINVAL;
		c->interrupt_shadow = 0;
		return 0;
	case VM_REG_GUEST_DR0:
	case VM_REG_GUEST_DR1:
	case VM_REG_GUEST_DR2:
	case VM_REG_GUEST_DR3:
		c->dr[reg - VM_REG_GUEST_DR0] = val;
		dbg_update(c);
		return 0;
	case VM_REG_GUEST_DR6:
		c->dr[6] = val;
		return 0;
	case VM_REG_GUEST_PDPTE0:
	case VM_REG_GUEST_PDPTE1:
	case VM_REG_GUEST_PDPTE2:
	case VM_REG_GUEST_PDPTE3:
		c->pdpte[reg - VM_REG_GUEST_PDPTE0] = val;
		break;
	default:
		return EINVAL;
	}
	/* Like a VMCS write: the new state takes effect at the next entry. */
	cpu_update_mode(c);
	cpu_flush_tlb(c);
	return 0;
}

static void seg_state(const struct segreg *s, struct vm_seg_state *o)
{
	o->base = s->d.base;
	o->limit = s->d.limit;
	o->access = s->d.access;
	o->sel = s->sel;
	o->pad[0] = o->pad[1] = o->pad[2] = 0;
}

/* The whole state by direct copies; every byte is written, padding too. */
static void soft_get_state(void *vmi, int vcpu, struct vm_vcpu_state *st)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	for (int k = 0; k < 16; k++)
		st->gpr[k] = c->gpr[k].q;
	st->rip = c->rip;
	st->rflags = cpu_get_rflags(c);
	st->cr0 = c->cr0;
	st->cr2 = c->cr2;
	st->cr3 = c->cr3;
	st->cr4 = c->cr4;
	st->cr8 = c->cr8;
	st->efer = c->efer;
	st->dr7 = c->dr[7];
	memcpy(st->pdpte, c->pdpte, sizeof(st->pdpte));
	for (int k = 0; k < 6; k++)
		seg_state(&c->seg[k], &st->seg[k]);
	seg_state(&c->ldtr, &st->ldtr);
	seg_state(&c->tr, &st->tr);
	st->gdtr = (struct vm_seg_state){.base = c->gdtr.base, .limit = c->gdtr.limit};
	st->idtr = (struct vm_seg_state){.base = c->idtr.base, .limit = c->idtr.limit};
}

static int soft_getdesc(void *vmi, int vcpu, int reg, struct seg_desc *d)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	if (reg == VM_REG_GUEST_IDTR || reg == VM_REG_GUEST_GDTR) {
		const struct dtr *t = reg == VM_REG_GUEST_IDTR ? &c->idtr : &c->gdtr;
		d->base = t->base;
		d->limit = t->limit;
		d->access = 0;
		return 0;
	}
	*d = seg_of(c, reg)->d;
	return 0;
}

static int soft_setdesc(void *vmi, int vcpu, int reg, const struct seg_desc *d)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	if (reg == VM_REG_GUEST_IDTR || reg == VM_REG_GUEST_GDTR) {
		struct dtr *t = reg == VM_REG_GUEST_IDTR ? &c->idtr : &c->gdtr;
		t->base = d->base;
		t->limit = d->limit;
		return 0;
	}
	seg_of(c, reg)->d = *d;
	cpu_update_mode(c);
	return 0;
}

static int soft_getcap(void *vmi, int vcpu, int cap, int *val)
{
	*val = ((struct soft_vm *)vmi)->cpus[vcpu]->caps[cap];
	return 0;
}

static int soft_setcap(void *vmi, int vcpu, int cap, int val)
{
	/* UNRESTRICTED_GUEST is always on for a software CPU; INVPCID is
	 * accepted and has no effect until INVPCID exists (issue 6). */
	((struct soft_vm *)vmi)->cpus[vcpu]->caps[cap] = val != 0;
	return 0;
}

static int soft_inject(void *vmi, int vcpu, uint64_t info)
{
	struct soft_vm *s = vmi;
	struct cpu *c = s->cpus[vcpu];
	c->exc.vector = (uint8_t)VM_INTINFO_VECTOR(info);
	c->exc.has_error = (info & VM_INTINFO_DEL_ERRCODE) != 0;
	c->exc.error = (uint32_t)(info >> 32);
	/* An interrupt or NMI being delivered at the last exit (exitintinfo):
	 * benign, RF pushed as it is.  Injecting an NMI blocks NMIs as its
	 * delivery does (SDM vol. 3 6.7.1, 26.6.1.2). */
	unsigned type = (unsigned)(info & VM_INTINFO_TYPE);
	c->exc.hw_intr = type == VM_INTINFO_HWINTR || type == VM_INTINFO_NMI;
	c->exc.nmi = type == VM_INTINFO_NMI;
	/* A software interrupt or exception (types 4-6, as VT-x reports and
	 * injects them) is delivered as the instruction would deliver it,
	 * returning after entry_inst_len bytes (except.c).  bhyve's
	 * vmx_inject_interrupts injects #BP and #OF as software exceptions
	 * (type 6), as VT-x asks, whatever type the intinfo gives. */
	unsigned vec = c->exc.vector;
	if (type == VM_INTINFO_HWEXCEPTION && (vec == IDT_BP || vec == IDT_OF))
		type = 6u << 8;
	c->exc.soft_type = type >= (4u << 8) && type <= (6u << 8) ? (uint8_t)(type >> 8) : 0;
	c->exc.soft_len = s->entry_inst_len[vcpu];
	if (c->exc.nmi)
		c->dbg_step |= STEP_NMI_BLOCKED;
	c->exc_pending = true;
	return 0;
}

static uint64_t soft_exit_intinfo(void *vmi, int vcpu)
{
	return ((struct soft_vm *)vmi)->cpus[vcpu]->exit_intinfo;
}

static void soft_set_extint(void *vmi, int vcpu, int vector)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	c->extint_pending = vector >= 0;
	c->extint_vector = (uint8_t)(vector >= 0 ? vector : 0);
}

static bool soft_extint_waiting(void *vmi, int vcpu)
{
	return ((struct soft_vm *)vmi)->cpus[vcpu]->extint_pending;
}

static void soft_set_nmi(void *vmi, int vcpu, bool pending)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	if (pending)
		c->dbg_step |= STEP_NMI_PENDING;
	else
		c->dbg_step &= (uint8_t)~STEP_NMI_PENDING;
}

static bool soft_nmi_waiting(void *vmi, int vcpu)
{
	return (((struct soft_vm *)vmi)->cpus[vcpu]->dbg_step & STEP_NMI_PENDING) != 0;
}

static void soft_mem_written(void *vmi, uint64_t gpa, uint64_t len)
{
	code_cache_invalidate_range(((struct soft_vm *)vmi)->cc, gpa, len);
}

static void soft_set_insn_limit(void *vmi, int vcpu, uint64_t limit)
{
	((struct soft_vm *)vmi)->cpus[vcpu]->insn_limit = limit;
}

static void soft_get_stats(void *vmi, int vcpu, struct vm_vcpu_stats *st)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	st->insns_retired = c->icount;
	st->events_delivered = c->events;
	st->partial_steps = c->partial_steps;
	st->block_lookups = c->stats.block_lookups;
	st->block_misses = c->stats.block_misses;
	st->insns_decoded = c->stats.insns_decoded;
	st->unimplemented = c->stats.unimplemented;
	st->tlb_fills = c->stats.tlb_fills;
	st->tlb_flushes = c->stats.tlb_flushes;
}

static void soft_foreach_unimpl(void *vmi, int vcpu,
                                void (*fn)(void *arg, const char *mnemonic, uint64_t count),
                                void *arg)
{
	struct cpu *c = ((struct soft_vm *)vmi)->cpus[vcpu];
	unsigned n = sizeof(c->stats.unimpl_by_mnemonic) / sizeof(c->stats.unimpl_by_mnemonic[0]);
	for (unsigned m = 0; m < n; m++)
		if (c->stats.unimpl_by_mnemonic[m])
			fn(arg, ZydisMnemonicGetString((ZydisMnemonic)m),
			   c->stats.unimpl_by_mnemonic[m]);
}

/* A walk with the vcpu's paging registers; *fault = 0, or IDT_GP for a
 * non-canonical address, or IDT_PF + 1 with the error code in *err. */
static int soft_gla2gpa(void *vmi, int vcpu, const struct vm_guest_paging *pg, uint64_t gla,
                        int prot, uint64_t *gpa, int *fault, uint32_t *err)
{
	struct soft_vm *s = vmi;
	struct cpu *c = s->cpus[vcpu];
	/* As bhyve's vmm_gla2gpa: CR3, CPL and the paging mode come from the
	 * caller's 'paging'; the rights bits (WP, NXE, SMEP, SMAP, PSE) from
	 * the vcpu. */
	uint64_t cr0 = c->cr0 & ~(uint64_t)CR0_PG, cr4 = c->cr4 & ~(uint64_t)CR4_PAE;
	uint64_t efer = c->efer & ~(uint64_t)(EFER_LME | EFER_LMA);
	switch (pg->paging_mode) {
	case PAGING_MODE_FLAT:
		break;
	case PAGING_MODE_32:
		cr0 |= CR0_PG;
		break;
	case PAGING_MODE_PAE:
		cr0 |= CR0_PG;
		cr4 |= CR4_PAE;
		break;
	default:
		cr0 |= CR0_PG;
		cr4 |= CR4_PAE;
		efer |= EFER_LME | EFER_LMA;
		break;
	}
	struct walk_regs r = {.cr0 = cr0,
	                      .cr3 = pg->cr3,
	                      .cr4 = cr4,
	                      .efer = efer,
	                      .cpl = pg->cpl,
	                      .rflags_ac = (c->rflags & RF_AC) != 0,
	                      .page1gb = c->model->page1gb,
	                      .maxphyaddr = c->model->maxphyaddr};
	memcpy(r.pdpte, c->pdpte, sizeof(r.pdpte));
	/* PAE walks start at the PDPTE registers (SDM vol. 3 4.4.1), loaded
	 * from the vcpu's CR3.  For another CR3 nothing was loaded: read the
	 * four entries at CR3 bits 31:5, as bhyve's vmm_gla2gpa always does. */
	if (pg->paging_mode == PAGING_MODE_PAE &&
	    (pg->cr3 != c->cr3 || paging_mode_of(c->cr0, c->cr4, c->efer) != PAGING_MODE_PAE)) {
		const uint8_t *pdpt = mem_host(s->mem, pg->cr3 & 0xffffffe0ull, sizeof(r.pdpte));
		if (!pdpt)
			return -1;
		memcpy(r.pdpte, pdpt, sizeof(r.pdpte));
	}
	*fault = 0;
	*err = 0;
	if (pg->cpu_mode == CPU_MODE_64BIT && !cpu_canonical(c, gla)) {
		*fault = IDT_GP + 1;
		return 0;
	}
	struct walk_result w;
	switch (paging_walk(s->mem, &r, gla, prot, WALK_F_NO_POPULATE, &w)) {
	case WALK_OK:
		*gpa = w.gpa;
		return 0;
	case WALK_PF:
		*fault = IDT_PF + 1;
		*err = w.pf_error;
		return 0;
	default:
		return -1;
	}
}

const struct vmm_ops vmm_ops_soft = {
    .name = "soft",
    .vminit = soft_init,
    .vmcleanup = soft_cleanup,
    .vcpu_reset = soft_vcpu_reset,
    .vmrun = soft_run,
    .getreg = soft_getreg,
    .get_state = soft_get_state,
    .setreg = soft_setreg,
    .getdesc = soft_getdesc,
    .setdesc = soft_setdesc,
    .getcap = soft_getcap,
    .setcap = soft_setcap,
    .inject = soft_inject,
    .set_extint = soft_set_extint,
    .extint_waiting = soft_extint_waiting,
    .set_nmi = soft_set_nmi,
    .exit_intinfo = soft_exit_intinfo,
    .nmi_waiting = soft_nmi_waiting,
    .mem_written = soft_mem_written,
    .set_insn_limit = soft_set_insn_limit,
    .get_stats = soft_get_stats,
    .foreach_unimplemented = soft_foreach_unimpl,
    .gla2gpa = soft_gla2gpa,
};
