; msr: RDMSR and WRMSR in flat 32-bit protected mode, for the MSR exit tests
; (BHYVE-EXITS.md section 7).
;
;   rdmsr 0x1A0 (MISC_ENABLE)   the vmm owns it: no exit; bits 11 and 12 set
;   rdmsr 0x12345678            unknown: RDMSR exit {code}, the caller's
;                               EDX:EAX is what the guest then sees
;   wrmsr 0x12345678            unknown: WRMSR exit {code, wval = EDX:EAX}
;
;   rip     exit
;   0x7C2E  OUT 0x80            MISC_ENABLE & 0x1800
;   0x7C35  RDMSR 0x12345678
;   0x7C37  OUT 0x80            EAX the caller supplied
;   0x7C3B  OUT 0x80            EDX the caller supplied
;   0x7C47  WRMSR 0x12345678
;   0x7C4B  OUT 0xF4

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov ecx, 0x1A0
	rdmsr
	and eax, 0x1800
AT 0x7C2E
	out 0x80, eax			; 0x1800
	mov ecx, 0x12345678
AT 0x7C35
	rdmsr
AT 0x7C37
	out 0x80, eax
	mov eax, edx
AT 0x7C3B
	out 0x80, eax
	mov eax, 0x89ABCDEF
	mov edx, 0x01234567
AT 0x7C47
	wrmsr
	mov al, 0
AT 0x7C4B
	out 0xF4, al
	cli
	hlt

	GDT32
