; ud_loop: a guest stuck delivering #UD to itself.  The real-mode IVT entry
; for #UD points at the UD2 itself, so no instruction after the setup ever
; retires: each step is one more #UD delivery.  Only a budget that counts
; delivered exceptions (vm_set_insn_limit) ends the run.  The stack is moved
; high (SS = 0x1000) so the pushes never reach the IVT or the code.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov word [6 * 4], fault
	mov word [6 * 4 + 2], 0
	mov ax, 0x1000
	mov ss, ax
	xor sp, sp
AT 0x7C17
fault:
	ud2
