; paging_walk: exits caused by 32-bit paging's page walks, in protected mode
; with CR0.PG set and 4 KiB pages (CR4.PSE clear).
;
; The page directory and two page tables are part of the image, so the host
; wrote them but the guest never touched them: the first walk through each
; table page is that page's first touch, a handled PAGING read whose gpa is
; the page's address (not the entry's).  Then, with paging on:
;   - a read of an identity-mapped fresh page: a PAGING read of that page;
;   - a read at linear 0x800010, which PD[2]/PT2 map to the scratch MMIO
;     bank: INST_EMUL with gla 0x800010 but gpa 0xFEB00010, and paging
;     {cr3 0x9000, PAGING_MODE_32};
;   - a read at linear 0x400000, whose page table PD[1] puts at 0xE0000000,
;     outside RAM: the walk cannot read it, a VMX exit (reason 48) whose
;     qualification says data read and GLA valid, but not "final
;     translation" (bit 8): the violation was on a paging-structure access.
;
;   rip     exit
;   0x7C00  PAGING execute 0x7000   first fetch
;   0x7C32  PAGING read 0x9000      the walk for this fetch: the PDE,
;   0x7C32  PAGING read 0xA000      then the PTE (at 0xA01C)
;   0x7C32  PAGING read 0x10000     mov eax, [0x10000]
;   0x7C37  PAGING read 0xB000      mov edx, [0x800010]: the PTE's page,
;   0x7C37  INST_EMUL 0xFEB00010    then the MMIO access
;   0x7C3F  OUT 0x80                echoes EDX
;   0x7C41  VMX 48                  mov eax, [0x400000]

%include "testguest.inc"

PD          equ 0x9000
PT0         equ 0xA000		; maps linear 0-4 MiB to itself
PT2         equ 0xB000		; maps linear 8 MiB to the MMIO bank
PTE_FLAGS   equ 0x63		; P | RW | A | D: the walk never writes them
PDE_FLAGS   equ 0x23		; P | RW | A

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov eax, PD
	mov cr3, eax
	mov eax, 0x80000011		; PG | PE | ET
	mov cr0, eax
AT 0x7C32
	mov eax, [0x10000]		; fetch walk (PD, PT0 pages), then the data page
AT 0x7C37
	mov edx, [0x800010]		; walk touches PT2, then INST_EMUL
	mov eax, edx
AT 0x7C3F
	out 0x80, eax
AT 0x7C41
	mov eax, [0x400000]		; the walk reads a PTE at 0xE0000000: VMX
	cli
	hlt

	GDT32

	times PD - LOAD_ADDR - ($ - $$) db 0
AT PD
	dd PT0 | PDE_FLAGS		; 0-4 MiB
	dd 0xE0000000 | PDE_FLAGS	; 4-8 MiB: a page table outside RAM
	dd PT2 | PDE_FLAGS		; 8-12 MiB
	times 1021 dd 0

AT PT0
%assign i 0
%rep 1024
	dd (i << 12) | PTE_FLAGS
%assign i i + 1
%endrep

AT PT2
	dd 0xFEB00000 | PTE_FLAGS
	times 1023 dd 0
