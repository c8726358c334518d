; runner_triple: INT3 with an empty IVT limit: #GP, #DF, triple fault.
	bits 16
	org 0x7C00
	lidt [idt]
	int3
idt:	dw 0
	dd 0
