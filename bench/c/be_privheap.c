/*
 * be_privheap.c - privheap through its handle API: one region from
 * ph_region_map_anon, ph_heap_init, ph_heap_malloc / free / realloc, and
 * ph_heap_reset for "discard everything". A second backend,
 * privheap-scratch, allocates with ph_scratch_alloc (frame scratch: a bump
 * over chunks of the same heap, nothing freed until the reset), the way
 * per-frame temporaries are meant to be allocated.
 *
 * ph_heap_free returns an error code; the backend counts non-zero returns
 * (a correct run has none) and the driver reports them.
 */
#include "bench.h"
#include "privheap.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct ph_ctx {
  ph_heap_t *heap;
  void *base;
  size_t size;
  uint64_t errors;
} ph_ctx_t;

static void *ph_open(size_t region_bytes) {
  /* Room for the header and page map on top of the payload. */
  size_t size = region_bytes + ph_heap_overhead(region_bytes) + (1u << 21);
  size = (size + ((1u << 21) - 1)) & ~(size_t)((1u << 21) - 1);
  void *base = ph_region_map_anon(size);
  if (!base) {
    fprintf(stderr, "privheap: ph_region_map_anon(%zu): %s\n", size,
            ph_strerror(ph_last_error()));
    return NULL;
  }
  ph_heap_t *h = ph_heap_init(base, size, 0);
  if (!h) {
    fprintf(stderr, "privheap: ph_heap_init(%zu): %s\n", size, ph_strerror(ph_last_error()));
    ph_region_unmap(base, size);
    return NULL;
  }
  /* The context is tiny and lives outside the heap: it only caches the
   * handle, as a JS object would. */
  ph_ctx_t *c = xmap(sizeof *c, 4096);
  c->heap = h;
  c->base = base;
  c->size = size;
  c->errors = 0;
  return c;
}

static void ph_close(void *ctx) {
  ph_ctx_t *c = ctx;
  ph_region_unmap(c->base, c->size);
  xunmap(c, sizeof *c);
}

static void *ph_malloc_(void *ctx, size_t size) {
  return ph_heap_malloc(((ph_ctx_t *)ctx)->heap, size);
}

static void ph_free_(void *ctx, void *p) {
  ph_ctx_t *c = ctx;
  if (ph_heap_free(c->heap, p) != 0) c->errors++;
}

static void *ph_realloc_(void *ctx, void *p, size_t size) {
  return ph_heap_realloc(((ph_ctx_t *)ctx)->heap, p, size);
}

static void ph_reset_(void *ctx, void **live, size_t n) {
  (void)live;
  (void)n;
  ph_ctx_t *c = ctx;
  if (ph_heap_reset(c->heap) != 0) c->errors++;
}

static void ph_usage(void *ctx, bench_usage_t *out) {
  ph_stats_t st;
  ph_ctx_t *c = ctx;
  out->region_used = (double)ph_heap_used_bytes(c->heap);
  out->active = -1;
  if (ph_heap_stats(c->heap, &st) == 0) out->active = (double)(st.used_bytes - st.free_bytes);
}

static uint64_t ph_errors(void *ctx) {
  return ((ph_ctx_t *)ctx)->errors;
}

static void *ph_scratch_(void *ctx, size_t size) {
  return ph_scratch_alloc(((ph_ctx_t *)ctx)->heap, size);
}

static void ph_scratch_free_(void *ctx, void *p) {
  (void)ctx;
  (void)p; /* scratch is freed by the reset only */
}

static void *ph_scratch_realloc_(void *ctx, void *p, size_t size) {
  (void)p; /* never timed (no BK_REALLOC): present so the vtable is complete */
  return ph_scratch_(ctx, size);
}

const bench_backend_t be_privheap_scratch = {
    .name = "privheap-scratch",
    .caps = BK_RESET,
    .open = ph_open,
    .close = ph_close,
    .malloc = ph_scratch_,
    .free = ph_scratch_free_,
    .realloc = ph_scratch_realloc_,
    .reset = ph_reset_,
    .usage = ph_usage,
    .errors = ph_errors,
};

const bench_backend_t be_privheap = {
    .name = "privheap",
    .caps = BK_RESET | BK_FREE | BK_REALLOC | BK_CHURN,
    .open = ph_open,
    .close = ph_close,
    .malloc = ph_malloc_,
    .free = ph_free_,
    .realloc = ph_realloc_,
    .reset = ph_reset_,
    .usage = ph_usage,
    .errors = ph_errors,
};
