; sev-exit-loop - the exit-cost guest for SEV-ES: three loops of ITERS round trips to the hypervisor,
; each bracketed by marker bytes (the bench takes a host timestamp at each) and by RDTSC:
;   1. GHCB page protocol: CPUID (leaf 0) written into the GHCB, VMGEXIT, the answer read back;
;   2. GHCB MSR protocol: CPUID request 0x004 in the GHCB MSR, VMGEXIT, response read (the GHCB's
;      address is written back into the MSR after the loop);
;   3. #VC: a plain CPUID instruction, intercepted -> #VC -> the guest's handler (guests/lib
;      sev-es-vc.inc) asks through the GHCB -> VMGEXIT -> IRETQ.
; Markers: 1 before loop 1, 2 after it (= before loop 2), 3 after loop 2 (= before loop 3), 4 after
; loop 3. Then it prints "cycles <page> <msr> <vc>" (hex RDTSC differences) and exits with 0.
;
; Build (the bench does it): nasm -f bin -i guests/lib/ -i bench/guests/ -D ITERS=n sev-exit-loop.asm

%ifndef ITERS
%define ITERS 20000
%endif

%include "print.inc"
%include "sev-es.inc"
%include "sev-boot.inc"

bits 64
bsp_main:
    mov rdi, GHCB_BASE
    MARK 1
    RDTSC64
    mov r12, rax
    mov r8d, ITERS
.page:                                  ; 1. CPUID through the GHCB page
    call ghcb_begin
    xor eax, eax
    GSET GHCB_RAX, rax
    GSET GHCB_RCX, rax
    mov eax, SVM_EXIT_CPUID
    xor ebx, ebx
    xor ecx, ecx
    call ghcb_call
    test ebx, ebx
    jnz .refused
    mov eax, [rdi + GHCB_RBX]
    dec r8d
    jnz .page
    RDTSC64
    sub r12, rax
    neg r12
    MARK 2

    RDTSC64
    mov r13, rax
    mov r8d, ITERS
.msr:                                   ; 2. CPUID through the GHCB MSR protocol
    MSR_CPUID 0, CPUID_EBX, .bad_msr
    dec r8d
    jnz .msr
    mov ecx, MSR_GHCB                   ; the GHCB back in the MSR, for #VC
    mov eax, GHCB_BASE
    xor edx, edx
    wrmsr
    RDTSC64
    sub r13, rax
    neg r13
    MARK 3

    RDTSC64
    mov r14, rax
    mov r8d, ITERS
.vc:                                    ; 3. CPUID -> #VC -> GHCB -> VMGEXIT -> IRETQ
    xor eax, eax
    xor ecx, ecx
    cpuid
    dec r8d
    jnz .vc
    RDTSC64
    sub r14, rax
    neg r14
    MARK 4

    PUTS64 `cycles `
    HEX64 r12, 16
    PUTS64 ` `
    HEX64 r13, 16
    PUTS64 ` `
    HEX64 r14, 16
    PUTS64 `\n`
    xor eax, eax
    jmp exit64
.refused:
    FAIL64 `GHCB CPUID refused (sw_exit_info_1 != 0)`
.bad_msr:
    mov ecx, MSR_GHCB
    mov eax, GHCB_BASE
    xor edx, edx
    wrmsr
    FAIL64 `MSR protocol CPUID: no CPUID response`

%include "sev-es-vc.inc"
%include "io64.inc"
%include "sev-rom.inc"
