; minios.asm - a small disk-booting SMP teaching OS: a 512-byte boot sector and a 32-bit kernel on
; one disk image. It uses no BIOS services, so it boots the same from hvemu (which has no BIOS) and
; from QEMU's SeaBIOS.
;
; Boot sector (LBA 0, at 0x7C00, real mode, DL = 0x80):
;   enables A20 through the 8042 (output port write D1h, DFh), enters 32-bit protected mode, reads
;   the kernel (LBA 1..) over the primary ATA channel with polled PIO (READ SECTORS, LBA28) to
;   1 MiB, and jumps to it.
; Kernel (at 0x100000; it carries a Multiboot header, as teaching kernels do, which must not make
; the disk a Multiboot image):
;   prints on COM1 and on the VGA text screen (B8000h, cursor through the CRTC at 3D4h/3D5h), finds
;   the MP floating pointer (EBDA, last KiB of base memory, F0000h-FFFFFh), starts every AP listed
;   in the MP table with INIT-SIPI-SIPI (a real-mode trampoline copied to 0x8000), each AP says
;   hello under a spinlock, then runs a shell on COM1 (polled): cpus, echo, disk, halt.
;   `disk` issues IDENTIFY DEVICE and then READ SECTORS with the completion taken as IRQ 14
;   through the I/O APIC (vector 2Eh to the BSP).
;   `stamp` writes a line into the disk's last sector (polled WRITE SECTORS) and reads it back.
;   `halt` writes 0 to port F4h (QEMU's isa-debug-exit; hvemu exits with status 1 as QEMU does).

%define COM1        0x3F8
%define KBC_DATA    0x60
%define KBC_STATUS  0x64
%define ATA         0x1F0
%define ATA_CTL     0x3F6
%define KERNEL_ADDR 0x100000
%define TRAMPOLINE  0x8000
%define AP_STACKS   0x200000          ; 4 KiB per AP
%define IRQ14_VEC   0x2E

    bits 16
    org 0x7C00

boot:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    cld

    ; A20 through the keyboard controller: command D1h (write output port), then DFh
    ; (A20 on, reset line high), each after the input buffer is empty.
    call kbc_wait
    mov al, 0xD1
    out KBC_STATUS, al
    call kbc_wait
    mov al, 0xDF
    out KBC_DATA, al
    call kbc_wait

    lgdt [boot_gdtr]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp 0x08:boot32

kbc_wait:
    in al, KBC_STATUS
    test al, 2                        ; IBF
    jnz kbc_wait
    ret

    bits 32
boot32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7C00

    mov esi, boot_msg
.msg:
    lodsb
    test al, al
    jz .load
    mov ah, al
    mov dx, COM1 + 5
.thre:
    in al, dx
    test al, 0x20
    jz .thre
    mov dx, COM1
    mov al, ah
    out dx, al
    jmp .msg

    ; The kernel: KERNEL_SECTORS sectors from LBA 1, one READ SECTORS per sector (polled).
.load:
    mov edi, KERNEL_ADDR
    mov ebx, 1                        ; LBA
.next:
    call ata_ready
    mov dx, ATA + 6
    mov al, 0xE0                      ; LBA, device 0
    out dx, al
    mov dx, ATA + 2
    mov al, 1
    out dx, al                        ; one sector
    inc dx
    mov al, bl
    out dx, al                        ; LBA 7:0
    inc dx
    mov al, bh
    out dx, al                        ; LBA 15:8
    inc dx
    xor al, al
    out dx, al                        ; LBA 23:16
    mov dx, ATA + 7
    mov al, 0x20                      ; READ SECTORS
    out dx, al
.drq:
    in al, dx
    test al, 0x80                     ; BSY
    jnz .drq
    test al, 0x01                     ; ERR
    jnz .fail
    test al, 0x08                     ; DRQ
    jz .drq
    mov ecx, 256
    mov dx, ATA
    rep insw
    inc ebx
    cmp ebx, KERNEL_SECTORS + 1
    jb .next
    mov eax, kernel_entry
    jmp eax
.fail:
    mov dx, COM1
    mov al, '!'
    out dx, al
    cli
    hlt

ata_ready:
    mov dx, ATA + 7
.w:
    in al, dx
    test al, 0x80
    jnz .w
    ret

boot_msg: db 'minios: boot sector, A20 on, loading the kernel over ATA PIO', 10, 0

    align 8
boot_gdt:
    dq 0
    dq 0x00CF9A000000FFFF             ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF             ; 0x10: flat data
boot_gdtr:
    dw boot_gdtr - boot_gdt - 1
    dd boot_gdt

    times 510 - ($ - $$) db 0
    dw 0xAA55

; ---------------------------------------------------------------------------------------------
; The kernel, linked at 1 MiB.
    section kernel vstart=KERNEL_ADDR follows=.text
kernel_start:

    ; A Multiboot header (magic, flags, checksum) within the disk's first 8 KiB: a Multiboot
    ; loader would find it, and hvemu must still boot this file as a disk.
    align 4
multiboot_header:
    dd 0x1BADB002
    dd 0
    dd -0x1BADB002

kernel_entry:
    mov esp, 0x90000
    lgdt [gdtr]
    jmp 0x08:.reload
.reload:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    ; The uninitialized data past the image (RAM contents are unknown without a BIOS contract).
    mov edi, bss_start
    mov ecx, bss_end - bss_start
    xor eax, eax
    rep stosb

    ; Mask both 8259s: interrupts come through the I/O APIC only.
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al

    call vga_clear
    mov esi, msg_kernel
    call puts
    mov eax, KERNEL_SECTORS
    call putdec
    mov esi, msg_sectors
    call puts

    call find_mp
    test eax, eax
    jnz .have_mp
    mov esi, msg_no_mp
    call puts
    jmp halt_machine
.have_mp:
    mov [mp_float], eax
    mov esi, msg_mp_found
    call puts
    mov eax, [mp_float]
    movzx eax, byte [eax + 9]
    call putdec
    call newline

    call parse_mp_config
    mov esi, msg_cpus_listed
    call puts
    mov eax, [ncpus]
    call putdec
    mov esi, msg_lapic_at
    call puts
    mov eax, [lapic]
    call puthex
    call newline

    ; The BSP's local APIC on (spurious vector FFh, software enable), and its ID.
    mov ebx, [lapic]
    mov dword [ebx + 0xF0], 0x1FF
    mov eax, [ebx + 0x20]
    shr eax, 24
    mov [bsp_id], eax
    mov esi, msg_bsp
    call puts
    mov eax, [bsp_id]
    call putdec
    call newline

    call start_aps

    mov esi, msg_online
    call puts
    mov eax, [online]
    inc eax
    call putdec
    mov esi, msg_of
    call puts
    mov eax, [ncpus]
    call putdec
    call newline

    call setup_idt
    jmp shell

; ---- MP tables (Intel MultiProcessor Specification 1.4, 4.1 and 4.2) ----

; find_mp: EAX = the floating pointer structure's address, or 0.
find_mp:
    movzx eax, word [0x40E]           ; EBDA segment (BDA), where a BIOS keeps it
    shl eax, 4
    jz .base
    mov ecx, 1024
    call scan_mp
    test eax, eax
    jnz .done
.base:
    movzx eax, word [0x413]           ; base memory in KiB
    test eax, eax
    jz .rom
    dec eax
    shl eax, 10
    mov ecx, 1024
    call scan_mp
    test eax, eax
    jnz .done
.rom:
    mov eax, 0xF0000
    mov ecx, 0x10000
    call scan_mp
.done:
    ret

; scan_mp: search [EAX, EAX+ECX) on 16-byte boundaries for "_MP_" with a zero checksum.
scan_mp:
    push ebx
    push edx
    lea edx, [eax + ecx]
.next:
    cmp eax, edx
    jae .none
    cmp dword [eax], '_MP_'
    jne .skip
    movzx ecx, byte [eax + 8]         ; length in 16-byte units
    shl ecx, 4
    xor ebx, ebx
.sum:
    add bl, [eax + ecx - 1]
    loop .sum
    test bl, bl
    jz .found
.skip:
    add eax, 16
    jmp .next
.none:
    xor eax, eax
.found:
    pop edx
    pop ebx
    ret

; parse_mp_config: the processor entries (type 0) of the configuration table into apic_ids,
; enabled ones only, and the local APIC address.
parse_mp_config:
    mov esi, [mp_float]
    mov esi, [esi + 4]                ; configuration table
    mov eax, [esi + 36]
    mov [lapic], eax
    movzx ecx, word [esi + 34]        ; entry count
    add esi, 44
.entry:
    test ecx, ecx
    jz .done
    movzx eax, byte [esi]
    cmp al, 0
    jne .other
    test byte [esi + 3], 1            ; CPU enabled
    jz .skip_cpu
    mov edx, [ncpus]
    movzx eax, byte [esi + 1]         ; local APIC ID
    mov [apic_ids + edx * 4], eax
    inc dword [ncpus]
.skip_cpu:
    add esi, 20
    dec ecx
    jmp .entry
.other:
    add esi, 8                        ; every other base entry is 8 bytes
    dec ecx
    jmp .entry
.done:
    ret

; ---- starting the APs (MP specification B.4: INIT, then STARTUP twice) ----

start_aps:
    ; The trampoline at 0x8000 (SIPI vector 08h).
    mov esi, trampoline
    mov edi, TRAMPOLINE
    mov ecx, trampoline_end - trampoline
    rep movsb
    mov ebx, [lapic]
    xor edi, edi
.cpu:
    cmp edi, [ncpus]
    jae .wait_all
    mov eax, [apic_ids + edi * 4]
    cmp eax, [bsp_id]
    je .skip
    shl eax, 24
    mov [ebx + 0x310], eax            ; ICR high: destination
    mov dword [ebx + 0x300], 0x00004500   ; INIT, assert
    call icr_idle
    mov ecx, 10000                    ; the INIT's settling time (10 ms on hardware; time is cheap here)
    call delay
    mov [ebx + 0x310], eax
    mov dword [ebx + 0x300], 0x00004600 | (TRAMPOLINE >> 12)   ; STARTUP
    call icr_idle
    mov ecx, 200
    call delay
    mov [ebx + 0x310], eax
    mov dword [ebx + 0x300], 0x00004600 | (TRAMPOLINE >> 12)
    call icr_idle
.skip:
    inc edi
    jmp .cpu
.wait_all:
    ; Every AP counts itself in; a bounded wait, so a missing AP shows in the count.
    mov ecx, 50000000
.spin:
    mov eax, [online]
    inc eax
    cmp eax, [ncpus]
    jae .done
    pause
    loop .spin
.done:
    ret

icr_idle:
    pause
    test dword [ebx + 0x300], 0x1000  ; delivery status
    jnz icr_idle
    ret

delay:
    pause
    loop delay
    ret

; The AP's first instructions: real mode at 0800:0000. Position-independent: offsets are taken
; from the trampoline's start.
    bits 16
trampoline:
    cli
    mov ax, cs
    mov ds, ax
    o32 lgdt [tramp_gdtr - trampoline]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword 0x08:ap_entry
    align 8
tramp_gdtr:
    dw gdt_end - gdt - 1
    dd gdt
trampoline_end:
    bits 32

ap_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, 1
    lock xadd [ap_index], eax         ; this AP's stack slot
    inc eax
    shl eax, 12
    lea esp, [AP_STACKS + eax]
    mov ebx, [lapic]
    mov eax, [ebx + 0x20]
    shr eax, 24
    push eax
    mov byte [ap_up + eax], 1
    call lock_console
    mov esi, msg_ap_hello
    call puts
    pop eax
    call putdec
    mov esi, msg_ap_hello2
    call puts
    call unlock_console
    lock inc dword [online]
.park:
    cli
    hlt
    jmp .park

lock_console:
    push eax
.try:
    mov eax, 1
    xchg eax, [console_lock]
    test eax, eax
    jz .got
    pause
    jmp .try
.got:
    pop eax
    ret

unlock_console:
    mov dword [console_lock], 0
    ret

; ---- the shell (COM1, polled) ----

shell:
    mov esi, msg_prompt
    call puts
    xor ecx, ecx                      ; line length
.key:
    call getc
    cmp al, 13
    je .enter
    cmp al, 10
    je .enter
    cmp al, 8
    je .backspace
    cmp al, 127
    je .backspace
    cmp ecx, 78
    jae .key
    mov [line + ecx], al
    inc ecx
    call putc                         ; echo
    jmp .key
.backspace:
    test ecx, ecx
    jz .key
    dec ecx
    jmp .key
.enter:
    test ecx, ecx
    jz .key                           ; an empty line (the LF of a CR LF): nothing to do
    mov byte [line + ecx], 0
    call newline
    call run_command
    jmp shell

run_command:
    mov esi, line
    mov edi, cmd_cpus
    call streq
    je cmd_cpus_run
    mov edi, cmd_halt
    call streq
    je halt_machine
    mov edi, cmd_disk
    call streq
    je cmd_disk_run
    mov edi, cmd_help
    call streq
    je cmd_help_run
    mov edi, cmd_stamp
    call streq
    je cmd_stamp_run
    cmp dword [line], 'echo'
    jne .unknown
    cmp byte [line + 4], 0
    je .echo_empty
    cmp byte [line + 4], ' '
    jne .unknown
    lea esi, [line + 5]
    call puts
.echo_empty:
    jmp newline
.unknown:
    mov esi, msg_unknown
    call puts
    mov esi, line
    call puts
    jmp newline

cmd_help_run:
    mov esi, msg_help
    jmp puts

cmd_cpus_run:
    xor edi, edi
.cpu:
    cmp edi, [ncpus]
    jae .done
    mov esi, msg_cpu
    call puts
    mov eax, edi
    call putdec
    mov esi, msg_apic
    call puts
    mov eax, [apic_ids + edi * 4]
    call putdec
    mov esi, msg_bsp_tag
    cmp eax, [bsp_id]
    je .tag
    mov esi, msg_ap_tag
    cmp byte [ap_up + eax], 0
    jne .tag
    mov esi, msg_ap_down
.tag:
    call puts
    inc edi
    jmp .cpu
.done:
    ret

; disk: IDENTIFY DEVICE (polled), then READ SECTORS of LBA 0 completed by IRQ 14.
cmd_disk_run:
    mov dx, ATA_CTL
    mov al, 0x02                      ; nIEN while polling
    out dx, al
    call ata_ready
    mov dx, ATA + 6
    mov al, 0xA0
    out dx, al
    mov dx, ATA + 7
    mov al, 0xEC                      ; IDENTIFY DEVICE
    out dx, al
.id_drq:
    in al, dx
    test al, 0x80
    jnz .id_drq
    test al, 0x08
    jz .id_drq
    mov edi, sector_buf
    mov ecx, 256
    mov dx, ATA
    rep insw
    mov esi, msg_disk_sectors
    call puts
    mov eax, [sector_buf + 60 * 2]    ; words 60-61: user-addressable sectors
    call putdec
    mov esi, msg_disk_lba
    call puts
    test word [sector_buf + 49 * 2], 0x0200
    mov esi, msg_yes
    jnz .lba
    mov esi, msg_no
.lba:
    call puts

    ; READ SECTORS with the completion interrupt: I/O APIC pin 14 -> vector 2Eh, edge, fixed,
    ; physical destination the BSP.
    mov dword [0xFEC00000], 0x10 + 14 * 2 + 1
    mov eax, [bsp_id]
    shl eax, 24
    mov [0xFEC00010], eax
    mov dword [0xFEC00000], 0x10 + 14 * 2
    mov dword [0xFEC00010], IRQ14_VEC
    mov byte [irq14_seen], 0
    call ata_ready
    mov dx, ATA + 7
    in al, dx                         ; clear anything pending
    mov dx, ATA_CTL
    xor al, al                        ; nIEN off: INTRQ drives IRQ 14
    out dx, al
    mov dx, ATA + 6
    mov al, 0xE0
    out dx, al
    mov dx, ATA + 2
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    inc dx
    out dx, al
    inc dx
    out dx, al
    mov dx, ATA + 7
    mov al, 0x20
    out dx, al
    mov ecx, 50000000
.wait_irq:
    sti
    cmp byte [irq14_seen], 0
    jne .got_irq
    pause
    loop .wait_irq
    cli
    mov esi, msg_no_irq
    call puts
    ret
.got_irq:
    cli
    mov edi, sector_buf
    mov ecx, 256
    mov dx, ATA
    rep insw
    mov esi, msg_disk_irq
    call puts
    movzx eax, word [sector_buf + 510]
    call puthex
    call newline
    ; Mask pin 14 again.
    mov dword [0xFEC00000], 0x10 + 14 * 2
    mov dword [0xFEC00010], 0x10000
    ret

; stamp: WRITE SECTORS of stamp_text to the scratch sector, then READ SECTORS of it, polled.
cmd_stamp_run:
    mov edi, sector_buf
    xor eax, eax
    mov ecx, 128
    rep stosd
    mov esi, stamp_text
    mov edi, sector_buf
.copy:
    lodsb
    stosb
    test al, al
    jnz .copy
    mov dx, ATA_CTL
    mov al, 0x02                      ; nIEN: polled
    out dx, al
    mov al, 0x30                      ; WRITE SECTORS
    call ata_scratch_command
    mov esi, sector_buf
    mov ecx, 256
    mov dx, ATA
    rep outsw
    call ata_ready
    test al, 0x01
    jnz .fail
    mov edi, sector_buf               ; forget what was written, then read it back
    xor eax, eax
    mov ecx, 128
    rep stosd
    mov al, 0x20                      ; READ SECTORS
    call ata_scratch_command
    mov edi, sector_buf
    mov ecx, 256
    mov dx, ATA
    rep insw
    mov esi, msg_stamp
    call puts
    mov eax, SCRATCH_LBA
    call putdec
    mov esi, msg_stamp2
    call puts
    mov esi, sector_buf
    call puts
    jmp newline
.fail:
    mov esi, msg_stamp_fail
    jmp puts

; ata_scratch_command: command AL for one sector at SCRATCH_LBA, then wait for DRQ (or ERR).
ata_scratch_command:
    push eax
    call ata_ready
    mov dx, ATA + 6
    mov al, 0xE0
    out dx, al
    mov dx, ATA + 2
    mov al, 1
    out dx, al
    inc dx
    mov al, SCRATCH_LBA
    out dx, al
    inc dx
    xor al, al
    out dx, al
    inc dx
    out dx, al
    pop eax
    mov dx, ATA + 7
    out dx, al
.drq:
    in al, dx
    test al, 0x80
    jnz .drq
    test al, 0x09                     ; DRQ or ERR
    jz .drq
    ret

irq14_handler:
    push eax
    push edx
    mov dx, ATA + 7
    in al, dx                         ; reading Status acknowledges INTRQ
    mov byte [irq14_seen], 1
    mov eax, [lapic]
    mov dword [eax + 0xB0], 0         ; EOI
    pop edx
    pop eax
    iret

setup_idt:
    mov eax, irq14_handler
    mov [idt + IRQ14_VEC * 8], ax
    mov word [idt + IRQ14_VEC * 8 + 2], 0x08
    mov word [idt + IRQ14_VEC * 8 + 4], 0x8E00   ; present, 32-bit interrupt gate
    shr eax, 16
    mov [idt + IRQ14_VEC * 8 + 6], ax
    lidt [idtr]
    ret

halt_machine:
    mov esi, msg_bye
    call puts
    xor eax, eax
    out 0xF4, eax                     ; isa-debug-exit: status (0 << 1) | 1
    cli
.h:
    hlt
    jmp .h

; streq: ZF set when the strings at ESI and EDI are equal.
streq:
    push esi
    push edi
.c:
    mov al, [esi]
    cmp al, [edi]
    jne .out
    inc esi
    inc edi
    test al, al
    jnz .c
.out:
    pop edi
    pop esi
    ret

; ---- console: COM1 and the VGA text screen ----

; getc: the next character from COM1 or the keyboard (8042, scan code set 1, polled).
getc:
    push edx
.w:
    mov dx, COM1 + 5
    in al, dx
    test al, 1                        ; COM1: data ready
    jnz .serial
    in al, KBC_STATUS
    and al, 0x21                      ; OBF, and not the mouse's
    cmp al, 0x01
    je .key
    pause
    jmp .w
.serial:
    mov dx, COM1
    in al, dx
    pop edx
    ret
.key:
    in al, KBC_DATA
    cmp al, 0x2A                      ; left shift make
    je .shift_down
    cmp al, 0x36                      ; right shift make
    je .shift_down
    cmp al, 0xAA
    je .shift_up
    cmp al, 0xB6
    je .shift_up
    cmp al, 0x3A
    jae .w                            ; a break code, or a key we have no character for
    movzx edx, al
    mov al, [keymap + edx]
    cmp byte [shift], 0
    je .have
    mov al, [keymap_shift + edx]
.have:
    test al, al
    jz .w
    pop edx
    ret
.shift_down:
    mov byte [shift], 1
    jmp .w
.shift_up:
    mov byte [shift], 0
    jmp .w

newline:
    mov al, 10
    jmp putc

puts:
    push eax
    push esi
.c:
    lodsb
    test al, al
    jz .d
    call putc
    jmp .c
.d:
    pop esi
    pop eax
    ret

putc:
    push edx
    push eax
    mov dx, COM1 + 5
.thre:
    in al, dx
    test al, 0x20
    jz .thre
    mov al, [esp]
    mov dx, COM1
    out dx, al
    pop eax
    pop edx
    jmp vga_putc

; putdec: EAX in decimal.
putdec:
    pushad
    mov ecx, 10
    xor ebx, ebx
.div:
    xor edx, edx
    div ecx
    push edx
    inc ebx
    test eax, eax
    jnz .div
.out:
    pop eax
    add al, '0'
    call putc
    dec ebx
    jnz .out
    popad
    ret

; puthex: EAX in hex (no leading zeros, at least one digit).
puthex:
    pushad
    mov ecx, 8
    xor ebx, ebx                      ; a digit has been printed
.d:
    rol eax, 4
    mov edx, eax
    and edx, 15
    jnz .print
    test ebx, ebx
    jnz .print
    cmp ecx, 1
    jne .next
.print:
    mov ebx, 1
    push eax
    mov al, [hexdigits + edx]
    call putc
    pop eax
.next:
    loop .d
    popad
    ret

vga_clear:
    mov edi, 0xB8000
    mov ecx, 80 * 25
    mov ax, 0x0720
    rep stosw
    mov dword [vga_pos], 0
    jmp vga_cursor

; vga_putc: AL at the cursor; newline, wrap and scroll as a terminal; the CRTC cursor follows.
vga_putc:
    pushad
    mov ebx, [vga_pos]
    cmp al, 10
    je .nl
    mov ah, 0x07
    mov [0xB8000 + ebx * 2], ax
    inc ebx
    jmp .check
.nl:
    mov eax, ebx
    xor edx, edx
    mov ecx, 80
    div ecx
    inc eax
    imul ebx, eax, 80
.check:
    cmp ebx, 80 * 25
    jb .store
    mov esi, 0xB8000 + 160
    mov edi, 0xB8000
    mov ecx, 80 * 24
    rep movsw
    mov ecx, 80
    mov ax, 0x0720
    rep stosw
    sub ebx, 80
.store:
    mov [vga_pos], ebx
    call vga_cursor
    popad
    ret

vga_cursor:
    push eax
    push edx
    mov dx, 0x3D4
    mov al, 0x0F
    out dx, al
    inc dx
    mov al, [vga_pos]
    out dx, al
    dec dx
    mov al, 0x0E
    out dx, al
    inc dx
    mov al, [vga_pos + 1]
    out dx, al
    pop edx
    pop eax
    ret

; ---- data ----

msg_kernel:       db 'minios: kernel at 0x100000, ', 0
msg_sectors:      db ' sectors', 10, 0
msg_no_mp:        db 'mp: no MP floating pointer found', 10, 0
msg_mp_found:     db 'mp: floating pointer found, specification 1.', 0
msg_cpus_listed:  db 'mp: processors listed: ', 0
msg_lapic_at:     db ', local APIC at 0x', 0
msg_bsp:          db 'smp: BSP is APIC ', 0
msg_online:       db 'smp: ', 0
msg_of:           db ' of ', 0
msg_ap_hello:     db 'smp: hello from AP ', 0
msg_ap_hello2:    db 10, 0
msg_prompt:       db 'minios> ', 0
msg_unknown:      db 'unknown command: ', 0
msg_help:         db 'commands: cpus echo disk stamp help halt', 10, 0
msg_stamp:        db 'disk: LBA ', 0
msg_stamp2:       db ' written and read back: ', 0
msg_stamp_fail:   db 'disk: write failed', 10, 0
stamp_text:       db 'minios was here', 0
cmd_stamp:        db 'stamp', 0
msg_cpu:          db 'cpu ', 0
msg_apic:         db ': APIC ', 0
msg_bsp_tag:      db ' BSP', 10, 0
msg_ap_tag:       db ' AP online', 10, 0
msg_ap_down:      db ' AP not started', 10, 0
msg_disk_sectors: db 'disk: ', 0
msg_disk_lba:     db ' sectors, LBA ', 0
msg_yes:          db 'yes', 10, 0
msg_no:           db 'no', 10, 0
msg_disk_irq:     db 'disk: sector 0 read on IRQ 14, signature 0x', 0
msg_no_irq:       db 'disk: no IRQ 14', 10, 0
msg_bye:          db 'minios: halt', 10, 0
cmd_cpus:         db 'cpus', 0
cmd_halt:         db 'halt', 0
cmd_disk:         db 'disk', 0
cmd_help:         db 'help', 0
hexdigits:        db '0123456789abcdef'

; Scan code set 1 make codes 00h-39h of a US keyboard, unshifted and shifted (0: no character).
keymap:
    db 0, 27, '1234567890-=', 8, 9
    db 'qwertyuiop[]', 10, 0, 'asdfghjkl;', 39, '`', 0, 92
    db 'zxcvbnm,./', 0, '*', 0, ' '
keymap_shift:
    db 0, 27, '!@#$%^&*()_+', 8, 9
    db 'QWERTYUIOP{}', 10, 0, 'ASDFGHJKL:"~', 0, '|'
    db 'ZXCVBNM<>?', 0, '*', 0, ' '

    align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF
    dq 0x00CF92000000FFFF
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
idtr:
    dw 256 * 8 - 1
    dd idt

    align 4
mp_float:     dd 0
lapic:        dd 0
ncpus:        dd 0
bsp_id:       dd 0
online:       dd 0
ap_index:     dd 0
console_lock: dd 0
vga_pos:      dd 0
irq14_seen:   db 0
shift:        db 0

    align 512
kernel_end:

KERNEL_SECTORS equ (kernel_end - kernel_start) / 512
SCRATCH_LBA equ KERNEL_SECTORS + 1

; The scratch sector `stamp` writes: the disk's last.
    times 512 db 0

; Uninitialized data, past the loaded image.
    absolute KERNEL_ADDR + (kernel_end - kernel_start) + 512
bss_start:
apic_ids:   resd 256
ap_up:      resb 256
line:       resb 88                   ; keeps the IDT 8-byte aligned
idt:        resb 256 * 8
sector_buf: resb 512
bss_end:
