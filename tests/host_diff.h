/*
 * Running one instruction on the soft CPU in 64-bit mode, for tests that
 * compare it with the same instruction run natively on the host.
 */
#ifndef SOFTVMM_TESTS_HOST_DIFF_H
#define SOFTVMM_TESTS_HOST_DIFF_H

#include <stdint.h>

struct vm;

#define HD_CF    0x1ull
#define HD_PF    0x4ull
#define HD_AF    0x10ull
#define HD_ZF    0x40ull
#define HD_SF    0x80ull
#define HD_OF    0x800ull
#define HD_ARITH 0x8d5ull

/* Edge operands for instruction sweeps: 0, 1, sign and carry boundaries of
 * every operand size, all ones, and two mixed patterns. */
extern const uint64_t hd_edge_values[];
extern const unsigned hd_edge_count;

struct hd_regs {
	uint64_t rax, rbx, rcx, rdx, rflags;
};

/* A vm in 64-bit mode with the first GiB identity-mapped; 0 or an errno. */
int hd_open(void);
/* The same with the CPU model 'model' (NULL: the default). */
int hd_open_model(const char *model);
void hd_close(void);
/* The vm behind hd_run, for tests that set more state than struct hd_regs. */
struct vm *hd_vm(void);
/*
 * Run code (one instruction of n bytes) with *r as input; on return *r
 * holds the registers after it.  0, or -1 with a message in hd_error if
 * the instruction did not retire as the only one (an exception triple-
 * faults: there is no IDT; the next hd_run starts the vcpu afresh).
 */
int hd_run(const uint8_t *code, unsigned n, struct hd_regs *r);
/* The same for code holding 'insns' instructions, all of which must
 * retire (straight-line code). */
int hd_run_n(const uint8_t *code, unsigned n, unsigned insns, struct hd_regs *r);
extern char hd_error[128];

#endif
