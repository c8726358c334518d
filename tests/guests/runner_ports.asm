; runner_ports: the runner's port devices, checked by the guest itself.
; Real mode.  Each check that fails ends the run with its number as the
; isa-debug-exit status; all passing prints "ports ok\n" on the debug
; console and 'U' through COM1, then exits with status 0.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

%macro EXPECT_EAX 2		; value, check number
	cmp eax, %1
	mov bl, %2
	jne fail
%endmacro

	mov eax, 0x12345678
	mov dx, 0x3FD
	in al, dx			; LSR: THR empty, transmitter empty
	EXPECT_EAX 0x12345660, 1
	mov dx, 0x1234
	in ax, dx			; unclaimed: all ones, upper half kept
	EXPECT_EAX 0x1234FFFF, 2
	in al, 0xE9			; debugcon readback
	EXPECT_EAX 0x1234FFE9, 3
	in eax, 0xE9
	EXPECT_EAX 0xE9E9E9E9, 4
	xor eax, eax
	in al, 0xF4			; isa-debug-exit reads all ones
	EXPECT_EAX 0x000000FF, 5

	; COM1 with DLAB: the divisor latch reads back
	mov dx, 0x3FB
	mov al, 0x80
	out dx, al
	mov dx, 0x3F8
	mov al, 0x0C
	out dx, al
	inc dx
	mov al, 0x01
	out dx, al			; DLM
	xor eax, eax
	mov dx, 0x3F8
	in al, dx
	EXPECT_EAX 0x0C, 6
	inc dx
	in al, dx
	EXPECT_EAX 0x01, 7
	mov dx, 0x3FB
	mov al, 0x03			; 8N1, DLAB off
	out dx, al
	in al, dx
	EXPECT_EAX 0x03, 8
	mov dx, 0x3F9
	mov al, 0xFF
	out dx, al			; IER keeps its low 4 bits
	in al, dx
	EXPECT_EAX 0x0F, 9
	mov dx, 0x3FA
	in al, dx			; IIR: no interrupt pending
	EXPECT_EAX 0x01, 10
	mov dx, 0x3FF
	mov al, 0x5A
	out dx, al			; SCR
	in al, dx
	EXPECT_EAX 0x5A, 11
	mov dx, 0x3F8
	in al, dx			; RBR: nothing received
	EXPECT_EAX 0x00, 12
	mov al, 'U'
	out dx, al			; THR -> guest output

	mov si, msg
.puts:	lodsb
	test al, al
	jz .done
	out 0xE9, al
	jmp .puts
.done:	mov bl, 0
fail:	mov al, bl
	out 0xF4, al
	cli
	hlt

msg:	db "ports ok", 10, 0
