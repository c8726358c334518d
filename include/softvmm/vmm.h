/*
 * softvmm public API: the types and calls of FreeBSD bhyve's vmm.h (the
 * 2014 release/10.1.0 header is the seed), implemented in user space.
 *
 * Enum values, struct layouts and call signatures follow the seed so that
 * code written against bhyve's vmm reads the same here.  Where the seed is a
 * kernel interface that cannot exist in a library (vmspace, pmap, iommu) it is
 * left out; where softvmm adds something (backend selection, the exit
 * observer, statistics) it is marked "softvmm extension".
 *
 * Every call returns 0 or an errno value and changes nothing when it fails,
 * unless its comment says otherwise.
 */
#ifndef SOFTVMM_VMM_H
#define SOFTVMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t vm_paddr_t;
/* One bit per vcpu, bit n = vcpu n (bhyve's cpuset_t restricted to VM_MAXCPU). */
typedef uint64_t cpuset_t;

#define VM_MAXCPU      16 /* maximum virtual cpus */
#define VM_MAX_NAMELEN 32

/* Protection bits, as FreeBSD's vm_prot_t. */
#define VM_PROT_NONE    0x00
#define VM_PROT_READ    0x01
#define VM_PROT_WRITE   0x02
#define VM_PROT_EXECUTE 0x04

/* Exception vectors (FreeBSD's IDT_* names, SDM vol. 3 table 6-1). */
#define IDT_DE    0
#define IDT_DB    1
#define IDT_NMI   2
#define IDT_BP    3
#define IDT_OF    4
#define IDT_BR    5
#define IDT_UD    6
#define IDT_NM    7
#define IDT_DF    8
#define IDT_FPUGP 9
#define IDT_TS    10
#define IDT_NP    11
#define IDT_SS    12
#define IDT_GP    13
#define IDT_PF    14
#define IDT_MF    16
#define IDT_AC    17
#define IDT_MC    18
#define IDT_XF    19

enum vm_suspend_how {
	VM_SUSPEND_NONE,
	VM_SUSPEND_RESET,
	VM_SUSPEND_POWEROFF,
	VM_SUSPEND_HALT,
	VM_SUSPEND_TRIPLEFAULT,
	VM_SUSPEND_LAST
};

/* Identifiers for architecturally defined registers. */
enum vm_reg_name {
	VM_REG_GUEST_RAX,
	VM_REG_GUEST_RBX,
	VM_REG_GUEST_RCX,
	VM_REG_GUEST_RDX,
	VM_REG_GUEST_RSI,
	VM_REG_GUEST_RDI,
	VM_REG_GUEST_RBP,
	VM_REG_GUEST_R8,
	VM_REG_GUEST_R9,
	VM_REG_GUEST_R10,
	VM_REG_GUEST_R11,
	VM_REG_GUEST_R12,
	VM_REG_GUEST_R13,
	VM_REG_GUEST_R14,
	VM_REG_GUEST_R15,
	VM_REG_GUEST_CR0,
	VM_REG_GUEST_CR3,
	VM_REG_GUEST_CR4,
	VM_REG_GUEST_DR7,
	VM_REG_GUEST_RSP,
	VM_REG_GUEST_RIP,
	VM_REG_GUEST_RFLAGS,
	VM_REG_GUEST_ES,
	VM_REG_GUEST_CS,
	VM_REG_GUEST_SS,
	VM_REG_GUEST_DS,
	VM_REG_GUEST_FS,
	VM_REG_GUEST_GS,
	VM_REG_GUEST_LDTR,
	VM_REG_GUEST_TR,
	VM_REG_GUEST_IDTR,
	VM_REG_GUEST_GDTR,
	VM_REG_GUEST_EFER,
	VM_REG_GUEST_CR2,
	VM_REG_GUEST_PDPTE0,
	VM_REG_GUEST_PDPTE1,
	VM_REG_GUEST_PDPTE2,
	VM_REG_GUEST_PDPTE3,
	VM_REG_LAST
};

/*
 * Registers later bhyve added after PDPTE3, in its order.  They are
 * numbered after VM_REG_LAST, which struct vie uses for "no register"
 * and which vmm_abi.h pins at the seed's value.
 */
enum vm_reg_name_ext {
	VM_REG_GUEST_INTR_SHADOW = VM_REG_LAST + 1, /* 1: blocking by STI or MOV SS;
	                                                only 0 can be written */
	VM_REG_GUEST_DR0,
	VM_REG_GUEST_DR1,
	VM_REG_GUEST_DR2,
	VM_REG_GUEST_DR3,
	VM_REG_GUEST_DR6,
	VM_REG_EXT_LAST
};

/*
 * softvmm's own registers, which bhyve does not have, numbered far from
 * bhyve's so that its later additions keep their values.
 * VM_REG_SOFTVMM_NMI_BLOCKED: 1 from an NMI's delivery until the next
 * IRET (SDM vol. 3 6.7.1), when a further NMI waits.  It is part of the
 * vcpu state a snapshot must carry; writable with 0 or 1.
 */
enum vm_reg_name_softvmm {
	VM_REG_SOFTVMM_NMI_BLOCKED = 0x1000,
};

enum x2apic_state { X2APIC_DISABLED, X2APIC_ENABLED, X2APIC_STATE_LAST };

/* Layout of an event's "intinfo" word (bits 7:0 vector, 10:8 type, 11
 * error code valid, 31 valid, 63:32 error code). */
#define VM_INTINFO_VECTOR(info) ((info)&0xff)
#define VM_INTINFO_DEL_ERRCODE  0x800
#define VM_INTINFO_RSVD         0x7ffff000
#define VM_INTINFO_VALID        0x80000000
#define VM_INTINFO_TYPE         0x700
#define VM_INTINFO_HWINTR       (0 << 8)
#define VM_INTINFO_NMI          (2 << 8)
#define VM_INTINFO_HWEXCEPTION  (3 << 8)
#define VM_INTINFO_SWINTR       (4 << 8)

/* Identifiers for optional vmm capabilities. */
enum vm_cap_type {
	VM_CAP_HALT_EXIT,
	VM_CAP_MTRAP_EXIT,
	VM_CAP_PAUSE_EXIT,
	VM_CAP_UNRESTRICTED_GUEST,
	VM_CAP_ENABLE_INVPCID,
	VM_CAP_MAX
};

enum vm_intr_trigger { EDGE_TRIGGER, LEVEL_TRIGGER };

/*
 * A segment register's hidden part.  'access' has the layout of the VMCS
 * guest access-rights field (SDM vol. 3 table 24-2): type 3:0, S 4, DPL 6:5,
 * P 7, AVL 12, L 13, D/B 14, G 15, and bit 16 = segment unusable.
 */
struct seg_desc {
	uint64_t base;
	uint32_t limit;
	uint32_t access;
};
#define SEG_DESC_TYPE(access)        ((access)&0x001f)
#define SEG_DESC_DPL(access)         (((access) >> 5) & 0x3)
#define SEG_DESC_PRESENT(access)     (((access)&0x0080) ? 1 : 0)
#define SEG_DESC_DEF32(access)       (((access)&0x4000) ? 1 : 0)
#define SEG_DESC_GRANULARITY(access) (((access)&0x8000) ? 1 : 0)
#define SEG_DESC_UNUSABLE(access)    (((access)&0x10000) ? 1 : 0)

enum vm_cpu_mode {
	CPU_MODE_REAL,
	CPU_MODE_PROTECTED,
	CPU_MODE_COMPATIBILITY, /* IA-32e mode, CS.L = 0 */
	CPU_MODE_64BIT,         /* IA-32e mode, CS.L = 1 */
};

enum vm_paging_mode {
	PAGING_MODE_FLAT,
	PAGING_MODE_32,
	PAGING_MODE_PAE,
	PAGING_MODE_64,
};

struct vm_guest_paging {
	uint64_t cr3;
	int cpl;
	enum vm_cpu_mode cpu_mode;
	enum vm_paging_mode paging_mode;
};

/*
 * bhyve's decoded instruction for INST_EMUL.  Opaque to consumers of the
 * exit; see softvmm/vmm_instruction_emul.h for the calls that use it.
 */
struct vie_op {
	uint8_t op_byte; /* actual opcode byte */
	uint8_t op_type; /* type of operation (e.g. MOV) */
	uint16_t op_flags;
};

#define VIE_INST_SIZE 15
struct vie {
	uint8_t inst[VIE_INST_SIZE]; /* instruction bytes */
	uint8_t num_valid;           /* size of the instruction */
	uint8_t num_processed;

	uint8_t addrsize : 4, opsize : 4; /* address and operand sizes */
	uint8_t rex_w : 1, rex_r : 1, rex_x : 1, rex_b : 1, rex_present : 1, opsize_override : 1,
	    addrsize_override : 1;

	uint8_t mod : 2, reg : 4, rm : 4;    /* ModRM byte */
	uint8_t ss : 2, index : 4, base : 4; /* SIB byte */

	uint8_t disp_bytes;
	uint8_t imm_bytes;

	uint8_t scale;
	/* Prefixes of current bhyve's decoder, kept in what is padding in 10.1.0's layout. */
	uint8_t segment_override : 1, repz_present : 1, repnz_present : 1, vex_present : 1,
	    vex_l : 1, restart : 1; /* restart: softvmm, see vmm_instruction_emul.h */
	uint8_t vex_reg : 4, vex_pp : 2;
	int base_register;    /* VM_REG_GUEST_xyz */
	int index_register;   /* VM_REG_GUEST_xyz */
	int segment_register; /* VM_REG_GUEST_xyz of a segment override, else VM_REG_LAST */

	int64_t displacement; /* optional addr displacement */
	int64_t immediate;    /* optional immediate operand */

	uint8_t decoded; /* set to 1 if successfully decoded */

	struct vie_op op; /* opcode description */
};

enum vm_exitcode {
	VM_EXITCODE_INOUT,
	VM_EXITCODE_VMX,
	VM_EXITCODE_BOGUS,
	VM_EXITCODE_RDMSR,
	VM_EXITCODE_WRMSR,
	VM_EXITCODE_HLT,
	VM_EXITCODE_MTRAP,
	VM_EXITCODE_PAUSE,
	VM_EXITCODE_PAGING,
	VM_EXITCODE_INST_EMUL,
	VM_EXITCODE_SPINUP_AP,
	VM_EXITCODE_DEPRECATED1, /* used to be SPINDOWN_CPU */
	VM_EXITCODE_RENDEZVOUS,
	VM_EXITCODE_IOAPIC_EOI,
	VM_EXITCODE_SUSPENDED,
	VM_EXITCODE_INOUT_STR,
	VM_EXITCODE_TASK_SWITCH,
	VM_EXITCODE_MAX
};

struct vm_inout {
	uint16_t bytes : 3; /* 1 or 2 or 4 */
	uint16_t in : 1;
	uint16_t string : 1;
	uint16_t rep : 1;
	uint16_t port;
	uint32_t eax; /* valid for out */
};

struct vm_inout_str {
	struct vm_inout inout; /* must be the first element */
	struct vm_guest_paging paging;
	uint64_t rflags;
	uint64_t cr0;
	uint64_t index;
	uint64_t count; /* rep=1 (%rcx), rep=0 (1) */
	int addrsize;
	enum vm_reg_name seg_name;
	struct seg_desc seg_desc;
};

enum task_switch_reason {
	TSR_CALL,
	TSR_IRET,
	TSR_JMP,
	TSR_IDT_GATE, /* task gate in IDT */
};

struct vm_task_switch {
	uint16_t tsssel; /* new TSS selector */
	int ext;         /* task switch due to external event */
	uint32_t errcode;
	int errcode_valid; /* push 'errcode' on the new stack */
	enum task_switch_reason reason;
	struct vm_guest_paging paging;
};

/* VMX exit reasons softvmm produces in u.vmx.exit_reason (SDM vol. 3 app. C). */
#define VMX_EXIT_REASON_TRIPLE_FAULT  2
#define VMX_EXIT_REASON_INVD          13
#define VMX_EXIT_REASON_EPT_VIOLATION 48

/* EPT-violation exit qualification bits (SDM vol. 3 table 28-7). */
#define EPT_VIOLATION_DATA_READ  (1u << 0)
#define EPT_VIOLATION_DATA_WRITE (1u << 1)
#define EPT_VIOLATION_INST_FETCH (1u << 2)
#define EPT_VIOLATION_GLA_VALID  (1u << 7)
#define EPT_VIOLATION_XLAT_VALID (1u << 8)

struct vm_exit {
	enum vm_exitcode exitcode;
	int inst_length; /* 0 means unknown */
	uint64_t rip;
	union {
		struct vm_inout inout;
		struct vm_inout_str inout_str;
		struct {
			uint64_t gpa;
			int fault_type;
		} paging;
		struct {
			uint64_t gpa;
			uint64_t gla;
			int cs_d; /* CS.D */
			struct vm_guest_paging paging;
			struct vie vie;
		} inst_emul;
		/* VMX-specific payload, used when no better exit code fits. */
		struct {
			int status; /* vmx inst status */
			/* valid only if 'status' is zero */
			uint32_t exit_reason;
			uint64_t exit_qualification;
			/* valid only if 'status' is non-zero */
			int inst_type;
			int inst_error;
		} vmx;
		struct {
			uint32_t code; /* ecx value */
			uint64_t wval;
		} msr;
		struct {
			int vcpu;
			uint64_t rip;
		} spinup_ap;
		struct {
			uint64_t rflags;
		} hlt;
		struct {
			int vector;
		} ioapic_eoi;
		struct {
			enum vm_suspend_how how;
		} suspended;
		struct vm_task_switch task_switch;
	} u;
};

/* The VM_RUN argument (bhyve's vmm_dev.h): run vcpu 'cpuid' from 'rip'. */
struct vm_run {
	int cpuid;
	uint64_t rip;
	struct vm_exit vm_exit;
};

/* An exception to inject (bhyve's vmm_dev.h, 10.1.0 layout). */
struct vm_exception {
	int cpuid;
	int vector;
	uint32_t error_code;
	int error_code_valid;
};

enum vcpu_state {
	VCPU_IDLE,
	VCPU_FROZEN,
	VCPU_RUNNING,
	VCPU_SLEEPING,
};

struct vm_copyinfo {
	uint64_t gpa;
	size_t len;
	void *hva;
	void *cookie;
};

struct vm;

/* softvmm extension: what vm_create builds. */
struct vm_config {
	const char *backend;   /* "soft" (NULL means "soft") */
	const char *cpu_model; /* CPU model name; NULL means the default */
	int ncpus;             /* number of vcpus, 1..VM_MAXCPU; 0 means 1 */
};

int vm_create(const char *name, const struct vm_config *config, struct vm **retvm);
void vm_destroy(struct vm *vm);
int vm_reinit(struct vm *vm);
const char *vm_name(struct vm *vm);

int vm_malloc(struct vm *vm, vm_paddr_t gpa, size_t len);
int vm_map_mmio(struct vm *vm, vm_paddr_t gpa, size_t len, vm_paddr_t hpa);
int vm_unmap_mmio(struct vm *vm, vm_paddr_t gpa, size_t len);
void *vm_gpa_hold(struct vm *vm, vm_paddr_t gpa, size_t len, int prot, void **cookie);
void vm_gpa_release(void *cookie);
bool vm_mem_allocated(struct vm *vm, vm_paddr_t gpa);

int vm_get_register(struct vm *vm, int vcpu, int reg, uint64_t *retval);
int vm_set_register(struct vm *vm, int vcpu, int reg, uint64_t val);
/*
 * Several registers at once (bhyve added vm_get_register_set in 2016):
 * EINVAL and nothing read if any register number is out of range.
 */
int vm_get_register_set(struct vm *vm, int vcpu, unsigned int count, const int *regnums,
                        uint64_t *regvals);
int vm_set_register_set(struct vm *vm, int vcpu, unsigned int count, const int *regnums,
                        uint64_t *regvals);
int vm_get_seg_desc(struct vm *vm, int vcpu, int reg, struct seg_desc *ret_desc);
int vm_set_seg_desc(struct vm *vm, int vcpu, int reg, struct seg_desc *desc);

int vm_run(struct vm *vm, struct vm_run *vmrun);
int vm_suspend(struct vm *vm, enum vm_suspend_how how);
int vm_inject_nmi(struct vm *vm, int vcpu);
int vm_nmi_pending(struct vm *vm, int vcpuid);
void vm_nmi_clear(struct vm *vm, int vcpuid);
int vm_inject_extint(struct vm *vm, int vcpu);
int vm_extint_pending(struct vm *vm, int vcpuid);
void vm_extint_clear(struct vm *vm, int vcpuid);

int vm_get_capability(struct vm *vm, int vcpu, int type, int *val);
int vm_set_capability(struct vm *vm, int vcpu, int type, int val);
int vm_get_x2apic_state(struct vm *vm, int vcpu, enum x2apic_state *state);
int vm_set_x2apic_state(struct vm *vm, int vcpu, enum x2apic_state state);

int vm_activate_cpu(struct vm *vm, int vcpu);
cpuset_t vm_active_cpus(struct vm *vm);
cpuset_t vm_suspended_cpus(struct vm *vm);

int vcpu_set_state(struct vm *vm, int vcpu, enum vcpu_state state, bool from_idle);
/* Returns VCPU_IDLE for a vcpu out of range; *hostcpu (if not NULL) is -1. */
enum vcpu_state vcpu_get_state(struct vm *vm, int vcpu, int *hostcpu);

/*
 * Event injection (bhyve's rules, ../shared/BHYVE-EXITS.md section 9).
 * vm_inject_exception: EINVAL for a vector outside [0,32) or #DF, EBUSY when
 * one is already pending.  The vm_inject_* helpers are for exit handlers:
 * they queue the fault and make the current exit's instruction restart
 * (inst_length 0 on the vcpu's last exit).
 */
int vm_inject_exception(struct vm *vm, int vcpuid, struct vm_exception *vme);
void vm_inject_fault(struct vm *vm, int vcpuid, int vector, int errcode_valid, int errcode);
void vm_inject_ud(struct vm *vm, int vcpuid);
void vm_inject_gp(struct vm *vm, int vcpuid);
void vm_inject_ac(struct vm *vm, int vcpuid, int errcode);
void vm_inject_ss(struct vm *vm, int vcpuid, int errcode);
void vm_inject_pf(struct vm *vm, int vcpuid, int error_code, uint64_t cr2);
int vm_exit_intinfo(struct vm *vm, int vcpuid, uint64_t intinfo);
int vm_entry_intinfo(struct vm *vm, int vcpuid, uint64_t *info);
int vm_get_intinfo(struct vm *vm, int vcpuid, uint64_t *info1, uint64_t *info2);

enum vm_reg_name vm_segment_name(int seg_encoding);

/*
 * Copy to or from the guest's linear address space (bhyve's rules: 0 on
 * success, 1 if a fault was injected into the guest, -1 otherwise).
 */
int vm_copy_setup(struct vm *vm, int vcpuid, struct vm_guest_paging *paging, uint64_t gla,
                  size_t len, int prot, struct vm_copyinfo *copyinfo, int num_copyinfo);
void vm_copy_teardown(struct vm *vm, int vcpuid, struct vm_copyinfo *copyinfo, int num_copyinfo);
void vm_copyin(struct vm *vm, int vcpuid, struct vm_copyinfo *copyinfo, void *kaddr, size_t len);
void vm_copyout(struct vm *vm, int vcpuid, const void *kaddr, struct vm_copyinfo *copyinfo,
                size_t len);

/*
 * Translate a guest-linear address as the vcpu would for an access with
 * 'prot' (bhyve's vmm_gla2gpa): 0 with *gpa set, 1 when a fault was
 * injected (#PF with CR2, or #GP for a non-canonical address), -1 when a
 * page-table page is not guest RAM.  Follows the SDM, NX and CR0.WP
 * included (docs/deviations.md).
 */
int vm_gla2gpa(struct vm *vm, int vcpuid, struct vm_guest_paging *paging, uint64_t gla, int prot,
               uint64_t *gpa);

/*
 * softvmm extension: the vcpu's architectural state in one call, for
 * digests and for comparing two runs or two backends.  A fixed layout with
 * explicit padding (always zero), pinned in vmm_abi.h, so its bytes can be
 * hashed or compared directly.
 */
struct vm_seg_state {
	uint64_t base;
	uint32_t limit;
	uint32_t access; /* struct seg_desc access layout; 0 for GDTR/IDTR */
	uint16_t sel;    /* 0 for GDTR/IDTR */
	uint16_t pad[3];
};

struct vm_vcpu_state {
	uint64_t gpr[16]; /* RAX RCX RDX RBX RSP RBP RSI RDI R8 .. R15 (encoding order) */
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t dr7;
	uint64_t pdpte[4];
	struct vm_seg_state seg[6]; /* ES CS SS DS FS GS */
	struct vm_seg_state ldtr, tr, gdtr, idtr;
};
int vm_get_vcpu_state(struct vm *vm, int vcpu, struct vm_vcpu_state *state);

/* softvmm extension: the vcpu's paging state, as an exit reports it. */
int vm_get_guest_paging(struct vm *vm, int vcpuid, struct vm_guest_paging *paging);

/*
 * softvmm extension: every exit of the stream, the ones vm_run handles
 * itself ('handled' true, as bhyve's kernel does) and the ones it returns,
 * in order.  The observer runs before vm_run acts on the exit.
 */
typedef void (*vm_exit_observer_fn)(void *arg, struct vm *vm, int vcpuid, const struct vm_exit *vme,
                                    bool handled);
void vm_set_exit_observer(struct vm *vm, vm_exit_observer_fn fn, void *arg);

/* softvmm extension: per-vcpu counters (bhyve's vmm_stat, and the soft CPU's). */
struct vm_vcpu_stats {
	uint64_t insns_retired;
	uint64_t events_delivered; /* exceptions and interrupts delivered */
	uint64_t partial_steps;    /* REP chunks that ended without finishing the instruction */
	uint64_t exits_handled[VM_EXITCODE_MAX];  /* handled inside the vmm */
	uint64_t exits_returned[VM_EXITCODE_MAX]; /* returned by vm_run */
	uint64_t block_lookups;                   /* translated blocks looked up */
	uint64_t block_misses;                    /* lookups that had to decode */
	uint64_t insns_decoded;                   /* instructions decoded by Zydis */
	uint64_t unimplemented;                   /* #UD raised for an opcode not implemented yet */
	uint64_t tlb_fills;                       /* soft-TLB entries filled by page walks */
	uint64_t tlb_flushes;                     /* whole soft-TLB flushes */
};
int vm_get_stats(struct vm *vm, int vcpuid, struct vm_vcpu_stats *stats);
/* Calls fn once per mnemonic that raised #UD as not implemented, with its count. */
int vm_foreach_unimplemented(struct vm *vm, int vcpuid,
                             void (*fn)(void *arg, const char *mnemonic, uint64_t count),
                             void *arg);

/*
 * softvmm extension: end vm_run once the vcpu has retired 'limit'
 * instructions in total, counting as one more step each exception
 * delivered and each 4096-iteration chunk of a REP string instruction that
 * does not finish it (0 = no limit): a guest stuck faulting at one
 * instruction, or in a REP with a huge count, retires nothing, yet must
 * stop.  When the limit is reached vm_run returns a BOGUS
 * exit with inst_length 0: softvmm's only, deterministic, source of BOGUS
 * (bhyve's comes from host scheduling).
 */
int vm_set_insn_limit(struct vm *vm, int vcpu, uint64_t limit);

/*
 * softvmm extension: the CPU model table (vm_config.cpu_model names one).
 * vm_cpu_model_get fills *info for index 0, 1, ... and returns ENOENT past
 * the last; vm_cpu_model_cpuid gives what CPUID returns on that model
 * (EAX, EBX, ECX, EDX), ENOENT for an unknown name.
 */
struct vm_cpu_model_info {
	const char *name;
	const char *description;
	const char *vendor_profile; /* "intel" or "amd": rules for undefined results */
	unsigned version;           /* bumped whenever what the guest sees changes */
	unsigned maxphyaddr;
};
int vm_cpu_model_get(unsigned index, struct vm_cpu_model_info *info);
int vm_cpu_model_find(const char *name, struct vm_cpu_model_info *info);
int vm_cpu_model_cpuid(const char *name, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);

/* softvmm extension: names for printing. */
const char *vm_exitcode_name(enum vm_exitcode code);
const char *vm_reg_name_str(enum vm_reg_name reg);

#ifdef __cplusplus
}
#endif

#include <softvmm/vmm_abi.h>

#endif /* SOFTVMM_VMM_H */
