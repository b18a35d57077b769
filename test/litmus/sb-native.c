// Store buffering on this machine's processor, the outside truth for the emulated litmus test
// (tso.test.ts builds and runs this with gcc when it is there): two threads, X=1; r0=Y and
// Y=1; r1=X, many iterations, each released by a spin barrier with an offset that varies per
// iteration. Prints "iterations both0 both0_with_mfence". x86-TSO allows r0 = r1 = 0 without a
// fence (each store waits in its processor's store buffer), and forbids it with MFENCE.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define LINE 64
static volatile int go __attribute__((aligned(LINE)));
static volatile int done __attribute__((aligned(LINE)));
static volatile int x __attribute__((aligned(LINE)));
static volatile int y __attribute__((aligned(LINE)));
static int *res[2];
static int iterations;
static int fenced;

static void *thread(void *arg) {
  int tid = (int)(long)arg;
  volatile int *mine = tid ? &y : &x, *other = tid ? &x : &y;
  for (int i = 0; i < iterations; i++) {
    if (tid == 0) {
      while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != 2 * i) __builtin_ia32_pause();
      x = 0;
      y = 0;
      __atomic_store_n(&go, i + 1, __ATOMIC_RELEASE);
    } else {
      while (__atomic_load_n(&go, __ATOMIC_ACQUIRE) != i + 1) __builtin_ia32_pause();
    }
    for (volatile int d = ((i * 37 + tid * 91) & 255) * 4; d > 0; d--) {
    }
    int r;
    // The store and the load in this order in the machine code (asm, so the compiler keeps them).
    if (fenced)
      __asm__ volatile("movl $1, %1\n\tmfence\n\tmovl %2, %0" : "=r"(r), "=m"(*mine) : "m"(*other) : "memory");
    else
      __asm__ volatile("movl $1, %1\n\tmovl %2, %0" : "=r"(r), "=m"(*mine) : "m"(*other) : "memory");
    res[tid][i] = r;
    __atomic_fetch_add(&done, 1, __ATOMIC_ACQ_REL);
  }
  return NULL;
}

static int run(int withFence) {
  pthread_t t[2];
  fenced = withFence;
  go = 0;
  done = 0;
  for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread, (void *)i);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  int both0 = 0;
  for (int i = 0; i < iterations; i++) both0 += res[0][i] == 0 && res[1][i] == 0;
  return both0;
}

int main(int argc, char **argv) {
  iterations = argc > 1 ? atoi(argv[1]) : 100000;
  res[0] = calloc(iterations, sizeof(int));
  res[1] = calloc(iterations, sizeof(int));
  int plain = run(0);
  int fence = run(1);
  printf("%d %d %d\n", iterations, plain, fence);
  return 0;
}
