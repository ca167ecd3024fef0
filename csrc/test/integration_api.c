/*
 * integration_api.c - the public API only: allocation, errors that change
 * nothing, reset, roots, attach, check on damaged bytes, determinism,
 * region helpers and the seed-compatible API.
 */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS under -std=c11 */
#define _DARWIN_C_SOURCE 1
#include "privheap.h"
#include "harness.h"
#include "fixture.h"
#include <stdint.h>
#include <errno.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

/* n, where the compiler cannot see it: a size no allocation can have,
 * passed on purpose, would otherwise be a warning (PH_ALLOC_SIZE). */
static size_t unknown_to_the_compiler(size_t n) {
  volatile size_t v = n;
  return v;
}

static uint64_t off_of(ph_heap_t *h, void *p) { return (uint64_t)((char *)p - (char *)h); }

TEST(init_rejects_bad_regions) {
  void *base = ph_region_map_anon(4 * MiB);
  REQUIRE(base);
  EXPECT(ph_heap_init(NULL, 4 * MiB, 0) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_init((char *)base + 8, MiB, 0) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_init(base, ph_heap_min_size() - PH_PAGE_SIZE, 0) == NULL && ph_last_error() == PH_ESIZE);
  EXPECT(ph_heap_init(base, MiB, 0x80) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_init(base, ph_heap_min_size(), 0) != NULL);
  EXPECT(ph_heap_overhead(4 * MiB) <= 64 * 1024);
  EXPECT(ph_heap_overhead((size_t)64 << 30) <= 512 * 1024);
  ph_region_unmap(base, 4 * MiB);
}

TEST(malloc_free_basics_and_alignment) {
  void *base;
  ph_heap_t *h = fixture_heap(16 * MiB, 0, &base);
  REQUIRE(h);
  EXPECT(ph_heap_check(h, 16 * MiB) == 0);
  size_t sizes[] = {0, 1, 7, 8, 9, 16, 24, 48, 64, 100, 128, 129, 1000, 3584, 3585, 4096, 4097,
                    5000, 8192, 14336, 14337, 16384, 65536, 100000, 1u << 20};
  void *ptrs[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    ptrs[i] = ph_heap_malloc(h, sizes[i]);
    REQUIRE(ptrs[i] != NULL);
    size_t us = ph_heap_usable_size(h, ptrs[i]);
    EXPECT(us >= sizes[i] && us >= 1);
    EXPECT(us <= sizes[i] + sizes[i] / 4 + 8 || sizes[i] <= 8); /* classes at most 25% apart */
    EXPECT(((uintptr_t)ptrs[i] & 7) == 0);
    if (sizes[i] > PH_SMALL_MAX || sizes[i] == 4096 || sizes[i] == 8192) EXPECT(((uintptr_t)ptrs[i] & 4095) == 0);
    memset(ptrs[i], (int)i + 1, sizes[i]);
    EXPECT(ph_heap_check(h, 16 * MiB) == 0);
  }
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    const unsigned char *b = ptrs[i];
    for (size_t j = 0; j < sizes[i]; j++)
      if (b[j] != (unsigned char)(i + 1)) {
        EXPECT(!"allocation contents intact");
        break;
      }
  }
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) EXPECT_EQ(ph_heap_free(h, ptrs[i]), 0);
  EXPECT(ph_heap_check(h, 16 * MiB) == 0);
  ph_stats_t st;
  EXPECT_EQ(ph_heap_stats(h, &st), 0);
  EXPECT_EQ(st.live_count, 0);
  EXPECT_EQ(st.live_bytes, 0);
  EXPECT_EQ(ph_heap_free(h, NULL), 0);
  ph_region_unmap(base, 16 * MiB);
}

TEST(every_size_up_to_20k_is_served_and_classes_are_tight) {
  void *base;
  ph_heap_t *h = fixture_heap(64 * MiB, 0, &base);
  REQUIRE(h);
  for (size_t n = 1; n <= 20000; n++) {
    void *p = ph_heap_malloc(h, n);
    REQUIRE(p);
    size_t us = ph_heap_usable_size(h, p);
    if (us < n) EXPECT(!"usable >= requested");
    if (n >= 32 && n <= PH_SMALL_MAX && (double)us > n * 1.25 + 8) EXPECT(!"small classes at most 25% apart");
    size_t a = us & (0 - us);
    if (a > 4096) a = 4096;
    if (((uintptr_t)p - (uintptr_t)h) % (a < 8 ? 8 : a)) EXPECT(!"aligned to its class");
    EXPECT_EQ(ph_heap_free(h, p), 0);
  }
  EXPECT(ph_heap_check(h, 64 * MiB) == 0);
  ph_region_unmap(base, 64 * MiB);
}

/* Every bad pointer is reported and changes no byte of the region. */
TEST(bad_frees_change_nothing) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  char *small = ph_heap_malloc(h, 48);
  char *small2 = ph_heap_malloc(h, 48);
  char *mid = ph_heap_malloc(h, 5000);
  char *large = ph_heap_malloc(h, 40000);
  char *top = ph_heap_malloc(h, 3 * 4096);
  REQUIRE(small && small2 && mid && large && top);
  EXPECT_EQ(ph_heap_free(h, small2), 0);
  size_t used = ph_heap_used_bytes(h);
  char *copy = malloc(size);
  REQUIRE(copy);
  memcpy(copy, h, size);
  struct { void *p; int code; } cases[] = {
      {small + 1, PH_EBADPTR},  {small + 8, PH_EBADPTR},      {small + 47, PH_EBADPTR},
      {small2, PH_EDOUBLEFREE}, {mid + 16, PH_EBADPTR},       {large + 8, PH_EBADPTR},
      {large + 4096, PH_EBADPTR}, {large + 40, PH_EBADPTR},   {(char *)h, PH_EBADPTR},
      {(char *)h + 64, PH_EBADPTR}, {(char *)h + 4096 * 3, PH_EBADPTR},
      {(char *)h + size, PH_EBADPTR}, {(char *)h + size + 4096, PH_EBADPTR},
      {(char *)h - 4096, PH_EBADPTR}, {(char *)h + used, PH_EBADPTR},
      {(char *)h + size - 4096, PH_EBADPTR}, {copy, PH_EBADPTR},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int r = ph_heap_free(h, cases[i].p);
    if (r != cases[i].code) printf("#   case %zu: got %d want %d\n", i, r, cases[i].code);
    EXPECT_EQ(r, cases[i].code);
    EXPECT(ph_heap_usable_size(h, cases[i].p) == 0);
    EXPECT(ph_heap_realloc(h, cases[i].p, 100) == NULL);
    EXPECT(memcmp(copy, h, size) == 0);
  }
  /* double frees of each kind, taken after a real free */
  EXPECT_EQ(ph_heap_free(h, large), 0);
  EXPECT_EQ(ph_heap_free(h, top), 0); /* the top run: hwm drops below it */
  EXPECT_EQ(ph_heap_free(h, mid), 0);
  memcpy(copy, h, size);
  EXPECT_EQ(ph_heap_free(h, large), PH_EDOUBLEFREE);
  EXPECT_EQ(ph_heap_free(h, top), PH_EDOUBLEFREE);
  EXPECT_EQ(ph_heap_free(h, mid), PH_EDOUBLEFREE);
  EXPECT(memcmp(copy, h, size) == 0);
  EXPECT(ph_heap_check(h, size) == 0);
  free(copy);
  ph_region_unmap(base, size);
}

TEST(exhaustion_is_enomem_and_heap_intact) {
  size_t size = 2 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  EXPECT(ph_heap_malloc(h, size) == NULL && ph_last_error() == PH_ENOMEM);
  EXPECT(ph_heap_calloc(h, unknown_to_the_compiler(SIZE_MAX / 2), 4) == NULL && ph_last_error() == PH_ENOMEM);
  size_t n = 0;
  while (ph_heap_malloc(h, 1000)) n++;
  EXPECT(ph_last_error() == PH_ENOMEM);
  EXPECT(n * 1024 > size * 9 / 10);
  EXPECT(ph_heap_check(h, size) == 0);
  while (ph_heap_malloc(h, 8)) n++; /* small classes fill the last corners */
  EXPECT(ph_heap_check(h, size) == 0);
  EXPECT_EQ(ph_heap_reset(h), 0);
  EXPECT(ph_heap_malloc(h, size / 2) != NULL);
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(whole_region_allocation) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  size_t room = ph_heap_max_alloc(size), empty = ph_heap_used_bytes(h);
  EXPECT(ph_heap_malloc(h, room + 1) == NULL && ph_last_error() == PH_ENOMEM);
  EXPECT(ph_heap_check(h, size) == 0);
  void *p = ph_heap_malloc(h, room);
  REQUIRE(p);
  EXPECT(ph_heap_used_bytes(h) == size);
  EXPECT(size - room <= size / 200); /* the page map costs 16 bytes a page */
  memset(p, 0xAB, room);
  EXPECT(ph_heap_check(h, size) == 0);
  EXPECT(ph_heap_malloc(h, 1) == NULL);
  EXPECT_EQ(ph_heap_free(h, p), 0);
  EXPECT_EQ(ph_heap_used_bytes(h), empty); /* the leaves the run needed go with it */
  EXPECT(ph_heap_malloc(h, room) == p);
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(allocations_span_map_chunks) {
  size_t size = 64 * MiB; /* leaves of 2 MiB chunks: runs must cross them */
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  void *a = ph_heap_malloc(h, 5 * MiB);
  void *b = ph_heap_malloc(h, 100);
  void *c = ph_heap_malloc(h, 9 * MiB);
  REQUIRE(a && b && c);
  memset(a, 1, 5 * MiB);
  memset(c, 3, 9 * MiB);
  EXPECT(ph_heap_check(h, size) == 0);
  EXPECT_EQ(ph_heap_free(h, a), 0);
  void *d = ph_heap_malloc(h, 4 * MiB); /* reuses a's space: best fit below hwm */
  EXPECT(d == a);
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(realloc_grows_in_place_and_keeps_contents) {
  size_t size = 32 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  char *p = ph_heap_malloc(h, 20000);
  REQUIRE(p);
  for (int i = 0; i < 20000; i++) p[i] = (char)(i * 7);
  char *q = ph_heap_realloc(h, p, 100000); /* at the top: grows into fresh pages */
  EXPECT(q == p);
  char *blocker = ph_heap_malloc(h, 100);
  REQUIRE(blocker);
  char *r = ph_heap_realloc(h, q, 50000); /* shrink in place */
  EXPECT(r == p);
  char *s = ph_heap_realloc(h, r, 90000); /* the freed tail is free again: grow in place */
  EXPECT(s == p);
  char *t = ph_heap_realloc(h, s, 2 * MiB); /* blocked: moves */
  REQUIRE(t);
  EXPECT(t != p);
  int ok = 1;
  for (int i = 0; i < 20000; i++) ok &= t[i] == (char)(i * 7);
  EXPECT(ok);
  char *u = ph_heap_realloc(h, t, 10); /* to a small class */
  REQUIRE(u);
  for (int i = 0; i < 10; i++) ok &= u[i] == (char)(i * 7);
  EXPECT(ok);
  char *v = ph_heap_realloc(h, NULL, 32);
  EXPECT(v != NULL);
  char *w = ph_heap_realloc(h, v, 0);
  EXPECT(w != NULL && ph_heap_usable_size(h, w) >= 1);
  EXPECT(ph_heap_realloc(h, w, size) == NULL && ph_last_error() == PH_ENOMEM);
  EXPECT(ph_heap_usable_size(h, w) >= 1); /* failed realloc left it alone */
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(aligned_alloc_up_to_and_beyond_64k) {
  size_t size = 64 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  for (size_t a = 1; a <= ((size_t)1 << 21); a <<= 1) {
    size_t sizes[] = {1, 24, 100, a, 3 * a + 5, 20000};
    for (size_t i = 0; i < 6; i++) {
      char *p = ph_heap_aligned_alloc(h, a, sizes[i]);
      REQUIRE(p);
      EXPECT(((uintptr_t)p % a) == 0);
      EXPECT(ph_heap_usable_size(h, p) >= sizes[i]);
      memset(p, 0x5A, sizes[i]);
    }
  }
  EXPECT(ph_heap_aligned_alloc(h, 3, 10) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_aligned_alloc(h, 0, 10) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(calloc_zeroes_reused_memory) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  size_t sizes[] = {40, 3000, 50000};
  for (int i = 0; i < 3; i++) {
    char *p = ph_heap_malloc(h, sizes[i]);
    char *keep = ph_heap_malloc(h, 64); /* keeps p's pages below hwm */
    REQUIRE(p && keep);
    memset(p, 0xFF, sizes[i]);
    EXPECT_EQ(ph_heap_free(h, p), 0);
    unsigned char *q = ph_heap_calloc(h, 1, sizes[i]);
    REQUIRE(q);
    int zero = 1;
    for (size_t j = 0; j < sizes[i]; j++) zero &= q[j] == 0;
    EXPECT(zero);
  }
  ph_heap_reset(h); /* pages above hwm are now dirty: calloc must still clear */
  unsigned char *q = ph_heap_calloc(h, 1, 50000);
  REQUIRE(q);
  int zero = 1;
  for (size_t j = 0; j < 50000; j++) zero &= q[j] == 0;
  EXPECT(zero);
  ph_region_unmap(base, size);
}

static int count_walk(void *arg, uint64_t off, uint64_t size) {
  uint64_t *acc = arg;
  acc[0]++;
  acc[1] += size;
  acc[2] ^= off;
  return 0;
}

TEST(reset_is_complete_and_bumps_generation) {
  size_t size = 64 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  void *first = ph_heap_malloc(h, 64);
  for (int i = 0; i < 100000; i++) REQUIRE(ph_heap_malloc(h, (size_t)(i % 300) + 1) != NULL);
  REQUIRE(ph_heap_malloc(h, 10 * MiB) != NULL);
  EXPECT_EQ(ph_heap_set_root(h, "world", off_of(h, first)), 0);
  uint64_t g = ph_heap_generation(h);
  EXPECT_EQ(ph_heap_reset(h), 0);
  EXPECT_EQ(ph_heap_generation(h), g + 1);
  EXPECT_EQ(ph_heap_used_bytes(h), ph_heap_overhead(size));
  EXPECT_EQ(ph_heap_get_root(h, "world"), 0);
  ph_stats_t st;
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT_EQ(st.live_count, 0);
  EXPECT_EQ(st.malloc_count, 0);
  uint64_t acc[3] = {0, 0, 0};
  EXPECT_EQ(ph_heap_walk(h, count_walk, acc), 0);
  EXPECT_EQ(acc[0], 0);
  EXPECT(ph_heap_check(h, size) == 0);
  void *again = ph_heap_malloc(h, 64);
  EXPECT(again == first); /* same sequence from an empty heap: same offsets */
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(walk_and_stats_agree) {
  size_t size = 64 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  uint64_t want_count = 0, want_bytes = 0, want_x = 0;
  for (int i = 0; i < 3000; i++) {
    size_t n = (size_t)((i * 7919) % 20000) + 1;
    void *p = ph_heap_malloc(h, n);
    REQUIRE(p);
    if (i % 3 == 0) {
      ph_heap_free(h, p);
    } else {
      want_count++;
      want_bytes += ph_heap_usable_size(h, p);
      want_x ^= off_of(h, p);
    }
  }
  uint64_t acc[3] = {0, 0, 0};
  EXPECT_EQ(ph_heap_walk(h, count_walk, acc), 0);
  EXPECT_EQ(acc[0], want_count);
  EXPECT_EQ(acc[1], want_bytes);
  EXPECT_EQ(acc[2], want_x);
  ph_stats_t st;
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT_EQ(st.live_count, want_count);
  EXPECT_EQ(st.live_bytes, want_bytes);
  EXPECT_EQ(st.used_bytes, ph_heap_used_bytes(h));
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

/* The batch walk gives what the callback walk gives, from any offset. */
static int collect(void *arg, uint64_t off, uint64_t size) {
  double *v = arg;
  size_t n = (size_t)v[0];
  v[1 + 2 * n] = (double)off;
  v[2 + 2 * n] = (double)size;
  v[0] = (double)(n + 1);
  return 0;
}

TEST(batch_walk_matches_the_callback_walk_from_any_offset) {
  size_t size = 64 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  uint64_t seed = 31;
  for (int i = 0; i < 4000; i++) {
    void *p = ph_heap_malloc(h, (size_t)(test_random(&seed) % 30000) + 1);
    if (p && test_random(&seed) % 3 == 0) ph_heap_free(h, p);
  }
  static double all[1 + 2 * 4000];
  all[0] = 0;
  EXPECT_EQ(ph_heap_walk(h, collect, all), 0);
  size_t n = (size_t)all[0];
  REQUIRE(n > 1000);
  /* in batches of 7, resuming after the last offset */
  double out[14];
  size_t got = 0;
  for (double from = 0;;) {
    int k = ph_off_walk(h, from, out, 7);
    REQUIRE(k >= 0);
    if (k == 0) break;
    for (int j = 0; j < k; j++, got++) {
      if (got >= n || out[2 * j] != all[1 + 2 * got] || out[2 * j + 1] != all[2 + 2 * got]) {
        EXPECT(!"batch walk agrees with the callback walk");
        got = n + 1;
        break;
      }
    }
    if (got > n) break;
    from = out[2 * (k - 1)] + 1;
  }
  EXPECT_EQ(got, n);
  /* from inside any page (a small run's body, a free run, a large run) */
  for (uint64_t from = 0; from < ph_heap_used_bytes(h); from += 4096 + 1000) {
    size_t first = 0;
    while (first < n && all[1 + 2 * first] < (double)from) first++;
    int k = ph_off_walk(h, (double)from, out, 1);
    if (first == n) EXPECT_EQ(k, 0);
    else if (k != 1 || out[0] != all[1 + 2 * first]) {
      EXPECT(!"a walk from any offset starts at the first allocation at or after it");
      break;
    }
  }
  EXPECT_EQ(ph_off_walk(h, -1, out, 7), PH_EINVAL);
  EXPECT_EQ(ph_off_walk(h, 0, out, 0), PH_EINVAL);
  ph_region_unmap(base, size);
}

TEST(named_roots) {
  void *base;
  ph_heap_t *h = fixture_heap(4 * MiB, 0, &base);
  REQUIRE(h);
  EXPECT_EQ(ph_heap_set_root(h, "", 4096), PH_EINVAL);
  EXPECT_EQ(ph_heap_set_root(h, NULL, 4096), PH_EINVAL);
  EXPECT_EQ(ph_heap_set_root(h, "0123456789012345678901234567890123", 4096), PH_EINVAL);
  EXPECT_EQ(ph_heap_set_root(h, "x", 4 * MiB), PH_EINVAL);
  char name[40];
  for (unsigned i = 0; i < PH_ROOT_COUNT; i++) {
    snprintf(name, sizeof name, "root-%u-%s", i, "abcdefghijklmnopqrstu");
    name[PH_ROOT_NAME_MAX] = 0;
    EXPECT_EQ(ph_heap_set_root(h, name, 8 * (i + 1)), 0);
  }
  EXPECT_EQ(ph_heap_set_root(h, "one-too-many", 8), PH_ENOSPC);
  snprintf(name, sizeof name, "root-%u-%s", 7u, "abcdefghijklmnopqrstu");
  name[PH_ROOT_NAME_MAX] = 0;
  EXPECT_EQ(ph_heap_get_root(h, name), 64);
  EXPECT_EQ(ph_heap_set_root(h, name, 4096), 0); /* update in place */
  EXPECT_EQ(ph_heap_get_root(h, name), 4096);
  EXPECT_EQ(ph_heap_set_root(h, name, 0), 0); /* remove */
  EXPECT_EQ(ph_heap_get_root(h, name), 0);
  EXPECT_EQ(ph_heap_set_root(h, "one-too-many", 8), 0);
  char buf[32];
  int found = 0;
  for (unsigned i = 0; i < PH_ROOT_COUNT; i++)
    if (ph_heap_root_at(h, i, buf) == 8 && strcmp(buf, "one-too-many") == 0) found++;
  EXPECT_EQ(found, 1);
  EXPECT(ph_heap_check(h, 4 * MiB) == 0);
  ph_heap_reset(h); /* every name is gone, and every slot is free again */
  for (unsigned i = 0; i < PH_ROOT_COUNT; i++) EXPECT_EQ(ph_heap_root_at(h, i, buf), 0);
  EXPECT_EQ(ph_heap_get_root(h, "one-too-many"), 0);
  for (unsigned i = 0; i < PH_ROOT_COUNT; i++) {
    snprintf(name, sizeof name, "again-%u", i);
    EXPECT_EQ(ph_heap_set_root(h, name, 8), 0);
  }
  EXPECT_EQ(ph_heap_get_root(h, "again-31"), 8);
  EXPECT(ph_heap_check(h, 4 * MiB) == 0);
  ph_region_unmap(base, 4 * MiB);
}

TEST(attach_validates_and_works_at_another_address) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  char *p = ph_heap_malloc(h, 100);
  REQUIRE(p);
  strcpy(p, "hello");
  EXPECT_EQ(ph_heap_set_root(h, "greeting", off_of(h, p)), 0);
  void *other = ph_region_map_anon(2 * size);
  REQUIRE(other);
  memcpy(other, h, ph_heap_used_bytes(h)); /* a snapshot is the used prefix */
  ph_heap_t *g = ph_heap_attach(other, 2 * size); /* a larger region: the heap keeps its size */
  REQUIRE(g);
  EXPECT(ph_heap_check(g, 2 * size) == 0);
  EXPECT(ph_heap_malloc(g, size + MiB) == NULL && ph_last_error() == PH_ENOMEM);
  EXPECT(ph_heap_grow(g, size - PH_PAGE_SIZE) == PH_ESIZE); /* a heap never shrinks */
  EXPECT_EQ(ph_heap_grow(g, 2 * size), 0);                  /* explicitly: the extra pages become free */
  EXPECT(strcmp((char *)g + ph_heap_get_root(g, "greeting"), "hello") == 0);
  /* same calls, same offsets, in both copies */
  for (int i = 0; i < 300; i++) {
    void *a = ph_heap_malloc(h, (size_t)i * 13 + 1), *b = ph_heap_malloc(g, (size_t)i * 13 + 1);
    REQUIRE(a && b);
    EXPECT_EQ(off_of(h, a), off_of(g, b));
  }
  EXPECT(ph_heap_malloc(h, size + MiB) == NULL);
  void *big = ph_heap_malloc(g, size + MiB); /* only the larger copy holds this */
  EXPECT(big != NULL);
  EXPECT(ph_heap_check(g, 2 * size) == 0);

  memcpy(other, h, ph_heap_used_bytes(h));
  EXPECT(ph_heap_attach(other, ph_heap_used_bytes(h) - PH_PAGE_SIZE) == NULL && ph_last_error() == PH_ESIZE);
  /* Shorter than the heap's region (a truncated heap file): it would allocate past the end. */
  EXPECT(ph_heap_attach(other, size - PH_PAGE_SIZE) == NULL && ph_last_error() == PH_ESIZE);
  EXPECT(ph_heap_attach(other, ph_heap_used_bytes(h)) == NULL && ph_last_error() == PH_ESIZE);
  ((unsigned char *)other)[0] ^= 1;
  EXPECT(ph_heap_attach(other, size) == NULL && ph_last_error() == PH_ECORRUPT);
  EXPECT(ph_heap_check(other, size) == PH_ECORRUPT);
  ((unsigned char *)other)[0] ^= 1;
  ((unsigned char *)other)[8] += 1; /* the ABI version */
  EXPECT(ph_heap_attach(other, size) == NULL && ph_last_error() == PH_EVERSION);
  memset(other, 0x41, 8192);
  EXPECT(ph_heap_attach(other, size) == NULL && ph_last_error() == PH_ECORRUPT);
  EXPECT(ph_heap_attach(other, 100) == NULL);
  ph_region_unmap(other, 2 * size);
  ph_region_unmap(base, size);
}

/* The checker must survive any bytes: mutate a valid heap and check again. */
TEST(check_survives_random_damage) {
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  uint64_t seed = 0x5eed0001;
  test_seed = seed;
  for (int i = 0; i < 2000; i++) {
    void *p = ph_heap_malloc(h, (size_t)(test_random(&seed) % 30000) + 1);
    if (p && test_random(&seed) % 3 == 0) ph_heap_free(h, p);
  }
  REQUIRE(ph_heap_check(h, size) == 0);
  size_t used = ph_heap_used_bytes(h);
  unsigned char *copy = ph_region_map_anon(size);
  REQUIRE(copy);
  int detected = 0, trials = 3000;
  for (int t = 0; t < trials; t++) {
    memcpy(copy, h, used);
    int flips = 1 + (int)(test_random(&seed) % 4);
    for (int f = 0; f < flips; f++) {
      uint64_t r = test_random(&seed);
      /* aim at metadata: the header, the first leaf, or anywhere */
      size_t at = (r & 3) == 0 ? (size_t)(r >> 8) % 8192
                : (r & 3) == 1 ? 8192 + (size_t)(r >> 8) % (ph_heap_overhead(size) - 8192)
                               : (size_t)(r >> 8) % used;
      copy[at] ^= (unsigned char)(1u << ((r >> 4) & 7));
    }
    int rc = ph_heap_check(copy, used); /* only the used prefix is readable here */
    if (rc != 0) detected++;
  }
  EXPECT(detected > trials / 10); /* metadata damage is caught; payload damage is not an error */
  ph_region_unmap(copy, size);
  ph_region_unmap(base, size);
}

TEST(zero_on_free_leaves_free_space_zero) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, PH_ZERO_ON_FREE, &base);
  REQUIRE(h);
  EXPECT_EQ(ph_heap_flags(h), PH_ZERO_ON_FREE);
  uint64_t seed = 42;
  void *live[512];
  int n = 0;
  for (int i = 0; i < 4000; i++) {
    size_t sz = (size_t)(test_random(&seed) % 20000) + 1;
    void *p = ph_heap_malloc(h, sz);
    REQUIRE(p);
    memset(p, 0xEE, ph_heap_usable_size(h, p));
    if (n < 512 && test_random(&seed) % 8 == 0) live[n++] = p;
    else ph_heap_free(h, p);
  }
  /* After freeing the survivors too, every data byte of the heap is zero,
   * except small-run bitmaps (metadata) of runs still in use by bins. */
  for (int i = 0; i < n; i++) ph_heap_free(h, live[i]);
  EXPECT(ph_heap_check(h, size) == 0);
  ph_stats_t st;
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT_EQ(st.live_count, 0);
  /* count 0xEE bytes anywhere in the used prefix: freed payload must be gone */
  size_t used = ph_heap_used_bytes(h), ee = 0;
  for (size_t i = ph_heap_overhead(size); i < used; i++) ee += ((unsigned char *)h)[i] == 0xEE;
  EXPECT_EQ(ee, 0);
  ph_region_unmap(base, size);
}

/* The same calls on the same starting bytes give byte-identical regions. */
TEST(determinism_two_heaps_identical_bytes) {
  size_t size = 16 * MiB;
  void *b1, *b2;
  ph_heap_t *h1 = fixture_heap(size, 0, &b1), *h2 = fixture_heap(size, 0, &b2);
  REQUIRE(h1 && h2);
  ph_heap_t *hs[2] = {h1, h2};
  for (int k = 0; k < 2; k++) {
    uint64_t seed = 777;
    void *live[1024] = {0};
    for (int i = 0; i < 200000; i++) {
      uint64_t r = test_random(&seed);
      int slot = (int)(r % 1024);
      if (live[slot]) {
        if ((r >> 20) % 4 == 0) live[slot] = ph_heap_realloc(hs[k], live[slot], (size_t)((r >> 24) % 70000) + 1);
        else {
          ph_heap_free(hs[k], live[slot]);
          live[slot] = NULL;
        }
      } else {
        size_t sz = (r >> 32) % 100 < 95 ? (size_t)((r >> 40) % 512) + 1 : (size_t)((r >> 40) % 70000) + 1;
        live[slot] = ph_heap_malloc(hs[k], sz);
        if (live[slot]) memset(live[slot], (int)(r & 0xFF), sz);
      }
    }
  }
  EXPECT_EQ(ph_heap_used_bytes(h1), ph_heap_used_bytes(h2));
  EXPECT(memcmp(h1, h2, ph_heap_used_bytes(h1)) == 0);
  EXPECT(ph_heap_check(h1, size) == 0);
  ph_region_unmap(b1, size);
  ph_region_unmap(b2, size);
}

TEST(file_region_is_shared_between_mappings) {
  const char *path = fixture_path();
  size_t size = 8 * MiB;
  void *a = ph_region_map_file(path, &size, PH_MAP_CREATE | PH_MAP_EXCL, 0);
  REQUIRE(a);
  ph_heap_t *h = ph_heap_init(a, size, PH_REGION_ZEROED);
  REQUIRE(h);
  char *p = ph_heap_malloc(h, 32);
  REQUIRE(p);
  strcpy(p, "shared");
  EXPECT_EQ(ph_heap_set_root(h, "msg", off_of(h, p)), 0);
  EXPECT_EQ(ph_region_flush(a, size), 0);
  size_t size2 = 0; /* the file's own size */
  void *b = ph_region_map_file(path, &size2, 0, 0);
  REQUIRE(b);
  EXPECT_EQ(size2, size);
  EXPECT(b != a);
  ph_heap_t *g = ph_heap_attach(b, size2);
  REQUIRE(g);
  EXPECT(strcmp((char *)g + ph_heap_get_root(g, "msg"), "shared") == 0);
  EXPECT(ph_heap_check(g, size2) == 0);
  size_t small = 1 * MiB;
  EXPECT(ph_region_map_file(path, &small, PH_MAP_CREATE | PH_MAP_EXCL, 0) == NULL && ph_last_error() == PH_EIO);
  size_t zero = 0;
  EXPECT(ph_region_map_file("/nonexistent-dir/x", &zero, 0, 0) == NULL && ph_last_error() == PH_EIO);
  EXPECT_EQ(ph_region_unmap(b, size2), 0);
  EXPECT_EQ(ph_region_unmap(a, size), 0);
}

TEST(seed_api_config_allocate_reset_allocate) {
  size_t size = 4 * MiB;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  EXPECT(ph_malloc(8) == NULL || ph_default_heap() != NULL);
  EXPECT_EQ(ph_config_private_heap(base, size), 0);
  char *a = ph_malloc(100);
  REQUIRE(a);
  EXPECT(ph_malloc_usable_size(a) >= 100);
  int *z = ph_calloc(10, sizeof(int));
  REQUIRE(z);
  EXPECT(z[9] == 0);
  a = ph_realloc(a, 5000);
  REQUIRE(a);
  void *m = NULL;
  EXPECT_EQ(ph_posix_memalign(&m, 4096, 100), 0);
  EXPECT(m && ((uintptr_t)m & 4095) == 0);
  EXPECT_EQ(ph_posix_memalign(&m, 3, 100), EINVAL);
  ph_free(a);
  ph_free(a); /* a double free through the seed API is reported, not fatal */
  EXPECT_EQ(ph_last_error(), PH_EDOUBLEFREE);
  ph_malloc_reset();
  EXPECT(ph_default_heap() == base);
  char *b = ph_malloc(100);
  EXPECT(b != NULL);
  EXPECT(ph_heap_check(base, size) == 0);
  EXPECT_EQ(ph_config_private_heap(base, size), 0); /* configuring again is allowed */
  EXPECT(ph_malloc(100) == b);
  ph_region_unmap(base, size);
}

TEST(offset_api_validates_doubles) {
  void *base;
  ph_heap_t *h = fixture_heap(4 * MiB, 0, &base);
  REQUIRE(h);
  double off = ph_off_malloc(h, 100);
  EXPECT(off > 0);
  EXPECT(ph_off_usable_size(h, off) >= 100);
  EXPECT_EQ(ph_off_malloc(h, -1), PH_EINVAL);
  EXPECT_EQ(ph_off_malloc(h, 1.5), PH_EINVAL);
  EXPECT_EQ(ph_off_malloc(h, 0.0 / 0.0), PH_EINVAL);
  EXPECT_EQ(ph_off_malloc(h, 1e300), PH_EINVAL);
  EXPECT_EQ(ph_off_malloc(h, 1e15), PH_ENOMEM);
  EXPECT_EQ(ph_off_free(h, off + 1), PH_EBADPTR);
  EXPECT_EQ(ph_off_free(h, -8), PH_EINVAL);
  double r = ph_off_realloc(h, off, 10000);
  EXPECT(r > 0);
  EXPECT_EQ(ph_off_free(h, r), 0);
  EXPECT_EQ(ph_off_free(h, r), PH_EDOUBLEFREE);
  EXPECT_EQ(ph_off_free(h, 0), 0);
  double c = ph_off_calloc(h, 10, 10);
  EXPECT(c > 0);
  double a = ph_off_aligned_alloc(h, 65536, 10);
  EXPECT(a > 0 && (uint64_t)a % 65536 == 0);
  EXPECT_EQ(ph_off_set_root(h, "a", a), 0);
  EXPECT_EQ(ph_off_get_root(h, "a"), a);
  EXPECT_EQ(ph_off_used_bytes(h), (double)ph_heap_used_bytes(h));
  EXPECT(ph_heap_check(h, 4 * MiB) == 0);
  ph_region_unmap(base, 4 * MiB);
}

TEST(frame_scratch_bumps_until_reset) {
  size_t size = 64 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  uint64_t seed = 9;
  test_seed = seed;
  for (int frame = 0; frame < 3; frame++) {
    char *prev = NULL;
    size_t prev_n = 0;
    unsigned char *ps[3000];
    size_t ns[3000];
    for (int i = 0; i < 3000; i++) {
      size_t n = (size_t)(test_random(&seed) % 300) + (i % 500 == 0 ? 40000 : 0); /* now and then a big one */
      unsigned char *p = ph_scratch_alloc(h, n);
      REQUIRE(p);
      EXPECT(((uintptr_t)p & 15) == 0);
      if (n <= PH_SCRATCH_CHUNK / 4) EXPECT_EQ(ph_heap_free(h, p), PH_EBADPTR); /* no scratch pointer starts an allocation */
      memset(p, i & 0xFF, n);
      ps[i] = p, ns[i] = n;
      if (prev && (char *)p > prev) EXPECT((size_t)((char *)p - prev) >= prev_n); /* no overlap with the previous one */
      prev = (char *)p, prev_n = n;
    }
    for (int i = 0; i < 3000; i++)
      for (size_t j = 0; j < ns[i]; j++)
        if (ps[i][j] != (unsigned char)(i & 0xFF)) {
          EXPECT(!"scratch contents intact");
          i = 3000;
          break;
        }
    EXPECT(ph_heap_check(h, size) == 0);
    /* a snapshot keeps the cursor: the copy goes on where the original is */
    void *copy = ph_region_map_anon(size);
    REQUIRE(copy);
    memcpy(copy, h, ph_heap_used_bytes(h));
    ph_heap_t *g = ph_heap_attach(copy, size);
    REQUIRE(g);
    EXPECT_EQ((char *)ph_scratch_alloc(g, 32) - (char *)g, (char *)ph_scratch_alloc(h, 32) - (char *)h);
    EXPECT(ph_heap_check(copy, size) == 0);
    ph_region_unmap(copy, size);
    ph_heap_reset(h);
    EXPECT_EQ(ph_heap_used_bytes(h), ph_heap_overhead(size)); /* reset took every chunk */
  }
  EXPECT(ph_scratch_alloc(h, 0) != NULL);
  EXPECT(ph_scratch_alloc(h, unknown_to_the_compiler(SIZE_MAX)) == NULL && ph_last_error() == PH_ENOMEM);
  EXPECT(ph_scratch_alloc(h, size) == NULL && ph_last_error() == PH_ENOMEM);
  EXPECT(ph_scratch_refill(NULL, 8) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_scratch_alloc(NULL, 8) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_check(h, size) == 0);
  /* a cursor pointing outside its chunk is damage the checker (and attach) refuses */
  uint64_t *cursor = (uint64_t *)((char *)h + PH_SCRATCH_CURSOR);
  uint64_t saved = cursor[1];
  cursor[1] = saved + 4096;
  EXPECT(ph_heap_check(h, size) == PH_ECORRUPT);
  EXPECT(ph_heap_attach(h, size) == NULL && ph_last_error() == PH_ECORRUPT);
  cursor[1] = saved;
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(every_entry_point_refuses_a_null_heap) {
  ph_stats_t st;
  double out[4];
  char buf[32];
  EXPECT(ph_heap_malloc(NULL, 8) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_calloc(NULL, 1, 8) == NULL);
  EXPECT(ph_heap_realloc(NULL, NULL, 8) == NULL);
  EXPECT(ph_heap_aligned_alloc(NULL, 64, 8) == NULL);
  EXPECT_EQ(ph_heap_free(NULL, (void *)8), PH_EINVAL);
  EXPECT_EQ(ph_heap_usable_size(NULL, (void *)8), 0);
  EXPECT_EQ(ph_heap_reset(NULL), PH_EINVAL);
  EXPECT_EQ(ph_heap_used_bytes(NULL), 0);
  EXPECT_EQ(ph_heap_generation(NULL), 0);
  EXPECT_EQ(ph_off_malloc(NULL, 8), PH_EINVAL);
  EXPECT_EQ(ph_off_calloc(NULL, 1, 1), PH_EINVAL);
  EXPECT_EQ(ph_off_realloc(NULL, 8, 8), PH_EINVAL);
  EXPECT_EQ(ph_off_aligned_alloc(NULL, 8, 8), PH_EINVAL);
  EXPECT_EQ(ph_off_free(NULL, 8), PH_EINVAL);
  EXPECT_EQ(ph_off_usable_size(NULL, 8), PH_EINVAL);
  EXPECT_EQ(ph_heap_set_root(NULL, "a", 8), PH_EINVAL);
  EXPECT_EQ(ph_heap_get_root(NULL, "a"), 0);
  EXPECT_EQ(ph_heap_root_at(NULL, 0, buf), 0);
  EXPECT(ph_heap_check(NULL, 1 << 20) < 0);
  EXPECT_EQ(ph_heap_stats(NULL, &st), PH_EINVAL);
  EXPECT_EQ(ph_heap_walk(NULL, count_walk, NULL), PH_EINVAL);
  EXPECT_EQ(ph_off_walk(NULL, 0, out, 2), PH_EINVAL);
  EXPECT(ph_scratch_alloc(NULL, 8) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_attach(NULL, 1 << 20) == NULL);
  EXPECT_EQ(ph_region_unmap(NULL, 4096), PH_EINVAL);
  EXPECT_EQ(ph_region_flush(NULL, 4096), PH_EINVAL);
  EXPECT(ph_region_map_file(NULL, NULL, 0, 0) == NULL);
}

/* Leave a failure's code (PH_ESIZE) as the thread's last error, for the
 * next failing call to replace with its own. */
static void leave_a_stale_code(void) {
  EXPECT(ph_heap_init((void *)(uintptr_t)PH_PAGE_SIZE, 0, 0) == NULL && ph_last_error() == PH_ESIZE);
}

#define FAILS_WITH(call_ok, code)                        \
  do {                                                   \
    leave_a_stale_code();                                \
    EXPECT((call_ok) && ph_last_error() == (code));      \
  } while (0)

TEST(getters_given_a_null_heap_fail_like_every_call) {
  char buf[32];
  FAILS_WITH(ph_heap_used_bytes(NULL) == 0, PH_EINVAL);
  FAILS_WITH(ph_heap_generation(NULL) == 0, PH_EINVAL);
  FAILS_WITH(ph_heap_flags(NULL) == 0, PH_EINVAL);
  FAILS_WITH(ph_heap_get_root(NULL, "a") == 0, PH_EINVAL);
  FAILS_WITH(ph_heap_root_at(NULL, 0, buf) == 0, PH_EINVAL);
  FAILS_WITH(ph_off_used_bytes(NULL) == PH_EINVAL, PH_EINVAL);
  FAILS_WITH(ph_off_get_root(NULL, "a") == PH_EINVAL, PH_EINVAL);
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  FAILS_WITH(ph_heap_get_root(h, NULL) == 0, PH_EINVAL);
  FAILS_WITH(ph_heap_get_root(h, "") == 0, PH_EINVAL);
  FAILS_WITH(ph_off_get_root(h, "a name longer than thirty-one bytes") == PH_EINVAL, PH_EINVAL);
  FAILS_WITH(ph_heap_root_at(h, PH_ROOT_COUNT, buf) == 0, PH_EINVAL);
  EXPECT(ph_heap_get_root(h, "unset") == 0 && ph_off_get_root(h, "unset") == 0); /* not set: no failure */
  EXPECT_EQ(ph_off_used_bytes(h), ph_heap_overhead(size));
  EXPECT_EQ(ph_region_unmap(base, size), 0);
}

TEST(a_failure_records_its_own_code_not_a_stale_one) {
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h);
  FAILS_WITH(ph_off_malloc(h, (double)size) == PH_ENOMEM, PH_ENOMEM);
  FAILS_WITH(ph_heap_malloc(h, size) == NULL, PH_ENOMEM);
  FAILS_WITH(ph_heap_calloc(h, unknown_to_the_compiler(SIZE_MAX), 2) == NULL, PH_ENOMEM);
  FAILS_WITH(ph_off_aligned_alloc(h, 3, 8) == PH_EINVAL, PH_EINVAL);
  FAILS_WITH(ph_off_free(h, 8) == PH_EBADPTR, PH_EBADPTR);
  double a = ph_off_malloc(h, 64);
  REQUIRE(a > 0);
  EXPECT_EQ(ph_off_free(h, a), 0);
  FAILS_WITH(ph_off_free(h, a) == PH_EDOUBLEFREE, PH_EDOUBLEFREE);
  FAILS_WITH(ph_off_usable_size(h, a) == PH_EDOUBLEFREE, PH_EDOUBLEFREE);
  FAILS_WITH(ph_off_realloc(h, a, 128) == PH_EDOUBLEFREE, PH_EDOUBLEFREE);
  FAILS_WITH(ph_heap_usable_size(h, (char *)h + 8) == 0, PH_EBADPTR);
  FAILS_WITH(ph_heap_realloc(h, (char *)h + 8, 16) == NULL, PH_EBADPTR);
  FAILS_WITH(ph_heap_free(h, (char *)h + 8) == PH_EBADPTR, PH_EBADPTR);
  /* failures that returned their code without recording it */
  FAILS_WITH(ph_snapshot_check(NULL, 0, size, 0) == PH_ECORRUPT, PH_ECORRUPT);
  FAILS_WITH(ph_heap_check(NULL, size) == PH_ECORRUPT, PH_ECORRUPT);
  void *p = NULL;
  FAILS_WITH(ph_posix_memalign(&p, 3, 8) == EINVAL, PH_EINVAL);
  EXPECT(ph_heap_check(h, size) == 0);
  EXPECT_EQ(ph_region_unmap(base, size), 0);
}

/* The prototypes tell an optimising GCC or Clang how large an allocation
 * is (PH_ALLOC_SIZE), which object-size checks (_FORTIFY_SOURCE) use.
 * Every build of these tests optimises; at -O0 the sizes are unknown. */
TEST(allocation_prototypes_tell_the_compiler_the_size) {
  size_t size = 4 * MiB;
  char *base = ph_region_map_anon(size);
  ph_heap_t *h = base ? ph_heap_init(base, size, 0) : NULL;
  REQUIRE(h);
  EXPECT_EQ(__builtin_object_size(base, 0), size);
  char *m = ph_heap_malloc(h, 24), *c = ph_heap_calloc(h, 3, 8), *a = ph_heap_aligned_alloc(h, 64, 40);
  REQUIRE(m && c && a);
  EXPECT_EQ(__builtin_object_size(m, 0), 24);
  EXPECT_EQ(__builtin_object_size(c, 0), 24);
  EXPECT_EQ(__builtin_object_size(a, 0), 40);
  char *r = ph_heap_realloc(h, m, 100);
  REQUIRE(r);
  EXPECT_EQ(__builtin_object_size(r, 0), 100);
  EXPECT_EQ(ph_region_unmap(base, size), 0);
}

TEST(strerror_names_every_code) {
  for (int c = PH_ECODE_MIN; c <= 0; c++) EXPECT(strcmp(ph_strerror(c), "unknown error") != 0);
  EXPECT(strcmp(ph_strerror(PH_ECODE_MIN - 1), "unknown error") == 0);
}

TEST_MAIN()
