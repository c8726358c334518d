/*
 * Exit-stream tests straight from the vmm (issue 5 part 3): the complete
 * stream of each short run, every exit handled or returned, compared exit
 * by exit and payload field by field (guest_helper's exit_equal).
 *
 * - TASK_SWITCH (BHYVE-EXITS.md section 6, vmx.c EXIT_REASON_TASK_SWITCH):
 *   JMP to a TSS, CALL through a task gate (ptr16:16 and m16:32), IRET
 *   with NT, INT n and INT3 through an IDT task gate (ext 0, the
 *   instruction's length), a fault with and without an error code and an
 *   injected exception through one (ext 1, inst_length 0, the error code),
 *   and the CPL in the paging field.
 * - RDMSR/WRMSR for an MSR the vmm does not own (section 7): code = ECX and
 *   wval = EDX:EAX, the upper halves of RCX, RAX and RDX ignored.
 * - PAUSE with VM_CAP_PAUSE_EXIT (section 8): the PAUSE, its length.
 * - INOUT_STR (section 3): seg_name and seg_desc for an override, or ES
 *   for INS whatever the prefix, addrsize 2/4/8, index and count unmasked,
 *   rflags, cr0 and paging in protected, compatibility and 64-bit mode.
 * - A PAGING exit in the middle of a call-gate transfer is the CALL's.
 *
 * The machines are prot_machine.h's; each run starts at PM_CODE.
 */
#include "prot_machine.h"

TestSuite(vmm_exits, .fini = pm_teardown);

#define TSS_NEW  S_FREE        /* an available 32-bit TSS at PM_DATA */
#define TGATE    (S_FREE + 8)  /* a task gate for it */
#define TSS_DPL3 (S_FREE + 16) /* an available TSS with DPL 3 */

#define MAX_EXITS 32
static struct {
	struct vm_exit v[MAX_EXITS];
	bool handled[MAX_EXITS];
	size_t n;
} rec;

static void record(void *arg, struct vm *vm, int vcpuid, const struct vm_exit *vme, bool handled)
{
	(void)arg;
	(void)vm;
	(void)vcpuid;
	if (rec.n < MAX_EXITS) {
		rec.v[rec.n] = *vme;
		rec.handled[rec.n] = handled;
	}
	rec.n++;
}

/* Run code at PM_CODE with registers r and RFLAGS 2 | flags to the first
 * exit vm_run returns; every exit is recorded. */
static struct vm_exit run_code(const uint8_t *code, unsigned n, const uint64_t r[16],
                               uint64_t flags)
{
	pm_put(PM_CODE, code, n);
	for (int k = 0; k < 16; k++)
		pm_set_reg(pm_gpr[k], k == RSP && r[k] == 0 ? PM_SP : r[k]);
	pm_set_reg(VM_REG_GUEST_RFLAGS, flags | 2);
	cr_assert_eq(vm_set_insn_limit(pm.vm, 0, 1000), 0);
	rec.n = 0;
	vm_set_exit_observer(pm.vm, record, NULL);
	struct vm_run run = {.cpuid = 0, .rip = PM_CODE};
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	return run.vm_exit;
}

#define RUN(regs, flags, ...)                                                                      \
	({                                                                                         \
		static const uint8_t code_[] = {__VA_ARGS__};                                      \
		run_code(code_, sizeof(code_), (regs), (flags));                                   \
	})

/* The expected stream: PAGING exits (handled) and the returned exit last. */
static struct vm_exit x_paging(uint64_t rip, uint64_t gpa, int type)
{
	struct vm_exit e = {.exitcode = VM_EXITCODE_PAGING, .inst_length = 0, .rip = rip};
	e.u.paging.gpa = gpa;
	e.u.paging.fault_type = type;
	return e;
}

static void expect_stream(const struct vm_exit *exp, size_t n)
{
	cr_assert_eq(rec.n, n, "%zu exits, expected %zu", rec.n, n);
	for (size_t k = 0; k < n; k++) {
		char why[256], d[256];
		exit_describe(&rec.v[k], d, sizeof(d));
		cr_assert(exit_equal(&exp[k], &rec.v[k], why, sizeof(why)), "exit %zu (%s): %s", k,
		          d, why);
		cr_assert_eq(rec.handled[k], exp[k].exitcode == VM_EXITCODE_PAGING,
		             "exit %zu (%s): handled %d", k, d, rec.handled[k]);
	}
}

static const struct vm_guest_paging PG_PROT = {0, 0, CPU_MODE_PROTECTED, PAGING_MODE_FLAT};

static struct vm_exit x_task(uint64_t rip, int len, uint16_t sel, enum task_switch_reason why,
                             int ext, int ev, uint32_t ec, struct vm_guest_paging pg)
{
	struct vm_exit e = {.exitcode = VM_EXITCODE_TASK_SWITCH, .inst_length = len, .rip = rip};
	e.u.task_switch.tsssel = sel;
	e.u.task_switch.reason = why;
	e.u.task_switch.ext = ext;
	e.u.task_switch.errcode_valid = ev;
	e.u.task_switch.errcode = ec;
	e.u.task_switch.paging = pg;
	return e;
}

static const uint64_t R0[16];

/* prot32 at CPL 0 with an available TSS, a task gate to it, and TR's TSS
 * linking to TSS_NEW (for IRET, made busy there). */
static void task_machine(void)
{
	pm_machine(PM_PROT32, 0);
	pm_gdt(TSS_NEW, pm_desc((uint32_t)PM_DATA, 0x67, 0x89, 0));
	pm_gdt(TGATE, (uint64_t)TSS_NEW << 16 | (uint64_t)0x85 << 40);
	pm_gdt(TSS_DPL3, pm_desc((uint32_t)PM_DATA, 0x67, 0xe9, 0));
}

/* An IDT entry: a task gate for TSS_NEW with DPL dpl (SDM vol. 3 6.11). */
static void idt_task_gate(unsigned vector, unsigned dpl)
{
	pm_put64(PM_IDT + 8 * vector, (uint64_t)TSS_NEW << 16 | (uint64_t)(0x85 | dpl << 5) << 40);
}

Test(vmm_exits, task_switch_jmp_and_call)
{
	task_machine();
	/* jmp far 58:0 (EA ptr16:32) */
	RUN(R0, 0, 0xea, 0, 0, 0, 0, TSS_NEW, 0);
	struct vm_exit jmp[] = {
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_paging(PM_CODE, PM_GDT, VM_PROT_READ),
	    x_task(PM_CODE, 7, TSS_NEW, TSR_JMP, 0, 0, 0, PG_PROT),
	};
	expect_stream(jmp, 3);

	/* o16 call far 60:0 (66 9A ptr16:16) through the task gate: the exit
	 * names the gate's TSS. */
	RUN(R0, 0, 0x66, 0x9a, 0, 0, TGATE, 0);
	struct vm_exit call16[] = {x_task(PM_CODE, 6, TSS_NEW, TSR_CALL, 0, 0, 0, PG_PROT)};
	expect_stream(call16, 1);

	/* call far [PM_DATA + 0x100] (FF 1D disp32), m16:32 = 0:60 */
	uint8_t ptr[6] = {0, 0, 0, 0, TGATE, 0};
	pm_put(PM_DATA + 0x100, ptr, 6);
	RUN(R0, 0, 0xff, 0x1d, 0x00, 0x01, 0x02, 0x00);
	struct vm_exit callm[] = {
	    x_paging(PM_CODE, PM_DATA, VM_PROT_READ),
	    x_task(PM_CODE, 6, TSS_NEW, TSR_CALL, 0, 0, 0, PG_PROT),
	};
	expect_stream(callm, 2);
}

Test(vmm_exits, task_switch_jmp_at_cpl3_reports_cpl3)
{
	task_machine();
	pm.cpl = 3;
	pm.cs_sel = S_CODE32_3 | 3;
	pm.cs = (struct seg_desc){0, 0xffffffff, 0xc0fb};
	pm_data_segs(S_DATA32_3 | 3, 0xffffffff, 0xc0f3);
	pm_set_ss(S_DATA32_3 | 3, 0, 0xffffffff, 0xc0f3);
	pm_seg(VM_REG_GUEST_CS, pm.cs_sel, 0, 0xffffffff, 0xc0fb);
	RUN(R0, 0, 0xea, 0, 0, 0, 0, TSS_DPL3 | 3, 0);
	struct vm_guest_paging pg = {0, 3, CPU_MODE_PROTECTED, PAGING_MODE_FLAT};
	struct vm_exit exp[] = {
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_paging(PM_CODE, PM_GDT, VM_PROT_READ),
	    x_task(PM_CODE, 7, TSS_DPL3 | 3, TSR_JMP, 0, 0, 0, pg),
	};
	expect_stream(exp, 3);
}

/* IRET with NT = 1: the link at offset 0 of TR's TSS names a busy TSS. */
Test(vmm_exits, task_switch_iret_with_nt)
{
	task_machine();
	pm_gdt(TSS_NEW, pm_desc((uint32_t)PM_DATA, 0x67, 0x8b, 0));
	uint16_t link = TSS_NEW;
	pm_put(PM_TSS, &link, 2);
	RUN(R0, 0x4000, 0xcf);
	struct vm_exit exp[] = {
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_paging(PM_CODE, PM_SP & ~UINT64_C(0xfff), VM_PROT_READ), /* the frame */
	    x_paging(PM_CODE, PM_TSS, VM_PROT_READ),
	    x_paging(PM_CODE, PM_GDT, VM_PROT_READ),
	    x_task(PM_CODE, 1, TSS_NEW, TSR_IRET, 0, 0, 0, PG_PROT),
	};
	expect_stream(exp, 5);
	/* o16 iret: two bytes. */
	RUN(R0, 0x4000, 0x66, 0xcf);
	struct vm_exit exp16[] = {x_task(PM_CODE, 2, TSS_NEW, TSR_IRET, 0, 0, 0, PG_PROT)};
	expect_stream(exp16, 1);
}

/*
 * Events through an IDT task gate: a software INT n or INT3 keeps ext 0 and
 * the instruction's length; a hardware exception has ext 1, inst_length 0
 * and its error code when it has one (#GP(100H) from MOV DS; #UD from UD2
 * has none); an exception injected with vm_inject_exception is a hardware
 * event too.
 */
/*
 * The event an IDT task-gate exit interrupted is the exit's intinfo
 * (BHYVE-EXITS.md sections 6 and 9: vmx_run stores the IDT-vectoring
 * info); bhyverun's task switch clears it (vm_set_intinfo(0)), as this
 * does, or the next vm_run would deliver it again.
 */
static void expect_and_clear_intinfo(uint64_t want)
{
	uint64_t info1, info2;
	cr_assert_eq(vm_get_intinfo(pm.vm, 0, &info1, &info2), 0);
	cr_assert_eq(info1, want, "exit intinfo %#" PRIx64 ", expected %#" PRIx64, info1, want);
	cr_assert_eq(vm_exit_intinfo(pm.vm, 0, 0), 0);
}

#define II_SWINTR (UINT64_C(4) << 8)
#define II_SWEXC  (UINT64_C(6) << 8)

Test(vmm_exits, task_switch_through_an_idt_task_gate)
{
	task_machine();
	idt_task_gate(IDT_UD, 0);
	idt_task_gate(IDT_BP, 0);
	idt_task_gate(IDT_GP, 0);
	RUN(R0, 0, 0xcd, IDT_UD); /* int 6 */
	struct vm_exit soft[] = {
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_paging(PM_CODE, PM_IDT, VM_PROT_READ),
	    x_paging(PM_CODE, PM_GDT, VM_PROT_READ),
	    x_task(PM_CODE, 2, TSS_NEW, TSR_IDT_GATE, 0, 0, 0, PG_PROT),
	};
	expect_stream(soft, 4);
	expect_and_clear_intinfo(IDT_UD | II_SWINTR | VM_INTINFO_VALID);

	RUN(R0, 0, 0xcc); /* int3 */
	struct vm_exit bp[] = {x_task(PM_CODE, 1, TSS_NEW, TSR_IDT_GATE, 0, 0, 0, PG_PROT)};
	expect_stream(bp, 1);
	expect_and_clear_intinfo(IDT_BP | II_SWEXC | VM_INTINFO_VALID);

	RUN(R0, 0, 0x0f, 0x0b); /* ud2 */
	struct vm_exit ud[] = {x_task(PM_CODE, 0, TSS_NEW, TSR_IDT_GATE, 1, 0, 0, PG_PROT)};
	expect_stream(ud, 1);
	expect_and_clear_intinfo(IDT_UD | VM_INTINFO_HWEXCEPTION | VM_INTINFO_VALID);

	/* mov ax, 100h; mov ds, ax: selector beyond the GDT limit. */
	RUN(R0, 0, 0x66, 0xb8, 0x00, 0x01, 0x8e, 0xd8);
	struct vm_exit gp[] = {x_task(PM_CODE + 4, 0, TSS_NEW, TSR_IDT_GATE, 1, 1, 0x100, PG_PROT)};
	expect_stream(gp, 1);
	expect_and_clear_intinfo(IDT_GP | VM_INTINFO_HWEXCEPTION | VM_INTINFO_DEL_ERRCODE |
	                         VM_INTINFO_VALID | UINT64_C(0x100) << 32);

	struct vm_exception ex = {
	    .cpuid = 0, .vector = IDT_GP, .error_code = 0x1234, .error_code_valid = 1};
	cr_assert_eq(vm_inject_exception(pm.vm, 0, &ex), 0);
	RUN(R0, 0, 0x90);
	struct vm_exit inj[] = {x_task(PM_CODE, 0, TSS_NEW, TSR_IDT_GATE, 1, 1, 0x1234, PG_PROT)};
	expect_stream(inj, 1);
	expect_and_clear_intinfo(IDT_GP | VM_INTINFO_HWEXCEPTION | VM_INTINFO_DEL_ERRCODE |
	                         VM_INTINFO_VALID | UINT64_C(0x1234) << 32);
}

/* RDMSR/WRMSR of an MSR nobody owns, in 64-bit mode with the upper halves
 * of RCX, RAX and RDX set: bhyve takes ECX and EDX:EAX (vmx.c
 * emulate_rdmsr/emulate_wrmsr, BHYVE-EXITS.md section 7). */
Test(vmm_exits, msr_exits_take_ecx_and_edx_eax)
{
	pm_machine(PM_LONG64, 0);
	uint64_t r[16] = {[RCX] = UINT64_C(0xffffffff12345678),
	                  [RAX] = UINT64_C(0xdeadbeef89abcdef),
	                  [RDX] = UINT64_C(0xcafef00d01234567)};
	RUN(r, 0, 0x0f, 0x32);
	struct vm_exit rd = {.exitcode = VM_EXITCODE_RDMSR, .inst_length = 2, .rip = PM_CODE};
	rd.u.msr.code = 0x12345678;
	struct vm_exit exp[] = {
	    x_paging(PM_CODE, PM_PML4, VM_PROT_READ),
	    x_paging(PM_CODE, PM_PDPT, VM_PROT_READ),
	    x_paging(PM_CODE, PM_PD, VM_PROT_READ),
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    rd,
	};
	expect_stream(exp, 5);
	RUN(r, 0, 0x0f, 0x30);
	struct vm_exit wr = {.exitcode = VM_EXITCODE_WRMSR, .inst_length = 2, .rip = PM_CODE};
	wr.u.msr.code = 0x12345678;
	wr.u.msr.wval = UINT64_C(0x0123456789abcdef);
	expect_stream(&wr, 1);
}

/* PAUSE exits only with VM_CAP_PAUSE_EXIT; rip the PAUSE, its length. */
Test(vmm_exits, pause_exit_with_the_capability)
{
	pm_machine(PM_PROT32, 0);
	struct vm_exit e = RUN(R0, 0, 0xf3, 0x90, 0xe6, PORT_DONE);
	cr_assert_eq(e.exitcode, VM_EXITCODE_INOUT, "no PAUSE exit without the capability");
	cr_assert_eq(vm_set_capability(pm.vm, 0, VM_CAP_PAUSE_EXIT, 1), 0);
	RUN(R0, 0, 0x66, 0xf3, 0x90, 0xe6, PORT_DONE);
	struct vm_exit p = {.exitcode = VM_EXITCODE_PAUSE, .inst_length = 3, .rip = PM_CODE};
	expect_stream(&p, 1);
}

/* One INOUT_STR exit with everything bhyve reports (vmx.c
 * inout_str_seginfo, inout_str_addrsize, vmx_paging_info). */
static struct vm_exit x_str(int len, bool in, int bytes, bool rep, uint16_t port, uint64_t rflags,
                            uint64_t cr0, uint64_t index, uint64_t count, int asz, int seg,
                            struct seg_desc d, struct vm_guest_paging pg)
{
	struct vm_exit e = {.exitcode = VM_EXITCODE_INOUT_STR, .inst_length = len, .rip = PM_CODE};
	struct vm_inout_str *s = &e.u.inout_str;
	s->inout.bytes = bytes;
	s->inout.in = in;
	s->inout.string = 1;
	s->inout.rep = rep;
	s->inout.port = port;
	s->inout.eax = 0x44332211;
	s->paging = pg;
	s->rflags = rflags;
	s->cr0 = cr0;
	s->index = index;
	s->count = count;
	s->addrsize = asz;
	s->seg_name = seg;
	s->seg_desc = d;
	return e;
}

#define STR_REGS                                                                                   \
	{                                                                                          \
		[RAX] = UINT64_C(0x8877665544332211), [RCX] = UINT64_C(0xaaaa000000010003),        \
		[RDX] = 0x3f8, [RSI] = UINT64_C(0x5555000000020010),                               \
		[RDI] = UINT64_C(0x6666000000030020)                                               \
	}

static const struct seg_desc FLAT32 = {0, 0xffffffff, 0xc093};

Test(vmm_exits, inout_str_fields_by_mode_override_and_address_size)
{
	const uint64_t r[16] = STR_REGS;
	const uint64_t rsi = UINT64_C(0x5555000000020010), rdi = UINT64_C(0x6666000000030020);
	const uint64_t rcx = UINT64_C(0xaaaa000000010003);

	/* 16-bit protected mode, cs outsb: addrsize 2, CS's cache. */
	pm_machine(PM_PROT16, 0);
	RUN(r, 0, 0x2e, 0x6e);
	struct vm_exit a[] = {
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_str(2, false, 1, false, 0x3f8, 0x2, 0x11, rsi, 1, 2, VM_REG_GUEST_CS,
	          (struct seg_desc){0, 0xffff, 0x9b}, PG_PROT),
	};
	expect_stream(a, 2);
	pm_teardown();

	/* 32-bit code, a16 rep outsd with FS: addrsize 2, count the full RCX;
	 * then cs insb: INS always reports ES, index RDI (SDM INS: ES cannot
	 * be overridden). */
	pm_machine(PM_PROT32, 0);
	RUN(r, 0x400, 0x67, 0xf3, 0x64, 0x6f);
	struct vm_exit b[] = {
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_str(4, false, 4, true, 0x3f8, 0x402, 0x11, rsi, rcx, 2, VM_REG_GUEST_FS, FLAT32,
	          PG_PROT),
	};
	expect_stream(b, 2);
	RUN(r, 0, 0x2e, 0x6c);
	struct vm_exit c =
	    x_str(2, true, 1, false, 0x3f8, 0x2, 0x11, rdi, 1, 4, VM_REG_GUEST_ES, FLAT32, PG_PROT);
	expect_stream(&c, 1);
	pm_teardown();

	/* 64-bit mode, gs rep outsd: addrsize 8, GS's base; a32 outsd: 4. */
	pm_machine(PM_LONG64, 0);
	pm_seg(VM_REG_GUEST_GS, S_DATA32, 0x20000, 0xffffffff, 0xc093);
	const struct vm_guest_paging pg64 = {PM_PML4, 0, CPU_MODE_64BIT, PAGING_MODE_64};
	RUN(r, 0, 0x65, 0xf3, 0x6f);
	struct vm_exit d[] = {
	    x_paging(PM_CODE, PM_PML4, VM_PROT_READ),
	    x_paging(PM_CODE, PM_PDPT, VM_PROT_READ),
	    x_paging(PM_CODE, PM_PD, VM_PROT_READ),
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_str(3, false, 4, true, 0x3f8, 0x2, 0x80000011, rsi, rcx, 8, VM_REG_GUEST_GS,
	          (struct seg_desc){0x20000, 0xffffffff, 0xc093}, pg64),
	};
	expect_stream(d, 5);
	RUN(r, 0, 0x67, 0x6f);
	struct vm_exit e = x_str(2, false, 4, false, 0x3f8, 0x2, 0x80000011, rsi, 1, 4,
	                         VM_REG_GUEST_DS, FLAT32, pg64);
	expect_stream(&e, 1);
	pm_teardown();

	/* Compatibility mode, ss outsw: addrsize 4, cpu_mode COMPATIBILITY. */
	pm_machine(PM_COMPAT32, 0);
	RUN(r, 0, 0x36, 0x66, 0x6f);
	const struct vm_guest_paging pgc = {PM_PML4, 0, CPU_MODE_COMPATIBILITY, PAGING_MODE_64};
	struct vm_exit f[] = {
	    x_paging(PM_CODE, PM_PML4, VM_PROT_READ),
	    x_paging(PM_CODE, PM_PDPT, VM_PROT_READ),
	    x_paging(PM_CODE, PM_PD, VM_PROT_READ),
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_str(3, false, 2, false, 0x3f8, 0x2, 0x80000011, rsi, 1, 4, VM_REG_GUEST_SS, FLAT32,
	          pgc),
	};
	expect_stream(f, 5);
}

/*
 * CALL through a call gate from ring 3 to ring 0: the first write to the
 * new stack's page is a PAGING exit at the CALL (the guest state before
 * the instruction, SDM vol. 3 27.1), and the CALL then runs again and
 * lands on the OUT after it at ring 0.
 */
Test(vmm_exits, paging_exit_inside_a_call_gate_transfer_is_the_calls)
{
	pm_machine(PM_PROT32, 0);
	pm.cpl = 3;
	pm.cs_sel = S_CODE32_3 | 3;
	pm.cs = (struct seg_desc){0, 0xffffffff, 0xc0fb};
	pm_data_segs(S_DATA32_3 | 3, 0xffffffff, 0xc0f3);
	pm_seg(VM_REG_GUEST_CS, pm.cs_sel, 0, 0xffffffff, 0xc0fb);
	uint64_t off = PM_CODE + 7;
	pm_gdt(S_FREE, (off & 0xffff) | (uint64_t)S_CODE32 << 16 | (uint64_t)0xec << 40 |
	                   (off >> 16) << 48);
	RUN(R0, 0, 0x9a, 0, 0, 0, 0, S_FREE | 3, 0, 0xe6, PORT_DONE);
	struct vm_exit out = {.exitcode = VM_EXITCODE_INOUT, .inst_length = 2, .rip = PM_CODE + 7};
	out.u.inout.bytes = 1;
	out.u.inout.port = PORT_DONE;
	struct vm_exit exp[] = {
	    x_paging(PM_CODE, PM_CODE, VM_PROT_EXECUTE),
	    x_paging(PM_CODE, PM_GDT, VM_PROT_READ),
	    x_paging(PM_CODE, PM_TSS, VM_PROT_READ),
	    x_paging(PM_CODE, RING0_SP - 0x1000, VM_PROT_WRITE),
	    out,
	};
	expect_stream(exp, 5);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CS), S_CODE32);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RSP), RING0_SP - 16);
}
