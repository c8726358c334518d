/*
 * fuzz_decode: bytes -> Zydis -> our predecoded record, in every decode
 * mode.  Input: byte 0 selects the mode (mod MODE_COUNT), the rest are
 * instruction bytes.  Checks the record's invariants (length equals
 * Zydis's, operand descriptors in range, a handler always set: it either
 * executes or raises #UD), then runs the bytes for one instruction on a
 * scratch vcpu set up in that mode.
 */
#include <Zydis/Zydis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu.h"
#include "core/cpu/lower.h"
#include "core/cpu/cpumodel.h"
#include "softvmm/vmm.h"

#define CODE_GPA 0x1000ull
#define PT_GPA   0x10000ull
#define RAM      (4ull << 20)

static const ZydisMachineMode zmode[MODE_COUNT] = {
    ZYDIS_MACHINE_MODE_REAL_16,        ZYDIS_MACHINE_MODE_LEGACY_16,
    ZYDIS_MACHINE_MODE_LEGACY_32,      ZYDIS_MACHINE_MODE_LONG_COMPAT_16,
    ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_MACHINE_MODE_LONG_64};
static const ZydisStackWidth zstack[MODE_COUNT] = {ZYDIS_STACK_WIDTH_16, ZYDIS_STACK_WIDTH_16,
                                                   ZYDIS_STACK_WIDTH_32, ZYDIS_STACK_WIDTH_16,
                                                   ZYDIS_STACK_WIDTH_32, ZYDIS_STACK_WIDTH_64};

static void check_record(const uint8_t *p, size_t n, unsigned mode)
{
	ZydisDecoder dec;
	lower_decoder_init(&dec, zmode[mode], zstack[mode]);
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, p, n, &zi, ops)))
		return;
	struct insn rec;
	bool ends;
	lower_insn(&zi, ops, cpu_model_default(), &rec, &ends);
	if (!rec.fn || rec.len != zi.length)
		abort();
	bool r_ok =
	    (rec.r1 < 128 || rec.r1 == INSN_NOREG) && (rec.r2 < 128 || rec.r2 == INSN_NOREG);
	bool base_ok = rec.base < 16 || rec.base == INSN_NOREG || rec.base == INSN_RIPREL ||
	               rec.base == INSN_ABS64;
	bool index_ok = rec.index < 16 || rec.index == INSN_NOREG;
	bool size_ok = (rec.osz == 1 || rec.osz == 2 || rec.osz == 4 || rec.osz == 8) &&
	               (rec.asz == 2 || rec.asz == 4 || rec.asz == 8);
	if (!r_ok || !base_ok || !index_ok || !size_ok || rec.seg > SEG_GS || rec.scale > 3)
		abort();
}

static struct vm *vm;

static void setup_vm(void)
{
	if (vm_create("fuzz", NULL, &vm) || vm_malloc(vm, 0, RAM) || vm_activate_cpu(vm, 0))
		abort();
	/* Identity map of the first 1 GiB with 2 MiB pages for the IA-32e modes. */
	void *ck;
	uint64_t *pt = vm_gpa_hold(vm, PT_GPA, 4096, VM_PROT_WRITE, &ck);
	memset(pt, 0, 4096);
	pt[0] = (PT_GPA + 0x1000) | 0x7;
	uint64_t *pdpt = vm_gpa_hold(vm, PT_GPA + 0x1000, 4096, VM_PROT_WRITE, &ck);
	memset(pdpt, 0, 4096);
	pdpt[0] = (PT_GPA + 0x2000) | 0x7;
	uint64_t *pd = vm_gpa_hold(vm, PT_GPA + 0x2000, 4096, VM_PROT_WRITE, &ck);
	for (unsigned k = 0; k < 512; k++)
		pd[k] = ((uint64_t)k << 21) | 0x87;
}

static void set_mode(unsigned mode)
{
	bool ia32e = mode >= MODE_COMPAT16;
	uint32_t code = 0x9b | (mode == MODE_PROT32 || mode == MODE_COMPAT32 ? 0x4000 : 0) |
	                (mode == MODE_LONG64 ? 0x2000 : 0) | (mode != MODE_REAL16 ? 0x8000 : 0);
	uint32_t data = 0x93 | (mode != MODE_REAL16 ? 0xc000 : 0);
	uint32_t limit = mode == MODE_REAL16 ? 0xffff : 0xffffffff;
	vm_set_register(vm, 0, VM_REG_GUEST_CR0,
	                mode == MODE_REAL16 ? 0x10
	                : ia32e             ? 0x80000011
	                                    : 0x11);
	vm_set_register(vm, 0, VM_REG_GUEST_CR4, ia32e ? 0x20 : 0);
	vm_set_register(vm, 0, VM_REG_GUEST_CR3, PT_GPA);
	vm_set_register(vm, 0, VM_REG_GUEST_EFER, ia32e ? 0x500 : 0);
	for (int r = VM_REG_GUEST_ES; r <= VM_REG_GUEST_GS; r++) {
		struct seg_desc d = {0, limit, r == VM_REG_GUEST_CS ? code : data};
		vm_set_seg_desc(vm, 0, r, &d);
		vm_set_register(vm, 0, r, 0);
	}
	vm_set_register(vm, 0, VM_REG_GUEST_RSP, 0x8000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned mode = data[0] % MODE_COUNT;
	const uint8_t *p = data + 1;
	size_t n = size - 1 > 15 ? 15 : size - 1;
	check_record(p, n, mode);
	if (!vm)
		setup_vm();
	/* bhyve's vm_reinit wants every active vcpu suspended first. */
	if (vm_active_cpus(vm) != vm_suspended_cpus(vm)) {
		struct vm_run stop = {.cpuid = 0, .rip = CODE_GPA};
		vm_suspend(vm, VM_SUSPEND_POWEROFF);
		vm_run(vm, &stop);
	}
	if (vm_reinit(vm))
		abort();
	vm_activate_cpu(vm, 0);
	void *ck;
	uint8_t *code = vm_gpa_hold(vm, CODE_GPA, 16, VM_PROT_WRITE, &ck);
	memset(code, 0x90, 16);
	memcpy(code, p, n);
	set_mode(mode);
	vm_set_insn_limit(vm, 0, 1);
	struct vm_run run = {.cpuid = 0, .rip = CODE_GPA};
	/* One instruction, bounded: every exit is either final or resumable. */
	for (int k = 0; k < 8; k++) {
		if (vm_run(vm, &run))
			break;
		const struct vm_exit *e = &run.vm_exit;
		if (e->exitcode != VM_EXITCODE_INOUT && e->exitcode != VM_EXITCODE_RDMSR &&
		    e->exitcode != VM_EXITCODE_WRMSR && e->exitcode != VM_EXITCODE_PAUSE)
			break;
		run.rip = e->rip + (uint64_t)e->inst_length;
	}
	return 0;
}
