/*
 * The task switch (see task_switch.h), in the order of bhyverun's
 * vmexit_task_switch; the rules are SDM vol. 3 7.3 and the TASK-GATE and
 * TASK-STATE-SEGMENT paths of JMP, CALL, IRET and INT n.
 */
#include "runner/task_switch.h"

#include <errno.h>
#include <inttypes.h>

#include "runner/ts_internal.h"

/* What the exit's reason makes of the switch. */
static bool reason_valid(enum task_switch_reason r)
{
	return r == TSR_CALL || r == TSR_IRET || r == TSR_JMP || r == TSR_IDT_GATE;
}

/*
 * The new TSS descriptor (SDM 7.3 steps 2-4, bhyve's checks in
 * vmexit_task_switch): a TSS type, else #TS; present, else #NP; at least
 * 104 bytes (32-bit) or 44 (16-bit), else #TS; busy for IRET (#TS),
 * available for the others (#GP).  Returns 0 with *minlimit, or 1.
 */
static int check_new_tss(struct ts_ctx *c, uint16_t sel, uint64_t d, uint32_t *minlimit)
{
	const unsigned type = ts_desc_type(d);
	const int ext = c->ts->ext;
	const bool tss32 = type == TS_SDT_SYS386TSS || type == TS_SDT_SYS386BSY;
	const bool tss16 = type == TS_SDT_SYS286TSS || type == TS_SDT_SYS286BSY;
	const bool busy = (type & TS_TYPE_BUSY) != 0;
	const struct seg_desc nt = ts_desc_to_seg(d);
	int vector = -1;
	if (!tss32 && !tss16)
		vector = IDT_TS;
	else if (!SEG_DESC_PRESENT(nt.access))
		vector = IDT_NP;
	else if (nt.limit < (tss32 ? 103u : 43u))
		vector = IDT_TS;
	else if (c->ts->reason == TSR_IRET && !busy)
		vector = IDT_TS;
	else if (c->ts->reason != TSR_IRET && busy)
		vector = IDT_GP;
	if (vector >= 0) {
		ts_sel_exception(c, vector, sel, ext);
		return TS_FAULTED;
	}
	*minlimit = tss32 ? 103u : 43u;
	return TS_OK;
}

/* Map a TSS for reading and writing at CPL 0 and read its first 'len' bytes. */
static int map_tss(struct ts_ctx *c, uint64_t base, uint32_t len, struct vm_copyinfo *iov,
                   struct tss32 *tss)
{
	struct vm_guest_paging sup = c->ts->paging;
	sup.cpl = 0; /* TSS accesses are implicitly supervisor (SDM vol. 3 4.6) */
	int r =
	    vm_copy_setup(c->vm, c->vcpu, &sup, base, len, VM_PROT_READ | VM_PROT_WRITE, iov, 2);
	if (r != 0)
		return r == 1 ? TS_FAULTED : TS_FAILED;
	vm_copyin(c->vm, c->vcpu, iov, tss, len);
	return TS_OK;
}

/*
 * Everything up to the commit point: checks, the old TSS saved, the busy
 * bits, TR and CR0.TS.  Faults here are taken at the instruction that
 * switched (inst_length is already 0).
 */
static int switch_out(struct ts_ctx *c, uint32_t eip, uint64_t *nt_desc, struct tss32 *newtss,
                      struct vm_copyinfo *nt_iov, uint16_t *ot_sel)
{
	const uint16_t nt_sel = c->ts->tsssel;
	const enum task_switch_reason reason = c->ts->reason;
	uint32_t minlimit = 0;
	int r = ts_read_tss_descriptor(c, nt_sel, nt_desc);
	if (r == TS_OK)
		r = check_new_tss(c, nt_sel, *nt_desc, &minlimit);
	if (r == TS_OK)
		r = map_tss(c, ts_desc_to_seg(*nt_desc).base, minlimit + 1, nt_iov, newtss);
	if (r != TS_OK)
		return r;

	/* The old task: TR must hold a GDT selector (power-on TR is null), #TS. */
	*ot_sel = (uint16_t)ts_getreg(c, VM_REG_GUEST_TR);
	struct seg_desc tr = ts_getdesc(c, VM_REG_GUEST_TR);
	if (c->err != 0)
		return TS_FAILED;
	if (TS_SEL_TI(*ot_sel) || TS_SEL_IDX(*ot_sel) == 0) {
		ts_sel_exception(c, IDT_TS, *ot_sel, c->ts->ext);
		return TS_FAULTED;
	}
	unsigned ot_type = SEG_DESC_TYPE(tr.access);
	if (SEG_DESC_UNUSABLE(tr.access) || !SEG_DESC_PRESENT(tr.access) ||
	    (ot_type != TS_SDT_SYS386BSY && ot_type != TS_SDT_SYS286BSY))
		return TS_FAILED; /* TR is always a busy TSS (bhyve asserts) */
	uint64_t ot_desc;
	r = ts_read_tss_descriptor(c, *ot_sel, &ot_desc);
	struct vm_copyinfo ot_iov[2];
	struct tss32 oldtss;
	if (r == TS_OK)
		r = map_tss(c, tr.base, minlimit + 1, ot_iov, &oldtss);
	if (r != TS_OK)
		return r;
	/* JMP and IRET leave the old task: its descriptor becomes available (SDM 7.3 step 7). */
	if (reason == TSR_IRET || reason == TSR_JMP) {
		r = ts_desc_write(c, *ot_sel, ot_desc & ~((uint64_t)TS_TYPE_BUSY << 40));
		if (r != TS_OK)
			return r;
	}
	if (minlimit != 103u)
		return -ENOTSUP; /* bhyve: "Task switch to 16-bit TSS not supported" */

	ts_tss32_save(c, eip, &oldtss, ot_iov);
	vm_copy_teardown(c->vm, c->vcpu, ot_iov, 2);
	/* Every reason but IRET marks the new task busy (SDM 7.3 step 10). */
	if (reason != TSR_IRET) {
		*nt_desc |= (uint64_t)TS_TYPE_BUSY << 40;
		r = ts_desc_write(c, nt_sel, *nt_desc);
		if (r != TS_OK)
			return r;
	}
	/* TR and its hidden part; CR0.TS (SDM 7.3 steps 11 and 12, 2.5). */
	ts_setreg(c, VM_REG_GUEST_TR, nt_sel);
	ts_setdesc(c, VM_REG_GUEST_TR, ts_desc_to_seg(*nt_desc));
	ts_setreg(c, VM_REG_GUEST_CR0, ts_getreg(c, VM_REG_GUEST_CR0) | TS_CR0_TS);
	return c->err != 0 ? TS_FAILED : TS_OK;
}

static int fail(FILE *diag, const struct vm_exit *vme, int err, const char *why)
{
	if (diag != NULL)
		fprintf(diag,
		        "softvmm: task switch to TSS selector 0x%x at rip 0x%" PRIx64 ": %s\n",
		        (unsigned)vme->u.task_switch.tsssel, vme->rip, why);
	return err;
}

int task_switch_emulate(struct vm *vm, int vcpu, struct vm_exit *vme, FILE *diag)
{
	struct vm_task_switch *ts = &vme->u.task_switch;
	if (vme->exitcode != VM_EXITCODE_TASK_SWITCH || !reason_valid(ts->reason) ||
	    ts->paging.cpu_mode != CPU_MODE_PROTECTED)
		return fail(diag, vme, EINVAL, "not a protected-mode task switch");
	struct ts_ctx c = {vm, vcpu, ts, 0};
	/* The old task resumes after the instruction, or at the faulting one;
	 * a fault in the switch restarts it (inst_length 0). */
	const uint32_t eip = (uint32_t)(vme->rip + (uint64_t)vme->inst_length);
	vme->inst_length = 0;

	uint64_t nt_desc = 0;
	struct tss32 newtss;
	struct vm_copyinfo nt_iov[2];
	uint16_t ot_sel = 0;
	int r = switch_out(&c, eip, &nt_desc, &newtss, nt_iov, &ot_sel);
	if (r == -ENOTSUP)
		return fail(diag, vme, ENOTSUP, "a 16-bit TSS is not supported (as bhyve)");
	if (r == TS_FAULTED)
		return 0;
	if (r != TS_OK)
		return fail(diag, vme, c.err != 0 ? c.err : EFAULT,
		            "a TSS or descriptor is not guest RAM");

	/* Committed: from here a fault belongs to the new task. */
	vme->rip = newtss.eip;
	r = ts_tss32_restore(&c, ot_sel, &newtss, nt_iov);
	vm_copy_teardown(vm, vcpu, nt_iov, 2);
	if (r == TS_OK && ts->errcode_valid)
		r = ts_push_errcode(&c, ts_desc_type(nt_desc), ts->errcode);
	if (r == TS_FAILED)
		return fail(diag, vme, c.err != 0 ? c.err : EFAULT,
		            "the new task's state is not guest RAM");
	/* The event that switched is delivered: nothing left in exitintinfo. */
	if (r == TS_OK && ts->reason == TSR_IDT_GATE)
		(void)vm_exit_intinfo(vm, vcpu, 0);
	return 0;
}
