/*
 * fuzz_run: a hostile guest.  The input becomes guest code and data: byte 0
 * picks the starting mode, the rest is copied to the code page and repeated
 * over the data pages, and the guest runs for at most 2,000 instructions,
 * with every exit completed as a caller would (IN gets all ones, MMIO reads
 * are emulated as all ones, MSR exits inject #GP).  Whatever the bytes do
 * (mode switches, page tables built from fuzz data, faults, self-modifying
 * code), softvmm must neither crash, hang nor trip a sanitizer, and vm_run
 * must end with an exit or an errno.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "softvmm/vmm.h"
#include "softvmm/vmm_instruction_emul.h"

#define RAM       (4ull << 20)
#define CODE_GPA  0x7000ull
#define DATA_GPA  0x20000ull
#define DATA_LEN  0x10000ull
#define PT_GPA    0x100000ull
#define MAX_INSNS 2000
#define MAX_EXITS 256

static struct vm *vm;

static int mmio_read(void *v, int cpu, uint64_t gpa, uint64_t *val, int size, void *arg)
{
	(void)v, (void)cpu, (void)gpa, (void)size, (void)arg;
	*val = ~0ull;
	return 0;
}

static int mmio_write(void *v, int cpu, uint64_t gpa, uint64_t val, int size, void *arg)
{
	(void)v, (void)cpu, (void)gpa, (void)val, (void)size, (void)arg;
	return 0;
}

static void hold_write(uint64_t gpa, const void *src, size_t len)
{
	void *ck;
	uint8_t *p = vm_gpa_hold(vm, gpa, len, VM_PROT_WRITE, &ck);
	if (!p)
		abort();
	memcpy(p, src, len);
}

static void setup_vm(void)
{
	if (vm_create("fuzz-run", NULL, &vm) || vm_malloc(vm, 0, RAM))
		abort();
	/* 2 MiB identity pages for the first GiB, for the IA-32e start modes. */
	uint64_t t[512] = {0};
	t[0] = (PT_GPA + 0x1000) | 7;
	hold_write(PT_GPA, t, sizeof(t));
	t[0] = (PT_GPA + 0x2000) | 7;
	hold_write(PT_GPA + 0x1000, t, sizeof(t));
	for (unsigned k = 0; k < 512; k++)
		t[k] = ((uint64_t)k << 21) | 0x87;
	hold_write(PT_GPA + 0x2000, t, sizeof(t));
}

static void set_mode(unsigned mode)
{
	/* 0 real, 1 flat 32-bit protected, 2 64-bit. */
	uint32_t code = mode == 0 ? 0x9b : mode == 1 ? 0xc09b : 0xa09b;
	uint32_t data = mode == 0 ? 0x93 : 0xc093;
	uint32_t limit = mode == 0 ? 0xffff : 0xffffffff;
	vm_set_register(vm, 0, VM_REG_GUEST_CR0, mode == 0 ? 0x10 : mode == 1 ? 0x11 : 0x80000011);
	vm_set_register(vm, 0, VM_REG_GUEST_CR4, mode == 2 ? 0x20 : 0);
	vm_set_register(vm, 0, VM_REG_GUEST_CR3, PT_GPA);
	vm_set_register(vm, 0, VM_REG_GUEST_EFER, mode == 2 ? 0x500 : 0);
	for (int r = VM_REG_GUEST_ES; r <= VM_REG_GUEST_GS; r++) {
		struct seg_desc d = {0, limit, r == VM_REG_GUEST_CS ? code : data};
		vm_set_seg_desc(vm, 0, r, &d);
	}
	vm_set_register(vm, 0, VM_REG_GUEST_RSP, 0x6000);
	struct seg_desc idt = {0, 0x3ff, 0};
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idt);
}

static void reset_vm(void)
{
	if (vm_active_cpus(vm) != vm_suspended_cpus(vm)) {
		struct vm_run stop = {.cpuid = 0, .rip = CODE_GPA};
		vm_suspend(vm, VM_SUSPEND_POWEROFF);
		vm_run(vm, &stop);
	}
	if (vm_reinit(vm) || vm_activate_cpu(vm, 0))
		abort();
}

/* Complete an exit as a permissive caller would; false when the run ends. */
static bool complete(struct vm_run *run)
{
	struct vm_exit *e = &run->vm_exit;
	switch (e->exitcode) {
	case VM_EXITCODE_INOUT:
		if (e->u.inout.in)
			vm_set_register(vm, 0, VM_REG_GUEST_RAX, 0xffffffffu);
		run->rip = e->rip + (uint64_t)e->inst_length;
		return true;
	case VM_EXITCODE_INST_EMUL:
		if (vmm_emulate_instruction(vm, 0, e->u.inst_emul.gpa, &e->u.inst_emul.vie,
		                            &e->u.inst_emul.paging, mmio_read, mmio_write, NULL))
			return false;
		/* A REP MOVS/STOS with count left runs again, as the runner
		 * does (bhyve's vm_restart_instruction). */
		run->rip = e->rip + (e->u.inst_emul.vie.restart ? 0 : (uint64_t)e->inst_length);
		return true;
	case VM_EXITCODE_RDMSR:
	case VM_EXITCODE_WRMSR:
		vm_inject_gp(vm, 0);
		run->rip = e->rip;
		return true;
	case VM_EXITCODE_PAUSE:
		run->rip = e->rip + (uint64_t)e->inst_length;
		return true;
	default:
		return false; /* SUSPENDED, BOGUS (the budget), VMX, string I/O */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 4096)
		return 0;
	if (!vm)
		setup_vm();
	reset_vm();
	unsigned mode = data[0] % 3;
	uint8_t page[4096];
	memset(page, 0xf4, sizeof(page)); /* HLT after the input */
	memcpy(page, data + 1, size - 1);
	hold_write(CODE_GPA, page, sizeof(page));
	for (uint64_t off = 0; off < DATA_LEN; off += 4096)
		hold_write(DATA_GPA + off, data + 1, size - 1);
	set_mode(mode);
	vm_set_insn_limit(vm, 0, MAX_INSNS);
	struct vm_run run = {.cpuid = 0, .rip = CODE_GPA};
	for (int k = 0; k < MAX_EXITS; k++) {
		if (vm_run(vm, &run) != 0 || !complete(&run))
			break;
	}
	return 0;
}
