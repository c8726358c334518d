/*
 * MUL, IMUL (one and two operands) and DIV, IDIV on the soft CPU against
 * the host CPU: results (rDX:rAX, or AX for bytes), CF and OF for the
 * multiplies (the only flags the SDM defines for them), and #DE for a zero
 * divisor and for a quotient that does not fit (checked through the
 * exception: with no IDT set up it escalates to a triple fault, which
 * hd_run reports as a failed run).
 */
#include <criterion/criterion.h>

#include "host_diff.h"

#if defined(__x86_64__)

static void setup(void)
{
	cr_assert_eq(hd_open(), 0);
}

TestSuite(muldiv, .init = setup, .fini = hd_close);

struct host_out {
	uint64_t rax, rdx, flags;
};

/* Host: "op %rbx-sized" with RAX/RDX inputs; one function per op and size. */
#define HOST_ONE(name, insn, type, mod)                                                            \
	static struct host_out host_##name(uint64_t rax, uint64_t rdx, uint64_t rbx)               \
	{                                                                                          \
		struct host_out o;                                                                 \
		type b = (type)rbx;                                                                \
		uint64_t f = 0x2;                                                                  \
		__asm__ volatile("push %[f]\n\tpopfq\n\t" insn " %" mod                            \
		                 "[b]\n\tpushfq\n\tpop %[f]"                                       \
		                 : "+a"(rax), "+d"(rdx), [f] "+r"(f)                               \
		                 : [b] "r"(b)                                                      \
		                 : "cc");                                                          \
		o.rax = rax;                                                                       \
		o.rdx = rdx;                                                                       \
		o.flags = f;                                                                       \
		return o;                                                                          \
	}
#define HOST_ONE_SIZES(op)                                                                         \
	HOST_ONE(op##1, #op "b", uint8_t, "b")                                                     \
	HOST_ONE(op##2, #op "w", uint16_t, "w")                                                    \
	HOST_ONE(op##4, #op "l", uint32_t, "k")                                                    \
	HOST_ONE(op##8, #op "q", uint64_t, "q")
HOST_ONE_SIZES(mul)
HOST_ONE_SIZES(imul)
HOST_ONE_SIZES(div)
HOST_ONE_SIZES(idiv)

typedef struct host_out (*host_fn)(uint64_t, uint64_t, uint64_t);

/* F6/F7 /4 MUL, /5 IMUL, /6 DIV, /7 IDIV with rm = rBX. */
static struct hd_regs guest(unsigned ext, unsigned size, uint64_t rax, uint64_t rdx, uint64_t rbx,
                            int *ok)
{
	uint8_t code[4];
	unsigned n = 0;
	if (size == 2)
		code[n++] = 0x66;
	if (size == 8)
		code[n++] = 0x48;
	code[n++] = size == 1 ? 0xf6 : 0xf7;
	code[n++] = (uint8_t)(0xc3 | ext << 3);
	struct hd_regs r = {.rax = rax, .rbx = rbx, .rdx = rdx, .rflags = 2};
	*ok = hd_run(code, n, &r) == 0;
	return r;
}

static const uint64_t values[] = {
    0,
    1,
    2,
    3,
    7,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x12345,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    0x123456789ull,
    0x7fffffffffffffffull,
    0x8000000000000000ull,
    ~0ull,
    0xfedcba9876543210ull,
};
#define NV (sizeof(values) / sizeof(values[0]))

static unsigned slot(unsigned size)
{
	return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
}

/* What the instruction leaves in RAX/RDX at this size (bytes use AX only). */
static void expect_regs(unsigned size, const struct hd_regs *g, const struct host_out *h,
                        const char *what, uint64_t a, uint64_t d, uint64_t b)
{
	if (size == 1) {
		cr_expect_eq(
		    g->rax & 0xffff, h->rax & 0xffff, "%s a %#llx b %#llx: AX %#llx, host %#llx",
		    what, (unsigned long long)a, (unsigned long long)b,
		    (unsigned long long)(g->rax & 0xffff), (unsigned long long)(h->rax & 0xffff));
		return;
	}
	cr_expect_eq(g->rax, h->rax, "%s size %u a %#llx d %#llx b %#llx: RAX %#llx, host %#llx",
	             what, size, (unsigned long long)a, (unsigned long long)d,
	             (unsigned long long)b, (unsigned long long)g->rax, (unsigned long long)h->rax);
	cr_expect_eq(g->rdx, h->rdx, "%s size %u a %#llx d %#llx b %#llx: RDX %#llx, host %#llx",
	             what, size, (unsigned long long)a, (unsigned long long)d,
	             (unsigned long long)b, (unsigned long long)g->rdx, (unsigned long long)h->rdx);
}

Test(muldiv, mul_and_imul_match_the_host_result_cf_and_of)
{
	static const host_fn mul[4] = {host_mul1, host_mul2, host_mul4, host_mul8};
	static const host_fn imul[4] = {host_imul1, host_imul2, host_imul4, host_imul8};
	static const unsigned sizes[] = {1, 2, 4, 8};
	for (unsigned s = 0; s < 4; s++)
		for (unsigned i = 0; i < NV; i++)
			for (unsigned j = 0; j < NV; j++) {
				unsigned size = sizes[s];
				for (int signed_ = 0; signed_ <= 1; signed_++) {
					struct host_out h = (signed_ ? imul : mul)[slot(size)](
					    values[i], 0x55, values[j]);
					int ok;
					struct hd_regs g = guest(signed_ ? 5 : 4, size, values[i],
					                         0x55, values[j], &ok);
					cr_assert(ok, "%s", hd_error);
					expect_regs(size, &g, &h, signed_ ? "imul" : "mul",
					            values[i], 0x55, values[j]);
					cr_expect_eq(
					    g.rflags & (HD_CF | HD_OF), h.flags & (HD_CF | HD_OF),
					    "%s size %u a %#llx b %#llx: CF/OF %#llx, host %#llx",
					    signed_ ? "imul" : "mul", size,
					    (unsigned long long)values[i],
					    (unsigned long long)values[j],
					    (unsigned long long)(g.rflags & (HD_CF | HD_OF)),
					    (unsigned long long)(h.flags & (HD_CF | HD_OF)));
				}
			}
}

/* Whether the host would fault: divisor 0, or a quotient that does not fit. */
static bool div_faults(bool sgn, unsigned size, uint64_t a, uint64_t d, uint64_t b)
{
	unsigned bits = size * 8;
	uint64_t m = size == 8 ? ~0ull : (1ull << bits) - 1;
	b &= m;
	if (b == 0)
		return true;
	unsigned __int128 n;
	if (size == 1)
		n = a & 0xffff;
	else
		n = ((unsigned __int128)(d & m) << bits) | (a & m);
	if (!sgn)
		return n / b > m;
	unsigned nb = 2 * bits;
	__int128 sn = nb == 128 ? (__int128)n : (__int128)(n << (128 - nb)) >> (128 - nb);
	__int128 sd = (__int128)((int64_t)(b << (64 - bits)) >> (64 - bits));
	__int128 lim = (__int128)1 << (bits - 1);
	/* The most negative dividend of 2*bits bits, over -1, cannot fit. */
	__int128 most_negative =
	    nb == 128 ? (__int128)((unsigned __int128)1 << 127) : -((__int128)1 << (nb - 1));
	if (sd == -1 && sn == most_negative)
		return true;
	__int128 q = sn / sd;
	return q >= lim || q < -lim;
}

Test(muldiv, div_and_idiv_match_the_host_or_raise_de_where_it_would)
{
	static const host_fn div_[4] = {host_div1, host_div2, host_div4, host_div8};
	static const host_fn idiv_[4] = {host_idiv1, host_idiv2, host_idiv4, host_idiv8};
	static const unsigned sizes[] = {1, 2, 4, 8};
	static const uint64_t highs[] = {0, 1, 0x7f, ~0ull};
	unsigned faults = 0, ran = 0;
	for (unsigned s = 0; s < 4; s++)
		for (unsigned i = 0; i < NV; i++)
			for (unsigned k = 0; k < 4; k++)
				for (unsigned j = 0; j < NV; j++)
					for (int sgn = 0; sgn <= 1; sgn++) {
						unsigned size = sizes[s];
						uint64_t a = values[i], d = highs[k], b = values[j];
						int ok;
						struct hd_regs g =
						    guest(sgn ? 7 : 6, size, a, d, b, &ok);
						if (div_faults(sgn, size, a, d, b)) {
							cr_expect(!ok,
							          "%s size %u a %#llx d %#llx b "
							          "%#llx must raise #DE",
							          sgn ? "idiv" : "div", size,
							          (unsigned long long)a,
							          (unsigned long long)d,
							          (unsigned long long)b);
							faults++;
							continue;
						}
						cr_assert(ok, "%s", hd_error);
						struct host_out h =
						    (sgn ? idiv_ : div_)[slot(size)](a, d, b);
						expect_regs(size, &g, &h, sgn ? "idiv" : "div", a,
						            d, b);
						ran++;
					}
	cr_assert_gt(faults, 0);
	cr_assert_gt(ran, 0);
}

#else
Test(muldiv, host_is_not_x86_64, .disabled = true)
{
}
#endif
