/*
 * The guest-memory calls of the public API against bhyve's behaviour
 * (BHYVE-EXITS.md section 10) and the SDM's paging rules (vol. 3 4.6,
 * 4.7; softvmm's vm_gla2gpa makes every check, docs/deviations.md):
 * vm_gla2gpa, vm_copy_setup/vm_copyin/vm_copyout/vm_copy_teardown,
 * vm_gpa_hold/vm_gpa_release and vm_mem_allocated, each in every paging
 * mode (flat, 32-bit, PAE, 4-level), with every error path: 1 with the
 * #PF or #GP injected as vm_inject_exception would queue it (error code,
 * CR2), -1 with errno EINVAL or EFAULT.
 *
 * The machine: RAM1 [0, 4 MiB) and RAM2 [4 MiB, 4 MiB + 64 KiB), two
 * vm_malloc segments with no gap, then no RAM.  Linear page LB + k*4K is
 * mapped as map[] says, through one page table, in each paging mode.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

#define RAM1     UINT64_C(0x400000)
#define RAM2_GPA RAM1
#define RAM2     UINT64_C(0x10000)
#define HOLE     (RAM2_GPA + RAM2) /* no RAM from here on */
#define LB       UINT64_C(0x40000000)
#define PAGE(k)  (LB + (uint64_t)(k)*0x1000)
#define LB_BADPT (LB + 0x400000)   /* its page table is not RAM */
#define LB_RSVD  (LB + 0x800000)   /* a directory entry with a reserved bit */
#define ROOT     UINT64_C(0x10000) /* CR3: PD (32), PDPT (PAE) or PML4 (64) */
#define PDPT64   UINT64_C(0x11000)
#define PD       UINT64_C(0x12000)
#define PT       UINT64_C(0x13000)
#define PD_BELOW UINT64_C(0x14000) /* PAE/64: the directory for [0, 1 GiB) */
#define PAE_ALT  UINT64_C(0x15000) /* a second PDPT, not the loaded one */

#define P  UINT64_C(0x1)
#define RW UINT64_C(0x2)
#define US UINT64_C(0x4)
#define A  UINT64_C(0x20)
#define D  UINT64_C(0x40)
#define PS UINT64_C(0x80)
#define NX (UINT64_C(1) << 63)

#define CR0_PE   UINT64_C(0x1)
#define CR0_WP   UINT64_C(0x10000)
#define CR0_PG   UINT64_C(0x80000000)
#define CR4_PSE  UINT64_C(0x10)
#define CR4_PAE  UINT64_C(0x20)
#define CR4_SMEP UINT64_C(0x100000)
#define CR4_SMAP UINT64_C(0x200000)
#define EFER_LME UINT64_C(0x100)
#define EFER_LMA UINT64_C(0x400)
#define EFER_NXE UINT64_C(0x800)

#define PF_P    0x1u
#define PF_W    0x2u
#define PF_U    0x4u
#define PF_RSVD 0x8u
#define PF_ID   0x10u

/* Linear page k of LB: what its PTE maps and with which bits. */
static const struct {
	uint64_t gpa, bits;
} map[] = {
    [0] = {0x100000, P | RW | US},
    [1] = {RAM1 - 0x1000, P | RW | US}, /* last page of RAM1 ... */
    [2] = {RAM2_GPA, P | RW | US},      /* ... then the first of RAM2 */
    [3] = {0x102000, P | RW | US},      /* not contiguous with page 2 */
    [4] = {0x103000, 0},                /* not present */
    [5] = {0x104000, P | US},           /* read-only */
    [6] = {0x105000, P | RW},           /* supervisor */
    [7] = {0x106000, P | RW | US | NX}, /* no execute (PAE, 4-level) */
    [8] = {HOLE, P | RW | US},          /* not RAM */
    [9] = {HOLE - 0x1000, P | RW | US}, /* last page of RAM2 ... */
    [10] = {HOLE, P | RW | US},         /* ... then no RAM */
};
#define NPAGES (sizeof(map) / sizeof(map[0]))

static struct vm *vm;

static void put64(uint64_t gpa, uint64_t v)
{
	cr_assert_eq(guest_mem_write(vm, gpa, &v, 8), 0, "gpa %#" PRIx64, gpa);
}

static void put32(uint64_t gpa, uint32_t v)
{
	cr_assert_eq(guest_mem_write(vm, gpa, &v, 4), 0, "gpa %#" PRIx64, gpa);
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v = 0;
	cr_assert_eq(guest_mem_read(vm, gpa, &v, 8), 0, "gpa %#" PRIx64, gpa);
	return v;
}

static void setreg(int reg, uint64_t v)
{
	cr_assert_eq(vm_set_register(vm, 0, reg, v), 0, "register %d", reg);
}

static uint64_t getreg(int reg)
{
	uint64_t v;
	cr_assert_eq(vm_get_register(vm, 0, reg, &v), 0, "register %d", reg);
	return v;
}

static void setup(void)
{
	cr_assert_eq(vm_create("memcalls", NULL, &vm), 0);
	cr_assert_eq(vm_malloc(vm, 0, RAM1), 0);
	cr_assert_eq(vm_malloc(vm, RAM2_GPA, RAM2), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
}

static void teardown(void)
{
	vm_destroy(vm);
	vm = NULL;
}

TestSuite(mem_calls, .init = setup, .fini = teardown);

/* The page-table entry of linear page k, in the mode's entry size. */
static uint64_t pte_gpa(int mode, unsigned k)
{
	return PT + k * (mode == PAGING_MODE_32 ? 4 : 8);
}

static uint64_t read_pte(int mode, unsigned k)
{
	uint64_t v = get64(pte_gpa(mode, k));
	return mode == PAGING_MODE_32 ? (uint32_t)v : v;
}

/*
 * Build the tables of paging mode 'mode' and load the vcpu's control
 * registers for it (CR0.PG and PE; CR4.PAE/PSE; EFER.LME/LMA, NXE with
 * 'nxe'), plus the extra rights bits cr0x/cr4x.  Low memory is identity
 * mapped by large pages, supervisor and user.
 */
static void paging(int mode, bool nxe, uint64_t cr0x, uint64_t cr4x)
{
	uint64_t cr0 = CR0_PE | CR0_PG | cr0x, cr4 = cr4x, efer = nxe ? EFER_NXE : 0;
	for (unsigned k = 0; k < 1024; k++)
		put64(PT + 8 * k, 0), put64(PD + 8 * k, 0), put64(ROOT + 8 * k, 0);
	if (mode == PAGING_MODE_32) {
		for (unsigned k = 0; k < NPAGES; k++)
			put32(pte_gpa(mode, k), (uint32_t)(map[k].gpa | (map[k].bits & 0xfff)));
		put32(ROOT + 4 * (LB >> 22), (uint32_t)(PT | P | RW | US));
		put32(ROOT + 4 * (LB_BADPT >> 22), (uint32_t)(HOLE | P | RW | US));
		/* A 4 MiB page with bit 21 set: reserved with PSE-36 (SDM 4.3). */
		put32(ROOT + 4 * (LB_RSVD >> 22), (uint32_t)(0x200000 | PS | P | RW | US));
		put32(ROOT, (uint32_t)(PS | P | RW | US));
		cr4 |= CR4_PSE;
	} else {
		for (unsigned k = 0; k < NPAGES; k++)
			put64(pte_gpa(mode, k), map[k].gpa | map[k].bits);
		put64(PD + 8 * ((LB >> 21) & 511), PT | P | RW | US);
		put64(PD + 8 * ((LB_BADPT >> 21) & 511), HOLE | P | RW | US);
		/* Bit 51 is beyond every model's MAXPHYADDR: reserved. */
		put64(PD + 8 * ((LB_RSVD >> 21) & 511), (UINT64_C(1) << 51) | PT | P | RW | US);
		put64(PD_BELOW, PS | P | RW | US);
		cr4 |= CR4_PAE;
		if (mode == PAGING_MODE_PAE) {
			put64(ROOT, PD_BELOW | P);
			put64(ROOT + 8, PD | P);
			put64(ROOT + 16, 0);
			put64(ROOT + 24, 0);
			setreg(VM_REG_GUEST_PDPTE0, PD_BELOW | P);
			setreg(VM_REG_GUEST_PDPTE1, PD | P);
			setreg(VM_REG_GUEST_PDPTE2, 0);
			setreg(VM_REG_GUEST_PDPTE3, 0);
		} else {
			put64(ROOT, PDPT64 | P | RW | US);
			put64(PDPT64, PD_BELOW | P | RW | US);
			put64(PDPT64 + 8, PD | P | RW | US);
			efer |= EFER_LME | EFER_LMA;
		}
	}
	setreg(VM_REG_GUEST_EFER, efer);
	setreg(VM_REG_GUEST_CR4, cr4);
	setreg(VM_REG_GUEST_CR3, ROOT);
	setreg(VM_REG_GUEST_CR0, cr0);
}

static struct vm_guest_paging pg(int mode, int cpl)
{
	struct vm_guest_paging p = {.cr3 = ROOT, .cpl = cpl, .paging_mode = mode};
	p.cpu_mode = mode == PAGING_MODE_64     ? CPU_MODE_64BIT
	             : mode == PAGING_MODE_FLAT ? CPU_MODE_REAL
	                                        : CPU_MODE_PROTECTED;
	return p;
}

/* Nothing injected. */
static void expect_no_event(const char *what)
{
	uint64_t i1, i2;
	cr_assert_eq(vm_get_intinfo(vm, 0, &i1, &i2), 0);
	cr_assert_eq(i2, 0, "%s: an exception was injected (%#" PRIx64 ")", what, i2);
}

/* The pending exception is exactly 'vector' with error code 'err' (as
 * vm_inject_exception stores it); consume it so the next check starts
 * clean. */
static void expect_event(const char *what, int vector, uint32_t err)
{
	uint64_t i1, i2, info;
	cr_assert_eq(vm_get_intinfo(vm, 0, &i1, &i2), 0);
	uint64_t want = (uint64_t)vector | VM_INTINFO_HWEXCEPTION | VM_INTINFO_VALID |
	                VM_INTINFO_DEL_ERRCODE | (uint64_t)err << 32;
	cr_assert_eq(i2, want, "%s: pending %#" PRIx64 ", expected %#" PRIx64, what, i2, want);
	cr_assert_eq(vm_entry_intinfo(vm, 0, &info), 1);
}

static void expect_pf(const char *what, uint64_t gla, uint32_t err)
{
	expect_event(what, IDT_PF, err);
	cr_assert_eq(getreg(VM_REG_GUEST_CR2), gla, "%s: CR2 %#" PRIx64, what,
	             getreg(VM_REG_GUEST_CR2));
}

/* vm_gla2gpa succeeds with *gpa = want. */
static void expect_gpa(int mode, int cpl, uint64_t gla, int prot, uint64_t want)
{
	struct vm_guest_paging p = pg(mode, cpl);
	uint64_t gpa = ~0ull;
	int r = vm_gla2gpa(vm, 0, &p, gla, prot, &gpa);
	cr_assert_eq(r, 0, "mode %d cpl %d gla %#" PRIx64 " prot %d: %d", mode, cpl, gla, prot, r);
	cr_assert_eq(gpa, want, "mode %d gla %#" PRIx64 ": gpa %#" PRIx64, mode, gla, gpa);
	expect_no_event("translation");
}

/* vm_gla2gpa injects #PF(err) with CR2 = gla and returns 1. */
static void expect_gla_pf(int mode, int cpl, uint64_t gla, int prot, uint32_t err)
{
	struct vm_guest_paging p = pg(mode, cpl);
	uint64_t gpa = 0x5a5a;
	setreg(VM_REG_GUEST_CR2, 0);
	int r = vm_gla2gpa(vm, 0, &p, gla, prot, &gpa);
	cr_assert_eq(r, 1, "mode %d cpl %d gla %#" PRIx64 " prot %d: %d", mode, cpl, gla, prot, r);
	expect_pf("vm_gla2gpa", gla, err);
}

static const int paged_modes[] = {PAGING_MODE_32, PAGING_MODE_PAE, PAGING_MODE_64};

/* A translation of each mapped page, at the offset kept. */
Test(mem_calls, gla2gpa_translates_in_every_paging_mode)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, mode != PAGING_MODE_32, 0, 0);
		expect_gpa(mode, 0, PAGE(0) + 0x123, VM_PROT_READ, 0x100123);
		expect_gpa(mode, 3, PAGE(2) + 0xfff, VM_PROT_WRITE, RAM2_GPA + 0xfff);
		expect_gpa(mode, 0, PAGE(3), VM_PROT_EXECUTE, 0x102000);
		/* A page that is not RAM still translates: only vm_copy_setup
		 * and vm_gpa_hold need RAM. */
		expect_gpa(mode, 0, PAGE(8) + 8, VM_PROT_READ, HOLE + 8);
		/* The identity-mapped large page at 0. */
		expect_gpa(mode, 0, 0x1234, VM_PROT_READ | VM_PROT_WRITE, 0x1234);
	}
}

Test(mem_calls, gla2gpa_flat_is_the_identity_even_outside_ram)
{
	struct vm_guest_paging p = pg(PAGING_MODE_FLAT, 0);
	uint64_t gpa;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, 0x3ffffe, VM_PROT_WRITE, &gpa), 0);
	cr_assert_eq(gpa, 0x3ffffe);
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, 0xfee00000, VM_PROT_READ, &gpa), 0);
	cr_assert_eq(gpa, 0xfee00000);
	p.cpu_mode = CPU_MODE_PROTECTED;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, 0x12345678, VM_PROT_EXECUTE, &gpa), 0);
	cr_assert_eq(gpa, 0x12345678);
	expect_no_event("flat");
}

/* SDM 4.8: A at every level used, D at the leaf on writes. */
Test(mem_calls, gla2gpa_sets_accessed_and_dirty_bits)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		cr_assert_eq(read_pte(mode, 0) & (A | D), 0);
		expect_gpa(mode, 0, PAGE(0), VM_PROT_READ, 0x100000);
		cr_assert_eq(read_pte(mode, 0) & (A | D), A, "mode %d: read sets A only", mode);
		expect_gpa(mode, 0, PAGE(0), VM_PROT_WRITE, 0x100000);
		cr_assert_eq(read_pte(mode, 0) & (A | D), A | D, "mode %d: write sets D", mode);
		uint64_t pde = mode == PAGING_MODE_32 ? get64(ROOT + 4 * (LB >> 22)) & 0xffffffff
		                                      : get64(PD + 8 * ((LB >> 21) & 511));
		cr_assert(pde & A, "mode %d: the directory entry is accessed", mode);
		cr_assert_eq(pde & D, 0, "mode %d: D is set only at the leaf", mode);
	}
}

/* Not present: P = 0, W for writes, U at CPL 3 (SDM 4.7). */
Test(mem_calls, gla2gpa_not_present_injects_pf)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		expect_gla_pf(mode, 0, PAGE(4) + 0x10, VM_PROT_READ, 0);
		expect_gla_pf(mode, 0, PAGE(4) + 0x10, VM_PROT_WRITE, PF_W);
		expect_gla_pf(mode, 3, PAGE(4) + 0xff8, VM_PROT_READ | VM_PROT_WRITE, PF_W | PF_U);
		/* Beyond the last mapped page: a zero PTE. */
		expect_gla_pf(mode, 3, PAGE(NPAGES), VM_PROT_READ, PF_U);
		cr_assert_eq(read_pte(mode, 4) & A, 0,
		             "a fault sets no A bit in a not-present entry");
	}
}

/* Writes to a read-only page: at CPL 3 always; at CPL 0 only with
 * CR0.WP = 1 (SDM 4.6.1), where bhyve would fault at every CPL. */
Test(mem_calls, gla2gpa_write_protection_follows_cr0_wp)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		expect_gpa(mode, 0, PAGE(5), VM_PROT_WRITE, 0x104000);
		expect_gpa(mode, 3, PAGE(5), VM_PROT_READ, 0x104000);
		expect_gla_pf(mode, 3, PAGE(5) + 4, VM_PROT_WRITE, PF_P | PF_W | PF_U);
		paging(mode, false, CR0_WP, 0);
		expect_gla_pf(mode, 0, PAGE(5) + 4, VM_PROT_WRITE, PF_P | PF_W);
		expect_gpa(mode, 0, PAGE(5) + 4, VM_PROT_READ, 0x104004);
	}
}

/* A supervisor page at CPL 3 (SDM 4.6). */
Test(mem_calls, gla2gpa_user_access_to_supervisor_page)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		expect_gpa(mode, 0, PAGE(6), VM_PROT_WRITE, 0x105000);
		expect_gla_pf(mode, 3, PAGE(6), VM_PROT_READ, PF_P | PF_U);
		expect_gla_pf(mode, 3, PAGE(6) + 1, VM_PROT_WRITE, PF_P | PF_W | PF_U);
	}
}

/*
 * NX (PAE and 4-level, SDM 4.6.2): with EFER.NXE a fetch from an NX page
 * faults with I/D; reads and writes do not.  Without NXE bit 63 is
 * reserved (4.4.2, 4.5.4), so every access faults with RSVD.  I/D is set
 * only when NXE (with PAE) or SMEP makes fetches checkable (4.7); bhyve
 * sets it for every fetch.
 */
Test(mem_calls, gla2gpa_no_execute_and_the_id_bit)
{
	for (unsigned m = 1; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, true, 0, 0);
		expect_gla_pf(mode, 0, PAGE(7), VM_PROT_EXECUTE, PF_P | PF_ID);
		expect_gla_pf(mode, 3, PAGE(7), VM_PROT_READ | VM_PROT_EXECUTE,
		              PF_P | PF_U | PF_ID);
		expect_gpa(mode, 3, PAGE(7), VM_PROT_WRITE, 0x106000);
		expect_gla_pf(mode, 0, PAGE(4), VM_PROT_EXECUTE, PF_ID);
		paging(mode, false, 0, 0);
		expect_gla_pf(mode, 0, PAGE(7), VM_PROT_READ, PF_P | PF_RSVD);
		expect_gla_pf(mode, 0, PAGE(7), VM_PROT_EXECUTE, PF_P | PF_RSVD);
		expect_gla_pf(mode, 0, PAGE(4), VM_PROT_EXECUTE, 0);
		expect_gpa(mode, 0, PAGE(3), VM_PROT_EXECUTE, 0x102000);
	}
	/* 32-bit paging has no NX: a fetch fault never reports I/D. */
	paging(PAGING_MODE_32, true, 0, 0);
	expect_gla_pf(PAGING_MODE_32, 0, PAGE(4), VM_PROT_EXECUTE, 0);
	expect_gpa(PAGING_MODE_32, 0, PAGE(7), VM_PROT_EXECUTE, 0x106000);
}

/* SMEP and SMAP (SDM 4.6.1): supervisor fetches from, and supervisor data
 * accesses to, user pages. */
Test(mem_calls, gla2gpa_smep_and_smap)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, CR4_SMEP);
		expect_gla_pf(mode, 0, PAGE(0), VM_PROT_EXECUTE, PF_P | PF_ID);
		expect_gpa(mode, 0, PAGE(6), VM_PROT_EXECUTE, 0x105000);
		expect_gpa(mode, 3, PAGE(0), VM_PROT_EXECUTE, 0x100000);
		paging(mode, false, 0, CR4_SMAP);
		expect_gla_pf(mode, 0, PAGE(0) + 2, VM_PROT_READ, PF_P);
		expect_gla_pf(mode, 0, PAGE(0) + 2, VM_PROT_WRITE, PF_P | PF_W);
		expect_gpa(mode, 0, PAGE(6), VM_PROT_READ, 0x105000);
		/* EFLAGS.AC = 1 allows explicit supervisor accesses (4.6). */
		setreg(VM_REG_GUEST_RFLAGS, 0x40002);
		expect_gpa(mode, 0, PAGE(0) + 2, VM_PROT_WRITE, 0x100002);
		setreg(VM_REG_GUEST_RFLAGS, 0x2);
	}
}

/* Reserved bits (SDM 4.7: RSVD with P): PSE-36 bit 21 of a 4 MiB page;
 * a physical-address bit beyond MAXPHYADDR; PS in a PML4 entry. */
Test(mem_calls, gla2gpa_reserved_bits)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		expect_gla_pf(mode, 0, LB_RSVD + 0x10, VM_PROT_READ, PF_P | PF_RSVD);
		expect_gla_pf(mode, 3, LB_RSVD, VM_PROT_WRITE, PF_P | PF_W | PF_U | PF_RSVD);
	}
	paging(PAGING_MODE_64, false, 0, 0);
	put64(ROOT + 8, PDPT64 | PS | P | RW | US);
	expect_gla_pf(PAGING_MODE_64, 0, UINT64_C(0x8000000000), VM_PROT_READ, PF_P | PF_RSVD);
}

/* 64-bit mode: a non-canonical address is #GP(0), CR2 untouched, and no
 * walk (bhyve's vie_canonical_check; stack references too). */
Test(mem_calls, gla2gpa_non_canonical_injects_gp)
{
	paging(PAGING_MODE_64, false, 0, 0);
	struct vm_guest_paging p = pg(PAGING_MODE_64, 0);
	uint64_t gpa;
	setreg(VM_REG_GUEST_CR2, 0x77);
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, UINT64_C(0x0000800000000000), VM_PROT_READ, &gpa), 1);
	expect_event("non-canonical", IDT_GP, 0);
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, UINT64_C(0xffff7fffffffffff), VM_PROT_WRITE, &gpa), 1);
	expect_event("non-canonical", IDT_GP, 0);
	cr_assert_eq(getreg(VM_REG_GUEST_CR2), 0x77);
	/* Compatibility mode: a 32-bit address, canonical by construction. */
	p.cpu_mode = CPU_MODE_COMPATIBILITY;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, PAGE(0), VM_PROT_READ, &gpa), 0);
	cr_assert_eq(gpa, 0x100000);
}

/* A paging-structure page that is not RAM: -1 (EFAULT), nothing injected,
 * *gpa untouched. */
Test(mem_calls, gla2gpa_page_table_outside_ram_is_efault)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		struct vm_guest_paging p = pg(mode, 0);
		uint64_t gpa = 0x1111;
		errno = 0;
		cr_assert_eq(vm_gla2gpa(vm, 0, &p, LB_BADPT, VM_PROT_READ, &gpa), -1);
		cr_assert_eq(errno, EFAULT);
		cr_assert_eq(gpa, 0x1111);
		expect_no_event("page table outside RAM");
		p.cr3 = HOLE;
		errno = 0;
		cr_assert_eq(vm_gla2gpa(vm, 0, &p, PAGE(0), VM_PROT_READ, &gpa), -1, "mode %d",
		             mode);
		cr_assert_eq(errno, EFAULT);
		expect_no_event("root outside RAM");
	}
}

/*
 * PAE: the walk starts at the PDPTE registers when 'paging' names the
 * vcpu's own CR3 (SDM 4.4.1: they are not reloaded when memory changes);
 * for another CR3, at the entries in memory (bhyve reads them there).
 */
Test(mem_calls, gla2gpa_pae_pdptes_registers_or_memory)
{
	paging(PAGING_MODE_PAE, false, 0, 0);
	put64(ROOT + 8, 0); /* memory changed, registers not reloaded */
	expect_gpa(PAGING_MODE_PAE, 0, PAGE(0), VM_PROT_READ, 0x100000);
	put64(PAE_ALT, PD_BELOW | P);
	put64(PAE_ALT + 8, 0);
	struct vm_guest_paging p = pg(PAGING_MODE_PAE, 0);
	p.cr3 = PAE_ALT;
	uint64_t gpa;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, PAGE(0), VM_PROT_READ, &gpa), 1);
	expect_pf("PDPTE not present", PAGE(0), 0);
	put64(PAE_ALT + 8, PD | P);
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, PAGE(0) + 5, VM_PROT_READ, &gpa), 0);
	cr_assert_eq(gpa, 0x100005);
	/* With the vcpu not in PAE mode there are no registers to use. */
	setreg(VM_REG_GUEST_CR0, CR0_PE);
	p.cr3 = ROOT;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, PAGE(0), VM_PROT_READ, &gpa), 1);
	expect_pf("PDPTE in memory", PAGE(0), 0);
	/* A PDPT that is not RAM. */
	p.cr3 = HOLE;
	errno = 0;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, PAGE(0), VM_PROT_READ, &gpa), -1);
	cr_assert_eq(errno, EFAULT);
}

Test(mem_calls, gla2gpa_bad_arguments_are_einval)
{
	struct vm_guest_paging p = pg(PAGING_MODE_FLAT, 0);
	uint64_t gpa;
	errno = 0;
	cr_assert_eq(vm_gla2gpa(NULL, 0, &p, 0, VM_PROT_READ, &gpa), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_gla2gpa(vm, 1, &p, 0, VM_PROT_READ, &gpa), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_gla2gpa(vm, -1, &p, 0, VM_PROT_READ, &gpa), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_gla2gpa(vm, 0, NULL, 0, VM_PROT_READ, &gpa), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, 0, VM_PROT_READ, NULL), -1);
	cr_assert_eq(errno, EINVAL);
}

/* ---- vm_copy_setup / vm_copyin / vm_copyout / vm_copy_teardown ---- */

static void expect_zeroed(const struct vm_copyinfo *ci, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		cr_assert(ci[i].gpa == 0 && ci[i].len == 0 && !ci[i].hva && !ci[i].cookie,
		          "%s: copyinfo[%d] not cleared", what, i);
}

/* Copy 'len' bytes at gla in and out through the pieces, in mode 'mode',
 * and check them against the gpas in want[]. */
static void copy_round_trip(int mode, uint64_t gla, size_t len, const uint64_t *want_gpa,
                            const size_t *want_len, int npieces)
{
	struct vm_guest_paging p = pg(mode, 3);
	struct vm_copyinfo ci[4];
	uint8_t out[64], in[64];
	cr_assert_leq(len, sizeof(out));
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(0xa0 + i * 7 + mode);
	int r = vm_copy_setup(vm, 0, &p, gla, len, VM_PROT_READ | VM_PROT_WRITE, ci, 4);
	cr_assert_eq(r, 0, "mode %d gla %#" PRIx64 ": %d", mode, gla, r);
	for (int i = 0; i < 4; i++) {
		if (i >= npieces) {
			cr_assert_eq(ci[i].len, 0, "mode %d: piece %d used", mode, i);
			continue;
		}
		cr_assert_eq(ci[i].gpa, want_gpa[i], "mode %d piece %d: gpa %#" PRIx64, mode, i,
		             ci[i].gpa);
		cr_assert_eq(ci[i].len, want_len[i], "mode %d piece %d: len %zu", mode, i,
		             ci[i].len);
		cr_assert_not_null(ci[i].hva);
		cr_assert_not_null(ci[i].cookie);
	}
	vm_copyout(vm, 0, out, ci, len);
	memset(in, 0, sizeof(in));
	vm_copyin(vm, 0, ci, in, len);
	cr_assert_arr_eq(in, out, len);
	vm_copy_teardown(vm, 0, ci, 4);
	expect_zeroed(ci, 4, "teardown");
	/* The bytes are in guest memory at the pieces' gpas. */
	size_t off = 0;
	for (int i = 0; i < npieces; i++) {
		uint8_t got[64];
		cr_assert_eq(guest_mem_read(vm, want_gpa[i], got, want_len[i]), 0);
		cr_assert_arr_eq(got, out + off, want_len[i], "mode %d piece %d", mode, i);
		off += want_len[i];
	}
	expect_no_event("copy");
}

Test(mem_calls, copy_across_pages_and_ram_segments_in_every_mode)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		/* Inside one page. */
		copy_round_trip(mode, PAGE(0) + 0x10, 16, (uint64_t[]){0x100010}, (size_t[]){16},
		                1);
		/* Pages 1 and 2: the last page of RAM1, the first of RAM2. */
		copy_round_trip(mode, PAGE(2) - 5, 12, (uint64_t[]){RAM1 - 5, RAM2_GPA},
		                (size_t[]){5, 7}, 2);
		/* Pages 2 and 3: contiguous linear, scattered physical. */
		copy_round_trip(mode, PAGE(3) - 1, 2, (uint64_t[]){RAM2_GPA + 0xfff, 0x102000},
		                (size_t[]){1, 1}, 2);
	}
	/* Flat: gla = gpa, across the two segments. */
	copy_round_trip(PAGING_MODE_FLAT, RAM1 - 9, 20, (uint64_t[]){RAM1 - 9, RAM2_GPA},
	                (size_t[]){9, 11}, 2);
}

/* A setup longer than a page in three pieces, checked piece by piece. */
Test(mem_calls, copy_setup_three_pieces)
{
	paging(PAGING_MODE_64, false, 0, 0);
	struct vm_guest_paging p = pg(PAGING_MODE_64, 0);
	struct vm_copyinfo ci[3];
	cr_assert_eq(vm_copy_setup(vm, 0, &p, PAGE(2) - 3, 4100, VM_PROT_READ, ci, 3), 0);
	cr_assert_eq(ci[0].gpa, RAM1 - 3);
	cr_assert_eq(ci[0].len, 3);
	cr_assert_eq(ci[1].gpa, RAM2_GPA);
	cr_assert_eq(ci[1].len, 4096);
	cr_assert_eq(ci[2].gpa, 0x102000);
	cr_assert_eq(ci[2].len, 1);
	vm_copy_teardown(vm, 0, ci, 3);
	expect_zeroed(ci, 3, "teardown");
	/* Length 0: nothing to translate, nothing held. */
	cr_assert_eq(vm_copy_setup(vm, 0, &p, PAGE(4), 0, VM_PROT_READ, ci, 3), 0);
	expect_zeroed(ci, 3, "empty copy");
	expect_no_event("empty copy");
}

/*
 * A fault on any page fails the setup before anything is held, with the
 * fault injected for that page (CR2 = the first byte of the copy in it,
 * bhyve translating page by page), and 1 returned.
 */
Test(mem_calls, copy_setup_fault_on_a_later_page)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		struct vm_guest_paging p = pg(mode, 3);
		struct vm_copyinfo ci[2];
		memset(ci, 0xee, sizeof(ci));
		cr_assert_eq(vm_copy_setup(vm, 0, &p, PAGE(4) - 2, 8, VM_PROT_WRITE, ci, 2), 1);
		expect_zeroed(ci, 2, "fault");
		expect_pf("second page", PAGE(4), PF_W | PF_U);
		/* The first page: the fault is at gla itself. */
		cr_assert_eq(vm_copy_setup(vm, 0, &p, PAGE(6) + 0xffe, 4, VM_PROT_READ, ci, 2), 1);
		expect_pf("supervisor page", PAGE(6) + 0xffe, PF_P | PF_U);
		/* A read-only page written at CPL 3. */
		cr_assert_eq(vm_copy_setup(vm, 0, &p, PAGE(5) + 0xffe, 4, VM_PROT_WRITE, ci, 2), 1);
		expect_pf("read-only page", PAGE(5) + 0xffe, PF_P | PF_W | PF_U);
	}
	/* 64-bit mode: a non-canonical address is #GP(0) before any walk. */
	paging(PAGING_MODE_64, false, 0, 0);
	struct vm_guest_paging p = pg(PAGING_MODE_64, 0);
	struct vm_copyinfo ci[2];
	cr_assert_eq(vm_copy_setup(vm, 0, &p, UINT64_C(0xfff0800000000000), 8, VM_PROT_READ, ci, 2),
	             1);
	expect_event("non-canonical", IDT_GP, 0);
	expect_zeroed(ci, 2, "non-canonical");
}

/* Memory that is not RAM: -1 with EFAULT, nothing injected, nothing held
 * (bhyve: vm_gpa_hold fails, vm_copy_teardown, error). */
Test(mem_calls, copy_setup_outside_ram_is_efault)
{
	for (unsigned m = 0; m < 3; m++) {
		int mode = paged_modes[m];
		paging(mode, false, 0, 0);
		struct vm_guest_paging p = pg(mode, 0);
		struct vm_copyinfo ci[2];
		errno = 0;
		cr_assert_eq(vm_copy_setup(vm, 0, &p, PAGE(8), 4, VM_PROT_READ, ci, 2), -1);
		cr_assert_eq(errno, EFAULT);
		expect_zeroed(ci, 2, "not RAM");
		/* RAM, then not RAM: the RAM piece is not kept either. */
		errno = 0;
		cr_assert_eq(vm_copy_setup(vm, 0, &p, PAGE(10) - 4, 8, VM_PROT_WRITE, ci, 2), -1);
		cr_assert_eq(errno, EFAULT);
		expect_zeroed(ci, 2, "RAM then not RAM");
		/* A page table that is not RAM. */
		errno = 0;
		cr_assert_eq(vm_copy_setup(vm, 0, &p, LB_BADPT, 4, VM_PROT_READ, ci, 2), -1);
		cr_assert_eq(errno, EFAULT);
		expect_no_event("not RAM");
	}
	struct vm_guest_paging p = pg(PAGING_MODE_FLAT, 0);
	struct vm_copyinfo ci[2];
	errno = 0;
	cr_assert_eq(vm_copy_setup(vm, 0, &p, HOLE - 2, 4, VM_PROT_READ, ci, 2), -1);
	cr_assert_eq(errno, EFAULT);
	expect_zeroed(ci, 2, "flat, RAM then not RAM");
}

Test(mem_calls, copy_setup_bad_arguments_are_einval)
{
	struct vm_guest_paging p = pg(PAGING_MODE_FLAT, 0);
	struct vm_copyinfo ci[2];
	errno = 0;
	cr_assert_eq(vm_copy_setup(vm, 1, &p, 0x1000, 4, VM_PROT_READ, ci, 2), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_copy_setup(NULL, 0, &p, 0x1000, 4, VM_PROT_READ, ci, 2), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_copy_setup(vm, 0, NULL, 0x1000, 4, VM_PROT_READ, ci, 2), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_copy_setup(vm, 0, &p, 0x1000, 4, VM_PROT_READ, NULL, 2), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(vm_copy_setup(vm, 0, &p, 0x1000, 4, VM_PROT_READ, ci, 0), -1);
	cr_assert_eq(errno, EINVAL);
	/* Too few pieces for the span: bhyve asserts; softvmm fails, nothing held. */
	errno = 0;
	cr_assert_eq(vm_copy_setup(vm, 0, &p, 0x1ffe, 4, VM_PROT_READ, ci, 1), -1);
	cr_assert_eq(errno, EINVAL);
	expect_zeroed(ci, 1, "too few pieces");
	/* Teardown of nothing is harmless. */
	vm_copy_teardown(vm, 0, NULL, 2);
	vm_copy_teardown(vm, 0, ci, 0);
}

/* vm_copyin/vm_copyout never go past the pieces set up, whatever len. */
Test(mem_calls, copyin_stops_at_the_pieces_set_up)
{
	struct vm_guest_paging p = pg(PAGING_MODE_FLAT, 0);
	struct vm_copyinfo ci[3];
	uint8_t buf[16];
	memset(buf, 0x55, sizeof(buf));
	cr_assert_eq(guest_mem_write(vm, 0x2000, "abcdefgh", 8), 0);
	cr_assert_eq(vm_copy_setup(vm, 0, &p, 0x2000, 4, VM_PROT_READ, ci, 3), 0);
	vm_copyin(vm, 0, ci, buf, sizeof(buf));
	cr_assert_arr_eq(buf, "abcd", 4);
	cr_assert_eq(buf[4], 0x55);
	vm_copyout(vm, 0, "WXYZWXYZ", ci, 8);
	cr_assert_eq(guest_mem_read(vm, 0x2000, buf, 8), 0);
	cr_assert_arr_eq(buf, "WXYZefgh", 8);
	vm_copy_teardown(vm, 0, ci, 3);
}

/* ---- vm_gpa_hold / vm_gpa_release / vm_mem_allocated ---- */

Test(mem_calls, gpa_hold_within_one_page_of_ram)
{
	static const int prots[] = {VM_PROT_READ, VM_PROT_WRITE, VM_PROT_EXECUTE,
	                            VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE, VM_PROT_NONE};
	cr_assert_eq(guest_mem_write(vm, RAM2_GPA + 0x10, "held", 4), 0);
	for (unsigned i = 0; i < sizeof(prots) / sizeof(prots[0]); i++) {
		void *cookie = NULL;
		uint8_t *h = vm_gpa_hold(vm, RAM2_GPA + 0x10, 4, prots[i], &cookie);
		cr_assert_not_null(h, "prot %d", prots[i]);
		cr_assert_not_null(cookie);
		cr_assert_arr_eq(h, "held", 4);
		vm_gpa_release(cookie);
	}
	/* A whole page, the last page of each segment, and length 0 (bhyve
	 * holds the page whatever the length). */
	void *cookie;
	cr_assert_not_null(vm_gpa_hold(vm, 0, 4096, VM_PROT_READ, &cookie));
	vm_gpa_release(cookie);
	cr_assert_not_null(vm_gpa_hold(vm, RAM1 - 4096, 4096, VM_PROT_WRITE, &cookie));
	vm_gpa_release(cookie);
	cr_assert_not_null(vm_gpa_hold(vm, HOLE - 1, 1, VM_PROT_WRITE, &cookie));
	vm_gpa_release(cookie);
	cr_assert_not_null(vm_gpa_hold(vm, RAM2_GPA + 0x800, 0, VM_PROT_READ, &cookie));
	vm_gpa_release(cookie);
	/* Through the hold the guest's bytes change. */
	uint8_t *h = vm_gpa_hold(vm, RAM1 - 2, 2, VM_PROT_WRITE, &cookie);
	cr_assert_not_null(h);
	h[0] = 0x12, h[1] = 0x34;
	vm_gpa_release(cookie);
	uint8_t back[2];
	cr_assert_eq(guest_mem_read(vm, RAM1 - 2, back, 2), 0);
	cr_assert(back[0] == 0x12 && back[1] == 0x34);
}

/* A span that crosses a page (even between two RAM segments) or leaves
 * RAM: NULL and *cookie NULL (bhyve panics on the first, fails the hold on
 * the second). */
Test(mem_calls, gpa_hold_across_a_page_or_outside_ram_is_null)
{
	const struct {
		uint64_t gpa;
		size_t len;
		const char *what;
	} bad[] = {
	    {0x1ff8, 16, "crosses a page"},
	    {RAM1 - 8, 16, "crosses into the next segment"},
	    {HOLE - 8, 16, "leaves RAM"},
	    {HOLE, 1, "not RAM"},
	    {HOLE + 0x1000, 0, "not RAM, length 0"},
	    {0x3000, 4097, "longer than a page"},
	    {UINT64_MAX, 1, "the last byte of the address space"},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *cookie = (void *)1;
		cr_assert_null(vm_gpa_hold(vm, bad[i].gpa, bad[i].len, VM_PROT_READ, &cookie), "%s",
		               bad[i].what);
		cr_assert_null(cookie, "%s: cookie set", bad[i].what);
	}
	cr_assert_null(vm_gpa_hold(vm, 0x1000, 4, VM_PROT_READ, NULL));
	void *cookie = (void *)1;
	cr_assert_null(vm_gpa_hold(NULL, 0x1000, 4, VM_PROT_READ, &cookie));
	cr_assert_null(cookie);
	vm_gpa_release(NULL);
}

/*
 * A write hold keeps the decode cache coherent: code the vcpu ran, then
 * changed through vm_gpa_hold, runs as changed (bhyve's guest sees the
 * store at once).
 */
Test(mem_calls, gpa_hold_for_write_drops_decoded_code)
{
	cr_assert_eq(guest_set_real_mode_entry(vm, 0, 0x1000), 0);
	const uint8_t code[] = {0xb0, 0x11, 0xe6, 0x80}; /* mov al, 0x11; out 0x80, al */
	cr_assert_eq(guest_mem_write(vm, 0x1000, code, sizeof(code)), 0);
	struct vm_run run = {.cpuid = 0, .rip = 0x1000};
	cr_assert_eq(vm_run(vm, &run), 0);
	cr_assert_eq(run.vm_exit.exitcode, VM_EXITCODE_INOUT);
	cr_assert_eq(run.vm_exit.u.inout.eax & 0xff, 0x11);
	void *cookie;
	uint8_t *h = vm_gpa_hold(vm, 0x1001, 1, VM_PROT_WRITE, &cookie);
	cr_assert_not_null(h);
	*h = 0x22;
	vm_gpa_release(cookie);
	run.rip = 0x1000;
	cr_assert_eq(vm_run(vm, &run), 0);
	cr_assert_eq(run.vm_exit.exitcode, VM_EXITCODE_INOUT);
	cr_assert_eq(run.vm_exit.u.inout.eax & 0xff, 0x22);
}

Test(mem_calls, mem_allocated_exactly_inside_each_segment)
{
	struct vm *v2;
	cr_assert_eq(vm_create("segs", NULL, &v2), 0);
	cr_assert_eq(vm_malloc(v2, 0x1000, 0x1000), 0);
	cr_assert_eq(vm_malloc(v2, 0x100000, 0x3000), 0);
	cr_assert_eq(vm_malloc(v2, 0x103000, 0x1000), 0); /* adjacent to the second */
	const struct {
		uint64_t gpa;
		bool ram;
	} probes[] = {{0, false},         {0xfff, false},   {0x1000, true},    {0x1fff, true},
	              {0x2000, false},    {0xfffff, false}, {0x100000, true},  {0x102fff, true},
	              {0x103000, true},   {0x103fff, true}, {0x104000, false}, {UINT64_MAX, false},
	              {1ull << 63, false}};
	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		cr_assert_eq(vm_mem_allocated(v2, probes[i].gpa), probes[i].ram, "gpa %#" PRIx64,
		             probes[i].gpa);
	cr_assert(!vm_mem_allocated(NULL, 0x1000));
	/* RAM stays across vm_reinit (bhyve keeps system memory). */
	cr_assert_eq(vm_reinit(v2), 0);
	cr_assert(vm_mem_allocated(v2, 0x103fff));
	vm_destroy(v2);
}

/* A fresh machine on CPU model 'model' (the suite's VM is replaced). */
static void reopen(const char *model)
{
	vm_destroy(vm);
	struct vm_config cfg = {.cpu_model = model};
	cr_assert_eq(vm_create("memcalls", &cfg, &vm), 0);
	cr_assert_eq(vm_malloc(vm, 0, RAM1), 0);
	cr_assert_eq(vm_malloc(vm, RAM2_GPA, RAM2), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
}

/* 1 GiB pages (SDM 4.5.4): translated where the model has them (CPUID
 * 80000001H:EDX.Page1GB), a reserved-bit #PF where it does not. */
Test(mem_calls, gla2gpa_1gib_pages_follow_the_cpu_model)
{
	static const char *const models[] = {"x86-64-intel", "x86-64-intel-v3"};
	for (unsigned i = 0; i < 2; i++) {
		reopen(models[i]);
		paging(PAGING_MODE_64, false, 0, 0);
		put64(PDPT64 + 16, PS | P | RW | US); /* [2 GiB, 3 GiB) -> [0, 1 GiB) */
		uint64_t gla = UINT64_C(0x80000000) + 0x123456;
		if (i == 0)
			expect_gla_pf(PAGING_MODE_64, 0, gla, VM_PROT_READ, PF_P | PF_RSVD);
		else
			expect_gpa(PAGING_MODE_64, 0, gla, VM_PROT_READ, 0x123456);
	}
}

/*
 * 5-level paging (CR4.LA57, SDM 4.5): the walk starts at the PML5 table
 * and addresses are canonical in 57 bits, so bit 47 alone is a valid
 * address and bit 56 alone is not.
 */
Test(mem_calls, gla2gpa_five_level_paging)
{
	reopen("x86-64-intel-v3");
	paging(PAGING_MODE_64, false, 0, 0);
	const uint64_t pml5 = 0x16000;
	for (unsigned k = 0; k < 512; k++)
		put64(pml5 + 8 * k, 0);
	put64(pml5, ROOT | P | RW | US);
	setreg(VM_REG_GUEST_CR0, CR0_PE);
	setreg(VM_REG_GUEST_CR4, CR4_PAE | 0x1000);
	setreg(VM_REG_GUEST_CR3, pml5);
	setreg(VM_REG_GUEST_CR0, CR0_PE | CR0_PG);
	struct vm_guest_paging p = pg(PAGING_MODE_64, 0);
	p.cr3 = pml5;
	uint64_t gpa;
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, PAGE(0) + 8, VM_PROT_READ, &gpa), 0);
	cr_assert_eq(gpa, 0x100008);
	setreg(VM_REG_GUEST_CR2, 0);
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, UINT64_C(0x0000800000000000), VM_PROT_READ, &gpa), 1);
	expect_pf("bit 47 under LA57", UINT64_C(0x0000800000000000), 0);
	cr_assert_eq(vm_gla2gpa(vm, 0, &p, UINT64_C(0x0100000000000000), VM_PROT_READ, &gpa), 1);
	expect_event("bit 56 under LA57", IDT_GP, 0);
}
