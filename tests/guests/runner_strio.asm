; runner_strio: string I/O through the runner's own devices.  REP OUTSB
; of a 20-byte line to the debug console (two INOUT_STR exits: 16 bytes,
; then 4), REP INSB of three bytes from it (0xE9 each), then OUTSB of the
; exit status to isa-debug-exit: 0 when the three bytes read back are
; 0xE9 and SI, DI and CX are where they must be, else the failed check.

%include "testguest.inc"

	bits 16
	org LOAD_ADDR

	xor ax, ax
	mov ds, ax
	mov es, ax
	cld
	mov si, line
	mov cx, line_end - line
	mov dx, 0xE9
AT 0x7C10
	rep outsb
	mov di, buf
	mov cx, 3
AT 0x7C18
	rep insb
	mov byte [status], 1
	cmp word [buf], 0xE9E9
	jne done
	cmp byte [buf + 2], 0xE9
	jne done
	mov byte [status], 2
	cmp si, line_end
	jne done
	cmp di, buf + 3
	jne done
	cmp cx, 0
	jne done
	mov byte [status], 0
done:	mov si, status
	mov dx, 0xF4
AT 0x7C4F
	outsb
	cli
	hlt

AT 0x7C52
line:	db "string i/o through ", 10
line_end:
status:	db 0xFF
buf:	db 0, 0, 0
