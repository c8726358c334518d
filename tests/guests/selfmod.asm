; selfmod: code that rewrites itself, in real mode.
;
; 1. A store patches the immediate of the very next instruction; the CPU
;    must execute the new bytes ('B'), not the ones it may have fetched or
;    decoded before the store ('A').
; 2. A loop runs the same MOV three times and patches its immediate before
;    each run, so from the second run on the old bytes are in the vmm's
;    decode cache: it must see '1', '2', '3', never '?'.
; Each value goes out through port 0xE9, so the stream shows what ran.  The
; AT lines pin the addresses the test expects (see testguest.inc).

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	mov byte [patch1 + 1], 'B'
patch1:	mov al, 'A'			; becomes mov al, 'B'
AT 0x7C07
	out 0xE9, al

	mov cx, 3
	mov bl, '1'
again:	mov [patch2 + 1], bl
patch2:	mov al, '?'			; becomes '1', '2', '3'
AT 0x7C14
	out 0xE9, al
	inc bl
	dec cx
	jnz again

	mov al, 0
AT 0x7C1D
	out 0xF4, al
	cli
	hlt
