; bcd: the decimal-arithmetic adjustments over many inputs, for
; tests/test_atomic_bcd.c.  DAA, DAS, AAA, AAS, AAM and AAD do not exist in
; 64-bit mode, so this guest runs them in flat 32-bit protected mode.
;
; Each SWEEP runs one instruction once per (AH, input flags, AL), in that
; nesting order, AL innermost from 0 to 255, and reports each result with
; OUT 0x80, EAX: bits 15:0 AX after the instruction, bits 31:16 the low 16
; bits of EFLAGS after it.  The AH values and the input flags come from the
; tables at the end; the test walks the same tables in the same order, so
; the tables here and in the test must stay in step.
;
; After the sweeps: OUT 0x81 (end of the sweeps), then AAM 0, whose #DE the
; handler reports: OUT 0x82 with the address of the AAM (before it runs),
; OUT 0x83 with the vector and OUT 0x84 with the EIP the exception pushed,
; then OUT 0xF4.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov esp, LOAD_ADDR
	lidt [idt_desc]

; SWEEP insn, ah_table, ah_count, flag_count: see above.  The first
; flag_count entries of flagtab are used.
%macro SWEEP 4
	xor esi, esi
%%ah:	xor edi, edi
%%fl:	xor ebx, ebx
%%al:	push dword [flagtab + edi*4]
	popfd
	mov ah, [%2 + esi]
	mov al, bl
	%1
	pushfd
	pop edx
	shl edx, 16
	mov dx, ax
	mov eax, edx
	out 0x80, eax
	inc ebx
	cmp ebx, 256
	jb %%al
	inc edi
	cmp edi, %4
	jb %%fl
	inc esi
	cmp esi, %3
	jb %%ah
%endmacro

	SWEEP daa, ah_one, 1, 8
	SWEEP das, ah_one, 1, 8
	SWEEP aaa, ah_some, AH_SOME, 8
	SWEEP aas, ah_some, AH_SOME, 8
	SWEEP {aam 10}, ah_one, 1, 2
	SWEEP {aam 16}, ah_one, 1, 2
	SWEEP {aam 1}, ah_one, 1, 2
	SWEEP {aam 7}, ah_one, 1, 2
	SWEEP {aam 255}, ah_one, 1, 2
	SWEEP {aad 10}, ah_many, AH_MANY, 2
	SWEEP {aad 16}, ah_many, AH_MANY, 2
	SWEEP {aad 0}, ah_many, AH_MANY, 2
	SWEEP {aad 7}, ah_many, AH_MANY, 2
	SWEEP {aad 255}, ah_many, AH_MANY, 2

	mov al, 0
	out 0x81, al

	mov eax, aam0
	out 0x82, eax
aam0:	aam 0				; #DE
	mov al, 1			; not reached: a missing #DE
	out 0xF4, al
	hlt

; Every vector's gate leads here with its number pushed after what the
; processor pushed (EIP, CS, EFLAGS; #DE has no error code).
%assign v 0
%rep 32
exc%[v]:
	push dword v
	jmp report
%assign v v + 1
%endrep

report:	pop eax				; vector
	out 0x83, eax
	mov eax, [esp]			; EIP pushed by the processor (no error code)
	out 0x84, eax
	mov al, 0
	out 0xF4, al
	cli
	hlt

flagtab:
	dd 0x002			; no arithmetic flag
	dd 0x8D7			; OF SF ZF AF PF CF
	dd 0x003			; CF
	dd 0x012			; AF
	dd 0x013			; AF CF
	dd 0x8C6			; OF SF ZF PF
	dd 0x8C7			; OF SF ZF PF CF
	dd 0x8D6			; OF SF ZF AF PF

ah_one:	db 0x5A
ah_some:
	db 0x00, 0x7F, 0xFF, 0x09
AH_SOME equ $ - ah_some
ah_many:
	db 0x00, 0x01, 0x02, 0x09, 0x10, 0x7F, 0x80, 0xFF, 0x55
AH_MANY equ $ - ah_many

; 32 interrupt gates, selector SEL_CODE32, DPL 0, present.
	align 8
idt:
%assign v 0
%rep 32
	dw exc%[v]			; offset 15:0 (the image is below 64 KiB)
	dw SEL_CODE32
	dw 0x8E00			; 32-bit interrupt gate
	dw 0				; offset 31:16
%assign v v + 1
%endrep
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dd idt

	GDT32
