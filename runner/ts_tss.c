/*
 * Task switch: the 32-bit TSS (SDM vol. 3 7.2.1).  Saving the old task
 * (SDM 7.3 step 9; bhyve's tss32_save), loading the new one (steps 11-13;
 * bhyve's tss32_restore) and pushing the event's error code on the new
 * task's stack (SDM 6.11.1 "Interrupt Tasks", 6.13; bhyve's push_errcode).
 */
#include "runner/ts_internal.h"

#include <softvmm/vmm_instruction_emul.h>

static const int gpr_regs[8] = {VM_REG_GUEST_RAX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX,
                                VM_REG_GUEST_RBX, VM_REG_GUEST_RSP, VM_REG_GUEST_RBP,
                                VM_REG_GUEST_RSI, VM_REG_GUEST_RDI};
static const int seg_regs[6] = {VM_REG_GUEST_ES, VM_REG_GUEST_CS, VM_REG_GUEST_SS,
                                VM_REG_GUEST_DS, VM_REG_GUEST_FS, VM_REG_GUEST_GS};

static uint32_t *tss_gpr(struct tss32 *t, int i)
{
	uint32_t *p[8] = {&t->eax, &t->ecx, &t->edx, &t->ebx, &t->esp, &t->ebp, &t->esi, &t->edi};
	return p[i];
}

static uint16_t *tss_seg(struct tss32 *t, int i)
{
	uint16_t *p[6] = {&t->es, &t->cs, &t->ss, &t->ds, &t->fs, &t->gs};
	return p[i];
}

/*
 * The dynamic fields: general registers, selectors, EFLAGS (NT cleared
 * when an IRET leaves the task, SDM 7.4) and EIP = the instruction after
 * the one that switched, or the faulting one (the exit's rip +
 * inst_length).  CR3, LDT and the static fields are not saved (SDM 7.3).
 */
void ts_tss32_save(struct ts_ctx *c, uint32_t eip, struct tss32 *tss, struct vm_copyinfo *iov)
{
	for (int i = 0; i < 8; i++)
		*tss_gpr(tss, i) = (uint32_t)ts_getreg(c, gpr_regs[i]);
	for (int i = 0; i < 6; i++)
		*tss_seg(tss, i) = (uint16_t)ts_getreg(c, seg_regs[i]);
	tss->eflags = (uint32_t)ts_getreg(c, VM_REG_GUEST_RFLAGS);
	if (c->ts->reason == TSR_IRET)
		tss->eflags &= ~TS_RFLAGS_NT;
	tss->eip = eip;
	vm_copyout(c->vm, c->vcpu, tss, iov, sizeof(*tss));
}

/*
 * PAE: the four PDPTEs at CR3 & ~0x1f are loaded with CR3; a present one
 * with reserved bits set is #GP(0) (SDM vol. 3 4.4.1; bhyve's
 * tss32_restore, which assumes MAXPHYADDR 36).  -1 when they are not RAM.
 */
static int load_pdptes(struct ts_ctx *c, uint32_t cr3)
{
	void *cookie;
	const uint64_t *p = vm_gpa_hold(c->vm, cr3 & ~0x1fu, 32, VM_PROT_READ, &cookie);
	if (p == NULL)
		return TS_FAILED;
	uint64_t pdpte[4];
	for (int i = 0; i < 4; i++)
		pdpte[i] = p[i];
	vm_gpa_release(cookie);
	const uint64_t reserved = ~((1ull << 36) - 1) | 0x1e6;
	for (int i = 0; i < 4; i++) {
		if ((pdpte[i] & 1) && (pdpte[i] & reserved)) {
			vm_inject_gp(c->vm, c->vcpu);
			return TS_FAULTED;
		}
	}
	for (int i = 0; i < 4; i++)
		ts_setreg(c, VM_REG_GUEST_PDPTE0 + i, pdpte[i]);
	return TS_OK;
}

/*
 * The new task's state.  CALL and events through a task gate nest the new
 * task: its link field gets the old TSS selector and EFLAGS.NT is set (SDM
 * vol. 3 7.4).  LDTR's selector, CR3 (only with paging on), EFLAGS, EIP,
 * the general registers and the selectors are loaded; a nested TSS is
 * written back for its link; then the descriptors are checked and loaded
 * (ts_load_segments).  Faults from here on belong to the new task.
 */
int ts_tss32_restore(struct ts_ctx *c, uint16_t old_sel, struct tss32 *tss, struct vm_copyinfo *iov)
{
	bool nested = c->ts->reason != TSR_IRET && c->ts->reason != TSR_JMP;
	uint32_t eflags = tss->eflags;
	if (nested) {
		tss->link = old_sel;
		eflags |= TS_RFLAGS_NT;
	}
	ts_setreg(c, VM_REG_GUEST_LDTR, tss->ldt);
	if (c->ts->paging.paging_mode != PAGING_MODE_FLAT) {
		if (c->ts->paging.paging_mode == PAGING_MODE_PAE) {
			int r = load_pdptes(c, tss->cr3);
			if (r != TS_OK)
				return r;
		}
		ts_setreg(c, VM_REG_GUEST_CR3, tss->cr3);
		c->ts->paging.cr3 = tss->cr3;
	}
	ts_setreg(c, VM_REG_GUEST_RFLAGS, eflags);
	ts_setreg(c, VM_REG_GUEST_RIP, tss->eip);
	for (int i = 0; i < 8; i++)
		ts_setreg(c, gpr_regs[i], *tss_gpr(tss, i));
	for (int i = 0; i < 6; i++)
		ts_setreg(c, seg_regs[i], *tss_seg(tss, i));
	if (c->err != 0)
		return TS_FAILED;
	if (nested)
		vm_copyout(c->vm, c->vcpu, tss, iov, sizeof(*tss));
	return ts_load_segments(c, tss->cs);
}

/*
 * The error code of the event that switched tasks, pushed on the new
 * task's stack: a doubleword for a 32-bit TSS, a word for a 16-bit one
 * (SDM vol. 3 6.13), with SS.B choosing ESP or SP (SDM PUSH).  A stack
 * check failure is #SS(SS selector | EXT), a misaligned push at CPL 3 with
 * alignment checking #AC(EXT) (bhyve's push_errcode).
 */
int ts_push_errcode(struct ts_ctx *c, unsigned tss_type, uint32_t errcode)
{
	uint64_t cr0 = ts_getreg(c, VM_REG_GUEST_CR0);
	uint64_t rflags = ts_getreg(c, VM_REG_GUEST_RFLAGS);
	uint16_t ss_sel = (uint16_t)ts_getreg(c, VM_REG_GUEST_SS);
	struct seg_desc ss = ts_getdesc(c, VM_REG_GUEST_SS);
	uint32_t esp = (uint32_t)ts_getreg(c, VM_REG_GUEST_RSP);
	if (c->err != 0)
		return TS_FAILED;
	int bytes = (tss_type == TS_SDT_SYS386TSS || tss_type == TS_SDT_SYS386BSY) ? 4 : 2;
	int stacksize = SEG_DESC_DEF32(ss.access) ? 4 : 2;
	esp -= (uint32_t)bytes;
	struct vm_guest_paging *pg = &c->ts->paging;
	uint64_t gla;
	if (vie_calculate_gla(pg->cpu_mode, VM_REG_GUEST_SS, &ss, esp, bytes, stacksize,
	                      VM_PROT_WRITE, &gla) != 0) {
		ts_sel_exception(c, IDT_SS, ss_sel, 1);
		return TS_FAULTED;
	}
	if (vie_alignment_check(pg->cpl, bytes, cr0, rflags, gla)) {
		vm_inject_ac(c->vm, c->vcpu, 1);
		return TS_FAULTED;
	}
	struct vm_copyinfo iov[2];
	int r = vm_copy_setup(c->vm, c->vcpu, pg, gla, (size_t)bytes, VM_PROT_WRITE, iov, 2);
	if (r != 0)
		return r == 1 ? TS_FAULTED : TS_FAILED;
	uint8_t le[4] = {(uint8_t)errcode, (uint8_t)(errcode >> 8), (uint8_t)(errcode >> 16),
	                 (uint8_t)(errcode >> 24)};
	vm_copyout(c->vm, c->vcpu, le, iov, (size_t)bytes);
	vm_copy_teardown(c->vm, c->vcpu, iov, 2);
	ts_setreg(c, VM_REG_GUEST_RSP, esp);
	return c->err != 0 ? TS_FAILED : TS_OK;
}
