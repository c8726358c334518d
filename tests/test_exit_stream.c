/*
 * Exit-stream tests: small guests (the .asm files in tests/guests) run
 * in-process through the public API, and their complete exit streams,
 * handled and returned, are compared exit by exit and field by field with
 * what bhyve's vmm produces for the same code (../shared/BHYVE-EXITS.md,
 * cited by section).
 *
 * Every expected value follows from the guest's source: the addresses are
 * pinned there with AT, the register values are the ones the guest loads,
 * and the PAGING exits are the pages it touches first.  RAM and the image
 * pages are loaded by the host before the run, which does not count as a
 * touch (only the guest's own accesses populate bhyve's EPT), so the first
 * exit of every guest is the fetch of its first instruction.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <softvmm/trace.h>
#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "event_stream.h"
#include "guest_helper.h"

/* One expected exit of a stream. */

#define X_PAGING(rip_, gpa_, type_)                                                                \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_PAGING,                                            \
		        .inst_length = 0,                                                          \
		        .rip = (rip_),                                                             \
		        .u.paging = {.gpa = (gpa_), .fault_type = (type_)}},                       \
		.handled = true                                                                    \
	}

#define X_INOUT(rip_, len_, in_, bytes_, port_, eax_)                                              \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_INOUT,                                             \
		        .inst_length = (len_),                                                     \
		        .rip = (rip_),                                                             \
		        .u.inout = {.bytes = (bytes_),                                             \
		                    .in = (in_),                                                   \
		                    .string = 0,                                                   \
		                    .rep = 0,                                                      \
		                    .port = (port_),                                               \
		                    .eax = (eax_)}},                                               \
		.handled = false                                                                   \
	}
#define X_OUT(rip_, len_, bytes_, port_, eax_) X_INOUT(rip_, len_, 0, bytes_, port_, eax_)
#define X_IN(rip_, len_, bytes_, port_, eax_)  X_INOUT(rip_, len_, 1, bytes_, port_, eax_)

#define X_SUSPENDED(rip_, how_)                                                                    \
	{                                                                                          \
		.vme = {.exitcode = VM_EXITCODE_SUSPENDED,                                         \
		        .inst_length = 0,                                                          \
		        .rip = (rip_),                                                             \
		        .u.suspended = {.how = (how_)}},                                           \
		.handled = false                                                                   \
	}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The first exit of every guest: fetching its first instruction at 0x7C00. */
#define X_FIRST_FETCH X_PAGING(0x7c00, 0x7000, VM_PROT_EXECUTE)

/*
 * The guests of the running test.  Criterion runs every test in its own
 * process and calls the suite's fini also after a failed assertion, so they
 * are closed (and LeakSanitizer stays quiet) however the test ends.
 */
static struct guest g, g2;

static void close_guests(void)
{
	guest_close(&g);
	guest_close(&g2);
}

TestSuite(exit_stream, .fini = close_guests);

static void open_guest(struct guest *gst, const char *name)
{
	int err = guest_open(gst, name);
	cr_assert_eq(err, 0, "guest_open(%s): %s", name, gst->err);
}

/*
 * Run until the guest's isa-debug-exit write (OUT to 0xF4), which ends a
 * bench-convention guest.  Each returned exit must be the observer's latest
 * record, marked not handled: vm_run returns exactly what it reported.
 * 'handle' deals with every other returned exit (NULL: none is expected).
 */
typedef void (*exit_handler_fn)(struct guest *gst, struct vm_exit *vme, void *arg);

static void run_to_debug_exit(struct guest *gst, exit_handler_fn handle, void *arg)
{
	char why[256], desc[256];
	for (int returned = 0; returned < 1000; returned++) {
		struct vm_exit vme;
		int err = guest_run(gst, &vme);
		cr_assert_eq(err, 0, "%s", gst->err);
		exit_describe(&vme, desc, sizeof(desc));
		cr_assert_gt(gst->log.n, 0, "vm_run returned %s, but the observer saw no exit",
		             desc);
		const struct recorded_exit *last = &gst->log.v[gst->log.n - 1];
		cr_assert(exit_equal(&last->vme, &vme, why, sizeof(why)),
		          "returned %s differs from the observed one: %s", desc, why);
		cr_assert(!last->handled, "returned %s was observed as handled", desc);
		if (vme.exitcode == VM_EXITCODE_INOUT && !vme.u.inout.in &&
		    vme.u.inout.port == 0xf4)
			return;
		cr_assert_not_null(handle, "unexpected exit %s", desc);
		handle(gst, &vme, arg);
	}
	cr_assert_fail("no OUT to 0xF4 after 1000 returned exits");
}

/* ---- exits_inout ---------------------------------------------------------- */

/* The values the test's "devices" return, one per IN, in the guest's order. */
struct in_script {
	const uint32_t *values;
	size_t n, next;
};

static void answer_in(struct guest *gst, struct vm_exit *vme, void *arg)
{
	struct in_script *s = arg;
	char desc[256];
	exit_describe(vme, desc, sizeof(desc));
	cr_assert_eq(vme->exitcode, VM_EXITCODE_INOUT, "unexpected exit %s", desc);
	if (!vme->u.inout.in)
		return; /* an OUT: nothing to emulate, resume after it */
	cr_assert_lt(s->next, s->n, "more INs than scripted: %s", desc);
	int err = guest_complete_in(gst, vme, s->values[s->next++]);
	cr_assert_eq(err, 0, "completing %s: %s", desc, strerror(err));
}

static const uint32_t inout_in_values[] = {0xa5, 0x60, 0xbeef, 0xdeadbeef, 0x0badf00d};

static void run_inout_guest(struct guest *gst)
{
	struct in_script s = {inout_in_values, NELEM(inout_in_values), 0};
	open_guest(gst, "exits_inout");
	run_to_debug_exit(gst, answer_in, &s);
	cr_assert_eq(s.next, s.n, "%zu of %zu scripted INs happened", s.next, s.n);
}

/*
 * BHYVE-EXITS.md section 3: bytes, direction and port come from the
 * instruction, eax is the low 32 bits of RAX for OUT and for IN alike, rip is
 * the instruction's address and inst_length its length.  An IN's result is
 * merged into eax by the caller and written back as RAX (here
 * guest_complete_in), which the next OUT's eax shows.  Section 5: the first
 * write to page 0x3000 and the first read of page 0x4000 are handled PAGING
 * exits with inst_length 0 at the accessing instruction; the later read of
 * 0x3001 gives none.
 */
Test(exit_stream, inout_guest_gives_every_exit_in_order_with_exact_payloads)
{
	static const struct expect exp[] = {
	    X_FIRST_FETCH,
	    X_OUT(0x7c06, 2, 1, 0xe9, 0x12345678),  /* out 0xE9, al */
	    X_OUT(0x7c08, 2, 2, 0x80, 0x12345678),  /* out 0x80, ax */
	    X_OUT(0x7c0a, 3, 4, 0x80, 0x12345678),  /* out 0x80, eax (66 E7 80) */
	    X_OUT(0x7c10, 1, 1, 0x3f8, 0x12345678), /* out dx, al */
	    X_OUT(0x7c12, 1, 2, 0x3f9, 0x12345678), /* out dx, ax */
	    X_OUT(0x7c16, 2, 4, 0x3fc, 0x12345678), /* out dx, eax (66 EF) */
	    X_PAGING(0x7c18, 0x3000, VM_PROT_WRITE),
	    X_PAGING(0x7c1d, 0x4000, VM_PROT_READ),
	    X_IN(0x7c25, 2, 1, 0x80, 0x12345678),  /* in al, 0x80 -> 0xA5 */
	    X_OUT(0x7c27, 2, 1, 0xe9, 0x123456a5), /* echo */
	    X_IN(0x7c2c, 1, 1, 0x3fd, 0x123456a5), /* in al, dx -> 0x60 */
	    X_IN(0x7c2d, 1, 2, 0x3fd, 0x12345660), /* in ax, dx -> 0xBEEF */
	    X_IN(0x7c2e, 3, 4, 0x80, 0x1234beef),  /* in eax, 0x80 -> 0xDEADBEEF */
	    X_IN(0x7c31, 2, 4, 0x3fd, 0xdeadbeef), /* in eax, dx -> 0x0BADF00D */
	    X_OUT(0x7c33, 3, 4, 0x80, 0x0badf00d), /* echo */
	    X_OUT(0x7c38, 2, 1, 0xf4, 0x0badf000), /* mov al, 0; out 0xF4, al */
	};
	run_inout_guest(&g);
	assert_exits(&g, exp, NELEM(exp));
}

/* The statistics count the same stream: 3 PAGING exits handled, 14 INOUT returned. */
Test(exit_stream, inout_guest_stats_count_handled_and_returned_exits)
{
	struct vm_vcpu_stats st;
	run_inout_guest(&g);
	cr_assert_eq(vm_get_stats(g.vm, 0, &st), 0);
	for (int code = 0; code < VM_EXITCODE_MAX; code++) {
		uint64_t handled = code == VM_EXITCODE_PAGING ? 3 : 0;
		uint64_t returned = code == VM_EXITCODE_INOUT ? 14 : 0;
		cr_assert_eq(st.exits_handled[code], handled, "exits_handled[%s] = %" PRIu64,
		             vm_exitcode_name(code), st.exits_handled[code]);
		cr_assert_eq(st.exits_returned[code], returned, "exits_returned[%s] = %" PRIu64,
		             vm_exitcode_name(code), st.exits_returned[code]);
	}
}

/* ---- cli_hlt ------------------------------------------------------------------ */

/*
 * BHYVE-EXITS.md section 8: with VM_CAP_HALT_EXIT the HLT exits (handled
 * in the vmm, rip at the HLT, inst_length 1, rflags with IF clear); with
 * IF = 0 on the only vcpu, halt detection suspends the VM, and the next
 * entry gives SUSPENDED {HALT} at the instruction after the HLT,
 * inst_length 0.  Without the capability there is no HLT exit at all
 * (tests/test_hlt_mtrap.c).
 */
Test(exit_stream, cli_hlt_gives_handled_hlt_then_suspended_halt_with_halt_exit)
{
	struct expect exp[] = {
	    X_FIRST_FETCH,
	    {.vme = {.exitcode = VM_EXITCODE_HLT,
	             .inst_length = 1,
	             .rip = 0x7c01,
	             .u.hlt = {.rflags = 0x2}},
	     .handled = true},
	    X_SUSPENDED(0x7c02, VM_SUSPEND_HALT),
	};
	struct vm_exit vme;
	open_guest(&g, "cli_hlt");
	cr_assert_eq(vm_set_capability(g.vm, 0, VM_CAP_HALT_EXIT, 1), 0);
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_exits(&g, exp, NELEM(exp));
}

/* BHYVE-EXITS.md section 1: vm_run fails with EINVAL on a suspended vcpu. */
Test(exit_stream, vm_run_after_suspended_exit_fails_with_einval)
{
	struct vm_exit vme;
	open_guest(&g, "cli_hlt");
	cr_assert_eq(vm_set_capability(g.vm, 0, VM_CAP_HALT_EXIT, 1), 0);
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	cr_assert_eq(vme.exitcode, VM_EXITCODE_SUSPENDED);
	size_t before = g.log.n;
	cr_assert_eq(guest_run(&g, &vme), EINVAL);
	cr_assert_eq(g.log.n, before, "a failed vm_run reported an exit");
}

/* ---- triple ------------------------------------------------------------------- */

/*
 * UD2 with an empty IDT: #UD, #GP and #DF all find no gate, a triple fault.
 * softvmm ends the run with SUSPENDED {TRIPLEFAULT} ("Decisions" in
 * BHYVE-EXITS.md) at the instruction that faulted, since no event was ever
 * delivered; nothing is pushed, so no stack page is touched.
 */
Test(exit_stream, triple_fault_gives_suspended_triplefault_at_the_faulting_instruction)
{
	static const struct expect exp[] = {
	    X_FIRST_FETCH,
	    X_SUSPENDED(0x7c29, VM_SUSPEND_TRIPLEFAULT),
	};
	struct vm_exit vme;
	open_guest(&g, "triple");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_exits(&g, exp, NELEM(exp));
}

/* ---- touch_pages ----------------------------------------------------------------- */

/*
 * BHYVE-EXITS.md section 5: one handled PAGING exit per page, at the first
 * access of any kind, with fault_type 2 for a write, else 4 for a fetch, else
 * 1, and the page's address as gpa; the instruction restarts (inst_length 0)
 * and later accesses to the page give none.  An access straddling two fresh
 * pages exits once per page.  The table is the one in touch_pages.asm.
 */
Test(exit_stream, touch_pages_gives_one_paging_exit_per_first_touched_page)
{
	static const struct expect exp[] = {
	    X_FIRST_FETCH,
	    X_PAGING(0x7c22, 0x10000, VM_PROT_READ),
	    X_PAGING(0x7c2c, 0x11000, VM_PROT_WRITE),
	    X_PAGING(0x7c3b, 0x12000, VM_PROT_READ),
	    X_PAGING(0x7c40, 0x14000, VM_PROT_READ),
	    X_PAGING(0x7c40, 0x15000, VM_PROT_READ),
	    X_PAGING(0x9000, 0x9000, VM_PROT_EXECUTE),
	    X_OUT(0x7c51, 2, 1, 0xf4, 0),
	};
	open_guest(&g, "touch_pages");
	run_to_debug_exit(&g, NULL, NULL);
	assert_exits(&g, exp, NELEM(exp));
}

/* ---- mmio ------------------------------------------------------------------------ */

/* A device for vmm_emulate_instruction that logs each access. */
struct mmio_access {
	bool write;
	uint64_t gpa, val;
	int size;
};

struct mmio_dev {
	uint64_t read_value;
	struct mmio_access log[8];
	int n;
};

static int mmio_read(void *vm, int cpuid, uint64_t gpa, uint64_t *rval, int rsize, void *arg)
{
	struct mmio_dev *d = arg;
	(void)vm;
	(void)cpuid;
	if (d->n < 8)
		d->log[d->n++] = (struct mmio_access){false, gpa, d->read_value, rsize};
	*rval = d->read_value;
	return 0;
}

static int mmio_write(void *vm, int cpuid, uint64_t gpa, uint64_t wval, int wsize, void *arg)
{
	struct mmio_dev *d = arg;
	(void)vm;
	(void)cpuid;
	if (d->n < 8)
		d->log[d->n++] = (struct mmio_access){true, gpa, wval, wsize};
	return 0;
}

/* Emulate an INST_EMUL exit with the vie the vmm decoded, as bhyverun's mem.c does. */
static void emulate_mmio(struct guest *gst, struct vm_exit *vme, void *arg)
{
	char desc[256];
	exit_describe(vme, desc, sizeof(desc));
	if (vme->exitcode == VM_EXITCODE_INOUT && !vme->u.inout.in)
		return; /* the guest's OUT 0x80 echo */
	cr_assert_eq(vme->exitcode, VM_EXITCODE_INST_EMUL, "unexpected exit %s", desc);
	int err = vmm_emulate_instruction(gst->vm, 0, vme->u.inst_emul.gpa, &vme->u.inst_emul.vie,
	                                  &vme->u.inst_emul.paging, mmio_read, mmio_write, arg);
	cr_assert_eq(err, 0, "emulating %s: %s", desc, strerror(err));
}

#define MMIO_READ_VALUE 0xcafef00du

/* The exit of a guest access to MMIO in flat 32-bit protected mode at CPL 0
 * (other modes start from it and change what differs). */
#define X_INST_EMUL_PM32(rip_, len_, gpa_)                                                         \
	.exitcode = VM_EXITCODE_INST_EMUL, .inst_length = (len_), .rip = (rip_),                   \
	.u.inst_emul.gpa = (gpa_), .u.inst_emul.gla = (gpa_), .u.inst_emul.cs_d = 1,               \
	.u.inst_emul.paging = {                                                                    \
	    .cr3 = 0, .cpl = 0, .cpu_mode = CPU_MODE_PROTECTED, .paging_mode = PAGING_MODE_FLAT}

/*
 * The vie of a fully decoded instruction (BHYVE-EXITS.md section 4): every
 * fetched byte processed, no REX or size override, registers not used
 * marked VM_REG_LAST, no SIB (so scale 0, as bhyve leaves it).
 */
#define VIE_DECODED_32(len_, ...)                                                                  \
	.num_valid = (len_), .num_processed = (len_), .addrsize = 4, .opsize = 4, .decoded = 1,    \
	.ss = 0, .index = 0, .base = 0, .scale = 0, .index_register = VM_REG_LAST, __VA_ARGS__

/*
 * BHYVE-EXITS.md section 4: an access to a gpa that is neither RAM nor an
 * in-vmm device is an INST_EMUL exit at the instruction, with its length,
 * gpa = gla (flat, no paging), CS.D = 1 and the paging state, and a vie the
 * vmm already fetched and decoded.  The caller's emulation feeds the read
 * value into EDX (echoed by OUT 0x80) and sees the stored ECX.
 */
Test(exit_stream, mmio_guest_gives_decoded_inst_emul_exits)
{
	struct expect exp[] = {
	    X_FIRST_FETCH,
	    {.vme = {X_INST_EMUL_PM32(0x7c22, 6, 0xfeb00010)}, .handled = false},
	    X_OUT(0x7c2a, 2, 4, 0x80, MMIO_READ_VALUE),
	    {.vme = {X_INST_EMUL_PM32(0x7c36, 3, 0xfeb00020)}, .handled = false},
	    X_OUT(0x7c3b, 2, 1, 0xf4, MMIO_READ_VALUE & ~0xffu),
	};
	/* 8B 15 disp32: mov edx, [0xFEB00010]; mod 0 rm 5 is disp32 with no base. */
	exp[1].vme.u.inst_emul.vie = (struct vie){
	    .inst = {0x8b, 0x15, 0x10, 0x00, 0xb0, 0xfe},
	    VIE_DECODED_32(6, .mod = 0, .reg = 2, .rm = 5, .disp_bytes = 4, .imm_bytes = 0,
	                   .base_register = VM_REG_LAST,
	                   .displacement = (int64_t)(int32_t)0xfeb00010u, .immediate = 0,
	                   .op = {.op_byte = 0x8b, .op_type = VIE_OP_TYPE_MOV, .op_flags = 0}),
	};
	/* 89 4B 20: mov [ebx + 0x20], ecx; mod 1 rm 3 is EBX + disp8. */
	exp[3].vme.u.inst_emul.vie = (struct vie){
	    .inst = {0x89, 0x4b, 0x20},
	    VIE_DECODED_32(3, .mod = 1, .reg = 1, .rm = 3, .disp_bytes = 1, .imm_bytes = 0,
	                   .base_register = VM_REG_GUEST_RBX, .displacement = 0x20, .immediate = 0,
	                   .op = {.op_byte = 0x89, .op_type = VIE_OP_TYPE_MOV, .op_flags = 0}),
	};

	struct mmio_dev dev = {.read_value = MMIO_READ_VALUE, .n = 0};
	open_guest(&g, "mmio");
	run_to_debug_exit(&g, emulate_mmio, &dev);
	assert_exits(&g, exp, NELEM(exp));

	cr_assert_eq(dev.n, 2, "%d device accesses", dev.n);
	cr_assert(!dev.log[0].write);
	cr_assert_eq(dev.log[0].gpa, 0xfeb00010);
	cr_assert_eq(dev.log[0].size, 4);
	cr_assert(dev.log[1].write);
	cr_assert_eq(dev.log[1].gpa, 0xfeb00020);
	cr_assert_eq(dev.log[1].size, 4);
	cr_assert_eq(dev.log[1].val, 0x11223344, "stored 0x%" PRIx64, dev.log[1].val);
}

/*
 * An access nothing claims is still an INST_EMUL exit returned to the caller
 * (the vmm does not know what user space registered): here a store of an
 * immediate, C7 /0 id, whose vie carries the sign-extended disp32 and imm32.
 */
Test(exit_stream, mmio_to_unclaimed_gpa_is_returned_as_inst_emul)
{
	struct expect exp[] = {
	    X_FIRST_FETCH,
	    {.vme = {X_INST_EMUL_PM32(0x7c22, 10, 0xe0000000)}, .handled = false},
	};
	exp[1].vme.u.inst_emul.vie = (struct vie){
	    .inst = {0xc7, 0x05, 0x00, 0x00, 0x00, 0xe0, 0xaa, 0x55, 0xaa, 0x55},
	    VIE_DECODED_32(
	        10, .mod = 0, .reg = 0, .rm = 5, .disp_bytes = 4, .imm_bytes = 4,
	        .base_register = VM_REG_LAST, .displacement = (int64_t)(int32_t)0xe0000000u,
	        .immediate = 0x55aa55aa,
	        .op = {.op_byte = 0xc7, .op_type = VIE_OP_TYPE_MOV, .op_flags = VIE_OP_F_IMM}),
	};

	struct vm_exit vme;
	open_guest(&g, "mmio_unclaimed");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_exits(&g, exp, NELEM(exp));
}

/*
 * The same in 64-bit mode through 4-level paging (mmio64.asm): cs_d is 0
 * outside protected and compatibility mode, paging is {cr3, CPU_MODE_64BIT,
 * PAGING_MODE_64}, gla is the linear address and gpa its translation; the
 * vie shows REX.W (opsize 8) and a 0x66 override (opsize 2), address size 8.
 * The first walk touches the three table pages, all at the far jump.
 */
Test(exit_stream, mmio_in_64bit_mode_reports_long_mode_paging_and_rex_sizes)
{
	struct expect exp[] = {
	    X_FIRST_FETCH,
	    X_PAGING(0x7c48, 0x9000, VM_PROT_READ),
	    X_PAGING(0x7c48, 0xa000, VM_PROT_READ),
	    X_PAGING(0x7c48, 0xb000, VM_PROT_READ),
	    {.vme = {X_INST_EMUL_PM32(0x7c59, 4, 0xfeb00008)}, .handled = false},
	    X_OUT(0x7c5d, 2, 4, 0x80, 0x89abcdef),
	    X_OUT(0x7c63, 2, 4, 0x80, 0x01234567),
	    {.vme = {X_INST_EMUL_PM32(0x7c65, 4, 0xfeb00010)}, .handled = false},
	    X_OUT(0x7c6b, 2, 1, 0xf4, 0x01234500),
	};
	const struct vm_guest_paging long_mode = {0x9000, 0, CPU_MODE_64BIT, PAGING_MODE_64};
	for (int i = 4; i <= 7; i += 3) {
		exp[i].vme.u.inst_emul.cs_d = 0;
		exp[i].vme.u.inst_emul.paging = long_mode;
	}
	exp[4].vme.u.inst_emul.gla = 0x300008;
	exp[7].vme.u.inst_emul.gla = 0x300010;
	/* 48 8B 43 08: mov rax, [rbx + 8]. */
	exp[4].vme.u.inst_emul.vie = (struct vie){
	    .inst = {0x48, 0x8b, 0x43, 0x08},
	    .num_valid = 4,
	    .num_processed = 4,
	    .addrsize = 8,
	    .opsize = 8,
	    .decoded = 1,
	    .rex_present = 1,
	    .rex_w = 1,
	    .mod = 1,
	    .reg = 0,
	    .rm = 3,
	    .disp_bytes = 1,
	    .displacement = 8,
	    .base_register = VM_REG_GUEST_RBX,
	    .index_register = VM_REG_LAST,
	    .op = {.op_byte = 0x8b, .op_type = VIE_OP_TYPE_MOV, .op_flags = 0},
	};
	/* 66 89 4B 10: mov [rbx + 0x10], cx. */
	exp[7].vme.u.inst_emul.vie = (struct vie){
	    .inst = {0x66, 0x89, 0x4b, 0x10},
	    .num_valid = 4,
	    .num_processed = 4,
	    .addrsize = 8,
	    .opsize = 2,
	    .decoded = 1,
	    .opsize_override = 1,
	    .mod = 1,
	    .reg = 1,
	    .rm = 3,
	    .disp_bytes = 1,
	    .displacement = 0x10,
	    .base_register = VM_REG_GUEST_RBX,
	    .index_register = VM_REG_LAST,
	    .op = {.op_byte = 0x89, .op_type = VIE_OP_TYPE_MOV, .op_flags = 0},
	};

	struct mmio_dev dev = {.read_value = 0x0123456789abcdefull, .n = 0};
	open_guest(&g, "mmio64");
	run_to_debug_exit(&g, emulate_mmio, &dev);
	assert_exits(&g, exp, NELEM(exp));
	cr_assert_eq(dev.n, 2, "%d device accesses", dev.n);
	cr_assert(!dev.log[0].write);
	cr_assert_eq(dev.log[0].gpa, 0xfeb00008);
	cr_assert_eq(dev.log[0].size, 8);
	cr_assert(dev.log[1].write);
	cr_assert_eq(dev.log[1].gpa, 0xfeb00010);
	cr_assert_eq(dev.log[1].size, 2);
	cr_assert_eq(dev.log[1].val & 0xffff, 0x1234, "stored 0x%" PRIx64, dev.log[1].val);
}

/* ---- fetch_unbacked ------------------------------------------------------------- */

/*
 * BHYVE-EXITS.md sections 4 and 8: a fetch from a gpa that is not RAM is an
 * EPT violation nobody claims, a VMX exit with reason 48.  Qualification:
 * instruction fetch (bit 2), guest-linear address valid (bit 7), access to
 * the final translation (bit 8); no permission bits, as nothing is mapped.
 * rip is the address fetched from; no instruction was decoded there, so the
 * length is unknown: 0.
 */
Test(exit_stream, fetch_from_unbacked_gpa_gives_vmx_ept_violation_exit)
{
	static const struct expect exp[] = {
	    X_FIRST_FETCH,
	    {.vme = {.exitcode = VM_EXITCODE_VMX,
	             .inst_length = 0,
	             .rip = 0xe0000000,
	             .u.vmx = {.status = 0,
	                       .exit_reason = VMX_EXIT_REASON_EPT_VIOLATION,
	                       .exit_qualification = EPT_VIOLATION_INST_FETCH |
	                                             EPT_VIOLATION_GLA_VALID |
	                                             EPT_VIOLATION_XLAT_VALID,
	                       .inst_type = 0,
	                       .inst_error = 0}},
	     .handled = false},
	};
	struct vm_exit vme;
	open_guest(&g, "fetch_unbacked");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_exits(&g, exp, NELEM(exp));
}

/* ---- string_io --------------------------------------------------------------------- */

/* The test's port devices for string I/O: OUT bytes are kept, INs are scripted. */
struct string_dev {
	uint8_t out[64];
	size_t n_out;
	const uint16_t *in_values;
	size_t n_in, next_in;
};

/* At most this many iterations per exit, as bhyverun (BHYVE-EXITS.md section 3). */
#define STRING_IO_MAX_ITERATIONS 16

static uint64_t addrsize_mask(int addrsize)
{
	return addrsize == 2 ? 0xffffull : addrsize == 4 ? 0xffffffffull : ~0ull;
}

/*
 * The caller's half of INS/OUTS, following bhyverun's rules (section 3):
 * index and count masked to the address size, up to 16 iterations through
 * the segment base and vm_copy_setup, index stepped by DF, then the index
 * register (and RCX with REP) written back at the address size; while the
 * count is not 0 the instruction restarts (resume at rip, not rip + length).
 * The test guests keep every access inside its segment, so the limit checks
 * bhyverun makes are left out.
 */
static void emulate_string_io(struct guest *gst, struct vm_exit *vme, void *arg)
{
	struct string_dev *dev = arg;
	struct vm_inout_str *s = &vme->u.inout_str;
	char desc[256];
	exit_describe(vme, desc, sizeof(desc));
	if (vme->exitcode == VM_EXITCODE_INOUT && !vme->u.inout.in)
		return; /* the guest's OUT 0x80 reports */
	cr_assert_eq(vme->exitcode, VM_EXITCODE_INOUT_STR, "unexpected exit %s", desc);

	uint64_t mask = addrsize_mask(s->addrsize);
	uint64_t index = s->index & mask, count = s->inout.rep ? s->count & mask : 1;
	int bytes = s->inout.bytes;
	bool in = s->inout.in;
	for (int n = 0; count > 0 && n < STRING_IO_MAX_ITERATIONS; n++) {
		struct vm_copyinfo ci[2];
		uint64_t gla = s->seg_desc.base + index;
		uint32_t val = 0;
		int r = vm_copy_setup(gst->vm, 0, &s->paging, gla, (size_t)bytes,
		                      in ? VM_PROT_WRITE : VM_PROT_READ, ci, 2);
		cr_assert_eq(r, 0, "%s: vm_copy_setup(gla 0x%" PRIx64 ") = %d", desc, gla, r);
		if (in) {
			cr_assert_lt(dev->next_in, dev->n_in, "more IN iterations than scripted");
			val = dev->in_values[dev->next_in++];
			vm_copyout(gst->vm, 0, &val, ci, (size_t)bytes);
		} else {
			vm_copyin(gst->vm, 0, ci, &val, (size_t)bytes);
			cr_assert_lt(dev->n_out, sizeof(dev->out));
			dev->out[dev->n_out++] = (uint8_t)val;
		}
		vm_copy_teardown(gst->vm, 0, ci, 2);
		index = (s->rflags & 0x400) ? index - (uint64_t)bytes : index + (uint64_t)bytes;
		count--;
	}
	int err = vie_update_register(gst->vm, 0, in ? VM_REG_GUEST_RDI : VM_REG_GUEST_RSI,
	                              index & mask, s->addrsize);
	cr_assert_eq(err, 0);
	if (s->inout.rep) {
		err = vie_update_register(gst->vm, 0, VM_REG_GUEST_RCX, count, s->addrsize);
		cr_assert_eq(err, 0);
	}
	if (count != 0)
		gst->rip = vme->rip;
}

static struct expect x_inout_str(uint64_t rip, int len, bool in, int bytes, bool rep, uint16_t port,
                                 uint32_t eax, uint64_t rflags, uint64_t index, uint64_t count,
                                 int addrsize, enum vm_reg_name seg, struct seg_desc desc)
{
	struct expect e;
	memset(&e, 0, sizeof(e));
	e.vme.exitcode = VM_EXITCODE_INOUT_STR;
	e.vme.inst_length = len;
	e.vme.rip = rip;
	e.vme.u.inout_str.inout.bytes = bytes & 7;
	e.vme.u.inout_str.inout.in = in;
	e.vme.u.inout_str.inout.string = 1;
	e.vme.u.inout_str.inout.rep = rep;
	e.vme.u.inout_str.inout.port = port;
	e.vme.u.inout_str.inout.eax = eax;
	e.vme.u.inout_str.paging =
	    (struct vm_guest_paging){0, 0, CPU_MODE_PROTECTED, PAGING_MODE_FLAT};
	e.vme.u.inout_str.rflags = rflags;
	e.vme.u.inout_str.cr0 = 0x11; /* PE | ET, as ENTER_PM32 sets it */
	e.vme.u.inout_str.index = index;
	e.vme.u.inout_str.count = count;
	e.vme.u.inout_str.addrsize = addrsize;
	e.vme.u.inout_str.seg_name = seg;
	e.vme.u.inout_str.seg_desc = desc;
	e.handled = false;
	return e;
}

/*
 * BHYVE-EXITS.md section 3 and its "things to test" 4, 5 and 7: every string
 * I/O instruction exits to the caller with the full, unmasked RSI/RDI and
 * RCX as index and count, the address size, the paging state, RFLAGS, CR0
 * and the segment it reads through (an override honoured for OUTS; always
 * ES for INS) with that segment's cached base, limit and access rights.
 * REP OUTSB of 40 bytes restarts twice: counts 40, 24, 8, index +16 each.
 */
Test(exit_stream, string_io_exits_carry_index_count_and_segment_for_the_caller)
{
	/* Flat 4 GiB data segments as the GDT entries 0x10 and 0x18 load them. */
	const struct seg_desc flat = {0, 0xffffffff, 0xc093};
	const struct seg_desc fs7c00 = {0x7c00, 0xffffffff, 0xc093};
	const uint64_t msg = 0x7cae;
	struct expect exp[] = {
	    X_FIRST_FETCH,
	    x_inout_str(0x7c31, 2, false, 1, true, 0xe9, 0x10, 0x2, msg, 40, 4, VM_REG_GUEST_DS,
	                flat),
	    x_inout_str(0x7c31, 2, false, 1, true, 0xe9, 0x10, 0x2, msg + 16, 24, 4,
	                VM_REG_GUEST_DS, flat),
	    x_inout_str(0x7c31, 2, false, 1, true, 0xe9, 0x10, 0x2, msg + 32, 8, 4, VM_REG_GUEST_DS,
	                flat),
	    x_inout_str(0x7c3e, 2, false, 1, false, 0xe9, 0x18, 0x2, msg - 0x7c00, 1, 4,
	                VM_REG_GUEST_FS, fs7c00),
	    X_PAGING(0x7c40, 0x2000, VM_PROT_WRITE),
	    x_inout_str(0x7c63, 4, true, 2, true, 0x80, 0x18, 0x402, 0xabcd2004, 0x55550003, 2,
	                VM_REG_GUEST_ES, flat),
	    X_OUT(0x7c6d, 2, 4, 0x80, 0x22223333),
	    X_OUT(0x7c74, 2, 4, 0x80, 0x00001111),
	    X_OUT(0x7c78, 2, 4, 0x80, 0xabcd1ffe), /* DI stepped down 3 words, bits 31:16 kept */
	    X_OUT(0x7c7c, 2, 4, 0x80, 0x55550000), /* CX 0, bits 31:16 kept */
	    X_OUT(0x7c80, 2, 1, 0xf4, 0x55550000),
	};
	static const uint16_t words[] = {0x1111, 0x2222, 0x3333};
	struct string_dev dev = {.n_out = 0, .in_values = words, .n_in = 3, .next_in = 0};

	open_guest(&g, "string_io");
	run_to_debug_exit(&g, emulate_string_io, &dev);
	assert_exits(&g, exp, NELEM(exp));
	cr_assert_eq(dev.n_out, 41);
	cr_assert_arr_eq(dev.out, "0123456789abcdefghijklmnopqrstuvwxyzABCD0", 41);
	cr_assert_eq(dev.next_in, 3);
}

/* ---- paging_walk ----------------------------------------------------------------- */

/*
 * With CR0.PG set, the page walk is an access too (docs/exits.md, PAGING):
 * the first walk through each page-table page is that page's handled PAGING
 * read, gpa page-aligned, before the access's own page; an access through a
 * page table outside RAM is a VMX exit 48 without bit 8 of the
 * qualification, at the accessing instruction with its length (BHYVE-EXITS.md
 * sections 4 and 5).  MMIO reached through paging reports the linear address
 * as gla, the translated one as gpa, and paging {cr3, PAGING_MODE_32}.  The
 * table is the one in paging_walk.asm.
 */
Test(exit_stream, page_walks_touch_table_pages_and_translate_mmio_and_unbacked_tables)
{
	struct expect exp[] = {
	    X_FIRST_FETCH,
	    X_PAGING(0x7c32, 0x9000, VM_PROT_READ),
	    X_PAGING(0x7c32, 0xa000, VM_PROT_READ),
	    X_PAGING(0x7c32, 0x10000, VM_PROT_READ),
	    X_PAGING(0x7c37, 0xb000, VM_PROT_READ),
	    {.vme = {X_INST_EMUL_PM32(0x7c37, 6, 0xfeb00010)}, .handled = false},
	    X_OUT(0x7c3f, 2, 4, 0x80, MMIO_READ_VALUE),
	    {.vme = {.exitcode = VM_EXITCODE_VMX,
	             .inst_length = 5,
	             .rip = 0x7c41,
	             .u.vmx = {.status = 0,
	                       .exit_reason = VMX_EXIT_REASON_EPT_VIOLATION,
	                       .exit_qualification =
	                           EPT_VIOLATION_DATA_READ | EPT_VIOLATION_GLA_VALID,
	                       .inst_type = 0,
	                       .inst_error = 0}},
	     .handled = false},
	};
	exp[5].vme.u.inst_emul.gla = 0x800010;
	exp[5].vme.u.inst_emul.paging.cr3 = 0x9000;
	exp[5].vme.u.inst_emul.paging.paging_mode = PAGING_MODE_32;
	/* 8B 15 disp32: mov edx, [0x800010]. */
	exp[5].vme.u.inst_emul.vie = (struct vie){
	    .inst = {0x8b, 0x15, 0x10, 0x00, 0x80, 0x00},
	    VIE_DECODED_32(6, .mod = 0, .reg = 2, .rm = 5, .disp_bytes = 4, .imm_bytes = 0,
	                   .base_register = VM_REG_LAST, .displacement = 0x800010, .immediate = 0,
	                   .op = {.op_byte = 0x8b, .op_type = VIE_OP_TYPE_MOV, .op_flags = 0}),
	};

	struct mmio_dev dev = {.read_value = MMIO_READ_VALUE, .n = 0};
	struct vm_exit vme;
	open_guest(&g, "paging_walk");
	for (int returned = 0; returned < 10; returned++) {
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		if (vme.exitcode == VM_EXITCODE_VMX)
			break;
		emulate_mmio(&g, &vme, &dev);
	}
	assert_exits(&g, exp, NELEM(exp));
	cr_assert_eq(dev.n, 1);
	cr_assert_eq(dev.log[0].gpa, 0xfeb00010);
}

/* ---- msr ---------------------------------------------------------------------------- */

/* Complete RDMSR as bhyverun -w does for an MSR it does not know: EDX:EAX. */
static void answer_msr(struct guest *gst, struct vm_exit *vme, void *arg)
{
	char desc[256];
	(void)arg;
	exit_describe(vme, desc, sizeof(desc));
	if (vme->exitcode == VM_EXITCODE_INOUT && !vme->u.inout.in)
		return;
	if (vme->exitcode == VM_EXITCODE_WRMSR)
		return; /* dropped */
	cr_assert_eq(vme->exitcode, VM_EXITCODE_RDMSR, "unexpected exit %s", desc);
	cr_assert_eq(vm_set_register(gst->vm, 0, VM_REG_GUEST_RAX, 0xaabbccdd), 0);
	cr_assert_eq(vm_set_register(gst->vm, 0, VM_REG_GUEST_RDX, 0x11223344), 0);
}

/*
 * BHYVE-EXITS.md section 7 and "things to test" 16: an MSR the vmm owns
 * (MISC_ENABLE, bits 11 and 12 set) is read without an exit; an unknown one
 * is an RDMSR or WRMSR exit at the instruction, inst_length 2, with code =
 * ECX and, for WRMSR, wval = EDX:EAX.  The table is the one in msr.asm.
 */
Test(exit_stream, unknown_msrs_exit_with_code_and_value_and_owned_ones_do_not)
{
	static const struct expect exp[] = {
	    X_FIRST_FETCH,
	    X_OUT(0x7c2e, 2, 4, 0x80, 0x1800),
	    {.vme = {.exitcode = VM_EXITCODE_RDMSR,
	             .inst_length = 2,
	             .rip = 0x7c35,
	             .u.msr = {.code = 0x12345678, .wval = 0}},
	     .handled = false},
	    X_OUT(0x7c37, 2, 4, 0x80, 0xaabbccdd),
	    X_OUT(0x7c3b, 2, 4, 0x80, 0x11223344),
	    {.vme = {.exitcode = VM_EXITCODE_WRMSR,
	             .inst_length = 2,
	             .rip = 0x7c47,
	             .u.msr = {.code = 0x12345678, .wval = 0x0123456789abcdefull}},
	     .handled = false},
	    X_OUT(0x7c4b, 2, 1, 0xf4, 0x89abcd00),
	};
	open_guest(&g, "msr");
	run_to_debug_exit(&g, answer_msr, NULL);
	assert_exits(&g, exp, NELEM(exp));
}

/* ---- mmio_prefix ------------------------------------------------------------------ */

/*
 * Current bhyve decodes segment-override prefixes (10.1.0 failed vm_run
 * with EFAULT on them, BHYVE-EXITS.md section 4 "things to test" 11): the
 * exit's vie names FS, whose base (0 here) verify_gla adds.
 */
Test(exit_stream, mmio_with_segment_override_decodes_and_names_the_segment)
{
	struct expect exp[] = {
	    X_FIRST_FETCH,
	    {.vme = {X_INST_EMUL_PM32(0x7c27, 3, 0xfeb00000)}, .handled = false},
	    X_OUT(0x7c2c, 2, 1, 0xf4, (MMIO_READ_VALUE & ~0xffu) | 1),
	};
	/* 64 8B 03: mov eax, fs:[ebx]. */
	exp[1].vme.u.inst_emul.vie = (struct vie){
	    .inst = {0x64, 0x8b, 0x03},
	    VIE_DECODED_32(3, .mod = 0, .reg = 0, .rm = 3, .disp_bytes = 0, .imm_bytes = 0,
	                   .base_register = VM_REG_GUEST_RBX, .displacement = 0, .immediate = 0,
	                   .op = {.op_byte = 0x8b, .op_type = VIE_OP_TYPE_MOV, .op_flags = 0}),
	};
	struct mmio_dev dev = {.read_value = MMIO_READ_VALUE, .n = 0};
	open_guest(&g, "mmio_prefix");
	run_to_debug_exit(&g, emulate_mmio, &dev);
	assert_exits(&g, exp, NELEM(exp));
	const struct vie *vie = &g.log.v[1].vme.u.inst_emul.vie;
	cr_expect_eq(vie->segment_override, 1);
	cr_expect_eq(vie->segment_register, VM_REG_GUEST_FS);
}

/* ---- selfmod ---------------------------------------------------------------------- */

/*
 * Stores into code take effect before the next fetch (SDM vol. 3 11.6): the
 * patched immediate of the very next instruction ('B', not 'A'), and in the
 * loop the immediate of an instruction already decoded ('1', '2', '3').
 * The image page was first touched by the fetch, so the stores add no
 * PAGING exit.
 */
Test(exit_stream, selfmodifying_code_executes_the_patched_bytes)
{
	static const struct expect exp[] = {
	    X_FIRST_FETCH,
	    X_OUT(0x7c07, 2, 1, 0xe9, 'B'),
	    X_OUT(0x7c14, 2, 1, 0xe9, '1'),
	    X_OUT(0x7c14, 2, 1, 0xe9, '2'),
	    X_OUT(0x7c14, 2, 1, 0xe9, '3'),
	    X_OUT(0x7c1d, 2, 1, 0xf4, 0),
	};
	open_guest(&g, "selfmod");
	run_to_debug_exit(&g, answer_in, &(struct in_script){NULL, 0, 0});
	assert_exits(&g, exp, NELEM(exp));
}

/* ---- determinism -------------------------------------------------------------------- */

static void assert_same_streams(const struct guest *a, const struct guest *b)
{
	char why[256], desc[256];
	cr_assert_eq(a->log.n, b->log.n, "%zu exits, then %zu", a->log.n, b->log.n);
	for (size_t i = 0; i < a->log.n; i++) {
		exit_describe(&a->log.v[i].vme, desc, sizeof(desc));
		cr_assert(exit_equal(&a->log.v[i].vme, &b->log.v[i].vme, why, sizeof(why)),
		          "exit %zu (%s) differs in the second run: %s", i, desc, why);
		cr_assert_eq(a->log.v[i].handled, b->log.v[i].handled, "exit %zu (%s)", i, desc);
	}
}

/*
 * DESIGN.md, "Determinism": the same guest with the same inputs gives the
 * same exits, payloads and guest state at every exit, so the recorded
 * streams are equal and so are their digests (trace.h), which also cover
 * the registers at each exit.
 */
Test(exit_stream, same_guest_and_inputs_give_the_same_stream_and_digest)
{
	static struct exit_digest d1, d2;
	struct in_script s1 = {inout_in_values, NELEM(inout_in_values), 0};
	struct in_script s2 = {inout_in_values, NELEM(inout_in_values), 0};

	exit_digest_init(&d1);
	exit_digest_init(&d2);
	open_guest(&g, "exits_inout");
	g.digest = &d1;
	run_to_debug_exit(&g, answer_in, &s1);
	open_guest(&g2, "exits_inout");
	g2.digest = &d2;
	run_to_debug_exit(&g2, answer_in, &s2);

	assert_same_streams(&g, &g2);
	cr_assert_eq(d1.exits, g.log.n, "the digest saw %" PRIu64 " exits, the log %zu", d1.exits,
	             g.log.n);
	cr_assert_eq(exit_digest_value(&d1), exit_digest_value(&d2),
	             "digests 0x%016" PRIx64 " and 0x%016" PRIx64, exit_digest_value(&d1),
	             exit_digest_value(&d2));
}

/*
 * The digest covers the inputs too: the same guest given a different IN
 * value (0x61 instead of 0x60 for the second IN) must not digest the same,
 * or equal digests would prove nothing.
 */
Test(exit_stream, different_in_value_gives_a_different_digest)
{
	static struct exit_digest d1, d2;
	static const uint32_t other[] = {0xa5, 0x61, 0xbeef, 0xdeadbeef, 0x0badf00d};
	struct in_script s1 = {inout_in_values, NELEM(inout_in_values), 0};
	struct in_script s2 = {other, NELEM(other), 0};

	exit_digest_init(&d1);
	exit_digest_init(&d2);
	open_guest(&g, "exits_inout");
	g.digest = &d1;
	run_to_debug_exit(&g, answer_in, &s1);
	open_guest(&g2, "exits_inout");
	g2.digest = &d2;
	run_to_debug_exit(&g2, answer_in, &s2);

	cr_assert_eq(g.log.n, g2.log.n);
	cr_assert_neq(exit_digest_value(&d1), exit_digest_value(&d2));
}

/*
 * bhyve's reset path: the vm is suspended (RESET), every active vcpu has seen
 * its SUSPENDED exit, and vm_reinit puts the vcpus back to their power-on
 * state, inactive, keeping memory but forgetting which pages the guest
 * touched (softvmm's stand-in for bhyve's EPT).  The same entry state then
 * gives the same stream again, the first-touch PAGING exits included.
 */
Test(exit_stream, vm_reinit_after_reset_replays_the_same_stream)
{
	struct in_script s1 = {inout_in_values, NELEM(inout_in_values), 0};
	struct in_script s2 = {inout_in_values, NELEM(inout_in_values), 0};
	struct vm_exit vme;
	open_guest(&g, "exits_inout");
	run_to_debug_exit(&g, answer_in, &s1);
	g2.log = g.log; /* the first run's stream; freed by close_guests */
	memset(&g.log, 0, sizeof(g.log));

	cr_assert_eq(vm_suspend(g.vm, VM_SUSPEND_RESET), 0);
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	cr_assert_eq(vme.exitcode, VM_EXITCODE_SUSPENDED);
	cr_assert_eq(vme.u.suspended.how, VM_SUSPEND_RESET);
	cr_assert_eq(vm_reinit(g.vm), 0);
	cr_assert_eq(vm_active_cpus(g.vm), 0);
	cr_assert_eq(vm_suspended_cpus(g.vm), 0);

	free(g.log.v); /* only the SUSPENDED exit */
	memset(&g.log, 0, sizeof(g.log));
	cr_assert_eq(guest_set_real_mode_entry(g.vm, 0, GUEST_LOAD_GPA), 0);
	cr_assert_eq(vm_set_insn_limit(g.vm, 0, GUEST_INSN_BUDGET), 0);
	cr_assert_eq(vm_activate_cpu(g.vm, 0), 0);
	g.rip = GUEST_LOAD_GPA;
	run_to_debug_exit(&g, answer_in, &s2);
	assert_same_streams(&g2, &g);
}

/* The mmio guest, whose stream carries decoded vies, is repeatable as well. */
Test(exit_stream, mmio_guest_runs_twice_to_the_same_stream)
{
	struct mmio_dev dev1 = {.read_value = MMIO_READ_VALUE, .n = 0};
	struct mmio_dev dev2 = {.read_value = MMIO_READ_VALUE, .n = 0};
	open_guest(&g, "mmio");
	run_to_debug_exit(&g, emulate_mmio, &dev1);
	open_guest(&g2, "mmio");
	run_to_debug_exit(&g2, emulate_mmio, &dev2);
	assert_same_streams(&g, &g2);
}
