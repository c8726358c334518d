/*
 * String I/O: guests doing INS/OUTS with and without REP, whose INOUT_STR
 * exits are emulated by the runner's inout_str_emulate (bhyverun's
 * inout.c:emulate_inout, ../shared/BHYVE-EXITS.md section 3) on a
 * recording device.  Each test asserts the complete exit stream, every
 * element the device saw, and the registers and memory the guest leaves.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "event_stream.h"
#include "guest_helper.h"
#include "runner/inout.h"
#include "runner/inout_str.h"

#define NELEM(a)  (sizeof(a) / sizeof((a)[0]))
#define TEST_PORT 0x510

/* ---- the recording device --------------------------------------------------- */

struct access {
	int in, bytes;
	uint32_t value;
};

#define MAX_ACCESSES 64
struct recorder {
	struct access seen[MAX_ACCESSES];
	size_t n;
	uint32_t next_in; /* what the next IN reads: 0x41424344, then + 0x01010101 */
};

static int record_port(struct vm *vm, int vcpu, int in, int port, int bytes, uint32_t *eax,
                       void *arg)
{
	struct recorder *r = arg;
	(void)vm;
	(void)vcpu;
	(void)port;
	if (r->n == MAX_ACCESSES)
		return ENOSPC;
	if (in) {
		*eax = r->next_in;
		r->next_in += 0x01010101u;
	}
	r->seen[r->n++] = (struct access){in, bytes, *eax & inout_size_mask(bytes)};
	return 0;
}

static struct guest g;
static struct recorder rec;
static struct inout_table ports;

static void close_guest(void)
{
	guest_close(&g);
}

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	rec.next_in = 0x41424344u;
	inout_table_init(&ports);
	const struct inout_port p = {"recorder", TEST_PORT, 1, record_port, &rec};
	cr_assert_eq(inout_register(&ports, &p), 0);
}

TestSuite(string_io, .init = setup, .fini = close_guest);

/*
 * Run to the guest's OUT to 0xF4, emulating each INOUT_STR exit as
 * bhyverun does and resuming at rip + inst_length (which the emulation
 * sets to 0 while the count is not done).
 */
static void run_guest(const char *name)
{
	char desc[256];
	cr_assert_eq(guest_open(&g, name), 0, "guest_open(%s): %s", name, g.err);
	for (int returned = 0; returned < 1000; returned++) {
		struct vm_exit vme;
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		exit_describe(&vme, desc, sizeof(desc));
		if (vme.exitcode == VM_EXITCODE_INOUT && !vme.u.inout.in &&
		    vme.u.inout.port == 0xf4)
			return;
		cr_assert_eq(vme.exitcode, VM_EXITCODE_INOUT_STR, "unexpected exit %s", desc);
		int err = inout_str_emulate(&ports, g.vm, 0, &vme);
		cr_assert_eq(err, 0, "emulating %s: %s", desc, strerror(err));
		g.rip = vme.rip + (uint64_t)vme.inst_length;
	}
	cr_assert_fail("no OUT to 0xF4 after 1000 returned exits");
}

/* ---- expected streams ---------------------------------------------------------- */

#define X_PAGING(rip_, gpa_, type_)                                                                \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_PAGING,                                            \
		        .rip = (rip_),                                                             \
		        .u.paging = {.gpa = (gpa_), .fault_type = (type_)}},                       \
		.handled = true                                                                    \
	}

#define X_OUT(rip_, len_, bytes_, port_, eax_)                                                     \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_INOUT,                                             \
		        .inst_length = (len_),                                                     \
		        .rip = (rip_),                                                             \
		        .u.inout = {.bytes = (bytes_), .port = (port_), .eax = (eax_)}},           \
		.handled = false                                                                   \
	}

/*
 * The parts of an INOUT_STR exit that stay the same through one guest:
 * paging, CR0 and the segment used (ES for INS, DS for OUTS here).
 */
struct str_env {
	struct vm_guest_paging paging;
	uint64_t cr0;
	struct seg_desc ds, es;
	uint32_t eax;
};

/* One INOUT_STR exit: port TEST_PORT, the instruction at 'rip' of length 'len'. */
static struct expect x_str(const struct str_env *env, uint64_t rip, int len, int in, int bytes,
                           int rep, uint64_t rflags, uint64_t index, uint64_t count, int addrsize)
{
	struct expect e = {.handled = false};
	e.vme.exitcode = VM_EXITCODE_INOUT_STR;
	e.vme.rip = rip;
	e.vme.inst_length = len;
	struct vm_inout_str *s = &e.vme.u.inout_str;
	s->inout.bytes = (uint16_t)bytes;
	s->inout.in = (uint16_t)in;
	s->inout.string = 1;
	s->inout.rep = (uint16_t)rep;
	s->inout.port = TEST_PORT;
	s->inout.eax = env->eax;
	s->paging = env->paging;
	s->rflags = rflags;
	s->cr0 = env->cr0;
	s->index = index;
	s->count = count;
	s->addrsize = addrsize;
	s->seg_name = in ? VM_REG_GUEST_ES : VM_REG_GUEST_DS;
	s->seg_desc = in ? env->es : env->ds;
	return e;
}

/* The device saw exactly 'exp', in order. */
static void assert_accesses(const struct access *exp, size_t n)
{
	for (size_t i = 0; i < n && i < rec.n; i++) {
		cr_assert_eq(rec.seen[i].in, exp[i].in, "access %zu: in %d", i, rec.seen[i].in);
		cr_assert_eq(rec.seen[i].bytes, exp[i].bytes, "access %zu: %d bytes", i,
		             rec.seen[i].bytes);
		cr_assert_eq(rec.seen[i].value, exp[i].value,
		             "access %zu: value 0x%x, expected 0x%x", i, rec.seen[i].value,
		             exp[i].value);
	}
	cr_assert_eq(rec.n, n, "the device saw %zu accesses, expected %zu", rec.n, n);
}

static uint32_t mem32(uint64_t gpa)
{
	uint32_t v = 0;
	cr_assert_eq(guest_mem_read(g.vm, gpa, &v, sizeof(v)), 0);
	return v;
}

static uint64_t reg(int r)
{
	uint64_t v = 0;
	cr_assert_eq(vm_get_register(g.vm, 0, r, &v), 0);
	return v;
}

/* Slot n of a guest's saved ESI, EDI, ECX. */
static void assert_slot(uint64_t base, int n, uint32_t esi, uint32_t edi, uint32_t ecx)
{
	uint64_t at = base + 16 * (uint64_t)n;
	cr_assert_eq(mem32(at), esi, "slot %d: ESI 0x%x, expected 0x%x", n, mem32(at), esi);
	cr_assert_eq(mem32(at + 4), edi, "slot %d: EDI 0x%x, expected 0x%x", n, mem32(at + 4), edi);
	cr_assert_eq(mem32(at + 8), ecx, "slot %d: ECX 0x%x, expected 0x%x", n, mem32(at + 8), ecx);
}

#define B(v)                                                                                       \
	{                                                                                          \
		0, 1, (v)                                                                          \
	}
#define W(v)                                                                                       \
	{                                                                                          \
		0, 2, (v)                                                                          \
	}
#define D(v)                                                                                       \
	{                                                                                          \
		0, 4, (v)                                                                          \
	}

/* ---- real mode -------------------------------------------------------------------- */

/*
 * strio_real.asm.  DS = ES = 0: base 0, limit 0xFFFF, access 0x93 (a
 * present read/write data segment); addrsize 2; CPL 0; CR0 = ET; FLAT
 * paging.  RFLAGS at each exit follows from the guest's last flag writer
 * (XOR AX,AX: ZF PF; the INC BX that ends 'save'; CLD/STD).  The
 * instruction restarts with inst_length 0 after the first 16 bytes of the
 * 20-byte REP OUTSB, so the second exit shows index + 16 and count 4.
 */
Test(string_io, real_mode_rep_outs_ins_16bit_wrap_and_count_zero)
{
	const struct str_env env = {
	    .paging = {.cr3 = 0,
	               .cpl = 0,
	               .cpu_mode = CPU_MODE_REAL,
	               .paging_mode = PAGING_MODE_FLAT},
	    .cr0 = 0x10,
	    .ds = {.base = 0, .limit = 0xffff, .access = 0x93},
	    .es = {.base = 0, .limit = 0xffff, .access = 0x93},
	    .eax = 0,
	};
	const uint64_t msg = 0x7cb2, buf_in = 0x9100;
	const struct expect exp[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_PAGING(0x7c06, 0x0000, VM_PROT_WRITE), /* IVT entry 13 */
	    x_str(&env, 0x7c22, 2, 0, 1, 1, 0x46, msg, 20, 2),
	    x_str(&env, 0x7c22, 2, 0, 1, 1, 0x46, msg + 16, 4, 2),
	    X_PAGING(0x7c92, 0x9000, VM_PROT_WRITE), /* the first save */
	    x_str(&env, 0x7c31, 2, 0, 2, 1, 0x402, msg + 5, 3, 2),
	    X_PAGING(0x7c37, 0xf000, VM_PROT_WRITE),
	    x_str(&env, 0x7c4f, 2, 0, 1, 1, 0x2, 0x1234fffe, 0xabcd0004, 2),
	    x_str(&env, 0x7c57, 3, 0, 4, 1, 0x6, 0x12340002, 0xabcd0000, 2),
	    x_str(&env, 0x7c69, 2, 1, 1, 1, 0x2, buf_in, 5, 2),
	    x_str(&env, 0x7c74, 2, 1, 4, 0, 0x6, buf_in + 5, 1, 2),
	    x_str(&env, 0x7c7c, 2, 0, 4, 0, 0x6, msg + 8, 1, 2),
	    x_str(&env, 0x7c84, 1, 0, 2, 0, 0x6, 0xffff, 1, 2),
	    X_OUT(0x7c8a, 2, 1, 0xf4, 0),
	};
	const struct access seen[] = {
	    /* "0123456789abcdefghij" */
	    B(0x30),       B(0x31),      B(0x32),
	    B(0x33),       B(0x34),      B(0x35),
	    B(0x36),       B(0x37),      B(0x38),
	    B(0x39),       B(0x61),      B(0x62),
	    B(0x63),       B(0x64),      B(0x65),
	    B(0x66),       B(0x67),      B(0x68),
	    B(0x69),       B(0x6a),      W(0x3635),
	    W(0x3433),     W(0x3231), /* "56", "34", "12", DF = 1 */
	    B(0xaa),       B(0xbb),      B(0xcc),
	    B(0xdd), /* 0xFFFE, 0xFFFF, then 0x0000, 0x0001 */
	    {1, 1, 0x44},  {1, 1, 0x45}, {1, 1, 0x46},
	    {1, 1, 0x47},  {1, 1, 0x48}, {1, 4, 0x46474849},
	    D(0x62613938), /* "89ab" */
	    W(0x00bb),     /* linear 0xFFFF and 0x10000 */
	};
	run_guest("strio_real");
	assert_exits(&g, exp, NELEM(exp));
	assert_accesses(seen, NELEM(seen));
	assert_slot(0x9000, 0, msg + 20, 0, 0);
	assert_slot(0x9000, 1, msg - 1, 0, 0);
	assert_slot(0x9000, 2, 0x12340002, 0, 0xabcd0000);
	assert_slot(0x9000, 3, 0x12340002, 0, 0xabcd0000); /* count 0: nothing moved */
	assert_slot(0x9000, 4, 0x12340002, buf_in + 5, 0);
	assert_slot(0x9000, 5, msg + 12, buf_in + 9, 0x77);
	assert_slot(0x9000, 6, 0x00000001, buf_in + 9, 0x77);
	cr_assert_eq(mem32(buf_in), 0x47464544);     /* INSB: 44 45 46 47 48 */
	cr_assert_eq(mem32(buf_in + 4), 0x47484948); /* then INSD: 49 48 47 46 */
	cr_assert_eq(mem32(buf_in + 8) & 0xff, 0x46);
	cr_assert_eq(mem32(0x90f0), 0, "the #GP handler ran");
	cr_assert_eq(reg(VM_REG_GUEST_RIP), 0x7c8a);
}

/*
 * strio_pm32.asm.  DS = ES: base 0, limit 4 GiB, access 0xC093; FS: base
 * 0x8000, limit 0xFFF, access 0x4093; addrsize 4; CR0 = PE | ET.  EAX is
 * whatever the guest last left there (its selectors, then the EIP the #GP
 * handler read).  The REP FS OUTSB moves two bytes, then the third offset
 * (0x1000) fails the limit check: #GP(0) is injected, ESI and ECX are
 * written back with the two elements done, and the restarted instruction
 * takes the #GP first (no second exit).
 */
Test(string_io, protected_mode_page_crossing_elements_and_limit_faults)
{
	struct str_env env = {
	    .paging = {.cr3 = 0,
	               .cpl = 0,
	               .cpu_mode = CPU_MODE_PROTECTED,
	               .paging_mode = PAGING_MODE_FLAT},
	    .cr0 = 0x11,
	    .ds = {.base = 0, .limit = 0xffffffff, .access = 0xc093},
	    .es = {.base = 0, .limit = 0xffffffff, .access = 0xc093},
	    .eax = 0x10,
	};
	struct str_env fs = env;
	fs.ds = (struct seg_desc){.base = 0x8000, .limit = 0xfff, .access = 0x4093};
	fs.eax = 0x18;
	struct str_env fs2 = fs;
	fs2.eax = 0x7ca7;
	struct expect exp[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_PAGING(0x7c2f, 0x2000, VM_PROT_WRITE),
	    X_PAGING(0x7c43, 0x3000, VM_PROT_WRITE),
	    x_str(&env, 0x7c62, 2, 0, 4, 1, 0x46, 0x2ffa, 3, 4),
	    X_PAGING(0x7cc2, 0x9000, VM_PROT_WRITE),
	    x_str(&env, 0x7c74, 3, 1, 2, 1, 0x402, 0x3001, 3, 4),
	    X_PAGING(0x7c83, 0x8000, VM_PROT_WRITE),
	    x_str(&fs, 0x7c96, 2, 0, 1, 0, 0x2, 0xfff, 1, 4),
	    x_str(&fs, 0x7ca7, 3, 0, 1, 1, 0x6, 0xffe, 4, 4),
	    x_str(&fs2, 0x7cb4, 3, 0, 2, 0, 0x2, 0xfff, 1, 4),
	    X_OUT(0x7cbe, 2, 1, 0xf4, 0x7c00),
	};
	/* The FS exits name FS, not DS. */
	for (size_t i = 7; i <= 9; i++)
		exp[i].vme.u.inout_str.seg_name = VM_REG_GUEST_FS;
	const struct access seen[] = {
	    D(0x66554433),  D(0xaa998877),  D(0xeeddccbb),  /* 0x2FFA, 0x2FFE (straddles), 0x3002 */
	    {1, 2, 0x4344}, {1, 2, 0x4445}, {1, 2, 0x4546}, /* to 0x3001, 0x2FFF, 0x2FFD */
	    B(0x5a),                                        /* FS:0xFFF */
	    B(0xa5),        B(0x5a),                        /* FS:0xFFE, FS:0xFFF, then #GP */
	};
	run_guest("strio_pm32");
	assert_exits(&g, exp, NELEM(exp));
	assert_accesses(seen, NELEM(seen));
	assert_slot(0x9000, 0, 0x3006, 0, 0);
	assert_slot(0x9000, 1, 0x3006, 0x2ffb, 0);
	assert_slot(0x9000, 2, 0x1000, 0x2ffb, 0);
	assert_slot(0x9000, 3, 0x1000, 0x2ffb, 2); /* two of four done when #GP came */
	assert_slot(0x9000, 4, 0xfff, 0x2ffb, 2);
	cr_assert_eq(mem32(0x2ffc), 0x45454655); /* 55, then the INSW bytes 46 45 45 */
	cr_assert_eq(mem32(0x3000), 0xcc434444);
	cr_assert_eq(mem32(0x90f0), 0, "#GP error code");
	cr_assert_eq(mem32(0x90f4), 0x7cb4, "EIP of the last #GP");
	cr_assert_eq(mem32(0x90f8), 2, "#GPs taken");
}

static uint64_t mem64(uint64_t gpa)
{
	return (uint64_t)mem32(gpa) | (uint64_t)mem32(gpa + 4) << 32;
}

/*
 * strio_long64.asm.  CR3 = 0xA000, CR0 = PG | PE | ET, 64-bit mode and
 * 4-level paging; DS and ES keep their 32-bit flat descriptors (access
 * 0xC093), whose base 64-bit mode ignores.  The index and count of the A32
 * INSD are reported in full (bits 63:32 set) and used at 32 bits.  The
 * OUTSB from the unmapped page: vm_copy_setup injects #PF(0), CR2 =
 * 0x50010; the exit restarts and vm_run delivers the #PF at the OUTSB;
 * after the handler's IRETQ the OUTSB exits again, RF set in its RFLAGS
 * (the fault frame's RF, docs/deviations.md "RF on injected faults").
 */
Test(string_io, long_mode_straddling_page_a32_and_a_page_fault_to_the_guest)
{
	struct str_env env = {
	    .paging = {.cr3 = 0xa000,
	               .cpl = 0,
	               .cpu_mode = CPU_MODE_64BIT,
	               .paging_mode = PAGING_MODE_64},
	    .cr0 = 0x80000011,
	    .ds = {.base = 0, .limit = 0xffffffff, .access = 0xc093},
	    .es = {.base = 0, .limit = 0xffffffff, .access = 0xc093},
	    .eax = 0x80000011,
	};
	struct str_env after_pf = env;
	after_pf.eax = 0x7cad; /* the handler's MOV RAX, [RSP] */
	const struct expect exp[] = {
	    X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE),
	    X_PAGING(0x7c48, 0xa000, VM_PROT_READ), /* the far jump's walk */
	    X_PAGING(0x7c48, 0xb000, VM_PROT_READ),
	    X_PAGING(0x7c48, 0xc000, VM_PROT_READ),
	    X_PAGING(0x7c48, 0xd000, VM_PROT_READ),
	    X_PAGING(0x7c62, 0x60000, VM_PROT_WRITE),
	    X_PAGING(0x7c6d, 0x70000, VM_PROT_WRITE), /* linear 0x61000 */
	    x_str(&env, 0x7c83, 2, 0, 4, 1, 0x46, 0x60ffe, 2, 8),
	    X_PAGING(0x7cb9, 0x9000, VM_PROT_WRITE),
	    x_str(&env, 0x7c9f, 3, 1, 4, 1, 0x402, 0xffffffff00062000, 0xffffffff00000002, 4),
	    x_str(&env, 0x7cad, 1, 0, 1, 0, 0x2, 0x50010, 1, 8),
	    x_str(&after_pf, 0x7cad, 1, 0, 1, 0, 0x10002, 0x7cfc, 1, 8),
	    X_OUT(0x7cb5, 2, 1, 0xf4, 0x7c00),
	};
	const struct access seen[] = {
	    D(0x66554433),      /* physical 0x60FFE-F, then 0x70000-1 */
	    D(0x00008877),      /* linear 0x61002 = physical 0x70002 */
	    {1, 4, 0x41424344}, /* to 0x62000 */
	    {1, 4, 0x42434445}, /* to linear 0x61FFC = physical 0x70FFC */
	    B(0x5a),            /* "Z", after the #PF */
	};
	run_guest("strio_long64");
	assert_exits(&g, exp, NELEM(exp));
	assert_accesses(seen, NELEM(seen));
	/* slots of 32 bytes: RSI, RDI, RCX */
	cr_assert_eq(mem64(0x9000), 0x61006);
	cr_assert_eq(mem64(0x9020), 0x61006);
	cr_assert_eq(mem64(0x9028), 0x61ff8, "RDI zero-extended from EDI");
	cr_assert_eq(mem64(0x9030), 0, "RCX zero-extended from ECX");
	cr_assert_eq(mem64(0x9040), 0x7cfd);
	cr_assert_eq(mem32(0x62000), 0x41424344);
	cr_assert_eq(mem32(0x70ffc), 0x42434445);
	cr_assert_eq(mem32(0x61ffc), 0, "physical 0x61FFC is not linear 0x61FFC");
	cr_assert_eq(mem64(0x90f0), 0x50010, "CR2");
	cr_assert_eq(mem32(0x90f8), 0, "#PF error code: not present, read, supervisor");
	cr_assert_eq(mem32(0x90fc), 0x7cad, "pushed RIP: the OUTSB");
}
