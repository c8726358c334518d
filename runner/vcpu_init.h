/*
 * The vcpu's state at the entry point, for each --mode, set through
 * vm_set_register and vm_set_seg_desc only.  Common to all modes: every
 * GPR 0, RSP = 0x7C00, RFLAGS = 0x2, RIP = entry, LDTR and TR as after
 * reset (SDM vol. 3 table 9-1), IDTR base 0 limit 0xFFFF.
 *
 *   real    CS = DS = ES = SS = FS = GS = 0 with base 0, limit 0xFFFF,
 *           CR0 = ET, so the entry is 0000:entry (entry < 64 KiB).
 *   prot32  CR0 = PE | ET; CS (selector 0x08) flat 4 GiB 32-bit code,
 *           DS, ES, SS, FS, GS (0x10) flat 4 GiB data; no GDT is built
 *           (GDTR base 0 limit 0), so the guest loads its own before it
 *           reloads a segment register.
 *   long64  as prot32 but CS is 64-bit code (L = 1); CR0 = PG | PE | ET,
 *           CR4 = PAE, EFER = LME | LMA, and CR3 points at page tables the
 *           runner builds at the top of RAM that identity-map the first
 *           4 GiB with 2 MiB pages (see long64_tables_base).
 */
#ifndef SOFTVMM_RUNNER_VCPU_INIT_H
#define SOFTVMM_RUNNER_VCPU_INIT_H

#include <stdint.h>

#include <softvmm/vmm.h>

#include "runner/runner.h"

/*
 * The long64 page tables: 6 pages at the top of RAM, in this order: the
 * PML4, the PDPT, then 4 page directories (0-1 GiB, ..., 3-4 GiB).
 */
#define LONG64_TABLES_PAGES 6
#define LONG64_TABLES_SIZE  (LONG64_TABLES_PAGES * 4096ull)

/* Where the long64 page tables start in RAM of 'mem_size' bytes. */
uint64_t long64_tables_base(uint64_t mem_size);

/* Write the long64 page tables into guest RAM.  Returns 0 or an errno value. */
int long64_tables_build(struct vm *vm, uint64_t mem_size);

/*
 * Put vcpu 'vcpu' in the entry state of 'mode' at 'entry'.  Returns 0, or
 * the errno of the first register that could not be set (*failed_reg names
 * it).
 */
int vcpu_init_state(struct vm *vm, int vcpu, enum runner_cpu_mode mode, uint64_t entry,
                    uint64_t mem_size, int *failed_reg);

#endif
