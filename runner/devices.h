/*
 * The devices the runner provides (the user-space half of bhyve's split):
 *
 *   ports 0xE9, 0x402  debug console: OUT writes AL to the guest output; IN
 *                      reads 0xE9 in every byte (QEMU's debugcon readback)
 *   port 0xF4          isa-debug-exit: OUT of v ends the run with exit status
 *                      v & 0xFF (QEMU uses (v << 1) | 1); IN reads all ones
 *   port 0x80          POST code: accepted and ignored; IN reads all ones
 *   ports 0x3F8-0x3FF  COM1, a transmit-only 16550 (uart.h)
 *   gpa 0xFEB00000     the 4 KiB scratch register bank (scratch_mmio.h)
 */
#ifndef SOFTVMM_RUNNER_DEVICES_H
#define SOFTVMM_RUNNER_DEVICES_H

#include <stdbool.h>
#include <stdio.h>

#include "runner/inout.h"
#include "runner/mem_ranges.h"
#include "runner/scratch_mmio.h"
#include "runner/uart.h"

#define DEBUGCON_PORT     0xe9
#define DEBUGCON_ALT_PORT 0x402 /* SeaBIOS's and OVMF's debug port */
#define DEBUGCON_READBACK 0xe9
#define DEBUG_EXIT_PORT   0xf4
#define POST_CODE_PORT    0x80

/* Set by isa-debug-exit; the INOUT exit handler ends the run when it sees it. */
struct guest_exit_request {
	bool requested;
	int status;
};

struct runner_devices {
	FILE *console; /* the guest output */
	struct guest_exit_request exit_request;
	struct uart_16550 com1;
	struct scratch_mmio scratch;
};

/*
 * Reset the devices and register all of them.  Returns 0 or the errno of
 * a registration that failed (a conflict between built-in ranges).
 */
int devices_register(struct runner_devices *d, FILE *console, struct inout_table *ports,
                     struct mem_range_table *mmio);

#endif
