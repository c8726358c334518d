; intr_shadow: the interrupt shadow of STI and MOV SS with ExtINTs, for
; tests/test_intr_shadow.c.  An ExtINT is vector 7 (the spurious IRQ 7 of
; an 8259 nobody programmed, core/run.c); its handler reports the pushed
; IP with OUT 0x80, AX.  The test injects at the OUT 0x81 and 0x82 exits.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov word [7 * 4], irq_handler
	mov word [7 * 4 + 2], 0
AT 0x7C10
	out 0x81, al			; ExtINT injected here, IF = 0: it waits
	nop
AT 0x7C13
	sti				; IF 0 -> 1: blocking by STI
AT 0x7C14
	nop				; runs in the shadow
AT 0x7C15
	nop				; the ExtINT comes before it: pushed IP 0x7C15
	cli
AT 0x7C17
	out 0x82, al			; ExtINT injected here
	sti
AT 0x7C1A
	hlt				; in the shadow; woken: pushed IP 0x7C1B
AT 0x7C1B
	cli
	sti
AT 0x7C1D
	out 0x83, al			; in the STI shadow: INTR_SHADOW reads 1
	mov ax, ss
	mov ss, ax
AT 0x7C23
	out 0x84, al			; in the MOV SS shadow
	mov al, 0
AT 0x7C27
	out 0xF4, al

irq_handler:
	push bp
	mov bp, sp
	mov ax, [bp + 2]
AT 0x7C2F
	out 0x80, ax			; the pushed IP
	pop bp
	iret
