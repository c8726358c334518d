/* End-of-run reports; see report.h. */
#include "runner/report.h"

#include <inttypes.h>
#include <string.h>

#include "runner/exit_print.h"

#define STAT_LINE "%-28s %s\n"

static void stat_u64(FILE *f, const char *label, uint64_t v)
{
	char value[24];
	snprintf(value, sizeof(value), "%" PRIu64, v);
	fprintf(f, STAT_LINE, label, value);
}

static void stat_exit_counts(FILE *f, const struct vm_vcpu_stats *s)
{
	for (int code = 0; code < VM_EXITCODE_MAX; code++) {
		uint64_t total = s->exits_handled[code] + s->exits_returned[code];
		if (total == 0)
			continue;
		char label[64];
		const char *name = exit_code_name(code);
		snprintf(label, sizeof(label), "exits %s handled", name);
		stat_u64(f, label, s->exits_handled[code]);
		snprintf(label, sizeof(label), "exits %s returned", name);
		stat_u64(f, label, s->exits_returned[code]);
		snprintf(label, sizeof(label), "exits %s", name);
		stat_u64(f, label, total);
	}
}

static void stat_unimplemented(void *arg, const char *mnemonic, uint64_t count)
{
	char label[64];
	snprintf(label, sizeof(label), "unimplemented %s", mnemonic);
	stat_u64(arg, label, count);
}

int report_stats(FILE *f, struct vm *vm, int vcpu, double wall_seconds)
{
	struct vm_vcpu_stats s;
	int err = vm_get_stats(vm, vcpu, &s);
	if (err != 0) {
		fprintf(f, "softvmm: vm_get_stats: %s\n", strerror(err));
		return err;
	}
	stat_u64(f, "instructions retired", s.insns_retired);
	stat_u64(f, "events delivered", s.events_delivered);
	stat_u64(f, "partial REP steps", s.partial_steps);
	stat_exit_counts(f, &s);
	stat_u64(f, "block lookups", s.block_lookups);
	stat_u64(f, "decode-cache hits", s.block_lookups - s.block_misses);
	stat_u64(f, "decode-cache misses", s.block_misses);
	stat_u64(f, "instructions decoded", s.insns_decoded);
	stat_u64(f, "tlb fills", s.tlb_fills);
	stat_u64(f, "tlb flushes", s.tlb_flushes);
	stat_u64(f, "unimplemented opcodes", s.unimplemented);
	vm_foreach_unimplemented(vm, vcpu, stat_unimplemented, f);

	char value[32];
	snprintf(value, sizeof(value), "%.6f", wall_seconds);
	fprintf(f, STAT_LINE, "wall time (s)", value);
	if (wall_seconds > 0)
		snprintf(value, sizeof(value), "%.1f",
		         (double)s.insns_retired / wall_seconds / 1e6);
	else
		snprintf(value, sizeof(value), "-");
	fprintf(f, STAT_LINE, "MIPS", value);
	return 0;
}

void report_digest(FILE *f, uint64_t digest)
{
	fprintf(f, "digest %016" PRIx64 "\n", digest);
}
