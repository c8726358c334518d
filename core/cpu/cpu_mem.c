/*
 * The soft CPU's memory slow path: soft-TLB misses, page walks, the
 * first-touch PAGING exits, accesses outside RAM (INST_EMUL, or the VMX
 * EPT-violation exit for fetches and page walks, BHYVE-EXITS.md sections 4
 * and 5), self-modifying code, and accesses that straddle a page.
 */
#include "core/cpu/cpu.h"
#include "core/cpu/align.h"
#include "core/cpu/cpumodel.h"
#include "core/cpu/debugreg.h"
#include "core/cpu/tlbctl.h"
#include "decode/cache.h"
#include "paging/walk.h"

static void walk_regs_of(struct cpu *c, struct walk_regs *r)
{
	r->cr0 = c->cr0;
	r->cr3 = c->cr3;
	r->cr4 = c->cr4;
	r->efer = c->efer;
	memcpy(r->pdpte, c->pdpte, sizeof(r->pdpte));
	r->cpl = c->cpl;
	r->rflags_ac = (c->rflags & RF_AC) != 0;
	r->maxphyaddr = c->model->maxphyaddr;
	r->page1gb = c->model->page1gb;
	r->psc = &c->tlb.psc;
}

/* The exit for an access bhyve's EPT cannot satisfy and does not emulate:
 * VMX, exit reason 48 (BHYVE-EXITS.md section 4). */
static int exit_ept_violation(struct cpu *c, uint64_t gpa, uint64_t la, int prot, bool xlat)
{
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_VMX, c->cur ? c->cur->len : 0);
	uint64_t q = EPT_VIOLATION_GLA_VALID;
	if (prot & VM_PROT_EXECUTE)
		q |= EPT_VIOLATION_INST_FETCH;
	else if (prot & VM_PROT_WRITE)
		q |= EPT_VIOLATION_DATA_WRITE;
	else
		q |= EPT_VIOLATION_DATA_READ;
	if (xlat)
		q |= EPT_VIOLATION_XLAT_VALID;
	vme->u.vmx.status = 0;
	vme->u.vmx.exit_reason = VMX_EXIT_REASON_EPT_VIOLATION;
	vme->u.vmx.exit_qualification = q;
	vme->u.vmx.inst_type = 0;
	vme->u.vmx.inst_error = 0;
	(void)gpa;
	(void)la;
	return -1;
}

/* First touch of a RAM page: bhyve's EPT fault, handled in the vmm by
 * vm_handle_paging; the instruction restarts (inst_length 0). */
static int exit_paging(struct cpu *c, uint64_t gpa, int prot)
{
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_PAGING, 0);
	vme->u.paging.gpa = gpa;
	vme->u.paging.fault_type = (prot & VM_PROT_WRITE)     ? VM_PROT_WRITE
	                           : (prot & VM_PROT_EXECUTE) ? VM_PROT_EXECUTE
	                                                      : VM_PROT_READ;
	return -1;
}

static int exit_inst_emul(struct cpu *c, uint64_t gpa, uint64_t la)
{
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_INST_EMUL, c->cur ? c->cur->len : 0);
	vme->u.inst_emul.gpa = gpa;
	vme->u.inst_emul.gla = la;
	cpu_paging_info(c, &vme->u.inst_emul.paging);
	enum vm_cpu_mode m = vme->u.inst_emul.paging.cpu_mode;
	vme->u.inst_emul.cs_d = (m == CPU_MODE_PROTECTED || m == CPU_MODE_COMPATIBILITY) &&
	                        (c->seg[SEG_CS].d.access & SEGA_DB);
	memset(&vme->u.inst_emul.vie, 0, sizeof(vme->u.inst_emul.vie));
	return -1;
}

int cpu_seg_fault(struct cpu *c, int seg)
{
	/* Limit violations: #SS(0) for the stack segment, else #GP(0) (SDM 6.15). */
	if (seg == SEG_SS)
		return cpu_raise(c, IDT_SS, true, 0) ? -1 : -1;
	return cpu_raise(c, IDT_GP, true, 0) ? -1 : -1;
}

/* What a translation found: the page's host address and its rights. */
struct resolved {
	uint8_t *host_page;
	uint64_t gpa;
	uint64_t page_size;
	bool writable, executable, global, user_page;
};

/*
 * The linear-to-guest-physical part of an access to la: the canonical
 * check and the page walk, with its #PF and the exits of paging-structure
 * pages that are not RAM or not yet touched.  0 with *w filled, or -1
 * with an exception or exit pending.
 */
static int walk_la(struct cpu *c, uint64_t la, int prot, int seg, unsigned wflags,
                   struct walk_result *w)
{
	if (c->la_mask == ~0ull && !cpu_canonical(c, la)) {
		/* Non-canonical: #SS(0) for stack references, else #GP(0) (SDM 6.15). */
		cpu_raise(c, seg == SEG_SS ? IDT_SS : IDT_GP, true, 0);
		return -1;
	}
	struct walk_regs wr;
	walk_regs_of(c, &wr);
	switch (paging_walk(c->mem, &wr, la, prot, wflags, w)) {
	case WALK_OK:
		return 0;
	case WALK_PF:
		cpu_raise_pf(c, la, w->pf_error);
		return -1;
	case WALK_UNBACKED:
		exit_ept_violation(c, w->gpa, la, VM_PROT_READ, false);
		return -1;
	case WALK_POPULATE:
		exit_paging(c, w->gpa & TLB_PAGE_MASK, VM_PROT_READ);
		return -1;
	}
	return -1;
}

/*
 * The guest-physical side of the translation w of la for 'prot': RAM, its
 * first touch and the decode cache's pages.  0 with *r filled, or -1 with
 * an exception or exit pending; *mmio is set (and r->gpa) when the data
 * access goes to guest-physical memory that is not RAM.
 */
static int resolve_ram(struct cpu *c, const struct walk_result *wr, uint64_t la, int prot,
                       bool *mmio, struct resolved *r)
{
	const struct walk_result w = *wr;
	*mmio = false;
	r->gpa = w.gpa;
	struct mem_seg *s = mem_find(c->mem, w.gpa);
	if (!s) {
		if (prot & VM_PROT_EXECUTE)
			return exit_ept_violation(c, w.gpa, la, prot, true);
		*mmio = true;
		return -1;
	}
	uint64_t pi = mem_page_index(s, w.gpa);
	if (!bitmap_test(s->touched, pi)) {
		/* The vmm populates the page when it handles the exit. */
		return exit_paging(c, w.gpa & TLB_PAGE_MASK, prot);
	}
	if ((prot & VM_PROT_WRITE) && bitmap_test(s->code, pi)) {
		/* Self-modifying code: drop the page's decoded records first. */
		code_cache_invalidate_page(c->cc, w.gpa & TLB_PAGE_MASK);
	}
	r->host_page = s->hva + ((w.gpa & TLB_PAGE_MASK) - s->gpa);
	r->writable = w.writable && !bitmap_test(s->code, pi);
	r->executable = w.executable;
	r->page_size = w.page_size;
	r->global = w.global;
	r->user_page = w.user_page;
	return 0;
}

/* Translate la for 'prot' (walk flags in wflags): the walk, then
 * resolve_ram. */
static int resolve(struct cpu *c, uint64_t la, int prot, int seg, unsigned wflags, bool *mmio,
                   struct resolved *r)
{
	*mmio = false;
	struct walk_result w;
	if (walk_la(c, la, prot, seg, wflags, &w))
		return -1;
	return resolve_ram(c, &w, la, prot, mmio, r);
}

/*
 * May a refill retag the entry it finds (tlb_refresh)?  Not while
 * alignment checks, data breakpoints or SMAP at CPL < 3 keep pages off the
 * fast path: the tags the fill below sets depend on them.
 */
static bool may_refresh(const struct cpu *c)
{
	return !c->ac_check && !c->bp_data && !((c->cr4 & CR4_SMAP) && c->cpl < 3);
}

/*
 * Translate la for 'prot' and fill its TLB entry.  Returns the entry, or
 * NULL with an exception or exit pending.  *gpa_out gets the page's
 * guest-physical address; *mmio is set when it is not RAM (data only).
 */
static struct tlb_entry *translate(struct cpu *c, uint64_t la, int prot, int seg, bool *mmio,
                                   uint64_t *gpa_out)
{
	struct walk_result w;
	*mmio = false;
	*gpa_out = 0;
	if (walk_la(c, la, prot, seg, 0, &w))
		return NULL;
	struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	/* After a flush the entry often still maps the same page: then the
	 * walk only confirms it (tlb_refresh). */
	if (w.page_size == 4096 && may_refresh(c) &&
	    tlb_refresh(&c->tlb, e, la, w.gpa, w.global, w.writable, w.executable, prot)) {
		c->stats.tlb_fills++;
		*gpa_out = w.gpa;
		return e;
	}
	struct resolved r = {0};
	int rc = resolve_ram(c, &w, la, prot, mmio, &r);
	*gpa_out = r.gpa;
	if (rc)
		return NULL;
	uint64_t tag = tlb_tag(&c->tlb, la);
	tlb_fill(&c->tlb, e, r.gpa, r.global, la, r.page_size);
	c->stats.tlb_fills++;
	e->tag_r = tag;
	e->tag_w = r.writable ? tag : TLB_INVALID;
	e->tag_x = r.executable ? tag : TLB_INVALID;
	/* Alignment checking, or a data breakpoint on the page: its reads and
	 * writes must reach the slow path, which checks them. */
	if (unlikely(c->ac_check || c->bp_data) && (c->ac_check || dbg_data_page(c, la)))
		e->tag_r = e->tag_w = TLB_INVALID;
	/* With SMAP, supervisor data accesses to a user page depend on
	 * EFLAGS.AC (SDM vol. 3 4.6): they take the slow path, which walks
	 * with the current AC, so STAC, CLAC and POPF need no flush. */
	if (unlikely(c->cr4 & CR4_SMAP) && c->cpl < 3 && r.user_page)
		e->tag_r = e->tag_w = TLB_INVALID;
	e->host = (uintptr_t)r.host_page;
	return e;
}

/* The entry for la with the tag 'which' points into (tag_r, tag_w or
 * tag_x) matching, after taking over a global entry made in another
 * context (tlb.h); NULL when a walk is needed. */
static struct tlb_entry *lookup(struct cpu *c, uint64_t la, const uint64_t *which)
{
	struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	uint64_t tag = tlb_tag(&c->tlb, la);
	if (*which == tag || (tlb_revive_global(&c->tlb, la) && *which == tag))
		return e;
	return NULL;
}

int cpu_translate_fetch(struct cpu *c, uint64_t la, uint64_t *gpa, const uint8_t **host)
{
	struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	if (!lookup(c, la, &e->tag_x)) {
		bool mmio;
		uint64_t g;
		e = translate(c, la, VM_PROT_EXECUTE, SEG_CS, &mmio, &g);
		if (!e)
			return -1;
	}
	*gpa = (*tlb_gpa_of(&c->tlb, e) & TLB_PAGE_MASK) | (la & 0xfff);
	*host = (const uint8_t *)(e->host + (la & 0xfff));
	return 0;
}

/*
 * A fetch that is known to succeed without side effects: a TLB hit, or a
 * walk that finds every accessed flag set, the rights to execute, and a
 * touched RAM page (so neither a fault nor an exit nor a flag update would
 * come of it).  Blocks that run on into a second page use it: that page's
 * fetch may only be done ahead of the instructions before it when it
 * changes nothing.
 */
bool cpu_probe_fetch(struct cpu *c, uint64_t la, uint64_t *gpa, const uint8_t **host)
{
	struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	if (e->tag_x == cpu_tag(c, la)) {
		*gpa = (*tlb_gpa_of(&c->tlb, e) & TLB_PAGE_MASK) | (la & 0xfff);
		*host = (const uint8_t *)(e->host + (la & 0xfff));
		return true;
	}
	if (c->la_mask == ~0ull && !cpu_canonical(c, la))
		return false;
	struct walk_regs wr;
	walk_regs_of(c, &wr);
	struct walk_result w;
	if (paging_walk(c->mem, &wr, la, VM_PROT_EXECUTE, WALK_F_NO_AD, &w) != WALK_OK ||
	    w.ad_clear)
		return false;
	struct mem_seg *s = mem_find(c->mem, w.gpa);
	if (!s || !bitmap_test(s->touched, mem_page_index(s, w.gpa)))
		return false;
	*gpa = w.gpa;
	*host = s->hva + (w.gpa - s->gpa);
	return true;
}

/*
 * #AC(0) for a misaligned access (align.h; SDM vol. 3 6.15, Interrupt 17).
 * A page fault has priority over it (SDM vol. 3 6.9, table 6-2): every
 * page the access touches is walked first, with its #PF and the exits of
 * the walk.  The access itself does not happen, so the data pages give no
 * first-touch or MMIO exit.
 */
__attribute__((cold)) static int align_fault(struct cpu *c, uint64_t la, unsigned size, int prot,
                                             int seg, unsigned n1)
{
	struct walk_result w;
	if (walk_la(c, la, prot, seg, 0, &w))
		return -1;
	if (n1 < size && walk_la(c, (la + n1) & c->la_mask, prot, seg, 0, &w))
		return -1;
	cpu_raise(c, IDT_AC, true, 0);
	return -1;
}

/* Translate every page of [la, la+size) for prot, low page first; then
 * the checks of the accesses the TLB keeps off its fast path: alignment
 * and data breakpoints. */
static int translate_span(struct cpu *c, uint64_t la, unsigned size, int prot, int seg,
                          uint8_t *hosts[2], unsigned *first_len)
{
	unsigned off = la & 0xfff;
	unsigned n1 = off + size > 0x1000 ? 0x1000 - off : size;
	*first_len = n1;
	if (unlikely(align_faults(c, la, size)))
		return align_fault(c, la, size, prot, seg, n1);
	for (int part = 0; part < 2; part++) {
		uint64_t a = part ? ((la + n1) & c->la_mask) : la;
		if (part && n1 == size)
			break;
		bool mmio;
		uint64_t gpa;
		struct tlb_entry *e = tlb_entry_for(&c->tlb, a);
		if (!lookup(c, a, (prot & VM_PROT_WRITE) ? &e->tag_w : &e->tag_r)) {
			e = translate(c, a, prot, seg, &mmio, &gpa);
			if (!e) {
				/* The part in the page that is not RAM faults: its
				 * own linear and physical address, as CR2 is for a
				 * #PF there (docs/exits.md, straddling accesses). */
				if (mmio)
					return exit_inst_emul(c, gpa, a);
				return -1;
			}
		}
		hosts[part] = (uint8_t *)(e->host + (a & 0xfff));
	}
	if (unlikely(c->bp_data))
		dbg_data_access(c, la, size, (prot & VM_PROT_WRITE) != 0);
	return 0;
}

/*
 * The common data-TLB miss after a flush: an access within one page whose
 * PTE the PDE cache finds unchanged and needing no flag update
 * (paging_walk_cached), in an entry that still maps that page
 * (tlb_refresh).  The entry, retagged, or NULL: translate_span then does
 * the whole refill, whose checks (alignment, data breakpoints, SMAP) these
 * cases leave out.
 */
static struct tlb_entry *refill_cached(struct cpu *c, uint64_t la, unsigned size, int prot)
{
	if ((la & 0xfff) > 0x1000 - size || !may_refresh(c))
		return NULL;
	/* No canonical check: the PDE cache holds canonical addresses only,
	 * and its key has every bit above 20, so no other address hits. */
	struct walk_regs wr;
	walk_regs_of(c, &wr);
	struct walk_result w;
	if (!paging_walk_cached(&wr, la, prot, 0, &w))
		return NULL;
	struct tlb_entry *e = tlb_entry_for(&c->tlb, la);
	if (!tlb_refresh(&c->tlb, e, la, w.gpa, w.global, w.writable, w.executable, prot))
		return NULL;
	c->stats.tlb_fills++;
	return e;
}

/* Read size bytes that may straddle two pages (the common case does not). */
static uint64_t gather(uint8_t *const h[2], unsigned n1, unsigned size)
{
	if (n1 == size)
		return load_le(h[0], size);
	uint8_t buf[8];
	for (unsigned k = 0; k < size; k++)
		buf[k] = k < n1 ? h[0][k] : h[1][k - n1];
	return load_le(buf, size);
}

static void scatter(uint8_t *const h[2], unsigned n1, unsigned size, uint64_t v)
{
	if (n1 == size) {
		store_le(h[0], size, v);
		return;
	}
	uint8_t buf[8];
	store_le(buf, size, v);
	for (unsigned k = 0; k < size; k++) {
		if (k < n1)
			h[0][k] = buf[k];
		else
			h[1][k - n1] = buf[k];
	}
}

static int read_span(struct cpu *c, uint64_t la, unsigned size, int prot, uint64_t *val, int seg)
{
	uint8_t *h[2];
	unsigned n1;
	if (translate_span(c, la, size, prot, seg, h, &n1))
		return -1;
	*val = gather(h, n1, size);
	return 0;
}

int cpu_read_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t *val, int seg)
{
	const struct tlb_entry *e = refill_cached(c, la, size, VM_PROT_READ);
	if (e) {
		*val = load_le((const uint8_t *)(e->host + (la & 0xfff)), size);
		return 0;
	}
	return read_span(c, la, size, VM_PROT_READ, val, seg);
}

int cpu_write_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t val, int seg)
{
	const struct tlb_entry *e = refill_cached(c, la, size, VM_PROT_WRITE);
	if (e) {
		store_le((uint8_t *)(e->host + (la & 0xfff)), size, val);
		return 0;
	}
	uint8_t *h[2];
	unsigned n1;
	if (translate_span(c, la, size, VM_PROT_WRITE, seg, h, &n1))
		return -1;
	scatter(h, n1, size, val);
	return 0;
}

/* A read-modify-write checks write permission up front (SDM 4.7). */
int cpu_rmw_begin_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t *val, int seg)
{
	const struct tlb_entry *e = refill_cached(c, la, size, VM_PROT_READ | VM_PROT_WRITE);
	if (e) {
		*val = load_le((const uint8_t *)(e->host + (la & 0xfff)), size);
		return 0;
	}
	return read_span(c, la, size, VM_PROT_READ | VM_PROT_WRITE, val, seg);
}

/*
 * Implicit supervisor accesses (descriptor tables, the TSS, SDM 4.6): made
 * with supervisor rights whatever the CPL, so they never use or fill the
 * TLB, whose entries hold the rights of the current CPL.  A write (at most
 * 16 bytes, two pages) translates both pages before it stores a byte, the
 * lower page first, so a fault on either leaves memory as it was.
 */
static int linear_access(struct cpu *c, uint64_t la, uint8_t *buf, unsigned len, bool write)
{
	uint8_t *hosts[2];
	unsigned lens[2], npages = 0;
	while (len) {
		unsigned n = 0x1000 - (unsigned)(la & 0xfff);
		if (n > len)
			n = len;
		bool mmio;
		struct resolved r = {0};
		int prot = write ? VM_PROT_WRITE : VM_PROT_READ;
		if (resolve(c, la, prot, SEG_NONE, WALK_F_IMPLICIT_SV, &mmio, &r)) {
			if (mmio)
				exit_inst_emul(c, r.gpa, la);
			return -1;
		}
		uint8_t *h = r.host_page + (la & 0xfff);
		if (write) {
			if (npages == 2)
				return -1; /* not reached: writes are at most 16 bytes */
			hosts[npages] = h;
			lens[npages++] = n;
		} else {
			memcpy(buf, h, n);
			buf += n;
		}
		len -= n;
		la = (la + n) & c->la_mask;
	}
	for (unsigned k = 0; k < npages; k++) {
		memcpy(hosts[k], buf, lens[k]);
		buf += lens[k];
	}
	return 0;
}

int cpu_read_linear(struct cpu *c, uint64_t la, void *dst, unsigned len)
{
	return linear_access(c, la, dst, len, false);
}

int cpu_write_linear(struct cpu *c, uint64_t la, const void *src, unsigned len)
{
	/* Descriptor writes set accessed/busy bits: small, on the stack. */
	uint8_t buf[16];
	if (len > sizeof(buf))
		return -1;
	memcpy(buf, src, len);
	return linear_access(c, la, buf, len, true);
}
