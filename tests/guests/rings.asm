; rings: privilege transitions for tests/test_rings.c (issue 5).  Ring 0 ->
; ring 3 by IRETD, back by INT 0x80 through a DPL-3 interrupt gate with a
; stack switch from the TSS, by a call gate with two parameters (RETF 8
; returns), by SYSENTER/SYSEXIT; then IA-32e mode, IRETQ to ring 3 and
; SYSCALL/SYSRET (REX.W).  Every value is reported by 'report' (OUT 0x80,
; EAX at REPORT_OUT), so the stream is a list of values; the frames are
; read off the stacks by the code that receives them.
;
; Selectors: 08 code32 DPL0, 10 data DPL0, 1B code32 DPL3, 23 data DPL3,
; 28 TSS, 33 call gate DPL3 (2 dword params) -> 08:cg_entry, 38 code64
; DPL0, 40 data DPL0, 4B code32 DPL3, 53 data DPL3, 5B code64 DPL3.
; STAR = 0048_0038_0000_0000: SYSCALL CS 38 SS 40, SYSRET CS 5B SS 53.
; SYSENTER_CS = 08: SYSENTER CS 08 SS 10, SYSEXIT CS 1B SS 23.
; Ring 3 runs with IOPL 3 so that its OUTs need no I/O bitmap.  TR is set
; to 28 (base tss, limit 67H, busy) by the test through the API before the
; run, so the guest needs no LTR.

%include "testguest.inc"

STACK0      equ 0x7C00			; ring 0 before the first IRET
ESP0        equ 0xE000			; TSS.ESP0 (page 0xD000)
SE_STACK    equ 0xF000			; SYSENTER_ESP (page 0xE000)
STACK3      equ 0x11000			; ring 3 (page 0x10000)
STACK3_64   equ 0x12000			; ring 3 in 64-bit mode (page 0x11000)
PML4        equ 0x20000

	bits 16
	org LOAD_ADDR

	cli
	lgdt [gdt_desc]
	mov eax, 0x11
	mov cr0, eax
	jmp 0x08:pm32
	bits 32
pm32:	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, STACK0
	lidt [idt_desc]
	mov ecx, 0x174			; SYSENTER_CS, _ESP, _EIP
	xor edx, edx
	mov eax, 0x08
	wrmsr
	inc ecx
	mov eax, SE_STACK
	wrmsr
	inc ecx
	mov eax, sysenter_entry
	wrmsr

	; Ring 0 -> ring 3: IRETD pops EIP CS EFLAGS ESP SS.
	push dword 0x23
	push dword STACK3
	push dword 0x3002		; IOPL 3
	push dword 0x1B
	push dword ring3
	iretd

ring3:	mov eax, cs			; 1B
	call report
	mov eax, ss			; 23
	call report
	mov eax, esp			; STACK3
	call report
	mov eax, ds			; 0: DS (DPL 0) nulled by the outer return
	call report
	mov eax, es			; 0: ES too
	call report
	mov ax, 0x23
	mov ds, ax
	mov es, ax

	; INT 0x80: DPL-3 gate, stack switch to TSS.SS0:ESP0.
	int 0x80
AT 0x7C89
after_int:
	mov eax, esp			; STACK3 again
	call report

	; Call gate with two parameters: 0xBBBB0002 at [ESP], 0xAAAA0001 above.
	push dword 0xAAAA0001
	push dword 0xBBBB0002
	call 0x33:0
AT 0x7CA1
after_cg:
	mov eax, esp			; STACK3: RETF 8 released the parameters
	call report
	mov eax, ds			; 0: cg_entry loaded DS = 10, RETF nulled it
	call report
	mov eax, es			; 23: DPL 3, kept
	call report
	mov ax, 0x23
	mov ds, ax

	; SYSENTER / SYSEXIT.
	mov ebp, esp
	sysenter
AT 0x7CC0
after_sysexit:
	mov eax, cs			; 1B
	call report
	mov eax, ss			; 23
	call report
	mov eax, esp			; STACK3
	call report

	int 0x81			; to ring 0 for IA-32e mode

; report: OUT 0x80, EAX in every mode (E7 80, C3 assemble the same in 16-,
; 32- and 64-bit code).
report:
AT 0x7CD7
	out 0x80, eax
	ret

; INT 0x80 at ring 0: ESP at entry, then the frame SS ESP EFLAGS CS EIP
; from the top, then CS, SS and DS in the handler.
int80:	mov ebp, esp
	mov eax, ebp			; ESP0 - 20
	call report
	mov eax, [ebp + 16]		; SS 23
	call report
	mov eax, [ebp + 12]		; ESP STACK3
	call report
	mov eax, [ebp + 8]		; EFLAGS 3002
	call report
	mov eax, [ebp + 4]		; CS 1B
	call report
	mov eax, [ebp]			; EIP after_int
	call report
	mov eax, cs			; 08
	call report
	mov eax, ss			; 10
	call report
	mov eax, ds			; 23: an interrupt leaves DS alone
	call report
	iretd

; The call gate's target at ring 0: ESP at entry, then the six dwords the
; gate pushed, from the top: SS, ESP, param 1, param 0, CS, EIP.
cg_entry:
	mov ebp, esp
	mov eax, ebp			; ESP0 - 24
	call report
	mov eax, [ebp + 20]		; SS 23
	call report
	mov eax, [ebp + 16]		; ESP STACK3 - 8
	call report
	mov eax, [ebp + 12]		; AAAA0001
	call report
	mov eax, [ebp + 8]		; BBBB0002
	call report
	mov eax, [ebp + 4]		; CS 1B
	call report
	mov eax, [ebp]			; EIP after_cg
	call report
	mov ax, 0x10			; DPL 0: RETF to ring 3 must null it
	mov ds, ax
	retf 8

sysenter_entry:
	mov eax, cs			; 08
	call report
	mov eax, ss			; 10
	call report
	mov eax, esp			; SE_STACK
	call report
	pushfd				; IF, VM, RF clear; IOPL 3 kept
	pop eax
	call report
	mov ecx, ebp
	mov edx, after_sysexit
	sysexit

; INT 0x81: ring 0 again; enter IA-32e mode with a 2 MiB identity page
; that ring 3 may use.
int81:	mov ax, 0x10			; DPL 0: IRETQ to ring 3 must null it
	mov ds, ax
	mov dword [PML4], PML4 + 0x1007
	mov dword [PML4 + 0x1000], PML4 + 0x2007
	mov dword [PML4 + 0x2000], 0x87
	mov eax, cr4
	or eax, 0x20			; PAE
	mov cr4, eax
	mov eax, PML4
	mov cr3, eax
	mov ecx, 0xC0000080
	rdmsr
	or eax, 0x101			; LME, SCE
	wrmsr
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	jmp 0x38:long64

	bits 64
long64:	mov ecx, 0xC0000081		; STAR
	xor eax, eax
	mov edx, 0x00480038
	wrmsr
	inc ecx				; LSTAR
	mov eax, syscall_entry
	xor edx, edx
	wrmsr
	mov ecx, 0xC0000084		; FMASK: DF
	mov eax, 0x400
	wrmsr
	; IRETQ to ring 3 (64-bit): RIP CS RFLAGS RSP SS.
	push qword 0x53
	push qword STACK3_64
	push qword 0x3402		; IOPL 3, DF
	push qword 0x5B
	push qword ring3_64
	iretq

ring3_64:
	mov eax, cs			; 5B
	call report
	mov eax, ss			; 53
	call report
	mov rax, rsp			; STACK3_64
	call report
	mov eax, ds			; 0: DS (10) nulled by IRETQ to ring 3
	call report
	syscall
AT 0x7E36
after_syscall:
	mov eax, cs			; 5B
	call report
	mov eax, ss			; 53
	call report
	pushfq				; 3402: R11 restored
	pop rax
	call report
	mov rax, rsp			; STACK3_64
	call report
	mov eax, 0
AT 0x7E58
	out 0xF4, al

syscall_entry:
	mov rax, rcx			; after_syscall
	call report
	mov rax, r11			; 3402
	call report
	pushfq				; 3002: FMASK cleared DF
	pop rax
	call report
	mov eax, cs			; 38
	call report
	mov eax, ss			; 40
	call report
	mov rax, rsp			; STACK3_64: SYSCALL keeps RSP
	call report
	o64 sysret

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 08 code32 DPL0
	dq 0x00CF93000000FFFF		; 10 data DPL0
	dq 0x00CFFB000000FFFF		; 18 code32 DPL3
	dq 0x00CFF3000000FFFF		; 20 data DPL3
	dw 0x67, tss, 0x8900, 0		; 28 TSS32, available
	dw cg_entry, 0x08, 0xEC02, 0	; 30 call gate DPL3, 2 params
	dq 0x00AF9B000000FFFF		; 38 code64 DPL0
	dq 0x00CF93000000FFFF		; 40 data DPL0
	dq 0x00CFFB000000FFFF		; 48 code32 DPL3
	dq 0x00CFF3000000FFFF		; 50 data DPL3
	dq 0x00AFFB000000FFFF		; 58 code64 DPL3
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

	align 8
idt:	times 0x80 dq 0
	dw int80, 0x08, 0xEE00, 0	; 80 interrupt gate DPL3
	dw int81, 0x08, 0xEE00, 0	; 81
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dd idt

AT 0x830E
tss:	dd 0, ESP0, 0x10
	times 104 - 12 db 0
