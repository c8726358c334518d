/*
 * Exceptions and interrupts: raising, the double-fault rules (SDM vol. 3
 * 6.15, table 6-5), delivery through the real-mode IVT (SDM 20.1.4) and
 * the protected-mode and IA-32e IDT (SDM 6.12, 6.14), and exits.
 */
#include <Zydis/Zydis.h>

#include "core/cpu/cpu.h"
#include "core/cpu/far.h"
#include "core/cpu/step.h"
#include "core/cpu/vme.h"
#include "core/exc_class.h"

int cpu_raise(struct cpu *c, int vector, bool has_error, uint32_t error)
{
	c->exc.vector = (uint8_t)vector;
	c->exc.has_error = has_error;
	c->exc.error = error;
	c->exc.hw_intr = false;
	c->exc.soft_type = 0;
	c->exc_pending = true;
	c->stop = STOP_EXCEPTION;
	return EXEC_STOP;
}

int cpu_raise_pf(struct cpu *c, uint64_t la, uint32_t error)
{
	c->cr2 = la;
	return cpu_raise(c, IDT_PF, true, error);
}

struct vm_exit *cpu_begin_exit(struct cpu *c, enum vm_exitcode code, int inst_length)
{
	struct vm_exit *vme = c->exit;
	memset(vme, 0, sizeof(*vme));
	vme->exitcode = code;
	vme->rip = c->rip;
	vme->inst_length = inst_length;
	c->stop = STOP_EXIT;
	return vme;
}

/* bhyve's vmx_paging_info (BHYVE-EXITS.md section 3). */
void cpu_paging_info(const struct cpu *c, struct vm_guest_paging *p)
{
	p->cr3 = c->cr3;
	p->cpl = (int)SEG_DESC_DPL(c->seg[SEG_SS].d.access);
	if ((c->efer & EFER_LMA) && (c->seg[SEG_CS].d.access & SEGA_L))
		p->cpu_mode = CPU_MODE_64BIT;
	else if (c->efer & EFER_LMA)
		p->cpu_mode = CPU_MODE_COMPATIBILITY;
	else if (c->cr0 & CR0_PE)
		p->cpu_mode = CPU_MODE_PROTECTED;
	else
		p->cpu_mode = CPU_MODE_REAL;
	if (!(c->cr0 & CR0_PG))
		p->paging_mode = PAGING_MODE_FLAT;
	else if (!(c->cr4 & CR4_PAE))
		p->paging_mode = PAGING_MODE_32;
	else if (c->efer & EFER_LME)
		p->paging_mode = PAGING_MODE_64;
	else
		p->paging_mode = PAGING_MODE_PAE;
}

/* Real mode: IVT entry at IDTR.base + 4*vector, 16-bit frame (SDM 20.1.4). */
static int deliver_real(struct cpu *c, unsigned vector, uint64_t ret_ip)
{
	if (vector * 4 + 3 > c->idtr.limit)
		return cpu_raise(c, IDT_GP, true, vector * 8 + 2);
	uint8_t ent[4];
	if (cpu_read_linear(c, c->idtr.base + vector * 4, ent, 4))
		return EXEC_STOP;
	uint16_t flags = (uint16_t)cpu_get_rflags(c);
	if (cpu_push(c, 2, flags) || cpu_push(c, 2, c->seg[SEG_CS].sel) || cpu_push(c, 2, ret_ip))
		return EXEC_STOP;
	c->rflags &= ~(uint64_t)(RF_IF | RF_TF | RF_AC | RF_RF);
	cpu_load_seg_real(c, SEG_CS, (uint16_t)(ent[2] | ent[3] << 8));
	c->rip = (uint16_t)(ent[0] | ent[1] << 8);
	return 0;
}

static uint64_t desc_base(uint64_t d)
{
	return ((d >> 16) & 0xffffff) | ((d >> 56) << 24);
}

/*
 * The fault-class exceptions of SDM vol. 3 table 6-1.  When one of them
 * calls its handler, the EFLAGS image pushed has RF set (SDM vol. 3
 * 17.3.1.1), so that the IRET that restarts the faulting instruction does
 * not take an instruction breakpoint on it again.  #DB (a fault only for
 * instruction breakpoints, which push RF as it is), the traps, the aborts
 * (#DF, #MC) and interrupts push RF as it is.
 */
static bool pushes_rf_set(unsigned vector)
{
	switch (vector) {
	case IDT_DE:
	case IDT_BR:
	case IDT_UD:
	case IDT_NM:
	case IDT_FPUGP: /* coprocessor segment overrun */
	case IDT_TS:
	case IDT_NP:
	case IDT_SS:
	case IDT_GP:
	case IDT_PF:
	case IDT_MF:
	case IDT_AC:
	case IDT_XF:
	case 20: /* #VE */
	case 21: /* #CP */
		return true;
	default:
		return false;
	}
}

/*
 * The intinfo word of an event being delivered (BHYVE-EXITS.md section 9;
 * SDM vol. 3 24.9.3, IDT-vectoring information): an ExtINT, the NMI, a
 * hardware exception with its error code, or an injected software event
 * with its own type.
 */
static uint64_t event_intinfo(const struct pending_exception *e)
{
	uint64_t type = e->soft_type  ? (uint64_t)e->soft_type << 8
	                : !e->hw_intr ? VM_INTINFO_HWEXCEPTION
	                : e->nmi      ? VM_INTINFO_NMI
	                              : VM_INTINFO_HWINTR;
	uint64_t info = e->vector | type | VM_INTINFO_VALID;
	if (e->has_error)
		info |= VM_INTINFO_DEL_ERRCODE | (uint64_t)e->error << 32;
	return info;
}

/* The intinfo types of software events (SDM vol. 3 24.9.3): INT n is a
 * software interrupt, INT1 (ICEBP) a privileged software exception, INT3
 * and INTO software exceptions.  'soft' parameters below hold one of them
 * shifted down (4, 5, 6), or 0 for a hardware event. */
#define SOFT_INTR     (VM_INTINFO_SWINTR >> 8)
#define SOFT_PRIV_EXC 5u
#define SOFT_EXC      6u

/*
 * A task gate in the IDT (SDM INT n "TASK-GATE", vol. 3 6.11.1, 7.3): the
 * TSS selector must name an available TSS in the GDT that is present and
 * large enough (the checks made before a VM exit for a task switch, SDM
 * vol. 3 25.4.2), then bhyve's TASK_SWITCH exit, reason IDT_GATE
 * (BHYVE-EXITS.md section 6): for a hardware event ext = 1, inst_length 0
 * and the event's error code; for a software event (INT n, INT1, INT3,
 * INTO, or one injected with such a type) ext = 0 and the instruction's
 * length.  The event is consumed: the task switch delivers it
 * (cpu_deliver_pending drops it from the pending slot).  As for every
 * exit with valid IDT-vectoring information, the event is reported as the
 * exit's intinfo (bhyve's vmx_run calls vm_exit_intinfo), which the task
 * switch clears when it completes and which combines with a fault it
 * injects (nested_fault).
 */
static int deliver_task_gate(struct cpu *c, unsigned vector, uint64_t gate, bool has_err,
                             uint32_t err, uint64_t ret_ip, bool ext, unsigned soft)
{
	uint16_t tss = (uint16_t)(gate >> 16);
	uint32_t terr = (tss & ~3u) | (ext ? 1 : 0);
	if (tss & 4)
		return cpu_raise(c, IDT_GP, true, terr);
	uint64_t d[2], addr;
	if (far_read_desc(c, tss, false, IDT_GP, ext ? 1 : 0, d, &addr))
		return EXEC_STOP;
	unsigned type = desc_type(d[0]);
	if (desc_s(d[0]) || (type != DT_TSS32_AVAIL && type != DT_TSS16_AVAIL))
		return cpu_raise(c, IDT_GP, true, terr);
	if (!desc_p(d[0]))
		return cpu_raise(c, IDT_NP, true, terr);
	if (far_desc_limit(d[0]) < (type == DT_TSS32_AVAIL ? 0x67u : 0x2bu))
		return cpu_raise(c, IDT_TS, true, terr);
	far_task_switch_exit(c, tss, TSR_IDT_GATE, soft ? (int)(ret_ip - c->rip) : 0);
	c->exit_intinfo =
	    soft ? vector | (uint64_t)soft << 8 | VM_INTINFO_VALID : event_intinfo(&c->exc);
	c->exit_intinfo_len = soft ? (uint8_t)(ret_ip - c->rip) : 0;
	if (!soft) {
		c->exit->u.task_switch.ext = 1;
		c->exit->u.task_switch.errcode_valid = has_err;
		c->exit->u.task_switch.errcode = has_err ? err : 0;
	}
	return EXEC_STOP;
}

/* Null selectors in GS, FS, DS and ES: unusable, base and limit 0. */
static void null_data_segs(struct cpu *c)
{
	static const int segs[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
	for (unsigned k = 0; k < 4; k++) {
		struct segreg *s = &c->seg[segs[k]];
		s->sel = 0;
		s->d.base = 0;
		s->d.limit = 0;
		s->d.access = SEGA_UNUSABLE;
		cpu_seg_bounds(c, s);
	}
}

/*
 * Protected-mode and IA-32e delivery through an interrupt or trap gate,
 * to the same or a more privileged level (stack from the TSS, SDM 6.12.1),
 * or through a task gate (deliver_task_gate).  'fault': the event is a
 * fault-class exception, whose pushed EFLAGS have RF set (pushes_rf_set).
 */
static int deliver_prot(struct cpu *c, unsigned vector, bool has_err, uint32_t err, uint64_t ret_ip,
                        bool ext, bool fault, unsigned soft)
{
	bool lm = (c->efer & EFER_LMA) != 0;
	unsigned gsz = lm ? 16 : 8;
	uint32_t idt_err = vector * 8 + 2 + (ext ? 1 : 0);
	if (vector * gsz + gsz - 1 > c->idtr.limit)
		return cpu_raise(c, IDT_GP, true, idt_err);
	uint8_t g[16] = {0};
	if (cpu_read_linear(c, c->idtr.base + vector * gsz, g, gsz))
		return EXEC_STOP;
	uint64_t lo, hi = 0;
	memcpy(&lo, g, 8);
	memcpy(&hi, g + 8, 8);
	unsigned type = (lo >> 40) & 0xf, gate_dpl = (lo >> 45) & 3;
	bool gate32 = type == 0xe || type == 0xf;
	bool gate16 = !lm && (type == 0x6 || type == 0x7);
	bool task = !lm && type == DT_TASKGATE;
	if (!gate32 && !gate16 && !task)
		return cpu_raise(c, IDT_GP, true, idt_err);
	/* INT n, INT3, INTO: the gate's DPL must allow the CPL (SDM 6.12.1.1). */
	if (!ext && gate_dpl < (unsigned)c->cpl)
		return cpu_raise(c, IDT_GP, true, idt_err);
	if (!((lo >> 47) & 1))
		return cpu_raise(c, IDT_NP, true, idt_err);
	if (task)
		return deliver_task_gate(c, vector, lo, has_err, err, ret_ip, ext, soft);
	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull);
	if (lm)
		off |= (hi & 0xffffffffull) << 32;
	/* Target code segment descriptor. */
	if ((sel & ~3) == 0)
		return cpu_raise(c, IDT_GP, true, ext ? 1 : 0);
	uint64_t tbase = (sel & 4) ? c->ldtr.d.base : c->gdtr.base;
	uint32_t tlimit = (sel & 4) ? c->ldtr.d.limit : c->gdtr.limit;
	if ((sel & ~7u) + 7 > tlimit)
		return cpu_raise(c, IDT_GP, true, (sel & ~3u) | ext);
	uint64_t d;
	if (cpu_read_linear(c, tbase + (sel & ~7u), &d, 8))
		return EXEC_STOP;
	unsigned cdpl = (d >> 45) & 3;
	if (!((d >> 43) & 1) || !((d >> 44) & 1) || cdpl > (unsigned)c->cpl)
		return cpu_raise(c, IDT_GP, true, (sel & ~3u) | ext);
	if (!((d >> 47) & 1))
		return cpu_raise(c, IDT_NP, true, (sel & ~3u) | ext);
	bool conforming = (d >> 42) & 1;
	/* From virtual-8086 mode the handler must run at CPL 0 in a
	 * non-conforming segment, else #GP(selector) (SDM INT n,
	 * "INTERRUPT-FROM-VIRTUAL-8086-MODE"; vol. 3 20.3.1.1). */
	bool v86 = (c->rflags & RF_VM) != 0;
	if (v86 && (conforming || cdpl != 0))
		return cpu_raise(c, IDT_GP, true, (sel & ~3u) | ext);
	unsigned new_cpl = conforming ? (unsigned)c->cpl : cdpl;
	uint64_t rflags = cpu_get_rflags(c) | (fault ? RF_RF : 0);
	uint16_t old_ss = c->seg[SEG_SS].sel, old_cs = c->seg[SEG_CS].sel;
	uint64_t old_sp = c->gpr[4].q;
	unsigned ist = lm ? (unsigned)((lo >> 32) & 7) : 0; /* 64-bit gate's IST field */
	bool stack_switch = new_cpl < (unsigned)c->cpl || ist;
	unsigned psz = lm ? 8 : (gate32 ? 4 : 2);
	if (stack_switch) {
		/* The inner stack from the TSS, SS checked against the new CPL
		 * (SDM 6.12.1 "stack switch", 6.14.4-6.14.5); a fault rolls the
		 * whole delivery back (delivery_snapshot). */
		uint64_t nsp;
		uint16_t nss;
		if (far_tss_stack(c, new_cpl, ist, ext, &nss, &nsp))
			return EXEC_STOP;
		if (lm)
			nsp &= ~0xfull;
		if (new_cpl < (unsigned)c->cpl && far_load_inner_ss(c, nss, new_cpl, ext))
			return EXEC_STOP;
		c->gpr[4].q = nsp;
		cpu_seg_bounds(c, &c->seg[SEG_SS]);
	} else if (lm) {
		c->gpr[4].q &= ~0xfull;
	}
	/* Load CS from the descriptor read above before the frame is pushed:
	 * in IA-32e mode the frame is pushed as 64-bit mode pushes, whatever
	 * mode the interrupted code ran in (compatibility mode included). */
	struct segreg *cs = &c->seg[SEG_CS];
	cs->sel = (uint16_t)((sel & ~3u) | new_cpl);
	cs->d.base = desc_base(d);
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if ((d >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	cs->d.limit = limit;
	cs->d.access =
	    (uint32_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12)) | SEGA_TYPE_ACCESSED;
	c->cpl = (int)new_cpl;
	/* Leaving virtual-8086 mode: VM is cleared before the pushes, which
	 * are protected-mode pushes on the ring-0 stack (the EFLAGS image,
	 * taken above, keeps VM = 1). */
	c->rflags &= ~(uint64_t)RF_VM;
	cpu_update_mode(c);
	/* The virtual-8086 frame starts with GS, FS, DS and ES, each in a
	 * slot of the gate's size (SDM vol. 3 20.3.1.1 and figure 20-4; INT n
	 * "INTERRUPT-FROM-VIRTUAL-8086-MODE"). */
	if (v86) {
		static const int v86_segs[] = {SEG_GS, SEG_FS, SEG_DS, SEG_ES};
		for (unsigned k = 0; k < 4; k++)
			if (cpu_push(c, psz, c->seg[v86_segs[k]].sel))
				return EXEC_STOP;
	}
	if (lm || stack_switch) {
		if (cpu_push(c, psz, old_ss) || cpu_push(c, psz, old_sp))
			return EXEC_STOP;
	}
	if (cpu_push(c, psz, rflags) || cpu_push(c, psz, old_cs) || cpu_push(c, psz, ret_ip))
		return EXEC_STOP;
	if (has_err && cpu_push(c, psz, err))
		return EXEC_STOP;
	/* Interrupt gates clear IF; both clear TF, NT, RF and VM (SDM 6.12.1.2). */
	uint64_t clr = RF_TF | RF_NT | RF_RF | RF_VM;
	if ((type & 1) == 0)
		clr |= RF_IF;
	c->rflags &= ~clr;
	c->rip = gate16 ? (off & 0xffff) : off;
	/* From virtual-8086 mode GS, FS, DS and ES are loaded with null
	 * selectors once the frame is pushed (SDM INT n: "GS <- 0; FS <- 0;
	 * DS <- 0; ES <- 0"). */
	if (v86)
		null_data_segs(c);
	/* No TLB flush: cpu_update_mode above selected the soft TLB's entries
	 * for the handler's CPL class (tlbctl.c), and the SDM invalidates
	 * nothing on event delivery. */
	return 0;
}

/* What delivery changes, kept so a delivery that faults halfway leaves the
 * vcpu as it was: the next event (or #DF) starts from the same state. */
struct delivery_snapshot {
	uint64_t rsp, rip, rflags;
	struct lazy_flags lf;
	struct segreg cs, ss;
	int cpl;
};

static void snapshot_take(const struct cpu *c, struct delivery_snapshot *s)
{
	s->rsp = c->gpr[4].q;
	s->rip = c->rip;
	s->rflags = c->rflags;
	s->lf = c->lf;
	s->cs = c->seg[SEG_CS];
	s->ss = c->seg[SEG_SS];
	s->cpl = c->cpl;
}

static void snapshot_restore(struct cpu *c, const struct delivery_snapshot *s)
{
	c->gpr[4].q = s->rsp;
	c->rip = s->rip;
	c->rflags = s->rflags;
	c->lf = s->lf;
	c->seg[SEG_CS] = s->cs;
	c->seg[SEG_SS] = s->ss;
	c->cpl = s->cpl;
	cpu_update_mode(c);
}

/* Deliver one event from return address ret_ip; 0 when done, EXEC_STOP
 * (state unchanged) when something stopped it.  The real-mode frame holds
 * only FLAGS' low 16 bits, so RF is never in it. */
static int deliver(struct cpu *c, unsigned vector, bool has_err, uint32_t err, bool ext,
                   uint64_t ret_ip, bool fault, unsigned soft)
{
	struct delivery_snapshot snap;
	snapshot_take(c, &snap);
	int r = (c->cr0 & CR0_PE) ? deliver_prot(c, vector, has_err, err, ret_ip, ext, fault, soft)
	                          : deliver_real(c, vector, ret_ip);
	if (r) {
		snapshot_restore(c, &snap);
		return r;
	}
	/* A delivered event ends blocking by STI or MOV SS (SDM vol. 3 6.8.3)
	 * and drops a single-step trap not yet taken: the handler starts
	 * with TF = 0, and the interrupted code's TF comes back with IRET
	 * (SDM vol. 3 17.3.1.4; INT n and INTO clear TF). */
	c->interrupt_shadow = 0;
	c->dbg_step &= (uint8_t)~STEP_TRAP;
	return 0;
}

/*
 * Deliver c->exc.  A fault raised while delivering is combined with the
 * first by SDM table 6-5: contributory + contributory or page fault +
 * non-benign gives #DF; a fault while delivering #DF is a triple fault.
 * Returns 1 when the run must stop with c->exit filled in.
 */
int cpu_deliver_pending(struct cpu *c)
{
	for (;;) {
		struct pending_exception first = c->exc;
		c->stop = STOP_NONE;
		/* An external interrupt pushes RF as it is (SDM vol. 3 17.3.1.1). */
		bool fault = !first.hw_intr && !first.soft_type && pushes_rf_set(first.vector);
		/* An injected software event is delivered as the instruction that
		 * raises it would: returning after it (RIP plus the VM-entry
		 * instruction length), RF clear, and with the gate's DPL checked
		 * but for a privileged software exception (SDM vol. 3 26.6.1.1;
		 * INT n, INT3, INTO, INT1).  In virtual-8086 mode IOPL is not
		 * checked. */
		bool ext = first.soft_type != SOFT_INTR && first.soft_type != SOFT_EXC;
		uint64_t ret_ip = c->rip;
		if (first.soft_type) {
			ret_ip += first.soft_len;
			c->rflags &= ~(uint64_t)RF_RF;
		}
		if (deliver(c, first.vector, first.has_error, first.error, ext, ret_ip, fault,
		            first.soft_type) == 0) {
			c->exc_pending = false;
			c->stop = STOP_NONE;
			c->events++;
			return 0;
		}
		if (c->stop == STOP_EXIT) {
			/* An exit in the middle of a delivery (a task gate, a
			 * PAGING first touch of the stack, the frame in MMIO)
			 * hands the event to the vmm as the exit's intinfo, as
			 * VT-x's IDT-vectoring information does: vm_run stores it
			 * (vm_exit_intinfo) and the next entry injects it again
			 * (vm_entry_intinfo), unless the task switch consumed it. */
			c->exc_pending = false;
			if (c->exit->exitcode != VM_EXITCODE_TASK_SWITCH) {
				c->exit_intinfo = event_intinfo(&first);
				c->exit_intinfo_len = first.soft_len;
			}
			return 1;
		}
		unsigned second = c->exc.vector;
		if (first.vector == IDT_DF) {
			c->exc_pending = false;
			struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_SUSPENDED, 0);
			vme->u.suspended.how = VM_SUSPEND_TRIPLEFAULT;
			return 1;
		}
		/* Interrupts are benign, whatever their vector (SDM table 6-5);
		 * so are software events (INT n with n = 13 raises no #GP). */
		enum exc_class first_class = first.hw_intr || first.soft_type
		                                 ? EXC_BENIGN
		                                 : exc_class_of_vector(first.vector);
		if (exc_makes_double_fault(first_class, exc_class_of_vector(second))) {
			c->exc.vector = IDT_DF;
			c->exc.has_error = true;
			c->exc.error = 0;
		}
	}
}

/*
 * INT n / INT3 / INTO: a software event, returning after the instruction.
 * RF is cleared at the start of the instruction, so the frame has RF clear
 * (SDM vol. 3 17.3.1.1, "software-generated interrupts"), even when the
 * IRET that returned to it had loaded RF set.
 */
int cpu_soft_interrupt(struct cpu *c, unsigned vector, uint64_t next_rip)
{
	c->rflags &= ~(uint64_t)RF_RF;
	bool int_n = c->cur && c->cur->mnem == ZYDIS_MNEMONIC_INT;
	if (deliver(c, vector, false, 0, false, next_rip, false, int_n ? SOFT_INTR : SOFT_EXC))
		return EXEC_STOP;
	return EXEC_JUMP;
}

/*
 * INT1 / ICEBP (F1, SDM vol. 2 INT n, "INT1"; vol. 3 6.13 and 25.8.3): a
 * #DB trap delivered as a privileged software exception: the return
 * address is the next instruction, the gate's DPL is not checked, and a
 * fault while delivering it carries EXT = 1 as for an external event.  It
 * sets no DR6 bit.
 */
int cpu_int1(struct cpu *c, uint64_t next_rip)
{
	c->rflags &= ~(uint64_t)RF_RF;
	if (deliver(c, IDT_DB, false, 0, true, next_rip, false, SOFT_PRIV_EXC))
		return EXEC_STOP;
	return EXEC_JUMP;
}

/*
 * INT n (CD ib) in virtual-8086 mode is IOPL-sensitive: with CR4.VME = 0
 * and IOPL < 3 it is #GP(0) and no event; with CR4.VME = 1 the TSS's
 * redirection bitmap chooses (vme_int_n; SDM vol. 2 INT n "Operation",
 * vol. 3 20.3.3 and table 20-2).  INT3, INTO, BOUND and INT1 are neither
 * IOPL-sensitive nor redirected: they always go through the IDT.
 */
int cpu_int_n(struct cpu *c, unsigned vector, uint64_t next_rip)
{
	if (c->rflags & RF_VM) {
		if (c->cr4 & CR4_VME)
			return vme_int_n(c, vector, next_rip);
		if ((c->rflags & RF_IOPL) != RF_IOPL)
			return cpu_gp0(c);
	}
	return cpu_soft_interrupt(c, vector, next_rip);
}
