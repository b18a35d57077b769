; sev-peer - the peer workload (bench/peers/workload.inc, the loop of bench/peers/guest.asm) as an
; SEV-ES guest: a firmware ROM (sev-boot.inc) whose BSP reaches 64-bit code with the GHCB and the
; #VC handler in place, runs the workload, and prints "CKSUM=XXXXXXXX" (port 0xE9 -> #VC -> GHCB
; IOIO) as guest.asm does, then exits with 0. The loop itself never leaves the guest: it touches no
; port, no MSR and no CPUID, so its cost is the processor's, under nested paging and the C-bit.
;   -D LONGMODE: the workload as 64-bit code; without it, as 32-bit code in compatibility mode (a
;   32-bit code segment under long mode: SEV-ES keeps paging on, and a far return gets there).
;
; Build (the bench does it): nasm -f bin -i guests/lib/ -i bench/guests/ -D ITERS=n sev-peer.asm

%ifndef ITERS
%define ITERS 1000
%endif

%include "print.inc"
%include "sev-es.inc"
%include "sev-boot.inc"

TABLE   equ 0x30000                     ; a free private page (after the AP slots)
TABLE_N equ 1024
%include "../peers/workload.inc"

bits 64
bsp_main:
%ifdef LONGMODE
    PEER_WORKLOAD
%else
    push SEL_CODE32                     ; 64-bit -> compatibility mode
    mov eax, .compat
    push rax
    retfq
bits 32
.compat:
    PEER_WORKLOAD
    jmp SEL_CODE64:.back
bits 64
.back:
%endif
    PUTS64 `CKSUM=`
    HEX64 rax, 8
    PUTS64 `\r\n`
    xor eax, eax
    jmp exit64

    PEER_RNG

%include "sev-es-vc.inc"
%include "io64.inc"
%include "sev-rom.inc"
