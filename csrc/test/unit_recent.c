/* unit_recent.c - the bins' stacks of recently freed regions: reuse order,
 * exact validation of frees, runs that empty, reset, zero mode, damage. */
#include "internal.h"
#include "harness.h"

#define SIZE ((size_t)8 << 20)

static ph_heap_t *make(unsigned flags) {
  void *base = ph_region_map_anon(SIZE);
  return base ? ph_heap_init(base, SIZE, PH_REGION_ZEROED | flags) : NULL;
}

static void drop(ph_heap_t *h) { ph_region_unmap(h, SIZE); }

/* Fill `runs` runs of 64-byte regions and the whole of cur after them, so
 * the next allocation of the class goes past cur's fresh part. Returns the
 * offset of the first region; *cur_off the offset of cur's first. */
static uint64_t fill_64(ph_heap_t *h, unsigned runs, uint64_t *cur_off) {
  const ph_class *cl = &ph__classes[ph__size2class(64)];
  uint64_t first = (uint64_t)ph__off_malloc(h, 64);
  for (unsigned i = 1; i < cl->nregs * (runs + 1u); i++) ph__off_malloc(h, 64);
  *cur_off = first + (uint64_t)runs * cl->run_pages * PH_PAGE_SIZE;
  return first;
}

/* The used prefix, to compare before and after a call that must change nothing. */
static unsigned char *copy_used(const ph_heap_t *h, size_t *n) {
  *n = ph_heap_used_bytes(h);
  unsigned char *c = malloc(*n);
  if (c) memcpy(c, h, *n);
  return c;
}

TEST(a_free_outside_cur_is_handed_out_next_newest_first) {
  ph_heap_t *h = make(0);
  REQUIRE(h);
  uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
  unsigned c = ph__size2class(64);
  EXPECT_EQ(ph__off_free(h, run1 + 10 * 64), 0);
  EXPECT_EQ(ph__off_free(h, run1 + 70 * 64), 0); /* the second run */
  EXPECT_EQ(ph__small_recent_count(h, c), 2);
  EXPECT_EQ(h->bins[c].head, 0); /* neither run is on the list: their counts leave stacked regions out */
  EXPECT(ph_heap_check(h, SIZE) == 0);
  EXPECT_EQ(ph__off_malloc(h, 64), run1 + 70 * 64);
  EXPECT_EQ(ph__off_malloc(h, 64), run1 + 10 * 64);
  EXPECT_EQ(ph__small_recent_count(h, c), 0);
  EXPECT(ph_heap_check(h, SIZE) == 0);
  drop(h);
}

static int count_visits_of(void *arg, uint64_t off, uint64_t size) {
  (void)size;
  struct { uint64_t x; int seen; } *w = arg;
  w->seen += off == w->x;
  return 0;
}

TEST(a_stacked_region_is_free_to_every_check_and_a_second_free_changes_nothing) {
  ph_heap_t *h = make(0);
  REQUIRE(h);
  uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
  uint64_t x = run1 + 5 * 64;
  EXPECT_EQ(ph__off_free(h, x), 0);
  size_t n;
  unsigned char *before = copy_used(h, &n);
  REQUIRE(before);
  EXPECT_EQ(ph__off_free(h, x), PH_EDOUBLEFREE);
  EXPECT_EQ(ph__off_free(h, x + 8), PH_EBADPTR);
  EXPECT_EQ(ph__off_usable(h, x), PH_EDOUBLEFREE);
  EXPECT_EQ(ph__off_realloc(h, x, 100), PH_EDOUBLEFREE);
  EXPECT(ph_heap_used_bytes(h) == n && memcmp(before, h, n) == 0);
  free(before);
  struct { uint64_t x; int seen; } w = {x, 0};
  EXPECT_EQ(ph_heap_walk(h, count_visits_of, &w), 0);
  EXPECT_EQ(w.seen, 0); /* the walk does not report it */
  EXPECT(ph_heap_check(h, SIZE) == 0);
  drop(h);
}

TEST(the_free_that_empties_a_run_takes_its_stacked_regions_and_releases_it) {
  ph_heap_t *h = make(0);
  REQUIRE(h);
  unsigned c = ph__size2class(64);
  const ph_class *cl = &ph__classes[c];
  uint64_t cur_off, run1 = fill_64(h, 3, &cur_off);
  uint64_t run2 = run1 + (uint64_t)cl->run_pages * PH_PAGE_SIZE;
  EXPECT_EQ(ph__off_free(h, run2), 0); /* another run's region stays stacked */
  for (unsigned i = 0; i < cl->nregs; i++) EXPECT_EQ(ph__off_free(h, run1 + i * 64u), 0);
  EXPECT_EQ(h->small_run_pages, 3u * cl->run_pages); /* run 1 went back */
  EXPECT_EQ(ph__kind(ph__page(h, (uint32_t)(run1 >> PH_LG_PAGE))), PH_PK_FREE);
  EXPECT_EQ(ph__small_recent_count(h, c), 1);
  EXPECT_EQ(ph__small_recent_run(h, c, 0), (uint32_t)(run2 >> PH_LG_PAGE));
  EXPECT(ph_heap_check(h, SIZE) == 0);
  drop(h);
}

TEST(after_random_work_freed_in_any_order_no_region_is_stacked) {
  ph_heap_t *h = make(0);
  REQUIRE(h);
  enum { SLOTS = 2000 };
  static uint64_t live[SLOTS];
  memset(live, 0, sizeof live);
  uint64_t rng = 0x5eed;
  int bad = 0;
  for (unsigned step = 0; step < 40000 && !bad; step++) {
    unsigned i = (unsigned)(test_random(&rng) % SLOTS);
    if (live[i]) {
      bad |= ph__off_free(h, live[i]) != 0;
      live[i] = 0;
    } else {
      int64_t off = ph__off_malloc(h, 1 + test_random(&rng) % 600);
      bad |= off <= 0;
      live[i] = off > 0 ? (uint64_t)off : 0;
    }
    if (step % 2048 == 0) bad |= ph_heap_check(h, SIZE) != 0;
  }
  EXPECT(!bad);
  unsigned stacked = 0;
  for (unsigned c = 0; c < PH_NCLASSES; c++) stacked += ph__small_recent_count(h, c);
  EXPECT(stacked > 0); /* the workload did use the stacks */
  for (unsigned i = 0; i < SLOTS; i++)
    if (live[i]) EXPECT_EQ(ph__off_free(h, live[i]), 0);
  for (unsigned c = 0; c < PH_NCLASSES; c++) EXPECT_EQ(ph__small_recent_count(h, c), 0);
  EXPECT(ph_heap_check(h, SIZE) == 0);
  drop(h);
}

TEST(the_same_operations_give_the_same_bytes) {
  ph_heap_t *a = make(0), *b = make(0);
  REQUIRE(a && b);
  for (int k = 0; k < 2; k++) {
    ph_heap_t *h = k ? b : a;
    static uint64_t live[500];
    memset(live, 0, sizeof live);
    uint64_t rng = 42;
    for (unsigned step = 0; step < 20000; step++) {
      unsigned i = (unsigned)(test_random(&rng) % 500);
      if (live[i]) {
        ph__off_free(h, live[i]);
        live[i] = 0;
      } else {
        int64_t off = ph__off_malloc(h, 1 + test_random(&rng) % 300);
        live[i] = off > 0 ? (uint64_t)off : 0;
      }
    }
  }
  size_t n = ph_heap_used_bytes(a);
  EXPECT_EQ(ph_heap_used_bytes(b), n);
  EXPECT(memcmp(a, b, n) == 0);
  drop(a);
  drop(b);
}

TEST(a_reset_empties_the_stacks) {
  ph_heap_t *h = make(0);
  REQUIRE(h);
  unsigned c = ph__size2class(64);
  uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
  EXPECT_EQ(ph__off_free(h, run1 + 64), 0);
  EXPECT_EQ(ph__small_recent_count(h, c), 1);
  EXPECT_EQ(ph_heap_reset(h), 0);
  EXPECT_EQ(ph__small_recent_count(h, c), 0);
  EXPECT(ph_heap_check(h, SIZE) == 0);
  EXPECT_EQ(ph__off_malloc(h, 64), run1); /* a new first run, not the old stacked region */
  EXPECT(ph_heap_check(h, SIZE) == 0);
  drop(h);
}

TEST(in_zero_mode_nothing_is_stacked_and_a_freed_region_comes_back_zeroed) {
  ph_heap_t *h = make(PH_ZERO_ON_FREE);
  REQUIRE(h);
  uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
  uint64_t x = run1 + 7 * 64;
  memset((char *)h + x, 0xab, 64);
  EXPECT_EQ(ph__off_free(h, x), 0);
  EXPECT_EQ(ph__small_recent_count(h, ph__size2class(64)), 0);
  int64_t again = ph__off_calloc(h, 1, 64);
  EXPECT_EQ(again, (int64_t)x);
  int zero = 1;
  for (unsigned i = 0; i < 64; i++) zero &= ((unsigned char *)h)[x + i] == 0;
  EXPECT(zero);
  EXPECT(ph_heap_check(h, SIZE) == 0);
  drop(h);
}

/* Damage one thing about bin c's stack (which holds two regions of run 1
 * with cur full): check reports it, malloc of the class is ECORRUPT and
 * changes no byte, and putting the byte back makes the heap whole. */
typedef void (*damage_fn)(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off);

static void slot_to(ph_heap_t *h, unsigned c, uint64_t off) {
  ph__recent(h)->slot[c][ph__small_recent_count(h, c) - 1] = (uint32_t)(off >> 3);
}
static void to_live(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) { (void)cur_off, slot_to(h, c, run1 + 20 * 64); }
static void to_interior(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) { (void)cur_off, slot_to(h, c, run1 + 2 * 64 + 8); } /* inside a stacked region */
static void to_cur(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) { (void)run1, slot_to(h, c, cur_off + 64); }
static void to_free_in_cur(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) {
  (void)run1;
  if (ph__off_free(h, cur_off + 64) == 0) slot_to(h, c, cur_off + 64); /* free in cur's bitmap, counted in freed */
}
static void to_header(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) { (void)run1, (void)cur_off, slot_to(h, c, 64); }
static void above_hwm(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) {
  (void)run1, (void)cur_off, slot_to(h, c, ((uint64_t)h->hwm << PH_LG_PAGE) + 64);
}
static void to_other_class(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) {
  (void)run1, (void)cur_off, slot_to(h, c, (uint64_t)h->bins[ph__size2class(1024)].cur << PH_LG_PAGE);
}
static void to_large(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) {
  (void)run1, (void)cur_off;
  for (uint32_t p = h->base_pages; p < h->hwm; p++)
    if (ph__kind(ph__page(h, p)) == PH_PK_LARGE) slot_to(h, c, (uint64_t)p << PH_LG_PAGE);
}
static void twice(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) {
  (void)run1, (void)cur_off;
  ph_recent *r = ph__recent(h);
  r->slot[c][1] = r->slot[c][0];
}
static void head_count_cleared(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) {
  (void)c, (void)cur_off;
  ph__page(h, (uint32_t)(run1 >> PH_LG_PAGE))->info &= ~(63u << 3); /* PH_INFO_RECENT 0 */
}
static void count_over(ph_heap_t *h, unsigned c, uint64_t run1, uint64_t cur_off) {
  (void)run1, (void)cur_off, ph__recent(h)->count[c] = PH_RECENT_CAP + 1;
}

TEST(damaged_stacks_are_ecorrupt_to_check_and_malloc_and_never_a_wrong_allocation) {
  static const struct { const char *name; damage_fn fn; bool takes_one_first; } cases[] = {
      {"a live region", to_live, false},         {"an interior offset", to_interior, false},
      {"a region of cur", to_cur, false},        {"a free region of cur", to_free_in_cur, false},
      {"the header", to_header, false},
      {"above hwm", above_hwm, false},           {"another class's run", to_other_class, false},
      {"a large run", to_large, false},          {"a slot twice", twice, true},
      {"a count above the cap", count_over, false}, {"the run's count of them cleared", head_count_cleared, false},
  };
  for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ph_heap_t *h = make(0);
    REQUIRE(h);
    unsigned c = ph__size2class(64);
    EXPECT(ph__off_malloc(h, 1024) > 0);
    EXPECT(ph__off_malloc(h, 3 * PH_PAGE_SIZE) > 0); /* a large run */
    uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
    EXPECT_EQ(ph__off_free(h, run1 + 2 * 64), 0);
    EXPECT_EQ(ph__off_free(h, run1 + 9 * 64), 0);
    REQUIRE(ph_heap_check(h, SIZE) == 0);
    size_t n = ph_heap_used_bytes(h);
    unsigned char *whole = malloc(n);
    REQUIRE(whole);
    memcpy(whole, h, n);
    cases[k].fn(h, c, run1, cur_off);
    int checked = ph_heap_check(h, SIZE);
    if (checked == 0) printf("#   %s: check passes\n", cases[k].name);
    EXPECT(checked != 0);
    if (cases[k].takes_one_first) EXPECT(ph__off_malloc(h, 64) > 0); /* the top slot is sound */
    unsigned char *damaged = malloc(n);
    REQUIRE(damaged);
    memcpy(damaged, h, n);
    int64_t got = ph__off_malloc(h, 64);
    if (got != PH_ECORRUPT) printf("#   %s: malloc gives %lld\n", cases[k].name, (long long)got);
    EXPECT_EQ(got, PH_ECORRUPT);
    EXPECT(memcmp(damaged, h, n) == 0);
    if (!cases[k].takes_one_first) {
      memcpy(h, whole, n); /* the damage undone: whole again */
      EXPECT(ph_heap_check(h, SIZE) == 0);
      EXPECT_EQ(ph__off_malloc(h, 64), (int64_t)(run1 + 9 * 64));
    }
    free(whole);
    free(damaged);
    drop(h);
  }
}

TEST(a_region_dropped_from_a_stack_is_found_by_check) {
  ph_heap_t *h = make(0);
  REQUIRE(h);
  unsigned c = ph__size2class(64);
  uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
  EXPECT_EQ(ph__off_free(h, run1 + 64), 0);
  EXPECT_EQ(ph__off_free(h, run1 + 128), 0);
  EXPECT(ph_heap_check(h, SIZE) == 0);
  ph__recent(h)->count[c] = 1; /* the newest is free in its bitmap, counted nowhere */
  EXPECT(ph_heap_check(h, SIZE) > 0);
  drop(h);
}

TEST(a_stack_for_a_class_served_as_page_runs_is_ecorrupt) {
  ph_heap_t *h = make(0);
  REQUIRE(h);
  uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
  EXPECT_EQ(ph__off_free(h, run1), 0); /* the stacks are of this generation */
  ph__recent(h)->count[ph__size2class(4096)] = 1;
  EXPECT_EQ(ph_heap_check(h, SIZE), PH_ECORRUPT);
  EXPECT(ph_heap_attach(h, SIZE) == NULL && ph_last_error() == PH_ECORRUPT);
  drop(h);
}

TEST(a_zero_mode_heap_whose_stacks_claim_its_generation_is_ecorrupt) {
  ph_heap_t *h = make(PH_ZERO_ON_FREE);
  REQUIRE(h);
  uint64_t cur_off, run1 = fill_64(h, 2, &cur_off);
  EXPECT_EQ(ph__off_free(h, run1 + 64), 0);
  EXPECT(ph_heap_check(h, SIZE) == 0);
  ph__recent(h)->generation = ph_heap_generation(h); /* a free would stack without clearing */
  EXPECT_EQ(ph_heap_check(h, SIZE), PH_ECORRUPT);
  EXPECT(ph_heap_attach(h, SIZE) == NULL && ph_last_error() == PH_ECORRUPT);
  drop(h);
}

TEST_MAIN()
