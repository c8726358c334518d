/*
 * XADD, CMPXCHG, CMPXCHG8B, CMPXCHG16B and the BCD adjustments.
 *
 * - atomic_reg: the register forms of XADD and CMPXCHG at every size against
 *   the host CPU (host_diff.h), all four registers and every arithmetic flag
 *   (all are defined: XADD sets them as ADD, CMPXCHG as CMP).
 * - atomic_mem: the memory forms, with and without LOCK, against the host
 *   on a buffer, in a 64-bit guest set up here (one with an IDT whose
 *   handlers report the vector, so #UD, #GP and #PF can be told apart);
 *   CMPXCHG16B alignment, write faults on a read-only page (CMPXCHG writes
 *   even when the comparison fails), self-modifying code, LOCK with a
 *   register destination and the BCD opcodes in 64-bit mode.
 * - bcd: DAA DAS AAA AAS AAM AAD run by tests/guests/bcd.asm in 32-bit
 *   protected mode (the host, in 64-bit mode, cannot run them), compared
 *   with the SDM vol. 2A pseudo-code transcribed below.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"
#include "host_diff.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__x86_64__)

/* ---- host side --------------------------------------------------------------
 * One function per encoding: the same bytes the guest runs, on RAX..RDX and
 * RFLAGS, with RDI pointing at a buffer for the memory forms.  The red zone
 * is stepped over before the PUSH. */

struct hregs {
	uint64_t rax, rbx, rcx, rdx, rflags;
};

typedef void (*host_fn)(struct hregs *r, void *p);

#define HOSTX(name, ...)                                                                           \
	static void host_##name(struct hregs *r, void *p)                                          \
	{                                                                                          \
		__asm__ volatile("lea -128(%%rsp), %%rsp\n\tpush %[f]\n\tpopfq\n\t"                \
		                 ".byte " #__VA_ARGS__ "\n\t"                                      \
		                 "pushfq\n\tpop %[f]\n\tlea 128(%%rsp), %%rsp"                     \
		                 : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx),                       \
		                   "+d"(r->rdx), [f] "+r"(r->rflags)                               \
		                 : "D"(p)                                                          \
		                 : "cc", "memory");                                                \
	}                                                                                          \
	static const uint8_t code_##name[] = {__VA_ARGS__};

struct xcase {
	const char *name;
	const uint8_t *code;
	unsigned len;
	host_fn host;
	bool cmpxchg; /* both outcomes of the comparison must occur */
};
#define XC(name, cx)                                                                               \
	{                                                                                          \
#name, code_##name, sizeof(code_##name), host_##name, cx                           \
	}

/* Register forms: ModRM rm is the destination, reg the source. */
HOSTX(xadd_al_bl, 0x0f, 0xc0, 0xd8)
HOSTX(xadd_ah_bh, 0x0f, 0xc0, 0xfc)
HOSTX(xadd_bh_al, 0x0f, 0xc0, 0xc7)
HOSTX(xadd_dl_dh, 0x0f, 0xc0, 0xf2)
HOSTX(xadd_al_al, 0x0f, 0xc0, 0xc0)
HOSTX(xadd_ax_bx, 0x66, 0x0f, 0xc1, 0xd8)
HOSTX(xadd_eax_ebx, 0x0f, 0xc1, 0xd8)
HOSTX(xadd_rax_rbx, 0x48, 0x0f, 0xc1, 0xd8)
HOSTX(xadd_ecx_ecx, 0x0f, 0xc1, 0xc9)
HOSTX(xadd_rcx_rcx, 0x48, 0x0f, 0xc1, 0xc9)
HOSTX(cmpxchg_bl_cl, 0x0f, 0xb0, 0xcb)
HOSTX(cmpxchg_bh_ch, 0x0f, 0xb0, 0xef)
HOSTX(cmpxchg_ah_bh, 0x0f, 0xb0, 0xfc)
HOSTX(cmpxchg_al_bl, 0x0f, 0xb0, 0xd8)
HOSTX(cmpxchg_bx_cx, 0x66, 0x0f, 0xb1, 0xcb)
HOSTX(cmpxchg_ebx_ecx, 0x0f, 0xb1, 0xcb)
HOSTX(cmpxchg_rbx_rcx, 0x48, 0x0f, 0xb1, 0xcb)
HOSTX(cmpxchg_eax_ecx, 0x0f, 0xb1, 0xc8)
HOSTX(cmpxchg_rax_rcx, 0x48, 0x0f, 0xb1, 0xc8)
HOSTX(cmpxchg_edx_eax, 0x0f, 0xb1, 0xc2)
HOSTX(cmpxchg_dx_dx, 0x66, 0x0f, 0xb1, 0xd2)

static const struct xcase reg_cases[] = {
    XC(xadd_al_bl, false),      XC(xadd_ah_bh, false),     XC(xadd_bh_al, false),
    XC(xadd_dl_dh, false),      XC(xadd_al_al, false),     XC(xadd_ax_bx, false),
    XC(xadd_eax_ebx, false),    XC(xadd_rax_rbx, false),   XC(xadd_ecx_ecx, false),
    XC(xadd_rcx_rcx, false),    XC(cmpxchg_bl_cl, true),   XC(cmpxchg_bh_ch, true),
    XC(cmpxchg_ah_bh, true),    XC(cmpxchg_al_bl, false),  XC(cmpxchg_bx_cx, true),
    XC(cmpxchg_ebx_ecx, true),  XC(cmpxchg_rbx_rcx, true), XC(cmpxchg_eax_ecx, false),
    XC(cmpxchg_rax_rcx, false), XC(cmpxchg_edx_eax, true), XC(cmpxchg_dx_dx, true),
};

/* Memory forms, all on [rdi]. */
HOSTX(xadd_m8, 0x0f, 0xc0, 0x1f)
HOSTX(xadd_m16, 0x66, 0x0f, 0xc1, 0x1f)
HOSTX(xadd_m32, 0x0f, 0xc1, 0x1f)
HOSTX(xadd_m64, 0x48, 0x0f, 0xc1, 0x1f)
HOSTX(lock_xadd_m8, 0xf0, 0x0f, 0xc0, 0x1f)
HOSTX(lock_xadd_m16, 0xf0, 0x66, 0x0f, 0xc1, 0x1f)
HOSTX(lock_xadd_m32, 0xf0, 0x0f, 0xc1, 0x1f)
HOSTX(lock_xadd_m64, 0xf0, 0x48, 0x0f, 0xc1, 0x1f)
HOSTX(cmpxchg_m8, 0x0f, 0xb0, 0x0f)
HOSTX(cmpxchg_m8_ah, 0x0f, 0xb0, 0x27)
HOSTX(cmpxchg_m16, 0x66, 0x0f, 0xb1, 0x0f)
HOSTX(cmpxchg_m32, 0x0f, 0xb1, 0x0f)
HOSTX(cmpxchg_m64, 0x48, 0x0f, 0xb1, 0x0f)
HOSTX(lock_cmpxchg_m8, 0xf0, 0x0f, 0xb0, 0x0f)
HOSTX(lock_cmpxchg_m16, 0x66, 0xf0, 0x0f, 0xb1, 0x0f)
HOSTX(lock_cmpxchg_m32, 0xf0, 0x0f, 0xb1, 0x0f)
HOSTX(lock_cmpxchg_m64, 0xf0, 0x48, 0x0f, 0xb1, 0x0f)
HOSTX(cmpxchg8b_m, 0x0f, 0xc7, 0x0f)
HOSTX(lock_cmpxchg8b_m, 0xf0, 0x0f, 0xc7, 0x0f)
HOSTX(cmpxchg8b_m_66, 0x66, 0x0f, 0xc7, 0x0f)
HOSTX(cmpxchg16b_m, 0x48, 0x0f, 0xc7, 0x0f)
HOSTX(lock_cmpxchg16b_m, 0xf0, 0x48, 0x0f, 0xc7, 0x0f)

static const struct xcase mem_cases[] = {
    XC(xadd_m8, false),          XC(xadd_m16, false),        XC(xadd_m32, false),
    XC(xadd_m64, false),         XC(lock_xadd_m8, false),    XC(lock_xadd_m16, false),
    XC(lock_xadd_m32, false),    XC(lock_xadd_m64, false),   XC(cmpxchg_m8, true),
    XC(cmpxchg_m8_ah, true),     XC(cmpxchg_m16, true),      XC(cmpxchg_m32, true),
    XC(cmpxchg_m64, true),       XC(lock_cmpxchg_m8, true),  XC(lock_cmpxchg_m16, true),
    XC(lock_cmpxchg_m32, true),  XC(lock_cmpxchg_m64, true), XC(cmpxchg8b_m, true),
    XC(lock_cmpxchg8b_m, true),  XC(cmpxchg8b_m_66, true),   XC(cmpxchg16b_m, true),
    XC(lock_cmpxchg16b_m, true),
};

static bool is_16b(const struct xcase *k)
{
	return k->host == host_cmpxchg16b_m || k->host == host_lock_cmpxchg16b_m;
}

/*
 * Register inputs: every pair of operands in RAX and RBX; then RBX, RCX and
 * RDX equal to RAX in their low 8, 16 or 32 bits but not above; then the
 * same byte in every byte of all four (AH, BH, CH, DH equal to AL).
 */
static unsigned make_inputs(struct hregs *in, unsigned max)
{
	unsigned n = 0;
	const unsigned no = hd_edge_count;
	for (unsigned i = 0; i < no; i++)
		for (unsigned j = 0; j < no && n < max; j++)
			in[n++] =
			    (struct hregs){hd_edge_values[i], hd_edge_values[j],
			                   hd_edge_values[(i + j) % no] ^ 0xa5a5a5a5a5a5a5a5ull,
			                   hd_edge_values[(7 * i + j) % no], 0};
	static const uint64_t flips[] = {0, 0xff00, 0xffff0000, 0xffffffff00000000ull};
	for (unsigned i = 0; i < no; i++)
		for (unsigned f = 0; f < NELEM(flips) && n < max; f++)
			in[n++] = (struct hregs){hd_edge_values[i], hd_edge_values[i] ^ flips[f],
			                         hd_edge_values[i] ^ flips[(f + 1) % 4],
			                         hd_edge_values[i] ^ flips[(f + 2) % 4], 0};
	static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	for (unsigned b = 0; b < NELEM(bytes) && n + 2 <= max; b++) {
		uint64_t v = bytes[b] * 0x0101010101010101ull;
		in[n++] = (struct hregs){v, v, v, v, 0};
		in[n++] = (struct hregs){v, v ^ 0xff00, v ^ 0xff, v, 0};
	}
	return n;
}

/* ---- atomic_reg: register forms on the soft CPU against the host ------------ */

static void reg_setup(void)
{
	cr_assert_eq(hd_open(), 0);
}

TestSuite(atomic_reg, .init = reg_setup, .fini = hd_close);

static void run_reg_case(const struct xcase *k)
{
	static struct hregs in[512];
	unsigned n = make_inputs(in, NELEM(in));
	unsigned eq = 0, ne = 0;
	for (unsigned t = 0; t < n; t++) {
		for (int fl = 0; fl < 2; fl++) {
			struct hregs h = in[t];
			h.rflags = fl ? 0x2 | HD_ARITH : 0x2;
			struct hd_regs g = {h.rax, h.rbx, h.rcx, h.rdx, h.rflags};
			struct hregs before = h;
			k->host(&h, NULL);
			cr_assert_eq(hd_run(k->code, k->len, &g), 0, "%s: %s", k->name, hd_error);
			if (h.rflags & HD_ZF)
				eq++;
			else
				ne++;
			bool same = g.rax == h.rax && g.rbx == h.rbx && g.rcx == h.rcx &&
			            g.rdx == h.rdx &&
			            (g.rflags & HD_ARITH) == (h.rflags & HD_ARITH);
			cr_assert(same,
			          "%s in rax %#llx rbx %#llx rcx %#llx rdx %#llx fl %#llx:\n"
			          "  soft rax %#llx rbx %#llx rcx %#llx rdx %#llx fl %#llx\n"
			          "  host rax %#llx rbx %#llx rcx %#llx rdx %#llx fl %#llx",
			          k->name, (unsigned long long)before.rax,
			          (unsigned long long)before.rbx, (unsigned long long)before.rcx,
			          (unsigned long long)before.rdx, (unsigned long long)before.rflags,
			          (unsigned long long)g.rax, (unsigned long long)g.rbx,
			          (unsigned long long)g.rcx, (unsigned long long)g.rdx,
			          (unsigned long long)(g.rflags & HD_ARITH),
			          (unsigned long long)h.rax, (unsigned long long)h.rbx,
			          (unsigned long long)h.rcx, (unsigned long long)h.rdx,
			          (unsigned long long)(h.rflags & HD_ARITH));
		}
	}
	if (k->cmpxchg)
		cr_assert(eq > 0 && ne > 0, "%s: %u equal and %u unequal comparisons", k->name, eq,
		          ne);
}

Test(atomic_reg, xadd_register_forms_match_the_host)
{
	for (unsigned c = 0; c < NELEM(reg_cases); c++)
		if (reg_cases[c].name[0] == 'x')
			run_reg_case(&reg_cases[c]);
}

Test(atomic_reg, cmpxchg_register_forms_match_the_host)
{
	for (unsigned c = 0; c < NELEM(reg_cases); c++)
		if (reg_cases[c].name[0] == 'c')
			run_reg_case(&reg_cases[c]);
}

/* ---- atomic_mem: a 64-bit guest with an IDT ----------------------------------
 *
 * Guest-physical (and, below 2 MiB, linear) layout: */
#define M_RAM      (2u << 20)
#define M_CODE     0x1000ull  /* the instruction under test, then OUT 0x98 */
#define M_PML4     0x10000ull /* PML4, PDPT, PD, and a page table for 2-4 MiB */
#define M_GDT      0x20000ull
#define M_IDT      0x21000ull
#define M_HANDLERS 0x22000ull  /* 64 bytes per vector */
#define M_SAVE     0x24000ull  /* the handlers save RAX, RBX, RCX here */
#define M_STACK    0x30000ull  /* top of the stack */
#define M_DATA     0x40000ull  /* data (two pages) */
#define M_RO       0x200000ull /* linear: M_DATA again, read-only */
#define M_NVEC     32

#define PORT_DONE 0x98 /* the instruction retired */
#define PORT_EXC  0x99 /* a handler ran: EAX is the vector */

static struct vm *mvm;

struct mregs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rflags;
};

enum mres { M_RETIRED, M_EXCEPTION, M_TRIPLE };

struct mout {
	enum mres res;
	struct mregs r;  /* after the instruction (RAX RBX RCX as saved for exceptions) */
	unsigned vector; /* M_EXCEPTION */
	uint64_t err;    /* its error code, when it has one */
	uint64_t fault_rip;
	uint64_t rip; /* M_TRIPLE: where the vcpu stopped */
};

static void *mhold(uint64_t gpa, size_t len)
{
	void *ck;
	void *p = vm_gpa_hold(mvm, gpa, len, VM_PROT_READ | VM_PROT_WRITE, &ck);
	cr_assert_not_null(p, "vm_gpa_hold(%#llx)", (unsigned long long)gpa);
	return p;
}

/* Copy to or from guest memory, one page at a time. */
static void mcopy(uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	uint8_t *b = buf;
	while (len > 0) {
		size_t chunk = 0x1000 - (gpa & 0xfff);
		if (chunk > len)
			chunk = len;
		uint8_t *p = mhold(gpa, chunk);
		if (to_guest)
			memcpy(p, b, chunk);
		else
			memcpy(b, p, chunk);
		gpa += chunk, b += chunk, len -= chunk;
	}
}

static bool has_error_code(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void m_build_memory(void)
{
	uint64_t *t = mhold(M_PML4, 4096);
	t[0] = (M_PML4 + 0x1000) | 3;
	t = mhold(M_PML4 + 0x1000, 4096);
	t[0] = (M_PML4 + 0x2000) | 3;
	t = mhold(M_PML4 + 0x2000, 4096);
	t[0] = 0x83;                  /* 0-2 MiB: identity, P RW PS */
	t[1] = (M_PML4 + 0x3000) | 3; /* 2-4 MiB: 4 KiB pages */
	t = mhold(M_PML4 + 0x3000, 4096);
	t[0] = M_DATA | 1; /* M_RO -> M_DATA, present, read-only */
	t[1] = (M_DATA + 0x1000) | 1;

	uint64_t *gdt = mhold(M_GDT, 24);
	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffull; /* 0x08: 64-bit code */
	gdt[2] = 0x00cf93000000ffffull; /* 0x10: data */

	uint8_t *idt = mhold(M_IDT, 16 * M_NVEC);
	uint8_t *h = mhold(M_HANDLERS, 64 * M_NVEC);
	for (unsigned v = 0; v < M_NVEC; v++) {
		uint64_t off = M_HANDLERS + 64 * v;
		uint8_t *g = idt + 16 * v;
		memset(g, 0, 16);
		g[0] = (uint8_t)off;
		g[1] = (uint8_t)(off >> 8);
		g[2] = 0x08;
		g[5] = 0x8e; /* 64-bit interrupt gate, present, DPL 0 */
		g[6] = (uint8_t)(off >> 16);
		g[7] = (uint8_t)(off >> 24);
		uint8_t *c = h + 64 * v;
		unsigned n = 0;
		/* mov [M_SAVE], rax; mov [M_SAVE+8], rbx; mov [M_SAVE+16], rcx */
		static const uint8_t modrm[3] = {0x04, 0x1c, 0x0c};
		for (unsigned r = 0; r < 3; r++) {
			c[n++] = 0x48, c[n++] = 0x89, c[n++] = modrm[r], c[n++] = 0x25;
			put32(c + n, (uint32_t)(M_SAVE + 8 * r));
			n += 4;
		}
		/* mov rbx, [rsp + 0 or 8] (the RIP pushed); mov rcx, [rsp] */
		c[n++] = 0x48, c[n++] = 0x8b, c[n++] = 0x5c, c[n++] = 0x24;
		c[n++] = has_error_code(v) ? 8 : 0;
		c[n++] = 0x48, c[n++] = 0x8b, c[n++] = 0x0c, c[n++] = 0x24;
		c[n++] = 0xb8; /* mov eax, v */
		put32(c + n, v);
		n += 4;
		c[n++] = 0xe7, c[n++] = PORT_EXC; /* out PORT_EXC, eax */
		c[n++] = 0xf4;                    /* hlt */
	}
}

/* 64-bit mode, CPL 0, CR0.WP set (supervisor writes honour read-only pages);
 * with 'idt' false the IDT has limit 0 and any exception triple-faults. */
static void m_enter(bool idt)
{
	struct seg_desc cs = {0, 0xffffffff, 0xa09b}, ds = {0, 0xffffffff, 0xc093};
	struct seg_desc gdtr = {M_GDT, 23, 0};
	struct seg_desc idtr = {idt ? M_IDT : 0, idt ? 16 * M_NVEC - 1 : 0, 0};
	vm_set_register(mvm, 0, VM_REG_GUEST_CR3, M_PML4);
	vm_set_register(mvm, 0, VM_REG_GUEST_CR4, 0x20);       /* PAE */
	vm_set_register(mvm, 0, VM_REG_GUEST_EFER, 0x500);     /* LME LMA */
	vm_set_register(mvm, 0, VM_REG_GUEST_CR0, 0x80010011); /* PG WP ET PE */
	vm_set_seg_desc(mvm, 0, VM_REG_GUEST_CS, &cs);
	vm_set_register(mvm, 0, VM_REG_GUEST_CS, 0x08);
	for (int r = VM_REG_GUEST_ES; r <= VM_REG_GUEST_GS; r++) {
		if (r == VM_REG_GUEST_CS)
			continue;
		vm_set_seg_desc(mvm, 0, r, &ds);
		vm_set_register(mvm, 0, r, 0x10);
	}
	vm_set_seg_desc(mvm, 0, VM_REG_GUEST_GDTR, &gdtr);
	vm_set_seg_desc(mvm, 0, VM_REG_GUEST_IDTR, &idtr);
}

static void mem_setup(void)
{
	cr_assert_eq(vm_create("atomic-mem", NULL, &mvm), 0);
	cr_assert_eq(vm_malloc(mvm, 0, M_RAM), 0);
	cr_assert_eq(vm_activate_cpu(mvm, 0), 0);
	m_build_memory();
}

static void mem_teardown(void)
{
	vm_destroy(mvm);
	mvm = NULL;
}

TestSuite(atomic_mem, .init = mem_setup, .fini = mem_teardown);

/* Run code (followed by OUT PORT_DONE) from M_CODE with *in. */
static struct mout m_run(const uint8_t *code, unsigned n, const struct mregs *in, bool idt)
{
	struct mout o;
	memset(&o, 0, sizeof(o));
	if (vm_suspended_cpus(mvm) != 0) {
		/* After a triple fault: start the vcpu afresh (memory stays). */
		cr_assert_eq(vm_reinit(mvm), 0);
		cr_assert_eq(vm_activate_cpu(mvm, 0), 0);
	}
	m_enter(idt);
	uint8_t *p = mhold(M_CODE, 32);
	cr_assert(n <= 28);
	memset(p, 0x90, 32);
	memcpy(p, code, n);
	p[n] = 0xe6, p[n + 1] = PORT_DONE; /* out PORT_DONE, al */
	static const int regs[] = {VM_REG_GUEST_RAX, VM_REG_GUEST_RBX, VM_REG_GUEST_RCX,
	                           VM_REG_GUEST_RDX, VM_REG_GUEST_RSI, VM_REG_GUEST_RDI};
	const uint64_t *iv = &in->rax;
	for (unsigned r = 0; r < NELEM(regs); r++)
		vm_set_register(mvm, 0, regs[r], iv[r]);
	vm_set_register(mvm, 0, VM_REG_GUEST_RFLAGS, in->rflags);
	vm_set_register(mvm, 0, VM_REG_GUEST_RSP, M_STACK);
	struct vm_vcpu_stats st;
	vm_get_stats(mvm, 0, &st);
	vm_set_insn_limit(mvm, 0, st.insns_retired + 50); /* a runaway ends in BOGUS */
	struct vm_run run = {.cpuid = 0, .rip = M_CODE};
	cr_assert_eq(vm_run(mvm, &run), 0);
	const struct vm_exit *e = &run.vm_exit;
	uint64_t *ov = &o.r.rax;
	for (unsigned r = 0; r < NELEM(regs); r++)
		vm_get_register(mvm, 0, regs[r], &ov[r]);
	vm_get_register(mvm, 0, VM_REG_GUEST_RFLAGS, &o.r.rflags);
	o.rip = e->rip;
	if (e->exitcode == VM_EXITCODE_SUSPENDED) {
		cr_assert_eq(e->u.suspended.how, VM_SUSPEND_TRIPLEFAULT, "suspended, how %d",
		             e->u.suspended.how);
		o.res = M_TRIPLE;
		return o;
	}
	cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "exit %d at rip %#llx", e->exitcode,
	             (unsigned long long)e->rip);
	if (e->u.inout.port == PORT_DONE) {
		cr_assert_eq(e->rip, M_CODE + n, "OUT at %#llx, expected %#llx",
		             (unsigned long long)e->rip, (unsigned long long)(M_CODE + n));
		o.res = M_RETIRED;
		return o;
	}
	cr_assert_eq(e->u.inout.port, PORT_EXC, "OUT to port %#x", e->u.inout.port);
	o.res = M_EXCEPTION;
	o.vector = e->u.inout.eax;
	o.fault_rip = o.r.rbx;
	o.err = o.r.rcx;
	const uint64_t *save = mhold(M_SAVE, 24);
	o.r.rax = save[0];
	o.r.rbx = save[1];
	o.r.rcx = save[2];
	return o;
}

/* ---- memory forms against the host ------------------------------------------ */

#define WIN 48 /* bytes compared around the operand */

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void run_mem_case(const struct xcase *k)
{
	/* Operand offsets in the data area: aligned, odd, and across the page
	 * boundary at M_DATA + 0x1000 (CMPXCHG16B: 16-byte aligned only). */
	static const unsigned offs[] = {0x100, 0x203, 0xffc, 0x7f0};
	unsigned eq = 0, ne = 0;
	for (unsigned o = 0; o < NELEM(offs); o++) {
		unsigned off = offs[o];
		if (is_16b(k) && (off & 15))
			continue;
		for (unsigned v = 0; v < 3 * hd_edge_count; v++) {
			for (int fl = 0; fl < 2; fl++) {
				/* Memory: a pattern that depends on v. */
				uint8_t init[WIN];
				for (unsigned b = 0; b < WIN; b++)
					init[b] = (uint8_t)(0x3b * (b + 1) + 0x11 * v);
				const uint8_t *opnd = init + 16; /* the operand */
				uint64_t x = hd_edge_values[v % hd_edge_count];
				struct hregs h = {x, x ^ 0x5a5a5a5a5a5a5a5aull, ~x,
				                  0x0123456789abcdefull, fl ? 0x2 | HD_ARITH : 0x2};
				switch (v / hd_edge_count) {
				case 1: /* accumulator (and RDX) equal to memory */
					h.rax = load64(opnd);
					h.rdx = load64(opnd + 8);
					if (!is_16b(k))
						h.rdx = (h.rdx << 32) | (h.rax >> 32);
					break;
				case 2: /* equal in the low 32 bits only (and EDX too) */
					h.rax = load64(opnd) ^ 0xffffffff00000000ull;
					h.rdx = (load64(opnd + 4) & 0xffffffffull) | (x << 32);
					if (is_16b(k))
						h.rdx = load64(opnd + 8);
					break;
				default:
					break;
				}
				/* Host, on an aligned copy. */
				_Alignas(16) uint8_t hbuf[WIN];
				memcpy(hbuf, init, WIN);
				struct hregs before = h;
				k->host(&h, hbuf + 16);
				if (h.rflags & HD_ZF)
					eq++;
				else
					ne++;
				/* Guest. */
				uint64_t gpa = M_DATA + off - 16;
				mcopy(gpa, init, WIN, true);
				struct mregs in = {before.rax,   before.rbx, before.rcx,
				                   before.rdx,   0,          M_DATA + off,
				                   before.rflags};
				struct mout out = m_run(k->code, k->len, &in, true);
				cr_assert_eq(out.res, M_RETIRED,
				             "%s at %#x: exception %u (err %#llx) at %#llx",
				             k->name, off, out.vector, (unsigned long long)out.err,
				             (unsigned long long)out.fault_rip);
				uint8_t gm[WIN];
				mcopy(gpa, gm, WIN, false);
				cr_assert(memcmp(gm, hbuf, WIN) == 0,
				          "%s at %#x input %u: memory differs", k->name, off, v);
				bool same = out.r.rax == h.rax && out.r.rbx == h.rbx &&
				            out.r.rcx == h.rcx && out.r.rdx == h.rdx &&
				            out.r.rdi == M_DATA + off &&
				            (out.r.rflags & HD_ARITH) == (h.rflags & HD_ARITH);
				cr_assert(
				    same,
				    "%s at %#x, rax %#llx rdx %#llx fl %#llx:\n"
				    "  soft rax %#llx rbx %#llx rcx %#llx rdx %#llx fl %#llx\n"
				    "  host rax %#llx rbx %#llx rcx %#llx rdx %#llx fl %#llx",
				    k->name, off, (unsigned long long)before.rax,
				    (unsigned long long)before.rdx,
				    (unsigned long long)before.rflags,
				    (unsigned long long)out.r.rax, (unsigned long long)out.r.rbx,
				    (unsigned long long)out.r.rcx, (unsigned long long)out.r.rdx,
				    (unsigned long long)(out.r.rflags & HD_ARITH),
				    (unsigned long long)h.rax, (unsigned long long)h.rbx,
				    (unsigned long long)h.rcx, (unsigned long long)h.rdx,
				    (unsigned long long)(h.rflags & HD_ARITH));
			}
		}
	}
	if (k->cmpxchg)
		cr_assert(eq > 0 && ne > 0, "%s: %u equal and %u unequal comparisons", k->name, eq,
		          ne);
}

static bool host_has_cx16(void)
{
	unsigned a = 1, b, c = 0, d;
	__asm__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return (c >> 13) & 1;
}

Test(atomic_mem, xadd_memory_forms_match_the_host)
{
	for (unsigned c = 0; c < NELEM(mem_cases); c++)
		if (strstr(mem_cases[c].name, "xadd"))
			run_mem_case(&mem_cases[c]);
}

Test(atomic_mem, cmpxchg_memory_forms_match_the_host)
{
	for (unsigned c = 0; c < NELEM(mem_cases); c++)
		if (strstr(mem_cases[c].name, "cmpxchg_m"))
			run_mem_case(&mem_cases[c]);
}

Test(atomic_mem, cmpxchg8b_matches_the_host)
{
	for (unsigned c = 0; c < NELEM(mem_cases); c++)
		if (strstr(mem_cases[c].name, "cmpxchg8b"))
			run_mem_case(&mem_cases[c]);
}

Test(atomic_mem, cmpxchg16b_matches_the_host)
{
	if (!host_has_cx16())
		cr_skip_test("the host has no CMPXCHG16B");
	for (unsigned c = 0; c < NELEM(mem_cases); c++)
		if (strstr(mem_cases[c].name, "cmpxchg16b"))
			run_mem_case(&mem_cases[c]);
}

/* ---- exceptions ---------------------------------------------------------------- */

static const uint8_t cx16_rdi[] = {0x48, 0x0f, 0xc7, 0x0f};

Test(atomic_mem, misaligned_cmpxchg16b_is_gp0_and_touches_nothing)
{
	static const unsigned mis[] = {1, 4, 8, 15};
	for (unsigned m = 0; m < NELEM(mis); m++) {
		uint8_t *d = mhold(M_DATA + 0x300, 48);
		for (unsigned b = 0; b < 48; b++)
			d[b] = (uint8_t)b;
		/* RDX:RAX equal to the misaligned operand: no write may happen. */
		struct mregs in = {
		    load64(d + mis[m]),      0x1111, 0x2222, load64(d + mis[m] + 8), 0,
		    M_DATA + 0x300 + mis[m], 0x2};
		struct mout o = m_run(cx16_rdi, sizeof(cx16_rdi), &in, true);
		cr_assert_eq(o.res, M_EXCEPTION, "misaligned by %u: no exception", mis[m]);
		cr_assert_eq(o.vector, 13, "misaligned by %u: vector %u", mis[m], o.vector);
		cr_assert_eq(o.err, 0, "error code %#llx", (unsigned long long)o.err);
		cr_assert_eq(o.fault_rip, M_CODE);
		cr_assert_eq(o.r.rax, in.rax);
		cr_assert_eq(o.r.rdx, in.rdx);
		d = mhold(M_DATA + 0x300, 48);
		for (unsigned b = 0; b < 48; b++)
			cr_assert_eq(d[b], b, "byte %u written", b);
	}
}

Test(atomic_mem, misaligned_cmpxchg16b_without_idt_triple_faults_at_the_instruction)
{
	struct mregs in = {0, 0, 0, 0, 0, M_DATA + 8, 0x2};
	struct mout o = m_run(cx16_rdi, sizeof(cx16_rdi), &in, false);
	cr_assert_eq(o.res, M_TRIPLE);
	cr_assert_eq(o.rip, M_CODE, "rip %#llx", (unsigned long long)o.rip);
	/* The next run starts afresh: an aligned operand retires. */
	in.rdi = M_DATA + 16;
	o = m_run(cx16_rdi, sizeof(cx16_rdi), &in, true);
	cr_assert_eq(o.res, M_RETIRED);
}

/* LOCK with a register destination, register forms of CMPXCHG8B/16B. */
Test(atomic_mem, lock_on_a_register_destination_and_register_cmpxchg8b_are_ud)
{
	static const struct {
		const char *name;
		uint8_t code[6];
		unsigned len;
	} bad[] = {
	    {"lock xadd eax, ebx", {0xf0, 0x0f, 0xc1, 0xd8}, 4},
	    {"lock xadd al, bl", {0xf0, 0x0f, 0xc0, 0xd8}, 4},
	    {"lock cmpxchg ebx, ecx", {0xf0, 0x0f, 0xb1, 0xcb}, 4},
	    {"lock cmpxchg rbx, rcx", {0xf0, 0x48, 0x0f, 0xb1, 0xcb}, 5},
	    {"cmpxchg8b eax", {0x0f, 0xc7, 0xc8}, 3},
	    {"lock cmpxchg8b eax", {0xf0, 0x0f, 0xc7, 0xc8}, 4},
	    {"cmpxchg16b rax", {0x48, 0x0f, 0xc7, 0xc8}, 4},
	};
	for (unsigned b = 0; b < NELEM(bad); b++) {
		struct mregs in = {1, 2, 3, 4, 0, M_DATA, 0x2};
		struct mout o = m_run(bad[b].code, bad[b].len, &in, true);
		cr_assert_eq(o.res, M_EXCEPTION, "%s: not an exception", bad[b].name);
		cr_assert_eq(o.vector, 6, "%s: vector %u", bad[b].name, o.vector);
		cr_assert_eq(o.fault_rip, M_CODE, "%s", bad[b].name);
		cr_assert_eq(o.r.rax, 1, "%s", bad[b].name);
		cr_assert_eq(o.r.rbx, 2, "%s", bad[b].name);
	}
}

/* The destination is written whatever the comparison gives (SDM vol. 2A
 * CMPXCHG, CMPXCHG8B/16B): on a read-only page even an unequal compare is a
 * write #PF (error code P | W), and nothing changes. */
Test(atomic_mem, a_failing_compare_on_a_read_only_page_is_a_write_fault)
{
	static const struct {
		const char *name;
		uint8_t code[6];
		unsigned len;
	} ops[] = {
	    {"cmpxchg [rdi], cl", {0x0f, 0xb0, 0x0f}, 3},
	    {"lock cmpxchg [rdi], ecx", {0xf0, 0x0f, 0xb1, 0x0f}, 4},
	    {"cmpxchg [rdi], rcx", {0x48, 0x0f, 0xb1, 0x0f}, 4},
	    {"xadd [rdi], ebx", {0x0f, 0xc1, 0x1f}, 3},
	    {"cmpxchg8b [rdi]", {0x0f, 0xc7, 0x0f}, 3},
	    {"cmpxchg16b [rdi]", {0x48, 0x0f, 0xc7, 0x0f}, 4},
	};
	uint8_t *d = mhold(M_DATA + 0x400, 16);
	for (unsigned b = 0; b < 16; b++)
		d[b] = (uint8_t)(0xc0 + b);
	/* A plain read of the read-only alias works. */
	static const uint8_t rd[] = {0x48, 0x8b, 0x0f}; /* mov rcx, [rdi] */
	struct mregs in = {0, 0, 0, 0, 0, M_RO + 0x400, 0x2};
	struct mout o = m_run(rd, sizeof(rd), &in, true);
	cr_assert_eq(o.res, M_RETIRED);
	cr_assert_eq(o.r.rcx, load64(d));
	for (unsigned k = 0; k < NELEM(ops); k++) {
		/* RAX and RDX never match the operand. */
		struct mregs r = {0x1111, 0x2222, 0x3333, 0x4444, 0, M_RO + 0x400, 0x2};
		o = m_run(ops[k].code, ops[k].len, &r, true);
		cr_assert_eq(o.res, M_EXCEPTION, "%s: no exception", ops[k].name);
		cr_assert_eq(o.vector, 14, "%s: vector %u", ops[k].name, o.vector);
		cr_assert_eq(o.err, 3, "%s: error code %#llx", ops[k].name,
		             (unsigned long long)o.err);
		cr_assert_eq(o.fault_rip, M_CODE, "%s", ops[k].name);
		cr_assert_eq(o.r.rax, 0x1111, "%s: accumulator written", ops[k].name);
		cr_assert_eq(o.r.rdx, 0x4444, "%s: RDX written", ops[k].name);
		cr_assert_eq(o.r.rbx, 0x2222, "%s", ops[k].name);
		d = mhold(M_DATA + 0x400, 16);
		for (unsigned b = 0; b < 16; b++)
			cr_assert_eq(d[b], 0xc0 + b, "%s: byte %u written", ops[k].name, b);
	}
}

/* CMPXCHG on the immediate of the next instruction: the store is seen by
 * the instruction fetched after it (self-modifying code). */
Test(atomic_mem, cmpxchg_into_the_next_instruction_is_seen)
{
	static const uint8_t code[] = {
	    0xf0, 0x0f, 0xb0, 0x0d, 0x01, 0x00, 0x00, 0x00, /* lock cmpxchg [rip+1], cl */
	    0xb0, 0x11,                                     /* mov al, 0x11 */
	};
	struct mregs in = {0x11, 0, 0x22, 0, 0, 0, 0x2};
	struct mout o = m_run(code, sizeof(code), &in, true);
	cr_assert_eq(o.res, M_RETIRED);
	cr_assert_eq(o.r.rax & 0xff, 0x22, "al %#llx: the new immediate was not used",
	             (unsigned long long)(o.r.rax & 0xff));
	cr_assert(o.r.rflags & HD_ZF);
	/* Unequal: the old byte is written back and the code runs as it is. */
	in.rax = 0x33;
	o = m_run(code, sizeof(code), &in, true);
	cr_assert_eq(o.res, M_RETIRED);
	cr_assert_eq(o.r.rax & 0xff, 0x11);
	cr_assert_not(o.r.rflags & HD_ZF);
}

/* 27 2F 37 3F D4 D5 are invalid in 64-bit mode (SDM vol. 2A, each page's
 * "64-Bit Mode Exceptions"). */
Test(atomic_mem, bcd_opcodes_are_ud_in_64_bit_mode)
{
	static const uint8_t ops[][2] = {{0x27, 0x90}, {0x2f, 0x90}, {0x37, 0x90},
	                                 {0x3f, 0x90}, {0xd4, 0x0a}, {0xd5, 0x0a}};
	for (unsigned k = 0; k < NELEM(ops); k++) {
		struct mregs in = {0x1234, 0, 0, 0, 0, 0, 0x2};
		struct mout o = m_run(ops[k], 2, &in, true);
		cr_assert_eq(o.res, M_EXCEPTION, "%#x: no exception", ops[k][0]);
		cr_assert_eq(o.vector, 6, "%#x: vector %u", ops[k][0], o.vector);
		cr_assert_eq(o.fault_rip, M_CODE);
		cr_assert_eq(o.r.rax, 0x1234);
	}
}

#else
Test(atomic_reg, host_is_not_x86_64, .disabled = true)
{
}
#endif

/* ---- bcd: tests/guests/bcd.asm ----------------------------------------------------
 *
 * The reference: each instruction's "Operation" section of SDM vol. 2A,
 * transcribed, on AL, AH and the input flags.  Undefined flags get the
 * rule measured on Intel hardware (docs/undefined-behaviour.md: SF ZF PF
 * from AL, OF AF CF cleared unless the pseudo-code sets them, except AAD,
 * whose CF OF AF are those of its 8-bit addition); only the last test
 * checks those. */

enum bcd { DAA, DAS, AAA, AAS, AAM, AAD };

#define F_CF    0x001u
#define F_PF    0x004u
#define F_AF    0x010u
#define F_ZF    0x040u
#define F_SF    0x080u
#define F_OF    0x800u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

static const uint32_t defined_flags[] = {
    [DAA] = F_CF | F_AF | F_SF | F_ZF | F_PF,
    [DAS] = F_CF | F_AF | F_SF | F_ZF | F_PF,
    [AAA] = F_CF | F_AF,
    [AAS] = F_CF | F_AF,
    [AAM] = F_SF | F_ZF | F_PF,
    [AAD] = F_SF | F_ZF | F_PF,
};

static uint32_t szp(uint8_t v)
{
	uint32_t f = 0;
	if (v == 0)
		f |= F_ZF;
	if (v & 0x80)
		f |= F_SF;
	if (!__builtin_parity(v))
		f |= F_PF;
	return f;
}

/* AX and the arithmetic flags after 'op' on (AL, AH, flags fin). */
static void bcd_ref(enum bcd op, unsigned imm, uint8_t al, uint8_t ah, uint32_t fin, uint16_t *ax,
                    uint32_t *fout)
{
	bool cf = fin & F_CF, af = fin & F_AF, of = false;
	switch (op) {
	case DAA: {
		uint8_t old_al = al;
		bool old_cf = cf;
		cf = false;
		if ((al & 0x0f) > 9 || af) {
			unsigned sum = al + 6u;
			al = (uint8_t)sum;
			cf = old_cf || sum > 0xff;
			af = true;
		} else {
			af = false;
		}
		if (old_al > 0x99 || old_cf) {
			al = (uint8_t)(al + 0x60);
			cf = true;
		} else {
			cf = false;
		}
		break;
	}
	case DAS: {
		uint8_t old_al = al;
		bool old_cf = cf;
		cf = false;
		if ((al & 0x0f) > 9 || af) {
			cf = old_cf || al < 6;
			al = (uint8_t)(al - 6);
			af = true;
		} else {
			af = false;
		}
		if (old_al > 0x99 || old_cf) {
			al = (uint8_t)(al - 0x60);
			cf = true;
		}
		break;
	}
	case AAA:
	case AAS: {
		uint16_t x = (uint16_t)(ah << 8 | al);
		if ((al & 0x0f) > 9 || af) {
			if (op == AAA) {
				x = (uint16_t)(x + 0x106);
			} else {
				x = (uint16_t)(x - 6);
				x = (uint16_t)((x & 0xffu) | ((((unsigned)x >> 8) - 1u) & 0xffu)
				                                 << 8);
			}
			af = cf = true;
		} else {
			af = cf = false;
		}
		al = (uint8_t)(x & 0x0f);
		ah = (uint8_t)(x >> 8);
		break;
	}
	case AAM: {
		uint8_t t = al;
		ah = (uint8_t)(t / imm);
		al = (uint8_t)(t % imm);
		cf = af = false;
		break;
	}
	case AAD: {
		uint8_t t = (uint8_t)(ah * imm);
		unsigned sum = al + t;
		uint8_t r = (uint8_t)sum;
		cf = sum > 0xff;
		af = ((al ^ t ^ r) & 0x10) != 0;
		of = ((al ^ r) & (t ^ r) & 0x80) != 0;
		al = r;
		ah = 0;
		break;
	}
	}
	*ax = (uint16_t)(ah << 8 | al);
	*fout = szp(al) | (cf ? F_CF : 0) | (af ? F_AF : 0) | (of ? F_OF : 0);
}

/* The sweeps of bcd.asm, in its order, with its tables. */
static const uint32_t flagtab[8] = {0x002, 0x8d7, 0x003, 0x012, 0x013, 0x8c6, 0x8c7, 0x8d6};
static const uint8_t ah_one[] = {0x5a};
static const uint8_t ah_some[] = {0x00, 0x7f, 0xff, 0x09};
static const uint8_t ah_many[] = {0x00, 0x01, 0x02, 0x09, 0x10, 0x7f, 0x80, 0xff, 0x55};

struct sweep {
	const char *name;
	enum bcd op;
	unsigned imm;
	const uint8_t *ah;
	unsigned nah, nflags;
};
#define AHS(t) t, NELEM(t)
static const struct sweep sweeps[] = {
    {"daa", DAA, 0, AHS(ah_one), 8},       {"das", DAS, 0, AHS(ah_one), 8},
    {"aaa", AAA, 0, AHS(ah_some), 8},      {"aas", AAS, 0, AHS(ah_some), 8},
    {"aam 10", AAM, 10, AHS(ah_one), 2},   {"aam 16", AAM, 16, AHS(ah_one), 2},
    {"aam 1", AAM, 1, AHS(ah_one), 2},     {"aam 7", AAM, 7, AHS(ah_one), 2},
    {"aam 255", AAM, 255, AHS(ah_one), 2}, {"aad 10", AAD, 10, AHS(ah_many), 2},
    {"aad 16", AAD, 16, AHS(ah_many), 2},  {"aad 0", AAD, 0, AHS(ah_many), 2},
    {"aad 7", AAD, 7, AHS(ah_many), 2},    {"aad 255", AAD, 255, AHS(ah_many), 2},
};

struct bcd_run {
	uint32_t *out; /* every OUT 0x80, in order */
	size_t n;
	uint32_t aam0_addr, vector, fault_eip;
	bool saw_vector, saw_eip;
};

static size_t bcd_expected_count(void)
{
	size_t n = 0;
	for (unsigned s = 0; s < NELEM(sweeps); s++)
		n += (size_t)sweeps[s].nah * sweeps[s].nflags * 256;
	return n;
}

static void run_bcd_guest(struct bcd_run *br)
{
	static struct guest g;
	memset(br, 0, sizeof(*br));
	size_t want = bcd_expected_count();
	br->out = calloc(want, sizeof(uint32_t));
	cr_assert_not_null(br->out);
	cr_assert_eq(guest_open(&g, "bcd"), 0, "%s", g.err);
	bool ended = false, done_sweeps = false, have_addr = false;
	for (size_t steps = 0; !ended && steps < want + 100; steps++) {
		struct vm_exit vme;
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		char desc[256];
		exit_describe(&vme, desc, sizeof(desc));
		cr_assert(vme.exitcode == VM_EXITCODE_INOUT && !vme.u.inout.in,
		          "unexpected exit %s", desc);
		switch (vme.u.inout.port) {
		case 0x80:
			cr_assert(!done_sweeps && br->n < want, "extra result: %s", desc);
			cr_assert_eq(vme.u.inout.bytes, 4);
			br->out[br->n++] = vme.u.inout.eax;
			break;
		case 0x81:
			done_sweeps = true;
			break;
		case 0x82:
			br->aam0_addr = vme.u.inout.eax;
			have_addr = true;
			break;
		case 0x83:
			br->vector = vme.u.inout.eax;
			br->saw_vector = true;
			break;
		case 0x84:
			br->fault_eip = vme.u.inout.eax;
			br->saw_eip = true;
			break;
		case 0xf4:
			cr_assert_eq(vme.u.inout.eax & 0xff, 0, "the guest ended with code %u",
			             vme.u.inout.eax & 0xff);
			ended = true;
			break;
		default:
			cr_assert_fail("unexpected %s", desc);
		}
	}
	guest_close(&g);
	cr_assert(ended, "the guest did not end");
	cr_assert(done_sweeps && have_addr);
	cr_assert_eq(br->n, want, "%zu results, expected %zu", br->n, want);
}

/* Walk the results with the sweeps; 'mask' picks the flags compared for
 * each instruction (defined or undefined ones). */
static void check_bcd(const struct bcd_run *br, bool undefined)
{
	size_t k = 0;
	unsigned bad = 0;
	for (unsigned s = 0; s < NELEM(sweeps); s++) {
		const struct sweep *w = &sweeps[s];
		uint32_t mask = undefined ? F_ARITH & ~defined_flags[w->op] : defined_flags[w->op];
		for (unsigned a = 0; a < w->nah; a++)
			for (unsigned f = 0; f < w->nflags; f++)
				for (unsigned al = 0; al < 256; al++, k++) {
					uint16_t ax;
					uint32_t fl;
					bcd_ref(w->op, w->imm, (uint8_t)al, w->ah[a], flagtab[f],
					        &ax, &fl);
					uint16_t gax = (uint16_t)br->out[k];
					uint32_t gfl = br->out[k] >> 16;
					if (gax == ax && (gfl & mask) == (fl & mask))
						continue;
					cr_expect_fail("%s AL %#04x AH %#04x flags %#05x: AX %#06x "
					               "flags %#05x, expected AX %#06x flags %#05x "
					               "(%s flags %#05x)",
					               w->name, al, w->ah[a], flagtab[f], gax,
					               gfl & mask, ax, fl & mask,
					               undefined ? "undefined" : "defined", mask);
					cr_assert_lt(++bad, 20, "too many failures");
				}
	}
}

TestSuite(bcd);

Test(bcd, daa_das_aaa_aas_aam_aad_follow_the_sdm_pseudo_code)
{
	struct bcd_run br;
	run_bcd_guest(&br);
	check_bcd(&br, false);
	free(br.out);
}

Test(bcd, aam_0_is_de_at_the_instruction)
{
	struct bcd_run br;
	run_bcd_guest(&br);
	free(br.out);
	cr_assert(br.saw_vector && br.saw_eip, "no exception reported");
	cr_assert_eq(br.vector, 0, "vector %u", br.vector);
	cr_assert_eq(br.fault_eip, br.aam0_addr, "EIP %#x, AAM at %#x", br.fault_eip, br.aam0_addr);
}

/* The undefined flags follow the Intel profile's measured rule (see
 * ops_bcd.c and docs/undefined-behaviour.md). */
Test(bcd, undefined_flags_follow_the_measured_intel_rule)
{
	struct bcd_run br;
	run_bcd_guest(&br);
	check_bcd(&br, true);
	free(br.out);
}
