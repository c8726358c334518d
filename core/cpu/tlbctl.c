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
	tlb_set_pcid(&c->tlb, cpu_pcid(c), false);
	cpu_flush_jcache(c);
}

void cpu_tlb_flush_global(struct cpu *c)
{
	cpu_flush_tlb(c);
}

void cpu_tlb_cr3_loaded(struct cpu *c, bool noflush)
{
	tlb_set_pcid(&c->tlb, cpu_pcid(c), !noflush);
	cpu_flush_jcache(c);
}

void cpu_tlb_invlpg(struct cpu *c, uint64_t la)
{
	tlb_flush_page(&c->tlb, la);
	cpu_flush_jcache(c);
}
