/*
 * Expected exit streams: build the stream exit by exit (or as an array of
 * struct expect), then compare it with the one the guest helper recorded,
 * every field, the handled flag and the vcpu.  Shared by the exit-stream,
 * event, MTRAP and string-I/O tests.  Header-only: each test is its own
 * executable.
 */
#ifndef SOFTVMM_TESTS_EVENT_STREAM_H
#define SOFTVMM_TESTS_EVENT_STREAM_H

#include <criterion/criterion.h>

#include "guest_helper.h"

struct expect {
	struct vm_exit vme;
	bool handled;
};

#define STREAM_MAX 128

struct stream {
	struct expect v[STREAM_MAX];
	size_t n;
};

static inline void add(struct stream *s, struct expect e)
{
	cr_assert_lt(s->n, STREAM_MAX, "expected stream too long");
	s->v[s->n++] = e;
}

static inline void x_paging(struct stream *s, uint64_t rip, uint64_t gpa, int fault_type)
{
	struct expect e = {.handled = true};
	e.vme.exitcode = VM_EXITCODE_PAGING;
	e.vme.rip = rip;
	e.vme.u.paging.gpa = gpa;
	e.vme.u.paging.fault_type = fault_type;
	add(s, e);
}

static inline void x_out(struct stream *s, uint64_t rip, int len, int bytes, uint16_t port,
                         uint32_t eax)
{
	struct expect e = {.handled = false};
	e.vme.exitcode = VM_EXITCODE_INOUT;
	e.vme.rip = rip;
	e.vme.inst_length = len;
	e.vme.u.inout.bytes = (uint16_t)bytes;
	e.vme.u.inout.port = port;
	e.vme.u.inout.eax = eax;
	add(s, e);
}

static inline void x_hlt(struct stream *s, uint64_t rip, uint64_t rflags)
{
	struct expect e = {.handled = true};
	e.vme.exitcode = VM_EXITCODE_HLT;
	e.vme.rip = rip;
	e.vme.inst_length = 1;
	e.vme.u.hlt.rflags = rflags;
	add(s, e);
}

/* Every guest's first exit: fetching its first instruction at 0x7C00. */
static inline void x_first_fetch(struct stream *s)
{
	x_paging(s, 0x7c00, 0x7000, VM_PROT_EXECUTE);
}

/* Compare the recorded stream of g with exp[0..n), exit by exit, then its
 * length. */
static inline void assert_exits(const struct guest *g, const struct expect *exp, size_t n)
{
	char why[256], desc[256];
	cr_assert(!g->log.truncated, "exit log overflowed");
	for (size_t i = 0; i < n && i < g->log.n; i++) {
		const struct recorded_exit *r = &g->log.v[i];
		exit_describe(&r->vme, desc, sizeof(desc));
		cr_assert(exit_equal(&exp[i].vme, &r->vme, why, sizeof(why)), "exit %zu (%s): %s",
		          i, desc, why);
		cr_assert_eq(r->handled, exp[i].handled, "exit %zu (%s): handled %d, expected %d",
		             i, desc, r->handled, exp[i].handled);
		cr_assert_eq(r->vcpu, 0, "exit %zu (%s): vcpu %d", i, desc, r->vcpu);
	}
	if (g->log.n > n) {
		exit_describe(&g->log.v[n].vme, desc, sizeof(desc));
		cr_assert_fail("%zu exits, expected %zu; the first extra one: %s", g->log.n, n,
		               desc);
	}
	cr_assert_eq(g->log.n, n, "%zu exits, expected %zu", g->log.n, n);
}

static inline void assert_stream(const struct guest *g, const struct stream *exp)
{
	assert_exits(g, exp->v, exp->n);
}

#endif
