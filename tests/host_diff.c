/* One instruction on the soft CPU in 64-bit mode (see host_diff.h). */
#include "host_diff.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <softvmm/vmm.h>

#define RAM  (2u << 20)
#define CODE 0x1000ull
#define PML4 0x10000ull

char hd_error[128];

const uint64_t hd_edge_values[] = {
    0,
    1,
    2,
    0x0f,
    0x10,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    0x7fffffffffffffffull,
    0x8000000000000000ull,
    ~0ull,
    0x0123456789abcdefull,
    0xfedcba9876543210ull,
};
const unsigned hd_edge_count = sizeof(hd_edge_values) / sizeof(hd_edge_values[0]);
static struct vm *vm;

static int map_first_gib(void)
{
	void *ck;
	uint64_t *t = vm_gpa_hold(vm, PML4, 4096, VM_PROT_WRITE, &ck);
	if (!t)
		return EFAULT;
	t[0] = (PML4 + 0x1000) | 3;
	t = vm_gpa_hold(vm, PML4 + 0x1000, 4096, VM_PROT_WRITE, &ck);
	t[0] = (PML4 + 0x2000) | 3;
	t = vm_gpa_hold(vm, PML4 + 0x2000, 4096, VM_PROT_WRITE, &ck);
	for (unsigned k = 0; k < 512; k++)
		t[k] = ((uint64_t)k << 21) | 0x83; /* P RW PS */
	return 0;
}

/* 64-bit mode on the tables above; an IDT of limit 0, so any exception
 * ends in a triple fault (the run then reports SUSPENDED). */
static void enter_long_mode(void)
{
	struct seg_desc cs = {0, 0xffffffff, 0xa09b}, ds = {0, 0xffffffff, 0xc093};
	struct seg_desc idt = {0, 0, 0};
	vm_set_register(vm, 0, VM_REG_GUEST_CR3, PML4);
	vm_set_register(vm, 0, VM_REG_GUEST_CR4, 0x20);       /* PAE */
	vm_set_register(vm, 0, VM_REG_GUEST_EFER, 0x500);     /* LME LMA */
	vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x80000011); /* PG PE ET */
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_CS, &cs);
	for (int r = VM_REG_GUEST_ES; r <= VM_REG_GUEST_GS; r++)
		if (r != VM_REG_GUEST_CS)
			vm_set_seg_desc(vm, 0, r, &ds);
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idt);
}

int hd_open(void)
{
	return hd_open_model(NULL);
}

int hd_open_model(const char *model)
{
	struct vm_config cfg = {.cpu_model = model};
	int e = vm_create("host-diff", &cfg, &vm);
	if (!e)
		e = vm_malloc(vm, 0, RAM);
	if (!e)
		e = vm_activate_cpu(vm, 0);
	if (!e)
		e = map_first_gib();
	if (e)
		return e;
	enter_long_mode();
	return 0;
}

/* After a triple fault the vcpu is suspended: start it again from reset. */
static int revive(void)
{
	if (vm_suspended_cpus(vm) == 0)
		return 0;
	int e = vm_reinit(vm);
	if (!e)
		e = vm_activate_cpu(vm, 0);
	if (!e)
		enter_long_mode();
	return e;
}

struct vm *hd_vm(void)
{
	return vm;
}

void hd_close(void)
{
	vm_destroy(vm);
	vm = NULL;
}

int hd_run(const uint8_t *code, unsigned n, struct hd_regs *r)
{
	return hd_run_n(code, n, 1, r);
}

int hd_run_n(const uint8_t *code, unsigned n, unsigned insns, struct hd_regs *r)
{
	void *ck;
	if (revive() != 0) {
		snprintf(hd_error, sizeof(hd_error), "cannot restart the vcpu");
		return -1;
	}
	uint8_t *p = vm_gpa_hold(vm, CODE, 16, VM_PROT_WRITE, &ck);
	if (!p || n > 15) {
		snprintf(hd_error, sizeof(hd_error), "cannot place %u code bytes", n);
		return -1;
	}
	memset(p, 0x90, 16);
	memcpy(p, code, n);
	vm_set_register(vm, 0, VM_REG_GUEST_RAX, r->rax);
	vm_set_register(vm, 0, VM_REG_GUEST_RBX, r->rbx);
	vm_set_register(vm, 0, VM_REG_GUEST_RCX, r->rcx);
	vm_set_register(vm, 0, VM_REG_GUEST_RDX, r->rdx);
	vm_set_register(vm, 0, VM_REG_GUEST_RFLAGS, r->rflags);
	struct vm_vcpu_stats st;
	vm_get_stats(vm, 0, &st);
	vm_set_insn_limit(vm, 0, st.insns_retired + insns);
	struct vm_run run = {.cpuid = 0, .rip = CODE};
	if (vm_run(vm, &run) != 0 || run.vm_exit.exitcode != VM_EXITCODE_BOGUS ||
	    run.vm_exit.rip != CODE + n) {
		snprintf(hd_error, sizeof(hd_error), "exit %d at rip %#llx, wanted BOGUS at %#llx",
		         run.vm_exit.exitcode, (unsigned long long)run.vm_exit.rip,
		         (unsigned long long)(CODE + n));
		return -1;
	}
	vm_get_register(vm, 0, VM_REG_GUEST_RAX, &r->rax);
	vm_get_register(vm, 0, VM_REG_GUEST_RBX, &r->rbx);
	vm_get_register(vm, 0, VM_REG_GUEST_RCX, &r->rcx);
	vm_get_register(vm, 0, VM_REG_GUEST_RDX, &r->rdx);
	vm_get_register(vm, 0, VM_REG_GUEST_RFLAGS, &r->rflags);
	return 0;
}
