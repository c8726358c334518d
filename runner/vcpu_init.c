/* The vcpu's entry state for each --mode; see vcpu_init.h. */
#include "runner/vcpu_init.h"

#include <string.h>

#include "runner/loader.h"

#define CR0_PE   0x00000001ull
#define CR0_ET   0x00000010ull
#define CR0_PG   0x80000000ull
#define CR4_PAE  0x00000020ull
#define EFER_LME 0x00000100ull
#define EFER_LMA 0x00000400ull

#define RFLAGS_RESERVED_1 0x2ull

/* Access rights in the VMCS layout of struct seg_desc (vmm.h). */
#define ACC_DATA_RW  0x0093 /* present, S, read/write, accessed */
#define ACC_CODE_RX  0x009b /* present, S, execute/read, accessed */
#define ACC_LDT      0x0082 /* present, LDT */
#define ACC_TSS_BUSY 0x008b /* present, busy 32/64-bit TSS */
#define ACC_DB       0x4000 /* default operation size 32 */
#define ACC_L        0x2000 /* 64-bit code */
#define ACC_G        0x8000 /* limit in 4 KiB units */

#define SEL_CODE 0x08
#define SEL_DATA 0x10

/* Page-table entry bits (SDM vol. 3 4.5): present, writable, accessed, dirty, 2 MiB page. */
#define PTE_P  0x01ull
#define PTE_RW 0x02ull
#define PTE_A  0x20ull
#define PTE_D  0x40ull
#define PTE_PS 0x80ull

#define PAGE_SIZE_4K 4096ull
#define PAGE_SIZE_2M (2ull << 20)
#define PT_ENTRIES   512

uint64_t long64_tables_base(uint64_t mem_size)
{
	return mem_size - LONG64_TABLES_SIZE;
}

/*
 * Accessed and dirty are preset so the CPU never writes the tables, as the
 * bench guests do (../shared/bench/README.md).
 */
int long64_tables_build(struct vm *vm, uint64_t mem_size)
{
	uint64_t base = long64_tables_base(mem_size);
	uint64_t pml4 = base, pdpt = base + PAGE_SIZE_4K, pd = base + 2 * PAGE_SIZE_4K;
	uint64_t page[PT_ENTRIES];

	memset(page, 0, sizeof(page));
	page[0] = pdpt | PTE_P | PTE_RW | PTE_A;
	int err = guest_mem_write(vm, pml4, page, sizeof(page));
	memset(page, 0, sizeof(page));
	for (int i = 0; i < 4; i++)
		page[i] = (pd + i * PAGE_SIZE_4K) | PTE_P | PTE_RW | PTE_A;
	if (err == 0)
		err = guest_mem_write(vm, pdpt, page, sizeof(page));
	for (int dir = 0; dir < 4 && err == 0; dir++) {
		for (int i = 0; i < PT_ENTRIES; i++) {
			uint64_t frame = ((uint64_t)dir * PT_ENTRIES + i) * PAGE_SIZE_2M;
			page[i] = frame | PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS;
		}
		err = guest_mem_write(vm, pd + dir * PAGE_SIZE_4K, page, sizeof(page));
	}
	return err;
}

struct reg_value {
	int reg;
	uint64_t value;
};

struct seg_value {
	int reg;
	uint16_t selector;
	struct seg_desc desc;
};

static int set_registers(struct vm *vm, int vcpu, const struct reg_value *regs, int n,
                         int *failed_reg)
{
	for (int i = 0; i < n; i++) {
		int err = vm_set_register(vm, vcpu, regs[i].reg, regs[i].value);
		if (err != 0) {
			*failed_reg = regs[i].reg;
			return err;
		}
	}
	return 0;
}

/* The descriptor first: some backends derive state from the selector load. */
static int set_segments(struct vm *vm, int vcpu, const struct seg_value *segs, int n,
                        int *failed_reg)
{
	for (int i = 0; i < n; i++) {
		struct seg_desc desc = segs[i].desc;
		int err = vm_set_seg_desc(vm, vcpu, segs[i].reg, &desc);
		if (err == 0 && segs[i].reg != VM_REG_GUEST_GDTR &&
		    segs[i].reg != VM_REG_GUEST_IDTR)
			err = vm_set_register(vm, vcpu, segs[i].reg, segs[i].selector);
		if (err != 0) {
			*failed_reg = segs[i].reg;
			return err;
		}
	}
	return 0;
}

static int set_common_state(struct vm *vm, int vcpu, uint64_t entry, int *failed_reg)
{
	static const int gprs[] = {
	    VM_REG_GUEST_RAX, VM_REG_GUEST_RBX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX,
	    VM_REG_GUEST_RSI, VM_REG_GUEST_RDI, VM_REG_GUEST_RBP, VM_REG_GUEST_R8,
	    VM_REG_GUEST_R9,  VM_REG_GUEST_R10, VM_REG_GUEST_R11, VM_REG_GUEST_R12,
	    VM_REG_GUEST_R13, VM_REG_GUEST_R14, VM_REG_GUEST_R15,
	};
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++) {
		int err = vm_set_register(vm, vcpu, gprs[i], 0);
		if (err != 0) {
			*failed_reg = gprs[i];
			return err;
		}
	}
	const struct reg_value regs[] = {
	    {VM_REG_GUEST_RSP, RUNNER_DEFAULT_SP},
	    {VM_REG_GUEST_RFLAGS, RFLAGS_RESERVED_1},
	    {VM_REG_GUEST_RIP, entry},
	};
	const struct seg_value system_segs[] = {
	    {VM_REG_GUEST_LDTR, 0, {0, 0xffff, ACC_LDT}},
	    {VM_REG_GUEST_TR, 0, {0, 0xffff, ACC_TSS_BUSY}},
	    {VM_REG_GUEST_IDTR, 0, {0, 0xffff, 0}},
	};
	int err = set_registers(vm, vcpu, regs, 3, failed_reg);
	return err ? err : set_segments(vm, vcpu, system_segs, 3, failed_reg);
}

/* CS and the five data segments, all with the same descriptor except CS. */
static int set_code_data_segments(struct vm *vm, int vcpu, uint16_t code_sel, struct seg_desc code,
                                  uint16_t data_sel, struct seg_desc data, int *failed_reg)
{
	const struct seg_value segs[] = {
	    {VM_REG_GUEST_CS, code_sel, code}, {VM_REG_GUEST_DS, data_sel, data},
	    {VM_REG_GUEST_ES, data_sel, data}, {VM_REG_GUEST_SS, data_sel, data},
	    {VM_REG_GUEST_FS, data_sel, data}, {VM_REG_GUEST_GS, data_sel, data},
	};
	return set_segments(vm, vcpu, segs, 6, failed_reg);
}

static int set_mode_state(struct vm *vm, int vcpu, enum runner_cpu_mode mode, uint64_t mem_size,
                          int *failed_reg)
{
	const struct seg_desc real_code = {0, 0xffff, ACC_CODE_RX};
	const struct seg_desc real_data = {0, 0xffff, ACC_DATA_RW};
	const struct seg_desc flat_code32 = {0, 0xffffffff, ACC_CODE_RX | ACC_DB | ACC_G};
	const struct seg_desc flat_code64 = {0, 0xffffffff, ACC_CODE_RX | ACC_L | ACC_G};
	const struct seg_desc flat_data = {0, 0xffffffff, ACC_DATA_RW | ACC_DB | ACC_G};
	const struct seg_value no_gdt[] = {{VM_REG_GUEST_GDTR, 0, {0, 0, 0}}};
	const struct seg_value real_gdt[] = {{VM_REG_GUEST_GDTR, 0, {0, 0xffff, 0}}};
	int err;

	switch (mode) {
	case RUNNER_MODE_REAL: {
		const struct reg_value regs[] = {
		    {VM_REG_GUEST_CR0, CR0_ET},
		    {VM_REG_GUEST_CR3, 0},
		    {VM_REG_GUEST_CR4, 0},
		    {VM_REG_GUEST_EFER, 0},
		};
		err = set_registers(vm, vcpu, regs, 4, failed_reg);
		if (err == 0)
			err = set_segments(vm, vcpu, real_gdt, 1, failed_reg);
		return err ? err
		           : set_code_data_segments(vm, vcpu, 0, real_code, 0, real_data,
		                                    failed_reg);
	}
	case RUNNER_MODE_PROT32: {
		const struct reg_value regs[] = {
		    {VM_REG_GUEST_CR0, CR0_PE | CR0_ET},
		    {VM_REG_GUEST_CR3, 0},
		    {VM_REG_GUEST_CR4, 0},
		    {VM_REG_GUEST_EFER, 0},
		};
		err = set_registers(vm, vcpu, regs, 4, failed_reg);
		if (err == 0)
			err = set_segments(vm, vcpu, no_gdt, 1, failed_reg);
		return err ? err
		           : set_code_data_segments(vm, vcpu, SEL_CODE, flat_code32, SEL_DATA,
		                                    flat_data, failed_reg);
	}
	case RUNNER_MODE_LONG64: {
		/* CR4 and EFER before CR0.PG, in the order the SDM (9.8.5) asks of a guest. */
		const struct reg_value regs[] = {
		    {VM_REG_GUEST_CR4, CR4_PAE},
		    {VM_REG_GUEST_CR3, long64_tables_base(mem_size)},
		    {VM_REG_GUEST_EFER, EFER_LME | EFER_LMA},
		    {VM_REG_GUEST_CR0, CR0_PG | CR0_PE | CR0_ET},
		};
		err = set_registers(vm, vcpu, regs, 4, failed_reg);
		if (err == 0)
			err = set_segments(vm, vcpu, no_gdt, 1, failed_reg);
		return err ? err
		           : set_code_data_segments(vm, vcpu, SEL_CODE, flat_code64, SEL_DATA,
		                                    flat_data, failed_reg);
	}
	}
	return 0;
}

int vcpu_init_state(struct vm *vm, int vcpu, enum runner_cpu_mode mode, uint64_t entry,
                    uint64_t mem_size, int *failed_reg)
{
	int err = set_mode_state(vm, vcpu, mode, mem_size, failed_reg);
	return err ? err : set_common_state(vm, vcpu, entry, failed_reg);
}
