; spin-loop - a waiter's spin loop for the MIPS bench's spin rows (bench/mips-spin.ts): a boot sector
; that enters 32-bit protected mode (no paging, as the peer workload's 32-bit form) and runs ITERS
; iterations of
;     pause / cmp dword [FLAG], 0 / jne / dec ecx / jnz        (5 instructions; 4 with -D NOPAUSE)
; on a flag nobody sets, as a vCPU waiting for another would. Under SVM every PAUSE counts down the
; pause filter and under VMX the loop trips the PAUSE-loop exit (PLE) window: the rows show what those
; exits cost against the bare processor. Then it prints "SPIN=XXXXXXXX", the iterations done (hex;
; must be ITERS), on port 0xE9 and exits with 0 (port 0xF4, status 1).
;
; Build (the bench does it): nasm -f bin -D ITERS=n [-D NOPAUSE] spin-loop.asm

%ifndef ITERS
%define ITERS 100000
%endif

FLAG    equ 0x20000
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
        mov dword [FLAG], 0
        mov ecx, ITERS
        align 16, nop
.spin:
%ifndef NOPAUSE
        pause
%endif
        cmp dword [FLAG], 0
        jne .done
        dec ecx
        jnz .spin
.done:
        mov edx, ITERS
        sub edx, ecx                    ; iterations done
        mov esi, msg_spin
.msg:
        lodsb
        test al, al
        jz .hex
        out 0xE9, al
        jmp .msg
.hex:
        mov ecx, 8
.digit:
        rol edx, 4
        mov al, dl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '0' - 10
.out:
        out 0xE9, al
        loop .digit
        mov al, 10
        out 0xE9, al
        xor eax, eax
        out 0xF4, al
.halt:
        cli
        hlt
        jmp .halt

msg_spin: db 'SPIN=', 0

align 8
gdt:
        dq 0
        dq 0x00CF9A000000FFFF           ; 08: 32-bit code
        dq 0x00CF92000000FFFF           ; 10: data
gdt_end:
gdtr:
        dw gdt_end - gdt - 1
        dd gdt

        times 510 - ($ - $$) db 0
        dw 0xAA55
