; runner_mmio64: the instructions bhyve's instruction emulation handles,
; and softvmm's additions, on the scratch MMIO bank (0xFEB00000) through
; `softvmm run --mode long64 --load-addr 0x200000`: every access to the bank
; is an INST_EMUL exit the runner emulates (mem_ranges.c).  A failed check
; exits with its number; all passing exits with 0.

	bits 64
	org 0x200000

SCRATCH equ 0xFEB00000
BUF     equ 0x300000		; RAM, for the MOVS checks

%macro FAIL_IF 2		; FAIL_IF cc, n: exit with n when cc holds
	mov bl, %2
	j%1 fail
%endmacro

	mov rbp, SCRATCH

	; MOV forms: C7, 89, 8B, 88, 8A, A0-A3 (moffs64)
	mov qword [rbp], 0
	mov rax, 0x8000000000000001
	mov [rbp], rax
	mov rdx, [rbp]
	cmp rdx, rax
	FAIL_IF ne, 1
	mov byte [rbp + 8], 0x5A
	mov ah, [rbp + 8]
	cmp ah, 0x5A
	FAIL_IF ne, 2
	mov al, 0xC3
	mov [qword SCRATCH + 9], al
	mov eax, 0
	mov al, [qword SCRATCH + 9]
	cmp eax, 0xC3
	FAIL_IF ne, 3
	mov rax, 0x1122334455667788
	mov [qword SCRATCH + 0x10], rax
	xor eax, eax
	mov rax, [qword SCRATCH + 0x10]
	cmp dword [rbp + 0x14], 0x11223344	; 81 /7
	FAIL_IF ne, 4

	; ADD with carry out: 0x8000000000000001 + 0x7FFFFFFFFFFFFFFF = 0, CF ZF PF AF
	mov rcx, 0x7FFFFFFFFFFFFFFF
	add [rbp], rcx
	pushfq
	pop rax
	and eax, 0x8D5
	cmp eax, 0x55
	FAIL_IF ne, 5
	cmp qword [rbp], 0		; 83 /7
	FAIL_IF ne, 6

	; SUB / SBB / ADC / XOR / OR / AND in both directions and 8-bit forms
	mov dword [rbp + 0x20], 5
	sub dword [rbp + 0x20], 6	; 83 /5: -1 with a borrow
	FAIL_IF nc, 7
	FAIL_IF ns, 8
	stc
	adc dword [rbp + 0x20], 0	; 83 /2: -1 + 0 + 1 = 0, CF
	FAIL_IF nz, 9
	FAIL_IF nc, 10
	mov ecx, 0x0F0F0F0F
	or [rbp + 0x20], ecx		; 09 /r
	xor ecx, ecx
	xor ecx, [rbp + 0x20]		; 33 /r
	cmp ecx, 0x0F0F0F0F
	FAIL_IF ne, 11
	mov dl, 0x3C
	and [rbp + 0x20], dl		; 20 /r: low byte 0x0C
	sbb dl, [rbp + 0x20]		; 1A /r: CF is 0 after AND: 0x3C - 0x0C = 0x30
	cmp dl, 0x30
	FAIL_IF ne, 12
	sub byte [rbp + 0x20], 0x0D	; 80 /5: 0x0C - 0x0D = 0xFF
	FAIL_IF nc, 13
	cmp byte [rbp + 0x20], 0xFF	; 80 /7
	FAIL_IF ne, 14
	mov ecx, 1
	add ecx, [rbp + 0x20]		; 03 /r (bhyve's ADD): 1 + 0x0F0F0FFF
	cmp ecx, 0x0F0F1000
	FAIL_IF ne, 15

	; TEST (F6 /0, F7 /0, 85), BT/BTS/BTR/BTC with imm8
	test byte [rbp + 0x20], 0x10
	FAIL_IF z, 16
	test dword [rbp + 0x20], 0x00F00000
	FAIL_IF nz, 17
	mov eax, 0x80000000
	test [rbp + 0x24], eax		; 0x00000000 there
	FAIL_IF nz, 18
	mov dword [rbp + 0x24], 0
	bts dword [rbp + 0x24], 35	; bit 3 (35 mod 32)
	FAIL_IF c, 19
	bt dword [rbp + 0x24], 3
	FAIL_IF nc, 20
	btc qword [rbp + 0x24], 4
	btr word [rbp + 0x24], 3
	FAIL_IF nc, 21
	cmp dword [rbp + 0x24], 0x10
	FAIL_IF ne, 22

	; XCHG, MOVZX and MOVSX (0F B6 B7 BE BF)
	mov rcx, 0xFFFF8000
	xchg [rbp + 0x28], rcx		; the bank had 0 there
	test rcx, rcx
	FAIL_IF nz, 23
	movsx eax, word [rbp + 0x28]
	cmp eax, 0xFFFF8000
	FAIL_IF ne, 24
	movzx eax, word [rbp + 0x28]
	cmp eax, 0x8000
	FAIL_IF ne, 25
	movsx rax, byte [rbp + 0x29]
	cmp rax, -128
	FAIL_IF ne, 26
	movzx eax, byte [rbp + 0x29]
	cmp eax, 0x80
	FAIL_IF ne, 27

	; PUSH m, POP m (the stack is RAM)
	push qword [rbp + 0x28]
	pop rax
	mov ecx, 0xFFFF8000
	cmp rax, rcx
	FAIL_IF ne, 28
	mov rax, 0x0123456789ABCDEF
	push rax
	pop qword [rbp + 0x30]
	cmp [rbp + 0x30], rax		; 39 /r
	FAIL_IF ne, 29

	; CLFLUSH; an FS override (FS.base is 0 here)
	clflush [rbp]
	fs mov eax, [rbp + 0x30]
	cmp eax, 0x89ABCDEF
	FAIL_IF ne, 30

	; REP STOSQ into the bank: one INST_EMUL exit per element
	cld
	mov rdi, SCRATCH + 0x100
	mov rax, 0xA5A5A5A55A5A5A5A
	mov ecx, 4
	rep stosq
	test ecx, ecx
	FAIL_IF nz, 31
	mov rdx, SCRATCH + 0x120
	cmp rdi, rdx
	FAIL_IF ne, 32
	cmp [rbp + 0x118], rax
	FAIL_IF ne, 33

	; REP MOVSB bank -> RAM, RAM -> bank, bank -> bank (DF = 1 for the last)
	mov rsi, SCRATCH + 0x100
	mov rdi, BUF
	mov ecx, 32
	rep movsb
	cmp [BUF + 24], rax
	FAIL_IF ne, 34
	mov qword [BUF + 32], 0x7777
	mov rsi, BUF + 32
	mov rdi, SCRATCH + 0x200
	mov ecx, 1
	rep movsq
	cmp qword [rbp + 0x200], 0x7777
	FAIL_IF ne, 35
	std
	mov rsi, SCRATCH + 0x11F
	mov rdi, SCRATCH + 0x30F
	mov ecx, 32
	rep movsb
	cld
	mov rdx, SCRATCH + 0xFF
	cmp rsi, rdx
	FAIL_IF ne, 36
	cmp [rbp + 0x2F0], rax
	FAIL_IF ne, 37
	; STOSB without REP
	mov al, 0x66
	mov rdi, SCRATCH + 0x400
	stosb
	cmp byte [rbp + 0x400], 0x66
	FAIL_IF ne, 38

	mov bl, 0
fail:	mov al, bl
	out 0xF4, al
	cli
	hlt
