/*
 * Helpers shared by the far control transfers (ops_far.c, ops_iret.c) and
 * event delivery (except.c): descriptor reads, the inner stack from the
 * TSS, the data-segment nulling of a return to an outer ring, task-switch
 * exits, and a snapshot that undoes a transfer which faults halfway.
 */
#ifndef SOFTVMM_CORE_CPU_FAR_H
#define SOFTVMM_CORE_CPU_FAR_H

#include "core/cpu/cpu.h"
#include "core/cpu/tlbctl.h"

/* System-descriptor types (SDM vol. 3 table 3-2). */
#define DT_TSS16_AVAIL 0x1
#define DT_TSS16_BUSY  0x3
#define DT_CALLGATE16  0x4
#define DT_TASKGATE    0x5
#define DT_TSS32_AVAIL 0x9
#define DT_TSS32_BUSY  0xb
#define DT_CALLGATE32  0xc /* a 64-bit call gate in IA-32e mode */

static inline unsigned desc_type(uint64_t d)
{
	return (unsigned)(d >> 40) & 0xf;
}
static inline unsigned desc_dpl(uint64_t d)
{
	return (unsigned)(d >> 45) & 3;
}
static inline bool desc_s(uint64_t d)
{
	return (d >> 44) & 1;
}
static inline bool desc_p(uint64_t d)
{
	return (d >> 47) & 1;
}
static inline bool desc_code(uint64_t d)
{
	return desc_s(d) && ((d >> 43) & 1);
}
static inline bool desc_conforming(uint64_t d)
{
	return desc_code(d) && ((d >> 42) & 1);
}

/* Segment limit in bytes, after granularity (SDM vol. 3 3.4.5). */
uint32_t far_desc_limit(uint64_t d);

/*
 * Read the 8-byte descriptor for sel from the GDT or LDT (16 bytes when
 * 'wide', a system descriptor in IA-32e mode).  A selector whose last byte
 * is beyond the table limit raises 'vec' with error code sel & ~3 (SDM vol.
 * 3 3.5.1); 'vec' is #GP for most users, #TS for an inner stack.  *addr is
 * where the descriptor lives (for the accessed bit).  0 or EXEC_STOP.
 */
int far_read_desc(struct cpu *c, uint16_t sel, bool wide, int vec, unsigned ext, uint64_t d[2],
                  uint64_t *addr);

/* Set the accessed bit of the descriptor at addr if it is clear. */
int far_mark_accessed(struct cpu *c, uint64_t d, uint64_t addr);

/* Load CS from descriptor d for selector sel at privilege cpl, RIP, and
 * the mode that follows; the caller made every check. */
void far_set_cs(struct cpu *c, uint16_t sel, uint64_t d, unsigned cpl, uint64_t rip);

/*
 * The stack for privilege level dpl from the current TSS (SDM vol. 3
 * 7.2.1, 7.7; CALL "MORE-PRIVILEGE", 6.12.1): SS and ESP of a 16- or
 * 32-bit TSS, or RSP (SS null) of a 64-bit one, or RSP of IST slot 'ist'
 * when nonzero.  #TS(TR selector | ext) when the slot is past the TSS limit.
 */
int far_tss_stack(struct cpu *c, unsigned dpl, unsigned ist, unsigned ext, uint16_t *ss,
                  uint64_t *sp);

/*
 * Check and load the inner stack segment nss for a transfer to privilege
 * dpl outside IA-32e mode (CALL "MORE-PRIVILEGE", INT n): null -> #TS(ext),
 * RPL or DPL other than dpl or not a writable data segment -> #TS(sel |
 * ext), not present -> #SS(sel | ext).  Sets CPL to dpl.  In IA-32e mode SS
 * becomes a null selector with RPL dpl (SDM 6.14.4).
 */
int far_load_inner_ss(struct cpu *c, uint16_t nss, unsigned dpl, unsigned ext);

/*
 * A return to an outer ring (RET, IRET): DS, ES, FS and GS that hold a data
 * or non-conforming code segment whose DPL is below the new CPL become null
 * (SDM RET and IRET, "RETURN-TO-OUTER-PRIVILEGE-LEVEL").
 */
void far_null_data_segs(struct cpu *c);

/*
 * The TASK_SWITCH exit bhyve produces for a task switch the guest asks for
 * (BHYVE-EXITS.md section 6): reason, new TSS selector, ext 0, no error
 * code, the paging state; rip and inst_length are the instruction's.
 */
int far_task_switch_exit(struct cpu *c, uint16_t tsssel, enum task_switch_reason reason,
                         int inst_length);

/* What a far transfer changes, to roll it back when it faults or exits. */
struct far_snapshot {
	struct segreg seg[6];
	uint64_t rsp, rip, rflags;
	struct lazy_flags lf;
};

void far_snapshot_take(const struct cpu *c, struct far_snapshot *s);
/* Restore and return EXEC_STOP (the exception or exit stays pending). */
int far_snapshot_restore(struct cpu *c, const struct far_snapshot *s);

/* Canonical under the current paging: 48 or, with CR4.LA57, 57 bits. */
static inline bool far_canonical(const struct cpu *c, uint64_t a)
{
	return cpu_canonical(c, a);
}

#endif
