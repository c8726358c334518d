/* The port I/O table; see inout.h. */
#include "runner/inout.h"

#include <errno.h>
#include <string.h>

#define INOUT_PORT_LIMIT 0x10000

void inout_table_init(struct inout_table *t)
{
	memset(t, 0, sizeof(*t));
}

static int ranges_overlap(const struct inout_port *a, const struct inout_port *b)
{
	return a->port < b->port + b->size && b->port < a->port + a->size;
}

int inout_register(struct inout_table *t, const struct inout_port *p)
{
	if (p->handler == NULL || p->port < 0 || p->size <= 0 ||
	    p->port + p->size > INOUT_PORT_LIMIT)
		return EINVAL;
	for (int i = 0; i < t->nranges; i++)
		if (ranges_overlap(&t->ranges[i], p))
			return EEXIST;
	if (t->nranges == INOUT_MAX_RANGES)
		return ENOSPC;
	t->ranges[t->nranges++] = *p;
	return 0;
}

const struct inout_port *inout_lookup(const struct inout_table *t, int port)
{
	for (int i = 0; i < t->nranges; i++) {
		const struct inout_port *r = &t->ranges[i];
		if (port >= r->port && port < r->port + r->size)
			return r;
	}
	return NULL;
}

uint32_t inout_size_mask(int bytes)
{
	return bytes >= 4 ? 0xffffffffu : (1u << (8 * bytes)) - 1;
}

/*
 * What bhyverun's default handler does for an unclaimed port (inout.c:
 * default_inout, without -e strictio): reads float high, writes vanish.
 */
static void unclaimed_port_access(int in, uint32_t *value)
{
	if (in)
		*value = 0xffffffffu;
}

int inout_emulate(const struct inout_table *t, struct vm *vm, int vcpu, int in, int port, int bytes,
                  uint32_t *eax)
{
	uint32_t mask = inout_size_mask(bytes);
	uint32_t value = in ? 0 : *eax & mask;
	const struct inout_port *r = inout_lookup(t, port);

	if (r == NULL) {
		unclaimed_port_access(in, &value);
	} else {
		int err = r->handler(vm, vcpu, in, port, bytes, &value, r->arg);
		if (err != 0)
			return err;
	}
	/* An IN replaces only the low 'bytes' bytes of EAX (emulate_inout_port). */
	if (in)
		*eax = (*eax & ~mask) | (value & mask);
	return 0;
}
