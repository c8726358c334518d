; ev_long_pf: page faults and a double fault delivered through the 64-bit
; IDT (16-byte gates, SDM vol. 3 6.14), for tests/test_cpu_events.c.
;
; 4-level paging maps the first GiB with 2 MiB pages: PML4[0] -> PDPT,
; PDPT[0] -> PD, PD[n] = n * 2 MiB.  Nothing else is mapped, so linear
; 0x50000000 (PDPT[1]) and 0x123456789 (PDPT[4]) are not present.  The
; tables are in the image with A and D preset, so the walks only read them;
; the first walk (fetching the far jump into 64-bit code) touches each table
; page: handled PAGING reads.
;
; Events, in order:
;   MOV EAX, [RBX], RBX = 0x50000000   #PF, error code 0 (a supervisor read
;                                      of a not-present page), CR2 the
;                                      address.  RSP = 0x2FFF8 before: the
;                                      CPU aligns it to 0x2FFF0 before
;                                      pushing SS, RSP, RFLAGS, CS, RIP and
;                                      the error code (SDM 6.14.2), so the
;                                      handler starts at 0x2FFC0 and the
;                                      pushed RSP is 0x2FFF8.  The push is
;                                      the first touch of page 0x2F000.
;   MOV [RBX], EAX, RBX = 0x123456789  #PF, error code 2 (W), CR2 above 4 GiB.
;   MOV EAX, [RBX] with RSP = 0x50001000 (not mapped): delivering the #PF
;                                      faults on the stack, a second #PF:
;                                      #DF (table 6-5), through a gate with
;                                      IST 1.  softvmm has no LTR yet; the
;                                      reset TR (base 0) serves as the TSS,
;                                      so IST1 is the qword at linear 0x24,
;                                      set to 0x40000 (a fresh page).  The
;                                      #DF handler reports and ends the guest.
;
; The #PF handler reports through 'report64' with OUT 0x80, EAX (E7 80):
; tag, RSP at entry (two OUTs through out64: low, then high half),
; RFLAGS in the handler, CR2 (two), the error code, the pushed RIP (two),
; CS, RFLAGS, RSP (two) and SS; then steps over the 2-byte MOV.

%include "testguest.inc"

SEL_CODE64  equ 0x18
PML4        equ 0x9000
PDPT        equ 0xA000
PD          equ 0xB000
STACK_TOP   equ 0x30000
IST1_TOP    equ 0x40000

TAG_DF      equ 0x1008
TAG_PF      equ 0x100E

	bits 16
	org LOAD_ADDR

	ENTER_PM32
	mov eax, 0x20			; CR4.PAE
	mov cr4, eax
	mov eax, PML4
	mov cr3, eax
	mov ecx, 0xC0000080		; IA32_EFER
	mov eax, 0x100			; LME
	xor edx, edx
	wrmsr
	mov eax, 0x80000011		; PG | PE | ET: IA-32e mode
	mov cr0, eax
AT 0x7C48
	jmp SEL_CODE64:lm64		; walks PML4, PDPT, PD

	bits 64
lm64:	lidt [idt_desc]
	mov rsp, STACK_TOP - 8		; 8 mod 16

	; #PF on a read.  RFLAGS: CMP 0, 1 sets CF PF AF SF; with IF, DF: 0x697.
	mov rbx, 0x50000000
	mov eax, 0
	sti
	std
	cmp eax, 1
AT 0x7C6B
	mov eax, [rbx]			; PAGING write 0x2F000, then #PF(0)
	mov rax, rsp
	call out64			; 0x2FFF8: RSP back from the frame

	; #PF on a write above 4 GiB.  RFLAGS: CMP 5, 5 sets ZF PF: 0x46.
	mov rbx, 0x123456789
	mov eax, 5
	cld
	cli
	cmp eax, 5
AT 0x7C89
	mov [rbx], eax			; #PF(2)

	; #DF: a #PF whose frame cannot be pushed.
	mov rax, IST1_TOP
AT 0x7C90
	mov [0x24], rax			; PAGING write 0: IST1 of the reset TR
	mov rbx, 0x50000000
	mov rsp, 0x50001000
AT 0x7CA2
	mov eax, [rbx]			; #PF, #PF on the push: #DF (PAGING 0x3F000)
	jmp $				; not reached

pf_handler:
	mov rbp, rsp
	mov eax, TAG_PF
	call report64
	add qword [rbp + 8], 2		; step over the 2-byte MOV
	add rsp, 8			; pop the error code
	iretq

; #DF: CS:RIP in the frame are undefined (SDM "Interrupt 8").  CR2 is
; reported as its page: which frame slot the CPU writes first, and so
; which address faults, is not architectural.
df_handler:
	mov rbp, rsp
	mov eax, TAG_DF
AT 0x7CC6
	out 0x80, eax			; tag
	mov rax, rbp
	call out64			; RSP at entry
	mov eax, [rbp]
AT 0x7CD3
	out 0x80, eax			; error code
	mov rax, cr2
	shr rax, 12
AT 0x7CDC
	out 0x80, eax			; CR2's page number
	mov eax, 0
AT 0x7CE3
	out 0xF4, al
	cli
	hlt

; report64: EAX = tag, RBP = RSP at entry of a handler whose frame has an
; error code.  Nothing between handler entry and PUSHFQ changes RFLAGS.
report64:
	pushfq
AT 0x7CE8
	out 0x80, eax			; tag
	mov rax, rbp
	call out64			; RSP at entry
	pop rax
AT 0x7CF3
	out 0x80, eax			; RFLAGS in the handler
	mov rax, cr2
	call out64			; CR2
	mov eax, [rbp]
AT 0x7D00
	out 0x80, eax			; error code
	mov rax, [rbp + 8]
	call out64			; pushed RIP
	movzx eax, word [rbp + 16]
AT 0x7D0F
	out 0x80, eax			; pushed CS
	mov eax, [rbp + 24]
AT 0x7D14
	out 0x80, eax			; pushed RFLAGS
	mov rax, [rbp + 32]
	call out64			; pushed RSP
	movzx eax, word [rbp + 40]
AT 0x7D23
	out 0x80, eax			; pushed SS
	ret

; out64: RAX as two OUTs, the low half first.
out64:
AT 0x7D26
	out 0x80, eax
	shr rax, 32
AT 0x7D2C
	out 0x80, eax
	ret

	align 8
gdt:	dq 0
	dq 0x00CF9B000000FFFF		; 0x08 code32
	dq 0x00CF93000000FFFF		; 0x10 data
	dq 0x00AF9B000000FFFF		; 0x18 code64
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

%macro GATE64 3				; handler, type byte, IST
	dw %1
	dw SEL_CODE64
	db %3, %2
	dw 0				; the handlers are below 64 KiB
	dd 0
	dd 0
%endmacro

	align 16
idt:
	times 8 * 2 dq 0		; 0x00-0x07
	GATE64 df_handler, 0x8E, 1	; 0x08 #DF: interrupt gate, IST 1
	times 5 * 2 dq 0		; 0x09-0x0D
	GATE64 pf_handler, 0x8E, 0	; 0x0E #PF: interrupt gate
idt_end:
idt_desc:
	dw idt_end - idt - 1
	dq idt

	times PML4 - LOAD_ADDR - ($ - $$) db 0
	dq PDPT | 0x23			; P | RW | A
	times 511 dq 0
	dq PD | 0x23			; PDPT[0] only
	times 511 dq 0
%assign i 0
%rep 512
	dq (i << 21) | 0xE3		; P | RW | A | D | PS
%assign i i + 1
%endrep
