/*
 * be_bump.c - a bump allocator over one region: the floor for frame
 * scratch. malloc rounds up to 16 bytes and moves a cursor; free is a
 * no-op; reset moves the cursor back. It cannot churn (it never reuses
 * memory), so the driver runs it only where that is the point.
 */
#include "bench.h"

#include <string.h>

typedef struct bump {
  char *base;
  char *cur;
  char *end;
  size_t size;
} bump_t;

static void *bump_open(size_t region_bytes) {
  bump_t *b = xmap(sizeof *b, 4096);
  b->size = region_bytes + (1u << 21);
  b->base = xmap(b->size, 1u << 21);
  b->cur = b->base;
  b->end = b->base + b->size;
  return b;
}

static void bump_close(void *ctx) {
  bump_t *b = ctx;
  xunmap(b->base, b->size);
  xunmap(b, sizeof *b);
}

static void *bump_malloc(void *ctx, size_t size) {
  bump_t *b = ctx;
  size_t n = (size + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  if ((size_t)(b->end - b->cur) < n) return NULL;
  void *p = b->cur;
  b->cur += n;
  return p;
}

static void bump_free(void *ctx, void *p) {
  (void)ctx;
  (void)p;
}

/* Not timed (no BK_REALLOC); only here so the vtable is complete. The old
 * size is unknown, so it copies what can be copied without reading past
 * the cursor. */
static void *bump_realloc(void *ctx, void *p, size_t size) {
  void *q = bump_malloc(ctx, size);
  if (q && p) {
    size_t avail = (size_t)((char *)q - (char *)p);
    memcpy(q, p, avail < size ? avail : size);
  }
  return q;
}

static void bump_reset(void *ctx, void **live, size_t n) {
  (void)live;
  (void)n;
  bump_t *b = ctx;
  b->cur = b->base;
}

static void bump_usage(void *ctx, bench_usage_t *out) {
  bump_t *b = ctx;
  out->region_used = (double)(b->cur - b->base);
  out->active = out->region_used;
}

const bench_backend_t be_bump = {
    .name = "bump",
    .caps = BK_RESET,
    .open = bump_open,
    .close = bump_close,
    .malloc = bump_malloc,
    .free = bump_free,
    .realloc = bump_realloc,
    .reset = bump_reset,
    .usage = bump_usage,
    .errors = NULL,
};
