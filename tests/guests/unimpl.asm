; unimpl: opcodes the soft CPU does not implement yet raise #UD in the guest,
; as an invalid opcode does on hardware, and are counted by mnemonic.
;
; Real mode.  IVT vector 6 points at ud_handler, which reports the IP of the
; faulting instruction (out 0x80, ax) and returns past it: every faulting
; instruction here is 2 bytes long.  The x87 instructions are not
; implemented yet (x87 is a later issue): FLD1 runs twice and FLDZ once, so
; the counts are fld1 2 and fldz 1.  UD2 (a defined invalid opcode) raises
; #UD too but is not "unimplemented".

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov es, ax
	mov word [6 * 4], ud_handler
	mov word [6 * 4 + 2], 0
AT 0x7C12
	fld1
AT 0x7C14
	fldz
AT 0x7C16
	fld1
AT 0x7C18
	ud2
	mov al, 0
	out 0xF4, al
	cli
	hlt

; #UD handler: report the pushed IP, then skip the 2-byte faulting instruction.
ud_handler:
	mov bp, sp
	mov ax, [bp]
	out 0x80, ax
	add word [bp], 2
	iret
