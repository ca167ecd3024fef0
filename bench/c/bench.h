/*
 * bench.h - the allocator benchmark's shared declarations.
 *
 * One driver (driver.c) runs the same workloads against every backend
 * through one small vtable (bench_backend_t). Each backend lives in its own
 * file (be_*.c). The driver prints raw samples, one per line; report.c reads
 * the samples of every binary of one run and prints medians, ratios and the
 * targets. Why there is more than one binary is explained in groups.c.
 *
 * Contents
 *   1. Backend vtable
 *   2. Utilities (util.c): PRNG, clock, RSS, big mappings, sample output
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* 1. Backend vtable                                                        */
/* ------------------------------------------------------------------------ */

/* Capabilities: what a workload may ask of a backend. */
#define BK_RESET 1u   /* reset() discards everything without a walk over live[] */
#define BK_FREE 2u    /* free() really frees (bump's is a no-op) */
#define BK_REALLOC 4u /* realloc() is worth timing */
#define BK_CHURN 8u   /* can sustain churn (bump cannot: it never reuses) */

/* What a backend can say about its memory use after the footprint fill.
 * A field it cannot measure is negative. */
typedef struct bench_usage {
  double region_used; /* bytes taken from the backend's region/OS: high-water */
  double active;      /* bytes in pages that hold live objects, with metadata */
} bench_usage_t;

typedef struct bench_backend {
  const char *name;
  unsigned caps;
  /* Create an instance able to hold `region_bytes` of allocations (region
   * backends map that much, MAP_NORESERVE). NULL on failure, after writing
   * a one-line reason to stderr. */
  void *(*open)(size_t region_bytes);
  void (*close)(void *ctx);
  void *(*malloc)(void *ctx, size_t size);
  void (*free)(void *ctx, void *p);
  void *(*realloc)(void *ctx, void *p, size_t size);
  /* Discard every allocation. live[0..n) lists them all; a backend without
   * BK_RESET frees each one (glibc), the others ignore the list. */
  void (*reset)(void *ctx, void **live, size_t n);
  /* Optional (may be NULL). */
  void (*usage)(void *ctx, bench_usage_t *out);
  /* Optional: errors the allocator reported (privheap's return codes). */
  uint64_t (*errors)(void *ctx);
} bench_backend_t;

/* The backends compiled into this binary (groups.c), NULL-terminated. */
extern const bench_backend_t *const bench_group[];
extern const char bench_group_name[];
/* Emit "I key value" lines about this group's libraries (versions). */
void bench_group_info(void);

/* The backends (defined only in the binaries that link their library). */
extern const bench_backend_t be_privheap, be_privheap_scratch, be_glibc, be_bump;
extern const bench_backend_t be_jemalloc_notc, be_jemalloc_tc;
extern const bench_backend_t be_mimalloc;

/* ------------------------------------------------------------------------ */
/* 2. Utilities (util.c)                                                    */
/* ------------------------------------------------------------------------ */

/* splitmix64: tiny, fast, and the same sequence on every backend. */
typedef struct rng {
  uint64_t s;
} rng_t;

static inline uint64_t rng_next(rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, n) by multiply-high (bias below 2^-32 for our n). */
static inline uint64_t rng_below(rng_t *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + rng_below(r, hi - lo + 1);
}

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* Resident set size of this process in bytes (/proc/self/statm). */
size_t rss_bytes(void);

/* Anonymous zeroed mapping, MAP_NORESERVE, aligned to `align` (a power of
 * two, at least the page size). Exits on failure: the driver's own arrays
 * and the region backends use it, never malloc, so the driver's memory
 * does not depend on which malloc the binary links. */
void *xmap(size_t size, size_t align);
void xunmap(void *p, size_t size);

/* Raw output lines, parsed by report.c:
 *   I <key> <text...>                        information for the header
 *   S <metric> <backend> <value>             one sample (median is taken)
 *   E <backend> <text...>                    an error to repeat in the report */
void emit_info(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emit_sample(const char *metric, const char *backend, double value);
void emit_error(const char *backend, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* BENCH_H */
