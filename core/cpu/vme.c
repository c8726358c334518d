/*
 * CR4.VME and CR4.PVI (SDM vol. 3 20.3.2, 20.3.3, 20.4).  With IOPL < 3 a
 * virtual-8086 task sees a virtual IF: VIF, which CLI, STI, PUSHF, POPF,
 * IRET and a redirected INT n read and write in IF's place, while IF
 * itself, which still masks hardware interrupts, stays the monitor's.
 * VIP is the monitor's note that an interrupt waits: an instruction that
 * would set VIF while VIP = 1 faults so that the monitor can deliver it.
 * Hardware interrupts and exceptions are not affected: they go through
 * the IDT by IF as always (SDM vol. 3 20.3.3, the note under table 20-2).
 */
#include "core/cpu/vme.h"

#include "core/cpu/ioperm.h"
#include "core/cpu/step.h"

/* The FLAGS bits a virtual POPF or IRET loads: not IF (VIF takes the
 * popped IF) and not IOPL (SDM vol. 2 POPF table, "VME" rows). */
#define VME_FLAGS (RF_ARITH | RF_TF | RF_DF | RF_NT)

int vme_cli_sti(struct cpu *c, bool set)
{
	bool vme = (c->rflags & RF_VM) && (c->cr4 & CR4_VME);
	bool pvi = !(c->rflags & RF_VM) && c->cpl == 3 && (c->cr4 & CR4_PVI);
	if (!vme && !pvi)
		return cpu_gp0(c);
	if (!set) {
		c->rflags &= ~(uint64_t)RF_VIF;
		return 0;
	}
	/* STI with an interrupt pending traps to the monitor.  Setting VIF
	 * changes no interrupt window, so there is no STI shadow. */
	if (c->rflags & RF_VIP)
		return cpu_gp0(c);
	c->rflags |= RF_VIF;
	return 0;
}

/* FLAGS as the virtual-8086 task sees them: IF from VIF, IOPL 3 (SDM vol.
 * 2 PUSHF "Operation"; INT n pushes the same image). */
static uint16_t virtual_flags(struct cpu *c)
{
	uint64_t f = cpu_get_rflags(c);
	uint64_t v = (f & 0xffff & ~(uint64_t)RF_IF) | RF_IOPL;
	if (f & RF_VIF)
		v |= RF_IF;
	return (uint16_t)v;
}

/* PUSHFD and, without VME, PUSHF are #GP(0) (SDM vol. 2 PUSHF). */
int vme_pushf(struct cpu *c, const struct insn *i)
{
	if (!(c->cr4 & CR4_VME) || i->osz != 2)
		return cpu_gp0(c);
	return cpu_push(c, 2, virtual_flags(c)) ? EXEC_STOP : EXEC_NEXT;
}

/*
 * Load a popped FLAGS image the virtual way: #GP(0) when it sets TF, or
 * IF while VIP = 1; else VIF from its IF and the bits of VME_FLAGS (SDM
 * vol. 2 POPF "Operation", IOPL < 3 with CR4.VME = 1).  0 or EXEC_STOP.
 */
static int load_virtual_flags(struct cpu *c, uint64_t v)
{
	if ((v & RF_TF) || ((v & RF_IF) && (c->rflags & RF_VIP)))
		return cpu_gp0(c);
	uint64_t f = (cpu_get_rflags(c) & ~(uint64_t)(VME_FLAGS | RF_VIF)) | (v & VME_FLAGS);
	if (v & RF_IF)
		f |= RF_VIF;
	cpu_set_rflags(c, f);
	return 0;
}

/* POPFD and, without VME, POPF are #GP(0) before anything is popped (SDM
 * vol. 2 POPF). */
int vme_popf(struct cpu *c, const struct insn *i)
{
	if (!(c->cr4 & CR4_VME) || i->osz != 2)
		return cpu_gp0(c);
	uint64_t v;
	if (cpu_pop_peek(c, 2, 0, &v) || load_virtual_flags(c, v))
		return EXEC_STOP;
	cpu_set_sp(c, c->gpr[4].q + 2);
	c->rip += i->len;
	return EXEC_JUMP; /* TF, VIF: let the loop look */
}

/*
 * The SDM's IRET pseudocode makes every virtual-8086 IRET with IOPL < 3
 * #GP(0) and is silent on VME.  AMD's (APM vol. 3 IRET, the return from
 * virtual mode with CR4.VME = 1) gives the 16-bit IRET the rules of POPF:
 * IP, CS and FLAGS popped, #GP(0) for a popped TF, or a popped IF with
 * VIP = 1, VIF from the popped IF, IF and IOPL kept; without VME, or with
 * a 32-bit operand, IRET stays #GP(0) (ops_iret.c checks that before it
 * reads the frame).  Method 6 of SDM vol. 3 20.3.3.5 needs this: it is how
 * a redirected INT n returns without a trap to the monitor.
 */
int vme_iret(struct cpu *c, uint64_t ip, uint64_t cs, uint64_t fl)
{
	if (load_virtual_flags(c, fl))
		return EXEC_STOP;
	cpu_set_sp(c, c->gpr[4].q + 6);
	cpu_load_seg_real(c, SEG_CS, (uint16_t)cs);
	c->rip = ip & 0xffff;
	return EXEC_JUMP;
}

/* Bit n of the software interrupt redirection bitmap: the 32 bytes just
 * below the I/O map base of a 32-bit TSS (SDM vol. 3 20.3.3, figure 20-5).
 * The TSS must hold the byte read.  0 or EXEC_STOP; *set is the bit. */
static int redirection_bit(struct cpu *c, unsigned vector, bool *set)
{
	uint32_t base = 0;
	if (ioperm_map_base(c, &base))
		return EXEC_STOP;
	/* A map base below 32 puts the bitmap below the TSS: the offset
	 * wraps and fails the limit check like one past the end. */
	uint32_t off = base - 32u + vector / 8u;
	if (off > c->tr.d.limit)
		return cpu_gp0(c);
	uint8_t b = 0;
	if (cpu_read_linear(c, (c->tr.d.base + off) & c->la_mask, &b, 1))
		return EXEC_STOP;
	*set = (b >> (vector & 7u)) & 1;
	return 0;
}

/*
 * Method 5 (IOPL = 3) and method 6 (IOPL < 3) of SDM vol. 3 20.3.3.4-5,
 * as INT n's "Operation" gives them: FLAGS, CS and IP pushed on the
 * virtual-8086 stack (FLAGS with IF from VIF and IOPL 3 when IOPL < 3),
 * IF (IOPL = 3) or VIF (IOPL < 3) and TF cleared, CS:IP from entry n of
 * the 8086 program's interrupt vector table at linear address 0.  That
 * table is the task's own memory, so it is read as the task (CPL 3) reads
 * it, through paging.  A fault leaves the registers as they were.
 */
static int redirect(struct cpu *c, unsigned vector, uint64_t next_rip)
{
	bool iopl3 = (c->rflags & RF_IOPL) == RF_IOPL;
	uint16_t flags = iopl3 ? (uint16_t)cpu_get_rflags(c) : virtual_flags(c);
	uint64_t sp = c->gpr[4].q, ent = 0;
	/* The pushes, then the vector table, in the pseudocode's order, so
	 * that a stack fault wins over one on the table. */
	if (cpu_push(c, 2, flags) || cpu_push(c, 2, c->seg[SEG_CS].sel) ||
	    cpu_push(c, 2, next_rip & 0xffff) ||
	    cpu_read_slow(c, (uint64_t)vector * 4, 4, &ent, SEG_NONE)) {
		c->gpr[4].q = sp;
		return EXEC_STOP;
	}
	/* RF as for every software interrupt (cpu_soft_interrupt). */
	c->rflags &= ~(uint64_t)(RF_TF | RF_RF | (iopl3 ? RF_IF : RF_VIF));
	cpu_load_seg_real(c, SEG_CS, (uint16_t)(ent >> 16));
	c->rip = ent & 0xffff;
	/* As a delivered event: no shadow, and the single-step trap of the
	 * INT is not taken (TF is cleared for the handler; IRET restores it). */
	c->interrupt_shadow = 0;
	c->dbg_step &= (uint8_t)~STEP_TRAP;
	return EXEC_JUMP;
}

int vme_int_n(struct cpu *c, unsigned vector, uint64_t next_rip)
{
	bool set = false;
	if (redirection_bit(c, vector, &set))
		return EXEC_STOP;
	if (!set)
		return redirect(c, vector, next_rip);
	/* Method 4 (IOPL = 3): the protected-mode IDT, as without VME;
	 * method 3 (IOPL < 3): #GP(0) to the monitor. */
	if ((c->rflags & RF_IOPL) != RF_IOPL)
		return cpu_gp0(c);
	return cpu_soft_interrupt(c, vector, next_rip);
}
