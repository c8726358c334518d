/* The transmit-only 16550; see uart.h. */
#include "runner/uart.h"

#include <string.h>

/* Register offsets and bits (16550 data sheet). */
enum {
	UART_RBR_THR = 0,
	UART_IER = 1,
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};
#define UART_LCR_DLAB     0x80
#define UART_IER_MASK     0x0f /* bits 7:4 of IER read as 0 */
#define UART_MCR_MASK     0x1f /* DTR RTS OUT1 OUT2 LOOP */
#define UART_MCR_LOOP     0x10
#define UART_IIR_NO_INT   0x01
#define UART_LSR_THR_IDLE 0x60 /* THRE | TEMT: ready to transmit, nothing pending */
/* MSR without loopback: a terminal is attached (DCD, DSR, CTS asserted). */
#define UART_MSR_TERMINAL 0xb0

void uart_init(struct uart_16550 *u, int base, FILE *out)
{
	memset(u, 0, sizeof(*u));
	u->base = base;
	u->out = out;
}

/* In loopback the modem outputs drive the inputs: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
static uint8_t uart_modem_status(const struct uart_16550 *u)
{
	if (!(u->mcr & UART_MCR_LOOP))
		return UART_MSR_TERMINAL;
	uint8_t msr = 0;
	msr |= (u->mcr & 0x01) ? 0x20 : 0;
	msr |= (u->mcr & 0x02) ? 0x10 : 0;
	msr |= (u->mcr & 0x04) ? 0x40 : 0;
	msr |= (u->mcr & 0x08) ? 0x80 : 0;
	return msr;
}

static uint8_t uart_read(const struct uart_16550 *u, int reg)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	switch (reg) {
	case UART_RBR_THR:
		return dlab ? u->dll : 0; /* nothing is ever received */
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR_FCR:
		return UART_IIR_NO_INT;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return UART_LSR_THR_IDLE;
	case UART_MSR:
		return uart_modem_status(u);
	default:
		return u->scr;
	}
}

static void uart_write(struct uart_16550 *u, int reg, uint8_t v)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	switch (reg) {
	case UART_RBR_THR:
		if (dlab)
			u->dll = v;
		else if (!(u->mcr & UART_MCR_LOOP)) /* loopback keeps the byte inside */
			fputc(v, u->out);
		break;
	case UART_IER:
		if (dlab)
			u->dlm = v;
		else
			u->ier = v & UART_IER_MASK;
		break;
	case UART_IIR_FCR:
		break; /* FIFO control: there is no FIFO to control */
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & UART_MCR_MASK;
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only */
	default:
		u->scr = v;
		break;
	}
}

/*
 * The UART's registers are one byte wide: a 2- or 4-byte access is taken as
 * that many byte accesses to consecutive registers, and bytes past the last
 * register read as all ones (an unclaimed port).
 */
int uart_inout(struct vm *vm, int vcpu, int in, int port, int bytes, uint32_t *eax, void *arg)
{
	struct uart_16550 *u = arg;
	(void)vm;
	(void)vcpu;
	uint32_t value = in ? 0 : *eax;
	for (int i = 0; i < bytes; i++) {
		int reg = (port - u->base) + i;
		if (in) {
			uint8_t b = reg < UART_NPORTS ? uart_read(u, reg) : 0xff;
			value |= (uint32_t)b << (8 * i);
		} else if (reg < UART_NPORTS) {
			uart_write(u, reg, (uint8_t)(value >> (8 * i)));
		}
	}
	if (in)
		*eax = value;
	return 0;
}
