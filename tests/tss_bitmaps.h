/*
 * The TSS maps of the I/O permission and virtual-8086 tests
 * (test_io_permission.c, test_vme.c), on the machine of prot_machine.h:
 * the I/O map base at TSS offset 102, the I/O permission bitmap there (one
 * bit per port, 1 denies; SDM vol. 1 19.5.2) and the software interrupt
 * redirection bitmap in the 32 bytes below it (SDM vol. 3 20.3.3, figure
 * 20-5), and a virtual-8086 task on the 32-bit machine with the frame its
 * faults push on the ring-0 stack (SDM vol. 3 20.3.1.1, figure 20-4).
 * Everything goes through the public API, so the tests run unchanged on a
 * hardware backend.
 */
#ifndef SOFTVMM_TESTS_TSS_BITMAPS_H
#define SOFTVMM_TESTS_TSS_BITMAPS_H

#include "prot_machine.h"

#define TSS_IOMAP_OFF 0x66 /* the I/O map base field */
#define TSS_REDIR     0x68 /* the redirection bitmap: 32 bytes */
#define TSS_MAP       0x88 /* the I/O permission bitmap */
/* Ports 0-3FFH mapped (80H bytes), then the all-ones byte the SDM asks
 * for, so that the last mapped port's two-byte read stays in the TSS. */
#define TSS_LIMIT (TSS_MAP + 0x80)

#define IOPL3   UINT64_C(0x3000)
#define VM_FLAG UINT64_C(0x20000)
#define VIF     UINT64_C(0x80000)
#define VIP     UINT64_C(0x100000)

/* TR (the cached descriptor and the GDT entry, kept alike) with a limit
 * and access byte; base PM_TSS. */
static inline void tss_set_tr(uint32_t limit, unsigned access)
{
	pm_gdt(S_TSS, pm_desc((uint32_t)PM_TSS, limit, access, 0));
	pm_seg(VM_REG_GUEST_TR, S_TSS, PM_TSS, limit, access);
}

/* A TSS with I/O map base 'base' and limit 'limit': both bitmaps clear
 * (every port and every vector allowed), the last byte all ones. */
static inline void tss_maps(uint16_t base, uint32_t limit)
{
	uint8_t zero[0x100] = {0};
	cr_assert_leq(limit, 0x67 + sizeof(zero));
	pm_put(PM_TSS + TSS_REDIR, zero, limit + 1 - TSS_REDIR);
	pm_put(PM_TSS + TSS_IOMAP_OFF, &base, 2);
	uint8_t ones = 0xff;
	pm_put(PM_TSS + limit, &ones, 1);
	tss_set_tr(limit, 0x8b);
}

static inline void tss_bit(uint64_t at, unsigned n, bool set)
{
	uint8_t b;
	pm_get(at + n / 8, &b, 1);
	b = set ? (uint8_t)(b | 1u << (n % 8)) : (uint8_t)(b & ~(1u << (n % 8)));
	pm_put(at + n / 8, &b, 1);
}

/* Deny (or allow) one port in the I/O permission bitmap at TSS_MAP. */
static inline void tss_port(unsigned port, bool deny)
{
	tss_bit(PM_TSS + TSS_MAP, port, deny);
}

/* Mark one vector in the redirection bitmap (1: through the IDT). */
static inline void tss_redir(unsigned vector, bool idt)
{
	tss_bit(PM_TSS + TSS_REDIR, vector, idt);
}

/*
 * A virtual-8086 task on the 32-bit machine: every segment selector 0,
 * base 0, limit FFFFH, DPL 3 (SDM vol. 3 20.1.1), so CS:IP = 0:PM_CODE and
 * SS:SP = 0:PM_SP.  Its runs need RFLAGS.VM (VM_FLAG) in their flags.
 * The ring-0 handlers of prot_machine.h catch its faults.
 */
static inline void v86_machine(void)
{
	pm_machine(PM_PROT32, 0);
	pm_seg(VM_REG_GUEST_CS, 0, 0, 0xffff, 0xfb);
	static const int data[] = {VM_REG_GUEST_SS, VM_REG_GUEST_DS, VM_REG_GUEST_ES,
	                           VM_REG_GUEST_FS, VM_REG_GUEST_GS};
	for (unsigned k = 0; k < 5; k++)
		pm_seg(data[k], 0, 0, 0xffff, 0xf3);
	pm.cs = pm_get_seg(VM_REG_GUEST_CS);
	pm.cs_sel = 0;
	pm.ss = pm_get_seg(VM_REG_GUEST_SS);
	pm.ss_sel = 0;
	pm.cpl = 3;
}

/*
 * The frame a fault in virtual-8086 mode pushes through a 32-bit gate,
 * compared byte for byte: [error] EIP CS EFLAGS ESP SS ES DS FS GS, four
 * bytes each, ending at the ring-0 stack's top.  'eflags' is the image
 * expected (RF and bit 1 included by the caller).
 */
static inline void v86_expect_exc(const struct pm_out *o, int vector, int64_t err, uint64_t ip,
                                  uint64_t sp, uint64_t eflags)
{
	cr_assert_eq(o->vector, vector, "v8086: vector %d, expected %d", o->vector, vector);
	uint32_t want[10];
	unsigned n = 0;
	if (err >= 0)
		want[n++] = (uint32_t)err;
	want[n++] = (uint32_t)ip;
	want[n++] = 0;
	want[n++] = (uint32_t)eflags;
	want[n++] = (uint32_t)sp;
	for (unsigned k = 0; k < 5; k++)
		want[n++] = 0; /* SS, ES, DS, FS, GS */
	uint32_t got[10];
	pm_get(o->frame, got, n * 4);
	for (unsigned k = 0; k < n; k++)
		cr_expect_eq(got[k], want[k], "v8086 frame slot %u is %#x, expected %#x", k, got[k],
		             want[k]);
	cr_expect_eq(o->frame + n * 4, RING0_SP, "frame ends at %#" PRIx64, o->frame + n * 4);
}

#endif
