/*
 * unit_compat.c - the seed-compatible API: malloc's alignment from
 * ph_malloc, ph_calloc, ph_realloc and ph_posix_memalign, and the pages
 * ph_config_private_heap treats as written.
 */
#include "internal.h"
#include "harness.h"
#include <stdint.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* What malloc owes a block of n bytes: 16 from 16 bytes up, else the
 * largest power of two <= n. */
static uintptr_t malloc_align(size_t n) {
  if (n >= 16) return 16;
  uintptr_t a = 1;
  while (a * 2 <= n) a *= 2;
  return a;
}

static int aligned_for(const void *p, size_t n) { return ((uintptr_t)p % malloc_align(n)) == 0; }

/* A fresh default heap of `size` bytes in a new anonymous region. */
static void *seed_heap(size_t size) {
  void *base = ph_region_map_anon(size);
  if (base && ph_config_private_heap(base, size) != 0) {
    ph_region_unmap(base, size);
    return NULL;
  }
  return base;
}

static uint64_t touched_bytes(void) {
  ph_stats_t st;
  return ph_heap_stats(ph_default_heap(), &st) == 0 ? st.touched_bytes : 0;
}

static uint64_t used_bytes(void) { return ph_heap_used_bytes(ph_default_heap()); }

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* ---- alignment ----------------------------------------------------------- */

TEST(the_classes_malloc_rounds_to_are_16_aligned) {
  /* The rounding is enough only if every class that is a multiple of 16
   * starts its regions 16-aligned: runs at pages, regions by the size. */
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    const ph_class *cl = &ph__classes[c];
    if (cl->size % 16 == 0) EXPECT(cl->align >= 16);
  }
}

TEST(malloc_aligns_every_size_up_to_64_KiB) {
  size_t size = 64 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  for (size_t n = 1; n <= 64 * KiB; n++) {
    /* Two blocks of each size: the second sits one class size after the first. */
    unsigned char *a = ph_malloc(n), *b = ph_malloc(n);
    REQUIRE(a && b);
    if (!aligned_for(a, n) || !aligned_for(b, n)) {
      printf("#   size %zu: %p %p\n", n, (void *)a, (void *)b);
      EXPECT(0);
      break;
    }
    EXPECT(ph_malloc_usable_size(a) >= n);
    a[0] = a[n - 1] = 1;
    ph_free(b);
    if (n % 3 || n > 4 * KiB) ph_free(a); /* a third of the small ones stay live, so runs fill at every offset */
  }
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST(malloc_aligns_large_sizes) {
  size_t size = 64 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  static const size_t sizes[] = {64 * KiB + 1, 100000, 1 * MiB - 8, 1 * MiB, 3 * MiB + 5, 16 * MiB + 17};
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = ph_malloc(sizes[i]);
    REQUIRE(p);
    EXPECT(aligned_for(p, sizes[i]));
  }
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

/* Seeded random mallocs, callocs, reallocs and frees of sizes weighted to
 * the small classes; every block returned meets malloc's rule and keeps
 * its bytes through reallocs. */
TEST(random_sequences_keep_malloc_alignment) {
  size_t size = 64 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  enum { LIVE = 2048 };
  static unsigned char *live[LIVE];
  static size_t lens[LIVE];
  memset(live, 0, sizeof live);
  for (uint64_t seed = 1; seed <= 4; seed++) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull;
    test_seed = s;
    for (int step = 0; step < 200000; step++) {
      uint64_t r = test_random(&s);
      unsigned i = (unsigned)(r % LIVE);
      unsigned op = (unsigned)(r >> 16) % 8;
      size_t n = (r >> 32) % 8 == 0 ? (size_t)(test_random(&s) % (70 * KiB)) + 1 : (size_t)(test_random(&s) % 200) + 1;
      if (!live[i]) {
        unsigned char *p = op < 5 ? ph_malloc(n) : ph_calloc(1 + n % 7, n / (1 + n % 7) + 1);
        size_t got = op < 5 ? n : (1 + n % 7) * (n / (1 + n % 7) + 1);
        REQUIRE(p);
        if (op >= 5) EXPECT(all_zero(p, got));
        if (!aligned_for(p, got)) {
          printf("#   %s of %zu: %p\n", op < 5 ? "malloc" : "calloc", got, (void *)p);
          EXPECT(0);
          return;
        }
        memset(p, (int)(i & 0xFF), got);
        live[i] = p;
        lens[i] = got;
      } else if (op < 4) {
        ph_free(live[i]);
        live[i] = NULL;
      } else {
        unsigned char *q = ph_realloc(live[i], n);
        REQUIRE(q);
        size_t kept = n < lens[i] ? n : lens[i];
        EXPECT(q[0] == (unsigned char)(i & 0xFF) && q[kept - 1] == (unsigned char)(i & 0xFF));
        if (!aligned_for(q, n)) {
          printf("#   realloc %zu -> %zu: %p\n", lens[i], n, (void *)q);
          EXPECT(0);
          return;
        }
        memset(q, (int)(i & 0xFF), n);
        live[i] = q;
        lens[i] = n;
      }
    }
    EXPECT(ph_heap_check(base, size) == 0);
    ph_malloc_reset();
    memset(live, 0, sizeof live);
  }
  ph_region_unmap(base, size);
}

TEST(calloc_aligns_every_size_up_to_16_KiB) {
  size_t size = 16 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  for (size_t n = 1; n <= 16 * KiB; n++) {
    unsigned char *a = ph_calloc(1, n), *b = ph_calloc(n, 1);
    REQUIRE(a && b);
    if (!aligned_for(a, n) || !aligned_for(b, n)) {
      printf("#   size %zu: %p %p\n", n, (void *)a, (void *)b);
      EXPECT(0);
      break;
    }
    EXPECT(a[n - 1] == 0 && b[n - 1] == 0);
    ph_free(a);
    if (n % 2 || n > 2 * KiB) ph_free(b);
  }
  EXPECT(ph_calloc(SIZE_MAX / 2, 3) == NULL && ph_last_error() == PH_ENOMEM);
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST(realloc_that_moves_keeps_the_rule_and_in_place_keeps_the_pointer) {
  size_t size = 32 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  /* Moves: from every small size to every size class boundary around it. */
  for (size_t n = 1; n <= 4 * KiB; n += 1) {
    unsigned char *p = ph_malloc(8);
    REQUIRE(p);
    memset(p, 0x5A, 8);
    unsigned char *q = ph_realloc(p, n);
    REQUIRE(q);
    EXPECT(aligned_for(q, n));
    EXPECT(q[0] == 0x5A && q[(n < 8 ? n : 8) - 1] == 0x5A);
    unsigned char *r = ph_realloc(q, n / 2 + 1); /* shrinking may move too */
    REQUIRE(r);
    EXPECT(aligned_for(r, n / 2 + 1));
    ph_free(r);
    if (!aligned_for(q, n) || !aligned_for(r, n / 2 + 1)) break;
  }
  /* In place: a size in the same class returns p. */
  unsigned char *p = ph_malloc(40);
  REQUIRE(p);
  EXPECT(aligned_for(p, 40));
  EXPECT(ph_realloc(p, 48) == p);
  EXPECT(ph_realloc(p, 33) == p);
  ph_free(p);
  /* In place: a page run grows into the free pages above it, and shrinks. */
  unsigned char *big = ph_malloc(100 * KiB + 3);
  REQUIRE(big);
  EXPECT(ph_realloc(big, 200 * KiB + 7) == big);
  EXPECT(ph_realloc(big, 50 * KiB + 1) == big);
  ph_free(big);
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST(posix_memalign_gives_at_least_malloc_alignment) {
  size_t size = 32 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  for (size_t n = 1; n <= 4 * KiB; n++) {
    void *p = NULL, *q = NULL;
    EXPECT_EQ(ph_posix_memalign(&p, sizeof(void *), n), 0);
    EXPECT_EQ(ph_posix_memalign(&q, 64, n), 0);
    REQUIRE(p && q);
    if (!aligned_for(p, n) || ((uintptr_t)q & 63) != 0) {
      printf("#   size %zu: %p %p\n", n, p, q);
      EXPECT(0);
      break;
    }
    if (n % 3) ph_free(p); /* a third stay live, so later blocks sit further into their runs */
    if (n % 2) ph_free(q);
  }
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST(the_handle_api_keeps_its_8_byte_classes) {
  /* The seed API's rounding is its own: ph_heap_malloc(24) still takes the
   * 24-byte class, so blocks sit 24 bytes apart. */
  size_t size = 4 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  ph_heap_t *h = ph_default_heap();
  char *a = ph_heap_malloc(h, 24), *b = ph_heap_malloc(h, 24);
  REQUIRE(a && b);
  EXPECT_EQ(b - a, 24);
  EXPECT_EQ(ph_heap_usable_size(h, a), 24);
  char *c = ph_malloc(24);
  REQUIRE(c);
  EXPECT_EQ(ph_malloc_usable_size(c), 32);
  ph_region_unmap(base, size);
}

/* ---- written pages ------------------------------------------------------ */

TEST(config_tracks_touched_pages_like_a_zeroed_init) {
  size_t size = 16 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  EXPECT_EQ(touched_bytes(), used_bytes()); /* nothing above the header is written */
  EXPECT(touched_bytes() < size);
  unsigned char *p = ph_calloc(1, 4 * MiB);
  REQUIRE(p);
  EXPECT(all_zero(p, 4 * MiB));
  EXPECT_EQ(touched_bytes(), used_bytes());
  ph_free(p);
  EXPECT(used_bytes() < touched_bytes()); /* the top run left; its pages stay touched */
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST(calloc_clears_pages_a_freed_block_wrote) {
  size_t size = 16 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  unsigned char *p = ph_malloc(4 * MiB);
  REQUIRE(p);
  memset(p, 0xAB, 4 * MiB);
  ph_free(p);
  unsigned char *q = ph_calloc(4, MiB);
  REQUIRE(q);
  EXPECT(all_zero(q, 4 * MiB));
  ph_region_unmap(base, size);
}

TEST(config_again_treats_what_the_old_heap_touched_as_written) {
  size_t size = 16 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  unsigned char *p = ph_malloc(4 * MiB);
  REQUIRE(p);
  memset(p, 0xAB, 4 * MiB);
  uint64_t old_touched = touched_bytes();
  EXPECT_EQ(ph_config_private_heap(base, size), 0);
  EXPECT_EQ(touched_bytes(), old_touched);
  unsigned char *q = ph_calloc(4, MiB);
  REQUIRE(q);
  EXPECT(all_zero(q, 4 * MiB));
  unsigned char *r = ph_calloc(1, 6 * MiB); /* partly above the old mark */
  REQUIRE(r);
  EXPECT(all_zero(r, 6 * MiB));
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST(config_over_a_region_init_formatted_keeps_every_page_written) {
  size_t size = 8 * MiB;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  memset(base, 0xCD, size); /* a region that held other bytes */
  REQUIRE(ph_heap_init(base, size, 0));
  EXPECT_EQ(ph_config_private_heap(base, size), 0);
  EXPECT_EQ(touched_bytes(), size);
  unsigned char *a = ph_calloc(1, 3 * MiB), *b = ph_calloc(100, 3);
  REQUIRE(a && b);
  EXPECT(all_zero(a, 3 * MiB) && all_zero(b, 300));
  for (int i = 0; i < 2000; i++) EXPECT(ph_malloc((size_t)(i % 500) + 1) != NULL);
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST(config_over_a_damaged_heap_treats_every_page_as_written) {
  size_t size = 8 * MiB;
  void *base = seed_heap(size);
  REQUIRE(base);
  unsigned char *p = ph_malloc(2 * MiB);
  REQUIRE(p);
  memset(p, 0xEE, 2 * MiB);
  ((ph_heap_t *)base)->hwm = 1; /* fails the header check, keeps the magic */
  EXPECT(ph_heap_check(base, size) < 0 || ph_heap_check(base, size) > 0);
  EXPECT_EQ(ph_config_private_heap(base, size), 0);
  EXPECT_EQ(touched_bytes(), size);
  unsigned char *q = ph_calloc(2, MiB);
  REQUIRE(q);
  EXPECT(all_zero(q, 2 * MiB));
  EXPECT(ph_heap_check(base, size) == 0);
  ph_region_unmap(base, size);
}

TEST_MAIN()
