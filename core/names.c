/* Printable names for exit codes and registers. */
#include "softvmm/vmm.h"

const char *vm_exitcode_name(enum vm_exitcode code)
{
	static const char *const names[VM_EXITCODE_MAX] = {
	    [VM_EXITCODE_INOUT] = "INOUT",
	    [VM_EXITCODE_VMX] = "VMX",
	    [VM_EXITCODE_BOGUS] = "BOGUS",
	    [VM_EXITCODE_RDMSR] = "RDMSR",
	    [VM_EXITCODE_WRMSR] = "WRMSR",
	    [VM_EXITCODE_HLT] = "HLT",
	    [VM_EXITCODE_MTRAP] = "MTRAP",
	    [VM_EXITCODE_PAUSE] = "PAUSE",
	    [VM_EXITCODE_PAGING] = "PAGING",
	    [VM_EXITCODE_INST_EMUL] = "INST_EMUL",
	    [VM_EXITCODE_SPINUP_AP] = "SPINUP_AP",
	    [VM_EXITCODE_DEPRECATED1] = "DEPRECATED1",
	    [VM_EXITCODE_RENDEZVOUS] = "RENDEZVOUS",
	    [VM_EXITCODE_IOAPIC_EOI] = "IOAPIC_EOI",
	    [VM_EXITCODE_SUSPENDED] = "SUSPENDED",
	    [VM_EXITCODE_INOUT_STR] = "INOUT_STR",
	    [VM_EXITCODE_TASK_SWITCH] = "TASK_SWITCH",
	};
	if ((unsigned)code >= VM_EXITCODE_MAX)
		return "UNKNOWN";
	return names[code];
}

const char *vm_reg_name_str(enum vm_reg_name reg)
{
	static const char *const names[VM_REG_LAST] = {
	    "rax",  "rbx",    "rcx",  "rdx", "rsi",    "rdi",    "rbp",    "r8",    "r9",   "r10",
	    "r11",  "r12",    "r13",  "r14", "r15",    "cr0",    "cr3",    "cr4",   "dr7",  "rsp",
	    "rip",  "rflags", "es",   "cs",  "ss",     "ds",     "fs",     "gs",    "ldtr", "tr",
	    "idtr", "gdtr",   "efer", "cr2", "pdpte0", "pdpte1", "pdpte2", "pdpte3"};
	if ((unsigned)reg >= VM_REG_LAST)
		return "unknown";
	return names[reg];
}
