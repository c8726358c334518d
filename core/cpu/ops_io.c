/*
 * Port I/O: IN/OUT become INOUT exits and INS/OUTS INOUT_STR exits, with
 * the payloads bhyve's vmx_exit_process builds from the exit
 * qualification (BHYVE-EXITS.md section 3), once the I/O permission check
 * (core/cpu/ioperm.h) has let them through: an I/O instruction that faults
 * on it gives #GP(0) and no exit, as on VMX, where that check has priority
 * over the I/O VM exit (SDM vol. 3 25.1.1).
 */
#include "core/cpu/cpu.h"
#include "core/cpu/ioperm.h"
#include "core/cpu/lower.h"

static int io_exit(struct cpu *c, const struct insn *i, bool in, uint16_t port)
{
	if (ioperm_check(c, port, i->osz))
		return EXEC_STOP;
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_INOUT, i->len);
	vme->u.inout.bytes = i->osz;
	vme->u.inout.in = in;
	vme->u.inout.string = 0;
	vme->u.inout.rep = 0;
	vme->u.inout.port = port;
	vme->u.inout.eax = c->gpr[0].d;
	return EXEC_STOP;
}

static int op_in_imm(struct cpu *c, const struct insn *i)
{
	return io_exit(c, i, true, (uint16_t)(i->imm & 0xff));
}

static int op_in_dx(struct cpu *c, const struct insn *i)
{
	return io_exit(c, i, true, c->gpr[2].w);
}

static int op_out_imm(struct cpu *c, const struct insn *i)
{
	return io_exit(c, i, false, (uint16_t)(i->imm & 0xff));
}

static int op_out_dx(struct cpu *c, const struct insn *i)
{
	return io_exit(c, i, false, c->gpr[2].w);
}

static const enum vm_reg_name seg_reg_name[6] = {
    VM_REG_GUEST_ES, VM_REG_GUEST_CS, VM_REG_GUEST_SS,
    VM_REG_GUEST_DS, VM_REG_GUEST_FS, VM_REG_GUEST_GS,
};

/*
 * INS/OUTS: an INOUT_STR exit, which bhyverun emulates (runner/inout_str.c).
 * The I/O permission check comes first: INS and OUTS make it before they
 * touch memory (SDM vol. 2 INS/OUTS "Operation"), and on VMX it has priority
 * over the VM exit (SDM vol. 3 25.1.1), after which bhyve's user space makes
 * the segment and paging checks of each element (vie_calculate_gla,
 * vm_copy_setup; BHYVE-EXITS.md section 3).
 */
static int op_str_io(struct cpu *c, const struct insn *i)
{
	bool in = i->sub;
	if (ioperm_check(c, c->gpr[2].w, i->osz))
		return EXEC_STOP;
	struct vm_exit *vme = cpu_begin_exit(c, VM_EXITCODE_INOUT_STR, i->len);
	struct vm_inout_str *s = &vme->u.inout_str;
	s->inout.bytes = i->osz;
	s->inout.in = in;
	s->inout.string = 1;
	s->inout.rep = (i->flags & (INSN_F_REP | INSN_F_REPNE)) != 0;
	s->inout.port = c->gpr[2].w;
	s->inout.eax = c->gpr[0].d;
	cpu_paging_info(c, &s->paging);
	s->rflags = cpu_get_rflags(c);
	s->cr0 = c->cr0;
	s->index = in ? c->gpr[7].q : c->gpr[6].q;
	s->count = s->inout.rep ? c->gpr[1].q : 1;
	s->addrsize = i->asz;
	int seg = in ? SEG_ES : i->seg;
	s->seg_name = seg_reg_name[seg];
	s->seg_desc = c->seg[seg].d;
	return EXEC_STOP;
}

bool lower_io(struct lower *l)
{
	struct insn *i = l->i;
	switch (l->zi->mnemonic) {
	case ZYDIS_MNEMONIC_IN:
		i->osz = (uint8_t)(l->op[0].size / 8);
		i->fn = l->k[1] == OPK_IMM ? op_in_imm : op_in_dx;
		break;
	case ZYDIS_MNEMONIC_OUT:
		i->osz = (uint8_t)(l->op[1].size / 8);
		i->fn = l->k[0] == OPK_IMM ? op_out_imm : op_out_dx;
		break;
	case ZYDIS_MNEMONIC_INSB:
	case ZYDIS_MNEMONIC_INSW:
	case ZYDIS_MNEMONIC_INSD:
	case ZYDIS_MNEMONIC_OUTSB:
	case ZYDIS_MNEMONIC_OUTSW:
	case ZYDIS_MNEMONIC_OUTSD: {
		ZydisMnemonic m = l->zi->mnemonic;
		i->sub = m == ZYDIS_MNEMONIC_INSB || m == ZYDIS_MNEMONIC_INSW ||
		         m == ZYDIS_MNEMONIC_INSD;
		i->osz = (m == ZYDIS_MNEMONIC_INSB || m == ZYDIS_MNEMONIC_OUTSB)   ? 1
		         : (m == ZYDIS_MNEMONIC_INSW || m == ZYDIS_MNEMONIC_OUTSW) ? 2
		                                                                   : 4;
		/* OUTS reads DS:rSI, or the override segment (hidden operand). */
		i->seg = SEG_DS;
		for (unsigned n = 0; n < l->zi->operand_count; n++)
			if (l->op[n].type == ZYDIS_OPERAND_TYPE_MEMORY && !i->sub) {
				int s = lower_sreg(l->op[n].mem.segment);
				if (s >= 0)
					i->seg = (uint8_t)s;
			}
		i->fn = op_str_io;
		break;
	}
	default:
		return false;
	}
	l->ends_block = true;
	return true;
}
