/*
 * SHL, SHR and SAR on the soft CPU against the host CPU: the same
 * instruction, operand and count run natively (inline assembly) and as one
 * guest instruction in 64-bit mode, comparing the result and every flag the
 * SDM defines for that count (SAL/SAR/SHL/SHR, "Flags Affected"): CF, SF, ZF
 * and PF for any nonzero count, OF for a count of 1; nothing changes for a
 * count of 0.  AF and OF for other counts are undefined and are the vendor
 * profiles' business (issue 4), so they are not compared here.
 */
#include <criterion/criterion.h>
#include "host_diff.h"

#if defined(__x86_64__)

#define F_CF    HD_CF
#define F_PF    HD_PF
#define F_ZF    HD_ZF
#define F_SF    HD_SF
#define F_OF    HD_OF
#define F_ARITH HD_ARITH

enum op { SHL, SHR, SAR };

/* Host: run "op reg, cl" with the given input flags; returns the result. */
#define HOST_SHIFT(insn, sfx, type, reg)                                                           \
	static uint64_t host_##insn##sfx(uint64_t v, uint8_t cnt, uint64_t fin, uint64_t *fout)    \
	{                                                                                          \
		type x = (type)v;                                                                  \
		uint64_t f = fin;                                                                  \
		__asm__ volatile("push %[f]\n\tpopfq\n\t" #insn " %%cl, %" reg                     \
		                 "[x]\n\tpushfq\n\tpop %[f]"                                       \
		                 : [x] "+r"(x), [f] "+r"(f)                                        \
		                 : "c"(cnt)                                                        \
		                 : "cc");                                                          \
		*fout = f;                                                                         \
		return (uint64_t)x;                                                                \
	}
HOST_SHIFT(shl, b, uint8_t, "b")
HOST_SHIFT(shl, w, uint16_t, "w")
HOST_SHIFT(shl, l, uint32_t, "k")
HOST_SHIFT(shl, q, uint64_t, "q")
HOST_SHIFT(shr, b, uint8_t, "b")
HOST_SHIFT(shr, w, uint16_t, "w")
HOST_SHIFT(shr, l, uint32_t, "k")
HOST_SHIFT(shr, q, uint64_t, "q")
HOST_SHIFT(sar, b, uint8_t, "b")
HOST_SHIFT(sar, w, uint16_t, "w")
HOST_SHIFT(sar, l, uint32_t, "k")
HOST_SHIFT(sar, q, uint64_t, "q")

typedef uint64_t (*host_fn)(uint64_t, uint8_t, uint64_t, uint64_t *);
static const host_fn host[3][4] = {
    {host_shlb, host_shlw, host_shll, host_shlq},
    {host_shrb, host_shrw, host_shrl, host_shrq},
    {host_sarb, host_sarw, host_sarl, host_sarq},
};

static void setup(void)
{
	cr_assert_eq(hd_open(), 0);
}

TestSuite(shift_flags, .init = setup, .fini = hd_close);

/* One guest instruction "op rax/eax/ax/al, cl"; returns RAX, *fout RFLAGS. */
static uint64_t guest_shift(enum op op, unsigned size, uint64_t v, uint8_t cnt, uint64_t fin,
                            uint64_t *fout)
{
	static const uint8_t ext[3] = {4, 5, 7}; /* ModRM.reg: /4 SHL, /5 SHR, /7 SAR */
	uint8_t code[4];
	unsigned n = 0;
	if (size == 2)
		code[n++] = 0x66;
	if (size == 8)
		code[n++] = 0x48;
	code[n++] = size == 1 ? 0xd2 : 0xd3;
	code[n++] = (uint8_t)(0xc0 | ext[op] << 3); /* rm = rAX */
	struct hd_regs r = {.rax = v, .rcx = cnt, .rflags = fin};
	cr_assert_eq(hd_run(code, n, &r), 0, "%s", hd_error);
	*fout = r.rflags;
	return r.rax;
}

static void compare(enum op op, unsigned size, uint64_t v, uint8_t cnt, uint64_t fin)
{
	unsigned slot = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
	uint64_t hf, gf, mask = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
	uint64_t hr = host[op][slot](v, cnt, fin, &hf) & mask;
	uint64_t gr = guest_shift(op, size, v, cnt, fin, &gf) & mask;
	unsigned masked = cnt & (size == 8 ? 0x3f : 0x1f);
	uint64_t defined = masked == 0 ? F_ARITH : (F_CF | F_SF | F_ZF | F_PF);
	if (masked == 1)
		defined |= F_OF;
	/* CF after SHL/SHR with a count past the operand size is undefined. */
	if (op != SAR && masked > size * 8)
		defined &= ~F_CF;
	cr_expect_eq(gr, hr, "op %d size %u value %#llx count %u: result %#llx, host %#llx", op,
	             size, (unsigned long long)v, cnt, (unsigned long long)gr,
	             (unsigned long long)hr);
	cr_expect_eq(gf & defined, hf & defined,
	             "op %d size %u value %#llx count %u flags-in %#llx: flags %#llx, host %#llx",
	             op, size, (unsigned long long)v, cnt, (unsigned long long)fin,
	             (unsigned long long)(gf & defined), (unsigned long long)(hf & defined));
}

static const uint8_t counts[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 255};

Test(shift_flags, shl_shr_sar_match_the_host_on_every_defined_flag)
{
	static const unsigned sizes[] = {1, 2, 4, 8};
	for (int op = SHL; op <= SAR; op++)
		for (unsigned s = 0; s < 4; s++)
			for (unsigned k = 0; k < hd_edge_count; k++)
				for (unsigned n = 0; n < sizeof(counts); n++) {
					compare((enum op)op, sizes[s], hd_edge_values[k], counts[n],
					        0x2);
					compare((enum op)op, sizes[s], hd_edge_values[k], counts[n],
					        0x2 | F_ARITH);
				}
}

#else
Test(shift_flags, host_is_not_x86_64, .disabled = true)
{
}
#endif
