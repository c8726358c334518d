; runner_prot32: loaded with --mode prot32; checks the entry state.

	bits 32
	org 0x7C00

%macro EXPECT_EAX 2
	cmp eax, %1
	mov bl, %2
	jne fail
%endmacro

	pushfd				; before any CMP changes the flags
	pop edx
	mov eax, esp
	EXPECT_EAX 0x7C00, 1
	mov eax, cr0
	EXPECT_EAX 0x11, 2
	mov eax, cs
	EXPECT_EAX 0x08, 3
	mov eax, ds
	EXPECT_EAX 0x10, 4
	mov eax, edx
	EXPECT_EAX 0x2, 5
	mov eax, [0x00FFFFFC]		; flat data: RAM at 16 MiB reads 0
	EXPECT_EAX 0, 6
	mov bl, 0
fail:	mov al, bl
	out 0xF4, al
	cli
	hlt
