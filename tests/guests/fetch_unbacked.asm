; fetch_unbacked: a jump to 0xE0000000, where no RAM is, in flat 32-bit
; protected mode.  A fetch from outside RAM cannot be emulated: bhyve leaves
; the EPT violation unclaimed and returns a VMX exit with exit reason 48,
; whose qualification says instruction fetch, guest-linear address valid and
; an access to the final translation (BHYVE-EXITS.md section 4).

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov eax, 0xE0000000
AT 0x7C27
	jmp eax
	cli
	hlt

	GDT32
