; fwcfg - a Multiboot kernel that reads the machine the way QEMU-style test kernels do, and prints
; what it finds on COM1, so the output can be compared with QEMU's pc machine:
;   fw_cfg (QEMU docs/specs/fw_cfg.rst): the signature and ID through the selector/data ports
;   (510h/511h), the CPU counts and the RAM size, the file directory searched for etc/e820, and
;   etc/e820 itself read through the DMA interface (514h/518h, a big-endian descriptor);
;   the command line from the Multiboot information (everything after the kernel's file name);
;   pc-testdev (QEMU hw/misc/pc-testdev.c): the scratch register at E0h by byte lanes and its
;   memory window at 0xFF000000;
;   PCI configuration mechanism #1 (CF8h/CFCh): the IDs and class codes of 00:00.0, 00:01.0,
;   00:01.1, 00:01.3 and an absent 00:1F.0, the PIIX4's PMBA and PMIOSE;
;   ACPI: the RSDP found in 0xE0000-0xFFFFF, the FADT found through the RSDT, its PM_TMR_BLK,
;   and the PM timer there counting one millisecond (3580 ticks of 3.579545 MHz).
; Then it exits through isa-debug-exit (port F4h) with 0: status 1.
;
; Contract: loaded by a Multiboot loader (hvemu run, QEMU -kernel with -device pc-testdev) at
; 1 MiB, entered in 32-bit protected mode with EBX = the information structure. Paging stays off.

KERNEL_BASE  equ 0x100000
COM1         equ 0x3F8
FW_CFG_SEL   equ 0x510
FW_CFG_DATA  equ 0x511
FW_CFG_DMA   equ 0x514

MB_MAGIC     equ 0x1BADB002
MB_FLAGS     equ 0x00010002         ; bit 16: the a.out kludge; bit 1: memory info

org KERNEL_BASE
section .text
bits 32

mb_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)
    dd mb_header                    ; header_addr
    dd KERNEL_BASE                  ; load_addr
    dd load_end                     ; load_end_addr
    dd bss_end                      ; bss_end_addr
    dd entry                        ; entry_addr

entry:
    mov esp, stack_top
    mov [mbi], ebx
    call com1_init

    ; ---- fw_cfg: signature and ID ----
    mov esi, s_sig
    call puts
    mov ax, 0x0000
    call fw_select
    mov ecx, 4
.sig:
    call fw_byte
    call putc
    loop .sig
    call newline

    mov esi, s_id
    mov ax, 0x0001
    mov ecx, 4
    call fw_item_hex

    mov esi, s_cpus
    mov ax, 0x0005
    mov ecx, 2
    call fw_item_hex
    mov esi, s_maxcpus
    mov ax, 0x000F
    mov ecx, 2
    call fw_item_hex
    mov esi, s_ram
    mov ax, 0x0003
    mov ecx, 8
    call fw_item_hex

    ; ---- the file directory: find etc/e820 ----
    mov ax, 0x0019
    call fw_select
    call fw_be32
    mov ebp, eax                    ; count
.dir:
    test ebp, ebp
    jz .no_e820
    dec ebp
    call fw_be32
    mov [e820_size], eax
    call fw_byte
    mov ah, al
    call fw_byte                    ; big-endian select: AX = high:low
    mov [e820_key], ax
    call fw_byte                    ; reserved
    call fw_byte
    mov edi, name_buf
    mov ecx, 56
.name:
    call fw_byte
    stosb
    loop .name
    mov esi, name_buf
    mov edi, s_e820_name
    mov ecx, 9                      ; "etc/e820" and its NUL
    repe cmpsb
    jne .dir
    jmp .found
.no_e820:
    mov esi, s_no_e820
    call puts
    jmp .after_e820
.found:
    mov esi, s_e820
    call puts
    mov eax, [e820_size]
    call hex32
    call newline
    ; Read it through DMA: select + read into e820_buf.
    movzx eax, word [e820_key]
    shl eax, 16
    or eax, 0x0A                    ; SELECT | READ
    bswap eax
    mov [dma_desc], eax
    mov eax, [e820_size]
    bswap eax
    mov [dma_desc + 4], eax
    mov dword [dma_desc + 8], 0     ; address, big-endian: high half 0
    mov eax, e820_buf
    bswap eax
    mov [dma_desc + 12], eax
    mov dx, FW_CFG_DMA
    xor eax, eax
    out dx, eax                     ; high half (0)
    mov eax, dma_desc
    bswap eax
    add dx, 4
    out dx, eax                     ; low half: starts the transfer
    mov esi, s_dma
    call puts
    mov eax, [dma_desc]
    bswap eax
    call hex32
    call newline
    ; Each entry: le64 address, le64 length, le32 type.
    mov ebx, e820_buf
    mov ebp, [e820_size]
.entry:
    cmp ebp, 20
    jb .after_e820
    mov esi, s_e820_entry
    call puts
    mov eax, [ebx + 4]
    call hex32
    mov eax, [ebx]
    call hex32
    mov al, ' '
    call putc
    mov eax, [ebx + 12]
    call hex32
    mov eax, [ebx + 8]
    call hex32
    mov al, ' '
    call putc
    mov eax, [ebx + 16]
    call hex32
    call newline
    add ebx, 20
    sub ebp, 20
    jmp .entry
.after_e820:

    ; ---- the command line, after the kernel's file name ----
    mov esi, s_cmdline
    call puts
    mov ebx, [mbi]
    mov esi, [ebx + 16]
.skip_name:
    lodsb
    test al, al
    jz .cmd_done
    cmp al, ' '
    jne .skip_name
    mov al, '['
    call putc
    call puts
    mov al, ']'
    call putc
.cmd_done:
    call newline

    ; ---- pc-testdev ----
    mov esi, s_testdev
    call puts
    mov eax, 0x11223344
    out 0xE0, eax
    mov al, 0xAA
    out 0xE2, al
    in eax, 0xE0
    call hex32
    mov al, ' '
    call putc
    in al, 0xE3
    movzx eax, al
    call hex32
    mov al, ' '
    call putc
    mov dword [0xFF000000], 0xCAFEF00D
    mov byte [0xFF000001], 0x5A
    mov eax, [0xFF000000]
    call hex32
    call newline

    ; ---- PCI ----
    mov ebx, 0x80000000             ; 00:00.0
    call pci_show
    mov ebx, 0x80000800             ; 00:01.0
    call pci_show
    mov ebx, 0x80000900             ; 00:01.1
    call pci_show
    mov ebx, 0x80000B00             ; 00:01.3
    call pci_show
    mov ebx, 0x8000F800             ; 00:1F.0: nobody
    call pci_show
    mov esi, s_pmba
    call puts
    mov eax, 0x80000B40
    mov dx, 0xCF8
    out dx, eax
    mov dx, 0xCFC
    in eax, dx
    and eax, 0xFFC0
    call hex32
    mov esi, s_pmiose
    call puts
    mov eax, 0x80000B80
    mov dx, 0xCF8
    out dx, eax
    mov dx, 0xCFC
    in al, dx
    and eax, 1
    call hex32
    call newline

    ; ---- ACPI: RSDP -> RSDT -> FACP -> PM_TMR_BLK ----
    mov esi, 0xE0000
.rsdp:
    cmp dword [esi], 'RSD '
    jne .rsdp_next
    cmp dword [esi + 4], 'PTR '
    je .rsdp_found
.rsdp_next:
    add esi, 16
    cmp esi, 0x100000
    jb .rsdp
    mov esi, s_no_rsdp
    call puts
    jmp finish
.rsdp_found:
    mov ebx, [esi + 16]             ; RSDT
    mov ecx, [ebx + 4]
    sub ecx, 36
    shr ecx, 2
    lea edi, [ebx + 36]
.rsdt:
    jecxz .no_fadt
    mov eax, [edi]
    cmp dword [eax], 'FACP'
    je .fadt
    add edi, 4
    dec ecx
    jmp .rsdt
.no_fadt:
    mov esi, s_no_fadt
    call puts
    jmp finish
.fadt:
    mov ebx, eax
    mov esi, s_pmtmr
    call puts
    mov eax, [ebx + 76]
    mov [pm_tmr], eax
    call hex32
    mov esi, s_sci
    call puts
    movzx eax, word [ebx + 46]
    call hex32
    call newline
    ; One millisecond on the PM timer: 3580 ticks, modulo 2^24.
    mov edx, [pm_tmr]
    in eax, dx
    and eax, 0xFFFFFF
    mov ebx, eax
.wait:
    in eax, dx
    sub eax, ebx
    and eax, 0xFFFFFF
    cmp eax, 3580
    jb .wait
    mov esi, s_pm_ms
    call puts

finish:
    mov esi, s_done
    call puts
    xor eax, eax
    out 0xF4, al
    cli
.halt:
    hlt
    jmp .halt

; pci_show: EBX = CONFIG_ADDRESS of a function; prints "pci BBDDF: vendor/device class".
pci_show:
    mov esi, s_pci
    call puts
    mov eax, ebx
    shr eax, 8
    and eax, 0xFFFF
    call hex32
    mov al, ' '
    call putc
    mov eax, ebx
    mov dx, 0xCF8
    out dx, eax
    mov dx, 0xCFC
    in eax, dx
    call hex32
    mov al, ' '
    call putc
    lea eax, [ebx + 8]
    mov dx, 0xCF8
    out dx, eax
    mov dx, 0xCFC
    in eax, dx
    call hex32
    call newline
    ret

; fw_select: AX = key.
fw_select:
    push edx
    mov dx, FW_CFG_SEL
    out dx, ax
    pop edx
    ret

; fw_byte: AL = the next data byte.
fw_byte:
    push edx
    mov dx, FW_CFG_DATA
    in al, dx
    pop edx
    ret

; fw_be32: EAX = the next four data bytes, big-endian.
fw_be32:
    push ecx
    xor eax, eax
    mov ecx, 4
.b:
    shl eax, 8
    call fw_byte
    loop .b
    pop ecx
    ret

; fw_item_hex: ESI = label, AX = key, ECX = bytes (little-endian, at most 8); prints label, value.
fw_item_hex:
    call puts
    call fw_select
    mov edi, item_buf
    mov dword [item_buf], 0
    mov dword [item_buf + 4], 0
.b:
    call fw_byte
    stosb
    loop .b
    mov eax, [item_buf + 4]
    call hex32
    mov eax, [item_buf]
    call hex32
    call newline
    ret

com1_init:
    mov dx, COM1 + 1
    xor al, al
    out dx, al                      ; no interrupts
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al                      ; DLAB
    mov dx, COM1
    mov al, 1
    out dx, al                      ; 115200 baud
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al                      ; 8N1
    ret

; putc: AL to COM1 once the transmitter holding register is empty.
putc:
    push edx
    push eax
    mov dx, COM1 + 5
.w:
    in al, dx
    test al, 0x20
    jz .w
    pop eax
    mov dx, COM1
    out dx, al
    pop edx
    ret

; puts: the zero-terminated string at ESI; ESI ends past the NUL.
puts:
    push eax
.n:
    lodsb
    test al, al
    jz .d
    call putc
    jmp .n
.d:
    pop eax
    ret

newline:
    push eax
    mov al, 10
    call putc
    pop eax
    ret

; hex32: EAX as 8 hex digits.
hex32:
    push eax
    push ecx
    push edx
    mov edx, eax
    mov ecx, 8
.d:
    rol edx, 4
    mov al, dl
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .p
    add al, 'A' - '9' - 1
.p:
    call putc
    loop .d
    pop edx
    pop ecx
    pop eax
    ret

s_sig:       db 'fw_cfg signature: ', 0
s_id:        db 'fw_cfg id: ', 0
s_cpus:      db 'nb_cpus: ', 0
s_maxcpus:   db 'max_cpus: ', 0
s_ram:       db 'ram_size: ', 0
s_e820_name: db 'etc/e820', 0
s_e820:      db 'etc/e820 size: ', 0
s_no_e820:   db 'etc/e820 missing', 10, 0
s_dma:       db 'dma status: ', 0
s_e820_entry: db 'e820: ', 0
s_cmdline:   db 'cmdline: ', 0
s_testdev:   db 'pc-testdev: ', 0
s_pci:       db 'pci ', 0
s_pmba:      db 'piix4 pmba: ', 0
s_pmiose:    db ' pmiose: ', 0
s_no_rsdp:   db 'no RSDP', 10, 0
s_no_fadt:   db 'no FADT', 10, 0
s_pmtmr:     db 'fadt pm_tmr_blk: ', 0
s_sci:       db ' sci_int: ', 0
s_pm_ms:     db 'pm timer: 1 ms counted', 10, 0
s_done:      db 'done', 10, 0

align 16
load_end:

section .bss nobits align=16
dma_desc:    resb 16                ; 16-byte aligned, as the specification asks
e820_buf:    resb 400
item_buf:    resb 8
mbi:         resd 1
e820_size:   resd 1
name_buf:    resb 56
pm_tmr:      resd 1
e820_key:    resd 1
             resb 4096
stack_top:
bss_end:
