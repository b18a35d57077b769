; legacy - instructions that exist only outside 64-bit mode, and the single-step trap:
; DAA DAS AAA AAS AAM AAD (flags the manuals define are printed, undefined ones masked),
; AAM 0 -> #DE, BOUND in and out of range (#BR), ARPL (#UD in real mode, RPL adjust and ZF in
; 16-bit protected mode), and RFLAGS.TF single-stepping through the IVT's #DB vector.
; Everything runs in real mode except ARPL. Exit value 0 (status 1).

%include "print.inc"

bits 16
org 0x7C00

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
    ; IVT: #DE, #DB, #BR, #UD go to handlers that record and skip.
    mov word [0 * 4], de_handler
    mov word [0 * 4 + 2], 0
    mov word [1 * 4], db_handler
    mov word [1 * 4 + 2], 0
    mov word [5 * 4], br_handler
    mov word [5 * 4 + 2], 0
    mov word [6 * 4], ud_handler
    mov word [6 * 4 + 2], 0

; BCD ALU op: label, input AX, input FLAGS, two instructions (nop when one is enough), mask
; of the flags the manuals define for the adjust instruction.
%macro BCD 6
    PUTS16 %1
    mov ax, %2
    push word %3
    popf
    %4
    %5
    pushf
    pop dx
    and dx, %6
    call show_ax_dx
%endmacro

DAA_F equ 0xD5          ; DAA/DAS: CF PF AF ZF SF defined, OF undefined
AAA_F equ 0x11          ; AAA/AAS: CF AF defined
AAM_F equ 0xC4          ; AAM/AAD: PF ZF SF defined

    BCD `DAA  79+35      `, 0x0079, 0x0002, {add al, 0x35}, {daa}, DAA_F
    BCD `DAA  15+27      `, 0x0015, 0x0002, {add al, 0x27}, {daa}, DAA_F
    BCD `DAA  99+01      `, 0x0099, 0x0002, {add al, 0x01}, {daa}, DAA_F
    BCD `DAA  09+09      `, 0x0009, 0x0002, {add al, 0x09}, {daa}, DAA_F
    BCD `DAA  AL=9A CF=1 `, 0x009A, 0x0003, {nop}, {daa}, DAA_F
    BCD `DAA  AL=0F AF=1 `, 0x000F, 0x0012, {nop}, {daa}, DAA_F
    BCD `DAS  35-79      `, 0x0035, 0x0002, {sub al, 0x79}, {das}, DAA_F
    BCD `DAS  42-15      `, 0x0042, 0x0002, {sub al, 0x15}, {das}, DAA_F
    BCD `DAS  00-01      `, 0x0000, 0x0002, {sub al, 0x01}, {das}, DAA_F
    BCD `DAS  AL=03 AF=1 `, 0x0003, 0x0012, {nop}, {das}, DAA_F
    BCD `AAA  0009+08    `, 0x0009, 0x0002, {add al, 0x08}, {aaa}, AAA_F
    BCD `AAA  01FB AF=0  `, 0x01FB, 0x0002, {nop}, {aaa}, AAA_F
    BCD `AAA  0105       `, 0x0105, 0x0002, {nop}, {aaa}, AAA_F
    BCD `AAS  0205-08    `, 0x0205, 0x0002, {sub al, 0x08}, {aas}, AAA_F
    BCD `AAS  0003 AF=1  `, 0x0003, 0x0012, {nop}, {aas}, AAA_F
    BCD `AAM  AL=3F      `, 0x003F, 0x0002, {nop}, {aam}, AAM_F
    BCD `AAM  AL=FF base16`, 0x00FF, 0x0002, {nop}, {aam 16}, AAM_F
    BCD `AAD  0607       `, 0x0607, 0x0002, {nop}, {aad}, AAM_F
    BCD `AAD  0F0F base16`, 0x0F0F, 0x0002, {nop}, {aad 16}, AAM_F
    BCD `AAD  0000       `, 0x0000, 0x0002, {nop}, {aad}, AAM_F

    ; AAM with base 0 divides by zero: #DE, the handler skips the 2-byte instruction.
    mov byte [faults], 0
    mov ax, 0x1234
aam0:
    aam 0
    PUTS16 `AAM 0: #DE taken `
    movzx eax, byte [faults]
    mov cx, 2
    call hex16
    PUTS16 ` time(s), saved IP = the AAM: `
    mov ax, [saved_ip]
    cmp ax, aam0
    call yes_no
    PUTS16 `, AX unchanged = `
    mov cx, 4
    movzx eax, word [ax_after]
    call hex16
    PUTS16 `\n`

    ; BOUND: the index inside [lower, upper] passes, outside raises #BR (a fault: IP at BOUND).
    mov byte [faults], 0
    mov ax, 5
    bound ax, [bounds]
    mov ax, -3
    bound ax, [bounds]
    mov ax, 10
    bound ax, [bounds]
    mov ax, 11
bound_hi:
    bound ax, [bounds]
    PUTS16 `BOUND [-3, 10]: indexes 5, -3, 10 pass; 11 raises #BR: faults=`
    movzx eax, byte [faults]
    mov cx, 2
    call hex16
    PUTS16 `, saved IP = the BOUND: `
    mov ax, [saved_ip]
    cmp ax, bound_hi
    call yes_no
    PUTS16 `\n`

    ; ARPL is not recognised in real mode: #UD.
    mov byte [faults], 0
    mov ax, 0x0010
    mov bx, 0x0003
arpl_rm:
    arpl ax, bx
    PUTS16 `ARPL in real mode: #UD at the ARPL: `
    mov ax, [saved_ip]
    cmp ax, arpl_rm
    call yes_no
    PUTS16 `\n`

    ; Single-step: TF set by POPF traps after each following instruction; the #DB handler
    ; records the saved IPs and clears TF in the saved FLAGS on the fourth trap.
    mov byte [steps], 0
    pushf
    pop ax
    or ax, 0x0100
    push ax
    popf                            ; TF = 1: the trap comes after the NEXT instruction
step1:
    mov bx, 1
step2:
    add bx, bx
step3:
    inc bx
step4:
    nop
step5:
    nop
    PUTS16 `TF: `
    movzx eax, byte [steps]
    mov cx, 2
    call hex16
    PUTS16 ` single-step traps, saved IPs after each stepped instruction: `
    mov ax, [step_ips]
    cmp ax, step2
    call yes_no
    mov ax, [step_ips + 2]
    cmp ax, step3
    call yes_no
    mov ax, [step_ips + 4]
    cmp ax, step4
    call yes_no
    mov ax, [step_ips + 6]
    cmp ax, step5
    call yes_no
    PUTS16 `, BX=`
    movzx eax, bx
    mov cx, 4
    call hex16
    PUTS16 `\n`

    ; 16-bit protected mode for ARPL.
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:pm16

bits 16
pm16:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ax, 0x0010                  ; RPL 0
    mov bx, 0x0003                  ; RPL 3
    arpl ax, bx
    pushf
    pop dx
    PUTS16 `ARPL 0010, 0003 -> `
    movzx eax, ax
    mov cx, 4
    call hex16
    PUTS16 ` ZF=`
    mov ax, dx
    shr ax, 6
    and eax, 1
    mov cx, 1
    call hex16
    mov ax, 0x0013
    arpl ax, bx
    pushf
    pop dx
    PUTS16 `; again -> `
    movzx eax, ax
    mov cx, 4
    call hex16
    PUTS16 ` ZF=`
    mov ax, dx
    shr ax, 6
    and eax, 1
    mov cx, 1
    call hex16
    mov word [sel_mem], 0x0021
    arpl [sel_mem], bx
    PUTS16 `; memory 0021 -> `
    movzx eax, word [sel_mem]
    mov cx, 4
    call hex16
    PUTS16 `\nLEGACY: done\n`
    xor al, al
    out 0xF4, al
.stuck:
    cli
    hlt
    jmp .stuck

; show_ax_dx: print " AX=xxxx flags=xxxx\n" (AX result, DX masked flags)
show_ax_dx:
    push eax
    push ax
    PUTS16 ` AX=`
    pop ax
    movzx eax, ax
    mov cx, 4
    call hex16
    PUTS16 ` flags=`
    movzx eax, dx
    mov cx, 4
    call hex16
    PUTS16 `\n`
    pop eax
    ret

; yes_no: print "yes" if ZF, else "no"
yes_no:
    jne .no
    PUTS16 `yes `
    ret
.no:
    PUTS16 `no `
    ret

; ---- exception handlers (real mode: IP, CS, FLAGS on the stack) ----
de_handler:                         ; #DE from AAM 0: skip its 2 bytes
    mov [ax_after], ax
    push bp
    mov bp, sp
    mov ax, [bp + 2]
    mov [saved_ip], ax
    add word [bp + 2], 2
    inc byte [faults]
    pop bp
    iret

br_handler:                         ; #BR from BOUND ax, [disp16]: skip its 4 bytes
    push bp
    mov bp, sp
    push ax
    mov ax, [bp + 2]
    mov [saved_ip], ax
    add word [bp + 2], 4
    inc byte [faults]
    pop ax
    pop bp
    iret

ud_handler:                         ; #UD from ARPL ax, bx: skip its 2 bytes
    push bp
    mov bp, sp
    push ax
    mov ax, [bp + 2]
    mov [saved_ip], ax
    add word [bp + 2], 2
    inc byte [faults]
    pop ax
    pop bp
    iret

db_handler:                         ; single-step: record the saved IP; stop after 4
    push bp
    mov bp, sp
    push ax
    push si
    movzx si, byte [steps]
    shl si, 1
    mov ax, [bp + 2]
    mov [step_ips + si], ax
    inc byte [steps]
    cmp byte [steps], 4
    jb .keep
    and word [bp + 6], ~0x0100      ; clear TF in the saved FLAGS
.keep:
    pop si
    pop ax
    pop bp
    iret

%include "io16.inc"

align 4
bounds:   dw -3, 10
faults:   db 0
steps:    db 0
saved_ip: dw 0
ax_after: dw 0
sel_mem:  dw 0
step_ips: times 8 dw 0

align 8
gdt:
    dq 0
    dq 0x00009A000000FFFF           ; 0x08: 16-bit code, base 0, limit 64 KiB
    dq 0x000092000000FFFF           ; 0x10: 16-bit data, base 0, limit 64 KiB
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
