; mmio: a read and a write to guest-physical addresses no RAM backs, in flat
; 32-bit protected mode without paging, for the INST_EMUL exit tests.
;
; 0xFEB00000 is the runner's scratch MMIO bank; from the vmm's point of view
; it is just an address outside RAM and outside the in-vmm devices (LAPIC,
; IOAPIC, HPET), so each access is an INST_EMUL exit returned to the caller
; with the faulting instruction already decoded.  Two addressing forms:
;
;   0x7C22  8B 15 10 00 B0 FE   mov edx, [0xFEB00010]   mod 0, rm 5: disp32, no base
;   0x7C36  89 4B 20            mov [ebx + 0x20], ecx   mod 1: base EBX, disp8
;
; The read value is echoed with OUT 0x80 so the test can see the emulated
; load reached EDX.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
AT 0x7C22
	mov edx, [0xFEB00010]		; INST_EMUL read, 6 bytes
	mov eax, edx
AT 0x7C2A
	out 0x80, eax			; echoes the value the test supplied
	mov ebx, 0xFEB00000
	mov ecx, 0x11223344
AT 0x7C36
	mov [ebx + 0x20], ecx		; INST_EMUL write, 3 bytes
	mov al, 0
AT 0x7C3B
	out 0xF4, al
	cli
	hlt

	GDT32
