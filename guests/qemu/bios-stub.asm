; bios-stub.asm - a 64 KiB do-nothing "BIOS" so QEMU runs the guests with no firmware,
; the way hvemu does: the reset vector only sets DL=0x80 and jumps to 0000:7C00.
; QEMU maps a 64 KiB -bios image at F0000h-FFFFFh (and just below 4 GiB); the CPU
; starts at F000:FFF0 (linear FFFFFFF0h), which is offset 0xFFF0 of this file.
bits 16
org 0

times 0xFFF0 - ($ - $$) db 0xF4     ; unused space: HLT, in case anything jumps here

reset_vector:                       ; offset 0xFFF0, 16 bytes to spare
    mov dl, 0x80                    ; the boot drive number a BIOS would hand over
    jmp 0x0000:0x7C00
    times 0x10000 - ($ - $$) db 0xF4
