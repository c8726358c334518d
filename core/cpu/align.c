/*
 * When alignment checking is on (SDM vol. 3 6.15, Interrupt 17): CR0.AM
 * and EFLAGS.AC set, CPL 3 (virtual-8086 mode included).  Turning it on
 * flushes the soft TLB, and while it is on no read or write tag is filled
 * (cpu_mem.c), so that every data access reaches the slow path and its
 * check.  Turning it off needs nothing: the entries refill with their tags.
 */
#include "core/cpu/align.h"

void align_update(struct cpu *c)
{
	bool on = (c->cr0 & CR0_AM) && (c->rflags & RF_AC) && c->cpl == 3;
	if (on && !c->ac_check) {
		c->ac_check = true;
		cpu_flush_tlb(c);
		return;
	}
	c->ac_check = on;
}
