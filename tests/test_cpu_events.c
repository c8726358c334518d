/*
 * Exception and interrupt delivery on the soft CPU, asserted through the
 * exit stream: each guest (tests/guests/ev_*.asm) installs handlers that
 * report what the CPU pushed and what it changed, with OUT to port 0x80,
 * so the INOUT exits carry the frame's contents, the stack pointer at
 * handler entry and the flags inside the handler.  Every stream is compared
 * exit by exit with the one derived from the guest's source and the SDM
 * (vol. 3 chapter 6, section 20.1.4 for real mode, 17.3.1.1 for RF), the
 * handled PAGING exits included: a frame pushed onto a fresh page is that
 * page's first touch, in the middle of the delivery.
 *
 * The addresses below are the ones the guests pin with AT (testguest.inc);
 * the guest sources list what each event must push.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "event_stream.h"
#include "guest_helper.h"

/* ---- expected streams --------------------------------------------------- */

static void x_suspended(struct stream *s, uint64_t rip, enum vm_suspend_how how)
{
	struct expect e = {.handled = false};
	e.vme.exitcode = VM_EXITCODE_SUSPENDED;
	e.vme.rip = rip;
	e.vme.inst_length = 0;
	e.vme.u.suspended.how = how;
	add(s, e);
}

/* OUT 0x80, EAX: 66 E7 80 in 16-bit code, E7 80 in 32- and 64-bit code. */
static void x_out80_16(struct stream *s, uint64_t rip, uint32_t eax)
{
	x_out(s, rip, 3, 4, 0x80, eax);
}

static void x_out80(struct stream *s, uint64_t rip, uint32_t eax)
{
	x_out(s, rip, 2, 4, 0x80, eax);
}

/* OUT imm8, AL (E6 ib): eax is the whole of EAX. */
static void x_out_al(struct stream *s, uint64_t rip, uint16_t port, uint32_t eax)
{
	x_out(s, rip, 2, 1, port, eax);
}

/* ---- running ------------------------------------------------------------ */

/*
 * The guests of the running test, closed by the suite's fini however the
 * test ends (Criterion runs each test in its own process).
 */
static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(cpu_events, .fini = close_guest);

static void open_guest(const char *name)
{
	int err = guest_open(&g, name);
	cr_assert_eq(err, 0, "guest_open(%s): %s", name, g.err);
}

/*
 * Called for every returned exit except the final OUT to 0xF4; may inject
 * and choose where to resume (guest_run already set g.rip to rip +
 * inst_length, bhyverun's CONTINUE).
 */
typedef void (*exit_fn)(struct vm_exit *vme, void *arg);

/* Run until OUT to 0xF4 (returned 0) or a SUSPENDED exit (returned 1). */
static int run_guest(exit_fn fn, void *arg)
{
	char desc[256];
	for (int returned = 0; returned < 1000; returned++) {
		struct vm_exit vme;
		int err = guest_run(&g, &vme);
		cr_assert_eq(err, 0, "%s", g.err);
		exit_describe(&vme, desc, sizeof(desc));
		if (vme.exitcode == VM_EXITCODE_SUSPENDED)
			return 1;
		cr_assert_eq(vme.exitcode, VM_EXITCODE_INOUT, "unexpected exit %s", desc);
		cr_assert(!vme.u.inout.in, "unexpected exit %s", desc);
		if (vme.u.inout.port == 0xf4)
			return 0;
		if (fn != NULL)
			fn(&vme, arg);
	}
	cr_assert_fail("no OUT to 0xF4 after 1000 returned exits");
	return -1;
}

/*
 * An injection script: at the k-th OUT to port 0xE9, inject inj[k] (if its
 * vector is >= 0) and restart that OUT, as bhyverun does after an exit
 * handler injected a fault (vm_inject_fault: the instruction restarts).
 * 'exit_info' is given to vm_exit_intinfo first when nonzero.
 */
struct injection {
	int vector;
	int error_code_valid;
	uint32_t error_code;
	uint64_t exit_info;
};

struct inject_script {
	const struct injection *inj;
	size_t n, next;
};

static void inject_at_e9(struct vm_exit *vme, void *arg)
{
	struct inject_script *s = arg;
	if (vme->u.inout.port != 0xe9)
		return;
	cr_assert_lt(s->next, s->n, "more OUT 0xE9 exits than scripted, at rip 0x%" PRIx64,
	             vme->rip);
	const struct injection *in = &s->inj[s->next++];
	if (in->vector < 0)
		return;
	if (in->exit_info != 0)
		cr_assert_eq(vm_exit_intinfo(g.vm, 0, in->exit_info), 0);
	struct vm_exception e = {.cpuid = 0,
	                         .vector = in->vector,
	                         .error_code = in->error_code,
	                         .error_code_valid = in->error_code_valid};
	cr_assert_eq(vm_inject_exception(g.vm, 0, &e), 0, "vm_inject_exception(%d)", in->vector);
	g.rip = vme->rip; /* restart the OUT */
}

/* ---- ev_real_ivt ----------------------------------------------------------- */

/* Addresses pinned in ev_real_ivt.asm. */
#define RM_DIV        0x7c3c /* div bl */
#define RM_OUT_AX     0x7c3e
#define RM_OUT_FLAGS  0x7c47
#define RM_OUT_SP     0x7c4e
#define RM_UD2        0x7c55
#define RM_INT40      0x7c5b
#define RM_AFTER_INT  0x7c5d /* the instruction after INT 40h (CD 40) */
#define RM_OUT_FLAGS2 0x7c63
#define RM_INJ1       0x7c6c /* out 0xE9, al: injection points */
#define RM_INJ2       0x7c74
#define RM_END        0x7c7c /* out 0xF4, al */

#define RM_TAG_DE    0x1000
#define RM_TAG_UD    0x1006
#define RM_TAG_GP    0x100d
#define RM_TAG_INT40 0x1040

/*
 * SP is 0x7C00 before every event; FLAGS, CS and IP take 6 bytes (SDM vol. 3
 * 20.1.4).
 */
#define RM_SP_IN_HANDLER (0x7c00 - 6)

/*
 * report in ev_real_ivt.asm: tag, SP at entry, FLAGS in the handler, then
 * the pushed IP, CS and FLAGS.  The real-mode handlers run with CS = 0, the
 * segment of their IVT entries, and every event comes from CS = 0.
 */
static void rm_report(struct stream *s, uint32_t tag, uint16_t flags_in, uint16_t ip,
                      uint16_t flags)
{
	static const uint64_t rip[6] = {0x7ccf, 0x7cd6, 0x7cde, 0x7ce6, 0x7cee, 0x7cf6};
	const uint32_t val[6] = {tag, RM_SP_IN_HANDLER, flags_in, ip, 0, flags};
	for (int k = 0; k < 6; k++)
		x_out80_16(s, rip[k], val[k]);
}

/*
 * The stream of ev_real_ivt up to the first injection point.  Delivery
 * clears IF, TF and AC (SDM vol. 3 20.1.4, INT n real-address mode) and
 * pushes FLAGS as they were, so each handler sees the POPF value without IF.
 */
static void rm_stream_head(struct stream *s)
{
	x_first_fetch(s);
	x_paging(s, 0x7c00, 0x0, VM_PROT_WRITE); /* the IVT, first written */
	/* #DE is a fault: the pushed IP is the DIV's. */
	rm_report(s, RM_TAG_DE, 0x0cd7, RM_DIV, 0x0ed7);
	x_out80_16(s, RM_OUT_AX, 0x1234);    /* the DIV changed nothing */
	x_out80_16(s, RM_OUT_FLAGS, 0x0ed7); /* IRET restored FLAGS, IF included */
	x_out80_16(s, RM_OUT_SP, 0x7c00);    /* and popped the 3 words */
	/* #UD is a fault too. */
	rm_report(s, RM_TAG_UD, 0x0046, RM_UD2, 0x0246);
	/* INT n: the pushed IP is the next instruction's. */
	rm_report(s, RM_TAG_INT40, 0x0003, RM_AFTER_INT, 0x0203);
	x_out80_16(s, RM_OUT_FLAGS2, 0x0203);
}

Test(cpu_events, real_mode_ivt_delivers_faults_at_the_instruction_and_int_after_it)
{
	struct stream exp = {.n = 0};
	rm_stream_head(&exp);
	x_out_al(&exp, RM_INJ1, 0xe9, 0x11);
	x_out_al(&exp, RM_INJ2, 0xe9, 0x22);
	x_out_al(&exp, RM_END, 0xf4, 0);

	open_guest("ev_real_ivt");
	cr_assert_eq(run_guest(NULL, NULL), 0);
	assert_stream(&g, &exp);
}

/*
 * vm_inject_exception at an OUT exit, restarting the OUT (BHYVE-EXITS.md
 * section 9): the event is delivered before the OUT executes, as a fault of
 * the OUT, so the handler sees IP = the OUT's address and FLAGS as they
 * were, and its report comes before anything else.  The handler steps over
 * the OUT, so it does not exit again.  Real mode pushes no error code (SDM
 * vol. 3 20.1.4; bhyve's vm_inject_exception drops it too), so the #GP
 * injected with one has the same 6-byte frame.
 */
Test(cpu_events, injected_exceptions_in_real_mode_run_the_ivt_handler_at_the_restarted_rip)
{
	static const struct injection inj[] = {
	    {.vector = IDT_UD, .error_code_valid = 0, .error_code = 0, .exit_info = 0},
	    {.vector = IDT_GP, .error_code_valid = 1, .error_code = 0x1234, .exit_info = 0},
	};
	struct inject_script script = {inj, 2, 0};
	struct stream exp = {.n = 0};
	rm_stream_head(&exp);
	x_out_al(&exp, RM_INJ1, 0xe9, 0x11);
	rm_report(&exp, RM_TAG_UD, 0x0003, RM_INJ1, 0x0203);
	x_out_al(&exp, RM_INJ2, 0xe9, 0x22);
	rm_report(&exp, RM_TAG_GP, 0x0003, RM_INJ2, 0x0203);
	x_out_al(&exp, RM_END, 0xf4, 0);

	open_guest("ev_real_ivt");
	cr_assert_eq(run_guest(inject_at_e9, &script), 0);
	assert_stream(&g, &exp);
	cr_assert_eq(script.next, 2);
}

/* ---- ev_pm_gp ------------------------------------------------------------------ */

/* Addresses pinned in ev_pm_gp.asm. */
#define PM_DIV        0x7c42 /* div ecx */
#define PM_OUT_EFLAGS 0x7c46
#define PM_OUT_ESP    0x7c4a
#define PM_MOV_DS     0x7c56 /* mov ds, ax: #GP(0x40) */
#define PM_OUT_DS     0x7c60
#define PM_INJ        0x7c67 /* out 0xE9, al: injection point */
#define PM_INT30      0x7c6f
#define PM_INT31      0x7c71
#define PM_UD2        0x7c79
#define PM_INT32      0x7c7b
#define PM_MOV_DS2    0x7c88 /* mov ds, ax: #DF */
#define PM_DF_TAG     0x7d02
#define PM_DF_ESP     0x7d06
#define PM_DF_ERR     0x7d0b
#define PM_END        0x7d12 /* out 0xF4, al */

#define PM_TAG_DE    0x1000
#define PM_TAG_DF    0x1008
#define PM_TAG_NP    0x100b
#define PM_TAG_GP    0x100d
#define PM_TAG_INT30 0x1030
#define PM_TAG_INT31 0x1031

#define PM_STACK_TOP 0x20000u
#define RF           0x10000u /* EFLAGS.RF */

/*
 * report in ev_pm_gp.asm: tag, ESP at entry, EFLAGS in the handler, the
 * error code if one was pushed, then the pushed EIP, CS and EFLAGS.  No
 * privilege change, so the CPU pushes EFLAGS, CS, EIP (and the error code)
 * on the current stack (SDM vol. 3 6.12.1, figure 6-4); ESP is always
 * PM_STACK_TOP before an event.
 */
static void pm_report(struct stream *s, uint32_t tag, bool has_err, uint32_t err,
                      uint32_t eflags_in, uint32_t eip, uint32_t eflags)
{
	uint32_t esp = PM_STACK_TOP - (has_err ? 16 : 12);
	x_out80(s, 0x7d17, tag);
	x_out80(s, 0x7d1b, esp);
	x_out80(s, 0x7d1e, eflags_in);
	if (has_err)
		x_out80(s, 0x7d25, err);
	x_out80(s, 0x7d2b, eip);
	x_out80(s, 0x7d32, 0x08); /* SEL_CODE32 */
	x_out80(s, 0x7d38, eflags);
}

/* ev_pm_gp up to its injection point (see the guest's table of events). */
static void pm_stream_head(struct stream *s)
{
	x_first_fetch(s);
	/*
	 * #DE's first push is the first touch of the stack page: a handled
	 * PAGING write at the DIV, then the delivery restarts and completes.
	 * A fault pushes RF set (SDM vol. 3 17.3.1.1); an interrupt gate
	 * clears IF (6.12.1.3) as well as TF, NT, RF and VM.
	 */
	x_paging(s, PM_DIV, 0x1f000, VM_PROT_WRITE);
	pm_report(s, PM_TAG_DE, false, 0, 0x0497, PM_DIV, RF | 0x0697);
	x_out80(s, PM_OUT_EFLAGS, 0x0697); /* PUSHFD never shows RF */
	x_out80(s, PM_OUT_ESP, PM_STACK_TOP);
	/* #GP(selector) for an index beyond the GDT limit. */
	pm_report(s, PM_TAG_GP, true, 0x40, 0x0cd7, PM_MOV_DS, RF | 0x0ed7);
	x_out80(s, PM_OUT_DS, 0x10);
}

/* From INT 0x30 to the end of ev_pm_gp. */
static void pm_stream_tail(struct stream *s)
{
	/*
	 * INT n pushes the next instruction's address and RF clear (17.3.1.1);
	 * a trap gate leaves IF set, an interrupt gate clears it (6.12.1.3).
	 */
	pm_report(s, PM_TAG_INT30, false, 0, 0x0203, PM_INT30 + 2, 0x0203);
	pm_report(s, PM_TAG_INT31, false, 0, 0x0003, PM_INT31 + 2, 0x0203);
	/*
	 * #UD's gate is not present: #NP with the gate's IDT index, IDT and
	 * EXT set (6.13), delivered serially after the benign #UD (table 6-5),
	 * as a fault of the UD2.  INT 0x32's gate too, EXT clear.
	 */
	pm_report(s, PM_TAG_NP, true, 0x06 * 8 + 2 + 1, 0x08c3, PM_UD2, RF | 0x0ac3);
	pm_report(s, PM_TAG_NP, true, 0x32 * 8 + 2, 0x08c3, PM_INT32, RF | 0x0ac3);
	/* #GP whose gate is not present: #NP during #GP, #DF with error code 0. */
	x_out80(s, PM_DF_TAG, PM_TAG_DF);
	x_out80(s, PM_DF_ESP, PM_STACK_TOP - 16);
	x_out80(s, PM_DF_ERR, 0);
	x_out_al(s, PM_END, 0xf4, 0);
}

Test(cpu_events, protected_mode_gates_push_exact_frames_and_escalate_to_double_fault)
{
	struct stream exp = {.n = 0};
	pm_stream_head(&exp);
	x_out_al(&exp, PM_INJ, 0xe9, 0x33);
	pm_stream_tail(&exp);

	open_guest("ev_pm_gp");
	cr_assert_eq(run_guest(NULL, NULL), 0);
	assert_stream(&g, &exp);
}

/*
 * RF, set in the EFLAGS image a fault pushes, comes back with the handler's
 * IRETD and lasts only until the next instruction completes (SDM vol. 3
 * 17.3.1.1): two instructions after the return, at the OUT that reports
 * EFLAGS, the register itself has RF clear again.
 */
Test(cpu_events, rf_from_a_fault_frame_is_cleared_once_the_next_instruction_completes)
{
	open_guest("ev_pm_gp");
	for (int n = 0; n < 100; n++) {
		struct vm_exit vme;
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		cr_assert_neq(vme.exitcode, VM_EXITCODE_SUSPENDED, "no OUT at 0x%x", PM_OUT_EFLAGS);
		if (vme.exitcode == VM_EXITCODE_INOUT && vme.rip == PM_OUT_EFLAGS) {
			uint64_t rflags;
			cr_assert_eq(vm_get_register(g.vm, 0, VM_REG_GUEST_RFLAGS, &rflags), 0);
			cr_assert_eq(vme.u.inout.eax, 0x697,
			             "the pushed image had RF: PUSHFD drops it");
			cr_assert_eq(rflags, 0x697, "RFLAGS 0x%llx at the OUT after the IRETD",
			             (unsigned long long)rflags);
			return;
		}
	}
	cr_assert_fail("no OUT at 0x%x", PM_OUT_EFLAGS);
}

/*
 * An injected #GP with an error code in protected mode: the handler gets
 * the error code on top of a frame whose EIP is the restarted OUT and whose
 * EFLAGS have RF set, as for any fault-class exception (17.3.1.1; KVM sets
 * RF the same way when it injects a fault).
 */
Test(cpu_events, injected_gp_in_protected_mode_pushes_the_error_code_and_the_restarted_eip)
{
	static const struct injection inj[] = {
	    {.vector = IDT_GP, .error_code_valid = 1, .error_code = 0x5678, .exit_info = 0},
	};
	struct inject_script script = {inj, 1, 0};
	struct stream exp = {.n = 0};
	pm_stream_head(&exp);
	x_out_al(&exp, PM_INJ, 0xe9, 0x33);
	pm_report(&exp, PM_TAG_GP, true, 0x5678, 0x0cd7, PM_INJ, RF | 0x0ed7);
	pm_stream_tail(&exp);

	open_guest("ev_pm_gp");
	cr_assert_eq(run_guest(inject_at_e9, &script), 0);
	assert_stream(&g, &exp);
}

/*
 * Nested events through the API, as bhyve's vm_entry_intinfo combines them
 * (BHYVE-EXITS.md section 9, SDM table 6-5): an exit during delivery of a
 * #GP (vm_exit_intinfo) and a #NP injected by the exit handler make a #DF
 * with error code 0, which the guest's #DF handler receives (its report
 * ends the guest: ESP 16 below the top, error code 0).
 */
Test(cpu_events, exit_intinfo_gp_and_injected_np_deliver_a_double_fault_to_the_guest)
{
	static const struct injection inj[] = {
	    {.vector = IDT_NP,
	     .error_code_valid = 1,
	     .error_code = 0x18,
	     .exit_info =
	         IDT_GP | VM_INTINFO_HWEXCEPTION | VM_INTINFO_DEL_ERRCODE | VM_INTINFO_VALID},
	};
	struct inject_script script = {inj, 1, 0};
	struct stream exp = {.n = 0};
	pm_stream_head(&exp);
	x_out_al(&exp, PM_INJ, 0xe9, 0x33);
	x_out80(&exp, PM_DF_TAG, PM_TAG_DF);
	x_out80(&exp, PM_DF_ESP, PM_STACK_TOP - 16);
	x_out80(&exp, PM_DF_ERR, 0);
	x_out_al(&exp, PM_END, 0xf4, 0);

	open_guest("ev_pm_gp");
	cr_assert_eq(run_guest(inject_at_e9, &script), 0);
	assert_stream(&g, &exp);
}

/*
 * A #DF pending from an earlier exit and a new fault: a triple fault.
 * bhyve suspends the vm (TRIPLEFAULT) instead of injecting, so the next
 * entry returns SUSPENDED at the restarted OUT and nothing is delivered.
 */
Test(cpu_events, exit_intinfo_df_and_injected_gp_suspend_with_triple_fault)
{
	static const struct injection inj[] = {
	    {.vector = IDT_GP,
	     .error_code_valid = 1,
	     .error_code = 0,
	     .exit_info =
	         IDT_DF | VM_INTINFO_HWEXCEPTION | VM_INTINFO_DEL_ERRCODE | VM_INTINFO_VALID},
	};
	struct inject_script script = {inj, 1, 0};
	struct stream exp = {.n = 0};
	pm_stream_head(&exp);
	x_out_al(&exp, PM_INJ, 0xe9, 0x33);
	x_suspended(&exp, PM_INJ, VM_SUSPEND_TRIPLEFAULT);

	open_guest("ev_pm_gp");
	cr_assert_eq(run_guest(inject_at_e9, &script), 1);
	assert_stream(&g, &exp);
}

/*
 * vm_inject_exception's argument checks (vmm.h): #DF cannot be injected
 * (only the vmm makes one), vectors stop at 31, and a second exception
 * while one is pending is EBUSY; none of them changes what is pending.
 */
Test(cpu_events, inject_exception_rejects_df_bad_vectors_and_a_second_pending_one)
{
	struct vm_exception df = {
	    .cpuid = 0, .vector = IDT_DF, .error_code = 0, .error_code_valid = 1};
	struct vm_exception v32 = {
	    .cpuid = 0, .vector = 32, .error_code = 0, .error_code_valid = 0};
	struct vm_exception neg = {
	    .cpuid = 0, .vector = -1, .error_code = 0, .error_code_valid = 0};
	struct vm_exception ud = {
	    .cpuid = 0, .vector = IDT_UD, .error_code = 0, .error_code_valid = 0};
	struct vm_exception gp = {
	    .cpuid = 0, .vector = IDT_GP, .error_code = 0, .error_code_valid = 1};
	uint64_t info1, info2;

	open_guest("ev_real_ivt");
	cr_assert_eq(vm_inject_exception(g.vm, 0, &df), EINVAL);
	cr_assert_eq(vm_inject_exception(g.vm, 0, &v32), EINVAL);
	cr_assert_eq(vm_inject_exception(g.vm, 0, &neg), EINVAL);
	cr_assert_eq(vm_get_intinfo(g.vm, 0, &info1, &info2), 0);
	cr_assert_eq(info2, 0, "pending after rejected injections: 0x%" PRIx64, info2);
	cr_assert_eq(vm_inject_exception(g.vm, 0, &ud), 0);
	cr_assert_eq(vm_inject_exception(g.vm, 0, &gp), EBUSY);
	cr_assert_eq(vm_get_intinfo(g.vm, 0, &info1, &info2), 0);
	cr_assert_eq(info1, 0);
	cr_assert_eq(info2, IDT_UD | VM_INTINFO_HWEXCEPTION | VM_INTINFO_VALID,
	             "pending 0x%" PRIx64, info2);
}

/* ---- ev_long_pf ------------------------------------------------------------------ */

/* Addresses pinned in ev_long_pf.asm. */
#define LM_JMP64    0x7c48 /* the far jump into 64-bit code: the first walk */
#define LM_READ     0x7c6b /* mov eax, [rbx]: #PF(0) */
#define LM_WRITE    0x7c89 /* mov [rbx], eax: #PF(2) */
#define LM_SET_IST1 0x7c90 /* mov [0x24], rax */
#define LM_DF_READ  0x7ca2 /* mov eax, [rbx] with RSP unmapped: #DF */
#define LM_DF_TAG   0x7cc6
#define LM_DF_ERR   0x7cd3
#define LM_DF_CR2   0x7cdc
#define LM_END      0x7ce3 /* out 0xF4, al */
#define LM_OUT64_LO 0x7d26 /* out64: the low half, then the high half */
#define LM_OUT64_HI 0x7d2c
#define LM_TAG_DF   0x1008
#define LM_TAG_PF   0x100e
#define LM_RSP      0x2fff8ull /* RSP before each #PF: 8 mod 16 */
#define LM_IST1     0x40000ull

static void x_out64(struct stream *s, uint64_t v)
{
	x_out80(s, LM_OUT64_LO, (uint32_t)v);
	x_out80(s, LM_OUT64_HI, (uint32_t)(v >> 32));
}

/*
 * report64 in ev_long_pf.asm, for a #PF: tag, RSP at entry, RFLAGS in the
 * handler, CR2, the error code, then the pushed RIP, CS, RFLAGS, RSP and
 * SS.  In IA-32e mode the CPU aligns RSP down to 16 bytes and always
 * pushes SS:RSP, then RFLAGS, CS, RIP and the error code, 8 bytes each
 * (SDM vol. 3 6.14.2): RSP at entry is the aligned RSP minus 48, itself
 * 16-byte aligned; the pushed RSP is the unaligned one.
 */
static void lm_report_pf(struct stream *s, uint32_t rflags_in, uint64_t cr2, uint32_t err,
                         uint64_t rip, uint32_t rflags)
{
	x_out80(s, 0x7ce8, LM_TAG_PF);
	x_out64(s, (LM_RSP & ~0xfull) - 48);
	x_out80(s, 0x7cf3, rflags_in);
	x_out64(s, cr2);
	x_out80(s, 0x7d00, err);
	x_out64(s, rip);
	x_out80(s, 0x7d0f, 0x18); /* SEL_CODE64 */
	x_out80(s, 0x7d14, rflags);
	x_out64(s, LM_RSP);
	x_out80(s, 0x7d23, 0x10); /* SS: the data selector ENTER_PM32 loaded */
}

Test(cpu_events, long_mode_page_faults_push_cr2_error_code_and_an_aligned_64bit_frame)
{
	struct stream exp = {.n = 0};
	x_first_fetch(&exp);
	/* The first walk reads PML4, PDPT and PD (the tables are in the image). */
	x_paging(&exp, LM_JMP64, 0x9000, VM_PROT_READ);
	x_paging(&exp, LM_JMP64, 0xa000, VM_PROT_READ);
	x_paging(&exp, LM_JMP64, 0xb000, VM_PROT_READ);
	/*
	 * #PF for a supervisor read of a not-present page: error code 0 (P, W,
	 * U, RSVD and I/D clear, SDM vol. 3 4.7), CR2 = the address.  The
	 * frame's first push touches the stack page.
	 */
	x_paging(&exp, LM_READ, 0x2f000, VM_PROT_WRITE);
	lm_report_pf(&exp, 0x0497, 0x50000000, 0, LM_READ, RF | 0x0697);
	x_out64(&exp, LM_RSP); /* IRETQ popped SS:RSP */
	/* A write: W set; CR2 holds all 64 bits. */
	lm_report_pf(&exp, 0x0046, 0x123456789ull, 2, LM_WRITE, RF | 0x0046);
	/*
	 * #PF whose frame faults (#PF) on the unmapped stack: #DF (table 6-5),
	 * through a gate with IST 1, so on the IST1 stack (aligned, 6 pushes,
	 * the first one touching its page) with error code 0, and CR2 in the
	 * page the stack push faulted on.
	 */
	x_paging(&exp, LM_SET_IST1, 0x0, VM_PROT_WRITE);
	x_paging(&exp, LM_DF_READ, 0x3f000, VM_PROT_WRITE);
	x_out80(&exp, LM_DF_TAG, LM_TAG_DF);
	x_out64(&exp, LM_IST1 - 48);
	x_out80(&exp, LM_DF_ERR, 0);
	x_out80(&exp, LM_DF_CR2, 0x50000); /* 0x50001000 - 8 .. - 48 */
	x_out_al(&exp, LM_END, 0xf4, 0);

	open_guest("ev_long_pf");
	cr_assert_eq(run_guest(NULL, NULL), 0);
	assert_stream(&g, &exp);
}
