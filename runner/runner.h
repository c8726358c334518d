/*
 * The reference monitor (bhyverun's role): run one flat guest image on one
 * vcpu, handle the exits vm_run returns, and report what happened.
 *
 * The `softvmm run` command is a thin shell over these calls, and tests call
 * them in-process: nothing here exits the process, and every byte written
 * goes to the FILE *s named in the options.
 */
#ifndef SOFTVMM_RUNNER_RUNNER_H
#define SOFTVMM_RUNNER_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses (sysexits.h values, plus the guest's own). */
#define RUNNER_EXIT_USAGE      64 /* EX_USAGE: bad command line */
#define RUNNER_EXIT_DATAERR    65 /* EX_DATAERR: the image cannot be loaded as asked */
#define RUNNER_EXIT_NOINPUT    66 /* EX_NOINPUT: the image cannot be read */
#define RUNNER_EXIT_SOFTWARE   70 /* EX_SOFTWARE: softvmm failed or gave up */
#define RUNNER_EXIT_INSN_LIMIT 75 /* EX_TEMPFAIL: --max-insns reached */

/* bhyverun's exit statuses for a suspended vm (bhyverun.c:vmexit_suspend). */
#define RUNNER_EXIT_RESET       0
#define RUNNER_EXIT_POWEROFF    1
#define RUNNER_EXIT_HALT        2
#define RUNNER_EXIT_TRIPLEFAULT 3

#define RUNNER_DEFAULT_LOAD_ADDR 0x7c00u
#define RUNNER_DEFAULT_MEM_SIZE  (64ull << 20)
#define RUNNER_DEFAULT_SP        0x7c00u

enum runner_cpu_mode {
	RUNNER_MODE_REAL,   /* CS:IP = 0:entry, like a boot sector */
	RUNNER_MODE_PROT32, /* flat 32-bit protected mode, no paging */
	RUNNER_MODE_LONG64, /* 64-bit mode, first 4 GiB identity-mapped with 2 MiB pages */
};

enum runner_exit_report {
	RUNNER_EXITS_NONE,    /* nothing */
	RUNNER_EXITS_SUMMARY, /* counts per exit code at the end */
	RUNNER_EXITS_ALL,     /* one text line per exit */
	RUNNER_EXITS_JSON,    /* one JSON object per exit (JSON Lines) */
};

struct runner_options {
	const char *image_path;
	uint64_t load_addr;
	uint64_t entry;
	bool entry_given; /* false: entry = load_addr */
	enum runner_cpu_mode mode;
	uint64_t mem_size;
	uint64_t max_insns; /* 0: no limit */
	enum runner_exit_report exits;
	bool stats;
	const char *cpu_model; /* NULL: the library's default */
	/* bhyve's -w: an RDMSR/WRMSR exit of an MSR nobody emulates reads 0
	 * or is dropped, instead of taking #GP (bhyverun's strictmsr). */
	bool ignore_unknown_msrs;
	/* VM_CAP_MTRAP_EXIT: an MTRAP exit after every instruction. */
	bool mtrap;
	FILE *guest_out; /* guest console bytes (default stdout) */
	FILE *diag;      /* softvmm's own messages and reports (default stderr) */
};

struct runner_result {
	int status;      /* the process exit status `softvmm run` would give */
	bool vm_ran;     /* a vm was created and the exit loop ran */
	uint64_t digest; /* XXH3-64 over the exit stream (trace.h), valid if vm_ran */
	uint64_t exits;  /* exits observed, handled and returned */
	uint64_t insns_retired;
	uint64_t unimplemented; /* instructions that hit no handler (--stats) */
};

enum runner_parse_result {
	RUNNER_PARSE_RUN,   /* options complete: call runner_run_image */
	RUNNER_PARSE_HELP,  /* --help was given: print runner_print_usage to stdout */
	RUNNER_PARSE_ERROR, /* a one-line error went to o->diag: exit RUNNER_EXIT_USAGE */
};

/* Defaults: everything above, guest_out = stdout, diag = stderr. */
void runner_options_init(struct runner_options *o);

/*
 * Parse the arguments of `softvmm run` (argv[0] is "run" and is skipped)
 * into 'o', which runner_options_init prepared.  Errors are reported on
 * o->diag.
 */
enum runner_parse_result runner_options_parse(int argc, char **argv, struct runner_options *o);

/* The complete usage text of the command. */
void runner_print_usage(FILE *f);

/*
 * Create a vm, load the image, run it to the end and report on o->diag.
 * Returns r->status, which is also the process exit status.
 */
int runner_run_image(const struct runner_options *o, struct runner_result *r);

/* `softvmm cpu list|show NAME` (argv[0] is "cpu"); returns the exit status. */
int runner_cpu_command(int argc, char **argv);

#endif
