/*
 * Shared between the parts of softvmm's bhyve-style instruction emulation:
 * vie.c (helpers and fetch), vie_decode.c, and the emulation in
 * vie_emulate.c (dispatch, MOV, MOVZX/MOVSX, XCHG, CLFLUSH), vie_alu.c
 * (arithmetic, TEST, BT, BEXTR and their flags), vie_stack.c (PUSH/POP)
 * and vie_string.c (MOVS/STOS).
 */
#ifndef SOFTVMM_DECODE_VIE_PRIV_H
#define SOFTVMM_DECODE_VIE_PRIV_H

#include <stdint.h>

#include <softvmm/vmm.h>
#include <softvmm/vmm_instruction_emul.h>

/* RFLAGS bits, SDM vol. 1 3.4.3. */
#define VIE_RFLAGS_CF (1ULL << 0)
#define VIE_RFLAGS_PF (1ULL << 2)
#define VIE_RFLAGS_AF (1ULL << 4)
#define VIE_RFLAGS_ZF (1ULL << 6)
#define VIE_RFLAGS_SF (1ULL << 7)
#define VIE_RFLAGS_DF (1ULL << 10)
#define VIE_RFLAGS_OF (1ULL << 11)
#define VIE_RFLAGS_STATUS                                                                          \
	(VIE_RFLAGS_CF | VIE_RFLAGS_PF | VIE_RFLAGS_AF | VIE_RFLAGS_ZF | VIE_RFLAGS_SF |           \
	 VIE_RFLAGS_OF)

/*
 * The register that an instruction encodes as number 'num' (0-15: ModRM.reg,
 * ModRM.rm, SIB.base, SIB.index, each extended by its REX bit), SDM vol. 2
 * table 2-2 and 2.2.1.2: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15.
 */
enum vm_reg_name vie_gpr(unsigned int num);

/*
 * The sizes in bytes of a decoded instruction's memory operand and of its
 * register operand (0 when it has none), as the emulation uses them: the
 * operand size, 1 for byte forms, the source width of MOVZX/MOVSX, 8 (or 2
 * with 0x66) for PUSH/POP in 64-bit mode, 4 for BEXTR outside 64-bit mode,
 * 1 for CLFLUSH.  tests/test_vie_zydis.c checks them against Zydis.
 */
int vie_mem_size(const struct vie *vie, enum vm_cpu_mode cpu_mode);
int vie_reg_size(const struct vie *vie, enum vm_cpu_mode cpu_mode);

/* Everything one emulation needs, so that each form is a one-argument function. */
struct vie_ctx {
	void *vm;
	int vcpuid;
	uint64_t gpa;
	struct vie *vie;
	struct vm_guest_paging *paging;
	mem_region_read_t read;
	mem_region_write_t write;
	void *arg;
};

/* The device at the exit's gpa; a read returns only the low 'size' bytes. */
int vie_mmio_read(const struct vie_ctx *c, uint64_t *val, int size);
int vie_mmio_write(const struct vie_ctx *c, uint64_t val, int size);

int vie_get_reg(const struct vie_ctx *c, enum vm_reg_name reg, uint64_t *val);

/*
 * The register operand of ModRM.reg at 'size' bytes: for size 1 the byte
 * register (AH-BH for 4-7 without REX, SDM vol. 2 2.2.1.2), else the low
 * bytes of the full register.  A write keeps the bits a 1- or 2-byte
 * destination keeps and zero-extends a 4-byte one (vie_update_register).
 */
int vie_read_modrm_reg(const struct vie_ctx *c, int size, uint64_t *val);
int vie_write_modrm_reg(const struct vie_ctx *c, int size, uint64_t val);

/* Replace the RFLAGS bits in 'mask' with those of 'flags'. */
int vie_update_rflags(const struct vie_ctx *c, uint64_t mask, uint64_t flags);

/* The forms in vie_alu.c, vie_stack.c and vie_string.c. */
int vie_emulate_alu(const struct vie_ctx *c);
int vie_emulate_test(const struct vie_ctx *c);
int vie_emulate_bittest(const struct vie_ctx *c);
int vie_emulate_bextr(const struct vie_ctx *c);
int vie_emulate_push(const struct vie_ctx *c);
int vie_emulate_pop(const struct vie_ctx *c);
int vie_emulate_movs(const struct vie_ctx *c);
int vie_emulate_stos(const struct vie_ctx *c);

#endif /* SOFTVMM_DECODE_VIE_PRIV_H */
