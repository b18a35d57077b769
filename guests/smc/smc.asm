; smc - self-modifying code. Each step runs code, overwrites its bytes in memory and runs it
; again; the second run must see the new bytes. Catches stale decoded-instruction or
; translated-block caches:
;   1. real mode: patch a routine's immediate
;   2. 32-bit: patch a routine's opcode (ADD -> SUB)
;   3. patch the very next instruction, in the same block as the store
;   4. a loop that rewrites its own immediate on every iteration
;   5. a hot routine (called 1000 times) patched in the middle of the loop
;   6. REP MOVSB copies a new body over a routine
;   7. paging alias: the same physical page at two linear addresses; patch through one,
;      run through the other
; Exit value 0 (status 1).

%include "print.inc"

PD        equ 0x20000               ; page directory for step 7
STACK_TOP equ 0x90000
ALIAS     equ 0x00400000            ; linear 00400000-007FFFFF -> physical 0-3FFFFF

bits 16
org 0x7C00

; ---- 1. real mode ---------------------------------------------------------
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
    call rm_routine
    mov bx, ax
    mov word [rm_routine + 1], 0x2222   ; the immediate of MOV AX, imm16
    call rm_routine
    PUTS16 `SMC1 real mode: immediate patched: `
    xchg ax, bx
    mov cx, 4
    call hex16
    PUTS16 ` then `
    mov ax, bx
    call hex16
    PUTS16 `\n`

    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:pm32

rm_routine:
    mov ax, 0x1111
    ret

%include "io16.inc"

; ---- 32-bit protected mode ------------------------------------------------
bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, STACK_TOP

; ---- 2. opcode patch ------------------------------------------------------
    call op_routine
    mov ebx, eax
    mov byte [op_routine.op], 0x2D  ; ADD EAX, imm32 (05) -> SUB EAX, imm32 (2D)
    call op_routine
    PUTS32 `SMC2 opcode patched ADD -> SUB: 100+23=`
    xchg eax, ebx
    call dec32
    PUTS32 ` then 100-23=`
    mov eax, ebx
    call dec32
    PUTS32 `\n`

; ---- 3. the next instruction ----------------------------------------------
    mov byte [.next + 1], 0x42      ; the store and its target are in one straight-line block
.next:
    mov al, 0x00
    PUTS32 `SMC3 patched the next instruction MOV AL, 00 -> MOV AL, 42: AL=`
    movzx eax, al
    call hex32
    PUTS32 `\n`

; ---- 4. a loop that rewrites itself ---------------------------------------
    xor ebx, ebx
    mov ecx, 10
.loop:
    add ebx, strict dword 0         ; 81 C3 imm32: the immediate starts 2 bytes in
.imm equ .loop + 2
    inc dword [.imm]                ; the next iteration adds one more
    loop .loop
    PUTS32 `SMC4 loop incremented its own ADD immediate 10 times: 0+1+...+9=`
    mov eax, ebx
    call dec32
    PUTS32 `\n`

; ---- 5. hot routine patched mid-loop ---------------------------------------
    xor ebx, ebx
    mov ecx, 1000
.hot:
    call hot_routine
    add ebx, eax
    cmp ecx, 501
    jne .no_patch
    mov byte [hot_routine + 1], 2   ; MOV EAX, 1 -> MOV EAX, 2 after 500 calls
.no_patch:
    loop .hot
    PUTS32 `SMC5 routine returning 1 patched to return 2 after 500 of 1000 calls: sum=`
    mov eax, ebx
    call dec32
    PUTS32 `\n`

; ---- 6. REP MOVSB over a routine ------------------------------------------
    call copy_routine
    mov ebx, eax
    mov esi, copy_template
    mov edi, copy_routine
    mov ecx, copy_template_end - copy_template
    rep movsb
    call copy_routine
    PUTS32 `SMC6 REP MOVSB copied a new body over a routine: `
    xchg eax, ebx
    call hex32
    PUTS32 ` then `
    mov eax, ebx
    call hex32
    PUTS32 `\n`

; ---- 7. paging alias -------------------------------------------------------
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [PD], 0x00000083      ; 0-4 MiB identity, 4 MiB page
    mov dword [PD + 4], 0x00000083  ; 4-8 MiB -> the same physical 0-4 MiB
    mov eax, cr4
    or eax, 1 << 4                  ; CR4.PSE
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31                 ; CR0.PG
    mov cr0, eax

    call alias_routine              ; run at the identity address (caches it there)
    mov ebx, eax
    mov dword [ALIAS + alias_routine + 1], 0xBBBB   ; patch through the alias
    call alias_routine
    PUTS32 `SMC7 patched through alias 00400000+x, ran at x: `
    xchg eax, ebx
    call hex32
    PUTS32 ` then `
    mov eax, ebx
    call hex32
    PUTS32 `\n`
    mov eax, ALIAS + alias_routine
    call eax                        ; run at the alias address (caches it there)
    mov ebx, eax
    mov dword [alias_routine + 1], 0xCCCC           ; patch through the identity address
    mov eax, ALIAS + alias_routine
    call eax
    PUTS32 `SMC7 patched at x, ran through alias 00400000+x: `
    xchg eax, ebx
    call hex32
    PUTS32 ` then `
    mov eax, ebx
    call hex32
    PUTS32 `\nSMC: done\n`
    xor eax, eax
    jmp exit32

; ---- routines that get patched -------------------------------------------
op_routine:
    mov eax, 100
.op:
    add eax, strict dword 23        ; 05 imm32: the opcode byte is at .op
    ret

hot_routine:
    mov eax, 1                      ; B8 imm32
    ret

copy_routine:
    mov eax, 0x0000C0DE
    ret
copy_template:                      ; same length as copy_routine
    mov eax, 0x0000600D
    ret
copy_template_end:

alias_routine:
    mov eax, 0x0000AAAA
    ret

; dec32: print EAX in decimal.
dec32:
    pushad
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.out:
    pop eax
    add al, '0'
    out 0xE9, al
    loop .out
    popad
    ret

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
