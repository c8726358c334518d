/*
 * softvmm-diffcheck: the differential harness as a command (dx.h).
 *
 *   softvmm-diffcheck [--cases N] [--seed S] [--mode 64|32|16|all]
 *                     [--form SUBSTRING] [--strict|--lax] [--show N]
 *                     [--per-variant K] [--list]
 *
 * Prints the host vendor, every variant with differences (which flags,
 * registers and the rest differ), the first differences in full, cases
 * and differences per mode, and a total.  Exit status: 0 no differences,
 * 1 differences, 64 usage, 70 harness errors.
 */
#include <Zydis/Zydis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dx.h"

struct opts {
	unsigned show, per_variant;
	unsigned shown, shown_variant;
	const struct dx_variant *cur;
};

static const char *const reg64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
static const char *const reg32[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};

static void flag_names(uint64_t f, char *out, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {{DX_CF, "CF"}, {DX_PF, "PF"}, {DX_AF, "AF"}, {DX_ZF, "ZF"}, {DX_SF, "SF"},
	             {DX_DF, "DF"}, {DX_OF, "OF"}, {DX_NT, "NT"}, {DX_ID, "ID"}};
	size_t n = 0;
	out[0] = 0;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (f & names[i].bit)
			n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? " " : "",
			                      names[i].name);
	if (!n)
		snprintf(out, len, "-");
}

static void disassemble(const struct dx_case *c, char *out, size_t len)
{
	static const ZydisMachineMode mm[DX_NMODES] = {ZYDIS_MACHINE_MODE_LONG_64,
	                                               ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
	                                               ZYDIS_MACHINE_MODE_LONG_COMPAT_16};
	ZydisDisassembledInstruction insn;
	uint64_t at = c->mode == DX_MODE16 ? 0 : DX_CODE;
	if (ZYAN_SUCCESS(ZydisDisassembleIntel(mm[c->mode], at, c->code, c->len, &insn)))
		snprintf(out, len, "%s", insn.text);
	else
		snprintf(out, len, "(undecodable)");
}

static void print_regs(const char *label, enum dx_mode m, const uint64_t *gpr, uint64_t rflags)
{
	char fl[64];
	flag_names(rflags & DX_COMPARE, fl, sizeof(fl));
	printf("    %-6s rflags %#" PRIx64 " [%s]\n", label, rflags, fl);
	unsigned n = m == DX_MODE64 ? 16 : 8;
	for (unsigned k = 0; k < n; k++) {
		if (m == DX_MODE64)
			printf("%s%4s %016" PRIx64, k % 4 ? "  " : "           ", reg64[k], gpr[k]);
		else
			printf("%s%4s %08" PRIx64, k % 4 ? "  " : "           ", reg32[k],
			       gpr[k] & 0xffffffff);
		if (k % 4 == 3)
			printf("\n");
	}
}

static void print_window(const char *label, const uint8_t *h, const uint8_t *s)
{
	for (unsigned k = 0; k < DX_WIN; k++)
		if (h[k] != s[k])
			printf("    %s +%#04x: host %02x soft %02x\n", label, k, h[k], s[k]);
}

static void print_result(const char *label, const struct dx_case *c, const struct dx_result *r)
{
	printf("    %-6s %s", label, dx_fault_name((enum dx_fault)r->fault));
	if (r->vector != 0xff)
		printf(" (vector %u)", r->vector);
	printf(", rip +%#" PRIx64 "\n", r->rip);
	print_regs("", (enum dx_mode)c->mode, r->gpr, r->rflags);
}

static void on_mismatch(void *arg, const struct dx_variant *v, enum dx_target t, const char *model,
                        const struct dx_case *c, const struct dx_result *host,
                        const struct dx_result *soft, const struct dx_diff *d)
{
	struct opts *o = arg;
	if (o->cur != v) {
		o->cur = v;
		o->shown_variant = 0;
	}
	if (o->shown >= o->show && o->shown_variant >= o->per_variant)
		return;
	o->shown++;
	o->shown_variant++;
	char text[96], fl[64];
	disassemble(c, text, sizeof(text));
	printf("\ndifference: %s, mode %s (soft %s, model %s)\n", v->name,
	       dx_mode_name((enum dx_mode)c->mode), dx_target_name(t), model);
	printf("    code  ");
	for (unsigned k = 0; k < c->len; k++)
		printf(" %02x", c->code[k]);
	printf("    %s\n", text);
	print_regs("input", (enum dx_mode)c->mode, c->gpr, c->rflags);
	print_result("host", c, host);
	print_result("soft", c, soft);
	flag_names(d->flags, fl, sizeof(fl));
	printf("    differs: flags [%s]", fl);
	for (unsigned k = 0; k < 16; k++)
		if (d->gprs >> k & 1)
			printf(" %s", c->mode == DX_MODE64 ? reg64[k] : reg32[k]);
	printf("%s%s%s%s\n", d->rip ? " rip" : "", d->fault ? " fault" : "", d->data ? " data" : "",
	       d->stack ? " stack" : "");
	print_window("data", host->data, soft->data);
	print_window("stack", host->stack, soft->stack);
	if (c->undef_flags || c->undef_gprs || c->undef_mem_len) {
		flag_names(c->undef_flags, fl, sizeof(fl));
		printf("    SDM-undefined here: flags [%s] gprs %#x mem +%#x/%u\n", fl,
		       c->undef_gprs, c->undef_mem_off, c->undef_mem_len);
	}
}

static void on_variant(void *arg, const struct dx_variant *v, const char *model,
                       const struct dx_variant_stats *vs)
{
	(void)arg;
	if (!model) {
		printf("skipped  %-3s %-48s (needs %s)\n", dx_mode_name((enum dx_mode)v->mode),
		       v->name, dx_feature_name((enum dx_feature)dx_forms[v->form].feature));
		return;
	}
	if (!vs->mismatches && !vs->harness)
		return;
	char fl[64];
	flag_names(vs->flags, fl, sizeof(fl));
	printf("DIFF     %-3s %-48s %" PRIu64 "/%" PRIu64 " flags [%s]",
	       dx_mode_name((enum dx_mode)v->mode), v->name, vs->mismatches, vs->cases, fl);
	for (unsigned k = 0; k < 16; k++)
		if (vs->gprs >> k & 1)
			printf(" %s", reg64[k]);
	printf("%s%s%s", vs->rip ? " rip" : "", vs->fault ? " fault" : "", vs->mem ? " mem" : "");
	if (vs->harness)
		printf(" harness %" PRIu64, vs->harness);
	printf("\n");
}

static int list(unsigned modes, const char *filter)
{
	unsigned n = dx_variants(NULL, 0);
	struct dx_variant *v = calloc(n, sizeof(*v));
	if (!v)
		return 70;
	dx_variants(v, n);
	for (unsigned i = 0; i < n; i++) {
		if (!(modes >> v[i].mode & 1) || (filter && !strstr(v[i].name, filter)))
			continue;
		enum dx_feature f = (enum dx_feature)dx_forms[v[i].form].feature;
		printf("%-3s %-48s edges %-8" PRIu64 " %s\n", dx_mode_name((enum dx_mode)v[i].mode),
		       v[i].name, dx_edge_count(&v[i]), f ? dx_feature_name(f) : "");
	}
	free(v);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: softvmm-diffcheck [--cases N] [--seed S] [--mode 64|32|16|all]\n"
	                "                         [--form SUBSTRING] [--strict|--lax] [--show N]\n"
	                "                         [--per-variant K] [--list]\n");
	return 64;
}

int main(int argc, char **argv)
{
	struct dx_sweep_opts so = {.cases = 200000, .seed = 1, .modes = 7, .strict = true};
	struct opts o = {.show = 5};
	bool do_list = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--list") == 0) {
			do_list = true;
		} else if (strcmp(a, "--strict") == 0) {
			so.strict = true;
		} else if (strcmp(a, "--lax") == 0) {
			so.strict = false;
		} else if (!val) {
			return usage();
		} else if (strcmp(a, "--cases") == 0) {
			so.cases = strtoull(val, NULL, 0);
			i++;
		} else if (strcmp(a, "--seed") == 0) {
			so.seed = strtoull(val, NULL, 0);
			i++;
		} else if (strcmp(a, "--form") == 0) {
			so.filter = val;
			i++;
		} else if (strcmp(a, "--show") == 0) {
			o.show = (unsigned)strtoul(val, NULL, 0);
			i++;
		} else if (strcmp(a, "--per-variant") == 0) {
			o.per_variant = (unsigned)strtoul(val, NULL, 0);
			i++;
		} else if (strcmp(a, "--mode") == 0) {
			so.modes = strcmp(val, "64") == 0    ? DX_M64
			           : strcmp(val, "32") == 0  ? DX_M32
			           : strcmp(val, "16") == 0  ? DX_M16
			           : strcmp(val, "all") == 0 ? DX_M64 | DX_M32 | DX_M16
			                                     : 0;
			if (!so.modes)
				return usage();
			i++;
		} else {
			return usage();
		}
	}
	if (do_list)
		return list(so.modes, so.filter);
	const char *vendor = dx_host_vendor();
	printf("host vendor %s, model %s, seed %" PRIu64 ", %s comparison\n",
	       vendor ? vendor : "unknown", vendor ? dx_model_for(DX_FEAT_NONE) : "-", so.seed,
	       so.strict ? "strict" : "lax (SDM-undefined flags and results left out)");
	struct dx_sweep_stats st;
	char err[200];
	if (dx_sweep(&so, on_mismatch, on_variant, &o, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "softvmm-diffcheck: %s\n", err);
		return 70;
	}
	uint64_t cases = 0, diffs = 0;
	printf("\n%u variants run, %u skipped\n", st.variants, st.skipped);
	for (unsigned t = 0; t < DX_NTARGETS; t++) {
		printf("soft %-3s %12" PRIu64 " cases %10" PRIu64 " differences\n",
		       dx_target_name((enum dx_target)t), st.cases[t], st.mismatches[t]);
		cases += st.cases[t];
		diffs += st.mismatches[t];
	}
	printf("total    %12" PRIu64 " cases %10" PRIu64 " differences %" PRIu64
	       " harness errors\n",
	       cases, diffs, st.harness);
	return st.harness ? 70 : diffs ? 1 : 0;
}
