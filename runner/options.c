/*
 * The command line of `softvmm run` (runner.h).  Options may come before or
 * after IMAGE, as --name VALUE or --name=VALUE; "--" ends the options.
 * Numbers are decimal or 0x-prefixed hexadecimal (a leading 0 is not octal).
 */
#include <inttypes.h>
#include <string.h>

#include "runner/runner.h"

#define ARRAY_LEN(a)    ((int)(sizeof(a) / sizeof((a)[0])))
#define KIB             1024ull
#define REAL_MODE_LIMIT 0x10000ull     /* CS:IP = 0:entry reaches only 64 KiB */
#define LOW_4G          0x100000000ull /* 32-bit EIP; the long64 identity map */

void runner_options_init(struct runner_options *o)
{
	memset(o, 0, sizeof(*o));
	o->load_addr = RUNNER_DEFAULT_LOAD_ADDR;
	o->mode = RUNNER_MODE_REAL;
	o->mem_size = RUNNER_DEFAULT_MEM_SIZE;
	o->exits = RUNNER_EXITS_NONE;
	o->guest_out = stdout;
	o->diag = stderr;
}

/* Digits of 'base' up to 'end' (or the string's end); false on overflow or no digit. */
static bool parse_digits(const char *s, const char **end, unsigned base, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	for (;; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*end = p;
	*out = v;
	return p != s;
}

static bool parse_number_prefix(const char *s, const char **end, uint64_t *out)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_digits(s + 2, end, 16, out);
	return parse_digits(s, end, 10, out);
}

static bool parse_number(const char *s, uint64_t *out)
{
	const char *end;
	return parse_number_prefix(s, &end, out) && *end == '\0';
}

/* The multiplier of a size suffix, or 0 for a character that is none. */
static uint64_t size_unit(char suffix)
{
	switch (suffix) {
	case '\0':
		return 1;
	case 'K':
	case 'k':
		return KIB;
	case 'M':
	case 'm':
		return KIB * KIB;
	case 'G':
	case 'g':
		return KIB * KIB * KIB;
	default:
		return 0;
	}
}

/* A number with an optional K, M or G suffix (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;
	if (!parse_number_prefix(s, &end, &v))
		return false;
	uint64_t unit = size_unit(*end);
	if (unit == 0 || (*end != '\0' && end[1] != '\0') || v > UINT64_MAX / unit)
		return false;
	*out = v * unit;
	return true;
}

static bool parse_word(const char *s, const char *const *words, int n, int *out)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(s, words[i]) == 0) {
			*out = i;
			return true;
		}
	}
	return false;
}

/* Indexed by enum runner_cpu_mode and enum runner_exit_report. */
static const char *const mode_words[] = {"real", "prot32", "long64"};
static const char *const exits_words[] = {"none", "summary", "all", "json"};

static enum runner_parse_result bad_value(struct runner_options *o, const char *opt,
                                          const char *value, const char *why)
{
	fprintf(o->diag, "softvmm: %s '%s': %s\n", opt, value, why);
	return RUNNER_PARSE_ERROR;
}

/* Apply one option that takes a value. */
static enum runner_parse_result set_option(struct runner_options *o, const char *opt, const char *v)
{
	int word;
	if (strcmp(opt, "--load-addr") == 0) {
		if (!parse_number(v, &o->load_addr))
			return bad_value(o, opt, v, "not an address");
	} else if (strcmp(opt, "--entry") == 0) {
		if (!parse_number(v, &o->entry))
			return bad_value(o, opt, v, "not an address");
		o->entry_given = true;
	} else if (strcmp(opt, "--mode") == 0) {
		if (!parse_word(v, mode_words, ARRAY_LEN(mode_words), &word))
			return bad_value(o, opt, v, "expected real, prot32 or long64");
		o->mode = (enum runner_cpu_mode)word;
	} else if (strcmp(opt, "--mem") == 0) {
		if (!parse_size(v, &o->mem_size))
			return bad_value(o, opt, v,
			                 "not a size (a number with optional K, M or G)");
		if (o->mem_size % (4 * KIB) != 0)
			return bad_value(o, opt, v, "not a multiple of 4K");
		if (o->mem_size < KIB * KIB)
			return bad_value(o, opt, v, "less than 1M");
	} else if (strcmp(opt, "--max-insns") == 0) {
		if (!parse_number(v, &o->max_insns))
			return bad_value(o, opt, v, "not a number");
		if (o->max_insns == 0)
			return bad_value(o, opt, v, "must be at least 1");
	} else if (strcmp(opt, "--exits") == 0) {
		if (!parse_word(v, exits_words, ARRAY_LEN(exits_words), &word))
			return bad_value(o, opt, v, "expected none, summary, all or json");
		o->exits = (enum runner_exit_report)word;
	} else if (strcmp(opt, "--cpu") == 0) {
		if (v[0] == '\0')
			return bad_value(o, opt, v, "empty CPU model name");
		o->cpu_model = v;
	} else {
		fprintf(o->diag, "softvmm: run: unknown option '%s' (see softvmm --help)\n", opt);
		return RUNNER_PARSE_ERROR;
	}
	return RUNNER_PARSE_RUN;
}

static bool takes_value(const char *opt)
{
	static const char *const with_value[] = {"--load-addr", "--entry", "--mode", "--mem",
	                                         "--max-insns", "--exits", "--cpu"};
	int unused;
	return parse_word(opt, with_value, ARRAY_LEN(with_value), &unused);
}

/* The entry point must be reachable in the mode the vcpu starts in. */
static enum runner_parse_result check_entry(struct runner_options *o)
{
	uint64_t entry = o->entry_given ? o->entry : o->load_addr;
	const char *what = o->entry_given ? "--entry" : "the entry (the load address)";
	if (o->mode == RUNNER_MODE_REAL && entry >= REAL_MODE_LIMIT) {
		fprintf(o->diag,
		        "softvmm: %s 0x%" PRIx64
		        " is above 0xffff: real mode starts at 0000:entry\n",
		        what, entry);
		return RUNNER_PARSE_ERROR;
	}
	if (entry >= LOW_4G) {
		fprintf(o->diag, "softvmm: %s 0x%" PRIx64 " is above 4 GiB: %s\n", what, entry,
		        o->mode == RUNNER_MODE_PROT32 ? "EIP is 32 bits"
		                                      : "the runner's page tables map only 4 GiB");
		return RUNNER_PARSE_ERROR;
	}
	return RUNNER_PARSE_RUN;
}

static enum runner_parse_result take_image(struct runner_options *o, const char *path)
{
	if (o->image_path != NULL) {
		fprintf(o->diag, "softvmm: run: more than one IMAGE ('%s', '%s')\n", o->image_path,
		        path);
		return RUNNER_PARSE_ERROR;
	}
	o->image_path = path;
	return RUNNER_PARSE_RUN;
}

static enum runner_parse_result parse_one(struct runner_options *o, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
		return RUNNER_PARSE_HELP;
	if (strcmp(arg, "--stats") == 0) {
		o->stats = true;
		return RUNNER_PARSE_RUN;
	}
	if (strcmp(arg, "--ignore-unknown-msrs") == 0) {
		o->ignore_unknown_msrs = true;
		return RUNNER_PARSE_RUN;
	}
	if (strcmp(arg, "--mtrap") == 0) {
		o->mtrap = true;
		return RUNNER_PARSE_RUN;
	}
	if (arg[0] != '-' || arg[1] == '\0')
		return take_image(o, arg);
	const char *eq = strchr(arg, '=');
	if (eq != NULL) {
		char opt[32];
		size_t len = (size_t)(eq - arg);
		if (len < sizeof(opt)) {
			memcpy(opt, arg, len);
			opt[len] = '\0';
			if (takes_value(opt))
				return set_option(o, opt, eq + 1);
		}
		fprintf(o->diag, "softvmm: run: unknown option '%s' (see softvmm --help)\n", arg);
		return RUNNER_PARSE_ERROR;
	}
	if (!takes_value(arg))
		return set_option(o, arg, ""); /* reports the unknown option */
	if (*i + 1 >= argc) {
		fprintf(o->diag, "softvmm: %s needs a value (see softvmm --help)\n", arg);
		return RUNNER_PARSE_ERROR;
	}
	*i += 1;
	return set_option(o, arg, argv[*i]);
}

enum runner_parse_result runner_options_parse(int argc, char **argv, struct runner_options *o)
{
	bool options_done = false;
	for (int i = 1; i < argc; i++) {
		enum runner_parse_result r;
		if (!options_done && strcmp(argv[i], "--") == 0) {
			options_done = true;
			continue;
		}
		r = options_done ? take_image(o, argv[i]) : parse_one(o, argc, argv, &i);
		if (r != RUNNER_PARSE_RUN)
			return r;
	}
	if (o->image_path == NULL) {
		fprintf(o->diag, "softvmm: run: no IMAGE given (see softvmm --help)\n");
		return RUNNER_PARSE_ERROR;
	}
	return check_entry(o);
}
