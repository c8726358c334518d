/*
 * Exit-stream digests (softvmm/trace.h): XXH3-64 over an explicit byte
 * serialization of each exit, so that neither struct padding nor the
 * compiler's bit-field layout can enter the hash.
 *
 * Every integer is little-endian; ints and enums are 4 bytes (two's
 * complement), bit-fields and flags 1 byte.  One exit record is:
 *
 *   u32 exitcode, i32 inst_length, u64 rip
 *   payload, by exitcode:
 *     INOUT        u8 bytes, u8 in, u8 string, u8 rep, u16 port, u32 eax
 *     INOUT_STR    the INOUT payload, paging, u64 rflags, u64 cr0, u64 index,
 *                  u64 count, i32 addrsize, u32 seg_name, seg_desc
 *     PAGING       u64 gpa, i32 fault_type
 *     INST_EMUL    u64 gpa, u64 gla, i32 cs_d, paging, vie
 *     VMX          i32 status, u32 exit_reason, u64 exit_qualification,
 *                  i32 inst_type, i32 inst_error
 *     RDMSR        u32 code
 *     WRMSR        u32 code, u64 wval
 *     HLT          u64 rflags
 *     SPINUP_AP    i32 vcpu, u64 rip
 *     IOAPIC_EOI   i32 vector
 *     SUSPENDED    u32 how
 *     TASK_SWITCH  u16 tsssel, i32 ext, u32 errcode, i32 errcode_valid,
 *                  u32 reason, paging
 *     any other    nothing
 *   u8 handled
 *   for each register VM_REG_GUEST_RAX .. VM_REG_GUEST_PDPTE3 in enum order:
 *     u8 1, u64 value     when vm_get_register returns it
 *     u8 0                when vm_get_register refuses it
 *   for each of ES CS SS DS FS GS LDTR TR IDTR GDTR (enum order):
 *     u8 1, seg_desc      when vm_get_seg_desc returns it
 *     u8 0                when it refuses
 *
 *   paging    = u64 cr3, i32 cpl, u32 cpu_mode, u32 paging_mode
 *   seg_desc  = u64 base, u32 limit, u32 access
 *   vie       = u8 num_valid, then min(num_valid, 15) instruction bytes,
 *               u8 num_processed, u8 addrsize, u8 opsize, u8 rex_w, u8 rex_r,
 *               u8 rex_x, u8 rex_b, u8 rex_present, u8 opsize_override,
 *               u8 addrsize_override, u8 mod, u8 reg, u8 rm, u8 ss, u8 index,
 *               u8 base, u8 disp_bytes, u8 imm_bytes, u8 scale,
 *               i32 base_register, i32 index_register, i64 displacement,
 *               i64 immediate, u8 decoded, u8 op_byte, u8 op_type,
 *               u16 op_flags
 *
 * A record is built in a local buffer and hashed with one update call.
 */
#include <softvmm/trace.h>

#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

_Static_assert(sizeof(XXH3_state_t) <= sizeof(((struct exit_digest *)0)->state),
               "struct exit_digest has no room for the XXH3 state");

/*
 * A record is well under RECORD_MAX bytes (about 700 at most); the slack
 * lets every put store 8 bytes at once and advance by the field's size.
 */
#define RECORD_MAX   1024
#define RECORD_SLACK 8

struct record {
	unsigned char bytes[RECORD_MAX + RECORD_SLACK];
	size_t n;
};

/* Little-endian whatever the host; bounded: a full record drops fields, never overruns. */
static void put_bytes_le(struct record *r, uint64_t v, int size)
{
	if (r->n + (size_t)size > RECORD_MAX)
		return;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(r->bytes + r->n, &v, sizeof(v));
	r->n += (size_t)size;
}

static void put_u8(struct record *r, uint64_t v)
{
	put_bytes_le(r, v, 1);
}

static void put_u16(struct record *r, uint64_t v)
{
	put_bytes_le(r, v, 2);
}

static void put_u32(struct record *r, uint64_t v)
{
	put_bytes_le(r, v, 4);
}

static void put_i32(struct record *r, int v)
{
	put_bytes_le(r, (uint64_t)(uint32_t)v, 4);
}

static void put_u64(struct record *r, uint64_t v)
{
	put_bytes_le(r, v, 8);
}

static void put_paging(struct record *r, const struct vm_guest_paging *p)
{
	put_u64(r, p->cr3);
	put_i32(r, p->cpl);
	put_u32(r, (uint32_t)p->cpu_mode);
	put_u32(r, (uint32_t)p->paging_mode);
}

static void put_seg_desc(struct record *r, const struct seg_desc *d)
{
	put_u64(r, d->base);
	put_u32(r, d->limit);
	put_u32(r, d->access);
}

static void put_inout(struct record *r, const struct vm_inout *io)
{
	put_u8(r, io->bytes);
	put_u8(r, io->in);
	put_u8(r, io->string);
	put_u8(r, io->rep);
	put_u16(r, io->port);
	put_u32(r, io->eax);
}

static void put_inout_str(struct record *r, const struct vm_inout_str *s)
{
	put_inout(r, &s->inout);
	put_paging(r, &s->paging);
	put_u64(r, s->rflags);
	put_u64(r, s->cr0);
	put_u64(r, s->index);
	put_u64(r, s->count);
	put_i32(r, s->addrsize);
	put_u32(r, (uint32_t)s->seg_name);
	put_seg_desc(r, &s->seg_desc);
}

static void put_vie(struct record *r, const struct vie *v)
{
	int n = v->num_valid <= VIE_INST_SIZE ? v->num_valid : VIE_INST_SIZE;
	put_u8(r, v->num_valid);
	for (int i = 0; i < n; i++)
		put_u8(r, v->inst[i]);
	const uint8_t small[] = {
		v->num_processed, v->addrsize,  v->opsize,          v->rex_w,
		v->rex_r,         v->rex_x,     v->rex_b,           v->rex_present,
		v->opsize_override, v->addrsize_override, v->mod,   v->reg,
		v->rm,            v->ss,        v->index,           v->base,
		v->disp_bytes,    v->imm_bytes, v->scale,
	};
	for (size_t i = 0; i < sizeof(small); i++)
		put_u8(r, small[i]);
	put_i32(r, v->base_register);
	put_i32(r, v->index_register);
	put_u64(r, (uint64_t)v->displacement);
	put_u64(r, (uint64_t)v->immediate);
	put_u8(r, v->decoded);
	put_u8(r, v->op.op_byte);
	put_u8(r, v->op.op_type);
	put_u16(r, v->op.op_flags);
}

static void put_inst_emul(struct record *r, const struct vm_exit *vme)
{
	put_u64(r, vme->u.inst_emul.gpa);
	put_u64(r, vme->u.inst_emul.gla);
	put_i32(r, vme->u.inst_emul.cs_d);
	put_paging(r, &vme->u.inst_emul.paging);
	put_vie(r, &vme->u.inst_emul.vie);
}

static void put_vmx(struct record *r, const struct vm_exit *vme)
{
	put_i32(r, vme->u.vmx.status);
	put_u32(r, vme->u.vmx.exit_reason);
	put_u64(r, vme->u.vmx.exit_qualification);
	put_i32(r, vme->u.vmx.inst_type);
	put_i32(r, vme->u.vmx.inst_error);
}

static void put_task_switch(struct record *r, const struct vm_task_switch *ts)
{
	put_u16(r, ts->tsssel);
	put_i32(r, ts->ext);
	put_u32(r, ts->errcode);
	put_i32(r, ts->errcode_valid);
	put_u32(r, (uint32_t)ts->reason);
	put_paging(r, &ts->paging);
}

static void put_payload(struct record *r, const struct vm_exit *vme)
{
	switch (vme->exitcode) {
	case VM_EXITCODE_INOUT:
		put_inout(r, &vme->u.inout);
		break;
	case VM_EXITCODE_INOUT_STR:
		put_inout_str(r, &vme->u.inout_str);
		break;
	case VM_EXITCODE_PAGING:
		put_u64(r, vme->u.paging.gpa);
		put_i32(r, vme->u.paging.fault_type);
		break;
	case VM_EXITCODE_INST_EMUL:
		put_inst_emul(r, vme);
		break;
	case VM_EXITCODE_VMX:
		put_vmx(r, vme);
		break;
	case VM_EXITCODE_RDMSR:
		put_u32(r, vme->u.msr.code);
		break;
	case VM_EXITCODE_WRMSR:
		put_u32(r, vme->u.msr.code);
		put_u64(r, vme->u.msr.wval);
		break;
	case VM_EXITCODE_HLT:
		put_u64(r, vme->u.hlt.rflags);
		break;
	case VM_EXITCODE_SPINUP_AP:
		put_i32(r, vme->u.spinup_ap.vcpu);
		put_u64(r, vme->u.spinup_ap.rip);
		break;
	case VM_EXITCODE_IOAPIC_EOI:
		put_i32(r, vme->u.ioapic_eoi.vector);
		break;
	case VM_EXITCODE_SUSPENDED:
		put_u32(r, (uint32_t)vme->u.suspended.how);
		break;
	case VM_EXITCODE_TASK_SWITCH:
		put_task_switch(r, &vme->u.task_switch);
		break;
	default:
		break;
	}
}

static void put_vcpu_state(struct record *r, struct vm *vm, int vcpu)
{
	for (int reg = VM_REG_GUEST_RAX; reg <= VM_REG_GUEST_PDPTE3; reg++) {
		uint64_t value;
		if (vm_get_register(vm, vcpu, reg, &value) == 0) {
			put_u8(r, 1);
			put_u64(r, value);
		} else {
			put_u8(r, 0);
		}
	}
	for (int reg = VM_REG_GUEST_ES; reg <= VM_REG_GUEST_GDTR; reg++) {
		struct seg_desc desc;
		if (vm_get_seg_desc(vm, vcpu, reg, &desc) == 0) {
			put_u8(r, 1);
			put_seg_desc(r, &desc);
		} else {
			put_u8(r, 0);
		}
	}
}

/*
 * The state lives in a byte array of the public struct; it is copied in
 * and out of a real XXH3_state_t so that it is never accessed through a
 * type it does not have (C17 6.5p7).
 */
static void state_load(const struct exit_digest *d, XXH3_state_t *state)
{
	memcpy(state, d->state, sizeof(*state));
}

static void state_store(struct exit_digest *d, const XXH3_state_t *state)
{
	memcpy(d->state, state, sizeof(*state));
}

void exit_digest_init(struct exit_digest *d)
{
	XXH3_state_t state;
	memset(d, 0, sizeof(*d));
	XXH3_64bits_reset(&state);
	state_store(d, &state);
}

void exit_digest_add(struct exit_digest *d, struct vm *vm, int vcpu, const struct vm_exit *vme,
                     bool handled)
{
	struct record r;
	r.n = 0;
	put_u32(&r, (uint32_t)vme->exitcode);
	put_i32(&r, vme->inst_length);
	put_u64(&r, vme->rip);
	put_payload(&r, vme);
	put_u8(&r, handled ? 1 : 0);
	put_vcpu_state(&r, vm, vcpu);
	XXH3_state_t state;
	state_load(d, &state);
	XXH3_64bits_update(&state, r.bytes, r.n);
	state_store(d, &state);
	d->exits++;
}

uint64_t exit_digest_value(const struct exit_digest *d)
{
	XXH3_state_t state;
	state_load(d, &state);
	return XXH3_64bits_digest(&state);
}
