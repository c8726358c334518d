; unimpl: opcodes the soft CPU does not implement yet raise #UD in the guest,
; as an invalid opcode does on hardware, and are counted by mnemonic.
;
; Real mode.  IVT vector 6 points at ud_handler, which reports the IP of the
; faulting instruction (out 0x80, ax) and returns past it: every instruction
; used here is one byte long.  CMPSB is executed twice and SCASB once, so the
; counts are cmpsb 2 and scasb 1.  UD2 (a defined invalid opcode) raises #UD
; too but is not "unimplemented".

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov es, ax
	mov word [6 * 4], ud_handler
	mov word [6 * 4 + 2], 0
AT 0x7C12
	cmpsb
AT 0x7C13
	scasb
AT 0x7C14
	cmpsb
AT 0x7C15
	ud2
	mov al, 0
	out 0xF4, al
	cli
	hlt

; #UD handler: report the pushed IP, then skip the faulting instruction
; (1 byte, or 2 for UD2 at 0x7C15).
ud_handler:
	mov bp, sp
	mov ax, [bp]
	out 0x80, ax
	inc word [bp]
	cmp word [bp], 0x7C16
	jne .done
	inc word [bp]
.done:	iret
