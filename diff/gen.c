/*
 * Cases from the form table (forms.c explains the templates).  A case
 * gives each operand slot of the template a value: edge values first (0,
 * 1, sign boundaries, carries across every byte, every shift count and
 * condition code) crossed with input flags all clear and all set, then a
 * seeded xorshift sweep with random flags.  Registers and the memory
 * addressing form are drawn at random in both, and every register the
 * instruction does not name gets a random value, so stray reads show.
 */
#include "gen.h"

#include <stdio.h>
#include <string.h>

/* ---- templates ----------------------------------------------------------- */

enum tk { TK_BYTE, TK_PREFIX, TK_PLUSR, TK_PLUSCC, TK_MODRM, TK_RMW, TK_IMM, TK_REL, TK_IMPL };
enum { IMPL_A, IMPL_AL, IMPL_AX, IMPL_H, IMPL_D, IMPL_C, IMPL_CX };

struct tok {
	uint8_t t, a, b;
};

struct tmpl {
	struct tok t[16];
	unsigned n;
	int modrm;      /* index of the ModRM token, -1 for none */
	uint8_t rmkind; /* 0 register or memory, 'm' memory only, 'r' register only */
	uint8_t rmw;    /* r/m operand size when not the operand size, else 0 */
	bool d64, f64, a67, rep;
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void parse(const char *s, struct tmpl *p)
{
	static const struct {
		const char *w;
		uint8_t t, a;
	} words[] = {
	    {"+r", TK_PLUSR, 0},       {"+cc", TK_PLUSCC, 0},     {"ib", TK_IMM, 1},
	    {"iw", TK_IMM, 2},         {"iz", TK_IMM, 'z'},       {"io", TK_IMM, 'o'},
	    {"ic", TK_IMM, 'c'},       {"cb", TK_REL, 1},         {"cz", TK_REL, 'z'},
	    {"$a", TK_IMPL, IMPL_A},   {"$al", TK_IMPL, IMPL_AL}, {"$ax", TK_IMPL, IMPL_AX},
	    {"$h", TK_IMPL, IMPL_H},   {"$d", TK_IMPL, IMPL_D},   {"$c", TK_IMPL, IMPL_C},
	    {"$cx", TK_IMPL, IMPL_CX}, {"rm8", TK_RMW, 1},        {"rm16", TK_RMW, 2},
	    {"rm32", TK_RMW, 4},
	};
	memset(p, 0, sizeof(*p));
	p->modrm = -1;
	bool opcode_seen = false;
	while (*s) {
		char w[8];
		unsigned k = 0;
		while (*s == ' ')
			s++;
		while (*s && *s != ' ' && k < sizeof(w) - 1)
			w[k++] = *s++;
		w[k] = 0;
		if (!k)
			break;
		struct tok t = {0, 0, 0};
		if (strcmp(w, "d64") == 0) {
			p->d64 = true;
			continue;
		}
		if (strcmp(w, "f64") == 0) {
			p->d64 = p->f64 = true;
			continue;
		}
		if (w[0] == '/') {
			t.t = TK_MODRM;
			t.a = w[1] == 'r' ? 0xff : (uint8_t)(w[1] - '0');
			t.b = (uint8_t)w[2];
			p->modrm = (int)p->n;
			p->rmkind = t.b;
		} else if (k == 2 && hexval(w[0]) >= 0 && hexval(w[1]) >= 0 &&
		           strcmp(w, "cb") != 0) {
			t.a = (uint8_t)(hexval(w[0]) << 4 | hexval(w[1]));
			bool pfx =
			    t.a == 0xf0 || t.a == 0xf2 || t.a == 0xf3 || t.a == 0x66 || t.a == 0x67;
			t.t = !opcode_seen && pfx ? TK_PREFIX : TK_BYTE;
			opcode_seen |= t.t == TK_BYTE;
			p->a67 |= t.t == TK_PREFIX && t.a == 0x67;
			p->rep |= t.t == TK_PREFIX && (t.a == 0xf2 || t.a == 0xf3);
		} else {
			for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++)
				if (strcmp(w, words[i].w) == 0) {
					t.t = words[i].t;
					t.a = words[i].a;
				}
			if (t.t == TK_RMW)
				p->rmw = t.a;
		}
		if (p->n < sizeof(p->t) / sizeof(p->t[0]))
			p->t[p->n++] = t;
	}
}

/* ---- value classes and edge values --------------------------------------- */

enum vc { VC_EDGE, VC_ALL8, VC_COUNT, VC_CC, VC_CX, VC_BITOFF, VC_SMALL };

/* Edges for every size: the boundaries of each byte (all ones below it,
 * its sign bit, its low bit) and patterns; truncated and deduplicated per
 * size by edges(). */
static const uint64_t edge_src[] = {
    0,
    1,
    2,
    3,
    0x0f,
    0x10,
    0x55,
    0x7e,
    0x7f,
    0x80,
    0x81,
    0xfe,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0x8001,
    0xfffe,
    0xffff,
    0x10000,
    0xffffff,
    0x1000000,
    0x7fffffff,
    0x80000000,
    0x80000001,
    0xfffffffe,
    0xffffffff,
    0x100000000ull,
    0xffffffffffull,
    0x8000000000ull,
    0xffffffffffffull,
    0x800000000000ull,
    0xffffffffffffffull,
    0x80000000000000ull,
    0x7fffffffffffffffull,
    0x8000000000000000ull,
    0x8000000000000001ull,
    0xfffffffffffffffeull,
    ~0ull,
    0x0123456789abcdefull,
    0xfedcba9876543210ull,
    0x5555555555555555ull,
    0xaaaaaaaaaaaaaaaaull,
};
#define NEDGE_SRC (sizeof(edge_src) / sizeof(edge_src[0]))

static const uint64_t cx_values[] = {
    0, 1, 2, 3, 0xffff, 0x10000, 0x10001, 0xffffffff, 0x100000000ull, 0x100000001ull, ~0ull,
};
static const int64_t bitoff_values[] = {0,   1,   7,   8,  15, 16, 31,  32,  63,   64,  127,
                                        255, 256, 511, -1, -8, -9, -64, -65, -256, -511};

static uint64_t size_mask(unsigned bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

struct edge_list {
	uint64_t v[NEDGE_SRC];
	unsigned n;
};

static const struct edge_list *edges(unsigned bytes)
{
	static struct edge_list lists[9];
	static bool ready;
	if (!ready) {
		for (unsigned b = 1; b <= 8; b *= 2) {
			struct edge_list *l = &lists[b];
			for (unsigned i = 0; i < NEDGE_SRC; i++) {
				uint64_t v = edge_src[i] & size_mask(b);
				bool dup = false;
				for (unsigned j = 0; j < l->n; j++)
					dup |= l->v[j] == v;
				if (!dup)
					l->v[l->n++] = v;
			}
		}
		ready = true;
	}
	return &lists[bytes];
}

static uint64_t vc_count(enum vc c, unsigned width)
{
	switch (c) {
	case VC_EDGE:
		return edges(width)->n;
	case VC_ALL8:
		return 256;
	case VC_COUNT:
		return 68;
	case VC_CC:
		return 16;
	case VC_CX:
		return sizeof(cx_values) / sizeof(cx_values[0]);
	case VC_BITOFF:
		return sizeof(bitoff_values) / sizeof(bitoff_values[0]);
	default:
		return 5;
	}
}

static uint64_t vc_value(enum vc c, unsigned width, uint64_t i)
{
	switch (c) {
	case VC_EDGE:
		return edges(width)->v[i];
	case VC_CX:
		return cx_values[i];
	case VC_BITOFF:
		return (uint64_t)bitoff_values[i];
	default:
		return i;
	}
}

/* ---- random numbers -------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t rand_value(uint64_t *s, unsigned width)
{
	uint64_t r = rnd(s), v;
	switch (r % 8) {
	case 0:
	case 1:
	case 2:
		v = rnd(s);
		break;
	case 3: /* near an edge */
		v = edge_src[rnd(s) % NEDGE_SRC] + (rnd(s) % 5) - 2;
		break;
	case 4:
		v = rnd(s) % 16;
		break;
	case 5: /* bytes of 00, ff, 7f, 80 or random */
		v = 0;
		for (unsigned k = 0; k < 8; k++) {
			static const uint8_t pat[4] = {0, 0xff, 0x7f, 0x80};
			uint64_t q = rnd(s);
			v |= (uint64_t)(q % 5 < 4 ? pat[q % 4] : (uint8_t)(q >> 8)) << (8 * k);
		}
		break;
	case 6: /* a power of two, give or take one */
		v = (1ull << (rnd(s) % 64)) + (rnd(s) % 3) - 1;
		break;
	default:
		v = (uint64_t) - (int64_t)(rnd(s) % 16);
		break;
	}
	return v & size_mask(width);
}

static uint64_t rand_vc(uint64_t *s, enum vc c, unsigned width)
{
	switch (c) {
	case VC_EDGE:
		return rand_value(s, width);
	case VC_ALL8:
		return rnd(s) & 0xff;
	case VC_COUNT:
		return rnd(s) % 4 == 0 ? rnd(s) & 0xff : rnd(s) % 68;
	case VC_CC:
		return rnd(s) & 15;
	case VC_CX:
		return rnd(s) % 2 ? cx_values[rnd(s) % vc_count(VC_CX, 8)] : rand_value(s, 8);
	case VC_BITOFF:
		return (uint64_t)((int64_t)(rnd(s) % 1201) - 600);
	default:
		return rnd(s) % 5;
	}
}

/* ---- slots ------------------------------------------------------------------- */

enum sk { SK_RM, SK_REG, SK_OPREG, SK_IMM, SK_CC, SK_IMPL };

struct slot {
	uint8_t kind, vc, width;
	uint8_t tok;  /* index of its token */
	uint8_t impl; /* IMPL_* for SK_IMPL */
	uint8_t reg;  /* register number as encoded (SK_RM register, SK_REG, SK_OPREG) */
	uint64_t val;
};

struct layout {
	struct tmpl t;
	struct slot s[8];
	unsigned n;
	unsigned osz; /* operand size in bytes (1 for forms without one) */
};

static void add_slot(struct layout *l, uint8_t kind, uint8_t vc, unsigned width, unsigned tok,
                     uint8_t impl)
{
	if (l->n < sizeof(l->s) / sizeof(l->s[0]))
		l->s[l->n++] = (struct slot){kind, vc, (uint8_t)width, (uint8_t)tok, impl, 0, 0};
}

static void make_layout(const struct dx_variant *v, struct layout *l)
{
	const struct dx_form *f = &dx_forms[v->form];
	memset(l, 0, sizeof(*l));
	parse(f->enc, &l->t);
	l->osz = v->size;
	unsigned osz = l->osz, rmw = l->t.rmw ? l->t.rmw : osz;
	for (unsigned i = 0; i < l->t.n; i++) {
		const struct tok *t = &l->t.t[i];
		switch (t->t) {
		case TK_MODRM:
			add_slot(l, SK_RM, VC_EDGE, rmw, i, 0);
			if (t->a == 0xff)
				add_slot(l, SK_REG,
				         (f->kind & DX_KBT) && v->mem ? VC_BITOFF : VC_EDGE, osz, i,
				         0);
			break;
		case TK_PLUSR:
			add_slot(l, SK_OPREG, VC_EDGE, osz, i, 0);
			break;
		case TK_PLUSCC:
			add_slot(l, SK_CC, VC_CC, 1, i, 0);
			break;
		case TK_IMM: {
			unsigned w = t->a == 'z' ? (osz < 4 ? osz : 4) : t->a == 'o' ? osz : t->a;
			add_slot(l, SK_IMM, t->a == 'c' ? VC_COUNT : VC_EDGE, t->a == 'c' ? 1 : w,
			         i, 0);
			break;
		}
		case TK_IMPL: {
			static const uint8_t vcs[] = {VC_EDGE, VC_ALL8,  VC_EDGE, VC_ALL8,
			                              VC_EDGE, VC_COUNT, VC_CX};
			static const uint8_t widths[] = {0, 1, 2, 1, 0, 1, 8};
			unsigned w = widths[t->a] ? widths[t->a] : osz;
			uint8_t vc = vcs[t->a];
			if (t->a == IMPL_CX && (f->kind & DX_KSTR))
				vc = VC_SMALL;
			add_slot(l, SK_IMPL, vc, w, i, t->a);
			break;
		}
		default:
			break;
		}
	}
}

/* ---- variants ------------------------------------------------------------------ */

static bool size_ok(const struct tmpl *t, unsigned mode, unsigned size)
{
	if (size == 8 && mode != DX_MODE64)
		return false;
	if (mode == DX_MODE64 && t->f64 && size != 8)
		return false;
	if (mode == DX_MODE64 && t->d64 && size == 4)
		return false;
	return true;
}

unsigned dx_variants(struct dx_variant *out, unsigned max)
{
	unsigned n = 0;
	for (unsigned fi = 0; fi < dx_nforms; fi++) {
		const struct dx_form *f = &dx_forms[fi];
		struct tmpl t;
		parse(f->enc, &t);
		for (unsigned mode = 0; mode < DX_NMODES; mode++) {
			if (!(f->modes >> mode & 1))
				continue;
			for (unsigned sb = 0; sb < 4; sb++) {
				unsigned size = 1u << sb;
				if (!(f->sizes >> sb & 1) || !size_ok(&t, mode, size))
					continue;
				for (unsigned mem = 0; mem < 2; mem++) {
					if (mem && (t.modrm < 0 || t.rmkind == 'r'))
						continue;
					if (!mem && t.modrm >= 0 && t.rmkind == 'm')
						continue;
					if (n < max) {
						struct dx_variant *v = &out[n];
						v->form = fi;
						v->mode = (uint8_t)mode;
						v->size = (uint8_t)size;
						v->mem = mem;
						snprintf(v->name, sizeof(v->name), "%s [%s] o%u%s",
						         f->name, f->enc, size * 8,
						         t.modrm < 0 ? ""
						         : mem       ? " mem"
						                     : " reg");
					}
					n++;
				}
			}
		}
	}
	return n;
}

uint64_t dx_edge_count(const struct dx_variant *v)
{
	struct layout l;
	make_layout(v, &l);
	uint64_t n = 2; /* input flags all clear, all set */
	for (unsigned i = 0; i < l.n; i++)
		n *= vc_count((enum vc)l.s[i].vc, l.s[i].width);
	return n;
}

/* ---- building a case ------------------------------------------------------------ */

struct gen {
	const struct dx_variant *v;
	const struct dx_form *f;
	struct dx_case *c;
	struct layout l;
	uint64_t rng;
	bool rex;         /* a REX prefix is present (64-bit mode) */
	uint8_t rexbits;  /* W R X B */
	uint32_t used;    /* registers already spoken for */
	unsigned asz;     /* address size in bytes */
	int mem_eo;       /* memory operand's offset in its window, -1 for none */
	bool mem_stack;   /* ... in the stack window (16-bit [bp] forms) */
	uint8_t modrm[8]; /* ModRM, SIB, displacement */
	unsigned nmodrm;
	int riprel;    /* offset of a RIP-relative disp32 in modrm[], -1 for none */
	bool sp_taken; /* an operand or address register is rSP */
};

static void claim(struct gen *g, unsigned phys)
{
	g->used |= 1u << phys;
	g->sp_taken |= phys == 4;
}

/* R8..R15 need a REX prefix, which turns AH..BH into SPL..DIL: forms with
 * byte registers only use them when the case has a REX anyway. */
static unsigned nregs(const struct gen *g)
{
	bool byte_regs = g->l.osz == 1 || g->l.t.rmw == 1;
	return g->v->mode == DX_MODE64 && (g->rex || !byte_regs) ? 16 : 8;
}

/* The physical register behind an encoded one: without REX, byte
 * registers 4..7 are AH..BH. */
static unsigned phys_reg(const struct gen *g, unsigned r, unsigned width)
{
	return width == 1 && !g->rex && r >= 4 && r < 8 ? r - 4 : r;
}

/* A register for an operand of width bytes, not one already spoken for
 * (if it can). */
static unsigned pick(struct gen *g, uint32_t avoid, unsigned width)
{
	unsigned n = nregs(g);
	for (unsigned tries = 0; tries < 32; tries++) {
		unsigned r = (unsigned)(rnd(&g->rng) % n);
		if (!((g->used | avoid) >> phys_reg(g, r, width) & 1))
			return r;
	}
	return (unsigned)(rnd(&g->rng) % n);
}

/* Write value into an encoded register of width bytes: without REX, byte
 * registers 4..7 are AH..BH. */
static void set_reg(struct gen *g, unsigned r, unsigned width, uint64_t v)
{
	uint64_t *gpr = g->c->gpr;
	if (width == 1 && !g->rex && r >= 4 && r < 8) {
		gpr[r - 4] = (gpr[r - 4] & ~0xff00ull) | (v & 0xff) << 8;
		return;
	}
	uint64_t m = size_mask(width);
	gpr[r] = (gpr[r] & ~m) | (v & m);
}

static uint64_t window_addr(const struct gen *g, bool stack, unsigned off)
{
	if (g->v->mode == DX_MODE16)
		return off;
	return (stack ? DX_STACK : DX_DATA) + off;
}

/* An address register's value: beyond the address size the bits are
 * random, so a CPU that uses them shows. */
static uint64_t addr_value(struct gen *g, uint64_t a)
{
	uint64_t m = size_mask(g->asz);
	return (a & m) | (rnd(&g->rng) & ~m);
}

static void put_mem(struct gen *g, bool stack, unsigned off, uint64_t v, unsigned w)
{
	uint8_t *win = stack ? g->c->stack : g->c->data;
	for (unsigned k = 0; k < w && off + k < DX_WIN; k++)
		win[off + k] = (uint8_t)(v >> (8 * k));
}

/* The memory operand: an offset in the window and an addressing form that
 * reaches it, with registers not already in use. */
static void memory_operand(struct gen *g, unsigned reg_field, unsigned width)
{
	unsigned eo = 0x40 + (unsigned)(rnd(&g->rng) % 0x60);
	if (g->f->kind & DX_KBT)
		eo = 0x60 + (unsigned)(rnd(&g->rng) % 0x20);
	if (rnd(&g->rng) % 2 || (g->f->kind & DX_KCX8 && rnd(&g->rng) % 8))
		eo &= ~(width - 1);
	int8_t disp = (int8_t)((int)(rnd(&g->rng) % 0x40) - 0x20);
	uint8_t *m = g->modrm;
	g->nmodrm = 0;
	g->mem_stack = false;
	if (g->v->mode == DX_MODE16) {
		/* 16-bit forms: [bx+si] [bx+di] [bp+si] [bp+di] [si] [di] [bp] [bx] */
		static const uint8_t r1[8] = {3, 3, 5, 5, 6, 7, 5, 3},
		                     r2[8] = {6, 7, 6, 7, 0, 0, 0, 0};
		unsigned rm = (unsigned)(rnd(&g->rng) % 9);
		bool two = rm < 4;
		if (rm < 8 && (g->used >> r1[rm] & 1 || (two && g->used >> r2[rm] & 1)))
			rm = 8;
		if (rm < 8 && g->f->undef == DX_USHXD && (rm == 2 || rm == 3 || rm == 6))
			rm = 8;
		if (rm == 8) { /* [disp16] */
			m[g->nmodrm++] = (uint8_t)((reg_field & 7) << 3 | 6);
			m[g->nmodrm++] = (uint8_t)eo;
			m[g->nmodrm++] = (uint8_t)(eo >> 8);
		} else {
			g->mem_stack = rm == 2 || rm == 3 || rm == 6;
			m[g->nmodrm++] = (uint8_t)(0x40 | (reg_field & 7) << 3 | rm);
			m[g->nmodrm++] = (uint8_t)disp;
			uint16_t want = (uint16_t)(eo - disp);
			uint16_t part = two ? (uint16_t)rnd(&g->rng) : 0;
			set_reg(g, r1[rm], 4, addr_value(g, (uint16_t)(want - part)));
			g->used |= 1u << r1[rm];
			if (two) {
				set_reg(g, r2[rm], 4, addr_value(g, part));
				g->used |= 1u << r2[rm];
			}
		}
		g->mem_eo = (int)eo;
		return;
	}
	uint64_t a = window_addr(g, false, eo);
	unsigned form = (unsigned)(rnd(&g->rng) % 8);
	if (form == 0) { /* RIP-relative (64-bit) or [disp32] */
		m[g->nmodrm++] = (uint8_t)((reg_field & 7) << 3 | 5);
		if (g->v->mode == DX_MODE64)
			g->riprel = (int)g->nmodrm;
		for (unsigned k = 0; k < 4; k++)
			m[g->nmodrm++] = (uint8_t)(a >> (8 * k));
	} else if (form <= 2) { /* [base + index * scale + disp8] */
		unsigned base = pick(g, 0, 8);
		claim(g, base);
		unsigned index = pick(g, 1u << 4 | 1u << 12, 8);
		claim(g, index);
		unsigned scale = (unsigned)(rnd(&g->rng) % 4);
		uint64_t iv = rnd(&g->rng) % 16;
		set_reg(g, index, 8, iv);
		set_reg(g, base, 8, addr_value(g, a - (iv << scale) - (uint64_t)(int64_t)disp));
		if (g->v->mode == DX_MODE32)
			g->c->gpr[index] &= 0xffffffff;
		m[g->nmodrm++] = (uint8_t)(0x44 | (reg_field & 7) << 3);
		m[g->nmodrm++] = (uint8_t)(scale << 6 | (index & 7) << 3 | (base & 7));
		m[g->nmodrm++] = (uint8_t)disp;
		g->rexbits |= (uint8_t)((index >> 3) << 1 | base >> 3);
	} else { /* [base + disp8] */
		unsigned base = pick(g, 1u << 4 | 1u << 12, 8);
		claim(g, base);
		set_reg(g, base, 8, addr_value(g, a - (uint64_t)(int64_t)disp));
		m[g->nmodrm++] = (uint8_t)(0x40 | (reg_field & 7) << 3 | (base & 7));
		m[g->nmodrm++] = (uint8_t)disp;
		g->rexbits |= (uint8_t)(base >> 3);
	}
	g->mem_eo = (int)eo;
}

static struct slot *find_slot(struct gen *g, uint8_t kind)
{
	for (unsigned i = 0; i < g->l.n; i++)
		if (g->l.s[i].kind == kind)
			return &g->l.s[i];
	return NULL;
}

static struct slot *find_impl(struct gen *g, uint8_t impl)
{
	for (unsigned i = 0; i < g->l.n; i++)
		if (g->l.s[i].kind == SK_IMPL && g->l.s[i].impl == impl)
			return &g->l.s[i];
	return NULL;
}

/* The branch target: a pad inside the code page, past any case's code. */
#define TARGET 0x40u

static uint64_t target_value(const struct gen *g)
{
	return g->v->mode == DX_MODE16 ? TARGET : DX_CODE + TARGET;
}

/* Slot values the set-up flags constrain, before they are written. */
static void adjust_values(struct gen *g, bool random)
{
	struct slot *rm = find_slot(g, SK_RM);
	unsigned osz = g->l.osz;
	if (random && g->f->kind & (DX_KDIV | DX_KIDIV) && rm) {
		uint64_t d = rm->val & size_mask(osz);
		bool sgn = g->f->kind & DX_KIDIV;
		if (rnd(&g->rng) % 4) {
			if (osz == 1) {
				struct slot *ax = find_impl(g, IMPL_AX);
				uint64_t al = ax->val & 0xff;
				uint64_t ah = sgn ? (al & 0x80 ? 0xff : 0)
				              : d ? rnd(&g->rng) % d
				                  : 0;
				ax->val = ah << 8 | al;
			} else {
				struct slot *a = find_impl(g, IMPL_A), *dx = find_impl(g, IMPL_D);
				uint64_t top = 1ull << (8 * osz - 1);
				dx->val = sgn ? (a->val & top ? size_mask(osz) : 0)
				          : d ? rnd(&g->rng) % d
				              : 0;
			}
		}
	}
	if (g->f->kind & DX_KJMPIND && rm)
		rm->val = target_value(g);
	if (g->f->kind & DX_KENTER) {
		static const uint8_t levels[] = {0, 1, 2, 3, 4, 31, 32, 33};
		for (unsigned i = 0; i < g->l.n; i++) {
			struct slot *s = &g->l.s[i];
			if (s->kind == SK_IMM)
				s->val =
				    s->width == 2 ? rnd(&g->rng) % 0x41 : levels[rnd(&g->rng) % 8];
		}
	}
}

/* Registers and memory the set-up flags ask for, after the slots. */
static void set_up(struct gen *g)
{
	struct dx_case *c = g->c;
	unsigned kind = g->f->kind, osz = g->l.osz;
	unsigned sp = DX_SP0 - (unsigned)(rnd(&g->rng) % 16);
	if (kind & DX_KSTACK) {
		set_reg(g, 4, 8, window_addr(g, true, sp));
		set_reg(g, 5, 8, window_addr(g, true, 0x90 + (unsigned)(rnd(&g->rng) % 0x20)));
		if (g->v->mode == DX_MODE16) /* SS is a 16-bit segment: SP only */
			c->gpr[4] = (c->gpr[4] & 0xffff) | (rnd(&g->rng) & 0xffff0000);
	} else if (!g->sp_taken) {
		sp = DX_SP0;
		set_reg(g, 4, 8, window_addr(g, true, sp));
	}
	if (kind & (DX_KRET | DX_KJMPIND))
		c->target = TARGET;
	if (kind & DX_KPOPF) {
		/* TF would trap, AC check alignment; IF and IOPL do not change at
		 * CPL 3 and do in real mode, so they stay as the CPU has them. */
		uint64_t v = (rnd(&g->rng) & ~(uint64_t)(0x100 | 0x200 | 0x3000 | 0x40000 |
		                                         0x10000 | 0x20000 | 0x80000 | 0x100000)) |
		             0x202;
		put_mem(g, true, sp, v, osz);
	}
	if (kind & DX_KRET)
		put_mem(g, true, sp, target_value(g), osz);
	if (kind & DX_KXLAT)
		set_reg(g, 3, 8,
		        addr_value(g, window_addr(g, false, (unsigned)(rnd(&g->rng) % 0x20))));
	if (kind & DX_KSTR) {
		unsigned si = 0x40 + (unsigned)(rnd(&g->rng) % 16),
		         di = 0x90 + (unsigned)(rnd(&g->rng) % 16);
		set_reg(g, 6, 8, addr_value(g, window_addr(g, false, si)));
		set_reg(g, 7, 8, addr_value(g, window_addr(g, false, di)));
		struct slot *cx = find_impl(g, IMPL_CX);
		if (cx)
			set_reg(g, 1, 8, addr_value(g, cx->val));
		if (rnd(&g->rng) % 2) { /* make CMPS and SCAS find equal elements */
			for (int j = -32; j < 32; j++) {
				struct slot *a = find_impl(g, IMPL_A);
				unsigned w = osz, jm = (unsigned)((j % (int)w + (int)w) % (int)w);
				c->data[di + j] =
				    a ? (uint8_t)(a->val >> (8 * jm)) : c->data[si + j];
			}
			if (rnd(&g->rng) % 2)
				c->data[di - 32 + rnd(&g->rng) % 64] ^=
				    (uint8_t)(1 + rnd(&g->rng) % 255);
		}
	}
	if (kind & DX_KCX8 && g->mem_eo >= 0) {
		for (unsigned r = 0; r < 4; r++)
			c->gpr[r] = rand_value(&g->rng, 8);
		if (g->v->mode != DX_MODE64)
			for (unsigned r = 0; r < 4; r++)
				c->gpr[r] &= 0xffffffff;
		unsigned half = osz == 8 ? 8 : 4;
		if (rnd(&g->rng) % 2) {
			put_mem(g, false, (unsigned)g->mem_eo, c->gpr[0], half);
			put_mem(g, false, (unsigned)g->mem_eo + half, c->gpr[2], half);
		}
	}
}

/* What the SDM leaves undefined for these inputs. */
static void undefined(struct gen *g)
{
	struct dx_case *c = g->c;
	unsigned bits = 8 * g->l.osz;
	struct slot *rm = find_slot(g, SK_RM);
	uint64_t count = 1;
	for (unsigned i = 0; i < g->l.n; i++)
		if (g->l.s[i].vc == VC_COUNT)
			count = g->l.s[i].val;
	unsigned mc = (unsigned)(count & (bits == 64 ? 63 : 31));
	switch (g->f->undef) {
	case DX_UAF:
		c->undef_flags = DX_AF;
		break;
	case DX_UMUL:
		c->undef_flags = DX_SF | DX_ZF | DX_AF | DX_PF;
		break;
	case DX_UDIV:
		c->undef_flags = DX_ARITH;
		break;
	case DX_USHIFT:
		if (mc)
			c->undef_flags = DX_AF | (mc > 1 ? DX_OF : 0) | (mc >= bits ? DX_CF : 0);
		break;
	case DX_USAR:
		if (mc)
			c->undef_flags = DX_AF | (mc > 1 ? DX_OF : 0);
		break;
	case DX_UROT:
		if (mc > 1)
			c->undef_flags = DX_OF;
		break;
	case DX_USHXD:
		if (mc > bits) {
			c->undef_flags = DX_ARITH;
			if (g->mem_eo >= 0) {
				c->undef_mem_off = (uint8_t)g->mem_eo;
				c->undef_mem_len = (uint8_t)g->l.osz;
			} else if (rm) {
				c->undef_gprs |= (uint16_t)(1u << phys_reg(g, rm->reg, rm->width));
			}
		} else if (mc) {
			c->undef_flags = DX_AF | (mc > 1 ? DX_OF : 0);
		}
		break;
	case DX_UBT:
		c->undef_flags = DX_OF | DX_SF | DX_AF | DX_PF;
		break;
	case DX_UBSF: {
		struct slot *reg = find_slot(g, SK_REG);
		c->undef_flags = DX_CF | DX_OF | DX_SF | DX_AF | DX_PF;
		if (rm && (rm->val & size_mask(g->l.osz)) == 0 && reg)
			c->undef_gprs |= (uint16_t)(1u << phys_reg(g, reg->reg, reg->width));
		break;
	}
	case DX_UCNT:
		c->undef_flags = DX_OF | DX_SF | DX_AF | DX_PF;
		break;
	case DX_UDAA:
		c->undef_flags = DX_OF;
		break;
	case DX_UAAA:
		c->undef_flags = DX_OF | DX_SF | DX_ZF | DX_PF;
		break;
	case DX_UAAM:
		c->undef_flags = DX_OF | DX_AF | DX_CF;
		break;
	case DX_UBSWAP: {
		struct slot *r = find_slot(g, SK_OPREG);
		if (g->l.osz == 2 && r)
			c->undef_gprs |= (uint16_t)(1u << r->reg);
		break;
	}
	case DX_UBMI:
		c->undef_flags = DX_AF | DX_PF;
		break;
	default:
		break;
	}
	/* A REP whose count is already 0, with a 32-bit address size in 64-bit
	 * mode: which of rCX, rSI, rDI it writes (zero-extending them) is not
	 * in the SDM; Intel's rule is in docs/undefined-behaviour.md. */
	if (g->f->kind & DX_KSTR && g->v->mode == DX_MODE64 && g->asz == 4 &&
	    (c->gpr[1] & 0xffffffffu) == 0 && (c->code[0] == 0x67 || c->code[1] == 0x67))
		c->undef_gprs |= (1u << 1) | (1u << 6) | (1u << 7);
}

/* Registers for the register slots; the memory operand; values written. */
static void place_operands(struct gen *g)
{
	unsigned osz = g->l.osz;
	struct slot *rm = find_slot(g, SK_RM), *reg = find_slot(g, SK_REG);
	int modrm_digit = g->l.t.modrm >= 0 ? g->l.t.t[g->l.t.modrm].a : -1;
	for (unsigned i = 0; i < g->l.n; i++) {
		struct slot *s = &g->l.s[i];
		if (s->kind == SK_REG || s->kind == SK_OPREG) {
			s->reg = (uint8_t)pick(g, 0, s->width);
			claim(g, phys_reg(g, s->reg, s->width));
		}
	}
	if (rm && !g->v->mem) {
		bool same = reg && rnd(&g->rng) % 8 == 0;
		rm->reg = same ? reg->reg : (uint8_t)pick(g, 0, rm->width);
		claim(g, phys_reg(g, rm->reg, rm->width));
	}
	if (rm && g->v->mem) {
		unsigned w = rm->width;
		if (g->f->kind & DX_KCX8)
			w = osz == 8 ? 16 : 8;
		memory_operand(
		    g, modrm_digit == 0xff ? (reg ? reg->reg : 0) : (unsigned)modrm_digit, w);
	}
	/* Values, in slot order; a later slot on the same register wins. */
	for (unsigned i = 0; i < g->l.n; i++) {
		struct slot *s = &g->l.s[i];
		switch (s->kind) {
		case SK_RM:
			if (g->v->mem)
				put_mem(g, g->mem_stack, (unsigned)g->mem_eo, s->val, s->width);
			else
				set_reg(g, s->reg, s->width, s->val);
			break;
		case SK_REG:
		case SK_OPREG:
			set_reg(g, s->reg, s->width, s->val);
			break;
		case SK_IMPL:
			if (s->impl == IMPL_H)
				g->c->gpr[0] = (g->c->gpr[0] & ~0xff00ull) | (s->val & 0xff) << 8;
			else if (s->impl == IMPL_D)
				set_reg(g, 2, s->width, s->val);
			else if (s->impl == IMPL_C || s->impl == IMPL_CX)
				set_reg(g, 1, s->width, s->val);
			else
				set_reg(g, 0, s->width, s->val);
			break;
		default:
			break;
		}
	}
	if (rm && !g->v->mem)
		g->rexbits |= (uint8_t)(rm->reg >> 3);
	if (reg)
		g->rexbits |= (uint8_t)((reg->reg >> 3) << 2);
}

static void emit_imm(uint8_t *out, unsigned *n, uint64_t v, unsigned w)
{
	for (unsigned k = 0; k < w; k++)
		out[(*n)++] = (uint8_t)(v >> (8 * k));
}

/* Prefixes, REX, opcode, ModRM and the rest, then the relative fields. */
static void encode(struct gen *g)
{
	struct dx_case *c = g->c;
	const struct tmpl *t = &g->l.t;
	unsigned osz = g->l.osz, mode = g->v->mode, n = 0;
	uint8_t *out = c->code;
	bool sized = g->f->sizes != DX_S8;
	if (sized && ((osz == 2 && mode != DX_MODE16) || (osz == 4 && mode == DX_MODE16)))
		out[n++] = 0x66;
	if (sized && osz == 8 && !t->d64)
		g->rexbits |= 8;
	struct slot *opreg = find_slot(g, SK_OPREG);
	if (opreg)
		g->rexbits |= (uint8_t)(opreg->reg >> 3);
	for (unsigned i = 0; i < t->n; i++)
		if (t->t[i].t == TK_PREFIX)
			out[n++] = t->t[i].a;
	if (mode == DX_MODE64 && (g->rex || g->rexbits))
		out[n++] = (uint8_t)(0x40 | g->rexbits);
	int rel_at = -1, rip_at = -1;
	unsigned rel_w = 0;
	unsigned si = 0;
	for (unsigned i = 0; i < t->n; i++) {
		const struct tok *k = &t->t[i];
		struct slot *s = NULL;
		for (unsigned j = si; j < g->l.n; j++)
			if (g->l.s[j].tok == i) {
				s = &g->l.s[j];
				break;
			}
		switch (k->t) {
		case TK_BYTE:
			out[n++] = k->a;
			break;
		case TK_PLUSR:
			out[n - 1] = (uint8_t)(out[n - 1] + (s->reg & 7));
			break;
		case TK_PLUSCC:
			out[n - 1] = (uint8_t)(out[n - 1] + (s->val & 15));
			break;
		case TK_MODRM:
			if (g->v->mem) {
				if (g->riprel >= 0)
					rip_at = (int)n + g->riprel;
				memcpy(out + n, g->modrm, g->nmodrm);
				n += g->nmodrm;
			} else {
				struct slot *rm = find_slot(g, SK_RM), *reg = find_slot(g, SK_REG);
				unsigned field = k->a == 0xff ? (reg ? reg->reg : 0) : k->a;
				out[n++] = (uint8_t)(0xc0 | (field & 7) << 3 | (rm->reg & 7));
			}
			break;
		case TK_IMM:
			emit_imm(out, &n, s->val, s->width);
			break;
		case TK_REL:
			rel_at = (int)n;
			rel_w = k->a == 1 ? 1 : osz == 2 ? 2 : 4;
			emit_imm(out, &n, 0, rel_w);
			break;
		default:
			break;
		}
	}
	c->len = (uint8_t)n;
	if (rel_at >= 0) {
		c->target = TARGET;
		emit_imm(out + rel_at, &(unsigned){0}, (uint64_t)(int64_t)(TARGET - n), rel_w);
	}
	if (rip_at >= 0) {
		uint32_t d = (uint32_t)(DX_DATA + (unsigned)g->mem_eo - (DX_CODE + n));
		emit_imm(out + rip_at, &(unsigned){0}, d, 4);
	}
}

void dx_generate(const struct dx_variant *v, uint64_t seed, uint64_t i, uint64_t cases_total,
                 struct dx_case *c)
{
	struct gen g;
	memset(&g, 0, sizeof(g));
	memset(c, 0, sizeof(*c));
	g.v = v;
	g.f = &dx_forms[v->form];
	g.c = c;
	g.mem_eo = -1;
	g.riprel = -1;
	make_layout(v, &g.l);
	g.rng = mix(seed ^ mix(v->form * 131u + v->mode * 17u + v->size * 3u + v->mem) ^ mix(i));
	if (!g.rng)
		g.rng = 1;
	c->mode = v->mode;
	c->ninsns = 1;
	g.asz = v->mode == DX_MODE64 ? 8 : v->mode == DX_MODE32 ? 4 : 2;
	if (g.l.t.a67)
		g.asz = v->mode == DX_MODE64 ? 4 : v->mode == DX_MODE32 ? 2 : 4;
	/* Sometimes a REX prefix that adds nothing; always one with REX.W. */
	g.rex = v->mode == DX_MODE64 && (rnd(&g.rng) % 3 == 0);
	if (v->mode == DX_MODE64 && v->size == 8 && g.f->sizes != DX_S8 && !g.l.t.d64)
		g.rex = true;
	for (unsigned k = 0; k < 16; k++)
		c->gpr[k] = rnd(&g.rng);
	for (unsigned k = 0; k < DX_WIN; k++) {
		c->data[k] = (uint8_t)rnd(&g.rng);
		c->stack[k] = (uint8_t)rnd(&g.rng);
	}
	/* 16-bit mode keeps SP in the stack window: the soft CPU delivers
	 * exceptions there on the case's own stack (soft_setup.c). */
	if (g.f->kind & DX_KSTACK || v->mode == DX_MODE16)
		g.used |= 1u << 4;
	if (g.f->kind & DX_KSTACK)
		g.used |= 1u << 5;
	if (g.f->kind & DX_KSTR)
		g.used |= 1u << 1 | 1u << 6 | 1u << 7;
	if (g.f->kind & DX_KXLAT)
		g.used |= 1u << 3;
	if (g.f->kind & DX_KCX8)
		g.used |= 0xf;
	for (unsigned k = 0; k < g.l.n; k++)
		if (g.l.s[k].kind == SK_IMPL)
			g.used |= 1u << (g.l.s[k].impl == IMPL_D   ? 2
			                 : g.l.s[k].impl >= IMPL_C ? 1
			                                           : 0);

	/* Edge cases first, spread over the product when the run is shorter. */
	uint64_t ne = dx_edge_count(v);
	uint64_t edge_cases = cases_total >= 2 * ne ? ne : cases_total / 2;
	bool edge = i < edge_cases;
	if (edge) {
		uint64_t idx = edge_cases == ne ? i : (i * ne) / edge_cases;
		c->rflags = idx % 2 ? DX_ARITH | DX_DF : 0;
		idx /= 2;
		for (unsigned k = 0; k < g.l.n; k++) {
			struct slot *s = &g.l.s[k];
			uint64_t cnt = vc_count((enum vc)s->vc, s->width);
			s->val = vc_value((enum vc)s->vc, s->width, idx % cnt);
			idx /= cnt;
		}
	} else {
		uint64_t r = rnd(&g.rng) % 4;
		c->rflags = r == 0   ? 0
		            : r == 1 ? DX_ARITH | DX_DF
		                     : rnd(&g.rng) & (DX_ARITH | DX_DF);
		for (unsigned k = 0; k < g.l.n; k++)
			g.l.s[k].val = rand_vc(&g.rng, (enum vc)g.l.s[k].vc, g.l.s[k].width);
	}
	c->rflags |= 0x202; /* IF (always set at CPL 3 on the host) and bit 1 */
	adjust_values(&g, !edge);
	place_operands(&g);
	set_up(&g);
	encode(&g);
	undefined(&g);
	/* Outside 64-bit mode the host loads 32-bit registers and R8..R15 are
	 * out of reach: give the soft CPU the same. */
	if (v->mode != DX_MODE64)
		for (unsigned k = 0; k < 16; k++)
			c->gpr[k] = k < 8 ? c->gpr[k] & 0xffffffff : 0;
}
