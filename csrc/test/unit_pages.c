/* unit_pages.c - page runs: best fit, coalescing, hwm, leaves, grow and shrink. */
#include "internal.h"
#include "harness.h"

static ph_heap_t *make(size_t size) {
  void *base = ph_region_map_anon(size);
  return base ? ph_heap_init(base, size, PH_REGION_ZEROED) : NULL;
}

/* The first page of a new large run of n pages, or 0 when none fits. */
static uint32_t take(ph_heap_t *h, uint32_t n, uint32_t align) {
  bool z;
  int64_t got = ph__pages_alloc(h, n, align, &z);
  if (got < 0) return 0;
  uint32_t p = (uint32_t)got;
  ph__page(h, p)->info = PH_INFO(PH_PK_LARGE, 0, 0, 0);
  ph__page(h, p)->size = n;
  h->large_count++, h->large_pages += n;
  return p;
}

static void give(ph_heap_t *h, uint32_t p) {
  uint32_t n = ph__page(h, p)->size;
  h->large_count--, h->large_pages -= n;
  ph__pages_free(h, p, n);
}

TEST(hwm_moves_only_when_nothing_fits_and_drops_on_top_free) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  uint32_t base = h->hwm;
  uint32_t a = take(h, 4, 1), b = take(h, 2, 1), c = take(h, 8, 1);
  EXPECT_EQ(a, base);
  EXPECT_EQ(b, base + 4);
  EXPECT_EQ(c, base + 6);
  EXPECT_EQ(h->hwm, base + 14);
  give(h, a);
  EXPECT_EQ(h->free_runs, 1);
  uint32_t d = take(h, 3, 1); /* fits in a's 4 pages: hwm stays */
  EXPECT_EQ(d, base);
  EXPECT_EQ(h->hwm, base + 14);
  give(h, c); /* the top run: hwm drops */
  EXPECT_EQ(h->hwm, base + 6);
  give(h, b); /* merges with the 1-page hole left of it and drops again */
  EXPECT_EQ(h->hwm, base + 3);
  EXPECT_EQ(h->free_runs, 0);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(coalescing_left_right_and_both) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  uint32_t r[6];
  for (int i = 0; i < 6; i++) r[i] = take(h, 2, 1);
  give(h, r[1]);
  give(h, r[3]);
  EXPECT_EQ(h->free_runs, 2);
  give(h, r[2]); /* joins both neighbours */
  EXPECT_EQ(h->free_runs, 1);
  EXPECT_EQ(ph__page(h, r[1])->size, 6);
  EXPECT_EQ(ph__kind(ph__page(h, r[1] + 5)), PH_PK_FREE_TAIL);
  give(h, r[0]); /* joins the right neighbour */
  EXPECT_EQ(h->free_runs, 1);
  EXPECT_EQ(ph__page(h, r[0])->size, 8);
  EXPECT_EQ(h->free_list[8], r[0]);
  EXPECT_EQ(h->free_mask, 1u << 7);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(best_fit_prefers_smallest_then_latest_for_short_runs) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  uint32_t r[8];
  uint32_t sizes[8] = {5, 1, 3, 1, 3, 1, 2, 1};
  for (int i = 0; i < 8; i++) r[i] = take(h, sizes[i], 1);
  give(h, r[0]); /* holes of 5, 3, 3, 2 pages */
  give(h, r[2]);
  give(h, r[4]);
  give(h, r[6]);
  EXPECT_EQ(take(h, 3, 1), r[4]); /* of the two 3-page holes, the one freed last (warm) */
  EXPECT_EQ(take(h, 2, 1), r[6]);
  EXPECT_EQ(take(h, 3, 1), r[2]);
  EXPECT_EQ(take(h, 4, 1), r[0]); /* no 4-page hole: the 5-page one, split */
  EXPECT_EQ(h->free_runs, 1);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(best_fit_prefers_smallest_then_lowest_for_long_runs) {
  ph_heap_t *h = make(64u << 20);
  REQUIRE(h);
  uint32_t r[8];
  uint32_t sizes[8] = {50, 1, 40, 1, 40, 1, 60, 1};
  for (int i = 0; i < 8; i++) r[i] = take(h, sizes[i], 1);
  give(h, r[4]);
  give(h, r[2]);
  give(h, r[6]);
  give(h, r[0]);
  EXPECT_EQ(take(h, 40, 1), r[2]); /* of the two 40-page holes, the lower */
  EXPECT_EQ(take(h, 35, 1), r[4]);
  EXPECT_EQ(take(h, 45, 1), r[0]);
  EXPECT_EQ(take(h, 55, 1), r[6]);
  EXPECT(ph_heap_check(h, 64u << 20) == 0);
}

TEST(alignment_gap_becomes_free_space) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  uint32_t a = take(h, 1, 1);
  uint32_t b = take(h, 2, 16); /* 64 KiB aligned */
  EXPECT_EQ(b % 16, 0);
  EXPECT_EQ(h->free_runs, 1);
  EXPECT_EQ(h->free_pages, b - a - 1);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(leaves_are_created_at_hwm_as_chunks_are_reached) {
  size_t size = 32u << 20; /* 8192 pages, 512 per leaf */
  ph_heap_t *h = make(size);
  REQUIRE(h);
  uint32_t leaf = ph__leaf_pages(h->lg_chunk), base = h->hwm;
  EXPECT_EQ(h->nleaves, 1);
  uint32_t big = take(h, 1200, 1); /* needs chunks 1 and 2: their leaves come first */
  EXPECT_EQ(h->nleaves, 3);
  EXPECT_EQ(h->dir[1], base);
  EXPECT_EQ(h->dir[2], base + leaf);
  EXPECT_EQ(big, base + 2 * leaf);
  EXPECT(ph_heap_check(h, size) == 0);
  give(h, big);
  EXPECT_EQ(h->hwm, base); /* no page needs leaves 1 and 2 now: they go too */
  EXPECT_EQ(h->nleaves, 1);
  EXPECT_EQ(h->meta_pages, base);
  EXPECT(ph_heap_check(h, size) == 0);
  big = take(h, 1200, 1); /* they come back where they were */
  EXPECT_EQ(h->nleaves, 3);
  EXPECT_EQ(big, base + 2 * leaf);
  EXPECT(ph_heap_check(h, size) == 0);
  ph_heap_reset(h);
  EXPECT_EQ(h->nleaves, 1);
  EXPECT(ph_heap_check(h, size) == 0);
  uint32_t again = take(h, 1200, 1);
  EXPECT_EQ(again, base + 2 * leaf);
  EXPECT(ph_heap_check(h, size) == 0);
}

TEST(a_leaf_stays_while_a_page_of_its_chunk_is_in_the_heap) {
  size_t size = 32u << 20;
  ph_heap_t *h = make(size);
  REQUIRE(h);
  uint32_t leaf = ph__leaf_pages(h->lg_chunk), chunk = 1u << h->lg_chunk, base = h->hwm;
  uint32_t low = take(h, chunk - base - 1, 1); /* ends one page short of chunk 1 */
  uint32_t high = take(h, 8, 1);               /* chunk 1: its leaf goes in at hwm first */
  EXPECT_EQ(h->nleaves, 2);
  EXPECT_EQ(h->dir[1], chunk - 1);
  EXPECT_EQ(high, chunk - 1 + leaf);
  uint32_t top = take(h, 4, 1);
  give(h, high); /* a free run between the leaf and top */
  EXPECT_EQ(h->hwm, top + 4);
  give(h, top); /* falls through the free run, then the leaf, then stops at low */
  EXPECT_EQ(h->hwm, chunk - 1);
  EXPECT_EQ(h->nleaves, 1);
  EXPECT_EQ(h->free_runs, 0);
  EXPECT(ph_heap_check(h, size) == 0);
  give(h, low);
  EXPECT_EQ(h->hwm, base);
  EXPECT(ph_heap_check(h, size) == 0);
}

/* The end of the run holding the live allocation at off. */
static uint32_t run_end(const ph_heap_t *h, uint64_t off) {
  uint32_t head = ph__pages_run_head(h, (uint32_t)(off >> PH_LG_PAGE));
  const ph_page *e = ph__page(h, head);
  if (ph__kind(e) == PH_PK_SMALL) return head + ph__classes[PH_INFO_CLASS(e->info)].run_pages;
  return head + e->size;
}

/* Whether the runs from page q to hwm are all empty current runs of bins. */
static bool only_empty_curs_above(const ph_heap_t *h, uint32_t q) {
  while (q < h->hwm) {
    const ph_page *e = ph__page(h, q);
    if (ph__kind(e) != PH_PK_SMALL) return false;
    uint32_t end = q + ph__classes[PH_INFO_CLASS(e->info)].run_pages;
    if (ph__small_empty_cur_ending_at(h, end) != q) return false;
    q = end;
  }
  return true;
}

/* Whatever the order of mallocs and frees, nothing but live allocations
 * holds up the used prefix: above the highest run with a live allocation
 * (or the empty heap's hwm when there is none) there are at most the empty
 * current runs of some bins, which a heap keeps when nothing else would
 * fall with them. */
static void hwm_follows_live_runs(unsigned flags, uint64_t seed) {
  size_t size = 256u << 20;
  void *base = ph_region_map_anon(size);
  ph_heap_t *h = base ? ph_heap_init(base, size, PH_REGION_ZEROED | flags) : NULL;
  REQUIRE(h);
  uint32_t empty = h->hwm;
  enum { SLOTS = 3000 };
  static uint64_t live[SLOTS];
  memset(live, 0, sizeof live);
  uint64_t rng = seed;
  int bad = 0;
  for (unsigned step = 0; step < 60000 && !bad; step++) {
    unsigned i = (unsigned)(test_random(&rng) % SLOTS);
    if (live[i]) {
      bad |= ph__off_free(h, live[i]) != 0;
      live[i] = 0;
    } else {
      uint64_t r = test_random(&rng) % 100;
      size_t n = r < 70 ? 1 + test_random(&rng) % 256 : r < 95 ? 1 + test_random(&rng) % 16384 : 1 + test_random(&rng) % (3u << 20);
      int64_t off = ph__off_malloc(h, n);
      bad |= off <= 0;
      live[i] = off > 0 ? (uint64_t)off : 0;
    }
    if (step % 8 == 0 || step > 59000) {
      uint32_t want = empty;
      for (unsigned k = 0; k < SLOTS; k++)
        if (live[k] && run_end(h, live[k]) > want) want = run_end(h, live[k]);
      if (h->hwm < want || !only_empty_curs_above(h, want)) {
        printf("#   step %u: hwm %u, highest live run ends at %u\n", step, h->hwm, want);
        bad = 1;
      }
    }
    if (step % 4096 == 0 && ph_heap_check(h, size) != 0) bad = 1;
  }
  EXPECT(!bad);
  for (unsigned k = 0; k < SLOTS; k++)
    if (live[k]) EXPECT_EQ(ph__off_free(h, live[k]), 0);
  EXPECT(only_empty_curs_above(h, empty));
  EXPECT_EQ(h->nleaves, 1);
  EXPECT(ph_heap_check(h, size) == 0);
  ph_region_unmap(base, size);
}

TEST(hwm_is_the_end_of_the_highest_live_run) {
  hwm_follows_live_runs(0, 0x1234);
  hwm_follows_live_runs(PH_ZERO_ON_FREE, 0x9876);
}

TEST(grow_and_shrink_in_place) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  uint32_t a = take(h, 4, 1);
  EXPECT(ph__pages_grow(h, a, 4, 10)); /* at hwm */
  ph__page(h, a)->size = 10;
  h->large_pages += 6;
  uint32_t b = take(h, 1, 1);
  EXPECT(!ph__pages_grow(h, a, 10, 11)); /* b is in the way */
  ph__pages_shrink(h, a, 10, 3);
  ph__page(h, a)->size = 3;
  h->large_pages -= 7;
  EXPECT_EQ(h->free_pages, 7);
  EXPECT(ph__pages_grow(h, a, 3, 8)); /* into the freed tail */
  ph__page(h, a)->size = 8;
  h->large_pages += 5;
  EXPECT_EQ(h->free_pages, 2);
  EXPECT(b > a);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(failures_are_results_that_record_nothing) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  EXPECT_EQ(ph_heap_grow(h, 0), PH_ESIZE); /* the last error, which nothing below may change */
  bool z;
  EXPECT_EQ(ph__pages_alloc(h, h->npages, 1, &z), PH_ENOMEM);
  uint32_t a = take(h, 40, 1), b = take(h, 1, 1);
  REQUIRE(a && b);
  give(h, a); /* a 40-page free run: the tree's root */
  ph__page(h, a)->info = PH_INFO(PH_PK_LARGE, 0, 0, 0); /* damage: the root is no free run */
  EXPECT_EQ(ph__pages_alloc(h, 35, 1, &z), PH_ECORRUPT);
  uint32_t got = 1;
  EXPECT_EQ(ph__tree_lower_bound(h, h->free_root, 35, &got), PH_ECORRUPT);
  EXPECT_EQ(ph__tree_remove(h, &h->free_root, a), PH_ECORRUPT);
  EXPECT_EQ(ph_last_error(), PH_ESIZE);
}

/* Whether pages [p, p + n) all read as `byte`. */
static bool pages_read(const ph_heap_t *h, uint32_t p, uint32_t n, unsigned char byte) {
  const unsigned char *b = (const unsigned char *)h + ((size_t)p << PH_LG_PAGE);
  for (size_t i = 0; i < ((size_t)n << PH_LG_PAGE); i++)
    if (b[i] != byte) return false;
  return true;
}

/* Fill run p of n pages with `byte`, then free it: it was the top, so hwm falls below it. */
static void leave_stale(ph_heap_t *h, uint32_t p, uint32_t n, unsigned char byte) {
  memset((char *)h + ((size_t)p << PH_LG_PAGE), byte, (size_t)n << PH_LG_PAGE);
  give(h, p);
  REQUIRE(h->hwm == p && h->touched >= p + n);
}

TEST(zero_reentry_zeroes_pages_taken_again_by_extend_and_grow) {
  void *base = ph_region_map_anon(16u << 20);
  ph_heap_t *h = base ? ph_heap_init(base, 16u << 20, PH_REGION_ZEROED | PH_ZERO_REENTRY) : NULL;
  REQUIRE(h);
  EXPECT(ph_heap_flags(h) & PH_ZERO_REENTRY);
  uint32_t a = take(h, 8, 1);
  leave_stale(h, a, 8, 0xab);
  bool zeroed = false;
  int64_t got = ph__pages_alloc(h, 8, 1, &zeroed);
  REQUIRE(got == a);
  EXPECT(zeroed);
  EXPECT(pages_read(h, a, 8, 0));
  ph__page(h, a)->info = PH_INFO(PH_PK_LARGE, 0, 0, 0);
  ph__page(h, a)->size = 8;
  h->large_count++, h->large_pages += 8;
  /* Grown in place at the top over pages used before. */
  uint32_t b = take(h, 6, 1);
  leave_stale(h, b, 6, 0xcd);
  uint32_t c = take(h, 2, 1);
  REQUIRE(c == b);
  EXPECT(ph__pages_grow(h, c, 2, 6));
  ph__page(h, c)->size = 6;
  h->large_pages += 4;
  EXPECT(pages_read(h, c, 6, 0));
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(without_zero_reentry_pages_taken_again_keep_their_bytes) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  uint32_t a = take(h, 8, 1);
  leave_stale(h, a, 8, 0xab);
  bool zeroed = true;
  REQUIRE(ph__pages_alloc(h, 8, 1, &zeroed) == a);
  EXPECT(!zeroed); /* calloc clears them itself */
  EXPECT(pages_read(h, a, 8, 0xab));
}

TEST_MAIN()
