/*
 * libc.c - the C library functions the core calls, for the WebAssembly
 * build only (a freestanding module has no C library). Copies and fills are
 * instructions (include/string.h); these are the rest, plus the out-of-line
 * copies a compiler may still call.
 */
#include "prim.h"

#include <stdlib.h>

#undef memcpy
#undef memmove
#undef memset

void *memcpy(void *restrict dst, const void *restrict src, size_t n) { return __builtin_memcpy(dst, src, n); }
void *memmove(void *dst, const void *src, size_t n) { return __builtin_memmove(dst, src, n); }
void *memset(void *dst, int c, size_t n) { return __builtin_memset(dst, c, n); }

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

void *memchr(const void *s, int c, size_t n) {
  const unsigned char *p = s;
  for (size_t i = 0; i < n; i++)
    if (p[i] == (unsigned char)c) return (void *)(p + i);
  return NULL;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

int strncmp(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x != y) return x < y ? -1 : 1;
    if (x == 0) return 0;
  }
  return 0;
}

/* Blocks are spans of prim.h's memory, each after a header that keeps its
 * length (16 bytes, so the block is as aligned as malloc's). */
#define BLOCK_HEADER 16u

void *calloc(size_t count, size_t size) {
  if (size != 0 && count > (SIZE_MAX - BLOCK_HEADER) / size) return NULL;
  size_t len = count * size + BLOCK_HEADER;
  unsigned char *p = ph__prim_map_anon(len, PH_PAGE_SIZE); /* zeroed */
  if (!p) return NULL;
  *(size_t *)p = len;
  return p + BLOCK_HEADER;
}

void free(void *p) {
  if (!p) return;
  unsigned char *block = (unsigned char *)p - BLOCK_HEADER;
  (void)ph__prim_unmap(block, *(size_t *)block);
}
