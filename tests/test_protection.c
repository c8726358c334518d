/*
 * Segmentation and protection (issue 5): the checks of segment-register
 * loads with their exact exceptions and error codes, segment limits
 * (byte and page granularity, expand-down, accesses straddling a limit),
 * type checks, 64-bit canonical checks, the MOV CRn and MOV DRn checks and
 * the mode switches.  Machines are built through the public API
 * (prot_machine.h); every expected value is worked out from the SDM
 * section named at each test.
 */
#include "prot_machine.h"

TestSuite(prot, .fini = pm_teardown);

static const uint64_t R0[16];

static struct pm_out run_ax(uint16_t ax, const uint8_t *code, unsigned n)
{
	uint64_t r[16] = {[RAX] = ax};
	return pm_run(code, n, r, 0);
}

/* ---- MOV DS/SS, r16 (SDM vol. 2B MOV "Protected Mode Exceptions";
 * vol. 3 5.5-5.7): error codes are the selector with RPL cleared. */

static const uint8_t mov_ds_ax[] = {0x8e, 0xd8};
static const uint8_t mov_ss_ax[] = {0x8e, 0xd0};

static void expect_ds_fault(uint16_t sel, int vector, uint32_t err)
{
	struct pm_out o = run_ax(sel, mov_ds_ax, 2);
	pm_expect_exc(&o, vector, err, PM_CODE, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DS), pm.cpl ? S_DATA32_3 | 3 : S_DATA32,
	             "DS must keep its selector");
}

Test(prot, ds_load_checks_prot32)
{
	pm_machine(PM_PROT32, 0);
	expect_ds_fault(0x100, 13, 0x100); /* past the GDT limit 0xff */
	/* 0xf8 + 7 = 0xff is inside the limit; the entry is zero, a system
	 * descriptor of type 0: #GP(0xf8), RPL cleared. */
	expect_ds_fault(0xfb, 13, 0xf8);
	expect_ds_fault(0x0c, 13, 0x0c);                         /* TI = 1, LDTR unusable */
	expect_ds_fault(S_TSS, 13, S_TSS);                       /* a system descriptor */
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x98, 0xc));          /* execute-only code */
	expect_ds_fault(S_FREE, 13, S_FREE);                     /* not readable */
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x92, 0xc));          /* DPL 0 data */
	expect_ds_fault(S_FREE | 3, 13, S_FREE);                 /* RPL 3 > DPL 0 */
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x12, 0xc));          /* not present */
	expect_ds_fault(S_FREE, 11, S_FREE);                     /* #NP(selector) */
	pm_gdt(S_FREE + 8, pm_desc(0x1000, 0xfffff, 0x9e, 0xc)); /* conforming readable code */
	struct pm_out o = run_ax(S_FREE + 8 + 3, mov_ds_ax, 2);  /* RPL 3: no privilege check */
	pm_expect_done(&o);
	struct seg_desc ds = pm_get_seg(VM_REG_GUEST_DS);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DS), S_FREE + 8 + 3);
	cr_expect_eq(ds.base, 0x1000);
	cr_expect_eq(ds.limit, 0xffffffff);
	cr_expect_eq(ds.access, 0xc09f, "access %#x", ds.access);
	/* The accessed bit is written back to the descriptor (SDM vol. 3
	 * 3.4.5.1): type 0xE becomes 0xF. */
	cr_expect_eq(pm_get_n(PM_GDT + S_FREE + 8 + 5, 1), 0x9f);
}

Test(prot, null_ds_loads_then_faults_on_use)
{
	pm_machine(PM_PROT32, 0);
	/* mov ds, ax; mov eax, [ebx] */
	uint64_t r[16] = {[RAX] = 3, [RBX] = PM_DATA};
	struct pm_out o = PM_RUN(r, 0, 0x8e, 0xd8, 0x8b, 0x03);
	/* The load succeeds; the access through the null DS is #GP(0) (SDM
	 * vol. 3 5.4.1). */
	pm_expect_exc(&o, 13, 0, PM_CODE + 2, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DS), 3);
}

static void expect_ss_fault(uint16_t sel, int vector, uint32_t err)
{
	struct pm_out o = run_ax(sel, mov_ss_ax, 2);
	pm_expect_exc(&o, vector, err, PM_CODE, 0);
}

Test(prot, ss_load_checks_prot32)
{
	pm_machine(PM_PROT32, 0);
	expect_ss_fault(0, 13, 0);                      /* null SS: #GP(0) */
	expect_ss_fault(3, 13, 0);                      /* null with RPL 3 */
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x91, 0xc)); /* read-only data */
	expect_ss_fault(S_FREE, 13, S_FREE);
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x9b, 0xc)); /* code */
	expect_ss_fault(S_FREE, 13, S_FREE);
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x93, 0xc)); /* writable DPL 0 */
	expect_ss_fault(S_FREE | 1, 13, S_FREE);        /* RPL 1 != CPL 0 */
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0xb3, 0xc)); /* DPL 1 */
	expect_ss_fault(S_FREE, 13, S_FREE);            /* DPL != CPL */
	pm_gdt(S_FREE, pm_desc(0, 0xfffff, 0x13, 0xc)); /* not present */
	expect_ss_fault(S_FREE, 12, S_FREE);            /* #SS(selector) */
	pm_gdt(S_FREE, pm_desc(0x100, 0xfffff, 0x93, 0xc));
	struct pm_out o = run_ax(S_FREE, mov_ss_ax, 2);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_SS).base, 0x100);
}

Test(prot, ds_privilege_at_cpl3)
{
	pm_machine(PM_PROT32, 3);
	expect_ds_fault(S_DATA32 | 3, 13, S_DATA32); /* DPL 0 data: CPL 3 > DPL */
	expect_ds_fault(0x100, 13, 0x100);
	struct pm_out o = run_ax(S_DATA32_3 | 3, mov_ds_ax, 2);
	pm_expect_done(&o);
	/* SS at CPL 3 must have DPL 3 and RPL 3. */
	o = run_ax(S_DATA32_3, mov_ss_ax, 2);
	pm_expect_exc(&o, 13, S_DATA32_3, PM_CODE, 0);
}

/* Null SS (SDM vol. 2B MOV, 64-bit mode exceptions): allowed in 64-bit
 * mode at CPL < 3 with RPL = CPL; #GP(0) at CPL 3, with RPL != CPL, and
 * in compatibility mode as in protected mode. */
Test(prot, null_ss_long64_cpl0)
{
	pm_machine(PM_LONG64, 0);
	/* mov ss, ax; push rbx: a push through the null SS works in 64-bit
	 * mode. */
	uint64_t r[16] = {[RBX] = 0x1122334455667788};
	struct pm_out o = PM_RUN(r, 0, 0x8e, 0xd0, 0x53);
	pm_expect_done(&o);
	cr_expect_eq(pm_reg(VM_REG_GUEST_SS), 0);
	cr_expect_eq(pm_get_n(PM_SP - 8, 8), 0x1122334455667788);
	pm_teardown();
	pm_machine(PM_LONG64, 0);
	o = run_ax(1, mov_ss_ax, 2);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

Test(prot, null_ss_long64_cpl3)
{
	pm_machine(PM_LONG64, 3);
	struct pm_out o = run_ax(3, mov_ss_ax, 2);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

Test(prot, null_ss_compat32)
{
	pm_machine(PM_COMPAT32, 0);
	struct pm_out o = run_ax(0, mov_ss_ax, 2);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

/* ---- LDS/LES/LFS/LGS/LSS and POP DS (SDM vol. 2A LDS; vol. 2B POP) ---- */

Test(prot, far_pointer_loads)
{
	pm_machine(PM_PROT32, 0);
	pm_gdt(S_FREE, pm_desc(0x3000, 0xfffff, 0x93, 0xc));
	/* m16:32 at DATA: offset 0x12345678, selector S_FREE. */
	pm_put64(PM_DATA, 0x12345678 | (uint64_t)S_FREE << 32);
	uint64_t r[16] = {[RBX] = PM_DATA};
	/* lfs eax, [ebx]; lss esp, [ebx] would move the stack: les ecx, [ebx] */
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0xb4, 0x03, 0xc4, 0x0b);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0x12345678);
	cr_expect_eq(o.r[RCX], 0x12345678);
	cr_expect_eq(pm_reg(VM_REG_GUEST_FS), S_FREE);
	cr_expect_eq(pm_reg(VM_REG_GUEST_ES), S_FREE);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_FS).base, 0x3000);
	/* A faulting segment load leaves the general register unchanged:
	 * lgs eax, [ebx] with a not-present descriptor: #NP(selector). */
	pm_gdt(S_FREE, pm_desc(0x3000, 0xfffff, 0x13, 0xc));
	r[RAX] = 0xaaaa;
	o = PM_RUN(r, 0, 0x0f, 0xb5, 0x03);
	pm_expect_exc(&o, 11, S_FREE, PM_CODE, 0);
	cr_expect_eq(o.r[RAX], 0xaaaa);
	/* LSS: SS and ESP together; m16:32 = 0x7000:S_DATA32. */
	pm_put64(PM_DATA + 8, 0x7000 | (uint64_t)S_DATA32 << 32);
	r[RBX] = PM_DATA + 8;
	/* lss esp, [ebx]; push 0x55 */
	o = PM_RUN(r, 0, 0x0f, 0xb2, 0x23, 0x6a, 0x55);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RSP], 0x6ffc);
	cr_expect_eq(pm_get_n(0x6ffc, 4), 0x55);
	/* pop ds with a bad selector on the stack: #GP(selector), ESP kept. */
	pm_put64(PM_SP, 0x100);
	o = PM_RUN(R0, 0, 0x1f);
	pm_expect_exc(&o, 13, 0x100, PM_CODE, 0);
}

/* ---- limits (SDM vol. 3 5.3): offsets past the limit are #GP(0), or
 * #SS(0) through SS; the last byte of the access must be within it. ---- */

static void set_ds(uint32_t limit, uint32_t access)
{
	pm_seg(VM_REG_GUEST_DS, S_DATA32, 0, limit, access);
}

static struct pm_out read_at(uint64_t ea, unsigned size)
{
	uint64_t r[16] = {[RBX] = ea};
	if (size == 1)
		return PM_RUN(r, 0, 0x8a, 0x03); /* mov al, [ebx] */
	if (size == 2)
		return PM_RUN(r, 0, 0x66, 0x8b, 0x03);
	return PM_RUN(r, 0, 0x8b, 0x03);
}

Test(prot, limit_byte_granular)
{
	pm_machine(PM_PROT32, 0);
	set_ds(0xfff, 0x4093);
	struct pm_out o = read_at(0xffc, 4);
	pm_expect_done(&o);
	o = read_at(0xffd, 4); /* bytes 0xffd..0x1000 straddle the limit */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	o = read_at(0xfff, 1);
	pm_expect_done(&o);
	o = read_at(0x1000, 1);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

Test(prot, limit_page_granular)
{
	/* A descriptor limit of 1 with G = 1 scales to 0x1fff (SDM vol. 3
	 * 3.4.5): loaded from the GDT, then used. */
	pm_machine(PM_PROT32, 0);
	pm_gdt(S_FREE, pm_desc(0, 1, 0x93, 0xc));
	uint64_t r[16] = {[RAX] = S_FREE, [RBX] = 0x1ffe};
	/* mov ds, ax; mov ax, [ebx] */
	struct pm_out o = PM_RUN(r, 0, 0x8e, 0xd8, 0x66, 0x8b, 0x03);
	pm_expect_done(&o);
	cr_expect_eq(pm_get_seg(VM_REG_GUEST_DS).limit, 0x1fff);
	r[RBX] = 0x1fff;
	o = PM_RUN(r, 0, 0x8e, 0xd8, 0x66, 0x8b, 0x03);
	pm_expect_exc(&o, 13, 0, PM_CODE + 2, 0);
}

Test(prot, limit_expand_down)
{
	pm_machine(PM_PROT32, 0);
	/* Expand-down, B = 1: valid offsets limit+1 .. FFFFFFFFH. */
	set_ds(0xfff, 0x4097);
	struct pm_out o = read_at(0x1000, 4);
	pm_expect_done(&o);
	o = read_at(0xfff, 1);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	o = read_at(0xffe, 4); /* starts below, ends above the limit */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* B = 0: the upper bound is FFFFH. */
	set_ds(0xfff, 0x0097);
	o = read_at(0xfffe, 2);
	pm_expect_done(&o);
	o = read_at(0xffff, 2);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	o = read_at(0x10000, 1);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

Test(prot, limit_stack_segment_is_ss_fault)
{
	pm_machine(PM_PROT32, 0);
	pm_set_ss(S_DATA32, 0, 0x8fff, 0x4093);
	uint64_t r[16] = {[RBP] = 0x8ffe};
	struct pm_out o = PM_RUN(r, 0, 0x8b, 0x45, 0x00); /* mov eax, [ebp] */
	pm_expect_exc(&o, 12, 0, PM_CODE, 0);
	/* The same offset through DS (flat) is fine: ds:[ebp]. */
	o = PM_RUN(r, 0, 0x3e, 0x8b, 0x45, 0x00);
	pm_expect_done(&o);
}

/* Type checks (SDM vol. 3 5.4.1): no writes to read-only data or code
 * segments, no reads from execute-only code. */
Test(prot, segment_type_checks)
{
	pm_machine(PM_PROT32, 0);
	uint64_t r[16] = {[RAX] = 0x11, [RBX] = PM_DATA};
	set_ds(0xffffffff, 0xc091); /* read-only data */
	struct pm_out o = PM_RUN(r, 0, 0x8b, 0x03);
	pm_expect_done(&o);
	o = PM_RUN(r, 0, 0x89, 0x03); /* mov [ebx], eax */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	cr_expect_eq(pm_get_n(PM_DATA, 4), 0);
	o = PM_RUN(r, 0, 0x2e, 0x89, 0x03); /* mov cs:[ebx], eax */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	o = PM_RUN(r, 0, 0x2e, 0x8b, 0x03); /* reading readable code is fine */
	pm_expect_done(&o);
	pm_seg(VM_REG_GUEST_ES, S_DATA32, 0, 0xffffffff, 0xc099); /* execute-only code */
	o = PM_RUN(r, 0, 0x26, 0x8b, 0x03);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* A read-modify-write faults as a write: add [ebx], eax. */
	o = PM_RUN(r, 0, 0x01, 0x03);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

/* 64-bit mode (SDM vol. 3 5.3.1, 3.3.7.1): no limits; a non-canonical
 * address is #GP(0), or #SS(0) through SS. */
Test(prot, long64_limits_and_canonical)
{
	pm_machine(PM_LONG64, 0);
	pm_seg(VM_REG_GUEST_DS, S_DATA32, 0, 0xff, 0xc093);
	uint64_t r[16] = {[RBX] = PM_DATA};
	struct pm_out o = PM_RUN(r, 0, 0x48, 0x8b, 0x03);
	pm_expect_done(&o);
	r[RBX] = 0x0000800000000000;
	o = PM_RUN(r, 0, 0x48, 0x8b, 0x03);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RBP] = 0xffff7fffffffff00;
	o = PM_RUN(r, 0, 0x48, 0x8b, 0x45, 0x00); /* mov rax, [rbp] */
	pm_expect_exc(&o, 12, 0, PM_CODE, 0);
	/* Read-only data is not checked in 64-bit mode either. */
	r[RBX] = PM_DATA;
	pm_seg(VM_REG_GUEST_DS, S_DATA32, 0, 0xff, 0xc091);
	o = PM_RUN(r, 0, 0x48, 0x89, 0x03);
	pm_expect_done(&o);
}

/* Real mode (SDM vol. 3 20.1.1): a word at offset FFFFH crosses the 64 KiB
 * limit: #GP, through the IVT with no error code. */
Test(prot, real_mode_limit)
{
	pm_machine(PM_REAL, 0);
	uint64_t r[16] = {[RBX] = 0xffff};
	struct pm_out o = PM_RUN(r, 0, 0x8b, 0x07); /* mov ax, [bx] */
	pm_expect_exc(&o, 13, -1, PM_CODE, 0);
	o = PM_RUN(r, 0, 0x8a, 0x07);
	pm_expect_done(&o);
}

/*
 * Real -> protected -> real with a 4 GiB DS ("unreal mode", SDM vol. 3
 * 9.9.2 and 20.1.1: back in real mode a segment load changes only the
 * selector and base, so the limit loaded in protected mode stays).
 */
Test(prot, unreal_mode)
{
	pm_machine(PM_REAL, 0);
	pm_put64(0x200000, 0xfeedface);
	uint64_t r[16] = {[RBX] = 0x200000};
	/* mov eax, cr0; or al, 1; mov cr0, eax; mov dx, S_DATA32; mov ds, dx;
	 * and al, 0xfe; mov cr0, eax; xor dx, dx; mov ds, dx;
	 * mov ecx, [ebx] (67 66 8b 0b) */
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, 0xba,
	                         S_DATA32, 0x00, 0x8e, 0xda, 0x24, 0xfe, 0x0f, 0x22, 0xc0, 0x31,
	                         0xd2, 0x8e, 0xda, 0x67, 0x66, 0x8b, 0x0b);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX] & 0xffffffff, 0xfeedface);
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR0) & 1, 0);
	struct seg_desc ds = pm_get_seg(VM_REG_GUEST_DS);
	cr_expect_eq(ds.base, 0);
	cr_expect_eq(ds.limit, 0xffffffff);
	/* Without the protected-mode detour the same access is #GP. */
	pm_teardown();
	pm_machine(PM_REAL, 0);
	o = PM_RUN(r, 0, 0x67, 0x66, 0x8b, 0x0b);
	pm_expect_exc(&o, 13, -1, PM_CODE, 0);
}

/* ---- MOV CRn (SDM vol. 2B MOV CR; vol. 3 2.5) ---------------------------- */

Test(prot, cr0_checks)
{
	pm_machine(PM_PROT32, 0);
	uint64_t r[16] = {[RAX] = 0x80000010}; /* PG without PE */
	static const uint8_t mov_cr0_eax[] = {0x0f, 0x22, 0xc0};
	struct pm_out o = pm_run(mov_cr0_eax, 3, r, 0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = 0x20000011; /* NW without CD */
	o = pm_run(mov_cr0_eax, 3, r, 0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* Reserved bits 31:0 are ignored: bits 6 and 17 do not stick; ET reads 1. */
	r[RAX] = 0x00020041 | 0x8;
	o = PM_RUN(r, 0, 0x0f, 0x22, 0xc0, 0x0f, 0x20, 0xc1); /* mov cr0, eax; mov ecx, cr0 */
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 0x19, "CR0 %#" PRIx64, o.r[RCX]);
	/* MOV CR1 does not exist: #UD. */
	o = PM_RUN(r, 0, 0x0f, 0x20, 0xc8);
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
}

Test(prot, cr_cpl3)
{
	pm_machine(PM_PROT32, 3);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x20, 0xc0); /* mov eax, cr0 */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	o = PM_RUN(R0, 0, 0x0f, 0x22, 0xd8); /* mov cr3, eax */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

Test(prot, cr_long64_checks)
{
	pm_machine(PM_LONG64, 0);
	uint64_t r[16] = {[RAX] = 0x80000011ull | (1ull << 32)};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x22, 0xc0); /* CR0 bit 32 */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = 0x11; /* clearing PG in 64-bit mode */
	o = PM_RUN(r, 0, 0x0f, 0x22, 0xc0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = PM_PML4 | (1ull << 62); /* CR3 above MAXPHYADDR */
	o = PM_RUN(r, 0, 0x0f, 0x22, 0xd8);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = 0; /* clearing CR4.PAE in IA-32e mode */
	o = PM_RUN(r, 0, 0x0f, 0x22, 0xe0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = 0x20 | 0x800; /* UMIP: no model advertises it */
	o = PM_RUN(r, 0, 0x0f, 0x22, 0xe0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = 16; /* CR8 bits 63:4 */
	o = PM_RUN(r, 0, 0x44, 0x0f, 0x22, 0xc0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	r[RAX] = 15;
	/* mov cr8, rax; mov rcx, cr8 */
	o = PM_RUN(r, 0, 0x44, 0x0f, 0x22, 0xc0, 0x44, 0x0f, 0x20, 0xc1);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 15);
}

/*
 * Out of IA-32e mode (SDM vol. 3 9.8.5.4): from compatibility mode,
 * clearing CR0.PG clears EFER.LMA; the code keeps running as 32-bit
 * protected-mode code.
 */
Test(prot, leave_long_mode)
{
	pm_machine(PM_COMPAT32, 0);
	/* mov eax, cr0; and eax, 0x7fffffff; mov cr0, eax; mov ecx, 7 */
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x20, 0xc0, 0x25, 0xff, 0xff, 0xff, 0x7f, 0x0f, 0x22,
	                         0xc0, 0xb9, 0x07, 0x00, 0x00, 0x00);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 7);
	cr_expect_eq(pm_reg(VM_REG_GUEST_EFER), 0x100, "EFER %#" PRIx64, pm_reg(VM_REG_GUEST_EFER));
	cr_expect_eq(pm_reg(VM_REG_GUEST_CR0), 0x11);
}

/* Into IA-32e mode (SDM vol. 3 9.8.5): paging with LME needs CR4.PAE. */
Test(prot, enter_long_mode_needs_pae)
{
	pm_machine(PM_PROT32, 0);
	pm_set_reg(VM_REG_GUEST_EFER, 0x100);
	pm_set_reg(VM_REG_GUEST_CR3, PM_PML4);
	uint64_t r[16] = {[RAX] = 0x80000011};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x22, 0xc0);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* With PAE: LMA set, still 32-bit code (compatibility mode). */
	pm_set_reg(VM_REG_GUEST_CR4, 0x20);
	o = PM_RUN(r, 0, 0x0f, 0x22, 0xc0, 0xb9, 0x07, 0x00, 0x00, 0x00);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 7);
	cr_expect_eq(pm_reg(VM_REG_GUEST_EFER), 0x500);
}

/* ---- MOV DRn (SDM vol. 2B MOV DR; vol. 3 17.2) --------------------------- */

Test(prot, dr6_dr7_fixed_bits)
{
	pm_machine(PM_PROT32, 0);
	/* xor eax, eax; mov dr6, eax; mov dr7, eax; mov ecx, dr6; mov edx, dr7 */
	struct pm_out o = PM_RUN(R0, 0, 0x31, 0xc0, 0x0f, 0x23, 0xf0, 0x0f, 0x23, 0xf8, 0x0f, 0x21,
	                         0xf1, 0x0f, 0x21, 0xfa);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 0xffff0ff0);
	cr_expect_eq(o.r[RDX], 0x400);
	uint64_t r[16] = {[RAX] = 0xffffffff};
	/* mov dr6, eax; mov dr7, eax; mov ecx, dr6; mov edx, dr7; mov dr0, eax;
	 * mov ebx, dr0 */
	o = PM_RUN(r, 0, 0x0f, 0x23, 0xf0, 0x0f, 0x23, 0xf8, 0x0f, 0x21, 0xf1, 0x0f, 0x21, 0xfa,
	           0x0f, 0x23, 0xc0, 0x0f, 0x21, 0xc3);
	/* DR7.GD is now set: the second read of a debug register (mov ecx,
	 * dr6 follows mov dr7) raises #DB with DR6.BD. */
	pm_expect_exc(&o, 1, -1, PM_CODE + 6, 0);
	/* DR7 as written (bits 11, 12, 14, 15 read 0, bit 10 reads 1), less
	 * GD, which the #DB cleared. */
	cr_expect_eq(pm_reg(VM_REG_GUEST_DR7), 0xffff07ff, "DR7 %#" PRIx64,
	             pm_reg(VM_REG_GUEST_DR7));
}

Test(prot, dr_general_detect)
{
	pm_machine(PM_PROT32, 0);
	pm_set_reg(VM_REG_GUEST_DR7, 0x2400);
	/* mov eax, dr0: #DB before the access; the handler sees GD clear. */
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x21, 0xc0);
	pm_expect_exc(&o, 1, -1, PM_CODE, 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_DR7), 0x400);
	/* DR6.BD (bit 13) is set: read DR6 now that GD is clear. */
	o = PM_RUN(R0, 0, 0x0f, 0x21, 0xf0);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RAX], 0xffff2ff0, "DR6 %#" PRIx64, o.r[RAX]);
}

Test(prot, dr4_dr5_alias_and_de)
{
	pm_machine(PM_PROT32, 0);
	uint64_t r[16] = {[RAX] = 0x3};
	/* mov dr5, eax (= DR7); mov ecx, dr7 */
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x23, 0xe8, 0x0f, 0x21, 0xf9);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 0x403);
	pm_set_reg(VM_REG_GUEST_CR4, 0x8);  /* DE */
	o = PM_RUN(r, 0, 0x0f, 0x21, 0xe0); /* mov eax, dr4 */
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
}

Test(prot, dr_cpl3)
{
	pm_machine(PM_PROT32, 3);
	struct pm_out o = PM_RUN(R0, 0, 0x0f, 0x21, 0xf8);
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
}

Test(prot, dr_long64)
{
	pm_machine(PM_LONG64, 0);
	uint64_t r[16] = {[RAX] = 1ull << 32};
	struct pm_out o = PM_RUN(r, 0, 0x0f, 0x23, 0xf8); /* mov dr7, rax */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	o = PM_RUN(r, 0, 0x0f, 0x23, 0xf0); /* mov dr6, rax */
	pm_expect_exc(&o, 13, 0, PM_CODE, 0);
	/* DR0 holds 64 bits: mov dr0, rax; mov rcx, dr0 */
	o = PM_RUN(r, 0, 0x0f, 0x23, 0xc0, 0x0f, 0x21, 0xc1);
	pm_expect_done(&o);
	cr_expect_eq(o.r[RCX], 1ull << 32);
	o = PM_RUN(r, 0, 0x44, 0x0f, 0x21, 0xc0); /* mov rax, dr8 */
	pm_expect_exc(&o, 6, -1, PM_CODE, 0);
}
