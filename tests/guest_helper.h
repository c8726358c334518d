/*
 * Test support: run a flat guest image in-process through the public vmm API
 * and record its complete exit stream.
 *
 * guest_open creates a one-vcpu VM with the bench convention's machine
 * (../shared/bench/README.md): 64 MiB of RAM from gpa 0, the image at
 * 0x7C00, real-mode entry at 0000:7C00 with SP = 0x7C00 and RFLAGS = 0x2.
 * It installs an exit observer that appends every exit, the ones vm_run
 * handles itself and the ones it returns, to g->log in order (and adds it to
 * g->digest when the test set one).  The observer's argument is g itself, so
 * g must stay where guest_open put it until guest_close.
 *
 * The helpers report failures as errno values and a message in g->err, and
 * never assert: the test that called them decides what a failure means.
 */
#ifndef SOFTVMM_TESTS_GUEST_HELPER_H
#define SOFTVMM_TESTS_GUEST_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvmm/trace.h>
#include <softvmm/vmm.h>

#include "runner/loader.h" /* guest_mem_write, guest_mem_read */

#define GUEST_LOAD_GPA  0x7c00ull
#define GUEST_RAM_SIZE  (64ull << 20)
#define GUEST_MAX_IMAGE (64u * 1024u) /* the bench convention's limit */

/*
 * Every run has an instruction budget so that a guest the CPU mishandles
 * (a loop that never sees its exit condition) ends with a BOGUS exit the test
 * can report instead of hanging the suite.  The test guests need a few hundred
 * instructions; the bench's small builds about a million.
 */
#define GUEST_INSN_BUDGET 50000000ull

/* One exit as the observer saw it. */
struct recorded_exit {
	struct vm_exit vme;
	int vcpu;
	bool handled; /* true: vm_run handled it itself (bhyve's kernel side) */
};

/*
 * The recorded stream.  Bounded: a runaway stream stops growing at
 * EXIT_LOG_MAX entries and sets 'truncated', which a test reports.
 */
#define EXIT_LOG_MAX 100000
struct exit_log {
	struct recorded_exit *v;
	size_t n, cap;
	bool truncated;
};

struct guest {
	struct vm *vm;
	uint64_t rip;     /* where the next guest_run starts */
	size_t image_len; /* bytes loaded at GUEST_LOAD_GPA */
	struct exit_log log;
	/* When set, every observed exit is also added to this digest (trace.h). */
	struct exit_digest *digest;
	char err[256]; /* what went wrong, when a helper returns nonzero */
	/* guest_close aborts the test if an instruction reached the
	 * unimplemented-opcode handler, unless the test set this (issue 4:
	 * zero unimplemented hits across the suite). */
	bool allow_unimplemented;
};

/* Path of the built test guest NAME: SOFTVMM_GUEST_DIR/NAME.bin. */
int guest_image_path(char *buf, size_t len, const char *name);

/*
 * Create the VM, load the image file at 'path' and set the entry state.
 * Returns 0 or an errno value (message in g->err).  guest_close must be
 * called in both cases.
 */
int guest_open_file(struct guest *g, const char *path);

/* guest_open_file on the built test guest NAME. */
int guest_open(struct guest *g, const char *name);

void guest_close(struct guest *g);

/*
 * Put vcpu 'vcpu' in the bench convention's real-mode entry state with
 * RIP = 'rip', using vm_set_register and vm_set_seg_desc only.  Segment
 * access rights are those of a vcpu after reset (SDM vol. 3 table 9-1, in
 * the VMCS layout bhyve's vcpu_reset uses).  Returns 0 or the first error.
 */
int guest_set_real_mode_entry(struct vm *vm, int vcpu, uint64_t rip);

/*
 * Run vcpu 0 from g->rip until vm_run returns.  Returns vm_run's error, or 0
 * with the returned exit in *vme and g->rip set to vme->rip +
 * vme->inst_length, where bhyverun resumes after handling an exit
 * (CONTINUE).  A test that wants RESTART semantics sets g->rip itself.
 */
int guest_run(struct guest *g, struct vm_exit *vme);

/*
 * Complete an IN exit as bhyverun does (inout.c:emulate_inout): 'value'
 * replaces the low vme->u.inout.bytes bytes of the exit's eax, and RAX
 * becomes that 32-bit eax, bits 63:32 cleared.  Returns vm_set_register's
 * error, or EINVAL when vme is not an IN exit.
 */
int guest_complete_in(struct guest *g, const struct vm_exit *vme, uint32_t value);

/*
 * Compare two exits: exit code, rip, inst_length and every payload field
 * that the exit code defines (the union's other bytes are not compared).
 * Returns true when equal; otherwise false, with the first differing field
 * and both values written to 'why' as "FIELD: expected A, got B" (a is
 * the expected exit).
 */
bool exit_equal(const struct vm_exit *a, const struct vm_exit *b, char *why, size_t why_len);

/* One line describing an exit, for failure messages. */
void exit_describe(const struct vm_exit *vme, char *buf, size_t len);

/*
 * Read a whole file (at most 'max' bytes) into a malloc'ed buffer.
 * Returns 0 or an errno value (EFBIG when it is larger than 'max').
 */
int read_file(const char *path, size_t max, unsigned char **bytes, size_t *len);

#endif
