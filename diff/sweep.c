/*
 * Running the selected variants on both CPUs (dx.h).  Cases go to the
 * host's child in batches; each case then runs on the soft CPU setups of
 * its mode (16-bit cases on two: real mode and 16-bit protected mode) and
 * is compared.
 */
#include "dx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 512

struct run {
	const struct dx_sweep_opts *o;
	dx_mismatch_fn on_mismatch;
	void *arg;
	struct dx_sweep_stats *st;
	struct dx_host *host;
	struct dx_soft *soft;
	struct dx_case *cases;
	struct dx_result *hres;
};

static bool selected(const struct dx_sweep_opts *o, const struct dx_variant *v)
{
	if (!(o->modes >> v->mode & 1))
		return false;
	for (const char *const *x = o->exclude; x && *x; x++)
		if (strstr(v->name, *x))
			return false;
	return !o->filter || strstr(v->name, o->filter) != NULL;
}

static int run_variant(struct run *r, const struct dx_variant *v, const char *model,
                       uint64_t ncases, struct dx_variant_stats *vs, char *err, size_t errlen)
{
	enum dx_target t[2];
	unsigned nt = dx_targets_of((enum dx_mode)v->mode, t);
	for (uint64_t done = 0; done < ncases;) {
		unsigned k = ncases - done < CHUNK ? (unsigned)(ncases - done) : CHUNK;
		for (unsigned i = 0; i < k; i++)
			dx_generate(v, r->o->seed, done + i, ncases, &r->cases[i]);
		if (dx_host_run(r->host, r->cases, r->hres, k, err, errlen) != 0)
			return -1;
		for (unsigned i = 0; i < k; i++) {
			const struct dx_case *c = &r->cases[i];
			vs->cases++;
			if (r->hres[i].fault == DX_HARNESS) {
				vs->harness++;
				r->st->harness++;
			}
			for (unsigned j = 0; j < nt; j++) {
				struct dx_result sres;
				struct dx_diff d;
				if (!dx_target_applies(t[j], &r->hres[i]))
					continue;
				dx_soft_run(r->soft, model, t[j], c, &sres);
				dx_soft_fixup(t[j], &r->hres[i], &sres);
				dx_compare(c, &r->hres[i], &sres, r->o->strict, &d);
				r->st->cases[t[j]]++;
				if (sres.fault == DX_HARNESS && r->hres[i].fault != DX_HARNESS) {
					vs->harness++;
					r->st->harness++;
				}
				if (!d.any)
					continue;
				r->st->mismatches[t[j]]++;
				vs->mismatches++;
				vs->flags |= d.flags;
				vs->gprs |= d.gprs;
				vs->rip |= d.rip;
				vs->fault |= d.fault;
				vs->mem |= d.data || d.stack;
				if (r->on_mismatch)
					r->on_mismatch(r->arg, v, t[j], model, c, &r->hres[i],
					               &sres, &d);
			}
		}
		done += k;
	}
	return 0;
}

int dx_sweep(const struct dx_sweep_opts *o, dx_mismatch_fn on_mismatch, dx_variant_fn on_variant,
             void *arg, struct dx_sweep_stats *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->vendor = dx_host_vendor();
	if (!st->vendor) {
		snprintf(err, errlen, "the host CPU is neither Intel nor AMD");
		return -1;
	}
	unsigned nv = dx_variants(NULL, 0);
	struct dx_variant *vars = calloc(nv, sizeof(*vars));
	struct run r = {o,
	                on_mismatch,
	                arg,
	                st,
	                NULL,
	                NULL,
	                calloc(CHUNK, sizeof(struct dx_case)),
	                calloc(CHUNK, sizeof(struct dx_result))};
	int rc = -1;
	if (!vars || !r.cases || !r.hres) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	dx_variants(vars, nv);
	unsigned nsel = 0;
	for (unsigned i = 0; i < nv; i++)
		nsel += selected(o, &vars[i]);
	uint64_t per = nsel && o->cases / nsel ? o->cases / nsel : 1;
	if (dx_host_open(&r.host, err, errlen) != 0 || dx_soft_open(&r.soft, err, errlen) != 0)
		goto out;
	rc = 0;
	for (unsigned i = 0; i < nv && rc == 0; i++) {
		const struct dx_variant *v = &vars[i];
		if (!selected(o, v))
			continue;
		enum dx_feature f = (enum dx_feature)dx_forms[v->form].feature;
		const char *model = dx_host_has(f) ? dx_model_for(f) : NULL;
		struct dx_variant_stats vs;
		memset(&vs, 0, sizeof(vs));
		if (!model) {
			st->skipped++;
		} else {
			st->variants++;
			rc = run_variant(&r, v, model, per, &vs, err, errlen);
		}
		if (on_variant)
			on_variant(arg, v, model, &vs);
	}
out:
	dx_host_close(r.host);
	dx_soft_close(r.soft);
	free(r.cases);
	free(r.hres);
	free(vars);
	return rc;
}
