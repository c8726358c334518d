; rep_count: a REP STOSB of 10,000 iterations is one instruction.  It runs
; in chunks of 4,096 iterations (two chunks end unfinished), but retires
; once: the guest retires 7 instructions up to and including the final OUT.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov es, ax
	mov di, 0x8000
	mov cx, 10000
	rep stosb
	mov al, 0
	out 0xF4, al
