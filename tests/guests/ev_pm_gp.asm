; ev_pm_gp: exceptions and software interrupts delivered through 32-bit
; IDT gates in flat protected mode, without a privilege change (SDM vol. 3
; 6.12.1), for tests/test_cpu_events.c.
;
; The stack is moved to 0x20000, a page nothing has touched yet, so the
; first event's first push is the stack page's first touch: a handled PAGING
; write at the faulting instruction in the middle of delivering it, after
; which the delivery starts over and completes once.
;
; Events, in order (every handler reports through 'report'):
;   DIV ECX, ECX = 0       #DE (fault): pushed EIP = the DIV; the handler
;                          steps over it.  FLAGS set by CMP 0, 1 and STI,
;                          STD, with no stack use before the event.
;   MOV DS, AX, AX = 0x40  #GP(0x40): index 8 is beyond the 3-entry GDT
;                          (SDM MOV, "IF segment selector index is not
;                          within descriptor table limits").  The handler
;                          pops the error code and steps over the MOV.
;   OUT 0xE9, AL           an injection point: run plainly, an ordinary
;                          exit; tests/test_cpu_events.c also queues events
;                          here through the API and restarts the OUT (an
;                          injected #GP's handler steps over it).
;   INT 0x30               a trap gate: IF stays set in the handler.
;   INT 0x31               an interrupt gate: IF is cleared.
;   UD2                    #UD, whose gate is not present (P = 0): #NP with
;                          error code 6*8 + IDT(2) + EXT(1) = 0x33 (SDM
;                          6.13), delivered after the #UD (benign, then
;                          contributory: handled serially, table 6-5);
;                          pushed EIP = the UD2.
;   INT 0x32               not present either: #NP(0x32*8 + 2 = 0x192),
;                          EXT clear for a software interrupt.
;   MOV DS, AX again       after clearing P in #GP's gate: #GP, whose
;                          delivery raises #NP(0x6B): contributory twice,
;                          so #DF with error code 0 (table 6-5).  The #DF
;                          handler reports and ends the guest.
;
; Fault-class exceptions push EFLAGS with RF set; INT n pushes RF clear
; (SDM vol. 3 17.3.1.1).  EFLAGS read with PUSHFD never shows RF.
;
; report's OUTs (E7 80, 2 bytes) give, in order: tag, ESP at handler
; entry, EFLAGS in the handler, the error code (only when ECX = 4), then
; the pushed EIP, CS (the low 16 bits of its slot) and EFLAGS.

%include "testguest.inc"

TAG_DE      equ 0x1000
TAG_DF      equ 0x1008
TAG_NP      equ 0x100B
TAG_GP      equ 0x100D
TAG_INT30   equ 0x1030
TAG_INT31   equ 0x1031

GATE_INT    equ 0x8E			; present, DPL 0, 32-bit interrupt gate
GATE_TRAP   equ 0x8F			; present, DPL 0, 32-bit trap gate
GATE_INT_NP equ 0x0E			; the same, not present

STACK_TOP   equ 0x20000

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	lidt [idt_desc]
	mov esp, STACK_TOP

	; #DE.  EFLAGS: CMP 0, 1 sets CF PF AF SF (0xFFFFFFFF, a borrow from
	; bits 4 and 32), clears ZF OF; with IF and DF: 0x697.
	mov ecx, 0
	mov edx, 0
	mov eax, 0
	sti
	std
	cmp eax, 1
AT 0x7C42
	div ecx				; PAGING write 0x1F000, then #DE
AT 0x7C44				; the #DE handler resumes here
	pushfd
	pop eax
AT 0x7C46
	out 0x80, eax			; 0x697: EFLAGS back from the frame
	mov eax, esp
AT 0x7C4A
	out 0x80, eax			; 0x20000

	; #GP(0x40)
	push dword 0x0ED7		; OF DF IF SF ZF AF PF CF
	popfd
	mov ax, 0x40
AT 0x7C56
	mov ds, ax
	mov eax, 0			; MOV, not XOR: EFLAGS stay as they are
	mov ax, ds
AT 0x7C60
	out 0x80, eax			; 0x10: the faulting load left DS alone

	mov eax, 0x33
AT 0x7C67
	out 0xE9, al			; injection point

	; INT 0x30 through a trap gate, INT 0x31 through an interrupt gate.
	push dword 0x0203		; IF CF
	popfd
AT 0x7C6F
	int 0x30
AT 0x7C71
	int 0x31

	; #UD with a gate that is not present: #NP(0x33).
	push dword 0x0AC3		; OF IF SF ZF CF
	popfd
AT 0x7C79
	ud2
	; INT 0x32, not present: #NP(0x192).
AT 0x7C7B
	int 0x32

	; #GP with #GP's gate made not present: #DF(0).
	and byte [idt + 0x0D * 8 + 5], 0x7F
	mov ax, 0x40
AT 0x7C88
	mov ds, ax
	jmp $				; not reached: the #DF handler ends the guest

; Handlers: EBP = ESP at entry, EAX = tag, ECX = 4 when the CPU pushed an
; error code (else 0); after the report, step over the 2-byte instruction
; the event was for (if any), pop the error code and return.
%macro HANDLER 3			; tag, error code (0 or 4), bytes to skip
	mov ebp, esp
	mov eax, %1
	mov ecx, %2
	call report
%if %3
	add dword [ebp + ecx], %3
%endif
%if %2
	add esp, 4
%endif
	iretd
%endmacro

de_handler:	HANDLER TAG_DE, 0, 2
gp_handler:	HANDLER TAG_GP, 4, 2
np_handler:	HANDLER TAG_NP, 4, 2
int30_handler:	HANDLER TAG_INT30, 0, 0
int31_handler:	HANDLER TAG_INT31, 0, 0

; #DF: CS:EIP in the frame are undefined (SDM "Interrupt 8"), so only the
; tag, ESP at entry and the error code; then the end of the guest.
df_handler:
	mov ebp, esp
	mov eax, TAG_DF
AT 0x7D02
	out 0x80, eax
	mov eax, ebp
AT 0x7D06
	out 0x80, eax			; ESP at entry
	mov eax, [ebp]
AT 0x7D0B
	out 0x80, eax			; error code
	mov eax, 0
AT 0x7D12
	out 0xF4, al
	cli
	hlt

; report: EAX = tag, EBP = ESP at handler entry, ECX = error code offset.
; Nothing between handler entry and the PUSHFD changes EFLAGS.
report:
	pushfd
AT 0x7D17
	out 0x80, eax			; tag
	mov eax, ebp
AT 0x7D1B
	out 0x80, eax			; ESP at entry
	pop eax
AT 0x7D1E
	out 0x80, eax			; EFLAGS in the handler
	jecxz .frame
	mov eax, [ebp]
AT 0x7D25
	out 0x80, eax			; error code
.frame:	mov eax, [ebp + ecx]
AT 0x7D2B
	out 0x80, eax			; pushed EIP
	movzx eax, word [ebp + ecx + 4]
AT 0x7D32
	out 0x80, eax			; pushed CS
	mov eax, [ebp + ecx + 8]
AT 0x7D38
	out 0x80, eax			; pushed EFLAGS
	ret

	GDT32

%macro GATE 2				; handler, type byte
	dw %1
	dw SEL_CODE32
	db 0, %2
	dw 0				; the handlers are below 64 KiB
%endmacro

	align 8
idt:
	GATE de_handler, GATE_INT		; 0x00 #DE
	times 5 dq 0				; 0x01-0x05
	GATE 0, GATE_INT_NP			; 0x06 #UD: not present
	dq 0					; 0x07
	GATE df_handler, GATE_INT		; 0x08 #DF
	times 2 dq 0				; 0x09-0x0A
	GATE np_handler, GATE_INT		; 0x0B #NP
	dq 0					; 0x0C
	GATE gp_handler, GATE_INT		; 0x0D #GP (P cleared at the end)
	times 0x30 - 0x0E dq 0			; 0x0E-0x2F
	GATE int30_handler, GATE_TRAP		; 0x30
	GATE int31_handler, GATE_INT		; 0x31
	GATE 0, GATE_INT_NP			; 0x32: not present
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dd idt
