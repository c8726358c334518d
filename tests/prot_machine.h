/*
 * A machine for the protection tests (test_protection.c, test_sysinsn.c),
 * built through the public vmm API only, so the same tests can run on a
 * hardware backend: 8 MiB of RAM, a GDT with flat ring-0 and ring-3
 * segments and room for the descriptors a test writes, an IDT (IVT in real
 * mode) whose vector k runs OUT 0xA0+k, AL, a TSS whose ring-0 stack is
 * RING0_SP, and for IA-32e mode 2 MiB pages identity-mapping the RAM, user
 * accessible.  A test puts code at CODE (followed by OUT 0x80, AL), runs
 * it, and reads back the registers, memory, and for an exception the
 * frame the CPU pushed.
 */
#ifndef SOFTVMM_TESTS_PROT_MACHINE_H
#define SOFTVMM_TESTS_PROT_MACHINE_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "guest_helper.h"

#define PM_RAM      (UINT64_C(8) << 20)
#define PM_CODE     UINT64_C(0x1000)
#define PM_HANDLERS UINT64_C(0x2000) /* vector k: E6 A0+k at PM_HANDLERS + 2k */
#define PM_IDT      UINT64_C(0x3000)
#define PM_GDT      UINT64_C(0x4000)
#define PM_GDT_LIM  0xff
#define PM_LDT      UINT64_C(0x5000)
#define PM_TSS      UINT64_C(0x6000)
#define PM_SP       UINT64_C(0x8000) /* the test's stack pointer */
#define RING0_SP    UINT64_C(0x9000) /* the TSS's ring-0 stack */
#define PM_PML4     UINT64_C(0x10000)
#define PM_PDPT     UINT64_C(0x11000)
#define PM_PD       UINT64_C(0x12000)
#define PM_DATA     UINT64_C(0x20000)
#define PORT_DONE   0x80
#define PORT_EXC    0xa0

/* Selectors of the fixed GDT. */
#define S_CODE32   0x08
#define S_DATA32   0x10
#define S_CODE16   0x18
#define S_DATA16   0x20
#define S_CODE64   0x28
#define S_CODE32_3 0x30 /* DPL 3 */
#define S_DATA32_3 0x38 /* DPL 3 */
#define S_CODE64_3 0x40 /* DPL 3 */
#define S_TSS      0x48 /* 16 bytes in IA-32e mode */
#define S_FREE     0x58 /* the first slot a test may fill, up to 0xf8 */

#define RF_BIT UINT64_C(0x10000)

enum pm_mode { PM_REAL, PM_PROT16, PM_PROT32, PM_COMPAT32, PM_LONG64, PM_NMODES };

static const char *const pm_mode_name[PM_NMODES] = {"real", "prot16", "prot32", "compat32",
                                                    "long64"};

struct pm {
	struct vm *vm;
	enum pm_mode mode;
	int cpl;
	struct seg_desc cs, ss; /* restored before every run */
	uint16_t cs_sel, ss_sel;
};

static struct pm pm;

static inline void pm_put(uint64_t gpa, const void *src, size_t len)
{
	cr_assert_eq(guest_mem_write(pm.vm, gpa, src, len), 0, "gpa %#" PRIx64, gpa);
}

static inline void pm_get(uint64_t gpa, void *dst, size_t len)
{
	cr_assert_eq(guest_mem_read(pm.vm, gpa, dst, len), 0, "gpa %#" PRIx64, gpa);
}

static inline void pm_put64(uint64_t gpa, uint64_t v)
{
	pm_put(gpa, &v, 8);
}

static inline uint64_t pm_get_n(uint64_t gpa, unsigned n)
{
	uint64_t v = 0;
	pm_get(gpa, &v, n);
	return v;
}

static inline uint64_t pm_reg(int name)
{
	uint64_t v;
	cr_assert_eq(vm_get_register(pm.vm, 0, name, &v), 0);
	return v;
}

static inline void pm_set_reg(int name, uint64_t v)
{
	cr_assert_eq(vm_set_register(pm.vm, 0, name, v), 0);
}

static inline void pm_seg(int name, uint16_t sel, uint64_t base, uint32_t limit, uint32_t access)
{
	struct seg_desc d = {base, limit, access};
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, name, &d), 0);
	cr_assert_eq(vm_set_register(pm.vm, 0, name, sel), 0);
}

static inline struct seg_desc pm_get_seg(int name)
{
	struct seg_desc d;
	cr_assert_eq(vm_get_seg_desc(pm.vm, 0, name, &d), 0);
	return d;
}

/* An 8-byte code or data descriptor (SDM vol. 3 figure 3-8): 'access' is
 * byte 5 (P DPL S type), 'flags' the nibble G D/B L AVL. */
static inline uint64_t pm_desc(uint32_t base, uint32_t limit, unsigned access, unsigned flags)
{
	return (limit & 0xffffull) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)access << 40 |
	       (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)(flags & 0xf) << 52 |
	       (uint64_t)(base >> 24) << 56;
}

static inline void pm_gdt(unsigned sel, uint64_t d)
{
	pm_put64(PM_GDT + (sel & ~7u), d);
}

static inline void pm_data_segs(uint16_t sel, uint32_t limit, uint32_t access)
{
	static const int names[] = {VM_REG_GUEST_SS, VM_REG_GUEST_DS, VM_REG_GUEST_ES,
	                            VM_REG_GUEST_FS, VM_REG_GUEST_GS};
	for (unsigned k = 0; k < 5; k++)
		pm_seg(names[k], sel, 0, limit, access);
}

static inline void pm_install_idt(void)
{
	struct seg_desc idtr = {0, 0x3ff, 0};
	for (unsigned k = 0; k < 32; k++) {
		uint64_t h = PM_HANDLERS + 2 * k;
		if (pm.mode == PM_REAL) {
			uint32_t e = (uint32_t)h;
			pm_put(4 * k, &e, 4);
		} else if (pm.mode <= PM_PROT32) {
			pm_put64(PM_IDT + 8 * k, (h & 0xffff) | (uint64_t)S_CODE32 << 16 |
			                             (uint64_t)0x8e00 << 32 | (h >> 16) << 48);
		} else {
			pm_put64(PM_IDT + 16 * k, (h & 0xffff) | (uint64_t)S_CODE64 << 16 |
			                              (uint64_t)0x8e00 << 32 | (h >> 16) << 48);
			pm_put64(PM_IDT + 16 * k + 8, h >> 32);
		}
	}
	if (pm.mode != PM_REAL) {
		idtr.base = PM_IDT;
		idtr.limit = pm.mode >= PM_COMPAT32 ? 16 * 32 - 1 : 8 * 32 - 1;
	}
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, VM_REG_GUEST_IDTR, &idtr), 0);
}

/*
 * A fresh VM in mode m at CPL 'cpl' (0 or 3; 3 only outside real mode),
 * flat segments; model NULL is the default CPU model.
 */
static inline void pm_machine_model(enum pm_mode m, int cpl, const char *model)
{
	struct vm_config cfg = {.cpu_model = model};
	cr_assert_eq(vm_create("prot", &cfg, &pm.vm), 0);
	cr_assert_eq(vm_malloc(pm.vm, 0, PM_RAM), 0);
	cr_assert_eq(vm_activate_cpu(pm.vm, 0), 0);
	pm.mode = m;
	pm.cpl = cpl;
	for (unsigned k = 0; k < 32; k++) {
		uint8_t h[2] = {0xe6, (uint8_t)(PORT_EXC + k)};
		pm_put(PM_HANDLERS + 2 * k, h, 2);
	}
	pm_gdt(S_CODE32, pm_desc(0, 0xfffff, 0x9b, 0xc));
	pm_gdt(S_DATA32, pm_desc(0, 0xfffff, 0x93, 0xc));
	pm_gdt(S_CODE16, pm_desc(0, 0xffff, 0x9b, 0));
	pm_gdt(S_DATA16, pm_desc(0, 0xffff, 0x93, 0));
	pm_gdt(S_CODE64, pm_desc(0, 0xfffff, 0x9b, 0xa));
	pm_gdt(S_CODE32_3, pm_desc(0, 0xfffff, 0xfb, 0xc));
	pm_gdt(S_DATA32_3, pm_desc(0, 0xfffff, 0xf3, 0xc));
	pm_gdt(S_CODE64_3, pm_desc(0, 0xfffff, 0xfb, 0xa));
	pm_gdt(S_TSS, pm_desc((uint32_t)PM_TSS, 0x67, 0x8b, 0));
	pm_put64(PM_GDT + S_TSS + 8, 0);
	/* TSS: ESP0/SS0 (32-bit) and RSP0 (64-bit) at offset 4. */
	pm_put64(PM_TSS + 4, m >= PM_COMPAT32 ? RING0_SP : (RING0_SP | (uint64_t)S_DATA32 << 32));
	for (uint64_t k = 0; k < 4; k++)
		pm_put64(PM_PD + 8 * k, (k << 21) | 0x87);
	pm_put64(PM_PML4, PM_PDPT | 7);
	pm_put64(PM_PDPT, PM_PD | 7);
	if (m == PM_REAL)
		cr_assert_eq(guest_set_real_mode_entry(pm.vm, 0, PM_CODE), 0);
	struct seg_desc gdtr = {PM_GDT, PM_GDT_LIM, 0};
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, VM_REG_GUEST_GDTR, &gdtr), 0);
	pm_seg(VM_REG_GUEST_TR, S_TSS, PM_TSS, 0x67, 0x8b);
	pm_seg(VM_REG_GUEST_LDTR, 0, 0, 0, 0x10000);
	if (m == PM_PROT16 || m == PM_PROT32) {
		pm_set_reg(VM_REG_GUEST_EFER, 0);
		pm_set_reg(VM_REG_GUEST_CR4, 0);
		pm_set_reg(VM_REG_GUEST_CR0, 0x11);
		if (cpl == 3) {
			pm_seg(VM_REG_GUEST_CS, S_CODE32_3 | 3, 0, 0xffffffff, 0xc0fb);
			pm_data_segs(S_DATA32_3 | 3, 0xffffffff, 0xc0f3);
		} else if (m == PM_PROT16) {
			pm_seg(VM_REG_GUEST_CS, S_CODE16, 0, 0xffff, 0x9b);
			pm_data_segs(S_DATA16, 0xffff, 0x93);
		} else {
			pm_seg(VM_REG_GUEST_CS, S_CODE32, 0, 0xffffffff, 0xc09b);
			pm_data_segs(S_DATA32, 0xffffffff, 0xc093);
		}
	} else if (m != PM_REAL) {
		pm_set_reg(VM_REG_GUEST_CR3, PM_PML4);
		pm_set_reg(VM_REG_GUEST_CR4, 0x20);
		pm_set_reg(VM_REG_GUEST_EFER, 0x500);
		pm_set_reg(VM_REG_GUEST_CR0, 0x80000011);
		unsigned dpl = (unsigned)cpl << 5;
		if (m == PM_LONG64)
			pm_seg(VM_REG_GUEST_CS, cpl ? S_CODE64_3 | 3 : S_CODE64, 0, 0xffffffff,
			       0xa09b | dpl);
		else
			pm_seg(VM_REG_GUEST_CS, cpl ? S_CODE32_3 | 3 : S_CODE32, 0, 0xffffffff,
			       0xc09b | dpl);
		pm_data_segs(cpl ? S_DATA32_3 | 3 : S_DATA32, 0xffffffff, 0xc093 | dpl);
	}
	pm_install_idt();
	pm.cs = pm_get_seg(VM_REG_GUEST_CS);
	pm.cs_sel = (uint16_t)pm_reg(VM_REG_GUEST_CS);
	pm.ss = pm_get_seg(VM_REG_GUEST_SS);
	pm.ss_sel = (uint16_t)pm_reg(VM_REG_GUEST_SS);
}

/* SS for the following runs (an exception handler's ring-0 SS would
 * otherwise stay). */
static inline void pm_set_ss(uint16_t sel, uint64_t base, uint32_t limit, uint32_t access)
{
	pm_seg(VM_REG_GUEST_SS, sel, base, limit, access);
	pm.ss = pm_get_seg(VM_REG_GUEST_SS);
	pm.ss_sel = sel;
}

static inline void pm_machine(enum pm_mode m, int cpl)
{
	pm_machine_model(m, cpl, NULL);
}

static inline void pm_teardown(void)
{
	if (pm.vm)
		vm_destroy(pm.vm);
	pm.vm = NULL;
}

/* Hardware register numbers to the API's names. */
static const int pm_gpr[16] = {
    VM_REG_GUEST_RAX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX, VM_REG_GUEST_RBX,
    VM_REG_GUEST_RSP, VM_REG_GUEST_RBP, VM_REG_GUEST_RSI, VM_REG_GUEST_RDI,
    VM_REG_GUEST_R8,  VM_REG_GUEST_R9,  VM_REG_GUEST_R10, VM_REG_GUEST_R11,
    VM_REG_GUEST_R12, VM_REG_GUEST_R13, VM_REG_GUEST_R14, VM_REG_GUEST_R15,
};
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

struct pm_out {
	uint64_t r[16];
	uint64_t rflags;
	int vector;     /* -1: the code ran to its end */
	uint64_t frame; /* guest-physical address of the exception frame */
};

/* Put 'code' at PM_CODE (then OUT PORT_DONE), load the registers r (rSP =
 * PM_SP when 0), RFLAGS = 2 | flags and the machine's CS and SS, and run
 * to the first exit, returned in *e. */
static inline void pm_start(const uint8_t *code, unsigned n, const uint64_t r[16], uint64_t flags,
                            struct vm_exit *e)
{
	uint8_t buf[160];
	cr_assert_leq(n, sizeof(buf) - 2);
	memcpy(buf, code, n);
	buf[n] = 0xe6;
	buf[n + 1] = PORT_DONE;
	pm_put(PM_CODE, buf, n + 2);
	for (int k = 0; k < 16; k++)
		pm_set_reg(pm_gpr[k], k == RSP && r[k] == 0 ? PM_SP : r[k]);
	pm_set_reg(VM_REG_GUEST_RFLAGS, flags | 2);
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, VM_REG_GUEST_SS, &pm.ss), 0);
	pm_set_reg(VM_REG_GUEST_SS, pm.ss_sel);
	cr_assert_eq(vm_set_seg_desc(pm.vm, 0, VM_REG_GUEST_CS, &pm.cs), 0);
	pm_set_reg(VM_REG_GUEST_CS, pm.cs_sel);
	cr_assert_eq(vm_set_insn_limit(pm.vm, 0, 10000), 0);
	struct vm_run run = {.cpuid = 0, .rip = PM_CODE};
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	*e = run.vm_exit;
}

/* Run 'code' as pm_start does, to its end or to the exception it raises. */
static inline struct pm_out pm_run(const uint8_t *code, unsigned n, const uint64_t r[16],
                                   uint64_t flags)
{
	struct vm_exit ev, *e = &ev;
	pm_start(code, n, r, flags, e);
	cr_assert_eq(e->exitcode, VM_EXITCODE_INOUT, "%s: exit %d at rip %#" PRIx64,
	             pm_mode_name[pm.mode], e->exitcode, e->rip);
	struct pm_out o = {.vector = -1};
	for (int k = 0; k < 16; k++)
		o.r[k] = pm_reg(pm_gpr[k]);
	o.rflags = pm_reg(VM_REG_GUEST_RFLAGS);
	if (e->u.inout.port == PORT_DONE) {
		cr_assert_eq(e->rip, PM_CODE + n, "%s: done at %#" PRIx64, pm_mode_name[pm.mode],
		             e->rip);
		return o;
	}
	cr_assert(e->u.inout.port >= PORT_EXC && e->u.inout.port < PORT_EXC + 32, "%s: OUT to %#x",
	          pm_mode_name[pm.mode], e->u.inout.port);
	o.vector = e->u.inout.port - PORT_EXC;
	uint64_t sp = o.r[RSP];
	if (pm.mode == PM_REAL)
		sp = pm_get_seg(VM_REG_GUEST_SS).base + (sp & 0xffff);
	o.frame = sp;
	return o;
}

#define PM_RUN(regs, flags, ...)                                                                   \
	({                                                                                         \
		static const uint8_t code_[] = {__VA_ARGS__};                                      \
		pm_run(code_, sizeof(code_), (regs), (flags));                                     \
	})

static inline void pm_expect_done(const struct pm_out *o)
{
	cr_assert_eq(o->vector, -1, "%s: vector %d raised (error %#" PRIx64 ")",
	             pm_mode_name[pm.mode], o->vector, o->vector >= 0 ? pm_get_n(o->frame, 4) : 0);
}

/*
 * The exception 'vector' at IP 'ip' with error code 'err' (-1: none) and
 * RFLAGS 'flags' before it, the frame compared byte for byte: [error] IP CS
 * FLAGS, and SP SS when the handler ran at another privilege level or in
 * IA-32e mode (SDM vol. 3 6.12.1, 6.14.2; real mode 20.1.4).  Fault-class
 * exceptions push RF = 1 outside real mode (SDM vol. 3 17.3.1.1).
 */
static inline void pm_expect_exc(const struct pm_out *o, int vector, int64_t err, uint64_t ip,
                                 uint64_t flags)
{
	cr_assert_eq(o->vector, vector, "%s: vector %d, expected %d", pm_mode_name[pm.mode],
	             o->vector, vector);
	unsigned w = pm.mode == PM_REAL ? 2 : pm.mode >= PM_COMPAT32 ? 8 : 4;
	uint64_t want[6];
	unsigned n = 0;
	if (err >= 0)
		want[n++] = (uint64_t)err;
	want[n++] = ip;
	want[n++] = pm.cs_sel;
	want[n++] = pm.mode == PM_REAL ? (flags | 2) & 0xffff : flags | 2 | RF_BIT;
	if (pm.cpl == 3 || pm.mode >= PM_COMPAT32) {
		want[n++] = PM_SP;
		want[n++] = pm.ss_sel;
	}
	uint8_t exp[48] = {0}, got[48];
	for (unsigned k = 0; k < n; k++)
		memcpy(exp + k * w, &want[k], w);
	pm_get(o->frame, got, n * w);
	for (unsigned k = 0; k < n * w; k++)
		cr_expect_eq(got[k], exp[k], "%s: frame byte %u is %#x, expected %#x",
		             pm_mode_name[pm.mode], k, got[k], exp[k]);
	uint64_t top = pm.cpl == 3 ? RING0_SP : PM_SP;
	if (pm.mode >= PM_COMPAT32)
		top &= ~UINT64_C(0xf);
	cr_expect_eq(o->frame + n * w, top, "%s: frame ends at %#" PRIx64 ", expected %#" PRIx64,
	             pm_mode_name[pm.mode], o->frame + n * w, top);
}

#endif
