/*
 * A 16550 UART that only transmits: what the guest writes to THR goes to
 * the runner's guest output.  Nothing is ever received and no interrupt is
 * raised.  Register map per the 16550 data sheet (offsets from the base):
 * 0 RBR/THR (DLL when LCR.DLAB), 1 IER (DLM when DLAB), 2 IIR/FCR, 3 LCR,
 * 4 MCR, 5 LSR, 6 MSR, 7 SCR.
 */
#ifndef SOFTVMM_RUNNER_UART_H
#define SOFTVMM_RUNNER_UART_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <softvmm/vmm.h>

#define UART_COM1_BASE 0x3f8
#define UART_NPORTS    8

struct uart_16550 {
	int base; /* first port */
	FILE *out;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
};

void uart_init(struct uart_16550 *u, int base, FILE *out);

/* An inout_func_t; 'arg' is the struct uart_16550. */
int uart_inout(struct vm *vm, int vcpu, int in, int port, int bytes, uint32_t *eax, void *arg);

#endif
