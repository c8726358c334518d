/*
 * String instructions (core/cpu/ops_string.c): MOVS, STOS, LODS, CMPS and
 * SCAS with no prefix, REP/REPE and REPNE, in 64-bit mode with 64- and
 * 32-bit addressing and in real mode with 16-bit addressing.
 *
 * Every test builds the state through the API on one VM: 8 MiB of RAM, 4-level
 * paging with one not-present 4 KiB page (HOLE) for the faults, a flat GDT.
 * A test runs one instruction followed by OUT 0x80, AL, which ends vm_run
 * with an INOUT exit, and asserts the exact registers and memory after it.
 * The expected values follow the pages of SDM vol. 2B (MOVS, STOS, LODS,
 * CMPS, SCAS, REP/REPE/REPZ/REPNE/REPNZ); the flags of the hand-made cases
 * are worked out in the comments, and a randomised sweep compares CMPS and
 * SCAS with the host CPU running the same instruction on identical buffers.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

#define RAM        (UINT64_C(8) << 20)
#define CODE       UINT64_C(0x1000)
#define PF_HANDLER UINT64_C(0x3000)
#define REC        UINT64_C(0x8000) /* what the #PF handler records */
#define STACK_TOP  UINT64_C(0xa000)
#define PML4       UINT64_C(0x10000)
#define PDPT       UINT64_C(0x11000)
#define PD0        UINT64_C(0x12000)
#define PT         UINT64_C(0x13000) /* 4 KiB pages for linear 2 MiB .. 4 MiB */
#define PD3        UINT64_C(0x14000) /* linear 3 GiB .. 4 GiB */
#define GDT        UINT64_C(0x15000)
#define IDT        UINT64_C(0x16000)
#define SRC        UINT64_C(0x100000)
#define DST        UINT64_C(0x180000)
#define HOLE       UINT64_C(0x210000) /* the one not-present page */
#define HOLE_PTE   (PT + ((HOLE - 0x200000) >> 12) * 8)
#define HIGH_GPA   UINT64_C(0x400000) /* linear 0xFFE00000 .. 0xFFFFFFFF map here */

#define F_CF    UINT64_C(0x1)
#define F_PF    UINT64_C(0x4)
#define F_AF    UINT64_C(0x10)
#define F_ZF    UINT64_C(0x40)
#define F_SF    UINT64_C(0x80)
#define F_DF    UINT64_C(0x400)
#define F_OF    UINT64_C(0x800)
#define F_ARITH UINT64_C(0x8d5)

static struct vm *vm;

/* ---- guest memory ---------------------------------------------------------- */

static void put(uint64_t gpa, const void *src, size_t len)
{
	cr_assert_eq(guest_mem_write(vm, gpa, src, len), 0, "gpa %#" PRIx64, gpa);
}

static void get(uint64_t gpa, void *dst, size_t len)
{
	cr_assert_eq(guest_mem_read(vm, gpa, dst, len), 0, "gpa %#" PRIx64, gpa);
}

static void put64(uint64_t gpa, uint64_t v)
{
	put(gpa, &v, 8);
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v;
	get(gpa, &v, 8);
	return v;
}

static void fill(uint64_t gpa, uint8_t v, size_t len)
{
	uint8_t buf[4096];
	memset(buf, v, sizeof(buf));
	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		put(gpa, buf, n);
		gpa += n;
		len -= n;
	}
}

static void expect_mem(uint64_t gpa, const void *want, size_t len, const char *what)
{
	static uint8_t got[32768];
	cr_assert_leq(len, sizeof(got));
	get(gpa, got, len);
	for (size_t k = 0; k < len; k++)
		cr_assert_eq(got[k], ((const uint8_t *)want)[k],
		             "%s: byte %zu at %#" PRIx64 " is %#x, expected %#x", what, k, gpa + k,
		             got[k], ((const uint8_t *)want)[k]);
}

/* ---- machine setup ------------------------------------------------------------ */

static void seg(int reg, uint16_t sel, uint64_t base, uint32_t limit, uint32_t access)
{
	struct seg_desc d = {base, limit, access};
	cr_assert_eq(vm_set_seg_desc(vm, 0, reg, &d), 0);
	cr_assert_eq(vm_set_register(vm, 0, reg, sel), 0);
}

/*
 * 64-bit mode, CPL 0.  PML4[0] -> PDPT; PDPT[0] -> PD0: 2 MiB pages at 0,
 * 4 and 6 MiB, and 4 KiB pages (PT) for 2 MiB .. 4 MiB, all identity, except
 * HOLE, not present.  PDPT[3] -> PD3: linear 0xFFE00000 -> HIGH_GPA, for
 * 32-bit addresses near 4 GiB.  GDT: 0x08 64-bit code, 0x10 data.  No IDT
 * (limit 0): an exception escalates to a triple fault.
 */
static void setup(void)
{
	cr_assert_eq(vm_create("string-ops", NULL, &vm), 0);
	cr_assert_eq(vm_malloc(vm, 0, RAM), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
	put64(PML4, PDPT | 3);
	put64(PDPT, PD0 | 3);
	put64(PDPT + 3 * 8, PD3 | 3);
	put64(PD0, 0x83); /* P RW PS */
	put64(PD0 + 8, PT | 3);
	put64(PD0 + 16, 0x400000 | 0x83);
	put64(PD0 + 24, 0x600000 | 0x83);
	for (uint64_t k = 0; k < 512; k++) {
		uint64_t pa = 0x200000 + (k << 12);
		put64(PT + k * 8, pa == HOLE ? 0 : pa | 3);
	}
	put64(PD3 + 511 * 8, HIGH_GPA | 0x83);
	put64(GDT + 8, 0x00af9b000000ffffull);
	put64(GDT + 16, 0x00cf93000000ffffull);
	vm_set_register(vm, 0, VM_REG_GUEST_CR3, PML4);
	vm_set_register(vm, 0, VM_REG_GUEST_CR4, 0x20);       /* PAE */
	vm_set_register(vm, 0, VM_REG_GUEST_EFER, 0x500);     /* LME LMA */
	vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x80000011); /* PG PE ET */
	seg(VM_REG_GUEST_CS, 0x08, 0, 0xffffffff, 0xa09b);
	seg(VM_REG_GUEST_SS, 0x10, 0, 0xffffffff, 0xc093);
	seg(VM_REG_GUEST_DS, 0x10, 0, 0xffffffff, 0xc093);
	seg(VM_REG_GUEST_ES, 0x10, 0, 0xffffffff, 0xc093);
	seg(VM_REG_GUEST_FS, 0x10, 0, 0xffffffff, 0xc093);
	seg(VM_REG_GUEST_GS, 0x10, 0, 0xffffffff, 0xc093);
	struct seg_desc gdtr = {GDT, 23, 0}, idtr = {0, 0, 0};
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_GDTR, &gdtr), 0);
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idtr), 0);
	vm_set_register(vm, 0, VM_REG_GUEST_RSP, STACK_TOP);
}

static void teardown(void)
{
	if (vm)
		vm_destroy(vm);
	vm = NULL;
}

TestSuite(string_ops, .init = setup, .fini = teardown);

/* Real mode instead (SDM vol. 3 20.1): CS = 0, and DS, ES, FS as given. */
static void real_mode(uint16_t ds, uint16_t es, uint16_t fs)
{
	cr_assert_eq(guest_set_real_mode_entry(vm, 0, CODE), 0);
	seg(VM_REG_GUEST_DS, ds, (uint64_t)ds << 4, 0xffff, 0x93);
	seg(VM_REG_GUEST_ES, es, (uint64_t)es << 4, 0xffff, 0x93);
	seg(VM_REG_GUEST_FS, fs, (uint64_t)fs << 4, 0xffff, 0x93);
}

/* ---- running one instruction ----------------------------------------------------- */

struct st {
	uint64_t rax, rcx, rsi, rdi, rflags, rip;
};

static void set_state(const struct st *s)
{
	vm_set_register(vm, 0, VM_REG_GUEST_RAX, s->rax);
	vm_set_register(vm, 0, VM_REG_GUEST_RCX, s->rcx);
	vm_set_register(vm, 0, VM_REG_GUEST_RSI, s->rsi);
	vm_set_register(vm, 0, VM_REG_GUEST_RDI, s->rdi);
	vm_set_register(vm, 0, VM_REG_GUEST_RFLAGS, s->rflags | 0x2);
}

static void get_state(struct st *s)
{
	vm_get_register(vm, 0, VM_REG_GUEST_RAX, &s->rax);
	vm_get_register(vm, 0, VM_REG_GUEST_RCX, &s->rcx);
	vm_get_register(vm, 0, VM_REG_GUEST_RSI, &s->rsi);
	vm_get_register(vm, 0, VM_REG_GUEST_RDI, &s->rdi);
	vm_get_register(vm, 0, VM_REG_GUEST_RFLAGS, &s->rflags);
	vm_get_register(vm, 0, VM_REG_GUEST_RIP, &s->rip);
}

/* Place code and OUT 0x80, AL (E6 80) after it at CODE. */
static void load_code(const uint8_t *code, unsigned n)
{
	uint8_t buf[32];
	cr_assert_leq(n, sizeof(buf) - 2);
	memcpy(buf, code, n);
	buf[n] = 0xe6;
	buf[n + 1] = 0x80;
	put(CODE, buf, n + 2);
}

/* vm_run from rip with a budget of 'insns' more instructions. */
static struct vm_exit run_at(uint64_t rip, uint64_t insns)
{
	struct vm_vcpu_stats stats;
	cr_assert_eq(vm_get_stats(vm, 0, &stats), 0);
	cr_assert_eq(vm_set_insn_limit(vm, 0, stats.insns_retired + insns), 0);
	struct vm_run r = {.cpuid = 0, .rip = rip};
	cr_assert_eq(vm_run(vm, &r), 0);
	return r.vm_exit;
}

/* Run one instruction from state *s; *s receives the state at the OUT. */
static void run(const uint8_t *code, unsigned n, struct st *s)
{
	load_code(code, n);
	set_state(s);
	struct vm_exit e = run_at(CODE, 1000000);
	cr_assert(e.exitcode == VM_EXITCODE_INOUT && e.rip == CODE + n && e.u.inout.port == 0x80,
	          "exit %d at rip %#" PRIx64 ", expected the OUT at %#" PRIx64, e.exitcode, e.rip,
	          CODE + n);
	get_state(s);
}

#define RUN(s, ...)                                                                                \
	do {                                                                                       \
		static const uint8_t code_[] = {__VA_ARGS__};                                      \
		run(code_, sizeof(code_), (s));                                                    \
	} while (0)

#define EXPECT_REG(s, reg, want)                                                                   \
	cr_expect_eq((s).reg, (uint64_t)(want), #reg " = %#" PRIx64 ", expected %#" PRIx64,        \
	             (s).reg, (uint64_t)(want))
#define EXPECT_FLAGS(s, want)                                                                      \
	cr_expect_eq((s).rflags &(F_ARITH | F_DF), (uint64_t)(want),                               \
	             "RFLAGS arith|DF = %#" PRIx64 ", expected %#" PRIx64,                         \
	             (s).rflags &(F_ARITH | F_DF), (uint64_t)(want))

/* ---- CMPS -------------------------------------------------------------------------- */

Test(string_ops, repe_cmpsb_stops_after_the_first_difference)
{
	put(SRC, "hello, world", 12);
	put(DST, "hello. world", 12);
	/* ZF and OF in, to see them cleared. */
	struct st s = {.rcx = 12, .rsi = SRC, .rdi = DST, .rflags = F_ZF | F_OF};
	RUN(&s, 0xf3, 0xa6);
	/* Six iterations, the last compares ',' (0x2C) with '.' (0x2E):
	 * 0x2C - 0x2E = 0xFE: CF (borrow), SF; PF clear (seven 1 bits);
	 * AF: (0x2C ^ 0x2E ^ 0xFE) & 0x10 set; no signed overflow. */
	EXPECT_REG(s, rcx, 6);
	EXPECT_REG(s, rsi, SRC + 6);
	EXPECT_REG(s, rdi, DST + 6);
	EXPECT_FLAGS(s, F_CF | F_AF | F_SF);
}

Test(string_ops, repe_cmpsb_on_equal_strings_runs_out_the_count)
{
	put(SRC, "abcdefgh", 8);
	put(DST, "abcdefgh", 8);
	struct st s = {.rcx = 8, .rsi = SRC, .rdi = DST, .rflags = F_CF | F_SF};
	RUN(&s, 0xf3, 0xa6);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 8);
	EXPECT_REG(s, rdi, DST + 8);
	EXPECT_FLAGS(s, F_ZF | F_PF); /* 'h' - 'h' = 0 */
}

Test(string_ops, cmpsb_without_prefix_compares_once_and_ignores_rcx)
{
	put(SRC, "ab", 2);
	put(DST, "ab", 2);
	struct st s = {.rcx = 0x1234, .rsi = SRC, .rdi = DST};
	RUN(&s, 0xa6);
	EXPECT_REG(s, rcx, 0x1234);
	EXPECT_REG(s, rsi, SRC + 1);
	EXPECT_REG(s, rdi, DST + 1);
	EXPECT_FLAGS(s, F_ZF | F_PF);
}

Test(string_ops, repe_cmpsw_with_df_set_walks_down)
{
	static const uint16_t src[4] = {0x1111, 0x2222, 0x3333, 0x4444};
	static const uint16_t dst[4] = {0x1111, 0x0222, 0x3333, 0x4444};
	put(SRC, src, 8);
	put(DST, dst, 8);
	struct st s = {.rcx = 4, .rsi = SRC + 6, .rdi = DST + 6, .rflags = F_DF};
	RUN(&s, 0xf3, 0x66, 0xa7);
	/* Elements 3 and 2 equal, element 1: 0x2222 - 0x0222 = 0x2000: PF (the
	 * low byte 0x00 has an even number of 1 bits), nothing else. */
	EXPECT_REG(s, rcx, 1);
	EXPECT_REG(s, rsi, SRC);
	EXPECT_REG(s, rdi, DST);
	EXPECT_FLAGS(s, F_PF | F_DF);
}

Test(string_ops, repe_cmpsd_sets_signed_overflow)
{
	static const uint32_t src[4] = {1, 2, 0x80000000u, 4};
	static const uint32_t dst[4] = {1, 2, 0x7fffffffu, 4};
	put(SRC, src, 16);
	put(DST, dst, 16);
	struct st s = {.rcx = 4, .rsi = SRC, .rdi = DST};
	RUN(&s, 0xf3, 0xa7);
	/* 0x80000000 - 0x7FFFFFFF = 1: OF (negative minus positive gives a
	 * positive), AF (borrow out of bit 3: 0x00 - 0xFF), no CF, PF clear. */
	EXPECT_REG(s, rcx, 1);
	EXPECT_REG(s, rsi, SRC + 12);
	EXPECT_REG(s, rdi, DST + 12);
	EXPECT_FLAGS(s, F_OF | F_AF);
}

Test(string_ops, repne_cmpsq_stops_at_the_first_match)
{
	static const uint64_t src[4] = {1, 2, 3, 4};
	static const uint64_t dst[4] = {5, 6, 3, 8};
	put(SRC, src, 32);
	put(DST, dst, 32);
	struct st s = {.rcx = 4, .rsi = SRC, .rdi = DST};
	RUN(&s, 0xf2, 0x48, 0xa7);
	EXPECT_REG(s, rcx, 1);
	EXPECT_REG(s, rsi, SRC + 24);
	EXPECT_REG(s, rdi, DST + 24);
	EXPECT_FLAGS(s, F_ZF | F_PF);
}

Test(string_ops, repne_cmpsq_without_a_match_runs_out_the_count)
{
	static const uint64_t src[2] = {1, 2};
	static const uint64_t dst[2] = {3, 4};
	put(SRC, src, 16);
	put(DST, dst, 16);
	struct st s = {.rcx = 2, .rsi = SRC, .rdi = DST};
	RUN(&s, 0xf2, 0x48, 0xa7);
	/* The last compare: 2 - 4 = -2: CF, SF, AF; PF clear (0xFE). */
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 16);
	EXPECT_REG(s, rdi, DST + 16);
	EXPECT_FLAGS(s, F_CF | F_SF | F_AF);
}

Test(string_ops, cmpsd_string_form_is_not_the_sse2_compare)
{
	/* A7 with a 32-bit operand is CMPSD, the string compare (Zydis names
	 * the SSE2 CMPSD the same, with visible operands). */
	static const uint32_t src = 7, dst = 7;
	put(SRC, &src, 4);
	put(DST, &dst, 4);
	struct st s = {.rcx = 9, .rsi = SRC, .rdi = DST};
	RUN(&s, 0xa7);
	EXPECT_REG(s, rsi, SRC + 4);
	EXPECT_REG(s, rdi, DST + 4);
	EXPECT_REG(s, rcx, 9);
	EXPECT_FLAGS(s, F_ZF | F_PF);
}

/* ---- SCAS -------------------------------------------------------------------------- */

Test(string_ops, repne_scasb_finds_the_terminator)
{
	put(DST, "softvmm\0xyz", 11);
	struct st s = {.rax = 0x1122334455667700ull, .rcx = ~0ull, .rdi = DST};
	RUN(&s, 0xf2, 0xae);
	/* The strlen idiom: eight iterations up to and including the NUL. */
	EXPECT_REG(s, rdi, DST + 8);
	EXPECT_REG(s, rcx, ~0ull - 8);
	EXPECT_REG(s, rax, 0x1122334455667700ull);
	EXPECT_FLAGS(s, F_ZF | F_PF);
}

Test(string_ops, repe_scasw_stops_at_the_first_difference)
{
	static const uint16_t dst[4] = {0x1234, 0x1234, 0x1235, 0x1234};
	put(DST, dst, 8);
	struct st s = {.rax = 0xaaaabbbbcccc1234ull, .rcx = 4, .rdi = DST};
	RUN(&s, 0xf3, 0x66, 0xaf);
	/* 0x1234 - 0x1235 = 0xFFFF: CF, SF, PF (0xFF), AF. */
	EXPECT_REG(s, rdi, DST + 6);
	EXPECT_REG(s, rcx, 1);
	EXPECT_REG(s, rax, 0xaaaabbbbcccc1234ull);
	EXPECT_FLAGS(s, F_CF | F_SF | F_PF | F_AF);
}

Test(string_ops, repne_scasd_compares_eax_and_keeps_rax)
{
	static const uint32_t dst[4] = {1, 2, 7, 7};
	put(DST, dst, 16);
	struct st s = {.rax = 0xdeadbeef00000007ull, .rcx = 4, .rdi = DST};
	RUN(&s, 0xf2, 0xaf);
	EXPECT_REG(s, rdi, DST + 12);
	EXPECT_REG(s, rcx, 1);
	EXPECT_REG(s, rax, 0xdeadbeef00000007ull);
	EXPECT_FLAGS(s, F_ZF | F_PF);
}

Test(string_ops, scasq_without_prefix_with_df_set)
{
	put64(DST + 8, 7);
	struct st s = {.rax = 5, .rcx = 0x55, .rdi = DST + 8, .rflags = F_DF | F_ZF};
	RUN(&s, 0x48, 0xaf);
	/* 5 - 7 = -2: CF, SF, AF. */
	EXPECT_REG(s, rdi, DST);
	EXPECT_REG(s, rcx, 0x55);
	EXPECT_FLAGS(s, F_CF | F_SF | F_AF | F_DF);
}

/* ---- count 0 ---------------------------------------------------------------------- */

/*
 * REP with a zero count: "WHILE CountReg != 0" never runs the body, so
 * nothing is read or written (rSI and rDI point at the not-present page and
 * must not fault) and the flags keep their input values, all set or all
 * clear.
 */
Test(string_ops, count_zero_touches_nothing_and_keeps_the_flags)
{
	static const struct {
		const char *name;
		uint8_t code[4];
		unsigned n;
	} forms[] = {
	    {"rep movsb", {0xf3, 0xa4}, 2},         {"rep stosq", {0xf3, 0x48, 0xab}, 3},
	    {"rep lodsb", {0xf3, 0xac}, 2},         {"repe cmpsb", {0xf3, 0xa6}, 2},
	    {"repne cmpsq", {0xf2, 0x48, 0xa7}, 3}, {"repe scasd", {0xf3, 0xaf}, 2},
	    {"repne scasw", {0xf2, 0x66, 0xaf}, 3}, {"fs repe cmpsw", {0x64, 0xf3, 0x66, 0xa7}, 4},
	};
	static const uint64_t flags_in[] = {0, F_ARITH, F_ARITH | F_DF, F_ZF, F_CF | F_OF};
	for (unsigned f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		for (unsigned k = 0; k < sizeof(flags_in) / sizeof(flags_in[0]); k++) {
			struct st s = {.rax = 0x0123456789abcdefull,
			               .rcx = 0,
			               .rsi = HOLE + 8,
			               .rdi = HOLE + 16,
			               .rflags = flags_in[k]};
			run(forms[f].code, forms[f].n, &s);
			cr_expect(s.rax == 0x0123456789abcdefull && s.rcx == 0 &&
			              s.rsi == HOLE + 8 && s.rdi == HOLE + 16,
			          "%s: rax %#" PRIx64 " rcx %#" PRIx64 " rsi %#" PRIx64
			          " rdi %#" PRIx64 " changed",
			          forms[f].name, s.rax, s.rcx, s.rsi, s.rdi);
			cr_expect_eq(s.rflags & (F_ARITH | F_DF), flags_in[k],
			             "%s: flags %#" PRIx64 ", expected %#" PRIx64, forms[f].name,
			             s.rflags & (F_ARITH | F_DF), flags_in[k]);
		}
	}
}

/* ---- long REPs: several visits of the run loop ------------------------------------- */

static uint8_t pattern(unsigned k)
{
	return (uint8_t)(k * 7);
}

Test(string_ops, repe_cmpsb_over_thousands_of_bytes)
{
	static uint8_t buf[10000];
	for (unsigned k = 0; k < sizeof(buf); k++)
		buf[k] = pattern(k);
	put(SRC, buf, sizeof(buf));
	buf[9000]++; /* pattern(9000) = 0x18; 0x18 - 0x19 = 0xFF */
	put(DST, buf, sizeof(buf));
	struct st s = {.rcx = 10000, .rsi = SRC, .rdi = DST};
	RUN(&s, 0xf3, 0xa6);
	EXPECT_REG(s, rcx, 10000 - 9001);
	EXPECT_REG(s, rsi, SRC + 9001);
	EXPECT_REG(s, rdi, DST + 9001);
	EXPECT_FLAGS(s, F_CF | F_SF | F_PF | F_AF);
}

/* A match on either side of the run loop's chunk boundaries stops REPNE
 * exactly there. */
Test(string_ops, repne_scasb_match_at_any_position_of_a_long_scan)
{
	static const unsigned at[] = {0, 1, 4094, 4095, 4096, 4097, 8191, 8192, 9999};
	for (unsigned t = 0; t < sizeof(at) / sizeof(at[0]); t++) {
		fill(DST, 0x55, 10000);
		fill(DST + at[t], 0xaa, 1);
		struct st s = {.rax = 0xaa, .rcx = 10000, .rdi = DST};
		RUN(&s, 0xf2, 0xae);
		cr_expect(s.rdi == DST + at[t] + 1 && s.rcx == 10000 - at[t] - 1,
		          "match at %u: rdi %#" PRIx64 " rcx %" PRIu64, at[t], s.rdi, s.rcx);
		EXPECT_FLAGS(s, F_ZF | F_PF);
	}
}

Test(string_ops, rep_stosb_and_movsb_over_thousands_of_bytes)
{
	fill(DST, 0xee, 10001);
	struct st s = {.rax = 0x5a, .rcx = 10000, .rdi = DST};
	RUN(&s, 0xf3, 0xaa);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rdi, DST + 10000);
	static uint8_t want[10001];
	memset(want, 0x5a, 10000);
	want[10000] = 0xee;
	expect_mem(DST, want, sizeof(want), "rep stosb");

	for (unsigned k = 0; k < 10000; k++)
		want[k] = pattern(k);
	put(SRC, want, 10000);
	s = (struct st){.rcx = 10000, .rsi = SRC, .rdi = DST};
	RUN(&s, 0xf3, 0xa4);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 10000);
	EXPECT_REG(s, rdi, DST + 10000);
	expect_mem(DST, want, sizeof(want), "rep movsb");
}

/* The instruction budget can end a run between two visits of a long REP:
 * RIP is still at the REP, the registers show the progress, and the next
 * run continues where it stopped. */
Test(string_ops, budget_stops_a_long_rep_at_the_instruction_and_resumes)
{
	static const uint8_t code[] = {0xf3, 0xaa};
	fill(DST, 0, 20000);
	load_code(code, sizeof(code));
	struct st s = {.rax = 0x77, .rcx = 20000, .rdi = DST};
	set_state(&s);
	struct vm_exit e = run_at(CODE, 1);
	cr_assert_eq(e.exitcode, VM_EXITCODE_BOGUS);
	cr_assert_eq(e.rip, CODE);
	get_state(&s);
	cr_assert(s.rcx > 0 && s.rcx < 20000, "rcx %" PRIu64, s.rcx);
	cr_assert_eq(s.rdi - DST, 20000 - s.rcx);
	EXPECT_REG(s, rip, CODE);
	e = run_at(CODE, 1000);
	cr_assert(e.exitcode == VM_EXITCODE_INOUT && e.rip == CODE + 2, "exit %d at %#" PRIx64,
	          e.exitcode, e.rip);
	get_state(&s);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rdi, DST + 20000);
	static uint8_t want[20000];
	memset(want, 0x77, sizeof(want));
	expect_mem(DST, want, sizeof(want), "rep stosb");
}

/* ---- MOVS, STOS, LODS ------------------------------------------------------------- */

Test(string_ops, repne_prefix_repeats_movs_stos_lods)
{
	/* F2 with MOVS/STOS/LODS repeats like F3: no ZF test. */
	put(SRC, "12345678", 8);
	fill(DST, 0, 16);
	struct st s = {.rcx = 5, .rsi = SRC, .rdi = DST, .rflags = F_ZF};
	RUN(&s, 0xf2, 0xa4);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 5);
	EXPECT_REG(s, rdi, DST + 5);
	EXPECT_FLAGS(s, F_ZF);
	expect_mem(DST, "12345\0", 6, "repne movsb");

	s = (struct st){.rax = 0x41, .rcx = 3, .rdi = DST + 8};
	RUN(&s, 0xf2, 0xaa);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rdi, DST + 11);
	expect_mem(DST + 8, "AAA\0", 4, "repne stosb");

	/* REP LODS is legal: the last element stays in AL. */
	s = (struct st){.rax = 0xffffffffffffffffull, .rcx = 3, .rsi = SRC};
	RUN(&s, 0xf3, 0xac);
	EXPECT_REG(s, rax, 0xffffffffffffff33ull);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 3);
	s = (struct st){.rax = 0, .rcx = 4, .rsi = SRC};
	RUN(&s, 0xf2, 0xac);
	EXPECT_REG(s, rax, 0x34);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 4);
}

Test(string_ops, lods_sizes_write_the_accumulator_like_mov)
{
	static const uint64_t v = 0x8877665544332211ull;
	put(SRC, &v, 8);
	struct st s = {.rax = ~0ull, .rsi = SRC};
	RUN(&s, 0x66, 0xad); /* LODSW: AX only */
	EXPECT_REG(s, rax, 0xffffffffffff2211ull);
	EXPECT_REG(s, rsi, SRC + 2);
	s = (struct st){.rax = ~0ull, .rsi = SRC};
	RUN(&s, 0xad); /* LODSD: EAX, zero-extended into RAX */
	EXPECT_REG(s, rax, 0x44332211ull);
	EXPECT_REG(s, rsi, SRC + 4);
	s = (struct st){.rax = 0, .rsi = SRC, .rflags = F_DF};
	RUN(&s, 0x48, 0xad); /* LODSQ, DF = 1 */
	EXPECT_REG(s, rax, v);
	EXPECT_REG(s, rsi, SRC - 8);
}

Test(string_ops, movs_and_stos_of_every_size_with_df_set)
{
	static const uint64_t src[2] = {0x1111111111111111ull, 0x2222222222222222ull};
	put(SRC, src, 16);
	fill(DST, 0, 32);
	struct st s = {.rcx = 2, .rsi = SRC + 8, .rdi = DST + 8, .rflags = F_DF};
	RUN(&s, 0xf3, 0x48, 0xa5); /* REP MOVSQ, downwards */
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC - 8);
	EXPECT_REG(s, rdi, DST - 8);
	expect_mem(DST, src, 16, "rep movsq");

	s = (struct st){.rax = 0xaabbccdd11223344ull, .rcx = 2, .rdi = DST + 20, .rflags = F_DF};
	RUN(&s, 0xf3, 0xab); /* REP STOSD */
	EXPECT_REG(s, rdi, DST + 12);
	static const uint8_t d[12] = {0x44, 0x33, 0x22, 0x11, 0x44, 0x33, 0x22, 0x11};
	expect_mem(DST + 16, d, 8, "rep stosd");

	s = (struct st){.rax = 0xbeef, .rcx = 1, .rdi = DST + 30, .rflags = F_DF};
	RUN(&s, 0x66, 0xab); /* STOSW without REP: RCX untouched */
	EXPECT_REG(s, rdi, DST + 28);
	EXPECT_REG(s, rcx, 1);
	expect_mem(DST + 30, "\xef\xbe", 2, "stosw");

	s = (struct st){.rcx = 3, .rsi = SRC + 4, .rdi = DST + 26, .rflags = F_DF};
	RUN(&s, 0xf3, 0x66, 0xa5); /* REP MOVSW */
	EXPECT_REG(s, rsi, SRC - 2);
	EXPECT_REG(s, rdi, DST + 20);
	expect_mem(DST + 22, "\x11\x11\x11\x11\x11\x11", 6, "rep movsw");
}

/* Overlapping MOVSB copies element by element: a forward copy one byte up
 * repeats the first byte (SDM vol. 1 7.3.9.3 on overlapping strings). */
Test(string_ops, overlapping_rep_movsb_copies_byte_by_byte)
{
	put(SRC, "abcdefgh", 8);
	struct st s = {.rcx = 7, .rsi = SRC, .rdi = SRC + 1};
	RUN(&s, 0xf3, 0xa4);
	expect_mem(SRC, "aaaaaaaa", 8, "overlap");
}

/* ---- segment overrides --------------------------------------------------------------- */

Test(string_ops, segment_override_applies_to_the_source_only)
{
	/* FS base = SRC; DS and ES have base 0. */
	seg(VM_REG_GUEST_FS, 0x10, SRC, 0xffffffff, 0xc093);
	put(0x10, "xyz", 3); /* what DS:0x10 would read */
	put(SRC + 0x10, "abc", 3);
	put(DST + 0x10, "abd", 3);
	struct st s = {.rcx = 5, .rsi = 0x10, .rdi = DST + 0x10};
	RUN(&s, 0x64, 0xf3, 0xa6); /* fs repe cmpsb */
	EXPECT_REG(s, rcx, 2);
	EXPECT_REG(s, rsi, 0x13);
	EXPECT_REG(s, rdi, DST + 0x13);
	EXPECT_FLAGS(s, F_CF | F_SF | F_PF | F_AF); /* 'c' - 'd' = 0xFF */

	/* fs rep movsb: FS:RSI -> ES:RDI. */
	put(SRC + 0x20, "MOVE", 4);
	fill(DST + 0x40, 0, 4);
	fill(SRC + DST + 0x40, 0, 4);
	s = (struct st){.rcx = 4, .rsi = 0x20, .rdi = DST + 0x40};
	RUN(&s, 0x64, 0xf3, 0xa4);
	expect_mem(DST + 0x40, "MOVE", 4, "fs rep movsb destination");
	expect_mem(SRC + DST + 0x40, "\0\0\0\0", 4, "FS:RDI untouched");

	/* fs rep stosb: the override has nothing to apply to. */
	fill(DST + 0x80, 0, 4);
	s = (struct st){.rax = 0x53, .rcx = 3, .rdi = DST + 0x80};
	RUN(&s, 0x64, 0xf3, 0xaa);
	expect_mem(DST + 0x80, "SSS\0", 4, "fs rep stosb");

	/* fs scasb reads ES:RDI. */
	put(DST + 0x90, "Q", 1);
	s = (struct st){.rax = 'Q', .rdi = DST + 0x90};
	RUN(&s, 0x64, 0xae);
	EXPECT_FLAGS(s, F_ZF | F_PF);

	/* fs lodsb reads FS:RSI. */
	s = (struct st){.rsi = 0x10};
	RUN(&s, 0x64, 0xac);
	EXPECT_REG(s, rax, 'a');
}

Test(string_ops, es_override_on_cmps_in_real_mode)
{
	real_mode(0x1000, 0x2000, 0);
	put(0x10010, "Z", 1); /* DS:0x10 */
	put(0x20010, "Q", 1); /* ES:0x10, the overridden source */
	put(0x20020, "Q", 1); /* ES:0x20 */
	struct st s = {.rsi = 0x10, .rdi = 0x20};
	RUN(&s, 0x26, 0xa6); /* es cmpsb */
	EXPECT_REG(s, rsi, 0x11);
	EXPECT_REG(s, rdi, 0x21);
	EXPECT_FLAGS(s, F_ZF | F_PF);
	/* Without the override DS:SI is compared: 'Z' - 'Q' = 9: PF. */
	s = (struct st){.rsi = 0x10, .rdi = 0x20};
	RUN(&s, 0xa6);
	EXPECT_FLAGS(s, F_PF);
}

/* ---- address sizes ------------------------------------------------------------------ */

/* 0x67 in 64-bit mode: ESI, EDI and ECX are used and written, and the
 * writes zero-extend into RSI, RDI and RCX (SDM vol. 1 3.4.1.1). */
Test(string_ops, a32_in_64bit_mode_uses_and_zero_extends_esi_edi_ecx)
{
	static uint8_t bytes[16];
	for (unsigned k = 0; k < 16; k++)
		bytes[k] = (uint8_t)(0xc0 + k);
	put(SRC, bytes, 16);
	fill(DST, 0, 16);
	struct st s = {.rcx = 0x5555555500000010ull,
	               .rsi = 0xaaaabbbb00000000ull | SRC,
	               .rdi = 0xccccdddd00000000ull | DST};
	RUN(&s, 0x67, 0xf3, 0xa4);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 16);
	EXPECT_REG(s, rdi, DST + 16);
	expect_mem(DST, bytes, 16, "a32 rep movsb");

	/* LODSB with a32 and no REP: RSI is rewritten, RAX keeps bits 63:8. */
	s = (struct st){.rax = 0x1111111111111111ull, .rsi = 0xffffffff00000000ull | SRC};
	RUN(&s, 0x67, 0xac);
	EXPECT_REG(s, rsi, SRC + 1);
	EXPECT_REG(s, rax, 0x11111111111111c0ull);

	/* SCASB downwards. */
	s = (struct st){.rax = 0xc5, .rdi = 0x100000000ull | (SRC + 5), .rflags = F_DF};
	RUN(&s, 0x67, 0xae);
	EXPECT_REG(s, rdi, SRC + 4);
	EXPECT_FLAGS(s, F_ZF | F_PF | F_DF);

	/* REPE CMPSD: ECX = 3 of RCX = 0xFFFFFFFF00000003. */
	s = (struct st){
	    .rcx = 0xffffffff00000003ull, .rsi = 0xf00000000ull | SRC, .rdi = 0xf00000000ull | SRC};
	RUN(&s, 0x67, 0xf3, 0xa7);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 12);
	EXPECT_REG(s, rdi, SRC + 12);
	EXPECT_FLAGS(s, F_ZF | F_PF);
}

/* ESI wraps from 0xFFFFFFFF to 0 with 32-bit addressing. */
Test(string_ops, a32_esi_wraps_at_4_gib)
{
	put(HIGH_GPA + 0x1ffffe, "\xa1\xa2", 2); /* linear 0xFFFFFFFE */
	put(0, "\xa3\xa4", 2);                   /* linear 0 */
	fill(DST + 0x100, 0, 8);
	struct st s = {.rcx = 4, .rsi = 0x1fffffffeull, .rdi = DST + 0x100};
	RUN(&s, 0x67, 0xf3, 0xa4);
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, 2);
	EXPECT_REG(s, rdi, DST + 0x104);
	expect_mem(DST + 0x100, "\xa1\xa2\xa3\xa4\0", 5, "a32 wrap");
}

/* 16-bit addressing (real mode): SI, DI and CX wrap at 64 KiB within their
 * segment; bits 63:16 of RSI, RDI and RCX are kept. */
Test(string_ops, a16_wraps_si_di_cx_and_keeps_the_upper_bits)
{
	real_mode(0x1000, 0x2000, 0);
	put(0x1fffe, "\xa1\xa2", 2); /* DS:FFFE */
	put(0x10000, "\xa3\xa4", 2); /* DS:0000 */
	fill(0x20010, 0, 6);
	struct st s = {.rcx = 0xaaaabbbbcccc0004ull,
	               .rsi = 0x123456789abcfffeull,
	               .rdi = 0xfedcba9876540010ull};
	RUN(&s, 0xf3, 0xa4);
	EXPECT_REG(s, rsi, 0x123456789abc0002ull);
	EXPECT_REG(s, rdi, 0xfedcba9876540014ull);
	EXPECT_REG(s, rcx, 0xaaaabbbbcccc0000ull);
	expect_mem(0x20010, "\xa1\xa2\xa3\xa4\0", 5, "a16 rep movsb");

	/* STD; REP STOSW from DI = 2 down across 0: words at 2, 0, FFFE. */
	fill(0x20000, 0, 4);
	fill(0x2fffe, 0, 2);
	s = (struct st){.rax = 0x5555555555551234ull,
	                .rcx = 0x0000000100000003ull,
	                .rdi = 0x7777000000000002ull,
	                .rflags = F_DF};
	RUN(&s, 0xf3, 0xab);
	EXPECT_REG(s, rdi, 0x777700000000fffcull);
	EXPECT_REG(s, rcx, 0x0000000100000000ull);
	expect_mem(0x20000, "\x34\x12\x34\x12", 4, "a16 rep stosw");
	expect_mem(0x2fffe, "\x34\x12", 2, "a16 rep stosw at ES:FFFE");

	/* REP MOVSD (0x66) from SI = FFFC: the second dword comes from DS:0. */
	put(0x1fffc, "\x01\x02\x03\x04", 4);
	put(0x10000, "\x05\x06\x07\x08", 4);
	s = (struct st){.rcx = 2, .rsi = 0xfffc, .rdi = 0x30};
	RUN(&s, 0xf3, 0x66, 0xa5);
	EXPECT_REG(s, rsi, 0x0004);
	EXPECT_REG(s, rdi, 0x38);
	EXPECT_REG(s, rcx, 0);
	expect_mem(0x20030, "\x01\x02\x03\x04\x05\x06\x07\x08", 8, "a16 rep movsd");

	/* REP LODSB from SI = FFFF. */
	s = (struct st){.rcx = 2, .rsi = 0xffff};
	RUN(&s, 0xf3, 0xac);
	EXPECT_REG(s, rax, 0x05);
	EXPECT_REG(s, rsi, 0x0001);

	/* STD; REPE CMPSB from SI = DI = 1 down across 0 to FFFF. */
	put(0x10000, "\x11\x22", 2);
	put(0x1ffff, "\x33", 1);
	put(0x20000, "\x11\x22", 2);
	put(0x2ffff, "\x34", 1);
	s = (struct st){.rcx = 0xffff0005ull, .rsi = 1, .rdi = 1, .rflags = F_DF};
	RUN(&s, 0xf3, 0xa6);
	EXPECT_REG(s, rsi, 0xfffe);
	EXPECT_REG(s, rdi, 0xfffe);
	EXPECT_REG(s, rcx, 0xffff0002ull);
	EXPECT_FLAGS(s, F_CF | F_SF | F_PF | F_AF | F_DF); /* 0x33 - 0x34 */
}

/* ---- faults in the middle of a REP ---------------------------------------------------- */

/*
 * With no IDT, a #PF escalates to #DF and then to a triple fault (SDM vol. 3
 * table 6-5), which suspends the VM.  The registers then show the fault's
 * state: the iterations completed, RIP at the REP instruction, CR2 the
 * faulting address.
 */
static void run_to_triple_fault(const uint8_t *code, unsigned n, struct st *s)
{
	load_code(code, n);
	set_state(s);
	struct vm_exit e = run_at(CODE, 1000000);
	cr_assert_eq(e.exitcode, VM_EXITCODE_SUSPENDED, "exit %d at %#" PRIx64, e.exitcode, e.rip);
	cr_assert_eq(e.u.suspended.how, VM_SUSPEND_TRIPLEFAULT);
	cr_assert_eq(e.rip, CODE);
	get_state(s);
}

#define RUN_TO_TRIPLE_FAULT(s, ...)                                                                \
	do {                                                                                       \
		static const uint8_t code_[] = {__VA_ARGS__};                                      \
		run_to_triple_fault(code_, sizeof(code_), (s));                                    \
	} while (0)

static uint64_t cr2(void)
{
	uint64_t v = 0;
	vm_get_register(vm, 0, VM_REG_GUEST_CR2, &v);
	return v;
}

Test(string_ops, rep_movsb_fault_on_the_destination_keeps_the_progress)
{
	static uint8_t bytes[40];
	for (unsigned k = 0; k < 40; k++)
		bytes[k] = (uint8_t)(k + 1);
	put(SRC, bytes, 40);
	fill(HOLE - 16, 0, 16);
	struct st s = {.rcx = 40, .rsi = SRC, .rdi = HOLE - 16};
	RUN_TO_TRIPLE_FAULT(&s, 0xf3, 0xa4);
	EXPECT_REG(s, rip, CODE);
	EXPECT_REG(s, rcx, 24);
	EXPECT_REG(s, rsi, SRC + 16);
	EXPECT_REG(s, rdi, HOLE);
	cr_expect_eq(cr2(), HOLE);
	expect_mem(HOLE - 16, bytes, 16, "bytes copied before the fault");
}

Test(string_ops, rep_movsb_fault_walking_down_keeps_the_progress)
{
	static uint8_t bytes[20];
	for (unsigned k = 0; k < 20; k++)
		bytes[k] = (uint8_t)(0x80 + k);
	put(SRC + 80, bytes, 20);
	fill(HOLE + 0x1000, 0, 8);
	/* DF = 1 from HOLE + 0x1007: eight bytes down to HOLE + 0x1000, then
	 * the write to HOLE + 0xFFF faults. */
	struct st s = {.rcx = 20, .rsi = SRC + 99, .rdi = HOLE + 0x1007, .rflags = F_DF};
	RUN_TO_TRIPLE_FAULT(&s, 0xf3, 0xa4);
	EXPECT_REG(s, rip, CODE);
	EXPECT_REG(s, rcx, 12);
	EXPECT_REG(s, rsi, SRC + 91);
	EXPECT_REG(s, rdi, HOLE + 0xfff);
	cr_expect_eq(cr2(), HOLE + 0xfff);
	expect_mem(HOLE + 0x1000, bytes + 12, 8, "bytes copied before the fault");
}

Test(string_ops, rep_movsq_fault_on_the_source_keeps_the_progress)
{
	struct st s = {.rcx = 5, .rsi = HOLE - 16, .rdi = DST};
	RUN_TO_TRIPLE_FAULT(&s, 0xf3, 0x48, 0xa5);
	EXPECT_REG(s, rcx, 3);
	EXPECT_REG(s, rsi, HOLE);
	EXPECT_REG(s, rdi, DST + 16);
	cr_expect_eq(cr2(), HOLE);
}

/* A word that straddles into the hole faults as a whole: the iteration does
 * not complete. */
Test(string_ops, rep_stosw_fault_on_a_straddling_word)
{
	struct st s = {.rax = 0x4242, .rcx = 10, .rdi = HOLE - 5};
	RUN_TO_TRIPLE_FAULT(&s, 0xf3, 0x66, 0xab);
	EXPECT_REG(s, rcx, 8);
	EXPECT_REG(s, rdi, HOLE - 1);
	cr_expect_eq(cr2(), HOLE);
}

Test(string_ops, repe_cmpsb_fault_keeps_the_progress_and_the_last_flags)
{
	put(SRC, "abcdefgh", 8);
	put(HOLE - 4, "abcd", 4);
	struct st s = {.rcx = 8, .rsi = SRC, .rdi = HOLE - 4, .rflags = F_CF};
	RUN_TO_TRIPLE_FAULT(&s, 0xf3, 0xa6);
	EXPECT_REG(s, rcx, 4);
	EXPECT_REG(s, rsi, SRC + 4);
	EXPECT_REG(s, rdi, HOLE);
	EXPECT_FLAGS(s, F_ZF | F_PF); /* from 'd' - 'd' */
}

/*
 * The #PF handler at PF_HANDLER (assembled with NASM, bits 64, org 0x3000)
 * records the state at the fault, maps HOLE and returns; the REP restarts
 * and completes.
 */
static const uint8_t pf_handler[] = {
    0x50,                                           /* push rax */
    0x48, 0x89, 0x0c, 0x25, 0x00, 0x80, 0x00, 0x00, /* mov [0x8000], rcx */
    0x48, 0x89, 0x34, 0x25, 0x08, 0x80, 0x00, 0x00, /* mov [0x8008], rsi */
    0x48, 0x89, 0x3c, 0x25, 0x10, 0x80, 0x00, 0x00, /* mov [0x8010], rdi */
    0x0f, 0x20, 0xd0,                               /* mov rax, cr2 */
    0x48, 0x89, 0x04, 0x25, 0x18, 0x80, 0x00, 0x00, /* mov [0x8018], rax */
    0x48, 0x8b, 0x44, 0x24, 0x08,                   /* mov rax, [rsp+8]: error code */
    0x48, 0x89, 0x04, 0x25, 0x20, 0x80, 0x00, 0x00, /* mov [0x8020], rax */
    0x48, 0x8b, 0x44, 0x24, 0x10,                   /* mov rax, [rsp+16]: RIP */
    0x48, 0x89, 0x04, 0x25, 0x28, 0x80, 0x00, 0x00, /* mov [0x8028], rax */
    0x48, 0xff, 0x04, 0x25, 0x30, 0x80, 0x00, 0x00, /* inc qword [0x8030] */
    0xb8, 0x03, 0x00, 0x21, 0x00,                   /* mov eax, 0x210003 */
    0x48, 0x89, 0x04, 0x25, 0x80, 0x30, 0x01, 0x00, /* mov [0x13080], rax: HOLE's PTE */
    0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x21, 0x00, /* invlpg [0x210000] */
    0x58,                                           /* pop rax */
    0x48, 0x83, 0xc4, 0x08,                         /* add rsp, 8 */
    0x48, 0xcf,                                     /* iretq */
};

Test(string_ops, rep_movsb_resumes_after_the_page_fault_handler)
{
	cr_assert_eq(HOLE_PTE, 0x13080ull);
	put(PF_HANDLER, pf_handler, sizeof(pf_handler));
	/* IDT gate 14: 64-bit interrupt gate to 0x08:PF_HANDLER (SDM vol. 3
	 * 6.14.1). */
	put64(IDT + 14 * 16, (PF_HANDLER & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
	                         ((PF_HANDLER >> 16) << 48));
	put64(IDT + 14 * 16 + 8, 0);
	struct seg_desc idtr = {IDT, 0xfff, 0};
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idtr), 0);
	fill(REC, 0, 0x38);
	static uint8_t bytes[40];
	for (unsigned k = 0; k < 40; k++)
		bytes[k] = (uint8_t)(0x30 + k);
	put(SRC, bytes, 40);
	struct st s = {.rcx = 40, .rsi = SRC, .rdi = HOLE - 16};
	RUN(&s, 0xf3, 0xa4);
	cr_expect_eq(get64(REC + 0x30), 1, "page faults: %" PRIu64, get64(REC + 0x30));
	cr_expect_eq(get64(REC + 0x00), 24, "RCX at the fault");
	cr_expect_eq(get64(REC + 0x08), SRC + 16, "RSI at the fault");
	cr_expect_eq(get64(REC + 0x10), HOLE, "RDI at the fault");
	cr_expect_eq(get64(REC + 0x18), HOLE, "CR2");
	cr_expect_eq(get64(REC + 0x20), 2, "error code: a supervisor write, not present");
	cr_expect_eq(get64(REC + 0x28), CODE, "pushed RIP: the REP MOVSB");
	EXPECT_REG(s, rcx, 0);
	EXPECT_REG(s, rsi, SRC + 40);
	EXPECT_REG(s, rdi, HOLE + 24);
	expect_mem(HOLE - 16, bytes, 40, "the whole copy");
}

/* ---- CMPS and SCAS against the host CPU ------------------------------------------------- */

#if defined(__x86_64__)

/*
 * The host runs the same instruction on host buffers with identical
 * contents.  128 bytes below RSP are skipped first: the function may keep
 * locals in the red zone, which the PUSH would overwrite.  DF is cleared
 * again before returning (the ABI requires it).
 */
#define HOST_STR(name, text)                                                                       \
	static void host_##name(struct st *s)                                                      \
	{                                                                                          \
		uint64_t f = s->rflags, si = s->rsi, di = s->rdi, cx = s->rcx, ax = s->rax;        \
		__asm__ volatile("sub $128, %%rsp\n\tpush %[f]\n\tpopfq\n\t" text                  \
		                 "\n\tpushfq\n\tpop %[f]\n\tcld\n\tadd $128, %%rsp"                \
		                 : [f] "+r"(f), "+S"(si), "+D"(di), "+c"(cx), "+a"(ax)             \
		                 :                                                                 \
		                 : "cc", "memory");                                                \
		s->rflags = f;                                                                     \
		s->rsi = si;                                                                       \
		s->rdi = di;                                                                       \
		s->rcx = cx;                                                                       \
		s->rax = ax;                                                                       \
	}
#define HOST_STR_REPS(op, sfx)                                                                     \
	HOST_STR(op##sfx, #op #sfx)                                                                \
	HOST_STR(repe_##op##sfx, "repe " #op #sfx)                                                 \
	HOST_STR(repne_##op##sfx, "repne " #op #sfx)
#define HOST_STR_SIZES(op)                                                                         \
	HOST_STR_REPS(op, b)                                                                       \
	HOST_STR_REPS(op, w)                                                                       \
	HOST_STR_REPS(op, l)                                                                       \
	HOST_STR_REPS(op, q)
HOST_STR_SIZES(cmps)
HOST_STR_SIZES(scas)

typedef void (*host_fn)(struct st *s);
/* [op][size][rep]: op 0 CMPS, 1 SCAS; size b w l q; rep none, F3, F2. */
static const host_fn host[2][4][3] = {
    {{host_cmpsb, host_repe_cmpsb, host_repne_cmpsb},
     {host_cmpsw, host_repe_cmpsw, host_repne_cmpsw},
     {host_cmpsl, host_repe_cmpsl, host_repne_cmpsl},
     {host_cmpsq, host_repe_cmpsq, host_repne_cmpsq}},
    {{host_scasb, host_repe_scasb, host_repne_scasb},
     {host_scasw, host_repe_scasw, host_repne_scasw},
     {host_scasl, host_repe_scasl, host_repne_scasl},
     {host_scasq, host_repe_scasq, host_repne_scasq}},
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64 */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define NB    1024
#define START 256 /* first element, DF = 0; DF = 1 starts at START + 40 * 8 */
#define MAXN  40

static uint8_t hsrc[NB], hdst[NB];

/* An edge byte for the flags: 0, 0x7F, 0x80 or 0xFF, or 1. */
static uint8_t edge_byte(void)
{
	static const uint8_t e[] = {0x00, 0x7f, 0x80, 0xff, 0x01};
	return e[rnd() % 5];
}

static void one_case(unsigned op, unsigned szi, unsigned rep)
{
	static const unsigned sizes[4] = {1, 2, 4, 8};
	static const char *const ops[2] = {"cmps", "scas"}, *const reps[3] = {"", "repe ",
	                                                                      "repne "};
	unsigned sz = sizes[szi];
	bool df = rnd() & 1;
	unsigned count = (unsigned)(rnd() % (MAXN + 1));
	if (rnd() % 16 == 0)
		count = 0;
	unsigned start = df ? START + MAXN * 8 : START;
	int64_t step = df ? -(int64_t)sz : (int64_t)sz;
	unsigned mode = (unsigned)(rnd() % 3);
	uint64_t rax = rnd();
	if (mode == 2)
		for (unsigned b = 0; b < 8; b++)
			rax = (rax & ~(0xffull << (8 * b))) | ((uint64_t)edge_byte() << (8 * b));
	/* dst: random, edge bytes or rAX's element repeated. */
	for (unsigned k = 0; k < NB; k++)
		hdst[k] = mode == 2 ? edge_byte() : (uint8_t)rnd();
	if (op == 1 && mode == 0)
		for (unsigned j = 0; j < MAXN; j++)
			memcpy(hdst + start + (int64_t)j * step, &rax, sz);
	/* src for CMPS: a copy of dst (mode 0) or independent. */
	for (unsigned k = 0; k < NB; k++)
		hsrc[k] = mode == 0 ? hdst[k] : mode == 2 ? edge_byte() : (uint8_t)rnd();
	/* A few differences (mode 0) or matches (modes 1 and 2) at elements. */
	unsigned nk = (unsigned)(rnd() % 3);
	for (unsigned t = 0; t < nk && count; t++) {
		unsigned j = (unsigned)(rnd() % count);
		int64_t at = start + (int64_t)j * step;
		if (mode == 0) {
			uint8_t *p = (op == 0 ? hsrc : hdst) + at + rnd() % sz;
			*p = mode == 0 && (rnd() & 1) ? edge_byte() : (uint8_t)rnd();
		} else if (op == 0) {
			memcpy(hsrc + at, hdst + at, sz);
		} else {
			memcpy(hdst + at, &rax, sz);
		}
	}
	uint64_t fin = (rnd() & F_ARITH) | (df ? F_DF : 0);
	put(SRC, hsrc, NB);
	put(DST, hdst, NB);

	struct st h = {.rax = rax,
	               .rcx = count,
	               .rsi = (uint64_t)(uintptr_t)(hsrc + start),
	               .rdi = (uint64_t)(uintptr_t)(hdst + start),
	               .rflags = fin | 0x2};
	struct st g = {
	    .rax = rax, .rcx = count, .rsi = SRC + start, .rdi = DST + start, .rflags = fin};
	struct st h0 = h;
	host[op][szi][rep](&h);

	uint8_t code[4];
	unsigned n = 0;
	if (rep)
		code[n++] = rep == 1 ? 0xf3 : 0xf2;
	if (sz == 2)
		code[n++] = 0x66;
	if (sz == 8)
		code[n++] = 0x48;
	code[n++] = (uint8_t)((op == 0 ? 0xa6 : 0xae) + (sz > 1));
	run(code, n, &g);

	char what[160];
	snprintf(what, sizeof(what), "%s%s%c count %u df %d mode %u flags-in %#" PRIx64, reps[rep],
	         ops[op], "bwdq"[szi], count, df, mode, fin);
	cr_assert_eq(g.rsi - (SRC + start), h.rsi - h0.rsi,
	             "%s: RSI delta %" PRId64 ", host %" PRId64, what,
	             (int64_t)(g.rsi - (SRC + start)), (int64_t)(h.rsi - h0.rsi));
	cr_assert_eq(g.rdi - (DST + start), h.rdi - h0.rdi,
	             "%s: RDI delta %" PRId64 ", host %" PRId64, what,
	             (int64_t)(g.rdi - (DST + start)), (int64_t)(h.rdi - h0.rdi));
	cr_assert_eq(g.rcx, h.rcx, "%s: RCX %" PRIu64 ", host %" PRIu64, what, g.rcx, h.rcx);
	cr_assert_eq(g.rax, h.rax, "%s: RAX %#" PRIx64 ", host %#" PRIx64, what, g.rax, h.rax);
	cr_assert_eq(g.rflags & (F_ARITH | F_DF), h.rflags & (F_ARITH | F_DF),
	             "%s: flags %#" PRIx64 ", host %#" PRIx64, what, g.rflags & (F_ARITH | F_DF),
	             h.rflags & (F_ARITH | F_DF));
}

Test(string_ops, cmps_and_scas_match_the_host)
{
	for (unsigned op = 0; op < 2; op++)
		for (unsigned szi = 0; szi < 4; szi++)
			for (unsigned rep = 0; rep < 3; rep++)
				for (unsigned t = 0; t < 150; t++)
					one_case(op, szi, rep);
}

#endif
