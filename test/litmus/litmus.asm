; litmus.asm - 64-bit code run by raw processors on several threads over one shared RAM
; (test/litmus/vcpu-worker.mjs). Assemble: nasm -f bin -o litmus.bin litmus.asm (committed).
; The harness enters at the offset in the dword table below (entry n at byte 4n) with
;   RDI = the shared data page, ESI = thread id, ECX = iterations, R8D = threads, R13 = results.
; Every routine ends in HLT.
bits 64
org 0x100000

GO      equ 0x1000          ; iteration the leader released (its own cache line)
DONE    equ 0x1040          ; finished thread-iterations
X       equ 0x1080
Y       equ 0x10c0
SCRATCH equ 0x1100          ; per thread, 64 bytes apart: a LOCK OR target that nobody else writes
ACK     equ 0x1200          ; the others' acknowledgements of GO

entries:
  dd lock_inc - $$, plain_inc - $$, lock_xadd - $$, cmpxchg_loop - $$
  dd split_line - $$, split_page - $$, cmpxchg8b_loop - $$, lock_add64 - $$
  dd mp_writer - $$, mp_reader - $$, sb0 - $$, sb1 - $$
  dd sbf0 - $$, sbf1 - $$, sbl0 - $$, sbl1 - $$
  dd lb0 - $$, lb1 - $$, iriw_w0 - $$, iriw_w1 - $$
  dd iriw_r0 - $$, iriw_r1 - $$, sbx0 - $$, sbx1 - $$

; ---------------------------------------------------------------- counters: [rdi] += ECX

lock_inc:
  lock inc dword [rdi]
  dec ecx
  jnz lock_inc
  hlt

plain_inc:                  ; not atomic: another thread's increment can be lost
  inc dword [rdi]
  dec ecx
  jnz plain_inc
  hlt

lock_xadd:
  mov eax, 1
  lock xadd [rdi], eax
  dec ecx
  jnz lock_xadd
  hlt

cmpxchg_loop:
  mov eax, [rdi]
.retry:
  lea edx, [rax + 1]
  lock cmpxchg [rdi], edx   ; on failure EAX = the value seen
  jnz .retry
  dec ecx
  jnz cmpxchg_loop
  hlt

split_line:                 ; a dword across a 64-byte line (and an 8-byte boundary): the bus lock
  lock inc dword [rdi + 62]
  dec ecx
  jnz split_line
  hlt

split_page:                 ; a dword across two pages
  mov eax, 1
  lock xadd [rdi + 0xffe], eax
  dec ecx
  jnz split_page
  hlt

cmpxchg8b_loop:             ; a 64-bit counter at [rdi + 8] through CMPXCHG8B
  mov r9d, ecx
.next:
  mov eax, [rdi + 8]
  mov edx, [rdi + 12]
.retry:
  mov ebx, eax
  mov ecx, edx
  add ebx, 1
  adc ecx, 0
  lock cmpxchg8b [rdi + 8]
  jnz .retry
  dec r9d
  jnz .next
  hlt

lock_add64:                 ; 2^32 per add to [rdi + 16]: the carry crosses the halves
  mov rax, 0x100000000
.next:
  lock add [rdi + 16], rax
  dec ecx
  jnz .next
  hlt

; ---------------------------------------------------------------- litmus tests
; Each iteration: the leader (thread 0) waits until every thread finished the last one, clears X
; and Y, and releases the iteration through GO; the others spin on GO. Then the body runs, leaving
; what it observed in EAX and EDX, which go to results[i] (8 bytes). A thread counts itself done
; with a locked increment.

%macro LITMUS 1
  xor r10d, r10d
%%iter:
  test esi, esi
  jnz %%wait
  mov eax, r10d
  imul eax, r8d
%%drain:
  cmp [rdi + DONE], eax
  je %%reset
  pause
  jmp %%drain
%%reset:
  mov dword [rdi + X], 0
  mov dword [rdi + Y], 0
  lea eax, [r10 + 1]
  mov [rdi + GO], eax
  lea r9d, [r8 - 1]         ; wait until the others saw it: (i + 1) * (threads - 1) acknowledgements
  imul eax, r9d
%%acks:
  cmp [rdi + ACK], eax
  je %%go
  pause
  jmp %%acks
%%wait:
  lea eax, [r10 + 1]
%%spin:
  cmp [rdi + GO], eax
  je %%ack
  pause
  jmp %%spin
%%ack:
  lock inc dword [rdi + ACK]
%%go:
  ; The leader starts about one cache-line transfer after the others: every thread waits a
  ; little, ((i * 37 + tid * 91) mod 64) * 4 loop turns, so that over the iterations the
  ; bodies meet at many offsets.
  imul r9d, r10d, 37
  imul r11d, esi, 91
  add r9d, r11d
  and r9d, 63
  shl r9d, 2
  inc r9d
%%delay:
  dec r9d
  jnz %%delay
%%body:
  xor eax, eax
  xor edx, edx
  mov r11d, 1               ; stores from a register: tier 2 compiles MOV m32, r32 inline
  %1
  mov [r13 + r10 * 8], eax
  mov [r13 + r10 * 8 + 4], edx
  lock inc dword [rdi + DONE]
  inc r10d
  cmp r10d, ecx
  jb %%iter
  hlt
%endmacro

; The bodies, one macro each (NASM takes one instruction a line).
%macro MP_W 0
  mov [rdi + X], r11d
  mov [rdi + Y], r11d
%endmacro
%macro MP_R 0
  mov eax, [rdi + Y]
  mov edx, [rdi + X]
%endmacro
%macro SB 2                 ; store one, load the other
  mov [rdi + %1], r11d
  mov eax, [rdi + %2]
%endmacro
%macro SBF 2                ; with MFENCE between
  mov [rdi + %1], r11d
  mfence
  mov eax, [rdi + %2]
%endmacro
%macro SBL 2                ; with a locked instruction (to a line of its own) between
  mov [rdi + %1], r11d
  mov r11d, esi
  shl r11d, 6
  lock or dword [rdi + r11 + SCRATCH], 0
  mov eax, [rdi + %2]
%endmacro
%macro SBX 2                ; the store is an XCHG (implicitly locked)
  mov edx, 1
  xchg [rdi + %1], edx
  xor edx, edx
  mov eax, [rdi + %2]
%endmacro
%macro SB0 0
  SB X, Y
%endmacro
%macro SB1 0
  SB Y, X
%endmacro
%macro SBF0 0
  SBF X, Y
%endmacro
%macro SBF1 0
  SBF Y, X
%endmacro
%macro SBL0 0
  SBL X, Y
%endmacro
%macro SBL1 0
  SBL Y, X
%endmacro
%macro SBX0 0
  SBX X, Y
%endmacro
%macro SBX1 0
  SBX Y, X
%endmacro
%macro LB0 0
  mov eax, [rdi + X]
  mov [rdi + Y], r11d
%endmacro
%macro LB1 0
  mov eax, [rdi + Y]
  mov [rdi + X], r11d
%endmacro
%macro IW0 0
  mov [rdi + X], r11d
%endmacro
%macro IW1 0
  mov [rdi + Y], r11d
%endmacro
%macro IR0 0
  mov eax, [rdi + X]
  mov edx, [rdi + Y]
%endmacro
%macro IR1 0
  mov eax, [rdi + Y]
  mov edx, [rdi + X]
%endmacro

; MP: writer X=1; Y=1. Reader r1=Y; r2=X. TSO forbids r1=1, r2=0.
mp_writer:
  LITMUS MP_W
mp_reader:
  LITMUS MP_R
; SB: X=1; r=Y || Y=1; r=X. TSO allows both r = 0 (store buffers); a fence or a locked op forbids it.
sb0:
  LITMUS SB0
sb1:
  LITMUS SB1
sbf0:
  LITMUS SBF0
sbf1:
  LITMUS SBF1
sbl0:
  LITMUS SBL0
sbl1:
  LITMUS SBL1
sbx0:
  LITMUS SBX0
sbx1:
  LITMUS SBX1
; LB: r=X; Y=1 || r=Y; X=1. TSO forbids both r = 1 (a load is not reordered with a later store).
lb0:
  LITMUS LB0
lb1:
  LITMUS LB1
; IRIW: X=1 || Y=1 || r1=X; r2=Y || r3=Y; r4=X. TSO (one order of stores) forbids 1,0 and 1,0.
iriw_w0:
  LITMUS IW0
iriw_w1:
  LITMUS IW1
iriw_r0:
  LITMUS IR0
iriw_r1:
  LITMUS IR1
