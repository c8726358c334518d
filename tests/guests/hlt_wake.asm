; hlt_wake: CLI; HLT with a #UD handler at IVT entry 6, for the
; VM_CAP_HALT_EXIT tests (tests/test_hlt_mtrap.c).  Without the
; capability the vcpu stays in the HLT state until an event is injected;
; the injected #UD's handler reports the IP it interrupted (the one after
; the HLT) with OUT 0x80, AX, then ends the guest.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
AT 0x7C04
	mov word [6 * 4], ud_handler	; PAGING write 0x0000
	mov word [6 * 4 + 2], 0
AT 0x7C10
	cli
AT 0x7C11
	hlt
AT 0x7C12
	jmp $

ud_handler:
	mov bp, sp
	mov ax, [bp]			; the interrupted IP
AT 0x7C19
	out 0x80, ax
	mov al, 0
AT 0x7C1D
	out 0xF4, al
