; exit-loop - the exit-cost guest for the bare processor, SVM and VMX: a boot sector that enters
; long mode (0-1 GiB identity-mapped in 2 MiB pages) and runs ITERS iterations of
;     xor eax, eax / cpuid / dec esi / jnz
; (4 instructions; under SVM and VMX the CPUID is intercepted: one exit and re-entry per iteration;
; on the bare processor it executes in place). The loop is bracketed by marker bytes on the debug
; port (0x01 before, 0x02 after: the bench takes a host timestamp at each) and by RDTSC, whose
; difference the guest prints as "cycles <hex>". Exit value 0 (status 1).
;
; Build: nasm -f bin -D ITERS=n -o exit-loop.img exit-loop.asm (the bench does it into build/bench/).

%ifndef ITERS
%define ITERS 100000
%endif

PML4    equ 0x10000                     ; PML4, PDPT, PD at 0x10000-0x12FFF
STACK   equ 0x30000

        org 0x7C00
        bits 16
start:
        cli
        cld
        xor ax, ax
        mov ds, ax
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
        mov esp, STACK
        mov edi, PML4                   ; three zeroed tables
        mov ecx, 3 * 4096 / 4
        xor eax, eax
        rep stosd
        mov dword [PML4], PML4 + 0x1003
        mov dword [PML4 + 0x1000], PML4 + 0x2003
        mov edi, PML4 + 0x2000
        mov eax, 0x83                   ; present, writable, 2 MiB
.pd:
        mov [edi], eax
        add eax, 0x200000
        add edi, 8
        cmp edi, PML4 + 0x3000
        jb .pd
        mov eax, cr4
        or eax, 1 << 5                  ; PAE
        mov cr4, eax
        mov eax, PML4
        mov cr3, eax
        mov ecx, 0xC0000080
        rdmsr
        or eax, 1 << 8                  ; LME
        wrmsr
        mov eax, cr0
        or eax, 1 << 31
        mov cr0, eax
        jmp 0x18:lm64

        bits 64
lm64:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov al, 1
        out 0xE9, al                    ; marker 1: the loop starts
        rdtsc
        shl rdx, 32
        or rax, rdx
        mov r8, rax
        mov esi, ITERS                  ; (CPUID writes EAX, EBX, ECX and EDX)
.loop:
        xor eax, eax
        cpuid
        dec esi
        jnz .loop
        rdtsc
        shl rdx, 32
        or rax, rdx
        sub rax, r8
        mov r8, rax
        mov al, 2
        out 0xE9, al                    ; marker 2: the loop ended
        mov rsi, msg_cycles
        call puts
        mov rax, r8
        call hex16
        mov al, 10
        out 0xE9, al
        xor al, al
        out 0xF4, al
.stuck:
        hlt
        jmp .stuck

puts:                                   ; the zero-terminated string at RSI
        lodsb
        test al, al
        jz .done
        out 0xE9, al
        jmp puts
.done:
        ret

hex16:                                  ; RAX as 16 hex digits
        mov rdx, rax
        mov ecx, 16
.digit:
        rol rdx, 4
        mov al, dl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '0' - 10
.out:
        out 0xE9, al
        loop .digit
        ret

msg_cycles: db 'cycles ', 0

align 8
gdt:
        dq 0
        dq 0x00CF9A000000FFFF           ; 08: 32-bit code
        dq 0x00CF92000000FFFF           ; 10: data
        dq 0x00AF9A000000FFFF           ; 18: 64-bit code
gdt_end:
gdtr:
        dw gdt_end - gdt - 1
        dd gdt

        times 510 - ($ - $$) db 0
        dw 0xAA55
