/*
 * `softvmm cpu list` and `softvmm cpu show NAME`: the CPU model table, as
 * a guest sees it through CPUID.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <softvmm/vmm.h>

#include "runner/runner.h"

struct feature_name {
	uint32_t leaf;
	int reg; /* 1 EBX, 2 ECX, 3 EDX */
	int bit;
	const char *name;
};

/* The feature bits worth naming (SDM vol. 2 CPUID, tables 3-10 and 3-11). */
static const struct feature_name features[] = {
    {1, 3, 0, "fpu"},
    {1, 3, 4, "tsc"},
    {1, 3, 5, "msr"},
    {1, 3, 6, "pae"},
    {1, 3, 8, "cx8"},
    {1, 3, 9, "apic"},
    {1, 3, 11, "sep"},
    {1, 3, 13, "pge"},
    {1, 3, 15, "cmov"},
    {1, 3, 16, "pat"},
    {1, 3, 17, "pse36"},
    {1, 3, 19, "clflush"},
    {1, 3, 23, "mmx"},
    {1, 3, 24, "fxsr"},
    {1, 3, 25, "sse"},
    {1, 3, 26, "sse2"},
    {1, 2, 0, "sse3"},
    {1, 2, 13, "cx16"},
    {1, 2, 22, "movbe"},
    {1, 2, 23, "popcnt"},
    {0x80000001, 3, 11, "syscall"},
    {0x80000001, 3, 20, "nx"},
    {0x80000001, 3, 27, "rdtscp"},
    {0x80000001, 3, 29, "lm"},
    {0x80000001, 2, 0, "lahf_lm"},
    {0x80000001, 2, 5, "abm"},
    {7, 1, 3, "bmi1"},
    {7, 1, 8, "bmi2"},
    {7, 1, 19, "adx"},
    {7, 2, 22, "rdpid"},
};

static int cpu_list(void)
{
	struct vm_cpu_model_info m;
	for (unsigned i = 0; vm_cpu_model_get(i, &m) == 0; i++)
		printf("%-16s v%u  %-6s %s\n", m.name, m.version, m.vendor_profile, m.description);
	return fflush(stdout) == 0 ? 0 : RUNNER_EXIT_SOFTWARE;
}

static void print_vendor(const char *name)
{
	uint32_t r[4];
	char vendor[13];
	vm_cpu_model_cpuid(name, 0, 0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = 0;
	printf("vendor          %s\n", vendor);
	vm_cpu_model_cpuid(name, 1, 0, r);
	unsigned family = (r[0] >> 8) & 0xf, model = (r[0] >> 4) & 0xf, stepping = r[0] & 0xf;
	/* Extended family and model (SDM vol. 2 CPUID, "Version Information"). */
	if (family == 0xf)
		family += (r[0] >> 20) & 0xff;
	if (family == 0x6 || family >= 0xf)
		model += ((r[0] >> 16) & 0xf) << 4;
	printf("family/model    %u/%u, stepping %u\n", family, model, stepping);
}

static void print_features(const char *name)
{
	printf("features       ");
	for (unsigned k = 0; k < sizeof(features) / sizeof(features[0]); k++) {
		uint32_t r[4];
		vm_cpu_model_cpuid(name, features[k].leaf, 0, r);
		if ((r[features[k].reg] >> features[k].bit) & 1)
			printf(" %s", features[k].name);
	}
	printf("\n");
}

static void print_leaves(const char *name, uint32_t first)
{
	uint32_t r[4];
	vm_cpu_model_cpuid(name, first, 0, r);
	uint32_t last = r[0];
	for (uint32_t leaf = first; leaf <= last && leaf - first < 64; leaf++) {
		vm_cpu_model_cpuid(name, leaf, 0, r);
		printf("cpuid %08x    eax %08x ebx %08x ecx %08x edx %08x\n", leaf, r[0], r[1],
		       r[2], r[3]);
	}
}

static int cpu_show(const char *name)
{
	struct vm_cpu_model_info m;
	if (vm_cpu_model_find(name, &m) != 0) {
		fprintf(stderr,
		        "softvmm: cpu show: unknown CPU model '%s' (see softvmm cpu list)\n", name);
		return RUNNER_EXIT_USAGE;
	}
	printf("name            %s (version %u)\n", m.name, m.version);
	printf("description     %s\n", m.description);
	printf("vendor profile  %s\n", m.vendor_profile);
	print_vendor(name);
	printf("maxphyaddr      %u\n", m.maxphyaddr);
	print_features(name);
	print_leaves(name, 0);
	print_leaves(name, 0x80000000u);
	return fflush(stdout) == 0 ? 0 : RUNNER_EXIT_SOFTWARE;
}

int runner_cpu_command(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return cpu_list();
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return cpu_show(argv[2]);
	fprintf(stderr, "usage: softvmm cpu list | softvmm cpu show NAME\n");
	return RUNNER_EXIT_USAGE;
}
