/*
 * CPU models: what CPUID reports and what the soft CPU allows (CR4 bits,
 * MAXPHYADDR).  A fixed, named table so a guest sees the same CPU on every
 * host (DESIGN.md, Determinism).
 */
#ifndef SOFTVMM_CORE_CPU_CPUMODEL_H
#define SOFTVMM_CORE_CPU_CPUMODEL_H

#include <stdint.h>

struct cpuid_leaf {
	uint32_t leaf, subleaf;
	uint32_t eax, ebx, ecx, edx;
};

struct cpu_model {
	const char *name;
	const char *description;
	const char *vendor_profile; /* "intel" or "amd": undefined-flag rules */
	unsigned maxphyaddr;
	uint64_t cr4_allowed;
	const struct cpuid_leaf *leaves;
	unsigned nleaves;
};

const struct cpu_model *cpu_model_find(const char *name);
const struct cpu_model *cpu_model_default(void);
void cpu_model_cpuid(const struct cpu_model *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
