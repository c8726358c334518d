/* One exit as one line of text or JSON; see exit_print.h. */
#include "runner/exit_print.h"

#include <inttypes.h>

#include "runner/exit_fields.h"

const char *exit_code_name(int code)
{
	const char *name = NULL;
	if (code >= 0 && code < VM_EXITCODE_MAX)
		name = vm_exitcode_name((enum vm_exitcode)code);
	return name != NULL ? name : "UNKNOWN";
}

static void print_text_value(FILE *f, const struct exit_field *v)
{
	switch (v->kind) {
	case EXIT_FIELD_DEC:
		fprintf(f, "%" PRId64, v->dec);
		break;
	case EXIT_FIELD_HEX32:
	case EXIT_FIELD_HEX64:
		fprintf(f, "0x%" PRIx64, v->hex);
		break;
	case EXIT_FIELD_BOOL:
		fputc(v->flag ? '1' : '0', f);
		break;
	case EXIT_FIELD_WORD:
		fputs(v->word, f);
		break;
	}
}

/* Every word is one of ours (names, hex digits): nothing needs escaping. */
static void print_json_value(FILE *f, const struct exit_field *v)
{
	switch (v->kind) {
	case EXIT_FIELD_DEC:
		fprintf(f, "%" PRId64, v->dec);
		break;
	case EXIT_FIELD_HEX32:
		fprintf(f, "%" PRIu64, v->hex);
		break;
	case EXIT_FIELD_HEX64:
		fprintf(f, "\"0x%" PRIx64 "\"", v->hex);
		break;
	case EXIT_FIELD_BOOL:
		fputs(v->flag ? "true" : "false", f);
		break;
	case EXIT_FIELD_WORD:
		fprintf(f, "\"%s\"", v->word);
		break;
	}
}

void exit_print_text(FILE *f, uint64_t seq, const struct vm_exit *vme, bool handled)
{
	struct exit_fields fields;
	exit_fields_collect(vme, &fields);
	fprintf(f, "exit %" PRIu64 " %s %s rip=0x%" PRIx64 " inst_length=%d", seq,
	        exit_code_name(vme->exitcode), handled ? "handled" : "returned", vme->rip,
	        vme->inst_length);
	for (int i = 0; i < fields.n; i++) {
		fprintf(f, " %s=", fields.f[i].key);
		print_text_value(f, &fields.f[i]);
	}
	fputc('\n', f);
}

void exit_print_json(FILE *f, uint64_t seq, const struct vm_exit *vme, bool handled)
{
	struct exit_fields fields;
	exit_fields_collect(vme, &fields);
	fprintf(f,
	        "{\"seq\":%" PRIu64 ",\"exitcode\":%d,\"exit\":\"%s\",\"handled\":%s,"
	        "\"rip\":\"0x%" PRIx64 "\",\"inst_length\":%d",
	        seq, (int)vme->exitcode, exit_code_name(vme->exitcode), handled ? "true" : "false",
	        vme->rip, vme->inst_length);
	for (int i = 0; i < fields.n; i++) {
		fprintf(f, ",\"%s\":", fields.f[i].key);
		print_json_value(f, &fields.f[i]);
	}
	fputs("}\n", f);
}
