/*
 * Segment descriptors in the GDT and LDT (SDM vol. 3 3.4.5, 7.2.3, 8.2.3):
 * reading one by selector, decoding it into a descriptor cache, and the
 * bit write-backs the processor makes (accessed, busy).  Shared by the
 * segment loads (seg.c) and the descriptor instructions (ops_desc.c).
 */
#ifndef SOFTVMM_CORE_CPU_DESC_H
#define SOFTVMM_CORE_CPU_DESC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu/cpu.h"

/* Descriptor type field values for system descriptors (S = 0, SDM vol. 3
 * table 3-2). */
#define DESC_TSS16_AVAIL 0x1
#define DESC_LDT         0x2
#define DESC_TSS16_BUSY  0x3
#define DESC_CALLGATE16  0x4
#define DESC_TASKGATE    0x5
#define DESC_TSS32_AVAIL 0x9
#define DESC_TSS32_BUSY  0xb
#define DESC_CALLGATE32  0xc

/* The descriptor's access rights in the VMCS layout of struct seg_desc:
 * bits 47:40 and 55:52 of the descriptor. */
uint32_t desc_access(uint64_t d);

/* Base, byte-granular limit (G scales it, SDM vol. 3 3.4.5) and access. */
void desc_to_seg(uint64_t d, struct seg_desc *sd);

/*
 * Whether the table entry for sel lies inside the GDT or LDT: an LDT
 * selector with LDTR unusable does not.  'bytes' is 8, or 16 for a system
 * descriptor in IA-32e mode.
 */
bool desc_in_table(const struct cpu *c, uint16_t sel, unsigned bytes, uint64_t *addr);

/*
 * Read the 8-byte descriptor for sel.  #GP(sel & ~3) when it lies outside
 * its table; returns EXEC_STOP then, or when the read faults.
 */
int cpu_read_desc(struct cpu *c, uint16_t sel, uint64_t *d, uint64_t *addr);

/* Set bit 'bit' (40: accessed, 41: busy) of the descriptor at addr, by
 * writing its byte 5 as the processor does.  0 or EXEC_STOP. */
int desc_set_bit(struct cpu *c, uint64_t addr, uint64_t *d, unsigned bit);

/*
 * UMIP (SDM vol. 3 2.5, CR4.UMIP): with it set, SGDT, SIDT, SLDT, SMSW and
 * STR raise #GP(0) when CPL > 0 (virtual-8086 mode included).  The -v3
 * models advertise it; on the baselines CR4.UMIP is reserved.
 */
static inline bool cpu_umip_denies(const struct cpu *c)
{
	return (c->cr4 & CR4_UMIP) && c->cpl > 0;
}

/* Real-address and virtual-8086 mode, where the descriptor instructions
 * (LLDT, LTR, SLDT, STR, LAR, LSL, VERR, VERW, ARPL) are #UD. */
static inline bool cpu_no_descriptors(const struct cpu *c)
{
	return !(c->cr0 & CR0_PE) || (c->rflags & RF_VM);
}

#endif
