; runner_halt: HLT with interrupts off on the only vcpu: SUSPENDED/HALT.
	bits 16
	org 0x7C00
	cli
	hlt
