/*
 * Exception classes for the double-fault rules (SDM vol. 3 table 6-4):
 * used by the soft CPU when a fault arises during delivery, and by
 * vm_entry_intinfo when it combines nested events as bhyve does.
 */
#ifndef SOFTVMM_CORE_EXC_CLASS_H
#define SOFTVMM_CORE_EXC_CLASS_H

#include <stdbool.h>

#include "softvmm/vmm.h"

enum exc_class { EXC_BENIGN, EXC_CONTRIBUTORY, EXC_PAGE_FAULT };

static inline enum exc_class exc_class_of_vector(unsigned vector)
{
	switch (vector) {
	case IDT_DE:
	case IDT_TS:
	case IDT_NP:
	case IDT_SS:
	case IDT_GP:
		return EXC_CONTRIBUTORY;
	case IDT_PF:
	case 20: /* #VE */
		return EXC_PAGE_FAULT;
	default:
		return EXC_BENIGN;
	}
}

/* Table 6-5: the second fault, raised while delivering the first, gives #DF. */
static inline bool exc_makes_double_fault(enum exc_class first, enum exc_class second)
{
	return (first == EXC_CONTRIBUTORY && second == EXC_CONTRIBUTORY) ||
	       (first == EXC_PAGE_FAULT && second != EXC_BENIGN);
}

#endif
