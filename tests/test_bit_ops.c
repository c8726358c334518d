/*
 * The bit instructions on the soft CPU against the host CPU: BT, BTS, BTR,
 * BTC (register and memory bit bases, register and imm8 offsets, LOCK),
 * BSF, BSR, POPCNT, LZCNT, TZCNT and MOVBE.
 *
 * Unlike host_diff.c this file keeps its own 64-bit guest, because the
 * memory forms need a data buffer and the #UD checks need an IDT: every
 * exception vector has a stub that reports the vector on port 0x80, so a
 * test sees which exception an instruction raised, and the vm stays usable.
 * The host runs the very same instruction bytes: they are copied into an
 * executable page and called from a small assembly trampoline that loads
 * and saves RAX..RDI and RFLAGS.  A memory operand is addressed through RBX,
 * which points into a buffer of identical contents on each side.
 *
 * Compared: registers, the buffer, and only the flags the SDM defines for
 * the instruction ("Flags Affected"); flags it leaves unaffected are
 * compared too.  Undefined flags are the vendor profiles' business.
 */
#include <criterion/criterion.h>
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <softvmm/vmm.h>

#include "host_diff.h"
#include "guest_helper.h"

#if defined(__x86_64__)

/* ---- guest layout (identity-mapped, 2 MiB of RAM) --------------------------- */

#define RAM       (2u << 20)
#define GDT       0x500ull
#define CODE      0x1000ull
#define IDT       0x2000ull
#define STUBS     0x3000ull
#define PML4      0x10000ull
#define GBUF      0x20000ull
#define BUFSZ     0x8000u
#define GMID      (GBUF + BUFSZ / 2)
#define STACK     0x80000ull
#define RO_ALIAS  0x200000ull /* virtual 2-4 MiB: the same RAM, read-only */
#define PORT_EXC  0x80
#define PORT_DONE 0x81
#define NO_EXC    (-1)

#define ARITH HD_ARITH
#define CF    HD_CF
#define ZF    HD_ZF

struct regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rflags;
};

static struct vm *vm;
static uint8_t *hbuf;                    /* host buffer, below 4 GiB when MAP_32BIT works */
static bool hbuf_low;                    /* ... which the 32-bit address-size test needs */
static uint8_t *hcode;                   /* host page for the instruction under test */
static uint64_t frame_rip, frame_rflags; /* from the last exception's frame */

static void gwrite(uint64_t gpa, const void *src, size_t len)
{
	cr_assert_eq(guest_mem_write(vm, gpa, src, len), 0, "gpa %#llx", (unsigned long long)gpa);
}

static void gread(uint64_t gpa, void *dst, size_t len)
{
	cr_assert_eq(guest_mem_read(vm, gpa, dst, len), 0, "gpa %#llx", (unsigned long long)gpa);
}

static uint64_t gread64(uint64_t gpa)
{
	uint64_t v;
	gread(gpa, &v, 8);
	return v;
}

static void bench_open(const char *model)
{
	struct vm_config cfg = {.cpu_model = model};
	cr_assert_eq(vm_create("bit-ops", &cfg, &vm), 0);
	cr_assert_eq(vm_malloc(vm, 0, RAM), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);

	/* Paging: virtual 0-2 MiB maps RAM writable, 2-4 MiB the same RAM
	 * read-only (CR0.WP makes that bind supervisor writes too). */
	uint64_t pml4[2] = {(PML4 + 0x1000) | 3}, pdpt[1] = {(PML4 + 0x2000) | 3};
	uint64_t pd[2] = {0x83, 0x81}; /* P RW PS, P PS */
	gwrite(PML4, pml4, 8);
	gwrite(PML4 + 0x1000, pdpt, 8);
	gwrite(PML4 + 0x2000, pd, 16);

	/* GDT: null, 64-bit code (0x08), data (0x10).  IDT: 32 interrupt
	 * gates to stubs "mov al, vector; out 0x80, al; hlt". */
	uint64_t gdt[3] = {0, 0x00af9b000000ffffull, 0x00cf93000000ffffull};
	gwrite(GDT, gdt, sizeof(gdt));
	for (unsigned v = 0; v < 32; v++) {
		uint64_t off = STUBS + v * 8;
		uint64_t gate[2] = {(off & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
		                        ((off >> 16 & 0xffff) << 48),
		                    off >> 32};
		uint8_t stub[8] = {0xb0, (uint8_t)v, 0xe6, PORT_EXC, 0xf4, 0x90, 0x90, 0x90};
		gwrite(IDT + v * 16, gate, 16);
		gwrite(off, stub, 8);
	}

	struct seg_desc cs = {0, 0xffffffff, 0xa09b}, ds = {0, 0xffffffff, 0xc093};
	struct seg_desc gdtr = {GDT, sizeof(gdt) - 1, 0}, idtr = {IDT, 32 * 16 - 1, 0};
	vm_set_register(vm, 0, VM_REG_GUEST_CR3, PML4);
	vm_set_register(vm, 0, VM_REG_GUEST_CR4, 0x20);       /* PAE */
	vm_set_register(vm, 0, VM_REG_GUEST_EFER, 0x500);     /* LME LMA */
	vm_set_register(vm, 0, VM_REG_GUEST_CR0, 0x80010011); /* PG WP ET PE */
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_CS, &cs);
	vm_set_register(vm, 0, VM_REG_GUEST_CS, 0x08);
	for (int r = VM_REG_GUEST_ES; r <= VM_REG_GUEST_GS; r++) {
		if (r == VM_REG_GUEST_CS)
			continue;
		vm_set_seg_desc(vm, 0, r, &ds);
		vm_set_register(vm, 0, r, 0x10);
	}
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_GDTR, &gdtr);
	vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idtr);
}

static void bench_close(void)
{
	if (vm)
		vm_destroy(vm);
	vm = NULL;
}

static void setup(void)
{
	hbuf = mmap(NULL, BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
	            -1, 0);
	hbuf_low = hbuf != MAP_FAILED && (uintptr_t)hbuf + BUFSZ <= 0xffffffffu;
	if (hbuf == MAP_FAILED)
		hbuf =
		    mmap(NULL, BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(hbuf, MAP_FAILED);
	hcode = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(hcode, MAP_FAILED);
	bench_open(NULL);
}

static void teardown(void)
{
	bench_close();
	munmap(hbuf, BUFSZ);
	munmap(hcode, 4096);
}

TestSuite(bit_ops, .init = setup, .fini = teardown);

/* ---- running one instruction ------------------------------------------------- */

/* host_exec(struct regs *r, void *code): load RAX..RDI and RFLAGS from *r,
 * call code (the instruction and a RET), store them back. */
void host_exec(struct regs *r, const void *code);
__asm__(".text\n"
        ".type host_exec, @function\n"
        "host_exec:\n"
        "	push %rbx\n"
        "	push %r12\n"
        "	push %r13\n"
        "	mov %rdi, %r12\n"
        "	mov %rsi, %r13\n"
        "	mov 0(%r12), %rax\n"
        "	mov 8(%r12), %rbx\n"
        "	mov 16(%r12), %rcx\n"
        "	mov 24(%r12), %rdx\n"
        "	mov 32(%r12), %rsi\n"
        "	mov 40(%r12), %rdi\n"
        "	pushq 48(%r12)\n"
        "	popfq\n"
        "	call *%r13\n"
        "	pushfq\n"
        "	popq 48(%r12)\n"
        "	mov %rax, 0(%r12)\n"
        "	mov %rbx, 8(%r12)\n"
        "	mov %rcx, 16(%r12)\n"
        "	mov %rdx, 24(%r12)\n"
        "	mov %rsi, 32(%r12)\n"
        "	mov %rdi, 40(%r12)\n"
        "	pop %r13\n"
        "	pop %r12\n"
        "	pop %rbx\n"
        "	ret\n"
        ".size host_exec, .-host_exec\n");

/* Run the n instruction bytes natively.  Input flags hold only arithmetic
 * bits, so TF and DF stay clear as the ABI wants them. */
static void host_run(const uint8_t *insn, unsigned n, struct regs *r)
{
	cr_assert_eq(mprotect(hcode, 4096, PROT_READ | PROT_WRITE), 0);
	memcpy(hcode, insn, n);
	hcode[n] = 0xc3; /* RET */
	cr_assert_eq(mprotect(hcode, 4096, PROT_READ | PROT_EXEC), 0);
	host_exec(r, hcode);
}

/*
 * Run the n instruction bytes as a guest instruction, followed by "out 0x81,
 * al" to stop.  Returns NO_EXC if it retired, or the vector of the exception
 * it raised (frame_rip and frame_rflags then hold the exception frame).
 */
static int run_bit_guest(const uint8_t *insn, unsigned n, struct regs *r)
{
	uint8_t code[20];
	cr_assert_leq(n, 15u);
	memcpy(code, insn, n);
	code[n] = 0xe6;
	code[n + 1] = PORT_DONE;
	gwrite(CODE, code, n + 2);
	vm_set_register(vm, 0, VM_REG_GUEST_RAX, r->rax);
	vm_set_register(vm, 0, VM_REG_GUEST_RBX, r->rbx);
	vm_set_register(vm, 0, VM_REG_GUEST_RCX, r->rcx);
	vm_set_register(vm, 0, VM_REG_GUEST_RDX, r->rdx);
	vm_set_register(vm, 0, VM_REG_GUEST_RSI, r->rsi);
	vm_set_register(vm, 0, VM_REG_GUEST_RDI, r->rdi);
	vm_set_register(vm, 0, VM_REG_GUEST_RSP, STACK);
	vm_set_register(vm, 0, VM_REG_GUEST_RFLAGS, r->rflags);
	vm_set_insn_limit(vm, 0, 0);
	struct vm_run run = {.cpuid = 0, .rip = CODE};
	cr_assert_eq(vm_run(vm, &run), 0);
	cr_assert_eq(run.vm_exit.exitcode, VM_EXITCODE_INOUT, "exit %s at %#llx",
	             vm_exitcode_name(run.vm_exit.exitcode), (unsigned long long)run.vm_exit.rip);
	if (run.vm_exit.u.inout.port == PORT_EXC) {
		/* 64-bit frame at the 16-byte aligned STACK: SS, RSP, RFLAGS, CS,
		 * RIP, then an error code for some vectors (SDM vol. 3 6.14.2). */
		frame_rip = gread64(STACK - 40);
		frame_rflags = gread64(STACK - 24);
		return (int)(run.vm_exit.u.inout.eax & 0xff);
	}
	cr_assert_eq(run.vm_exit.u.inout.port, PORT_DONE);
	cr_assert_eq(run.vm_exit.rip, CODE + n, "stopped at %#llx",
	             (unsigned long long)run.vm_exit.rip);
	vm_get_register(vm, 0, VM_REG_GUEST_RAX, &r->rax);
	vm_get_register(vm, 0, VM_REG_GUEST_RBX, &r->rbx);
	vm_get_register(vm, 0, VM_REG_GUEST_RCX, &r->rcx);
	vm_get_register(vm, 0, VM_REG_GUEST_RDX, &r->rdx);
	vm_get_register(vm, 0, VM_REG_GUEST_RSI, &r->rsi);
	vm_get_register(vm, 0, VM_REG_GUEST_RDI, &r->rdi);
	vm_get_register(vm, 0, VM_REG_GUEST_RFLAGS, &r->rflags);
	return NO_EXC;
}

static uint64_t unimplemented_count(void)
{
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(vm, 0, &st), 0);
	return st.unimplemented;
}

/* The same pseudo-random contents in both buffers. */
static void fill_buffers(uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (unsigned k = 0; k < BUFSZ; k += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(hbuf + k, &x, 8);
	}
	gwrite(GBUF, hbuf, BUFSZ);
}

static void expect_buffers_equal(const char *what)
{
	static uint8_t g[BUFSZ];
	gread(GBUF, g, BUFSZ);
	for (unsigned k = 0; k < BUFSZ; k++)
		if (g[k] != hbuf[k]) {
			cr_expect_fail("%s: buffer byte %#x is %#x, host %#x", what, k - BUFSZ / 2,
			               g[k], hbuf[k]);
			return;
		}
}

/*
 * Run one instruction on both sides and compare.  In *in, rbx is relative
 * to the middle of the buffer when 'mem' is set (each side adds its own
 * buffer address).  'flags': the flags compared.
 */
static void compare(const char *what, const uint8_t *insn, unsigned n, const struct regs *in,
                    bool mem, uint64_t flags)
{
	struct regs h = *in, g = *in;
	uint64_t hb = (uint64_t)(uintptr_t)(hbuf + BUFSZ / 2), gb = GMID;
	if (mem) {
		h.rbx += hb;
		g.rbx += gb;
	}
	host_run(insn, n, &h);
	int v = run_bit_guest(insn, n, &g);
	cr_assert_eq(v, NO_EXC, "%s: exception %d at %#llx", what, v,
	             (unsigned long long)frame_rip);
	if (mem) {
		h.rbx -= hb;
		g.rbx -= gb;
		expect_buffers_equal(what);
	}
	cr_expect_eq(g.rax, h.rax, "%s: rax %#llx, host %#llx", what, (unsigned long long)g.rax,
	             (unsigned long long)h.rax);
	cr_expect_eq(g.rbx, h.rbx, "%s: rbx changed", what);
	cr_expect_eq(g.rcx, h.rcx, "%s: rcx %#llx, host %#llx", what, (unsigned long long)g.rcx,
	             (unsigned long long)h.rcx);
	cr_expect_eq(g.rdx, h.rdx, "%s: rdx changed", what);
	cr_expect_eq(g.rflags & flags, h.rflags & flags, "%s: flags %#llx, host %#llx", what,
	             (unsigned long long)(g.rflags & flags),
	             (unsigned long long)(h.rflags & flags));
}

/* Expect #UD at CODE, counted as invalid rather than as not implemented. */
static void expect_ud(const char *what, const uint8_t *insn, unsigned n)
{
	struct regs r = {.rbx = GMID, .rflags = 0x2};
	uint64_t before = unimplemented_count();
	int v = run_bit_guest(insn, n, &r);
	cr_expect_eq(v, 6, "%s: vector %d, wanted #UD", what, v);
	cr_expect_eq(frame_rip, CODE, "%s: #UD at %#llx", what, (unsigned long long)frame_rip);
	cr_expect_eq(unimplemented_count(), before, "%s: counted as unimplemented", what);
}

/* Operand-size prefix for 16 and 64 bits, in front of the opcode. */
static unsigned osz_prefix(uint8_t *p, unsigned size)
{
	if (size == 2) {
		p[0] = 0x66;
		return 1;
	}
	if (size == 8) {
		p[0] = 0x48;
		return 1;
	}
	return 0;
}

static const unsigned sizes[] = {2, 4, 8};

/* ---- BT, BTS, BTR, BTC ------------------------------------------------------- */

static const char *const bt_name[4] = {"bt", "bts", "btr", "btc"};
static const uint8_t bt_opcode[4] = {0xa3, 0xab, 0xb3, 0xbb}; /* 0F xx /r */

/* BT* r/m, reg with rm = modrm; an optional LOCK and 67 in front. */
static unsigned enc_bt_reg(uint8_t *p, unsigned op, unsigned size, bool lock, bool a32,
                           const uint8_t *modrm, unsigned nm)
{
	unsigned n = 0;
	if (lock)
		p[n++] = 0xf0;
	if (a32)
		p[n++] = 0x67;
	n += osz_prefix(p + n, size);
	p[n++] = 0x0f;
	p[n++] = bt_opcode[op];
	memcpy(p + n, modrm, nm);
	return n + nm;
}

/* BT* r/m, imm8: 0F BA /4../7 ib; modrm[0]'s reg field is filled in here,
 * any displacement bytes follow it. */
static unsigned enc_bt_imm(uint8_t *p, unsigned op, unsigned size, bool lock, const uint8_t *modrm,
                           unsigned nm, uint8_t imm)
{
	unsigned n = 0;
	if (lock)
		p[n++] = 0xf0;
	n += osz_prefix(p + n, size);
	p[n++] = 0x0f;
	p[n++] = 0xba;
	memcpy(p + n, modrm, nm);
	p[n] = (uint8_t)(p[n] | (4 + op) << 3);
	n += nm;
	p[n++] = imm;
	return n;
}

/* SDM BT: CF is the selected bit, ZF unaffected, OF SF AF PF undefined. */
#define BT_FLAGS (CF | ZF)

/* bt* rAX, rCX and bt* rAX, imm8 with RAX = value, RCX = offset. */
static void bt_reg_case(unsigned op, unsigned size, uint64_t value, uint64_t off, uint64_t fin)
{
	uint8_t code[16];
	char what[96];
	struct regs r = {.rax = value, .rcx = off, .rdx = 0x5a5a, .rflags = fin};
	unsigned n = enc_bt_reg(code, op, size, false, false, (uint8_t[]){0xc8}, 1);
	snprintf(what, sizeof(what), "%s%u reg %#llx, reg %#llx flags-in %#llx", bt_name[op], size,
	         (unsigned long long)value, (unsigned long long)off, (unsigned long long)fin);
	compare(what, code, n, &r, false, BT_FLAGS);
	n = enc_bt_imm(code, op, size, false, (uint8_t[]){0xc0}, 1, (uint8_t)off);
	snprintf(what, sizeof(what), "%s%u reg %#llx, imm %#x flags-in %#llx", bt_name[op], size,
	         (unsigned long long)value, (uint8_t)off, (unsigned long long)fin);
	compare(what, code, n, &r, false, BT_FLAGS);
}

/* A register bit base: the offset, register or imm8, is taken modulo the
 * operand size; RAX is compared in full (BT keeps bits 63:32 of a 32-bit
 * base, BTS/BTR/BTC zero-extend). */
Test(bit_ops, bt_register_bases_match_the_host)
{
	static const uint64_t values[] = {0, ~0ull, 0x0123456789abcdefull, 0x8000000000000001ull,
	                                  0x00000000ffff0000ull};
	static const uint64_t more[] = {0x7f,          0x80,       0xff,  0xffff,
	                                0x7fffffff,    0x80000000, ~0ull, 0x8000000000000000ull,
	                                0x123456789ull};
	for (unsigned op = 0; op < 4; op++)
		for (unsigned s = 0; s < 3; s++) {
			unsigned bits = sizes[s] * 8;
			uint64_t offs[5 + 9] = {0, 1, bits - 1, bits, 2 * bits + 3};
			memcpy(offs + 5, more, sizeof(more));
			for (unsigned v = 0; v < 5; v++)
				for (unsigned k = 0; k < 14; k++) {
					bt_reg_case(op, sizes[s], values[v], offs[k], 0x2);
					bt_reg_case(op, sizes[s], values[v], offs[k], 0x2 | ARITH);
				}
		}
}

/*
 * The distance in bytes a register bit offset moves the operand (SDM BT:
 * the operand at EA + (offset SAR log2(bits)) * size), for choosing a base
 * register that keeps the access inside the buffer.
 */
static int64_t bt_displacement(uint64_t off, unsigned size)
{
	unsigned sh = 64 - size * 8;
	int64_t s = (int64_t)(off << sh) >> sh;
	return (s >> __builtin_ctz(size * 8)) * (int64_t)size;
}

/*
 * One memory form (0: [rbx], rcx  1: [rbx-8], rcx  2: LOCK [rbx], rcx
 * 3: [rbx], imm8  4: [rbx+0x10], imm8  5: LOCK [rbx], imm8) with RCX or the
 * imm8 = off, on a buffer filled from 'seed'.
 */
static void bt_mem_case(unsigned op, unsigned size, uint64_t off, unsigned form, unsigned seed)
{
	bool lock = form == 2 || form == 5;
	uint8_t code[16];
	unsigned n;
	int64_t d = 0;
	if (form < 3) {
		uint8_t m0[] = {0x0b}, m1[] = {0x4b, 0xf8};
		n = enc_bt_reg(code, op, size, lock, false, form == 1 ? m1 : m0, form == 1 ? 2 : 1);
		d = bt_displacement(off, size);
	} else {
		uint8_t m0[] = {0x03}, m1[] = {0x43, 0x10};
		n = enc_bt_imm(code, op, size, lock, form == 4 ? m1 : m0, form == 4 ? 2 : 1,
		               (uint8_t)off);
	}
	struct regs r = {.rax = 0x1111,
	                 .rcx = off,
	                 .rdx = 0x2222,
	                 /* A far move: start RBX as far the other way, so the
	                  * operand addressed is in the middle of the buffer. */
	                 .rbx = d > 0x3000 || d < -0x3000 ? 0 - (uint64_t)d : 0,
	                 .rflags = (seed & 1) ? 0x2 | ARITH : 0x2};
	char what[112];
	snprintf(what, sizeof(what), "%s%u form %u offset %#llx", bt_name[op], size, form,
	         (unsigned long long)off);
	fill_buffers(seed);
	compare(what, code, n, &r, true, BT_FLAGS);
}

/* A memory bit base: register offsets in range, negative, past the operand,
 * at the extremes of the operand size, and with bits above the operand size
 * (ignored: the offset is sign-extended from the operand size); imm8
 * offsets, taken modulo the operand size.  The whole buffer is compared. */
Test(bit_ops, bt_memory_bases_match_the_host)
{
	unsigned seed = 0;
	for (unsigned op = 0; op < 4; op++)
		for (unsigned s = 0; s < 3; s++) {
			unsigned size = sizes[s], bits = size * 8;
			uint64_t smax = (1ull << (bits - 1)) - 1, smin = ~smax;
			const uint64_t offs[] = {0,
			                         1,
			                         bits - 1,
			                         bits,
			                         2 * bits + 3,
			                         0 - 1ull,
			                         0 - (uint64_t)bits,
			                         0 - (uint64_t)(2 * bits + 3),
			                         777,
			                         0 - 777ull,
			                         smax,
			                         smin,
			                         smax - 40,
			                         smin + 77,
			                         0xabcd000000000005ull,
			                         0xabcd000080000005ull};
			for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++)
				for (unsigned form = 0; form < 6; form++)
					if (op != 0 || (form != 2 && form != 5)) /* LOCK BT: #UD */
						bt_mem_case(op, size, offs[k], form, seed++);
		}
}

/* With a 32-bit address size the bit-base displacement wraps at 4 GiB
 * like the rest of the effective address. */
Test(bit_ops, bt_memory_offset_wraps_with_the_address_size)
{
	if (!hbuf_low)
		cr_skip_test("no host buffer below 4 GiB");
	char what[96];
	for (unsigned op = 0; op < 4; op++)
		for (unsigned s = 1; s < 3; s++) {
			unsigned size = sizes[s];
			uint64_t off = size == 4 ? 0x7fffffff : 0x7fffffffffffffffull;
			uint32_t d = (uint32_t)bt_displacement(off, size);
			uint8_t code[16];
			unsigned n = enc_bt_reg(code, op, size, false, true, (uint8_t[]){0x0b}, 1);
			fill_buffers(op * 2 + s);
			/* EBX + d wraps past 4 GiB to the middle of the buffer;
			 * RBX's upper half must not count. */
			uint64_t hb = (uint64_t)(uintptr_t)(hbuf + BUFSZ / 2);
			struct regs h = {.rbx = 0xdead000000000000ull | (uint32_t)(hb - d),
			                 .rcx = off,
			                 .rflags = 0x2},
			            g = h;
			g.rbx = 0xdead000000000000ull | (uint32_t)(GMID - d);
			host_run(code, n, &h);
			cr_assert_eq(run_bit_guest(code, n, &g), NO_EXC, "%s%u: exception at %#llx",
			             bt_name[op], size, (unsigned long long)frame_rip);
			snprintf(what, sizeof(what), "addr32 %s%u", bt_name[op], size);
			expect_buffers_equal(what);
			cr_expect_eq(g.rflags & BT_FLAGS, h.rflags & BT_FLAGS, "%s: flags", what);
		}
}

/*
 * BTS on a read-only page faults as a write (#PF), leaving memory and the
 * flags of the instruction before it (ADD: lazy flags) untouched; BT reads
 * the same page without fault.
 */
Test(bit_ops, bts_on_a_read_only_page_faults_without_side_effects)
{
	uint8_t code[] = {0x01, 0xd0, 0x0f, 0xab, 0x0b}; /* add eax, edx; bts [rbx], ecx */
	uint8_t add_only[] = {0x01, 0xd0};
	struct regs in = {.rax = 0x7fffffff, .rdx = 1, .rcx = 3, .rflags = 0x2 | CF};
	struct regs h = in;
	host_run(add_only, 2, &h);

	fill_buffers(99);
	struct regs g = in;
	g.rbx = RO_ALIAS + GMID;
	cr_assert_eq(run_bit_guest(code, sizeof(code), &g), 14);
	cr_expect_eq(frame_rip, CODE + 2);
	cr_expect_eq(frame_rflags & ARITH, h.rflags & ARITH, "flags %#llx, after ADD %#llx",
	             (unsigned long long)(frame_rflags & ARITH),
	             (unsigned long long)(h.rflags & ARITH));
	expect_buffers_equal("faulting bts");

	uint8_t bt[] = {0x0f, 0xa3, 0x0b}; /* bt [rbx], ecx */
	g = in;
	g.rbx = RO_ALIAS + GMID;
	cr_assert_eq(run_bit_guest(bt, sizeof(bt), &g), NO_EXC);
	cr_expect_eq((g.rflags & CF) != 0, ((hbuf[BUFSZ / 2] >> 3) & 1) != 0);
}

/* ---- BSF, BSR ------------------------------------------------------------------ */

static const uint64_t scan_values[] = {0,
                                       1,
                                       2,
                                       0x80,
                                       0x8000,
                                       0x10000,
                                       0x80000000,
                                       0x100000000ull,
                                       0x8000000000000000ull,
                                       0x0123456789abcdefull,
                                       0xffff000000000000ull,
                                       0x0000000000f00000ull,
                                       ~0ull};
#define NSCAN (sizeof(scan_values) / sizeof(scan_values[0]))

/* op rAX, rCX (modrm C1) and op rAX, [rbx] (modrm 03) after prefix/opcode. */
static unsigned enc_2op(uint8_t *p, uint8_t pfx, unsigned size, const uint8_t *opc, unsigned no,
                        bool mem)
{
	unsigned n = 0;
	if (size == 2)
		p[n++] = 0x66;
	if (pfx)
		p[n++] = pfx;
	if (size == 8)
		p[n++] = 0x48;
	memcpy(p + n, opc, no);
	n += no;
	p[n++] = mem ? 0x03 : 0xc1;
	return n;
}

/* Source in RCX or at [rbx]; destination RAX preset to a marker. */
static void scan_case(const char *name, uint8_t pfx, const uint8_t *opc, unsigned no, unsigned size,
                      uint64_t src, bool mem, uint64_t flags, uint64_t fin, const uint8_t *host_opc)
{
	uint8_t code[16], hcode_b[16];
	unsigned n = enc_2op(code, pfx, size, opc, no, mem);
	unsigned hn = host_opc ? enc_2op(hcode_b, 0, size, host_opc, no, mem) : n;
	if (!host_opc)
		memcpy(hcode_b, code, n);
	struct regs h = {.rax = 0x1122334455667788ull, .rcx = src, .rflags = fin}, g = h;
	uint64_t hb = (uint64_t)(uintptr_t)(hbuf + BUFSZ / 2);
	if (mem) {
		memcpy(hbuf + BUFSZ / 2, &src, 8);
		gwrite(GMID, &src, 8);
		h.rbx = hb;
		g.rbx = GMID;
	}
	host_run(hcode_b, hn, &h);
	char what[96];
	snprintf(what, sizeof(what), "%s%u %s %#llx flags-in %#llx", name, size,
	         mem ? "mem" : "reg", (unsigned long long)src, (unsigned long long)fin);
	int v = run_bit_guest(code, n, &g);
	cr_assert_eq(v, NO_EXC, "%s: exception %d", what, v);
	cr_expect_eq(g.rax, h.rax, "%s: rax %#llx, host %#llx", what, (unsigned long long)g.rax,
	             (unsigned long long)h.rax);
	cr_expect_eq(g.rflags & flags, h.rflags & flags, "%s: flags %#llx, host %#llx", what,
	             (unsigned long long)(g.rflags & flags),
	             (unsigned long long)(h.rflags & flags));
}

static void scan_sweep(const char *name, uint8_t pfx, const uint8_t *opc, unsigned no,
                       uint64_t flags, const uint8_t *host_opc)
{
	for (unsigned s = 0; s < 3; s++)
		for (unsigned k = 0; k < NSCAN; k++)
			for (unsigned m = 0; m < 2; m++) {
				scan_case(name, pfx, opc, no, sizes[s], scan_values[k], m, flags,
				          0x2, host_opc);
				scan_case(name, pfx, opc, no, sizes[s], scan_values[k], m, flags,
				          0x2 | ARITH, host_opc);
			}
}

/* SDM BSF/BSR: ZF = (source == 0), the rest undefined.  A zero source
 * leaves the whole destination as it was (RAX is compared in full). */
Test(bit_ops, bsf_and_bsr_match_the_host)
{
	scan_sweep("bsf", 0, (uint8_t[]){0x0f, 0xbc}, 2, ZF, NULL);
	scan_sweep("bsr", 0, (uint8_t[]){0x0f, 0xbd}, 2, ZF, NULL);
}

/* ---- POPCNT, LZCNT, TZCNT, MOVBE on every CPU model ---------------------------- */

static bool model_has(const char *model, uint32_t leaf, unsigned reg, unsigned bit)
{
	uint32_t r[4];
	cr_assert_eq(vm_cpu_model_cpuid(model, leaf & 0x80000000u, 0, r), 0);
	if (r[0] < leaf)
		return false;
	cr_assert_eq(vm_cpu_model_cpuid(model, leaf, 0, r), 0);
	return (r[reg] >> bit) & 1;
}

static bool host_has(uint32_t leaf, unsigned reg, unsigned bit)
{
	unsigned r[4];
	if (!__get_cpuid_count(leaf, 0, &r[0], &r[1], &r[2], &r[3]))
		return false;
	return (r[reg] >> bit) & 1;
}

#define HAS_POPCNT 1, 2, 23
#define HAS_MOVBE  1, 2, 22
#define HAS_LZCNT  0x80000001u, 2, 5
#define HAS_BMI1   7, 1, 3

/* For each model in the table: a fresh vm, then fn(model name). */
static void for_each_model(void (*fn)(const char *model))
{
	struct vm_cpu_model_info info;
	unsigned n = 0;
	for (unsigned k = 0; vm_cpu_model_get(k, &info) == 0; k++, n++) {
		bench_close();
		bench_open(info.name);
		fn(info.name);
	}
	cr_assert_gt(n, 0u);
}

static const uint8_t popcnt_opc[] = {0x0f, 0xb8};
static const uint8_t lzcnt_opc[] = {0x0f, 0xbd}; /* after F3; BSR without it */
static const uint8_t tzcnt_opc[] = {0x0f, 0xbc}; /* after F3; BSF without it */

/* SDM POPCNT: ZF = (source == 0); OF SF AF CF PF cleared: all defined. */
static void popcnt_model(const char *model)
{
	if (!model_has(model, HAS_POPCNT)) {
		uint8_t code[] = {0xf3, 0x0f, 0xb8, 0xc1};
		expect_ud(model, code, sizeof(code));
		return;
	}
	if (host_has(HAS_POPCNT))
		scan_sweep("popcnt", 0xf3, popcnt_opc, 2, ARITH, NULL);
}

Test(bit_ops, popcnt_matches_the_host_or_is_ud)
{
	for_each_model(popcnt_model);
}

/*
 * SDM LZCNT/TZCNT: CF = (source == 0), ZF = (result == 0), the rest
 * undefined.  On a model without ABM/BMI1 the F3 encodings are BSR/BSF,
 * so they are compared with the host running BSR/BSF (ZF only).
 */
static void xzcnt_model(const char *model)
{
	if (model_has(model, HAS_LZCNT)) {
		if (host_has(HAS_LZCNT))
			scan_sweep("lzcnt", 0xf3, lzcnt_opc, 2, CF | ZF, NULL);
	} else {
		scan_sweep("lzcnt-as-bsr", 0xf3, lzcnt_opc, 2, ZF, lzcnt_opc);
	}
	if (model_has(model, HAS_BMI1)) {
		if (host_has(HAS_BMI1))
			scan_sweep("tzcnt", 0xf3, tzcnt_opc, 2, CF | ZF, NULL);
	} else {
		scan_sweep("tzcnt-as-bsf", 0xf3, tzcnt_opc, 2, ZF, tzcnt_opc);
	}
}

Test(bit_ops, lzcnt_and_tzcnt_match_the_host_or_run_as_bsr_and_bsf)
{
	for_each_model(xzcnt_model);
}

/* SDM MOVBE: byte-swapping load (0F 38 F0) and store (0F 38 F1), flags
 * unaffected; a 16-bit load keeps the upper bits of the register. */
static void movbe_model(const char *model)
{
	uint8_t load[] = {0x0f, 0x38, 0xf0}, store[] = {0x0f, 0x38, 0xf1};
	if (!model_has(model, HAS_MOVBE)) {
		uint8_t code[] = {0x0f, 0x38, 0xf0, 0x03}; /* movbe eax, [rbx] */
		expect_ud(model, code, sizeof(code));
		code[2] = 0xf1;
		expect_ud(model, code, sizeof(code));
		return;
	}
	if (!host_has(HAS_MOVBE))
		return;
	char what[64];
	for (unsigned s = 0; s < 3; s++)
		for (unsigned st = 0; st < 2; st++) {
			uint8_t code[16];
			unsigned n = enc_2op(code, 0, sizes[s], st ? store : load, 3, true);
			struct regs r = {.rax = 0x0123456789abcdefull, .rflags = 0x2 | ARITH};
			fill_buffers(7 + s);
			snprintf(what, sizeof(what), "movbe %s %u", st ? "store" : "load",
			         sizes[s]);
			compare(what, code, n, &r, true, ARITH);
		}
}

Test(bit_ops, movbe_matches_the_host_or_is_ud)
{
	for_each_model(movbe_model);
}

/* ---- forms that do not exist ---------------------------------------------------- */

Test(bit_ops, invalid_forms_raise_ud)
{
	static const struct {
		const char *what;
		uint8_t code[8];
		unsigned n;
	} forms[] = {
	    {"lock bt [rbx], ecx", {0xf0, 0x0f, 0xa3, 0x0b}, 4},
	    {"lock bt [rbx], 5", {0xf0, 0x0f, 0xba, 0x23, 0x05}, 5},
	    {"lock bts eax, ecx", {0xf0, 0x0f, 0xab, 0xc8}, 4},
	    {"lock btr eax, 5", {0xf0, 0x0f, 0xba, 0xf0, 0x05}, 5},
	    {"lock btc rax, rcx", {0xf0, 0x48, 0x0f, 0xbb, 0xc8}, 5},
	    {"movbe eax, ecx", {0x0f, 0x38, 0xf0, 0xc1}, 4},
	    {"movbe ecx, eax (store form, register)", {0x0f, 0x38, 0xf1, 0xc1}, 4},
	};
	for (unsigned k = 0; k < sizeof(forms) / sizeof(forms[0]); k++)
		expect_ud(forms[k].what, forms[k].code, forms[k].n);
}

#endif
