/*
 * be_glibc.c - the process malloc (glibc in the base binary). It has no
 * reset, so "discard everything" frees each live object, which is what a
 * program on plain malloc has to do at the end of a frame.
 */
#include "bench.h"

#include <malloc.h>
#include <stdlib.h>

static int glibc_token; /* a non-NULL context; glibc has no instance state */

static void *gl_open(size_t region_bytes) {
  (void)region_bytes;
  return &glibc_token;
}

static void gl_close(void *ctx) {
  (void)ctx;
  malloc_trim(0); /* hand freed memory back, so later RSS deltas start clean */
}

static void *gl_malloc(void *ctx, size_t size) {
  (void)ctx;
  return malloc(size);
}

static void gl_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

static void *gl_realloc(void *ctx, void *p, size_t size) {
  (void)ctx;
  return realloc(p, size);
}

static void gl_reset(void *ctx, void **live, size_t n) {
  (void)ctx;
  for (size_t i = 0; i < n; i++) free(live[i]);
}

static void gl_usage(void *ctx, bench_usage_t *out) {
  (void)ctx;
  struct mallinfo2 mi = mallinfo2();
  out->region_used = (double)(mi.arena + mi.hblkhd); /* sbrk heap + mmapped chunks */
  out->active = (double)(mi.uordblks + mi.hblkhd);   /* chunks in use, with headers */
}

const bench_backend_t be_glibc = {
    .name = "glibc",
    .caps = BK_FREE | BK_REALLOC | BK_CHURN,
    .open = gl_open,
    .close = gl_close,
    .malloc = gl_malloc,
    .free = gl_free,
    .realloc = gl_realloc,
    .reset = gl_reset,
    .usage = gl_usage,
    .errors = NULL,
};
