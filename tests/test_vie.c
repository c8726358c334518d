/*
 * Tests of bhyve's INST_EMUL decode and emulation (decode/vie*.c), against
 * the rules of ../shared/BHYVE-EXITS.md section 4 and the SDM.
 *
 * Decode tests feed bytes straight into a vie; emulation tests run the
 * decoded vie against a small test device that records every access, on a
 * real vm whose registers and RAM they inspect.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

#include "guest_helper.h"

#define RAM_SIZE (1u << 20)
#define MMIO_GPA 0xc0001000ULL /* not RAM: the test device lives here */

#define RFLAGS_FIXED  0x2ULL /* bit 1 always reads 1 */
#define RFLAGS_CF     (1ULL << 0)
#define RFLAGS_PF     (1ULL << 2)
#define RFLAGS_AF     (1ULL << 4)
#define RFLAGS_ZF     (1ULL << 6)
#define RFLAGS_SF     (1ULL << 7)
#define RFLAGS_IF     (1ULL << 9)
#define RFLAGS_DF     (1ULL << 10)
#define RFLAGS_OF     (1ULL << 11)
#define RFLAGS_AC     (1ULL << 18)
#define RFLAGS_STATUS (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)
#define CR0_PE        (1ULL << 0)
#define CR0_AM        (1ULL << 18)

/* Access rights as the VMCS holds them (vmm.h struct seg_desc). */
#define ACC_DATA_RW      0x0093u /* present, S, data read/write, accessed */
#define ACC_DATA_RO      0x0091u
#define ACC_DATA_RW_DOWN 0x0097u
#define ACC_CODE_XO      0x0099u /* execute-only code */
#define ACC_CODE_RX      0x009bu
#define ACC_DB           0x4000u
#define ACC_UNUSABLE     0x10000u

static struct vm *vm;

static void vm_setup(void)
{
	cr_assert_eq(vm_create("t", NULL, &vm), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
	cr_assert_eq(vm_malloc(vm, 0, RAM_SIZE), 0);
}

static void vm_teardown(void)
{
	vm_destroy(vm);
}

TestSuite(vie_decode, .init = vm_setup, .fini = vm_teardown);
TestSuite(vie_decode_fail, .init = vm_setup, .fini = vm_teardown);
TestSuite(vie_verify_gla, .init = vm_setup, .fini = vm_teardown);
TestSuite(vie_fetch, .init = vm_setup, .fini = vm_teardown);
TestSuite(vie_emulate, .init = vm_setup, .fini = vm_teardown);
TestSuite(vie_flags, .init = vm_setup, .fini = vm_teardown);
TestSuite(vie_push, .init = vm_setup, .fini = vm_teardown);
TestSuite(vie_helpers, .init = vm_setup, .fini = vm_teardown);

static void set_reg(int reg, uint64_t val)
{
	cr_assert_eq(vm_set_register(vm, 0, reg, val), 0);
}

static uint64_t get_reg(int reg)
{
	uint64_t val;

	cr_assert_eq(vm_get_register(vm, 0, reg, &val), 0);
	return val;
}

/* Decode 'n' bytes as if fetched whole; VIE_INVALID_GLA skips verify_gla. */
static int decode_bytes(struct vie *vie, enum vm_cpu_mode mode, int csd, uint64_t gla,
                        const uint8_t *bytes, size_t n)
{
	vie_init(vie);
	memcpy(vie->inst, bytes, n);
	vie->num_valid = (uint8_t)n;
	return vmm_decode_instruction(vm, 0, gla, mode, csd, vie);
}

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})
/*
 * 'mode' is one of the M* pairs below (a cpu mode and CS.D); the extra
 * macro level lets the pair expand into two arguments.
 */
#define DECODE(vie, mode, ...)               DECODE_GLA(vie, mode, VIE_INVALID_GLA, __VA_ARGS__)
#define DECODE_GLA(vie, mode, ...)           DECODE_GLA_(vie, mode, __VA_ARGS__)
#define DECODE_GLA_(vie, cpu, csd, gla, ...) decode_bytes(vie, cpu, csd, gla, BYTES(__VA_ARGS__))

#define M64   CPU_MODE_64BIT, 0
#define M32   CPU_MODE_PROTECTED, 1
#define M16   CPU_MODE_PROTECTED, 0
#define MREAL CPU_MODE_REAL, 0
#define MC32  CPU_MODE_COMPATIBILITY, 1
#define MC16  CPU_MODE_COMPATIBILITY, 0

/* The fields that every decode test checks, in one place. */
struct expect {
	uint8_t op_byte, op_type, opsize, addrsize, mod, reg, rm, scale, num;
	int base, index;
	int64_t disp, imm;
};

static void check_vie(const struct vie *v, const struct expect *e)
{
	cr_assert_eq(v->decoded, 1);
	cr_expect_eq(v->op.op_byte, e->op_byte, "op_byte %#x", v->op.op_byte);
	cr_expect_eq(v->op.op_type, e->op_type, "op_type %d", v->op.op_type);
	cr_expect_eq(v->opsize, e->opsize, "opsize %d", v->opsize);
	cr_expect_eq(v->addrsize, e->addrsize, "addrsize %d", v->addrsize);
	cr_expect_eq(v->mod, e->mod, "mod %d", v->mod);
	cr_expect_eq(v->reg, e->reg, "reg %d", v->reg);
	cr_expect_eq(v->rm, e->rm, "rm %d", v->rm);
	cr_expect_eq(v->base_register, e->base, "base_register %d", v->base_register);
	cr_expect_eq(v->index_register, e->index, "index_register %d", v->index_register);
	cr_expect_eq(v->scale, e->scale, "scale %d", v->scale);
	cr_expect_eq(v->displacement, e->disp, "displacement %#llx",
	             (unsigned long long)v->displacement);
	cr_expect_eq(v->immediate, e->imm, "immediate %#llx", (unsigned long long)v->immediate);
	cr_expect_eq(v->num_processed, e->num, "num_processed %d", v->num_processed);
}

#define NOREG VM_REG_LAST

/* ---- decode: 64-bit mode ------------------------------------------------ */

Test(vie_decode, decode_mov_r32_to_m32_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x89, 0x0b), 0); /* mov [rbx], ecx */
	check_vie(&v, &(struct expect){0x89, VIE_OP_TYPE_MOV, 4, 8, 0, 1, 3, 0, 2, VM_REG_GUEST_RBX,
	                               NOREG, 0, 0});
}

Test(vie_decode, decode_rex_w_mov_r64_to_sib_rsp_disp8_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x48, 0x89, 0x4c, 0x24, 0x08), 0); /* mov [rsp+8], rcx */
	check_vie(&v, &(struct expect){0x89, VIE_OP_TYPE_MOV, 8, 8, 1, 1, 4, 0, 5, VM_REG_GUEST_RSP,
	                               NOREG, 8, 0});
	cr_expect_eq(v.rex_present, 1);
	cr_expect_eq(v.rex_w, 1);
	cr_expect_eq(v.disp_bytes, 1);
}

Test(vie_decode, decode_mov_r8_to_m8_with_ah_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x88, 0x20), 0); /* mov [rax], ah */
	check_vie(&v, &(struct expect){0x88, VIE_OP_TYPE_MOV, 4, 8, 0, 4, 0, 0, 2, VM_REG_GUEST_RAX,
	                               NOREG, 0, 0});
	cr_expect_eq(v.rex_present, 0);
}

Test(vie_decode, decode_mov_m8_to_r8_sib_index_scale4_no_base_in_64bit_mode)
{
	struct vie v;

	/* mov bh, [rcx*4 + 0x1000]: SIB base 5 with mod 0 is disp32, no base */
	cr_assert_eq(DECODE(&v, M64, 0x8a, 0x3c, 0x8d, 0x00, 0x10, 0x00, 0x00), 0);
	check_vie(&v, &(struct expect){0x8a, VIE_OP_TYPE_MOV, 4, 8, 0, 7, 4, 4, 7, NOREG,
	                               VM_REG_GUEST_RCX, 0x1000, 0});
	cr_expect_eq(v.ss, 2);
	cr_expect_eq(v.index, 1);
	cr_expect_eq(v.base, 5);
	cr_expect_eq(v.disp_bytes, 4);
}

Test(vie_decode, decode_mov_m32_to_r32_rip_relative_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff), 0); /* [rip-16] */
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 4, 8, 0, 0, 5, 0, 6, VM_REG_GUEST_RIP,
	                               NOREG, -16, 0});
}

Test(vie_decode, decode_rex_b_does_not_turn_rip_relative_into_r13)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x41, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00), 0);
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 4, 8, 0, 0, 5, 0, 7, VM_REG_GUEST_RIP,
	                               NOREG, 0x10, 0});
}

Test(vie_decode, decode_rex_b_mod1_rm5_is_r13_plus_disp8)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x41, 0x8b, 0x45, 0xf8), 0); /* mov eax, [r13-8] */
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 4, 8, 1, 0, 13, 0, 4,
	                               VM_REG_GUEST_R13, NOREG, -8, 0});
}

Test(vie_decode, decode_rex_wr_mov_m64_to_r8_sib_scale8_disp32_in_64bit_mode)
{
	struct vie v;

	/* mov r8, [rdi + rax*8 + 0x12345678] */
	cr_assert_eq(DECODE(&v, M64, 0x4c, 0x8b, 0x84, 0xc7, 0x78, 0x56, 0x34, 0x12), 0);
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 8, 8, 2, 8, 4, 8, 8, VM_REG_GUEST_RDI,
	                               VM_REG_GUEST_RAX, 0x12345678, 0});
	cr_expect_eq(v.rex_r, 1);
}

Test(vie_decode, decode_sib_rex_x_index4_is_r12_not_none)
{
	struct vie v;

	/* mov eax, [r12*4 + 0x2000] */
	cr_assert_eq(DECODE(&v, M64, 0x42, 0x8b, 0x04, 0xa5, 0x00, 0x20, 0x00, 0x00), 0);
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 4, 8, 0, 0, 4, 4, 8, NOREG,
	                               VM_REG_GUEST_R12, 0x2000, 0});
	cr_expect_eq(v.index, 12);
}

Test(vie_decode, decode_sib_rex_b_base5_mod0_is_disp32_not_r13)
{
	struct vie v;

	/* mov eax, [0x2000] through SIB with REX.B: base 13, mod 0, so no base */
	cr_assert_eq(DECODE(&v, M64, 0x41, 0x8b, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00), 0);
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 4, 8, 0, 0, 4, 0, 8, NOREG, NOREG,
	                               0x2000, 0});
	cr_expect_eq(v.base, 13);
}

Test(vie_decode, decode_sib_base5_mod1_is_rbp_with_disp8)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x8b, 0x44, 0x75, 0x10), 0); /* mov eax, [rbp+rsi*2+16] */
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 4, 8, 1, 0, 4, 2, 4, VM_REG_GUEST_RBP,
	                               VM_REG_GUEST_RSI, 16, 0});
}

Test(vie_decode, decode_disp8_and_disp32_are_sign_extended)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x89, 0x48, 0x80), 0); /* [rax-128] */
	cr_expect_eq(v.displacement, -128);
	cr_assert_eq(DECODE(&v, M64, 0x89, 0x88, 0x00, 0x00, 0x00, 0x80), 0);
	cr_expect_eq(v.displacement, INT32_MIN);
}

Test(vie_decode, decode_moffs64_to_rax_with_rex_w_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11),
	             0);
	check_vie(&v, &(struct expect){0xa1, VIE_OP_TYPE_MOV, 8, 8, 0, 0, 0, 0, 10, NOREG, NOREG,
	                               0x1122334455667788LL, 0});
	cr_expect_eq(v.op.op_flags, VIE_OP_F_MOFFSET | VIE_OP_F_NO_MODRM);
}

Test(vie_decode, decode_moffs_follows_address_size_and_is_not_sign_extended)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x67, 0xa3, 0x00, 0x00, 0xe0, 0xfe), 0);
	check_vie(&v, &(struct expect){0xa3, VIE_OP_TYPE_MOV, 4, 4, 0, 0, 0, 0, 6, NOREG, NOREG,
	                               0xfee00000LL, 0});
}

Test(vie_decode, decode_mov_imm8_to_m8_sign_extends_the_immediate)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0xc6, 0x00, 0x80), 0); /* mov byte [rax], 0x80 */
	check_vie(&v, &(struct expect){0xc6, VIE_OP_TYPE_MOV, 4, 8, 0, 0, 0, 0, 3, VM_REG_GUEST_RAX,
	                               NOREG, 0, -128});
	cr_expect_eq(v.imm_bytes, 1);
}

Test(vie_decode, decode_rex_w_mov_imm32_to_m64_sign_extends_to_64_bits)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x48, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x80), 0);
	check_vie(&v, &(struct expect){0xc7, VIE_OP_TYPE_MOV, 8, 8, 0, 0, 0, 0, 7, VM_REG_GUEST_RAX,
	                               NOREG, 0, INT32_MIN});
	cr_expect_eq(v.imm_bytes, 4);
}

Test(vie_decode, decode_opsize_override_mov_imm16_takes_two_immediate_bytes)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x66, 0xc7, 0x00, 0x34, 0x12), 0);
	check_vie(&v, &(struct expect){0xc7, VIE_OP_TYPE_MOV, 2, 8, 0, 0, 0, 0, 5, VM_REG_GUEST_RAX,
	                               NOREG, 0, 0x1234});
	cr_expect_eq(v.imm_bytes, 2);
	cr_expect_eq(v.opsize_override, 1);
}

Test(vie_decode, decode_movzx_m8_to_r32_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x0f, 0xb6, 0x08), 0); /* movzx ecx, byte [rax] */
	check_vie(&v, &(struct expect){0xb6, VIE_OP_TYPE_MOVZX, 4, 8, 0, 1, 0, 0, 3,
	                               VM_REG_GUEST_RAX, NOREG, 0, 0});
}

Test(vie_decode, decode_movzx_m16_to_r64_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x48, 0x0f, 0xb7, 0x0e), 0); /* movzx rcx, word [rsi] */
	check_vie(&v, &(struct expect){0xb7, VIE_OP_TYPE_MOVZX, 8, 8, 0, 1, 6, 0, 4,
	                               VM_REG_GUEST_RSI, NOREG, 0, 0});
}

Test(vie_decode, decode_movsx_m8_to_r16_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x66, 0x0f, 0xbe, 0x17), 0); /* movsx dx, byte [rdi] */
	check_vie(&v, &(struct expect){0xbe, VIE_OP_TYPE_MOVSX, 2, 8, 0, 2, 7, 0, 4,
	                               VM_REG_GUEST_RDI, NOREG, 0, 0});
}

Test(vie_decode, decode_and_sub_cmp_r_with_m_in_64bit_mode)
{
	static const struct {
		uint8_t byte, type;
	} ops[] = {{0x23, VIE_OP_TYPE_AND}, {0x2b, VIE_OP_TYPE_SUB}, {0x3b, VIE_OP_TYPE_CMP}};
	struct vie v;
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		/* op r9, [rdx] (REX.WR) */
		cr_assert_eq(DECODE(&v, M64, 0x4c, ops[i].byte, 0x0a), 0);
		check_vie(&v, &(struct expect){ops[i].byte, ops[i].type, 8, 8, 0, 9, 2, 0, 3,
		                               VM_REG_GUEST_RDX, NOREG, 0, 0});
	}
}

Test(vie_decode, decode_group1_81_and_or_with_imm32_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x81, 0x20, 0xff, 0x00, 0x00, 0x00), 0); /* and [rax], 0xff */
	check_vie(&v, &(struct expect){0x81, VIE_OP_TYPE_GROUP1, 4, 8, 0, 4, 0, 0, 6,
	                               VM_REG_GUEST_RAX, NOREG, 0, 0xff});
	cr_assert_eq(DECODE(&v, M64, 0x48, 0x81, 0x08, 0x00, 0x00, 0x00, 0x80), 0); /* or */
	check_vie(&v, &(struct expect){0x81, VIE_OP_TYPE_GROUP1, 8, 8, 0, 1, 0, 0, 7,
	                               VM_REG_GUEST_RAX, NOREG, 0, INT32_MIN});
}

Test(vie_decode, decode_group1_83_or_with_simm8_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x83, 0x4b, 0x04, 0xf0), 0); /* or dword [rbx+4], -16 */
	check_vie(&v, &(struct expect){0x83, VIE_OP_TYPE_GROUP1, 4, 8, 1, 1, 3, 0, 4,
	                               VM_REG_GUEST_RBX, NOREG, 4, -16});
	cr_expect_eq(v.imm_bytes, 1);
}

Test(vie_decode, decode_push_m64_in_64bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0xff, 0x30), 0); /* push qword [rax] */
	check_vie(&v, &(struct expect){0xff, VIE_OP_TYPE_PUSH, 4, 8, 0, 6, 0, 0, 2,
	                               VM_REG_GUEST_RAX, NOREG, 0, 0});
}

Test(vie_decode, decode_size_prefixes_repeat_in_any_order_and_rex_w_beats_0x66)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0x67, 0x66, 0x67, 0x48, 0x89, 0x08), 0);
	check_vie(&v, &(struct expect){0x89, VIE_OP_TYPE_MOV, 8, 4, 0, 1, 0, 0, 6, VM_REG_GUEST_RAX,
	                               NOREG, 0, 0});
	cr_expect_eq(v.opsize_override, 1);
	cr_expect_eq(v.addrsize_override, 1);
}

/* ---- decode: 32-bit protected mode (CS.D = 1) ---------------------------- */

Test(vie_decode, decode_mov_r32_to_m32_in_32bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M32, 0x89, 0x0b), 0);
	check_vie(&v, &(struct expect){0x89, VIE_OP_TYPE_MOV, 4, 4, 0, 1, 3, 0, 2, VM_REG_GUEST_RBX,
	                               NOREG, 0, 0});
}

Test(vie_decode, decode_opsize_override_gives_16bit_operand_in_32bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M32, 0x66, 0x8b, 0x46, 0x7f), 0); /* mov ax, [esi+127] */
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 2, 4, 1, 0, 6, 0, 4, VM_REG_GUEST_RSI,
	                               NOREG, 127, 0});
}

Test(vie_decode, decode_mod0_rm5_is_disp32_without_base_in_32bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M32, 0x8b, 0x05, 0x00, 0x00, 0xe0, 0xfe), 0);
	check_vie(&v, &(struct expect){0x8b, VIE_OP_TYPE_MOV, 4, 4, 0, 0, 5, 0, 6, NOREG, NOREG,
	                               (int64_t)(int32_t)0xfee00000, 0});
}

Test(vie_decode, decode_sib_in_32bit_mode)
{
	struct vie v;

	/* mov [ebx + edi*2 - 4], dl */
	cr_assert_eq(DECODE(&v, M32, 0x88, 0x54, 0x7b, 0xfc), 0);
	check_vie(&v, &(struct expect){0x88, VIE_OP_TYPE_MOV, 4, 4, 1, 2, 4, 2, 4, VM_REG_GUEST_RBX,
	                               VM_REG_GUEST_RDI, -4, 0});
}

Test(vie_decode, decode_moffs32_in_32bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M32, 0xa1, 0x20, 0x00, 0xc0, 0xfe), 0);
	check_vie(&v, &(struct expect){0xa1, VIE_OP_TYPE_MOV, 4, 4, 0, 0, 0, 0, 5, NOREG, NOREG,
	                               0xfec00020LL, 0});
}

Test(vie_decode, decode_mov_imm32_and_imm16_in_32bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M32, 0xc7, 0x00, 0x78, 0x56, 0x34, 0x12), 0);
	check_vie(&v, &(struct expect){0xc7, VIE_OP_TYPE_MOV, 4, 4, 0, 0, 0, 0, 6, VM_REG_GUEST_RAX,
	                               NOREG, 0, 0x12345678});
	cr_assert_eq(DECODE(&v, M32, 0x66, 0xc7, 0x00, 0xff, 0xff), 0);
	check_vie(&v, &(struct expect){0xc7, VIE_OP_TYPE_MOV, 2, 4, 0, 0, 0, 0, 5, VM_REG_GUEST_RAX,
	                               NOREG, 0, -1});
}

Test(vie_decode, decode_movzx_movsx_and_group_opcodes_in_32bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M32, 0x0f, 0xb7, 0x03), 0);
	check_vie(&v, &(struct expect){0xb7, VIE_OP_TYPE_MOVZX, 4, 4, 0, 0, 3, 0, 3,
	                               VM_REG_GUEST_RBX, NOREG, 0, 0});
	cr_assert_eq(DECODE(&v, M32, 0x0f, 0xbe, 0x03), 0);
	cr_expect_eq(v.op.op_type, VIE_OP_TYPE_MOVSX);
	cr_assert_eq(DECODE(&v, M32, 0x83, 0x08, 0x01), 0);
	cr_expect_eq(v.immediate, 1);
	cr_assert_eq(DECODE(&v, M32, 0xff, 0x36), 0); /* push dword [esi] */
	check_vie(&v, &(struct expect){0xff, VIE_OP_TYPE_PUSH, 4, 4, 0, 6, 6, 0, 2,
	                               VM_REG_GUEST_RSI, NOREG, 0, 0});
}

Test(vie_decode, decode_compatibility_mode_uses_cs_d_like_protected_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, MC32, 0x66, 0x89, 0x0b), 0);
	cr_expect_eq(v.opsize, 2);
	cr_expect_eq(v.addrsize, 4);
	cr_assert_eq(DECODE(&v, MC16, 0x67, 0x89, 0x0b), 0);
	cr_expect_eq(v.opsize, 2);
	cr_expect_eq(v.addrsize, 4);
}

/* ---- decode: 16-bit protected mode (CS.D = 0) ---------------------------- */

Test(vie_decode, decode_mov_r16_to_m16_with_0x67_in_16bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M16, 0x67, 0x89, 0x0b), 0);
	check_vie(&v, &(struct expect){0x89, VIE_OP_TYPE_MOV, 2, 4, 0, 1, 3, 0, 3, VM_REG_GUEST_RBX,
	                               NOREG, 0, 0});
}

/*
 * No ModRM form decodes with a 16-bit address size: bhyve reads the 32-bit
 * table there too ([BX+SI] as [EAX], a disp32 where the processor takes a
 * disp16), so softvmm refuses these forms instead (docs/deviations.md).
 */
Test(vie_decode_fail, modrm_with_a_16bit_address_size_fails_decode)
{
	struct vie v;

	cr_expect_neq(DECODE(&v, M16, 0x8b, 0x00), 0);             /* mov ax, [bx+si] */
	cr_expect_neq(DECODE(&v, M16, 0x8b, 0x04), 0);             /* mov ax, [si] */
	cr_expect_neq(DECODE(&v, M16, 0x8b, 0x06, 0x00, 0x10), 0); /* mov ax, [0x1000] */
	cr_expect_neq(DECODE(&v, M16, 0x66, 0x89, 0x0b), 0);       /* mov [bp+di], ecx */
	cr_expect_neq(DECODE(&v, M32, 0x67, 0x89, 0x0b), 0);       /* 0x67 in 32-bit code */
	cr_expect_neq(DECODE(&v, MC32, 0x67, 0x89, 0x0b), 0);
	cr_expect_neq(DECODE(&v, MC16, 0x89, 0x0b), 0);
	cr_expect_neq(DECODE(&v, M16, 0xc7, 0x07, 0x00, 0x80), 0);
	cr_expect_neq(DECODE(&v, M16, 0x81, 0x26, 0x00, 0x10, 0x00, 0xff), 0);
	/* Forms without ModRM still decode: the address size only sizes the offset or index. */
	cr_expect_eq(DECODE(&v, M16, 0xa1, 0x34, 0x12), 0);
	cr_expect_eq(DECODE(&v, M16, 0xf3, 0xab), 0);
}

Test(vie_decode, decode_both_overrides_give_32bit_sizes_in_16bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M16, 0x66, 0x67, 0x89, 0x0b), 0);
	check_vie(&v, &(struct expect){0x89, VIE_OP_TYPE_MOV, 4, 4, 0, 1, 3, 0, 4, VM_REG_GUEST_RBX,
	                               NOREG, 0, 0});
}

Test(vie_decode, decode_moffs16_in_16bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M16, 0xa3, 0x34, 0x12), 0);
	check_vie(&v, &(struct expect){0xa3, VIE_OP_TYPE_MOV, 2, 2, 0, 0, 0, 0, 3, NOREG, NOREG,
	                               0x1234, 0});
}

Test(vie_decode, decode_mov_imm16_and_opsize_override_imm32_in_16bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M16, 0x67, 0xc7, 0x07, 0x00, 0x80), 0);
	check_vie(&v, &(struct expect){0xc7, VIE_OP_TYPE_MOV, 2, 4, 0, 0, 7, 0, 5, VM_REG_GUEST_RDI,
	                               NOREG, 0, -32768});
	cr_assert_eq(DECODE(&v, M16, 0x66, 0x67, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12), 0);
	check_vie(&v, &(struct expect){0xc7, VIE_OP_TYPE_MOV, 4, 4, 0, 0, 7, 0, 8, VM_REG_GUEST_RDI,
	                               NOREG, 0, 0x12345678});
}

Test(vie_decode, decode_group1_and_push_in_16bit_mode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M16, 0x67, 0x81, 0x26, 0x00, 0xff), 0); /* imm16 by opsize */
	check_vie(&v, &(struct expect){0x81, VIE_OP_TYPE_GROUP1, 2, 4, 0, 4, 6, 0, 5,
	                               VM_REG_GUEST_RSI, NOREG, 0, (int16_t)0xff00});
	cr_assert_eq(DECODE(&v, M16, 0x67, 0xff, 0x37), 0);
	check_vie(&v, &(struct expect){0xff, VIE_OP_TYPE_PUSH, 2, 4, 0, 6, 7, 0, 3,
	                               VM_REG_GUEST_RDI, NOREG, 0, 0});
}

/* ---- decode: the opcode table as data ------------------------------------ */

/*
 * Does some length of 'op', a ModRM byte with any reg field and mod 0 rm 0,
 * then zero bytes, decode in 64-bit mode?
 */
static int decodes_with_zero_operands(const uint8_t *op, size_t oplen)
{
	uint8_t bytes[VIE_INST_SIZE] = {0};
	struct vie v;
	size_t n;
	int reg;

	memcpy(bytes, op, oplen);
	for (reg = 0; reg < 8; reg++) {
		bytes[oplen] = (uint8_t)(reg << 3);
		for (n = oplen; n <= VIE_INST_SIZE; n++) {
			if (decode_bytes(&v, M64, VIE_INVALID_GLA, bytes, n) == 0)
				return 1;
		}
	}
	return 0;
}

Test(vie_decode, exactly_the_table_one_byte_opcodes_decode)
{
	/* clang-format off */
	static const uint8_t table[] = {
		0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13,
		0x18, 0x19, 0x1a, 0x1b, 0x20, 0x21, 0x22, 0x23, 0x28, 0x29, 0x2a, 0x2b,
		0x30, 0x31, 0x32, 0x33, 0x38, 0x39, 0x3a, 0x3b, 0x80, 0x81, 0x83, 0x84,
		0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8f, 0xa0, 0xa1, 0xa2, 0xa3,
		0xa4, 0xa5, 0xaa, 0xab, 0xc6, 0xc7, 0xf6, 0xf7, 0xff,
	};
	/* Prefixes, which decode as the ADD [rax], al the zeros after them make. */
	static const uint8_t prefixes[] = {
		0x26, 0x2e, 0x36, 0x3e, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
		0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x64, 0x65, 0x66, 0x67,
		0xf2, 0xf3,
	};
	/* clang-format on */
	unsigned int b;

	for (b = 0; b < 256; b++) {
		uint8_t op = (uint8_t)b;
		int expected = memchr(table, op, sizeof(table)) != NULL ||
		               memchr(prefixes, op, sizeof(prefixes)) != NULL;

		cr_expect_eq(decodes_with_zero_operands(&op, 1), expected, "opcode %#x", b);
	}
}

Test(vie_decode, exactly_the_table_two_byte_opcodes_decode)
{
	unsigned int b;

	for (b = 0; b < 256; b++) {
		uint8_t op[2] = {0x0f, (uint8_t)b};
		int expected =
		    b == 0xae || b == 0xb6 || b == 0xb7 || b == 0xba || b == 0xbe || b == 0xbf;

		cr_expect_eq(decodes_with_zero_operands(op, 2), expected, "opcode 0f %#x", b);
	}
}

/* Group opcodes decode only with the ModRM.reg extensions that are emulated. */
Test(vie_decode_fail, group_extension_that_is_not_emulated_fails_decode)
{
	/* clang-format off */
	static const struct { uint8_t op[2]; int oplen; uint8_t regs; } groups[] = {
		{{0x8f}, 1, 0x01}, {{0xc6}, 1, 0x01}, {{0xc7}, 1, 0x01}, {{0xf6}, 1, 0x03},
		{{0xf7}, 1, 0x03}, {{0xff}, 1, 0x40}, {{0x0f, 0xae}, 2, 0x80},
		{{0x0f, 0xba}, 2, 0xf0}, {{0x80}, 1, 0xff}, {{0x81}, 1, 0xff}, {{0x83}, 1, 0xff},
	};
	/* clang-format on */
	uint8_t bytes[VIE_INST_SIZE];
	struct vie v;
	size_t g, n;
	int reg, ok;

	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		for (reg = 0; reg < 8; reg++) {
			memset(bytes, 0, sizeof(bytes));
			memcpy(bytes, groups[g].op, (size_t)groups[g].oplen);
			bytes[groups[g].oplen] = (uint8_t)(reg << 3);
			ok = 0;
			for (n = 1; n <= VIE_INST_SIZE && !ok; n++)
				ok = decode_bytes(&v, M64, VIE_INVALID_GLA, bytes, n) == 0;
			cr_expect_eq(ok, (groups[g].regs >> reg) & 1, "opcode %#x /%d",
			             groups[g].op[groups[g].oplen - 1], reg);
		}
	}
}

/* ---- decode failures ------------------------------------------------------ */

Test(vie_decode, segment_override_prefixes_are_recorded)
{
	static const struct {
		uint8_t byte;
		int seg;
	} prefixes[] = {{0x26, VM_REG_GUEST_ES}, {0x2e, VM_REG_GUEST_CS}, {0x36, VM_REG_GUEST_SS},
	                {0x3e, VM_REG_GUEST_DS}, {0x64, VM_REG_GUEST_FS}, {0x65, VM_REG_GUEST_GS}};
	struct vie v;
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		uint8_t bytes[] = {prefixes[i].byte, 0x8b, 0x00}; /* mov eax, seg:[rax] */

		cr_assert_eq(decode_bytes(&v, M64, VIE_INVALID_GLA, bytes, sizeof(bytes)), 0);
		cr_expect_eq(v.segment_override, 1);
		cr_expect_eq(v.segment_register, prefixes[i].seg, "prefix %#x", prefixes[i].byte);
		cr_expect_eq(v.num_processed, 3);
	}
	/* The last one wins, as on the processor. */
	cr_assert_eq(DECODE(&v, M32, 0x64, 0x65, 0x89, 0x08), 0);
	cr_expect_eq(v.segment_register, VM_REG_GUEST_GS);
	cr_assert_eq(DECODE(&v, M32, 0x89, 0x08), 0);
	cr_expect_eq(v.segment_override, 0);
	cr_expect_eq(v.segment_register, VM_REG_LAST);
}

Test(vie_decode, rep_prefixes_are_recorded_and_lock_fails_decode)
{
	struct vie v;

	cr_assert_eq(DECODE(&v, M64, 0xf3, 0x48, 0xab), 0); /* rep stosq */
	cr_expect_eq(v.repz_present, 1);
	cr_expect_eq(v.repnz_present, 0);
	cr_expect_eq(v.opsize, 8);
	cr_assert_eq(DECODE(&v, M64, 0xf2, 0xa4), 0); /* repne movsb */
	cr_expect_eq(v.repnz_present, 1);
	/* bhyve ignores REP on other opcodes, as the processor does. */
	cr_expect_eq(DECODE(&v, M64, 0xf3, 0x89, 0x08), 0);
	cr_expect_eq(DECODE(&v, M64, 0xf0, 0x83, 0x08, 0x01), -1);
}

Test(vie_decode, real_mode_decodes_only_the_forms_without_modrm)
{
	struct vie v;

	cr_expect_eq(DECODE(&v, MREAL, 0x8b, 0x07), -1);
	cr_expect_eq(DECODE(&v, MREAL, 0x67, 0x8b, 0x07), -1);
	cr_assert_eq(DECODE(&v, MREAL, 0xa1, 0x00, 0x10), 0);
	cr_expect_eq(v.displacement, 0x1000);
	cr_expect_eq(v.opsize, 2);
	cr_expect_eq(DECODE(&v, MREAL, 0xf3, 0xa4), 0);
}

Test(vie_decode_fail, register_operand_mod3_fails_decode)
{
	struct vie v;

	cr_expect_eq(DECODE(&v, M64, 0x89, 0xc8), -1); /* mov eax, ecx */
	cr_expect_eq(DECODE(&v, M32, 0x8b, 0xc1), -1);
}

Test(vie_decode_fail, fetched_length_longer_than_the_instruction_fails_decode)
{
	struct vie v;

	cr_expect_eq(DECODE(&v, M64, 0x89, 0x0b, 0x90), -1);
}

Test(vie_decode_fail, fetched_length_shorter_than_the_instruction_fails_decode)
{
	struct vie v;

	cr_expect_eq(DECODE(&v, M64, 0x8b, 0x05, 0x00, 0x10), -1);             /* disp32 cut */
	cr_expect_eq(DECODE(&v, M64, 0xc7, 0x00, 0x01, 0x02, 0x03), -1);       /* imm32 cut */
	cr_expect_eq(DECODE(&v, M64, 0x48, 0xa1, 0x00, 0x00, 0x00, 0x00), -1); /* moffs64 cut */
	cr_expect_eq(DECODE(&v, M64, 0x8b, 0x04), -1);                         /* SIB missing */
	cr_expect_eq(DECODE(&v, M64, 0x0f), -1);
	cr_expect_eq(DECODE(&v, M64, 0x66, 0x67), -1);
}

Test(vie_decode_fail, empty_instruction_fails_decode)
{
	struct vie v;

	vie_init(&v);
	cr_expect_eq(vmm_decode_instruction(vm, 0, VIE_INVALID_GLA, CPU_MODE_64BIT, 0, &v), -1);
}

Test(vie_decode_fail, rex_byte_is_an_opcode_outside_64bit_mode)
{
	struct vie v;

	cr_expect_eq(DECODE(&v, M32, 0x48, 0x89, 0x08), -1); /* 48 = DEC EAX */
	cr_expect_eq(DECODE(&v, MC32, 0x40, 0x89, 0x08), -1);
}

Test(vie_decode_fail, rex_must_come_last_and_only_once)
{
	struct vie v;

	cr_expect_eq(DECODE(&v, M64, 0x48, 0x66, 0x89, 0x08), -1);
	cr_expect_eq(DECODE(&v, M64, 0x48, 0x48, 0x89, 0x08), -1);
}

Test(vie_decode_fail, num_valid_beyond_the_instruction_buffer_fails_without_overrun)
{
	struct vie v;

	vie_init(&v);
	memset(v.inst, 0x66, sizeof(v.inst));
	v.num_valid = 255;
	cr_expect_eq(vmm_decode_instruction(vm, 0, VIE_INVALID_GLA, CPU_MODE_64BIT, 0, &v), -1);
	cr_expect_leq(v.num_processed, VIE_INST_SIZE);
}

/* ---- verify_gla ------------------------------------------------------------ */

Test(vie_verify_gla, gla_equal_to_base_register_decodes)
{
	struct vie v;

	set_reg(VM_REG_GUEST_RBX, 0xc0001000);
	cr_expect_eq(DECODE_GLA(&v, M64, 0xc0001000, 0x89, 0x0b), 0);
	cr_expect_eq(v.decoded, 1);
}

Test(vie_verify_gla, gla_different_from_the_decoded_address_fails_decode)
{
	struct vie v;

	set_reg(VM_REG_GUEST_RBX, 0xc0001000);
	cr_expect_eq(DECODE_GLA(&v, M64, 0xc0001004, 0x89, 0x0b), -1);
	cr_expect_eq(v.decoded, 0);
}

Test(vie_verify_gla, rip_relative_gla_counts_from_the_next_instruction)
{
	struct vie v;

	set_reg(VM_REG_GUEST_RIP, 0x400000);
	cr_expect_eq(DECODE_GLA(&v, M64, 0x400000 + 6 - 16, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff), 0);
	cr_expect_eq(DECODE_GLA(&v, M64, 0x400000 - 16, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff), -1);
}

Test(vie_verify_gla, gla_is_base_plus_scaled_index_plus_displacement)
{
	struct vie v;

	set_reg(VM_REG_GUEST_RDI, 0xc0000000);
	set_reg(VM_REG_GUEST_RAX, 3);
	cr_expect_eq(DECODE_GLA(&v, M64, 0xc0000000 + 3 * 8 + 0x10, 0x4c, 0x8b, 0x84, 0xc7, 0x10,
	                        0x00, 0x00, 0x00),
	             0);
}

Test(vie_verify_gla, gla_is_truncated_to_the_address_size)
{
	struct vie v;

	set_reg(VM_REG_GUEST_RBX, 0x100001000ULL);
	cr_expect_eq(DECODE_GLA(&v, M64, 0x1000, 0x67, 0x89, 0x0b), 0);
	cr_expect_eq(DECODE_GLA(&v, M16, 0x2345, 0xa1, 0x45, 0x23), 0); /* moffs16 */
	set_reg(VM_REG_GUEST_RBX, 0x10);
	cr_expect_eq(DECODE_GLA(&v, M32, 0xfffffff0ULL, 0x89, 0x4b, 0xe0), 0); /* ebx - 32 */
}

/*
 * Current bhyve's verify_gla adds the segment base (10.1.0's did not): DS,
 * or SS for a rSP or rBP base, or the override; in 64-bit mode only FS and
 * GS have one.  softvmm adds it to the effective address truncated to the
 * address size (SDM vol. 3 3.4.1).
 */
Test(vie_verify_gla, the_segment_base_is_added)
{
	struct vie v;
	struct seg_desc ds = {.base = 0x10000, .limit = 0xffffffff, .access = ACC_DATA_RW | ACC_DB};
	struct seg_desc ss = {.base = 0x20000, .limit = 0xffffffff, .access = ACC_DATA_RW | ACC_DB};
	struct seg_desc fs = {.base = 0x123400000000ULL, .limit = 0, .access = ACC_DATA_RW};

	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_DS, &ds), 0);
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_SS, &ss), 0);
	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_FS, &fs), 0);
	set_reg(VM_REG_GUEST_RBX, 0x1000);
	set_reg(VM_REG_GUEST_RBP, 0x1000);
	cr_expect_eq(DECODE_GLA(&v, M32, 0x11000, 0x89, 0x0b), 0);
	cr_expect_eq(DECODE_GLA(&v, M32, 0x1000, 0x89, 0x0b), -1);
	cr_expect_eq(DECODE_GLA(&v, M32, 0x21000, 0x89, 0x4d, 0x00), 0);       /* [ebp] uses SS */
	cr_expect_eq(DECODE_GLA(&v, M32, 0x11000, 0x3e, 0x89, 0x4d, 0x00), 0); /* ds:[ebp] */
	cr_expect_eq(DECODE_GLA(&v, M64, 0x1000, 0x89, 0x0b), 0);              /* no DS base */
	cr_expect_eq(DECODE_GLA(&v, M64, 0x123400001000ULL, 0x64, 0x89, 0x0b), 0);
	/* 0x67: the offset wraps at 4 GiB before FS.base is added. */
	set_reg(VM_REG_GUEST_RBX, 0xfffffff0ULL);
	cr_expect_eq(DECODE_GLA(&v, M64, 0x123400000000ULL, 0x64, 0x67, 0x89, 0x4b, 0x10), 0);
	/* Outside 64-bit mode the sum wraps at 4 GiB. */
	cr_expect_eq(DECODE_GLA(&v, M32, 0xfff0, 0x89, 0x0b), 0);
}

/* ---- vmm_fetch_instruction -------------------------------------------------- */

static struct vm_guest_paging flat_paging(enum vm_cpu_mode mode, int cpl)
{
	return (struct vm_guest_paging){
	    .cr3 = 0, .cpl = cpl, .cpu_mode = mode, .paging_mode = PAGING_MODE_FLAT};
}

static void write_ram(uint64_t gpa, const void *src, size_t len)
{
	cr_assert_eq(guest_mem_write(vm, gpa, src, len), 0);
}

static void read_ram(uint64_t gpa, void *dst, size_t len)
{
	cr_assert_eq(guest_mem_read(vm, gpa, dst, len), 0);
}

Test(vie_fetch, fetch_copies_exactly_inst_length_bytes_then_decodes)
{
	static const uint8_t code[] = {0x89, 0x0b, 0xcc, 0xcc};
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct vie v;

	write_ram(0x3000, code, sizeof(code));
	vie_init(&v);
	cr_assert_eq(vmm_fetch_instruction(vm, 0, &pg, 0x3000, 2, &v), 0);
	cr_expect_eq(v.num_valid, 2);
	cr_expect_eq(v.inst[0], 0x89);
	cr_expect_eq(v.inst[1], 0x0b);
	cr_expect_eq(v.inst[2], 0);
	cr_expect_eq(vmm_decode_instruction(vm, 0, VIE_INVALID_GLA, CPU_MODE_64BIT, 0, &v), 0);
}

Test(vie_fetch, fetch_crossing_a_page_boundary_gets_both_pages)
{
	static const uint8_t code[] = {0x48, 0xc7, 0x00, 0x78, 0x56, 0x34, 0x12};
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct vie v;

	write_ram(0x4ffd, code, sizeof(code));
	vie_init(&v);
	cr_assert_eq(vmm_fetch_instruction(vm, 0, &pg, 0x4ffd, 7, &v), 0);
	cr_expect_eq(memcmp(v.inst, code, sizeof(code)), 0);
}

Test(vie_fetch, fetch_longer_than_15_bytes_is_refused)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct vie v;

	vie_init(&v);
	cr_expect_eq(vmm_fetch_instruction(vm, 0, &pg, 0x3000, VIE_INST_SIZE + 1, &v), -1);
	cr_expect_eq(vmm_fetch_instruction(vm, 0, &pg, 0x3000, -1, &v), -1);
	cr_expect_eq(v.num_valid, 0);
}

Test(vie_fetch, fetch_from_memory_that_is_not_ram_returns_minus_1)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct vie v;

	vie_init(&v);
	cr_expect_eq(vmm_fetch_instruction(vm, 0, &pg, MMIO_GPA, 2, &v), -1);
}

Test(vie_fetch, fetch_through_a_not_present_page_injects_pf_and_returns_1)
{
	struct vm_guest_paging pg = {
	    .cr3 = 0x10000, .cpl = 0, .cpu_mode = CPU_MODE_64BIT, .paging_mode = PAGING_MODE_64};
	uint64_t info1, info2;
	struct vie v;

	/* An all-zero PML4 at 0x10000: nothing is present. */
	vie_init(&v);
	cr_expect_eq(vmm_fetch_instruction(vm, 0, &pg, 0x3000, 2, &v), 1);
	cr_assert_eq(vm_get_intinfo(vm, 0, &info1, &info2), 0);
	cr_expect_eq(VM_INTINFO_VECTOR(info2), IDT_PF);
	cr_expect(info2 & VM_INTINFO_VALID);
	cr_expect_eq(get_reg(VM_REG_GUEST_CR2), 0x3000);
}

/* ---- the test device -------------------------------------------------------- */

#define DEV_LOG_MAX 8

struct dev_access {
	int write;
	uint64_t gpa;
	uint64_t val;
	int size;
};

struct test_dev {
	uint8_t bytes[16]; /* at MMIO_GPA */
	struct dev_access log[DEV_LOG_MAX];
	int nlog;
	int fail;   /* errno to return, 0 for success */
	int sloppy; /* reads return all 8 bytes whatever the size */
};

static void dev_log(struct test_dev *d, int write, uint64_t gpa, uint64_t val, int size)
{
	cr_assert_lt(d->nlog, DEV_LOG_MAX);
	d->log[d->nlog++] = (struct dev_access){write, gpa, val, size};
}

static int dev_read(void *cbvm, int cpuid, uint64_t gpa, uint64_t *rval, int rsize, void *arg)
{
	struct test_dev *d = arg;
	uint64_t val = 0;
	int i;

	cr_assert_eq(cbvm, (void *)vm);
	cr_assert_eq(cpuid, 0);
	cr_assert(gpa >= MMIO_GPA && gpa + (uint64_t)rsize <= MMIO_GPA + sizeof(d->bytes));
	for (i = 0; i < (d->sloppy ? 8 : rsize); i++)
		val |= (uint64_t)d->bytes[gpa - MMIO_GPA + (uint64_t)i] << (8 * i);
	dev_log(d, 0, gpa, val, rsize);
	if (d->fail)
		return d->fail;
	*rval = val;
	return 0;
}

static int dev_write(void *cbvm, int cpuid, uint64_t gpa, uint64_t wval, int wsize, void *arg)
{
	struct test_dev *d = arg;
	int i;

	cr_assert_eq(cbvm, (void *)vm);
	cr_assert_eq(cpuid, 0);
	cr_assert(gpa >= MMIO_GPA && gpa + (uint64_t)wsize <= MMIO_GPA + sizeof(d->bytes));
	dev_log(d, 1, gpa, wval, wsize);
	if (d->fail)
		return d->fail;
	for (i = 0; i < wsize; i++)
		d->bytes[gpa - MMIO_GPA + (uint64_t)i] = (uint8_t)(wval >> (8 * i));
	return 0;
}

static void dev_fill(struct test_dev *d, uint64_t lo, uint64_t hi)
{
	int i;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < 8; i++) {
		d->bytes[i] = (uint8_t)(lo >> (8 * i));
		d->bytes[8 + i] = (uint8_t)(hi >> (8 * i));
	}
}

static uint64_t dev_u64(const struct test_dev *d, int off)
{
	uint64_t val = 0;
	int i;

	for (i = 0; i < 8; i++)
		val |= (uint64_t)d->bytes[off + i] << (8 * i);
	return val;
}

static void expect_access(const struct test_dev *d, int i, int write, uint64_t val, int size)
{
	cr_assert_gt(d->nlog, i);
	cr_expect_eq(d->log[i].write, write, "access %d write", i);
	cr_expect_eq(d->log[i].gpa, MMIO_GPA, "access %d gpa", i);
	cr_expect_eq(d->log[i].val, val, "access %d value %#llx", i,
	             (unsigned long long)d->log[i].val);
	cr_expect_eq(d->log[i].size, size, "access %d size", i);
}

/* Decode (no gla check) and emulate against 'd' with flat paging. */
static int emulate_bytes(struct test_dev *d, enum vm_cpu_mode mode, int csd, const uint8_t *bytes,
                         size_t n)
{
	struct vm_guest_paging pg = flat_paging(mode, 0);
	struct vie v;

	cr_assert_eq(decode_bytes(&v, mode, csd, VIE_INVALID_GLA, bytes, n), 0);
	return vmm_emulate_instruction(vm, 0, MMIO_GPA, &v, &pg, dev_read, dev_write, d);
}

#define EMULATE(d, mode, ...)      EMULATE_(d, mode, __VA_ARGS__)
#define EMULATE_(d, cpu, csd, ...) emulate_bytes(d, cpu, csd, BYTES(__VA_ARGS__))

/* ---- emulation: MOV ------------------------------------------------------------ */

Test(vie_emulate, mov_88_without_rex_stores_ah)
{
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RAX, 0x1122334455667788ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x88, 0x20), 0); /* mov [rax], ah */
	cr_expect_eq(d.nlog, 1);
	expect_access(&d, 0, 1, 0x77, 1);
	cr_expect_eq(dev_u64(&d, 0), 0x77);
}

Test(vie_emulate, mov_88_with_rex_stores_spl_not_ah)
{
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RAX, 0x1122334455667788ULL);
	set_reg(VM_REG_GUEST_RSP, 0x00000000000080abULL);
	cr_assert_eq(EMULATE(&d, M64, 0x40, 0x88, 0x20), 0); /* mov [rax], spl */
	expect_access(&d, 0, 1, 0xab, 1);
}

Test(vie_emulate, mov_89_stores_the_operand_size_of_the_register)
{
	struct test_dev d;

	set_reg(VM_REG_GUEST_RCX, 0x1122334455667788ULL);
	dev_fill(&d, ~0ULL, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x66, 0x89, 0x08), 0);
	expect_access(&d, 0, 1, 0x7788, 2);
	cr_expect_eq(dev_u64(&d, 0), 0xffffffffffff7788ULL);
	dev_fill(&d, ~0ULL, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x89, 0x08), 0);
	expect_access(&d, 0, 1, 0x55667788, 4);
	cr_expect_eq(dev_u64(&d, 0), 0xffffffff55667788ULL);
	dev_fill(&d, ~0ULL, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x89, 0x08), 0);
	expect_access(&d, 0, 1, 0x1122334455667788ULL, 8);
	cr_expect_eq(dev_u64(&d, 0), 0x1122334455667788ULL);
	cr_expect_eq(dev_u64(&d, 8), 0);
}

Test(vie_emulate, mov_8a_without_rex_loads_bh_and_keeps_the_rest_of_rbx)
{
	struct test_dev d;

	dev_fill(&d, 0xcd, 0);
	set_reg(VM_REG_GUEST_RBX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x8a, 0x38), 0); /* mov bh, [rax] */
	expect_access(&d, 0, 0, 0xcd, 1);
	cr_expect_eq(get_reg(VM_REG_GUEST_RBX), 0xffffffffffffcdffULL);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDI), 0);
}

Test(vie_emulate, mov_8a_with_rex_loads_dil)
{
	struct test_dev d;

	dev_fill(&d, 0xcd, 0);
	set_reg(VM_REG_GUEST_RDI, 0x1111111111111111ULL);
	set_reg(VM_REG_GUEST_RBX, 0x2222222222222222ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x40, 0x8a, 0x38), 0); /* mov dil, [rax] */
	cr_expect_eq(get_reg(VM_REG_GUEST_RDI), 0x11111111111111cdULL);
	cr_expect_eq(get_reg(VM_REG_GUEST_RBX), 0x2222222222222222ULL);
}

Test(vie_emulate, mov_8b_r32_zero_extends_and_r16_keeps_upper_bits)
{
	struct test_dev d;

	dev_fill(&d, 0x8877665544332211ULL, 0);
	set_reg(VM_REG_GUEST_RDX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x8b, 0x10), 0);
	expect_access(&d, 0, 0, 0x44332211, 4);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDX), 0x44332211ULL);
	set_reg(VM_REG_GUEST_RDX, ~0ULL);
	d.nlog = 0;
	cr_assert_eq(EMULATE(&d, M64, 0x66, 0x8b, 0x10), 0);
	expect_access(&d, 0, 0, 0x2211, 2);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDX), 0xffffffffffff2211ULL);
	d.nlog = 0;
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x8b, 0x10), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDX), 0x8877665544332211ULL);
}

Test(vie_emulate, mov_8b_with_rex_r_loads_r8)
{
	struct test_dev d;

	dev_fill(&d, 0xdeadbeef, 0);
	set_reg(VM_REG_GUEST_RAX, 0x5555);
	cr_assert_eq(EMULATE(&d, M64, 0x44, 0x8b, 0x00), 0); /* mov r8d, [rax] */
	cr_expect_eq(get_reg(VM_REG_GUEST_R8), 0xdeadbeef);
	cr_expect_eq(get_reg(VM_REG_GUEST_RAX), 0x5555);
}

Test(vie_emulate, mov_a1_loads_rax_at_the_operand_size)
{
	struct test_dev d;

	dev_fill(&d, 0x8877665544332211ULL, 0);
	set_reg(VM_REG_GUEST_RAX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0xa1, 0x00, 0x10, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00), 0);
	expect_access(&d, 0, 0, 0x44332211, 4);
	cr_expect_eq(get_reg(VM_REG_GUEST_RAX), 0x44332211);
	set_reg(VM_REG_GUEST_RAX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M16, 0xa1, 0x00, 0x10), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RAX), 0xffffffffffff2211ULL);
}

Test(vie_emulate, mov_a3_stores_rax_at_the_operand_size)
{
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RAX, 0x1122334455667788ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0xa3, 0x00, 0x10, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00),
	             0);
	expect_access(&d, 0, 1, 0x1122334455667788ULL, 8);
	cr_expect_eq(dev_u64(&d, 0), 0x1122334455667788ULL);
	dev_fill(&d, 0, 0);
	cr_assert_eq(EMULATE(&d, M32, 0xa3, 0x00, 0x10, 0x00, 0xc0), 0);
	expect_access(&d, 0, 1, 0x55667788, 4);
	cr_expect_eq(dev_u64(&d, 0), 0x55667788);
}

/* bhyve passes the immediate sign-extended to 64 bits; softvmm masks every written value. */
Test(vie_emulate, mov_c6_stores_one_byte_of_the_immediate)
{
	struct test_dev d;

	dev_fill(&d, 0, 0);
	cr_assert_eq(EMULATE(&d, M64, 0xc6, 0x00, 0x80), 0);
	cr_expect_eq(d.nlog, 1);
	expect_access(&d, 0, 1, 0x80, 1);
	cr_expect_eq(dev_u64(&d, 0), 0x80);
}

Test(vie_emulate, mov_c7_stores_the_immediate_masked_to_the_operand_size)
{
	struct test_dev d;

	dev_fill(&d, 0, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x80), 0);
	expect_access(&d, 0, 1, 0xffffffff80000000ULL, 8);
	cr_expect_eq(dev_u64(&d, 0), 0xffffffff80000000ULL);
	dev_fill(&d, 0, 0);
	cr_assert_eq(EMULATE(&d, M64, 0xc7, 0x00, 0x00, 0x00, 0x00, 0x80), 0);
	expect_access(&d, 0, 1, 0x80000000ULL, 4);
	dev_fill(&d, ~0ULL, 0);
	cr_assert_eq(EMULATE(&d, M16, 0x67, 0xc7, 0x00, 0x34, 0x92), 0);
	expect_access(&d, 0, 1, 0x9234, 2);
	cr_expect_eq(dev_u64(&d, 0), 0xffffffffffff9234ULL);
}

/* ---- emulation: MOVZX / MOVSX ------------------------------------------------- */

Test(vie_emulate, movzx_0f_b6_zero_extends_a_byte_at_each_operand_size)
{
	struct test_dev d;

	dev_fill(&d, 0xff80, 0);
	set_reg(VM_REG_GUEST_RCX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x0f, 0xb6, 0x08), 0);
	expect_access(&d, 0, 0, 0x80, 1);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x80);
	set_reg(VM_REG_GUEST_RCX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x66, 0x0f, 0xb6, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xffffffffffff0080ULL);
	set_reg(VM_REG_GUEST_RCX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x0f, 0xb6, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x80);
}

Test(vie_emulate, movzx_0f_b7_zero_extends_a_word)
{
	struct test_dev d;

	dev_fill(&d, 0xffff8001, 0);
	set_reg(VM_REG_GUEST_RCX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x0f, 0xb7, 0x08), 0);
	expect_access(&d, 0, 0, 0x8001, 2);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x8001);
	set_reg(VM_REG_GUEST_RCX, ~0ULL);
	cr_assert_eq(EMULATE(&d, M32, 0x0f, 0xb7, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x8001);
}

Test(vie_emulate, movsx_0f_be_sign_extends_a_byte_at_each_operand_size)
{
	struct test_dev d;

	dev_fill(&d, 0x80, 0);
	set_reg(VM_REG_GUEST_RCX, 0x1234567812345678ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x0f, 0xbe, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xffffff80ULL);
	set_reg(VM_REG_GUEST_RCX, 0x1234567812345678ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x66, 0x0f, 0xbe, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x123456781234ff80ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x0f, 0xbe, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xffffffffffffff80ULL);
	dev_fill(&d, 0x7f, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x0f, 0xbe, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x7f);
}

Test(vie_emulate, byte_and_word_loads_ignore_bits_a_device_returns_beyond_the_size)
{
	struct test_dev d;

	dev_fill(&d, 0x1122334455668680ULL, 0);
	d.sloppy = 1;
	set_reg(VM_REG_GUEST_RCX, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x0f, 0xb6, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x80);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x0f, 0xbe, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xffffffffffffff80ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x0f, 0xb7, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x8680);
	set_reg(VM_REG_GUEST_RBX, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x8a, 0x38), 0); /* mov bh, [rax] */
	cr_expect_eq(get_reg(VM_REG_GUEST_RBX), 0x8000);
}

/* ---- emulation: AND / OR ------------------------------------------------------------ */

/*
 * Current bhyve's AND and OR set the flags, as the processor: OF, CF and AF
 * cleared, SF, ZF and PF from the result (10.1.0 left RFLAGS alone).
 */
#define RFLAGS_SENTINEL (RFLAGS_FIXED | RFLAGS_CF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_OF | RFLAGS_IF)

Test(vie_emulate, and_23_updates_the_register_and_sets_the_logic_flags)
{
	struct test_dev d;

	dev_fill(&d, 0x0ff00ff0, 0);
	set_reg(VM_REG_GUEST_RCX, 0xfffffffff0f0f0f0ULL);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_SENTINEL);
	cr_assert_eq(EMULATE(&d, M64, 0x23, 0x08), 0); /* and ecx, [rax] */
	cr_expect_eq(d.nlog, 1);
	expect_access(&d, 0, 0, 0x0ff00ff0, 4);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x00f000f0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS), RFLAGS_FIXED | RFLAGS_IF | RFLAGS_PF);
	cr_expect_eq(dev_u64(&d, 0), 0x0ff00ff0);
}

Test(vie_emulate, and_23_r16_keeps_the_upper_register_bits)
{
	struct test_dev d;

	dev_fill(&d, 0x0ff0, 0);
	set_reg(VM_REG_GUEST_RCX, 0xfffffffff0f0f0f0ULL);
	cr_assert_eq(EMULATE(&d, M64, 0x66, 0x23, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xfffffffff0f000f0ULL);
}

Test(vie_emulate, and_81_slash4_writes_the_result_and_sets_the_flags)
{
	struct test_dev d;

	dev_fill(&d, 0x12345678, 0);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_SENTINEL);
	cr_assert_eq(EMULATE(&d, M64, 0x81, 0x20, 0xf0, 0xf0, 0x00, 0x00), 0);
	cr_expect_eq(d.nlog, 2);
	expect_access(&d, 0, 0, 0x12345678, 4);
	expect_access(&d, 1, 1, 0x5070, 4);
	cr_expect_eq(dev_u64(&d, 0), 0x5070);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS), RFLAGS_FIXED | RFLAGS_IF);
}

Test(vie_emulate, or_81_slash1_writes_the_result_and_sets_the_flags)
{
	struct test_dev d;

	dev_fill(&d, 0x80000000, 0);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_SENTINEL);
	cr_assert_eq(EMULATE(&d, M64, 0x81, 0x08, 0x78, 0x56, 0x00, 0x00), 0);
	expect_access(&d, 1, 1, 0x80005678, 4);
	cr_expect_eq(dev_u64(&d, 0), 0x80005678);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS),
	             RFLAGS_FIXED | RFLAGS_IF | RFLAGS_SF | RFLAGS_PF);
}

Test(vie_emulate, and_81_rex_w_uses_the_sign_extended_imm32)
{
	struct test_dev d;

	dev_fill(&d, 0xffffffffffffffffULL, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x48, 0x81, 0x20, 0x00, 0x00, 0x00, 0x80), 0);
	cr_expect_eq(dev_u64(&d, 0), 0xffffffff80000000ULL);
}

Test(vie_emulate, group1_81_add_writes_the_sum_and_its_flags)
{
	struct test_dev d;

	dev_fill(&d, 0xffffffff, 0);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_FIXED);
	cr_expect_eq(EMULATE(&d, M64, 0x81, 0x00, 0x01, 0x00, 0x00, 0x00), 0); /* add */
	cr_expect_eq(d.nlog, 2);
	expect_access(&d, 1, 1, 0, 4);
	cr_expect_eq(dev_u64(&d, 0), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS),
	             RFLAGS_FIXED | RFLAGS_CF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF);
}

Test(vie_emulate, or_83_slash1_ors_the_simm8)
{
	struct test_dev d;

	dev_fill(&d, 0x0100, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x83, 0x08, 0x01), 0);
	cr_expect_eq(dev_u64(&d, 0), 0x0101);
}

Test(vie_emulate, or_83_passes_the_result_masked_to_the_operand_size)
{
	struct test_dev d;

	dev_fill(&d, 0x5555555500000001ULL, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x83, 0x08, 0x80), 0);
	expect_access(&d, 1, 1, 0xffffff81ULL, 4);
	cr_expect_eq(dev_u64(&d, 0), 0x55555555ffffff81ULL);
	dev_fill(&d, 0x5555555555550001ULL, 0);
	cr_assert_eq(EMULATE(&d, M64, 0x66, 0x83, 0x08, 0x80), 0);
	expect_access(&d, 1, 1, 0xff81ULL, 2);
	cr_expect_eq(dev_u64(&d, 0), 0x555555555555ff81ULL);
}

Test(vie_emulate, group1_cmp_reads_only)
{
	struct test_dev d;

	dev_fill(&d, 5, 0);
	cr_expect_eq(EMULATE(&d, M64, 0x83, 0x38, 0x05), 0); /* cmp dword [rax], 5 */
	cr_expect_eq(d.nlog, 1);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS) & RFLAGS_STATUS, RFLAGS_ZF | RFLAGS_PF);
}

/* ---- emulation: CMP / SUB flags --------------------------------------------------- */

/* CMP ecx/cx/rcx, [rax] by opsize: the flags of rcx - device, RCX untouched. */
static uint64_t cmp_flags(int opsize, uint64_t rcx, uint64_t mem)
{
	struct test_dev d;
	int error;

	dev_fill(&d, mem, 0);
	set_reg(VM_REG_GUEST_RCX, rcx);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_DF | RFLAGS_STATUS);
	if (opsize == 2)
		error = EMULATE(&d, M64, 0x66, 0x3b, 0x08);
	else if (opsize == 8)
		error = EMULATE(&d, M64, 0x48, 0x3b, 0x08);
	else
		error = EMULATE(&d, M64, 0x3b, 0x08);
	cr_assert_eq(error, 0);
	cr_expect_eq(d.nlog, 1);
	cr_expect_eq(d.log[0].size, opsize);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), rcx);
	cr_expect_eq(dev_u64(&d, 0), mem);
	return get_reg(VM_REG_GUEST_RFLAGS);
}

#define OTHER_BITS (RFLAGS_FIXED | RFLAGS_IF | RFLAGS_DF)

Test(vie_flags, cmp_3b_equal_operands_set_zf_and_pf_only)
{
	cr_expect_eq(cmp_flags(4, 0x1234, 0x1234), OTHER_BITS | RFLAGS_ZF | RFLAGS_PF);
}

Test(vie_flags, cmp_3b_unsigned_borrow_sets_cf_only)
{
	cr_expect_eq(cmp_flags(4, 0x10, 0x90000000), OTHER_BITS | RFLAGS_CF);
}

Test(vie_flags, cmp_3b_negative_result_sets_sf_only)
{
	cr_expect_eq(cmp_flags(4, 0xffffffff, 0x1f), OTHER_BITS | RFLAGS_SF);
}

Test(vie_flags, cmp_3b_signed_overflow_sets_of_only)
{
	cr_expect_eq(cmp_flags(4, 0x80000001, 0x10000000), OTHER_BITS | RFLAGS_OF);
}

Test(vie_flags, cmp_3b_borrow_from_bit4_sets_af_only)
{
	cr_expect_eq(cmp_flags(4, 0x20, 0x01), OTHER_BITS | RFLAGS_AF);
}

Test(vie_flags, cmp_3b_even_parity_of_the_low_byte_sets_pf_only)
{
	cr_expect_eq(cmp_flags(4, 7, 4), OTHER_BITS | RFLAGS_PF);
	cr_expect_eq(cmp_flags(4, 0x103, 0x1), OTHER_BITS); /* 0x102: low byte odd parity */
}

Test(vie_flags, cmp_3b_one_minus_two_sets_cf_sf_af_pf)
{
	cr_expect_eq(cmp_flags(4, 1, 2),
	             OTHER_BITS | RFLAGS_CF | RFLAGS_SF | RFLAGS_AF | RFLAGS_PF);
}

Test(vie_flags, cmp_3b_16bit_ignores_the_upper_register_bits)
{
	cr_expect_eq(cmp_flags(2, 0xffff0000, 1),
	             OTHER_BITS | RFLAGS_CF | RFLAGS_SF | RFLAGS_AF | RFLAGS_PF);
	cr_expect_eq(cmp_flags(2, 0x12348000, 0x0001),
	             OTHER_BITS | RFLAGS_OF | RFLAGS_AF | RFLAGS_PF);
}

Test(vie_flags, cmp_3b_64bit_uses_all_64_bits)
{
	cr_expect_eq(cmp_flags(8, 0x8000000000000000ULL, 1),
	             OTHER_BITS | RFLAGS_OF | RFLAGS_AF | RFLAGS_PF);
	cr_expect_eq(cmp_flags(8, 0x100000000ULL, 0x100000000ULL),
	             OTHER_BITS | RFLAGS_ZF | RFLAGS_PF);
	cr_expect_eq(cmp_flags(8, 0, 0x100000000ULL),
	             OTHER_BITS | RFLAGS_CF | RFLAGS_SF | RFLAGS_PF);
}

Test(vie_flags, sub_2b_writes_the_difference_and_sets_status_flags)
{
	struct test_dev d;

	dev_fill(&d, 2, 0);
	set_reg(VM_REG_GUEST_RCX, 0xaaaaaaaa00000001ULL);
	set_reg(VM_REG_GUEST_RFLAGS, OTHER_BITS | RFLAGS_ZF | RFLAGS_OF);
	cr_assert_eq(EMULATE(&d, M64, 0x2b, 0x08), 0); /* sub ecx, [rax] */
	expect_access(&d, 0, 0, 2, 4);
	cr_expect_eq(d.nlog, 1);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xffffffffULL);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS),
	             OTHER_BITS | RFLAGS_CF | RFLAGS_SF | RFLAGS_AF | RFLAGS_PF);
}

Test(vie_flags, sub_2b_16bit_keeps_upper_bits_and_flags_from_16bit_result)
{
	struct test_dev d;

	dev_fill(&d, 0x0001, 0);
	set_reg(VM_REG_GUEST_RCX, 0xaaaaaaaaaaaa8000ULL);
	set_reg(VM_REG_GUEST_RFLAGS, OTHER_BITS);
	cr_assert_eq(EMULATE(&d, M64, 0x66, 0x2b, 0x08), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xaaaaaaaaaaaa7fffULL);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS), OTHER_BITS | RFLAGS_OF | RFLAGS_AF | RFLAGS_PF);
}

Test(vie_flags, sub_2b_equal_operands_give_zero_with_zf_pf)
{
	struct test_dev d;

	dev_fill(&d, 0x8000000000000000ULL, 0);
	set_reg(VM_REG_GUEST_R9, 0x8000000000000000ULL);
	set_reg(VM_REG_GUEST_RFLAGS, OTHER_BITS | RFLAGS_CF | RFLAGS_SF);
	cr_assert_eq(EMULATE(&d, M64, 0x4c, 0x2b, 0x08), 0); /* sub r9, [rax] */
	cr_expect_eq(get_reg(VM_REG_GUEST_R9), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RFLAGS), OTHER_BITS | RFLAGS_ZF | RFLAGS_PF);
}

/* ---- emulation: errors ------------------------------------------------------------ */

Test(vie_emulate, undecoded_vie_is_einval)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0, 0);
	cr_assert_eq(DECODE(&v, M64, 0x89, 0x08), 0);
	v.decoded = 0;
	cr_expect_eq(vmm_emulate_instruction(vm, 0, MMIO_GPA, &v, &pg, dev_read, dev_write, &d),
	             EINVAL);
	cr_expect_eq(d.nlog, 0);
}

Test(vie_emulate, hand_made_vie_with_an_invalid_operand_size_is_einval)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0, 0);
	cr_assert_eq(DECODE(&v, M64, 0x3b, 0x08), 0);
	v.opsize = 3;
	cr_expect_eq(vmm_emulate_instruction(vm, 0, MMIO_GPA, &v, &pg, dev_read, dev_write, &d),
	             EINVAL);
	cr_expect_eq(d.nlog, 0);
}

Test(vie_emulate, device_read_error_is_returned_and_the_register_is_kept)
{
	struct test_dev d;

	dev_fill(&d, 0x1234, 0);
	d.fail = EIO;
	set_reg(VM_REG_GUEST_RCX, 0x77);
	cr_expect_eq(EMULATE(&d, M64, 0x8b, 0x08), EIO);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0x77);
}

Test(vie_emulate, device_write_error_is_returned)
{
	struct test_dev d;

	dev_fill(&d, 0, 0);
	d.fail = ENXIO;
	cr_expect_eq(EMULATE(&d, M64, 0x89, 0x08), ENXIO);
}

/* ---- emulation: PUSH ------------------------------------------------------------------ */

static int push_bytes(struct test_dev *d, struct vm_guest_paging *pg, int csd, const uint8_t *bytes,
                      size_t n)
{
	struct vie v;

	cr_assert_eq(decode_bytes(&v, pg->cpu_mode, csd, VIE_INVALID_GLA, bytes, n), 0);
	return vmm_emulate_instruction(vm, 0, MMIO_GPA, &v, pg, dev_read, dev_write, d);
}

#define PUSH(d, pg, csd, ...) push_bytes(d, pg, csd, BYTES(__VA_ARGS__))

static void set_ss(uint64_t base, uint32_t limit, uint32_t access)
{
	struct seg_desc ss = {.base = base, .limit = limit, .access = access};

	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_SS, &ss), 0);
}

static uint64_t pending_exception(void)
{
	uint64_t info1, info2;

	cr_assert_eq(vm_get_intinfo(vm, 0, &info1, &info2), 0);
	return info2;
}

#define EXC_WITH_CODE0(vec)                                                                        \
	((uint64_t)(vec) | VM_INTINFO_HWEXCEPTION | VM_INTINFO_DEL_ERRCODE | VM_INTINFO_VALID)

Test(vie_push, push_ff6_in_64bit_flat_mode_pushes_8_bytes_of_mmio)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	uint8_t stack[16];
	struct test_dev d;
	uint64_t got;

	dev_fill(&d, 0x1122334455667788ULL, 0);
	set_reg(VM_REG_GUEST_RSP, 0x8000);
	cr_assert_eq(PUSH(&d, &pg, 0, 0xff, 0x30), 0); /* push qword [rax] */
	cr_expect_eq(d.nlog, 1);
	expect_access(&d, 0, 0, 0x1122334455667788ULL, 8);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x7ff8);
	read_ram(0x7ff0, stack, sizeof(stack));
	memcpy(&got, stack + 8, 8);
	cr_expect_eq(got, 0x1122334455667788ULL);
	memcpy(&got, stack, 8);
	cr_expect_eq(got, 0, "nothing written below the new stack top");
	cr_expect_eq(pending_exception(), 0);
}

Test(vie_push, push_ff6_with_0x66_in_64bit_mode_pushes_2_bytes)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	uint8_t stack[4];
	struct test_dev d;

	dev_fill(&d, 0xbeef, 0);
	set_reg(VM_REG_GUEST_RSP, 0x8000);
	cr_assert_eq(PUSH(&d, &pg, 0, 0x66, 0xff, 0x30), 0);
	expect_access(&d, 0, 0, 0xbeef, 2);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x7ffe);
	read_ram(0x7ffc, stack, sizeof(stack));
	cr_expect_eq(stack[2], 0xef);
	cr_expect_eq(stack[3], 0xbe);
	cr_expect_eq(stack[1], 0);
}

Test(vie_push, push_ff6_in_32bit_mode_with_ss_b_uses_esp)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_PROTECTED, 0);
	uint32_t got;
	struct test_dev d;

	set_ss(0x10000, 0xffffffff, ACC_DATA_RW | ACC_DB);
	dev_fill(&d, 0xcafef00d, 0);
	set_reg(VM_REG_GUEST_RSP, 0xffffffff00002000ULL);
	cr_assert_eq(PUSH(&d, &pg, 1, 0xff, 0x30), 0);
	expect_access(&d, 0, 0, 0xcafef00d, 4);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x1ffc, "ESP write zero-extends");
	read_ram(0x11ffc, &got, 4);
	cr_expect_eq(got, 0xcafef00d);
}

Test(vie_push, push_ff6_with_16bit_stack_wraps_sp_and_keeps_upper_bits)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_PROTECTED, 0);
	uint16_t got;
	struct test_dev d;

	set_ss(0x20000, 0xffff, ACC_DATA_RW);
	dev_fill(&d, 0x1234, 0);
	set_reg(VM_REG_GUEST_RSP, 0x00120000);
	cr_assert_eq(PUSH(&d, &pg, 0, 0x67, 0xff, 0x30), 0); /* 16-bit code: push word [eax] */
	expect_access(&d, 0, 0, 0x1234, 2);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x0012fffe);
	read_ram(0x2fffe, &got, 2);
	cr_expect_eq(got, 0x1234);
}

Test(vie_push, push_beyond_the_ss_limit_injects_ss0_and_changes_nothing)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_PROTECTED, 0);
	struct test_dev d;

	set_ss(0, 0x0fff, ACC_DATA_RW | ACC_DB);
	dev_fill(&d, 0x1234, 0);
	set_reg(VM_REG_GUEST_RSP, 0x2000);
	cr_assert_eq(PUSH(&d, &pg, 1, 0xff, 0x30), 0);
	cr_expect_eq(d.nlog, 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x2000);
	cr_expect_eq(pending_exception(), EXC_WITH_CODE0(IDT_SS));
}

Test(vie_push, push_onto_a_read_only_stack_segment_injects_ss0)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_PROTECTED, 0);
	struct test_dev d;

	set_ss(0, 0xffffffff, ACC_DATA_RO | ACC_DB);
	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RSP, 0x2000);
	cr_assert_eq(PUSH(&d, &pg, 1, 0xff, 0x30), 0);
	cr_expect_eq(pending_exception(), EXC_WITH_CODE0(IDT_SS));
	cr_expect_eq(d.nlog, 0);
}

Test(vie_push, push_to_a_non_canonical_stack_injects_ss0)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RSP, 0x8000000000000008ULL);
	cr_assert_eq(PUSH(&d, &pg, 0, 0xff, 0x30), 0);
	cr_expect_eq(pending_exception(), EXC_WITH_CODE0(IDT_SS));
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x8000000000000008ULL);
	cr_expect_eq(d.nlog, 0);
}

Test(vie_push, misaligned_push_at_cpl3_with_am_and_ac_injects_ac0)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 3);
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_CR0, CR0_PE | CR0_AM);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_FIXED | RFLAGS_AC);
	set_reg(VM_REG_GUEST_RSP, 0x8004);
	cr_assert_eq(PUSH(&d, &pg, 0, 0xff, 0x30), 0);
	cr_expect_eq(pending_exception(), EXC_WITH_CODE0(IDT_AC));
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x8004);
	cr_expect_eq(d.nlog, 0);
}

Test(vie_push, misaligned_push_at_cpl0_is_not_checked)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_CR0, CR0_PE | CR0_AM);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_FIXED | RFLAGS_AC);
	set_reg(VM_REG_GUEST_RSP, 0x8004);
	cr_assert_eq(PUSH(&d, &pg, 0, 0xff, 0x30), 0);
	cr_expect_eq(pending_exception(), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x7ffc);
}

Test(vie_push, push_to_a_stack_that_is_not_ram_is_efault)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RSP, 0x40000000);
	cr_expect_eq(PUSH(&d, &pg, 0, 0xff, 0x30), EFAULT);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x40000000);
	cr_expect_eq(d.nlog, 0);
}

Test(vie_push, push_to_a_not_present_page_injects_pf_and_returns_0)
{
	struct vm_guest_paging pg = {
	    .cr3 = 0x10000, .cpl = 0, .cpu_mode = CPU_MODE_64BIT, .paging_mode = PAGING_MODE_64};
	struct test_dev d;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RSP, 0x8000);
	cr_assert_eq(PUSH(&d, &pg, 0, 0xff, 0x30), 0);
	cr_expect_eq(VM_INTINFO_VECTOR(pending_exception()), IDT_PF);
	cr_expect_eq(get_reg(VM_REG_GUEST_CR2), 0x7ff8);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x8000);
	cr_expect_eq(d.nlog, 0);
}

Test(vie_push, push_emulation_with_another_extension_is_einval)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;
	struct vie v;

	/* The decoder refuses FF /0; a hand-made vie that says /0 gets EINVAL. */
	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RSP, 0x8000);
	cr_expect_neq(DECODE(&v, M64, 0xff, 0x00), 0); /* inc dword [rax] */
	cr_assert_eq(DECODE(&v, M64, 0xff, 0x30), 0);
	v.reg = 0;
	cr_expect_eq(vmm_emulate_instruction(vm, 0, MMIO_GPA, &v, &pg, dev_read, dev_write, &d),
	             EINVAL);
	cr_expect_eq(d.nlog, 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x8000);
}

/* ---- helpers ---------------------------------------------------------------------------- */

Test(vie_helpers, vie_init_clears_the_vie_and_sets_no_base_or_index)
{
	struct vie v;

	memset(&v, 0xa5, sizeof(v));
	vie_init(&v);
	cr_expect_eq(v.base_register, VM_REG_LAST);
	cr_expect_eq(v.index_register, VM_REG_LAST);
	cr_expect_eq(v.num_valid, 0);
	cr_expect_eq(v.decoded, 0);
	cr_expect_eq(v.displacement, 0);
	cr_expect_eq(v.op.op_type, VIE_OP_TYPE_NONE);
}

Test(vie_helpers, size2mask_covers_1_2_4_8_and_nothing_else)
{
	cr_expect_eq(vie_size2mask(1), 0xffULL);
	cr_expect_eq(vie_size2mask(2), 0xffffULL);
	cr_expect_eq(vie_size2mask(4), 0xffffffffULL);
	cr_expect_eq(vie_size2mask(8), ~0ULL);
	cr_expect_eq(vie_size2mask(3), 0);
	cr_expect_eq(vie_size2mask(0), 0);
}

Test(vie_helpers, update_register_merges_1_and_2_zero_extends_4_and_writes_8)
{
	set_reg(VM_REG_GUEST_RSI, 0x1111111111111111ULL);
	cr_expect_eq(vie_update_register(vm, 0, VM_REG_GUEST_RSI, 0xabcdef, 1), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), 0x11111111111111efULL);
	cr_expect_eq(vie_update_register(vm, 0, VM_REG_GUEST_RSI, 0xabcdef, 2), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), 0x111111111111cdefULL);
	cr_expect_eq(vie_update_register(vm, 0, VM_REG_GUEST_RSI, 0xffffffffabcdefULL, 4), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), 0xffabcdefULL);
	cr_expect_eq(vie_update_register(vm, 0, VM_REG_GUEST_RSI, 0x123456789ULL, 8), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), 0x123456789ULL);
	cr_expect_eq(vie_update_register(vm, 0, VM_REG_GUEST_RSI, 0, 3), EINVAL);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), 0x123456789ULL);
}

Test(vie_helpers, canonical_check_applies_in_64bit_mode_only)
{
	cr_expect_eq(vie_canonical_check(CPU_MODE_64BIT, 0x00007fffffffffffULL), 0);
	cr_expect_eq(vie_canonical_check(CPU_MODE_64BIT, 0xffff800000000000ULL), 0);
	cr_expect_eq(vie_canonical_check(CPU_MODE_64BIT, 0x0000800000000000ULL), 1);
	cr_expect_eq(vie_canonical_check(CPU_MODE_64BIT, 0xfff0000000000000ULL), 1);
	cr_expect_eq(vie_canonical_check(CPU_MODE_64BIT, VIE_INVALID_GLA), 1);
	cr_expect_eq(vie_canonical_check(CPU_MODE_COMPATIBILITY, 0x0000800000000000ULL), 0);
	cr_expect_eq(vie_canonical_check(CPU_MODE_PROTECTED, VIE_INVALID_GLA), 0);
}

Test(vie_helpers, alignment_check_needs_cpl3_cr0_am_and_rflags_ac)
{
	cr_expect_eq(vie_alignment_check(3, 4, CR0_AM, RFLAGS_AC, 0x1002), 1);
	cr_expect_eq(vie_alignment_check(3, 4, CR0_AM, RFLAGS_AC, 0x1004), 0);
	cr_expect_eq(vie_alignment_check(3, 2, CR0_AM, RFLAGS_AC, 0x1001), 1);
	cr_expect_eq(vie_alignment_check(3, 1, CR0_AM, RFLAGS_AC, 0x1001), 0);
	cr_expect_eq(vie_alignment_check(0, 4, CR0_AM, RFLAGS_AC, 0x1002), 0);
	cr_expect_eq(vie_alignment_check(3, 4, 0, RFLAGS_AC, 0x1002), 0);
	cr_expect_eq(vie_alignment_check(3, 4, CR0_AM, 0, 0x1002), 0);
}

static uint64_t calc_gla;

/* vie_calculate_gla for 'desc' as 'seg', the result address in calc_gla. */
static int calc(enum vm_cpu_mode mode, enum vm_reg_name seg, struct seg_desc *desc, uint64_t off,
                int length, int addrsize, int prot)
{
	calc_gla = 0;
	return vie_calculate_gla(mode, seg, desc, off, length, addrsize, prot, &calc_gla);
}

#define PM CPU_MODE_PROTECTED
#define RD VM_PROT_READ
#define WR VM_PROT_WRITE

Test(vie_helpers, calculate_gla_in_64bit_mode_adds_only_fs_and_gs_bases)
{
	struct seg_desc d = {.base = 0x10000, .limit = 0, .access = ACC_UNUSABLE};

	cr_assert_eq(calc(CPU_MODE_64BIT, VM_REG_GUEST_DS, &d, 0x1000, 4, 8, RD), 0);
	cr_expect_eq(calc_gla, 0x1000);
	cr_assert_eq(calc(CPU_MODE_64BIT, VM_REG_GUEST_FS, &d, 0x1000, 4, 8, RD), 0);
	cr_expect_eq(calc_gla, 0x11000);
	cr_assert_eq(calc(CPU_MODE_64BIT, VM_REG_GUEST_GS, &d, 0x1ffffffffULL, 4, 4, WR), 0);
	cr_expect_eq(calc_gla, 0x10000ULL + 0xffffffffULL, "offset truncated to 32 bits");
}

Test(vie_helpers, calculate_gla_outside_64bit_mode_adds_the_base_and_wraps_at_4g)
{
	struct seg_desc d = {
	    .base = 0xfffff000, .limit = 0xffffffff, .access = ACC_DATA_RW | ACC_DB};

	cr_assert_eq(calc(PM, VM_REG_GUEST_DS, &d, 0x2000, 4, 4, WR), 0);
	cr_expect_eq(calc_gla, 0x1000);
}

Test(vie_helpers, calculate_gla_refuses_unusable_and_wrong_type_segments)
{
	struct seg_desc d = {.base = 0, .limit = 0xffffffff, .access = ACC_UNUSABLE};

	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0, 4, 4, RD), -1, "unusable");
	d.access = ACC_CODE_XO;
	cr_expect_eq(calc(PM, VM_REG_GUEST_CS, &d, 0, 4, 4, RD), -1, "read from execute-only code");
	d.access = ACC_CODE_RX;
	cr_expect_eq(calc(PM, VM_REG_GUEST_CS, &d, 0, 4, 4, RD), 0);
	cr_expect_eq(calc(PM, VM_REG_GUEST_CS, &d, 0, 4, 4, WR), -1, "write to code");
	d.access = ACC_DATA_RO;
	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0, 4, 4, WR), -1, "write to read-only data");
	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0, 4, 4, RD), 0);
}

Test(vie_helpers, calculate_gla_checks_every_byte_against_an_expand_up_limit)
{
	struct seg_desc d = {.base = 0, .limit = 0xfff, .access = ACC_DATA_RW};

	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0xffe, 2, 2, RD), 0);
	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0xfff, 2, 2, RD), -1);
}

Test(vie_helpers, calculate_gla_expand_down_accepts_only_offsets_above_the_limit)
{
	struct seg_desc d = {.base = 0, .limit = 0xfff, .access = ACC_DATA_RW_DOWN};

	cr_expect_eq(calc(PM, VM_REG_GUEST_SS, &d, 0x1000, 2, 2, WR), 0);
	cr_expect_eq(calc(PM, VM_REG_GUEST_SS, &d, 0xfff, 2, 2, WR), -1);
	/* With B = 0 the top is 0xffff, and a word at 0xffff wraps to offset 0. */
	cr_expect_eq(calc(PM, VM_REG_GUEST_SS, &d, 0xfffe, 2, 2, WR), 0);
	cr_expect_eq(calc(PM, VM_REG_GUEST_SS, &d, 0xffff, 2, 2, WR), -1);
	d.access |= ACC_DB;
	cr_expect_eq(calc(PM, VM_REG_GUEST_SS, &d, 0xffff, 2, 4, WR), 0);
}

Test(vie_helpers, calculate_gla_refuses_invalid_arguments)
{
	struct seg_desc d = {.base = 0, .limit = 0xffffffff, .access = ACC_DATA_RW | ACC_DB};

	cr_expect_eq(calc(PM, VM_REG_GUEST_RAX, &d, 0, 4, 4, RD), -1, "not a segment");
	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0, 3, 4, RD), -1, "length 3");
	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0, 4, 8, RD), -1,
	             "addrsize 8 outside long mode");
	cr_expect_eq(calc(CPU_MODE_64BIT, VM_REG_GUEST_DS, &d, 0, 4, 2, RD), -1, "addrsize 2");
	cr_expect_eq(calc(PM, VM_REG_GUEST_DS, &d, 0, 4, 4, VM_PROT_EXECUTE), -1, "execute");
}

/* ---- STOS, MOVS, POP ------------------------------------------------------------------ */

TestSuite(vie_string, .init = vm_setup, .fini = vm_teardown);

/* Decode (no gla check) and emulate; the vie stays the caller's to look at. */
static int emulate_vie(struct vie *v, struct test_dev *d, struct vm_guest_paging *pg, int csd,
                       const uint8_t *bytes, size_t n)
{
	cr_assert_eq(decode_bytes(v, pg->cpu_mode, csd, VIE_INVALID_GLA, bytes, n), 0);
	return vmm_emulate_instruction(vm, 0, MMIO_GPA, v, pg, dev_read, dev_write, d);
}

#define EMULATE_VIE(v, d, pg, csd, ...) emulate_vie(v, d, pg, csd, BYTES(__VA_ARGS__))

Test(vie_string, rep_stos_with_a_zero_count_at_the_address_size_does_nothing)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RCX, 0xffffffff00000000ULL); /* ECX = 0 */
	set_reg(VM_REG_GUEST_RDI, MMIO_GPA);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 0, 0x67, 0xf3, 0xab), 0);
	cr_expect_eq(d.nlog, 0);
	cr_expect_eq(v.restart, 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xffffffff00000000ULL);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDI), MMIO_GPA);
}

Test(vie_string, rep_stos_steps_rdi_and_rcx_at_the_address_size_and_asks_for_a_restart)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RAX, 0x1122334455667788ULL);
	set_reg(VM_REG_GUEST_RCX, 0x100000002ULL);
	set_reg(VM_REG_GUEST_RDI, 0x100000000ULL | MMIO_GPA);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_FIXED);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 0, 0x67, 0xf3, 0xab), 0); /* rep stosd, a32 */
	expect_access(&d, 0, 1, 0x55667788, 4);
	cr_expect_eq(v.restart, 1);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 1); /* ECX written: bits 63:32 cleared */
	cr_expect_eq(get_reg(VM_REG_GUEST_RDI), MMIO_GPA + 4);
	/* The last element: no restart.  DF = 1 steps down. */
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_FIXED | RFLAGS_DF);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 0, 0xf2, 0x48, 0xab), 0); /* repne stosq */
	cr_expect_eq(v.restart, 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDI), MMIO_GPA - 4);
	cr_expect_eq(dev_u64(&d, 0), 0x1122334455667788ULL);
}

Test(vie_string, stos_with_a_16bit_address_size_keeps_the_upper_bits)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_PROTECTED, 0);
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RCX, 0xabcd0000ULL); /* CX = 0 */
	set_reg(VM_REG_GUEST_RDI, 0x1234fffeULL);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 0, 0xf3, 0xab), 0);
	cr_expect_eq(d.nlog, 0);
	set_reg(VM_REG_GUEST_RCX, 0xabcd0001ULL);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 0, 0xf3, 0xab), 0); /* rep stosw */
	cr_expect_eq(d.nlog, 1);
	cr_expect_eq(d.log[0].size, 2);
	cr_expect_eq(get_reg(VM_REG_GUEST_RCX), 0xabcd0000ULL);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDI), 0x12340000ULL); /* DI wraps, bits 63:16 kept */
	cr_expect_eq(v.restart, 0);
}

Test(vie_string, movs_between_two_mmio_addresses_reads_one_and_writes_the_other)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0x0123456789abcdefULL, 0);
	set_reg(VM_REG_GUEST_RSI, MMIO_GPA);
	set_reg(VM_REG_GUEST_RDI, MMIO_GPA + 8);
	set_reg(VM_REG_GUEST_RFLAGS, RFLAGS_FIXED);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 0, 0xa5), 0); /* movsd */
	cr_assert_eq(d.nlog, 2);
	cr_expect_eq(d.log[0].write, 0);
	cr_expect_eq(d.log[0].gpa, MMIO_GPA);
	cr_expect_eq(d.log[1].write, 1);
	cr_expect_eq(d.log[1].gpa, MMIO_GPA + 8);
	cr_expect_eq(d.log[1].val, 0x89abcdef);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), MMIO_GPA + 4);
	cr_expect_eq(get_reg(VM_REG_GUEST_RDI), MMIO_GPA + 12);
	cr_expect_eq(v.restart, 0);
}

Test(vie_string, movs_from_ram_writes_the_device_at_the_exit_gpa)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	const uint8_t src[2] = {0x34, 0x12};
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0, 0);
	write_ram(0x3000, src, 2);
	set_reg(VM_REG_GUEST_RSI, 0x3000);
	set_reg(VM_REG_GUEST_RDI, MMIO_GPA);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 0, 0x66, 0xa5), 0); /* movsw */
	cr_assert_eq(d.nlog, 1);
	expect_access(&d, 0, 1, 0x1234, 2);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), 0x3002);
}

Test(vie_string, movs_source_beyond_the_ds_limit_injects_gp_and_moves_nothing)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_PROTECTED, 0);
	struct seg_desc ds = {.base = 0, .limit = 0xfff, .access = ACC_DATA_RW | ACC_DB};
	struct test_dev d;
	struct vie v;

	cr_assert_eq(vm_set_seg_desc(vm, 0, VM_REG_GUEST_DS, &ds), 0);
	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RSI, 0x2000);
	set_reg(VM_REG_GUEST_RDI, MMIO_GPA);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 1, 0xa4), 0);
	cr_expect_eq(d.nlog, 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSI), 0x2000);
	cr_expect_eq(pending_exception(), EXC_WITH_CODE0(IDT_GP));
}

Test(vie_string, pop_moves_the_stack_top_to_the_device)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_PROTECTED, 0);
	const uint8_t top[4] = {0x78, 0x56, 0x34, 0x12};
	struct test_dev d;
	struct vie v;

	set_ss(0, 0xffffffff, ACC_DATA_RW | ACC_DB);
	dev_fill(&d, 0, 0);
	write_ram(0x2000, top, 4);
	set_reg(VM_REG_GUEST_RSP, 0x2000);
	cr_assert_eq(EMULATE_VIE(&v, &d, &pg, 1, 0x8f, 0x00), 0); /* pop dword [eax] */
	expect_access(&d, 0, 1, 0x12345678, 4);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), 0x2004);
}

Test(vie_string, pop_from_a_stack_that_is_not_ram_is_efault)
{
	struct vm_guest_paging pg = flat_paging(CPU_MODE_64BIT, 0);
	struct test_dev d;
	struct vie v;

	dev_fill(&d, 0, 0);
	set_reg(VM_REG_GUEST_RSP, MMIO_GPA + 0x100000);
	cr_expect_eq(EMULATE_VIE(&v, &d, &pg, 0, 0x8f, 0x00), EFAULT);
	cr_expect_eq(d.nlog, 0);
	cr_expect_eq(get_reg(VM_REG_GUEST_RSP), MMIO_GPA + 0x100000);
}
