; legacy-wake - the AP wake guest for SVM and VMX (no SEV): a boot-sector image (loaded whole at
; 0x7C00; the AP trampoline lands at 0x8000, STARTUP vector 08h) whose BSP runs in 32-bit protected
; mode without paging and drives its xAPIC at 0xFEE00000. APs park with CLI;HLT and are woken again
; by INIT-SIPI-SIPI (INIT resets them; the SIPI starts them at the trampoline).
;
; Two modes (build-time):
;   unicast (default): WAKES wakes, wake w going to AP 1 + (w mod (NCPUS - 1)) by physical
;     destination: RDTSC, INIT, a short PAUSE delay, RDTSC / SIPI / RDTSC, wait until the AP has
;     counted itself in (RDTSC when the BSP sees it), RDTSC / second SIPI / RDTSC. The AP's first
;     instruction at the trampoline is RDTSC, its second an OUT to port 0x80 (the bench's host-side
;     mark: a traced exit), then it stores its TSC, counts itself in and halts. The BSP writes one
;     64-byte record per wake to LOG (the bench reads guest RAM after the run):
;       +0 target APIC ID, +8 TSC before INIT, +16 before SIPI, +24 after SIPI, +32 when the BSP saw
;       the AP, +40 after the second SIPI, +48 the AP's TSC at its first instruction.
;   -DBROADCAST: bring-up and wake of all NCPUS - 1 APs at once (shorthand all excluding self):
;     marker 2, INIT-SIPI-SIPI, wait for all, marker 3, wait for all to halt, marker 4,
;     INIT-SIPI-SIPI again, wait for all, marker 5; it prints "cycles <bring-up> <wake>".
; Markers are single bytes 1-8 on the debug port 0xE9 (host timestamps). The guest fails loudly:
; a wake that does not happen within WAIT_PAUSES PAUSEs prints "FAIL: ..." and exits with 1.
; Exit value 0 (status 1) on success.

%ifndef NCPUS
%define NCPUS 2
%endif
%ifndef WAKES
%define WAKES 1000
%endif
NAPS            equ NCPUS - 1
%ifdef BROADCAST
%if NCPUS < 1
%error "NCPUS must be at least 1"
%endif
%elif NCPUS < 2
%error "NCPUS must be at least 2 (unicast wakes need an AP)"
%endif

LAPIC           equ 0xFEE00000
ICR_LO          equ LAPIC + 0x300
ICR_HI          equ LAPIC + 0x310
ICR_INIT        equ 0x00004500          ; INIT, level assert, physical destination
ICR_SIPI        equ 0x00004608          ; STARTUP, vector 08h
ALL_BUT_SELF    equ 0x000C0000
LOG             equ 0x100000
STACK           equ 0x7000
WAIT_PAUSES     equ 50000000
INIT_DELAY      equ 100                 ; PAUSEs between INIT and SIPI (no yield: below both filters)
SETTLE_PAUSES   equ 20000               ; broadcast: let every AP reach its HLT

        org 0x7C00
        bits 16
start:
        cli
        cld
        xor ax, ax
        mov ds, ax
        lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword 0x08:bsp32

; MARK n: a marker byte for the bench's host clock.
%macro MARK 1
        mov al, %1
        out 0xE9, al
%endmacro

        bits 32
bsp32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, STACK
        mov dword [LAPIC + 0xF0], 0x1FF ; the BSP's APIC software-enabled, spurious vector FFh
        MARK 1
%ifdef BROADCAST
        MARK 2
        rdtsc
        mov [t0], eax
        mov [t0 + 4], edx
        mov eax, ALL_BUT_SELF | ICR_INIT
        call init_sipi_sipi
        mov ebx, NAPS
        call wait_arrived
        rdtsc
        sub eax, [t0]
        sbb edx, [t0 + 4]
        mov [bringup], eax
        MARK 3
        mov ecx, SETTLE_PAUSES
.settle:
        pause
        loop .settle
        MARK 4
        rdtsc
        mov [t0], eax
        mov [t0 + 4], edx
        mov eax, ALL_BUT_SELF | ICR_INIT
        call init_sipi_sipi
        mov ebx, 2 * NAPS
        call wait_arrived
        rdtsc
        sub eax, [t0]
        mov [wake], eax
        MARK 5
        mov esi, msg_cycles
        call puts
        mov eax, [bringup]
        call hex8
        mov al, ' '
        out 0xE9, al
        mov eax, [wake]
        call hex8
        mov al, 10
        out 0xE9, al
%else
        xor ebp, ebp                    ; EBP = wake number w
        mov edi, LOG                    ; EDI = its record
.wake:
        mov eax, ebp
        xor edx, edx
        mov ecx, NAPS
        div ecx
        inc edx                         ; EDX = the target AP: 1 + w mod NAPS
        mov [edi], edx
        mov dword [edi + 4], 0
        shl edx, 24
        mov [ICR_HI], edx
        rdtsc
        mov [edi + 8], eax
        mov [edi + 12], edx
        mov dword [ICR_LO], ICR_INIT
        mov ecx, INIT_DELAY
.delay:
        pause
        loop .delay
        rdtsc
        mov [edi + 16], eax
        mov [edi + 20], edx
        mov dword [ICR_LO], ICR_SIPI
        rdtsc
        mov [edi + 24], eax
        mov [edi + 28], edx
        lea ebx, [ebp + 1]
        call wait_arrived
        rdtsc
        mov [edi + 32], eax
        mov [edi + 36], edx
        mov dword [ICR_LO], ICR_SIPI    ; the second SIPI: the AP is running or halted: dropped
        rdtsc
        mov [edi + 40], eax
        mov [edi + 44], edx
        mov eax, [ap_tsc]
        mov [edi + 48], eax
        mov eax, [ap_tsc + 4]
        mov [edi + 52], eax
        add edi, 64
        inc ebp
        cmp ebp, WAKES
        jb .wake
%endif
        MARK 6
        mov esi, msg_done
        call puts
        xor al, al
        out 0xF4, al
.stuck:
        hlt
        jmp .stuck

%ifdef BROADCAST
; init_sipi_sipi: INIT (EAX = ICR low with the destination shorthand), SIPI, SIPI.
init_sipi_sipi:
        mov ebx, eax
        and ebx, ALL_BUT_SELF
        mov [ICR_LO], eax
        mov ecx, INIT_DELAY
.d1:
        pause
        loop .d1
        lea eax, [ebx + ICR_SIPI]
        mov [ICR_LO], eax
        mov [ICR_LO], eax
        ret
%endif

; wait_arrived: until `arrived` reaches EBX, or fail.
wait_arrived:
        mov ecx, WAIT_PAUSES
.w:
        cmp [arrived], ebx
        jae .ok
        pause
        dec ecx
        jnz .w
        mov esi, msg_fail
        call puts
        mov al, 1
        out 0xF4, al
.ok:
        ret

puts:
        lodsb
        test al, al
        jz .done
        out 0xE9, al
        jmp puts
.done:
        ret

hex8:                                   ; EAX as 8 hex digits
        mov edx, eax
        mov ecx, 8
.digit:
        rol edx, 4
        mov al, dl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '0' - 10
.out:
        out 0xE9, al
        loop .digit
        ret

msg_cycles: db 'cycles ', 0
msg_done:   db 'done', 10, 0
msg_fail:   db 'FAIL: a wake did not happen (the AP never reached the trampoline)', 10, 0

align 8
gdt:
        dq 0
        dq 0x00CF9A000000FFFF           ; 08: 32-bit code
        dq 0x00CF92000000FFFF           ; 10: data
gdt_end:
gdtr:
        dw gdt_end - gdt - 1
        dd gdt
align 8
ap_tsc:     dq 0
t0:         dq 0
arrived:    dd 0
bringup:    dd 0
wake:       dd 0

        times 0x400 - ($ - $$) db 0     ; (fails to assemble if the code above outgrows 1 KiB)
; ---- the trampoline: 0x8000 = STARTUP vector 08h, real mode, CS = 0800h, IP = 0 ----
        bits 16
trampoline:
        rdtsc                           ; the AP's first instruction at its target
        out 0x80, al                    ; the host-side mark (a traced I/O exit)
        xor bx, bx
        mov ds, bx
        mov [ap_tsc], eax
        mov [ap_tsc + 4], edx
        lock inc dword [arrived]
.park:
        cli
        hlt
        jmp .park
