; touch_pages: first touches of fresh guest pages, in flat 32-bit protected
; mode without paging (linear = physical), for the PAGING-exit tests.
;
; Each page's first access is a handled PAGING exit whose fault_type is the
; access's kind (read 1, write 2, fetch 4) and whose gpa is the page address;
; later accesses to the same page, of any kind, give none.  The guest uses
; no stack and no port until the final OUT, so every PAGING exit in the
; stream is one of these:
;
;   rip     gpa      fault_type   why
;   0x7C00  0x7000   execute      first fetch of the image
;   0x7C22  0x10000  read         mov eax, [0x10000]
;   0x7C2C  0x11000  write        mov [0x11000], eax
;   0x7C3B  0x12000  read         mov eax, [0x12345]: gpa is page-aligned
;   0x7C40  0x14000  read         mov eax, [0x14FFE] straddles two pages:
;   0x7C40  0x15000  read           the low page first, then the high one
;   0x9000  0x9000   execute      jump into code that only the loader wrote
;
; Page 0x8000 holds only padding: loaded by the host but never touched by
; the guest, it must give no exit.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

AT 0x7C00
	ENTER_PM32

AT 0x7C22
	mov eax, [0x10000]		; read: PAGING read 0x10000
	mov eax, [0x10ABC]		; same page: nothing
AT 0x7C2C
	mov [0x11000], eax		; write: PAGING write 0x11000
	mov [0x11FFC], eax		; same page: nothing
	mov eax, [0x11004]		; read after write, same page: nothing
AT 0x7C3B
	mov eax, [0x12345]		; PAGING read 0x12000
AT 0x7C40
	mov eax, [0x14FFE]		; PAGING read 0x14000, then 0x15000
	mov eax, [0x15800]		; second page already touched: nothing
AT 0x7C4A
	jmp far_code			; PAGING execute 0x9000 (at the target)
back:
	xor eax, eax			; the final OUT's eax, whatever the reads saw
AT 0x7C51
	out 0xF4, al			; the test stops here
	cli
	hlt

	GDT32

	times 0x9000 - LOAD_ADDR - ($ - $$) db 0
AT 0x9000
far_code:
	mov eax, [0x9800]		; data read of the fetched page: nothing
	mov [0x9804], eax		; write to it: nothing either
	jmp back
