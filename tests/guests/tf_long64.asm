; tf_long64: EFLAGS.TF single-step in 64-bit mode (16-byte gates, SDM
; vol. 3 6.14), for tests/test_single_step.c.  Paging as ev_long_pf.asm:
; the first GiB identity-mapped with 2 MiB pages.  The #DB handler reports
; the pushed RIP's low half with OUT 0x80, EAX.

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
	mov ecx, 0xC0000080		; IA32_EFER
	mov eax, 0x100			; LME
	xor edx, edx
	wrmsr
	mov eax, 0x80000011		; PG | PE | ET
	mov cr0, eax
	jmp SEL_CODE64:lm64

	bits 64
lm64:	lidt [idt_desc]
	mov rsp, 0x30000
	mov rdi, 0x8000
	mov al, 0x5A
	pushfq
	or qword [rsp], 0x100
AT 0x7C6C
	popfq				; sets TF
AT 0x7C6D
	mov ebx, 1			; #DB 0x7C72
AT 0x7C72
	inc rbx				; #DB 0x7C75
AT 0x7C75
	mov ecx, 2			; #DB 0x7C7A
AT 0x7C7A
	rep stosb			; #DB 0x7C7A, 0x7C7C
AT 0x7C7C
	int 0x80			; not stepped
AT 0x7C7E
	nop				; #DB 0x7C7F
AT 0x7C7F
	pushfq				; #DB 0x7C80
	and qword [rsp], ~0x100		; #DB 0x7C88
AT 0x7C88
	popfq				; #DB 0x7C89
AT 0x7C89
	nop				; not stepped
	mov al, 0
	out 0xF4, al

int_handler:
	out 0x81, al
	iretq

db_handler:
	push rax
	mov rax, [rsp + 8]
	out 0x80, eax			; the pushed RIP (low half)
	pop rax
	iretq

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 code32
	dq 0x00CF93000000FFFF		; 0x10 data
	dq 0x00AF9B000000FFFF		; 0x18 code64
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

%macro GATE64 1
	dw %1
	dw SEL_CODE64
	db 0, 0x8E			; interrupt gate, no IST
	dw 0				; the handlers are below 64 KiB
	dd 0
	dd 0
%endmacro

	align 16
idt:
	dq 0, 0
	GATE64 db_handler		; 0x01
	times (0x80 - 2) * 2 dq 0
	GATE64 int_handler		; 0x80
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dq idt

	times PML4 - LOAD_ADDR - ($ - $$) db 0
	dq PDPT | 0x23			; P | RW | A
	times 511 dq 0
	dq PD | 0x23
	times 511 dq 0
%assign i 0
%rep 512
	dq (i << 21) | 0xE3		; P | RW | A | D | PS
%assign i i + 1
%endrep
