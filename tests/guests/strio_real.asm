; strio_real: INS/OUTS in real mode, for tests/test_string_io.c, which
; emulates each INOUT_STR exit with the runner's inout_str_emulate and a
; recording device on port 0x510 (BHYVE-EXITS.md section 3).
;
;   rip     instruction         what it shows
;   0x7C22  rep outsb, CX = 20  16 elements per exit: counts 20 then 4
;   0x7C31  std; rep outsw      DF = 1: SI steps down by 2
;   0x7C4F  rep outsb           SI = 0xFFFE wraps to 0 (16-bit address
;                               size), ESI bits 31:16 and ECX's kept
;   0x7C57  rep outsd, CX = 0   nothing moves; the exit's count is the full
;                               ECX (0xABCD0000), masked to CX = 0
;   0x7C69  rep insb            five bytes from the device into buf_in
;   0x7C74  insd, outsd         no REP: count 1, RCX untouched
;   0x7C84  outsw, SI = 0xFFFF  no #GP: bhyve's vie_calculate_gla checks each
;                               byte's offset at the address size, so the
;                               second byte's offset wraps to 0, inside the
;                               limit; the word is read at linear 0xFFFF and
;                               0x10000 (a CPU would raise #GP(0): the
;                               #GP handler would record the IP at RES+0xF0)
; After each scenario the guest stores ESI, EDI and ECX at RES + 16 * n.

%include "testguest.inc"

PORT	equ 0x510
RES	equ 0x9000
BUF_IN	equ 0x9100

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov es, ax
	mov word [13 * 4], gp_handler	; PAGING write 0x0000
	mov word [13 * 4 + 2], 0
	mov dx, PORT
	cld

	mov esi, msg
	mov ecx, 20
AT 0x7C22
s1:	rep outsb
	call save			; slot 0; PAGING write 0x9000

	std
	mov esi, msg + 5
	mov cx, 3
AT 0x7C31
s2:	rep outsw			; msg+5, msg+3, msg+1
	cld
	call save			; slot 1

	mov word [0xFFFE], 0xBBAA	; PAGING write 0xF000
	mov word [0x0000], 0xDDCC	; IVT entry 0, unused here
	mov esi, 0x1234FFFE
	mov ecx, 0xABCD0004
AT 0x7C4F
s3:	rep outsb			; 0xFFFE, 0xFFFF, 0x0000, 0x0001
	call save			; slot 2

	mov cx, 0			; ECX = 0xABCD0000
AT 0x7C57
s4:	rep outsd
	call save			; slot 3

	mov edi, BUF_IN
	mov ecx, 5
AT 0x7C69
s5:	rep insb
	call save			; slot 4

	mov ecx, 0x77
AT 0x7C74
s6:	insd				; 4 bytes at BUF_IN + 5
	mov esi, msg + 8
AT 0x7C7C
s6b:	outsd				; "89ab"
	call save			; slot 5

	mov si, 0xFFFF
AT 0x7C84
s7:	outsw				; no #GP: 0x00BB
	call save			; slot 6

	mov al, 0
AT 0x7C8A
	out 0xF4, al
	cli
	hlt

; slot n: ESI, EDI, ECX at RES + 16 * n (BX counts the slots).
save:
	push bx
	shl bx, 4
	mov [RES + bx], esi
	mov [RES + bx + 4], edi
	mov [RES + bx + 8], ecx
	pop bx
	inc bx
	ret

; A #GP: record the faulting IP, step over the 1-byte OUTSW (not reached).
gp_handler:
	push bp
	mov bp, sp
	mov ax, [bp + 2]
	mov [RES + 0xF0], ax
	inc word [bp + 2]
	pop bp
	iret

AT 0x7CB2
msg:	db "0123456789abcdefghijKLMN"
