/*
 * be_jemalloc.c - jemalloc 5.x (Debian libjemalloc-dev, unprefixed symbols:
 * mallocx, dallocx, rallocx, mallctl) as a region allocator.
 *
 * Each instance maps one region and creates its own arena with
 * "arenas.create", passing extent hooks that carve extents from that region
 * with a bump cursor, so all of the arena's pages (and its metadata, which
 * jemalloc also takes through the arena's hooks) come from one block of
 * memory, like privheap's. "Discard everything" is "arena.<i>.reset".
 *
 * Two backends share the code:
 *   jemalloc-notc  MALLOCX_ARENA(i) | MALLOCX_TCACHE_NONE: every call goes to
 *                  the arena (the like-for-like comparison: no per-thread
 *                  cache in front of the heap);
 *   jemalloc-tc    MALLOCX_ARENA(i) | MALLOCX_TCACHE(t) with a tcache from
 *                  "tcache.create"; reset must flush it first
 *                  ("tcache.flush"), and that flush is timed as part of reset.
 *
 * Hook policy: extents are never handed back (dalloc, decommit and both
 * purges opt out by returning true), so jemalloc keeps them retained and
 * committed, the way a preallocated region is; split and merge always
 * succeed, since every extent lies in one mapping.
 */
#include "bench.h"

#include <jemalloc/jemalloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct je_ctx {
  extent_hooks_t hooks; /* first: jemalloc passes &hooks back to each hook */
  char *base;
  char *cur;
  char *end;
  size_t size;
  unsigned arena;
  unsigned tcache;
  int use_tcache;
  int flags;      /* for mallocx / rallocx */
  int free_flags; /* for dallocx */
  size_t reset_mib[3];
  size_t reset_miblen;
} je_ctx_t;

static je_ctx_t *ctx_of(extent_hooks_t *h) {
  return (je_ctx_t *)h; /* hooks is the first member */
}

static void *hk_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment,
                      bool *zero, bool *commit, unsigned arena_ind) {
  (void)arena_ind;
  je_ctx_t *c = ctx_of(h);
  uintptr_t at = ((uintptr_t)c->cur + alignment - 1) & ~(uintptr_t)(alignment - 1);
  if (new_addr && (uintptr_t)new_addr != at) return NULL; /* only "extend at the cursor" */
  if (at + size > (uintptr_t)c->end) return NULL;
  c->cur = (char *)(at + size);
  *zero = true;   /* never handed out before: still the mapping's zero pages */
  *commit = true; /* the region is readable and writable throughout */
  return (void *)at;
}

static bool hk_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned ai) {
  (void)h, (void)addr, (void)size, (void)committed, (void)ai;
  return true; /* opt out: jemalloc retains the extent for reuse */
}

static void hk_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned ai) {
  (void)h, (void)addr, (void)size, (void)committed, (void)ai; /* the region goes at close */
}

static bool hk_commit(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
                      unsigned ai) {
  (void)h, (void)addr, (void)size, (void)off, (void)len, (void)ai;
  return false; /* always committed: success */
}

static bool hk_optout(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
                      unsigned ai) {
  (void)h, (void)addr, (void)size, (void)off, (void)len, (void)ai;
  return true; /* decommit / purge: not done */
}

static bool hk_split(extent_hooks_t *h, void *addr, size_t size, size_t a, size_t b,
                     bool committed, unsigned ai) {
  (void)h, (void)addr, (void)size, (void)a, (void)b, (void)committed, (void)ai;
  return false;
}

static bool hk_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool committed,
                     unsigned ai) {
  (void)h, (void)a, (void)sa, (void)b, (void)sb, (void)committed, (void)ai;
  return false;
}

static const extent_hooks_t region_hooks = {
    .alloc = hk_alloc,
    .dalloc = hk_dalloc,
    .destroy = hk_destroy,
    .commit = hk_commit,
    .decommit = hk_optout,
    .purge_lazy = hk_optout,
    .purge_forced = hk_optout,
    .split = hk_split,
    .merge = hk_merge,
};

static void *je_open(size_t region_bytes, int use_tcache) {
  je_ctx_t *c = xmap(sizeof *c, 4096);
  c->hooks = region_hooks;
  /* jemalloc grows its retained space geometrically and aligns extents,
   * so give it room beyond the payload; the mapping is MAP_NORESERVE and
   * untouched pages cost nothing. */
  c->size = 2 * region_bytes + (64u << 20);
  c->base = xmap(c->size, 1u << 21);
  c->cur = c->base;
  c->end = c->base + c->size;
  c->use_tcache = use_tcache;

  extent_hooks_t *hp = &c->hooks;
  size_t sz = sizeof c->arena;
  int err = mallctl("arenas.create", &c->arena, &sz, &hp, sizeof hp);
  if (err) {
    fprintf(stderr, "jemalloc: arenas.create: %s\n", strerror(err));
    goto fail;
  }
  c->flags = MALLOCX_ARENA(c->arena) | MALLOCX_TCACHE_NONE;
  c->free_flags = MALLOCX_TCACHE_NONE;
  if (use_tcache) {
    sz = sizeof c->tcache;
    err = mallctl("tcache.create", &c->tcache, &sz, NULL, 0);
    if (err) {
      fprintf(stderr, "jemalloc: tcache.create: %s\n", strerror(err));
      goto fail;
    }
    c->flags = MALLOCX_ARENA(c->arena) | MALLOCX_TCACHE(c->tcache);
    c->free_flags = MALLOCX_TCACHE(c->tcache);
  }
  char name[64];
  snprintf(name, sizeof name, "arena.%u.reset", c->arena);
  c->reset_miblen = 3;
  err = mallctlnametomib(name, c->reset_mib, &c->reset_miblen);
  if (err) {
    fprintf(stderr, "jemalloc: %s: %s\n", name, strerror(err));
    goto fail;
  }
  return c;
fail:
  xunmap(c->base, c->size);
  xunmap(c, sizeof *c);
  return NULL;
}

static void *je_open_notc(size_t region_bytes) {
  return je_open(region_bytes, 0);
}

static void *je_open_tc(size_t region_bytes) {
  return je_open(region_bytes, 1);
}

static void je_flush(je_ctx_t *c) {
  if (c->use_tcache) mallctl("tcache.flush", NULL, NULL, &c->tcache, sizeof c->tcache);
}

static void je_close(void *ctx) {
  je_ctx_t *c = ctx;
  char name[64];
  je_flush(c);
  if (c->use_tcache) mallctl("tcache.destroy", NULL, NULL, &c->tcache, sizeof c->tcache);
  snprintf(name, sizeof name, "arena.%u.destroy", c->arena);
  int err = mallctl(name, NULL, NULL, NULL, 0);
  if (err) fprintf(stderr, "jemalloc: %s: %s\n", name, strerror(err));
  xunmap(c->base, c->size);
  xunmap(c, sizeof *c);
}

static void *je_malloc(void *ctx, size_t size) {
  je_ctx_t *c = ctx;
  return mallocx(size ? size : 1, c->flags); /* mallocx(0) is undefined */
}

static void je_free(void *ctx, void *p) {
  je_ctx_t *c = ctx;
  if (p) dallocx(p, c->free_flags);
}

static void *je_realloc(void *ctx, void *p, size_t size) {
  je_ctx_t *c = ctx;
  if (!p) return je_malloc(ctx, size);
  return rallocx(p, size ? size : 1, c->flags);
}

static void je_reset(void *ctx, void **live, size_t n) {
  (void)live;
  (void)n;
  je_ctx_t *c = ctx;
  je_flush(c); /* reset requires that no tcache holds the arena's objects */
  mallctlbymib(c->reset_mib, c->reset_miblen, NULL, NULL, NULL, 0);
}

static void je_usage(void *ctx, bench_usage_t *out) {
  je_ctx_t *c = ctx;
  uint64_t epoch = 1;
  size_t sz = sizeof epoch, pactive = 0, page = 4096;
  char name[64];
  je_flush(c);
  mallctl("epoch", &epoch, &sz, &epoch, sz);
  out->region_used = (double)(c->cur - c->base); /* extents carved by the hooks */
  out->active = -1;
  sz = sizeof page;
  mallctl("arenas.page", &page, &sz, NULL, 0);
  snprintf(name, sizeof name, "stats.arenas.%u.pactive", c->arena);
  sz = sizeof pactive;
  if (mallctl(name, &pactive, &sz, NULL, 0) == 0) out->active = (double)(pactive * page);
}

const bench_backend_t be_jemalloc_notc = {
    .name = "jemalloc-notc",
    .caps = BK_RESET | BK_FREE | BK_REALLOC | BK_CHURN,
    .open = je_open_notc,
    .close = je_close,
    .malloc = je_malloc,
    .free = je_free,
    .realloc = je_realloc,
    .reset = je_reset,
    .usage = je_usage,
    .errors = NULL,
};

const bench_backend_t be_jemalloc_tc = {
    .name = "jemalloc-tc",
    .caps = BK_RESET | BK_FREE | BK_REALLOC | BK_CHURN,
    .open = je_open_tc,
    .close = je_close,
    .malloc = je_malloc,
    .free = je_free,
    .realloc = je_realloc,
    .reset = je_reset,
    .usage = je_usage,
    .errors = NULL,
};
