; The instruction fuzzer's guest prologue (test/fuzz/instructions.test.ts builds the rest of the image:
; GDT, IVT, IDTs, page tables and handler stubs are static bytes it writes around this code).
; Loaded as a boot sector at 0000:7C00. Reads the mode byte at 0x7E70 and enters it, then jumps to the
; random bytes at 0x9000 with the general registers zero and the stack at 0x7000:
;   0 real, 1 16-bit protected, 2 32-bit protected, 3 64-bit long mode, 4 compatibility mode.
; Assemble: nasm -f bin -o /dev/stdout modes-prologue.asm | xxd -p   (the test embeds the bytes)
bits 16
org 0x7c00

MODE        equ 0x7e70
GDTR        equ 0x7e40
IDTR_REAL   equ 0x7e48
IDTR32      equ 0x7e50
IDTR64      equ 0x7e58
CODE        equ 0x9000
PML4        equ 0xc000

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    mov al, [MODE]
    cmp al, 0
    jne .prot
    lidt [IDTR_REAL]
    xor eax, eax
    xor edx, edx
    jmp 0:CODE
.prot:
    lgdt [GDTR]
    cmp al, 3
    jae .long
    o32 lidt [IDTR32]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    cmp byte [MODE], 1
    jne .to32
    jmp 0x08:pm16
.to32:
    jmp dword 0x18:pm32
.long:
    o32 lidt [IDTR64]
    mov eax, cr4
    or eax, 0x20                ; PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xc0000080         ; EFER.LME
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000001          ; PG, PE
    mov cr0, eax
    cmp byte [MODE], 4
    je .tocompat
    jmp 0x28:lm64
.tocompat:
    jmp dword 0x18:pm32         ; a 32-bit code segment in long mode: compatibility mode

pm16:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    xor eax, eax
    xor ecx, ecx
    xor edx, edx
    jmp CODE

bits 32
pm32:
    mov ax, 0x20
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, 0x7000
    xor eax, eax
    xor ecx, ecx
    xor edx, edx
    jmp CODE

bits 64
lm64:
    mov ax, 0x20
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov rsp, 0x7000
    xor eax, eax
    xor ecx, ecx
    xor edx, edx
    jmp CODE
