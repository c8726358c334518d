; tf_real: EFLAGS.TF single-step in real mode, for tests/test_single_step.c.
;
; The #DB handler (IVT entry 1) reports the pushed IP with OUT 0x80, AX;
; the test reads DR6 at that exit.  The stepped code: POPF setting TF (no
; trap after it), plain instructions, a REP MOVSB of three iterations (a
; trap after each), INT 0x80 (its handler is not stepped, and no trap
; follows the INT), MOV SS (its trap waits for the next instruction), and
; the POPF clearing TF (which traps).

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov es, ax
	mov word [1 * 4], db_handler
	mov word [1 * 4 + 2], 0
	mov word [0x80 * 4], int_handler
	mov word [0x80 * 4 + 2], 0
	mov si, src
	mov di, 0x8000
	pushf
	pop ax
	or ax, 0x100
	push ax
AT 0x7C2A
	popf				; sets TF: no trap after it
AT 0x7C2B
	mov bx, 1			; #DB, IP 0x7C2E
AT 0x7C2E
	inc bx				; #DB, IP 0x7C2F
AT 0x7C2F
	mov cx, 3			; #DB, IP 0x7C32
AT 0x7C32
	rep movsb			; #DB 0x7C32, 0x7C32, 0x7C34
AT 0x7C34
	int 0x80			; OUT 0x81 from the handler; no #DB
AT 0x7C36
	nop				; #DB, IP 0x7C37
AT 0x7C37
	mov ax, ss			; #DB, IP 0x7C39
AT 0x7C39
	mov ss, ax			; trap held
AT 0x7C3B
	nop				; one #DB, IP 0x7C3C
AT 0x7C3C
	pushf				; #DB 0x7C3D
	pop ax				; #DB 0x7C3E
	and ax, 0xFEFF			; #DB 0x7C41
	push ax				; #DB 0x7C42
AT 0x7C42
	popf				; clears TF: #DB, IP 0x7C43
AT 0x7C43
	nop				; not stepped
	mov al, 0
AT 0x7C46
	out 0xF4, al

int_handler:
AT 0x7C48
	out 0x81, al
	iret

db_handler:
	push bp
	mov bp, sp
	push ax
	mov ax, [bp + 2]
AT 0x7C52
	out 0x80, ax			; the pushed IP
	pop ax
	pop bp
	iret

src:	db 1, 2, 3
