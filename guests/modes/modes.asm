; modes - the thorough processor-mode guest. One line per step on port 0xE9; every line is a
; fact QEMU must agree with; a failed check prints "FAIL ..." and exits with V=1.
;
;   RM      real mode, segment:offset arithmetic
;   UNREAL  4 GiB FS limit loaded in protected mode survives the return to real mode
;   PM16    a 16-bit protected-mode code segment, a data segment with a base above 1 MiB
;   PM32    32-bit IDT (interrupt + trap gates): #DE, #UD, INT3, #GP with error code
;   PG32    32-bit paging: 4 KiB and 4 MiB (PSE) pages, #PF fixed up and retried, A/D bits
;   PAE     PAE paging with a 2 MiB page
;   LM      long mode: EFER.LMA, higher-half mapping, 64-bit IDT: #PF, #DE, #UD, INT3,
;           #GP on an IST stack
;   COMPAT  a 32-bit code segment inside long mode, and back
;   RING3   IRETQ to CPL 3, #GP from ring 3, INT 0x80 with the TSS.RSP0 stack switch
;   SYSCALL SYSCALL/SYSRET round trip (STAR, LSTAR, SFMASK)
; Exit value 0 (status 1) when everything passed.

%include "print.inc"
%include "layout.inc"

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
    jmp 0x0000:.cs_zero
.cs_zero:
    mov [boot_dl], dl
    mov al, 0xFF                    ; mask both 8259 PICs: later steps run with IF=1
    out 0x21, al
    out 0xA1, al

    PUTS16 `RM: real mode at 0000:7C00, DL=`
    movzx eax, byte [boot_dl]
    mov cx, 2
    call hex16
    PUTS16 `\n`

    ; The same byte through two segment:offset pairs: 1234:0010 = 1000:2350 = linear 12350.
    mov ax, 0x1234
    mov es, ax
    mov word [es:0x0010], 0x5AA5
    mov ax, 0x1000
    mov fs, ax
    mov ax, [fs:0x2350]
    PUTS16 `RM: wrote 1234:0010, read 1000:2350 = `
    mov cx, 4
    call hex16
    PUTS16 `\n`

; ---- unreal mode ----------------------------------------------------------
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax                    ; protected mode, still on the real-mode CS
    mov bx, SEL_DATA
    mov fs, bx                      ; FS: base 0, limit 4 GiB
    and al, 0xFE
    mov cr0, eax                    ; back to real mode
    xor bx, bx
    mov fs, bx                      ; a real-mode load sets base 0 but keeps the 4 GiB limit
    mov esi, UNREAL_ADDR
    mov dword [fs:esi], 0xCAFEF00D
    mov eax, [fs:esi]
    PUTS16 `UNREAL: back in real mode with a 4 GiB FS limit: [FS:00200000] = `
    mov cx, 8
    call hex16
    PUTS16 `\n`

; ---- 16-bit protected mode ------------------------------------------------
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp SEL_CODE16:pm16
pm16:
    mov ax, SEL_DATA
    mov ds, ax
    mov ss, ax
    mov ax, SEL_DATA16              ; base 00210000, limit FFFF
    mov es, ax
    mov word [es:0x0010], 0xBEEF
    mov esi, PM16_BASE + 0x10
    mov bx, [esi]                   ; the same word through the flat DS
    mov ax, cs
    PUTS16 `PM16: 16-bit code segment CS=`
    mov cx, 4
    call hex16
    PUTS16 `; [ES:0010] with ES base 00210000 is [00210010] = `
    mov ax, bx
    call hex16
    PUTS16 `\n`
    jmp dword SEL_CODE32:pm32

fail16:
    PUTS16 `FAIL in 16-bit code\n`
    mov al, 1
    out 0xF4, al
    hlt

%include "io16.inc"
%include "pm32.inc"
%include "lm64.inc"
%include "ring3.inc"
%include "data.inc"
