/*
 * be_mimalloc.c - mimalloc (Debian libmimalloc-dev) first-class heaps:
 * mi_heap_new / mi_heap_malloc / mi_heap_realloc / mi_free, and
 * mi_heap_destroy + mi_heap_new for "discard everything".
 *
 * mimalloc takes its memory from the OS, not from a caller's region, so its
 * footprint is measured as an RSS delta plus the committed bytes of the
 * heap's pages (mi_heap_visit_blocks).
 */
#include "bench.h"

#include <mimalloc.h>
#include <stdbool.h>

typedef struct mi_ctx {
  mi_heap_t *heap;
} mi_ctx_t;

static void *mim_open(size_t region_bytes) {
  (void)region_bytes;
  mi_ctx_t *c = xmap(sizeof *c, 4096);
  c->heap = mi_heap_new();
  return c;
}

static void mim_close(void *ctx) {
  mi_ctx_t *c = ctx;
  mi_heap_destroy(c->heap);
  mi_collect(true); /* give the pages back, so later RSS deltas start clean */
  xunmap(c, sizeof *c);
}

static void *mim_malloc(void *ctx, size_t size) {
  return mi_heap_malloc(((mi_ctx_t *)ctx)->heap, size);
}

static void mim_free(void *ctx, void *p) {
  (void)ctx;
  mi_free(p);
}

static void *mim_realloc(void *ctx, void *p, size_t size) {
  return mi_heap_realloc(((mi_ctx_t *)ctx)->heap, p, size);
}

static void mim_reset(void *ctx, void **live, size_t n) {
  (void)live;
  (void)n;
  mi_ctx_t *c = ctx;
  mi_heap_destroy(c->heap);
  c->heap = mi_heap_new();
}

static bool add_area(const mi_heap_t *heap, const mi_heap_area_t *area, void *block,
                     size_t block_size, void *arg) {
  (void)heap, (void)block, (void)block_size;
  if (area) *(double *)arg += (double)area->committed;
  return true;
}

static void mim_usage(void *ctx, bench_usage_t *out) {
  mi_ctx_t *c = ctx;
  double committed = 0;
  mi_heap_visit_blocks(c->heap, false, add_area, &committed);
  out->region_used = -1;
  out->active = committed;
}

const bench_backend_t be_mimalloc = {
    .name = "mimalloc",
    .caps = BK_RESET | BK_FREE | BK_REALLOC | BK_CHURN,
    .open = mim_open,
    .close = mim_close,
    .malloc = mim_malloc,
    .free = mim_free,
    .realloc = mim_realloc,
    .reset = mim_reset,
    .usage = mim_usage,
    .errors = NULL,
};
