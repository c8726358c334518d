; runner_msr: WRMSR to an MSR bhyverun ignores continues; WRMSR and RDMSR
; to any other MSR take #GP at the same instruction.  Real mode: the #GP
; handler is IVT entry 13.  Exit status: 0 when both faults arrive at the
; right instruction, else the number of the failed check.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov word [13 * 4], gp_handler
	mov word [13 * 4 + 2], 0
	mov ecx, 0x79			; IA32_BIOS_UPDT_TRIG: ignored
	xor eax, eax
	xor edx, edx
	wrmsr
	mov di, 0			; faults seen
	mov ecx, 0x12345678		; no such MSR
wr_at:	wrmsr
	mov bl, 1
	cmp di, 1
	jne fail
	mov ecx, 0x12345678
rd_at:	rdmsr
	mov bl, 2
	cmp di, 2
	jne fail
	mov bl, 0
fail:	mov al, bl
	out 0xF4, al
	cli
	hlt

; Count the fault, check where it came from, and skip the 2-byte instruction.
gp_handler:
	inc di
	mov bp, sp
	mov ax, [bp]			; faulting IP
	mov bl, 3
	cmp di, 1
	jne .second
	cmp ax, wr_at
	jne fail
	jmp .skip
.second:
	mov bl, 4
	cmp ax, rd_at
	jne fail
.skip:	add word [bp], 2
	iret
