/*
 * The runner's MMIO path (runner/mem_ranges.c, exit_handlers.c) with the
 * instructions vie emulates: a whole `softvmm run` of a guest that uses
 * each form on the scratch bank, and mem_range_emulate routing the two
 * accesses of a MOVS between two devices to each device.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <softvmm/vmm_instruction_emul.h>

#include "runner/mem_ranges.h"
#include "runner/runner.h"

/* The exit summary's line for INST_EMUL: handled, returned. */
static void inst_emul_counts(const char *diag, unsigned long *handled, unsigned long *returned)
{
	const char *line = strstr(diag, "\nINST_EMUL");
	cr_assert_not_null(line, "no INST_EMUL line in:\n%s", diag);
	cr_assert_eq(sscanf(line + 1, "INST_EMUL %lu %lu", handled, returned), 2);
}

/*
 * runner_mmio64.asm checks every form on the scratch bank and exits with the
 * number of the first check that failed.  Its accesses are 113 INST_EMUL
 * exits, all returned to the runner: the REP STOSQ of 4 elements is 4, the
 * REP MOVSB of 32 bytes in either direction 32 each.
 */
Test(vie_runner, every_emulated_form_works_through_softvmm_run)
{
	char path[512], *out = NULL, *diag = NULL;
	size_t out_len = 0, diag_len = 0;
	struct runner_options o;
	struct runner_result r;
	unsigned long handled, returned;

	snprintf(path, sizeof(path), "%s/runner_mmio64.bin", SOFTVMM_GUEST_DIR);
	runner_options_init(&o);
	o.image_path = path;
	o.mode = RUNNER_MODE_LONG64;
	o.load_addr = 0x200000;
	o.exits = RUNNER_EXITS_SUMMARY;
	o.guest_out = open_memstream(&out, &out_len);
	o.diag = open_memstream(&diag, &diag_len);
	int status = runner_run_image(&o, &r);
	fclose(o.guest_out);
	fclose(o.diag);
	cr_assert_eq(status, 0, "check %d failed; the runner said:\n%s", status, diag);
	cr_assert_eq(r.unimplemented, 0);
	inst_emul_counts(diag, &handled, &returned);
	cr_expect_eq(handled, 0);
	cr_expect_eq(returned, 113);
	free(out);
	free(diag);
}

/* ---- mem_range_emulate ------------------------------------------------------------------- */

#define DEV_A 0xd0000000ULL
#define DEV_B 0xd0100000ULL

struct log_entry {
	long dev;
	int dir;
	uint64_t gpa, val;
	int size;
};
static struct log_entry logv[8];
static int nlog;

static int dev(struct vm *vm, int vcpu, int dir, uint64_t gpa, int size, uint64_t *val, void *arg1,
               long arg2)
{
	(void)vm;
	(void)vcpu;
	(void)arg1;
	if (dir == MEM_F_READ)
		*val = 0x1122334455667788ULL + (uint64_t)arg2;
	if (nlog < 8)
		logv[nlog++] = (struct log_entry){arg2, dir, gpa, *val, size};
	return 0;
}

/*
 * bhyverun's mem.c gives every access of one emulation to the range holding
 * the exit's gpa; here a MOVS from device A to device B reads A and writes
 * B (bhyve's emulate_movs, MMIO to MMIO), and REP asks for a restart.
 */
Test(vie_runner, movs_between_two_devices_reaches_each)
{
	struct vm *vm;
	struct mem_range_table t;
	struct vm_guest_paging pg = {0, 0, CPU_MODE_64BIT, PAGING_MODE_FLAT};
	struct vie vie;
	const uint8_t movsq[] = {0xf3, 0x48, 0xa5}; /* rep movsq */

	cr_assert_eq(vm_create("mr", NULL, &vm), 0);
	cr_assert_eq(vm_malloc(vm, 0, 1 << 20), 0);
	cr_assert_eq(vm_activate_cpu(vm, 0), 0);
	mem_range_table_init(&t);
	cr_assert_eq(mem_range_register(&t, &(struct mem_range){"a", DEV_A, 0x1000, dev, NULL, 1}),
	             0);
	cr_assert_eq(mem_range_register(&t, &(struct mem_range){"b", DEV_B, 0x1000, dev, NULL, 2}),
	             0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RSI, DEV_A + 0x10), 0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RDI, DEV_B + 0x20), 0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RCX, 2), 0);
	vie_init(&vie);
	memcpy(vie.inst, movsq, sizeof(movsq));
	vie.num_valid = sizeof(movsq);
	cr_assert_eq(vmm_decode_instruction(vm, 0, VIE_INVALID_GLA, CPU_MODE_64BIT, 0, &vie), 0);
	nlog = 0;
	cr_assert_eq(mem_range_emulate(&t, vm, 0, DEV_A + 0x10, &vie, &pg), 0);
	cr_assert_eq(nlog, 2);
	cr_expect_eq(logv[0].dev, 1);
	cr_expect_eq(logv[0].dir, MEM_F_READ);
	cr_expect_eq(logv[0].gpa, DEV_A + 0x10);
	cr_expect_eq(logv[1].dev, 2);
	cr_expect_eq(logv[1].dir, MEM_F_WRITE);
	cr_expect_eq(logv[1].gpa, DEV_B + 0x20);
	cr_expect_eq(logv[1].val, 0x1122334455667789ULL);
	cr_expect_eq(logv[1].size, 8);
	cr_expect_eq(vie.restart, 1, "one of two elements done: the instruction runs again");
	uint64_t rcx;
	cr_assert_eq(vm_get_register(vm, 0, VM_REG_GUEST_RCX, &rcx), 0);
	cr_expect_eq(rcx, 1);
	/* The last element: no restart. */
	cr_assert_eq(mem_range_emulate(&t, vm, 0, DEV_A + 0x18, &vie, &pg), 0);
	cr_expect_eq(vie.restart, 0);
	/* A destination no range holds is ESRCH, as an unclaimed exit gpa is. */
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RDI, 0xe0000000ULL), 0);
	cr_assert_eq(vm_set_register(vm, 0, VM_REG_GUEST_RCX, 1), 0);
	cr_expect_eq(mem_range_emulate(&t, vm, 0, DEV_A + 0x20, &vie, &pg), ESRCH);
	cr_expect_eq(mem_range_emulate(&t, vm, 0, 0xe0000000ULL, &vie, &pg), ESRCH);
	vm_destroy(vm);
}
