; runner_msr_ignore: run with --ignore-unknown-msrs (bhyve's -w).  RDMSR
; of an MSR nobody emulates returns 0 in EDX:EAX (RAX and RDX cleared)
; and WRMSR of one is dropped; neither takes #GP.  Exit status 0, else the
; number of the failed check (9: a #GP arrived).

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov word [13 * 4], gp_handler
	mov word [13 * 4 + 2], 0
	mov eax, 0xAAAAAAAA
	mov edx, 0x55555555
	mov ecx, 0x12345678		; no such MSR
AT 0x7C22
	wrmsr
	mov bl, 1
	cmp eax, 0xAAAAAAAA		; WRMSR changes no register
	jne fail
	cmp edx, 0x55555555
	jne fail
AT 0x7C37
	rdmsr
	mov bl, 2
	cmp eax, 0
	jne fail
	mov bl, 3
	cmp edx, 0
	jne fail
	mov bl, 0
fail:	mov al, bl
AT 0x7C4D
	out 0xF4, al
	cli
	hlt

gp_handler:
	mov bl, 9
	jmp fail
