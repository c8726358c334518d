; mmio64: MMIO in 64-bit mode, through 4-level paging, for the INST_EMUL
; tests.  The tables are in the image (PML4 0x9000, PDPT 0xA000, PD 0xB000),
; so the first walk touches each table page (handled PAGING reads).  PD[0]
; identity-maps the first 2 MiB; PD[1] maps linear 0x200000 to the 2 MiB
; page at 0xFEA00000, so linear 0x300000 is the scratch MMIO bank
; 0xFEB00000.
;
;   rip     exit
;   0x7C00  PAGING execute 0x7000   first fetch
;   0x7C48  PAGING read 0x9000      the first fetch with paging on (the far
;   0x7C48  PAGING read 0xA000      jump into 64-bit code) walks PML4,
;   0x7C48  PAGING read 0xB000      PDPT and PD
;   0x7C59  INST_EMUL 0xFEB00008    48 8B 43 08  mov rax, [rbx + 8]: REX.W
;   0x7C5D  OUT 0x80                low half of what the caller supplied
;   0x7C63  OUT 0x80                high half
;   0x7C65  INST_EMUL 0xFEB00010    66 89 4B 10  mov [rbx + 0x10], cx: 0x66
;   0x7C6B  OUT 0xF4

%include "testguest.inc"

SEL_CODE64  equ 0x18
PML4        equ 0x9000
PDPT        equ 0xA000
PD          equ 0xB000

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov eax, 0x20			; CR4.PAE
	mov cr4, eax
	mov eax, PML4
	mov cr3, eax
	mov ecx, 0xC0000080		; IA32_EFER: owned by the vmm, no exit
	mov eax, 0x100			; LME
	xor edx, edx
	wrmsr
	mov eax, 0x80000011		; PG | PE | ET: IA-32e mode
	mov cr0, eax
AT 0x7C48
	jmp SEL_CODE64:lm64

	bits 64
lm64:	mov rbx, 0x300000
	mov ecx, 0x1234
AT 0x7C59
	mov rax, [rbx + 8]
AT 0x7C5D
	out 0x80, eax
	shr rax, 32
AT 0x7C63
	out 0x80, eax
AT 0x7C65
	mov [rbx + 0x10], cx
	mov al, 0
AT 0x7C6B
	out 0xF4, al
	cli
	hlt

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 code32
	dq 0x00CF93000000FFFF		; 0x10 data
	dq 0x00AF9B000000FFFF		; 0x18 code64
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

	times PML4 - LOAD_ADDR - ($ - $$) db 0
	dq PDPT | 0x23			; P | RW | A
	times 511 dq 0
	dq PD | 0x23
	times 511 dq 0
	dq 0x000000E3			; 0-2 MiB: itself; P | RW | A | D | PS
	dq 0xFEA000E3			; 2-4 MiB: 0xFEA00000
	times 510 dq 0
