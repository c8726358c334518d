/* The runner's exit observer; see exit_log.h. */
#include "runner/exit_log.h"

#include <inttypes.h>
#include <string.h>

#include "runner/exit_print.h"

void exit_log_init(struct exit_log *l, FILE *out, enum runner_exit_report report)
{
	memset(l, 0, sizeof(*l));
	l->out = out;
	l->report = report;
	exit_digest_init(&l->digest);
}

static int slot_of(int code)
{
	return code >= 0 && code < VM_EXITCODE_MAX ? code : VM_EXITCODE_MAX;
}

void exit_log_observe(void *arg, struct vm *vm, int vcpuid, const struct vm_exit *vme, bool handled)
{
	struct exit_log *l = arg;
	int slot = slot_of((int)vme->exitcode);

	exit_digest_add(&l->digest, vm, vcpuid, vme, handled);
	if (handled)
		l->handled[slot]++;
	else
		l->returned[slot]++;
	if (l->report == RUNNER_EXITS_ALL)
		exit_print_text(l->out, l->seen, vme, handled);
	else if (l->report == RUNNER_EXITS_JSON)
		exit_print_json(l->out, l->seen, vme, handled);
	l->seen++;
}

void exit_log_print_summary(const struct exit_log *l, FILE *f)
{
	fprintf(f, "%-14s %12s %12s %12s\n", "exit", "handled", "returned", "total");
	for (int slot = 0; slot < EXIT_LOG_SLOTS; slot++) {
		uint64_t total = l->handled[slot] + l->returned[slot];
		if (total == 0)
			continue;
		fprintf(f, "%-14s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
		        exit_code_name(slot), l->handled[slot], l->returned[slot], total);
	}
	fprintf(f, "%-14s %12s %12s %12" PRIu64 "\n", "all", "", "", l->seen);
}
