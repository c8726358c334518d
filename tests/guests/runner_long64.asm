; runner_long64: loaded with --mode long64 --load-addr 0x200000; checks the
; entry state the runner promises and the scratch bank through the
; identity map.  A failed check exits with its number.

	bits 64
	org 0x200000

%macro EXPECT_RAX 2
	mov rcx, %1
	cmp rax, rcx
	mov bl, %2
	jne fail
%endmacro

	mov rax, rsp
	EXPECT_RAX 0x7C00, 1
	mov rax, cr0
	EXPECT_RAX 0x80000011, 2
	mov rax, cr4
	EXPECT_RAX 0x20, 3
	mov rax, cr3
	EXPECT_RAX 0x3FFA000, 4		; 64 MiB - 24 KiB
	mov ecx, 0xC0000080
	rdmsr
	EXPECT_RAX 0x500, 5		; EFER = LME | LMA
	mov rax, 0x1122334455667788
	mov rbx, 0xFEB00100
	mov [rbx], rax
	mov rdx, [rbx]
	cmp rdx, rax
	mov bl, 6
	jne fail
	mov rax, [0x7FFFF000]		; 2 GiB - 4K: mapped, but not RAM -> unhandled MMIO
	mov bl, 7
fail:	mov al, bl
	out 0xF4, al
	cli
	hlt
