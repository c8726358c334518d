/*
 * The ABI of softvmm/vmm.h pinned: sizes and field offsets of the structs
 * an exit carries, as they are on amd64 (the layout bhyve's vmm.h has
 * there).  The exit-code enum only ever grows; a layout change is an ABI
 * break and must show up here first.
 */
#ifndef SOFTVMM_VMM_ABI_H
#define SOFTVMM_VMM_ABI_H

#if defined(__x86_64__) && !defined(__cplusplus)
#include <stddef.h>

_Static_assert(sizeof(struct seg_desc) == 16, "struct seg_desc layout");
_Static_assert(sizeof(struct vm_guest_paging) == 24, "struct vm_guest_paging layout");
_Static_assert(sizeof(struct vie_op) == 4, "struct vie_op layout");
_Static_assert(sizeof(struct vie) == 64, "struct vie layout");
_Static_assert(sizeof(struct vm_inout) == 8, "struct vm_inout layout");
_Static_assert(sizeof(struct vm_inout_str) == 88, "struct vm_inout_str layout");
_Static_assert(sizeof(struct vm_task_switch) == 48, "struct vm_task_switch layout");
_Static_assert(sizeof(struct vm_exit) == 128, "struct vm_exit layout");
_Static_assert(sizeof(struct vm_run) == 144, "struct vm_run layout");
_Static_assert(sizeof(struct vm_exception) == 16, "struct vm_exception layout");
_Static_assert(sizeof(struct vm_copyinfo) == 32, "struct vm_copyinfo layout");
_Static_assert(offsetof(struct vie, num_valid) == 15, "struct vie layout");
_Static_assert(offsetof(struct vie, disp_bytes) == 22, "struct vie layout");
_Static_assert(offsetof(struct vie, scale) == 24, "struct vie layout");
_Static_assert(offsetof(struct vie, base_register) == 28, "struct vie layout");
_Static_assert(offsetof(struct vie, displacement) == 40, "struct vie layout");
_Static_assert(offsetof(struct vie, immediate) == 48, "struct vie layout");
_Static_assert(offsetof(struct vie, decoded) == 56, "struct vie layout");
_Static_assert(offsetof(struct vie, op) == 58, "struct vie layout");
_Static_assert(offsetof(struct vm_inout, port) == 2, "struct vm_inout layout");
_Static_assert(offsetof(struct vm_inout, eax) == 4, "struct vm_inout layout");
_Static_assert(offsetof(struct vm_inout_str, paging) == 8, "struct vm_inout_str layout");
_Static_assert(offsetof(struct vm_inout_str, rflags) == 32, "struct vm_inout_str layout");
_Static_assert(offsetof(struct vm_inout_str, index) == 48, "struct vm_inout_str layout");
_Static_assert(offsetof(struct vm_inout_str, count) == 56, "struct vm_inout_str layout");
_Static_assert(offsetof(struct vm_inout_str, addrsize) == 64, "struct vm_inout_str layout");
_Static_assert(offsetof(struct vm_inout_str, seg_name) == 68, "struct vm_inout_str layout");
_Static_assert(offsetof(struct vm_inout_str, seg_desc) == 72, "struct vm_inout_str layout");
_Static_assert(offsetof(struct vm_task_switch, ext) == 4, "struct vm_task_switch layout");
_Static_assert(offsetof(struct vm_task_switch, errcode) == 8, "struct vm_task_switch layout");
_Static_assert(offsetof(struct vm_task_switch, reason) == 16, "struct vm_task_switch layout");
_Static_assert(offsetof(struct vm_task_switch, paging) == 24, "struct vm_task_switch layout");
_Static_assert(offsetof(struct vm_exit, inst_length) == 4, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, rip) == 8, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, u) == 16, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, u.inst_emul.gla) == 24, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, u.inst_emul.cs_d) == 32, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, u.inst_emul.paging) == 40, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, u.inst_emul.vie) == 64, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, u.vmx.exit_qualification) == 24, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_exit, u.msr.wval) == 24, "struct vm_exit layout");
_Static_assert(offsetof(struct vm_run, rip) == 8, "struct vm_run layout");
_Static_assert(offsetof(struct vm_run, vm_exit) == 16, "struct vm_run layout");
_Static_assert(offsetof(struct seg_desc, limit) == 8, "struct seg_desc layout");
_Static_assert(offsetof(struct seg_desc, access) == 12, "struct seg_desc layout");
_Static_assert(offsetof(struct vm_guest_paging, cpl) == 8, "struct vm_guest_paging layout");
_Static_assert(offsetof(struct vm_guest_paging, paging_mode) == 16,
               "struct vm_guest_paging layout");

_Static_assert(sizeof(struct vm_seg_state) == 24, "struct vm_seg_state layout");
_Static_assert(sizeof(struct vm_vcpu_state) == 16 * 8 + 2 * 8 + 6 * 8 + 8 + 4 * 8 + 10 * 24,
               "struct vm_vcpu_state has no hidden padding");
_Static_assert(offsetof(struct vm_vcpu_state, seg) == 232, "struct vm_vcpu_state layout");
_Static_assert(VM_EXITCODE_TASK_SWITCH == 16 && VM_EXITCODE_MAX == 17, "vm_exitcode values");
_Static_assert(VM_REG_LAST == 38, "vm_reg_name values");
_Static_assert(VM_CAP_MAX == 5, "vm_cap_type values");
#endif

#endif /* SOFTVMM_VMM_ABI_H */
