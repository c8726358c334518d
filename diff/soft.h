/*
 * The soft executor's machines (soft_setup.c) and how soft_exec.c finds
 * their parts.  One vm per (CPU model, target), built once: page tables,
 * GDT, IDT or IVT, TSS, and the windows at the layout of dx.h.
 */
#ifndef SOFTVMM_DIFF_SOFT_H
#define SOFTVMM_DIFF_SOFT_H

#include "dx.h"

struct vm;

/* Low guest-physical memory, identity-mapped for the supervisor only, so a
 * case at CPL 3 faults there as it does on the host. */
#define SX_LOW     0x100000u /* 1 MiB of low RAM */
#define SX_GDT     0x8000u
#define SX_TSS     0x9000u
#define SX_IDT     0xb000u
#define SX_HANDLER 0xc000u /* vector v is delivered to SX_HANDLER + 16 v */
#define SX_RSP0    0xf000u /* top of the ring-0 stack */
/* Linux's selectors, so that the soft CPU's CS and SS match the host's. */
#define SX_KCODE   0x10u
#define SX_KDATA   0x18u
#define SX_UCODE32 0x23u
#define SX_UDATA   0x2bu
#define SX_UCODE64 0x33u
#define SX_KCODE32 0x38u /* ring-0 compatibility-mode code (see sx_enter) */
#define SX_TSS_SEL 0x40u
#define SX_CODE16  0x07u /* the host's LDT selectors (host_stub.c) */
#define SX_DATA16  0x0fu
#define SX_STACK16 0x17u
/* Real mode: windows in low RAM at these segments (the offsets are what
 * matter), and the handlers' segment. */
#define SX_RM_CODE    0x1000u
#define SX_RM_DATA    0x2000u
#define SX_RM_STACK   0x3000u
#define SX_RM_HANDLER (SX_HANDLER >> 4)

/* Where a target's windows live in guest-physical memory. */
uint64_t sx_code_gpa(enum dx_target t);
uint64_t sx_data_gpa(enum dx_target t);
uint64_t sx_stack_gpa(enum dx_target t);

/* A vm with model's CPU, set up for t: 0 or an errno. */
int sx_build(const char *model, enum dx_target t, struct vm **vmp);
/* Segments, control registers and descriptor tables for t, as each case
 * starts (a delivered exception changes CS, SS and CPL). */
void sx_enter(struct vm *vm, enum dx_target t);

#endif
