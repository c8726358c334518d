/*
 * An opcode the soft CPU does not implement yet raises #UD in the guest
 * (the guest's handler runs with the faulting IP pushed, as for an invalid
 * opcode on hardware) and is counted by mnemonic, which is what
 * `softvmm run --stats` prints.  A defined invalid opcode (UD2) raises #UD
 * without being counted.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

static struct guest g;

static void close_guest(void)
{
	guest_close(&g);
}

TestSuite(unimplemented, .fini = close_guest);

struct counts {
	uint64_t fld1, fldz, others;
};

static void count(void *arg, const char *mnemonic, uint64_t n)
{
	struct counts *c = arg;
	if (strcmp(mnemonic, "fld1") == 0)
		c->fld1 += n;
	else if (strcmp(mnemonic, "fldz") == 0)
		c->fldz += n;
	else
		c->others += n;
}

Test(unimplemented, unimplemented_opcodes_raise_ud_and_are_counted_by_mnemonic)
{
	static const uint16_t faulting_ip[] = {0x7c12, 0x7c14, 0x7c16, 0x7c18};
	cr_assert_eq(guest_open(&g, "unimpl"), 0, "%s", g.err);
	g.allow_unimplemented = true; /* the point of this guest */
	unsigned reports = 0;
	for (int n = 0; n < 20; n++) {
		struct vm_exit vme;
		cr_assert_eq(guest_run(&g, &vme), 0, "%s", g.err);
		cr_assert_eq(vme.exitcode, VM_EXITCODE_INOUT, "exit %d", vme.exitcode);
		if (vme.u.inout.port == 0xf4)
			break;
		cr_assert_eq(vme.u.inout.port, 0x80);
		cr_assert_lt(reports, 4);
		cr_assert_eq(vme.u.inout.eax & 0xffff, faulting_ip[reports], "report %u: IP 0x%x",
		             reports, vme.u.inout.eax & 0xffff);
		reports++;
	}
	cr_assert_eq(reports, 4, "one #UD per faulting instruction");
	struct vm_vcpu_stats st;
	cr_assert_eq(vm_get_stats(g.vm, 0, &st), 0);
	cr_assert_eq(st.unimplemented, 3);
	struct counts c = {0};
	cr_assert_eq(vm_foreach_unimplemented(g.vm, 0, count, &c), 0);
	cr_assert_eq(c.fld1, 2);
	cr_assert_eq(c.fldz, 1);
	cr_assert_eq(c.others, 0);
}
