/*
 * The payload of one exit as a list of named fields, shared by the text
 * (--exits all) and JSON (--exits json) renderings so both carry the same
 * fields under the same keys.
 *
 * Keys per exit code (the common keys seq, exitcode, exit, handled, rip and
 * inst_length are added by exit_print.c):
 *   INOUT        port bytes in string rep eax
 *   INOUT_STR    the INOUT keys, cr3 cpl cpu_mode paging_mode rflags cr0
 *                index count addrsize seg seg_base seg_limit seg_access
 *   PAGING       gpa fault_type
 *   INST_EMUL    gpa gla cs_d cr3 cpl cpu_mode paging_mode opsize addrsize
 *                op_byte op_type num_valid decoded inst
 *   VMX          status exit_reason exit_qualification inst_type inst_error
 *   RDMSR        msr                 WRMSR   msr wval
 *   HLT          rflags              SPINUP_AP  vcpu start_rip
 *   IOAPIC_EOI   vector              SUSPENDED  how
 *   TASK_SWITCH  tsssel reason ext errcode errcode_valid cr3 cpl cpu_mode
 *                paging_mode
 *   others       none
 * Enumerations are lower-case words (cpu_mode real|protected|compatibility|
 * 64bit, paging_mode flat|32|pae|64, how reset|poweroff|halt|triplefault,
 * reason call|iret|jmp|idt_gate, seg es|cs|ss|ds|fs|gs); inst is the
 * num_valid instruction bytes as hex digits.  Keys are only ever added.
 */
#ifndef SOFTVMM_RUNNER_EXIT_FIELDS_H
#define SOFTVMM_RUNNER_EXIT_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include <softvmm/vmm.h>

enum exit_field_kind {
	EXIT_FIELD_DEC,   /* signed decimal in both renderings */
	EXIT_FIELD_HEX32, /* text 0x..., JSON number (exact in every JSON reader) */
	EXIT_FIELD_HEX64, /* text 0x..., JSON string "0x..." (a double cannot hold it) */
	EXIT_FIELD_BOOL,  /* text 0/1, JSON true/false */
	EXIT_FIELD_WORD,  /* a name: text as is, JSON string */
};

struct exit_field {
	const char *key;
	enum exit_field_kind kind;
	union {
		int64_t dec;
		uint64_t hex;
		bool flag;
		const char *word;
	};
};

#define EXIT_FIELDS_MAX 24

struct exit_fields {
	struct exit_field f[EXIT_FIELDS_MAX];
	int n;
	char inst_hex[2 * VIE_INST_SIZE + 1];
};

/* Fill 'out' with the payload fields of 'vme' (none for an unknown exit code). */
void exit_fields_collect(const struct vm_exit *vme, struct exit_fields *out);

#endif
