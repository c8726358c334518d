; tf_pm32: EFLAGS.TF single-step in 32-bit protected mode (interrupt
; gates, SDM vol. 3 6.12), for tests/test_single_step.c.  The #DB handler
; reports the pushed EIP with OUT 0x80, EAX.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	lidt [idt_desc]
	mov esp, 0x7C04
	mov esi, src
	mov edi, 0x8000
	pushfd
	or dword [esp], 0x100
AT 0x7C40
	popfd				; sets TF
AT 0x7C41
	mov ebx, 1			; #DB 0x7C46
AT 0x7C46
	inc ebx				; #DB 0x7C47
AT 0x7C47
	mov ecx, 2			; #DB 0x7C4C
AT 0x7C4C
	rep movsb			; #DB 0x7C4C, 0x7C4E
AT 0x7C4E
	int 0x80			; not stepped
AT 0x7C50
	nop				; #DB 0x7C51
AT 0x7C51
	pushfd				; #DB 0x7C52
	and dword [esp], ~0x100		; #DB 0x7C59
AT 0x7C59
	popfd				; #DB 0x7C5A
AT 0x7C5A
	nop				; not stepped
	mov al, 0
	out 0xF4, al

int_handler:
	out 0x81, al
	iretd

db_handler:
	push eax
	mov eax, [esp + 4]
	out 0x80, eax			; the pushed EIP
	pop eax
	iretd

src:	db 1, 2

	GDT32

%macro GATE32 1
	dw %1
	dw SEL_CODE32
	db 0, 0x8E			; 32-bit interrupt gate, DPL 0
	dw 0
%endmacro

	align 8
idt:
	dq 0
	GATE32 db_handler		; 0x01
	times 0x80 - 2 dq 0
	GATE32 int_handler		; 0x80
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dd idt
