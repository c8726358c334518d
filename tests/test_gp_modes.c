/*
 * General-purpose instructions in every mode (issue 4): real mode, 16- and
 * 32-bit protected mode, compatibility mode (32- and 16-bit code) and 64-bit
 * mode, with the operand- and address-size overrides, and the LOCK #UD rule.
 *
 * One VM per test, built through the public API: 8 MiB of RAM, a GDT, an
 * IDT (IVT in real mode) whose vector k runs OUT 0xA0+k, AL at HANDLERS +
 * 2k, and, for IA-32e mode, 4-level paging that identity-maps the first
 * 8 MiB with one not-present 4 KiB page (HOLE).  A test puts its code at
 * CODE followed by OUT 0x80, AL, sets the registers, and runs: the exit at
 * port 0x80 means the code completed, at 0xA0+k that it raised vector k
 * (then the frame the CPU pushed is read back).  The expected values come
 * from the SDM pages named at each test, worked out in the comments; facts
 * the SDM leaves open were checked on an Intel host where a comment says so.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

#define RAM       (UINT64_C(8) << 20)
#define CODE      UINT64_C(0x1000)
#define HANDLERS  UINT64_C(0x2000) /* vector k: E6 A0+k at HANDLERS + 2k */
#define IDT       UINT64_C(0x3000)
#define GDT       UINT64_C(0x4000)
#define PML4      UINT64_C(0x10000)
#define PDPT      UINT64_C(0x11000)
#define PD        UINT64_C(0x12000)
#define PT        UINT64_C(0x13000) /* 4 KiB pages for 2 MiB .. 4 MiB */
#define DATA      UINT64_C(0x20000)
#define STACK     UINT64_C(0x30000)  /* a test's stack pointer lives around here */
#define HOLE      UINT64_C(0x300000) /* not present in IA-32e mode */
#define PORT_DONE 0x80
#define PORT_EXC  0xa0

#define F_CF    UINT64_C(0x1)
#define F_PF    UINT64_C(0x4)
#define F_AF    UINT64_C(0x10)
#define F_ZF    UINT64_C(0x40)
#define F_SF    UINT64_C(0x80)
#define F_DF    UINT64_C(0x400)
#define F_OF    UINT64_C(0x800)
#define F_ARITH UINT64_C(0x8d5)

/* Selectors (GDT below). */
#define SEL_CODE32 0x08
#define SEL_DATA32 0x10
#define SEL_CODE16 0x18
#define SEL_DATA16 0x20
#define SEL_CODE64 0x28

enum mode { M_REAL, M_PROT16, M_PROT32, M_COMPAT16, M_COMPAT32, M_LONG64, M_COUNT };

static const char *const mode_name[M_COUNT] = {"real",     "prot16",   "prot32",
                                               "compat16", "compat32", "long64"};

static struct vm *vm;
static enum mode cur_mode;
/* CS as machine() left it: an exception's handler runs with another CS,
 * and every run starts from this one again. */
static struct seg_desc cs_desc;
static uint64_t cs_sel;

/* ---- guest memory ------------------------------------------------------------ */

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

static void put32(uint64_t gpa, uint32_t v)
{
	put(gpa, &v, 4);
}

static void put16(uint64_t gpa, uint16_t v)
{
	put(gpa, &v, 2);
}

static uint64_t get_n(uint64_t gpa, unsigned n)
{
	uint64_t v = 0;
	get(gpa, &v, n);
	return v;
}

/* ---- registers ------------------------------------------------------------------ */

/* Hardware register numbers 0-15 to the API's names. */
static const int gpr_name[16] = {
    VM_REG_GUEST_RAX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX, VM_REG_GUEST_RBX,
    VM_REG_GUEST_RSP, VM_REG_GUEST_RBP, VM_REG_GUEST_RSI, VM_REG_GUEST_RDI,
    VM_REG_GUEST_R8,  VM_REG_GUEST_R9,  VM_REG_GUEST_R10, VM_REG_GUEST_R11,
    VM_REG_GUEST_R12, VM_REG_GUEST_R13, VM_REG_GUEST_R14, VM_REG_GUEST_R15,
};
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9 };

struct regs {
	uint64_t r[16];
	uint64_t rflags, rip;
};

static void set_regs(const struct regs *s)
{
	for (int k = 0; k < 16; k++)
		cr_assert_eq(vm_set_register(vm, 0, gpr_name[k], s->r[k]), 0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RFLAGS, s->rflags | 0x2), 0);
}

static void get_regs(struct regs *s)
{
	for (int k = 0; k < 16; k++)
		cr_assert_eq(vm_get_register(vm, 0, gpr_name[k], &s->r[k]), 0);
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RFLAGS, &s->rflags), 0);
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RIP, &s->rip), 0);
}

static uint64_t reg(int name)
{
	uint64_t v;
	cr_assert_eq(vm_get_register(vm, 0, name, &v), 0);
	return v;
}

/* ---- the machine --------------------------------------------------------------------- */

static void seg(int name, uint16_t sel, uint64_t base, uint32_t limit, uint32_t access)
{
	struct seg_desc d = {base, limit, access};
	cr_assert_eq(vm_set_seg_desc(vm, 0, name, &d), 0);
	cr_assert_eq(vm_set_register(vm, 0, name, sel), 0);
}

static void data_segs(uint16_t sel, uint32_t limit, uint32_t access)
{
	seg(VM_REG_GUEST_SS, sel, 0, limit, access);
	seg(VM_REG_GUEST_DS, sel, 0, limit, access);
	seg(VM_REG_GUEST_ES, sel, 0, limit, access);
	seg(VM_REG_GUEST_FS, sel, 0, limit, access);
	seg(VM_REG_GUEST_GS, sel, 0, limit, access);
}

static void create(const char *model)
{
	struct vm_config cfg = {.cpu_model = model};
	cr_assert_eq(vm_create("gp-modes", &cfg, &vm), 0);
	cr_assert_eq(vm_malloc(vm, 0, RAM), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
	/* Handlers: OUT 0xA0+k, AL for vector k. */
	for (unsigned k = 0; k < 32; k++) {
		uint8_t h[2] = {0xe6, (uint8_t)(PORT_EXC + k)};
		put(HANDLERS + 2 * k, h, 2);
	}
	put64(GDT + SEL_CODE32, 0x00cf9b000000ffffull);
	put64(GDT + SEL_DATA32, 0x00cf93000000ffffull);
	put64(GDT + SEL_CODE16, 0x00009b000000ffffull);
	put64(GDT + SEL_DATA16, 0x000093000000ffffull);
	put64(GDT + SEL_CODE64, 0x00af9b000000ffffull);
	/* Paging for IA-32e mode: 2 MiB pages at 0, 4 and 6 MiB, 4 KiB pages
	 * for 2..4 MiB with HOLE not present. */
	put64(PML4, PDPT | 3);
	put64(PDPT, PD | 3);
	put64(PD, 0x83);
	put64(PD + 8, PT | 3);
	put64(PD + 16, 0x400000 | 0x83);
	put64(PD + 24, 0x600000 | 0x83);
	for (uint64_t k = 0; k < 512; k++) {
		uint64_t pa = 0x200000 + (k << 12);
		put64(PT + k * 8, pa == HOLE ? 0 : pa | 3);
	}
}

static void teardown(void)
{
	if (vm)
		vm_destroy(vm);
	vm = NULL;
}

/* The IDT for the mode: IVT entries, 8-byte 32-bit interrupt gates to
 * SEL_CODE32, or 16-byte 64-bit gates to SEL_CODE64 (SDM vol. 3 6.11,
 * 6.14.1). */
static void install_idt(enum mode m)
{
	struct seg_desc idtr = {0, 0x3ff, 0};
	for (unsigned k = 0; k < 32; k++) {
		uint64_t h = HANDLERS + 2 * k;
		if (m == M_REAL) {
			put32(4 * k, (uint32_t)h); /* offset, segment 0 */
		} else if (m == M_PROT16 || m == M_PROT32) {
			put64(IDT + 8 * k, (h & 0xffff) | (uint64_t)SEL_CODE32 << 16 |
			                       (uint64_t)0x8e00 << 32 | (h >> 16) << 48);
		} else {
			put64(IDT + 16 * k, (h & 0xffff) | (uint64_t)SEL_CODE64 << 16 |
			                        (uint64_t)0x8e00 << 32 | (h >> 16) << 48);
			put64(IDT + 16 * k + 8, h >> 32);
		}
	}
	if (m != M_REAL) {
		idtr.base = IDT;
		idtr.limit = m >= M_COMPAT16 ? 16 * 32 - 1 : 8 * 32 - 1;
	}
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idtr), 0);
}

/* Enter mode m at CPL 0, flat segments (base 0; 64 KiB limits for 16-bit
 * data segments), on a fresh VM of the given CPU model (NULL: default). */
static void machine_model(enum mode m, const char *model)
{
	create(model);
	cur_mode = m;
	struct seg_desc gdtr = {GDT, 0x2f, 0};
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_GDTR, &gdtr), 0);
	if (m == M_REAL) {
		cr_assert_eq(guest_set_real_mode_entry(vm, 0, CODE), 0);
	} else if (m == M_PROT16 || m == M_PROT32) {
		vm_set_register(vm, 0, VM_REG_GUEST_EFER, 0);
		vm_set_register(vm, 0, VM_REG_GUEST_CR4, 0);
		vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x11); /* PE ET */
		if (m == M_PROT16) {
			seg(VM_REG_GUEST_CS, SEL_CODE16, 0, 0xffff, 0x9b);
			data_segs(SEL_DATA16, 0xffff, 0x93);
		} else {
			seg(VM_REG_GUEST_CS, SEL_CODE32, 0, 0xffffffff, 0xc09b);
			data_segs(SEL_DATA32, 0xffffffff, 0xc093);
		}
	} else {
		vm_set_register(vm, 0, VM_REG_GUEST_CR3, PML4);
		vm_set_register(vm, 0, VM_REG_GUEST_CR4, 0x20);       /* PAE */
		vm_set_register(vm, 0, VM_REG_GUEST_EFER, 0x500);     /* LME LMA */
		vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x80000011); /* PG PE ET */
		if (m == M_LONG64)
			seg(VM_REG_GUEST_CS, SEL_CODE64, 0, 0xffffffff, 0xa09b);
		else if (m == M_COMPAT32)
			seg(VM_REG_GUEST_CS, SEL_CODE32, 0, 0xffffffff, 0xc09b);
		else
			seg(VM_REG_GUEST_CS, SEL_CODE16, 0, 0xffff, 0x9b);
		if (m == M_COMPAT16)
			data_segs(SEL_DATA16, 0xffff, 0x93);
		else
			data_segs(SEL_DATA32, 0xffffffff, 0xc093);
	}
	install_idt(m);
	cr_assert_eq(vm_get_seg_desc(vm, 0, VM_REG_GUEST_CS, &cs_desc), 0);
	cs_sel = reg(VM_REG_GUEST_CS);
}

static void machine(enum mode m)
{
	machine_model(m, NULL);
}

TestSuite(gp, .fini = teardown);

/* ---- running code ------------------------------------------------------------------------ */

struct outcome {
	struct regs s;  /* the registers at the exit */
	int vector;     /* -1: the code completed; else the exception raised */
	uint64_t frame; /* linear address of the exception frame (the final rSP) */
};

#define DEFAULT_SP UINT64_C(0x8000)

/* Run 'code' (n bytes at CODE, followed by OUT 0x80, AL) from *in, with CS
 * as machine() set it and rSP = DEFAULT_SP when in's is 0. */
static struct outcome run(const uint8_t *code, unsigned n, const struct regs *in)
{
	uint8_t buf[128];
	cr_assert_leq(n, sizeof(buf) - 2);
	memcpy(buf, code, n);
	buf[n] = 0xe6;
	buf[n + 1] = PORT_DONE;
	put(CODE, buf, n + 2);
	struct regs start = *in;
	if (start.r[RSP] == 0)
		start.r[RSP] = DEFAULT_SP;
	set_regs(&start);
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_CS, &cs_desc), 0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_CS, cs_sel), 0);
	cr_assert_eq(vm_set_insn_limit(vm, 0, 100000), 0);
	struct vm_run r = {.cpuid = 0, .rip = CODE};
	cr_assert_eq(vm_run(vm, &r), 0);
	struct vm_exit *e = &r.vm_exit;
	cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "%s: exit %d at rip %#" PRIx64,
	             mode_name[cur_mode], e->exitcode, e->rip);
	struct outcome o = {.vector = -1};
	get_regs(&o.s);
	if (e->u.inout.port == PORT_DONE) {
		cr_assert_eq(e->rip, CODE + n, "%s: OUT at %#" PRIx64 ", expected %#" PRIx64,
		             mode_name[cur_mode], e->rip, CODE + n);
	} else {
		cr_assert(e->u.inout.port >= PORT_EXC && e->u.inout.port < PORT_EXC + 32,
		          "%s: unexpected OUT to %#x", mode_name[cur_mode], e->u.inout.port);
		o.vector = e->u.inout.port - PORT_EXC;
		uint64_t ss_base = 0;
		if (cur_mode == M_REAL) {
			struct seg_desc d;
			cr_assert_eq(vm_get_seg_desc(vm, 0, VM_REG_GUEST_SS, &d), 0);
			ss_base = d.base;
		}
		uint64_t sp = o.s.r[RSP];
		if (cur_mode == M_REAL || cur_mode == M_PROT16 || cur_mode == M_COMPAT16)
			sp &= cur_mode == M_COMPAT16 ? ~0ull : 0xffff;
		o.frame = ss_base + sp;
	}
	return o;
}

#define RUN(in, ...)                                                                               \
	({                                                                                         \
		static const uint8_t code_[] = {__VA_ARGS__};                                      \
		run(code_, sizeof(code_), (in));                                                   \
	})

static void expect_done(const struct outcome *o)
{
	cr_assert_eq(o->vector, -1, "%s: vector %d raised", mode_name[cur_mode], o->vector);
}

/* The faulting IP the exception frame holds, and the error code if any. */
static uint64_t frame_ip(const struct outcome *o, bool has_error)
{
	unsigned w = cur_mode == M_REAL ? 2 : cur_mode >= M_COMPAT16 ? 8 : 4;
	return get_n(o->frame + (has_error ? w : 0), w);
}

/* An exception at the first instruction (CODE), everything but rSP (the
 * frame) unchanged, nothing retired that changed a register. */
static void expect_fault_at(const struct outcome *o, int vector, bool has_error,
                            const struct regs *in, uint64_t ip)
{
	cr_assert_eq(o->vector, vector, "%s: vector %d, expected %d", mode_name[cur_mode],
	             o->vector, vector);
	cr_expect_eq(frame_ip(o, has_error), ip, "%s: faulting IP %#" PRIx64 ", expected %#" PRIx64,
	             mode_name[cur_mode], frame_ip(o, has_error), ip);
	for (int k = 0; k < 16; k++)
		if (k != RSP)
			cr_expect_eq(o->s.r[k], in->r[k],
			             "%s: register %d changed to %#" PRIx64 " from %#" PRIx64,
			             mode_name[cur_mode], k, o->s.r[k], in->r[k]);
}

#define EXPECT_R(o, k, want)                                                                       \
	cr_expect_eq((o).s.r[k], (uint64_t)(want),                                                 \
	             "%s: " #k " = %#" PRIx64 ", expected %#" PRIx64, mode_name[cur_mode],         \
	             (o).s.r[k], (uint64_t)(want))
#define EXPECT_FLAGS(o, mask, want)                                                                \
	cr_expect_eq((o).s.rflags &(mask), (uint64_t)(want),                                       \
	             "%s: RFLAGS & %#" PRIx64 " = %#" PRIx64 ", expected %#" PRIx64,               \
	             mode_name[cur_mode], (uint64_t)(mask), (o).s.rflags &(mask),                  \
	             (uint64_t)(want))
#define EXPECT_MEM(gpa, n, want)                                                                   \
	cr_expect_eq(get_n((gpa), (n)), (uint64_t)(want),                                          \
	             "%s: %u bytes at %#" PRIx64 " = %#" PRIx64 ", expected %#" PRIx64,            \
	             mode_name[cur_mode], (unsigned)(n), (uint64_t)(gpa), get_n((gpa), (n)),       \
	             (uint64_t)(want))

/* One Test per mode from one body: NAME_real, NAME_prot16, ... */
#define PER_MODE(name)                                                                             \
	static void name(enum mode m);                                                             \
	Test(gp, name##_real)                                                                      \
	{                                                                                          \
		name(M_REAL);                                                                      \
	}                                                                                          \
	Test(gp, name##_prot16)                                                                    \
	{                                                                                          \
		name(M_PROT16);                                                                    \
	}                                                                                          \
	Test(gp, name##_prot32)                                                                    \
	{                                                                                          \
		name(M_PROT32);                                                                    \
	}                                                                                          \
	Test(gp, name##_compat16)                                                                  \
	{                                                                                          \
		name(M_COMPAT16);                                                                  \
	}                                                                                          \
	Test(gp, name##_compat32)                                                                  \
	{                                                                                          \
		name(M_COMPAT32);                                                                  \
	}                                                                                          \
	Test(gp, name##_long64)                                                                    \
	{                                                                                          \
		name(M_LONG64);                                                                    \
	}                                                                                          \
	static void name(enum mode m)

/* Operand/address size of the mode's code without prefixes. */
static unsigned code_size(enum mode m)
{
	return m == M_REAL || m == M_PROT16 || m == M_COMPAT16 ? 2 : m == M_LONG64 ? 8 : 4;
}

/* Stack-address size (SS.B, or 64 in 64-bit mode). */
static unsigned stack_size(enum mode m)
{
	return m == M_LONG64 ? 8 : m == M_REAL || m == M_PROT16 || m == M_COMPAT16 ? 2 : 4;
}

static uint64_t mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* Base of DS (and ES/FS where a test says) for data at DATA: 16-bit
 * addressing cannot reach DATA from a zero base, so those modes move DS. */
static bool addr16(enum mode m)
{
	return code_size(m) == 2;
}

static void set_seg_base(int name, uint64_t base)
{
	struct seg_desc d;
	cr_assert_eq(vm_get_seg_desc(vm, 0, name, &d), 0);
	d.base = base;
	cr_assert_eq(vm_set_seg_desc(vm, 0, name, &d), 0);
}

static void set_seg_limit(int name, uint32_t limit)
{
	struct seg_desc d;
	cr_assert_eq(vm_get_seg_desc(vm, 0, name, &d), 0);
	d.limit = limit;
	cr_assert_eq(vm_set_seg_desc(vm, 0, name, &d), 0);
}

/* ---- CLC STC CMC CLD STD (SDM vol. 2A CLC, STC, CMC, CLD, STD) ------------------------------
 * Each changes only its flag; CMC complements CF as the last arithmetic
 * instruction left it (here ADD AL, 0FFH with AL = 1: 0x100, so CF ZF AF
 * PF set, SF OF clear). */
PER_MODE(flag_bits)
{
	machine(m);
	struct regs in = {.r = {[RAX] = 0x01}};
	/* add al, 0xff; cmc; std */
	struct outcome o = RUN(&in, 0x04, 0xff, 0xf5, 0xfd);
	expect_done(&o);
	EXPECT_R(o, RAX, 0);
	EXPECT_FLAGS(o, F_ARITH | F_DF, F_ZF | F_AF | F_PF | F_DF);
	/* stc; cld; cmc; cmc from DF OF SF: CF ends set, DF clear, OF SF kept. */
	in.rflags = F_DF | F_OF | F_SF;
	o = RUN(&in, 0xf9, 0xfc, 0xf5, 0xf5);
	expect_done(&o);
	EXPECT_FLAGS(o, F_ARITH | F_DF, F_CF | F_OF | F_SF);
	/* clc from every arithmetic flag set. */
	in.rflags = F_ARITH;
	o = RUN(&in, 0xf8);
	expect_done(&o);
	EXPECT_FLAGS(o, F_ARITH | F_DF, F_ARITH & ~F_CF);
}

/* ---- SALC (D6, undocumented): AL <- CF ? FFH : 00H, flags unchanged; #UD in
 * 64-bit mode (AMD APM opcode map: "invalid in 64-bit mode"). */
PER_MODE(salc)
{
	machine(m);
	struct regs in = {.r = {[RAX] = 0x55667788, [RBX] = 0x11223344}, .rflags = F_ZF};
	/* stc; salc; mov bl, al; clc; salc */
	struct outcome o = RUN(&in, 0xf9, 0xd6, 0x88, 0xc3, 0xf8, 0xd6);
	if (m == M_LONG64) {
		/* STC retired; D6 faults with RIP at it. */
		cr_assert_eq(o.vector, 6);
		cr_expect_eq(frame_ip(&o, false), CODE + 1);
		EXPECT_R(o, RAX, 0x55667788);
		return;
	}
	expect_done(&o);
	EXPECT_R(o, RAX, 0x55667700);
	EXPECT_R(o, RBX, 0x112233ff);
	EXPECT_FLAGS(o, F_ARITH, F_ZF);
}

/* ---- XLAT (SDM vol. 2B XLAT/XLATB): AL <- seg:[rBX + ZeroExtend(AL)] at the
 * address size; DS unless overridden. ------------------------------------- */

static void xlat_tables(void)
{
	uint8_t t[256];
	for (unsigned k = 0; k < 256; k++)
		t[k] = (uint8_t)(k ^ 0x5a);
	put(DATA, t, 256);
	for (unsigned k = 0; k < 256; k++)
		t[k] = (uint8_t)(k ^ 0xc3);
	put(DATA + 0x1000, t, 256);
}

PER_MODE(xlat)
{
	machine(m);
	xlat_tables();
	/* DS based at DATA outside 64-bit mode (where DS has no base); FS at
	 * DATA + 0x1000 in every mode. */
	uint64_t off = m == M_LONG64 ? DATA : 0;
	if (m != M_LONG64)
		set_seg_base(VM_REG_GUEST_DS, DATA);
	set_seg_base(VM_REG_GUEST_FS, DATA + 0x1000);
	struct regs in = {0};
	struct outcome o;
	if (addr16(m)) {
		/* BX + AL = 0xFFF0 + 0x20 wraps to 0x0010: T[0x10] = 0x4A. */
		in.r[RBX] = 0xfff0;
		in.r[RAX] = 0x20;
		o = RUN(&in, 0xd7);
		expect_done(&o);
		EXPECT_R(o, RAX, 0x4a);
		/* 67: EBX + AL = 0x80 + 0x7F = 0xFF: T[0xFF] = 0xA5. */
		in.r[RBX] = 0x80;
		in.r[RAX] = 0x7f;
		o = RUN(&in, 0x67, 0xd7);
	} else if (m == M_LONG64) {
		in.r[RBX] = DATA + 0x80;
		in.r[RAX] = 0x7f;
		o = RUN(&in, 0xd7);
		expect_done(&o);
		EXPECT_R(o, RAX, 0xa5);
		/* 67: EBX only, the upper half of RBX ignored. */
		in.r[RBX] = 0xffffffff00000000ull | (DATA + 0x80);
		o = RUN(&in, 0x67, 0xd7);
	} else {
		in.r[RBX] = 0x80;
		in.r[RAX] = 0x7f;
		o = RUN(&in, 0xd7);
		expect_done(&o);
		EXPECT_R(o, RAX, 0xa5);
		/* 67: BX only, EBX's upper half ignored. */
		in.r[RBX] = 0xabcd0080;
		o = RUN(&in, 0x67, 0xd7);
	}
	expect_done(&o);
	EXPECT_R(o, RAX, 0xa5);
	/* FS: table 2, T2[0xFF] = 0x3C; RAX's other bytes kept. */
	in.r[RBX] = 0x80;
	in.r[RAX] = 0x1234567f;
	o = RUN(&in, 0x64, 0xd7);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x1234563c);
	(void)off;
}

Test(gp, xlat_real_mode_address_override_past_the_limit_is_gp)
{
	/* 67 D7 with EBX = 0x1FFF0: offset 0x20010 is outside DS's 64 KiB limit
	 * (SDM XLAT, "Real-Address Mode Exceptions": #GP). */
	machine(M_REAL);
	struct regs in = {.r = {[RBX] = 0x1fff0, [RAX] = 0x20}, .rflags = 0};
	in.r[RSP] = 0x8000;
	struct outcome o = RUN(&in, 0x67, 0xd7);
	expect_fault_at(&o, 13, false, &in, CODE);
}

/* ---- LOOP, LOOPE, LOOPNE, JCXZ/JECXZ/JRCXZ (SDM vol. 2A LOOP/LOOPcc, Jcc):
 * the count register is CX, ECX or RCX by address size (67 switches it);
 * a 16-bit count keeps ECX's upper half, a 32-bit count in 64-bit mode is
 * zero-extended into RCX (checked on an Intel host: 67 E2 with RCX =
 * FFFFFFFF00000005 leaves 4). ------------------------------------------------ */

struct loop_case {
	uint8_t op;      /* E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JrCXZ */
	bool alt;        /* with 67 */
	uint64_t rcx;    /* in */
	uint64_t rflags; /* in */
};

/* The expected outcome worked out from the SDM for address size as. */
static void loop_expect(const struct loop_case *k, unsigned as, bool is64, bool *taken,
                        uint64_t *rcx)
{
	uint64_t cnt = k->rcx & mask(as);
	bool zf = (k->rflags & F_ZF) != 0;
	if (k->op == 0xe3) {
		*taken = cnt == 0;
		*rcx = k->rcx;
		return;
	}
	cnt = (cnt - 1) & mask(as);
	*taken = cnt != 0 && (k->op == 0xe2 || (k->op == 0xe1 ? zf : !zf));
	if (as == 2)
		*rcx = (k->rcx & ~0xffffull) | cnt;
	else if (as == 4)
		*rcx = is64 ? cnt : (k->rcx & ~0xffffffffull) | cnt;
	else
		*rcx = cnt;
}

PER_MODE(loop_family)
{
	machine(m);
	const unsigned as = code_size(m), alt = as == 4 ? 2 : 4;
	/* Upper halves of RCX stay 0 outside 64-bit mode, where bits 63:32 are
	 * not visible to the guest. */
	const uint64_t hi = m == M_LONG64 ? 0x5555555500000000ull : 0;
	const struct loop_case cases[] = {
	    {0xe2, false, hi | 0x00010001, 0},
	    {0xe2, true, hi | 0x00010001, 0},
	    {0xe2, false, hi | 0x00000001, 0},
	    {0xe2, true, hi | 0x00000001, 0},
	    {0xe2, false, hi | 0x00010000, 0},
	    {0xe2, true, hi | 0x00010000, 0},
	    {0xe1, false, hi | 0x00000005, F_ZF},
	    {0xe1, false, hi | 0x00000005, 0},
	    {0xe1, true, hi | 0x00020002, F_ZF},
	    {0xe0, false, hi | 0x00000005, F_ZF},
	    {0xe0, false, hi | 0x00000005, 0},
	    {0xe0, true, hi | 0x00020001, 0},
	    {0xe3, false, hi | 0x00010000, 0},
	    {0xe3, true, hi | 0x00010000, 0},
	    {0xe3, false, hi, 0},
	    {0xe3, true, hi, 0},
	};
	for (unsigned n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
		const struct loop_case *k = &cases[n];
		/* insn +2; mov dl, 1: DL = 0 when the branch was taken. */
		uint8_t code[5];
		unsigned len = 0;
		if (k->alt)
			code[len++] = 0x67;
		code[len++] = k->op;
		code[len++] = 2;
		code[len++] = 0xb2;
		code[len++] = 0x01;
		struct regs in = {.r = {[RCX] = k->rcx}, .rflags = k->rflags};
		struct outcome o = run(code, len, &in);
		expect_done(&o);
		bool taken;
		uint64_t rcx;
		loop_expect(k, k->alt ? (m == M_LONG64 ? 4 : alt) : as, m == M_LONG64, &taken,
		            &rcx);
		cr_expect_eq(o.s.r[RDX], taken ? 0u : 1u, "%s: case %u (%02x%s) %s", mode_name[m],
		             n, k->op, k->alt ? " with 67" : "", taken ? "not taken" : "taken");
		cr_expect_eq(o.s.r[RCX], rcx, "%s: case %u: RCX %#" PRIx64 ", expected %#" PRIx64,
		             mode_name[m], n, o.s.r[RCX], rcx);
		EXPECT_FLAGS(o, F_ARITH, k->rflags);
	}
}

Test(gp, loop_target_wraps_at_64k_in_real_mode)
{
	/* CS = 0x0100 (base 0x1000); LOOP at IP 0xFFFC, rel8 +0x0E: the next IP
	 * 0xFFFE + 0x0E = 0x1000C, and a 16-bit operand keeps its low 16 bits
	 * (SDM LOOP: "EIP <- (EIP + SignExtend(DEST)) AND 0000FFFFH"): 0x000C. */
	machine(M_REAL);
	seg(VM_REG_GUEST_CS, 0x0100, 0x1000, 0xffff, 0x9b);
	static const uint8_t loop[] = {0xe2, 0x0e};
	static const uint8_t out[] = {0xe6, PORT_DONE};
	put(0x1000 + 0xfffc, loop, 2);
	put(0x1000 + 0x000c, out, 2);
	struct regs in = {.r = {[RCX] = 2}};
	set_regs(&in);
	struct vm_run r = {.cpuid = 0, .rip = 0xfffc};
	cr_assert_eq(vm_set_insn_limit(vm, 0, 100), 0);
	cr_assert_eq(vm_run(vm, &r), 0);
	cr_assert_eq(r.vm_exit.exitcode, VM_EXITCODE_INOUT);
	cr_expect_eq(r.vm_exit.u.inout.port, PORT_DONE);
	cr_expect_eq(r.vm_exit.rip, 0x000c);
	cr_expect_eq(reg(VM_REG_GUEST_RCX), 1);
}

/* ---- ENTER (SDM vol. 2A ENTER, "Operation") --------------------------------------------------
 * With operand size s, stack-address size t, level L = imm8 MOD 32 and
 * SP0/BP0 the stack and frame pointers before:
 *   [SP0 - s] = BP0; FrameTemp = SP0 - s (at the operand size: SP, ESP,
 *   RSP; RSP in 64-bit mode whatever s);
 *   for k = 1 .. L-1: [SP0 - s - k*s] = [BP0 - k*s] (rBP stepped at t);
 *   for L >= 1: [SP0 - s - L*s] = FrameTemp;
 *   rBP = FrameTemp (BP, EBP, RBP), rSP = final - AllocSize at t.
 * Checked on an Intel host in 64-bit mode for 66 C8 (16-bit operand):
 * RBP receives the whole RSP, the copies step RBP by 2. */

#define ENTER_SP UINT64_C(0x8000)
#define ENTER_BP UINT64_C(0x9000)

static uint64_t frame_pattern(uint64_t gpa)
{
	uint64_t v = 0;
	for (unsigned b = 0; b < 8; b++)
		v |= (uint64_t)(uint8_t)((gpa + b) * 7 + 0x31) << (8 * b);
	return v;
}

/* The s bytes frame_pattern put at x. */
static uint64_t pattern_at(uint64_t x, unsigned s)
{
	uint64_t v = 0;
	for (unsigned b = 0; b < s; b++)
		v |= (uint64_t)(uint8_t)((x + b) * 7 + 0x31) << (8 * b);
	return v;
}

static void enter_case(enum mode m, bool o66, unsigned imm8)
{
	const unsigned t = stack_size(m);
	const unsigned s = m == M_LONG64 ? (o66 ? 2 : 8) : (code_size(m) == 2) != o66 ? 2 : 4;
	const unsigned level = imm8 & 31, alloc = 0x10;
	/* The caller frame's contents: a pattern that names its address. */
	for (uint64_t a = ENTER_BP - 0x100; a < ENTER_BP + 8; a += 8)
		put64(a, frame_pattern(a));
	/* 16-bit stacks: EBP's upper half must survive a 16-bit operand. */
	uint64_t bp0 = t == 2 ? 0x56780000 | ENTER_BP : ENTER_BP;
	struct regs in = {.r = {[RSP] = ENTER_SP, [RBP] = bp0}};
	uint8_t code[5];
	unsigned len = 0;
	if (o66)
		code[len++] = 0x66;
	code[len++] = 0xc8;
	code[len++] = alloc;
	code[len++] = 0;
	code[len++] = (uint8_t)imm8;
	struct outcome o = run(code, len, &in);
	expect_done(&o);
	uint64_t sp1 = ENTER_SP - s;
	EXPECT_MEM(sp1, s, bp0 & mask(s));
	for (unsigned k = 1; k < level; k++)
		EXPECT_MEM(sp1 - k * s, s, pattern_at(ENTER_BP - k * s, s));
	uint64_t sp = sp1;
	if (level > 0) {
		EXPECT_MEM(sp1 - level * s, s, sp1 & mask(s));
		sp = sp1 - level * s;
	}
	sp -= alloc;
	cr_expect_eq(o.s.r[RSP], sp, "%s%s level %u: RSP %#" PRIx64 ", expected %#" PRIx64,
	             mode_name[m], o66 ? " 66" : "", imm8, o.s.r[RSP], sp);
	uint64_t bp = m == M_LONG64 ? sp1 : s == 2 ? (bp0 & ~0xffffull) | sp1 : sp1;
	cr_expect_eq(o.s.r[RBP], bp, "%s%s level %u: RBP %#" PRIx64 ", expected %#" PRIx64,
	             mode_name[m], o66 ? " 66" : "", imm8, o.s.r[RBP], bp);
}

PER_MODE(enter_levels)
{
	static const unsigned levels[] = {0, 1, 2, 3, 7, 31, 32, 33, 255};
	for (unsigned o66 = 0; o66 < 2; o66++) {
		for (unsigned n = 0; n < sizeof(levels) / sizeof(levels[0]); n++) {
			machine(m);
			enter_case(m, o66, levels[n]);
			teardown();
		}
	}
}

Test(gp, enter_32bit_operand_on_a_16bit_stack_takes_the_whole_esp)
{
	/* Real mode, 66 C8 08 00 01, ESP = ABCD8100, EBP = 11110200: Push(EBP)
	 * at SP = 80FC (SP alone moves: 16-bit stack); FrameTemp = ESP =
	 * ABCD80FC; level 1 pushes it at 80F8; EBP = ABCD80FC; SP = 80F8 - 8. */
	machine(M_REAL);
	struct regs in = {.r = {[RSP] = 0xabcd8100, [RBP] = 0x11110200}};
	struct outcome o = RUN(&in, 0x66, 0xc8, 0x08, 0x00, 0x01);
	expect_done(&o);
	EXPECT_MEM(0x80fc, 4, 0x11110200);
	EXPECT_MEM(0x80f8, 4, 0xabcd80fc);
	EXPECT_R(o, RBP, 0xabcd80fc);
	EXPECT_R(o, RSP, 0xabcd80f0);
}

Test(gp, enter_wraps_a_16bit_stack_and_frame_pointer)
{
	/* Real mode, SS = 0x1000 (base 0x10000), SP = 0x0004, BP = 0x0002,
	 * C8 04 00 03: Push(BP) at 0002; FrameTemp = 0002; BP - 2 = 0000: its
	 * word goes to 0000; BP - 4 = FFFE (wrapped): its word to FFFE;
	 * FrameTemp to FFFC; SP = FFFC - 4 = FFF8; BP = 0002. */
	machine(M_REAL);
	seg(VM_REG_GUEST_SS, 0x1000, 0x10000, 0xffff, 0x93);
	put16(0x10000, 0x1111);
	put16(0x1fffe, 0x2222);
	struct regs in = {.r = {[RSP] = 0x0004, [RBP] = 0x0002}};
	struct outcome o = RUN(&in, 0xc8, 0x04, 0x00, 0x03);
	expect_done(&o);
	EXPECT_MEM(0x10002, 2, 0x0002);
	EXPECT_MEM(0x10000, 2, 0x1111);
	EXPECT_MEM(0x1fffe, 2, 0x2222);
	EXPECT_MEM(0x1fffc, 2, 0x0002);
	EXPECT_R(o, RSP, 0xfff8);
	EXPECT_R(o, RBP, 0x0002);
}

Test(gp, enter_faults_when_the_final_stack_pointer_is_not_writable_long64)
{
	/* SDM ENTER, "64-Bit Mode Exceptions": #PF "if a write using the final
	 * value of the stack pointer ... would cause a page fault".  RSP =
	 * HOLE + 0x1100: Push(RBP) lands at HOLE + 0x10F8 (present), the final
	 * RSP HOLE + 0xEF8 is in the hole: #PF, error code W (2), CR2 = that
	 * address, RSP and RBP as before, RIP at the ENTER. */
	machine(M_LONG64);
	struct regs in = {.r = {[RSP] = HOLE + 0x1100, [RBP] = 0x9000}};
	struct outcome o = RUN(&in, 0xc8, 0x00, 0x02, 0x00);
	expect_fault_at(&o, 14, true, &in, CODE);
	cr_expect_eq(get_n(o.frame, 8), 2, "error code %#" PRIx64, get_n(o.frame, 8));
	cr_expect_eq(reg(VM_REG_GUEST_CR2), HOLE + 0xef8);
	cr_expect_eq(get_n(o.frame + 32, 8), HOLE + 0x1100, "RSP in the frame");
}

Test(gp, enter_faults_when_the_final_stack_pointer_is_past_the_limit_prot16)
{
	/* SDM ENTER, "Protected Mode Exceptions": #SS(0) "if the new value of
	 * the SP or ESP register is outside the stack segment limit".  SS limit
	 * 0FFF, SP = 0010: Push(BP) at 000E; the final SP 000E - 20 = FFEE is
	 * past the limit: #SS(0), SP and BP as before. */
	machine(M_PROT16);
	set_seg_limit(VM_REG_GUEST_SS, 0x0fff);
	struct regs in = {.r = {[RSP] = 0x0010, [RBP] = 0x0800}};
	struct outcome o = RUN(&in, 0xc8, 0x20, 0x00, 0x00);
	expect_fault_at(&o, 12, true, &in, CODE);
	cr_expect_eq(get_n(o.frame, 4), 0, "error code");
	cr_expect_eq(o.frame, 0x0010 - 16, "the frame is pushed from the restored SP");
}

/* ---- LEAVE (SDM vol. 2A LEAVE): rSP <- rBP at the stack-address size, then
 * rBP <- Pop() at the operand size (BP keeps the upper bits). ------------------ */

PER_MODE(leave)
{
	for (unsigned o66 = 0; o66 < 2; o66++) {
		machine(m);
		const unsigned t = stack_size(m);
		const unsigned s = m == M_LONG64                ? (o66 ? 2 : 8)
		                   : (code_size(m) == 2) != o66 ? 2
		                                                : 4;
		put64(0x9000, 0x8877665544332211ull);
		uint64_t sp0 = t == 2 ? 0x55550100 : 0x0100, bp0 = t == 2 ? 0x66669000 : 0x9000;
		struct regs in = {.r = {[RSP] = sp0, [RBP] = bp0}};
		struct outcome o = o66 ? RUN(&in, 0x66, 0xc9) : RUN(&in, 0xc9);
		expect_done(&o);
		uint64_t sp = t == 2 ? (sp0 & ~0xffffull) | ((bp0 + s) & 0xffff) : 0x9000 + s;
		uint64_t bp = s == 2   ? (bp0 & ~0xffffull) | 0x2211
		              : s == 4 ? 0x44332211
		                       : 0x8877665544332211ull;
		cr_expect_eq(o.s.r[RSP], sp, "%s%s: RSP %#" PRIx64 ", expected %#" PRIx64,
		             mode_name[m], o66 ? " 66" : "", o.s.r[RSP], sp);
		cr_expect_eq(o.s.r[RBP], bp, "%s%s: RBP %#" PRIx64 ", expected %#" PRIx64,
		             mode_name[m], o66 ? " 66" : "", o.s.r[RBP], bp);
		teardown();
	}
}

/* ---- PUSH rSP, POP rSP, POP/PUSH [rSP+disp] (SDM vol. 2B PUSH, POP) -------------------------
 * PUSH SP pushes the value before the decrement; POP SP: the popped value
 * wins over the increment; POP [rSP+d]: the address is computed after the
 * increment ("If the ESP register is used as a base register for
 * addressing a destination operand in memory, the POP instruction computes
 * the effective address of the operand after it increments the ESP"). */

PER_MODE(push_pop_stack_pointer)
{
	machine(m);
	const unsigned s = code_size(m), t = stack_size(m);
	const uint64_t sp0 = 0x8000;
	/* push rSP */
	struct regs in = {.r = {[RSP] = sp0}};
	struct outcome o = RUN(&in, 0x54);
	expect_done(&o);
	EXPECT_MEM(sp0 - s, s, sp0);
	EXPECT_R(o, RSP, sp0 - s);
	/* 66 push rSP: the other operand size (16 in 64-bit mode). */
	unsigned s66 = s == 2 ? 4 : 2;
	put64(sp0 - 8, 0);
	o = RUN(&in, 0x66, 0x54);
	expect_done(&o);
	EXPECT_MEM(sp0 - s66, s66, sp0);
	EXPECT_R(o, RSP, sp0 - s66);
	/* pop rSP: [SP0] = 0x...6A34 becomes rSP. */
	put64(sp0, 0x1122334455666a34ull);
	in.r[RSP] = t == 2 ? 0x77770000 | sp0 : sp0;
	o = RUN(&in, 0x5c);
	expect_done(&o);
	EXPECT_R(o, RSP, s == 2 ? 0x77776a34 : s == 4 ? 0x55666a34 : 0x1122334455666a34ull);
	/* pop [rSP+4] (67 in 16-bit code for the SIB form): pops s bytes, then
	 * writes them at the incremented rSP + 4. */
	in.r[RSP] = sp0;
	put64(sp0 + 8, 0);
	put64(sp0 + 16, 0);
	o = addr16(m) ? RUN(&in, 0x67, 0x8f, 0x44, 0x24, 0x04) : RUN(&in, 0x8f, 0x44, 0x24, 0x04);
	expect_done(&o);
	EXPECT_R(o, RSP, sp0 + s);
	EXPECT_MEM(sp0 + s + 4, s, 0x1122334455666a34ull & mask(s));
	/* push [rSP]: the value at the old rSP. */
	o = addr16(m) ? RUN(&in, 0x67, 0xff, 0x34, 0x24) : RUN(&in, 0xff, 0x34, 0x24);
	expect_done(&o);
	EXPECT_R(o, RSP, sp0 - s);
	EXPECT_MEM(sp0 - s, s, 0x1122334455666a34ull & mask(s));
}

/* ---- PUSHA/POPA (SDM vol. 2B PUSHA/PUSHAD, POPA/POPAD): AX CX DX BX SP
 * (the original) BP SI DI; POPA skips the SP slot; #UD in 64-bit mode. ---------- */

PER_MODE(pusha_popa)
{
	machine(m);
	const uint64_t sp0 = 0x8000;
	struct regs in = {0};
	for (unsigned k = 0; k < 8; k++)
		in.r[k] = 0x10203040u + k * 0x01010101u;
	in.r[RSP] = sp0;
	struct outcome o = RUN(&in, 0x60);
	if (m == M_LONG64) {
		expect_fault_at(&o, 6, false, &in, CODE);
		o = RUN(&in, 0x61);
		expect_fault_at(&o, 6, false, &in, CODE);
		return;
	}
	for (unsigned o66 = 0; o66 < 2; o66++) {
		const unsigned s = (code_size(m) == 2) != o66 ? 2 : 4;
		o = o66 ? RUN(&in, 0x66, 0x60) : RUN(&in, 0x60);
		expect_done(&o);
		for (unsigned k = 0; k < 8; k++)
			EXPECT_MEM(sp0 - s * (k + 1), s, (k == RSP ? sp0 : in.r[k]) & mask(s));
		EXPECT_R(o, RSP, sp0 - 8 * s);
		/* POPA from a fresh image: DI SI BP (skip) BX DX CX AX. */
		struct regs p = {.r = {[RSP] = sp0}};
		for (unsigned k = 0; k < 8; k++)
			put(sp0 + s * (7 - k), &(uint64_t){0xa0b0c0d0u + k * 0x11111111u}, s);
		o = o66 ? RUN(&p, 0x66, 0x61) : RUN(&p, 0x61);
		expect_done(&o);
		for (unsigned k = 0; k < 8; k++)
			if (k != RSP)
				EXPECT_R(o, k, (0xa0b0c0d0u + k * 0x11111111u) & mask(s));
		EXPECT_R(o, RSP, sp0 + 8 * s);
	}
}

Test(gp, pusha_wraps_a_16bit_stack)
{
	/* Real mode, SS base 0x10000, SP = 0008: the eight words go to 0006,
	 * 0004, 0002, 0000, FFFE, FFFC, FFFA, FFF8; SP = FFF8. */
	machine(M_REAL);
	seg(VM_REG_GUEST_SS, 0x1000, 0x10000, 0xffff, 0x93);
	struct regs in = {0};
	for (unsigned k = 0; k < 8; k++)
		in.r[k] = 0x100 + k;
	in.r[RSP] = 0x0008;
	struct outcome o = RUN(&in, 0x60);
	expect_done(&o);
	static const uint16_t at[8] = {0x0006, 0x0004, 0x0002, 0x0000,
	                               0xfffe, 0xfffc, 0xfffa, 0xfff8};
	for (unsigned k = 0; k < 8; k++)
		EXPECT_MEM(0x10000 + at[k], 2, k == RSP ? 0x0008 : 0x100 + k);
	EXPECT_R(o, RSP, 0xfff8);
}

/* ---- 16-bit addressing wrap-around (SDM vol. 1 3.3.6 and 7.3.9.1; string
 * instructions use SI/DI/CX with a 16-bit address size and keep the upper
 * halves of ESI/EDI/ECX) ------------------------------------------------------------ */

PER_MODE(string_ops_wrap_16bit_indexes)
{
	machine(m);
	if (m == M_LONG64) {
		/* No 16-bit addressing; 67 selects ESI/EDI/ECX, and their writes
		 * zero-extend into RSI/RDI/RCX (SDM vol. 1 3.4.1.1). */
		put(0x20000, (const uint8_t[]){0xa1, 0xa2, 0xa3}, 3);
		struct regs in = {.r = {[RSI] = 0xffffffff00020000ull,
		                        [RDI] = 0xffffffff00040000ull,
		                        [RCX] = 0xffffffff00000003ull}};
		struct outcome o = RUN(&in, 0x67, 0xf3, 0xa4);
		expect_done(&o);
		EXPECT_MEM(0x40000, 3, 0xa3a2a1);
		EXPECT_R(o, RSI, 0x20003);
		EXPECT_R(o, RDI, 0x40003);
		EXPECT_R(o, RCX, 0);
		return;
	}
	set_seg_base(VM_REG_GUEST_DS, 0x20000);
	set_seg_base(VM_REG_GUEST_ES, 0x40000);
	put(0x2ffff, &(uint8_t){0xa1}, 1);
	put(0x20000, (const uint8_t[]){0xa2, 0xa3}, 2);
	/* rep movsb from SI = FFFF to DI = FFFE, CX = 3: DS:FFFF -> ES:FFFE,
	 * DS:0000 -> ES:FFFF, DS:0001 -> ES:0000; SI = 0002, DI = 0001, CX = 0,
	 * the upper halves unchanged. */
	struct regs in = {.r = {[RSI] = 0x1234ffff, [RDI] = 0x5678fffe, [RCX] = 0x9abc0003}};
	struct outcome o = addr16(m) ? RUN(&in, 0xf3, 0xa4) : RUN(&in, 0x67, 0xf3, 0xa4);
	expect_done(&o);
	EXPECT_MEM(0x4fffe, 1, 0xa1);
	EXPECT_MEM(0x4ffff, 1, 0xa2);
	EXPECT_MEM(0x40000, 1, 0xa3);
	EXPECT_R(o, RSI, 0x12340002);
	EXPECT_R(o, RDI, 0x56780001);
	EXPECT_R(o, RCX, 0x9abc0000);
	/* std; lodsb from SI = 0000: AL = A2, SI = FFFF. */
	in.r[RSI] = 0x12340000;
	in.r[RAX] = 0x11223344;
	o = addr16(m) ? RUN(&in, 0xfd, 0xac) : RUN(&in, 0xfd, 0x67, 0xac);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x112233a2);
	EXPECT_R(o, RSI, 0x1234ffff);
}

PER_MODE(effective_address_wraps_at_the_address_size)
{
	machine(m);
	if (m == M_LONG64) {
		/* 67 mov al, [ebx+esi]: FFFFFFF0 + 00020030 = 1_00020020 wraps to
		 * 00020020 (32-bit address, zero-extended). */
		put(0x20020, &(uint8_t){0xb7}, 1);
		struct regs in = {.r = {[RBX] = 0xfffffff0, [RSI] = 0x20030}};
		struct outcome o = RUN(&in, 0x67, 0x8a, 0x04, 0x33);
		expect_done(&o);
		EXPECT_R(o, RAX, 0xb7);
		return;
	}
	set_seg_base(VM_REG_GUEST_DS, 0x20000);
	set_seg_base(VM_REG_GUEST_SS, 0x50000);
	put(0x20020, &(uint8_t){0xb7}, 1);
	put(0x2ffff, &(uint8_t){0xa1}, 1);
	put(0x50001, &(uint8_t){0xc3}, 1);
	const bool p67 = !addr16(m);
	/* mov al, [bx+si+10h]: FFF0 + 0020 + 10 = 0020 (mod 64 KiB). */
	struct regs in = {.r = {[RBX] = 0xfff0, [RSI] = 0x0020, [RSP] = 0x8000}};
	struct outcome o = p67 ? RUN(&in, 0x67, 0x8a, 0x40, 0x10) : RUN(&in, 0x8a, 0x40, 0x10);
	expect_done(&o);
	EXPECT_R(o, RAX, 0xb7);
	/* mov al, [bx-2] with BX = 0001: FFFF. */
	in.r[RBX] = 0x0001;
	o = p67 ? RUN(&in, 0x67, 0x8a, 0x47, 0xfe) : RUN(&in, 0x8a, 0x47, 0xfe);
	expect_done(&o);
	EXPECT_R(o, RAX, 0xa1);
	/* mov al, [bp+di]: SS by default; FFFF + 0002 = 0001. */
	in.r[RBP] = 0xffff;
	in.r[RDI] = 0x0002;
	o = p67 ? RUN(&in, 0x67, 0x8a, 0x03) : RUN(&in, 0x8a, 0x03);
	expect_done(&o);
	EXPECT_R(o, RAX, 0xc3);
}

/* ---- NOP and the hint-NOP space (SDM vol. 2B NOP; appendix A table A-3,
 * 0F 18-0F 1F; PREFETCHh, PREFETCHW; MPX, CET and CLDEMOTE encodings on a
 * CPU without them): no memory access, whatever the operand. -------------------- */

PER_MODE(hint_nops_do_not_touch_memory)
{
	machine(m);
	/* An operand address that faults if accessed: past a 4 KiB DS limit
	 * outside IA-32e mode, in the not-present HOLE inside it. */
	struct regs in = {0};
	if (m == M_REAL || m == M_PROT16 || m == M_PROT32) {
		set_seg_limit(VM_REG_GUEST_DS, 0x0fff);
		in.r[RAX] = in.r[RBX] = 0x8000;
	} else if (m == M_COMPAT16) {
		set_seg_base(VM_REG_GUEST_DS, HOLE);
		in.r[RAX] = in.r[RBX] = 0;
	} else {
		in.r[RAX] = in.r[RBX] = HOLE;
	}
	in.r[RSP] = 0x8000;
	/* ModRM r/m: [bx] (7) with 16-bit addressing, [eax]/[rax] (0) else. */
	const uint8_t rm = addr16(m) ? 7 : 0;
	uint8_t code[96];
	unsigned n = 0;
	static const uint8_t ops[][2] = {
	    {0x0d, 0}, {0x0d, 1}, {0x0d, 2}, {0x18, 0}, {0x18, 1}, {0x18, 2},
	    {0x18, 3}, {0x18, 4}, {0x18, 7}, {0x19, 0}, {0x1c, 0}, {0x1c, 1},
	    {0x1d, 5}, {0x1e, 0}, {0x1f, 0}, {0x1f, 6}, {0x1a, 0}, {0x1b, 0},
	};
	for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		code[n++] = 0x0f;
		code[n++] = ops[k][0];
		code[n++] = (uint8_t)(ops[k][1] << 3 | rm);
	}
	/* 66 0F 1F /0 (NOP r/m16 or r/m32), F3 0F 1E FA/FB (ENDBR64/32). */
	static const uint8_t tail[] = {0x66, 0x0f, 0x1f, 0x00, 0xf3, 0x0f, 0x1e, 0xfa,
	                               0xf3, 0x0f, 0x1e, 0xfb, 0x90, 0xf3, 0x90};
	memcpy(code + n, tail, sizeof(tail));
	code[n + 3] = rm;
	n += sizeof(tail);
	struct outcome o = run(code, n, &in);
	expect_done(&o);
	for (int k = 0; k < 16; k++)
		EXPECT_R(o, k, in.r[k]);
	EXPECT_FLAGS(o, F_ARITH | F_DF, 0);
}

/* ---- XCHG forms, NOP, PAUSE in 64-bit mode (SDM vol. 2B XCHG, NOP, PAUSE;
 * checked on an Intel host: 41 90 swaps R8D and EAX, zero-extending both;
 * F3 41 90 is PAUSE; 87 C0 clears RAX[63:32]; 90 and 48 90 do not). ----------- */

Test(gp, xchg_nop_pause_forms_long64)
{
	machine(M_LONG64);
	struct regs in = {.r = {[RAX] = 0x1111111122223333ull, [R8] = 0x4444444455556666ull}};
	struct outcome o = RUN(&in, 0x90, 0x48, 0x90, 0x66, 0x90, 0xf3, 0x90, 0xf3, 0x41, 0x90);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x1111111122223333ull);
	EXPECT_R(o, R8, 0x4444444455556666ull);
	o = RUN(&in, 0x41, 0x90);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x55556666);
	EXPECT_R(o, R8, 0x22223333);
	o = RUN(&in, 0x49, 0x90);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x4444444455556666ull);
	EXPECT_R(o, R8, 0x1111111122223333ull);
	o = RUN(&in, 0x87, 0xc0);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x22223333);
	o = RUN(&in, 0x66, 0x41, 0x90); /* xchg r8w, ax */
	expect_done(&o);
	EXPECT_R(o, RAX, 0x1111111122226666ull);
	EXPECT_R(o, R8, 0x4444444455553333ull);
}

Test(gp, xchg_forms_real)
{
	/* xchg al, ah; xchg [bx], ax (BX = 0x0600, DS = 0); 66 90 (xchg eax,
	 * eax: nothing). */
	machine(M_REAL);
	put16(0x600, 0xbeef);
	struct regs in = {.r = {[RAX] = 0x12345678, [RBX] = 0x0600, [RSP] = 0x8000}};
	struct outcome o = RUN(&in, 0x86, 0xc4, 0x87, 0x07, 0x66, 0x90);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x1234beef);
	EXPECT_MEM(0x600, 2, 0x7856);
}

/* ---- BSWAP (SDM vol. 2A BSWAP): a 16-bit operand is undefined; Intel and AMD
 * both clear the low 16 bits and keep the rest (checked on an Intel host:
 * 66 0F C8 on RAX = 1122334455667788 gives 1122334455660000). --------------- */

PER_MODE(bswap)
{
	machine(m);
	struct regs in = {.r = {[RAX] = m == M_LONG64 ? 0x1122334455667788ull : 0x55667788}};
	struct outcome o = RUN(&in, 0x0f, 0xc8);
	expect_done(&o);
	/* Default operand size: 16-bit code gives the undefined r16 case. */
	EXPECT_R(o, RAX, code_size(m) == 2 ? 0x55660000 : 0x88776655);
	o = RUN(&in, 0x66, 0x0f, 0xc8);
	expect_done(&o);
	if (m == M_LONG64)
		EXPECT_R(o, RAX, 0x1122334455660000ull);
	else
		EXPECT_R(o, RAX, code_size(m) == 2 ? 0x88776655 : 0x55660000);
	if (m == M_LONG64) {
		o = RUN(&in, 0x48, 0x0f, 0xc8);
		expect_done(&o);
		EXPECT_R(o, RAX, 0x8877665544332211ull);
		o = RUN(&in, 0x66, 0x48, 0x0f, 0xc8); /* REX.W wins over 66 */
		expect_done(&o);
		EXPECT_R(o, RAX, 0x8877665544332211ull);
	}
}

/* ---- MOVSXD (SDM vol. 2B MOVSX/MOVSXD; checked on an Intel host) --------------- */

Test(gp, movsxd_forms_long64)
{
	machine(M_LONG64);
	put32(DATA, 0x80000001u);
	struct regs in = {
	    .r = {[RAX] = 0x1111111111111111ull, [RBX] = 0xffffffff80008234ull, [RSI] = DATA}};
	struct outcome o = RUN(&in, 0x48, 0x63, 0xc3); /* movsxd rax, ebx */
	expect_done(&o);
	EXPECT_R(o, RAX, 0xffffffff80008234ull);
	o = RUN(&in, 0x63, 0xc3); /* movsxd eax, ebx: a 32-bit move */
	expect_done(&o);
	EXPECT_R(o, RAX, 0x80008234);
	o = RUN(&in, 0x66, 0x63, 0xc3); /* movsxd ax, bx: a 16-bit move */
	expect_done(&o);
	EXPECT_R(o, RAX, 0x1111111111118234ull);
	o = RUN(&in, 0x48, 0x63, 0x06); /* movsxd rax, [rsi] */
	expect_done(&o);
	EXPECT_R(o, RAX, 0xffffffff80000001ull);
}

/* ---- CMPXCHG register forms (SDM vol. 2A CMPXCHG): flags as CMP acc, dest;
 * equal: dest <- src; else acc <- dest (dest left alone). ---------------------- */

PER_MODE(cmpxchg_register_forms)
{
	machine(m);
	const unsigned s = code_size(m) == 8 ? 4 : code_size(m);
	const uint64_t hi = s == 2 ? 0x12340000 : 0;
	/* cmpxchg cx/ecx, bx/ebx: equal. 5 - 5 = 0: ZF PF. */
	struct regs in = {.r = {[RAX] = hi | 5, [RCX] = hi | 5, [RBX] = 0x77}};
	struct outcome o = RUN(&in, 0x0f, 0xb1, 0xd9);
	expect_done(&o);
	EXPECT_R(o, RCX, hi | 0x77);
	EXPECT_R(o, RAX, hi | 5);
	EXPECT_FLAGS(o, F_ARITH, F_ZF | F_PF);
	/* Not equal: 5 - 3 = 2, no flag; acc <- 3. */
	in.r[RCX] = hi | 3;
	o = RUN(&in, 0x0f, 0xb1, 0xd9);
	expect_done(&o);
	EXPECT_R(o, RAX, hi | 3);
	EXPECT_R(o, RCX, hi | 3);
	EXPECT_FLAGS(o, F_ARITH, 0);
	/* Byte form: cmpxchg cl, bl with AL = 0x80, CL = 0x7F: 0x80 - 0x7F = 1:
	 * OF (negative minus positive gave positive), AF (borrow from bit 4). */
	in.r[RAX] = 0x80;
	in.r[RCX] = 0x7f;
	o = RUN(&in, 0x0f, 0xb0, 0xd9);
	expect_done(&o);
	EXPECT_R(o, RAX, 0x7f);
	EXPECT_FLAGS(o, F_ARITH, F_OF | F_AF);
}

/* ---- LOCK (SDM vol. 2A "LOCK-Assert LOCK# Signal Prefix"): #UD unless the
 * instruction is one of ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC
 * NEG NOT OR SBB SUB XOR XADD XCHG with a memory destination.  The fault is
 * at the instruction: nothing changes, earlier instructions retired. ------------ */

PER_MODE(lock_ud_rules)
{
	machine(m);
	/* The memory operand: ModRM 07 is [bx] with 16-bit addressing (DS based
	 * at DATA) and [edi]/[rdi] otherwise. */
	if (addr16(m))
		set_seg_base(VM_REG_GUEST_DS, DATA);
	struct regs in = {.r = {[RAX] = 0x01020304,
	                        [RBX] = 0,
	                        [RCX] = 0x0a0b0c0d,
	                        [RDX] = 0x11,
	                        [RDI] = addr16(m) ? 0 : DATA,
	                        [RSP] = 0x8000}};
	static const uint8_t bad[][5] = {
	    {3, 0xf0, 0x89, 0x07},       /* lock mov [m], eax */
	    {3, 0xf0, 0x01, 0xc3},       /* lock add ebx, eax */
	    {3, 0xf0, 0x39, 0x07},       /* lock cmp [m], eax */
	    {3, 0xf0, 0x85, 0x07},       /* lock test [m], eax */
	    {4, 0xf0, 0x0f, 0xa3, 0x07}, /* lock bt [m], eax */
	    {4, 0xf0, 0x0f, 0xc1, 0xc3}, /* lock xadd ebx, eax */
	    {3, 0xf0, 0x87, 0xc3},       /* lock xchg ebx, eax */
	    {3, 0xf0, 0xf7, 0xd3},       /* lock not ebx */
	    {2, 0xf0, 0x90},             /* lock nop */
	    {3, 0xf0, 0x8d, 0x07},       /* lock lea */
	    {2, 0xf0, 0xa4},             /* lock movsb */
	    {4, 0xf0, 0x0f, 0x22, 0xc0}, /* lock mov cr0, eax: AMD's CR8 alias */
	    {4, 0xf0, 0x0f, 0x20, 0xc0}, /* lock mov eax, cr0 */
	};
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		put64(DATA, 0x5555555555555555ull);
		/* A NOP first: it retires, the LOCK form faults at CODE + 1. */
		uint8_t code[6] = {0x90};
		memcpy(code + 1, bad[k] + 1, bad[k][0]);
		uint64_t cr0 = reg(VM_REG_GUEST_CR0);
		struct outcome o = run(code, 1 + bad[k][0], &in);
		expect_fault_at(&o, 6, false, &in, CODE + 1);
		EXPECT_MEM(DATA, 8, 0x5555555555555555ull);
		cr_expect_eq(reg(VM_REG_GUEST_CR0), cr0);
	}
	/* Allowed forms, memory destination, prefixes in any order. */
	const unsigned s = code_size(m) == 8 ? 4 : code_size(m);
	put64(DATA, 0x1000000010000000ull);
	struct outcome o = RUN(&in, 0xf0, 0x01, 0x07); /* lock add [m], eax */
	expect_done(&o);
	EXPECT_MEM(DATA, s, (0x1000000010000000ull + 0x01020304) & mask(s));
	put64(DATA, 0);
	o = RUN(&in, 0x66, 0xf0, 0xff, 0x07); /* lock inc [m], other size */
	expect_done(&o);
	EXPECT_MEM(DATA, 8, 1);
	put64(DATA, 0x4444444444444444ull);
	o = RUN(&in, 0xf0, 0x87, 0x0f); /* lock xchg [m], ecx */
	expect_done(&o);
	EXPECT_MEM(DATA, 8, (0x4444444444444444ull & ~mask(s)) | (0x0a0b0c0d & mask(s)));
	EXPECT_R(o, RCX, (0x0a0b0c0d & ~mask(s)) | (0x4444444444444444ull & mask(s)));
	put64(DATA, 0);
	o = RUN(&in, 0xf0, 0x0f, 0xab, 0x17); /* lock bts [m], edx (bit 17) */
	expect_done(&o);
	EXPECT_MEM(DATA, 8, 1u << 17);
	put64(DATA, 0x0000000001020304ull);
	in.r[RDX] = 0;
	in.r[RAX] = 0x01020304;
	in.r[RBX] = addr16(m) ? 0 : 0x99;
	in.r[RCX] = 0x77;
	/* lock cmpxchg8b [m]: EDX:EAX matches, [m] <- ECX:EBX, ZF. */
	o = RUN(&in, 0xf0, 0x0f, 0xc7, 0x0f);
	expect_done(&o);
	EXPECT_MEM(DATA, 8, (uint64_t)0x77 << 32 | in.r[RBX]);
	EXPECT_FLAGS(o, F_ZF, F_ZF);
}

Test(gp, lock_mov_cr0_is_ud_on_the_amd_model_too_prot32)
{
	/* F0 0F 22 C0 is MOV CR8 on AMD parts with CPUID 80000001H:ECX.
	 * AltMovCr8[4]; the x86-64-amd model does not advertise it. */
	machine_model(M_PROT32, "x86-64-amd");
	struct regs in = {.r = {[RAX] = 0x5, [RSP] = 0x8000}};
	struct outcome o = RUN(&in, 0xf0, 0x0f, 0x22, 0xc0);
	expect_fault_at(&o, 6, false, &in, CODE);
	cr_expect_eq(reg(VM_REG_GUEST_CR0), 0x11);
}
