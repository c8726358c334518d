/*
 * The soft executor's machines (soft.h).  Long mode runs DX_MODE64 and
 * DX_MODE32 (a compatibility-mode CS); 16-bit protected mode uses 32-bit
 * paging; real mode has the windows in low RAM.  The case runs at CPL 3
 * like the host's, except in real mode, and an exception goes through an
 * IDT (IVT) whose vector v lands at a handler address that names v; the
 * CPU never runs the handler, the instruction budget stops it first.
 */
#include "soft.h"

#include <errno.h>
#include <string.h>

#include <softvmm/vmm.h>

#define PML4    0x1000u
#define PDPT    0x2000u
#define PD64    0x3000u
#define PT64    0x4000u
#define PD32    0x5000u
#define PT32    0x6000u
#define WIN_LEN 0x30000u /* code, data and stack pages, 64 KiB apart */

uint64_t sx_code_gpa(enum dx_target t)
{
	return t == DX_T16R ? SX_RM_CODE << 4 : DX_CODE;
}

uint64_t sx_data_gpa(enum dx_target t)
{
	return t == DX_T16R ? SX_RM_DATA << 4 : DX_DATA;
}

uint64_t sx_stack_gpa(enum dx_target t)
{
	return t == DX_T16R ? SX_RM_STACK << 4 : DX_STACK;
}

static void *page(struct vm *vm, uint64_t gpa)
{
	void *ck;
	return vm_gpa_hold(vm, gpa, DX_PAGE, VM_PROT_READ | VM_PROT_WRITE, &ck);
}

/* A code or data descriptor (SDM vol. 3 figure 3-8). */
static uint64_t desc(uint32_t base, uint32_t limit, unsigned access, unsigned flags)
{
	return (limit & 0xffffull) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)access << 40 |
	       (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)flags << 52 |
	       (uint64_t)(base >> 24) << 56;
}

/* Long mode: 4-level tables; the first 2 MiB for the supervisor, the three
 * window pages for the user; nothing else present. */
static void map_long(struct vm *vm)
{
	uint64_t *t = page(vm, PML4);
	t[0] = PDPT | 7;
	t = page(vm, PDPT);
	t[0] = PD64 | 7;
	t = page(vm, PD64);
	t[0] = 0x83; /* P RW PS, supervisor */
	t[(DX_CODE >> 21) & 511] = PT64 | 7;
	t = page(vm, PT64);
	for (uint32_t a = DX_CODE; a < DX_CODE + WIN_LEN; a += 0x10000)
		t[(a >> 12) & 511] = a | 7;
}

/* 32-bit paging: a 4 MiB supervisor page at 0, the windows for the user. */
static void map_32(struct vm *vm)
{
	uint32_t *t = page(vm, PD32);
	t[0] = 0x83;
	t[DX_CODE >> 22] = PT32 | 7;
	t = page(vm, PT32);
	for (uint32_t a = DX_CODE; a < DX_CODE + WIN_LEN; a += 0x10000)
		t[(a >> 12) & 1023] = a | 7;
}

static void tables(struct vm *vm, bool lm)
{
	uint64_t *gdt = page(vm, SX_GDT);
	gdt[SX_KCODE >> 3] = desc(0, 0xfffff, 0x9b, lm ? 0xa : 0xc);
	gdt[SX_KDATA >> 3] = desc(0, 0xfffff, 0x93, 0xc);
	gdt[SX_UCODE32 >> 3] = desc(0, 0xfffff, 0xfb, 0xc);
	gdt[SX_UDATA >> 3] = desc(0, 0xfffff, 0xf3, 0xc);
	gdt[SX_UCODE64 >> 3] = desc(0, 0xfffff, 0xfb, 0xa);
	gdt[SX_KCODE32 >> 3] = desc(0, 0xfffff, 0x9b, 0xc);
	gdt[SX_TSS_SEL >> 3] = desc(SX_TSS, 0x67, 0x8b, 0);
	gdt[(SX_TSS_SEL >> 3) + 1] = 0; /* a 64-bit TSS descriptor's upper half */
	uint8_t *tss = page(vm, SX_TSS);
	uint32_t rsp0 = SX_RSP0, ss0 = SX_KDATA;
	memcpy(tss + 4, &rsp0, 4); /* RSP0 (64-bit TSS) or ESP0 (32-bit) */
	if (lm)
		memcpy(tss + 0x24, &rsp0, 4); /* IST1 */
	else
		memcpy(tss + 8, &ss0, 4);
	uint64_t *idt = page(vm, SX_IDT);
	for (unsigned v = 0; v < 256; v++) {
		uint32_t off = SX_HANDLER + 16 * v;
		/* INT3 and INTO may be raised at CPL 3 (Linux's gates are DPL 3). */
		unsigned dpl = v == 3 || v == 4 ? 3 : 0;
		/* 32-bit interrupt gates in 16-bit protected mode too: their frame
		 * keeps all of ESP and EIP (soft_exec.c reads it). */
		unsigned type = 0x8e;
		uint64_t lo = (off & 0xffff) | (uint64_t)SX_KCODE << 16 |
		              (uint64_t)(type | dpl << 5) << 40 | (uint64_t)(off >> 16) << 48;
		if (lm) {
			idt[2 * v] = lo | 1ull << 32; /* IST1: a known ring-0 stack */
			idt[2 * v + 1] = 0;
		} else {
			idt[v] = lo;
		}
	}
	memset(page(vm, SX_HANDLER), 0xf4, DX_PAGE); /* HLT, never reached */
	struct seg_desc gdtr = {SX_GDT, 0xff, 0}, idtr = {SX_IDT, lm ? 0xfff : 0x7ff, 0};
	struct seg_desc tr = {SX_TSS, 0x67, 0x8b};
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_GDTR, &gdtr);
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idtr);
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_TR, &tr);
	vm_set_register(vm, 0, VM_REG_GUEST_TR, SX_TSS_SEL);
}

/* Real mode: the IVT at 0 sends vector v to SX_RM_HANDLER:16v. */
static void ivt(struct vm *vm)
{
	uint16_t *ivt = page(vm, 0);
	for (unsigned v = 0; v < 256; v++) {
		ivt[2 * v] = (uint16_t)(16 * v);
		ivt[2 * v + 1] = SX_RM_HANDLER;
	}
	memset(page(vm, SX_HANDLER), 0xf4, DX_PAGE);
	struct seg_desc idtr = {0, 0x3ff, 0};
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idtr);
}

int sx_build(const char *model, enum dx_target t, struct vm **vmp)
{
	struct vm_config cfg = {.backend = NULL, .cpu_model = model, .ncpus = 1};
	struct vm *vm;
	int e = vm_create("diffcheck", &cfg, &vm);
	if (e)
		return e;
	e = vm_malloc(vm, 0, SX_LOW);
	if (!e && t != DX_T16R)
		e = vm_malloc(vm, DX_CODE, WIN_LEN);
	if (!e)
		e = vm_activate_cpu(vm, 0);
	if (e) {
		vm_destroy(vm);
		return e;
	}
	switch (t) {
	case DX_T64:
	case DX_T32:
		map_long(vm);
		tables(vm, true);
		vm_set_register(vm, 0, VM_REG_GUEST_CR3, PML4);
		vm_set_register(vm, 0, VM_REG_GUEST_CR4, 0x20);       /* PAE */
		vm_set_register(vm, 0, VM_REG_GUEST_EFER, 0x500);     /* LME LMA */
		vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x80000011); /* PG ET PE */
		break;
	case DX_T32P:
	case DX_T16P:
		map_32(vm);
		tables(vm, false);
		vm_set_register(vm, 0, VM_REG_GUEST_CR3, PD32);
		vm_set_register(vm, 0, VM_REG_GUEST_CR4, 0x10); /* PSE */
		vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x80000011);
		break;
	default:
		ivt(vm);
		vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x10);
		break;
	}
	sx_enter(vm, t);
	*vmp = vm;
	return 0;
}

static void seg(struct vm *vm, int reg, uint16_t sel, uint64_t base, uint32_t limit,
                uint32_t access)
{
	struct seg_desc d = {base, limit, access};
	vm_set_seg_desc(vm, 0, reg, &d);
	vm_set_register(vm, 0, reg, sel);
}

void sx_enter(struct vm *vm, enum dx_target t)
{
	const uint32_t unusable = 0x10000;
	/* SS first: CPL comes from SS.DPL. */
	switch (t) {
	case DX_T64:
		seg(vm, VM_REG_GUEST_SS, SX_UDATA, 0, 0xffffffff, 0xc0f3);
		seg(vm, VM_REG_GUEST_DS, SX_UDATA, 0, 0xffffffff, 0xc0f3);
		seg(vm, VM_REG_GUEST_ES, SX_UDATA, 0, 0xffffffff, 0xc0f3);
		seg(vm, VM_REG_GUEST_FS, 0, 0, 0, unusable);
		seg(vm, VM_REG_GUEST_GS, 0, 0, 0, unusable);
		seg(vm, VM_REG_GUEST_CS, SX_UCODE64, 0, 0xffffffff, 0xa0fb);
		break;
	case DX_T32:
	case DX_T32P:
		seg(vm, VM_REG_GUEST_SS, SX_UDATA, 0, 0xffffffff, 0xc0f3);
		seg(vm, VM_REG_GUEST_DS, SX_UDATA, 0, 0xffffffff, 0xc0f3);
		seg(vm, VM_REG_GUEST_ES, SX_UDATA, 0, 0xffffffff, 0xc0f3);
		seg(vm, VM_REG_GUEST_FS, 0, 0, 0, unusable);
		seg(vm, VM_REG_GUEST_GS, 0, 0, 0, unusable);
		seg(vm, VM_REG_GUEST_CS, SX_UCODE32, 0, 0xffffffff, 0xc0fb);
		break;
	case DX_T16P:
		/* CPL 3 with the host's LDT selectors; the descriptors are only
		 * loaded here (no case reloads a segment register). */
		seg(vm, VM_REG_GUEST_SS, SX_STACK16, DX_STACK, 0xffff, 0xf3);
		seg(vm, VM_REG_GUEST_DS, SX_DATA16, DX_DATA, 0xffff, 0xf3);
		seg(vm, VM_REG_GUEST_ES, SX_DATA16, DX_DATA, 0xffff, 0xf3);
		seg(vm, VM_REG_GUEST_FS, 0, 0, 0, unusable);
		seg(vm, VM_REG_GUEST_GS, 0, 0, 0, unusable);
		seg(vm, VM_REG_GUEST_CS, SX_CODE16, DX_CODE, 0xffff, 0xfb);
		break;
	default:
		seg(vm, VM_REG_GUEST_SS, SX_RM_STACK, SX_RM_STACK << 4, 0xffff, 0x93);
		seg(vm, VM_REG_GUEST_DS, SX_RM_DATA, SX_RM_DATA << 4, 0xffff, 0x93);
		seg(vm, VM_REG_GUEST_ES, SX_RM_DATA, SX_RM_DATA << 4, 0xffff, 0x93);
		seg(vm, VM_REG_GUEST_FS, 0, 0, 0xffff, 0x93);
		seg(vm, VM_REG_GUEST_GS, 0, 0, 0xffff, 0x93);
		seg(vm, VM_REG_GUEST_CS, SX_RM_CODE, SX_RM_CODE << 4, 0xffff, 0x9b);
		break;
	}
}
