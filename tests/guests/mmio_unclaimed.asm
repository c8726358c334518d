; mmio_unclaimed: a store to 0xE0000000, a guest-physical address that is
; neither RAM nor an in-vmm device nor a range the runner registers.  The vmm
; returns it as INST_EMUL like any MMIO access; only the caller can tell that
; nothing claims it (bhyverun aborts: "Unhandled memory access").
;
;   C7 05 00 00 00 E0 AA 55 AA 55   mov dword [0xE0000000], 0x55AA55AA

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
AT 0x7C22
	mov dword [0xE0000000], 0x55AA55AA
	mov al, 1
	out 0xF4, al			; reached only if the caller resumes
	cli
	hlt

	GDT32
