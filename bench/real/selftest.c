/*
 * selftest.c - what a program may expect of the C library's allocation
 * functions, run under the shim by selftest.sh: alignment (16 for blocks of
 * 16 bytes and more), zeroed calloc, realloc keeping contents, the aligned
 * allocators, malloc_usable_size, overflow and zero-size cases. Prints "ok"
 * or the first failure. With the argument "double-free" it frees one block
 * twice, which the shim must stop; with "threads", four threads allocate
 * and free at once, which the shim's lock must keep apart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(c)                                              \
  do {                                                         \
    if (!(c)) {                                                \
      printf("failed at line %d: %s\n", __LINE__, #c);         \
      return 1;                                                \
    }                                                          \
  } while (0)

static volatile size_t huge = SIZE_MAX / 2; /* too large times 4; volatile: no compile-time warning */

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* Allocates, fills, checks and frees blocks of many sizes; returns the
 * number of blocks whose contents changed under it. */
static void *churn(void *arg) {
  uintptr_t seed = (uintptr_t)arg, bad = 0;
  unsigned char *live[64] = {0};
  for (int i = 0; i < 200000; i++) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    unsigned slot = (unsigned)(seed >> 58), size = 1 + (unsigned)(seed >> 40) % 600;
    if (live[slot]) {
      if (live[slot][0] != (unsigned char)slot || live[slot][1] != (unsigned char)(uintptr_t)arg) bad++;
      free(live[slot]);
    }
    live[slot] = malloc(size < 2 ? 2 : size);
    live[slot][0] = (unsigned char)slot;
    live[slot][1] = (unsigned char)(uintptr_t)arg;
  }
  for (int k = 0; k < 64; k++) free(live[k]);
  return (void *)bad;
}

static int threads(void) {
  pthread_t t[4];
  for (uintptr_t k = 0; k < 4; k++) EXPECT(pthread_create(&t[k], NULL, churn, (void *)(k + 1)) == 0);
  uintptr_t bad = 0;
  for (int k = 0; k < 4; k++) {
    void *r;
    EXPECT(pthread_join(t[k], &r) == 0);
    bad += (uintptr_t)r;
  }
  EXPECT(bad == 0);
  puts("ok");
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "threads") == 0) return threads();
  if (argc > 1 && strcmp(argv[1], "double-free") == 0) {
    char *volatile p = malloc(40); /* volatile: the pair is not optimised away */
    free(p);
    free(p);
    puts("double free not stopped");
    return 0;
  }
  void *keep[2000];
  for (size_t i = 0; i < 2000; i++) {
    size_t size = 1 + i * 7 % 3000;
    keep[i] = malloc(size);
    EXPECT(keep[i] != NULL);
    EXPECT(aligned_to(keep[i], size >= 16 ? 16 : 8));
    EXPECT(malloc_usable_size(keep[i]) >= size);
    memset(keep[i], (int)i, size);
  }
  for (size_t i = 0; i < 2000; i += 2) free(keep[i]);
  for (size_t i = 1; i < 2000; i += 2) {
    size_t size = 1 + i * 7 % 3000;
    EXPECT(((unsigned char *)keep[i])[size - 1] == (unsigned char)i);
    char *q = realloc(keep[i], size * 3 + 24);
    EXPECT(q != NULL && aligned_to(q, 16));
    for (size_t k = 0; k < size; k++) EXPECT((unsigned char)q[k] == (unsigned char)i);
    free(q);
  }

  unsigned char *z = malloc(5000);
  memset(z, 0xAB, 5000);
  free(z);
  z = calloc(1000, 5);
  EXPECT(z != NULL);
  for (size_t k = 0; k < 5000; k++) EXPECT(z[k] == 0);
  free(z);
  errno = 0;
  EXPECT(calloc(huge, 4) == NULL && errno == ENOMEM);

  void *a = NULL;
  EXPECT(posix_memalign(&a, 256, 100) == 0 && aligned_to(a, 256));
  free(a);
  EXPECT(posix_memalign(&a, 3, 100) == EINVAL);
  a = aligned_alloc(64, 128);
  EXPECT(a != NULL && aligned_to(a, 64));
  free(a);
  a = memalign(4096, 10);
  EXPECT(a != NULL && aligned_to(a, 4096));
  free(a);
  a = valloc(1);
  EXPECT(a != NULL && aligned_to(a, 4096));
  free(a);
  a = pvalloc(1);
  EXPECT(a != NULL && aligned_to(a, 4096) && malloc_usable_size(a) >= 4096);
  free(a);

  char *s = strdup("a string the C library allocates");
  EXPECT(s != NULL && strcmp(s, "a string the C library allocates") == 0);
  free(s);
  a = malloc(0);
  free(a);
  EXPECT(realloc(malloc(10), 0) == NULL);
  free(NULL);
  a = reallocarray(NULL, 10, 10);
  EXPECT(a != NULL);
  errno = 0;
  EXPECT(reallocarray(a, huge, 4) == NULL && errno == ENOMEM);
  free(a);
  puts("ok");
  return 0;
}
