/*
 * Pieces shared by the task-switch emulation files (task_switch.c,
 * ts_desc.c, ts_segs.c, ts_tss.c): the 32-bit TSS layout, a context that
 * carries the exit and the first register-access error, and bhyverun's
 * return convention (task_switch.c: 0 done, 1 a fault was injected, -1 the
 * run cannot go on).
 */
#ifndef SOFTVMM_RUNNER_TS_INTERNAL_H
#define SOFTVMM_RUNNER_TS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <softvmm/vmm.h>

/* The 32-bit TSS (SDM vol. 3 7.2.1, figure 7-2), 104 bytes. */
struct tss32 {
	uint16_t link, rsvd1;
	uint32_t esp0;
	uint16_t ss0, rsvd2;
	uint32_t esp1;
	uint16_t ss1, rsvd3;
	uint32_t esp2;
	uint16_t ss2, rsvd4;
	uint32_t cr3, eip, eflags;
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint16_t es, rsvd5, cs, rsvd6, ss, rsvd7, ds, rsvd8, fs, rsvd9, gs, rsvd10;
	uint16_t ldt, rsvd11, trap, iomap;
};
_Static_assert(sizeof(struct tss32) == 104, "32-bit TSS layout");

/* System descriptor types with the S bit (bit 4) included, as bhyve's sd_type. */
#define TS_SDT_SYSLDT    0x02
#define TS_SDT_SYS286TSS 0x01
#define TS_SDT_SYS286BSY 0x03
#define TS_SDT_SYS386TSS 0x09
#define TS_SDT_SYS386BSY 0x0b
#define TS_TYPE_BUSY     0x02 /* the busy bit of a TSS type */

#define TS_RFLAGS_NT 0x4000u
#define TS_CR0_TS    0x8u

#define TS_SEL_TI(sel)  (((sel)&0x4) != 0)
#define TS_SEL_IDX(sel) ((sel) >> 3)

enum { TS_OK = 0, TS_FAULTED = 1, TS_FAILED = -1 };

struct ts_ctx {
	struct vm *vm;
	int vcpu;
	struct vm_task_switch *ts; /* the exit's payload; paging is updated as the switch goes */
	int err;                   /* first failed register access (errno), sticky */
};

/* Register access that records the first failure in c->err (bhyve asserts instead). */
uint64_t ts_getreg(struct ts_ctx *c, int reg);
void ts_setreg(struct ts_ctx *c, int reg, uint64_t val);
struct seg_desc ts_getdesc(struct ts_ctx *c, int reg);
void ts_setdesc(struct ts_ctx *c, int reg, struct seg_desc d);

/* ts_desc.c: raw 8-byte descriptors and the GDT/LDT. */
struct seg_desc ts_desc_to_seg(uint64_t d);
unsigned ts_desc_type(uint64_t d); /* bits 44:40: type and S */
void ts_sel_exception(struct ts_ctx *c, int vector, uint16_t sel, int ext);
bool ts_desc_table_limit_ok(struct ts_ctx *c, uint16_t sel);
int ts_desc_read(struct ts_ctx *c, uint16_t sel, uint64_t *d);
int ts_desc_write(struct ts_ctx *c, uint16_t sel, uint64_t d);
int ts_read_tss_descriptor(struct ts_ctx *c, uint16_t sel, uint64_t *d);

/* ts_segs.c: validate and load the new task's LDTR and segment registers. */
int ts_load_segments(struct ts_ctx *c, uint16_t cs_sel);

/* ts_tss.c: the old task's state out, the new task's in, the error code. */
void ts_tss32_save(struct ts_ctx *c, uint32_t eip, struct tss32 *tss, struct vm_copyinfo *iov);
int ts_tss32_restore(struct ts_ctx *c, uint16_t old_sel, struct tss32 *tss,
                     struct vm_copyinfo *iov);
int ts_push_errcode(struct ts_ctx *c, unsigned tss_type, uint32_t errcode);

#endif
