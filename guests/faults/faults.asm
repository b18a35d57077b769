; faults - a deliberate triple fault. In 32-bit protected mode with an IDT whose limit is 0,
; a divide by zero cannot be delivered: #DE -> #GP (gate past the IDT limit) -> #DF (also past
; it) -> shutdown. Expected: the first line, then a triple fault; the second line never
; appears and no exit value is written. (QEMU with -no-reboot exits with status 0.)

%include "print.inc"

bits 16
org 0x7C00

start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7C00
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
    mov esp, 0x90000
    lidt [empty_idtr]
    PUTS32 `FAULTS: IDT limit 0, dividing by zero: #DE -> #GP -> #DF -> triple fault\n`
    xor edx, edx
    xor ecx, ecx
    mov eax, 1
    div ecx
    PUTS32 `FAULTS: not reached\n`
    mov al, 1
    jmp exit32

%include "io32.inc"

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF           ; 08 32-bit code, base 0, 4 GiB
    dq 0x00CF92000000FFFF           ; 10 data, base 0, 4 GiB
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
empty_idtr:
    dw 0                            ; limit 0: not even vector 0 fits
    dd 0
