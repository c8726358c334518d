/* Test support: load a guest, run it, record its exit stream (guest_helper.h). */
#include "guest_helper.h"
#include "runner/loader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Access rights in the VMCS layout of struct seg_desc (vmm.h). */
#define ACC_DATA_RW  0x0093 /* present, S, read/write, accessed */
#define ACC_CODE_RX  0x009b /* present, S, execute/read, accessed */
#define ACC_LDT      0x0082 /* present, LDT */
#define ACC_TSS_BUSY 0x008b /* present, busy TSS */

#define CR0_ET       0x10ull
#define RFLAGS_FIXED 0x2ull   /* bit 1 always reads 1 */
#define DR7_RESET    0x400ull /* SDM vol. 3 table 9-1 */

static void set_err(struct guest *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->err, sizeof(g->err), fmt, ap);
	va_end(ap);
}

int guest_image_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s.bin", SOFTVMM_GUEST_DIR, name);
	return (n < 0 || (size_t)n >= len) ? ENAMETOOLONG : 0;
}

int read_file(const char *path, size_t max, unsigned char **bytes, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return errno;
	/* One byte more than allowed, to tell "exactly max" from "too big". */
	unsigned char *buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return ENOMEM;
	}
	size_t n = fread(buf, 1, max + 1, f);
	int err = ferror(f) ? EIO : 0;
	fclose(f);
	if (err == 0 && n > max)
		err = EFBIG;
	if (err != 0) {
		free(buf);
		return err;
	}
	*bytes = buf;
	*len = n;
	return 0;
}

static void record_exit(void *arg, struct vm *vm, int vcpuid, const struct vm_exit *vme,
                        bool handled)
{
	struct guest *g = arg;
	struct exit_log *log = &g->log;
	if (g->digest != NULL)
		exit_digest_add(g->digest, vm, vcpuid, vme, handled);
	if (log->n == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 64;
		if (cap > EXIT_LOG_MAX)
			cap = EXIT_LOG_MAX;
		if (log->n == cap) {
			log->truncated = true;
			return;
		}
		struct recorded_exit *v = realloc(log->v, cap * sizeof(*v));
		if (v == NULL) {
			log->truncated = true;
			return;
		}
		log->v = v;
		log->cap = cap;
	}
	struct recorded_exit *r = &log->v[log->n++];
	r->vme = *vme;
	r->vcpu = vcpuid;
	r->handled = handled;
}

/*
 * Copy the image page by page: bhyve's vm_gpa_hold holds at most one page,
 * so a loader written against it never asks for more.
 */
static int load_image(struct guest *g, const unsigned char *bytes, size_t len)
{
	int err = guest_mem_write(g->vm, GUEST_LOAD_GPA, bytes, len);
	if (err)
		set_err(g, "cannot copy %zu bytes to 0x%" PRIx64, len, (uint64_t)GUEST_LOAD_GPA);
	return err;
}

struct seg_init {
	int reg;
	struct seg_desc desc;
};

int guest_set_real_mode_entry(struct vm *vm, int vcpu, uint64_t rip)
{
	const struct seg_init segs[] = {
	    {VM_REG_GUEST_CS, {0, 0xffff, ACC_CODE_RX}},
	    {VM_REG_GUEST_DS, {0, 0xffff, ACC_DATA_RW}},
	    {VM_REG_GUEST_ES, {0, 0xffff, ACC_DATA_RW}},
	    {VM_REG_GUEST_SS, {0, 0xffff, ACC_DATA_RW}},
	    {VM_REG_GUEST_FS, {0, 0xffff, ACC_DATA_RW}},
	    {VM_REG_GUEST_GS, {0, 0xffff, ACC_DATA_RW}},
	    {VM_REG_GUEST_LDTR, {0, 0xffff, ACC_LDT}},
	    {VM_REG_GUEST_TR, {0, 0xffff, ACC_TSS_BUSY}},
	    {VM_REG_GUEST_GDTR, {0, 0xffff, 0}},
	    {VM_REG_GUEST_IDTR, {0, 0xffff, 0}},
	};
	int err;

	for (int r = VM_REG_GUEST_RAX; r <= VM_REG_GUEST_R15; r++)
		if ((err = vm_set_register(vm, vcpu, r, 0)) != 0)
			return err;
	const struct {
		int reg;
		uint64_t val;
	} regs[] = {
	    {VM_REG_GUEST_CR0, CR0_ET}, {VM_REG_GUEST_CR2, 0},
	    {VM_REG_GUEST_CR3, 0},      {VM_REG_GUEST_CR4, 0},
	    {VM_REG_GUEST_EFER, 0},     {VM_REG_GUEST_DR7, DR7_RESET},
	    {VM_REG_GUEST_RSP, 0x7c00}, {VM_REG_GUEST_RFLAGS, RFLAGS_FIXED},
	    {VM_REG_GUEST_RIP, rip},
	};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if ((err = vm_set_register(vm, vcpu, regs[i].reg, regs[i].val)) != 0)
			return err;
	/* The hidden part first, then the selector (0 everywhere in real mode). */
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		struct seg_desc d = segs[i].desc;
		if ((err = vm_set_seg_desc(vm, vcpu, segs[i].reg, &d)) != 0)
			return err;
		if (segs[i].reg == VM_REG_GUEST_GDTR || segs[i].reg == VM_REG_GUEST_IDTR)
			continue;
		if ((err = vm_set_register(vm, vcpu, segs[i].reg, 0)) != 0)
			return err;
	}
	return 0;
}

int guest_open_file(struct guest *g, const char *path)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	int err;

	memset(g, 0, sizeof(*g));
	if ((err = read_file(path, GUEST_MAX_IMAGE, &bytes, &len)) != 0) {
		set_err(g, "%s: %s", path, strerror(err));
		return err;
	}
	if ((err = vm_create("test", NULL, &g->vm)) != 0) {
		g->vm = NULL;
		set_err(g, "vm_create: %s", strerror(err));
		goto out;
	}
	if ((err = vm_malloc(g->vm, 0, GUEST_RAM_SIZE)) != 0) {
		set_err(g, "vm_malloc: %s", strerror(err));
		goto out;
	}
	if ((err = load_image(g, bytes, len)) != 0)
		goto out;
	g->image_len = len;
	if ((err = guest_set_real_mode_entry(g->vm, 0, GUEST_LOAD_GPA)) != 0) {
		set_err(g, "entry state: %s", strerror(err));
		goto out;
	}
	if ((err = vm_set_insn_limit(g->vm, 0, GUEST_INSN_BUDGET)) != 0) {
		set_err(g, "vm_set_insn_limit: %s", strerror(err));
		goto out;
	}
	if ((err = vm_activate_cpu(g->vm, 0)) != 0) {
		set_err(g, "vm_activate_cpu: %s", strerror(err));
		goto out;
	}
	vm_set_exit_observer(g->vm, record_exit, g);
	g->rip = GUEST_LOAD_GPA;
out:
	free(bytes);
	return err;
}

int guest_open(struct guest *g, const char *name)
{
	char path[1024];
	int err = guest_image_path(path, sizeof(path), name);
	if (err != 0) {
		memset(g, 0, sizeof(*g));
		set_err(g, "guest name too long: %s", name);
		return err;
	}
	return guest_open_file(g, path);
}

void guest_close(struct guest *g)
{
	struct vm_vcpu_stats st;
	if (g->vm != NULL && !g->allow_unimplemented && vm_get_stats(g->vm, 0, &st) == 0 &&
	    st.unimplemented != 0) {
		fprintf(stderr, "guest_close: %llu unimplemented-opcode hits\n",
		        (unsigned long long)st.unimplemented);
		abort();
	}
	if (g->vm != NULL)
		vm_destroy(g->vm);
	free(g->log.v);
	memset(g, 0, sizeof(*g));
}

int guest_run(struct guest *g, struct vm_exit *vme)
{
	struct vm_run run;
	memset(&run, 0, sizeof(run));
	run.cpuid = 0;
	run.rip = g->rip;
	int err = vm_run(g->vm, &run);
	if (err != 0) {
		set_err(g, "vm_run from rip 0x%" PRIx64 ": %s", g->rip, strerror(err));
		return err;
	}
	*vme = run.vm_exit;
	g->rip = vme->rip + (uint64_t)vme->inst_length;
	return 0;
}

int guest_complete_in(struct guest *g, const struct vm_exit *vme, uint32_t value)
{
	if (vme->exitcode != VM_EXITCODE_INOUT || !vme->u.inout.in)
		return EINVAL;
	uint32_t mask =
	    vme->u.inout.bytes == 4 ? 0xffffffffu : (1u << (vme->u.inout.bytes * 8)) - 1;
	uint32_t eax = (vme->u.inout.eax & ~mask) | (value & mask);
	return vm_set_register(g->vm, 0, VM_REG_GUEST_RAX, eax);
}

/* ---- comparing exits ---------------------------------------------------- */

struct cmp {
	const char *field;
	uint64_t a, b;
};

/* Fill in the first difference; every CMP after it is skipped. */
#define CMP(c, expr_a, expr_b, name)                                                               \
	do {                                                                                       \
		if ((c)->field == NULL && (uint64_t)(expr_a) != (uint64_t)(expr_b)) {              \
			(c)->field = (name);                                                       \
			(c)->a = (uint64_t)(expr_a);                                               \
			(c)->b = (uint64_t)(expr_b);                                               \
		}                                                                                  \
	} while (0)
#define VCMP(c, a, b, f) CMP(c, (a)->f, (b)->f, "vie." #f)

static void cmp_paging(struct cmp *c, const struct vm_guest_paging *a,
                       const struct vm_guest_paging *b)
{
	CMP(c, a->cr3, b->cr3, "paging.cr3");
	CMP(c, a->cpl, b->cpl, "paging.cpl");
	CMP(c, a->cpu_mode, b->cpu_mode, "paging.cpu_mode");
	CMP(c, a->paging_mode, b->paging_mode, "paging.paging_mode");
}

static void cmp_inout(struct cmp *c, const struct vm_inout *a, const struct vm_inout *b)
{
	CMP(c, a->bytes, b->bytes, "inout.bytes");
	CMP(c, a->in, b->in, "inout.in");
	CMP(c, a->string, b->string, "inout.string");
	CMP(c, a->rep, b->rep, "inout.rep");
	CMP(c, a->port, b->port, "inout.port");
	CMP(c, a->eax, b->eax, "inout.eax");
}

static void cmp_vie(struct cmp *c, const struct vie *a, const struct vie *b)
{
	VCMP(c, a, b, num_valid);
	/* Only the fetched bytes are meaningful; the rest of inst[] is not. */
	for (int i = 0; i < a->num_valid && i < VIE_INST_SIZE; i++)
		CMP(c, a->inst[i], b->inst[i], "vie.inst[i]");
	VCMP(c, a, b, num_processed);
	VCMP(c, a, b, addrsize);
	VCMP(c, a, b, opsize);
	VCMP(c, a, b, rex_w);
	VCMP(c, a, b, rex_r);
	VCMP(c, a, b, rex_x);
	VCMP(c, a, b, rex_b);
	VCMP(c, a, b, rex_present);
	VCMP(c, a, b, opsize_override);
	VCMP(c, a, b, addrsize_override);
	VCMP(c, a, b, mod);
	VCMP(c, a, b, reg);
	VCMP(c, a, b, rm);
	VCMP(c, a, b, ss);
	VCMP(c, a, b, index);
	VCMP(c, a, b, base);
	VCMP(c, a, b, disp_bytes);
	VCMP(c, a, b, imm_bytes);
	VCMP(c, a, b, scale);
	VCMP(c, a, b, base_register);
	VCMP(c, a, b, index_register);
	VCMP(c, a, b, displacement);
	VCMP(c, a, b, immediate);
	VCMP(c, a, b, decoded);
	VCMP(c, a, b, op.op_byte);
	VCMP(c, a, b, op.op_type);
	VCMP(c, a, b, op.op_flags);
}

static void cmp_payload(struct cmp *c, const struct vm_exit *a, const struct vm_exit *b)
{
	switch (a->exitcode) {
	case VM_EXITCODE_INOUT:
		cmp_inout(c, &a->u.inout, &b->u.inout);
		break;
	case VM_EXITCODE_INOUT_STR: {
		const struct vm_inout_str *x = &a->u.inout_str, *y = &b->u.inout_str;
		cmp_inout(c, &x->inout, &y->inout);
		cmp_paging(c, &x->paging, &y->paging);
		CMP(c, x->rflags, y->rflags, "inout_str.rflags");
		CMP(c, x->cr0, y->cr0, "inout_str.cr0");
		CMP(c, x->index, y->index, "inout_str.index");
		CMP(c, x->count, y->count, "inout_str.count");
		CMP(c, x->addrsize, y->addrsize, "inout_str.addrsize");
		CMP(c, x->seg_name, y->seg_name, "inout_str.seg_name");
		CMP(c, x->seg_desc.base, y->seg_desc.base, "inout_str.seg_desc.base");
		CMP(c, x->seg_desc.limit, y->seg_desc.limit, "inout_str.seg_desc.limit");
		CMP(c, x->seg_desc.access, y->seg_desc.access, "inout_str.seg_desc.access");
		break;
	}
	case VM_EXITCODE_VMX:
		CMP(c, a->u.vmx.status, b->u.vmx.status, "vmx.status");
		CMP(c, a->u.vmx.exit_reason, b->u.vmx.exit_reason, "vmx.exit_reason");
		CMP(c, a->u.vmx.exit_qualification, b->u.vmx.exit_qualification,
		    "vmx.exit_qualification");
		CMP(c, a->u.vmx.inst_type, b->u.vmx.inst_type, "vmx.inst_type");
		CMP(c, a->u.vmx.inst_error, b->u.vmx.inst_error, "vmx.inst_error");
		break;
	case VM_EXITCODE_RDMSR:
		CMP(c, a->u.msr.code, b->u.msr.code, "msr.code");
		break;
	case VM_EXITCODE_WRMSR:
		CMP(c, a->u.msr.code, b->u.msr.code, "msr.code");
		CMP(c, a->u.msr.wval, b->u.msr.wval, "msr.wval");
		break;
	case VM_EXITCODE_HLT:
		CMP(c, a->u.hlt.rflags, b->u.hlt.rflags, "hlt.rflags");
		break;
	case VM_EXITCODE_PAGING:
		CMP(c, a->u.paging.gpa, b->u.paging.gpa, "paging.gpa");
		CMP(c, a->u.paging.fault_type, b->u.paging.fault_type, "paging.fault_type");
		break;
	case VM_EXITCODE_INST_EMUL:
		CMP(c, a->u.inst_emul.gpa, b->u.inst_emul.gpa, "inst_emul.gpa");
		CMP(c, a->u.inst_emul.gla, b->u.inst_emul.gla, "inst_emul.gla");
		CMP(c, a->u.inst_emul.cs_d, b->u.inst_emul.cs_d, "inst_emul.cs_d");
		cmp_paging(c, &a->u.inst_emul.paging, &b->u.inst_emul.paging);
		cmp_vie(c, &a->u.inst_emul.vie, &b->u.inst_emul.vie);
		break;
	case VM_EXITCODE_SPINUP_AP:
		CMP(c, a->u.spinup_ap.vcpu, b->u.spinup_ap.vcpu, "spinup_ap.vcpu");
		CMP(c, a->u.spinup_ap.rip, b->u.spinup_ap.rip, "spinup_ap.rip");
		break;
	case VM_EXITCODE_IOAPIC_EOI:
		CMP(c, a->u.ioapic_eoi.vector, b->u.ioapic_eoi.vector, "ioapic_eoi.vector");
		break;
	case VM_EXITCODE_SUSPENDED:
		CMP(c, a->u.suspended.how, b->u.suspended.how, "suspended.how");
		break;
	case VM_EXITCODE_TASK_SWITCH: {
		const struct vm_task_switch *x = &a->u.task_switch, *y = &b->u.task_switch;
		CMP(c, x->tsssel, y->tsssel, "task_switch.tsssel");
		CMP(c, x->ext, y->ext, "task_switch.ext");
		CMP(c, x->errcode, y->errcode, "task_switch.errcode");
		CMP(c, x->errcode_valid, y->errcode_valid, "task_switch.errcode_valid");
		CMP(c, x->reason, y->reason, "task_switch.reason");
		cmp_paging(c, &x->paging, &y->paging);
		break;
	}
	default:
		/* BOGUS, MTRAP, PAUSE, RENDEZVOUS: no payload. */
		break;
	}
}

bool exit_equal(const struct vm_exit *a, const struct vm_exit *b, char *why, size_t why_len)
{
	struct cmp c = {NULL, 0, 0};
	CMP(&c, a->exitcode, b->exitcode, "exitcode");
	CMP(&c, a->rip, b->rip, "rip");
	CMP(&c, a->inst_length, b->inst_length, "inst_length");
	if (c.field == NULL)
		cmp_payload(&c, a, b);
	if (c.field == NULL)
		return true;
	snprintf(why, why_len, "%s: expected 0x%" PRIx64 ", got 0x%" PRIx64, c.field, c.a, c.b);
	return false;
}

void exit_describe(const struct vm_exit *vme, char *buf, size_t len)
{
	const char *name = vm_exitcode_name(vme->exitcode);
	int n = snprintf(buf, len, "%s rip=0x%" PRIx64 " len=%d", name ? name : "?", vme->rip,
	                 vme->inst_length);
	if (n < 0 || (size_t)n >= len)
		return;
	buf += n;
	len -= (size_t)n;
	switch (vme->exitcode) {
	case VM_EXITCODE_INOUT:
		snprintf(buf, len, " %s bytes=%u port=0x%x eax=0x%x",
		         vme->u.inout.in ? "in" : "out", (unsigned)vme->u.inout.bytes,
		         (unsigned)vme->u.inout.port, (unsigned)vme->u.inout.eax);
		break;
	case VM_EXITCODE_PAGING:
		snprintf(buf, len, " gpa=0x%" PRIx64 " fault_type=%d", vme->u.paging.gpa,
		         vme->u.paging.fault_type);
		break;
	case VM_EXITCODE_INST_EMUL:
		snprintf(buf, len, " gpa=0x%" PRIx64 " gla=0x%" PRIx64 " decoded=%d",
		         vme->u.inst_emul.gpa, vme->u.inst_emul.gla, vme->u.inst_emul.vie.decoded);
		break;
	case VM_EXITCODE_VMX:
		snprintf(buf, len, " reason=%u qual=0x%" PRIx64, (unsigned)vme->u.vmx.exit_reason,
		         vme->u.vmx.exit_qualification);
		break;
	case VM_EXITCODE_SUSPENDED:
		snprintf(buf, len, " how=%d", (int)vme->u.suspended.how);
		break;
	case VM_EXITCODE_HLT:
		snprintf(buf, len, " rflags=0x%" PRIx64, vme->u.hlt.rflags);
		break;
	default:
		break;
	}
}
