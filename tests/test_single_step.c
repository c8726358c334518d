/*
 * EFLAGS.TF single-step traps (SDM vol. 3 17.3.1.4, 6.8.3) in real mode,
 * 32-bit protected mode and 64-bit mode, asserted through the complete
 * exit stream: the #DB handler of each guest (tests/guests/tf_*.asm)
 * reports the pushed (E/R)IP with OUT 0x80, and at each of those exits
 * the test checks DR6.BS and that the handler runs with TF = 0, then
 * clears DR6 for the next trap.
 */
#include <criterion/criterion.h>

#include <softvmm/vmm.h>

#include "event_stream.h"

#define DR6_INIT 0xffff0ff0ull
#define DR6_BS   0x4000ull

static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(single_step, .fini = close_guest);

/* Run to the isa-debug-exit OUT; returns the number of #DB reports. */
static size_t run_guest(const char *name)
{
	cr_assert_eq(guest_open(&g, name), 0, "guest_open(%s): %s", name, g.err);
	size_t reports = 0;
	for (int k = 0; k < 200; k++) {
		struct vm_exit vme;
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		cr_assert_eq(vme.exitcode, VM_EXITCODE_INOUT, "exit %d: code %d", k, vme.exitcode);
		if (vme.u.inout.port == 0xf4)
			return reports;
		if (vme.u.inout.port != 0x80)
			continue;
		uint64_t dr6 = 0, rflags = 0;
		cr_assert_eq(vm_get_register(g.vm, 0, VM_REG_GUEST_DR6, &dr6), 0);
		cr_assert_eq(vm_get_register(g.vm, 0, VM_REG_GUEST_RFLAGS, &rflags), 0);
		cr_assert_eq(dr6, DR6_INIT | DR6_BS, "report %zu: DR6 0x%llx", reports,
		             (unsigned long long)dr6);
		cr_assert_eq(rflags & 0x100, 0, "report %zu: TF set in the handler", reports);
		cr_assert_eq(vm_set_register(g.vm, 0, VM_REG_GUEST_DR6, DR6_INIT), 0);
		reports++;
	}
	cr_assert_fail("the guest did not finish");
	return 0;
}

/* AX at the INT: the FLAGS image the guest made, ZF PF (XOR AX, AX), bit 1, TF. */
#define AX_AT_INT 0x0146

Test(single_step, real_mode)
{
	static const uint16_t ips[] = {
	    0x7c2e, 0x7c2f, 0x7c32,         /* MOV BX, INC BX, MOV CX after POPF set TF */
	    0x7c32, 0x7c32, 0x7c34,         /* REP MOVSB: each of three iterations */
	    0x7c37, 0x7c39,                 /* NOP after the INT's IRET, MOV AX, SS */
	    0x7c3c,                         /* MOV SS held: one #DB after the NOP */
	    0x7c3d, 0x7c3e, 0x7c41, 0x7c42, /* PUSHF POP AND PUSH */
	    0x7c43,                         /* the POPF that clears TF */
	};
	size_t n = run_guest("tf_real");
	struct stream s = {0};
	x_first_fetch(&s);
	x_paging(&s, 0x7c06, 0x0000, VM_PROT_WRITE); /* IVT entry 1 */
	/* The first #DB: its report.  The REP's first write touches 0x8000. */
	x_out(&s, 0x7c52, 2, 2, 0x80, ips[0]);
	x_out(&s, 0x7c52, 2, 2, 0x80, ips[1]);
	x_out(&s, 0x7c52, 2, 2, 0x80, ips[2]);
	x_paging(&s, 0x7c32, 0x8000, VM_PROT_WRITE);
	for (size_t k = 3; k < 6; k++)
		x_out(&s, 0x7c52, 2, 2, 0x80, ips[k]);
	x_out(&s, 0x7c48, 2, 1, 0x81, AX_AT_INT); /* INT 0x80's handler, not stepped */
	for (size_t k = 6; k < sizeof(ips) / sizeof(ips[0]); k++)
		x_out(&s, 0x7c52, 2, 2, 0x80, ips[k]);
	x_out(&s, 0x7c46, 2, 1, 0xf4, 0);
	assert_stream(&g, &s);
	cr_assert_eq(n, sizeof(ips) / sizeof(ips[0]));
}

/* The stream of a guest whose #DB handler reports at out80 (E7 80), with
 * its INT 0x80 handler's OUT 0x81, AL after the first 'before_int' #DBs. */
static void expect_reports(struct stream *s, uint64_t out80, const uint32_t *ips, size_t n,
                           size_t before_int, uint64_t out81, uint32_t eax81)
{
	for (size_t k = 0; k < n; k++) {
		if (k == before_int)
			x_out(s, out81, 2, 1, 0x81, eax81);
		x_out(s, out80, 2, 4, 0x80, ips[k]);
	}
}

Test(single_step, prot32)
{
	/* After POPFD set TF: MOV EBX, INC EBX, MOV ECX; REP MOVSB twice
	 * (RIP at it, then after it); INT 0x80 not stepped; NOP, PUSHFD,
	 * AND, and the POPFD that clears TF. */
	static const uint32_t ips[] = {0x7c46, 0x7c47, 0x7c4c, 0x7c4c, 0x7c4e,
	                               0x7c51, 0x7c52, 0x7c59, 0x7c5a};
	size_t n = run_guest("tf_pm32");
	struct stream s = {0};
	x_first_fetch(&s);
	x_paging(&s, 0x7c22, 0x8000, VM_PROT_READ); /* LIDT reads idt_desc */
	expect_reports(&s, 0x7c67, ips, 9, 5, 0x7c5f, 0x10);
	x_out(&s, 0x7c5d, 2, 1, 0xf4, 0);
	assert_stream(&g, &s);
	cr_assert_eq(n, 9);
}

Test(single_step, long64)
{
	/* The same steps in 64-bit mode, REP STOSB of two. */
	static const uint32_t ips[] = {0x7c72, 0x7c75, 0x7c7a, 0x7c7a, 0x7c7c,
	                               0x7c7f, 0x7c80, 0x7c88, 0x7c89};
	size_t n = run_guest("tf_long64");
	struct stream s = {0};
	x_first_fetch(&s);
	x_paging(&s, 0x7c48, 0x9000, VM_PROT_READ); /* the far JMP's walk */
	x_paging(&s, 0x7c48, 0xa000, VM_PROT_READ);
	x_paging(&s, 0x7c48, 0xb000, VM_PROT_READ);
	x_paging(&s, 0x7c4f, 0x8000, VM_PROT_READ);   /* LIDT */
	x_paging(&s, 0x7c63, 0x2f000, VM_PROT_WRITE); /* PUSHFQ */
	/* EAX at the INT: AL = 0x5A, RAX's upper bits from the CR0 value. */
	expect_reports(&s, 0x7c98, ips, 9, 5, 0x7c8e, 0x8000005a);
	x_out(&s, 0x7c8c, 2, 1, 0xf4, 0x80000000);
	assert_stream(&g, &s);
	cr_assert_eq(n, 9);
}
