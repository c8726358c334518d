/*
 * Comparing the soft CPU's result with the host's.  Outside 64-bit mode
 * only EAX..EDI are compared, 32 bits each: the upper halves and R8..R15
 * are undefined after compatibility mode (SDM vol. 1 3.4.1.1).  What the
 * SDM leaves undefined for the case's inputs (dx_case.undef_*) is left out
 * unless the comparison is strict; it applies to completed instructions
 * only, since a fault leaves everything as it was.
 */
#include "dx.h"

#include <string.h>

void dx_compare(const struct dx_case *c, const struct dx_result *host, const struct dx_result *soft,
                bool strict, struct dx_diff *d)
{
	memset(d, 0, sizeof(*d));
	bool lax = !strict && host->fault == DX_OK;
	uint16_t ugprs = lax ? c->undef_gprs : 0;
	uint32_t uflags = lax ? c->undef_flags : 0;
	unsigned nregs = c->mode == DX_MODE64 ? 16 : 8;
	uint64_t mask = c->mode == DX_MODE64 ? ~0ull : 0xffffffffull;
	for (unsigned k = 0; k < nregs; k++)
		if (((host->gpr[k] ^ soft->gpr[k]) & mask) && !(ugprs >> k & 1))
			d->gprs |= (uint16_t)(1u << k);
	d->flags = (uint32_t)((host->rflags ^ soft->rflags) & DX_COMPARE & ~(uint64_t)uflags);
	d->fault = host->fault != soft->fault || host->fault == DX_HARNESS;
	d->rip = host->rip != soft->rip;
	for (unsigned k = 0; k < DX_WIN; k++) {
		bool undef =
		    lax && k >= c->undef_mem_off && k < c->undef_mem_off + c->undef_mem_len;
		if (host->data[k] != soft->data[k] && !undef)
			d->data = true;
	}
	d->stack = memcmp(host->stack, soft->stack, DX_WIN) != 0;
	d->any = d->gprs || d->flags || d->fault || d->rip || d->data || d->stack;
}

bool dx_target_applies(enum dx_target t, const struct dx_result *host)
{
	/* Real mode has no paging: a case the host ends with a page fault (its
	 * 16-bit segments reach unmapped pages) has no real-mode counterpart. */
	return !(t == DX_T16R && host->vector == 14);
}

void dx_soft_fixup(enum dx_target t, const struct dx_result *host, struct dx_result *soft)
{
	/* A real-mode exception pushes IP, CS and FLAGS on the case's own
	 * stack, below the SP of the fault, over whatever the instruction wrote
	 * there before it faulted; those six bytes say nothing about the
	 * instruction, so the host's are taken. */
	if (t != DX_T16R || soft->fault == DX_OK)
		return;
	uint16_t sp = (uint16_t)host->gpr[4];
	for (unsigned k = 1; k <= 6; k++) {
		uint16_t a = (uint16_t)(sp - k);
		if (a < DX_WIN)
			soft->stack[a] = host->stack[a];
	}
}
