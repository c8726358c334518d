/*
 * Instruction emulation against the soft CPU: every form vie emulates, at
 * each operand size, with edge and random operand values, run twice on a
 * fresh machine (tests/prot_machine.h) in 64-bit and compatibility mode.
 *
 * - On RAM: linear window WIN (PD entry 4, 2 MiB at 0x800000) maps RAM, and
 *   the soft CPU executes the instruction itself.
 * - On MMIO: the same window maps guest-physical MMIO_GPA, which nothing
 *   backs; every access is an INST_EMUL exit, emulated with
 *   vmm_emulate_instruction against a byte array, and the guest resumes as
 *   the runner resumes it (at rip + inst_length, or at rip when the
 *   emulation asks for a restart: REP MOVS/STOS one element per exit).
 *
 * The general registers, RFLAGS and the memory (the window, a RAM buffer
 * for MOVS, the stack of PUSH/POP) must end the same.  Both runs use the
 * same instruction bytes and registers, so nothing but the mapping differs.
 */
#include "prot_machine.h"

#include <errno.h>

#include <softvmm/vmm_instruction_emul.h>

#define WIN       UINT64_C(0x800000)   /* linear window, PD[4] */
#define WIN_RAM   UINT64_C(0x400000)   /* what it maps for the RAM run */
#define MMIO_GPA  UINT64_C(0xc0000000) /* and for the MMIO run: not RAM */
#define WIN_LEN   0x200
#define OPND      UINT64_C(0x100) /* offset of the operand in the window */
#define DATA_LEN  0x100           /* the RAM side of a MOVS, at PM_DATA */
#define STACK_LEN 0x20            /* compared below PM_SP and above it */

#define F_STATUS UINT64_C(0x8d5) /* CF PF AF ZF SF OF */
#define F_DF     UINT64_C(0x400)

/* The device: WIN_LEN bytes at MMIO_GPA + 0, like the window's first bytes. */
struct dev {
	uint8_t bytes[WIN_LEN];
	int accesses;
	bool bad; /* an access outside the window */
};

static int dev_rw(uint64_t gpa, int size, struct dev *d)
{
	d->accesses++;
	if (gpa < MMIO_GPA || gpa + (uint64_t)size > MMIO_GPA + WIN_LEN || size < 1 || size > 8) {
		d->bad = true;
		return EINVAL;
	}
	return 0;
}

static int dev_read(void *vm, int cpu, uint64_t gpa, uint64_t *val, int size, void *arg)
{
	struct dev *d = arg;
	(void)vm;
	(void)cpu;
	if (dev_rw(gpa, size, d) != 0)
		return EINVAL;
	*val = 0;
	for (int i = 0; i < size; i++)
		*val |= (uint64_t)d->bytes[gpa - MMIO_GPA + (uint64_t)i] << (8 * i);
	return 0;
}

static int dev_write(void *vm, int cpu, uint64_t gpa, uint64_t val, int size, void *arg)
{
	struct dev *d = arg;
	(void)vm;
	(void)cpu;
	if (dev_rw(gpa, size, d) != 0)
		return EINVAL;
	for (int i = 0; i < size; i++)
		d->bytes[gpa - MMIO_GPA + (uint64_t)i] = (uint8_t)(val >> (8 * i));
	return 0;
}

/* One test: the machine, the code, the state before it. */
struct tcase {
	enum pm_mode mode;
	const char *model;
	uint8_t code[24];
	unsigned len;
	uint64_t r[16];
	uint64_t rflags;
	uint8_t win[WIN_LEN];
	uint8_t data[DATA_LEN];
	uint8_t stack[2 * STACK_LEN];
	bool repeats;   /* a REP string form: several exits are fine */
	bool no_access; /* a REP with count 0: no exit at all */
	char desc[160];
};

struct result {
	uint64_t r[16];
	uint64_t rflags;
	uint8_t win[WIN_LEN];
	uint8_t data[DATA_LEN];
	uint8_t stack[2 * STACK_LEN];
	int inst_emul_exits;
	bool ok;
};

static unsigned long ncases, nfailures;

#define CASE_FAIL(tc, fmt, ...)                                                                    \
	do {                                                                                       \
		if (nfailures++ < 40)                                                              \
			cr_expect_fail("%s: " fmt, (tc)->desc, ##__VA_ARGS__);                     \
	} while (0)

static void load_state(const struct tcase *tc)
{
	pm_put(PM_CODE, tc->code, tc->len);
	uint8_t done[2] = {0xe6, PORT_DONE};
	pm_put(PM_CODE + tc->len, done, 2);
	pm_put(PM_DATA, tc->data, DATA_LEN);
	pm_put(PM_SP - STACK_LEN, tc->stack, sizeof(tc->stack));
	for (int k = 0; k < 16; k++)
		pm_set_reg(pm_gpr[k], tc->r[k]);
	pm_set_reg(VM_REG_GUEST_RFLAGS, tc->rflags | 2);
	cr_assert_eq(vm_set_insn_limit(pm.vm, 0, 10000), 0);
}

/* Run to the OUT after the instruction, emulating INST_EMUL exits against 'd'. */
static void run_case(const struct tcase *tc, bool mmio, struct result *out)
{
	struct dev d = {.accesses = 0};
	memset(out, 0, sizeof(*out));
	pm_machine_model(tc->mode, 0, tc->model);
	pm_put64(PM_PD + 8 * 4, (mmio ? MMIO_GPA : WIN_RAM) | 0x87);
	if (mmio)
		memcpy(d.bytes, tc->win, WIN_LEN);
	else
		pm_put(WIN_RAM, tc->win, WIN_LEN);
	load_state(tc);
	struct vm_run run = {.cpuid = 0, .rip = PM_CODE};
	for (int n = 0; n < 2000; n++) {
		int err = vm_run(pm.vm, &run);
		struct vm_exit *e = &run.vm_exit;
		if (err != 0) {
			CASE_FAIL(tc, "%s run: vm_run error %d at rip %#" PRIx64,
			          mmio ? "MMIO" : "RAM", err, e->rip);
			goto out;
		}
		if (e->exitcode == VM_EXITCODE_INOUT && e->u.inout.port == PORT_DONE &&
		    e->rip == PM_CODE + tc->len) {
			out->ok = true;
			break;
		}
		if (e->exitcode != VM_EXITCODE_INST_EMUL || !mmio) {
			CASE_FAIL(tc, "%s run: exit %d (port %#x) at rip %#" PRIx64,
			          mmio ? "MMIO" : "RAM", e->exitcode, e->u.inout.port, e->rip);
			goto out;
		}
		out->inst_emul_exits++;
		struct vie *vie = &e->u.inst_emul.vie;
		err = vmm_emulate_instruction(pm.vm, 0, e->u.inst_emul.gpa, vie,
		                              &e->u.inst_emul.paging, dev_read, dev_write, &d);
		if (err != 0 || d.bad) {
			CASE_FAIL(tc, "emulation error %d, device access out of range %d", err,
			          d.bad);
			goto out;
		}
		run.rip = vie->restart ? e->rip : e->rip + (uint64_t)e->inst_length;
	}
	if (!out->ok)
		CASE_FAIL(tc, "%s run did not finish", mmio ? "MMIO" : "RAM");
	for (int k = 0; k < 16; k++)
		out->r[k] = pm_reg(pm_gpr[k]);
	out->rflags = pm_reg(VM_REG_GUEST_RFLAGS);
	if (mmio)
		memcpy(out->win, d.bytes, WIN_LEN);
	else
		pm_get(WIN_RAM, out->win, WIN_LEN);
	pm_get(PM_DATA, out->data, DATA_LEN);
	pm_get(PM_SP - STACK_LEN, out->stack, sizeof(out->stack));
out:
	pm_teardown();
}

static const char *const gpr_name[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                         "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

static void first_diff(const struct tcase *tc, const char *what, const uint8_t *a, const uint8_t *b,
                       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i]) {
			CASE_FAIL(tc, "%s byte %#zx: RAM %#x, MMIO %#x", what, i, a[i], b[i]);
			return;
		}
	}
}

static void check_case(struct tcase *tc)
{
	struct result ram, mmio;
	size_t p = strlen(tc->desc);
	p += (size_t)snprintf(tc->desc + p, sizeof(tc->desc) - p, ":");
	for (unsigned i = 0; i < tc->len && p + 4 < sizeof(tc->desc); i++)
		p += (size_t)snprintf(tc->desc + p, sizeof(tc->desc) - p, " %02x", tc->code[i]);
	ncases++;
	run_case(tc, false, &ram);
	run_case(tc, true, &mmio);
	if (!ram.ok || !mmio.ok)
		return;
	if (tc->no_access ? mmio.inst_emul_exits != 0 : mmio.inst_emul_exits == 0)
		CASE_FAIL(tc, "%d INST_EMUL exits", mmio.inst_emul_exits);
	if (!tc->repeats && mmio.inst_emul_exits > 1)
		CASE_FAIL(tc, "%d INST_EMUL exits", mmio.inst_emul_exits);
	for (int k = 0; k < 16; k++)
		if (ram.r[k] != mmio.r[k])
			CASE_FAIL(tc, "%s: RAM %#" PRIx64 ", MMIO %#" PRIx64, gpr_name[k], ram.r[k],
			          mmio.r[k]);
	if (ram.rflags != mmio.rflags)
		CASE_FAIL(tc, "rflags: RAM %#" PRIx64 ", MMIO %#" PRIx64, ram.rflags, mmio.rflags);
	first_diff(tc, "window", ram.win, mmio.win, WIN_LEN);
	first_diff(tc, "data", ram.data, mmio.data, DATA_LEN);
	first_diff(tc, "stack", ram.stack, mmio.stack, sizeof(ram.stack));
}

/* ---- operand values ------------------------------------------------------------------- */

/* Edge values (0, sign bits, all ones) and two pseudo-random ones, as (memory, other) pairs. */
static const uint64_t values[] = {
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x8000,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    UINT64_C(0x8000000000000000),
    ~UINT64_C(0),
    UINT64_C(0x0123456789abcdef),
    UINT64_C(0xf00dfacecafe1337),
};
#define NVALUES (sizeof(values) / sizeof(values[0]))
#define NPAIRS  12

static void pair(unsigned i, uint64_t *mem, uint64_t *other)
{
	/* Spread over the values when fewer pairs are asked for. */
	static const unsigned order[NPAIRS] = {0, 7, 11, 3, 9, 12, 6, 1, 10, 4, 8, 2};
	unsigned k = order[i % NPAIRS];
	*mem = values[k];
	*other = values[(k * 5 + 3) % NVALUES];
	if (i % 4 == 2)
		*other = *mem; /* equal operands: ZF after SUB/CMP, CF/OF edges */
}

/* The machine state every case starts from; the case then sets its operands. */
static void base_case(struct tcase *tc, enum pm_mode mode, unsigned i)
{
	memset(tc, 0, sizeof(*tc));
	tc->mode = mode;
	for (int k = 0; k < 16; k++)
		tc->r[k] =
		    UINT64_C(0x0102030405060708) * (uint64_t)(k + 1) ^ UINT64_C(0x8000000080);
	tc->r[RSP] = PM_SP;
	tc->r[RBX] = WIN + OPND;
	/* Alternate all status flags clear and set, so CF in and "unchanged" both show. */
	tc->rflags = (i & 1) ? F_STATUS : 0;
	for (unsigned k = 0; k < WIN_LEN; k++)
		tc->win[k] = (uint8_t)(0xa5 ^ (k * 13));
	for (unsigned k = 0; k < DATA_LEN; k++)
		tc->data[k] = (uint8_t)(0x3c ^ (k * 7));
	for (unsigned k = 0; k < sizeof(tc->stack); k++)
		tc->stack[k] = (uint8_t)(0x5a ^ (k * 3));
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* ---- forms with ModRM ---------------------------------------------------------------- */

enum imm_kind { IMM_NONE, IMM_8, IMM_Z };

/* Operand sizes a form takes: 1 for the byte forms, else 2, 4 and (64-bit mode) 8. */
#define SZ_B 0x1
#define SZ_V 0xe

struct form {
	const char *name;
	uint8_t op[2];
	uint8_t oplen;
	uint8_t modrm; /* [rbx] with the register or extension in bits 5:3 */
	enum imm_kind imm;
	unsigned sizes;
};

/*
 * Emit a ModRM form at 'size' with operands from pair i: the operand at
 * [rbx], RCX (or CH/BPL through 'modrm') the register, the immediate from
 * the other value.
 */
static void modrm_case(const struct form *f, enum pm_mode mode, unsigned size, unsigned i,
                       uint8_t rex, uint8_t modrm)
{
	struct tcase tc;
	uint64_t mem, other;
	unsigned n = 0;
	base_case(&tc, mode, i);
	pair(i, &mem, &other);
	put_le(tc.win + OPND, mem, 8);
	tc.r[RCX] = other;
	tc.r[RBP] = other ^ UINT64_C(0x5555);
	tc.r[RAX] = other * 3; /* BEXTR's control, through VEX.vvvv */
	if (size == 2)
		tc.code[n++] = 0x66;
	if (size == 8)
		rex |= 0x48;
	if (rex)
		tc.code[n++] = rex;
	memcpy(tc.code + n, f->op, f->oplen);
	n += f->oplen;
	tc.code[n++] = modrm;
	if (f->imm == IMM_8) {
		tc.code[n++] = (uint8_t)other;
	} else if (f->imm == IMM_Z) {
		put_le(tc.code + n, other, size == 2 ? 2 : 4);
		n += size == 2 ? 2 : 4;
	}
	tc.len = n;
	snprintf(tc.desc, 100, "%s %s size %u mem %#" PRIx64 " other %#" PRIx64, pm_mode_name[mode],
	         f->name, size, mem, other);
	check_case(&tc);
}

static void sweep_forms(const struct form *forms, size_t nforms, unsigned npairs)
{
	static const enum pm_mode modes[] = {PM_LONG64, PM_COMPAT32};
	for (size_t m = 0; m < 2; m++) {
		for (size_t f = 0; f < nforms; f++) {
			for (unsigned size = 1; size <= 8; size *= 2) {
				if (!(forms[f].sizes & size) ||
				    (size == 8 && modes[m] != PM_LONG64))
					continue;
				for (unsigned i = 0; i < npairs; i++) {
					modrm_case(&forms[f], modes[m], size, i, 0, forms[f].modrm);
					/* Byte register forms: CH without REX (reg 5), BPL with
					 * one. */
					if (size == 1 && i < 4 && forms[f].imm == IMM_NONE &&
					    (forms[f].modrm & 0x38) == 0x08) {
						uint8_t mr = (uint8_t)(forms[f].modrm | 0x20);
						modrm_case(&forms[f], modes[m], 1, i, 0, mr);
						if (modes[m] == PM_LONG64)
							modrm_case(&forms[f], modes[m], 1, i, 0x40,
							           mr);
					}
				}
			}
		}
	}
}

static void report(void)
{
	cr_log_info("%lu cases, %lu differences", ncases, nfailures);
	cr_expect_eq(nfailures, 0, "%lu differences in %lu cases", nfailures, ncases);
}

static void reset_counts(void)
{
	ncases = nfailures = 0;
}

TestSuite(vie_equiv, .init = reset_counts, .fini = pm_teardown);

/* ADD OR ADC SBB AND SUB XOR CMP: r/m8,r8; r/m,r; r8,r/m8; r,r/m. */
Test(vie_equiv, alu_register_forms, .timeout = 600)
{
	static const char *const ops[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
	static const char *const shapes[4] = {"m8,r8", "m,r", "r8,m8", "r,m"};
	struct form forms[32];
	char names[32][16];
	for (unsigned k = 0; k < 32; k++) {
		snprintf(names[k], sizeof(names[k]), "%s %s", ops[k / 4], shapes[k % 4]);
		forms[k] = (struct form){names[k], {(uint8_t)((k / 4) * 8 + k % 4)},
		                         1,        0x0b,
		                         IMM_NONE, (k % 2) ? SZ_V : SZ_B};
	}
	sweep_forms(forms, 32, 8);
	report();
}

/* Group 1 (80, 81, 83) with every extension. */
Test(vie_equiv, group1_immediate_forms, .timeout = 600)
{
	static const char *const ops[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
	struct form forms[24];
	char names[24][16];
	for (unsigned k = 0; k < 24; k++) {
		static const uint8_t opc[3] = {0x80, 0x81, 0x83};
		unsigned o = k / 8, r = k % 8;
		snprintf(names[k], sizeof(names[k]), "%02x /%u %s", opc[o], r, ops[r]);
		forms[k] = (struct form){names[k],
		                         {opc[o]},
		                         1,
		                         (uint8_t)(0x03 | (r << 3)),
		                         o == 1 ? IMM_Z : IMM_8,
		                         o == 0 ? SZ_B : SZ_V};
	}
	sweep_forms(forms, 24, 6);
	report();
}

/* MOV, MOVZX, MOVSX, XCHG, TEST, BT*, CLFLUSH. */
Test(vie_equiv, moves_test_and_bit_forms, .timeout = 600)
{
	static const struct form forms[] = {
	    {"mov m8,r8", {0x88}, 1, 0x0b, IMM_NONE, SZ_B},
	    {"mov m,r", {0x89}, 1, 0x0b, IMM_NONE, SZ_V},
	    {"mov r8,m8", {0x8a}, 1, 0x0b, IMM_NONE, SZ_B},
	    {"mov r,m", {0x8b}, 1, 0x0b, IMM_NONE, SZ_V},
	    {"mov m8,imm8", {0xc6}, 1, 0x03, IMM_8, SZ_B},
	    {"mov m,imm", {0xc7}, 1, 0x03, IMM_Z, SZ_V},
	    {"movzx r,m8", {0x0f, 0xb6}, 2, 0x0b, IMM_NONE, SZ_V},
	    {"movzx r,m16", {0x0f, 0xb7}, 2, 0x0b, IMM_NONE, SZ_V},
	    {"movsx r,m8", {0x0f, 0xbe}, 2, 0x0b, IMM_NONE, SZ_V},
	    {"movsx r,m16", {0x0f, 0xbf}, 2, 0x0b, IMM_NONE, SZ_V},
	    {"xchg m8,r8", {0x86}, 1, 0x0b, IMM_NONE, SZ_B},
	    {"xchg m,r", {0x87}, 1, 0x0b, IMM_NONE, SZ_V},
	    {"test m8,r8", {0x84}, 1, 0x0b, IMM_NONE, SZ_B},
	    {"test m,r", {0x85}, 1, 0x0b, IMM_NONE, SZ_V},
	    {"test m8,imm8", {0xf6}, 1, 0x03, IMM_8, SZ_B},
	    {"test m,imm", {0xf7}, 1, 0x03, IMM_Z, SZ_V},
	    {"test m,imm /1", {0xf7}, 1, 0x0b, IMM_Z, SZ_V},
	    {"bt m,imm8", {0x0f, 0xba}, 2, 0x23, IMM_8, SZ_V},
	    {"bts m,imm8", {0x0f, 0xba}, 2, 0x2b, IMM_8, SZ_V},
	    {"btr m,imm8", {0x0f, 0xba}, 2, 0x33, IMM_8, SZ_V},
	    {"btc m,imm8", {0x0f, 0xba}, 2, 0x3b, IMM_8, SZ_V},
	    {"clflush m8", {0x0f, 0xae}, 2, 0x3b, IMM_NONE, 0x4},
	};
	sweep_forms(forms, sizeof(forms) / sizeof(forms[0]), 8);
	report();
}

/* The AMD profile gives the same results (no flag these forms leave undefined differs). */
Test(vie_equiv, alu_and_bit_forms_under_the_amd_profile, .timeout = 600)
{
	static const struct form forms[] = {
	    {"and m,r", {0x21}, 1, 0x0b, IMM_NONE, SZ_V},
	    {"xor r8,m8", {0x32}, 1, 0x0b, IMM_NONE, SZ_B},
	    {"adc r,m", {0x13}, 1, 0x0b, IMM_NONE, SZ_V},
	    {"test m,imm", {0xf7}, 1, 0x03, IMM_Z, SZ_V},
	    {"bts m,imm8", {0x0f, 0xba}, 2, 0x2b, IMM_8, SZ_V},
	};
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		for (unsigned i = 0; i < NPAIRS; i++) {
			struct tcase tc;
			uint64_t mem, other;
			unsigned size = forms[f].sizes == SZ_B ? 1 : 4, n = 0;
			base_case(&tc, PM_LONG64, i);
			tc.model = "x86-64-amd";
			pair(i, &mem, &other);
			put_le(tc.win + OPND, mem, 8);
			tc.r[RCX] = other;
			memcpy(tc.code, forms[f].op, forms[f].oplen);
			n = forms[f].oplen;
			tc.code[n++] = forms[f].modrm;
			if (forms[f].imm == IMM_8)
				tc.code[n++] = (uint8_t)other;
			else if (forms[f].imm == IMM_Z)
				put_le(tc.code + n, other, 4), n += 4;
			tc.len = n;
			snprintf(tc.desc, 100, "amd %s size %u mem %#" PRIx64, forms[f].name, size,
			         mem);
			check_case(&tc);
		}
	}
	report();
}

/* PUSH m (FF /6) and POP m (8F /0): the stack is RAM, the operand MMIO. */
Test(vie_equiv, push_and_pop, .timeout = 600)
{
	static const struct form forms[] = {
	    {"push m", {0xff}, 1, 0x33, IMM_NONE, 0},
	    {"pop m", {0x8f}, 1, 0x03, IMM_NONE, 0},
	};
	static const enum pm_mode modes[] = {PM_LONG64, PM_COMPAT32};
	for (size_t m = 0; m < 2; m++) {
		/* pop [rsp + rbx]: the address uses rSP after the pop (SDM vol. 2 POP). */
		for (unsigned size = 2; size <= 8; size *= 2) {
			if (size == 8 && modes[m] != PM_LONG64)
				continue;
			for (unsigned i = 0; i < 3; i++) {
				struct tcase tc;
				unsigned n = 0;
				base_case(&tc, modes[m], i);
				tc.r[RBX] = WIN + OPND - PM_SP;
				if (size == 2)
					tc.code[n++] = 0x66;
				const uint8_t pop[] = {0x8f, 0x04, 0x1c};
				memcpy(tc.code + n, pop, sizeof(pop));
				tc.len = n + (unsigned)sizeof(pop);
				snprintf(tc.desc, 100, "%s pop [rsp+rbx] size %u",
				         pm_mode_name[modes[m]], size);
				check_case(&tc);
			}
		}
		for (size_t f = 0; f < 2; f++) {
			/* 0x66 gives 16 bits; in 64-bit mode REX.W (or nothing) 64. */
			for (unsigned size = 2; size <= 8; size *= 2) {
				if (size == 8 && modes[m] != PM_LONG64)
					continue;
				for (unsigned i = 0; i < 6; i++)
					modrm_case(&forms[f], modes[m], size, i, 0, forms[f].modrm);
			}
		}
	}
	report();
}

/* BEXTR (VEX.LZ.0F38 F7, BMI1 models): the control in RAX (VEX.vvvv = 0). */
Test(vie_equiv, bextr, .timeout = 600)
{
	static const uint64_t ctls[] = {0x0000, 0x0800, 0x0804, 0x2010, 0x4000, 0x3f01,
	                                0x4020, 0xff00, 0x0140, 0x8008, 0x1f1f, 0x2020};
	static const enum pm_mode modes[] = {PM_LONG64, PM_COMPAT32};
	for (size_t m = 0; m < 2; m++) {
		for (unsigned w = 0; w < 2; w++) {
			for (unsigned i = 0; i < NPAIRS; i++) {
				struct tcase tc;
				uint64_t mem, other;
				base_case(&tc, modes[m], i);
				tc.model = "x86-64-intel-v3";
				pair(i, &mem, &other);
				put_le(tc.win + OPND, mem, 8);
				tc.r[RAX] = ctls[i] | (other << 16);
				const uint8_t code[] = {0xc4, 0xe2, (uint8_t)(w ? 0xf8 : 0x78),
				                        0xf7, 0x0b};
				memcpy(tc.code, code, sizeof(code));
				tc.len = sizeof(code);
				snprintf(tc.desc, 100,
				         "%s bextr W%u mem %#" PRIx64 " ctl %#" PRIx64,
				         pm_mode_name[modes[m]], w, mem, tc.r[RAX]);
				check_case(&tc);
			}
		}
	}
	report();
}

/* ---- forms without ModRM -------------------------------------------------------------- */

/* A0-A3: MOV AL/rAX to and from a memory offset (the address size: 8 or 4 bytes). */
Test(vie_equiv, mov_moffs, .timeout = 600)
{
	static const uint8_t ops[4] = {0xa0, 0xa1, 0xa2, 0xa3};
	static const enum pm_mode modes[] = {PM_LONG64, PM_COMPAT32};
	for (size_t m = 0; m < 2; m++) {
		for (unsigned o = 0; o < 4; o++) {
			for (unsigned size = 1; size <= 8; size *= 2) {
				bool byte = (ops[o] & 1) == 0;
				if (byte != (size == 1) || (size == 8 && modes[m] != PM_LONG64))
					continue;
				for (unsigned a32 = 0; a32 < (modes[m] == PM_LONG64 ? 2u : 1u);
				     a32++) {
					for (unsigned i = 0; i < 6; i++) {
						struct tcase tc;
						uint64_t mem, other;
						unsigned n = 0, asz = modes[m] == PM_LONG64 && !a32
						                          ? 8
						                          : 4;
						base_case(&tc, modes[m], i);
						pair(i, &mem, &other);
						put_le(tc.win + OPND, mem, 8);
						tc.r[RAX] = other;
						if (size == 2)
							tc.code[n++] = 0x66;
						if (a32)
							tc.code[n++] = 0x67;
						if (size == 8)
							tc.code[n++] = 0x48;
						tc.code[n++] = ops[o];
						put_le(tc.code + n, WIN + OPND, asz);
						tc.len = n + asz;
						snprintf(tc.desc, 100,
						         "%s mov %02x size %u asz %u mem %#" PRIx64,
						         pm_mode_name[modes[m]], ops[o], size, asz,
						         mem);
						check_case(&tc);
					}
				}
			}
		}
	}
	report();
}

/*
 * STOS and MOVS, with and without REP (F3, and F2 which repeats them the
 * same), DF clear and set, counts 0, 1 and 5, address size 8 and 4 (64-bit
 * mode); MOVS from the window to RAM, from RAM to the window, and within
 * the window (MMIO to MMIO).  With REP each element is an exit, and the
 * guest resumes at the instruction until the count is done.
 */
Test(vie_equiv, stos_and_movs_with_and_without_rep, .timeout = 600)
{
	static const enum pm_mode modes[] = {PM_LONG64, PM_COMPAT32};
	static const uint64_t counts[] = {0, 1, 5};
	/* MOVS directions: source and destination (window or PM_DATA). */
	static const struct {
		bool src_win, dst_win;
	} dirs[] = {{true, false}, {false, true}, {true, true}};
	for (size_t m = 0; m < 2; m++) {
		for (unsigned movs = 0; movs < 2; movs++) {
			for (unsigned size = 1; size <= 8; size *= 2) {
				if (size == 8 && modes[m] != PM_LONG64)
					continue;
				for (unsigned rep = 0; rep < 3; rep++) {
					for (unsigned df = 0; df < 2; df++) {
						for (unsigned c = 0; c < (rep ? 3u : 1u); c++) {
							for (unsigned d = 0; d < (movs ? 3u : 1u);
							     d++) {
								for (unsigned a32 = 0;
								     a32 < (modes[m] == PM_LONG64
								                ? 2u
								                : 1u);
								     a32++) {
									struct tcase tc;
									unsigned n = 0;
									base_case(&tc, modes[m],
									          c + df);
									tc.rflags |= df ? F_DF : 0;
									tc.repeats = rep != 0;
									if (size == 2)
										tc.code[n++] = 0x66;
									if (a32)
										tc.code[n++] = 0x67;
									if (rep)
										tc.code[n++] =
										    rep == 1 ? 0xf3
										             : 0xf2;
									if (size == 8)
										tc.code[n++] = 0x48;
									tc.code[n++] =
									    (uint8_t)((movs
									                   ? 0xa4
									                   : 0xaa) |
									              (size > 1));
									tc.len = n;
									/* With 0x67 only ECX
									 * counts. */
									tc.r[RCX] =
									    counts[c] |
									    (a32 ? UINT64_C(
									               0xabcd000000000000)
									         : 0);
									tc.no_access =
									    rep && counts[c] == 0;
									tc.r[RAX] = UINT64_C(
									    0x1122334455667788);
									uint64_t start =
									    df ? 0x80 : 0x40;
									bool sw =
									    movs ? dirs[d].src_win
									         : false;
									bool dw =
									    movs ? dirs[d].dst_win
									         : true;
									tc.r[RSI] = (sw ? WIN + OPND
									                : PM_DATA) +
									            start;
									tc.r[RDI] =
									    (dw ? WIN + OPND +
									              (sw ? 0x40
									                  : 0)
									        : PM_DATA) +
									    start;
									snprintf(
									    tc.desc, 64,
									    "%s %s size %u rep %u "
									    "df %u count %" PRIu64
									    " dir %u a32 %u",
									    pm_mode_name[modes[m]],
									    movs ? "movs" : "stos",
									    size, rep, df,
									    counts[c], d, a32);
									check_case(&tc);
								}
							}
						}
					}
				}
			}
		}
	}
	report();
}

/*
 * The exit stream of a REP STOSD whose destination runs from RAM into MMIO
 * (bhyve on VT-x: an EPT violation for each element that touches MMIO):
 * the elements in RAM make no exit; each one in MMIO is an INST_EMUL exit
 * at the instruction with its full length, with RDI and RCX showing the
 * elements done, and the emulation asks for a restart until RCX is 0.
 */
Test(vie_equiv, rep_stos_exits_once_per_mmio_element_at_the_instruction)
{
	static const uint8_t code[] = {0xf3, 0xab}; /* rep stosd */
	struct dev d = {.accesses = 0};
	pm_machine(PM_LONG64, 0);
	pm_put64(PM_PD + 8 * 4, MMIO_GPA | 0x87);
	struct tcase tc;
	base_case(&tc, PM_LONG64, 0);
	memcpy(tc.code, code, sizeof(code));
	tc.len = sizeof(code);
	tc.r[RDI] = WIN - 8;
	tc.r[RCX] = 4;
	tc.r[RAX] = 0xcafef00d;
	load_state(&tc);
	struct vm_run run = {.cpuid = 0, .rip = PM_CODE};
	for (uint64_t k = 0; k < 2; k++) {
		cr_assert_eq(vm_run(pm.vm, &run), 0);
		struct vm_exit *e = &run.vm_exit;
		cr_assert_eq(e->exitcode, VM_EXITCODE_INST_EMUL, "exit %d", e->exitcode);
		cr_expect_eq(e->rip, PM_CODE);
		cr_expect_eq(e->inst_length, 2);
		cr_expect_eq(e->u.inst_emul.gpa, MMIO_GPA + 4 * k);
		cr_expect_eq(e->u.inst_emul.gla, WIN + 4 * k);
		cr_expect_eq(pm_reg(VM_REG_GUEST_RCX), 2 - k);
		cr_expect_eq(pm_reg(VM_REG_GUEST_RDI), WIN + 4 * k);
		cr_assert_eq(vmm_emulate_instruction(pm.vm, 0, e->u.inst_emul.gpa,
		                                     &e->u.inst_emul.vie, &e->u.inst_emul.paging,
		                                     dev_read, dev_write, &d),
		             0);
		cr_expect_eq(e->u.inst_emul.vie.restart, k == 0);
		run.rip = e->u.inst_emul.vie.restart ? e->rip : e->rip + e->inst_length;
	}
	cr_assert_eq(vm_run(pm.vm, &run), 0);
	cr_expect_eq(run.vm_exit.exitcode, VM_EXITCODE_INOUT);
	cr_expect_eq(run.vm_exit.rip, PM_CODE + 2);
	/* The two elements below the window went to RAM (identity-mapped). */
	cr_expect_eq(pm_get_n(WIN - 8, 8), 0xcafef00dcafef00dULL);
	cr_expect_eq(d.bytes[0], 0x0d);
	cr_expect_eq(d.bytes[7], 0xca);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RCX), 0);
	cr_expect_eq(pm_reg(VM_REG_GUEST_RDI), WIN + 8);
	pm_teardown();
}
