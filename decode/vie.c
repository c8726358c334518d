/*
 * bhyve's instruction-emulation helpers (FreeBSD 10.1.0
 * vmm_instruction_emul.c) that the decoder, the emulator and the runner's
 * string I/O share: register write-back, address-size masks, the #AC and
 * canonical checks, segmented address calculation, and the fetch of the
 * faulting instruction.  Decode is in vie_decode.c, emulation in
 * vie_emulate.c and the files it dispatches to.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "decode/vie_priv.h"

#define CR0_AM    (1ULL << 18) /* SDM vol. 3 2.5 */
#define RFLAGS_AC (1ULL << 18) /* SDM vol. 1 3.4.3.3 */
/* Segment type bits of a code or data descriptor (SDM vol. 3 3.4.5.1, table 3-1). */
#define SEG_TYPE_CODE    (1u << 3)
#define SEG_TYPE_RW      (1u << 1) /* data: writable; code: readable */
#define SEG_TYPE_EXPDOWN (1u << 2) /* data only */

/* A 15-byte instruction crosses at most one page boundary. */
#define FETCH_COPYINFO 2

enum vm_reg_name vie_gpr(unsigned int num)
{
	/* clang-format off */
	static const enum vm_reg_name by_number[16] = {
		VM_REG_GUEST_RAX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX, VM_REG_GUEST_RBX,
		VM_REG_GUEST_RSP, VM_REG_GUEST_RBP, VM_REG_GUEST_RSI, VM_REG_GUEST_RDI,
		VM_REG_GUEST_R8,  VM_REG_GUEST_R9,  VM_REG_GUEST_R10, VM_REG_GUEST_R11,
		VM_REG_GUEST_R12, VM_REG_GUEST_R13, VM_REG_GUEST_R14, VM_REG_GUEST_R15,
	};
	/* clang-format on */

	return by_number[num & 15];
}

uint64_t vie_size2mask(int size)
{
	switch (size) {
	case 1:
		return 0xffULL;
	case 2:
		return 0xffffULL;
	case 4:
		return 0xffffffffULL;
	case 8:
		return ~0ULL;
	default:
		/* bhyve asserts; a library cannot, so no bits survive. */
		return 0;
	}
}

int vie_update_register(void *vm, int vcpuid, enum vm_reg_name reg, uint64_t val, int size)
{
	uint64_t old, mask;
	int error;

	switch (size) {
	case 1:
	case 2:
		/* Byte and word destinations leave the rest of the register alone. */
		error = vm_get_register(vm, vcpuid, reg, &old);
		if (error != 0)
			return error;
		mask = vie_size2mask(size);
		val = (val & mask) | (old & ~mask);
		break;
	case 4:
		/* A 32-bit destination zero-extends into bits 63:32 (SDM vol. 1 3.4.1.1). */
		val &= 0xffffffffULL;
		break;
	case 8:
		break;
	default:
		return EINVAL;
	}
	return vm_set_register(vm, vcpuid, reg, val);
}

int vie_alignment_check(int cpl, int operand_size, uint64_t cr0, uint64_t rflags, uint64_t gla)
{
	/* SDM vol. 3 6.15 (#AC): only at CPL 3 with both CR0.AM and RFLAGS.AC set. */
	if (cpl != 3 || (cr0 & CR0_AM) == 0 || (rflags & RFLAGS_AC) == 0)
		return 0;
	if (operand_size <= 1)
		return 0;
	return (gla & (uint64_t)(operand_size - 1)) != 0 ? 1 : 0;
}

int vie_canonical_check(enum vm_cpu_mode cpu_mode, uint64_t gla)
{
	uint64_t top;

	/* 48-bit linear addresses: bits 63:47 must all be equal (SDM vol. 1 3.3.7.1). */
	if (cpu_mode != CPU_MODE_64BIT)
		return 0;
	top = gla >> 47;
	return (top == 0 || top == 0x1ffff) ? 0 : 1;
}

/* bhyve asserts these; softvmm refuses them instead, as a failed check. */
static bool gla_args_valid(enum vm_cpu_mode cpu_mode, enum vm_reg_name seg, int length,
                           int addrsize, int prot)
{
	if (seg < VM_REG_GUEST_ES || seg > VM_REG_GUEST_GS)
		return false;
	if (vie_size2mask(length) == 0)
		return false;
	if ((prot & ~(VM_PROT_READ | VM_PROT_WRITE)) != 0)
		return false;
	if (cpu_mode == CPU_MODE_64BIT)
		return addrsize == 4 || addrsize == 8;
	return addrsize == 2 || addrsize == 4;
}

/* Type checks of SDM vol. 3 5.4.1 for a code or data segment. */
static bool segment_type_allows(unsigned int type, int prot)
{
	if ((prot & VM_PROT_READ) && (type & SEG_TYPE_CODE) && !(type & SEG_TYPE_RW))
		return false; /* execute-only code */
	if ((prot & VM_PROT_WRITE) && ((type & SEG_TYPE_CODE) || !(type & SEG_TYPE_RW)))
		return false; /* code, or read-only data */
	return true;
}

/*
 * Limit check of SDM vol. 3 5.3 for every byte of the access.  The offset
 * wraps at the address size byte by byte, so an access that straddles the
 * top of a 16-bit offset space is checked at its wrapped bytes.
 */
static bool segment_limit_allows(const struct seg_desc *desc, unsigned int type, uint64_t off,
                                 int length, int addrsize)
{
	uint64_t lo, hi, mask;
	int i;

	if (!(type & SEG_TYPE_CODE) && (type & SEG_TYPE_EXPDOWN)) {
		/* Expand-down: valid offsets lie above the limit (5.3). */
		lo = (uint64_t)desc->limit + 1;
		hi = SEG_DESC_DEF32(desc->access) ? 0xffffffffULL : 0xffffULL;
	} else {
		lo = 0;
		hi = desc->limit;
	}
	mask = vie_size2mask(addrsize);
	for (i = 0; i < length; i++) {
		uint64_t byte_off = (off + (uint64_t)i) & mask;

		if (byte_off < lo || byte_off > hi)
			return false;
	}
	return true;
}

static bool segment_allows(const struct seg_desc *desc, uint64_t off, int length, int addrsize,
                           int prot)
{
	unsigned int type = SEG_DESC_TYPE(desc->access);

	/* A null selector leaves the register unusable: any use is #GP(0) (3.4.2). */
	if (SEG_DESC_UNUSABLE(desc->access))
		return false;
	/*
	 * Not checked, as in a released bhyve (only its debug kernels assert
	 * them): the segment is present and is code or data, since loading it
	 * would have faulted otherwise.  A CPU state that breaks this must not
	 * turn into a guest fault here.
	 */
	if (!segment_type_allows(type, prot))
		return false;
	return segment_limit_allows(desc, type, off, length, addrsize);
}

int vie_calculate_gla(enum vm_cpu_mode cpu_mode, enum vm_reg_name seg, struct seg_desc *desc,
                      uint64_t off, int length, int addrsize, int prot, uint64_t *gla)
{
	uint64_t base;
	int glasize;

	if (!gla_args_valid(cpu_mode, seg, length, addrsize, prot))
		return -1;
	if (cpu_mode == CPU_MODE_64BIT) {
		/*
		 * 64-bit mode does no limit or type checks, and only FS and GS
		 * have a base (SDM vol. 3 3.4.4).
		 */
		glasize = 8;
		base = (seg == VM_REG_GUEST_FS || seg == VM_REG_GUEST_GS) ? desc->base : 0;
	} else {
		if (!segment_allows(desc, off, length, addrsize, prot))
			return -1;
		glasize = 4;
		base = desc->base;
	}
	/* The offset is truncated to the address size before the base is added. */
	*gla = (base + (off & vie_size2mask(addrsize))) & vie_size2mask(glasize);
	return 0;
}

void vie_init(struct vie *vie)
{
	memset(vie, 0, sizeof(*vie));
	/* VM_REG_LAST says "no register": an operand may have neither. */
	vie->base_register = VM_REG_LAST;
	vie->index_register = VM_REG_LAST;
	vie->segment_register = VM_REG_LAST;
}

int vmm_fetch_instruction(struct vm *vm, int cpuid, struct vm_guest_paging *guest_paging,
                          uint64_t rip, int inst_length, struct vie *vie)
{
	struct vm_copyinfo copyinfo[FETCH_COPYINFO];
	int error;

	/* bhyve panics on a length above 15; a library reports it instead. */
	if (inst_length < 0 || inst_length > VIE_INST_SIZE)
		return -1;
	if (inst_length == 0) {
		/* Nothing to translate, as bhyve's copy of zero bytes; decode then fails. */
		vie->num_valid = 0;
		return 0;
	}
	/*
	 * bhyve 10.1.0 fetches at 'rip' as a linear address: no CS base is
	 * added, which is right in 64-bit mode and for flat code segments.
	 */
	error = vm_copy_setup(vm, cpuid, guest_paging, rip, (size_t)inst_length,
	                      VM_PROT_READ | VM_PROT_EXECUTE, copyinfo, FETCH_COPYINFO);
	if (error != 0)
		return error;
	vm_copyin(vm, cpuid, copyinfo, vie->inst, (size_t)inst_length);
	vm_copy_teardown(vm, cpuid, copyinfo, FETCH_COPYINFO);
	vie->num_valid = (uint8_t)inst_length;
	return 0;
}
