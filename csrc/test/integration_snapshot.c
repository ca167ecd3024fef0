/*
 * integration_snapshot.c - snapshots through the public header: a copy of
 * the used prefix restores the same heap anywhere, and every bad snapshot
 * is refused with its code before a byte of the target changes.
 */
#include "harness.h"
#include "fixture.h"
#include "privheap.h"

#include <stdint.h>

#define MiB ((size_t)1 << 20)

static uint64_t rng_state;
static uint64_t rng(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A heap in a new region (*base) with a mix of small and large
 * allocations, some freed, and roots. */
static ph_heap_t *populated(void **base, size_t size, uint64_t seed, void **live, int nlive) {
  ph_heap_t *h = fixture_heap(size, 0, base);
  if (!h) return NULL;
  rng_state = seed;
  for (int i = 0; i < nlive; i++) live[i] = NULL;
  for (int step = 0; step < 4 * nlive; step++) {
    int k = (int)(rng() % (uint64_t)nlive);
    if (live[k]) ph_heap_free(h, live[k]);
    size_t n = rng() % 8 ? 8 + rng() % 500 : 4096 + rng() % 40000;
    live[k] = ph_heap_malloc(h, n);
    if (live[k]) memset(live[k], (int)(k & 0xff), n < 16 ? n : 16);
  }
  if (live[0] && ph_heap_set_root(h, "world", (uint64_t)((char *)live[0] - (char *)h)) != 0) return NULL;
  return h;
}

static void *region(size_t size) {
  void *p = ph_region_map_anon(size);
  if (!p) printf("#   ph_region_map_anon(%zu) failed\n", size);
  return p;
}

static unsigned char *copy_of(const void *p, size_t n) {
  unsigned char *c = malloc(n);
  if (c) memcpy(c, p, n);
  return c;
}

TEST(restore_gives_back_the_same_heap_at_another_address) {
  size_t size = 8 * MiB;
  void *a, *b = region(size);
  REQUIRE(b);
  void *live[300];
  ph_heap_t *h = populated(&a, size, 1, live, 300);
  REQUIRE(h);
  size_t used = ph_heap_used_bytes(h);
  unsigned char *snap = copy_of(a, used);
  REQUIRE(snap);
  EXPECT_EQ(ph_snapshot_check(snap, used, size, 0), 0);
  ph_heap_t *r = ph_heap_restore(b, size, snap, used, 0);
  REQUIRE(r == b);
  EXPECT_EQ(ph_heap_check(b, size), 0);
  EXPECT_EQ(ph_heap_used_bytes(r), used);
  EXPECT(memcmp(b, snap, 16) == 0); /* the header came across (b held no heap, so it is marked dirty above hwm) */
  EXPECT_EQ(ph_heap_get_root(r, "world"), (uint64_t)((char *)live[0] - (char *)a));
  /* The same calls on both heaps from here give the same offsets and bytes
   * (the restored heap is marked dirty above hwm: mark the original too). */
  REQUIRE(ph_heap_attach(a, size) == h);
  for (int i = 0; i < 300; i++) {
    if (!live[i]) continue;
    size_t off = (size_t)((char *)live[i] - (char *)a);
    EXPECT_EQ(ph_heap_free(r, (char *)b + off), 0);
    EXPECT_EQ(ph_heap_free(h, live[i]), 0);
    void *x = ph_heap_calloc(h, 1, 100 + (size_t)i), *y = ph_heap_calloc(r, 1, 100 + (size_t)i);
    EXPECT_EQ((char *)x - (char *)a, (char *)y - (char *)b);
  }
  EXPECT(memcmp(a, b, ph_heap_used_bytes(h)) == 0);
  EXPECT_EQ(ph_heap_check(b, size), 0);
  free(snap);
  ph_region_unmap(a, size);
  ph_region_unmap(b, size);
}

TEST(restore_into_a_larger_region_frees_the_extra_pages) {
  size_t small = 4 * MiB, big = 32 * MiB;
  void *a, *b = region(big);
  REQUIRE(b);
  void *live[100];
  ph_heap_t *h = populated(&a, small, 2, live, 100);
  REQUIRE(h);
  size_t used = ph_heap_used_bytes(h);
  ph_heap_t *r = ph_heap_restore(b, big, a, used, 0);
  REQUIRE(r);
  EXPECT_EQ(ph_heap_check(b, big), 0);
  void *p = ph_heap_malloc(r, 16 * MiB); /* more than the small region held */
  EXPECT(p != NULL);
  EXPECT_EQ(ph_heap_check(b, big), 0);
  /* The other way round does not fit, and changes nothing. */
  size_t used_big = ph_heap_used_bytes(r);
  unsigned char *before = copy_of(a, small);
  REQUIRE(before);
  EXPECT(ph_heap_restore(a, small, b, used_big, 0) == NULL);
  EXPECT_EQ(ph_last_error(), PH_ESIZE);
  EXPECT_EQ(ph_snapshot_check(b, used_big, small, 0), PH_ESIZE);
  EXPECT(memcmp(before, a, small) == 0);
  free(before);
  ph_region_unmap(a, small);
  ph_region_unmap(b, big);
}

TEST(restore_over_a_dirty_region_still_zeroes_calloc) {
  size_t size = 8 * MiB;
  void *a, *b;
  /* b holds a bigger heap whose pages are full of 0xAB. */
  ph_heap_t *hb = fixture_heap(size, 0, &b);
  REQUIRE(hb);
  for (int i = 0; i < 200; i++) {
    void *p = ph_heap_malloc(hb, 20000);
    REQUIRE(p);
    memset(p, 0xAB, 20000);
  }
  ph_heap_t *ha = fixture_heap(size, 0, &a);
  REQUIRE(ha && ph_heap_malloc(ha, 64));
  ph_heap_t *r = ph_heap_restore(b, size, a, ph_heap_used_bytes(ha), 0);
  REQUIRE(r);
  for (int i = 0; i < 100; i++) {
    unsigned char *p = ph_heap_calloc(r, 1, 30000);
    REQUIRE(p);
    size_t nonzero = 0;
    for (size_t k = 0; k < 30000; k++) nonzero += p[k] != 0;
    EXPECT_EQ(nonzero, 0);
  }
  EXPECT_EQ(ph_heap_check(b, size), 0);
  ph_region_unmap(a, size);
  ph_region_unmap(b, size);
}

TEST(rollback_in_place_gives_the_snapshot_bytes_back_exactly) {
  size_t size = 16 * MiB;
  void *a;
  void *live[200];
  ph_heap_t *h = populated(&a, size, 5, live, 200);
  REQUIRE(h);
  size_t used = ph_heap_used_bytes(h);
  unsigned char *snap = copy_of(a, used);
  REQUIRE(snap);
  /* Grow well past the snapshot and scribble on everything. */
  for (int i = 0; i < 100; i++) {
    void *p = ph_heap_malloc(h, 50000);
    REQUIRE(p);
    memset(p, 0xCD, 50000);
  }
  size_t grown = ph_heap_used_bytes(h);
  EXPECT(grown > used + 4 * MiB);
  REQUIRE(ph_heap_restore(a, size, snap, used, PH_SNAPSHOT_TRUSTED) == h);
  EXPECT(memcmp(a, snap, used) == 0); /* header and all: checksums agree */
  /* Above the snapshot's touched mark its heap had only zeros; so does a. */
  ph_stats_t st;
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT(st.touched_bytes >= used && st.touched_bytes < grown);
  size_t nonzero = 0;
  for (size_t k = st.touched_bytes; k < grown; k++) nonzero += ((unsigned char *)a)[k] != 0;
  EXPECT_EQ(nonzero, 0);
  EXPECT_EQ(ph_heap_check(a, size), 0);
  free(snap);
  ph_region_unmap(a, size);
}

/* Restore `snap` (a damaged copy) into b and expect `code` with b unchanged. */
static void expect_refused(void *b, size_t size, const unsigned char *before, const void *snap, size_t len,
                           unsigned flags, int code) {
  EXPECT_EQ(ph_snapshot_check(snap, len, size, flags), code);
  EXPECT(ph_heap_restore(b, size, snap, len, flags) == NULL);
  EXPECT_EQ(ph_last_error(), code);
  EXPECT(memcmp(before, b, size) == 0);
}

TEST(damaged_snapshots_are_refused_and_the_target_is_untouched) {
  size_t size = 4 * MiB;
  void *a, *b;
  void *live[200];
  REQUIRE(populated(&a, size, 3, live, 200));
  REQUIRE(populated(&b, size, 4, live, 200));
  size_t used = ph_heap_used_bytes(a);
  unsigned char *good = copy_of(a, used), *bad = copy_of(a, used + 4096), *before = copy_of(b, size);
  REQUIRE(good && bad && before);

  expect_refused(b, size, before, good, used - 4096, 0, PH_ECORRUPT); /* truncated */
  expect_refused(b, size, before, good, 100, 0, PH_ECORRUPT);         /* a piece of the header */
  expect_refused(b, size, before, bad, used + 4096, 0, PH_ECORRUPT);  /* longer than its used bytes */
  memcpy(bad, good, used);
  bad[0] ^= 1; /* magic */
  expect_refused(b, size, before, bad, used, 0, PH_ECORRUPT);
  memcpy(bad, good, used);
  bad[8] += 1; /* layout version (the u32 after the magic) */
  expect_refused(b, size, before, bad, used, 0, PH_EVERSION);
  memcpy(bad, good, used);
  bad[12] ^= 0x10; /* page size */
  expect_refused(b, size, before, bad, used, 0, PH_ECORRUPT);
  /* A damaged page-map entry: the header is fine, so only the full check
   * sees it. Find one that the check notices: the leaf starts at page 2. */
  int refused = 0;
  for (size_t at = 2 * 4096; at < 2 * 4096 + 64 * 16 && !refused; at += 16) {
    memcpy(bad, good, used);
    bad[at] ^= 0x7;
    if (ph_snapshot_check(bad, used, size, 0) == PH_ECORRUPT) {
      refused = 1;
      expect_refused(b, size, before, bad, used, 0, PH_ECORRUPT);
      EXPECT_EQ(ph_snapshot_check(bad, used, size, PH_SNAPSHOT_TRUSTED), 0); /* O(1) checks only */
    }
  }
  EXPECT(refused);
  /* A non-zero map entry for a page the heap never touched: harmless to
   * check's other rules (entries above hwm mean nothing), but the heap
   * would adopt it unread when it grows there. Found by the fuzzer. */
  ph_stats_t st;
  REQUIRE(ph_heap_stats((ph_heap_t *)a, &st) == 0);
  size_t untouched_page = st.touched_bytes / 4096 + 3;
  REQUIRE(untouched_page < 512); /* inside the first leaf, which starts at page 2 */
  memcpy(bad, good, used);
  bad[2 * 4096 + untouched_page * 16] = 0x31;
  expect_refused(b, size, before, bad, used, 0, PH_ECORRUPT);
  /* Arguments */
  EXPECT(ph_heap_restore(NULL, size, good, used, 0) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_restore((char *)b + 8, size - 4096, good, used, 0) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_restore(b, size, NULL, used, 0) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT(ph_heap_restore(b, size, (char *)b + 4096, used, 0) == NULL && ph_last_error() == PH_EINVAL);
  EXPECT_EQ(ph_snapshot_check(NULL, used, size, 0), PH_ECORRUPT);
  EXPECT(memcmp(before, b, size) == 0);
  free(good);
  free(bad);
  free(before);
  ph_region_unmap(a, size);
  ph_region_unmap(b, size);
}

TEST(pages_diff_lists_exactly_the_changed_pages) {
  size_t n = 64;
  unsigned char *a = calloc(n, 4096), *b = calloc(n, 4096);
  REQUIRE(a && b);
  uint32_t out[64];
  EXPECT_EQ(ph_pages_diff(a, b, (uint32_t)n, out, 64), 0);
  b[0] = 1;                /* first byte of page 0 */
  b[5 * 4096 + 4095] = 1;  /* last byte of page 5 */
  b[63 * 4096 + 2000] = 9; /* page 63 */
  EXPECT_EQ(ph_pages_diff(a, b, (uint32_t)n, out, 64), 3);
  EXPECT(out[0] == 0 && out[1] == 5 && out[2] == 63);
  EXPECT_EQ(ph_pages_diff(a, b, (uint32_t)n, out, 2), 3); /* the count, even past cap */
  EXPECT_EQ(ph_pages_diff(a, b, 5, out, 64), 1);           /* only the pages asked for */
  EXPECT_EQ(ph_pages_diff(a, b, (uint32_t)n, NULL, 0), 3);
  EXPECT_EQ(ph_pages_diff(NULL, b, 1, out, 1), PH_EINVAL);
  EXPECT_EQ(ph_pages_diff(a, b, 1, NULL, 1), PH_EINVAL);
  free(a);
  free(b);
}

TEST(pages_copy_gathers_and_scatters_pages) {
  unsigned char *src = calloc(8, 4096), *dst = calloc(8, 4096);
  REQUIRE(src && dst);
  for (int p = 0; p < 8; p++) memset(src + p * 4096, p + 1, 4096);
  uint32_t from[3] = {7, 0, 3}, to[3] = {0, 5, 3};
  EXPECT_EQ(ph_pages_copy(dst, src, to, from, 3), 3);
  EXPECT(dst[0] == 8 && dst[4095] == 8);                 /* page 7 -> 0 */
  EXPECT(dst[5 * 4096] == 1 && dst[5 * 4096 + 4095] == 1); /* page 0 -> 5 */
  EXPECT(dst[3 * 4096] == 4);                              /* page 3 -> 3 */
  EXPECT(dst[4096] == 0 && dst[7 * 4096] == 0);            /* the rest untouched */
  EXPECT_EQ(ph_pages_copy(dst, src, NULL, NULL, 0), 0);
  EXPECT_EQ(ph_pages_copy(dst, NULL, to, from, 1), PH_EINVAL);
  free(src);
  free(dst);
}

TEST(put_pages_copies_into_a_heap_around_its_lock_block) {
  size_t size = (size_t)4 << 20;
  void *base;
  ph_heap_t *h = fixture_heap(size, 0, &base);
  REQUIRE(h && ph_heap_malloc(h, 100000));
  size_t used = ph_heap_used_bytes(h);
  unsigned char *copy = malloc(used);
  REQUIRE(copy);
  memcpy(copy, base, used); /* the heap's own header, */
  memset(copy + PH_LOCK_BLOCK_OFFSET, 0x77, PH_LOCK_BLOCK_END - PH_LOCK_BLOCK_OFFSET); /* a foreign lock block, */
  memset(copy + 2 * PH_PAGE_SIZE, 0x3C, used - 2 * PH_PAGE_SIZE);                      /* and bytes to see */
  uint32_t pages = (uint32_t)(used / PH_PAGE_SIZE), all[64];
  REQUIRE(pages <= 64);
  for (uint32_t i = 0; i < pages; i++) all[i] = i;
  unsigned char before[PH_LOCK_BLOCK_END - PH_LOCK_BLOCK_OFFSET];
  memcpy(before, (char *)base + PH_LOCK_BLOCK_OFFSET, sizeof before);
  EXPECT_EQ(ph_heap_put_pages(h, copy, all, all, pages), (int)pages);
  const unsigned char *b = base;
  EXPECT(memcmp(b + PH_LOCK_BLOCK_OFFSET, before, sizeof before) == 0); /* the block is as it was, */
  EXPECT(memcmp(b, copy, PH_LOCK_BLOCK_OFFSET) == 0);                   /* the rest is the copy's */
  EXPECT(memcmp(b + PH_LOCK_BLOCK_END, copy + PH_LOCK_BLOCK_END, used - PH_LOCK_BLOCK_END) == 0);
  /* A page past the heap: nothing copied. */
  memset(copy, 0x11, used);
  uint32_t to[2] = {3, (uint32_t)(size / PH_PAGE_SIZE)}, from[2] = {0, 1};
  EXPECT_EQ(ph_heap_put_pages(h, copy, to, from, 2), PH_EINVAL);
  EXPECT(b[3 * PH_PAGE_SIZE] == 0x3C);
  EXPECT_EQ(ph_heap_put_pages(NULL, copy, to, from, 1), PH_EINVAL);
  EXPECT_EQ(ph_heap_put_pages(h, NULL, to, from, 1), PH_EINVAL);
  EXPECT_EQ(ph_heap_put_pages(h, NULL, NULL, NULL, 0), 0);
  free(copy);
  ph_region_unmap(base, size);
}

TEST_MAIN()
