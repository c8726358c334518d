; strio_long64: INS/OUTS in 64-bit mode with 4-level paging, for
; tests/test_string_io.c (recording device on port 0x510).
;
; Paging: PD[0] -> a page table of 4 KiB pages mapping the first 2 MiB
; one to one, except linear 0x50000 (not present) and linear 0x61000
; (-> physical 0x70000); the rest of the first GiB is 2 MiB pages.  The
; tables are in the image with A and D preset.
;
;   rip     instruction                what it shows
;   0x7C83  rep outsd, RSI = 0x60FFE   addrsize 8; the first dword straddles
;                                      linear 0x60FFE-0x61001, physical
;                                      0x60FFE-0x60FFF and 0x70000-0x70001
;   0x7C9F  std; a32 rep insd          addrsize 4: RDI = 0xFFFFFFFF00062000
;                                      is used as 0x62000 and written back
;                                      zero-extended, RCX likewise
;   0x7CAD  outsb, RSI = 0x50010       not present: #PF(0) with CR2 =
;                                      0x50010, delivered at the OUTSB; the
;                                      handler points RSI at msg and the
;                                      OUTSB runs again
; The #PF handler records CR2, the error code and the pushed RIP at
; RES + 0xF0.  After each scenario the guest stores RSI, RDI and RCX at
; RES + 32 * n.

%include "testguest.inc"

SEL_CODE64  equ 0x18
PORT        equ 0x510
RES         equ 0x9000
PML4        equ 0xA000
PDPT        equ 0xB000
PD          equ 0xC000
PT          equ 0xD000

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov eax, 0x20			; CR4.PAE
	mov cr4, eax
	mov eax, PML4
	mov cr3, eax
	mov ecx, 0xC0000080		; IA32_EFER
	mov eax, 0x100			; LME
	xor edx, edx
	wrmsr
	mov eax, 0x80000011		; PG | PE | ET: IA-32e mode
	mov cr0, eax
AT 0x7C48
	jmp SEL_CODE64:lm64		; walks PML4, PDPT, PD, PT

	bits 64
lm64:	lidt [idt_desc]
	mov rsp, 0x7C00
	mov dx, PORT
	xor ebx, ebx
	mov dword [0x60FFC], 0x44332211	; PAGING write 0x60000
	mov dword [0x61000], 0x88776655	; PAGING write 0x70000 (linear 0x61000)

	mov rsi, 0x60FFE
	mov rcx, 2
	cld
AT 0x7C83
l1:	rep outsd			; 0x60FFE (straddles), 0x61002
	call save			; slot 0, PAGING write 0x9000

	mov rdi, 0xFFFFFFFF00062000
	mov rcx, 0xFFFFFFFF00000002
	std
AT 0x7C9F
l2:	a32 rep insd			; 0x62000, 0x61FFC (physical 0x70FFC)
	cld
	call save			; slot 1

	mov rsi, 0x50010
AT 0x7CAD
l3:	outsb				; #PF(0), then msg[0]
	call save			; slot 2

	mov al, 0
AT 0x7CB5
	out 0xF4, al
	cli
	hlt

save:
	mov [RES + rbx], rsi
	mov [RES + rbx + 8], rdi
	mov [RES + rbx + 16], rcx
	add ebx, 32
	ret

pf_handler:
	mov rax, cr2
	mov [RES + 0xF0], rax
	pop rax				; error code
	mov [RES + 0xF8], eax
	mov rax, [rsp]			; RIP
	mov [RES + 0xFC], eax
	mov rsi, msg
	iretq

AT 0x7CFC
msg:	db "Z"

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 code32
	dq 0x00CF93000000FFFF		; 0x10 data
	dq 0x00AF9B000000FFFF		; 0x18 code64
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

	align 16
idt:
	times 14 * 2 dq 0		; 0x00-0x0D
	dw pf_handler			; 0x0E #PF: 64-bit interrupt gate
	dw SEL_CODE64
	db 0, 0x8E
	dw 0
	dd 0
	dd 0
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dq idt

	times PML4 - LOAD_ADDR - ($ - $$) db 0
	dq PDPT | 0x23			; P | RW | A
	times 511 dq 0
	dq PD | 0x23			; PDPT[0] only
	times 511 dq 0
	dq PT | 0x23			; PD[0]: 4 KiB pages
%assign i 1
%rep 511
	dq (i << 21) | 0xE3		; P | RW | A | D | PS
%assign i i + 1
%endrep
%assign i 0
%rep 512
%if i == 0x50
	dq 0				; linear 0x50000: not present
%elif i == 0x61
	dq 0x70000 | 0x63		; linear 0x61000 -> physical 0x70000
%else
	dq (i << 12) | 0x63		; P | RW | A | D
%endif
%assign i i + 1
%endrep
