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
 * The digest of a stream is d_0 = 0 and, for exit k,
 *   e_k     = XXH3_64bits_withSeed(record_k, d_k)
 *   d_(k+1) = XXH3_64bits_withSeed(state_k, e_k)
 * where state_k is the struct vm_vcpu_state vm_get_vcpu_state gives at the
 * exit, hashed as its bytes (fixed layout, explicit zero padding, pinned in
 * softvmm/vmm_abi.h; all zero if the call fails).
 */
#include <softvmm/trace.h>

#include <string.h>

/* Inline: the per-exit state hash has a constant size, which lets XXH3 pick
 * its path at compile time and saves the call into the shared library. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/*
 * The largest record: header 16, payload at most 104 (INST_EMUL; INOUT_STR
 * is 86), handled 1, registers and segments.  Every field has a fixed size
 * but the vie's instruction bytes, which are at most VIE_INST_SIZE, so a
 * record cannot outgrow the buffer; the slack lets every put store 8 bytes
 * at once and advance by the field's size.
 */
#define RECORD_PAYLOAD_MAX 128
#define RECORD_MAX         (16 + RECORD_PAYLOAD_MAX + 1)
#define RECORD_SLACK       8

/*
 * Each put stores at cursor 'p' and returns the cursor after the field.
 * The cursor is a local value, not a struct member, so the compiler keeps
 * it in a register across the byte stores.  Little-endian on every host.
 */
static unsigned char *put_le(unsigned char *p, uint64_t v, int size)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof(v));
	return p + size;
}

static unsigned char *put_u8(unsigned char *p, uint64_t v)
{
	return put_le(p, v, 1);
}

static unsigned char *put_u16(unsigned char *p, uint64_t v)
{
	return put_le(p, v, 2);
}

static unsigned char *put_u32(unsigned char *p, uint64_t v)
{
	return put_le(p, v, 4);
}

static unsigned char *put_i32(unsigned char *p, int v)
{
	return put_le(p, (uint64_t)(uint32_t)v, 4);
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
	return put_le(p, v, 8);
}

static unsigned char *put_paging(unsigned char *p, const struct vm_guest_paging *pg)
{
	p = put_u64(p, pg->cr3);
	p = put_i32(p, pg->cpl);
	p = put_u32(p, (uint32_t)pg->cpu_mode);
	return put_u32(p, (uint32_t)pg->paging_mode);
}

static unsigned char *put_seg_desc(unsigned char *p, const struct seg_desc *d)
{
	p = put_u64(p, d->base);
	p = put_u32(p, d->limit);
	return put_u32(p, d->access);
}

static unsigned char *put_inout(unsigned char *p, const struct vm_inout *io)
{
	p = put_u8(p, io->bytes);
	p = put_u8(p, io->in);
	p = put_u8(p, io->string);
	p = put_u8(p, io->rep);
	p = put_u16(p, io->port);
	return put_u32(p, io->eax);
}

static unsigned char *put_inout_str(unsigned char *p, const struct vm_inout_str *s)
{
	p = put_inout(p, &s->inout);
	p = put_paging(p, &s->paging);
	p = put_u64(p, s->rflags);
	p = put_u64(p, s->cr0);
	p = put_u64(p, s->index);
	p = put_u64(p, s->count);
	p = put_i32(p, s->addrsize);
	p = put_u32(p, (uint32_t)s->seg_name);
	return put_seg_desc(p, &s->seg_desc);
}

static unsigned char *put_vie(unsigned char *p, const struct vie *v)
{
	int n = v->num_valid <= VIE_INST_SIZE ? v->num_valid : VIE_INST_SIZE;
	p = put_u8(p, v->num_valid);
	for (int i = 0; i < n; i++)
		p = put_u8(p, v->inst[i]);
	const uint8_t small[] = {
	    v->num_processed,
	    v->addrsize,
	    v->opsize,
	    v->rex_w,
	    v->rex_r,
	    v->rex_x,
	    v->rex_b,
	    v->rex_present,
	    v->opsize_override,
	    v->addrsize_override,
	    v->mod,
	    v->reg,
	    v->rm,
	    v->ss,
	    v->index,
	    v->base,
	    v->disp_bytes,
	    v->imm_bytes,
	    v->scale,
	};
	for (size_t i = 0; i < sizeof(small); i++)
		p = put_u8(p, small[i]);
	p = put_i32(p, v->base_register);
	p = put_i32(p, v->index_register);
	p = put_u64(p, (uint64_t)v->displacement);
	p = put_u64(p, (uint64_t)v->immediate);
	p = put_u8(p, v->decoded);
	p = put_u8(p, v->op.op_byte);
	p = put_u8(p, v->op.op_type);
	return put_u16(p, v->op.op_flags);
}

static unsigned char *put_inst_emul(unsigned char *p, const struct vm_exit *vme)
{
	p = put_u64(p, vme->u.inst_emul.gpa);
	p = put_u64(p, vme->u.inst_emul.gla);
	p = put_i32(p, vme->u.inst_emul.cs_d);
	p = put_paging(p, &vme->u.inst_emul.paging);
	return put_vie(p, &vme->u.inst_emul.vie);
}

static unsigned char *put_vmx(unsigned char *p, const struct vm_exit *vme)
{
	p = put_i32(p, vme->u.vmx.status);
	p = put_u32(p, vme->u.vmx.exit_reason);
	p = put_u64(p, vme->u.vmx.exit_qualification);
	p = put_i32(p, vme->u.vmx.inst_type);
	return put_i32(p, vme->u.vmx.inst_error);
}

static unsigned char *put_task_switch(unsigned char *p, const struct vm_task_switch *ts)
{
	p = put_u16(p, ts->tsssel);
	p = put_i32(p, ts->ext);
	p = put_u32(p, ts->errcode);
	p = put_i32(p, ts->errcode_valid);
	p = put_u32(p, (uint32_t)ts->reason);
	return put_paging(p, &ts->paging);
}

static unsigned char *put_payload(unsigned char *p, const struct vm_exit *vme)
{
	switch (vme->exitcode) {
	case VM_EXITCODE_INOUT:
		p = put_inout(p, &vme->u.inout);
		break;
	case VM_EXITCODE_INOUT_STR:
		p = put_inout_str(p, &vme->u.inout_str);
		break;
	case VM_EXITCODE_PAGING:
		p = put_u64(p, vme->u.paging.gpa);
		p = put_i32(p, vme->u.paging.fault_type);
		break;
	case VM_EXITCODE_INST_EMUL:
		p = put_inst_emul(p, vme);
		break;
	case VM_EXITCODE_VMX:
		p = put_vmx(p, vme);
		break;
	case VM_EXITCODE_RDMSR:
		p = put_u32(p, vme->u.msr.code);
		break;
	case VM_EXITCODE_WRMSR:
		p = put_u32(p, vme->u.msr.code);
		p = put_u64(p, vme->u.msr.wval);
		break;
	case VM_EXITCODE_HLT:
		p = put_u64(p, vme->u.hlt.rflags);
		break;
	case VM_EXITCODE_SPINUP_AP:
		p = put_i32(p, vme->u.spinup_ap.vcpu);
		p = put_u64(p, vme->u.spinup_ap.rip);
		break;
	case VM_EXITCODE_IOAPIC_EOI:
		p = put_i32(p, vme->u.ioapic_eoi.vector);
		break;
	case VM_EXITCODE_SUSPENDED:
		p = put_u32(p, (uint32_t)vme->u.suspended.how);
		break;
	case VM_EXITCODE_TASK_SWITCH:
		p = put_task_switch(p, &vme->u.task_switch);
		break;
	default:
		break;
	}
	return p;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the digest hashes struct vm_vcpu_state as little-endian bytes"
#endif

void exit_digest_init(struct exit_digest *d)
{
	d->exits = 0;
	d->hash = 0;
}

/*
 * Records are chained: each one is hashed with XXH3-64 seeded with the
 * digest so far.  One call per exit over a buffer built on the stack, with
 * no streaming state to load and store (pio makes two million exits).
 */
void exit_digest_add(struct exit_digest *d, struct vm *vm, int vcpu, const struct vm_exit *vme,
                     bool handled)
{
	unsigned char record[RECORD_MAX + RECORD_SLACK];
	unsigned char *p = record;
	p = put_u32(p, (uint32_t)vme->exitcode);
	p = put_i32(p, vme->inst_length);
	p = put_u64(p, vme->rip);
	p = put_payload(p, vme);
	p = put_u8(p, handled ? 1 : 0);
	d->hash = XXH3_64bits_withSeed(record, (size_t)(p - record), d->hash);
	/* The state's bytes as they are: a padding-free fixed layout
	 * (vmm_abi.h), little-endian on every host this builds for. */
	struct vm_vcpu_state st;
	if (vm_get_vcpu_state(vm, vcpu, &st) != 0)
		memset(&st, 0, sizeof(st));
	d->hash = XXH3_64bits_withSeed(&st, sizeof(st), d->hash);
	d->exits++;
}

uint64_t exit_digest_value(const struct exit_digest *d)
{
	return d->hash;
}
