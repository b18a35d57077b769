; xmc - cross-modifying code between two CPUs (Intel SDM vol 3 8.1.3): the first AP calls a
; function at 0x9000, says so through memory, waits for the BSP to rewrite the function's
; immediate, executes CPUID (serializing) and calls the function again; the BSP prints what the
; two calls returned. With one CPU (fw_cfg FW_CFG_NB_CPUS below 2, or no fw_cfg) it says so.
; Needs the local APIC at 0xFEE00000. Exit value 0 (status 1).

%include "print.inc"

FW_CFG_SELECTOR equ 0x510
FW_CFG_DATA     equ 0x511
FW_CFG_NB_CPUS  equ 0x05
OLD_VALUE       equ 0x11
NEW_VALUE       equ 0x22

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
    mov dx, FW_CFG_SELECTOR
    mov ax, FW_CFG_NB_CPUS
    out dx, ax
    mov dx, FW_CFG_DATA
    in al, dx
    mov bl, al
    in al, dx
    mov bh, al
    cmp bx, 2
    jb .one
    cmp bx, 255
    ja .one
    mov dword [0xFEE00310], 0
    mov dword [0xFEE00300], 0x000C4500  ; INIT, level assert, all excluding self
    call delay
    mov dword [0xFEE00300], 0x000C4608  ; STARTUP, vector 08h -> 0800:0000
    call delay
    mov dword [0xFEE00300], 0x000C4608
.ran:
    pause
    cmp byte [ran], 0
    je .ran
    mov byte [func + 1], NEW_VALUE      ; the immediate of `mov al, imm8`, which the AP has run
    mov byte [patched], 1
.done:
    pause
    cmp byte [done], 0
    je .done
    PUTS32 `XMC: the AP's call returned `
    movzx eax, byte [before]
    call hex32
    PUTS32 ` before the rewrite, `
    movzx eax, byte [after]
    call hex32
    PUTS32 ` after it\n`
    jmp .exit
.one:
    PUTS32 `XMC: one CPU, nothing to test\n`
.exit:
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
    lock xadd [count], ax
    test ax, ax                         ; only the first AP takes part
    jnz .idle
    mov sp, 0x6000
    call func
    mov [before], al
    mov byte [ran], 1
.wait:
    pause
    cmp byte [patched], 0
    je .wait
    xor eax, eax
    cpuid                               ; the serializing instruction the SDM asks of the executing CPU
    call func
    mov [after], al
    mov byte [done], 1
.idle:
    cli
    hlt
    jmp .idle

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF               ; 0x08: 32-bit code, flat
    dq 0x00CF92000000FFFF               ; 0x10: data, flat
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt

; The flags in a 128-byte chunk of their own, away from code (a store there drops no block).
align 128
count:   dw 0
ran:     db 0
patched: db 0
done:    db 0
before:  db 0
after:   db 0

; ---- the function the BSP rewrites, alone on its page (the same bytes in 16- and 32-bit code) ----
    times 0x9000 - 0x7C00 - ($ - $$) db 0
func:
    mov al, OLD_VALUE
    ret
