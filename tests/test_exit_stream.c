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
#include <string.h>

#include <softvmm/trace.h>
#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "guest_helper.h"

/* One expected exit of a stream. */
struct expect {
	struct vm_exit vme;
	bool handled;
};

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

static void open_guest(struct guest *g, const char *name)
{
	int err = guest_open(g, name);
	cr_assert_eq(err, 0, "guest_open(%s): %s", name, g->err);
}

/* Compare the recorded stream with 'exp', exit by exit, then its length. */
static void assert_stream(const struct guest *g, const struct expect *exp, size_t n)
{
	char why[256], desc[256];
	cr_assert(!g->log.truncated, "exit log overflowed");
	for (size_t i = 0; i < n && i < g->log.n; i++) {
		const struct recorded_exit *r = &g->log.v[i];
		exit_describe(&r->vme, desc, sizeof(desc));
		cr_assert(exit_equal(&exp[i].vme, &r->vme, why, sizeof(why)), "exit %zu (%s): %s", i,
		          desc, why);
		cr_assert_eq(r->handled, exp[i].handled, "exit %zu (%s): handled %d, expected %d", i,
		             desc, r->handled, exp[i].handled);
		cr_assert_eq(r->vcpu, 0, "exit %zu (%s): vcpu %d", i, desc, r->vcpu);
	}
	if (g->log.n > n) {
		exit_describe(&g->log.v[n].vme, desc, sizeof(desc));
		cr_assert_fail("%zu exits, expected %zu; the first extra one: %s", g->log.n, n,
		               desc);
	}
	cr_assert_eq(g->log.n, n, "%zu exits, expected %zu", g->log.n, n);
}

/*
 * Run until the guest's isa-debug-exit write (OUT to 0xF4), which ends a
 * bench-convention guest.  Each returned exit must be the observer's latest
 * record, marked not handled: vm_run returns exactly what it reported.
 * 'handle' deals with every other returned exit (NULL: none is expected).
 */
typedef void (*exit_handler_fn)(struct guest *g, struct vm_exit *vme, void *arg);

static void run_to_debug_exit(struct guest *g, exit_handler_fn handle, void *arg)
{
	char why[256], desc[256];
	for (int returned = 0; returned < 1000; returned++) {
		struct vm_exit vme;
		int err = guest_run(g, &vme);
		cr_assert_eq(err, 0, "%s", g->err);
		exit_describe(&vme, desc, sizeof(desc));
		cr_assert_gt(g->log.n, 0, "vm_run returned %s, but the observer saw no exit", desc);
		const struct recorded_exit *last = &g->log.v[g->log.n - 1];
		cr_assert(exit_equal(&last->vme, &vme, why, sizeof(why)),
		          "returned %s differs from the observed one: %s", desc, why);
		cr_assert(!last->handled, "returned %s was observed as handled", desc);
		if (vme.exitcode == VM_EXITCODE_INOUT && !vme.u.inout.in && vme.u.inout.port == 0xf4)
			return;
		cr_assert_not_null(handle, "unexpected exit %s", desc);
		handle(g, &vme, arg);
	}
	cr_assert_fail("no OUT to 0xF4 after 1000 returned exits");
}

/* ---- exits_inout ---------------------------------------------------------- */

/* The values the test's "devices" return, one per IN, in the guest's order. */
struct in_script {
	const uint32_t *values;
	size_t n, next;
};

static void answer_in(struct guest *g, struct vm_exit *vme, void *arg)
{
	struct in_script *s = arg;
	char desc[256];
	exit_describe(vme, desc, sizeof(desc));
	cr_assert_eq(vme->exitcode, VM_EXITCODE_INOUT, "unexpected exit %s", desc);
	if (!vme->u.inout.in)
		return; /* an OUT: nothing to emulate, resume after it */
	cr_assert_lt(s->next, s->n, "more INs than scripted: %s", desc);
	int err = guest_complete_in(g, vme, s->values[s->next++]);
	cr_assert_eq(err, 0, "completing %s: %s", desc, strerror(err));
}

static const uint32_t inout_in_values[] = {0xa5, 0x60, 0xbeef, 0xdeadbeef, 0x0badf00d};

static void run_inout_guest(struct guest *g)
{
	struct in_script s = {inout_in_values, NELEM(inout_in_values), 0};
	open_guest(g, "exits_inout");
	run_to_debug_exit(g, answer_in, &s);
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
		X_IN(0x7c25, 2, 1, 0x80, 0x12345678),   /* in al, 0x80 -> 0xA5 */
		X_OUT(0x7c27, 2, 1, 0xe9, 0x123456a5),  /* echo */
		X_IN(0x7c2c, 1, 1, 0x3fd, 0x123456a5),  /* in al, dx -> 0x60 */
		X_IN(0x7c2d, 1, 2, 0x3fd, 0x12345660),  /* in ax, dx -> 0xBEEF */
		X_IN(0x7c2e, 3, 4, 0x80, 0x1234beef),   /* in eax, 0x80 -> 0xDEADBEEF */
		X_IN(0x7c31, 2, 4, 0x3fd, 0xdeadbeef),  /* in eax, dx -> 0x0BADF00D */
		X_OUT(0x7c33, 3, 4, 0x80, 0x0badf00d),  /* echo */
		X_OUT(0x7c38, 2, 1, 0xf4, 0x0badf000),  /* mov al, 0; out 0xF4, al */
	};
	struct guest g;
	run_inout_guest(&g);
	assert_stream(&g, exp, NELEM(exp));
	guest_close(&g);
}

/* The statistics count the same stream: 3 PAGING exits handled, 14 INOUT returned. */
Test(exit_stream, inout_guest_stats_count_handled_and_returned_exits)
{
	struct guest g;
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
	guest_close(&g);
}

/* ---- cli_hlt ------------------------------------------------------------------ */

/*
 * BHYVE-EXITS.md section 8: with VM_CAP_HALT_EXIT the HLT exits (handled in
 * the vmm, rip at the HLT, inst_length 1, rflags with IF clear); with IF = 0
 * on the only vcpu, halt detection suspends the VM, and the next entry gives
 * SUSPENDED {HALT} at the instruction after the HLT, inst_length 0.
 */
Test(exit_stream, cli_hlt_with_halt_exit_gives_handled_hlt_then_suspended_halt)
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
	struct guest g;
	struct vm_exit vme;
	open_guest(&g, "cli_hlt");
	cr_assert_eq(vm_set_capability(g.vm, 0, VM_CAP_HALT_EXIT, 1), 0);
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_stream(&g, exp, NELEM(exp));
	guest_close(&g);
}

/*
 * Without the capability too: HLT always reaches the vmm's halt handler
 * (docs/deviations.md), so it is in the stream as a handled exit, and halt
 * detection then suspends the vm.
 */
Test(exit_stream, cli_hlt_ends_with_handled_hlt_then_suspended_halt_after_the_hlt)
{
	struct expect want[] = {
		X_FIRST_FETCH,
		{.vme = {.exitcode = VM_EXITCODE_HLT,
		         .inst_length = 1,
		         .rip = 0x7c01,
		         .u.hlt = {.rflags = 0x2}},
		 .handled = true},
		X_SUSPENDED(0x7c02, VM_SUSPEND_HALT),
	};
	struct guest g;
	struct vm_exit vme;
	open_guest(&g, "cli_hlt");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_stream(&g, want, NELEM(want));
	guest_close(&g);
}

/* BHYVE-EXITS.md section 1: vm_run fails with EINVAL on a suspended vcpu. */
Test(exit_stream, vm_run_after_suspended_exit_fails_with_einval)
{
	struct guest g;
	struct vm_exit vme;
	open_guest(&g, "cli_hlt");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	cr_assert_eq(vme.exitcode, VM_EXITCODE_SUSPENDED);
	size_t before = g.log.n;
	cr_assert_eq(guest_run(&g, &vme), EINVAL);
	cr_assert_eq(g.log.n, before, "a failed vm_run reported an exit");
	guest_close(&g);
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
	struct guest g;
	struct vm_exit vme;
	open_guest(&g, "triple");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_stream(&g, exp, NELEM(exp));
	guest_close(&g);
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
	struct guest g;
	open_guest(&g, "touch_pages");
	run_to_debug_exit(&g, NULL, NULL);
	assert_stream(&g, exp, NELEM(exp));
	guest_close(&g);
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
static void emulate_mmio(struct guest *g, struct vm_exit *vme, void *arg)
{
	char desc[256];
	exit_describe(vme, desc, sizeof(desc));
	if (vme->exitcode == VM_EXITCODE_INOUT && !vme->u.inout.in)
		return; /* the guest's OUT 0x80 echo */
	cr_assert_eq(vme->exitcode, VM_EXITCODE_INST_EMUL, "unexpected exit %s", desc);
	int err = vmm_emulate_instruction(g->vm, 0, vme->u.inst_emul.gpa, &vme->u.inst_emul.vie,
	                                  &vme->u.inst_emul.paging, mmio_read, mmio_write, arg);
	cr_assert_eq(err, 0, "emulating %s: %s", desc, strerror(err));
}

#define MMIO_READ_VALUE 0xcafef00du

/* The exit of a guest access to MMIO in flat 32-bit protected mode at CPL 0. */
#define X_INST_EMUL_PM32(rip_, len_, gpa_)                                                         \
	.exitcode = VM_EXITCODE_INST_EMUL, .inst_length = (len_), .rip = (rip_),                   \
	.u.inst_emul.gpa = (gpa_), .u.inst_emul.gla = (gpa_), .u.inst_emul.cs_d = 1,               \
	.u.inst_emul.paging = {.cr3 = 0,                                                           \
	                       .cpl = 0,                                                           \
	                       .cpu_mode = CPU_MODE_PROTECTED,                                     \
	                       .paging_mode = PAGING_MODE_FLAT}

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
		               .base_register = VM_REG_GUEST_RBX, .displacement = 0x20,
		               .immediate = 0,
		               .op = {.op_byte = 0x89, .op_type = VIE_OP_TYPE_MOV, .op_flags = 0}),
	};

	struct mmio_dev dev = {.read_value = MMIO_READ_VALUE, .n = 0};
	struct guest g;
	open_guest(&g, "mmio");
	run_to_debug_exit(&g, emulate_mmio, &dev);
	assert_stream(&g, exp, NELEM(exp));

	cr_assert_eq(dev.n, 2, "%d device accesses", dev.n);
	cr_assert(!dev.log[0].write);
	cr_assert_eq(dev.log[0].gpa, 0xfeb00010);
	cr_assert_eq(dev.log[0].size, 4);
	cr_assert(dev.log[1].write);
	cr_assert_eq(dev.log[1].gpa, 0xfeb00020);
	cr_assert_eq(dev.log[1].size, 4);
	cr_assert_eq(dev.log[1].val, 0x11223344, "stored 0x%" PRIx64, dev.log[1].val);
	guest_close(&g);
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
		VIE_DECODED_32(10, .mod = 0, .reg = 0, .rm = 5, .disp_bytes = 4, .imm_bytes = 4,
		               .base_register = VM_REG_LAST,
		               .displacement = (int64_t)(int32_t)0xe0000000u,
		               .immediate = 0x55aa55aa,
		               .op = {.op_byte = 0xc7,
		                      .op_type = VIE_OP_TYPE_MOV,
		                      .op_flags = VIE_OP_F_IMM}),
	};

	struct guest g;
	struct vm_exit vme;
	open_guest(&g, "mmio_unclaimed");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_stream(&g, exp, NELEM(exp));
	guest_close(&g);
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
	struct guest g;
	struct vm_exit vme;
	open_guest(&g, "fetch_unbacked");
	cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
	assert_stream(&g, exp, NELEM(exp));
	guest_close(&g);
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
	struct guest g;
	open_guest(&g, "selfmod");
	run_to_debug_exit(&g, answer_in, &(struct in_script){NULL, 0, 0});
	assert_stream(&g, exp, NELEM(exp));
	guest_close(&g);
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
	struct guest a, b;
	struct in_script s1 = {inout_in_values, NELEM(inout_in_values), 0};
	struct in_script s2 = {inout_in_values, NELEM(inout_in_values), 0};

	exit_digest_init(&d1);
	exit_digest_init(&d2);
	open_guest(&a, "exits_inout");
	a.digest = &d1;
	run_to_debug_exit(&a, answer_in, &s1);
	open_guest(&b, "exits_inout");
	b.digest = &d2;
	run_to_debug_exit(&b, answer_in, &s2);

	assert_same_streams(&a, &b);
	cr_assert_eq(d1.exits, a.log.n, "the digest saw %" PRIu64 " exits, the log %zu", d1.exits,
	             a.log.n);
	cr_assert_eq(exit_digest_value(&d1), exit_digest_value(&d2),
	             "digests 0x%016" PRIx64 " and 0x%016" PRIx64, exit_digest_value(&d1),
	             exit_digest_value(&d2));
	guest_close(&a);
	guest_close(&b);
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
	struct guest a, b;
	struct in_script s1 = {inout_in_values, NELEM(inout_in_values), 0};
	struct in_script s2 = {other, NELEM(other), 0};

	exit_digest_init(&d1);
	exit_digest_init(&d2);
	open_guest(&a, "exits_inout");
	a.digest = &d1;
	run_to_debug_exit(&a, answer_in, &s1);
	open_guest(&b, "exits_inout");
	b.digest = &d2;
	run_to_debug_exit(&b, answer_in, &s2);

	cr_assert_eq(a.log.n, b.log.n);
	cr_assert_neq(exit_digest_value(&d1), exit_digest_value(&d2));
	guest_close(&a);
	guest_close(&b);
}

/* The mmio guest, whose stream carries decoded vies, is repeatable as well. */
Test(exit_stream, mmio_guest_runs_twice_to_the_same_stream)
{
	struct mmio_dev dev1 = {.read_value = MMIO_READ_VALUE, .n = 0};
	struct mmio_dev dev2 = {.read_value = MMIO_READ_VALUE, .n = 0};
	struct guest a, b;
	open_guest(&a, "mmio");
	run_to_debug_exit(&a, emulate_mmio, &dev1);
	open_guest(&b, "mmio");
	run_to_debug_exit(&b, emulate_mmio, &dev2);
	assert_same_streams(&a, &b);
	guest_close(&a);
	guest_close(&b);
}
