; mtrap: a few instructions of each kind for the VM_CAP_MTRAP_EXIT tests
; (tests/test_hlt_mtrap.c): plain ones, a REP STOSB of two iterations, a
; fault (UD2, IVT entry 6, whose handler steps over it), an OUT (an exit
; of its own), then the isa-debug-exit OUT.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

AT 0x7C00
	xor ax, ax
AT 0x7C02
	mov ds, ax
AT 0x7C04
	mov es, ax
AT 0x7C06
	mov word [6 * 4], ud_handler	; PAGING write 0x0000
AT 0x7C0C
	mov di, 0x8000
AT 0x7C0F
	mov cx, 2
AT 0x7C12
	rep stosb			; PAGING write 0x8000; two iterations
AT 0x7C14
	ud2				; #UD through IVT entry 6
AT 0x7C16
	out 0x80, al
AT 0x7C18
	mov al, 0
AT 0x7C1A
	out 0xF4, al

AT 0x7C1C
ud_handler:
	push bp
AT 0x7C1D
	mov bp, sp
AT 0x7C1F
	add word [bp + 2], 2		; step over the UD2
AT 0x7C23
	pop bp
AT 0x7C24
	iret
