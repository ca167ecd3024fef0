/* unit_sizeclass.c - the class table follows its rule and the index math is exact. */
#include "internal.h"
#include "harness.h"

/* The rule of tools/gen-sizeclasses.py, restated. */
static void layout(uint32_t size, uint32_t k, uint32_t *nregs, uint32_t *words, uint32_t *waste) {
  uint32_t run = k * PH_PAGE_SIZE, n = run / size;
  if (n <= 32) {
    *nregs = n, *words = 0, *waste = run - n * size;
    return;
  }
  if (n > PH_MAX_RUN_REGS) n = PH_MAX_RUN_REGS;
  while (n * size + (n + 63) / 64 * 8 > run) n--;
  *nregs = n, *words = (n + 63) / 64, *waste = run - n * size;
}

TEST(table_follows_the_rule) {
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    const ph_class *cl = &ph__classes[c];
    if (cl->size % PH_PAGE_SIZE == 0) {
      EXPECT_EQ(cl->run_pages, 0);
      continue;
    }
    uint32_t best_k = 0, best_n = 0, best_w = 0;
    double best = 2.0;
    for (uint32_t k = 1; k <= 16; k++) {
      uint32_t n, w, waste;
      layout(cl->size, k, &n, &w, &waste);
      if (n == 0) continue;
      double ratio = (double)waste / (k * PH_PAGE_SIZE);
      if (ratio <= 1.0 / 64) { best_k = k, best_n = n, best_w = w; break; }
      if (ratio < best) best = ratio, best_k = k, best_n = n, best_w = w;
    }
    EXPECT_EQ(cl->run_pages, best_k);
    EXPECT_EQ(cl->nregs, best_n);
    EXPECT_EQ(cl->bm_words, best_w);
    EXPECT(cl->nregs >= 2); /* "was full" and "now empty" never coincide */
    EXPECT_EQ(cl->align, (cl->size & -cl->size) < PH_PAGE_SIZE ? (cl->size & -cl->size) : PH_PAGE_SIZE);
    EXPECT((uint64_t)cl->nregs * cl->size + cl->bm_words * 8u <= (uint64_t)cl->run_pages * PH_PAGE_SIZE);
  }
}

TEST(classes_grow_at_most_25_percent_above_32_bytes) {
  for (unsigned c = 1; c < PH_NCLASSES; c++) {
    EXPECT(ph__classes[c].size > ph__classes[c - 1].size);
    if (ph__classes[c - 1].size >= 32) EXPECT(ph__classes[c].size * 4 <= ph__classes[c - 1].size * 5);
  }
  EXPECT(ph__classes[PH_NCLASSES - 1].size >= PH_SMALL_MAX);
}

TEST(size2class_is_the_smallest_fitting_class) {
  for (size_t n = 0; n <= 16384; n++) {
    unsigned c = ph__size2class(n);
    if (c >= PH_NCLASSES || ph__classes[c].size < n || (c > 0 && ph__classes[c - 1].size >= (n ? n : 1))) {
      printf("#   n=%zu gives class %u\n", n, c);
      EXPECT(0);
      return;
    }
  }
}

TEST(lookup_table_agrees_with_size2class) {
  for (size_t n = 0; n <= PH_LOOKUP_MAX; n++) {
    if (ph__lookup[(n + 7) >> 3] != ph__size2class(n)) {
      printf("#   n=%zu: table %u, formula %u\n", n, ph__lookup[(n + 7) >> 3], ph__size2class(n));
      EXPECT(0);
      return;
    }
  }
  for (unsigned c = 0; c <= ph__size2class(PH_LOOKUP_MAX); c++) EXPECT(ph__classes[c].run_pages != 0);
}

TEST(region_index_by_reciprocal_is_exact) {
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    const ph_class *cl = &ph__classes[c];
    if (!cl->run_pages) continue;
    uint64_t run = (uint64_t)cl->run_pages * PH_PAGE_SIZE;
    for (uint64_t d = 0; d < run; d += 8) {
      uint64_t q = (d * cl->div_magic) >> 32;
      if (q != d / cl->size) {
        EXPECT(!"reciprocal division exact within a run");
        return;
      }
    }
  }
}

TEST_MAIN()
