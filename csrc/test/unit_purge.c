/*
 * unit_purge.c - memory given back (purge.c): pages given back read as
 * zero and leave the process's memory, live data never changes, the decay
 * policy gives back the oldest dirty runs down to half its limit, pages
 * above the high-water mark lower the touched mark with their map entries
 * zeroed, the mode belongs to the region (attach turns it off, a restore
 * keeps the destination's), the same operations give the same bytes, and
 * a damaged dirty list is found by the check and never followed. Where the
 * tracker does not see pages given back (Windows), only pages above hwm
 * go back, and the cases expect exactly that.
 */
#define _DEFAULT_SOURCE 1
#include "internal.h"
#include "harness.h"
#include "fixture.h"
#include "prim.h"

#include <time.h>

#if !defined(_WIN32)
#include <sys/mman.h>
#endif

#define MiB ((size_t)1 << 20)
#define PAGE PH_PAGE_SIZE
/* PH_PURGE's floor on the dirty limit, in pages. */
#define LIMIT ((uint32_t)(PH_PURGE_MIN_DIRTY / PAGE))

static uint32_t page_of(const ph_heap_t *h, const void *p) { return (uint32_t)(((const char *)p - (const char *)h) / PAGE); }

/* Whether every byte of pages [from, to) reads as zero. */
static bool pages_zero(const ph_heap_t *h, uint32_t from, uint32_t to) {
  const unsigned char *b = (const unsigned char *)h;
  for (size_t i = (size_t)from * PAGE; i < (size_t)to * PAGE; i++)
    if (b[i]) return false;
  return true;
}

/* Whether every byte of pages [from, to) reads as `v`. */
static bool pages_hold(const ph_heap_t *h, uint32_t from, uint32_t to, unsigned char v) {
  const unsigned char *b = (const unsigned char *)h;
  for (size_t i = (size_t)from * PAGE; i < (size_t)to * PAGE; i++)
    if (b[i] != v) return false;
  return true;
}

/* Pages of [from, to) that hold memory (resident), or -1 where the system
 * cannot say. */
static long resident(const ph_heap_t *h, uint32_t from, uint32_t to) {
#if defined(__linux__)
  if (ph__prim_track_page_size() != PAGE) return -1; /* mincore counts system pages */
  size_t len = (size_t)(to - from) * PAGE;
  unsigned char *vec = malloc(len / PAGE + 1);
  if (!vec || mincore((char *)h + (size_t)from * PAGE, len, vec) != 0) {
    free(vec);
    return -1;
  }
  long n = 0;
  for (size_t i = 0; i < len / PAGE; i++) n += vec[i] & 1;
  free(vec);
  return n;
#else
  (void)h, (void)from, (void)to;
  return -1;
#endif
}

static uint64_t dirty_bytes(const ph_heap_t *h) {
  ph_stats_t s;
  return ph_heap_stats(h, &s) == 0 ? s.dirty_bytes : UINT64_MAX;
}

/* A large allocation of n pages filled with v. */
static void *filled(ph_heap_t *h, uint32_t n, unsigned char v) {
  void *p = ph_heap_malloc(h, (size_t)n * PAGE);
  if (p) memset(p, v, (size_t)n * PAGE);
  return p;
}

TEST(purge_now_gives_back_each_freed_run_at_once_and_live_data_stays) {
  void *base;
  ph_heap_t *h = fixture_heap(64 * MiB, PH_PURGE_NOW, &base);
  REQUIRE(h);
  unsigned char *a = filled(h, 64, 0xA1), *b = filled(h, 64, 0xB2), *c = filled(h, 64, 0xC3);
  REQUIRE(a && b && c);
  uint32_t pb = page_of(h, b);
  long r = resident(h, pb, pb + 64);
  EXPECT(r == 64 || r == -1);
  EXPECT_EQ(ph_heap_free(h, b), 0); /* inside the heap: a free run between two live ones */
  r = resident(h, pb, pb + 64); /* before any read: a read maps the zero page */
  if (ph__prim_purge_tracked) {
    EXPECT(r == 0 || r == -1);
    EXPECT(pages_zero(h, pb, pb + 64));
    EXPECT_EQ(dirty_bytes(h), 0);
    EXPECT_EQ(h->dirty_head, 0);
  } else {
    EXPECT(pages_hold(h, pb, pb + 64, 0xB2));
    EXPECT_EQ(dirty_bytes(h), 64 * PAGE);
  }
  EXPECT(pages_hold(h, page_of(h, a), page_of(h, a) + 64, 0xA1));
  EXPECT(pages_hold(h, page_of(h, c), page_of(h, c) + 64, 0xC3));
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  /* The top: the pages above hwm go back and touched falls with them. */
  uint32_t pc = page_of(h, c);
  EXPECT_EQ(ph_heap_free(h, c), 0);
  EXPECT(h->hwm <= pc);
  EXPECT_EQ(h->touched, h->hwm);
  EXPECT(pages_zero(h, h->hwm, pc + 64));
  EXPECT_EQ(dirty_bytes(h), 0); /* b's run fell with it */
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  (void)ph_region_unmap(base, 64 * MiB);
}

/* The runs, freed in order with live guards between them, go back oldest
 * first once the dirty pages pass the limit, down to half of it. */
TEST(decay_gives_back_only_what_stayed_free_across_an_allocation_oldest_first) {
  enum { RUNS = 12, RUN = 128, BIG = 200 };
  void *base;
  ph_heap_t *h = fixture_heap(64 * MiB, PH_PURGE, &base);
  REQUIRE(h);
  unsigned char *run[RUNS], *guard[RUNS];
  for (int i = 0; i < RUNS; i++) {
    run[i] = filled(h, RUN, (unsigned char)(0x10 + i));
    guard[i] = filled(h, 1, 0xEE);
    REQUIRE(run[i] && guard[i]);
  }
  /* The limit is the floor while the pages in use stay below 8 times it. */
  REQUIRE((uint64_t)RUNS * (RUN + 1) + BIG < 8ull * LIMIT);
  REQUIRE((uint64_t)RUNS * RUN > LIMIT);
  /* Freed with no allocation between: all of it is young, so it stays
   * (a frame that frees everything keeps its pages for the next). */
  for (int i = 0; i < RUNS; i++) {
    REQUIRE(ph_heap_free(h, run[i]) == 0);
    EXPECT_EQ(dirty_bytes(h), (uint64_t)(i + 1) * RUN * PAGE);
  }
  for (int j = 0; j < RUNS; j++) EXPECT(pages_hold(h, page_of(h, run[j]), page_of(h, run[j]) + RUN, (unsigned char)(0x10 + j)));
  /* An allocation no free run holds takes new pages at the top: every
   * dirty run is old now. Its free (young pages above hwm) gives back the
   * oldest runs until half the limit is left, or the old ones run out. */
  unsigned char *big = filled(h, BIG, 0x77);
  REQUIRE(big && page_of(h, big) > page_of(h, guard[RUNS - 1]));
  REQUIRE(ph_heap_free(h, big) == 0);
  uint64_t listed = (uint64_t)RUNS * RUN;
  int given = 0;
  while (ph__prim_purge_tracked && listed + BIG > LIMIT / 2 && given < RUNS) listed -= RUN, given++;
  REQUIRE(given > 0 || !ph__prim_purge_tracked);
  EXPECT_EQ(dirty_bytes(h), (listed + BIG) * PAGE);
  for (int j = 0; j < RUNS; j++) {
    uint32_t p = page_of(h, run[j]);
    if (j < given) EXPECT(pages_zero(h, p, p + RUN));
    else EXPECT(pages_hold(h, p, p + RUN, (unsigned char)(0x10 + j)));
  }
  EXPECT(pages_hold(h, page_of(h, big), page_of(h, big) + BIG, 0x77)); /* young: kept */
  for (int i = 0; i < RUNS; i++) EXPECT(pages_hold(h, page_of(h, guard[i]), page_of(h, guard[i]) + 1, 0xEE));
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  (void)ph_region_unmap(base, 64 * MiB);
}

TEST(decay_gives_back_the_top_once_an_allocation_left_it_unused_keeping_half_the_limit) {
  void *base;
  ph_heap_t *h = fixture_heap(64 * MiB, PH_PURGE, &base);
  REQUIRE(h);
  unsigned char *keep = filled(h, 4, 0x55), *top = filled(h, 3 * LIMIT, 0x66);
  REQUIRE(keep && top);
  uint32_t hwm_before = h->hwm;
  REQUIRE(ph_heap_free(h, top) == 0);
  EXPECT(h->hwm <= page_of(h, top)); /* with the free gap below it, if any */
  EXPECT_EQ(h->touched, hwm_before); /* young: nothing went back */
  EXPECT(pages_hold(h, page_of(h, top), hwm_before, 0x66));
  /* A page taken and given back: the pages above hwm stayed unused across it. */
  unsigned char *one = filled(h, 1, 0x44);
  REQUIRE(one && ph_heap_free(h, one) == 0);
  EXPECT_EQ(h->touched, h->hwm + LIMIT / 2);
  EXPECT(pages_hold(h, page_of(h, top), h->touched, 0x66)); /* kept: the nearest to hwm, used first again */
  EXPECT(pages_zero(h, h->touched, hwm_before));
  EXPECT_EQ(dirty_bytes(h), (uint64_t)LIMIT / 2 * PAGE);
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  /* Growing again over them: old bytes below touched, zeros above, a sound map. */
  unsigned char *again = ph_heap_malloc(h, 3 * (size_t)LIMIT * PAGE);
  REQUIRE(again == top);
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  EXPECT(pages_hold(h, page_of(h, keep), page_of(h, keep) + 4, 0x55));
  (void)ph_region_unmap(base, 64 * MiB);
}

TEST(a_frame_that_frees_everything_keeps_its_pages_for_the_next) {
  void *base;
  ph_heap_t *h = fixture_heap(64 * MiB, PH_PURGE, &base);
  REQUIRE(h);
  enum { OBJS = 80000 };
  static void *obj[OBJS];
  uint64_t rng = 7;
  uint32_t touched = 0;
  for (int frame = 0; frame < 6; frame++) {
    for (int i = 0; i < OBJS; i++) {
      obj[i] = ph_heap_malloc(h, 16 + test_random(&rng) % 241);
      REQUIRE(obj[i]);
      *(unsigned char *)obj[i] = 1; /* used: its page is in memory */
    }
    if (frame == 0) REQUIRE((uint64_t)h->hwm * PAGE > 2 * PH_PURGE_MIN_DIRTY); /* more than the limit in use */
    uint32_t peak = h->hwm;
    for (int i = 0; i < OBJS; i++) REQUIRE(ph_heap_free(h, obj[i]) == 0);
    /* What the frame used stays resident (a rule without ages gives back
     * about 1,100 of its 2,900 pages each frame, to fault them in again). */
    long in_memory = resident(h, h->base_pages, peak); /* -1 where mincore does not count 4 KiB pages */
    if (in_memory >= 0 && in_memory + 64 < (long)(peak - h->base_pages)) {
      printf("#   frame %d: %ld of %u pages resident\n", frame, in_memory, peak - h->base_pages);
      EXPECT(0);
    }
    /* Nothing was old but the few pages above this frame's peak. */
    if (frame > 0) EXPECT(h->touched + 64 >= touched);
    touched = h->touched;
  }
  EXPECT(dirty_bytes(h) > PH_PURGE_MIN_DIRTY);
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  /* Once a frame allocates less, what it left unused goes at its end. */
  uint32_t top_used = 0;
  for (int i = 0; i < 100; i++) {
    obj[i] = ph_heap_malloc(h, 64 * 1024);
    REQUIRE(obj[i]);
    if (page_of(h, obj[i]) + 16 > top_used) top_used = page_of(h, obj[i]) + 16;
  }
  REQUIRE(top_used + LIMIT / 2 < touched);
  for (int i = 0; i < 100; i++) REQUIRE(ph_heap_free(h, obj[i]) == 0);
  EXPECT(h->touched <= top_used);
  EXPECT(pages_zero(h, h->touched, touched));
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  (void)ph_region_unmap(base, 64 * MiB);
}

TEST(an_explicit_purge_gives_back_every_free_page_one_page_runs_too) {
  void *base;
  ph_heap_t *h = fixture_heap(64 * MiB, PH_PURGE, &base);
  REQUIRE(h);
  unsigned char *one = filled(h, 1, 0x11), *g1 = filled(h, 1, 0xEE), *two = filled(h, 40, 0x22), *g2 = filled(h, 1, 0xEE);
  unsigned char *top = filled(h, 30, 0x33);
  REQUIRE(one && g1 && two && g2 && top);
  REQUIRE(ph_heap_free(h, one) == 0 && ph_heap_free(h, two) == 0 && ph_heap_free(h, top) == 0);
  EXPECT_EQ(dirty_bytes(h), (uint64_t)(40 + 30) * PAGE); /* below the limit: nothing went back yet */
  EXPECT(pages_hold(h, page_of(h, one), page_of(h, one) + 1, 0x11));
  int64_t n = ph_heap_purge(h);
  EXPECT(pages_zero(h, h->hwm, page_of(h, top) + 30));
  EXPECT(pages_hold(h, page_of(h, g1), page_of(h, g1) + 1, 0xEE));
  EXPECT(pages_hold(h, page_of(h, g2), page_of(h, g2) + 1, 0xEE));
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  if (!ph__prim_purge_tracked) { /* the runs below hwm stay */
    EXPECT(n >= 30);
    EXPECT(pages_hold(h, page_of(h, two), page_of(h, two) + 40, 0x22));
    EXPECT_EQ(dirty_bytes(h), 40 * PAGE);
    (void)ph_region_unmap(base, 64 * MiB);
    return;
  }
  EXPECT(n >= 1 + 40 + 30);
  EXPECT(pages_zero(h, page_of(h, one), page_of(h, one) + 1));
  EXPECT(pages_zero(h, page_of(h, two), page_of(h, two) + 40));
  EXPECT_EQ(dirty_bytes(h), 0);
  /* Runs given back that are split keep their state: nothing is dirty. */
  unsigned char *part = filled(h, 10, 0x44);
  EXPECT(part == two);
  EXPECT_EQ(dirty_bytes(h), 0);
  EXPECT_EQ(ph_heap_check(h, 64 * MiB), 0);
  (void)ph_region_unmap(base, 64 * MiB);
}

TEST(purging_is_off_unless_asked_and_the_mode_belongs_to_the_region) {
  void *base, *other;
  ph_heap_t *h = fixture_heap(16 * MiB, 0, &base);
  REQUIRE(h);
  unsigned char *a = filled(h, 8, 0x77), *g = filled(h, 1, 0xEE);
  REQUIRE(a && g);
  REQUIRE(ph_heap_free(h, a) == 0);
  EXPECT_EQ(ph_heap_purge(h), PH_EINVAL); /* off: never given back */
  EXPECT_EQ(ph_last_error(), PH_EINVAL);
  EXPECT(pages_hold(h, page_of(h, a), page_of(h, a) + 8, 0x77));
  EXPECT_EQ(dirty_bytes(h), 8 * PAGE); /* counted all the same */
  EXPECT_EQ(ph_heap_set_purge(h, PH_PURGE | PH_PURGE_NOW), PH_EINVAL);
  EXPECT_EQ(ph_heap_set_purge(h, 1), PH_EINVAL);
  EXPECT_EQ(ph_heap_set_purge(NULL, PH_PURGE), PH_EINVAL);
  EXPECT_EQ(ph_heap_purge(NULL), PH_EINVAL);
  EXPECT(ph_heap_init(base, 16 * MiB, PH_PURGE | PH_PURGE_NOW) == NULL);
  EXPECT_EQ(ph_heap_set_purge(h, PH_PURGE), 0);
  EXPECT_EQ(ph_heap_flags(h), PH_PURGE);
  EXPECT_EQ(ph_heap_purge(h), ph__prim_purge_tracked ? 8 : 0);
  if (ph__prim_purge_tracked) EXPECT(pages_zero(h, page_of(h, a), page_of(h, a) + 8));
  /* Attach cannot know what memory it is given: purging off. */
  REQUIRE(ph_heap_attach(base, 16 * MiB) == h);
  EXPECT_EQ(ph_heap_flags(h), 0);
  /* A restore keeps the destination's mode, whatever the copy's. */
  REQUIRE(ph_heap_set_purge(h, PH_PURGE_NOW) == 0);
  ph_heap_t *o = fixture_heap(16 * MiB, 0, &other);
  REQUIRE(o);
  REQUIRE(ph_heap_restore(other, 16 * MiB, h, ph_heap_used_bytes(h), 0) == o);
  EXPECT_EQ(ph_heap_flags(o), 0);
  REQUIRE(ph_heap_set_purge(o, PH_PURGE) == 0);
  REQUIRE(ph_heap_restore(base, 16 * MiB, o, ph_heap_used_bytes(o), 0) == h);
  EXPECT_EQ(ph_heap_flags(h), PH_PURGE_NOW);
  EXPECT_EQ(ph_heap_check(h, 16 * MiB), 0);
  /* Into memory that holds no heap (zero bytes here): off, whatever the copy's. */
  void *fresh = ph_region_map_anon(16 * MiB);
  REQUIRE(fresh);
  REQUIRE(ph_heap_restore(fresh, 16 * MiB, h, ph_heap_used_bytes(h), 0) == fresh);
  EXPECT_EQ(ph_heap_flags(fresh), 0);
  EXPECT_EQ(ph_heap_check(fresh, 16 * MiB), 0);
  (void)ph_region_unmap(fresh, 16 * MiB);
  (void)ph_region_unmap(other, 16 * MiB);
  (void)ph_region_unmap(base, 16 * MiB);
}

/* ---- random workloads ----------------------------------------------------- */

#define SLOTS 200

typedef struct {
  unsigned char *p[SLOTS];
  size_t size[SLOTS];
  unsigned char tag[SLOTS];
} model;

static size_t random_size(uint64_t *rng) {
  switch (test_random(rng) % 4) {
  case 0: return 1 + test_random(rng) % 256;
  case 1: return 1 + test_random(rng) % 16384;
  case 2: return 16385 + test_random(rng) % (256 * 1024);
  default: return 256 * 1024 + test_random(rng) % (3 * MiB);
  }
}

/* One step of a seeded workload: malloc, free, realloc, sometimes a purge
 * or a reset. Offsets instead of pointers, so two heaps run it alike. */
static bool step(ph_heap_t *h, model *m, uint64_t *rng) {
  unsigned i = (unsigned)(test_random(rng) % SLOTS);
  unsigned op = (unsigned)(test_random(rng) % 100);
  if (op < 2) {
    if (op == 0) (void)ph_heap_purge(h);
    else if (test_random(rng) % 8 == 0) {
      ph_heap_reset(h);
      memset(m, 0, sizeof *m);
    }
    return true;
  }
  if (m->p[i] && op < 45) {
    if (ph_heap_free(h, m->p[i]) != 0) return false;
    m->p[i] = NULL;
  } else if (m->p[i] && op < 60) {
    size_t n = random_size(rng);
    unsigned char *q = ph_heap_realloc(h, m->p[i], n);
    if (!q) return true; /* no room: the old one stays */
    if (n > m->size[i]) memset(q + m->size[i], m->tag[i], n - m->size[i]);
    m->p[i] = q;
    m->size[i] = n;
  } else if (!m->p[i]) {
    size_t n = random_size(rng);
    unsigned char *q = ph_heap_malloc(h, n);
    if (!q) return true;
    m->p[i] = q;
    m->size[i] = n;
    m->tag[i] = (unsigned char)(1 + test_random(rng) % 255);
    memset(q, m->tag[i], n);
  }
  return true;
}

/* Every live allocation still holds its tag. */
static bool live_intact(const model *m) {
  for (unsigned i = 0; i < SLOTS; i++)
    for (size_t k = 0; m->p[i] && k < m->size[i]; k++)
      if (m->p[i][k] != m->tag[i]) return false;
  return true;
}

static void random_workload(unsigned mode, uint64_t seed) {
  enum { SIZE = 128 << 20 };
  void *base;
  ph_heap_t *h = fixture_heap(SIZE, mode, &base);
  REQUIRE(h);
  static model m;
  memset(&m, 0, sizeof m);
  uint64_t rng = test_seed = seed;
  for (int s = 0; s < 3000; s++) {
    REQUIRE(step(h, &m, &rng));
    REQUIRE(ph_heap_check(h, SIZE) == 0);
    if (s % 50 == 0) REQUIRE(live_intact(&m));
  }
  REQUIRE(live_intact(&m));
  /* Everything freed: only the heap's own pages stay in use. */
  for (unsigned i = 0; i < SLOTS; i++)
    if (m.p[i]) REQUIRE(ph_heap_free(h, m.p[i]) == 0);
  REQUIRE(ph_heap_purge(h) >= 0);
  EXPECT_EQ(dirty_bytes(h), ph__prim_purge_tracked ? 0 : (uint64_t)h->dirty_pages * PAGE);
  EXPECT_EQ(h->touched, h->hwm);
  long r = resident(h, h->hwm, h->npages);
  EXPECT(r == 0 || r == -1);
  EXPECT(pages_zero(h, h->hwm, h->npages));
  EXPECT_EQ(ph_heap_check(h, SIZE), 0);
  (void)ph_region_unmap(base, SIZE);
}

TEST(a_random_workload_with_decay_checks_clean_after_every_step) {
  random_workload(PH_PURGE, 0x5eed01ull ^ (uint64_t)time(NULL));
}

TEST(a_random_workload_with_purge_now_checks_clean_after_every_step) {
  random_workload(PH_PURGE_NOW, 0x5eed02ull ^ (uint64_t)time(NULL));
}

/* Everything a purge decides is in the region: a heap restored into a new
 * region halfway through ends with the same bytes as one that ran alone. */
TEST(the_same_operations_give_the_same_bytes_and_the_decisions_live_in_the_region) {
  enum { SIZE = 128 << 20 };
  void *a_base, *b_base, *c_base;
  ph_heap_t *a = fixture_heap(SIZE, PH_PURGE, &a_base), *b = fixture_heap(SIZE, PH_PURGE, &b_base);
  ph_heap_t *c = fixture_heap(SIZE, PH_PURGE, &c_base);
  REQUIRE(a && b && c);
  static model ma, mb;
  memset(&ma, 0, sizeof ma);
  memset(&mb, 0, sizeof mb);
  uint64_t seed = test_seed = 0xde7e12ull ^ (uint64_t)time(NULL), ra = seed, rb = seed;
  for (int s = 0; s < 1500; s++) REQUIRE(step(a, &ma, &ra) && step(b, &mb, &rb));
  /* Pages above hwm are in no snapshot: c reads zero there where b kept
   * freed bytes, which a page entering the heap again would carry. Both
   * heaps give them back first (the same operation on each). */
  REQUIRE(ph_heap_purge(a) >= 0 && ph_heap_purge(b) >= 0);
  /* b moves to c: its used prefix restored there; the model's pointers follow. */
  REQUIRE(ph_heap_restore(c_base, SIZE, b, ph_heap_used_bytes(b), 0) == c);
  for (unsigned i = 0; i < SLOTS; i++)
    if (mb.p[i]) mb.p[i] = (unsigned char *)c + (mb.p[i] - (unsigned char *)b);
  for (int s = 0; s < 1500; s++) REQUIRE(step(a, &ma, &ra) && step(c, &mb, &rb));
  EXPECT_EQ(a->hwm, c->hwm);
  EXPECT_EQ(a->touched, c->touched);
  EXPECT(memcmp(a, c, ph_heap_used_bytes(a)) == 0);
  uint64_t ca, cc;
  REQUIRE(ph_checksum(a, ph_heap_used_bytes(a), &ca) == 0 && ph_checksum(c, ph_heap_used_bytes(c), &cc) == 0);
  EXPECT(ca == cc);
  (void)ph_region_unmap(a_base, SIZE);
  (void)ph_region_unmap(b_base, SIZE);
  (void)ph_region_unmap(c_base, SIZE);
}

/* ---- damage ----------------------------------------------------------------- */

/* A heap with three dirty runs on the list (tails t[0] oldest .. t[2]). */
static ph_heap_t *three_dirty(void **base, uint32_t t[3], unsigned char *guard[3]) {
  ph_heap_t *h = fixture_heap(16 * MiB, PH_PURGE, base);
  if (!h) return NULL;
  unsigned char *r[3];
  for (int i = 0; i < 3; i++) {
    r[i] = filled(h, 4 + (uint32_t)i, 0x30);
    guard[i] = filled(h, 1, 0xEE);
    if (!r[i] || !guard[i]) return NULL;
  }
  for (int i = 0; i < 3; i++) {
    if (ph_heap_free(h, r[i]) != 0) return NULL;
    t[i] = page_of(h, r[i]) + 4 + (uint32_t)i - 1;
  }
  return h;
}

TEST(a_damaged_dirty_list_is_found_by_the_check_and_refused_by_purge_and_free) {
  enum { CASES = 10 };
  for (int k = 0; k < CASES; k++) {
    void *base;
    uint32_t t[3];
    unsigned char *guard[3];
    ph_heap_t *h = three_dirty(&base, t, guard);
    REQUIRE(h);
    REQUIRE(h->dirty_head == t[0] && h->dirty_pages == 4 + 5 + 6);
    REQUIRE(ph_heap_check(h, 16 * MiB) == 0);
    bool header = false; /* damage the O(1) header check refuses */
    switch (k) {
    case 0: ph__page(h, t[1])->right = t[1]; break;              /* a link that skips back */
    case 1: ph__page(h, t[2])->left = t[0]; break;               /* a back link that lies */
    case 2: ph__page(h, t[0])->left = h->hwm + 5; break;         /* out of the heap */
    case 3: ph__page(h, t[1])->info &= ~PH_TAIL_DIRTY; break;    /* on the list, not dirty */
    case 4: h->dirty_pages += 3; break;                          /* a count that lies */
    case 5: ph__page(h, t[1])->right = guard[1] - (unsigned char *)h > 0 ? page_of(h, guard[1]) : 0; break; /* to a live run */
    case 6: h->dirty_head = h->hwm + 1, header = true; break;    /* a head out of the heap */
    case 7: h->dirty_head = 0, header = true; break;             /* a list lost, its pages counted */
    case 8: ph__page(h, t[0])->size = 900; break;                /* a tail whose run is not there */
    case 9: h->dirty_pages = 0, header = true; break;            /* a head with no pages listed */
    }
    if (header) {
      EXPECT_EQ(ph_heap_check(h, 16 * MiB), PH_ECORRUPT);
      EXPECT(ph_heap_attach(base, 16 * MiB) == NULL);
      EXPECT_EQ(ph_last_error(), PH_ECORRUPT);
    } else {
      int broken = ph_heap_check(h, 16 * MiB);
      if (broken <= 0) printf("#   case %d: check %d\n", k, broken);
      EXPECT(broken > 0);
      int64_t n = ph_heap_purge(h); /* never a fault, never a loop */
      if (ph__prim_purge_tracked) EXPECT_EQ(n, PH_ECORRUPT);
      else EXPECT(n >= 0); /* the list is not followed there */
      /* Freeing a neighbour merges with a damaged run: refused, or done soundly. */
      int rc = ph_heap_free(h, guard[1]);
      EXPECT(rc == 0 || rc == PH_ECORRUPT);
      rc = ph_heap_free(h, guard[0]);
      EXPECT(rc == 0 || rc == PH_ECORRUPT);
    }
    (void)ph_region_unmap(base, 16 * MiB);
  }
}

TEST_MAIN()
