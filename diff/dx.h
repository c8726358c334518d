/*
 * The differential harness: the same instruction sequences run natively on
 * the host (in a child process, host_exec.c) and on the software CPU
 * (soft_exec.c), and every register, the arithmetic flags, the final RIP,
 * the fault and two small memory windows are compared (compare.c).  The
 * cases come from a table of instruction forms (forms.c, gen.c); sweep.c
 * drives the lot and diffcheck.c is the command.
 *
 * Both executors reproduce one fixed linear layout, below 4 GiB so that
 * 32-bit code reaches all of it.  In 64- and 32-bit mode the registers that
 * hold addresses are absolute; in 16-bit mode they are offsets in segments
 * whose bases are these windows (CS = code, DS = ES = data, SS = stack).
 */
#ifndef SOFTVMM_DIFF_DX_H
#define SOFTVMM_DIFF_DX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DX_CODE  0x10000000u /* one page: the case's code, then the return pads */
#define DX_DATA  0x10010000u /* the data window, first DX_WIN bytes of its page */
#define DX_STACK 0x10020000u /* the stack window, first DX_WIN bytes of its page */
#define DX_WIN   256u
#define DX_PAGE  4096u

/* Where the stack pointer starts when a form does not choose it: room to
 * push 128 bytes and to pop as many, all inside the window. */
#define DX_SP0 0x80u

/* Arithmetic flags and the others the comparison looks at. */
#define DX_CF    0x0001u
#define DX_PF    0x0004u
#define DX_AF    0x0010u
#define DX_ZF    0x0040u
#define DX_SF    0x0080u
#define DX_DF    0x0400u
#define DX_OF    0x0800u
#define DX_ARITH (DX_CF | DX_PF | DX_AF | DX_ZF | DX_SF | DX_OF)
/* POPF can also change NT and ID at CPL 3; TF, AC, IF and IOPL are kept
 * out of every input (a trap, alignment checks, and no effect at CPL 3). */
#define DX_NT      0x4000u
#define DX_ID      0x200000u
#define DX_COMPARE (DX_ARITH | DX_DF | DX_NT | DX_ID)

enum dx_mode {
	DX_MODE64, /* 64-bit mode */
	DX_MODE32, /* 32-bit code through a compatibility-mode code segment */
	DX_MODE16, /* a 16-bit code segment; stands in for real mode */
	DX_NMODES
};

/*
 * How a run ended.  #GP, #SS, #NP, #TS and #PF are one class, "segv": the
 * host cannot always tell them apart (Linux reports all as SIGSEGV or
 * SIGBUS) and which of them a bad access raises is not what this compares.
 */
enum dx_fault {
	DX_OK,
	DX_DE,
	DX_DB,
	DX_BP,
	DX_OF_TRAP,
	DX_BR,
	DX_UD,
	DX_SEGV,
	DX_AC,
	DX_OTHER,   /* any other vector */
	DX_HARNESS, /* the run itself failed: child died, timeout, vm_run error */
	DX_NFAULTS
};

#define DX_MAXCODE 32

struct dx_case {
	uint8_t mode;   /* enum dx_mode */
	uint8_t len;    /* code bytes */
	uint8_t ninsns; /* instructions in code[] (a short sequence is allowed) */
	uint8_t target; /* branch target's offset in the code page, 0 for none */
	uint8_t code[DX_MAXCODE];
	uint64_t gpr[16]; /* encoding order: RAX RCX RDX RBX RSP RBP RSI RDI R8..R15 */
	uint64_t rflags;  /* arithmetic flags and DF (plus bit 1 and IF, always set) */
	uint8_t data[DX_WIN];
	uint8_t stack[DX_WIN];
	/* What the SDM leaves undefined for these inputs (gen.c works it out):
	 * flags, whole registers, and a byte range of the data window.  Masked
	 * out of the comparison unless it is strict. */
	uint32_t undef_flags;
	uint16_t undef_gprs;
	uint8_t undef_mem_off, undef_mem_len;
};

struct dx_result {
	uint64_t gpr[16];
	uint64_t rflags;
	uint64_t rip;   /* offset in the code page of the next instruction, or of the
	                   faulting one (a trap's: after it) */
	uint8_t fault;  /* enum dx_fault */
	uint8_t vector; /* the exception vector, 0xff when none (or unknown) */
	uint8_t data[DX_WIN];
	uint8_t stack[DX_WIN];
};

/* ---- layout.c: what both executors put in the code page ---------------- */

/* Offsets in the code mapping of the host's return paths (the host maps a
 * second page there for its stubs; the soft CPU never reaches it). */
#define DX_STUBS      0x1000u
#define DX_EPILOGUE0  0x1800u /* fall-through path */
#define DX_EPILOGUE1  0x1a00u /* taken-branch path */
#define DX_STUBS_SIZE 0x1000u

/* The code page of a case: its code, a pad after it and one at its branch
 * target that return to the host's stub, INT3 everywhere else. */
void dx_code_page(const struct dx_case *c, uint8_t page[DX_PAGE]);
const char *dx_mode_name(enum dx_mode m);
const char *dx_fault_name(enum dx_fault f);
/* The fault class of an exception vector. */
enum dx_fault dx_fault_of_vector(unsigned vector);

/* ---- host_exec.c: the host CPU, in a child process ---------------------- */

struct dx_host;
/* 0, or an errno with a message in err. */
int dx_host_open(struct dx_host **h, char *err, size_t errlen);
/* Run n cases; a case the child could not finish gets DX_HARNESS.  0, or
 * -1 when no child can be started at all (message in err). */
int dx_host_run(struct dx_host *h, const struct dx_case *c, struct dx_result *r, unsigned n,
                char *err, size_t errlen);
void dx_host_close(struct dx_host *h);

/* ---- soft_exec.c: the software CPU -------------------------------------- */

/* Which soft CPU setup runs a case.  DX_MODE32 cases run on two:
 * compatibility mode and legacy 32-bit protected mode (32-bit paging);
 * DX_MODE16 cases on two: 16-bit protected mode and real mode. */
enum dx_target { DX_T64, DX_T32, DX_T32P, DX_T16P, DX_T16R, DX_NTARGETS };
const char *dx_target_name(enum dx_target t);
enum dx_mode dx_target_mode(enum dx_target t);
/* The targets that run a case of mode m; returns how many (1 or 2). */
unsigned dx_targets_of(enum dx_mode m, enum dx_target t[2]);

struct dx_soft;
int dx_soft_open(struct dx_soft **s, char *err, size_t errlen);
/* model: a CPU model name (vm_config.cpu_model). */
void dx_soft_run(struct dx_soft *s, const char *model, enum dx_target t, const struct dx_case *c,
                 struct dx_result *r);
void dx_soft_close(struct dx_soft *s);

/* ---- features.c: CPUID features a form may need ------------------------- */

enum dx_feature {
	DX_FEAT_NONE,
	DX_FEAT_POPCNT,
	DX_FEAT_LZCNT,
	DX_FEAT_BMI1,
	DX_FEAT_BMI2,
	DX_FEAT_ADX,
	DX_FEAT_MOVBE,
	DX_FEAT_CX8,
	DX_FEAT_CX16,
	DX_FEAT_LAHF64,
	DX_NFEATURES
};
const char *dx_feature_name(enum dx_feature f);
bool dx_host_has(enum dx_feature f);
/* "intel", "amd" or NULL for another vendor: the host's CPUID leaf 0. */
const char *dx_host_vendor(void);
/* The CPU model to run a form on: the host vendor's baseline, or another
 * model of that vendor that has f; NULL when none has it. */
const char *dx_model_for(enum dx_feature f);

/* ---- compare.c ----------------------------------------------------------- */

struct dx_diff {
	uint16_t gprs;   /* registers that differ */
	uint32_t flags;  /* flags that differ */
	bool rip, fault; /* final RIP offset, fault class */
	bool data, stack;
	bool any;
};
/* Whether soft target t can reproduce the host's run (real mode cannot
 * page-fault), and what to take from the host before comparing (the bytes
 * a real-mode exception frame overwrote). */
bool dx_target_applies(enum dx_target t, const struct dx_result *host);
void dx_soft_fixup(enum dx_target t, const struct dx_result *host, struct dx_result *soft);
/* Compare soft with host for case c; strict: count the undefined parts too. */
void dx_compare(const struct dx_case *c, const struct dx_result *host, const struct dx_result *soft,
                bool strict, struct dx_diff *d);

/* ---- forms.c and gen.c: the forms and the cases they generate ---------- */

/* Operand sizes of a form (bit set) and modes it is valid in. */
#define DX_S8  1u
#define DX_S16 2u
#define DX_S32 4u
#define DX_S64 8u
#define DX_M64 (1u << DX_MODE64)
#define DX_M32 (1u << DX_MODE32)
#define DX_M16 (1u << DX_MODE16)

struct dx_form {
	const char *name; /* the mnemonic, or mnemonics, it covers */
	const char *enc;  /* encoding template, see forms.c */
	uint8_t sizes;    /* DX_S* */
	uint8_t modes;    /* DX_M* */
	uint16_t kind;    /* DX_K* (gen.h): how the generator sets the case up */
	uint8_t undef;    /* enum dx_undef (gen.h): what the SDM leaves undefined */
	uint8_t feature;  /* enum dx_feature */
};
extern const struct dx_form dx_forms[];
extern const unsigned dx_nforms;

/* One form at one mode, operand size and operand kind (register or memory). */
struct dx_variant {
	unsigned form; /* index in dx_forms */
	uint8_t mode;  /* enum dx_mode */
	uint8_t size;  /* operand size in bytes */
	bool mem;      /* the r/m operand is memory */
	char name[64]; /* e.g. "add 01/r o32 mem" */
};

/* Every variant of every form; returns how many (fills at most max). */
unsigned dx_variants(struct dx_variant *v, unsigned max);
/* Case number i of a variant (edge cases first, then the seeded random
 * sweep; cases_total says how many the run will ask for, which decides how
 * the edge cases are sampled). */
void dx_generate(const struct dx_variant *v, uint64_t seed, uint64_t i, uint64_t cases_total,
                 struct dx_case *c);
/* How many edge cases the variant has (the rest of a run is random). */
uint64_t dx_edge_count(const struct dx_variant *v);

/* ---- sweep.c: running variants on both CPUs ----------------------------- */

struct dx_sweep_opts {
	uint64_t cases; /* in all, shared evenly by the variants selected (at least 1 each) */
	uint64_t seed;
	unsigned modes;     /* DX_M* */
	const char *filter; /* substring of the variant name, NULL for all */
	/* Variants whose names contain one of these are left out (NULL-ended
	 * list, or NULL): forms with known soft-CPU bugs, in the test. */
	const char *const *exclude;
	bool strict; /* compare undefined flags and results too */
};

struct dx_variant_stats {
	uint64_t cases, mismatches, harness;
	uint32_t flags; /* union of the differing flags */
	uint16_t gprs;  /* union of the differing registers */
	bool rip, fault, mem;
};

struct dx_sweep_stats {
	uint64_t cases[DX_NTARGETS];
	uint64_t mismatches[DX_NTARGETS];
	uint64_t harness;
	unsigned variants, skipped; /* variants run; skipped (feature missing) */
	const char *vendor;
};

/* Called for every mismatch (and harness failure, with d->fault set). */
typedef void (*dx_mismatch_fn)(void *arg, const struct dx_variant *v, enum dx_target t,
                               const char *model, const struct dx_case *c,
                               const struct dx_result *host, const struct dx_result *soft,
                               const struct dx_diff *d);
/* Called once per variant when it is done (or skipped: model NULL). */
typedef void (*dx_variant_fn)(void *arg, const struct dx_variant *v, const char *model,
                              const struct dx_variant_stats *vs);

/* 0, or -1 with a message in err when a CPU cannot be set up. */
int dx_sweep(const struct dx_sweep_opts *o, dx_mismatch_fn on_mismatch, dx_variant_fn on_variant,
             void *arg, struct dx_sweep_stats *st, char *err, size_t errlen);

#endif
