/*
 * The interrupt shadow (SDM vol. 3 6.8.3; blocking by STI / by MOV SS,
 * table 25-3) with ExtINTs injected through vm_inject_extint, and its
 * state through VM_REG_GUEST_INTR_SHADOW as bhyve exposes it
 * (vmx_get_intr_shadow, vmx_modify_intr_shadow).  tests/guests/
 * intr_shadow.asm; an ExtINT is vector 7 (core/run.c).
 */
#include <criterion/criterion.h>
#include <errno.h>

#include <softvmm/vmm.h>

#include "event_stream.h"

static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(intr_shadow, .fini = close_guest);

static void run_guest(int halt_exit)
{
	cr_assert_eq(guest_open(&g, "intr_shadow"), 0, "%s", g.err);
	cr_assert_eq(vm_set_capability(g.vm, 0, VM_CAP_HALT_EXIT, halt_exit), 0);
	for (int k = 0; k < 50; k++) {
		struct vm_exit vme;
		uint64_t shadow = 9;
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		cr_assert_eq(vme.exitcode, VM_EXITCODE_INOUT, "exit %d: code %d", k, vme.exitcode);
		cr_assert_eq(vm_get_register(g.vm, 0, VM_REG_GUEST_INTR_SHADOW, &shadow), 0);
		switch (vme.u.inout.port) {
		case 0x81:
		case 0x82:
			cr_assert_eq(shadow, 0);
			cr_assert_eq(vm_inject_extint(g.vm, 0), 0);
			break;
		case 0x83:
		case 0x84:
			/* The OUT is the instruction in the shadow: at its exit
			 * the blocking is still on; it can be cleared, not set. */
			cr_assert_eq(shadow, 1, "port 0x%x: INTR_SHADOW %llu", vme.u.inout.port,
			             (unsigned long long)shadow);
			cr_assert_eq(vm_set_register(g.vm, 0, VM_REG_GUEST_INTR_SHADOW, 1), EINVAL);
			if (vme.u.inout.port == 0x84) {
				cr_assert_eq(vm_set_register(g.vm, 0, VM_REG_GUEST_INTR_SHADOW, 0),
				             0);
				cr_assert_eq(
				    vm_get_register(g.vm, 0, VM_REG_GUEST_INTR_SHADOW, &shadow), 0);
				cr_assert_eq(shadow, 0);
			}
			break;
		case 0xf4:
			cr_assert_eq(vm_extint_pending(g.vm, 0), 0);
			return;
		default:
			cr_assert_eq(shadow, 0);
			break;
		}
	}
	cr_assert_fail("the guest did not finish");
}

/* Both ExtINTs arrive one instruction after the STI: the first after the
 * NOP in the shadow (pushed IP 0x7C15), the second after the HLT in the
 * shadow, which it wakes (pushed IP 0x7C1B). */
static void expect_common(struct stream *s, bool halt_exit)
{
	x_first_fetch(s);
	x_paging(s, 0x7c04, 0x0000, VM_PROT_WRITE); /* IVT entry 7 */
	x_out(s, 0x7c10, 2, 1, 0x81, 0);
	x_out(s, 0x7c2f, 2, 2, 0x80, 0x7c15);
	x_out(s, 0x7c17, 2, 1, 0x82, 0x7c15);
	if (halt_exit)
		x_hlt(s, 0x7c1a, 0x246); /* IF, ZF PF from XOR AX, AX */
	x_out(s, 0x7c2f, 2, 2, 0x80, 0x7c1b);
	x_out(s, 0x7c1d, 2, 1, 0x83, 0x7c1b);
	x_out(s, 0x7c23, 2, 1, 0x84, 0x0000);
	x_out(s, 0x7c27, 2, 1, 0xf4, 0x0000);
}

Test(intr_shadow, sti_hlt_with_halt_exit)
{
	run_guest(1);
	struct stream s = {0};
	expect_common(&s, true);
	assert_stream(&g, &s);
}

Test(intr_shadow, sti_hlt_in_guest)
{
	run_guest(0);
	struct stream s = {0};
	expect_common(&s, false);
	assert_stream(&g, &s);
}
