/*
 * stress_model.c - seeded random operation sequences against a reference
 * model, with ph_heap_check after every step.
 *
 * The model holds every live allocation's offset, requested size and fill
 * byte. Each step does one random operation (malloc, calloc, aligned,
 * realloc, free, frame scratch, an interior or stale pointer, rarely a
 * reset) and compares
 * the heap's answer with the model (a wrong pointer must fail and, checked
 * every thousand steps, leave every byte of the region as it was); contents are verified on free and realloc
 * and all of them periodically, which catches overlapping allocations.
 * Environment (for long campaigns: scripts/fuzz.sh): PH_STRESS_OPS sets the
 * steps in all (default 4,000,000, spread over the cases), PH_STRESS_SEED
 * the first seed (default 1), PH_STRESS_CHECK_EVERY the steps between full
 * checks (default: every step on the small heap, every 97th on the large).
 * The last line before the summary counts the operations run.
 */
#include "privheap.h"
#include "harness.h"
#include <stdbool.h>
#include <stdint.h>

#define MiB ((size_t)1 << 20)
#define MAX_LIVE 4096
#define STALE 256
#define MAX_SCRATCH 2048

typedef struct { uint64_t off; size_t size; unsigned char fill; } live_t;

/* Game-like sizes: 70% 1..128 B, 25% to 4 KiB, 5% to 64 KiB. */
static size_t pick_size(uint64_t *s) {
  uint64_t r = test_random(s), pct = r % 100;
  if (pct < 70) return (size_t)((r >> 8) % 128) + 1;
  if (pct < 95) return (size_t)((r >> 8) % 4096) + 1;
  return (size_t)((r >> 8) % 65536) + 1;
}

static int contents_ok(ph_heap_t *h, const live_t *a) {
  const unsigned char *b = (const unsigned char *)h + a->off;
  for (size_t i = 0; i < a->size; i++)
    if (b[i] != a->fill) return 0;
  return 1;
}

static long ops_per_seed(long seeds) {
  const char *env = getenv("PH_STRESS_OPS");
  long total = env ? atol(env) : 4000000;
  return total / seeds > 0 ? total / seeds : 1;
}

static uint64_t first_seed(void) {
  const char *env = getenv("PH_STRESS_SEED");
  return env ? strtoull(env, NULL, 10) : 1;
}

static int check_every(int fallback) {
  const char *env = getenv("PH_STRESS_CHECK_EVERY");
  return env && atoi(env) > 0 ? atoi(env) : fallback;
}

static long long ops_done; /* operations run, over all cases */

/* Walk visitor: counts allocations and sums their sizes. */
static int count_live(void *arg, uint64_t off, uint64_t size) {
  (void)off;
  uint64_t *acc = arg;
  acc[0]++;
  acc[1] += size;
  return 0;
}

static int run_seed(uint64_t seed, size_t size, unsigned flags, long steps, int check_every) {
  test_seed = seed;
  void *base = ph_region_map_anon(size);
  if (!base) return 0;
  ph_heap_t *h = ph_heap_init(base, size, flags | PH_REGION_ZEROED);
  if (!h) return 0;
  static live_t live[MAX_LIVE];
  static uint64_t stale[STALE]; /* offsets freed earlier */
  static live_t scratch[MAX_SCRATCH]; /* frame scratch since the last reset */
  int nscratch = 0, nbig = 0; /* scratch requests since the reset, of which big */
  unsigned char *shadow = malloc(size);
  if (!shadow) return 0;
  int n = 0, nstale = 0, ok = 1;
  uint64_t s = seed;
  for (long step = 0; step < steps && ok; step++) {
    ops_done++;
    uint64_t r = test_random(&s);
    unsigned op = (unsigned)(r % 100);
    if (op < 45 && n < MAX_LIVE) { /* malloc / calloc / aligned */
      size_t sz = pick_size(&s);
      uint64_t used_before = ph_heap_used_bytes(h);
      void *p;
      if (op < 35) p = ph_heap_malloc(h, sz);
      else if (op < 40) p = ph_heap_calloc(h, 1, sz);
      else p = ph_heap_aligned_alloc(h, (size_t)1 << ((r >> 16) % 17), sz);
      if (!p) {
        if (ph_last_error() != PH_ENOMEM) ok = 0;
      } else {
        uint64_t off = (uint64_t)((char *)p - (char *)h);
        if (op >= 35 && op < 40) {
          for (size_t i = 0; i < sz; i++)
            if (((unsigned char *)p)[i]) { ok = 0; break; }
        }
        /* PH_ZERO_REENTRY: what lies above the used prefix before the call reads as zero, used before or not */
        if (flags & PH_ZERO_REENTRY)
          for (uint64_t b = off > used_before ? off : used_before; b < off + sz; b++)
            if (((unsigned char *)h)[b]) { ok = 0; break; }
        if (op >= 40 && off % ((uint64_t)1 << ((r >> 16) % 17))) ok = 0;
        if (ph_heap_usable_size(h, p) < sz) ok = 0;
        live[n] = (live_t){off, sz, (unsigned char)(r >> 40)};
        memset(p, live[n].fill, sz);
        n++;
      }
    } else if (op < 85 && n > 0) { /* free */
      int i = (int)((r >> 8) % (uint64_t)n);
      if (!contents_ok(h, &live[i])) ok = 0;
      if (ph_heap_free(h, (char *)h + live[i].off) != 0) ok = 0;
      stale[nstale < STALE ? nstale++ : (int)((r >> 30) % STALE)] = live[i].off;
      live[i] = live[--n];
    } else if (op < 95 && n > 0) { /* realloc */
      int i = (int)((r >> 8) % (uint64_t)n);
      size_t sz = pick_size(&s);
      char *p = ph_heap_realloc(h, (char *)h + live[i].off, sz);
      if (!p) {
        if (ph_last_error() != PH_ENOMEM || !contents_ok(h, &live[i])) ok = 0;
      } else {
        live[i].off = (uint64_t)(p - (char *)h);
        size_t keep = sz < live[i].size ? sz : live[i].size;
        live[i].size = keep;
        if (!contents_ok(h, &live[i])) ok = 0;
        memset(p, live[i].fill, sz);
        live[i].size = sz;
      }
    } else if (op < 99) { /* a wrong pointer: an interior byte, or a stale one */
      bool compare = (step / 100) % 10 == 0; /* now and then, prove no byte moved */
      size_t used = ph_heap_used_bytes(h);
      if (compare) memcpy(shadow, h, used);
      if (n > 0 && (r >> 50) % 2 == 0) {
        int i = (int)((r >> 8) % (uint64_t)n);
        if (ph_heap_free(h, (char *)h + live[i].off + 1 + (r >> 40) % 7) != PH_EBADPTR) ok = 0;
      } else if (nstale > 0) {
        uint64_t off = stale[(r >> 8) % nstale];
        bool reused = false; /* something starts there again */
        for (int i = 0; i < n && !reused; i++) reused = live[i].off == off;
        /* or a big scratch request, an allocation the model does not hold */
        if (!reused && nbig > 0) reused = ph_heap_usable_size(h, (char *)h + off) != 0;
        int rc = reused ? PH_EBADPTR : ph_heap_free(h, (char *)h + off);
        if (rc != PH_EBADPTR && rc != PH_EDOUBLEFREE) ok = 0;
      }
      if (compare && (ph_heap_used_bytes(h) != used || memcmp(shadow, h, used) != 0)) ok = 0;
    } else if ((r >> 8) % 50 == 0) { /* reset, rarely */
      if (ph_heap_reset(h) != 0) ok = 0;
      for (int i = 0; i < n && nstale < STALE; i++) stale[nstale++] = live[i].off;
      n = 0;
      nscratch = nbig = 0;
    } else if (nscratch < MAX_SCRATCH) { /* frame scratch, until the next reset */
      size_t sz = (r >> 20) % 8 == 0 ? pick_size(&s) : (size_t)((r >> 24) % 200);
      unsigned char *p = ph_scratch_alloc(h, sz);
      if (!p) {
        if (ph_last_error() != PH_ENOMEM) ok = 0;
      } else {
        if (ph_heap_usable_size(h, p) != 0) nbig++; /* a big request: an allocation of its own */
        scratch[nscratch] = (live_t){(uint64_t)(p - (unsigned char *)h), sz, (unsigned char)(r >> 44)};
        memset(p, scratch[nscratch].fill, sz);
        nscratch++;
      }
    }
    if (ok && check_every && step % check_every == 0) {
      int broken = ph_heap_check(h, size);
      if (broken != 0) {
        printf("#   step %ld: check found %d broken\n", step, broken);
        ok = 0;
      }
    }
    if (ok && step % 20000 == 0) {
      ph_stats_t st;
      /* scratch chunks are not allocations: stats and walk see the model's, and big scratch requests */
      uint64_t walked[2] = {0, 0}, want = (uint64_t)n + (uint64_t)nbig;
      if (ph_heap_stats(h, &st) != 0 || st.live_count != want || ph_heap_walk(h, count_live, walked) != 0 || walked[0] != want ||
          walked[1] != st.live_bytes)
        ok = 0;
      for (int i = 0; i < n && ok; i++) ok = contents_ok(h, &live[i]);
      for (int i = 0; i < nscratch && ok; i++) ok = contents_ok(h, &scratch[i]);
    }
    if (!ok) printf("#   seed %llu failed at step %ld (op %u)\n", (unsigned long long)seed, step, op);
  }
  if (ok && ph_heap_check(h, size) != 0) ok = 0;
  for (int i = 0; i < n && ok; i++) ok = contents_ok(h, &live[i]);
  ph_region_unmap(base, size);
  free(shadow);
  return ok;
}

TEST(random_ops_small_heap_check_every_step) {
  long steps = ops_per_seed(4);
  uint64_t seed = first_seed();
  for (uint64_t k = 0; k < 2; k++) EXPECT(run_seed(seed + k, 4 * MiB, 0, steps, check_every(1)));
  EXPECT(run_seed(seed + 2, 4 * MiB, PH_ZERO_ON_FREE, steps, check_every(1)));
  EXPECT(run_seed(seed + 3, 4 * MiB, PH_ZERO_REENTRY, steps, check_every(1)));
}

TEST(random_ops_large_heap_across_chunks) {
  long steps = ops_per_seed(4);
  EXPECT(run_seed(first_seed() + 1000, 128 * MiB, 0, steps, check_every(97)));
}

TEST(operation_count) {
  printf("# %lld operations (seed %llu)\n", ops_done, (unsigned long long)first_seed());
}

TEST_MAIN()
