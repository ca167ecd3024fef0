/* unit_small.c - bins: which run serves next, run release, cur kept, bad frees. */
#include "internal.h"
#include "harness.h"

static ph_heap_t *make(size_t size) {
  void *base = ph_region_map_anon(size);
  return base ? ph_heap_init(base, size, PH_REGION_ZEROED) : NULL;
}

TEST(regions_fill_runs_in_address_order) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(48);
  const ph_class *cl = &ph__classes[c];
  uint64_t prev = 0;
  for (unsigned i = 0; i < cl->nregs * 3u; i++) {
    uint64_t off = ph__off_malloc(h, 48);
    EXPECT(off > prev);
    prev = off;
  }
  EXPECT_EQ(h->small_run_pages, 3u * cl->run_pages);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(cur_fills_first_then_the_newest_free_then_runs_in_the_order_they_gained_room) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(64);
  const ph_class *cl = &ph__classes[c];
  uint64_t run1 = ph__off_malloc(h, 64), last = 0;
  for (unsigned i = 1; i < cl->nregs * 4u + 1; i++) last = ph__off_malloc(h, 64); /* runs 1-4 full; run 5 is cur */
  uint64_t step = (uint64_t)cl->run_pages * PH_PAGE_SIZE, run2 = run1 + step, run3 = run2 + step;
  for (unsigned i = 0; i < PH_RECENT_CAP; i++) EXPECT_EQ(ph__off_free(h, run3 + i * 64u), 0); /* onto the stack */
  EXPECT_EQ(ph__off_free(h, run2 + 3 * 64), 0); /* the stack is full: run 2 gains room first */
  EXPECT_EQ(ph__off_free(h, run1 + 5 * 64), 0);
  EXPECT(h->bins[c].head == (uint32_t)(run2 >> PH_LG_PAGE) && h->bins[c].tail == (uint32_t)(run1 >> PH_LG_PAGE));
  for (unsigned i = 1; i < cl->nregs; i++) EXPECT_EQ(ph__off_malloc(h, 64), last + i * 64u); /* cur first */
  for (unsigned i = PH_RECENT_CAP; i-- > 0;) EXPECT_EQ(ph__off_malloc(h, 64), run3 + i * 64u); /* newest first */
  EXPECT_EQ(ph__off_malloc(h, 64), run2 + 3 * 64);
  EXPECT_EQ(ph__off_malloc(h, 64), run1 + 5 * 64);
  uint64_t fresh = ph__off_malloc(h, 64); /* nothing below has room: a new run */
  EXPECT_EQ(last, run1 + 4 * step);
  EXPECT_EQ(fresh, run1 + 5 * step);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(empty_runs_go_back_but_cur_stays_below_the_top) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(1024);
  const ph_class *cl = &ph__classes[c];
  uint64_t offs[64];
  unsigned n = cl->nregs * 3u;
  for (unsigned i = 0; i < n; i++) offs[i] = ph__off_malloc(h, 1024);
  EXPECT(ph__off_malloc(h, 64 * 1024) > 0); /* a large run above: cur is not the top */
  EXPECT_EQ(h->small_run_pages, 3u * cl->run_pages);
  uint32_t run3 = (uint32_t)(offs[n - 1] >> PH_LG_PAGE);
  EXPECT_EQ(h->bins[c].cur, run3);
  for (unsigned i = 0; i < cl->nregs; i++) EXPECT_EQ(ph__off_free(h, offs[i]), 0); /* run 1 empties */
  EXPECT_EQ(h->small_run_pages, 2u * cl->run_pages);
  for (unsigned i = cl->nregs * 2u; i < n; i++) EXPECT_EQ(ph__off_free(h, offs[i]), 0); /* cur empties */
  EXPECT_EQ(h->small_run_pages, 2u * cl->run_pages);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
  for (unsigned i = cl->nregs; i < cl->nregs * 2u; i++) EXPECT_EQ(ph__off_free(h, offs[i]), 0);
  EXPECT_EQ(h->small_run_pages, 1u * cl->run_pages);
  EXPECT_EQ(h->bins[c].live, 0);
  EXPECT_EQ(ph__off_malloc(h, 1024), (uint64_t)run3 << PH_LG_PAGE); /* cur serves again from its start */
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(an_empty_cur_leaves_the_top_with_the_free_space_under_it) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  uint32_t empty = h->hwm;
  unsigned c = ph__size2class(1024), d = ph__size2class(48);
  const ph_class *cl = &ph__classes[c];
  uint32_t d_pages = ph__classes[d].run_pages;
  int64_t low = ph__off_malloc(h, 48); /* class d's run at the bottom */
  uint64_t offs[64];
  for (unsigned i = 0; i < cl->nregs * 2u; i++) offs[i] = (uint64_t)ph__off_malloc(h, 1024);
  uint32_t run1 = (uint32_t)(offs[0] >> PH_LG_PAGE), run2 = (uint32_t)(offs[cl->nregs] >> PH_LG_PAGE);
  EXPECT_EQ(run1, empty + d_pages);
  EXPECT_EQ(h->bins[c].cur, run2);
  EXPECT_EQ(h->hwm, run2 + cl->run_pages);
  for (unsigned i = 0; i < cl->nregs; i++) EXPECT_EQ(ph__off_free(h, offs[cl->nregs + i]), 0);
  /* Empty, at the top, on a live run: it stays, so a malloc and free in a
   * loop does not make and unmake a run each time. */
  EXPECT_EQ(h->bins[c].cur, run2);
  EXPECT_EQ(h->hwm, run2 + cl->run_pages);
  EXPECT_EQ(ph__off_malloc(h, 1024), (uint64_t)run2 << PH_LG_PAGE);
  EXPECT_EQ(ph__off_free(h, (uint64_t)run2 << PH_LG_PAGE), 0);
  EXPECT_EQ(h->bins[c].cur, run2);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
  /* run1 empties below it: both go, down to class d's run. */
  for (unsigned i = cl->nregs; i-- > 0;) EXPECT_EQ(ph__off_free(h, offs[i]), 0);
  EXPECT_EQ(h->bins[c].cur, 0);
  EXPECT_EQ(h->bins[c].fresh + h->bins[c].freed, 0);
  EXPECT_EQ(h->hwm, empty + d_pages);
  EXPECT_EQ(h->free_runs, 0);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
  /* An emptied heap keeps one run per bin it used, at the bottom. */
  EXPECT_EQ(ph__off_free(h, (uint64_t)low), 0);
  EXPECT_EQ(h->hwm, empty + d_pages);
  EXPECT_EQ(h->small_run_pages, d_pages);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(double_free_and_interior_are_rejected_for_every_class) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    const ph_class *cl = &ph__classes[c];
    if (!cl->run_pages) continue;
    uint64_t a = ph__off_malloc(h, cl->size), b = ph__off_malloc(h, cl->size);
    REQUIRE(a && b);
    EXPECT_EQ(ph__off_free(h, a + (cl->size > 8 ? 8 : 4)), PH_EBADPTR);
    EXPECT_EQ(ph__off_free(h, a), 0);
    EXPECT_EQ(ph__off_free(h, a), PH_EDOUBLEFREE);
    EXPECT_EQ(ph__off_usable(h, b), cl->size);
    EXPECT_EQ(ph__off_free(h, b), 0);
  }
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(lifo_frees_move_the_bump_back) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(64);
  uint64_t o[10];
  for (int i = 0; i < 10; i++) o[i] = ph__off_malloc(h, 64);
  uint16_t fresh = h->bins[c].fresh;
  EXPECT_EQ(ph__off_free(h, o[9]), 0); /* newest: un-bump through the shortcut */
  EXPECT_EQ(ph__off_free(h, o[8]), 0); /* newest again: un-bump through the map */
  EXPECT_EQ(h->bins[c].fresh, fresh + 2);
  EXPECT_EQ(h->bins[c].freed, 0);
  EXPECT_EQ(ph__off_free(h, o[9]), PH_EDOUBLEFREE); /* never handed out now */
  EXPECT_EQ(ph__off_malloc(h, 64), o[8]);
  EXPECT_EQ(ph__off_malloc(h, 64), o[9]);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(a_bitmap_freed_region_below_the_bump_is_not_freed_twice) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(64);
  uint64_t o[10];
  for (int i = 0; i < 10; i++) o[i] = ph__off_malloc(h, 64);
  EXPECT_EQ(ph__off_free(h, o[8]), 0); /* not the newest: into the bitmap */
  EXPECT_EQ(h->bins[c].freed, 1);
  EXPECT_EQ(ph__off_free(h, o[9]), 0); /* the newest: un-bump; o[8] is now just below the bump */
  EXPECT_EQ(ph__off_free(h, o[8]), PH_EDOUBLEFREE);
  EXPECT_EQ(h->bins[c].freed, 1);
  EXPECT_EQ(h->bins[c].live, 8);
  EXPECT_EQ(ph__off_malloc(h, 64), o[8]); /* freed regions go first, lowest first */
  EXPECT_EQ(ph__off_malloc(h, 64), o[9]);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(a_run_that_straddles_two_map_leaves_works) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(3584);
  const ph_class *cl = &ph__classes[c];
  REQUIRE(cl->run_pages > 1);
  uint32_t chunk = 1u << h->lg_chunk;
  /* Free pages that span the first chunk boundary: a 20-page block over it
   * (its leaf is made first, below it), kept from the top by one more page,
   * then freed. A 5-page block takes the free run's first pages, so the next
   * 7-page run starts 3 pages before the boundary. */
  REQUIRE(ph__off_malloc(h, (size_t)(chunk - 10 - h->hwm) * PH_PAGE_SIZE) != 0);
  uint64_t span = ph__off_malloc(h, 20 * PH_PAGE_SIZE);
  REQUIRE(span != 0 && ph__off_malloc(h, PH_PAGE_SIZE) != 0);
  REQUIRE(span >> PH_LG_PAGE < chunk && (span >> PH_LG_PAGE) + 20 > chunk);
  EXPECT_EQ(ph__off_free(h, span), 0);
  REQUIRE(ph__off_malloc(h, 5 * PH_PAGE_SIZE) == (int64_t)span);
  uint64_t regs[16];
  for (unsigned i = 0; i < cl->nregs; i++) regs[i] = ph__off_malloc(h, 3584);
  uint32_t run = (uint32_t)(regs[0] >> PH_LG_PAGE);
  REQUIRE(run < chunk && run + (uint32_t)cl->run_pages > chunk); /* it straddles */
  REQUIRE(h->nleaves >= 2);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
  for (unsigned i = 0; i < cl->nregs; i++) EXPECT_EQ(ph__off_usable(h, regs[i]), 3584);
  EXPECT_EQ(ph__off_free(h, regs[cl->nregs - 2]), 0); /* a region in the second leaf */
  EXPECT_EQ(ph__off_free(h, regs[cl->nregs - 2]), PH_EDOUBLEFREE);
  EXPECT_EQ(ph__off_free(h, regs[cl->nregs - 2] + 8), PH_EBADPTR);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
  for (unsigned i = 0; i < cl->nregs; i++)
    if (i != cl->nregs - 2u) EXPECT_EQ(ph__off_free(h, regs[i]), 0);
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST(failures_are_results_that_record_nothing) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  EXPECT_EQ(ph_heap_grow(h, 0), PH_ESIZE); /* the last error, which no internal call may change */
  EXPECT_EQ(ph__off_malloc(h, SIZE_MAX / 2 + 1), PH_ENOMEM); /* far beyond any region, on 32-bit size_t too */
  EXPECT_EQ(ph__off_calloc(h, SIZE_MAX, 2), PH_ENOMEM);
  EXPECT_EQ(ph__off_aligned(h, 3, 8), PH_EINVAL);
  EXPECT_EQ(ph__off_free(h, 8), PH_EBADPTR);
  EXPECT_EQ(ph__off_usable(h, 8), PH_EBADPTR);
  EXPECT_EQ(ph__off_realloc(h, 8, 16), PH_EBADPTR);
  /* a bin whose list names a run that is no small run of its class */
  unsigned c = ph__size2class(64);
  const ph_class *cl = &ph__classes[c];
  for (unsigned i = 0; i < cl->nregs; i++) REQUIRE(ph__off_malloc(h, 64) > 0);
  REQUIRE(h->bins[c].fresh == 0 && h->bins[c].freed == 0); /* the next one needs another run */
  int64_t large = ph__off_malloc(h, 4 * PH_PAGE_SIZE);
  REQUIRE(large > 0);
  h->bins[c].head = h->bins[c].tail = (uint32_t)(large >> PH_LG_PAGE);
  EXPECT_EQ(ph__off_malloc(h, 64), PH_ECORRUPT);
  EXPECT_EQ(ph_last_error(), PH_ESIZE);
  /* the entry point records the code of its own failure */
  EXPECT_EQ(ph_off_malloc(h, 64), PH_ECORRUPT);
  EXPECT_EQ(ph_last_error(), PH_ECORRUPT);
  EXPECT_EQ(ph_heap_grow(h, 0), PH_ESIZE);
  EXPECT(ph_heap_malloc(h, 64) == NULL && ph_last_error() == PH_ECORRUPT);
  h->bins[c].head = h->bins[c].tail = 0;
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST_MAIN()
