/* The CPU model table (see cpumodel.h). */
#include "core/cpu/cpumodel.h"

#include <errno.h>
#include <string.h>

#include "softvmm/vmm.h"

/* "GenuineIntel" / "AuthenticAMD" as CPUID leaf 0 returns them in EBX, EDX, ECX. */
#define INTEL_VENDOR 0x756e6547, 0x6c65746e, 0x49656e69
#define AMD_VENDOR   0x68747541, 0x444d4163, 0x69746e65

/*
 * An x86-64 baseline: the integer, system and paging features a stock Linux
 * kernel needs (leaf 1 EDX: FPU TSC MSR PAE CX8 SEP PGE CMOV PAT PSE36 FXSR
 * SSE SSE2 PSE MCE MCA APIC MTRR CLFSH; ECX: SSE3 CX16 POPCNT; 0x80000001
 * EDX: SYSCALL NX LM).  softvmm version 1 of this table.
 */
static const struct cpuid_leaf baseline_intel[] = {
    {0x0, 0, 0xd, INTEL_VENDOR},          {0x1, 0, 0x000306a9, 0x00000800, 0x00802201, 0x078bfbff},
    {0x80000000, 0, 0x80000008, 0, 0, 0}, {0x80000001, 0, 0, 0, 0x00000001, 0x20100800},
    {0x80000008, 0, 0x00003027, 0, 0, 0},
};

static const struct cpuid_leaf baseline_amd[] = {
    {0x0, 0, 0xd, AMD_VENDOR},
    {0x1, 0, 0x00a00f11, 0x00000800, 0x00802201, 0x078bfbff},
    {0x80000000, 0, 0x80000008, AMD_VENDOR},
    {0x80000001, 0, 0x00a00f11, 0, 0x00000001, 0x20100800},
    {0x80000008, 0, 0x00003028, 0, 0, 0}, /* 40 physical bits, as maxphyaddr */
};

/*
 * The baselines plus the general-purpose extensions: MOVBE (leaf 1 ECX bit
 * 22), BMI1, BMI2, ADX (leaf 7 subleaf 0 EBX bits 3, 8, 19), RDPID (leaf 7
 * ECX bit 22), LZCNT/ABM (0x80000001 ECX bit 5, with LAHF/SAHF bit 0) and
 * RDTSCP (0x80000001 EDX bit 27); and the paging features both parts have
 * (SDM vol. 3 4.1.4): PCID (leaf 1 ECX bit 17), SMEP, INVPCID and SMAP
 * (leaf 7 EBX bits 7, 10, 20; SMAP with CLAC and STAC) and 1 GiB pages
 * (0x80000001 EDX bit 26); and UMIP (leaf 7 ECX bit 2, SDM vol. 3 2.5),
 * which both parts have too.  Protection keys (PKU), which both parts
 * also have, are left out: RDPKRU, WRPKRU and the PK checks are not
 * implemented.  Leaf 7 lists subleaf 0 only, with EAX = 0: no further
 * subleaves.  softvmm version 2 of both (version 1 had none of the paging
 * features).
 *
 * Intel: the signature of a 3rd-generation Xeon Scalable (Ice Lake-SP,
 * family 6, model 0x6a, stepping 6), which has all of these and 5-level
 * paging (LA57, leaf 7 ECX bit 16); 46 physical address bits and 57
 * linear ones as on that part.
 */
static const struct cpuid_leaf gp_ext_intel[] = {
    {0x0, 0, 0xd, INTEL_VENDOR},
    {0x1, 0, 0x000606a6, 0x00000800, 0x00c22201, 0x078bfbff},
    {0x7, 0, 0, 0x00180588, 0x00410004, 0},
    {0x80000000, 0, 0x80000008, 0, 0, 0},
    {0x80000001, 0, 0, 0, 0x00000021, 0x2c100800},
    {0x80000008, 0, 0x0000392e, 0, 0, 0},
};

/* AMD: the signature of a Zen 3 EPYC 7003 (Milan, family 0x19, model 1,
 * stepping 1), as the AMD baseline, which has all of these but not LA57
 * (first in Zen 4); 48 physical and 48 linear address bits as on that
 * part. */
static const struct cpuid_leaf gp_ext_amd[] = {
    {0x0, 0, 0xd, AMD_VENDOR},
    {0x1, 0, 0x00a00f11, 0x00000800, 0x00c22201, 0x078bfbff},
    {0x7, 0, 0, 0x00180588, 0x00400004, 0},
    {0x80000000, 0, 0x80000008, AMD_VENDOR},
    {0x80000001, 0, 0x00a00f11, 0, 0x00000021, 0x2c100800},
    {0x80000008, 0, 0x00003030, 0, 0, 0},
};

#define CR4_BASELINE 0x000006ffull /* VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT */
#define CR4_V3_AMD   (CR4_BASELINE | 0x00320800ull) /* + UMIP PCIDE SMEP SMAP */
#define CR4_V3_INTEL (CR4_V3_AMD | 0x00001000ull)   /* + LA57 */

static const struct cpu_model models[] = {
    {"x86-64-intel", "Intel x86-64 baseline (default)", "intel", VENDOR_INTEL, 1, 39, CR4_BASELINE,
     false, baseline_intel, sizeof(baseline_intel) / sizeof(baseline_intel[0])},
    {"x86-64-amd", "AMD x86-64 baseline", "amd", VENDOR_AMD, 1, 40, CR4_BASELINE, false,
     baseline_amd, sizeof(baseline_amd) / sizeof(baseline_amd[0])},
    {"x86-64-intel-v3",
     "Intel x86-64 with MOVBE, ABM, BMI1/2, ADX, RDTSCP, RDPID, PCID, SMEP, SMAP, 1G pages, "
     "LA57, UMIP",
     "intel", VENDOR_INTEL, 2, 46, CR4_V3_INTEL, true, gp_ext_intel,
     sizeof(gp_ext_intel) / sizeof(gp_ext_intel[0])},
    {"x86-64-amd-v3",
     "AMD x86-64 with MOVBE, ABM, BMI1/2, ADX, RDTSCP, RDPID, PCID, SMEP, SMAP, 1G pages, UMIP",
     "amd", VENDOR_AMD, 2, 48, CR4_V3_AMD, true, gp_ext_amd,
     sizeof(gp_ext_amd) / sizeof(gp_ext_amd[0])},
};

const struct cpu_model *cpu_model_default(void)
{
	return &models[0];
}

const struct cpu_model *cpu_model_at(unsigned index)
{
	return index < sizeof(models) / sizeof(models[0]) ? &models[index] : NULL;
}

const struct cpu_model *cpu_model_find(const char *name)
{
	if (!name)
		return cpu_model_default();
	for (unsigned i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strcmp(models[i].name, name) == 0)
			return &models[i];
	return NULL;
}

/* Leaves above the maximum give the highest basic leaf's values, as Intel
 * CPUs do; unlisted leaves below it read as zero. */
void cpu_model_cpuid(const struct cpu_model *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	uint32_t max_basic = m->leaves[0].eax, max_ext = 0;
	for (unsigned i = 0; i < m->nleaves; i++)
		if (m->leaves[i].leaf == 0x80000000)
			max_ext = m->leaves[i].eax;
	if (leaf < 0x80000000 ? leaf > max_basic : leaf > max_ext)
		leaf = max_basic;
	out[0] = out[1] = out[2] = out[3] = 0;
	for (unsigned i = 0; i < m->nleaves; i++) {
		const struct cpuid_leaf *l = &m->leaves[i];
		if (l->leaf == leaf && l->subleaf == (l->leaf == 4 || l->leaf == 7 ? subleaf : 0)) {
			out[0] = l->eax;
			out[1] = l->ebx;
			out[2] = l->ecx;
			out[3] = l->edx;
			return;
		}
	}
}

bool cpu_model_has(const struct cpu_model *m, enum cpu_feature f)
{
	static const struct {
		uint32_t leaf;
		uint8_t reg; /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
		uint8_t bit;
	} where[FEAT_COUNT] = {
	    [FEAT_POPCNT] = {1, 2, 23},
	    [FEAT_MOVBE] = {1, 2, 22},
	    [FEAT_CX16] = {1, 2, 13},
	    [FEAT_CX8] = {1, 3, 8},
	    [FEAT_LZCNT] = {0x80000001, 2, 5},
	    [FEAT_BMI1] = {7, 1, 3},
	    [FEAT_BMI2] = {7, 1, 8},
	    [FEAT_ADX] = {7, 1, 19},
	    [FEAT_RDPID] = {7, 2, 22},
	    [FEAT_RDTSCP] = {0x80000001, 3, 27},
	    [FEAT_FPU] = {1, 3, 0},
	    [FEAT_MMX] = {1, 3, 23},
	    [FEAT_FXSR] = {1, 3, 24},
	    [FEAT_SSE] = {1, 3, 25},
	    [FEAT_SSE2] = {1, 3, 26},
	    [FEAT_CLFSH] = {1, 3, 19},
	    [FEAT_SSE3] = {1, 2, 0},
	    [FEAT_SSSE3] = {1, 2, 9},
	    [FEAT_SSE41] = {1, 2, 19},
	    [FEAT_SSE42] = {1, 2, 20},
	    [FEAT_PCID] = {1, 2, 17},
	    [FEAT_PGE] = {1, 3, 13},
	    [FEAT_SMEP] = {7, 1, 7},
	    [FEAT_INVPCID] = {7, 1, 10},
	    [FEAT_SMAP] = {7, 1, 20},
	    [FEAT_LA57] = {7, 2, 16},
	    [FEAT_PAGE1GB] = {0x80000001, 3, 26},
	};
	if ((unsigned)f >= FEAT_COUNT)
		return false;
	uint32_t r[4];
	cpu_model_cpuid(m, where[f].leaf, 0, r);
	/* A leaf above the model's maximum returns another leaf's data: only
	 * trust leaves the model lists. */
	for (unsigned i = 0; i < m->nleaves; i++)
		if (m->leaves[i].leaf == where[f].leaf)
			return (r[where[f].reg] >> where[f].bit) & 1;
	return false;
}

static void model_info(const struct cpu_model *m, struct vm_cpu_model_info *info)
{
	info->name = m->name;
	info->description = m->description;
	info->vendor_profile = m->vendor_profile;
	info->version = m->version;
	info->maxphyaddr = m->maxphyaddr;
}

int vm_cpu_model_get(unsigned index, struct vm_cpu_model_info *info)
{
	const struct cpu_model *m = cpu_model_at(index);
	if (!info)
		return EINVAL;
	if (!m)
		return ENOENT;
	model_info(m, info);
	return 0;
}

int vm_cpu_model_find(const char *name, struct vm_cpu_model_info *info)
{
	if (!name || !info)
		return EINVAL;
	const struct cpu_model *m = cpu_model_find(name);
	if (!m)
		return ENOENT;
	model_info(m, info);
	return 0;
}

int vm_cpu_model_cpuid(const char *name, uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	if (!name || !regs)
		return EINVAL;
	const struct cpu_model *m = cpu_model_find(name);
	if (!m)
		return ENOENT;
	cpu_model_cpuid(m, leaf, subleaf, regs);
	return 0;
}
