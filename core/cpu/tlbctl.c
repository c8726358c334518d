/* TLB invalidations of the soft CPU (see tlbctl.h). */
#include "core/cpu/tlbctl.h"

/*
 * Every flush also empties the jump cache, whose entries map CS-linear
 * addresses to code: they hold translations too.
 */
void cpu_flush_tlb(struct cpu *c)
{
	c->stats.tlb_flushes++;
	tlb_flush_all(&c->tlb);
	tlb_set_user(&c->tlb, c->cpl == 3);
	tlb_set_pcid(&c->tlb, cpu_pcid(c), false);
	cpu_tlb_sync(c);
	cpu_flush_jcache(c);
}

/*
 * The entries hold the rights checked at one CPL class (user at CPL 3,
 * supervisor below), so a change of class selects the context of the
 * other class (tlb.h); the SDM invalidates nothing there.  The jump cache
 * goes: its entries skip the execute check a fetch at the new CPL makes.
 * The class follows c->cpl whatever set it, so that a CPL written
 * directly before cpu_update_mode still selects the right entries.
 */
void cpu_tlb_cpl_changed(struct cpu *c, int old_cpl)
{
	bool user = c->cpl == 3;
	if (user != (c->tlb.cls != 0)) {
		tlb_set_user(&c->tlb, user);
		cpu_tlb_sync(c);
		cpu_flush_jcache(c);
	} else if (c->cpl != old_cpl) {
		cpu_flush_jcache(c);
	}
}

void cpu_tlb_flush_global(struct cpu *c)
{
	cpu_flush_tlb(c);
}

void cpu_tlb_cr3_loaded(struct cpu *c, bool noflush)
{
	tlb_set_pcid(&c->tlb, cpu_pcid(c), !noflush);
	cpu_tlb_sync(c);
	cpu_flush_jcache(c);
}

void cpu_tlb_invlpg(struct cpu *c, uint64_t la)
{
	tlb_flush_page(&c->tlb, la);
	cpu_flush_jcache(c);
}
