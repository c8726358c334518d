/* The payload fields of an exit; see exit_fields.h. */
#include "runner/exit_fields.h"

#include <stdio.h>

static void add(struct exit_fields *o, const char *key, enum exit_field_kind kind, uint64_t v)
{
	if (o->n == EXIT_FIELDS_MAX)
		return;
	struct exit_field *f = &o->f[o->n++];
	f->key = key;
	f->kind = kind;
	if (kind == EXIT_FIELD_DEC)
		f->dec = (int64_t)v;
	else if (kind == EXIT_FIELD_BOOL)
		f->flag = v != 0;
	else
		f->hex = v;
}

static void add_word(struct exit_fields *o, const char *key, const char *word)
{
	if (o->n == EXIT_FIELDS_MAX)
		return;
	struct exit_field *f = &o->f[o->n++];
	f->key = key;
	f->kind = EXIT_FIELD_WORD;
	f->word = word;
}

/* Names for enumerations; a value out of range (a library bug) shows as "?". */
static const char *name_of(const char *const *names, int count, int v)
{
	return v >= 0 && v < count ? names[v] : "?";
}
#define NAME_OF(names, v) name_of(names, (int)(sizeof(names) / sizeof(names[0])), (int)(v))

static const char *const cpu_mode_names[] = {"real", "protected", "compatibility", "64bit"};
static const char *const paging_mode_names[] = {"flat", "32", "pae", "64"};
static const char *const suspend_names[] = {"none", "reset", "poweroff", "halt", "triplefault"};
static const char *const task_switch_names[] = {"call", "iret", "jmp", "idt_gate"};
/* Indexed from VM_REG_GUEST_ES, the order of the vm_reg_name enum. */
static const char *const seg_names[] = {"es", "cs", "ss", "ds", "fs", "gs"};

static void add_inout(struct exit_fields *o, const struct vm_inout *io)
{
	add(o, "port", EXIT_FIELD_HEX32, io->port);
	add(o, "bytes", EXIT_FIELD_DEC, io->bytes);
	add(o, "in", EXIT_FIELD_BOOL, io->in);
	add(o, "string", EXIT_FIELD_BOOL, io->string);
	add(o, "rep", EXIT_FIELD_BOOL, io->rep);
	add(o, "eax", EXIT_FIELD_HEX32, io->eax);
}

static void add_paging(struct exit_fields *o, const struct vm_guest_paging *p)
{
	add(o, "cr3", EXIT_FIELD_HEX64, p->cr3);
	add(o, "cpl", EXIT_FIELD_DEC, (uint64_t)p->cpl);
	add_word(o, "cpu_mode", NAME_OF(cpu_mode_names, p->cpu_mode));
	add_word(o, "paging_mode", NAME_OF(paging_mode_names, p->paging_mode));
}

static void add_inout_str(struct exit_fields *o, const struct vm_inout_str *s)
{
	add_inout(o, &s->inout);
	add_paging(o, &s->paging);
	add(o, "rflags", EXIT_FIELD_HEX64, s->rflags);
	add(o, "cr0", EXIT_FIELD_HEX64, s->cr0);
	add(o, "index", EXIT_FIELD_HEX64, s->index);
	add(o, "count", EXIT_FIELD_HEX64, s->count);
	add(o, "addrsize", EXIT_FIELD_DEC, (uint64_t)s->addrsize);
	add_word(o, "seg", NAME_OF(seg_names, (int)s->seg_name - VM_REG_GUEST_ES));
	add(o, "seg_base", EXIT_FIELD_HEX64, s->seg_desc.base);
	add(o, "seg_limit", EXIT_FIELD_HEX32, s->seg_desc.limit);
	add(o, "seg_access", EXIT_FIELD_HEX32, s->seg_desc.access);
}

static void add_inst_emul(struct exit_fields *o, const struct vm_exit *vme)
{
	const struct vie *vie = &vme->u.inst_emul.vie;
	add(o, "gpa", EXIT_FIELD_HEX64, vme->u.inst_emul.gpa);
	add(o, "gla", EXIT_FIELD_HEX64, vme->u.inst_emul.gla);
	add(o, "cs_d", EXIT_FIELD_DEC, (uint64_t)vme->u.inst_emul.cs_d);
	add_paging(o, &vme->u.inst_emul.paging);
	add(o, "opsize", EXIT_FIELD_DEC, vie->opsize);
	add(o, "addrsize", EXIT_FIELD_DEC, vie->addrsize);
	add(o, "op_byte", EXIT_FIELD_HEX32, vie->op.op_byte);
	add(o, "op_type", EXIT_FIELD_DEC, vie->op.op_type);
	add(o, "num_valid", EXIT_FIELD_DEC, vie->num_valid);
	add(o, "decoded", EXIT_FIELD_BOOL, vie->decoded);
	int n = vie->num_valid <= VIE_INST_SIZE ? vie->num_valid : VIE_INST_SIZE;
	for (int i = 0; i < n; i++)
		snprintf(o->inst_hex + 2 * i, 3, "%02x", vie->inst[i]);
	o->inst_hex[2 * n] = '\0';
	add_word(o, "inst", o->inst_hex);
}

static void add_vmx(struct exit_fields *o, const struct vm_exit *vme)
{
	add(o, "status", EXIT_FIELD_DEC, (uint64_t)vme->u.vmx.status);
	add(o, "exit_reason", EXIT_FIELD_DEC, vme->u.vmx.exit_reason);
	add(o, "exit_qualification", EXIT_FIELD_HEX64, vme->u.vmx.exit_qualification);
	add(o, "inst_type", EXIT_FIELD_DEC, (uint64_t)vme->u.vmx.inst_type);
	add(o, "inst_error", EXIT_FIELD_DEC, (uint64_t)vme->u.vmx.inst_error);
}

static void add_task_switch(struct exit_fields *o, const struct vm_task_switch *ts)
{
	add(o, "tsssel", EXIT_FIELD_HEX32, ts->tsssel);
	add_word(o, "reason", NAME_OF(task_switch_names, ts->reason));
	add(o, "ext", EXIT_FIELD_DEC, (uint64_t)ts->ext);
	add(o, "errcode", EXIT_FIELD_HEX32, ts->errcode);
	add(o, "errcode_valid", EXIT_FIELD_DEC, (uint64_t)ts->errcode_valid);
	add_paging(o, &ts->paging);
}

void exit_fields_collect(const struct vm_exit *vme, struct exit_fields *o)
{
	o->n = 0;
	o->inst_hex[0] = '\0';
	switch (vme->exitcode) {
	case VM_EXITCODE_INOUT:
		add_inout(o, &vme->u.inout);
		break;
	case VM_EXITCODE_INOUT_STR:
		add_inout_str(o, &vme->u.inout_str);
		break;
	case VM_EXITCODE_PAGING:
		add(o, "gpa", EXIT_FIELD_HEX64, vme->u.paging.gpa);
		add(o, "fault_type", EXIT_FIELD_DEC, (uint64_t)vme->u.paging.fault_type);
		break;
	case VM_EXITCODE_INST_EMUL:
		add_inst_emul(o, vme);
		break;
	case VM_EXITCODE_VMX:
		add_vmx(o, vme);
		break;
	case VM_EXITCODE_RDMSR:
		add(o, "msr", EXIT_FIELD_HEX32, vme->u.msr.code);
		break;
	case VM_EXITCODE_WRMSR:
		add(o, "msr", EXIT_FIELD_HEX32, vme->u.msr.code);
		add(o, "wval", EXIT_FIELD_HEX64, vme->u.msr.wval);
		break;
	case VM_EXITCODE_HLT:
		add(o, "rflags", EXIT_FIELD_HEX64, vme->u.hlt.rflags);
		break;
	case VM_EXITCODE_SPINUP_AP:
		add(o, "vcpu", EXIT_FIELD_DEC, (uint64_t)vme->u.spinup_ap.vcpu);
		add(o, "start_rip", EXIT_FIELD_HEX64, vme->u.spinup_ap.rip);
		break;
	case VM_EXITCODE_IOAPIC_EOI:
		add(o, "vector", EXIT_FIELD_DEC, (uint64_t)vme->u.ioapic_eoi.vector);
		break;
	case VM_EXITCODE_SUSPENDED:
		add_word(o, "how", NAME_OF(suspend_names, vme->u.suspended.how));
		break;
	case VM_EXITCODE_TASK_SWITCH:
		add_task_switch(o, &vme->u.task_switch);
		break;
	default:
		break;
	}
}
