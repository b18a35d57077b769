/*
 * Native differential oracle: runs single x86-64 instructions on the host CPU.
 *
 * The code page is mapped at CODE_ADDR and a 64 KiB data region at DATA_ADDR, both with
 * MAP_FIXED_NOREPLACE, so memory operands have the same addresses here as in the emulator.
 *
 * Protocol (text, one line per case, all numbers lower-case hex without 0x):
 *   stdin : C <code> <rflags> <gpr0> ... <gpr15> <mem-addr|-> <mem-bytes|-> [<fx>]
 *           gpr order: RAX RCX RDX RBX RSP RBP RSI RDI R8..R15. rflags may only hold
 *           CF PF AF ZF SF OF DF and bit 1 (TF/AC would trap here, IF cannot be changed).
 *           fx: the first 160 bytes of an FXSAVE image (FCW FSW FTW ... MXCSR, ST0-7/MM0-7),
 *           or more (up to 416: XMM0-15 follow), loaded with FXRSTOR64 before the instruction
 *           (bytes not given are zero; without fx: the FNINIT state).
 *   stdout: R <fault|-> <rflags> <gpr0> ... <gpr15> <mem-bytes|-> [<fx>]
 *           fx (when given on input): as many bytes from FXSAVE64 after the instruction,
 *           or from the signal frame's FXSAVE image when it faulted.
 *           fault is the exception vector in hex (0 #DE, 6 #UD, d #GP, e #PF ...) taken
 *           from the kernel's trap number; registers then come from the signal context,
 *           i.e. the state at the faulting instruction (a fault does not retire it).
 *   or    : E <message>   for a malformed case or a harness inconsistency; the run goes on.
 * Before each case the whole data region is zeroed and the case bytes copied in; after it,
 * bytes outside the case window must still be zero (otherwise E: the form is wrong).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define CODE_ADDR 0x100000UL
#define DATA_ADDR 0x200000UL
#define DATA_SIZE 0x10000UL
#define MAX_CODE 15
#define MAX_MEM 4096
#define IN_FLAGS 0xCD7UL /* CF bit1 PF AF ZF SF DF OF */

/* Globals are reached RIP-relative from the asm below: no register is free there. */
#define HIDDEN __attribute__((visibility("hidden")))
HIDDEN uint64_t g_in[17];  /* 16 GPRs then RFLAGS */
HIDDEN uint64_t g_out[17];
HIDDEN uint64_t g_host_rsp;
HIDDEN uint64_t g_entry = CODE_ADDR;
#define FX_MIN 160
#define FX_MAX 416
static int g_fx_len;
HIDDEN uint8_t g_fx_in[512] __attribute__((aligned(16)));
HIDDEN uint8_t g_fx_out[512] __attribute__((aligned(16)));
void run_guest(void);
void guest_return(void);

/* Load every GPR and RFLAGS, jump to the code page; the page jumps back to guest_return. */
__asm__(
    ".text\n"
    ".globl run_guest\n.type run_guest,@function\n"
    "run_guest:\n"
    "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "  mov %rsp, g_host_rsp(%rip)\n"
    "  fxrstor64 g_fx_in(%rip)\n"
    "  pushq g_in+128(%rip)\n  popfq\n" /* flags first: the movs below leave them alone */
    "  mov g_in+0(%rip), %rax\n  mov g_in+8(%rip), %rcx\n  mov g_in+16(%rip), %rdx\n"
    "  mov g_in+24(%rip), %rbx\n  mov g_in+40(%rip), %rbp\n  mov g_in+48(%rip), %rsi\n"
    "  mov g_in+56(%rip), %rdi\n  mov g_in+64(%rip), %r8\n  mov g_in+72(%rip), %r9\n"
    "  mov g_in+80(%rip), %r10\n  mov g_in+88(%rip), %r11\n  mov g_in+96(%rip), %r12\n"
    "  mov g_in+104(%rip), %r13\n  mov g_in+112(%rip), %r14\n  mov g_in+120(%rip), %r15\n"
    "  mov g_in+32(%rip), %rsp\n"
    "  jmp *g_entry(%rip)\n"
    ".globl guest_return\n"
    "guest_return:\n"
    "  mov %rax, g_out+0(%rip)\n  mov %rcx, g_out+8(%rip)\n  mov %rdx, g_out+16(%rip)\n"
    "  mov %rbx, g_out+24(%rip)\n  mov %rsp, g_out+32(%rip)\n  mov %rbp, g_out+40(%rip)\n"
    "  mov %rsi, g_out+48(%rip)\n  mov %rdi, g_out+56(%rip)\n  mov %r8, g_out+64(%rip)\n"
    "  mov %r9, g_out+72(%rip)\n  mov %r10, g_out+80(%rip)\n  mov %r11, g_out+88(%rip)\n"
    "  mov %r12, g_out+96(%rip)\n  mov %r13, g_out+104(%rip)\n  mov %r14, g_out+112(%rip)\n"
    "  mov %r15, g_out+120(%rip)\n"
    "  fxsave64 g_fx_out(%rip)\n"
    "  mov g_host_rsp(%rip), %rsp\n"
    "  pushfq\n  popq g_out+128(%rip)\n"
    "  cld\n" /* the C ABI needs DF clear */
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
    "  ret\n");

static sigjmp_buf g_jb;
static volatile int g_trapno;
static volatile uint64_t g_fault_rip;

/* ucontext GPR order differs from the x86 encoding order. */
static const int k_greg[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                               REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

static void on_fault(int sig, siginfo_t *si, void *ctx) {
  (void)sig;
  (void)si;
  ucontext_t *uc = ctx;
  g_trapno = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
  g_fault_rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  for (int i = 0; i < 16; i++) g_out[i] = (uint64_t)uc->uc_mcontext.gregs[k_greg[i]];
  g_out[16] = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
  memcpy(g_fx_out, uc->uc_mcontext.fpregs, FX_MAX);
  siglongjmp(g_jb, 1);
}

static void setup(void) {
  void *code = mmap((void *)CODE_ADDR, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  void *data = mmap((void *)DATA_ADDR, DATA_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (void *)CODE_ADDR || data != (void *)DATA_ADDR) {
    fprintf(stderr, "oracle: cannot map code/data at fixed addresses\n");
    exit(2);
  }
  /* Faults arrive while RSP belongs to the guest, so handlers need their own stack. */
  static uint8_t alt[65536];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes a hex byte string; returns the byte count or -1. */
static int parse_bytes(const char *s, uint8_t *out, int max) {
  size_t n = strlen(s);
  if (n % 2 || (int)(n / 2) > max) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(s[i]), lo = hexval(s[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  return (int)(n / 2);
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (!*s || strlen(s) > 16) return -1;
  *out = strtoull(s, &end, 16);
  return *end ? -1 : 0;
}

static void put_hex(const uint8_t *b, int n) {
  if (n == 0) { fputs(" -", stdout); return; }
  static const char d[] = "0123456789abcdef";
  putchar(' ');
  for (int i = 0; i < n; i++) { putchar(d[b[i] >> 4]); putchar(d[b[i] & 15]); }
}

/* Runs one parsed line; returns NULL or an error message. */
static const char *run_line(char *line) {
  char *tok[22];
  int nt = 0;
  for (char *t = strtok(line, " \t\r\n"); t && nt < 22; t = strtok(NULL, " \t\r\n")) tok[nt++] = t;
  if ((nt != 21 && nt != 22) || strcmp(tok[0], "C") != 0) return "expected 21 or 22 fields starting with C";
  int use_fx = nt == 22;
  memset(g_fx_in, 0, sizeof g_fx_in);
  if (use_fx) {
    g_fx_len = parse_bytes(tok[21], g_fx_in, FX_MAX);
    if (g_fx_len < FX_MIN || g_fx_len % 16) return "bad fx image (160 to 416 bytes, whole 16-byte rows)";
    uint32_t mxcsr;
    memcpy(&mxcsr, g_fx_in + 24, 4);
    if (mxcsr & ~0xffffu) return "bad MXCSR in the fx image";
  } else {
    g_fx_in[0] = 0x7f; /* FCW 037Fh, all tags empty, MXCSR 1F80h: the FNINIT state */
    g_fx_in[1] = 0x03;
    g_fx_in[24] = 0x80;
    g_fx_in[25] = 0x1f;
  }

  uint8_t code[MAX_CODE];
  int ncode = parse_bytes(tok[1], code, MAX_CODE);
  if (ncode <= 0) return "bad code bytes";
  uint64_t v;
  if (parse_u64(tok[2], &v) || (v & ~IN_FLAGS)) return "bad rflags (only CF PF AF ZF SF DF OF allowed)";
  g_in[16] = v | 2;
  for (int i = 0; i < 16; i++)
    if (parse_u64(tok[3 + i], &g_in[i])) return "bad gpr value";

  static uint8_t mem[MAX_MEM];
  uint64_t maddr = 0;
  int nmem = 0;
  if (strcmp(tok[19], "-") != 0) {
    if (parse_u64(tok[19], &maddr)) return "bad mem address";
    nmem = parse_bytes(tok[20], mem, MAX_MEM);
    if (nmem <= 0) return "bad mem bytes";
    if (maddr < DATA_ADDR || maddr + (uint64_t)nmem > DATA_ADDR + DATA_SIZE) return "mem outside data region";
  }

  memset((void *)DATA_ADDR, 0, DATA_SIZE);
  if (nmem) memcpy((void *)maddr, mem, (size_t)nmem);
  /* Instruction, then `jmp [rip+0]` through an absolute pointer back to the harness. */
  uint8_t *page = (uint8_t *)CODE_ADDR;
  memset(page, 0xCC, 64);
  memcpy(page, code, (size_t)ncode);
  static const uint8_t jmp_back[6] = {0xFF, 0x25, 0, 0, 0, 0};
  memcpy(page + ncode, jmp_back, 6);
  uint64_t ret = (uint64_t)(uintptr_t)&guest_return;
  memcpy(page + ncode + 6, &ret, 8);

  int fault = -1;
  if (sigsetjmp(g_jb, 1) == 0) {
    run_guest();
  } else {
    fault = g_trapno;
    if (g_fault_rip != CODE_ADDR) return "fault outside the instruction (harness or form bug)";
  }

  if (nmem) memcpy(mem, (void *)maddr, (size_t)nmem);
  memset((void *)maddr, 0, (size_t)nmem);
  static const uint8_t zero[DATA_SIZE];
  if (memcmp((void *)DATA_ADDR, zero, DATA_SIZE) != 0) return "instruction wrote outside the case window";

  putchar('R');
  if (fault < 0) fputs(" -", stdout); else printf(" %x", fault);
  printf(" %llx", (unsigned long long)g_out[16]);
  for (int i = 0; i < 16; i++) printf(" %llx", (unsigned long long)g_out[i]);
  put_hex(mem, nmem);
  if (use_fx) put_hex(g_fx_out, g_fx_len);
  putchar('\n');
  static const uint32_t k_mxcsr = 0x1f80;
  __asm__ volatile("fninit\n ldmxcsr %0" : : "m"(k_mxcsr)); /* no pending exception left for the harness */
  return NULL;
}

int main(void) {
  setup();
  static char line[2 * MAX_MEM + 1024];
  while (fgets(line, sizeof line, stdin)) {
    const char *err = run_line(line);
    if (err) printf("E %s\n", err);
  }
  fflush(stdout);
  return 0;
}
