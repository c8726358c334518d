/*
 * The host side of a case, run inside the child process (host.h).
 *
 * The child maps the code, data, stack and state pages at the fixed
 * addresses of dx.h and writes machine code stubs into the page after the
 * code page:
 *
 * - an entry per mode, called as a C function from 64-bit code: it saves
 *   the callee-saved registers and RSP, sets RFLAGS through the host stack
 *   (never the guest's window), and loads the guest GPRs with MOVs only
 *   (flags-neutral) before jumping to the case at DX_CODE.  The 32-bit
 *   entry far-jumps to Linux's compatibility-mode selector 0x23 and loads
 *   DS and ES with the flat data selector 0x2b first (a 64-bit process has
 *   them null, which faults outside 64-bit mode).  The 16-bit entry
 *   far-jumps to a 16-bit code segment in the LDT whose base is DX_CODE,
 *   and loads DS, ES and SS with 16-bit data segments based at the windows.
 *   FS and GS are never loaded: glibc's TLS lives in FS's base.
 * - two epilogues in 64-bit mode, reached from the pads dx_code_page puts
 *   after the case and at its branch target: they store RSP with a MOV,
 *   switch back to the host stack, save RFLAGS with PUSHFQ, store the other
 *   GPRs, restore SS, DS and ES, and return to the C caller.
 * - a fault return: the signal handler records the registers from the
 *   signal frame and points the frame at it, in 64-bit mode on the host
 *   stack; sigreturn then lands there and it returns like an epilogue.
 *   So no longjmp is needed, from any mode.
 */
#include "host.h"

#include <asm/ldt.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* Linux's flat selectors (arch/x86/include/asm/segment.h): __USER32_CS,
 * __USER_DS, __USER_CS. */
#define USER32_CS 0x23
#define USER_DS   0x2b
#define USER_CS   0x33

/* LDT entries for 16-bit mode; a selector is index << 3 | TI | RPL 3. */
enum { LDT_CODE16, LDT_DATA16, LDT_STACK16, LDT_STATE16 };
#define LDT_SEL(i) ((uint16_t)((i) << 3 | 4 | 3))

struct state {
	uint64_t gpr[16];
	uint64_t rflags;
	uint64_t host_rsp;
	uint32_t far32_off; /* m16:32 far pointers for JMP FAR [mem] */
	uint16_t far32_sel, pad0;
	uint32_t far16_off;
	uint16_t far16_sel, pad1;
	uint32_t pad_hit; /* which epilogue ran: 0 fall-through, 1 taken */
	uint16_t ds16, es16, ss16;
};

#define ST         ((volatile struct state *)(uintptr_t)DX_STATE)
#define ST_AT(fld) ((uint32_t)(DX_STATE + offsetof(struct state, fld)))
#define ST_GPR(r)  ((uint32_t)(DX_STATE + offsetof(struct state, gpr) + 8 * (r)))

/* Offsets in the stub page (DX_STUBS..; the epilogues are in dx.h). */
#define ENTRY64   0x000u
#define ENTRY32   0x100u
#define ENTRY16   0x200u
#define STUB32    0x300u
#define STUB16    0x400u
#define FAULT_RET 0x500u
#define STUB_MAX  0x100u /* bytes each stub may use */

/* What the signal handler saw. */
static struct {
	int hit, sig;
	uint64_t trapno, rip, rflags;
	uint64_t gpr[16];
} fault;

static uint16_t host_ds, host_es, host_ss;

/* ---- a tiny machine code emitter ---------------------------------------- */

struct em {
	uint8_t *p;
	uint32_t at; /* offset in the code mapping */
};

static void b(struct em *e, uint8_t v)
{
	e->p[e->at++] = v;
}

static void w16(struct em *e, uint16_t v)
{
	b(e, (uint8_t)v);
	b(e, (uint8_t)(v >> 8));
}

static void w32(struct em *e, uint32_t v)
{
	w16(e, (uint16_t)v);
	w16(e, (uint16_t)(v >> 16));
}

/* 64-bit: REX.W op reg, [disp32] (ModRM 00 reg 100, SIB 00 100 101). */
static void op64_abs(struct em *e, uint8_t op, unsigned reg, uint32_t addr)
{
	b(e, (uint8_t)(0x48 | (reg >> 3) << 2));
	b(e, op);
	b(e, (uint8_t)((reg & 7) << 3 | 4));
	b(e, 0x25);
	w32(e, addr);
}

static void push_callee_saved(struct em *e)
{
	static const uint8_t code[] = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57};
	for (unsigned i = 0; i < sizeof(code); i++)
		b(e, code[i]);
}

/* The start of every entry: host registers saved, guest RFLAGS set. */
static void entry_common(struct em *e)
{
	push_callee_saved(e);
	op64_abs(e, 0x89, 4, ST_AT(host_rsp)); /* mov [host_rsp], rsp */
	b(e, 0xff);                            /* push qword [rflags] */
	b(e, 0x34);
	b(e, 0x25);
	w32(e, ST_AT(rflags));
	b(e, 0x9d); /* popfq */
}

static void jmp_far_mem(struct em *e, uint32_t addr)
{
	b(e, 0xff); /* jmp far m16:32 (FF /5) */
	b(e, 0x2c);
	b(e, 0x25);
	w32(e, addr);
}

static void emit_entry64(struct em *e)
{
	entry_common(e);
	for (unsigned r = 0; r < 16; r++)
		if (r != 4)
			op64_abs(e, 0x8b, r, ST_GPR(r));
	op64_abs(e, 0x8b, 4, ST_GPR(4));
	b(e, 0xe9); /* jmp rel32 to the case */
	w32(e, (uint32_t)(0 - (e->at + 4)));
}

static void emit_stub32(struct em *e)
{
	b(e, 0xb8); /* mov eax, USER_DS; mov ds, eax; mov es, eax */
	w32(e, USER_DS);
	b(e, 0x8e);
	b(e, 0xd8);
	b(e, 0x8e);
	b(e, 0xc0);
	for (unsigned r = 0; r < 8; r++) {
		if (r == 4)
			continue;
		b(e, 0x8b); /* mov r32, [disp32] */
		b(e, (uint8_t)(r << 3 | 5));
		w32(e, ST_GPR(r));
	}
	b(e, 0x8b);
	b(e, 0x25);
	w32(e, ST_GPR(4));
	b(e, 0xe9);
	w32(e, (uint32_t)(0 - (e->at + 4)));
}

/* 16-bit code: offsets in the code segment equal offsets in the mapping. */
static void emit_stub16(struct em *e)
{
	const uint16_t base = (uint16_t)(ST_GPR(0) - DX_STATE);
	b(e, 0xb8); /* mov ax, state selector; mov ds, ax */
	w16(e, LDT_SEL(LDT_STATE16));
	b(e, 0x8e);
	b(e, 0xd8);
	for (unsigned r = 0; r < 8; r++) {
		if (r == 4)
			continue;
		b(e, 0x66); /* mov r32, [disp16] */
		b(e, 0x8b);
		b(e, (uint8_t)(r << 3 | 6));
		w16(e, (uint16_t)(base + 8 * r));
	}
	b(e, 0x8e); /* mov es, [es16] */
	b(e, 0x06);
	w16(e, (uint16_t)(ST_AT(es16) - DX_STATE));
	b(e, 0x8e); /* mov ss, [ss16] */
	b(e, 0x16);
	w16(e, (uint16_t)(ST_AT(ss16) - DX_STATE));
	b(e, 0x66); /* mov esp, [gpr 4] */
	b(e, 0x8b);
	b(e, 0x26);
	w16(e, (uint16_t)(base + 32));
	b(e, 0x8e); /* mov ds, [ds16]: last, it moves DS off the state block */
	b(e, 0x1e);
	w16(e, (uint16_t)(ST_AT(ds16) - DX_STATE));
	b(e, 0xe9); /* jmp rel16 to offset 0 */
	w16(e, (uint16_t)(0 - (e->at + 2)));
}

static void emit_entry_far(struct em *e, uint32_t farptr)
{
	entry_common(e);
	jmp_far_mem(e, farptr);
}

/* Back to the host: segments as they were, DF clear (the C ABI), return. */
static void emit_tail(struct em *e)
{
	static const uint8_t pops[] = {0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b};
	const uint16_t segs[3] = {host_ss, host_ds, host_es};
	const uint8_t modrm[3] = {0xd0, 0xd8, 0xc0}; /* mov ss/ds/es, eax */
	for (unsigned i = 0; i < 3; i++) {
		b(e, 0xb8);
		w32(e, segs[i]);
		b(e, 0x8e);
		b(e, modrm[i]);
	}
	b(e, 0xfc); /* cld */
	for (unsigned i = 0; i < sizeof(pops); i++)
		b(e, pops[i]);
	b(e, 0xc3);
}

static void emit_epilogue(struct em *e, uint32_t which)
{
	op64_abs(e, 0x89, 4, ST_GPR(4));       /* mov [gpr 4], rsp */
	op64_abs(e, 0x8b, 4, ST_AT(host_rsp)); /* mov rsp, [host_rsp] */
	b(e, 0x9c);                            /* pushfq; pop qword [rflags] */
	b(e, 0x8f);
	b(e, 0x04);
	b(e, 0x25);
	w32(e, ST_AT(rflags));
	for (unsigned r = 0; r < 16; r++)
		if (r != 4)
			op64_abs(e, 0x89, r, ST_GPR(r));
	b(e, 0xc7); /* mov dword [pad_hit], which */
	b(e, 0x04);
	b(e, 0x25);
	w32(e, ST_AT(pad_hit));
	w32(e, which);
	emit_tail(e);
}

static void emit_stubs(uint8_t *map)
{
	struct em e = {map, 0};
	memset(map + DX_STUBS, 0xcc, DX_STUBS_SIZE);
	e.at = DX_STUBS + ENTRY64;
	emit_entry64(&e);
	e.at = DX_STUBS + ENTRY32;
	emit_entry_far(&e, ST_AT(far32_off));
	e.at = DX_STUBS + ENTRY16;
	emit_entry_far(&e, ST_AT(far16_off));
	e.at = DX_STUBS + STUB32;
	emit_stub32(&e);
	e.at = DX_STUBS + STUB16;
	emit_stub16(&e);
	e.at = DX_STUBS + FAULT_RET;
	emit_tail(&e);
	e.at = DX_EPILOGUE0;
	emit_epilogue(&e, 0);
	e.at = DX_EPILOGUE1;
	emit_epilogue(&e, 1);
}

/* ---- signals ------------------------------------------------------------- */

static const int greg_of_gpr[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                                    REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                    REG_R12, REG_R13, REG_R14, REG_R15};

/* Record the faulting state, then make sigreturn resume at FAULT_RET in
 * 64-bit mode on the host stack, whatever mode the case was in. */
static void on_fault(int sig, siginfo_t *si, void *ucv)
{
	(void)si;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	fault.sig = sig;
	fault.trapno = (uint64_t)g[REG_TRAPNO];
	fault.rip = (uint64_t)g[REG_RIP];
	fault.rflags = (uint64_t)g[REG_EFL];
	for (unsigned r = 0; r < 16; r++)
		fault.gpr[r] = (uint64_t)g[greg_of_gpr[r]];
	fault.hit = 1;
	g[REG_RIP] = (greg_t)(DX_CODE + DX_STUBS + FAULT_RET);
	g[REG_RSP] = (greg_t)ST->host_rsp;
	/* REG_CSGSFS packs CS, GS, FS and SS, 16 bits each. */
	uint64_t csgsfs = (uint64_t)g[REG_CSGSFS];
	csgsfs = (csgsfs & 0x0000ffffffff0000ull) | USER_CS | (uint64_t)host_ss << 48;
	g[REG_CSGSFS] = (greg_t)csgsfs;
	g[REG_EFL] &= ~(greg_t)(0x100 | 0x400 | 0x40000); /* TF DF AC */
}

static int install_handlers(char *err, size_t errlen)
{
	static const int sigs[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP};
	stack_t ss = {0};
	ss.ss_size = 1 << 16;
	ss.ss_sp =
	    mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ss.ss_sp == MAP_FAILED || sigaltstack(&ss, NULL) != 0) {
		snprintf(err, errlen, "sigaltstack: %s", strerror(errno));
		return -1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	/* The guest's stack pointer is no host stack: always the alternate one. */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) != 0) {
			snprintf(err, errlen, "sigaction: %s", strerror(errno));
			return -1;
		}
	return 0;
}

/* ---- setup --------------------------------------------------------------- */

static int map_at(uint32_t addr, size_t len, int prot, char *err, size_t errlen)
{
	void *p = mmap((void *)(uintptr_t)addr, len, prot,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || p != (void *)(uintptr_t)addr) {
		snprintf(err, errlen, "mmap at %#x: %s", addr, strerror(errno));
		return -1;
	}
	return 0;
}

static int ldt_entry(unsigned idx, uint32_t base, unsigned contents, char *err, size_t errlen)
{
	struct user_desc d;
	memset(&d, 0, sizeof(d));
	d.entry_number = idx;
	d.base_addr = base;
	d.limit = 0xffff;
	d.seg_32bit = 0;
	d.contents = contents; /* 0 data (expand-up), 2 code */
	d.useable = 1;
	if (syscall(SYS_modify_ldt, 1, &d, sizeof(d)) != 0) {
		snprintf(err, errlen, "modify_ldt: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int dx_child_setup(char *err, size_t errlen)
{
	__asm__ volatile("mov %%ds, %0\n\tmov %%es, %1\n\tmov %%ss, %2"
	                 : "=r"(host_ds), "=r"(host_es), "=r"(host_ss));
	if (map_at(DX_CODE, DX_STUBS + DX_STUBS_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC, err,
	           errlen) ||
	    map_at(DX_DATA, DX_PAGE, PROT_READ | PROT_WRITE, err, errlen) ||
	    map_at(DX_STACK, DX_PAGE, PROT_READ | PROT_WRITE, err, errlen) ||
	    map_at(DX_STATE, DX_PAGE, PROT_READ | PROT_WRITE, err, errlen))
		return -1;
	if (ldt_entry(LDT_CODE16, DX_CODE, 2, err, errlen) ||
	    ldt_entry(LDT_DATA16, DX_DATA, 0, err, errlen) ||
	    ldt_entry(LDT_STACK16, DX_STACK, 0, err, errlen) ||
	    ldt_entry(LDT_STATE16, DX_STATE, 0, err, errlen))
		return -1;
	emit_stubs((uint8_t *)(uintptr_t)DX_CODE);
	ST->far32_off = DX_CODE + DX_STUBS + STUB32;
	ST->far32_sel = USER32_CS;
	ST->far16_off = DX_STUBS + STUB16; /* an offset in the 16-bit code segment */
	ST->far16_sel = LDT_SEL(LDT_CODE16);
	ST->ds16 = ST->es16 = LDT_SEL(LDT_DATA16);
	ST->ss16 = LDT_SEL(LDT_STACK16);
	return install_handlers(err, errlen);
}

/* ---- one case ------------------------------------------------------------ */

static void load_window(uint32_t addr, const uint8_t *win)
{
	uint8_t *p = (uint8_t *)(uintptr_t)addr;
	memcpy(p, win, DX_WIN);
	memset(p + DX_WIN, 0, DX_PAGE - DX_WIN);
}

void dx_child_run(const struct dx_case *c, struct dx_result *r)
{
	static const uint32_t entry[DX_NMODES] = {ENTRY64, ENTRY32, ENTRY16};
	dx_code_page(c, (uint8_t *)(uintptr_t)DX_CODE);
	load_window(DX_DATA, c->data);
	load_window(DX_STACK, c->stack);
	for (unsigned k = 0; k < 16; k++)
		ST->gpr[k] = c->gpr[k];
	ST->rflags = c->rflags;
	ST->pad_hit = ~0u;
	fault.hit = 0;
	void (*fn)(void) = (void (*)(void))(uintptr_t)(DX_CODE + DX_STUBS + entry[c->mode]);
	fn();
	__asm__ volatile("" ::: "memory"); /* fault was written by the handler */
	memset(r, 0, sizeof(*r));
	r->vector = 0xff;
	/* Outside 64-bit mode RIP is EIP or IP: offsets from CS's base. */
	uint64_t cs_base = c->mode == DX_MODE16 ? 0 : DX_CODE;
	if (fault.hit) {
		memcpy(r->gpr, fault.gpr, sizeof(r->gpr));
		r->rflags = fault.rflags;
		r->rip = fault.rip - cs_base;
		r->vector = (uint8_t)fault.trapno;
		r->fault = (uint8_t)dx_fault_of_vector((unsigned)fault.trapno);
		/* A fault in the stubs is the harness's, not the case's. */
		if (r->rip >= DX_STUBS && r->rip < DX_STUBS + DX_STUBS_SIZE)
			r->fault = DX_HARNESS;
	} else {
		for (unsigned k = 0; k < 16; k++)
			r->gpr[k] = ST->gpr[k];
		r->rflags = ST->rflags;
		r->rip = ST->pad_hit == 1 ? c->target : c->len;
		if (ST->pad_hit > 1)
			r->fault = DX_HARNESS;
	}
	memcpy(r->data, (void *)(uintptr_t)DX_DATA, DX_WIN);
	memcpy(r->stack, (void *)(uintptr_t)DX_STACK, DX_WIN);
}
