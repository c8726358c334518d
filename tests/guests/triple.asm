; triple: a triple fault in 32-bit protected mode.
;
; The IDT is loaded with limit 0, so no vector has a gate.  UD2 raises #UD;
; its gate is beyond the limit, which is #GP; #GP's gate is beyond it too,
; which is #DF; #DF's gate is missing as well: triple fault (SDM vol. 3
; 6.15, "Interrupt 8").  softvmm ends the run with SUSPENDED {TRIPLEFAULT}
; (BHYVE-EXITS.md, "Decisions").  No event is ever delivered, so nothing is
; pushed: the stack is never touched and the only other exit is the first
; fetch from the image page.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	lidt [idt_desc]
AT 0x7C29
	ud2
	jmp $				; not reached

	GDT32
idt_desc:
	dw 0				; limit 0: not even vector 0 fits
	dd 0
