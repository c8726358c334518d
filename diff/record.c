/* Recorded cases as text (see record.h). */
#include "record.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Longer lines than this are not ours: a case line is under 2 KiB. */
#define MAX_LINE 16384

static const unsigned mode_bits[DX_NMODES] = {64, 32, 16};

/* The bytes of w that differ from base (zeros when base is NULL). */
static void put_window(FILE *f, const uint8_t w[DX_WIN], const uint8_t *base)
{
	bool any = false;
	for (unsigned k = 0; k < DX_WIN;) {
		if (w[k] == (base ? base[k] : 0)) {
			k++;
			continue;
		}
		fprintf(f, "%s%x:", any ? "," : " ", k);
		while (k < DX_WIN && w[k] != (base ? base[k] : 0))
			fprintf(f, "%02x", w[k++]);
		any = true;
	}
	if (!any)
		fputs(" -", f);
}

/* The registers; with base, "=" for one equal to base's. */
static void put_gprs(FILE *f, const uint64_t g[16], const uint64_t *base)
{
	for (unsigned k = 0; k < 16; k++)
		if (base && g[k] == base[k])
			fputs(" =", f);
		else
			fprintf(f, " %llx", (unsigned long long)g[k]);
}

void dx_record_header(FILE *f, const char *vendor, const char *comment)
{
	fputs("# softvmm recorded cases (diff/record.h): each case, then the host CPU's result\n",
	      f);
	if (comment)
		fprintf(f, "# %s\n", comment);
	fprintf(f, "vendor %s\n", vendor);
}

void dx_record_write(FILE *f, const struct dx_case *c, const struct dx_result *h)
{
	fprintf(f, "case %u %u %x ", mode_bits[c->mode], c->ninsns, c->target);
	for (unsigned k = 0; k < c->len; k++)
		fprintf(f, "%02x", c->code[k]);
	fprintf(f, " %llx", (unsigned long long)c->rflags);
	put_gprs(f, c->gpr, NULL);
	put_window(f, c->data, NULL);
	put_window(f, c->stack, NULL);
	fprintf(f, " %x %x %x %x\n", c->undef_flags, c->undef_gprs, c->undef_mem_off,
	        c->undef_mem_len);
	fprintf(f, "host %llx %llx %u %x", (unsigned long long)h->rflags,
	        (unsigned long long)h->rip, h->fault, h->vector);
	put_gprs(f, h->gpr, c->gpr);
	put_window(f, h->data, c->data);
	put_window(f, h->stack, c->stack);
	fputc('\n', f);
}

/* ---- reading ------------------------------------------------------------ */

struct line {
	char *save;
	struct dx_record_reader *r;
	char *err;
	size_t errlen;
	bool failed;
};

static int fail(struct line *l, const char *fmt, ...)
{
	if (l->failed)
		return -1;
	int n = snprintf(l->err, l->errlen, "%s:%u: ", l->r->path, l->r->line);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < l->errlen)
		vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	l->failed = true;
	return -1;
}

static char *token(struct line *l, const char *what)
{
	char *t = strtok_r(NULL, " \n", &l->save);
	if (!t)
		fail(l, "missing %s", what);
	return t;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Token t as a hex number of at most 64 bits, no prefix, below 'limit'
 * (0: none). */
static uint64_t hex_number(struct line *l, const char *what, const char *t, uint64_t limit)
{
	if (!t)
		return 0;
	size_t n = strlen(t);
	uint64_t v = 0;
	if (n == 0 || n > 16)
		return fail(l, "%s: '%s' is not a 64-bit hex number", what, t), 0;
	for (size_t k = 0; k < n; k++) {
		int d = hexval(t[k]);
		if (d < 0)
			return fail(l, "%s: '%s' is not a hex number", what, t), 0;
		v = v << 4 | (unsigned)d;
	}
	if (limit && v >= limit)
		return fail(l, "%s: %s is out of range", what, t), 0;
	return v;
}

static uint64_t number(struct line *l, const char *what, uint64_t limit)
{
	return hex_number(l, what, token(l, what), limit);
}

static unsigned hex_bytes(struct line *l, const char *what, const char *t, uint8_t *out,
                          unsigned max)
{
	size_t n = strlen(t);
	if (n % 2 || n / 2 > max)
		return fail(l, "%s: bad byte string '%.40s'", what, t), 0;
	for (size_t k = 0; k < n; k += 2) {
		int hi = hexval(t[k]), lo = hexval(t[k + 1]);
		if (hi < 0 || lo < 0)
			return fail(l, "%s: bad byte string '%.40s'", what, t), 0;
		out[k / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (unsigned)(n / 2);
}

/* A window: its runs over base (zeros when base is NULL). */
static void window(struct line *l, const char *what, uint8_t w[DX_WIN], const uint8_t *base)
{
	if (base)
		memcpy(w, base, DX_WIN);
	else
		memset(w, 0, DX_WIN);
	char *t = token(l, what);
	if (!t || strcmp(t, "-") == 0)
		return;
	char *run_save = NULL;
	for (char *run = strtok_r(t, ",", &run_save); run; run = strtok_r(NULL, ",", &run_save)) {
		char *colon = strchr(run, ':');
		if (!colon) {
			fail(l, "%s: run '%.40s' has no offset", what, run);
			return;
		}
		*colon = '\0';
		char *end;
		errno = 0;
		unsigned long off = strtoul(run, &end, 16);
		if (errno || end == run || *end || off >= DX_WIN) {
			fail(l, "%s: bad offset '%s'", what, run);
			return;
		}
		hex_bytes(l, what, colon + 1, w + off, DX_WIN - (unsigned)off);
	}
}

static void gprs(struct line *l, uint64_t g[16], const uint64_t *base)
{
	static const char *const names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp",
	                                      "rsi", "rdi", "r8",  "r9",  "r10", "r11",
	                                      "r12", "r13", "r14", "r15"};
	for (unsigned k = 0; k < 16; k++) {
		const char *t = token(l, names[k]);
		g[k] = base && t && strcmp(t, "=") == 0 ? base[k] : hex_number(l, names[k], t, 0);
	}
}

static int read_line(struct dx_record_reader *r, char **buf, size_t *cap, char *err, size_t errlen)
{
	for (;;) {
		ssize_t n = getline(buf, cap, r->f);
		if (n < 0)
			return 0;
		r->line++;
		if (n > MAX_LINE) {
			snprintf(err, errlen, "%s:%u: line longer than %d bytes", r->path, r->line,
			         MAX_LINE);
			return -1;
		}
		if ((*buf)[0] != '#' && (*buf)[0] != '\n')
			return 1;
	}
}

int dx_record_open(struct dx_record_reader *r, const char *path, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->f = fopen(path, "r");
	if (!r->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void dx_record_close(struct dx_record_reader *r)
{
	if (r->f)
		fclose(r->f);
	r->f = NULL;
}

static void parse_case(struct line *l, struct dx_case *c)
{
	memset(c, 0, sizeof(*c));
	uint64_t bits = number(l, "mode", 0x100);
	c->mode = bits == 0x64 ? DX_MODE64 : bits == 0x32 ? DX_MODE32 : DX_MODE16;
	if (!l->failed && bits != 0x64 && bits != 0x32 && bits != 0x16)
		fail(l, "mode must be 64, 32 or 16");
	c->ninsns = (uint8_t)number(l, "instruction count", 0x100);
	c->target = (uint8_t)number(l, "target", 0x100);
	const char *code = token(l, "code");
	if (code)
		c->len = (uint8_t)hex_bytes(l, "code", code, c->code, DX_MAXCODE);
	c->rflags = number(l, "rflags", 0);
	gprs(l, c->gpr, NULL);
	window(l, "data", c->data, NULL);
	window(l, "stack", c->stack, NULL);
	c->undef_flags = (uint32_t)number(l, "undefined flags", 1ull << 32);
	c->undef_gprs = (uint16_t)number(l, "undefined registers", 1u << 16);
	c->undef_mem_off = (uint8_t)number(l, "undefined offset", 0x100);
	c->undef_mem_len = (uint8_t)number(l, "undefined length", 0x100);
	if (!l->failed && (c->len == 0 || c->ninsns == 0))
		fail(l, "a case needs code and an instruction count");
}

static void parse_host(struct line *l, const struct dx_case *c, struct dx_result *h)
{
	memset(h, 0, sizeof(*h));
	h->rflags = number(l, "rflags", 0);
	h->rip = number(l, "rip", 0);
	h->fault = (uint8_t)number(l, "fault", DX_NFAULTS);
	h->vector = (uint8_t)number(l, "vector", 0x100);
	gprs(l, h->gpr, c->gpr);
	window(l, "data", h->data, c->data);
	window(l, "stack", h->stack, c->stack);
}

int dx_record_next(struct dx_record_reader *r, struct dx_case *c, struct dx_result *host, char *err,
                   size_t errlen)
{
	char *buf = NULL;
	size_t cap = 0;
	int ret = -1;
	struct line l = {.r = r, .err = err, .errlen = errlen};
	for (;;) {
		int got = read_line(r, &buf, &cap, err, errlen);
		if (got <= 0) {
			ret = got;
			break;
		}
		char *kw = strtok_r(buf, " \n", &l.save);
		if (kw && strcmp(kw, "vendor") == 0) {
			const char *v = token(&l, "vendor");
			if (v && strcmp(v, "intel") != 0 && strcmp(v, "amd") != 0)
				fail(&l, "vendor must be intel or amd, not '%.20s'", v);
			if (l.failed)
				break;
			snprintf(r->vendor, sizeof(r->vendor), "%s", v);
			continue;
		}
		if (!kw || strcmp(kw, "case") != 0) {
			fail(&l, "expected a case line");
			break;
		}
		if (!r->vendor[0]) {
			fail(&l, "a case before the vendor line");
			break;
		}
		parse_case(&l, c);
		if (l.failed)
			break;
		if (read_line(r, &buf, &cap, err, errlen) <= 0) {
			fail(&l, "the case has no host line");
			break;
		}
		kw = strtok_r(buf, " \n", &l.save);
		if (!kw || strcmp(kw, "host") != 0) {
			fail(&l, "expected the host line of the case above");
			break;
		}
		parse_host(&l, c, host);
		if (!l.failed && strtok_r(NULL, " \n", &l.save))
			fail(&l, "trailing fields");
		if (!l.failed)
			ret = 1;
		break;
	}
	free(buf);
	return ret;
}
