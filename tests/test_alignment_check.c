/*
 * Alignment checking (SDM vol. 3 6.15, "Interrupt 17—Alignment Check
 * Exception (#AC)", table 6-7): with CR0.AM = 1, EFLAGS.AC = 1 and CPL 3,
 * a data or stack access of 2, 4 or 8 bytes at an address that is not a
 * multiple of its size raises #AC with error code 0, a fault; a #PF of
 * the same access comes first (SDM vol. 3 6.9, table 6-2).  CPL 0, AM = 0
 * or AC = 0 turn it off, and descriptor loads, implicit supervisor
 * accesses, are never checked.  Guest-visible state only, so the tests
 * hold on a hardware backend too.
 */
#include "prot_machine.h"

#define AC_BIT UINT64_C(0x40000) /* EFLAGS.AC, bit 18 */
#define CR0_AM UINT64_C(0x40000) /* CR0.AM, bit 18 */
#define IDT_AC 17
#define IDT_PF 14

TestSuite(ac, .fini = pm_teardown);

static void machine(enum pm_mode m, int cpl, bool am)
{
	pm_machine(m, cpl);
	if (am)
		pm_set_reg(VM_REG_GUEST_CR0, pm_reg(VM_REG_GUEST_CR0) | CR0_AM);
}

/* Loads and stores of each size through [rBX]. */
struct access {
	const char *name;
	uint8_t code[4];
	unsigned n, size;
	bool store;
	bool only64;
};

static const struct access accesses[] = {
    {"mov al, [ebx]", {0x8a, 0x03}, 2, 1, false, false},
    {"mov ax, [ebx]", {0x66, 0x8b, 0x03}, 3, 2, false, false},
    {"mov [ebx], ax", {0x66, 0x89, 0x03}, 3, 2, true, false},
    {"mov eax, [ebx]", {0x8b, 0x03}, 2, 4, false, false},
    {"mov [ebx], eax", {0x89, 0x03}, 2, 4, true, false},
    {"cmpxchg8b [ebx]", {0x0f, 0xc7, 0x0b}, 3, 8, false, false}, /* writes 0 back */
    {"mov rax, [rbx]", {0x48, 0x8b, 0x03}, 3, 8, false, true},
    {"mov [rbx], rax", {0x48, 0x89, 0x03}, 3, 8, true, true},
};

/* Every access at every offset 0..8 of an aligned base: #AC(0) at the
 * instruction (EFLAGS pushed with RF, a fault) exactly when the offset is
 * not a multiple of the size; a store that faults writes nothing. */
static unsigned each_size(enum pm_mode m)
{
	unsigned faults = 0;
	machine(m, 3, true);
	for (size_t k = 0; k < sizeof(accesses) / sizeof(accesses[0]); k++) {
		const struct access *a = &accesses[k];
		if (a->only64 && m != PM_LONG64)
			continue;
		for (unsigned off = 0; off <= 8; off++) {
			uint8_t zero[16] = {0};
			pm_put(PM_DATA, zero, sizeof(zero));
			uint64_t r[16] = {[RAX] = 0x1122334455667788ull, [RBX] = PM_DATA + off};
			struct pm_out o = pm_run(a->code, a->n, r, AC_BIT);
			cr_log_info("%s: %s at +%u", pm_mode_name[m], a->name, off);
			if (a->size > 1 && off % a->size) {
				pm_expect_exc(&o, IDT_AC, 0, PM_CODE, AC_BIT);
				cr_expect_eq(pm_get_n(PM_DATA + off, 8), 0, "%s at +%u wrote",
				             a->name, off);
				faults++;
			} else {
				pm_expect_done(&o);
				if (a->store)
					cr_expect_neq(pm_get_n(PM_DATA + off, a->size), 0);
			}
		}
	}
	return faults;
}

Test(ac, each_size_prot32_cpl3)
{
	/* Sizes 2, 2, 4, 4, 8: 4 + 4 + 6 + 6 + 7 misaligned offsets of 0..8. */
	cr_expect_eq(each_size(PM_PROT32), 27);
}

Test(ac, each_size_long64_cpl3)
{
	cr_expect_eq(each_size(PM_LONG64), 27 + 14);
}

/* mov eax, [ebx+1] at CPL 0, or with AM or AC clear: no check. */
static void no_check(enum pm_mode m, int cpl, bool am, uint64_t flags)
{
	machine(m, cpl, am);
	uint64_t r[16] = {[RBX] = PM_DATA + 1};
	pm_put64(PM_DATA, 0x0807060504030201ull);
	struct pm_out o = PM_RUN(r, flags, 0x8b, 0x03, 0x66, 0x8b, 0x4b, 0x02);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0x05040302);
	cr_expect_eq(o.r[RCX] & 0xffff, 0x0504);
	pm_teardown();
}

Test(ac, none_at_cpl0)
{
	no_check(PM_PROT32, 0, true, AC_BIT);
	no_check(PM_LONG64, 0, true, AC_BIT);
}

Test(ac, none_without_cr0_am)
{
	no_check(PM_PROT32, 3, false, AC_BIT);
	no_check(PM_LONG64, 3, false, AC_BIT);
}

Test(ac, none_without_eflags_ac)
{
	no_check(PM_PROT32, 3, true, 0);
	no_check(PM_LONG64, 3, true, 0);
}

/* POPF sets and clears AC at any CPL (SDM POPF): mov eax, [ebx] (ebx =
 * PM_DATA + 1, not checked yet; its page enters the soft TLB), pushfd;
 * or/and dword [esp], AC; popfd; mov eax, [ebx] again. */
Test(ac, popf_turns_it_on_and_off)
{
	machine(PM_PROT32, 3, true);
	uint64_t r[16] = {[RBX] = PM_DATA + 1};
	struct pm_out o = PM_RUN(r, 0, 0x8b, 0x03, 0x9c, 0x81, 0x0c, 0x24, 0x00, 0x00, 0x04, 0x00,
	                         0x9d, 0x8b, 0x03);
	pm_expect_exc(&o, IDT_AC, 0, PM_CODE + 11, AC_BIT);
	o = PM_RUN(r, AC_BIT, 0x9c, 0x81, 0x24, 0x24, 0xff, 0xff, 0xfb, 0xff, 0x9d, 0x8b, 0x03);
	pm_expect_done(&o);
}

/*
 * #AC frame on the ring-0 stack: error code 0, EIP, CS, EFLAGS (RF set),
 * ESP and SS of the ring-3 code (SDM vol. 3 6.12.1), for an ESP that is
 * not the test's initial one.
 */
static void expect_ac_frame(const struct pm_out *o, uint64_t ip, uint64_t flags, uint64_t sp)
{
	cr_assert_eq(o->vector, IDT_AC, "vector %d", o->vector);
	unsigned w = pm.mode >= PM_COMPAT32 ? 8 : 4;
	uint64_t want[6] = {0, ip, pm.cs_sel, flags | 2 | RF_BIT, sp, pm.ss_sel};
	for (unsigned k = 0; k < 6; k++)
		cr_expect_eq(pm_get_n(o->frame + k * w, w), want[k], "frame slot %u", k);
	uint64_t top = pm.mode >= PM_COMPAT32 ? RING0_SP & ~UINT64_C(0xf) : RING0_SP;
	cr_expect_eq(o->frame + 6 * w, top);
}

/* The stack is data: push ax (ESP - 2, aligned for a word) then push eax
 * at ESP - 6, misaligned: #AC, ESP as it was before that push. */
Test(ac, stack_push)
{
	machine(PM_PROT32, 3, true);
	struct pm_out o = PM_RUN((uint64_t[16]){0}, AC_BIT, 0x66, 0x50, 0x50);
	expect_ac_frame(&o, PM_CODE + 2, AC_BIT, PM_SP - 2);
	pm_teardown();
	machine(PM_LONG64, 3, true);
	o = PM_RUN((uint64_t[16]){0}, AC_BIT, 0x66, 0x50, 0x50); /* push ax; push rax */
	expect_ac_frame(&o, PM_CODE + 2, AC_BIT, PM_SP - 2);
}

/* A page fault has priority over #AC: a misaligned read of an unmapped
 * page, or one that crosses into it, raises #PF (user, read, not
 * present), CR2 at the first byte that is not mapped. */
Test(ac, page_fault_first)
{
	machine(PM_LONG64, 3, true);
	uint64_t r[16] = {[RBX] = UINT64_C(0x800001)};
	struct pm_out o = PM_RUN(r, AC_BIT, 0x8b, 0x03);
	pm_expect_exc(&o, IDT_PF, 4, PM_CODE, AC_BIT);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), 0x800001);
	r[RBX] = UINT64_C(0x7ffffe);
	o = PM_RUN(r, AC_BIT, 0x8b, 0x03);
	pm_expect_exc(&o, IDT_PF, 4, PM_CODE, AC_BIT);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), 0x800000);
	/* The same access inside the mapped memory: #AC. */
	r[RBX] = UINT64_C(0x7ffff9);
	o = PM_RUN(r, AC_BIT, 0x8b, 0x03);
	pm_expect_exc(&o, IDT_AC, 0, PM_CODE, AC_BIT);
}

/* A far pointer is checked as its parts (SDM table 6-7): les eax, [ebx]
 * reads the offset doubleword, then the selector word after it. */
Test(ac, far_pointer)
{
	machine(PM_PROT32, 3, true);
	uint32_t ptr[2] = {0xcafe, S_DATA32_3 | 3};
	pm_put(PM_DATA + 4, ptr, 8);
	uint64_t r[16] = {[RBX] = PM_DATA + 4};
	struct pm_out o = PM_RUN(r, AC_BIT, 0xc4, 0x03);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0xcafe);
	r[RBX] = PM_DATA + 2;
	o = PM_RUN(r, AC_BIT, 0xc4, 0x03);
	pm_expect_exc(&o, IDT_AC, 0, PM_CODE, AC_BIT);
}

/* Descriptor loads are implicit supervisor accesses, never checked: with
 * the GDT at an odd address, mov ds, ax at CPL 3 reads the descriptor at
 * a misaligned address without a fault. */
Test(ac, descriptor_load_not_checked)
{
	machine(PM_PROT32, 3, true);
	uint8_t gdt[PM_GDT_LIM + 1];
	pm_get(PM_GDT, gdt, sizeof(gdt));
	pm_put(PM_GDT + 0x801, gdt, sizeof(gdt));
	struct seg_desc gdtr = {PM_GDT + 0x801, PM_GDT_LIM, 0};
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, VM_REG_GUEST_GDTR, &gdtr), 0);
	uint64_t r[16] = {[RAX] = S_DATA32_3 | 3, [RBX] = PM_DATA};
	struct pm_out o =
	    PM_RUN(r, AC_BIT, 0x8e, 0xd8, 0x8b, 0x03); /* mov ds, ax; mov eax, [ebx] */
	pm_expect_done(&o);
}

/* The guest sets CR0.AM at CPL 0 (AC = 1 does nothing there), then IRETs
 * to CPL 3 with AC set: mov eax, cr0; or eax, AM; mov cr0, eax; push the
 * ring-3 SS, ESP, EFLAGS, CS, EIP; iretd; then mov eax, ss:[ebx] with
 * ebx = PM_DATA + 1 (SS: the return to ring 3 nulls DS, whose DPL is 0). */
Test(ac, cr0_write_and_iret_to_cpl3)
{
	machine(PM_PROT32, 0, false);
	uint64_t r[16] = {[RBX] = PM_DATA + 1};
	uint32_t target = (uint32_t)PM_CODE + 31; /* 0x101f, pushed below */
	struct pm_out o =
	    PM_RUN(r, AC_BIT, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x04, 0x00, 0x0f, 0x22, 0xc0,
	           0x6a, S_DATA32_3 | 3, 0x68, 0x00, 0x80, 0x00, 0x00, 0x68, 0x02, 0x00, 0x04, 0x00,
	           0x6a, S_CODE32_3 | 3, 0x68, 0x1f, 0x10, 0x00, 0x00, 0xcf, 0x36, 0x8b, 0x03);
	cr_assert_eq(o.vector, IDT_AC, "vector %d", o.vector);
	uint32_t want[6] = {
	    0, target, S_CODE32_3 | 3, 0x40002 | (uint32_t)RF_BIT, (uint32_t)PM_SP, S_DATA32_3 | 3};
	for (unsigned k = 0; k < 6; k++)
		cr_expect_eq(pm_get_n(o.frame + 4 * k, 4), want[k], "frame slot %u", k);
	cr_expect_eq(o.frame + 24, RING0_SP);
}
