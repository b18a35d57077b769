; smp-legacy - a Multiboot kernel (flat binary, a.out kludge) that starts every AP the legacy way.
;
; The BSP enters long mode, finds the CPUs in the ACPI MADT (and counts them in the MP table too,
; as a check of both), and starts each AP the MP specification's way (appendix B.4): CMOS shutdown
; code 0Ah and the warm-reset vector at 40:67 set, then INIT, wait, STARTUP, wait, STARTUP, wait,
; each IPI addressed to one AP by its APIC ID. The waits are timed by the 8254 (channel 0, mode 0)
; whose IRQ 0 reaches the BSP through I/O APIC pin 2; the 8259s are masked first. The delays are
; the specification's 10 ms after INIT and 200 us after each STARTUP.
;
; Each AP runs the real-mode trampoline copied to 0x8000 (STARTUP vector 08h), goes straight to
; long mode on the BSP's page tables, counts itself in with LOCK XADD, and prints `AP <id> online`
; when its turn comes: APs print one at a time in ascending APIC-ID order (a turn counter), so the
; output is the same whatever order they start in. Then each halts. The BSP waits for all of them,
; then sends each AP in turn a fixed IPI (vector 40h) and waits for it to say so; the AP prints
; from its handler, sends EOI and halts again. The BSP prints a summary and exits through port
; 0xF4 with value 0 (status 1).
;
; Contract: loaded by a Multiboot loader (hvemu run, QEMU -kernel) at 1 MiB and entered in 32-bit
; protected mode with EAX = 0x2BADB002 and EBX = the information structure. The local APIC is at
; 0xFEE00000 in xAPIC mode, the I/O APIC at 0xFEC00000. Output on COM1 only. Up to 255 CPUs: the
; MADT's x2APIC entries (IDs 255 and up) are counted and named, not started.

%include "print-com1.inc"

KERNEL_BASE  equ 0x100000
TRAMP        equ 0x8000             ; the AP trampoline: STARTUP vector 08h -> 0800:0000
MAX_CPUS     equ 256
AP_STACK     equ 2048
VEC_PIT      equ 0x30
VEC_IPI      equ 0x40
VEC_SPURIOUS equ 0xFF
LAPIC        equ 0xFEE00000
IOAPIC       equ 0xFEC00000
PIT_10MS     equ 11932              ; 1.193182 MHz x 10 ms
PIT_200US    equ 239                ; 1.193182 MHz x 200 us

SEL_CODE32   equ 0x08
SEL_DATA     equ 0x10
SEL_CODE64   equ 0x18

MB_MAGIC     equ 0x1BADB002
MB_FLAGS     equ 0x00010002         ; bit 16: the a.out kludge (addresses below); bit 1: memory info

; An address in the trampoline once it is copied to TRAMP.
%define TR(x) ((x) - tramp_start + TRAMP)

org KERNEL_BASE
section .text

; ---- the Multiboot header (specification 3.1) --------------------------------
bits 32
mb_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)
    dd mb_header                    ; header_addr
    dd KERNEL_BASE                  ; load_addr: the file starts here
    dd load_end                     ; load_end_addr
    dd bss_end                      ; bss_end_addr: the loader zeroes the rest
    dd entry                        ; entry_addr

; ---- 32-bit entry: flat segments, page tables, long mode ----------------------
entry:
    cli
    cld
    mov [mb_magic], eax
    mov [mb_info], ebx
    lgdt [gdtr]
    jmp SEL_CODE32:.flat
.flat:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, bsp_stack_top

    ; PML4 -> PDPT -> four page directories of 2 MiB pages: 0-4 GiB identity-mapped (the APIC
    ; pages and the firmware tables included).
    mov edi, pml4
    mov ecx, 2 * 4096 / 4
    xor eax, eax
    rep stosd
    mov dword [pml4], pdpt + 3      ; present, writable
    mov edi, pdpt
    mov eax, pd0 + 3
    mov ecx, 4
.pdpt:
    mov [edi], eax
    add eax, 4096
    add edi, 8
    loop .pdpt
    mov edi, pd0
    mov eax, 0x83                   ; present, writable, 2 MiB page
    mov ecx, 4 * 512
.pd:
    mov [edi], eax
    mov dword [edi + 4], 0
    add eax, 0x200000
    add edi, 8
    loop .pd
    call long_mode_on               ; shared with the APs' trampoline path
    jmp SEL_CODE64:bsp64

; Turn on PAE, load CR3, set EFER.LME and CR0.PG (the caller then far-jumps to 64-bit code).
long_mode_on:
    mov eax, cr4
    or eax, 0x20                    ; CR4.PAE
    mov cr4, eax
    mov eax, pml4
    mov cr3, eax
    mov ecx, 0xC0000080             ; EFER
    rdmsr
    or eax, 0x100                   ; LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000000              ; PG
    mov cr0, eax
    ret

; ---- the BSP in long mode ------------------------------------------------------
bits 64
bsp64:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, bsp_stack_top
    call build_idt
    lidt [idtr]
    call com1_init
    COM1_PUTS `smp-legacy: the BSP is in long mode\n`

    COM1_PUTS `BSP: Multiboot magic `
    mov eax, [mb_magic]
    mov ecx, 8
    call com1_hex
    mov ebx, [mb_info]
    COM1_PUTS `, mem_lower `
    mov eax, [rbx + 4]              ; mem_lower (KiB below 640 KiB), there when flags bit 0 is set
    test byte [rbx], 1
    jnz .mem
    xor eax, eax
.mem:
    call com1_dec
    COM1_PUTS ` KiB\n`

    ; The 8259s off: mask every line of both (their INT output reaches LINT0 as ExtINT).
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al

    ; This local APIC on: TPR 0, SVR = software enable | spurious vector.
    mov rdi, LAPIC
    mov dword [rdi + 0x80], 0
    mov dword [rdi + 0xF0], 0x100 | VEC_SPURIOUS
    mov eax, [rdi + 0x20]
    shr eax, 24
    mov [bsp_id], eax

    ; The I/O APIC's version register (index 1) through IOREGSEL/IOWIN.
    mov rsi, IOAPIC
    mov dword [rsi], 1
    mov eax, [rsi + 0x10]
    COM1_PUTS `BSP: I/O APIC version register `
    mov ecx, 8
    call com1_hex
    COM1_PUTS `\n`

    call read_madt
    jc .no_madt
    COM1_PUTS `BSP: the MADT lists `
    mov eax, [n_cpus]
    call com1_dec
    COM1_PUTS ` CPUs; the BSP's APIC ID is `
    mov eax, [bsp_id]
    mov ecx, 2
    call com1_hex
    COM1_PUTS `\n`
    mov eax, [n_x2apic]
    test eax, eax
    jz .xapic_only
    ; Said, not skipped silently: this guest drives the xAPIC (8-bit IDs, FFh is broadcast).
    COM1_PUTS `BSP: the MADT also lists `
    mov eax, [n_x2apic]
    call com1_dec
    COM1_PUTS ` CPUs with x2APIC IDs (255 and up), which this xAPIC guest does not start\n`
.xapic_only:
    call count_mp_cpus
    COM1_PUTS `BSP: the MP table lists `
    call com1_dec
    COM1_PUTS ` CPUs\n`
    call sort_ap_ids

    ; The PIT's channel 0 stopped in mode 0 (OUT low), then I/O APIC pin 2 (ISA IRQ 0 on a PC
    ; with an I/O APIC) -> VEC_PIT, fixed, physical destination the BSP, edge, unmasked.
    mov al, 0x30                    ; channel 0, LSB then MSB, mode 0, binary
    out 0x43, al
    mov rsi, IOAPIC
    mov dword [rsi], 0x10 + 2 * 2 + 1
    mov eax, [bsp_id]
    shl eax, 24
    mov [rsi + 0x10], eax
    mov dword [rsi], 0x10 + 2 * 2
    mov dword [rsi + 0x10], VEC_PIT
    sti

    ; The MP specification's start-up: shutdown code 0Ah ("jump via 40:67") in CMOS byte 0Fh
    ; and the warm-reset vector 40:67 pointing at the trampoline, which is copied below 1 MiB.
    mov al, 0x8F                    ; CMOS index 0Fh, NMI disabled
    out 0x70, al
    mov al, 0x0A
    out 0x71, al
    mov word [0x467], 0             ; offset
    mov word [0x469], TRAMP >> 4    ; segment
    mov rsi, tramp_start
    mov rdi, TRAMP
    mov ecx, tramp_end - tramp_start
    rep movsb

    COM1_PUTS `BSP: starting `
    mov eax, [n_aps]
    call com1_dec
    COM1_PUTS ` APs with INIT-SIPI-SIPI\n`
    mov edx, 0x4500                 ; INIT, level assert, physical destination
    call ipi_each_ap
    mov ecx, PIT_10MS
    call pit_wait
    mov edx, 0x4600 | (TRAMP >> 12) ; STARTUP, vector 08h
    call ipi_each_ap
    mov ecx, PIT_200US
    call pit_wait
    mov edx, 0x4600 | (TRAMP >> 12) ; the second STARTUP (dropped by APs already running)
    call ipi_each_ap
    mov ecx, PIT_200US
    call pit_wait

    ; Every AP has printed its line when the turn counter reaches the number of APs.
.wait_aps:
    pause
    mov eax, [ap_turn]
    cmp eax, [n_aps]
    jb .wait_aps
    mov al, 0x8F                    ; shutdown code back to 0 (a normal reset)
    out 0x70, al
    xor al, al
    out 0x71, al
    COM1_PUTS `BSP: `
    mov eax, [ap_turn]
    call com1_dec
    COM1_PUTS ` APs online, the LOCK XADD counter says `
    mov eax, [ap_count]
    call com1_dec
    COM1_PUTS `\n`

    ; One fixed IPI to each AP in turn; each says so before the next is sent.
    mov rdi, LAPIC
    xor ebx, ebx
.ipi:
    cmp ebx, [n_aps]
    jae .ipis_done
    mov eax, [ap_ids + rbx * 4]
    shl eax, 24
    mov [rdi + 0x310], eax
    mov dword [rdi + 0x300], VEC_IPI ; fixed, edge, physical destination
    call icr_idle
    lea ecx, [rbx + 1]
.ipi_wait:
    pause
    cmp [ipi_count], ecx
    jb .ipi_wait
    inc ebx
    jmp .ipi
.ipis_done:
    COM1_PUTS `BSP: `
    mov eax, [ipi_count]
    call com1_dec
    COM1_PUTS ` fixed IPIs taken\nSMP: done\n`
    xor al, al
    out 0xF4, al
    jmp halt_forever

.no_madt:
    COM1_PUTS `BSP: no ACPI MADT found\n`
    mov al, 2
    out 0xF4, al
    jmp halt_forever

; ipi_each_ap: send ICR low EDX to every AP in ap_ids, one at a time.
ipi_each_ap:
    push rax
    push rbx
    push rdi
    mov rdi, LAPIC
    xor ebx, ebx
.next:
    cmp ebx, [n_aps]
    jae .done
    mov eax, [ap_ids + rbx * 4]
    shl eax, 24
    mov [rdi + 0x310], eax          ; ICR high: destination APIC ID
    mov [rdi + 0x300], edx          ; ICR low: sends
    call icr_idle
    inc ebx
    jmp .next
.done:
    pop rdi
    pop rbx
    pop rax
    ret

; icr_idle: wait for the ICR's delivery status (bit 12) to read idle. RDI = LAPIC.
icr_idle:
    pause
    test dword [rdi + 0x300], 0x1000
    jnz icr_idle
    ret

; pit_wait: wait ECX PIT ticks (1..65535): channel 0 counts down in mode 0, its OUT rises at
; terminal count, and IRQ 0 (I/O APIC pin 2) wakes the halted BSP.
pit_wait:
    push rax
    mov byte [pit_fired], 0
    mov al, 0x30                    ; mode 0: OUT low until the count runs out
    out 0x43, al
    mov al, cl
    out 0x40, al
    mov al, ch
    out 0x40, al
.wait:
    cli
    cmp byte [pit_fired], 0
    jne .done
    sti
    hlt                             ; STI's shadow: no interrupt slips in before HLT
    jmp .wait
.done:
    sti
    pop rax
    ret

; read_madt: find the RSDP (EBDA's first KiB, then 0xE0000-0xFFFFF), the RSDT and in it the
; MADT; count its enabled processor local APIC entries (n_cpus) and list the APs (ap_ids, n_aps).
; CF set when there is no MADT.
read_madt:
    movzx esi, word [0x40E]         ; the EBDA segment from the BIOS data area
    shl esi, 4
    mov ecx, 1024 / 16
    call scan_rsdp
    jnc .rsdp
    mov esi, 0xE0000
    mov ecx, 0x20000 / 16
    call scan_rsdp
    jc .fail
.rsdp:
    mov esi, [rsi + 16]             ; RsdtAddress
    cmp dword [rsi], 'RSDT'
    jne .fail
    mov ecx, [rsi + 4]
    sub ecx, 36
    shr ecx, 2                      ; entries
    lea rdx, [rsi + 36]
.table:
    test ecx, ecx
    jz .fail
    mov esi, [rdx]
    cmp dword [rsi], 'APIC'
    je .madt
    add rdx, 4
    dec ecx
    jmp .table
.madt:
    mov edx, [rsi + 4]
    add rdx, rsi                    ; end of the MADT
    add rsi, 44                     ; the first interrupt controller structure
.entry:
    cmp rsi, rdx
    jae .done
    movzx ecx, byte [rsi + 1]
    test ecx, ecx
    jz .done                        ; a zero length would loop forever
    cmp byte [rsi], 9               ; processor local x2APIC (IDs 255 and up): counted, not started
    jne .xapic
    test byte [rsi + 8], 1          ; enabled
    jz .skip
    inc dword [n_x2apic]
    jmp .skip
.xapic:
    cmp byte [rsi], 0               ; processor local APIC
    jne .skip
    test byte [rsi + 4], 1          ; enabled
    jz .skip
    inc dword [n_cpus]
    movzx eax, byte [rsi + 3]       ; APIC ID
    cmp eax, [bsp_id]
    je .skip
    mov ebx, [n_aps]
    cmp ebx, MAX_CPUS
    jae .skip
    mov [ap_ids + rbx * 4], eax
    inc dword [n_aps]
.skip:
    add rsi, rcx
    jmp .entry
.done:
    clc
    ret
.fail:
    stc
    ret

; scan_rsdp: look for "RSD PTR " with a valid checksum at 16-byte steps from RSI, ECX steps.
; Returns RSI = the RSDP with CF clear, or CF set.
scan_rsdp:
    mov rax, 'RSD PTR '
.next:
    cmp [rsi], rax
    jne .skip
    push rcx
    xor eax, eax
    xor ecx, ecx
.sum:
    add al, [rsi + rcx]
    inc ecx
    cmp ecx, 20
    jb .sum
    pop rcx
    test al, al
    mov rax, 'RSD PTR '
    jz .found
.skip:
    add rsi, 16
    dec ecx
    jnz .next
    stc
    ret
.found:
    clc
    ret

; count_mp_cpus: EAX = enabled processor entries in the MP configuration table (0 if none). The
; floating pointer is searched in the EBDA's first KiB, the last KiB of base memory and
; 0xF0000-0xFFFFF, as MP specification 4.0 lists.
count_mp_cpus:
    movzx esi, word [0x40E]
    shl esi, 4
    mov ecx, 1024 / 16
    call scan_mp
    jnc .found
    mov esi, 0x9FC00
    mov ecx, 1024 / 16
    call scan_mp
    jnc .found
    mov esi, 0xF0000
    mov ecx, 0x10000 / 16
    call scan_mp
    jnc .found
    xor eax, eax
    ret
.found:
    mov esi, [rsi + 4]              ; the configuration table
    xor eax, eax
    test esi, esi
    jz .out                         ; a default configuration: no table
    cmp dword [rsi], 'PCMP'
    jne .out
    movzx ecx, word [rsi + 34]      ; entry count
    add rsi, 44
.entry:
    test ecx, ecx
    jz .out
    cmp byte [rsi], 0
    jne .short
    test byte [rsi + 3], 1          ; EN
    jz .processor
    inc eax
.processor:
    add rsi, 20
    dec ecx
    jmp .entry
.short:
    add rsi, 8                      ; every other base entry is 8 bytes
    dec ecx
    jmp .entry
.out:
    ret

; scan_mp: look for "_MP_" with a valid 16-byte checksum, as scan_rsdp.
scan_mp:
.next:
    cmp dword [rsi], '_MP_'
    jne .skip
    push rcx
    xor eax, eax
    xor ecx, ecx
.sum:
    add al, [rsi + rcx]
    inc ecx
    cmp ecx, 16
    jb .sum
    pop rcx
    test al, al
    jz .found
.skip:
    add rsi, 16
    dec ecx
    jnz .next
    stc
    ret
.found:
    clc
    ret

; sort_ap_ids: ascending APIC IDs (insertion sort), so the turn order is the APIC-ID order.
sort_ap_ids:
    mov ecx, 1
.outer:
    cmp ecx, [n_aps]
    jae .done
    mov eax, [ap_ids + rcx * 4]
    mov edx, ecx
.inner:
    test edx, edx
    jz .place
    mov ebx, [ap_ids + rdx * 4 - 4]
    cmp ebx, eax
    jbe .place
    mov [ap_ids + rdx * 4], ebx
    dec edx
    jmp .inner
.place:
    mov [ap_ids + rdx * 4], eax
    inc ecx
    jmp .outer
.done:
    ret

; build_idt: every vector to `unexpected`, then the PIT, the IPI and the spurious vector.
build_idt:
    xor eax, eax
.all:
    mov rdx, unexpected
    call set_gate
    inc eax
    cmp eax, 256
    jb .all
    mov eax, VEC_PIT
    mov rdx, pit_handler
    call set_gate
    mov eax, VEC_IPI
    mov rdx, ipi_handler
    call set_gate
    mov eax, VEC_SPURIOUS
    mov rdx, spurious_handler
    call set_gate
    ret

; set_gate: IDT entry EAX -> 64-bit interrupt gate to RDX.
set_gate:
    push rax
    push rdx
    push rdi
    shl eax, 4
    lea rdi, [idt + rax]
    mov [rdi], dx                   ; offset 15:0
    mov word [rdi + 2], SEL_CODE64
    mov word [rdi + 4], 0x8E00      ; present, DPL 0, interrupt gate, IST 0
    shr rdx, 16
    mov [rdi + 6], dx               ; offset 31:16
    shr rdx, 16
    mov [rdi + 8], edx              ; offset 63:32
    mov dword [rdi + 12], 0
    pop rdi
    pop rdx
    pop rax
    ret

pit_handler:
    push rdi
    mov byte [pit_fired], 1
    mov rdi, LAPIC
    mov dword [rdi + 0xB0], 0       ; EOI
    pop rdi
    iretq

spurious_handler:                   ; no EOI for the spurious vector (SDM 11.9)
    iretq

unexpected:
    COM1_PUTS `unexpected interrupt or exception\n`
    mov al, 3
    out 0xF4, al
    jmp halt_forever

halt_forever:
    cli
    hlt
    jmp halt_forever

; ---- the APs in long mode --------------------------------------------------------
ap64:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, 1
    lock xadd [ap_count], eax       ; EAX = this AP's slot: its stack
    shl eax, 11                     ; AP_STACK
    lea rsp, [rax + ap_stacks + AP_STACK]
    lidt [idtr]
    mov rdi, LAPIC
    mov dword [rdi + 0x80], 0
    mov dword [rdi + 0xF0], 0x100 | VEC_SPURIOUS
    mov eax, [rdi + 0x20]
    shr eax, 24                     ; this AP's APIC ID
    xor ecx, ecx
.find:                              ; its place in ap_ids is its turn
    cmp ecx, [n_aps]
    jae halt_forever                ; a CPU the MADT does not list stays out of it
    cmp [ap_ids + rcx * 4], eax
    je .turn
    inc ecx
    jmp .find
.turn:
    pause
    cmp [ap_turn], ecx
    jne .turn
    COM1_PUTS `AP `
    call print_apic_id
    COM1_PUTS ` online\n`
    lock inc dword [ap_turn]
.idle:
    sti
    hlt
    jmp .idle

ipi_handler:
    push rdi
    COM1_PUTS `AP `
    call print_apic_id
    COM1_PUTS ` got the fixed IPI\n`
    lock inc dword [ipi_count]
    mov rdi, LAPIC
    mov dword [rdi + 0xB0], 0       ; EOI
    pop rdi
    iretq

; print_apic_id: two hex digits of this CPU's local APIC ID.
print_apic_id:
    push rax
    push rcx
    push rdi
    mov rdi, LAPIC
    mov eax, [rdi + 0x20]
    shr eax, 24
    mov ecx, 2
    call com1_hex
    pop rdi
    pop rcx
    pop rax
    ret

%include "com1.inc"

; ---- the AP trampoline, copied to TRAMP (runs there, so every address is TR()) ----
bits 16
tramp_start:
    cli
    cld
    xor ax, ax
    mov ds, ax
    o32 lgdt [TR(tramp_gdtr)]       ; the kernel's GDT (32-bit base, above 1 MiB)
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword SEL_CODE32:TR(tramp32)
bits 32
tramp32:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, 0x20                    ; PAE
    mov cr4, eax
    mov eax, pml4                   ; the BSP's page tables
    mov cr3, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x100                   ; EFER.LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000000              ; PG
    mov cr0, eax
    jmp SEL_CODE64:ap64
align 4
tramp_gdtr:
    dw gdt_end - gdt - 1
    dd gdt
tramp_end:

; ---- data ---------------------------------------------------------------------------
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF           ; 0x08: 32-bit code, flat
    dq 0x00CF92000000FFFF           ; 0x10: data, flat
    dq 0x00AF9A000000FFFF           ; 0x18: 64-bit code
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
align 8
idtr:
    dw 256 * 16 - 1
    dq idt

mb_magic:   dd 0
mb_info:    dd 0
bsp_id:     dd 0
n_cpus:     dd 0
n_aps:      dd 0
n_x2apic:   dd 0                    ; enabled Processor Local x2APIC entries (not started)
ap_count:   dd 0                    ; LOCK XADD by each AP as it arrives
ap_turn:    dd 0                    ; the index in ap_ids of the AP whose turn it is to print
ipi_count:  dd 0
pit_fired:  db 0
load_end:

section .bss nobits align=4096
pml4:       resb 4096
pdpt:       resb 4096
pd0:        resb 4 * 4096
idt:        resb 256 * 16
ap_ids:     resd MAX_CPUS
ap_stacks:  resb MAX_CPUS * AP_STACK
            resb 16384
bsp_stack_top:
bss_end:
