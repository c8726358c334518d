; runner_scratch: the scratch MMIO bank at 0xFEB00000, checked by the guest
; in flat 32-bit protected mode.  A failed check exits with its number.

%include "testguest.inc"

SCRATCH equ 0xFEB00000

	bits 16
	org LOAD_ADDR

	ENTER_PM32

%macro EXPECT_EAX 2
	cmp eax, %1
	mov bl, %2
	jne fail
%endmacro

	mov eax, [SCRATCH + 0x200]		; never written: 0
	EXPECT_EAX 0, 1
	mov dword [SCRATCH + 0x10], 0xCAFEBABE
	mov eax, [SCRATCH + 0x10]
	EXPECT_EAX 0xCAFEBABE, 2
	movzx eax, byte [SCRATCH + 0x11]	; little-endian bytes
	EXPECT_EAX 0xBA, 3
	mov byte [SCRATCH + 0xFFF], 0x77
	mov eax, [SCRATCH + 0xFFE]		; past the end reads all ones
	EXPECT_EAX 0xFFFF7700, 4
	mov ebx, SCRATCH
	mov ecx, 0x01020304
	mov [ebx + 0x20], ecx
	mov eax, [SCRATCH + 0x20]
	EXPECT_EAX 0x01020304, 5
	mov bl, 0
fail:	mov al, bl
	out 0xF4, al
	cli
	hlt

	GDT32
