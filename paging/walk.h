/*
 * Guest page-table walks (SDM vol. 3 chapter 4): 32-bit paging with 4 MiB
 * pages and PSE-36, PAE paging, and 4-level and 5-level paging with 2 MiB
 * and 1 GiB pages, with the access-rights checks of 4.6, the reserved-bit
 * checks and #PF error code of 4.7 and the accessed/dirty updates of 4.8.
 */
#ifndef SOFTVMM_PAGING_WALK_H
#define SOFTVMM_PAGING_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mem.h"
#include "paging/psc.h"

struct walk_regs {
	uint64_t cr0, cr3, cr4, efer;
	uint64_t pdpte[4]; /* PAE: the PDPTE registers loaded at MOV CR3 */
	int cpl;
	bool rflags_ac; /* EFLAGS.AC, for SMAP */
	bool page1gb;   /* the CPU model has 1 GiB pages (CPUID 80000001H:EDX[26]) */
	unsigned maxphyaddr;
	struct psc *psc; /* the vcpu's PDE cache, or NULL (probes from outside) */
};

enum walk_status {
	WALK_OK,
	WALK_PF,       /* page fault: error code in pf_error */
	WALK_UNBACKED, /* a paging-structure entry lies outside RAM: gpa in 'gpa' */
	WALK_POPULATE, /* a paging-structure page is untouched: gpa in 'gpa' */
};

/* Page-fault error code bits (SDM vol. 3 figure 4-12). */
#define PF_P    0x1u
#define PF_W    0x2u
#define PF_U    0x4u
#define PF_RSVD 0x8u
#define PF_ID   0x10u

#define WALK_F_IMPLICIT_SV 0x1 /* implicit supervisor access (descriptor tables) */
#define WALK_F_NO_POPULATE 0x2 /* treat untouched pages as touched (host-side access) */
#define WALK_F_NO_AD       0x4 /* a probe: set no accessed/dirty bit, report them in ad_clear */

struct walk_result {
	uint64_t gpa;       /* translated address, or the offending entry's address */
	uint64_t page_size; /* 4 KiB, 2/4 MiB or 1 GiB */
	uint32_t pf_error;
	bool writable;   /* a write at this CPL would be allowed */
	bool executable; /* a fetch at this CPL would be allowed */
	bool global;     /* G = 1 in the leaf with CR4.PGE = 1 (SDM 4.10.2.4) */
	bool user_page;  /* U/S = 1 at every level: a user-mode address (4.6) */
	bool ad_clear;   /* WALK_F_NO_AD: the access would have set an A or D flag */
};

enum walk_status paging_walk(struct vm_mem *m, const struct walk_regs *r, uint64_t la, int prot,
                             unsigned flags, struct walk_result *out);
/* The shortcut paging_walk takes on a PDE-cache hit, on its own: the walk
 * of a 4 KiB page whose PDE the PDE cache holds and whose PTE allows the
 * access and needs no A/D update, as the full walk would give it.  false,
 * with nothing changed, for every other case. */
bool paging_walk_cached(const struct walk_regs *r, uint64_t la, int prot, unsigned flags,
                        struct walk_result *out);

/* The paging mode the registers select (enum vm_paging_mode values;
 * 5-level paging is PAGING_MODE_64 with CR4.LA57). */
int paging_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer);

/* PAE: the reserved bits of a present PDPTE (SDM vol. 3 4.4.1): 2:1, 8:5
 * and 63:MAXPHYADDR. */
static inline uint64_t paging_pdpte_rsvd(unsigned maxphyaddr)
{
	return 0x1e6ull | (~0ull << maxphyaddr);
}

#endif
