; hello64 - the README demo: a tiny guest that goes real mode -> 32-bit protected mode ->
; 64-bit long mode (4-level paging, identity map of the first 2 MiB) and greets from there.
; Proves the basic boot path; prints nothing host-dependent. Exit value 0 (status 1).
;
; Contract (same as every guest): loaded at 0x7C00, entered in real mode at 0000:7C00,
; no BIOS, RAM contents unknown, output on port 0xE9, exit via port 0xF4.

PML4 equ 0x10000        ; page tables (4 KiB each): PML4 -> PDPT -> PD -> PT
PDPT equ 0x11000
PD   equ 0x12000
PT   equ 0x13000
STACK_TOP equ 0x80000

%include "print.inc"

bits 16
org 0x7C00

; ---- real mode ------------------------------------------------------------
start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    jmp 0x0000:.cs_zero             ; CS:IP 0000:7C00 by contract; make it explicit
.cs_zero:
    PUTS16 `Hello from hvemu's hello64 guest!\n`
    PUTS16 `1. real mode: started at 0000:7C00 with no BIOS\n`

    lgdt [gdtr]
    mov eax, cr0
    or al, 1                        ; CR0.PE
    mov cr0, eax
    jmp dword SEL_CODE32:pm32

%include "io16.inc"

; ---- 32-bit protected mode ------------------------------------------------
bits 32
pm32:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, STACK_TOP
    PUTS32 `2. protected mode: 32-bit code, flat segments\n`

    ; Page tables: clear 4 tables, then link them and identity-map 0-2 MiB with 4 KiB pages.
    mov edi, PML4
    mov ecx, 4 * 4096 / 4
    xor eax, eax
    rep stosd
    mov dword [PML4], PDPT | 3      ; present + writable
    mov dword [PDPT], PD | 3
    mov dword [PD], PT | 3
    mov edi, PT
    mov eax, 3                      ; page 0, present + writable
.fill:
    mov [edi], eax
    add edi, 8
    add eax, 4096
    cmp edi, PT + 4096
    jb .fill

    mov eax, cr4
    or eax, 1 << 5                  ; CR4.PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xC0000080             ; EFER
    rdmsr
    or eax, 1 << 8                  ; EFER.LME
    wrmsr
    mov eax, cr0
    or eax, 1 << 31                 ; CR0.PG: long mode becomes active
    mov cr0, eax
    jmp SEL_CODE64:lm64

%include "io32.inc"

; ---- 64-bit long mode -----------------------------------------------------
bits 64
lm64:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, STACK_TOP
    PUTS64 `3. long mode: 64-bit code, 4-level paging, identity-mapped\n`
    mov rax, 0x0123456789ABCDEF
    PUTS64 `   a 64-bit register holds 0x`
    HEX64 rax, 16
    PUTS64 `\nAll three modes worked. Bye!\n`
    xor eax, eax
    jmp exit64

%include "io64.inc"

; ---- descriptor table -----------------------------------------------------
align 8
gdt:
    dq 0                            ; null
    dq 0x00CF9A000000FFFF           ; 0x08: 32-bit code, base 0, 4 GiB
    dq 0x00CF92000000FFFF           ; 0x10: data, base 0, 4 GiB
    dq 0x00AF9A000000FFFF           ; 0x18: 64-bit code (L=1)
gdt_end:
SEL_CODE32 equ 0x08
SEL_DATA   equ 0x10
SEL_CODE64 equ 0x18

gdtr:
    dw gdt_end - gdt - 1
    dd gdt
