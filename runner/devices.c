/* The runner's built-in devices; see devices.h. */
#include "runner/devices.h"

#include <string.h>

/* 'arg' is the console FILE. */
static int debugcon_inout(struct vm *vm, int vcpu, int in, int port, int bytes, uint32_t *eax,
                          void *arg)
{
	(void)vm;
	(void)vcpu;
	(void)port;
	(void)bytes;
	if (in)
		*eax = DEBUGCON_READBACK * 0x01010101u;
	else
		fputc((int)(*eax & 0xff), arg);
	return 0;
}

/* 'arg' is the struct guest_exit_request. */
static int debug_exit_inout(struct vm *vm, int vcpu, int in, int port, int bytes, uint32_t *eax,
                            void *arg)
{
	struct guest_exit_request *req = arg;
	(void)vm;
	(void)vcpu;
	(void)port;
	(void)bytes;
	if (in) {
		*eax = 0xffffffffu;
	} else {
		req->requested = true;
		req->status = (int)(*eax & 0xff);
	}
	return 0;
}

static int post_code_inout(struct vm *vm, int vcpu, int in, int port, int bytes, uint32_t *eax,
                           void *arg)
{
	(void)vm;
	(void)vcpu;
	(void)port;
	(void)bytes;
	(void)arg;
	if (in)
		*eax = 0xffffffffu;
	return 0;
}

int devices_register(struct runner_devices *d, FILE *console, struct inout_table *ports,
                     struct mem_range_table *mmio)
{
	memset(d, 0, sizeof(*d));
	d->console = console;
	uart_init(&d->com1, UART_COM1_BASE, console);
	scratch_mmio_init(&d->scratch);

	const struct inout_port port_devices[] = {
	    {"debugcon", DEBUGCON_PORT, 1, debugcon_inout, console},
	    {"debugcon", DEBUGCON_ALT_PORT, 1, debugcon_inout, console},
	    {"isa-debug-exit", DEBUG_EXIT_PORT, 1, debug_exit_inout, &d->exit_request},
	    {"post-code", POST_CODE_PORT, 1, post_code_inout, NULL},
	    {"com1", UART_COM1_BASE, UART_NPORTS, uart_inout, &d->com1},
	};
	for (size_t i = 0; i < sizeof(port_devices) / sizeof(port_devices[0]); i++) {
		int err = inout_register(ports, &port_devices[i]);
		if (err != 0)
			return err;
	}
	const struct mem_range scratch = {
	    .name = "scratch",
	    .base = SCRATCH_MMIO_BASE,
	    .size = SCRATCH_MMIO_SIZE,
	    .handler = scratch_mmio_access,
	    .arg1 = &d->scratch,
	};
	return mem_range_register(mmio, &scratch);
}
