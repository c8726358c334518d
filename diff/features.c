/*
 * CPUID features a form may need, on the host and in the soft CPU's
 * models, and which model runs a form: the host vendor's baseline, or a
 * model of the same vendor that has the feature (the baselines lack the
 * newer ones, LZCNT, BMI1, ...).
 */
#include "dx.h"

#include <cpuid.h>
#include <string.h>

#include <softvmm/vmm.h>

static const struct {
	const char *name;
	uint32_t leaf;
	uint8_t subleaf, reg, bit; /* reg: 0 EAX, 1 EBX, 2 ECX, 3 EDX */
} feat[DX_NFEATURES] = {
    [DX_FEAT_NONE] = {"-", 0, 0, 0, 0},
    [DX_FEAT_POPCNT] = {"popcnt", 1, 0, 2, 23},
    [DX_FEAT_LZCNT] = {"lzcnt", 0x80000001, 0, 2, 5},
    [DX_FEAT_BMI1] = {"bmi1", 7, 0, 1, 3},
    [DX_FEAT_BMI2] = {"bmi2", 7, 0, 1, 8},
    [DX_FEAT_ADX] = {"adx", 7, 0, 1, 19},
    [DX_FEAT_MOVBE] = {"movbe", 1, 0, 2, 22},
    [DX_FEAT_CX8] = {"cx8", 1, 0, 3, 8},
    [DX_FEAT_CX16] = {"cx16", 1, 0, 2, 13},
    [DX_FEAT_LAHF64] = {"lahf-lm", 0x80000001, 0, 2, 0},
};

const char *dx_feature_name(enum dx_feature f)
{
	return f < DX_NFEATURES ? feat[f].name : "?";
}

typedef void (*cpuid_fn)(const void *arg, uint32_t leaf, uint32_t sub, uint32_t r[4]);

static void host_cpuid(const void *arg, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	(void)arg;
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static void model_cpuid(const void *arg, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	if (vm_cpu_model_cpuid(arg, leaf, sub, r) != 0)
		memset(r, 0, 4 * sizeof(r[0]));
}

/* A leaf above the maximum would return another leaf's data. */
static bool has(cpuid_fn fn, const void *arg, enum dx_feature f)
{
	if (f == DX_FEAT_NONE)
		return true;
	if (f >= DX_NFEATURES)
		return false;
	uint32_t r[4];
	fn(arg, feat[f].leaf & 0x80000000, 0, r);
	if (r[0] < feat[f].leaf)
		return false;
	fn(arg, feat[f].leaf, feat[f].subleaf, r);
	return (r[feat[f].reg] >> feat[f].bit) & 1;
}

bool dx_host_has(enum dx_feature f)
{
	return has(host_cpuid, NULL, f);
}

const char *dx_host_vendor(void)
{
	uint32_t r[4];
	char v[13];
	host_cpuid(NULL, 0, 0, r);
	memcpy(v, &r[1], 4);
	memcpy(v + 4, &r[3], 4);
	memcpy(v + 8, &r[2], 4);
	v[12] = 0;
	if (strcmp(v, "GenuineIntel") == 0)
		return "intel";
	if (strcmp(v, "AuthenticAMD") == 0)
		return "amd";
	return NULL;
}

const char *dx_model_for(enum dx_feature f)
{
	const char *vendor = dx_host_vendor();
	if (!vendor)
		return NULL;
	const char *base = strcmp(vendor, "intel") == 0 ? "x86-64-intel" : "x86-64-amd";
	if (has(model_cpuid, base, f))
		return base;
	struct vm_cpu_model_info info;
	for (unsigned i = 0; vm_cpu_model_get(i, &info) == 0; i++)
		if (strcmp(info.vendor_profile, vendor) == 0 && has(model_cpuid, info.name, f))
			return info.name;
	return NULL;
}
