; taskswitch: hardware task switches for tests/test_task_switch.c, each a
; TASK_SWITCH exit that the runner's task_switch_emulate completes (bhyverun's
; vmexit_task_switch, SDM vol. 3 7.3).  32-bit protected mode with 4 MiB
; pages (CR4.PSE), so CR3 comes from each TSS.  In order:
;   A --JMP 20:0--> B            (TSS B, not nested)
;   B --CALL 30:0--> C           (task gate 30 -> TSS 28, nested: link, NT)
;   C --IRETD (NT)--> B          (back through C's link)
;   B --#GP(1F8)--> D            (IDT vector 13 is a task gate -> TSS 38;
;                                 error code pushed on D's stack)
;   D --IRETD (NT)--> B          (D first moved B's saved EIP past the fault)
;   B --JMP 40:0--> E            (E's DS is 48, a not-present segment:
;                                 #NP(48) in task E, through IDT vector 11)
; Each task reports what it sees (OUT 0x80, EAX at REPORT_OUT): registers
; from its TSS, EFLAGS.NT, CR0.TS, CR3, its back link, descriptor types.
; The test sets TR = 18 (TSS A, busy) through the API, as rings.asm's test
; does, so the guest needs no LTR.
;
; Selectors: 08 code32, 10 data, 18 TSS A (busy), 20 TSS B, 28 TSS C,
; 30 task gate -> 28, 38 TSS D, 40 TSS E, 48 data not present, 50 data.

%include "testguest.inc"

STACK_A     equ 0x7C00
ESP_B       equ 0x7B00
ESP_C       equ 0x7A00
ESP_D       equ 0x7900
ESP_E       equ 0x7800
PD_A        equ 0x9000			; page directories: one 4 MiB page each
PD_B        equ 0xA000
GDT_ADDR    equ 0x8100
IDT_ADDR    equ 0x8180
TSS_A       equ 0x8200
TSS_B       equ 0x8280
TSS_C       equ 0x8300
TSS_D       equ 0x8380
TSS_E       equ 0x8400

; SETREGS base: every general register but ESP = base + its TSS slot (1..8).
%macro SETREGS 1
	mov eax, %1 + 1
	mov ecx, %1 + 2
	mov edx, %1 + 3
	mov ebx, %1 + 4
	mov ebp, %1 + 6
	mov esi, %1 + 7
	mov edi, %1 + 8
%endmacro

; REP reg: report a register's value.
%macro REP 1
	mov eax, %1
	call report
%endmacro

; SETFLAGS value: EFLAGS = value.
%macro SETFLAGS 1
	push dword %1
	popfd
%endmacro

	bits 16
	org LOAD_ADDR

	cli
	lgdt [gdt_desc]
	mov eax, 0x11
	mov cr0, eax
	jmp 0x08:pm32
	bits 32
pm32:	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	mov ss, ax
	mov esp, STACK_A
	lidt [idt_desc]
	mov dword [PD_A], 0x83		; P RW PS: 0-4 MiB identity
	mov dword [PD_B], 0x83
	mov eax, cr4
	or eax, 0x10			; PSE
	mov cr4, eax
	mov eax, PD_A
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000000		; PG
	mov cr0, eax

	SETFLAGS 0x97
	SETREGS 0xA0000000
AT 0x7C87
jmp_b:	jmp 0x20:0
	hlt				; A is never resumed

AT 0x7C8F
task_b:	call report			; EAX..EDI from TSS B
	REP ecx
	REP edx
	REP ebx
	REP esp
	REP ebp
	REP esi
	REP edi
	pushfd				; TSS B's EFLAGS: NT clear (JMP)
	pop eax
	call report
	REP cr0				; TS set by the switch
	REP cr3				; PD_B from TSS B
	REP es
	REP cs
	REP ss
	REP ds
	REP fs
	REP gs
	mov eax, cr0			; clear TS to see the next switch set it
	and eax, ~8
	mov cr0, eax
	SETFLAGS 0x887
	SETREGS 0xB1000000
AT 0x7D38
call_c:	call 0x30:0
AT 0x7D3F
after_call_c:
	pushfd				; B's EFLAGS as the CALL saved them
	pop eax
	call report
	REP ebx				; B's EBX as the CALL saved it
	REP cr0
	movzx eax, byte [GDT_ADDR + 0x28 + 5]	; C: available again (89)
	call report
	movzx eax, byte [GDT_ADDR + 0x20 + 5]	; B: still busy (8B)
	call report
	SETFLAGS 0x846
	SETREGS 0xB20001F0		; DI = 1F8: beyond the GDT's limit
AT 0x7D96
gp_insn:
	mov es, di			; #GP(1F8) through the task gate to D
after_gp:
	REP es				; 50: the load never happened
	REP ebx				; B's EBX as the #GP saved it
	pushfd
	pop eax
	call report
	movzx eax, byte [GDT_ADDR + 0x38 + 5]	; D: available again (89)
	call report
	SETFLAGS 0x2
	SETREGS 0xB3000000
AT 0x7DDF
jmp_e:	jmp 0x40:0
	hlt

AT 0x7DE7
task_c:	pushfd				; NT set: C is nested
	pop eax
	call report
	movzx eax, word [TSS_C]		; back link: 20
	call report
	REP cr0
	REP cr3				; PD_A from TSS C
	REP esi				; from TSS C
	SETFLAGS 0x40C3			; NT kept, or IRET would not switch
	SETREGS 0xC1000000
AT 0x7E3A
iret_c:	iretd

AT 0x7E3B
task_d:	mov eax, [esp]			; the error code, pushed by the switch
	call report
	REP esp				; ESP_D - 4
	pushfd				; NT set
	pop eax
	call report
	movzx eax, word [TSS_D]		; back link: 20
	call report
	REP cr0
	add dword [TSS_B + 0x20], after_gp - gp_insn	; B resumes after the MOV
	add esp, 4
	SETFLAGS 0x4083
	SETREGS 0xD1000000
AT 0x7E98
iret_d:	iretd

AT 0x7E99
task_e:	hlt				; never runs: #NP(48) comes first

; #NP through an interrupt gate, in task E: the frame, ESP, DS.
AT 0x7E9A
np_handler:
	mov eax, [esp]			; error code 48
	call report
	mov eax, [esp + 4]		; EIP: task_e
	call report
	mov eax, [esp + 8]		; CS
	call report
	mov eax, [esp + 12]		; EFLAGS
	call report
	REP esp				; ESP_E - 16
	REP ds				; 48: the selector, not its descriptor
	mov eax, 0
AT 0x7ED0
end_out:
	out 0xF4, al

report:
AT 0x7ED2
report_out:
	out 0x80, eax
	ret

	times GDT_ADDR - LOAD_ADDR - ($ - $$) db 0
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 08 code32
	dq 0x00CF93000000FFFF		; 10 data
	dw 0x67, TSS_A, 0x8B00, 0	; 18 TSS A, busy (TR)
	dw 0x67, TSS_B, 0x8900, 0	; 20 TSS B
	dw 0x67, TSS_C, 0x8900, 0	; 28 TSS C
	dw 0, 0x28, 0x8500, 0		; 30 task gate -> 28
	dw 0x67, TSS_D, 0x8900, 0	; 38 TSS D
	dw 0x67, TSS_E, 0x8900, 0	; 40 TSS E
	dq 0x00CF13000000FFFF		; 48 data, not present
	dq 0x00CF93000000FFFF		; 50 data
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

	times IDT_ADDR - LOAD_ADDR - ($ - $$) db 0
idt:	times 11 dq 0
	dw np_handler, 0x08, 0x8E00, 0	; 11 #NP: interrupt gate
	dq 0
	dw 0, 0x38, 0x8500, 0		; 13 #GP: task gate -> TSS D
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dd idt

; TSS32 cr3, eip, eflags, regbase, esp, es, cs, ss, ds, fs, gs: link and the
; inner stacks 0, registers regbase + slot, LDT 0, I/O map base 68H.
%macro TSS32 11
	dd 0, 0, 0, 0, 0, 0, 0
	dd %1, %2, %3
	dd %4 + 1, %4 + 2, %4 + 3, %4 + 4, %5, %4 + 6, %4 + 7, %4 + 8
	dd %6, %7, %8, %9, %10, %11
	dd 0
	dw 0, 0x68
%endmacro

	times TSS_A - LOAD_ADDR - ($ - $$) db 0
	TSS32 PD_A, 0, 0, 0xAA000000, 0, 0, 0, 0, 0, 0, 0
	times TSS_B - LOAD_ADDR - ($ - $$) db 0
	TSS32 PD_B, task_b, 0x13, 0xB0000000, ESP_B, 0x50, 0x08, 0x10, 0x50, 0x10, 0x50
	times TSS_C - LOAD_ADDR - ($ - $$) db 0
	TSS32 PD_A, task_c, 0x2, 0xC0000000, ESP_C, 0x10, 0x08, 0x10, 0x10, 0x10, 0x10
	times TSS_D - LOAD_ADDR - ($ - $$) db 0
	TSS32 PD_A, task_d, 0x2, 0xD0000000, ESP_D, 0x10, 0x08, 0x10, 0x10, 0x10, 0x10
	times TSS_E - LOAD_ADDR - ($ - $$) db 0
	TSS32 PD_A, task_e, 0x2, 0xE0000000, ESP_E, 0x10, 0x08, 0x10, 0x48, 0x10, 0x10
