; ev_real_ivt: exceptions and a software interrupt delivered through the
; real-mode IVT (SDM vol. 3 20.1.4), for tests/test_cpu_events.c.
;
; The guest installs IVT entries (offset, segment 0) for #DE, #UD, #GP and
; INT 40h, all pointing into the image, then:
;   - DIV BL with BL = 0: #DE, a fault, so the pushed IP is the DIV's own
;     address; the handler steps over the 2-byte DIV and IRETs;
;   - UD2: #UD, also a fault, handled the same way;
;   - INT 40h: a software interrupt, so the pushed IP is the next
;     instruction's; its handler returns there unchanged.
; Each event is preceded by POPF of a known FLAGS value with IF set, so the
; pushed FLAGS image must be exactly that value and FLAGS inside the
; handler the same with IF (and TF, AC) cleared.
;
; Every handler calls 'report', whose OUTs to port 0x80 (66 E7 80, 3 bytes,
; 4-byte eax) give, in this order: the handler's tag, SP at handler entry,
; FLAGS inside the handler, then the pushed IP, CS and FLAGS.  SP is
; 0x7C00 before every event, so SP at entry is always 0x7C00 - 6.
;
; Two OUT 0xE9 instructions near the end are injection points: run plainly
; they are ordinary exits; tests/test_cpu_events.c also runs the guest
; with vm_inject_exception at those exits (#UD, then #GP with an error
; code, which real mode does not push) and restarts them.  Their handlers
; step over the 2-byte OUT as if it had faulted.
;
; The only data page the guest touches is page 0 (the IVT, first written by
; the first instruction); the stack (below 0x7C00) shares the image page.

%include "testguest.inc"

TAG_DE      equ 0x1000
TAG_UD      equ 0x1006
TAG_GP      equ 0x100D
TAG_INT40   equ 0x1040

	bits 16
	org LOAD_ADDR

AT 0x7C00
	mov word [0x00 * 4], de_handler	; PAGING write, gpa 0
	mov word [0x00 * 4 + 2], 0
	mov word [0x06 * 4], ud_handler
	mov word [0x06 * 4 + 2], 0
	mov word [0x0D * 4], gp_handler
	mov word [0x0D * 4 + 2], 0
	mov word [0x40 * 4], int40_handler
	mov word [0x40 * 4 + 2], 0

	; #DE: AX / BL with BL = 0.  The fault leaves AX alone.
	mov eax, 0x1234
	mov bl, 0
	push word 0x0ED7		; OF DF IF SF ZF AF PF CF
	popf
AT 0x7C3C
	div bl
	; The handler resumed here: AX as before, FLAGS restored by IRET, SP back.
AT 0x7C3E
	out 0x80, eax			; 0x1234
	pushf
	pop ax
	movzx eax, ax
AT 0x7C47
	out 0x80, eax			; 0x0ED7
	movzx eax, sp
AT 0x7C4E
	out 0x80, eax			; 0x7C00

	; #UD
	push word 0x0246		; IF ZF PF
	popf
AT 0x7C55
	ud2

	; INT 40h: the pushed IP is the next instruction's.
	push word 0x0203		; IF CF
	popf
AT 0x7C5B
	int 0x40
AT 0x7C5D
	pushf
	pop ax
	movzx eax, ax
AT 0x7C63
	out 0x80, eax			; 0x0203 restored by IRET

	; Injection points.
	mov eax, 0x11
AT 0x7C6C
	out 0xE9, al
	mov eax, 0x22
AT 0x7C74
	out 0xE9, al

	mov eax, 0
AT 0x7C7C
	out 0xF4, al
halt:	cli
	hlt
	jmp halt

; Handlers: BP = SP at entry, EAX = tag, then the report; EAX is kept for
; the interrupted code, and the faults' handlers step over the 2-byte
; instruction the event was for (DIV BL, UD2, or the OUT imm8 an injected
; event was delivered at).
%macro HANDLER 2			; tag, bytes to skip
	mov bp, sp
	push eax
	mov eax, %1
	call report
	pop eax
%if %2
	add word [bp], %2
%endif
	iret
%endmacro

de_handler:	HANDLER TAG_DE, 2
ud_handler:	HANDLER TAG_UD, 2
gp_handler:	HANDLER TAG_GP, 2
int40_handler:	HANDLER TAG_INT40, 0

; report: EAX = tag, BP = SP at handler entry.  Neither the CALL nor the
; MOVs before it change FLAGS, so PUSHF here saves FLAGS at handler entry.
report:
	pushf
AT 0x7CCF
	out 0x80, eax			; tag
	movzx eax, bp
AT 0x7CD6
	out 0x80, eax			; SP at entry
	pop ax
	movzx eax, ax
AT 0x7CDE
	out 0x80, eax			; FLAGS in the handler
	movzx eax, word [bp]
AT 0x7CE6
	out 0x80, eax			; pushed IP
	movzx eax, word [bp + 2]
AT 0x7CEE
	out 0x80, eax			; pushed CS
	movzx eax, word [bp + 4]
AT 0x7CF6
	out 0x80, eax			; pushed FLAGS
	ret
