/*
 * The runner's port and MMIO tables and its devices, driven directly
 * (no vm: the handlers ignore it).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/devices.h"
#include "runner/inout.h"
#include "runner/mem_ranges.h"

struct bench {
	struct inout_table ports;
	struct mem_range_table mmio;
	struct runner_devices dev;
	char *out;
	size_t out_len;
	FILE *console;
};

static void bench_open(struct bench *b)
{
	memset(b, 0, sizeof(*b));
	inout_table_init(&b->ports);
	mem_range_table_init(&b->mmio);
	b->console = open_memstream(&b->out, &b->out_len);
	cr_assert_eq(devices_register(&b->dev, b->console, &b->ports, &b->mmio), 0);
}

static void bench_close(struct bench *b)
{
	fclose(b->console);
	free(b->out);
}

static uint32_t port_in(struct bench *b, int port, int bytes, uint32_t eax)
{
	cr_assert_eq(inout_emulate(&b->ports, NULL, 0, 1, port, bytes, &eax), 0);
	return eax;
}

static void port_out(struct bench *b, int port, int bytes, uint32_t eax)
{
	cr_assert_eq(inout_emulate(&b->ports, NULL, 0, 0, port, bytes, &eax), 0);
}

Test(runner_inout, an_in_replaces_only_the_low_bytes_of_eax)
{
	struct bench b;
	bench_open(&b);
	cr_assert_eq(port_in(&b, 0x1234, 1, 0x12345678), 0x123456ff);
	cr_assert_eq(port_in(&b, 0x1234, 2, 0x12345678), 0x1234ffff);
	cr_assert_eq(port_in(&b, 0x1234, 4, 0x12345678), 0xffffffff);
	cr_assert_eq(port_in(&b, 0xe9, 1, 0x12345678), 0x123456e9);
	cr_assert_eq(port_in(&b, 0xe9, 4, 0), 0xe9e9e9e9);
	bench_close(&b);
}

Test(runner_inout, overlapping_and_out_of_range_registrations_are_refused)
{
	struct bench b;
	bench_open(&b);
	struct inout_port p = {"x", 0x3fc, 2, (inout_func_t)1, NULL};
	cr_assert_eq(inout_register(&b.ports, &p), EEXIST);
	p.port = 0xffff;
	cr_assert_eq(inout_register(&b.ports, &p), EINVAL);
	p.port = 0x500;
	p.handler = NULL;
	cr_assert_eq(inout_register(&b.ports, &p), EINVAL);
	bench_close(&b);
}

Test(runner_devices, console_ports_and_the_uart_write_the_guest_output)
{
	struct bench b;
	bench_open(&b);
	port_out(&b, 0xe9, 1, 0x4141);
	port_out(&b, 0x402, 1, 'B');
	port_out(&b, 0x3f8, 1, 'C');
	port_out(&b, 0x80, 1, 'D'); /* POST codes are not output */
	fflush(b.console);
	cr_assert_eq(b.out_len, 3);
	cr_assert_eq(memcmp(b.out, "ABC", 3), 0);
	bench_close(&b);
}

Test(runner_devices, isa_debug_exit_requests_the_low_byte_as_status)
{
	struct bench b;
	bench_open(&b);
	cr_assert(!b.dev.exit_request.requested);
	port_out(&b, 0xf4, 2, 0x1234);
	cr_assert(b.dev.exit_request.requested);
	cr_assert_eq(b.dev.exit_request.status, 0x34);
	bench_close(&b);
}

Test(runner_devices, uart_registers_read_back_with_dlab)
{
	struct bench b;
	bench_open(&b);
	cr_assert_eq(port_in(&b, 0x3fd, 1, 0), 0x60);
	cr_assert_eq(port_in(&b, 0x3fa, 1, 0), 0x01);
	port_out(&b, 0x3fb, 1, 0x80);
	port_out(&b, 0x3f8, 1, 0x0c);
	port_out(&b, 0x3f9, 1, 0x01);
	cr_assert_eq(port_in(&b, 0x3f8, 1, 0), 0x0c);
	cr_assert_eq(port_in(&b, 0x3f9, 1, 0), 0x01);
	port_out(&b, 0x3fb, 1, 0x03);
	cr_assert_eq(port_in(&b, 0x3f8, 1, 0), 0x00);
	port_out(&b, 0x3f9, 1, 0xff);
	cr_assert_eq(port_in(&b, 0x3f9, 1, 0), 0x0f);
	port_out(&b, 0x3ff, 1, 0x5a);
	cr_assert_eq(port_in(&b, 0x3ff, 1, 0), 0x5a);
	port_out(&b, 0x3fc, 1, 0x1f);
	cr_assert_eq(port_in(&b, 0x3fc, 1, 0), 0x1f);
	cr_assert_eq(port_in(&b, 0x3fe, 1, 0), 0xf0, "loopback: MSR mirrors MCR");
	fflush(b.console);
	cr_assert_eq(b.out_len, 0, "DLL writes are not output");
	bench_close(&b);
}

static uint64_t scratch(struct bench *b, int dir, uint64_t gpa, int size, uint64_t val)
{
	const struct mem_range *r = mem_range_lookup(&b->mmio, gpa);
	cr_assert_not_null(r, "no range at 0x%llx", (unsigned long long)gpa);
	cr_assert_eq(r->handler(NULL, 0, dir, gpa, size, &val, r->arg1, r->arg2), 0);
	return val;
}

Test(runner_devices, the_scratch_bank_keeps_what_was_written)
{
	struct bench b;
	bench_open(&b);
	cr_assert_null(mem_range_lookup(&b.mmio, 0xfeb00000 - 1));
	cr_assert_null(mem_range_lookup(&b.mmio, 0xfeb01000));
	cr_assert_eq(scratch(&b, MEM_F_READ, 0xfeb00800, 8, 0), 0);
	scratch(&b, MEM_F_WRITE, 0xfeb00010, 4, 0xffffffffcafebabe);
	cr_assert_eq(scratch(&b, MEM_F_READ, 0xfeb00010, 8, 0), 0xcafebabe);
	cr_assert_eq(scratch(&b, MEM_F_READ, 0xfeb00011, 1, 0), 0xba);
	scratch(&b, MEM_F_WRITE, 0xfeb00fff, 1, 0x77);
	cr_assert_eq(scratch(&b, MEM_F_READ, 0xfeb00ffe, 4, 0), 0xffff7700);
	bench_close(&b);
}
