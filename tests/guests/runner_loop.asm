; runner_loop: never ends by itself, for --max-insns.
	bits 16
	org 0x7C00
l:	inc ax
	jmp l
