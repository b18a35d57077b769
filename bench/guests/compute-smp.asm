; compute-smp - a compute-bound SMP guest for the threaded scheduler's speed-up bench (boot sector,
; loaded whole at 0x7C00; the AP trampoline lands at 0x8000, STARTUP vector 08h). Every vCPU counts
; ECX down from ITERS (DEC/JNZ: two instructions an iteration), so NCPUS vCPUs do NCPUS times the
; work of one. The BSP starts the APs with INIT-SIPI-SIPI through the x2APIC ICR (shorthand all
; excluding self, no APIC page to map in real mode); each AP marks done[its x2APIC ID] with a plain
; byte store (no locked instruction: the mark must not depend on LOCK being atomic across
; threads); the BSP waits for every mark and exits with value 0 through port 0xF4.

%ifndef NCPUS
%define NCPUS 2
%endif
%ifndef ITERS
%define ITERS 5000000
%endif

bits 16
org 0x7C00
bsp_start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov ecx, 0x1B                   ; IA32_APIC_BASE: EN | EXTD (x2APIC mode)
    rdmsr
    or eax, 0xC00
    wrmsr
%if NCPUS > 1
    mov ecx, 0x830                  ; x2APIC ICR
    xor edx, edx
    mov eax, 0xC4500                ; INIT, all excluding self
    wrmsr
    mov eax, 0xC4608                ; STARTUP, vector 08h
    wrmsr
%endif
    mov ecx, ITERS
.work:
    dec ecx
    jnz .work
    mov si, 1
.next:
    cmp si, NCPUS
    jae .exit
.spin:
    cmp byte [done + si], 0
    jne .seen
    pause
    jmp .spin
.seen:
    inc si
    jmp .next
.exit:
    xor al, al
    out 0xF4, al
.halt:
    hlt
    jmp .halt

done: times 64 db 0             ; done[i]: AP i finished

    times 0x400 - ($ - $$) db 0
ap_start:                           ; 0800:0000
    cli
    xor ax, ax
    mov ds, ax
    mov ecx, 0x1B
    rdmsr
    or eax, 0xC00
    wrmsr
    mov ecx, 0x802                  ; x2APIC ID
    rdmsr
    mov ebx, eax
    mov ecx, ITERS
.work:
    dec ecx
    jnz .work
    mov byte [ebx + done], 1
.halt:
    hlt
    jmp .halt
