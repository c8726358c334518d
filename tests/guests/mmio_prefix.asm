; mmio_prefix: an MMIO load with a segment-override prefix, 64 8B 03
; (mov eax, fs:[ebx]) at 0x7C27, in flat 32-bit protected mode.  bhyve
; 10.1.0's decoder knew only the 0x66 and 0x67 prefixes and failed vm_run
; with EFAULT here (BHYVE-EXITS.md section 4, "things to test" 11); current
; bhyve's, and softvmm's, decode it and name FS in the exit's vie.  The
; loaded value reaches the OUT to 0xF4 with AL = 1.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov ebx, 0xFEB00000
AT 0x7C27
	fs mov eax, [ebx]
	mov al, 1
	out 0xF4, al
	cli
	hlt

	GDT32
