/*
 * The backend seam (bhyve's struct vmm_ops): everything core/ needs from a
 * CPU backend.  core/ owns what is backend-independent (memory map, exit
 * rules, injection queues); a backend runs guest code and keeps registers.
 */
#ifndef SOFTVMM_CORE_VMM_OPS_H
#define SOFTVMM_CORE_VMM_OPS_H

#include "softvmm/vmm.h"
#include "core/mem.h"

struct cpu_model;

struct vmm_ops {
	const char *name;
	void *(*vminit)(struct vm *vm, struct vm_mem *mem, const struct cpu_model *model,
	                int ncpus);
	void (*vmcleanup)(void *vmi);
	void (*vcpu_reset)(void *vmi, int vcpu);
	/* Run from rip until an exit; 0 with vme filled, or an errno. */
	int (*vmrun)(void *vmi, int vcpu, uint64_t rip, struct vm_exit *vme);
	int (*getreg)(void *vmi, int vcpu, int reg, uint64_t *val);
	int (*setreg)(void *vmi, int vcpu, int reg, uint64_t val);
	void (*get_state)(void *vmi, int vcpu, struct vm_vcpu_state *state);
	int (*getdesc)(void *vmi, int vcpu, int reg, struct seg_desc *desc);
	int (*setdesc)(void *vmi, int vcpu, int reg, const struct seg_desc *desc);
	int (*getcap)(void *vmi, int vcpu, int cap, int *val);
	int (*setcap)(void *vmi, int vcpu, int cap, int val);
	/* Deliver an event (intinfo layout) before the next instruction. */
	int (*inject)(void *vmi, int vcpu, uint64_t intinfo);
	/* The ExtINT line (vm_inject_extint): a vector raises it, -1 lowers
	 * it; the backend delivers it at the first instruction boundary with
	 * RFLAGS.IF = 1 and no blocking by STI or MOV SS.  extint_waiting:
	 * still raised after a run (not yet delivered). */
	void (*set_extint)(void *vmi, int vcpu, int vector);
	bool (*extint_waiting)(void *vmi, int vcpu);
	/* The NMI line (vm_inject_nmi): raised before a run, delivered at the
	 * first boundary without NMI blocking; nmi_waiting: not yet taken. */
	void (*set_nmi)(void *vmi, int vcpu, bool pending);
	bool (*nmi_waiting)(void *vmi, int vcpu);
	/* The event whose delivery the last exit interrupted (intinfo layout,
	 * VT-x's IDT-vectoring information), or 0. */
	uint64_t (*exit_intinfo)(void *vmi, int vcpu);
	/* Guest RAM was written from outside the guest (decode-cache coherence). */
	void (*mem_written)(void *vmi, uint64_t gpa, uint64_t len);
	void (*set_insn_limit)(void *vmi, int vcpu, uint64_t limit);
	void (*get_stats)(void *vmi, int vcpu, struct vm_vcpu_stats *st);
	void (*foreach_unimplemented)(void *vmi, int vcpu,
	                              void (*fn)(void *arg, const char *mnemonic, uint64_t count),
	                              void *arg);
	/* Translate with the vcpu's paging registers: 0 with *fault = 0 and
	 * *gpa, or 0 with *fault = vector + 1 (and *err for #PF), or -1 when a
	 * paging-structure entry is not RAM. */
	int (*gla2gpa)(void *vmi, int vcpu, const struct vm_guest_paging *paging, uint64_t gla,
	               int prot, uint64_t *gpa, int *fault, uint32_t *err);
};

extern const struct vmm_ops vmm_ops_soft;

#endif
