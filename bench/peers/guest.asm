; The peer workload: the guest hvemu, QEMU TCG and Bochs all run in the MIPS comparison
; (bench/mips.ts, bench/README.md). Its bytes must stay those the peer measurements used, so that
; the numbers compare: change it only together with the expected checksums in bench/mips.ts.
;
; guest.asm - CPU-bound benchmark guest in a single 512-byte boot sector.
;
; Build (NASM 2.16):
;   nasm -f bin -i bench/peers/ -D ITERS=10000000            -o guest32-10M.img guest.asm   ; 32-bit protected mode
;   nasm -f bin -i bench/peers/ -D ITERS=10000000 -D LONGMODE -o guest64-10M.img guest.asm  ; 64-bit long mode
;   add -D SMC_STACK for the self-modifying-code stress variant (stack in the code's page)
;
; Contract with the emulator (so that a BIOS-less emulator can run it too):
;   * The 512-byte image is loaded at 0000:7C00 and entered in real mode, CS:IP = 0:7C00 or
;     07C0:0 (only relative jumps are used before the far jump), DL = boot drive (ignored).
;     No BIOS service is used at any time and interrupts stay disabled throughout.
;   * RAM needed: the first 1 MiB (page tables at 0x10000-0x12FFF, work table at
;     0x20000-0x20FFF, stack just below 0x30000). The 64-bit variant identity-maps 0..1 GiB with
;     512 2-MiB pages.
;   * Output: "CKSUM=XXXXXXXX\r\n" (8 upper-case hex digits), byte by byte, to the Bochs/QEMU
;     debug port 0xE9 and to COM1 (THR 0x3F8, after polling LSR 0x3FD bit 5; LCR is set to
;     8N1 first, and the exit waits for LSR bit 6 so the last byte really leaves the UART).
;     The 64-bit variant prints "NOLM\r\n" instead when CPUID says there is no long mode.
;   * Exit: writes 0 to port 0xF4 (QEMU -device isa-debug-exit: process exit status 1),
;     then the string "Shutdown" to port 0x8900 (Bochs), then cli; hlt forever.
;
; Workload (identical instructions in both variants, so the same checksum): ITERS iterations
; of exactly 24 executed instructions: a call to a xorshift32 PRNG step, a load-modify-store
; on a 1024-entry dword table indexed by the PRNG output, a data-dependent conditional
; branch whose two paths both execute 3 instructions (jcc + 2), and a dec/jnz loop branch.
; ref-checksum.mjs is a model of it that prints the expected checksum for any ITERS.

%ifndef ITERS
%define ITERS 10000000
%endif
%if ITERS < 1 || ITERS > 0xFFFFFFFF
%error "ITERS must be 1 .. 2^32-1 (the loop counter is ecx)"
%endif

%ifdef SMC_STACK
STACK   equ 0x7C00             ; stress variant: the stack shares the code's 4 KiB page, so every
                               ; call writes into a page holding (translated) code (see README)
%else
STACK   equ 0x30000            ; top of stack: NOT in the code's 4 KiB page (see README)
%endif
PML4    equ 0x10000            ; PML4 at +0, PDPT at +0x1000, PD at +0x2000
TABLE   equ 0x20000
TABLE_N equ 1024               ; dwords, must be a power of two

        org 0x7C00
        bits 16
start:
        cli
        cld
        xor ax, ax
        mov ds, ax             ; for lgdt; no stack is used in real mode
        mov dx, 0x3FB          ; COM1 LCR: 8 data bits, no parity, 1 stop bit, DLAB=0
        mov al, 3              ; (divisor left alone: these emulators default or ignore it)
        out dx, al
        in al, 0x92            ; fast A20 gate: port 0x92 bit 1; never set bit 0 (reset)
        or al, 2
        and al, 0xFE
        out 0x92, al
        lgdt [gdt]             ; the GDTR image lives in the (unused) null descriptor
        mov eax, cr0
        or al, 1               ; PE
        mov cr0, eax
        jmp dword 0x08:pm32

        bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax             ; FS/GS keep their real-mode values; nothing uses them
        mov esp, STACK

%ifdef LONGMODE
        mov eax, 0x80000000    ; does the CPU have long mode at all?
        cpuid
        cmp eax, 0x80000001
        jb .nolm
        mov eax, 0x80000001
        cpuid
        bt edx, 29             ; CPUID.80000001h:EDX.LM
        jc .haslm
.nolm:
        mov esi, msg_nolm      ; puts/putc/exit encode identically in 32- and 64-bit mode
        call puts
        jmp exit
.haslm:
        mov edi, PML4          ; clear PML4, PDPT and PD
        xor eax, eax
        mov ecx, 3*1024
        rep stosd
        mov eax, PML4 + 0x1003
        mov [PML4], eax                ; PML4[0] -> PDPT, P|RW
        mov ah, ((PML4 + 0x2003) >> 8) & 0xFF ; eax = PML4 + 0x2003
        mov [PML4 + 0x1000], eax       ; PDPT[0] -> PD, P|RW
        mov eax, (511 << 21) | 0x83    ; PD[i] = i * 2 MiB | P|RW|PS, i = 511 .. 0
        mov ecx, 512
.pd:    mov [PML4 + 0x2000 - 8 + ecx*8], eax
        sub eax, 0x200000
        loop .pd
        mov eax, cr4
        or al, 0x20            ; PAE
        mov cr4, eax
        mov eax, PML4
        mov cr3, eax
        mov ecx, 0xC0000080    ; EFER
        rdmsr
        or ah, 1               ; LME (bit 8)
        wrmsr
        mov eax, cr0
        or eax, 0x80000000     ; PG: long mode active (compatibility mode until the far jump)
        mov cr0, eax
        jmp 0x18:lm64

        bits 64
lm64:
        mov esp, STACK         ; zero-extends into rsp
%endif

; ---------------------------------------------------------------- workload
; The loop itself is in workload.inc (shared with the SEV-ES form, bench/guests/sev-peer.asm):
; the same instructions as 32-bit code, or as 64-bit code with LONGMODE (only dec ecx differs in
; encoding), and every register write zero-extends in 64-bit mode.
%include "workload.inc"

bench:
        PEER_WORKLOAD

        mov ebx, eax
        mov esi, msg_ck
        call puts
        mov ecx, 8
.hex:   rol ebx, 4
        mov al, bl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .dig
        add al, 'A' - '9' - 1
.dig:   call putc
        loop .hex
        mov esi, msg_crlf
        call puts
        ; fall through to exit

; ------------------------------------------------ mode-neutral tail
; From here to rng, only encodings that mean the same in 32-bit and in 64-bit mode
; (no 0x40-0x4F short inc/dec, no wide push/pop), because the 64-bit variant also calls
; this code from 32-bit code on its no-long-mode path.
exit:
        mov dx, 0x3FD          ; wait until COM1 has shifted out the last byte (LSR bit 6)
.drain: in al, dx
        test al, 0x40
        jz .drain
        xor eax, eax
        out 0xF4, al           ; QEMU: -device isa-debug-exit,iobase=0xf4,iosize=0x04
        mov dx, 0x8900         ; Bochs: "Shutdown" to port 0x8900
        mov esi, msg_shutdown
        mov ecx, 8
        rep outsb
        cli
.halt:  hlt
        jmp .halt

puts:                          ; esi/rsi -> NUL-terminated string
        lodsb
        test al, al
        jz .done
        call putc
        jmp puts
.done:  ret

putc:                          ; al = byte; clobbers ah, dx
        out 0xE9, al
        mov ah, al
        mov dx, 0x3FD          ; COM1 line status register
.wait:  in al, dx
        test al, 0x20          ; transmitter holding register empty
        jz .wait
        mov al, ah
        mov dl, 0xF8           ; dx = 0x3F8, COM1 transmitter holding register
        out dx, al
        ret

; The xorshift32 step (workload.inc). Only called from the workload, so it is assembled in the
; workload's mode.
        PEER_RNG

msg_ck:       db "CKSUM=", 0
msg_crlf:     db 13, 10, 0
msg_shutdown: db "Shutdown"
%ifdef LONGMODE
msg_nolm:     db "NOLM", 13, 10, 0
%endif

gdt:    dw gdt_end - gdt - 1   ; null descriptor slot, reused as the lgdt operand
        dd gdt
        dw 0
        dq 0x00CF9A000000FFFF  ; 0x08: 32-bit code, base 0, limit 4 GiB
        dq 0x00CF92000000FFFF  ; 0x10: data, base 0, limit 4 GiB
        dq 0x00AF9A000000FFFF  ; 0x18: 64-bit code (L=1, D=0)
gdt_end:

        times 510 - ($ - $$) db 0   ; fails to assemble if the code outgrows the sector
        dw 0xAA55
