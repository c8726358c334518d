; string_io: INS/OUTS in flat 32-bit protected mode, for the INOUT_STR tests.
; The caller emulates the string I/O, as bhyverun does (BHYVE-EXITS.md
; section 3): at most 16 iterations per exit, then the instruction restarts
; with the updated index and count until the count is 0.
;
;   rip     instruction        exit(s)
;   0x7C31  rep outsb          3 x INOUT_STR: count 40, 24, 8; index +16 each
;   0x7C3E  fs outsb           INOUT_STR: seg_name FS (base 0x7C00), count 1
;   0x7C40  mov [0x2000], 0    PAGING write 0x2000 (the INSW target page)
;   0x7C63  a16 rep insw       INOUT_STR: DF = 1, addrsize 2, the full RDI
;                              and RCX as index and count (not masked)
; then OUT 0x80 of what the caller stored and of EDI and ECX after it, and
; OUT 0xF4.

%include "testguest.inc"

SEL_FS_7C00 equ 0x18		; data segment with base 0x7C00

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	cld
	mov esi, msg
	mov ecx, 40
	mov dx, 0xE9
AT 0x7C31
	rep outsb

	mov ax, SEL_FS_7C00
	mov fs, ax
	mov esi, msg - LOAD_ADDR	; FS:ESI = msg
AT 0x7C3E
	fs outsb

AT 0x7C40
	mov dword [0x2000], 0		; first touch of the page INSW fills
	mov dword [0x2004], 0
	mov edi, 0xABCD2004		; DI = 0x2004; bits 31:16 must survive
	mov ecx, 0x55550003		; CX = 3; bits 31:16 must survive
	mov dx, 0x80
	std
AT 0x7C63
	a16 rep insw			; words to 0x2004, 0x2002, 0x2000
	cld
	mov eax, [0x2000]
AT 0x7C6D
	out 0x80, eax			; 0x22223333
	mov eax, [0x2004]
AT 0x7C74
	out 0x80, eax			; 0x00001111
	mov eax, edi
AT 0x7C78
	out 0x80, eax			; 0xABCD1FFE
	mov eax, ecx
AT 0x7C7C
	out 0x80, eax			; 0x55550000
	mov al, 0
AT 0x7C80
	out 0xF4, al
	cli
	hlt

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 code, base 0, 4 GiB, 32-bit
	dq 0x00CF93000000FFFF		; 0x10 data, base 0, 4 GiB
	dq 0x00CF93007C00FFFF		; 0x18 data, base 0x7C00, 4 GiB
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

AT 0x7CAE
msg:	db "0123456789abcdefghijklmnopqrstuvwxyzABCD"	; 40 bytes
