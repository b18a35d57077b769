; sev-smoke - the smallest SEV-ES guest: a 64 KiB firmware ROM ending at 4 GiB. The BSP starts from
; its measured VMSA at F000:FFF0, checks SEV_STATUS, reads the C-bit from the GHCB MSR's SEV
; information, builds long-mode page tables with the C-bit set everywhere but its GHCB page, and
; then talks to the hypervisor only through that GHCB: port I/O to the debug console (0xE9) and the
; exit port (0xF4), each a VMGEXIT with SW_EXITCODE = IOIO. No #VC handler: nothing here traps.
; Before it exits it plants a known value in R8-R11 and in a private page (the tests' plaintext).
; Exit value 0 (status 1); any failed check writes 1 (status 3).

%define ROM_BASE 0xFFFF0000
%define PML4     0x10000            ; page tables in RAM (private: paging is off while we write them)
%define PDPT     0x11000
%define PD       0x12000
%define PT       0x13000
%define PD2      0x14000            ; maps the ROM's 2 MiB below 4 GiB
%define GHCB     0x20000            ; mapped shared (C-bit clear) through PT
%define STACK    0x30000
%define SECRET   0x40000            ; a private page the guest fills with a known value

bits 16
org 0                               ; offsets in the ROM; linear = ROM_BASE + offset

start16:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov esp, STACK
    o32 lgdt [cs:gdtr]              ; CS base is FFFF0000: the GDT pointer is read through CS
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(ROM_BASE + pm32)

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    ; SEV_STATUS must say SEV and SEV-ES (bits 0, 1).
    mov ecx, 0xC0010131
    rdmsr
    and eax, 3
    cmp eax, 3
    jne fail32
    ; The GHCB MSR holds the SEV information at RESET: [31:24] = C-bit position (as 0x001 response).
    mov ecx, 0xC0010130
    rdmsr
    mov ebx, eax
    and eax, 0xfff
    cmp eax, 1
    jne fail32
    shr ebx, 24                     ; C-bit position (47 here)
    sub ebx, 32                     ; its bit in the high dword of an entry
    xor esi, esi
    bts esi, ebx                    ; esi = C-bit in the high dword
    ; Page tables: 1 GiB identity; the first 2 MiB through 4 KiB pages so the GHCB can be shared.
    mov edi, PML4
    mov ecx, 0x4000 / 4
    xor eax, eax
    rep stosd
    mov dword [PML4], PDPT | 3
    mov [PML4 + 4], esi
    mov dword [PDPT], PD | 3
    mov [PDPT + 4], esi
    mov dword [PD], PT | 3
    mov [PD + 4], esi
    mov ecx, 1                      ; PD[1..511]: 2 MiB private pages
.pd:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83
    mov [PD + ecx * 8], eax
    mov [PD + ecx * 8 + 4], esi
    inc ecx
    cmp ecx, 512
    jb .pd
    xor ecx, ecx                    ; PT: the first 2 MiB in 4 KiB private pages
.pt:
    mov eax, ecx
    shl eax, 12
    or eax, 3
    mov [PT + ecx * 8], eax
    mov [PT + ecx * 8 + 4], esi
    inc ecx
    cmp ecx, 512
    jb .pt
    mov dword [PT + (GHCB >> 12) * 8 + 4], 0   ; the GHCB page: C-bit clear, shared
    ; The ROM (the top 2 MiB of the 4th GiB) for the code that runs after paging is on.
    mov dword [PML4], PDPT | 3
    mov dword [PDPT + 3 * 8], PD2 | 3
    mov [PDPT + 3 * 8 + 4], esi
    mov dword [PD2 + 511 * 8], 0xFFE00000 | 0x83
    mov [PD2 + 511 * 8 + 4], esi
    mov eax, PML4
    mov cr3, eax
    mov eax, cr4
    or eax, 1 << 5                  ; PAE
    mov cr4, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 1 << 8                  ; LME (SVME stays set: VMRUN requires it)
    wrmsr
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax
    jmp 0x18:(ROM_BASE + lm64)

fail32:
    hlt
    jmp fail32

bits 64
lm64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, STACK
    ; Clear the GHCB through its shared mapping, then register it in the GHCB MSR.
    mov rdi, GHCB
    mov ecx, 4096 / 8
    xor eax, eax
    rep stosq
    mov ecx, 0xC0010130
    mov eax, GHCB
    xor edx, edx
    wrmsr
    lea rsi, [rel hello]
.print:
    lodsb
    test al, al
    jz .done
    movzx eax, al
    mov edx, 0xE9
    call ghcb_out
    jmp .print
.done:
    ; Secrets for the tests to look for in what the hypervisor can read: R8-R15 and a private page.
    mov r8, 0x5EC2E7A15EC2E7A1
    lea r9, [r8 + 1]
    lea r10, [r8 + 2]
    lea r11, [r8 + 3]
    mov rdi, SECRET
    mov rax, r8
    mov ecx, 64
    rep stosq
    xor eax, eax
    mov edx, 0xF4
    call ghcb_out
.hang:
    hlt
    jmp .hang

; ghcb_out: OUT of AL to port DX as a GHCB IOIO request (GHCB spec 4.1.2).
ghcb_out:
    mov rdi, GHCB
    mov qword [rdi + 0x3F0], 0      ; valid bitmap
    mov qword [rdi + 0x3F8], 0
    mov [rdi + 0x1F8], rax          ; RAX (bit 63)
    mov qword [rdi + 0x390], 0x7B   ; SW_EXITCODE = IOIO (bit 114)
    shl edx, 16
    or edx, 0x10                    ; OUT, 8-bit operand
    mov [rdi + 0x398], rdx          ; SW_EXITINFO1 (bit 115)
    mov qword [rdi + 0x3A0], 0      ; SW_EXITINFO2 (bit 116)
    mov word [rdi + 0xFFA], 2       ; protocol version
    mov dword [rdi + 0xFFC], 0      ; usage
    bts qword [rdi + 0x3F0], 63
    bts qword [rdi + 0x3F8], 114 - 64
    bts qword [rdi + 0x3F8], 115 - 64
    bts qword [rdi + 0x3F8], 116 - 64
    rep vmmcall                     ; VMGEXIT
    cmp qword [rdi + 0x398], 0      ; SW_EXITINFO1 = 0: done
    jne .bad
    ret
.bad:
    hlt
    jmp .bad

hello: db `SEV-ES smoke: hello through the GHCB\n`, 0

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF           ; 0x08: 32-bit code
    dq 0x00CF92000000FFFF           ; 0x10: data
    dq 0x00AF9A000000FFFF           ; 0x18: 64-bit code
gdtr:
    dw gdtr - gdt - 1
    dd ROM_BASE + gdt

; The OVMF GUIDed table (no entries but the footer), then the reset vector.
    times 0x10000 - 48 - 2 - ($ - $$) db 0
table_start:
    dw table_end - table_start      ; the table's length, this word and the footer GUID included
    db 0xDE, 0x82, 0xB5, 0x96, 0xB2, 0x1F, 0xF7, 0x45, 0xBA, 0xEA, 0xA3, 0x66, 0xC5, 0x5A, 0x08, 0x2D
table_end:
    times 0x10000 - 16 - ($ - $$) db 0
bits 16
reset_vector:                       ; F000:FFF0
    jmp start16
    times 0x10000 - ($ - $$) db 0
