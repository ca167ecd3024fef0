/* unit_pagemap.c - ph_heap_page_map against what the allocator handed out,
 * and over damaged copies of a heap (every result a page count or a code,
 * nothing written past the arrays). */
#include "internal.h"
#include "harness.h"
#include "fixture.h"

#define MiB ((size_t)1 << 20)
#define SIZE (8 * MiB)
#define NPAGES (SIZE >> PH_LG_PAGE)
#define GUARD 64 /* bytes after each array that must stay untouched */

static uint8_t kinds[NPAGES + GUARD], classes[NPAGES + GUARD];
static uint16_t live[NPAGES + GUARD];

static void fill_guards(void) {
  memset(kinds, 0xA5, sizeof kinds);
  memset(classes, 0xA5, sizeof classes);
  for (size_t i = 0; i < NPAGES + GUARD; i++) live[i] = 0xA5A5;
}

static int guards_intact(size_t from) {
  for (size_t i = from; i < NPAGES + GUARD; i++)
    if (kinds[i] != 0xA5 || classes[i] != 0xA5 || live[i] != 0xA5A5) return 0;
  return 1;
}

/* A heap holding small regions of several classes (some freed), large runs
 * with free runs between them, a scratch chunk and a second map leaf. */
static ph_heap_t *populated(void **base) {
  ph_heap_t *h = fixture_heap(SIZE, 0, base);
  if (!h) return NULL;
  static void *small[2000];
  size_t sizes[] = {8, 24, 100, 160, 320, 1000, 3000, 10000};
  int n = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int i = 0; i < 200; i++) small[n++] = ph_heap_malloc(h, sizes[s]);
  for (int i = 0; i < n; i += 3) ph_heap_free(h, small[i]);
  void *l[6];
  uint32_t pages[] = {40, 5, 60, 3, 1, 7};
  for (int i = 0; i < 6; i++) l[i] = ph_heap_malloc(h, (size_t)pages[i] << PH_LG_PAGE);
  for (int i = 0; i < 6; i += 2) ph_heap_free(h, l[i]);
  if (!ph_heap_malloc(h, (size_t)600 << PH_LG_PAGE)) return NULL; /* reaches the second chunk: two leaves */
  if (!ph_scratch_alloc(h, 100)) return NULL;
  return h;
}

typedef struct model {
  const ph_heap_t *h;
  int mismatches;
  uint64_t count, bytes;
} model;

/* Each allocation the walk reports lies in a run the map describes as its kind. */
static int visit(void *arg, uint64_t off, uint64_t size) {
  model *m = arg;
  uint32_t p = (uint32_t)(off >> PH_LG_PAGE);
  uint8_t k = kinds[p] & (uint8_t)~PH_PAGEMAP_RUN_HEAD;
  if (size > PH_SMALL_MAX || size % PH_PAGE_SIZE == 0) {
    if (!(kinds[p] & PH_PAGEMAP_RUN_HEAD) || k != PH_PAGEMAP_LARGE || off % PH_PAGE_SIZE || live[p] != 1) m->mismatches++;
    for (uint64_t q = p + 1; q < p + size / PH_PAGE_SIZE; q++)
      if (kinds[q] != PH_PAGEMAP_LARGE) m->mismatches++;
  } else if (k != PH_PAGEMAP_SMALL || ph__classes[classes[p]].size != size) {
    m->mismatches++;
  }
  m->count++;
  m->bytes += size;
  return 0;
}

TEST(page_map_agrees_with_the_walk_and_the_stats) {
  void *base;
  ph_heap_t *h = populated(&base);
  REQUIRE(h);
  fill_guards();
  EXPECT_EQ(ph_heap_page_map(h, SIZE, NPAGES, kinds, classes, live), NPAGES);
  EXPECT(guards_intact(NPAGES));
  model m = {h, 0, 0, 0};
  EXPECT_EQ(ph_heap_walk(h, visit, &m), 0);
  EXPECT_EQ(m.mismatches, 0);
  ph_stats_t s;
  REQUIRE(ph_heap_stats(h, &s) == 0);
  EXPECT_EQ(m.count, s.live_count);
  uint64_t heads_live = 0, small_bytes = 0, large_bytes = 0, free_pages = 0, free_runs = 0, meta = 0, scratch = 0;
  uint64_t touched = 0, untouched = 0;
  for (uint32_t p = 0; p < NPAGES; p++) {
    uint8_t k = kinds[p] & (uint8_t)~PH_PAGEMAP_RUN_HEAD;
    int head = (kinds[p] & PH_PAGEMAP_RUN_HEAD) != 0;
    EXPECT(head || live[p] == 0);
    EXPECT((k == PH_PAGEMAP_SMALL) == (classes[p] != PH_PAGEMAP_NO_CLASS));
    heads_live += live[p];
    if (head && k == PH_PAGEMAP_SMALL) small_bytes += (uint64_t)live[p] * ph__classes[classes[p]].size;
    large_bytes += k == PH_PAGEMAP_LARGE ? PH_PAGE_SIZE : 0;
    free_pages += k == PH_PAGEMAP_FREE;
    free_runs += head && k == PH_PAGEMAP_FREE;
    meta += k == PH_PAGEMAP_HEADER || k == PH_PAGEMAP_LEAF;
    scratch += k == PH_PAGEMAP_SCRATCH;
    touched += k == PH_PAGEMAP_TOUCHED;
    untouched += k == PH_PAGEMAP_UNTOUCHED;
    EXPECT((p < h->hwm) == (k != PH_PAGEMAP_TOUCHED && k != PH_PAGEMAP_UNTOUCHED));
  }
  EXPECT_EQ(heads_live, s.live_count);
  EXPECT_EQ(small_bytes + large_bytes, s.live_bytes);
  EXPECT_EQ(free_pages * PH_PAGE_SIZE, s.free_bytes);
  EXPECT_EQ(free_runs, s.free_runs);
  EXPECT_EQ(meta * PH_PAGE_SIZE, s.meta_bytes);
  EXPECT(scratch > 0);
  EXPECT_EQ(touched * PH_PAGE_SIZE, s.touched_bytes - s.used_bytes);
  EXPECT_EQ(untouched * PH_PAGE_SIZE, s.region_bytes - s.touched_bytes);
  EXPECT_EQ(kinds[0], PH_PAGEMAP_HEADER | PH_PAGEMAP_RUN_HEAD);
  EXPECT_EQ(kinds[PH_HEADER_PAGES], PH_PAGEMAP_LEAF | PH_PAGEMAP_RUN_HEAD);
  ph_region_unmap(base, SIZE);
}

TEST(a_short_array_gets_the_page_count_and_nothing_written) {
  void *base;
  ph_heap_t *h = populated(&base);
  REQUIRE(h);
  fill_guards();
  EXPECT_EQ(ph_heap_page_map(h, SIZE, NPAGES - 1, kinds, classes, live), NPAGES);
  EXPECT_EQ(ph_heap_page_map(h, SIZE, 0, NULL, NULL, NULL), NPAGES);
  EXPECT(guards_intact(0));
  ph_region_unmap(base, SIZE);
}

TEST(bad_arguments_and_short_bytes_are_codes) {
  void *base;
  ph_heap_t *h = populated(&base);
  REQUIRE(h);
  EXPECT_EQ(ph_heap_page_map(NULL, SIZE, NPAGES, kinds, classes, live), PH_EINVAL);
  EXPECT_EQ(ph_heap_page_map((char *)h + 4, SIZE, NPAGES, kinds, classes, live), PH_EINVAL);
  EXPECT_EQ(ph_heap_page_map(h, SIZE, NPAGES, NULL, classes, live), PH_EINVAL);
  EXPECT_EQ(ph_heap_page_map(h, 100, NPAGES, kinds, classes, live), PH_ECORRUPT);
  EXPECT_EQ(ph_heap_page_map(h, ((size_t)h->hwm << PH_LG_PAGE) - 1, NPAGES, kinds, classes, live), PH_ESIZE);
  EXPECT_EQ(ph_heap_page_map(h, (size_t)h->hwm << PH_LG_PAGE, NPAGES, kinds, classes, live), NPAGES);
  ph_region_unmap(base, SIZE);
}

TEST(size_classes_list_the_table) {
  uint32_t out[3 * PH_NCLASSES];
  EXPECT_EQ(ph_size_classes(NULL, 0), PH_NCLASSES);
  EXPECT_EQ(ph_size_classes(NULL, 1), PH_EINVAL);
  EXPECT_EQ(ph_size_classes(out, PH_NCLASSES), PH_NCLASSES);
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    EXPECT_EQ(out[3 * c], ph__classes[c].size);
    EXPECT_EQ(out[3 * c + 1], ph__classes[c].run_pages);
    EXPECT_EQ(out[3 * c + 2], ph__classes[c].nregs);
  }
}

/* A run head whose length runs past hwm, and one of another kind, are
 * PH_ECORRUPT before any page of them is written. */
TEST(a_run_past_hwm_or_a_body_where_a_head_must_be_is_corrupt) {
  void *base;
  ph_heap_t *h = populated(&base);
  REQUIRE(h);
  size_t used = (size_t)h->hwm << PH_LG_PAGE;
  uint8_t *copy = ph_image_alloc(used, 0);
  REQUIRE(copy);
  uint32_t large = 0;
  for (uint32_t p = h->base_pages; p < h->hwm; p += ph__kind(ph__page(h, p)) == PH_PK_SMALL ? ph__classes[PH_INFO_CLASS(ph__page(h, p)->info)].run_pages : ph__page(h, p)->size)
    if (ph__kind(ph__page(h, p)) == PH_PK_LARGE) large = p;
  REQUIRE(large);
  uint32_t sizes[] = {h->hwm - large + 1, 0xFFFFFFF0u, 0};
  for (int i = 0; i < 3; i++) {
    memcpy(copy, h, used);
    ph__page((ph_heap_t *)copy, large)->size = sizes[i];
    fill_guards();
    EXPECT_EQ(ph_heap_page_map(copy, used, NPAGES, kinds, classes, live), PH_ECORRUPT);
    EXPECT(guards_intact(NPAGES));
  }
  memcpy(copy, h, used);
  ph__page((ph_heap_t *)copy, large)->info = PH_INFO(PH_PK_SMALL_BODY, 0, 0, 0);
  EXPECT_EQ(ph_heap_page_map(copy, used, NPAGES, kinds, classes, live), PH_ECORRUPT);
  ph_image_free(copy, used);
  ph_region_unmap(base, SIZE);
}

/* Damaged copies of the used prefix (places chosen from the intact heap): random words of the map leaves, the
 * bins and the header's sizes overwritten. Each call returns the page count
 * or a code; no byte past the arrays is written, whatever the damage. */
TEST(damaged_copies_give_a_count_or_a_code) {
  void *base;
  ph_heap_t *h = populated(&base);
  REQUIRE(h);
  size_t used = (size_t)h->hwm << PH_LG_PAGE;
  uint8_t *copy = ph_image_alloc(used, 0);
  REQUIRE(copy);
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  test_seed = seed;
  int walked = 0, refused = 0;
  for (int round = 0; round < 3000; round++) {
    memcpy(copy, h, used);
    int hits = 1 + (int)(test_random(&seed) % 4);
    for (int i = 0; i < hits; i++) {
      uint64_t r = test_random(&seed);
      size_t at;
      switch (r % 4) {
      case 0: /* one word of the entry of a page below hwm in leaf 0: heads, bodies, tails */
        at = ((size_t)h->dir[0] << PH_LG_PAGE) + ((r >> 8) % (1u << h->lg_chunk)) * sizeof(ph_page) + 4 * ((r >> 40) % 4);
        break;
      case 1: at = ((size_t)h->dir[1] << PH_LG_PAGE) + (r >> 8) % 4096; break;
      case 2: at = offsetof(struct ph_heap, bins) + (r >> 8) % sizeof h->bins; break;
      default: at = (r >> 8) % offsetof(struct ph_heap, bins); break;
      }
      at &= ~(size_t)3;
      uint32_t v = (uint32_t)(test_random(&seed) >> 17);
      memcpy(copy + at, &v, 4);
    }
    fill_guards();
    int64_t got = ph_heap_page_map(copy, used, NPAGES, kinds, classes, live);
    EXPECT(got == (int64_t)NPAGES || (got < 0 && got >= PH_ECODE_MIN) || (got > (int64_t)NPAGES && guards_intact(0)));
    size_t written = got > 0 && got <= (int64_t)NPAGES ? (size_t)got : 0;
    EXPECT(guards_intact(written ? written : NPAGES));
    if (got == (int64_t)NPAGES) walked++;
    else refused++;
  }
  EXPECT(walked > 0);
  EXPECT(refused > 0);
  ph_image_free(copy, used);
  ph_region_unmap(base, SIZE);
}

TEST_MAIN()
