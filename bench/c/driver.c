/*
 * driver.c - the workloads, run the same way against every backend.
 *
 * Usage: bench-<group> [--quick] [--reps N] [--warmup N] [--seed S]
 *                      [--only w1,w2,...] [--backend NAME] [--list]
 *   workloads: footprint churn frame realloc reset (run in that order)
 *
 * Prints raw lines (see emit_* in bench.h), not a report: run.sh collects
 * the lines of every binary and report.c turns them into tables.
 *
 * Method
 * - Every input sequence (sizes, slots) is drawn once from a seeded
 *   splitmix64 before timing starts and stored in an array, so every backend
 *   sees the same sequence and the PRNG is not timed.
 * - Each workload opens one instance per backend, runs `warmup` untimed
 *   passes (which also check that no allocation overlaps another: each
 *   object's first 8 bytes hold a tag written at allocation and compared
 *   later), then `reps` timed passes, rotating which backend goes first.
 * - Every allocation is touched (an 8-byte tag at its start), so lazy
 *   allocators pay for their pages.
 * - Calls go through the vtable in another translation unit: one indirect
 *   call per operation for every backend.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static struct config {
  int quick;
  int reps;
  int warmup;
  uint64_t seed;
  const char *only;
  const char *backend; /* run only this backend (NULL: all of the group) */
  /* churn */
  size_t churn_live, churn_ops;
  /* frame */
  size_t frame_objs, frame_count;
  /* reset */
  size_t reset_small, reset_big;
  /* footprint */
  size_t foot_count, foot_size;
  /* realloc */
  size_t re_bufs, re_from, re_to;
} cfg;

static void config_defaults(void) {
  cfg.reps = 1;
  cfg.warmup = 1;
  cfg.seed = 0x5eedf00dull;
  cfg.churn_live = 100000;
  cfg.churn_ops = 5000000;
  cfg.frame_objs = 50000;
  cfg.frame_count = 200;
  cfg.reset_small = 64 * MiB;
  cfg.reset_big = 1 * GiB;
  cfg.foot_count = 1000000;
  cfg.foot_size = 48;
  cfg.re_bufs = 10000;
  cfg.re_from = 16;
  cfg.re_to = 64 * KiB;
}

static void config_quick(void) {
  cfg.churn_live = 20000;
  cfg.churn_ops = 200000;
  cfg.frame_objs = 50000;
  cfg.frame_count = 10;
  cfg.reset_small = 4 * MiB;
  cfg.reset_big = 64 * MiB;
  cfg.foot_count = 100000;
  cfg.re_bufs = 1000;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static inline void tag_write(void *p, uint64_t tag) {
  memcpy(p, &tag, sizeof tag);
}

static inline uint64_t tag_read(const void *p) {
  uint64_t t;
  memcpy(&t, p, sizeof t);
  return t;
}

#define TAG_SALT 0xa110ca7e00000000ull

/* A pointer array from xmap, with its byte size for xunmap. */
typedef struct ptrs {
  void **p;
  size_t n, bytes;
} ptrs_t;

static ptrs_t ptrs_new(size_t n) {
  ptrs_t a = {NULL, n, (n * sizeof(void *) + 4095) & ~(size_t)4095};
  if (a.bytes == 0) a.bytes = 4096;
  a.p = xmap(a.bytes, 4096);
  return a;
}

static void ptrs_free(ptrs_t *a) {
  xunmap(a->p, a->bytes);
  a->p = NULL;
}

/* The game-like size mix of the churn workload:
 * 70% 16..128 B, 25% 129 B..4 KiB, 5% 4 KiB+1..64 KiB. */
static uint32_t game_size(rng_t *r) {
  uint64_t band = rng_below(r, 100);
  if (band < 70) return (uint32_t)rng_range(r, 16, 128);
  if (band < 95) return (uint32_t)rng_range(r, 129, 4096);
  return (uint32_t)rng_range(r, 4097, 65536);
}

/* Per-(workload, backend) state while a workload runs. */
typedef struct slot {
  const bench_backend_t *b;
  void *ctx;
  int failed;
} slot_t;

static void report_failure(slot_t *s, const char *workload, const char *what, size_t at) {
  emit_error(s->b->name, "%s: %s at step %zu", workload, what, at);
  s->failed = 1;
}

static void report_mismatches(slot_t *s, const char *workload, size_t bad) {
  if (bad) {
    emit_error(s->b->name, "%s: %zu allocations lost their tag (overlap or corruption)", workload,
               bad);
    s->failed = 1;
  }
}

/* ------------------------------------------------------------------------ */
/* Workload table                                                           */
/* ------------------------------------------------------------------------ */

typedef struct workload {
  const char *name;
  unsigned need;          /* caps a backend must have to take part */
  size_t (*region)(void); /* bytes each instance must be able to hold */
  void (*setup)(void);    /* draw the sequence (untimed, once) */
  /* One pass. `timed`: emit samples; otherwise check tags. */
  void (*pass)(slot_t *s, int timed);
  void (*teardown)(void);
  int once; /* run one pass per backend, no warmup (deterministic results) */
} workload_t;

/* ---- a. churn ----------------------------------------------------------- */

typedef struct churn_op {
  uint32_t slot;
  uint32_t size;
} churn_op_t;

static struct {
  uint32_t *fill; /* sizes of the initial live set */
  churn_op_t *ops;
  size_t fill_bytes, ops_bytes;
  ptrs_t live;
} churn;

static size_t churn_region(void) {
  /* about 2.3 KiB mean size; leave room for fragmentation */
  return cfg.churn_live * 2400 * 4 + 64 * MiB;
}

static void churn_setup(void) {
  rng_t r = {cfg.seed ^ 0xc4u};
  churn.fill_bytes = (cfg.churn_live * sizeof(uint32_t) + 4095) & ~(size_t)4095;
  churn.ops_bytes = (cfg.churn_ops * sizeof(churn_op_t) + 4095) & ~(size_t)4095;
  churn.fill = xmap(churn.fill_bytes, 4096);
  churn.ops = xmap(churn.ops_bytes, 4096);
  for (size_t i = 0; i < cfg.churn_live; i++) churn.fill[i] = game_size(&r);
  for (size_t i = 0; i < cfg.churn_ops; i++) {
    churn.ops[i].slot = (uint32_t)rng_below(&r, cfg.churn_live);
    churn.ops[i].size = game_size(&r);
  }
  churn.live = ptrs_new(cfg.churn_live);
}

static void churn_teardown(void) {
  xunmap(churn.fill, churn.fill_bytes);
  xunmap(churn.ops, churn.ops_bytes);
  ptrs_free(&churn.live);
}

/* Fill `live` objects (untimed), then time `ops` replace-one-random
 * operations: free the slot's object, allocate a new one, touch it. The
 * tag of an object is its slot number, unique among live objects. */
static void churn_pass(slot_t *s, int timed) {
  const bench_backend_t *b = s->b;
  void *ctx = s->ctx;
  void **live = churn.live.p;
  size_t n = cfg.churn_live;
  for (size_t i = 0; i < n; i++) {
    void *p = b->malloc(ctx, churn.fill[i]);
    live[i] = p;
    if (!p) {
      report_failure(s, "churn", "fill: allocation failed", i);
      b->reset(ctx, live, i);
      return;
    }
    tag_write(p, TAG_SALT | i);
  }
  const churn_op_t *ops = churn.ops;
  size_t nops = cfg.churn_ops, k;
  uint64_t t0 = now_ns();
  for (k = 0; k < nops; k++) {
    uint32_t slot = ops[k].slot;
    b->free(ctx, live[slot]);
    void *p = b->malloc(ctx, ops[k].size);
    live[slot] = p;
    if (!p) break;
    tag_write(p, TAG_SALT | slot);
  }
  uint64_t t1 = now_ns();
  if (k < nops) {
    report_failure(s, "churn", "allocation failed", k);
  } else {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += tag_read(live[i]) != (TAG_SALT | i);
    report_mismatches(s, "churn", bad);
    if (timed && !s->failed) emit_sample("churn.ns_op", b->name, (double)(t1 - t0) / (double)nops);
  }
  b->reset(ctx, live, n);
}

/* ---- b. frame loop ------------------------------------------------------ */

static struct {
  uint16_t *sizes; /* frame_count * frame_objs sizes, 16..256 */
  size_t sizes_bytes;
  ptrs_t ptrs;
} frame;

static size_t frame_region(void) {
  return cfg.frame_objs * 256 * 2 + 16 * MiB;
}

static void frame_setup(void) {
  rng_t r = {cfg.seed ^ 0xf4u};
  size_t n = cfg.frame_objs * cfg.frame_count;
  frame.sizes_bytes = (n * sizeof(uint16_t) + 4095) & ~(size_t)4095;
  frame.sizes = xmap(frame.sizes_bytes, 4096);
  for (size_t i = 0; i < n; i++) frame.sizes[i] = (uint16_t)rng_range(&r, 16, 256);
  frame.ptrs = ptrs_new(cfg.frame_objs);
}

static void frame_teardown(void) {
  xunmap(frame.sizes, frame.sizes_bytes);
  ptrs_free(&frame.ptrs);
}

/* `use_reset`: end each frame with reset(); otherwise free each object
 * (a backend whose free is a no-op, bump, then resets, inside the timing:
 * one pointer store per frame). Time per allocation, the frame's end
 * included. */
static void frame_run(slot_t *s, int timed, int use_reset) {
  const bench_backend_t *b = s->b;
  void *ctx = s->ctx;
  void **ptrs = frame.ptrs.p;
  size_t objs = cfg.frame_objs, frames = cfg.frame_count;
  const uint16_t *sz = frame.sizes;
  const char *wname = use_reset ? "frame (reset)" : "frame (free each)";
  size_t bad = 0;
  uint64_t t0 = now_ns();
  for (size_t f = 0; f < frames; f++, sz += objs) {
    for (size_t i = 0; i < objs; i++) {
      void *p = b->malloc(ctx, sz[i]);
      if (!p) {
        report_failure(s, wname, "allocation failed", f * objs + i);
        b->reset(ctx, ptrs, i);
        return;
      }
      tag_write(p, TAG_SALT | i);
      ptrs[i] = p;
    }
    if (!timed)
      for (size_t i = 0; i < objs; i++) bad += tag_read(ptrs[i]) != (TAG_SALT | i);
    if (use_reset) {
      b->reset(ctx, ptrs, objs);
    } else {
      for (size_t i = 0; i < objs; i++) b->free(ctx, ptrs[i]);
      if (!(b->caps & BK_FREE)) b->reset(ctx, ptrs, 0);
    }
  }
  uint64_t t1 = now_ns();
  report_mismatches(s, wname, bad);
  if (timed && !s->failed)
    emit_sample(use_reset ? "frame_reset.ns_alloc" : "frame_free.ns_alloc", b->name,
                (double)(t1 - t0) / (double)(frames * objs));
}

static void frame_pass(slot_t *s, int timed) {
  /* The reset variant only for backends with a real reset; glibc's "reset"
   * would be the free-each loop again. */
  if (s->b->caps & BK_RESET) frame_run(s, timed, 1);
  if (!s->failed) frame_run(s, timed, 0);
}

/* ---- c. reset after a fill ---------------------------------------------- */

static struct {
  ptrs_t ptrs;
} rst;

/* The fill: groups of 64 x 64 B and 1 x 4 KiB, half the bytes each. */
#define RESET_GROUP 65u
#define RESET_GROUP_BYTES (64u * 64u + 4096u)

static size_t reset_count(size_t bytes) {
  return (bytes + RESET_GROUP_BYTES - 1) / RESET_GROUP_BYTES * RESET_GROUP;
}

static size_t reset_region(void) {
  return cfg.reset_big + cfg.reset_big / 4 + 64 * MiB;
}

static void reset_setup(void) {
  rst.ptrs = ptrs_new(reset_count(cfg.reset_big));
}

static void reset_teardown(void) {
  ptrs_free(&rst.ptrs);
}

static void reset_one(slot_t *s, int timed, size_t bytes, const char *metric) {
  const bench_backend_t *b = s->b;
  void *ctx = s->ctx;
  void **ptrs = rst.ptrs.p;
  size_t n = reset_count(bytes);
  for (size_t i = 0; i < n; i++) {
    void *p = b->malloc(ctx, i % RESET_GROUP == RESET_GROUP - 1 ? 4096 : 64);
    if (!p) {
      report_failure(s, "reset", "fill: allocation failed", i);
      b->reset(ctx, ptrs, i);
      return;
    }
    tag_write(p, TAG_SALT | i);
    ptrs[i] = p;
  }
  if (!timed) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += tag_read(ptrs[i]) != (TAG_SALT | i);
    report_mismatches(s, "reset", bad);
  }
  uint64_t t0 = now_ns();
  b->reset(ctx, ptrs, n);
  uint64_t t1 = now_ns();
  if (timed && !s->failed) emit_sample(metric, b->name, (double)(t1 - t0) / 1e3);
}

/* The small fill is cheap, so it runs three times per pass: the times are
 * around a microsecond for privheap, where more samples steady the median. */
static void reset_pass(slot_t *s, int timed) {
  for (int i = 0; i < 3 && !s->failed; i++) reset_one(s, timed, cfg.reset_small, "reset_small.us");
  if (!s->failed) reset_one(s, timed, cfg.reset_big, "reset_big.us");
}

/* ---- d. footprint ------------------------------------------------------- */

static struct {
  ptrs_t ptrs;
} foot;

static size_t foot_region(void) {
  return cfg.foot_count * cfg.foot_size * 2 + 16 * MiB;
}

static void foot_setup(void) {
  foot.ptrs = ptrs_new(cfg.foot_count);
  memset(foot.ptrs.p, 0, foot.ptrs.bytes); /* fault it in: not part of any RSS delta */
}

static void foot_teardown(void) {
  ptrs_free(&foot.ptrs);
}

/* Allocate foot_count objects of foot_size bytes and report what it cost:
 * the RSS delta (every backend), and what the backend says about its region
 * (usage()). Deterministic, so one pass per instance; run.sh runs it first
 * in a process of its own per backend (--backend), so that every backend
 * is the first user of its library and pays the same one-time costs. */
static void foot_pass(slot_t *s, int timed) {
  (void)timed;
  const bench_backend_t *b = s->b;
  void *ctx = s->ctx;
  void **ptrs = foot.ptrs.p;
  size_t n = cfg.foot_count;
  size_t rss0 = rss_bytes();
  for (size_t i = 0; i < n; i++) {
    void *p = b->malloc(ctx, cfg.foot_size);
    if (!p) {
      report_failure(s, "footprint", "allocation failed", i);
      b->reset(ctx, ptrs, i);
      return;
    }
    tag_write(p, TAG_SALT | i);
    ptrs[i] = p;
  }
  size_t rss1 = rss_bytes();
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += tag_read(ptrs[i]) != (TAG_SALT | i);
  report_mismatches(s, "footprint", bad);
  bench_usage_t u = {-1, -1};
  if (b->usage) b->usage(ctx, &u);
  emit_sample("foot.rss", b->name, (double)rss1 - (double)rss0);
  if (u.region_used >= 0) emit_sample("foot.region", b->name, u.region_used);
  if (u.active >= 0) emit_sample("foot.active", b->name, u.active);
  b->reset(ctx, ptrs, n);
}

/* ---- e. realloc growth -------------------------------------------------- */

static struct {
  ptrs_t ptrs;
  size_t steps; /* sizes in the series, the first (malloc) included */
} re;

static size_t re_next(size_t size) {
  size_t n = size + size / 2;
  return n > cfg.re_to ? cfg.re_to : n;
}

static size_t re_region(void) {
  return cfg.re_bufs * cfg.re_to * 3 + 64 * MiB;
}

static void re_setup(void) {
  re.ptrs = ptrs_new(cfg.re_bufs);
  re.steps = 1;
  for (size_t sz = cfg.re_from; sz < cfg.re_to; sz = re_next(sz)) re.steps++;
}

static void re_teardown(void) {
  ptrs_free(&re.ptrs);
}

/* All buffers grow together, one step per round (like many vectors filling
 * at once, so a neighbour usually blocks growth in place): malloc(16), then
 * realloc by x1.5 until 64 KiB. After each call the first 8 bytes (the
 * tag, moved by realloc) and the last byte are written. */
static void re_pass(slot_t *s, int timed) {
  const bench_backend_t *b = s->b;
  void *ctx = s->ctx;
  void **ptrs = re.ptrs.p;
  size_t n = cfg.re_bufs, bad = 0;
  uint64_t t0 = now_ns();
  for (size_t i = 0; i < n; i++) {
    void *p = b->malloc(ctx, cfg.re_from);
    if (!p) {
      report_failure(s, "realloc", "malloc failed", i);
      b->reset(ctx, ptrs, i);
      return;
    }
    tag_write(p, TAG_SALT | i);
    ((char *)p)[cfg.re_from - 1] = 1;
    ptrs[i] = p;
  }
  for (size_t sz = re_next(cfg.re_from), prev = cfg.re_from; prev < cfg.re_to;
       prev = sz, sz = re_next(sz)) {
    for (size_t i = 0; i < n; i++) {
      void *p = b->realloc(ctx, ptrs[i], sz);
      if (!p) {
        report_failure(s, "realloc", "realloc failed", i);
        b->reset(ctx, ptrs, n);
        return;
      }
      ptrs[i] = p;
      if (!timed) bad += tag_read(p) != (TAG_SALT | i);
      ((char *)p)[sz - 1] = 1;
    }
  }
  uint64_t t1 = now_ns();
  report_mismatches(s, "realloc", bad);
  if (timed && !s->failed)
    emit_sample("realloc.ns_op", b->name, (double)(t1 - t0) / (double)(n * re.steps));
  b->reset(ctx, ptrs, n);
}

static const workload_t workloads[] = {
    {"footprint", 0, foot_region, foot_setup, foot_pass, foot_teardown, 1},
    {"churn", BK_CHURN, churn_region, churn_setup, churn_pass, churn_teardown, 0},
    {"frame", 0, frame_region, frame_setup, frame_pass, frame_teardown, 0},
    {"realloc", BK_REALLOC, re_region, re_setup, re_pass, re_teardown, 0},
    {"reset", 0, reset_region, reset_setup, reset_pass, reset_teardown, 0},
};

/* ------------------------------------------------------------------------ */
/* Runner                                                                   */
/* ------------------------------------------------------------------------ */

static int selected(const char *name) {
  if (!cfg.only) return 1;
  size_t len = strlen(name);
  for (const char *p = cfg.only; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && memcmp(p, name, n) == 0) return 1;
    p += n + (end != NULL);
  }
  return 0;
}

/* Report what the allocator counted as errors, then close the instance. */
static void close_slot(const workload_t *w, slot_t *s) {
  uint64_t errs = s->b->errors ? s->b->errors(s->ctx) : 0;
  if (errs)
    emit_error(s->b->name, "%s: the allocator returned %llu errors", w->name,
               (unsigned long long)errs);
  s->b->close(s->ctx);
}

static void run_workload(const workload_t *w) {
  slot_t slots[16];
  int n = 0;
  uint64_t t0 = now_ns();
  w->setup();
  for (int i = 0; bench_group[i] && n < 16; i++) {
    const bench_backend_t *b = bench_group[i];
    if ((b->caps & w->need) != w->need) continue;
    if (cfg.backend && strcmp(cfg.backend, b->name)) continue;
    slot_t *s = &slots[n];
    *s = (slot_t){b, b->open(w->region()), 0};
    if (!s->ctx) {
      emit_error(b->name, "%s: open failed", w->name);
      continue;
    }
    if (w->once) { /* one pass on a fresh instance, closed before the next opens */
      w->pass(s, 1);
      close_slot(w, s);
      continue;
    }
    n++;
  }
  for (int k = 0; k < cfg.warmup; k++)
    for (int i = 0; i < n; i++)
      if (!slots[i].failed) w->pass(&slots[i], 0);
  for (int k = 0; k < cfg.reps; k++)
    for (int j = 0; j < n; j++) {
      slot_t *s = &slots[(j + k) % n]; /* rotate who goes first */
      if (!s->failed) w->pass(s, 1);
    }
  for (int i = 0; i < n; i++) close_slot(w, &slots[i]);
  w->teardown();
  fprintf(stderr, "bench-%s: %s done in %.1f s\n", bench_group_name, w->name,
          (double)(now_ns() - t0) / 1e9);
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench-%s [--quick] [--reps N] [--warmup N] [--seed S] [--only w1,w2]\n"
          "                [--backend NAME] [--list]\n"
          "  workloads: footprint churn frame realloc reset\n"
          "  --list prints the names of the backends in this binary\n",
          bench_group_name);
  exit(2);
}

int main(int argc, char **argv) {
  config_defaults();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--quick")) {
      cfg.quick = 1;
    } else if (!strcmp(a, "--reps") && i + 1 < argc) {
      cfg.reps = atoi(argv[++i]);
    } else if (!strcmp(a, "--warmup") && i + 1 < argc) {
      cfg.warmup = atoi(argv[++i]);
    } else if (!strcmp(a, "--seed") && i + 1 < argc) {
      cfg.seed = strtoull(argv[++i], NULL, 0);
    } else if (!strcmp(a, "--only") && i + 1 < argc) {
      cfg.only = argv[++i];
    } else if (!strcmp(a, "--backend") && i + 1 < argc) {
      cfg.backend = argv[++i];
    } else if (!strcmp(a, "--list")) {
      for (int k = 0; bench_group[k]; k++) printf("%s\n", bench_group[k]->name);
      return 0;
    } else {
      usage();
    }
  }
  if (cfg.quick) config_quick();
  if (cfg.reps < 1) cfg.reps = 1;
  if (cfg.warmup < 0) cfg.warmup = 0;

  emit_info("compiler", "gcc %s", __VERSION__);
#ifdef BENCH_CFLAGS
  emit_info("cflags", "%s", BENCH_CFLAGS);
#endif
  emit_info("mode", "%s", cfg.quick ? "quick" : "full");
  emit_info("seed", "0x%llx", (unsigned long long)cfg.seed);
  emit_info("churn", "%zu live, %zu replace ops", cfg.churn_live, cfg.churn_ops);
  emit_info("frame", "%zu frames x %zu allocs of 16..256 B", cfg.frame_count, cfg.frame_objs);
  emit_info("reset_small", "%zu", cfg.reset_small);
  emit_info("reset_big", "%zu", cfg.reset_big);
  emit_info("foot", "%zu %zu", cfg.foot_count, cfg.foot_size);
  emit_info("realloc", "%zu buffers, %zu..%zu B by x1.5", cfg.re_bufs, cfg.re_from, cfg.re_to);
  bench_group_info();
  for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
    if (selected(workloads[i].name)) run_workload(&workloads[i]);
  return 0;
}
