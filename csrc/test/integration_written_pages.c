/*
 * integration_written_pages.c - the written-page tracker of the public API
 * (ph_tracker_*) over a heap's region, and ph_pages_diff_list, which turns
 * a tracker's report into the pages whose bytes changed. Where the system
 * has no tracker (or the kernel refuses one), starting one is PH_EIO and
 * the cases that need one are skipped with the reason.
 */
#define _DEFAULT_SOURCE 1
#include "harness.h"
#include "fixture.h"

#include <stdbool.h>
#include <string.h>

#define SIZE ((size_t)4 << 20)
#define PAGES ((uint32_t)(SIZE / PH_PAGE_SIZE))

static char refusal[96];

/* A heap and a tracker over its region, every page covered by one take. */
static ph_tracker_t *tracked_heap(void **base) {
  ph_heap_t *h = fixture_heap(SIZE, 0, base);
  if (!h) return NULL;
  ph_tracker_t *t = ph_tracker_start(*base, SIZE);
  if (!t) {
    snprintf(refusal, sizeof refusal, "no tracker here (code %d, system error %d)", ph_last_error(), ph_last_os_error());
    return NULL;
  }
  static uint32_t all[PAGES];
  (void)ph_tracker_take(t, 0, PAGES, all, PAGES, 0);
  return t;
}

#define TRACKED_OR_SKIP(t, base)         \
  void *base = NULL;                     \
  ph_tracker_t *t = tracked_heap(&base); \
  if (!t) {                              \
    if (base) ph_region_unmap(base, SIZE); \
    TEST_SKIP(refusal);                  \
  }

TEST(a_take_reports_the_heap_pages_written_and_nothing_else) {
  TRACKED_OR_SKIP(t, base);
  static uint32_t got[PAGES];
  unsigned char *b = base;
  const uint32_t pages[] = {3, 4, 200, 201, 777, PAGES - 1};
  for (unsigned i = 0; i < sizeof pages / sizeof pages[0]; i++) b[(size_t)pages[i] * PH_PAGE_SIZE + 100] ^= 0x5a;
  int n = ph_tracker_take(t, 0, PAGES, got, PAGES, 0);
  REQUIRE(n == (int)(sizeof pages / sizeof pages[0]));
  for (int i = 0; i < n; i++) EXPECT_EQ(got[i], pages[i]);
  EXPECT_EQ(ph_tracker_take(t, 0, PAGES, got, PAGES, 0), 0);
  ph_tracker_stop(t);
  ph_region_unmap(base, SIZE);
}

TEST(allocator_calls_are_writes_the_tracker_sees) {
  TRACKED_OR_SKIP(t, base);
  static uint32_t got[PAGES];
  ph_heap_t *h = base;
  double off = ph_off_malloc(h, 100000); /* several pages: the header and the run's map change */
  REQUIRE(off > 0);
  memset((char *)base + (size_t)off, 1, 100000);
  int n = ph_tracker_take(t, 0, PAGES, got, PAGES, 0);
  uint32_t first = (uint32_t)((size_t)off / PH_PAGE_SIZE), last = (uint32_t)(((size_t)off + 99999) / PH_PAGE_SIZE);
  REQUIRE(n >= (int)(last - first + 1));
  bool header = false;
  int seen = 0;
  for (int i = 0; i < n; i++) {
    header |= got[i] == 0;
    seen += got[i] >= first && got[i] <= last;
  }
  EXPECT(header);
  EXPECT_EQ(seen, (int)(last - first + 1));
  ph_tracker_stop(t);
  ph_region_unmap(base, SIZE);
}

TEST(a_take_cut_at_max_goes_on_from_the_next_page_without_losing_any) {
  TRACKED_OR_SKIP(t, base);
  unsigned char *b = base;
  for (uint32_t p = 10; p < 30; p++) b[(size_t)p * PH_PAGE_SIZE] = 1;
  uint32_t got[3], from = 0, total = 0, expect = 10;
  for (;;) {
    int n = ph_tracker_take(t, from, PAGES, got, 3, 0);
    REQUIRE(n >= 0 && n <= 3);
    for (int i = 0; i < n; i++) EXPECT_EQ(got[i], expect++);
    total += (uint32_t)n;
    if (n < 3) break;
    from = got[n - 1] + 1;
  }
  EXPECT_EQ(total, 20u);
  ph_tracker_stop(t);
  ph_region_unmap(base, SIZE);
}

TEST(a_take_with_keep_reports_pages_that_stay_written_until_a_take_without) {
  TRACKED_OR_SKIP(t, base);
  static uint32_t got[PAGES];
  unsigned char *b = base;
  b[(size_t)40 * PH_PAGE_SIZE] = 1;
  REQUIRE(ph_tracker_take(t, 0, PAGES, got, PAGES, PH_TAKE_KEEP) == 1);
  EXPECT_EQ(got[0], 40u);
  b[(size_t)41 * PH_PAGE_SIZE] = 1;
  REQUIRE(ph_tracker_take(t, 0, PAGES, got, PAGES, PH_TAKE_KEEP) == 2); /* 40 again, and 41 */
  EXPECT_EQ(got[0], 40u);
  EXPECT_EQ(got[1], 41u);
  REQUIRE(ph_tracker_take(t, 0, PAGES, got, PAGES, 0) == 2);
  EXPECT_EQ(ph_tracker_take(t, 0, PAGES, got, PAGES, 0), 0);
  ph_tracker_stop(t);
  ph_region_unmap(base, SIZE);
}

TEST(bad_arguments_are_einval) {
  TRACKED_OR_SKIP(t, base);
  uint32_t got[4];
  EXPECT_EQ(ph_tracker_take(t, 5, 4, got, 4, 0), PH_EINVAL);
  EXPECT_EQ(ph_tracker_take(t, 0, PAGES + 1, got, 4, 0), PH_EINVAL);
  EXPECT_EQ(ph_tracker_take(t, 0, PAGES, NULL, 4, 0), PH_EINVAL);
  EXPECT_EQ(ph_tracker_take(NULL, 0, 1, got, 4, 0), PH_EINVAL);
  EXPECT_EQ(ph_tracker_take(t, 0, PAGES, got, 4, 2), PH_EINVAL); /* an unknown flag */
  EXPECT_EQ(ph_tracker_kind(NULL), PH_EINVAL);
#if defined(_WIN32)
  EXPECT_EQ(ph_tracker_kind(t), PH_TRACK_WRITE_WATCH);
#else
  EXPECT_EQ(ph_tracker_kind(t), PH_TRACK_USERFAULTFD);
#endif
  EXPECT(ph_tracker_start(NULL, SIZE) == NULL);
  EXPECT_EQ(ph_last_error(), PH_EINVAL);
  EXPECT(ph_tracker_start((char *)base + 1, SIZE) == NULL);
  EXPECT_EQ(ph_last_error(), PH_EINVAL);
  ph_tracker_stop(NULL);
  ph_tracker_stop(t);
  ph_region_unmap(base, SIZE);
}

#if !defined(__linux__) && !defined(_WIN32)
TEST(without_a_tracker_starting_one_is_eio_with_the_system_reason) {
  void *base = NULL;
  REQUIRE(fixture_heap(SIZE, 0, &base) != NULL);
  EXPECT(ph_tracker_start(base, SIZE) == NULL);
  EXPECT_EQ(ph_last_error(), PH_EIO);
  EXPECT(ph_last_os_error() != 0);
  ph_region_unmap(base, SIZE);
}
#endif

TEST(diff_pairs_keeps_the_listed_pages_whose_bytes_differ_in_place) {
  static unsigned char a[8 * PH_PAGE_SIZE], b[8 * PH_PAGE_SIZE];
  memset(a, 7, sizeof a);
  memcpy(b, a, sizeof a);
  b[2 * PH_PAGE_SIZE + 4095] = 0;
  b[5 * PH_PAGE_SIZE] = 0;
  b[6 * PH_PAGE_SIZE + 9] = 0; /* differs but is not listed */
  uint32_t list[] = {1, 2, 3, 5, 7};
  int n = ph_pages_diff_pairs(a, b, list, list, 5, list);
  REQUIRE(n == 2);
  EXPECT_EQ(list[0], 2u);
  EXPECT_EQ(list[1], 5u);
  /* Pairs: page 1 of a against page 5 of b (differs), page 3 against 4 (equal). */
  uint32_t from_a[] = {1, 3}, from_b[] = {5, 4}, out[2];
  REQUIRE(ph_pages_diff_pairs(a, b, from_a, from_b, 2, out) == 1);
  EXPECT_EQ(out[0], 1u);
  EXPECT_EQ(ph_pages_diff_pairs(a, b, list, list, 0, NULL), 0);
  EXPECT_EQ(ph_pages_diff_pairs(NULL, b, list, list, 1, list), PH_EINVAL);
  EXPECT_EQ(ph_pages_diff_pairs(a, b, list, NULL, 1, list), PH_EINVAL);
  EXPECT_EQ(ph_pages_diff_pairs(a, b, list, list, 1, NULL), PH_EINVAL);
}

TEST_MAIN()
