; cli_hlt: the smallest guest that ends its run: CLI; HLT on the only vcpu.
;
; With interrupts off nothing can wake the vcpu, so the vmm suspends the VM
; (bhyve's halt detection): the run ends with SUSPENDED {HALT} and rip just
; after the HLT.  The JMP is there only for a vmm that wrongly resumes.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

AT 0x7C00
again:	cli
AT 0x7C01
	hlt
AT 0x7C02
	jmp again
