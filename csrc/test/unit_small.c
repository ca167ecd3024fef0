/* unit_small.c - bins: lowest-address preference, run release, cur kept. */
#include "internal.h"
#include "harness.h"
#include <sys/mman.h>

static ph_heap_t *make(size_t size) {
  void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return base == MAP_FAILED ? NULL : ph_heap_init(base, size, PH_REGION_ZEROED);
}

TEST(regions_fill_runs_in_address_order) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(48);
  const ph_class *cl = &ph__classes[c];
  uint64_t prev = 0;
  for (unsigned i = 0; i < cl->nregs * 3u; i++) {
    uint64_t off = ph__malloc(h, 48);
    EXPECT(off > prev);
    prev = off;
  }
  EXPECT_EQ(h->small_run_pages, 3u * cl->run_pages);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(a_freed_region_in_a_lower_run_is_reused_first) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(64);
  const ph_class *cl = &ph__classes[c];
  uint64_t first = ph__malloc(h, 64), off = 0;
  for (unsigned i = 1; i < cl->nregs * 2u + 1; i++) off = ph__malloc(h, 64); /* run 3 is cur */
  EXPECT(off != 0);
  uint64_t victim = first + 5 * 64;
  EXPECT_EQ(ph__free(h, victim), 0); /* run 1 was full: it becomes cur, lower than run 3 */
  EXPECT_EQ(ph__malloc(h, 64), victim);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(empty_runs_go_back_but_cur_stays) {
  ph_heap_t *h = make(8u << 20);
  REQUIRE(h);
  unsigned c = ph__size2class(1024);
  const ph_class *cl = &ph__classes[c];
  uint64_t offs[64];
  unsigned n = cl->nregs * 3u;
  for (unsigned i = 0; i < n; i++) offs[i] = ph__malloc(h, 1024);
  EXPECT_EQ(h->small_run_pages, 3u * cl->run_pages);
  uint32_t run1 = (uint32_t)(offs[0] >> PH_LG_PAGE);
  /* run 1 was full; its first free makes it cur (it is lower than run 3) */
  for (unsigned i = 0; i < cl->nregs; i++) EXPECT_EQ(ph__free(h, offs[i]), 0);
  EXPECT_EQ(h->bins[c].cur, run1);
  EXPECT_EQ(h->small_run_pages, 3u * cl->run_pages); /* empty, but cur: kept */
  for (unsigned i = cl->nregs * 2u; i < n; i++) EXPECT_EQ(ph__free(h, offs[i]), 0); /* run 3 empties */
  EXPECT_EQ(h->small_run_pages, 2u * cl->run_pages);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
  for (unsigned i = cl->nregs; i < cl->nregs * 2u; i++) EXPECT_EQ(ph__free(h, offs[i]), 0);
  EXPECT_EQ(h->small_run_pages, 1u * cl->run_pages);
  EXPECT_EQ(ph__malloc(h, 1024), offs[0]); /* cur serves again from its start */
  EXPECT_EQ(ph__free(h, offs[0]), 0);
  EXPECT_EQ(h->live_count, 0);
  EXPECT(ph_heap_check(h, 8u << 20) == 0);
}

TEST(double_free_and_interior_are_rejected_for_every_class) {
  ph_heap_t *h = make(16u << 20);
  REQUIRE(h);
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    const ph_class *cl = &ph__classes[c];
    if (!cl->run_pages) continue;
    uint64_t a = ph__malloc(h, cl->size), b = ph__malloc(h, cl->size);
    REQUIRE(a && b);
    EXPECT_EQ(ph__free(h, a + (cl->size > 8 ? 8 : 4)), PH_EBADPTR);
    EXPECT_EQ(ph__free(h, a), 0);
    EXPECT_EQ(ph__free(h, a), PH_EDOUBLEFREE);
    EXPECT_EQ(ph__usable(h, b), cl->size);
    EXPECT_EQ(ph__free(h, b), 0);
  }
  EXPECT(ph_heap_check(h, 16u << 20) == 0);
}

TEST_MAIN()
