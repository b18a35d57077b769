; pvh-hello - the smallest kernel with a PVH entry (the ELF note Linux's vmlinux carries), to check
; that hvemu enters such kernels as QEMU's -kernel does: 32-bit protected mode with paging off and
; EBX = struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). It prints the
; start_info fields a Linux kernel reads (magic, version, command line, the initrd module, the memory
; map's RAM from 1 MiB, the ACPI RSDP) on COM1 and exits through isa-debug-exit (port F4h).
; Built as a flat binary that is an ELF32 file (nasm -f bin): header, two program headers, the note.
bits 32
org 0x100000

ehdr:
    db 0x7f, 'ELF', 1, 1, 1, 0              ; 32-bit, little-endian, version 1
    times 8 db 0
    dw 2                                    ; ET_EXEC
    dw 3                                    ; EM_386
    dd 1
    dd start                                ; e_entry (PVH loaders use the note's entry)
    dd phdrs - ehdr                         ; e_phoff
    dd 0, 0                                 ; e_shoff, e_flags
    dw 52, 32, 2, 0, 0, 0                   ; ehsize, phentsize, phnum, shentsize, shnum, shstrndx
phdrs:
    dd 1, 0, ehdr, ehdr, file_end - ehdr, bss_end - ehdr, 7, 0x1000   ; PT_LOAD, the whole file
    dd 4, note - ehdr, note, note, note_end - note, note_end - note, 4, 4 ; PT_NOTE
note:
    dd 4, 4, 18                             ; name "Xen", 4-byte desc, XEN_ELFNOTE_PHYS32_ENTRY
    db 'Xen', 0
    dd start
note_end:

COM1 equ 0x3f8

start:
    mov esp, stack_top
    mov esi, ebx                            ; struct hvm_start_info
    mov eax, cr0
    and eax, 0x80000001
    cmp eax, 1
    jne .bad_mode
    mov edx, msg_mode
    call puts
.bad_mode:
    mov edx, msg_magic
    call puts
    mov eax, [esi]
    call puthex
    mov edx, msg_version
    call puts
    mov eax, [esi + 4]
    call puthex
    call newline

    mov edx, msg_cmdline                    ; cmdline_paddr (low 32 bits)
    call puts
    mov edx, [esi + 24]
    call puts
    call newline

    mov edx, msg_modules                    ; nr_modules, then module 0 (the initrd)
    call puts
    mov eax, [esi + 12]
    call puthex
    call newline
    cmp dword [esi + 12], 0
    je .no_module
    mov edi, [esi + 16]                     ; modlist_paddr
    mov edx, msg_size
    call puts
    mov eax, [edi + 8]
    call puthex
    mov edx, msg_text
    call puts
    mov edx, [edi]                          ; the module's first line
    mov ecx, 32
.line:
    movzx eax, byte [edx]
    cmp al, 10
    je .line_done
    test al, al
    jz .line_done
    call putc
    inc edx
    loop .line
.line_done:
    call newline
.no_module:

    mov ecx, [esi + 48]                     ; memmap_entries
    mov edi, [esi + 40]                     ; memmap_paddr
.memmap:
    test ecx, ecx
    jz .memmap_done
    cmp dword [edi], 0x100000               ; addr == 1 MiB, type RAM
    jne .next
    cmp dword [edi + 16], 1
    jne .next
    cmp dword [edi + 8], 0x1000000         ; at least 16 MiB of it (the firmware may keep the top)
    jb .next
    mov edx, msg_ram
    call puts
.next:
    add edi, 24
    dec ecx
    jmp .memmap
.memmap_done:

    mov edx, msg_rsdp                       ; rsdp_paddr: the RSDP's 8-byte signature
    call puts
    mov edx, [esi + 32]
    test edx, edx
    jz .no_rsdp
    mov ecx, 8
.sig:
    movzx eax, byte [edx]
    call putc
    inc edx
    loop .sig
.no_rsdp:
    call newline

    xor eax, eax
    out 0xf4, al                            ; isa-debug-exit: status (0 << 1) | 1
    cli
    hlt

; ---- COM1 output ----
putc:                                       ; al
    push edx
    push eax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop eax
    mov dx, COM1
    out dx, al
    pop edx
    ret
puts:                                       ; edx: NUL-terminated
    push eax
.l: movzx eax, byte [edx]
    test al, al
    jz .d
    call putc
    inc edx
    jmp .l
.d: pop eax
    ret
newline:
    push eax
    mov al, 10
    call putc
    pop eax
    ret
puthex:                                     ; eax as 8 hex digits
    push ecx
    push ebx
    mov ebx, eax
    mov ecx, 8
.h: rol ebx, 4
    mov eax, ebx
    and eax, 15
    movzx eax, byte [hexdigits + eax]
    call putc
    loop .h
    pop ebx
    pop ecx
    ret

hexdigits:   db '0123456789ABCDEF'
msg_mode:    db 'entered in 32-bit protected mode, paging off', 10, 0
msg_magic:   db 'hvm_start_info magic ', 0
msg_version: db ' version ', 0
msg_cmdline: db 'cmdline: ', 0
msg_modules: db 'modules: ', 0
msg_size:    db 'module 0: ', 0
msg_text:    db ' bytes, first line: ', 0
msg_ram:     db 'RAM from 1 MiB (16 MiB or more)', 10, 0
msg_rsdp:    db 'RSDP: ', 0
file_end:
    align 16
    times 4096 db 0
stack_top:
bss_end:
