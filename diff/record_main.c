/*
 * softvmm-record: run generated cases on the host CPU and write them with
 * the host's results (record.h), to be committed as hardware truth.
 *
 *   softvmm-record --out FILE [--cases N] [--mem-cases N] [--seed S]
 *                  [--modes 64,32,16] [--form SUBSTRING] [--undefined-only]
 *
 * --undefined-only keeps the cases whose result the SDM leaves partly
 * undefined (what `make measure-undefined` records per vendor); without it
 * every case is kept (the instruction corpus under tests/data/cases).
 * Forms with a memory operand get --mem-cases cases (their random data
 * window makes each a long line).  A window the form cannot touch is
 * zeroed before the host runs the case, so the files stay small.
 * Exit status: 0, 64 usage, 70 when the host cannot run the cases.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "dx.h"
#include "gen.h"
#include "record.h"

#define BATCH 256

struct opts {
	const char *out, *filter;
	uint64_t cases, mem_cases, seed;
	unsigned modes;
	bool undefined_only;
};

static int usage(const char *why)
{
	fprintf(stderr,
	        "softvmm-record: %s\nusage: softvmm-record --out FILE [--cases N] [--seed S] "
	        "[--mem-cases N] [--modes 64,32,16] [--form SUBSTRING] [--undefined-only]\n",
	        why);
	return EX_USAGE;
}

static bool parse_modes(const char *s, unsigned *modes)
{
	*modes = 0;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "64") == 0)
			*modes |= DX_M64;
		else if (strcmp(t, "32") == 0)
			*modes |= DX_M32;
		else if (strcmp(t, "16") == 0)
			*modes |= DX_M16;
		else
			return false;
	}
	return *modes != 0;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && end != s && !*end;
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){
	    .cases = 64, .mem_cases = 8, .seed = 1, .modes = DX_M64 | DX_M32 | DX_M16};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--undefined-only") == 0) {
			o->undefined_only = true;
			continue;
		}
		if (!v)
			return usage("an option is missing its value");
		i++;
		bool ok = true;
		if (strcmp(a, "--out") == 0)
			o->out = v;
		else if (strcmp(a, "--form") == 0)
			o->filter = v;
		else if (strcmp(a, "--cases") == 0)
			ok = parse_u64(v, &o->cases) && o->cases > 0;
		else if (strcmp(a, "--mem-cases") == 0)
			ok = parse_u64(v, &o->mem_cases);
		else if (strcmp(a, "--seed") == 0)
			ok = parse_u64(v, &o->seed);
		else if (strcmp(a, "--modes") == 0)
			ok = parse_modes(v, &o->modes);
		else
			return usage("unknown option");
		if (!ok)
			return usage("bad option value");
	}
	return o->out ? 0 : usage("--out is required");
}

/* Zero the windows the variant cannot touch. */
static void trim_windows(const struct dx_variant *v, struct dx_case *c)
{
	unsigned kind = dx_forms[v->form].kind;
	/* A memory operand may be in either window (rSP or rBP as base). */
	if (!v->mem && !(kind & (DX_KSTACK | DX_KPOPF | DX_KRET | DX_KENTER)))
		memset(c->stack, 0, DX_WIN);
	if (!v->mem && !(kind & (DX_KSTR | DX_KXLAT | DX_KBT | DX_KCX8 | DX_KJMPIND)))
		memset(c->data, 0, DX_WIN);
}

static bool undefined_parts(const struct dx_case *c)
{
	return c->undef_flags || c->undef_gprs || c->undef_mem_len;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	const char *vendor = dx_host_vendor();
	if (!vendor) {
		fprintf(stderr, "softvmm-record: the host is neither Intel nor AMD\n");
		return EX_SOFTWARE;
	}
	char err[256];
	struct dx_host *h;
	if (dx_host_open(&h, err, sizeof(err))) {
		fprintf(stderr, "softvmm-record: %s\n", err);
		return EX_SOFTWARE;
	}
	unsigned max = 4096;
	struct dx_variant *vs = calloc(max, sizeof(*vs));
	struct dx_case *cs = calloc(BATCH, sizeof(*cs));
	struct dx_result *rs = calloc(BATCH, sizeof(*rs));
	FILE *f = fopen(o.out, "w");
	if (!vs || !cs || !rs || !f) {
		fprintf(stderr, "softvmm-record: %s: %s\n", o.out, strerror(errno));
		return EX_SOFTWARE;
	}
	char comment[256];
	snprintf(comment, sizeof(comment),
	         "measured on a %s host; %llu cases per variant, seed %llu%s", vendor,
	         (unsigned long long)o.cases, (unsigned long long)o.seed,
	         o.undefined_only ? "; only cases with undefined parts" : "");
	dx_record_header(f, vendor, comment);
	unsigned nv = dx_variants(vs, max);
	uint64_t written = 0, faults = 0;
	for (unsigned v = 0; v < nv && !rc; v++) {
		const struct dx_variant *var = &vs[v];
		if (!(o.modes >> var->mode & 1) || (o.filter && !strstr(var->name, o.filter)))
			continue;
		if (!dx_host_has((enum dx_feature)dx_forms[var->form].feature))
			continue;
		uint64_t want = var->mem ? o.mem_cases : o.cases;
		for (uint64_t i = 0; i < want && !rc;) {
			unsigned n = 0;
			for (; n < BATCH && i < want; i++) {
				dx_generate(var, o.seed, i, want, &cs[n]);
				trim_windows(var, &cs[n]);
				if (!o.undefined_only || undefined_parts(&cs[n]))
					n++;
			}
			if (n == 0)
				continue;
			if (dx_host_run(h, cs, rs, n, err, sizeof(err))) {
				fprintf(stderr, "softvmm-record: %s\n", err);
				rc = EX_SOFTWARE;
				break;
			}
			for (unsigned k = 0; k < n; k++) {
				if (rs[k].fault == DX_HARNESS) {
					fprintf(
					    stderr,
					    "softvmm-record: %s: the host could not run a case\n",
					    var->name);
					faults++;
					continue;
				}
				dx_record_write(f, &cs[k], &rs[k]);
				written++;
			}
		}
	}
	if (fclose(f) != 0 && !rc) {
		fprintf(stderr, "softvmm-record: %s: %s\n", o.out, strerror(errno));
		rc = EX_SOFTWARE;
	}
	fprintf(stderr,
	        "softvmm-record: %llu cases written to %s (%s host), %llu harness failures\n",
	        (unsigned long long)written, o.out, vendor, (unsigned long long)faults);
	dx_host_close(h);
	free(vs);
	free(cs);
	free(rs);
	return rc ? rc : faults ? EX_SOFTWARE : 0;
}
