; exits_inout: a fixed sequence of port I/O in real mode, for the exact
; exit-stream test (tests/test_exit_stream.c).
;
; Every OUT and IN form the test checks is here once: 1, 2 and 4 bytes, the
; imm8 and the DX port forms, on the debug port 0xE9, the POST port 0x80 and
; the COM1 block 0x3F8-0x3FF.  None of these ports has a handler inside the
; vmm, so each one is an INOUT exit returned to the caller.  Between them the
; guest first-touches two data pages, one by a write and one by a read, so
; the stream also holds handled PAGING exits at known places.
;
; The IN results come from the test: each IN is followed by an OUT of the
; same register, so the next exit's eax shows the value the test merged into
; RAX really reached the guest.  The AT lines pin the addresses the test
; expects (see testguest.inc).

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

AT 0x7C00
	mov eax, 0x12345678
AT 0x7C06
	out 0xE9, al			; INOUT out 1 byte, port 0xE9
AT 0x7C08
	out 0x80, ax			; out 2 bytes, imm8 port
AT 0x7C0A
	out 0x80, eax			; out 4 bytes, imm8 port (0x66 prefix)
	mov dx, 0x3F8
AT 0x7C10
	out dx, al			; out 1 byte, DX port
	inc dx
AT 0x7C12
	out dx, ax			; out 2 bytes, DX port 0x3F9
	mov dx, 0x3FC
AT 0x7C16
	out dx, eax			; out 4 bytes, DX port 0x3FC

	; Fresh data pages: 0x3000 first touched by a write, 0x4000 by a read.
	; The second access to 0x3000 is a read and must not exit again.
AT 0x7C18
	mov byte [0x3000], 0x5A		; PAGING write, gpa 0x3000
AT 0x7C1D
	mov bl, [0x4000]		; PAGING read, gpa 0x4000
	mov bl, [0x3001]		; same page as the write: no exit

AT 0x7C25
	in al, 0x80			; in 1 byte, imm8 port
AT 0x7C27
	out 0xE9, al			; echoes what the test merged into AL
	mov dx, 0x3FD
AT 0x7C2C
	in al, dx			; in 1 byte, DX port (LSR)
AT 0x7C2D
	in ax, dx			; in 2 bytes, DX port
AT 0x7C2E
	in eax, 0x80			; in 4 bytes, imm8 port
AT 0x7C31
	in eax, dx			; in 4 bytes, DX port
AT 0x7C33
	out 0x80, eax			; echoes the last IN

	mov al, 0
AT 0x7C38
	out 0xF4, al			; status 0: the test stops here
halt:	cli
	hlt
	jmp halt
