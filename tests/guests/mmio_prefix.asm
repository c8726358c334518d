; mmio_prefix: an MMIO load with a segment-override prefix, 64 8B 03
; (mov eax, fs:[ebx]) at 0x7C27, in flat 32-bit protected mode.  bhyve's
; decoder knows only the 0x66 and 0x67 prefixes, so it cannot decode this
; one: vm_run fails with EFAULT and no exit is reported for the access
; (BHYVE-EXITS.md section 4, "things to test" 11).

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov ebx, 0xFEB00000
AT 0x7C27
	fs mov eax, [ebx]
	mov al, 1
	out 0xF4, al			; not reached
	cli
	hlt

	GDT32
