; strio_pm32: INS/OUTS in flat 32-bit protected mode, for
; tests/test_string_io.c (recording device on port 0x510).
;
;   rip     instruction             what it shows
;   0x7C62  rep outsd, ESI=0x2FFA   the second dword straddles pages 0x2000
;                                   and 0x3000: two copy chunks
;   0x7C74  std; rep insw, 0x3001   DF = 1; the word at 0x2FFF straddles
;   0x7C96  fs outsb, ESI = 0xFFF   FS's last byte (limit 0xFFF, base 0x8000)
;   0x7CA7  rep fs outsb, 0xFFE     two bytes, then offset 0x1000 is past the
;                                   limit: #GP(0) is injected with ESI and
;                                   ECX showing the two elements done, and
;                                   taken at the instruction
;   0x7CB4  fs outsw, ESI = 0xFFF   the word's second byte is past the
;                                   limit: #GP(0) before any transfer
; The #GP handler records the error code, the faulting EIP and a count at
; RES + 0xF0, and steps over the 3-byte instruction.  After each scenario
; the guest stores ESI, EDI and ECX at RES + 16 * n.

%include "testguest.inc"

PORT	equ 0x510
RES	equ 0x9000
SEL_FS	equ 0x18		; base 0x8000, limit 0xFFF, bytes

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	lidt [idt_desc]
	mov dx, PORT
	xor ebx, ebx
	mov dword [0x2FF8], 0x44332211	; PAGING write 0x2000
	mov dword [0x2FFC], 0x88776655
	mov dword [0x3000], 0xCCBBAA99	; PAGING write 0x3000
	mov dword [0x3004], 0x00FFEEDD

	mov esi, 0x2FFA
	mov ecx, 3
	cld
AT 0x7C62
p1:	rep outsd			; 0x2FFA, 0x2FFE, 0x3002
	call save			; slot 0, PAGING write 0x9000

	mov edi, 0x3001
	mov ecx, 3
	std
AT 0x7C74
p2:	rep insw			; 0x3001, 0x2FFF, 0x2FFD
	cld
	call save			; slot 1

	mov ax, SEL_FS
	mov fs, ax
	mov byte [0x8FFF], 0x5A		; PAGING write 0x8000
	mov byte [0x8FFE], 0xA5
	mov esi, 0xFFF
AT 0x7C96
p3:	fs outsb			; 0x5A
	call save			; slot 2

	mov esi, 0xFFE
	mov ecx, 4
AT 0x7CA7
p4:	rep fs outsb			; 0xA5, 0x5A, then #GP(0)
	call save			; slot 3

	mov esi, 0xFFF
AT 0x7CB4
p5:	fs outsw			; #GP(0)
	call save			; slot 4

	mov al, 0
AT 0x7CBE
	out 0xF4, al
	cli
	hlt

save:
	mov [RES + ebx], esi
	mov [RES + ebx + 4], edi
	mov [RES + ebx + 8], ecx
	add ebx, 16
	ret

gp_handler:
	pop eax				; error code
	mov [RES + 0xF0], eax
	mov eax, [esp]			; EIP
	mov [RES + 0xF4], eax
	add dword [esp], 3
	inc dword [RES + 0xF8]
	iretd

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 code, base 0, 4 GiB, 32-bit
	dq 0x00CF93000000FFFF		; 0x10 data, base 0, 4 GiB
	dq 0x0040930080000FFF		; 0x18 data, base 0x8000, limit 0xFFF
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

	align 8
idt:	times 13 dq 0
	dw gp_handler, SEL_CODE32, 0x8E00, 0	; 13: 32-bit interrupt gate
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dd idt
