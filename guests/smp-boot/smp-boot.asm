; smp-boot - INIT-SIPI-SIPI from a boot sector: the BSP (32-bit protected mode) starts every AP
; through the xAPIC ICR (all-excluding-self shorthand), each AP runs a real-mode trampoline at
; 0x8000 (SIPI vector 08h), counts itself in with LOCK XADD and prints its APIC ID; then the BSP
; sends one fixed IPI (vector 40h) to all APs, which enable their APIC (SVR, from unreal mode),
; take the IPI through the IVT, say so and send EOI.
; Needs the local APIC at 0xFEE00000; the number of CPUs is whatever the machine has.
; Exit value 0 (status 1).

%include "print.inc"

AP_STACKS equ 0x20000                   ; 256 bytes per AP, by arrival slot

bits 16
org 0x7C00

start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    jmp 0x0000:.cs0
.cs0:
    mov word [0x40 * 4], ipi_handler    ; IVT[40h] for the APs (real mode)
    mov word [0x40 * 4 + 2], 0
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:pm32

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7000
    PUTS32 `BSP: sending INIT, SIPI, SIPI to all other CPUs\n`
    mov dword [0xFEE00310], 0
    mov dword [0xFEE00300], 0x000C4500  ; INIT, level assert, all excluding self
    call delay
    mov dword [0xFEE00300], 0x000C4608  ; STARTUP, vector 08h -> 0800:0000
    call delay
    mov dword [0xFEE00300], 0x000C4608  ; the second SIPI (ignored by APs already running)
    mov ecx, 400000
.wait:
    pause
    loop .wait
    call lock_print
    PUTS32 `BSP: APs online: `
    mov eax, [count]
    call hex32
    PUTS32 `\n`
    call unlock_print
    mov dword [0xFEE00300], 0x000C4040  ; fixed IPI, vector 40h, all excluding self
    mov ecx, 400000
.wait2:
    pause
    loop .wait2
    call lock_print
    PUTS32 `BSP: IPIs taken: `
    mov eax, [ipis]
    call hex32
    PUTS32 `\nSMP: done\n`
    xor al, al
    out 0xF4, al
.halt:
    hlt
    jmp .halt

delay:
    mov ecx, 20000
.d: pause
    loop .d
    ret

lock_print:                             ; a spinlock around whole lines of output
    lock bts dword [print_lock], 0
    jnc .got
    pause
    jmp lock_print
.got:
    ret
unlock_print:
    mov dword [print_lock], 0
    ret

%include "io32.inc"

; ---- the AP trampoline: 4 KiB aligned for the SIPI vector ----
bits 16
    times 0x8000 - 0x7C00 - ($ - $$) db 0
ap_start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov ax, 1
    lock xadd [count], ax               ; ax = this AP's slot
    ; A 256-byte stack per AP, each in its own segment from 0x20000 up (1024 APs end at 0x60000):
    ; carved below 0x6000 in segment 0, as before, the 95th AP's stack reached the IVT and the
    ; 215th's the trampoline code itself.
    shl ax, 4
    add ax, AP_STACKS >> 4
    mov ss, ax
    mov sp, 0x100
    call ap_lock
    PUTS16 `AP `
    call print_apic_id
    PUTS16 ` online\n`
    call ap_unlock
    ; Unreal mode for FS (4 GiB limit) so real-mode code can reach the local APIC page, then
    ; software-enable the APIC (SVR bit 8): a software-disabled APIC accepts no fixed IPIs.
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    mov bx, 0x10
    mov fs, bx
    and al, 0xFE
    mov cr0, eax
    xor bx, bx
    mov fs, bx
    mov dword [fs:dword 0xFEE000F0], 0x1FF
    sti
.idle:
    hlt
    jmp .idle

ipi_handler:                            ; vector 40h in real mode (no EOI: one IPI only)
    push ax
    lock inc word [ipis]
    call ap_lock
    PUTS16 `AP `
    call print_apic_id
    PUTS16 ` got the fixed IPI\n`
    call ap_unlock
    mov dword [fs:dword 0xFEE000B0], 0  ; EOI
    pop ax
    iret

print_apic_id:                          ; CPUID.1:EBX[31:24]
    push eax
    push ebx
    push ecx
    push edx
    mov eax, 1
    cpuid
    shr ebx, 24
    mov eax, ebx
    mov cx, 2
    call hex16
    pop edx
    pop ecx
    pop ebx
    pop eax
    ret

ap_lock:
    lock bts word [print_lock], 0
    jnc .got
    pause
    jmp ap_lock
.got:
    ret
ap_unlock:
    mov word [print_lock], 0
    ret

%include "io16.inc"

align 4
count:      dd 0
ipis:       dd 0
print_lock: dd 0

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF               ; 0x08: 32-bit code, flat
    dq 0x00CF92000000FFFF               ; 0x10: data, flat
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
