/*
 * Self-modifying and cross-modifying code (issue 6 part 6): a write into a
 * page that holds decoded code invalidates it before the next fetch.  The
 * architecture detects such writes by physical address on every processor
 * since the Pentium 4 (SDM vol. 3 11.6), so the modified instruction runs
 * even when it was already fetched: the next instruction of the same
 * block, code written through a second linear alias, the bytes a REP MOVS
 * copies over the instructions after it, and the second page of an
 * instruction that straddles two pages.  Machines from prot_machine.h.
 */
#include "prot_machine.h"

/* Long mode: MOV BYTE [RIP+1], 2 patches the immediate of the MOV AL, 1
 * right after it, in the same block: AL is 2. */
Test(smc, patches_the_next_instruction_long64)
{
	uint64_t r[16] = {0};
	pm_machine(PM_LONG64, 0);
	struct pm_out o =
	    PM_RUN(r, 0, 0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x02, /* mov [rip+1], 2 */
	           0xb0, 0x01);                                    /* mov al, 1 */
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX] & 0xff, 2, "AL is %#" PRIx64, o.r[RAX] & 0xff);
	uint8_t now[2];
	pm_get(PM_CODE + 7, now, 2);
	cr_expect_eq(now[1], 2);
	pm_teardown();
}

/* The same in legacy 32-bit and 16-bit protected mode and in real mode,
 * with an absolute address (the byte at PM_CODE + 6 or + 7). */
Test(smc, patches_the_next_instruction_in_every_mode)
{
	uint64_t r[16] = {0};
	static const enum pm_mode modes[] = {PM_REAL, PM_PROT16, PM_PROT32, PM_COMPAT32};
	for (unsigned k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		pm_machine(modes[k], 0);
		struct pm_out o;
		if (modes[k] == PM_REAL || modes[k] == PM_PROT16) {
			/* mov byte [0x1006], 2 (C6 06 disp16 imm8); mov al, 1 */
			o = PM_RUN(r, 0, 0xc6, 0x06, 0x06, 0x10, 0x02, 0xb0, 0x01);
		} else {
			/* mov byte [0x1008], 2 (C6 05 disp32 imm8); mov al, 1 */
			o = PM_RUN(r, 0, 0xc6, 0x05, 0x08, 0x10, 0x00, 0x00, 0x02, 0xb0, 0x01);
		}
		pm_expect_done(&o);
		cr_expect_eq(o.r[RAX] & 0xff, 2, "%s: AL is %#" PRIx64, pm_mode_name[modes[k]],
		             o.r[RAX] & 0xff);
		pm_teardown();
	}
}

/* Cross-modifying through a second linear address: the 2 MiB page at
 * 8 MiB maps physical 0 again, and the code writes the immediate of its
 * next instruction through that alias. */
Test(smc, writes_through_a_linear_alias)
{
	uint64_t r[16] = {0};
	pm_machine(PM_LONG64, 0);
	pm_put64(PM_PD + 8 * 4, 0x87); /* linear 8 MiB -> physical 0 */
	uint64_t alias = UINT64_C(0x800000) + PM_CODE + 14;
	uint8_t code[15] = {0x48, 0xbb}; /* mov rbx, alias */
	memcpy(code + 2, &alias, 8);
	code[10] = 0xc6; /* mov byte [rbx], 2 */
	code[11] = 0x03;
	code[12] = 0x02;
	code[13] = 0xb0; /* mov al, 1 */
	code[14] = 0x01;
	struct pm_out o = pm_run(code, sizeof(code), r, 0);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX] & 0xff, 2, "AL is %#" PRIx64, o.r[RAX] & 0xff);
	pm_teardown();
}

/* REP MOVSB copies MOV AL, 2 over the MOV AL, 1 that follows it, whose
 * block already ran (the first pass copies nothing, ECX = 0): the copy
 * is what runs the second time.  BL = 1 + 2. */
Test(smc, rep_movs_overwrites_the_code_after_it)
{
	uint64_t r[16] = {0};
	pm_machine(PM_LONG64, 0);
	struct pm_out o = PM_RUN(r, 0, 0x48, 0x8d, 0x35, 28, 0, 0, 0, /* lea rsi, [rip+28] (src) */
	                         0x48, 0x8d, 0x3d, 6, 0, 0, 0,        /* lea rdi, [rip+6] (after) */
	                         0x31, 0xc9,                          /* xor ecx, ecx */
	                         0x31, 0xdb,                          /* xor ebx, ebx */
	                         0xf3, 0xa4,                          /* again: rep movsb */
	                         0xb0, 0x01,                          /* after: mov al, 1 */
	                         0x00, 0xc3,                          /* add bl, al */
	                         0xfe, 0xc7,                          /* inc bh */
	                         0x80, 0xff, 0x02,                    /* cmp bh, 2 */
	                         0x74, 0x06,                          /* je done */
	                         0xb1, 0x02,                          /* mov cl, 2 */
	                         0xeb, 0xef,                          /* jmp again */
	                         0xb0, 0x02);                         /* src: mov al, 2; done: */
	pm_expect_done(&o);
	cr_expect_eq(o.r[RBX] & 0xffff, 0x0203, "BX is %#" PRIx64, o.r[RBX] & 0xffff);
	cr_expect_eq(o.r[RCX], 0);
	pm_teardown();
}

/* A loop that increments the immediate of its own ADD each time round:
 * the block (and the loop head registered inside it) must be decoded
 * afresh every iteration.  EAX = 1 + 2 + 3 + 4 + 5. */
Test(smc, loop_patches_its_own_body)
{
	uint64_t r[16] = {0};
	pm_machine(PM_LONG64, 0);
	struct pm_out o = PM_RUN(r, 0, 0x31, 0xc0,                   /* xor eax, eax */
	                         0xb9, 0x05, 0x00, 0x00, 0x00,       /* mov ecx, 5 */
	                         0x83, 0xc0, 0x01,                   /* loop: add eax, 1 */
	                         0xfe, 0x05, 0xf9, 0xff, 0xff, 0xff, /* inc byte [rip-7] */
	                         0xe2, 0xf5);                        /* loop loop */
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 15, "EAX is %" PRIu64, o.r[RAX]);
	pm_teardown();
}

/*
 * Call the function MOV EAX, 0x44332211; RET placed at 'fn', keep EAX in
 * EBX, write 0x77 over its immediate's top byte (at fn + 4) with MOV BYTE
 * [abs32], 0x77, and call it again: the second call must see the new
 * byte.
 */
static void call_patch_call(uint32_t fn)
{
	uint64_t r[16] = {0};
	pm_machine(PM_LONG64, 0);
	static const uint8_t body[] = {0xb8, 0x11, 0x22, 0x33, 0x44, 0xc3};
	pm_put(fn, body, sizeof(body));
	int32_t d1 = (int32_t)(fn - (PM_CODE + 5)), d2 = (int32_t)(fn - (PM_CODE + 20));
	uint32_t top = fn + 4;
	uint8_t code[20] = {0xe8};
	memcpy(code + 1, &d1, 4);
	code[5] = 0x89; /* mov ebx, eax */
	code[6] = 0xc3;
	code[7] = 0xc6; /* mov byte [top], 0x77 */
	code[8] = 0x04;
	code[9] = 0x25;
	memcpy(code + 10, &top, 4);
	code[14] = 0x77;
	code[15] = 0xe8;
	memcpy(code + 16, &d2, 4);
	struct pm_out o = pm_run(code, sizeof(code), r, 0);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RBX], 0x44332211, "first run: %#" PRIx64, o.r[RBX]);
	cr_expect_eq(o.r[RAX], 0x77332211, "second run: %#" PRIx64, o.r[RAX]);
	pm_teardown();
}

/* An instruction that straddles two pages, changed on its second page
 * only: the function at 0x20ffc has its top immediate byte at 0x21000. */
Test(smc, straddling_instruction_changed_on_its_second_page)
{
	call_patch_call(0x20ffc);
}

/* An instruction changed only in its fifth byte: a record kept for the old
 * bytes (the decode memo, decode/memo.h, indexed by the first four) must
 * not be taken for the new. */
Test(smc, instruction_changed_past_its_fourth_byte)
{
	call_patch_call(0x20000);
}
