; runner_ins: one INSB, which the runner does not emulate yet.
	bits 16
	org 0x7C00
	mov di, 0x1000
	mov dx, 0xE9
	insb
