/*
 * CPU models: what CPUID reports and what the soft CPU allows (CR4 bits,
 * MAXPHYADDR).  A fixed, named table so a guest sees the same CPU on every
 * host (DESIGN.md, Determinism).
 */
#ifndef SOFTVMM_CORE_CPU_CPUMODEL_H
#define SOFTVMM_CORE_CPU_CPUMODEL_H

#include <stdbool.h>
#include <stdint.h>

struct cpuid_leaf {
	uint32_t leaf, subleaf;
	uint32_t eax, ebx, ecx, edx;
};

/* Which vendor's rules the soft CPU follows where the SDM leaves a result or
 * flag undefined (docs/undefined-behaviour.md). */
enum vendor_profile { VENDOR_INTEL, VENDOR_AMD };

struct cpu_model {
	const char *name;
	const char *description;
	const char *vendor_profile;  /* "intel" or "amd": undefined-flag rules */
	enum vendor_profile profile; /* the same, as the ops test it */
	unsigned version;
	unsigned maxphyaddr;
	uint64_t cr4_allowed;
	bool page1gb; /* CPUID 80000001H:EDX[26], for the page walk's sake */
	const struct cpuid_leaf *leaves;
	unsigned nleaves;
};

const struct cpu_model *cpu_model_find(const char *name);
const struct cpu_model *cpu_model_default(void);
const struct cpu_model *cpu_model_at(unsigned index);
/* CPUID feature bits (leaf, register, bit) the soft CPU checks before it
 * executes an instruction that needs them (#UD otherwise). */
enum cpu_feature {
	FEAT_POPCNT, /* 1.ECX[23] */
	FEAT_MOVBE,  /* 1.ECX[22] */
	FEAT_CX16,   /* 1.ECX[13] */
	FEAT_CX8,    /* 1.EDX[8] */
	FEAT_LZCNT,  /* 80000001.ECX[5] (ABM) */
	FEAT_BMI1,   /* 7.0.EBX[3] */
	FEAT_BMI2,   /* 7.0.EBX[8] */
	FEAT_ADX,    /* 7.0.EBX[19] */
	FEAT_RDPID,  /* 7.0.ECX[22] */
	FEAT_RDTSCP, /* 80000001.EDX[27] */
	FEAT_FPU,    /* 1.EDX[0] */
	FEAT_MMX,    /* 1.EDX[23] */
	FEAT_FXSR,   /* 1.EDX[24] */
	FEAT_SSE,    /* 1.EDX[25] */
	FEAT_SSE2,   /* 1.EDX[26] */
	FEAT_CLFSH,  /* 1.EDX[19] */
	FEAT_SSE3,   /* 1.ECX[0] */
	FEAT_SSSE3,  /* 1.ECX[9] */
	FEAT_SSE41,  /* 1.ECX[19] */
	FEAT_SSE42,  /* 1.ECX[20] */
	/* Paging (SDM vol. 3 4.1.4). */
	FEAT_PCID,    /* 1.ECX[17] */
	FEAT_PGE,     /* 1.EDX[13] */
	FEAT_SMEP,    /* 7.0.EBX[7] */
	FEAT_INVPCID, /* 7.0.EBX[10] */
	FEAT_SMAP,    /* 7.0.EBX[20] */
	FEAT_LA57,    /* 7.0.ECX[16] */
	FEAT_PAGE1GB, /* 80000001.EDX[26] */
	FEAT_COUNT
};
bool cpu_model_has(const struct cpu_model *m, enum cpu_feature f);

void cpu_model_cpuid(const struct cpu_model *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
