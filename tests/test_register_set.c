/*
 * vm_get_register_set / vm_set_register_set (bhyve's later bulk calls) and
 * vm_get_vcpu_state (softvmm's one-call snapshot): the same values as the
 * one-register calls, and EINVAL with nothing changed for bad arguments.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include <softvmm/vmm.h>

static struct vm *vm;

static void setup(void)
{
	cr_assert_eq(vm_create("regset", NULL, &vm), 0);
}

static void teardown(void)
{
	vm_destroy(vm);
}

TestSuite(register_set, .init = setup, .fini = teardown);

Test(register_set, set_then_get_round_trips_in_order)
{
	int regs[] = {VM_REG_GUEST_RAX, VM_REG_GUEST_R15, VM_REG_GUEST_RSP, VM_REG_GUEST_CR2};
	uint64_t in[] = {0x1111, 0x2222333344445555ull, 0x7c00, 0xdeadbeef}, out[4] = {0};
	cr_assert_eq(vm_set_register_set(vm, 0, 4, regs, in), 0);
	cr_assert_eq(vm_get_register_set(vm, 0, 4, regs, out), 0);
	for (int k = 0; k < 4; k++) {
		uint64_t one;
		cr_assert_eq(out[k], in[k]);
		cr_assert_eq(vm_get_register(vm, 0, regs[k], &one), 0);
		cr_assert_eq(one, in[k]);
	}
}

Test(register_set, a_register_past_the_last_is_einval_and_nothing_is_written)
{
	int regs[] = {VM_REG_GUEST_RBX, VM_REG_LAST};
	uint64_t in[] = {0x55, 0x66}, rbx;
	cr_assert_eq(vm_set_register_set(vm, 0, 2, regs, in), EINVAL);
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RBX, &rbx), 0);
	cr_assert_eq(rbx, 0, "a refused set must write nothing");
	cr_assert_eq(vm_get_register_set(vm, 0, 2, regs, in), EINVAL);
	cr_assert_eq(vm_get_register_set(vm, VM_MAXCPU, 1, regs, in), EINVAL);
	cr_assert_eq(vm_get_register_set(vm, 0, 1, NULL, in), EINVAL);
}

Test(register_set, vcpu_state_matches_the_one_register_calls)
{
	static const struct {
		int reg;
		unsigned gpr; /* index in state.gpr (encoding order) */
	} gprs[] = {{VM_REG_GUEST_RAX, 0}, {VM_REG_GUEST_RCX, 1}, {VM_REG_GUEST_RDX, 2},
	            {VM_REG_GUEST_RBX, 3}, {VM_REG_GUEST_RSP, 4}, {VM_REG_GUEST_RBP, 5},
	            {VM_REG_GUEST_RSI, 6}, {VM_REG_GUEST_RDI, 7}, {VM_REG_GUEST_R8, 8},
	            {VM_REG_GUEST_R15, 15}};
	for (unsigned k = 0; k < sizeof(gprs) / sizeof(gprs[0]); k++)
		cr_assert_eq(vm_set_register(vm, 0, gprs[k].reg, 0x100 + k), 0);
	struct seg_desc ds = {0x12340, 0xffff, 0x93};
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_DS, &ds), 0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_DS, 0x1234), 0);
	struct vm_vcpu_state st;
	cr_assert_eq(vm_get_vcpu_state(vm, 0, &st), 0);
	for (unsigned k = 0; k < sizeof(gprs) / sizeof(gprs[0]); k++)
		cr_assert_eq(st.gpr[gprs[k].gpr], 0x100 + k, "gpr %u", gprs[k].gpr);
	uint64_t v;
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RFLAGS, &v), 0);
	cr_assert_eq(st.rflags, v);
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_CR0, &v), 0);
	cr_assert_eq(st.cr0, v);
	cr_assert_eq(st.seg[3].base, 0x12340);
	cr_assert_eq(st.seg[3].limit, 0xffff);
	cr_assert_eq(st.seg[3].access, 0x93);
	cr_assert_eq(st.seg[3].sel, 0x1234);
	cr_assert_eq(st.seg[3].pad[0] | st.seg[3].pad[1] | st.seg[3].pad[2], 0);
	cr_assert_eq(vm_get_vcpu_state(vm, 1, &st), EINVAL);
	cr_assert_eq(vm_get_vcpu_state(vm, 0, NULL), EINVAL);
}
