/*
 * softvmm: decode and emulation of the instruction behind an INST_EMUL exit
 * (an access to guest-physical memory that no RAM backs), with the calls and
 * signatures of FreeBSD 10.1.0's machine/vmm_instruction_emul.h and the
 * instruction set of current FreeBSD's, plus a few more forms.
 *
 * The rules each call follows are summarised in ../shared/BHYVE-EXITS.md
 * section 4 (10.1.0) and docs/exits.md ("MMIO instructions": what is
 * decoded now); the differences from bhyve are listed in docs/deviations.md.
 * Nothing here prints, exits or reads the clock.
 */
#ifndef SOFTVMM_VMM_INSTRUCTION_EMUL_H
#define SOFTVMM_VMM_INSTRUCTION_EMUL_H

#include <stdint.h>

#include <softvmm/vmm.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * softvmm extension: the values of struct vie_op's op_type and op_flags.
 * bhyve keeps them private to its .c file; the numbers up to
 * VIE_OP_TYPE_BEXTR are current FreeBSD's, so that a vie copied out of an
 * exit reads as bhyve's would.  The types after it are softvmm's own, for
 * the forms bhyve does not emulate (docs/exits.md lists what is accepted).
 */
enum vie_op_type {
	VIE_OP_TYPE_NONE = 0,
	VIE_OP_TYPE_MOV,
	VIE_OP_TYPE_MOVSX,
	VIE_OP_TYPE_MOVZX,
	VIE_OP_TYPE_AND,
	VIE_OP_TYPE_OR,
	VIE_OP_TYPE_SUB,
	VIE_OP_TYPE_TWO_BYTE,
	VIE_OP_TYPE_PUSH,
	VIE_OP_TYPE_CMP,
	VIE_OP_TYPE_POP,
	VIE_OP_TYPE_MOVS,
	VIE_OP_TYPE_GROUP1,
	VIE_OP_TYPE_STOS,
	VIE_OP_TYPE_BITTEST,
	VIE_OP_TYPE_TWOB_GRP15,
	VIE_OP_TYPE_ADD,
	VIE_OP_TYPE_TEST,
	VIE_OP_TYPE_BEXTR,
	VIE_OP_TYPE_XOR, /* softvmm from here on */
	VIE_OP_TYPE_ADC,
	VIE_OP_TYPE_SBB,
	VIE_OP_TYPE_XCHG,
	VIE_OP_TYPE_LAST
};

#define VIE_OP_F_IMM                 (1 << 0) /* 16- or 32-bit immediate, by operand size */
#define VIE_OP_F_IMM8                (1 << 1) /* 8-bit immediate */
#define VIE_OP_F_MOFFSET             (1 << 2) /* memory offset of address-size bytes */
#define VIE_OP_F_NO_MODRM            (1 << 3) /* no ModRM byte follows the opcode */
#define VIE_OP_F_NO_GLA_VERIFICATION (1 << 4) /* the exit's gla is not the operand's */
#define VIE_OP_F_BYTE                (1 << 8) /* softvmm: 8-bit operands */

/*
 * Device callbacks: read or write 'rsize'/'wsize' (1, 2, 4 or 8) bytes at
 * 'gpa'.  Return 0 or an errno value, which vmm_emulate_instruction returns.
 * In bhyve a written value may carry bits above 'wsize' bytes (an immediate
 * passed sign-extended), so a device must use only the low bytes; softvmm
 * always passes the value masked to 'wsize'.  'gpa' is the exit's gpa,
 * except for a MOVS between two MMIO addresses, which reads the source's
 * gpa and writes the destination's (bhyve's emulate_movs).
 */
typedef int (*mem_region_read_t)(void *vm, int cpuid, uint64_t gpa, uint64_t *rval, int rsize,
                                 void *arg);
typedef int (*mem_region_write_t)(void *vm, int cpuid, uint64_t gpa, uint64_t wval, int wsize,
                                  void *arg);

/*
 * Emulate the decoded 'vie' against the device behind 'gpa' (reached only
 * through 'mrr'/'mrw' with 'mrarg') and the vcpu's registers, as current
 * bhyve's vmm_emulate_instruction.  'vm' is a struct vm *.  Returns 0 when
 * the instruction completed or a fault was injected into the guest (the
 * vm_inject_* helpers then restart the instruction), EINVAL for a vie that
 * was not decoded, EFAULT when guest memory the instruction needs besides
 * the device (a PUSH/POP stack, the RAM side of a MOVS) is not guest RAM,
 * or the error of a callback or register access.
 *
 * REP MOVS and REP STOS do one iteration per call, as bhyve's
 * emulate_movs/emulate_stos: RSI/RDI and RCX are updated at the address
 * size, and while the count is not 0 the emulation sets vie->restart
 * (bhyve calls vm_restart_instruction, which this API, where the caller
 * supplies the rip, cannot do): the caller must then resume at the exit's
 * rip instead of rip + inst_length, and the next iteration that touches
 * MMIO exits again.
 */
int vmm_emulate_instruction(void *vm, int cpuid, uint64_t gpa, struct vie *vie,
                            struct vm_guest_paging *paging, mem_region_read_t mrr,
                            mem_region_write_t mrw, void *mrarg);

/*
 * Write 'val' into 'reg' as an instruction with a 'size'-byte destination
 * does: 1 and 2 keep the register's other bits, 4 clears bits 63:32 and 8
 * writes all of it (SDM vol. 1 3.4.1.1).  EINVAL for another size.
 */
int vie_update_register(void *vm, int vcpuid, enum vm_reg_name reg, uint64_t val, int size);

/* 1 if an access of 'operand_size' bytes at 'gla' must raise #AC, else 0. */
int vie_alignment_check(int cpl, int operand_size, uint64_t cr0, uint64_t rflags, uint64_t gla);

/* 1 if 'gla' is not canonical in 'cpu_mode' (64-bit mode only), else 0. */
int vie_canonical_check(enum vm_cpu_mode cpu_mode, uint64_t gla);

/* All-ones in the low 'size' bytes, for size 1, 2, 4 or 8; 0 for another size. */
uint64_t vie_size2mask(int size);

/*
 * Linear address of 'length' bytes at offset 'off' of segment 'seg' with
 * address size 'addrsize', for an access with 'prot' (VM_PROT_READ and/or
 * VM_PROT_WRITE).  Returns 0 with *gla set, or -1 when the access would
 * fault on the segment (unusable, wrong type, outside the limit) or the
 * arguments are invalid.  The caller picks #GP or #SS.
 */
int vie_calculate_gla(enum vm_cpu_mode cpu_mode, enum vm_reg_name seg, struct seg_desc *desc,
                      uint64_t off, int length, int addrsize, int prot, uint64_t *gla);

/* Clear 'vie' for a new fetch and decode (no base or index register). */
void vie_init(struct vie *vie);

/*
 * Copy the 'inst_length' bytes at linear address 'rip' (no CS base added,
 * as bhyve 10.1.0) into 'vie', which vie_init prepared.  Returns 0, 1 when
 * the translation injected a fault into the guest, or -1 when the bytes are
 * not guest RAM or inst_length is outside [0, VIE_INST_SIZE].
 */
int vmm_fetch_instruction(struct vm *vm, int cpuid, struct vm_guest_paging *guest_paging,
                          uint64_t rip, int inst_length, struct vie *vie);

/*
 * Decode the fetched bytes of 'vie' for 'cpu_mode' and CS.D 'csd'.  All the
 * fetched bytes must form exactly one instruction, and its memory operand
 * must be at 'gla' (skip that check with VIE_INVALID_GLA).  Returns 0 with
 * vie->decoded set, or -1.
 */
#define VIE_INVALID_GLA (1UL << 63) /* non-canonical, so never a real gla */
int vmm_decode_instruction(struct vm *vm, int cpuid, uint64_t gla, enum vm_cpu_mode cpu_mode,
                           int csd, struct vie *vie);

#ifdef __cplusplus
}
#endif

#endif /* SOFTVMM_VMM_INSTRUCTION_EMUL_H */
