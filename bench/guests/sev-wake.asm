; sev-wake - the AP wake guest for SEV-ES: APs park in AP Reset Hold (the GHCB event 0x80000004, or
; with -DHOLD_MSR the MSR protocol's 0x006) and are woken by INIT-SIPI-SIPI, which the BSP sends by
; writing the x2APIC ICR (WRMSR 0x830 -> #VC -> GHCB MSR write -> VMGEXIT). A released AP continues
; after its VMGEXIT in 64-bit code, reads the TSC, drops to real mode and jumps through the AP jump
; table to the trampoline, whose first instruction is RDTSC; its first VMGEXIT there (the APIC ID
; through the MSR protocol, 7 instructions later) is the bench's host-side mark. On first boot the
; AP starts at the SEV-ES reset block instead (its launch VMSA) and comes to the same trampoline.
;
; Two modes (build-time), as bench/guests/legacy-wake.asm:
;   unicast (default): WAKES wakes, wake w to AP 1 + (w mod (NCPUS - 1)) by physical destination
;     (the first NCPUS - 1 are first boots). Per wake: RDTSC, INIT, a short PAUSE delay, RDTSC /
;     SIPI / RDTSC, wait until the AP has counted itself in at the trampoline (RDTSC when the BSP
;     sees it), RDTSC / second SIPI / RDTSC, wait until the AP is about to park again and let it
;     settle into its hold (an INIT before its VMGEXIT would strand it: the hold that follows is
;     never released). One 64-byte record per wake in the shared log (LOG_BASE; the bench reads it,
;     the page is shared so the hypervisor sees plaintext):
;       +0 target APIC ID, +8 TSC before INIT, +16 before SIPI, +24 after SIPI (the ICR WRMSR's #VC
;       round trip in between), +32 when the BSP saw the AP, +40 after the second SIPI, +48 the AP's
;       TSC at the trampoline, +56 the AP's TSC just after its hold's VMGEXIT returned (0 on first boot).
;   -DBROADCAST: markers 2 / INIT-SIPI-SIPI all-excluding-self / all APs parked: 3 / settle: 4 /
;     INIT-SIPI-SIPI again / all back and parked: 5; prints "cycles <bring-up> <wake>".
; A wake that does not happen within WAIT_PAUSES PAUSEs prints "FAIL: ..." and exits with 1.
; Exit value 0 (status 1) on success.
;
; Build (the bench does it): nasm -f bin -i guests/lib/ -i bench/guests/ -D NCPUS=n [-D WAKES=n]
;   [-D HOLD_MSR] [-D BROADCAST] sev-wake.asm

%ifndef NCPUS
%define NCPUS 2
%endif
%ifndef WAKES
%define WAKES 1000
%endif

%include "print.inc"
%include "sev-es.inc"
%include "sev-boot.inc"

NAPS            equ NCPUS - 1
%ifdef BROADCAST
%if NCPUS < 1 || NCPUS > MAX_CPUS
%error "NCPUS must be 1 to 1024"
%endif
%else
%if NCPUS < 2 || NCPUS > MAX_CPUS
%error "NCPUS must be 2 to 1024 (unicast wakes need an AP)"
%endif
%if WAKES * 64 > 0xA00000 - LOG_BASE
%error "WAKES: the log holds at most 20480 records"
%endif
%endif
ICR_INIT        equ 0x00004500          ; x2APIC ICR low: INIT, level assert (EDX = destination)
ICR_SIPI        equ 0x00004608          ; STARTUP, vector 08h (ignored under SEV-ES)
ALL_BUT_SELF    equ 0x000C0000
WAIT_PAUSES     equ 50000000
INIT_DELAY      equ 100                 ; PAUSEs between INIT and SIPI (below the pause filter)
SETTLE_PAUSES   equ 20000               ; after "about to park": a few scheduler rounds

; ---- the BSP ------------------------------------------------------------------------------------
bits 64
bsp_main:
    mov ecx, MSR_APIC_BASE              ; x2APIC on (RDMSR / WRMSR through #VC)
    rdmsr
    or eax, APIC_BASE_EN | APIC_BASE_EXTD
    wrmsr
    mov word [JUMP_TABLE], trampoline
    mov word [JUMP_TABLE + 2], 0
    mov eax, SVM_VMGEXIT_AP_JUMP_TABLE
    xor ebx, ebx                        ; SET
    mov ecx, JUMP_TABLE
    call ghcb_event
    test ebx, ebx
    jz .published
    FAIL64 `AP jump table SET refused`
.published:
    MARK 1
%ifdef BROADCAST
    MARK 2
    RDTSC64
    mov r12, rax
    xor edx, edx
    call init_sipi_sipi
    mov ebx, NAPS
    call wait_parked
    RDTSC64
    sub r12, rax
    neg r12
    MARK 3
    call settle
    MARK 4
    RDTSC64
    mov r13, rax
    xor edx, edx
    call init_sipi_sipi
    mov ebx, 2 * NAPS
    call wait_parked
    RDTSC64
    sub r13, rax
    neg r13
    MARK 5
    PUTS64 `cycles `
    HEX64 r12, 8
    PUTS64 ` `
    HEX64 r13, 8
    PUTS64 `\n`
%else
    xor r12d, r12d                      ; R12 = wake number w
    mov rbp, LOG_BASE                   ; RBP = its record
.wake:
    mov eax, r12d
    xor edx, edx
    mov ecx, NAPS
    div ecx
    lea r13d, [edx + 1]                 ; R13 = the target AP: 1 + w mod NAPS
    lea r14d, [eax + 1]                 ; R14 = its entry number this wake brings
    mov r15d, r13d
    shl r15d, 5
    add r15d, SLOTS                     ; R15 = its slot
    mov [rbp], r13
    RDTSC64
    mov [rbp + 8], rax
    mov edx, r13d
    mov eax, ICR_INIT
    call icr_write
    mov ecx, INIT_DELAY
.delay:
    pause
    loop .delay
    RDTSC64
    mov [rbp + 16], rax
    mov edx, r13d
    mov eax, ICR_SIPI
    call icr_write
    RDTSC64
    mov [rbp + 24], rax
    mov ecx, WAIT_PAUSES
.arrive:
    cmp [r15 + SLOT_ARRIVALS], r14d
    jae .arrived
    pause
    dec ecx
    jnz .arrive
    jmp lost
.arrived:
    RDTSC64
    mov [rbp + 32], rax
    mov edx, r13d
    mov eax, ICR_SIPI                   ; the second SIPI: no INIT before it, so it is dropped
    call icr_write
    RDTSC64
    mov [rbp + 40], rax
    mov ecx, WAIT_PAUSES
.parking:
    cmp [r15 + SLOT_PARKED], r14d
    jae .parked
    pause
    dec ecx
    jnz .parking
    jmp lost
.parked:
    call settle
    mov rax, [r15 + SLOT_TA]
    mov [rbp + 48], rax
    mov rax, [r15 + SLOT_TR]
    mov [rbp + 56], rax
    add rbp, 64
    inc r12d
    cmp r12d, WAKES
    jb .wake
%endif
    MARK 6
    PUTS64 `done\n`
    xor eax, eax
    jmp exit64

lost:
    FAIL64 `a wake did not happen (the AP never reached the trampoline or never parked again)`

icr_write:                              ; EDX:EAX -> the x2APIC ICR (WRMSR -> #VC)
    mov ecx, MSR_X2APIC_ICR
    wrmsr
    ret

%ifdef BROADCAST
init_sipi_sipi:                         ; to all but self
    mov eax, ALL_BUT_SELF | ICR_INIT
    call icr_write
    mov ecx, INIT_DELAY
.d:
    pause
    loop .d
    mov eax, ALL_BUT_SELF | ICR_SIPI
    call icr_write
    call icr_write
    ret

wait_parked:                            ; until `parked_total` reaches EBX, or fail
    mov ecx, WAIT_PAUSES
.w:
    cmp [parked_total], ebx
    jae .ok
    pause
    dec ecx
    jnz .w
    jmp lost
.ok:
    call settle
    ret
%endif

settle:
    mov ecx, SETTLE_PAUSES
.s:
    pause
    loop .s
    ret

; ---- an AP: the trampoline (the AP jump table's target; real mode, paging off) ------------------
bits 16
trampoline:
    rdtsc                               ; the AP's first instruction at its target
    mov ebp, eax
    mov ebx, edx
    GET_APIC_ID tramp_fail              ; its first VMGEXIT, the 8th instruction: the host's mark
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    cmp edx, MAX_CPUS
    jae tramp_fail
    mov esi, edx                        ; ESI = APIC ID
    shl edx, 5
    mov edi, edx                        ; EDI = its slot's offset in SLOTS
    mov ax, SLOTS >> 4
    mov ds, ax
    mov [edi + SLOT_TA], ebp
    mov [edi + SLOT_TA + 4], ebx
    lock inc dword [edi + SLOT_ARRIVALS]
    xor ax, ax
    mov ds, ax
    add edi, SLOTS                      ; EDI = its slot (linear)
%ifndef HOLD_MSR
    mov eax, esi                        ; its GHCB: GHCB_BASE + 4 KiB x APIC ID
    shl eax, 12
    add eax, GHCB_BASE
    xor edx, edx
    mov ecx, MSR_GHCB
    wrmsr
%endif
    o32 lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword SEL_CODE32:tramp32
tramp_fail:
    MSR_TERMINATE 0, 0
bits 32
tramp32:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    ENTER_LONG_MODE ap64

bits 64
ap64:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    lea eax, [esi + 1]
    shl eax, 12
    add eax, STACK_BASE
    mov rsp, rax
    lock inc dword [edi + SLOT_PARKED]
%ifdef BROADCAST
    lock inc dword [parked_total]
%endif
.hold:
%ifdef HOLD_MSR
    mov ecx, MSR_GHCB                   ; AP Reset Hold, MSR protocol: 0x006 -> 0x007
    mov eax, GHCB_MSR_AP_HOLD_REQ
    xor edx, edx
    wrmsr
    VMGEXIT
    rdtsc
    mov [edi + SLOT_TR], eax
    mov [edi + SLOT_TR + 4], edx
    mov ecx, MSR_GHCB
    rdmsr
    mov ebx, eax
    and ebx, 0xFFF
    cmp ebx, GHCB_MSR_AP_HOLD_RESP
    jne tramp64_fail
    shr eax, 12                         ; [63:12] = 0: a spurious wake, hold again
    or eax, edx
    jz .hold
%else
    mov eax, esi                        ; AP Reset Hold, GHCB event 0x80000004
    shl eax, 12
    add eax, GHCB_BASE
    mov ebx, eax                        ; RBX = its GHCB
    mov rdi, rbx
    call ghcb_begin
    mov eax, SVM_VMGEXIT_AP_HLT_LOOP
    GSET GHCB_SW_EXIT_CODE, rax
    xor eax, eax
    GSET GHCB_SW_EXIT_INFO_1, rax
    GSET GHCB_SW_EXIT_INFO_2, rax
    mov edi, esi                        ; EDI = its slot again
    shl edi, 5
    add edi, SLOTS
    VMGEXIT
    rdtsc
    mov [edi + SLOT_TR], eax
    mov [edi + SLOT_TR + 4], edx
    cmp qword [rbx + GHCB_SW_EXIT_INFO_1], 0
    jne tramp64_fail
    cmp qword [rbx + GHCB_SW_EXIT_INFO_2], 0
    je .hold                            ; 0: a spurious wake, hold again
%endif
    jmp ap_to_real                      ; released: in through the jump table again
tramp64_fail:
    MSR_TERMINATE 0, 0

align 4
parked_total: dd 0

%include "sev-es-vc.inc"
%include "io64.inc"
%include "sev-rom.inc"
