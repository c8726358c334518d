; demo: the guest `make demo` runs.  It starts in real mode at 0000:7C00
; (the bench convention), prints one line in each mode it passes through
; (real, 32-bit protected, 64-bit long mode) on the 16550 UART at 0x3F8, and
; ends with CLI; HLT, which ends the run as SUSPENDED {HALT}.
;
; Each byte waits for the UART's transmitter-holding-register-empty bit (LSR
; bit 5) first, as a driver for real hardware must, so the run shows IN and
; OUT exits in every mode.  The text is fixed: demo.expected holds it and
; tests compare it byte for byte.

UART_THR    equ 0x3F8		; transmit holding register
UART_LSR    equ 0x3FD		; line status register
LSR_THRE    equ 0x20		; THR empty: a byte may be written

SEL_CODE32  equ 0x08
SEL_DATA32  equ 0x10
SEL_CODE64  equ 0x18

STACK_TOP   equ 0x7C00		; below the image, as the entry SP
PT          equ 0x10000		; PML4; the PDPT at +0x1000, the PD at +0x2000

	bits 16
	org 0x7C00

start:	cli
	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov sp, STACK_TOP
	mov si, msg_real
	call puts16

	; Real -> 32-bit protected mode, flat segments.
	lgdt [gdt_desc]
	mov eax, 0x00000011		; PE | ET
	mov cr0, eax
	jmp SEL_CODE32:pm32

; puts16: print the zero-terminated string at DS:SI.  Clobbers AX, DX, SI.
puts16:	mov ah, [si]
	test ah, ah
	jz .done
	mov dx, UART_LSR
.wait:	in al, dx
	test al, LSR_THRE
	jz .wait
	mov al, ah
	mov dx, UART_THR
	out dx, al
	inc si
	jmp puts16
.done:	ret

	bits 32
pm32:	mov ax, SEL_DATA32
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	mov ss, ax
	mov esp, STACK_TOP
	mov esi, msg_prot
	call puts32

	; 4-level tables identity-mapping the first 64 MiB with 2 MiB pages.
	; Accessed and dirty bits are preset so the walks never write them.
	mov edi, PT
	xor eax, eax
	mov ecx, 3 * 1024
.zero:	mov [edi], eax
	add edi, 4
	dec ecx
	jnz .zero
	mov dword [PT], PT + 0x1000 + 0x23		; P | RW | A
	mov dword [PT + 0x1000], PT + 0x2000 + 0x23
	mov edi, PT + 0x2000
	mov eax, 0xE3					; P | RW | A | D | PS
	mov ecx, 32
.pd:	mov [edi], eax
	add eax, 0x200000
	add edi, 8
	dec ecx
	jnz .pd

	; PAE, then CR3, then EFER.LME, then paging: long mode (SDM vol. 3 9.8.5).
	mov eax, 0x20			; CR4.PAE
	mov cr4, eax
	mov eax, PT
	mov cr3, eax
	mov ecx, 0xC0000080		; IA32_EFER
	mov eax, 0x100			; LME
	xor edx, edx
	wrmsr
	mov eax, 0x80000011		; PG | PE | ET
	mov cr0, eax
	jmp SEL_CODE64:lm64

; puts32: print the zero-terminated string at ESI.  Clobbers EAX, EDX, ESI.
puts32:	mov ah, [esi]
	test ah, ah
	jz .done
	mov dx, UART_LSR
.wait:	in al, dx
	test al, LSR_THRE
	jz .wait
	mov al, ah
	mov dx, UART_THR
	out dx, al
	inc esi
	jmp puts32
.done:	ret

	bits 64
lm64:	mov rsp, STACK_TOP
	mov rsi, msg_long
	call puts64
	cli
.halt:	hlt
	jmp .halt			; only if something wakes the vcpu

; puts64: print the zero-terminated string at RSI.  Clobbers RAX, RDX, RSI.
puts64:	mov ah, [rsi]
	test ah, ah
	jz .done
	mov dx, UART_LSR
.wait:	in al, dx
	test al, LSR_THRE
	jz .wait
	mov al, ah
	mov dx, UART_THR
	out dx, al
	inc rsi
	jmp puts64
.done:	ret

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 code32, base 0, 4 GiB
	dq 0x00CF93000000FFFF		; 0x10 data32, base 0, 4 GiB
	dq 0x00AF9B000000FFFF		; 0x18 code64
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

msg_real:	db "softvmm demo: real mode", 10, 0
msg_prot:	db "softvmm demo: protected mode", 10, 0
msg_long:	db "Hello from softvmm: real -> protected -> long mode", 10, 0
