/*
 * A paging-structure cache (SDM vol. 3 4.10.3): the PDE cache of PAE,
 * 4-level and 5-level paging.  An entry holds, for the linear addresses
 * with given bits 56:21, the page table the PDE points at and the rights
 * of the entries above it, so that a TLB refill reads only the PTE.
 *
 * The SDM's rules, which this follows: an entry is made only from entries
 * that are present, have no reserved bit set and have their accessed flag
 * set (the walk set them: it is made after a translation succeeded); it
 * may be used after the paging structures changed, until invalidated; and
 * INVLPG, INVPCID, MOV to CR3 and the MOV to CR0/CR4 changes that flush
 * the TLB invalidate it (4.10.4.1).  Here every such operation drops every
 * entry (one increment of 'gen'), for all PCIDs, which the SDM allows.
 *
 * An entry also keeps the page table's host address: the walk that made
 * it found the page in RAM and touched, which stays so until vm_reinit,
 * whose vcpu reset flushes the TLB and with it this cache.
 */
#ifndef SOFTVMM_PAGING_PSC_H
#define SOFTVMM_PAGING_PSC_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define PSC_ENTRIES 64

struct psc_entry {
	uint64_t key;       /* linear address >> 21 */
	uint64_t pt;        /* the PDE: the page table's address in bits 51:12 */
	uint8_t *pt_host;   /* the page table in host memory */
	uint32_t gen;       /* valid while equal to psc.gen */
	uint8_t rw, us, nx; /* R/W and U/S of every level above, XD of any */
};

struct psc {
	uint32_t gen;
	struct psc_entry e[PSC_ENTRIES];
};

static inline void psc_init(struct psc *p)
{
	memset(p, 0, sizeof(*p));
	p->gen = 1;
}

/* Drop every entry. */
static inline void psc_flush(struct psc *p)
{
	if (++p->gen == 0)
		psc_init(p); /* wrapped: entries of an old 'gen' could match again */
}

static inline struct psc_entry *psc_slot(struct psc *p, uint64_t la)
{
	return &p->e[(la >> 21) & (PSC_ENTRIES - 1)];
}

static inline const struct psc_entry *psc_lookup(struct psc *p, uint64_t la)
{
	const struct psc_entry *e = psc_slot(p, la);
	return e->gen == p->gen && e->key == la >> 21 ? e : NULL;
}

static inline void psc_insert(struct psc *p, uint64_t la, uint64_t pde, uint8_t *pt_host, bool rw,
                              bool us, bool nx)
{
	struct psc_entry *e = psc_slot(p, la);
	e->key = la >> 21;
	e->pt = pde;
	e->pt_host = pt_host;
	e->gen = p->gen;
	e->rw = rw;
	e->us = us;
	e->nx = nx;
}

#endif
