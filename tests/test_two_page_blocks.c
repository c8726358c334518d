/*
 * Blocks of decoded instructions that run on from one page into the next
 * (core/cpu/exec.c, build_block).  The second page is fetched ahead of the
 * instructions before it only when that fetch changes nothing
 * (cpu_probe_fetch), so what a fetch from it can do (a #PF, an accessed
 * flag set, an instruction breakpoint) still comes at the instruction that
 * reaches it, after the ones before it ran; a write to the second page
 * kills the block.  4-level paging (paging_machine.h): the test address
 * PG_LA maps PG_CODE2 and the page after it PG_DATA2, through the same
 * page table; the code runs from near the end of the first.
 */
#include "paging_machine.h"

#define DR6_INIT 0xffff0ff0ull
#define DR7_INIT 0x400ull

static uint64_t la2(void)
{
	return pg.la + 0x1000;
}

/* The address of the test page's neighbour's PTE, in the identity map. */
static uint64_t pte2_gpa(void)
{
	return pg_entry_gpa(pg_leaf()) + 8;
}

/*
 * 'first' at the end of the first page, 'second' at the start of the
 * second, whose PTE is pte2 (flags on PG_DATA2).  Both pages hold
 * JMP RCX back to the test code's end where their code stops.
 */
static void two_pages(const uint8_t *first, unsigned n1, const uint8_t *second, unsigned n2,
                      uint64_t pte2)
{
	pg_default(PG_4L, 0, NULL);
	pg_set(pg_leaf(), PG_CODE2 | E_P | E_W | E_A | E_D);
	pm_put64(pte2_gpa(), pte2 ? PG_DATA2 | pte2 : 0);
	pm_put(PG_CODE2 + 0x1000 - n1, first, n1);
	pm_put(PG_DATA2, second, n2);
}

/* The code at la: first mov esi, [rsi] with RSI = PG_DATA2 (through the
 * identity map: the second page is then touched, as a page the guest used
 * before), then jmp rbx; the code there ends with jmp rcx. */
static struct pm_out run_at(uint64_t la, uint64_t r[16])
{
	r[RSI] = PG_DATA2;
	r[RBX] = la;
	r[RCX] = PM_CODE + PG_RELOAD_LEN + 4;
	return PG_RUN(r, 0x8b, 0x36, 0xff, 0xe3);
}

/* mov eax, 1; mov edx, 2 in the last 10 bytes of the first page. */
static const uint8_t movs[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0xba, 0x02, 0x00, 0x00, 0x00};
static const uint8_t jmp_rcx[] = {0xff, 0xe1};

Test(two_page_blocks, run_on_into_the_second_page)
{
	two_pages(movs, sizeof(movs), jmp_rcx, sizeof(jmp_rcx), E_P | E_W | E_A | E_D);
	uint64_t r[16] = {0};
	struct pm_out o = run_at(la2() - sizeof(movs), r);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 1u);
	cr_expect_eq(o.r[RDX], 2u);
	pm_teardown();
}

/* The second page not present: the #PF is the first instruction's there,
 * after the two MOVs ran. */
Test(two_page_blocks, a_fault_on_the_second_page_comes_after_the_first)
{
	two_pages(movs, sizeof(movs), jmp_rcx, sizeof(jmp_rcx), 0);
	uint64_t r[16] = {0};
	struct pm_out o = run_at(la2() - sizeof(movs), r);
	pm_expect_exc(&o, 14, 0, la2(), 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), la2());
	cr_expect_eq(o.r[RAX], 1u);
	cr_expect_eq(o.r[RDX], 2u);
	pm_teardown();
}

/* The same with the second MOV straddling the two pages: the #PF is at
 * that MOV, CR2 on the second page, and the first MOV ran. */
Test(two_page_blocks, a_straddling_instruction_faults_at_itself)
{
	two_pages(movs, 7, movs + 7, 3, 0);
	uint64_t r[16] = {0};
	struct pm_out o = run_at(la2() - 7, r);
	pm_expect_exc(&o, 14, 0, la2() - 2, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR2), la2());
	cr_expect_eq(o.r[RAX], 1u);
	cr_expect_eq(o.r[RDX], 0u);
	pm_teardown();
}

/* The second page's PTE with A clear: the fetch that reaches the page
 * sets it.  mov ebp, [r8] before it reads the PTE with A still clear:
 * softvmm fetches a page when an instruction there is reached (hardware
 * may set the flag earlier, for a prefetch; SDM vol. 3 4.10.2.3). */
Test(two_page_blocks, the_accessed_flag_is_set_when_the_page_is_reached)
{
	static const uint8_t first[] = {0x41, 0x8b, 0x28, /* mov ebp, [r8] */
	                                0xb8, 0x01, 0x00, 0x00, 0x00};
	two_pages(first, sizeof(first), jmp_rcx, sizeof(jmp_rcx), E_P | E_W | E_D);
	uint64_t r[16] = {0};
	r[8] = pte2_gpa();
	struct pm_out o = run_at(la2() - sizeof(first), r);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RBP] & E_A, 0u, "PTE read before the page was reached: %#" PRIx64,
	             o.r[RBP]);
	cr_expect_eq(pm_get_n(pte2_gpa(), 8) & E_A, E_A);
	cr_expect_eq(o.r[RAX], 1u);
	pm_teardown();
}

/* An instruction breakpoint on the first instruction of the second page
 * (DR0, execute): the #DB comes there, after the MOVs (SDM vol. 3
 * 17.3.1.1), with B0 in DR6. */
Test(two_page_blocks, an_instruction_breakpoint_on_the_second_page)
{
	two_pages(movs, sizeof(movs), jmp_rcx, sizeof(jmp_rcx), E_P | E_W | E_A | E_D);
	pm_set_reg(VM_REG_GUEST_DR0, la2());
	pm_set_reg(VM_REG_GUEST_DR6, DR6_INIT);
	pm_set_reg(VM_REG_GUEST_DR7, DR7_INIT | 0x2); /* G0, execute, one byte */
	uint64_t r[16] = {0};
	struct pm_out o = run_at(la2() - sizeof(movs), r);
	/* A fault-class #DB that pushes RF as it was (0): the frame's RIP. */
	cr_assert_eq(o.vector, 1);
	cr_expect_eq(pm_get_n(o.frame, 8), la2());
	cr_expect_eq(pm_reg(VM_REG_GUEST_DR6), DR6_INIT | 1);
	cr_expect_eq(o.r[RAX], 1u);
	cr_expect_eq(o.r[RDX], 2u);
	pm_teardown();
}

/* mov byte [rdi], 2 at the end of the first page writes the immediate of
 * the mov al, 1 that starts the second: the block holding both is dropped
 * and AL is 2. */
Test(two_page_blocks, a_write_to_the_second_page_kills_the_block)
{
	static const uint8_t first[] = {0xc6, 0x07, 0x02};
	static const uint8_t second[] = {0xb0, 0x01, 0xff, 0xe1};
	two_pages(first, sizeof(first), second, sizeof(second), E_P | E_W | E_A | E_D);
	uint64_t r[16] = {0};
	r[RDI] = la2() + 1;
	struct pm_out o = run_at(la2() - sizeof(first), r);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX] & 0xff, 2u, "AL is %#" PRIx64, o.r[RAX] & 0xff);
	pm_teardown();
}
