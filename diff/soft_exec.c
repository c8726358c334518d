/*
 * The soft executor: one case on the software CPU through the public API.
 * The vm runs with a budget of the case's instruction count, so it ends in
 * a BOGUS exit either after the case or right after delivering an
 * exception (a delivery counts as a step).  A delivered exception shows as
 * CS:RIP at the handler for its vector; the registers at the fault are
 * the GPRs plus the RIP, RFLAGS and RSP of the frame it pushed.
 */
#include "soft.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <softvmm/vmm.h>

#define MAX_MACHINES 32

struct machine {
	const char *model;
	enum dx_target t;
	struct vm *vm;
};

struct dx_soft {
	struct machine m[MAX_MACHINES];
	unsigned n;
};

static const int gpr_regs[16] = {
    VM_REG_GUEST_RAX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX, VM_REG_GUEST_RBX,
    VM_REG_GUEST_RSP, VM_REG_GUEST_RBP, VM_REG_GUEST_RSI, VM_REG_GUEST_RDI,
    VM_REG_GUEST_R8,  VM_REG_GUEST_R9,  VM_REG_GUEST_R10, VM_REG_GUEST_R11,
    VM_REG_GUEST_R12, VM_REG_GUEST_R13, VM_REG_GUEST_R14, VM_REG_GUEST_R15,
};

int dx_soft_open(struct dx_soft **sp, char *err, size_t errlen)
{
	*sp = calloc(1, sizeof(**sp));
	if (!*sp) {
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	return 0;
}

void dx_soft_close(struct dx_soft *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++)
		vm_destroy(s->m[i].vm);
	free(s);
}

/* After a run that did not end as planned (a triple fault suspends the
 * vcpu) the machine is built afresh for the next case. */
static void drop(struct dx_soft *s, struct vm *vm)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->m[i].vm == vm) {
			vm_destroy(vm);
			s->m[i] = s->m[--s->n];
			return;
		}
}

static struct vm *machine(struct dx_soft *s, const char *model, enum dx_target t)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->m[i].t == t && strcmp(s->m[i].model, model) == 0)
			return s->m[i].vm;
	if (s->n == MAX_MACHINES)
		return NULL;
	struct vm *vm;
	if (sx_build(model, t, &vm) != 0)
		return NULL;
	s->m[s->n++] = (struct machine){model, t, vm};
	return vm;
}

static uint8_t *hold(struct vm *vm, uint64_t gpa, int prot)
{
	void *ck;
	return vm_gpa_hold(vm, gpa, DX_PAGE, prot, &ck);
}

static void load_window(struct vm *vm, uint64_t gpa, const uint8_t *win)
{
	uint8_t *p = hold(vm, gpa, VM_PROT_WRITE);
	memcpy(p, win, DX_WIN);
	memset(p + DX_WIN, 0, DX_PAGE - DX_WIN);
}

static bool pushes_error_code(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

static uint64_t word(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, p, size);
	return v;
}

/* The state at the fault, from the frame the delivery pushed.  Long mode:
 * RIP CS RFLAGS RSP SS, 8 bytes each, on the ring-0 stack, after the error
 * code if any; legacy 32- and 16-bit protected mode: EIP CS EFLAGS ESP SS,
 * 4 bytes each, there too (32-bit gates from CPL 3).  Real mode: IP CS FLAGS, 16 bits
 * each, on the case's own stack, whose bytes are then put back as the case
 * gave them (they are the delivery's, not the instruction's). */
static void from_frame(struct vm *vm, enum dx_target t, const struct dx_case *c,
                       const struct vm_vcpu_state *st, unsigned vector, struct dx_result *r)
{
	if (t == DX_T16R) {
		unsigned n = 6;
		uint16_t sp = (uint16_t)st->gpr[4];
		const uint8_t *f = hold(vm, sx_stack_gpa(t) + (sp & ~0xfffu), VM_PROT_READ);
		unsigned o = sp & 0xfff;
		if (o > DX_PAGE - n) {
			r->fault = DX_HARNESS;
			return;
		}
		f += o;
		r->rip = word(f, 2);
		r->rflags = (r->rflags & ~0xffffull) | word(f + 4, 2);
		r->gpr[4] = (st->gpr[4] & ~0xffffull) | (uint16_t)(sp + n);
		for (unsigned k = 0; k < n; k++)
			if ((uint16_t)(sp + k) < DX_WIN)
				r->stack[(uint16_t)(sp + k)] = c->stack[(uint16_t)(sp + k)];
		return;
	}
	unsigned w = t == DX_T16P || t == DX_T32P ? 4 : 8;
	uint64_t sp = st->gpr[4] & (w == 4 ? 0xffffffffull : ~0ull);
	if (sp < SX_RSP0 - 64 || sp >= SX_RSP0) {
		r->fault = DX_HARNESS;
		return;
	}
	const uint8_t *f = hold(vm, sp & ~0xfffull, VM_PROT_READ) + (sp & 0xfff);
	if (pushes_error_code(vector))
		f += w;
	r->rip = word(f, w) - (t == DX_T16P ? 0 : DX_CODE);
	r->rflags = word(f + 2 * w, w);
	r->gpr[4] = word(f + 3 * w, w);
}

static void harness(struct dx_result *r)
{
	memset(r, 0, sizeof(*r));
	r->fault = DX_HARNESS;
	r->vector = 0xff;
}

void dx_soft_run(struct dx_soft *s, const char *model, enum dx_target t, const struct dx_case *c,
                 struct dx_result *r)
{
	struct vm *vm = machine(s, model, t);
	if (!vm) {
		harness(r);
		return;
	}
	dx_code_page(c, hold(vm, sx_code_gpa(t), VM_PROT_WRITE));
	load_window(vm, sx_data_gpa(t), c->data);
	load_window(vm, sx_stack_gpa(t), c->stack);
	sx_enter(vm, t);
	uint64_t g[16];
	memcpy(g, c->gpr, sizeof(g));
	vm_set_register_set(vm, 0, 16, gpr_regs, g);
	vm_set_register(vm, 0, VM_REG_GUEST_RFLAGS, c->rflags);
	struct vm_vcpu_stats vs;
	vm_get_stats(vm, 0, &vs);
	vm_set_insn_limit(vm, 0,
	                  vs.insns_retired + vs.events_delivered + vs.partial_steps + c->ninsns);
	bool flat = t == DX_T64 || t == DX_T32 || t == DX_T32P;
	struct vm_run run = {.cpuid = 0, .rip = flat ? DX_CODE : 0};
	if (vm_run(vm, &run) != 0 || run.vm_exit.exitcode != VM_EXITCODE_BOGUS) {
		harness(r);
		r->vector = run.vm_exit.exitcode == VM_EXITCODE_SUSPENDED ? 8 : 0xff;
		drop(s, vm);
		return;
	}
	struct vm_vcpu_state st;
	vm_get_vcpu_state(vm, 0, &st);
	memset(r, 0, sizeof(*r));
	memcpy(r->gpr, st.gpr, sizeof(r->gpr));
	r->rflags = st.rflags;
	r->vector = 0xff;
	memcpy(r->data, hold(vm, sx_data_gpa(t), VM_PROT_READ), DX_WIN);
	memcpy(r->stack, hold(vm, sx_stack_gpa(t), VM_PROT_READ), DX_WIN);
	uint16_t handler_cs = t == DX_T16R ? SX_RM_HANDLER : SX_KCODE;
	if (st.seg[1].sel != handler_cs) {
		r->rip = flat ? st.rip - DX_CODE : st.rip;
		/* The CPU stopped before fetching there; the host, which goes on,
		 * faults on the fetch when the code page does not hold it. */
		if (r->rip >= DX_PAGE) {
			r->fault = DX_SEGV;
			r->vector = 14;
		}
		return;
	}
	uint64_t off = st.rip - (t == DX_T16R ? 0 : SX_HANDLER);
	if (off % 16 || off / 16 > 255) {
		harness(r);
		return;
	}
	r->vector = (uint8_t)(off / 16);
	r->fault = (uint8_t)dx_fault_of_vector(r->vector);
	from_frame(vm, t, c, &st, r->vector, r);
}
