/*
 * Recorded cases: a case and the host CPU's result for it, written as text
 * so that hardware truth can be committed (tests/data/) and replayed on the
 * software CPU on any host.  `make measure-undefined` writes the vendor
 * tables of undefined results this way; test_recorded_cases replays every
 * file under the vendor's profile and compares strictly.
 *
 * The format, one item per line, fields separated by one space, numbers in
 * hex without a prefix:
 *
 *   # any comment
 *   vendor intel|amd                      (once, before the first case)
 *   case MODE NINSNS TARGET CODE RFLAGS G0..G15 DATA STACK UF UG UOFF ULEN
 *   host RFLAGS RIP FAULT VECTOR G0..G15 DATA STACK
 *
 * MODE is 64, 32 or 16; CODE the instruction bytes; on the case line DATA
 * and STACK are a window's nonzero bytes as OFFSET:BYTES runs joined by
 * commas, or "-" when the window is all zero; on the host line they are
 * the bytes that differ from the case's window, in the same form, "-" when
 * none changed, and a register equal to the case's is "=".  UF UG UOFF ULEN are the case's
 * undefined parts (dx_case.undef_*); FAULT a dx_fault number.  Every "case" line is followed by its
 * "host" line.
 */
#ifndef SOFTVMM_DIFF_RECORD_H
#define SOFTVMM_DIFF_RECORD_H

#include <stdio.h>

#include "dx.h"

void dx_record_header(FILE *f, const char *vendor, const char *comment);
void dx_record_write(FILE *f, const struct dx_case *c, const struct dx_result *host);

struct dx_record_reader {
	FILE *f;
	const char *path;
	unsigned line;
	char vendor[16]; /* "" until the vendor line */
};

/* 0, or -1 with "PATH: why" in err. */
int dx_record_open(struct dx_record_reader *r, const char *path, char *err, size_t errlen);
/* 1 and the next case, 0 at the end, -1 with "PATH:LINE: why" in err. */
int dx_record_next(struct dx_record_reader *r, struct dx_case *c, struct dx_result *host, char *err,
                   size_t errlen);
void dx_record_close(struct dx_record_reader *r);

#endif
