/*
 * The guest-physical memory map: three vm_malloc segments with holes
 * between them, and the runner's MMIO ranges (runner/mem_ranges.c) in the
 * holes, as bhyverun registers devices.
 *
 *   A [0, 0x80000)  H1 [0x80000, 0x81000)  B [0x81000, 0x82000)
 *   C [0x82000, 0x83000)  H2 [0x83000, 0x84000)
 *
 * B and C are two segments with no gap.  Every data access of 2, 4 and 8
 * bytes (MOV load and store, ADD to memory, MOVS from and to, STOS) is
 * placed at every position that straddles A->H1 and C->H2 (RAM then MMIO),
 * H1->B (MMIO then RAM) and B->C (RAM then RAM), in real, 32-bit protected
 * (paged) and 64-bit mode, with the RAM pages untouched and touched.  The exact exit stream is
 * asserted, then registers, RAM and what the device saw.  What bhyve does, and so softvmm, is in
 * docs/exits.md ("Accesses that straddle RAM and MMIO"):
 *
 * - an access is checked page by page, low page first: the first touch of
 *   a RAM page is a PAGING exit and the instruction restarts;
 * - the first page that is not RAM ends the access with an EPT violation
 *   for that page (gpa and gla of its first byte), before any byte is
 *   stored: nothing of the RAM part is done;
 * - bhyve then emulates the whole instruction as one MMIO access of the
 *   full size at that gpa.  When the faulting page is not the first, the
 *   exit's gla is not the operand's address, so the decoder's gla check
 *   (verify_gla) fails and vm_run returns EFAULT; MOVS and STOS skip that
 *   check and are emulated.  Real mode has no ModRM decoding (bhyve's
 *   decode_modrm), so MOV there fails the same way.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "event_stream.h"
#include "guest_helper.h"
#include "runner/inout.h"
#include "runner/inout_str.h"
#include "runner/mem_ranges.h"

#define SEG_A    UINT64_C(0x0)
#define SEG_A_SZ UINT64_C(0x80000)
#define H1       UINT64_C(0x80000)
#define SEG_B    UINT64_C(0x81000)
#define SEG_C    UINT64_C(0x82000)
#define H2       UINT64_C(0x83000)
#define HOLE_SZ  UINT64_C(0x1000)

#define CODE     UINT64_C(0x1000)
#define PD32     UINT64_C(0x3000) /* 32-bit paging: one 4 MiB page at 0 */
#define PML4     UINT64_C(0x4000) /* 4-level: one 2 MiB page at 0 */
#define PDPT     UINT64_C(0x5000)
#define PD64     UINT64_C(0x6000)
#define DST      UINT64_C(0x79000) /* MOVS destination, touched by the warm-up */
#define RM_BASE  UINT64_C(0x78000) /* real mode: DS and ES base */
#define PORT_END 0x80

enum mode { M_REAL, M_PROT32, M_LONG64, M_N };
static const char *const mode_name[M_N] = {"real", "prot32", "long64"};

static struct vm *vm;
static enum mode cur_mode;
static struct mem_range_table mmio;
static struct guest g; /* only its exit log, for assert_exits-style checks */

/* ---- the device in the holes ---- */

/* A read returns, byte by byte, a pattern of the byte's gpa; a write is
 * logged.  Either may run past the end of the range: bhyve hands the
 * handler the whole access at the exit's gpa, whatever its size. */
static uint8_t dev_byte(uint64_t gpa)
{
	return (uint8_t)((gpa * 13) ^ 0xa5);
}

static uint64_t dev_value(uint64_t gpa, int size)
{
	uint64_t v = 0;
	for (int i = 0; i < size; i++)
		v |= (uint64_t)dev_byte(gpa + (uint64_t)i) << (8 * i);
	return v;
}

struct dev_access {
	int dir;
	uint64_t gpa;
	int size;
	uint64_t val;
};
static struct dev_access dev_log[8];
static int dev_n;

static int dev_handler(struct vm *v, int vcpu, int dir, uint64_t gpa, int size, uint64_t *val,
                       void *arg1, long arg2)
{
	(void)v, (void)vcpu, (void)arg1, (void)arg2;
	cr_assert_lt(dev_n, 8, "device log full");
	if (dir == MEM_F_READ)
		*val = dev_value(gpa, size);
	dev_log[dev_n++] = (struct dev_access){dir, gpa, size, *val};
	return 0;
}

/* ---- the exit log ---- */

static void record(void *arg, struct vm *v, int vcpuid, const struct vm_exit *vme, bool handled)
{
	(void)arg, (void)v;
	struct exit_log *log = &g.log;
	cr_assert_lt(log->n, log->cap, "exit log full");
	log->v[log->n++] = (struct recorded_exit){*vme, vcpuid, handled};
}

/* ---- the machine ---- */

static void put(uint64_t gpa, const void *src, size_t len)
{
	cr_assert_eq(guest_mem_write(vm, gpa, src, len), 0, "gpa %#" PRIx64, gpa);
}

static void put64(uint64_t gpa, uint64_t v)
{
	put(gpa, &v, 8);
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

static void seg(int reg, uint16_t sel, uint64_t base, uint32_t limit, uint32_t access)
{
	struct seg_desc d = {base, limit, access};
	cr_assert_eq(vm_set_seg_desc(vm, 0, reg, &d), 0);
	setreg(reg, sel);
}

/* Linear address of the data segment's offset 'off' (DS = ES). */
static uint64_t data_base(void)
{
	return cur_mode == M_REAL ? RM_BASE : 0;
}

static void run_to_end(uint64_t rip, int *err);

/*
 * A fresh VM in mode m (machine_cold): the three segments, the devices, the tables, the
 * registers; then a warm-up run of a one-byte store to DST, which touches
 * the code page, the paging structures and DST, so the streams the tests
 * compare hold only the pages the access under test touches.
 */
static void machine_cold(enum mode m)
{
	static struct recorded_exit logbuf[256];
	cur_mode = m;
	cr_assert_eq(vm_create("memmap", NULL, &vm), 0);
	cr_assert_eq(vm_malloc(vm, SEG_A, SEG_A_SZ), 0);
	cr_assert_eq(vm_malloc(vm, SEG_B, 0x1000), 0);
	cr_assert_eq(vm_malloc(vm, SEG_C, 0x1000), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
	cr_assert_eq(vm_set_insn_limit(vm, 0, 10000), 0);
	mem_range_table_init(&mmio);
	const struct mem_range h1 = {"h1", H1, HOLE_SZ, dev_handler, NULL, 1};
	const struct mem_range h2 = {"h2", H2, HOLE_SZ, dev_handler, NULL, 2};
	cr_assert_eq(mem_range_register(&mmio, &h1), 0);
	cr_assert_eq(mem_range_register(&mmio, &h2), 0);
	dev_n = 0;
	memset(&g, 0, sizeof(g));
	g.vm = vm;
	g.log.v = logbuf;
	g.log.cap = 256;
	vm_set_exit_observer(vm, record, NULL);

	cr_assert_eq(guest_set_real_mode_entry(vm, 0, CODE), 0);
	if (m == M_REAL) {
		seg(VM_REG_GUEST_DS, RM_BASE >> 4, RM_BASE, 0xffff, 0x93);
		seg(VM_REG_GUEST_ES, RM_BASE >> 4, RM_BASE, 0xffff, 0x93);
	} else if (m == M_PROT32) {
		put64(PD32, 0x83 | 0x4); /* 4 MiB, present, writable, user */
		setreg(VM_REG_GUEST_CR4, 0x10);
		setreg(VM_REG_GUEST_CR3, PD32);
		setreg(VM_REG_GUEST_CR0, 0x80000011);
		seg(VM_REG_GUEST_CS, 0x08, 0, 0xffffffff, 0xc09b);
		seg(VM_REG_GUEST_DS, 0x10, 0, 0xffffffff, 0xc093);
		seg(VM_REG_GUEST_ES, 0x10, 0, 0xffffffff, 0xc093);
		seg(VM_REG_GUEST_SS, 0x10, 0, 0xffffffff, 0xc093);
	} else {
		put64(PML4, PDPT | 7);
		put64(PDPT, PD64 | 7);
		put64(PD64, 0x87); /* 2 MiB */
		setreg(VM_REG_GUEST_CR4, 0x20);
		setreg(VM_REG_GUEST_EFER, 0x500);
		setreg(VM_REG_GUEST_CR3, PML4);
		setreg(VM_REG_GUEST_CR0, 0x80000011);
		seg(VM_REG_GUEST_CS, 0x08, 0, 0xffffffff, 0xa09b);
		seg(VM_REG_GUEST_DS, 0x10, 0, 0xffffffff, 0xc093);
		seg(VM_REG_GUEST_ES, 0x10, 0, 0xffffffff, 0xc093);
		seg(VM_REG_GUEST_SS, 0x10, 0, 0xffffffff, 0xc093);
	}
}

static void machine(enum mode m)
{
	machine_cold(m);
	/* Warm-up: mov [bx/ebx/rbx], al; out 0x80, al. */
	const uint8_t warm[] = {0x88, m == M_REAL ? 0x07 : 0x03, 0xe6, PORT_END};
	put(CODE, warm, sizeof(warm));
	setreg(VM_REG_GUEST_RBX, DST - data_base());
	int err;
	run_to_end(CODE, &err);
	cr_assert_eq(err, 0, "%s: warm-up: vm_run %d", mode_name[m], err);
	g.log.n = 0;
	dev_n = 0;
}

static void machine_done(void)
{
	if (vm)
		vm_destroy(vm);
	vm = NULL;
}

/*
 * Run from rip as bhyverun would: an INST_EMUL exit is emulated against
 * the device ranges (mem.c:emulate_mem) and the guest resumes after the
 * instruction; the OUT to PORT_END ends the run.  *err gets vm_run's
 * error when it fails (the vcpu stays at the instruction).
 */
static void run_to_end(uint64_t rip, int *err)
{
	for (int n = 0; n < 8; n++) {
		struct vm_run run = {.cpuid = 0, .rip = rip};
		*err = vm_run(vm, &run);
		if (*err)
			return;
		struct vm_exit *e = &run.vm_exit;
		if (e->exitcode == VM_EXITCODE_INST_EMUL) {
			int r = mem_range_emulate(&mmio, vm, 0, e->u.inst_emul.gpa,
			                          &e->u.inst_emul.vie, &e->u.inst_emul.paging);
			cr_assert_eq(r, 0, "emulating the access to %#" PRIx64 ": %d",
			             e->u.inst_emul.gpa, r);
			rip =
			    e->u.inst_emul.vie.restart ? e->rip : e->rip + (uint64_t)e->inst_length;
			continue;
		}
		cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "exit %d at %#" PRIx64, e->exitcode,
		             e->rip);
		cr_assert_eq(e->u.inout.port, PORT_END);
		return;
	}
	cr_assert_fail("the run did not end");
}

/* ---- the cases ---- */

/* MOVS reads the straddling operand (the destination is DST); MOVS_TO
 * writes it (the source is DST); RMW is ADD to memory. */
enum kind { K_LOAD, K_STORE, K_RMW, K_STOS, K_MOVS, K_MOVS_TO, K_N };
static const char *const kind_name[K_N] = {"mov load", "mov store", "add to memory",
                                           "stos",     "movs from", "movs to"};

/* The instruction of kind k, size 'size', in the current mode; its length. */
static unsigned encode(enum kind k, int size, uint8_t *buf)
{
	bool real = cur_mode == M_REAL;
	unsigned n = 0;
	/* Operand size 16 outside real mode, 32 in it, takes 0x66. */
	if ((size == 2 && !real) || (size == 4 && real))
		buf[n++] = 0x66;
	if (size == 8)
		buf[n++] = 0x48;
	switch (k) {
	case K_LOAD:
		buf[n++] = size == 1 ? 0x8a : 0x8b;
		buf[n++] = real ? 0x07 : 0x03; /* [bx] or [ebx]/[rbx], AL/AX/EAX/RAX */
		break;
	case K_STORE:
		buf[n++] = size == 1 ? 0x88 : 0x89;
		buf[n++] = real ? 0x07 : 0x03;
		break;
	case K_RMW:
		buf[n++] = size == 1 ? 0x00 : 0x01;
		buf[n++] = real ? 0x07 : 0x03;
		break;
	case K_STOS:
		buf[n++] = size == 1 ? 0xaa : 0xab;
		break;
	case K_MOVS:
	case K_MOVS_TO:
		buf[n++] = size == 1 ? 0xa4 : 0xa5;
		break;
	default:
		break;
	}
	return n;
}

static uint8_t ram_byte(uint64_t gpa)
{
	return (uint8_t)(gpa * 7 + 0x31);
}

static bool is_ram(uint64_t gpa)
{
	return gpa < SEG_A_SZ || (gpa >= SEG_B && gpa < H2);
}

static bool is_mmio(uint64_t gpa)
{
	return (gpa >= H1 && gpa < H1 + HOLE_SZ) || (gpa >= H2 && gpa < H2 + HOLE_SZ);
}

#define WIN 16

/* RAM around the boundary, and at DST, filled with the pattern. */
static void fill_window(uint64_t boundary)
{
	for (uint64_t a = boundary - WIN; a < boundary + WIN; a++)
		if (is_ram(a)) {
			uint8_t b = ram_byte(a);
			put(a, &b, 1);
		}
	uint8_t d[8];
	for (int i = 0; i < 8; i++)
		d[i] = (uint8_t)(0xd0 + i);
	put(DST, d, sizeof(d));
}

/* Touch the RAM pages of [la, la+size) with one-byte loads, so the
 * access under test finds them populated. */
static void pretouch(uint64_t la, int size)
{
	const uint8_t touch[] = {0x8a, cur_mode == M_REAL ? 0x07 : 0x03, 0xe6, PORT_END};
	put(CODE, touch, sizeof(touch));
	uint64_t pages[2] = {la, la + (uint64_t)size - 1};
	for (int p = 0; p < 2; p++) {
		if (!is_ram(pages[p]))
			continue;
		int err;
		setreg(VM_REG_GUEST_RBX, pages[p] - data_base());
		run_to_end(CODE, &err);
		cr_assert_eq(err, 0);
	}
	g.log.n = 0;
	dev_n = 0;
}

static struct vm_guest_paging paging_of_mode(void)
{
	struct vm_guest_paging p = {0};
	if (cur_mode == M_PROT32) {
		p.cr3 = PD32;
		p.cpu_mode = CPU_MODE_PROTECTED;
		p.paging_mode = PAGING_MODE_32;
	} else if (cur_mode == M_LONG64) {
		p.cr3 = PML4;
		p.cpu_mode = CPU_MODE_64BIT;
		p.paging_mode = PAGING_MODE_64;
	}
	return p;
}

static uint64_t mask_of(int size)
{
	return size == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * size)) - 1;
}

struct expected {
	struct stream s;
	int err;                /* vm_run's error, 0 when the OUT is reached */
	uint8_t ram[2 * WIN];   /* the window after the run */
	uint8_t dst[8];         /* DST after the run */
	uint64_t rax, rsi, rdi; /* after the run */
	struct dev_access dev[2];
	int ndev;
};

/*
 * One case: kind k of 'size' bytes at linear address la (= gpa), whose
 * boundary is 'boundary'.  Builds what bhyve's rules give, runs it, and
 * compares.
 */
static void run_case(enum kind k, int size, uint64_t la, uint64_t boundary, bool touched)
{
	char what[160];
	snprintf(what, sizeof(what), "%s: %s of %d bytes at %#" PRIx64 "%s", mode_name[cur_mode],
	         kind_name[k], size, la, touched ? " (RAM touched)" : "");
	machine(cur_mode);
	fill_window(boundary);
	if (touched)
		pretouch(la, size);
	uint8_t code[8];
	unsigned len = encode(k, size, code);
	code[len] = 0xe6;
	code[len + 1] = PORT_END;
	put(CODE, code, len + 2);

	uint64_t base = data_base();
	uint64_t rax0 = cur_mode == M_LONG64 ? UINT64_C(0x8877665544332211) : 0x44332211;
	uint64_t off = la - base, dst_off = DST - base;
	uint64_t rsi0 = k == K_MOVS ? off : k == K_MOVS_TO ? dst_off : 0;
	uint64_t rdi0 = k == K_STOS || k == K_MOVS_TO ? off : k == K_MOVS ? dst_off : 0;
	setreg(VM_REG_GUEST_RAX, rax0);
	setreg(VM_REG_GUEST_RBX, k == K_LOAD || k == K_STORE || k == K_RMW ? off : 0);
	setreg(VM_REG_GUEST_RSI, rsi0);
	setreg(VM_REG_GUEST_RDI, rdi0);
	setreg(VM_REG_GUEST_RFLAGS, 2);

	/* What bhyve's rules give. */
	struct expected x;
	memset(&x, 0, sizeof(x));
	for (unsigned i = 0; i < 2 * WIN; i++) {
		uint64_t a = boundary - WIN + i;
		x.ram[i] = is_ram(a) ? ram_byte(a) : 0;
	}
	for (int i = 0; i < 8; i++)
		x.dst[i] = (uint8_t)(0xd0 + i);
	x.rax = rax0;
	x.rsi = rsi0;
	x.rdi = rdi0;
	bool reads = k == K_LOAD || k == K_MOVS || k == K_RMW;
	bool writes = !reads || k == K_RMW;
	bool gla_checked = k == K_LOAD || k == K_STORE || k == K_RMW;
	int ft = writes ? VM_PROT_WRITE : VM_PROT_READ;
	/* What a write stores, given what a read-modify-write read. */
	uint64_t stored = rax0 & mask_of(size);
	if (k == K_MOVS_TO) {
		stored = 0;
		for (int i = 0; i < size; i++)
			stored |= (uint64_t)(0xd0 + i) << (8 * i);
	}
	uint64_t pages[2] = {la & ~UINT64_C(0xfff), (la + (uint64_t)size - 1) & ~UINT64_C(0xfff)};
	int npages = pages[0] == pages[1] ? 1 : 2;
	uint64_t value = 0; /* what the access reads */
	bool done_in_ram = true;
	for (int p = 0; p < npages; p++) {
		if (is_ram(pages[p])) {
			if (!touched)
				x_paging(&x.s, CODE, pages[p], ft);
			continue;
		}
		/* The first page that is not RAM: an EPT violation for the part of
		 * the access in it, emulated whole at that gpa. */
		uint64_t fault_gpa = p == 0 ? la : pages[p];
		done_in_ram = false;
		cr_assert(is_mmio(fault_gpa));
		bool decodes =
		    (!gla_checked || fault_gpa == la) && !(cur_mode == M_REAL && gla_checked);
		if (!decodes) {
			x.err = EFAULT; /* bhyve's vmm_decode_instruction fails: no exit */
			break;
		}
		struct expect e = {.handled = false};
		e.vme.exitcode = VM_EXITCODE_INST_EMUL;
		e.vme.rip = CODE;
		e.vme.inst_length = (int)len;
		e.vme.u.inst_emul.gpa = fault_gpa;
		e.vme.u.inst_emul.gla = fault_gpa;
		e.vme.u.inst_emul.cs_d = cur_mode == M_PROT32;
		e.vme.u.inst_emul.paging = paging_of_mode();
		add(&x.s, e);
		if (reads) {
			value = dev_value(fault_gpa, size);
			x.dev[x.ndev++] = (struct dev_access){MEM_F_READ, fault_gpa, size, value};
		}
		if (k == K_RMW)
			stored = (value + rax0) & mask_of(size);
		if (writes)
			x.dev[x.ndev++] = (struct dev_access){MEM_F_WRITE, fault_gpa, size, stored};
		break;
	}
	if (done_in_ram) {
		if (reads)
			for (int i = 0; i < size; i++)
				value |= (uint64_t)ram_byte(la + (uint64_t)i) << (8 * i);
		if (k == K_RMW)
			stored = (value + rax0) & mask_of(size);
		if (writes)
			for (int i = 0; i < size; i++)
				x.ram[la - (boundary - WIN) + (uint64_t)i] =
				    (uint8_t)(stored >> (8 * i));
	}
	if (x.err == 0) {
		if (k == K_LOAD)
			x.rax = size >= 4 && cur_mode == M_LONG64 ? value
			                                          : (rax0 & ~mask_of(size)) | value;
		if (k == K_MOVS)
			for (int i = 0; i < size; i++)
				x.dst[i] = (uint8_t)(value >> (8 * i));
		if (k == K_MOVS || k == K_MOVS_TO)
			x.rsi += (uint64_t)size;
		if (k == K_MOVS || k == K_MOVS_TO || k == K_STOS)
			x.rdi += (uint64_t)size;
		x_out(&x.s, CODE + len, 2, 1, PORT_END, (uint32_t)x.rax);
	}

	/* The run. */
	int err;
	run_to_end(CODE, &err);
	cr_assert_eq(err, x.err, "%s: vm_run returned %d, expected %d", what, err, x.err);

	/* The stream, exit by exit. */
	char why[256], desc[256];
	for (size_t i = 0; i < x.s.n && i < g.log.n; i++) {
		struct recorded_exit *r = &g.log.v[i];
		struct expect *e = &x.s.v[i];
		if (e->vme.exitcode == VM_EXITCODE_INST_EMUL &&
		    r->vme.exitcode == VM_EXITCODE_INST_EMUL) {
			/* The vie is the decoder's (test_vie.c checks it): here the
			 * bytes fetched and that it decoded. */
			const struct vie *v = &r->vme.u.inst_emul.vie;
			cr_assert_eq(v->decoded, 1, "%s: not decoded", what);
			cr_assert_eq(v->num_valid, len, "%s: %d bytes fetched", what, v->num_valid);
			cr_assert_arr_eq(v->inst, code, len, "%s: bytes fetched", what);
			e->vme.u.inst_emul.vie = *v;
		}
		exit_describe(&r->vme, desc, sizeof(desc));
		cr_assert(exit_equal(&e->vme, &r->vme, why, sizeof(why)), "%s: exit %zu (%s): %s",
		          what, i, desc, why);
		cr_assert_eq(r->handled, e->handled, "%s: exit %zu (%s): handled %d", what, i, desc,
		             r->handled);
	}
	if (g.log.n != x.s.n) {
		desc[0] = 0;
		if (g.log.n > x.s.n)
			exit_describe(&g.log.v[x.s.n].vme, desc, sizeof(desc));
		cr_assert_fail("%s: %zu exits, expected %zu %s", what, g.log.n, x.s.n, desc);
	}

	/* Registers, RAM, device. */
	cr_assert_eq(getreg(VM_REG_GUEST_RIP), x.err ? CODE : CODE + len, "%s: rip", what);
	cr_assert_eq(getreg(VM_REG_GUEST_RAX), x.rax, "%s: rax %#" PRIx64 ", expected %#" PRIx64,
	             what, getreg(VM_REG_GUEST_RAX), x.rax);
	cr_assert_eq(getreg(VM_REG_GUEST_RSI), x.rsi, "%s: rsi", what);
	cr_assert_eq(getreg(VM_REG_GUEST_RDI), x.rdi, "%s: rdi", what);
	for (unsigned i = 0; i < 2 * WIN; i++) {
		uint64_t a = boundary - WIN + i;
		uint8_t b;
		if (!is_ram(a))
			continue;
		cr_assert_eq(guest_mem_read(vm, a, &b, 1), 0);
		cr_assert_eq(b, x.ram[i], "%s: RAM at %#" PRIx64 " is %#x, expected %#x", what, a,
		             b, x.ram[i]);
	}
	uint8_t d[8];
	cr_assert_eq(guest_mem_read(vm, DST, d, 8), 0);
	cr_assert_arr_eq(d, x.dst, 8, "%s: DST", what);
	cr_assert_eq(dev_n, x.ndev, "%s: the device saw %d accesses, expected %d", what, dev_n,
	             x.ndev);
	for (int i = 0; i < dev_n; i++)
		cr_assert(dev_log[i].dir == x.dev[i].dir && dev_log[i].gpa == x.dev[i].gpa &&
		              dev_log[i].size == x.dev[i].size && dev_log[i].val == x.dev[i].val,
		          "%s: device access %d: dir %d gpa %#" PRIx64 " size %d val %#" PRIx64
		          ", expected dir %d gpa %#" PRIx64 " size %d val %#" PRIx64,
		          what, i, dev_log[i].dir, dev_log[i].gpa, dev_log[i].size, dev_log[i].val,
		          x.dev[i].dir, x.dev[i].gpa, x.dev[i].size, x.dev[i].val);
	machine_done();
}

/* Every kind, every size the mode has, every position across 'boundary'. */
static void sweep(enum mode m, uint64_t boundary)
{
	cur_mode = m;
	static const int sizes[] = {2, 4, 8};
	for (int k = 0; k < K_N; k++)
		for (unsigned si = 0; si < 3; si++) {
			int size = sizes[si];
			if (size == 8 && m != M_LONG64)
				continue;
			for (int before = 1; before < size; before++)
				for (int t = 0; t < 2; t++)
					run_case((enum kind)k, size, boundary - (uint64_t)before,
					         boundary, t);
		}
}

TestSuite(memory_map, .fini = machine_done);

Test(memory_map, real_ram_then_mmio)
{
	sweep(M_REAL, H1);
	sweep(M_REAL, H2);
}

Test(memory_map, real_mmio_then_ram)
{
	sweep(M_REAL, SEG_B);
}

Test(memory_map, real_ram_then_ram_across_segments)
{
	sweep(M_REAL, SEG_C);
}

Test(memory_map, prot32_ram_then_mmio)
{
	sweep(M_PROT32, H1);
	sweep(M_PROT32, H2);
}

Test(memory_map, prot32_mmio_then_ram)
{
	sweep(M_PROT32, SEG_B);
}

Test(memory_map, prot32_ram_then_ram_across_segments)
{
	sweep(M_PROT32, SEG_C);
}

Test(memory_map, long64_ram_then_mmio)
{
	sweep(M_LONG64, H1);
	sweep(M_LONG64, H2);
}

Test(memory_map, long64_mmio_then_ram)
{
	sweep(M_LONG64, SEG_B);
}

Test(memory_map, long64_ram_then_ram_across_segments)
{
	sweep(M_LONG64, SEG_C);
}

/* Accesses inside one region, for contrast: a byte and a whole word in
 * RAM, in MMIO at the start of a hole and at its last byte. */
Test(memory_map, accesses_inside_one_region)
{
	for (int m = 0; m < M_N; m++) {
		cur_mode = (enum mode)m;
		for (int k = 0; k < K_N; k++) {
			run_case((enum kind)k, 1, SEG_B + 0x10, SEG_B + 0x10, false);
			run_case((enum kind)k, 4, SEG_C + 0xffc, H2, false);
			run_case((enum kind)k, 1, H1 + HOLE_SZ - 1, SEG_B, false);
			run_case((enum kind)k, 2, H2, H2, false);
		}
	}
}

/* ---- fetches, page walks and first touches ---- */

static void x_ept(struct stream *s, uint64_t rip, int len, uint64_t qual)
{
	struct expect e = {.handled = false};
	e.vme.exitcode = VM_EXITCODE_VMX;
	e.vme.rip = rip;
	e.vme.inst_length = len;
	e.vme.u.vmx.exit_reason = VMX_EXIT_REASON_EPT_VIOLATION;
	e.vme.u.vmx.exit_qualification = qual;
	add(s, e);
}

#define Q_FETCH (EPT_VIOLATION_INST_FETCH | EPT_VIOLATION_GLA_VALID | EPT_VIOLATION_XLAT_VALID)
#define Q_WALK  (EPT_VIOLATION_DATA_READ | EPT_VIOLATION_GLA_VALID)

/* Run from rip to the first exit vm_run returns; *e gets it. */
static void run_once(uint64_t rip, struct vm_exit *e)
{
	struct vm_run run = {.cpuid = 0, .rip = rip};
	cr_assert_eq(vm_run(vm, &run), 0);
	*e = run.vm_exit;
}

/*
 * A fetch from memory that is not RAM: bhyve's EPT violation is neither
 * PAGING (not RAM) nor INST_EMUL (not a data access), so it reaches user
 * space as VMX, exit reason 48 (BHYVE-EXITS.md section 4), which bhyverun
 * aborts on.  rip is the instruction; its length is unknown (0).  An
 * instruction whose bytes run from RAM into a hole faults the same way
 * once its RAM page is populated.
 */
Test(memory_map, fetch_from_a_hole_is_an_ept_violation_exit)
{
	static const enum mode modes[] = {M_PROT32, M_LONG64};
	for (unsigned m = 0; m < 2; m++) {
		machine(modes[m]);
		/* mov eax, H1; jmp rax/eax */
		const uint8_t jmp_h1[] = {0xb8, 0x00, 0x00, 0x08, 0x00, 0xff, 0xe0};
		put(CODE, jmp_h1, sizeof(jmp_h1));
		struct vm_exit e;
		run_once(CODE, &e);
		struct stream x = {0};
		x_ept(&x, H1, 0, Q_FETCH);
		assert_stream(&g, &x);
		cr_assert_eq(getreg(VM_REG_GUEST_RIP), H1);
		machine_done();

		/* A 5-byte MOV at the last 2 bytes of segment A. */
		machine(modes[m]);
		const uint8_t jmp_edge[] = {0xb8, 0xfe, 0xff, 0x07, 0x00, 0xff, 0xe0};
		put(CODE, jmp_edge, sizeof(jmp_edge));
		const uint8_t mov[2] = {0xb8, 0x11};
		put(H1 - 2, mov, 2);
		run_once(CODE, &e);
		struct stream y = {0};
		x_paging(&y, H1 - 2, H1 - 0x1000, VM_PROT_EXECUTE);
		x_ept(&y, H1 - 2, 0, Q_FETCH);
		assert_stream(&g, &y);
		machine_done();
	}
}

/*
 * A page walk through memory that is not RAM: VMX exit 48 with a read
 * that is not of the final translation (qualification bit 8 clear), the
 * instruction's rip and length; a paging-structure page of RAM touched
 * first is a PAGING exit (read) like any other page.
 */
Test(memory_map, page_walks_through_holes_and_untouched_ram)
{
	/* 32-bit paging: PDE 1 (4 MiB) -> page table in H1; PDE 2 -> page
	 * table at C, whose entry 0 maps B. */
	machine(M_PROT32);
	put64(PD32 + 4, H1 | 7);
	uint32_t pde2 = (uint32_t)(SEG_C | 7), pte = (uint32_t)(SEG_B | 7);
	put(PD32 + 8, &pde2, 4);
	put(SEG_C, &pte, 4);
	const uint8_t load[] = {0x8b, 0x03, 0xe6, PORT_END}; /* mov eax, [ebx] */
	put(CODE, load, sizeof(load));
	setreg(VM_REG_GUEST_RBX, 0x400010);
	struct vm_exit e;
	run_once(CODE, &e);
	struct stream x = {0};
	x_ept(&x, CODE, 2, Q_WALK);
	assert_stream(&g, &x);
	g.log.n = 0;
	uint32_t word = 0xcafef00d;
	put(SEG_B + 0x10, &word, 4);
	setreg(VM_REG_GUEST_RBX, 0x800010);
	run_once(CODE, &e);
	struct stream y = {0};
	x_paging(&y, CODE, SEG_C, VM_PROT_READ);
	x_paging(&y, CODE, SEG_B, VM_PROT_READ);
	x_out(&y, CODE + 2, 2, 1, PORT_END, 0xcafef00d);
	assert_stream(&g, &y);
	machine_done();

	/* 4-level: PD entry 2 (a 2 MiB region) -> page table in H2.  A store
	 * walks with reads too. */
	machine(M_LONG64);
	put64(PD64 + 16, H2 | 7);
	const uint8_t store[] = {0x48, 0x89, 0x03, 0xe6, PORT_END}; /* mov [rbx], rax */
	put(CODE, store, sizeof(store));
	setreg(VM_REG_GUEST_RBX, 0x400000);
	run_once(CODE, &e);
	struct stream z = {0};
	x_ept(&z, CODE, 3, Q_WALK);
	assert_stream(&g, &z);
	machine_done();
}

/*
 * The first touch of each RAM page, in each segment, is one PAGING exit
 * the vmm handles (bhyve's vm_handle_paging), seen by the exit observer
 * and counted, with the instruction restarted; a second touch is none.
 * The first fetch walks the page directory (read) before the code page
 * (fetch).
 */
Test(memory_map, first_touch_of_every_ram_page)
{
	machine_cold(M_PROT32);
	put64(PD32, 0x87);
	/* xor ebx, ebx
	 * 1: cmp ebx, H1; je 2f; mov al, [ebx]
	 * 2: add ebx, 0x1000; cmp ebx, H2; jb 1b
	 * out 0x80, al */
	const uint8_t loop[] = {0x31, 0xdb, 0x81, 0xfb, 0x00, 0x00, 0x08, 0x00,    0x74, 0x02,
	                        0x8a, 0x03, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00,    0x81, 0xfb,
	                        0x00, 0x30, 0x08, 0x00, 0x72, 0xe8, 0xe6, PORT_END};
	put(CODE, loop, sizeof(loop));
	struct vm_exit e;
	run_once(CODE, &e);
	/* Longer than a struct stream holds: the pages in two streams. */
	static struct stream x1, x2;
	memset(&x1, 0, sizeof(x1));
	memset(&x2, 0, sizeof(x2));
	x_paging(&x1, CODE, PD32, VM_PROT_READ);
	x_paging(&x1, CODE, CODE, VM_PROT_EXECUTE);
	for (uint64_t p = 0; p < H2; p += 0x1000)
		if (p != CODE && p != PD32 && p != H1)
			x_paging(p < 0x60000 ? &x1 : &x2, CODE + 10, p, VM_PROT_READ);
	x_out(&x2, CODE + 26, 2, 1, PORT_END, 0);
	cr_assert_eq(x1.n + x2.n, 2 + 128 + 1);
	cr_assert_eq(g.log.n, x1.n + x2.n, "%zu exits", g.log.n);
	for (size_t i = 0; i < g.log.n; i++) {
		const struct expect *want = i < x1.n ? &x1.v[i] : &x2.v[i - x1.n];
		char why[256];
		cr_assert(exit_equal(&want->vme, &g.log.v[i].vme, why, sizeof(why)), "exit %zu: %s",
		          i, why);
		cr_assert_eq(g.log.v[i].handled, want->handled, "exit %zu", i);
	}
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(vm, 0, &st), 0);
	cr_assert_eq(st.exits_handled[VM_EXITCODE_PAGING], 130);
	cr_assert_eq(st.exits_returned[VM_EXITCODE_INOUT], 1);

	/* Again, now storing: every page is populated, no exit but the OUT. */
	g.log.n = 0;
	const uint8_t store = 0x88; /* mov [ebx], al */
	put(CODE + 10, &store, 1);
	setreg(VM_REG_GUEST_RAX, 0x5a);
	setreg(VM_REG_GUEST_RBX, SEG_B);
	run_once(CODE + 2, &e);
	struct stream y = {0};
	x_out(&y, CODE + 26, 2, 1, PORT_END, 0x5a);
	assert_stream(&g, &y);
	uint8_t b, c;
	cr_assert_eq(guest_mem_read(vm, SEG_B, &b, 1), 0);
	cr_assert_eq(guest_mem_read(vm, SEG_C, &c, 1), 0);
	cr_assert(b == 0x5a && c == 0x5a);
	machine_done();
}

/*
 * An INST_EMUL whose instruction the vmm cannot fetch: bhyve 10.1's
 * vmm_fetch_instruction reads at rip as a linear address, without the CS
 * base, and a #PF there is injected and the guest resumed to take it
 * (vm_handle_inst_emul), so the exit is handled in the vmm.  Here CS has
 * base 0x10000 and rip 0x5000, whose linear page is not present; the IDT
 * is empty, so the #PF ends in a triple fault.
 */
Test(memory_map, inst_emul_whose_fetch_faults_is_handled_in_the_vmm)
{
	machine_cold(M_PROT32);
	for (uint32_t k = 0; k < 1024; k++) {
		uint32_t pte = k == 5 ? 0 : (k << 12) | 7;
		put(0x2000 + 4 * k, &pte, 4);
	}
	put64(PD32, 0x2000 | 7);
	seg(VM_REG_GUEST_CS, 0x08, 0x10000, 0xffffffff, 0xc09b);
	struct seg_desc idtr = {0, 0, 0};
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_IDTR, &idtr), 0);
	const uint8_t load[] = {0x8b, 0x03}; /* mov eax, [ebx] */
	put(0x15000, load, sizeof(load));
	setreg(VM_REG_GUEST_RBX, H1);
	struct vm_exit e;
	run_once(0x5000, &e);
	struct stream x = {0};
	x_paging(&x, 0x5000, PD32, VM_PROT_READ);
	x_paging(&x, 0x5000, 0x2000, VM_PROT_READ);
	x_paging(&x, 0x5000, 0x15000, VM_PROT_EXECUTE);
	struct expect ie = {.handled = true};
	ie.vme.exitcode = VM_EXITCODE_INST_EMUL;
	ie.vme.rip = 0x5000;
	ie.vme.inst_length = 2;
	ie.vme.u.inst_emul.gpa = H1;
	ie.vme.u.inst_emul.gla = H1;
	ie.vme.u.inst_emul.cs_d = 1;
	ie.vme.u.inst_emul.paging = paging_of_mode();
	vie_init(&ie.vme.u.inst_emul.vie);
	add(&x, ie);
	struct expect susp = {.handled = false};
	susp.vme.exitcode = VM_EXITCODE_SUSPENDED;
	susp.vme.rip = 0x5000;
	susp.vme.u.suspended.how = VM_SUSPEND_TRIPLEFAULT;
	add(&x, susp);
	assert_stream(&g, &x);
	cr_assert_eq(getreg(VM_REG_GUEST_CR2), 0x5000, "CR2 is the fetch's linear address");
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(vm, 0, &st), 0);
	cr_assert_eq(st.exits_handled[VM_EXITCODE_INST_EMUL], 1);
	cr_assert_eq(st.exits_returned[VM_EXITCODE_INST_EMUL], 0);
	machine_done();
}

/*
 * REP STOSD whose third element straddles RAM and H1: the first two
 * iterations store to RAM, the third exits with the count and index it
 * reached; bhyve's emulate_stos stores the element whole at the exit's
 * gpa (the hole's first byte), steps RDI and RCX, and the guest goes on.
 */
Test(memory_map, rep_stos_element_straddling_ram_and_mmio)
{
	static const enum mode modes[] = {M_PROT32, M_LONG64};
	for (unsigned m = 0; m < 2; m++) {
		machine(modes[m]);
		fill_window(H1);
		const uint8_t code[] = {0xf3, 0xab, 0xe6, PORT_END}; /* rep stosd */
		put(CODE, code, sizeof(code));
		setreg(VM_REG_GUEST_RAX, 0xa1b2c3d4);
		setreg(VM_REG_GUEST_RCX, 3);
		setreg(VM_REG_GUEST_RDI, H1 - 10);
		int err;
		run_to_end(CODE, &err);
		cr_assert_eq(err, 0);
		struct stream x = {0};
		x_paging(&x, CODE, H1 - 0x1000, VM_PROT_WRITE);
		struct expect e = {.handled = false};
		e.vme.exitcode = VM_EXITCODE_INST_EMUL;
		e.vme.rip = CODE;
		e.vme.inst_length = 2;
		e.vme.u.inst_emul.gpa = H1;
		e.vme.u.inst_emul.gla = H1;
		e.vme.u.inst_emul.cs_d = modes[m] == M_PROT32;
		e.vme.u.inst_emul.paging = paging_of_mode();
		add(&x, e);
		x_out(&x, CODE + 2, 2, 1, PORT_END, 0xa1b2c3d4);
		cr_assert_eq(g.log.n, 3);
		cr_assert(g.log.v[1].vme.u.inst_emul.vie.decoded);
		x.v[1].vme.u.inst_emul.vie = g.log.v[1].vme.u.inst_emul.vie;
		assert_stream(&g, &x);
		cr_assert_eq(getreg(VM_REG_GUEST_RCX), 0);
		cr_assert_eq(getreg(VM_REG_GUEST_RDI), H1 + 2);
		uint8_t ram[10];
		cr_assert_eq(guest_mem_read(vm, H1 - 10, ram, 10), 0);
		const uint8_t want[10] = {0xd4,
		                          0xc3,
		                          0xb2,
		                          0xa1,
		                          0xd4,
		                          0xc3,
		                          0xb2,
		                          0xa1,
		                          ram_byte(H1 - 2),
		                          ram_byte(H1 - 1)};
		cr_assert_arr_eq(ram, want, 10);
		cr_assert_eq(dev_n, 1);
		cr_assert(dev_log[0].dir == MEM_F_WRITE && dev_log[0].gpa == H1 &&
		          dev_log[0].size == 4 && dev_log[0].val == 0xa1b2c3d4);
		machine_done();
	}
}

/* ---- string I/O: the runner's copies through vm_copy_setup ---- */

static uint32_t port_out_val;
static int port_handler(struct vm *v, int vcpu, int in, int port, int bytes, uint32_t *eax,
                        void *arg)
{
	(void)v, (void)vcpu, (void)port, (void)bytes, (void)arg;
	if (in)
		*eax = 0x11223344;
	else
		port_out_val = *eax;
	return 0;
}

/*
 * INS and OUTS exit before touching memory (the I/O exit comes first on
 * VT-x), and bhyverun moves the element with vm_copy_setup: across two
 * RAM segments in two pieces; into a hole, vm_copy_setup fails and the
 * run cannot go on (EFAULT; bhyverun aborts).  The host's copy populates
 * nothing: the guest's own first touch of the page is still a PAGING
 * exit.
 */
Test(memory_map, string_io_elements_straddling_segments_and_holes)
{
	struct inout_table ports;
	inout_table_init(&ports);
	const struct inout_port p = {"test", 0x3f8, 1, port_handler, NULL};
	cr_assert_eq(inout_register(&ports, &p), 0);
	const struct {
		bool in;
		uint64_t addr;
		int err;
	} cases[] = {
	    {false, SEG_C - 2, 0},     {true, SEG_C - 1, 0},    {false, H1 - 2, EFAULT},
	    {true, SEG_B - 3, EFAULT}, {false, H2 - 1, EFAULT}, {true, H1 + 0x800, EFAULT},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		machine(M_LONG64);
		fill_window(cases[i].addr);
		const uint8_t code[] = {cases[i].in ? 0x6d : 0x6f, 0xe6, PORT_END}; /* insd/outsd */
		put(CODE, code, sizeof(code));
		setreg(VM_REG_GUEST_RDX, 0x3f8);
		setreg(VM_REG_GUEST_RSI, cases[i].addr);
		setreg(VM_REG_GUEST_RDI, cases[i].addr);
		struct vm_exit e;
		run_once(CODE, &e);
		cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT_STR, "case %u", i);
		cr_assert_eq(g.log.n, 1, "case %u: %zu exits, no PAGING before the I/O exit", i,
		             g.log.n);
		port_out_val = 0;
		int err = inout_str_emulate(&ports, vm, 0, &e);
		cr_assert_eq(err, cases[i].err, "case %u: %d", i, err);
		if (err) {
			machine_done();
			continue;
		}
		uint8_t mem[4];
		cr_assert_eq(guest_mem_read(vm, cases[i].addr, mem, 4), 0);
		uint32_t v = (uint32_t)mem[0] | (uint32_t)mem[1] << 8 | (uint32_t)mem[2] << 16 |
		             (uint32_t)mem[3] << 24;
		if (cases[i].in) {
			cr_assert_eq(v, 0x11223344, "case %u", i);
		} else {
			uint32_t want = 0;
			for (int b = 0; b < 4; b++)
				want |= (uint32_t)ram_byte(cases[i].addr + (uint64_t)b) << (8 * b);
			cr_assert_eq(port_out_val, want, "case %u", i);
		}
		/* The guest's own access to the page is still a first touch. */
		g.log.n = 0;
		const uint8_t load[] = {0x8a, 0x03, 0xe6, PORT_END};
		put(CODE, load, sizeof(load));
		setreg(VM_REG_GUEST_RBX, cases[i].addr + 3);
		run_once(CODE, &e);
		struct stream x = {0};
		x_paging(&x, CODE, (cases[i].addr + 3) & ~UINT64_C(0xfff), VM_PROT_READ);
		x_out(&x, CODE + 2, 2, 1, PORT_END, (uint32_t)getreg(VM_REG_GUEST_RAX));
		assert_stream(&g, &x);
		machine_done();
	}
	machine_done();
}
