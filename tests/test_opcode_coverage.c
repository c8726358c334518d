/*
 * Audit: every general-purpose opcode form Zydis decodes lowers to a handler.
 *
 * The sweep builds every one-byte opcode and every 0F xx two-byte opcode,
 * with ModRM bytes that cover each reg field (the group opcodes' /0../7) in
 * a register form and a memory form, behind no prefix, 66, 67, 66 67, F2,
 * F3 and, in 64-bit mode, REX.W and REX.B, in the 16-bit (real and
 * protected), 32-bit, compatibility and 64-bit decoder modes.  What Zydis
 * decodes as a general-purpose integer instruction (legacy encoding, ISA
 * extension BASE, LONGMODE and the few CPUID-gated integer extensions) is
 * lowered with the default CPU model through lower_insn(), and must not get
 * insn_unimplemented.  An instruction the model does not advertise is fine
 * as insn_invalid (#UD, SDM vol. 2 "Feature flag" rows).
 *
 * Left out, as other issues own them: x87, MMX, SSE and later vector sets,
 * and the VEX-encoded BMI1/BMI2 (test_bmi.c's).  The system instructions,
 * far transfers and I/O of issue 5 are in scope, none left out, and each
 * of issue 5's mnemonics must be seen lowered to a handler at least once.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "core/cpu/cpumodel.h"
#include "core/cpu/lower.h"

struct dmode {
	const char *name;
	ZydisMachineMode mode;
	ZydisStackWidth stack;
};

static const struct dmode modes[] = {
    {"real16", ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16},
    {"prot16", ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16},
    {"prot32", ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32},
    {"compat32", ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32},
    {"long64", ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64},
};

/* Prefix sets; the REX ones only in 64-bit mode. */
static const struct {
	uint8_t b[2];
	unsigned n;
	bool rex;
} prefixes[] = {
    {{0}, 0, false},         {{0x66}, 1, false},      {{0x67}, 1, false}, {{0x66, 0x67}, 2, false},
    {{0xf2}, 1, false},      {{0xf3}, 1, false},      {{0x48}, 1, true},  {{0x41}, 1, true},
    {{0x66, 0x48}, 2, true}, {{0x67, 0x48}, 2, true},
};

/* Integer ISA extensions in scope (legacy encodings only). */
static bool gp_isa(ZydisISAExt e)
{
	switch (e) {
	case ZYDIS_ISA_EXT_BASE:
	case ZYDIS_ISA_EXT_LONGMODE:
	case ZYDIS_ISA_EXT_PAUSE:
	case ZYDIS_ISA_EXT_MOVBE:
	case ZYDIS_ISA_EXT_LZCNT:
	case ZYDIS_ISA_EXT_BMI1: /* TZCNT, F3 0F BC */
	case ZYDIS_ISA_EXT_ADOX_ADCX:
	case ZYDIS_ISA_EXT_RDPID:
	case ZYDIS_ISA_EXT_RDTSCP:
		return true;
	default:
		return false;
	}
}

/* The mnemonics issue 5 added handlers for: each must be reached by the
 * sweep (so a decoder change cannot drop one from the audit unseen). */
static const ZydisMnemonic issue5[] = {
    ZYDIS_MNEMONIC_LDS,     ZYDIS_MNEMONIC_LES,    ZYDIS_MNEMONIC_LFS,      ZYDIS_MNEMONIC_LGS,
    ZYDIS_MNEMONIC_LSS,     ZYDIS_MNEMONIC_LLDT,   ZYDIS_MNEMONIC_LTR,      ZYDIS_MNEMONIC_LAR,
    ZYDIS_MNEMONIC_LSL,     ZYDIS_MNEMONIC_VERR,   ZYDIS_MNEMONIC_VERW,     ZYDIS_MNEMONIC_ARPL,
    ZYDIS_MNEMONIC_SMSW,    ZYDIS_MNEMONIC_LMSW,   ZYDIS_MNEMONIC_CLTS,     ZYDIS_MNEMONIC_SWAPGS,
    ZYDIS_MNEMONIC_SYSCALL, ZYDIS_MNEMONIC_SYSRET, ZYDIS_MNEMONIC_SYSENTER, ZYDIS_MNEMONIC_SYSEXIT,
    ZYDIS_MNEMONIC_CALL,    ZYDIS_MNEMONIC_JMP,    ZYDIS_MNEMONIC_RET,      ZYDIS_MNEMONIC_IRET,
    ZYDIS_MNEMONIC_IRETD,   ZYDIS_MNEMONIC_IRETQ,
};
#define N_ISSUE5 (sizeof(issue5) / sizeof(issue5[0]))

/* ---- the sweep ----------------------------------------------------------------- */

struct form {
	const struct dmode *mode;
	const uint8_t *bytes; /* prefixes, opcode, ModRM, zero fill */
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	struct insn rec; /* lowered with the default model */
};

typedef void (*form_fn)(const struct form *f, void *arg);

/*
 * Every opcode of the one-byte map and the 0F, 0F 38 and 0F 3A maps, with
 * all 256 ModRM bytes, behind each prefix set (plus 'extra' first, e.g.
 * F0), in each decoder mode.  fn sees what decodes, lowered; returns the
 * number of byte strings Zydis refused.
 */
static unsigned sweep(uint8_t extra, form_fn fn, void *arg)
{
	const struct cpu_model *model = cpu_model_default();
	unsigned refused = 0;
	for (unsigned md = 0; md < sizeof(modes) / sizeof(modes[0]); md++) {
		ZydisDecoder dec;
		lower_decoder_init(&dec, modes[md].mode, modes[md].stack);
		bool is64 = modes[md].mode == ZYDIS_MACHINE_MODE_LONG_64;
		for (unsigned p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
			if (prefixes[p].rex && !is64)
				continue;
			for (unsigned op = 0; op < 4 * 256; op++) {
				for (unsigned modrm = 0; modrm < 256; modrm++) {
					uint8_t b[24] = {0};
					unsigned n = 0;
					if (extra)
						b[n++] = extra;
					for (unsigned k = 0; k < prefixes[p].n; k++)
						b[n++] = prefixes[p].b[k];
					if (op >= 256)
						b[n++] = 0x0f;
					if (op >= 512)
						b[n++] = op >= 768 ? 0x3a : 0x38;
					b[n++] = (uint8_t)op;
					b[n++] = (uint8_t)modrm;
					struct form f = {.mode = &modes[md], .bytes = b};
					if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, b, sizeof(b),
					                                         &f.zi, f.ops))) {
						refused++;
						continue;
					}
					bool ends;
					lower_insn(&f.zi, f.ops, model, &f.rec, &ends);
					fn(&f, arg);
				}
			}
		}
	}
	return refused;
}

static bool in_scope(const struct form *f)
{
	return f->zi.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY && gp_isa(f->zi.meta.isa_ext);
}

/* One line per mnemonic, with the first encoding that showed it. */
struct findings {
	ZydisMnemonic m[256];
	char where[256][64];
	unsigned n, forms;
};

static void note(struct findings *x, const struct form *f)
{
	x->forms++;
	for (unsigned k = 0; k < x->n; k++)
		if (x->m[k] == f->zi.mnemonic)
			return;
	if (x->n == 256)
		return;
	x->m[x->n] = f->zi.mnemonic;
	char *w = x->where[x->n++];
	int n = snprintf(w, 64, "%s:", f->mode->name);
	for (unsigned k = 0; k < f->zi.length && k < 10 && n > 0 && n < 60; k++)
		n += snprintf(w + n, 64 - (size_t)n, " %02x", f->bytes[k]);
}

static void report(const struct findings *x, const char *what)
{
	for (unsigned k = 0; k < x->n; k++)
		fprintf(stderr, "%s: %-12s %s\n", what, ZydisMnemonicGetString(x->m[k]),
		        x->where[k]);
}

/* ---- every general-purpose form has a handler ------------------------------------ */

struct gp_audit {
	unsigned in_scope;
	struct findings missing;
	unsigned issue5_forms[N_ISSUE5]; /* lowered to a handler */
};

/* CALL, JMP and RET count only in their far forms. */
static void count_issue5(struct gp_audit *a, const struct form *f)
{
	bool near = f->zi.mnemonic == ZYDIS_MNEMONIC_CALL || f->zi.mnemonic == ZYDIS_MNEMONIC_JMP ||
	            f->zi.mnemonic == ZYDIS_MNEMONIC_RET;
	if (near && f->zi.meta.branch_type != ZYDIS_BRANCH_TYPE_FAR)
		return;
	if (f->rec.fn == insn_unimplemented)
		return;
	for (unsigned k = 0; k < N_ISSUE5; k++)
		if (issue5[k] == f->zi.mnemonic)
			a->issue5_forms[k]++;
}

static void audit_gp(const struct form *f, void *arg)
{
	struct gp_audit *a = arg;
	if (!in_scope(f))
		return;
	a->in_scope++;
	if (f->rec.fn == insn_unimplemented)
		note(&a->missing, f);
	count_issue5(a, f);
}

Test(opcode_coverage, every_general_purpose_form_lowers_to_a_handler)
{
	static struct gp_audit a;
	memset(&a, 0, sizeof(a));
	sweep(0, audit_gp, &a);
	report(&a.missing, "unimplemented");
	fprintf(stderr, "opcode coverage: %u general-purpose forms, %u mnemonics unimplemented\n",
	        a.in_scope, a.missing.n);
	cr_expect_gt(a.in_scope, 1000000, "the sweep must reach the integer opcodes");
	cr_expect_eq(a.missing.n, 0, "%u general-purpose mnemonics lower to insn_unimplemented",
	             a.missing.n);
	for (unsigned k = 0; k < N_ISSUE5; k++)
		cr_expect_gt(a.issue5_forms[k], 0, "%s: no form reached a handler",
		             ZydisMnemonicGetString(issue5[k]));
}

/* ---- CPUID-gated integer instructions: #UD on a model without them ------------------- */

struct gated {
	struct findings runs; /* lowered to something other than insn_invalid */
	unsigned seen;
};

static void audit_gated(const struct form *f, void *arg)
{
	struct gated *a = arg;
	/* MOVBE (CPUID.01H:ECX[22]) and ADCX/ADOX (CPUID.07H:EBX.ADX[19]): the
	 * default model has neither (core/cpu/cpumodel.c). */
	if (f->zi.meta.isa_ext != ZYDIS_ISA_EXT_MOVBE &&
	    f->zi.meta.isa_ext != ZYDIS_ISA_EXT_ADOX_ADCX)
		return;
	a->seen++;
	if (f->rec.fn != insn_invalid)
		note(&a->runs, f);
}

Test(opcode_coverage, integer_extensions_the_model_lacks_raise_ud)
{
	const struct cpu_model *m = cpu_model_default();
	cr_assert(!cpu_model_has(m, FEAT_MOVBE) && !cpu_model_has(m, FEAT_ADX),
	          "the default model gained MOVBE or ADX: this test must change with it");
	static struct gated a;
	memset(&a, 0, sizeof(a));
	sweep(0, audit_gated, &a);
	report(&a.runs, "runs without its CPUID bit");
	cr_expect_gt(a.seen, 100);
	cr_expect_eq(a.runs.n, 0);
}

/* ---- the hint-NOP space runs as NOP ------------------------------------------------- */

static bool hint_space(const struct form *f)
{
	/* The opcode byte after 0F, behind the prefixes Zydis counted. */
	unsigned k = f->zi.raw.prefix_count;
	if (f->bytes[k] != 0x0f)
		return false;
	uint8_t op = f->bytes[k + 1];
	return op == 0x0d || (op >= 0x18 && op <= 0x1f);
}

struct hints {
	struct findings bad; /* invalid, unimplemented, or with a memory access */
	unsigned forms;
};

static void audit_hint(const struct form *f, void *arg)
{
	struct hints *a = arg;
	if (!hint_space(f))
		return;
	a->forms++;
	if (f->rec.fn == insn_invalid || f->rec.fn == insn_unimplemented ||
	    (f->rec.flags & INSN_F_MEM))
		note(&a->bad, f);
}

Test(opcode_coverage, hint_nop_space_lowers_to_nops_without_memory_access)
{
	static struct hints a;
	memset(&a, 0, sizeof(a));
	sweep(0, audit_hint, &a);
	report(&a.bad, "hint space not a NOP");
	fprintf(stderr, "hint-NOP space: %u forms\n", a.forms);
	cr_expect_gt(a.forms, 10000);
	cr_expect_eq(a.bad.n, 0);
}

/* ---- LOCK: exactly the SDM's list, with a memory destination -------------------------- */

static bool lockable(ZydisMnemonic m)
{
	static const ZydisMnemonic list[] = {
	    ZYDIS_MNEMONIC_ADD,     ZYDIS_MNEMONIC_ADC,       ZYDIS_MNEMONIC_AND,
	    ZYDIS_MNEMONIC_BTC,     ZYDIS_MNEMONIC_BTR,       ZYDIS_MNEMONIC_BTS,
	    ZYDIS_MNEMONIC_CMPXCHG, ZYDIS_MNEMONIC_CMPXCHG8B, ZYDIS_MNEMONIC_CMPXCHG16B,
	    ZYDIS_MNEMONIC_DEC,     ZYDIS_MNEMONIC_INC,       ZYDIS_MNEMONIC_NEG,
	    ZYDIS_MNEMONIC_NOT,     ZYDIS_MNEMONIC_OR,        ZYDIS_MNEMONIC_SBB,
	    ZYDIS_MNEMONIC_SUB,     ZYDIS_MNEMONIC_XOR,       ZYDIS_MNEMONIC_XADD,
	    ZYDIS_MNEMONIC_XCHG,
	};
	for (unsigned k = 0; k < sizeof(list) / sizeof(list[0]); k++)
		if (list[k] == m)
			return true;
	return false;
}

struct locks {
	struct findings wrong_ok; /* LOCK accepted where the SDM says #UD */
	struct findings wrong_ud; /* LOCK refused on an allowed memory form */
	struct findings unlocked; /* the record lost INSN_F_LOCK */
	unsigned accepted;
};

static void audit_lock(const struct form *f, void *arg)
{
	struct locks *a = arg;
	if (f->zi.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
		return;
	bool mem_dest = f->zi.operand_count_visible > 0 &&
	                f->ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY &&
	                f->ops[0].mem.type == ZYDIS_MEMOP_TYPE_MEM;
	bool allowed = lockable(f->zi.mnemonic) && mem_dest;
	bool runs = f->rec.fn != insn_invalid && f->rec.fn != insn_unimplemented;
	if (runs) {
		a->accepted++;
		if (!(f->rec.flags & INSN_F_LOCK))
			note(&a->unlocked, f);
	}
	if (runs && !allowed)
		note(&a->wrong_ok, f);
	if (!runs && allowed)
		note(&a->wrong_ud, f);
}

Test(opcode_coverage, lock_prefix_only_on_the_sdm_list_with_a_memory_destination)
{
	static struct locks a;
	memset(&a, 0, sizeof(a));
	sweep(0xf0, audit_lock, &a);
	report(&a.wrong_ok, "LOCK runs, SDM says #UD");
	report(&a.wrong_ud, "LOCK #UD, SDM allows");
	report(&a.unlocked, "LOCK lost");
	fprintf(stderr, "LOCK: %u forms run with the prefix\n", a.accepted);
	cr_expect_gt(a.accepted, 100000);
	cr_expect_eq(a.wrong_ok.n, 0);
	cr_expect_eq(a.wrong_ud.n, 0);
	cr_expect_eq(a.unlocked.n, 0);
}

/* The other direction: every allowed form, decoded without LOCK, also
 * decodes and runs with it (a decoder refusing LOCK ADD [mem] would fail
 * no test above). */
static void audit_lockable(const struct form *f, void *arg)
{
	struct locks *a = arg;
	if (f->zi.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY || !lockable(f->zi.mnemonic) ||
	    f->zi.operand_count_visible == 0 || f->ops[0].type != ZYDIS_OPERAND_TYPE_MEMORY)
		return;
	ZydisDecoder dec;
	lower_decoder_init(&dec, f->mode->mode, f->mode->stack);
	uint8_t b[25] = {0xf0};
	memcpy(b + 1, f->bytes, 24);
	struct form g = {.mode = f->mode, .bytes = b};
	bool ends;
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, b, sizeof(b), &g.zi, g.ops)) ||
	    !lower_insn(&g.zi, g.ops, cpu_model_default(), &g.rec, &ends) ||
	    g.rec.fn == insn_invalid) {
		note(&a->wrong_ud, f);
		return;
	}
	a->accepted++;
}

Test(opcode_coverage, every_lockable_memory_form_accepts_lock)
{
	static struct locks a;
	memset(&a, 0, sizeof(a));
	sweep(0, audit_lockable, &a);
	report(&a.wrong_ud, "refuses LOCK, SDM allows");
	cr_expect_gt(a.accepted, 100000);
	cr_expect_eq(a.wrong_ud.n, 0);
}

/* lower_insn's own LOCK check, for whatever a decoder lets through: the
 * record of a decoded instruction with the LOCK attribute forced on. */
static const struct insn *lower_forced_lock(const uint8_t *b, unsigned n, bool lock)
{
	static struct insn rec;
	ZydisDecoder dec;
	lower_decoder_init(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	cr_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, b, n, &zi, ops)));
	if (lock)
		zi.attributes |= ZYDIS_ATTRIB_HAS_LOCK;
	bool ends;
	lower_insn(&zi, ops, cpu_model_default(), &rec, &ends);
	return &rec;
}

Test(opcode_coverage, lower_insn_refuses_lock_itself)
{
	static const uint8_t mov_m[] = {0x89, 0x18};      /* mov [rax], ebx */
	static const uint8_t add_r[] = {0x01, 0xd8};      /* add eax, ebx */
	static const uint8_t cmp_m[] = {0x39, 0x18};      /* cmp [rax], ebx */
	static const uint8_t bt_m[] = {0x0f, 0xa3, 0x18}; /* bt [rax], ebx */
	static const uint8_t add_m[] = {0x01, 0x18};      /* add [rax], ebx */
	static const uint8_t xchg_m[] = {0x87, 0x18};     /* xchg [rax], ebx */
	static const uint8_t not_m[] = {0xf7, 0x10};      /* not dword [rax] */
	cr_expect_eq(lower_forced_lock(mov_m, 2, true)->fn, insn_invalid);
	cr_expect_eq(lower_forced_lock(add_r, 2, true)->fn, insn_invalid);
	cr_expect_eq(lower_forced_lock(cmp_m, 2, true)->fn, insn_invalid);
	cr_expect_eq(lower_forced_lock(bt_m, 3, true)->fn, insn_invalid);
	cr_expect_neq(lower_forced_lock(mov_m, 2, false)->fn, insn_invalid);
	cr_expect_neq(lower_forced_lock(add_r, 2, false)->fn, insn_invalid);
	cr_expect_neq(lower_forced_lock(add_m, 2, true)->fn, insn_invalid);
	cr_expect_neq(lower_forced_lock(xchg_m, 2, true)->fn, insn_invalid);
	cr_expect_neq(lower_forced_lock(not_m, 2, true)->fn, insn_invalid);
}

/* ---- lower_decode against a full decode ------------------------------------------ */

struct decode_audit {
	unsigned forms, mismatches;
};

static void audit_lower_decode(const struct form *f, void *arg)
{
	struct decode_audit *a = arg;
	ZydisDecoder dec;
	lower_decoder_init(&dec, f->mode->mode, f->mode->stack);
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	a->forms++;
	if (!ZYAN_SUCCESS(lower_decode(&dec, f->bytes, 24, &zi, ops))) {
		if (a->mismatches++ < 8)
			cr_log_error("lower_decode refused %s in %s",
			             ZydisMnemonicGetString(f->zi.mnemonic), f->mode->name);
		return;
	}
	struct insn rec;
	bool ends;
	lower_insn(&zi, ops, cpu_model_default(), &rec, &ends);
	if (memcmp(&rec, &f->rec, sizeof(rec)) != 0 && a->mismatches++ < 8)
		cr_log_error("%s in %s: the record from lower_decode differs from a full decode's",
		             ZydisMnemonicGetString(f->zi.mnemonic), f->mode->name);
}

/* exec.c decodes with lower_decode, which skips the hidden operands most
 * instructions have: every form, behind every prefix set and behind LOCK,
 * must lower to the very record a full decode gives. */
Test(opcode_coverage, lower_decode_gives_the_records_of_a_full_decode)
{
	struct decode_audit a = {0};
	sweep(0, audit_lower_decode, &a);
	sweep(0xf0, audit_lower_decode, &a);
	cr_log_info("%u forms compared", a.forms);
	cr_expect_gt(a.forms, 1000000u);
	cr_expect_eq(a.mismatches, 0, "%u forms differ", a.mismatches);
}
