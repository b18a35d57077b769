; smp-sev-es - an SEV-ES multi-core guest: a 64 KiB firmware ROM in the style of OVMF. The BSP
; starts from its measured VMSA at the reset vector, checks SEV_STATUS, negotiates the GHCB
; protocol over the GHCB MSR, builds page tables with the C-bit (RAM private, GHCB pages shared),
; enters long mode, registers its GHCB, installs a #VC handler (CPUID, port I/O, APIC MSRs through
; the GHCB), enables x2APIC, publishes the AP jump table and starts every AP with INIT-SIPI-SIPI.
; Each AP prints, counts itself and parks in AP Reset Hold; the BSP then wakes all of them WAKES
; times, and each time every AP resumes after its VMGEXIT, drops from long mode to real mode,
; re-enters through the AP jump table, prints its wake count and parks again.
; Exit value 0 (status 1); a detected error prints "FAIL: <why>" and exits with 1 (status 3), or
; ends the VM with a GHCB termination request where no console exists yet (reason set 0: code 1
; = GHCB protocol version 2 not offered, code 0 = anything else).
;
; Run: hvemu run guests/smp-sev-es/smp-sev-es.img --arch svm --sev-es --cpus 4
; Build-time options: -dWAKES=n (default 3); -dHOLD_MSR parks through the MSR protocol's AP Reset
; Hold (0x006/0x007) instead of the GHCB event 0x80000004 (that is guests/smp-sev-es-msr);
; -dGHCB_PRIVATE maps the GHCB pages with the C-bit set, a broken guest for the platform's tests
; (the hypervisor sees only ciphertext in the GHCB: the first #VC's VMGEXIT must fail visibly).
;
; ---- The platform contract (as OVMF under QEMU/KVM) ---------------------------------------------
; The image is mapped so that its last byte is at FFFFFFFF (image offset X = address FFFF0000+X).
; BSP: RESET state, real mode, CS F000 (base FFFF0000), IP FFF0. APs: the first SIPI starts them at
; the address in the SEV-ES reset block of the GUIDed table at the end of the image (FFFFF000 here:
; CS F000, base FFFF0000, IP F000); the SIPI vector is ignored. With paging off every access is
; private; under paging the C-bit (its position comes from the GHCB MSR) makes a page private.
;
; ---- Memory map (guest-physical = linear: identity mapped) --------------------------------------
;   00001000  AP jump table (+0 u16 IP, +2 u16 CS): page aligned, below 1 MiB, private
;   00002000  IDT: 32 gates, vector 29 = #VC, the others print FAIL
;   00007000  top of the BSP's stack in 32-bit code
;   00008000  the body (BODY_SIZE bytes), copied from image offset 0 by the BSP: the AP trampoline
;             first (0000:8000), then 32- and 64-bit code, the GDT, variables
;   00010000  PML4, 00011000 PDPT, 00012000 PD: 0-1 GiB in 2 MiB pages, private (C-bit set) ...
;   00013000  ... except 00200000-003FFFFF, through this page table of 4 KiB pages:
;   00200000  per-CPU areas, 8 KiB per APIC ID (0-255): +0 the GHCB (shared: C-bit clear),
;             +1000 the stack page (private), stack top at +2000
;   FFFF0000  the ROM (the image); not mapped under paging, nothing runs there after the copy
;
; ---- The AP path --------------------------------------------------------------------------------
; First boot: ROM FFFFF000 (real mode) -> JMP FAR [00001000] -> trampoline 0000:8000.
; Trampoline (every entry): APIC ID through the MSR protocol (CPUID 0Bh EDX, or 1 EBX[31:24] when
; the maximum basic leaf is below 0Bh), writes its GHCB's GPA into the GHCB MSR, 32-bit protected
; mode, long mode on the BSP's page tables, its own stack, the shared IDT; counts its entries in
; boots[APIC ID] (LOCK XADD), prints "AP <id> online" (first entry) or "AP <id> wake <k>", counts
; itself in `parked` (LOCK XADD) and issues AP Reset Hold. When INIT-SIPI-SIPI releases the hold
; it continues after its VMGEXIT in long mode (the hypervisor cannot touch its registers), goes
; 64-bit -> compatibility mode -> (paging off) 32-bit protected mode -> 16-bit protected mode ->
; real mode and jumps through the jump table to the trampoline, exactly as on first boot.
;
; ---- The number of CPUs -------------------------------------------------------------------------
; Counted: hvemu's CPUID reports no vCPU count (leaf 1 EBX[23:16] = 1, leaf 0Bh EBX = 1 at both
; levels, 80000008h ECX = 0), so after the first INIT-SIPI-SIPI the BSP counts the APs that check
; in (`parked`) until the count has not changed for AP_QUIET PAUSEs. Each wake round must then
; bring back exactly that many, each AP exactly once (boots[id] = round + 1), or the guest fails;
; a round that does not complete within WAIT_PAUSES fails naming the APs that are not back.
;
; ---- Waking only parked APs ---------------------------------------------------------------------
; An AP counts itself in `parked` a few instructions before its VMGEXIT. An INIT-SIPI-SIPI that
; reaches it in between does no harm to its registers (SEV-ES: the hypervisor cannot reset them),
; but the SIPI then has no hold to release, and the hold that follows would never be released.
; So after the count is reached the BSP spins SETTLE_PAUSES more PAUSEs (PAUSE loops give the host
; quantum to the other vCPUs) before it sends the next INIT-SIPI-SIPI. There is no way for the
; guest to see that an AP has reached its hold; an AP slowed down past the settle time between its
; count and its VMGEXIT is stranded, and the next round fails with "not back: <its APIC ID>".
;
; ---- Output (4 vCPUs) ---------------------------------------------------------------------------
; The SEV-ES lines: what the BSP found (SEV_STATUS, the SEV information in the GHCB MSR, its APIC ID
; and GHCB), the first line printed through #VC, a CPUID through #VC, the x2APIC switch and the AP
; jump table (SET, then GET as a check). "AP <id> online" / "AP <id> wake <k>": an AP's own line on
; each entry through the trampoline (their order is the scheduler's). "BSP: ..." lines: the BSP's
; per-round summaries, printed after it has checked every AP in APIC-ID order. Lines never mix:
; every line is printed under a spinlock.

%ifndef WAKES
%define WAKES 3
%endif

%include "print.inc"
%include "sev-es.inc"
%ifdef PLANT_SECRETS
%include "secrets.inc"                  ; guests/sev-secrets: known values for the confidentiality scan
%endif

ROM_BASE        equ 0xFFFF0000
AP_RESET_OFFSET equ 0xF000              ; the AP reset code: address FFFFF000
JUMP_TABLE      equ 0x1000
IDT_ADDR        equ 0x2000
IDT_GATES       equ 32
BOOT_STACK      equ 0x7000
BODY_RAM        equ 0x8000
BODY_SIZE       equ 0x6000              ; the copy: 00008000-0000DFFF
PML4            equ 0x10000
PDPT            equ 0x11000
PD              equ 0x12000
PT_PERCPU       equ 0x13000
PD_MMIO         equ 0x14000             ; 3-4 GiB: the local APIC's 2 MiB page, shared and uncached
APIC_MMIO       equ 0xFEE00000
PERCPU_BASE     equ 0x200000
PERCPU_SHIFT    equ 13                  ; 8 KiB per APIC ID
PERCPU_SIZE     equ 1 << PERCPU_SHIFT
MAX_CPUS        equ 256                 ; APIC IDs 0-255 (the per-CPU region is one 2 MiB page)

AP_QUIET        equ 200000              ; PAUSEs with no new AP before the BSP stops counting
WAIT_PAUSES     equ 20000000            ; PAUSEs before a wake round is declared lost
SETTLE_PAUSES   equ 20000               ; PAUSEs between "all parked" and the next INIT
IPI_PAUSES      equ 1000                ; between INIT and SIPI, and between the two SIPIs

SEL_CODE32      equ 0x08
SEL_DATA        equ 0x10
SEL_CODE64      equ 0x18
SEL_CODE16      equ 0x20
SEL_DATA16      equ 0x28

CR0_PE          equ 1 << 0
CR0_NW          equ 1 << 29
CR0_CD          equ 1 << 30
CR0_PG          equ 1 << 31
CR4_PAE         equ 1 << 5
EFER_LME        equ 1 << 8
PTE_P           equ 1 << 0
PTE_W           equ 1 << 1
PTE_PS          equ 1 << 7

%ifdef HOLD_MSR
%define HOLD_FORM 'MSR protocol'
%else
%define HOLD_FORM 'GHCB event'
%endif

; ENTER_LONG_MODE target: from 32-bit protected mode (paging off) to 64-bit code at target, on the
; page tables at PML4. Clobbers EAX, ECX, EDX.
%macro ENTER_LONG_MODE 1
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME
    wrmsr
    mov eax, cr0
    and eax, ~(CR0_CD | CR0_NW)
    or eax, CR0_PG | CR0_PE
    mov cr0, eax                        ; EFER.LMA = 1
    jmp SEL_CODE64:%1
%endmacro

; LINE64 'text': print one whole line under the console lock.
%macro LINE64 1
    call lock_console
    PUTS64 %1
    call unlock_console
%endmacro

; FAIL64 'why': print "FAIL: why" and exit with value 1 (no lock: a failing guest must be heard).
%macro FAIL64 1
    PUTS64 `FAIL: `
    PUTS64 %1
    PUTS64 `\n`
    mov al, 1
    jmp exit64
%endmacro

; =================================================================================================
; The body: image offset 0, copied to RAM at BODY_RAM by the BSP, runs there.
; =================================================================================================
section body start=0 vstart=BODY_RAM

; ---- the AP trampoline: 0000:8000, the jump table's target (real mode, paging off) -------------
bits 16
trampoline:
    cli
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    GET_APIC_ID tramp_fail              ; EDX = APIC ID (the MSR protocol needs no stack)
    cmp edx, MAX_CPUS
    jae tramp_fail
    mov esi, edx                        ; ESI = APIC ID
    shl edx, PERCPU_SHIFT
    add edx, PERCPU_BASE
    mov edi, edx                        ; EDI = per-CPU area = its GHCB
    mov ecx, MSR_GHCB
    mov eax, edi
    xor edx, edx
    wrmsr                               ; GHCB mode: the MSR holds the GHCB's GPA
    o32 lgdt [gdtr]
    mov eax, cr0
    or al, CR0_PE
    mov cr0, eax
    jmp dword SEL_CODE32:tramp32

tramp_fail:                             ; no console in real mode
    MSR_TERMINATE 0, 0

bits 32
tramp32:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    ENTER_LONG_MODE ap64

; ---- the BSP after the copy: 32-bit protected mode, paging off --------------------------------
bsp32:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, BOOT_STACK
    lgdt [gdtr]                         ; the RAM copy of the GDT (same descriptors as the ROM's)

    mov ecx, MSR_SEV_STATUS
    rdmsr
    mov [sev_status], eax
    and eax, 3
    cmp eax, 3
    jne not_sev_es

    ; The SEV information: in the GHCB MSR since RESET; asked for (0x002) if something replaced it.
    mov ecx, MSR_GHCB
    rdmsr
    mov ebx, eax
    and ebx, 0xFFF
    cmp ebx, GHCB_MSR_SEV_INFO_RESP
    je .info
    mov eax, GHCB_MSR_SEV_INFO_REQ
    xor edx, edx
    wrmsr
    VMGEXIT
    rdmsr
    mov ebx, eax
    and ebx, 0xFFF
    cmp ebx, GHCB_MSR_SEV_INFO_RESP
    jne .term
.info:
    mov [sev_info], eax
    mov [sev_info + 4], edx
    movzx ebx, dx                       ; [47:32] minimum version
    cmp ebx, GHCB_VERSION
    ja .term_version
    shr edx, 16                         ; [63:48] maximum version
    cmp edx, GHCB_VERSION
    jb .term_version
    shr eax, 24                         ; [31:24] C-bit position: must be a PTE bit 32-51
    cmp eax, 32
    jb .term
    cmp eax, 51
    ja .term
    mov [cbit], eax
    lea ecx, [eax - 32]
    mov eax, 1
    shl eax, cl
    mov [cbit_hi], eax                  ; the C-bit in a PTE's high dword

    GET_APIC_ID .term
    cmp edx, MAX_CPUS
    jae .term
    mov [bsp_id], edx

    ; Page tables: 0-1 GiB identity, private; the per-CPU region in 4 KiB pages, GHCBs shared.
    mov edi, PML4
    mov ecx, 5 * 4096 / 4
    xor eax, eax
    rep stosd
    mov edx, [cbit_hi]
    mov dword [PML4], PDPT | PTE_P | PTE_W
    mov [PML4 + 4], edx
    mov dword [PDPT], PD | PTE_P | PTE_W
    mov [PDPT + 4], edx
    mov dword [PDPT + 3 * 8], PD_MMIO | PTE_P | PTE_W
    mov [PDPT + 3 * 8 + 4], edx
    ; MMIO is never private: the APIC page without the C-bit (and PCD PWT: uncached).
    mov dword [PD_MMIO + ((APIC_MMIO >> 21) & 511) * 8], APIC_MMIO | PTE_P | PTE_W | PTE_PS | 0x18
    mov edi, PD
    mov eax, PTE_P | PTE_W | PTE_PS
.pd:
    mov [edi], eax
    mov [edi + 4], edx
    add eax, 0x200000
    add edi, 8
    cmp edi, PD + 4096
    jb .pd
    mov dword [PD + (PERCPU_BASE >> 21) * 8], PT_PERCPU | PTE_P | PTE_W
    mov edi, PT_PERCPU
    mov eax, PERCPU_BASE | PTE_P | PTE_W
.pt:
    mov [edi], eax                      ; +0: a GHCB, C-bit clear (shared)
%ifdef GHCB_PRIVATE
    mov [edi + 4], edx                  ; the deliberate mistake: the GHCB mapped private
%else
    mov dword [edi + 4], 0
%endif
    add eax, 0x1000
    mov [edi + 8], eax                  ; +1000: a stack page, C-bit set (private)
    mov [edi + 12], edx
    add eax, 0x1000
    add edi, 16
    cmp edi, PT_PERCPU + 4096
    jb .pt

    ENTER_LONG_MODE bsp64

.term_version:
    MSR_TERMINATE 0, 1                  ; GHCB protocol version unsupported
.term:
    MSR_TERMINATE 0, 0

not_sev_es:                             ; no SEV-ES, so no #VC: plain port output works
    mov esi, msg_not_sev_es
    call puts32
    mov al, 1
    jmp exit32

%include "io32.inc"

msg_not_sev_es: db `FAIL: SEV_STATUS does not report SEV and SEV-ES\n`, 0

; ---- the BSP in long mode -----------------------------------------------------------------------
bits 64
bsp64:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov r14d, [bsp_id]
    mov r15d, r14d
    shl r15d, PERCPU_SHIFT
    add r15d, PERCPU_BASE               ; R15 = the BSP's per-CPU area = its GHCB
    lea rsp, [r15 + PERCPU_SIZE]
    mov rdi, r15                        ; the GHCB page starts clean
    mov ecx, 4096 / 8
    xor eax, eax
    rep stosq
    mov ecx, MSR_GHCB
    mov eax, r15d
    xor edx, edx
    wrmsr                               ; register it: from now on #VC can be served
    mov edi, IDT_ADDR
    mov ecx, SEL_CODE64
    call idt_build
    lidt [idtr]

    LINE64 `SEV-ES: BSP started at the reset vector FFFFFFF0 from its measured VMSA; this line went OUT -> #VC -> GHCB -> VMGEXIT\n`
    call lock_console
    PUTS64 `SEV-ES: SEV_STATUS = `
    HEX64 [sev_status], 8
    PUTS64 ` (SEV, SEV-ES)\n`
    PUTS64 `SEV-ES: GHCB MSR at reset: SEV information: protocol versions `
    movzx eax, word [sev_info + 4]
    DEC64 rax
    PUTS64 ` to `
    movzx eax, word [sev_info + 6]
    DEC64 rax
    PUTS64 `, C-bit `
    mov eax, [cbit]
    DEC64 rax
    PUTS64 `; using version 2\n`
    PUTS64 `SEV-ES: long mode: RAM private (C-bit set), per-CPU GHCB pages shared; BSP APIC ID `
    HEX64 r14, 2
    PUTS64 `, GHCB at `
    HEX64 r15, 8
    PUTS64 `\n`
    call unlock_console

    xor eax, eax                        ; CPUID through #VC -> GHCB CPUID
    cpuid
    mov [vendor], ebx
    mov [vendor + 4], edx
    mov [vendor + 8], ecx
    call lock_console
    PUTS64 `SEV-ES: CPUID 0 through #VC: `
    mov rsi, vendor
    call puts64
    PUTS64 `\n`
    call unlock_console

    ; The local APIC's version register through MMIO, while it is still in xAPIC mode: the
    ; hypervisor marked the page MMIO (a reserved bit in its nested entry), so the load raises
    ; #VC(400h) and the handler asks for it with a GHCB MMIO read.
    mov edi, APIC_MMIO + 0x30
    mov eax, [rdi]
    mov r12d, eax
    call lock_console
    PUTS64 `SEV-ES: APIC version through MMIO (#VC 400h -> GHCB MMIO read): `
    HEX64 r12, 8
    PUTS64 `\n`
    call unlock_console

    mov ecx, MSR_APIC_BASE              ; RDMSR / WRMSR through #VC -> GHCB MSR
    rdmsr
    mov r12d, eax
    or eax, APIC_BASE_EN | APIC_BASE_EXTD
    wrmsr
    rdmsr
    mov r13d, eax
    test eax, APIC_BASE_EXTD
    jnz .x2apic
    FAIL64 `APIC_BASE did not take x2APIC mode`
.x2apic:
    call lock_console
    PUTS64 `SEV-ES: x2APIC on: APIC_BASE `
    HEX64 r12, 8
    PUTS64 ` -> `
    HEX64 r13, 8
    PUTS64 `\n`
    call unlock_console

    ; The AP jump table: a real-mode far pointer to the trampoline, published with AP_JUMP_TABLE
    ; SET and read back with GET.
    mov word [JUMP_TABLE], trampoline
    mov word [JUMP_TABLE + 2], 0
    mov eax, SVM_VMGEXIT_AP_JUMP_TABLE
    xor ebx, ebx                        ; SET
    mov ecx, JUMP_TABLE
    call ghcb_event
    test ebx, ebx
    jz .set_ok
    FAIL64 `AP jump table SET refused (sw_exit_info_1 != 0)`
.set_ok:
    mov eax, SVM_VMGEXIT_AP_JUMP_TABLE
    mov ebx, 1                          ; GET
    xor ecx, ecx
    call ghcb_event
    mov r12, rcx
    test ebx, ebx
    jz .get_ok
    FAIL64 `AP jump table GET refused (sw_exit_info_1 != 0)`
.get_ok:
    cmp r12, JUMP_TABLE
    je .get_same
    FAIL64 `AP jump table GET did not return what SET published`
.get_same:
    call lock_console
    PUTS64 `SEV-ES: AP jump table at `
    HEX64 JUMP_TABLE, 8
    PUTS64 ` -> `
    movzx eax, word [JUMP_TABLE + 2]
    HEX64 rax, 4
    PUTS64 `:`
    movzx eax, word [JUMP_TABLE]
    HEX64 rax, 4
    PUTS64 ` (GET returns `
    HEX64 r12, 8
    PUTS64 `)\n`
    call unlock_console

    ; ---- first boot of the APs ----
    LINE64 `BSP: INIT-SIPI-SIPI to all APs: first boot at the reset block's address FFFFF000\n`
    call init_sipi_sipi
    xor r12d, r12d                      ; APs parked so far
    mov r13d, AP_QUIET
.count:
    pause
    mov eax, [parked]
    cmp eax, r12d
    je .quiet
    mov r12d, eax                       ; one more: start the quiet period again
    mov r13d, AP_QUIET
    cmp eax, MAX_CPUS - 1
    jae .counted
    jmp .count
.quiet:
    dec r13d
    jnz .count
.counted:
    mov [n_aps], r12d
    call settle
    mov eax, [parked]
    cmp eax, r12d
    je .all_here
    FAIL64 `an AP checked in after the count had been quiet for AP_QUIET PAUSEs`
.all_here:
    mov edx, 1
    call check_round
    call lock_console
    PUTS64 `BSP: `
    mov eax, r12d
    call put_aps
    PUTS64 ` online and parked in AP Reset Hold (`
    PUTS64 HOLD_FORM
    PUTS64 `)\n`
    call unlock_console

    ; ---- WAKES rounds: INIT-SIPI-SIPI, every AP comes back through the jump table ----
    mov ebx, 1                          ; EBX = round
.round:
    call lock_console
    PUTS64 `BSP: wake `
    DEC64 rbx
    PUTS64 `: INIT-SIPI-SIPI\n`
    call unlock_console
    call init_sipi_sipi
    lea eax, [ebx + 1]
    imul eax, [n_aps]                   ; every AP parks once per entry
    mov r12d, eax
    mov r13d, WAIT_PAUSES
.wait:
    pause
    cmp [parked], r12d
    jae .back
    dec r13d
    jnz .wait
    PUTS64 `FAIL: wake `              ; no console lock: a failing guest must be heard
    DEC64 rbx
    PUTS64 `: timed out with `
    mov eax, [parked]
    DEC64 rax
    PUTS64 ` parks counted, expected `
    DEC64 r12
    PUTS64 `; not back:`
    xor ecx, ecx                        ; the APs that have not entered the trampoline again
.missing:
    cmp ecx, [bsp_id]
    je .next_missing
    mov eax, [boots + rcx * 4]
    test eax, eax
    jz .next_missing
    cmp eax, ebx
    ja .next_missing
    PUTS64 ` `
    HEX64 rcx, 2
.next_missing:
    inc ecx
    cmp ecx, MAX_CPUS
    jb .missing
    PUTS64 `\n`
    mov al, 1
    jmp exit64
.back:
    call settle
    cmp [parked], r12d
    je .exact
    FAIL64 `an AP parked more than once in one wake round`
.exact:
    lea edx, [ebx + 1]
    call check_round
    call lock_console
    PUTS64 `BSP: wake `
    DEC64 rbx
    PUTS64 `: `
    mov eax, [n_aps]
    call put_aps
    PUTS64 ` back\n`
    call unlock_console
    inc ebx
    cmp ebx, WAKES
    jbe .round

    call lock_console
    PUTS64 `SEV-ES SMP: done: BSP + `
    mov eax, [n_aps]
    call put_aps
    PUTS64 `, each AP woken `
    DEC64 WAKES
    PUTS64 ` times through the AP jump table\n`
%ifdef PLANT_SECRETS
    PLANT_BSP_SECRETS
%endif
    xor eax, eax
    jmp exit64                          ; value 0: status 1

put_aps:                                ; print "<RAX> AP" or "<RAX> APs"
    call dec64
    PUTS64 ` AP`
    cmp rax, 1
    je .one
    PUTS64 `s`
.one:
    ret

; init_sipi_sipi: INIT, SIPI, SIPI to all APs (x2APIC ICR, shorthand all excluding self).
init_sipi_sipi:
    push rax
    push rcx
    push rdx
    xor edx, edx
    mov eax, ICR_INIT_ALL
    call icr_write
    call ipi_delay
    mov eax, ICR_SIPI_ALL
    call icr_write
    call ipi_delay
    call icr_write                      ; the second SIPI finds every AP running: discarded
    pop rdx
    pop rcx
    pop rax
    ret

icr_write:                              ; EDX:EAX -> ICR (WRMSR through #VC)
    push rcx
    mov ecx, MSR_X2APIC_ICR
    wrmsr
    pop rcx
    ret

ipi_delay:
    push rcx
    mov ecx, IPI_PAUSES
.d:
    pause
    loop .d
    pop rcx
    ret

settle:                                 ; see "Waking only parked APs" at the top
    push rcx
    mov ecx, SETTLE_PAUSES
.d:
    pause
    loop .d
    pop rcx
    ret

; check_round: every AP that ever checked in has entered the trampoline exactly EDX times, and
; there are n_aps of them. Walks the APIC IDs in order; fails with the first AP that disagrees.
check_round:
    push rax
    push rbx
    push rcx
    xor ecx, ecx                        ; APIC ID
    xor ebx, ebx                        ; APs seen
.id:
    cmp ecx, [bsp_id]
    je .next
    mov eax, [boots + rcx * 4]
    test eax, eax
    jz .next
    cmp eax, edx
    jne .bad
    inc ebx
.next:
    inc ecx
    cmp ecx, MAX_CPUS
    jb .id
    cmp ebx, [n_aps]
    jne .count
    pop rcx
    pop rbx
    pop rax
    ret
.bad:
    PUTS64 `FAIL: AP `
    HEX64 rcx, 2
    PUTS64 ` entered the trampoline `
    DEC64 rax
    PUTS64 ` times, expected `
    DEC64 rdx
    PUTS64 `\n`
    mov al, 1
    jmp exit64
.count:
    FAIL64 `the number of APs seen changed`

; ---- an AP in long mode: after the trampoline, on every entry ----------------------------------
ap64:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov r15d, edi                       ; R15 = per-CPU area = GHCB (registered by the trampoline)
    mov r14d, esi                       ; R14 = APIC ID
    lea rsp, [r15 + PERCPU_SIZE]
    lidt [idtr]                         ; the BSP's IDT: #VC is served on this AP's own GHCB
    mov eax, 1
    lock xadd [boots + r14 * 4], eax
    lea r13d, [eax + 1]                 ; R13 = this entry: 1 = first boot, k + 1 = wake k
    cmp r13d, 1
    jne .say
    mov rdi, r15                        ; first boot: the GHCB page starts clean
    mov ecx, 4096 / 8
    xor eax, eax
    rep stosq
.say:
    call lock_console
    PUTS64 `AP `
    HEX64 r14, 2
    cmp r13d, 1
    jne .wake
    PUTS64 ` online\n`
    jmp .said
.wake:
    PUTS64 ` wake `
    lea eax, [r13d - 1]
    DEC64 rax
    PUTS64 `\n`
.said:
    call unlock_console
    mov eax, 1
    lock xadd [parked], eax             ; from here on the BSP may wake this AP
%ifdef PLANT_SECRETS
    PLANT_AP_SECRETS
%endif

%ifdef HOLD_MSR
.hold:                                  ; AP Reset Hold, MSR protocol: 0x006 -> 0x007
    mov ecx, MSR_GHCB
    mov eax, GHCB_MSR_AP_HOLD_REQ
    xor edx, edx
    wrmsr
    VMGEXIT
    rdmsr
    mov ebx, eax
    and ebx, 0xFFF
    cmp ebx, GHCB_MSR_AP_HOLD_RESP
    jne ap_bad_hold
    shr eax, 12                         ; [63:12] = 0: a spurious wake, hold again
    or eax, edx
    jz .hold
    mov eax, r15d                       ; the MSR holds the response: give it the GHCB back
    xor edx, edx
    wrmsr
%else
.hold:                                  ; AP Reset Hold, GHCB event 0x80000004
    mov eax, SVM_VMGEXIT_AP_HLT_LOOP
    xor ebx, ebx
    xor ecx, ecx
    call ghcb_event
    test ebx, ebx
    jnz ap_bad_hold
    test rcx, rcx                       ; sw_exit_info_2 = 0: a spurious wake, hold again
    jz .hold
%endif

    ; Released by INIT-SIPI-SIPI. Back to real mode and in through the jump table, like a freshly
    ; started AP: 64-bit -> compatibility mode -> 32-bit protected -> 16-bit protected -> real.
    push SEL_CODE32
    mov eax, ap_compat
    push rax
    retfq

ap_bad_hold:                            ; EDX:EAX or RBX/RCX: what the hypervisor answered
    mov r12, rax
    mov r13, rbx
    mov ecx, MSR_GHCB                   ; make sure #VC has a GHCB to print with
    mov eax, r15d
    xor edx, edx
    wrmsr
    PUTS64 `FAIL: AP `
    HEX64 r14, 2
%ifdef HOLD_MSR
    PUTS64 `: AP Reset Hold (MSR protocol) answered `
    HEX64 r12, 8
%else
    PUTS64 `: AP Reset Hold (GHCB event) answered sw_exit_info_1 `
    HEX64 r13, 16
%endif
    PUTS64 `\n`
    mov al, 1
    jmp exit64

%include "sev-es-vc.inc"
%include "io64.inc"

bits 32
ap_compat:                              ; compatibility mode, identity-mapped code
    mov eax, cr0
    and eax, ~CR0_PG
    mov cr0, eax                        ; paging off: long mode off (EFER.LMA = 0)
    mov ecx, MSR_EFER
    rdmsr
    and eax, ~EFER_LME
    wrmsr
    mov eax, cr4
    and eax, ~CR4_PAE
    mov cr4, eax
    jmp SEL_CODE16:ap_pm16

bits 16
ap_pm16:                                ; 16-bit protected mode: real-mode-like segment limits
    mov ax, SEL_DATA16
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    o32 lidt [rm_idtr]
    mov eax, cr0
    and al, ~CR0_PE
    mov cr0, eax                        ; real mode
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    jmp far [JUMP_TABLE]                ; -> the trampoline (0000:8000), as on first boot

; ---- data (in the body: copied to RAM, private) -------------------------------------------------
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF               ; 08: 32-bit code, flat
    dq 0x00CF92000000FFFF               ; 10: data, flat
    dq 0x00AF9A000000FFFF               ; 18: 64-bit code
    dq 0x00009A000000FFFF               ; 20: 16-bit code, base 0, limit FFFF
    dq 0x000092000000FFFF               ; 28: 16-bit data, base 0, limit FFFF
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
align 8
idtr:
    dw IDT_GATES * 16 - 1
    dq IDT_ADDR
rm_idtr:
    dw 0x3FF
    dd 0

align 4
console_lock:   dd 0
parked:         dd 0                    ; parks counted by all APs (LOCK XADD), never reset
n_aps:          dd 0
bsp_id:         dd 0
sev_status:     dd 0
cbit:           dd 0
cbit_hi:        dd 0
sev_info:       dq 0                    ; the GHCB MSR at reset
vendor:         times 13 db 0
align 4
boots:          times MAX_CPUS dd 0     ; entries through the trampoline, by APIC ID

    times BODY_SIZE - ($ - $$) db 0     ; (fails to assemble if the body outgrows BODY_SIZE)

; =================================================================================================
; The ROM's last 4 KiB: real-mode code at CS base FFFF0000 (IP = image offset), the GUIDed table
; and the reset vector. Nothing here is copied.
; =================================================================================================
section rom start=AP_RESET_OFFSET vstart=AP_RESET_OFFSET

bits 16
; The SEV-ES reset block's address: each AP's first instruction (F000:F000 = FFFFF000).
ap_reset:
    cli
    cld
    xor ax, ax
    mov ds, ax
    cmp dword [JUMP_TABLE], 0
    je .no_table
    jmp far [JUMP_TABLE]                ; -> the trampoline the BSP copied below 1 MiB
.no_table:
    MSR_TERMINATE 0, 0

; The BSP's first steps: protected mode on the ROM's GDT, copy the body to RAM, run it there.
bsp_reset:
    cli
    cld
    o32 lgdt [cs:gdtr_rom]
    mov eax, cr0
    or al, CR0_PE
    mov cr0, eax
    jmp dword SEL_CODE32:ROM_BASE + copy32

bits 32
copy32:                                 ; runs at FFFF0000 + copy32 (no absolute references)
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esi, ROM_BASE                   ; image offset 0: the body
    mov edi, BODY_RAM
    mov ecx, BODY_SIZE / 4
    rep movsd
    jmp SEL_CODE32:bsp32

gdtr_rom:                               ; the body's GDT where it lies in the ROM
    dw gdt_end - gdt - 1
    dd ROM_BASE + (gdt - BODY_RAM)

; ---- the OVMF-style GUIDed table, ending 32 bytes before the end of the image ------------------
; Walked backwards from the footer: [u16 table length][footer GUID] at FFD0; each entry before it
; is [data][u16 length = data + 18][GUID].
GUID_TABLE_LEN  equ 4 + 2 + 16 + 2 + 16

    times (0xFFE0 - GUID_TABLE_LEN) - ($ - $$ + AP_RESET_OFFSET) db 0
guid_table:
    dd ROM_BASE + ap_reset              ; SEV-ES reset block: the APs' first-boot address
    dw 4 + 2 + 16
    db 0xDE, 0x71, 0xF7, 0x00, 0x7E, 0x1A, 0xCB, 0x4F   ; 00f771de-1a7e-4fcb-890e-68c77e2fb44e
    db 0x89, 0x0E, 0x68, 0xC7, 0x7E, 0x2F, 0xB4, 0x4E
    dw GUID_TABLE_LEN                   ; the whole table
    db 0xDE, 0x82, 0xB5, 0x96, 0xB2, 0x1F, 0xF7, 0x45   ; 96b582de-1fb2-45f7-baea-a366c55a082d
    db 0xBA, 0xEA, 0xA3, 0x66, 0xC5, 0x5A, 0x08, 0x2D
    times 16 db 0                       ; FFE0-FFEF

bits 16
reset_vector:                           ; FFFFFFF0: the BSP's first instruction
    jmp near bsp_reset
    times 0x10000 - ($ - $$ + AP_RESET_OFFSET) db 0
