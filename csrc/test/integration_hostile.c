/*
 * integration_hostile.c - heaps whose bytes were damaged before they were
 * attached, scratch chunks that are not allocations, and zero-size aligned
 * requests.
 *
 * Damage comes in two kinds. Header fields the allocator follows (list
 * heads, the tree root, bins, the scratch cursor, the leaf directory) are
 * refused by the O(1) attach. Links inside the page map are only followed
 * later: every operation that meets one either works inside the region or
 * fails with PH_ECORRUPT, without a crash or a hang. On POSIX each damaged
 * heap runs in a child process with an alarm, so one crash or hang fails
 * only its own case.
 */
#define _DEFAULT_SOURCE 1
#include "internal.h"
#include "harness.h"
#include "fixture.h"
#include <errno.h>

#if !defined(_WIN32)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define MiB ((size_t)1 << 20)
#define SIZE (16 * MiB)

/* A heap with something in every structure the header reaches: free runs on
 * the lists and in the tree, bins with a current run and non-full runs on
 * their lists (inline and trailing bitmaps, multi-page runs), a scratch
 * cursor, a root. */
static ph_heap_t *populated(void **base) {
  ph_heap_t *h = fixture_heap(SIZE, 0, base);
  if (!h) return NULL;
  static void *small[3000];
  size_t sizes[] = {8, 48, 100, 160, 320, 1000, 1500};
  int n = 0;
  for (int round = 0; round < 3; round++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
      for (int i = 0; i < 120; i++) small[n++] = ph_heap_malloc(h, sizes[s]);
  for (int i = 0; i < n; i += 3) ph_heap_free(h, small[i]);
  void *l[8];
  uint32_t pages[] = {40, 5, 60, 3, 1, 50, 2, 1};
  for (int i = 0; i < 8; i++) l[i] = ph_heap_malloc(h, (size_t)pages[i] << PH_LG_PAGE);
  for (int i = 0; i < 8; i += 2) ph_heap_free(h, l[i]); /* 40, 60, 1, 2-page free runs */
  if (!ph_heap_malloc(h, (size_t)600 << PH_LG_PAGE)) return NULL; /* into the second chunk: two leaves */
  if (ph_heap_set_root(h, "world", (uint64_t)((char *)l[1] - (char *)h)) != 0) return NULL;
  for (int i = 0; i < 40; i++)
    if (!ph_scratch_alloc(h, 100)) return NULL;
  return h;
}

/* Whether p is NULL or lies in the heap's pages (a result the caller may use). */
static int in_region(const ph_heap_t *h, const void *p, size_t n) {
  if (!p) return 1;
  uintptr_t b = (uintptr_t)h, q = (uintptr_t)p; /* addresses: p may point into another object */
  return q >= b + PH_PAGE_SIZE && q + n <= b + ((size_t)h->npages << PH_LG_PAGE);
}

/* Whether the last failure was one an operation may report on a damaged heap. */
static int fair_code(void) {
  int e = ph_last_error();
  return e == PH_ECORRUPT || e == PH_ENOMEM || e == PH_EBADPTR || e == PH_EDOUBLEFREE;
}

/* Every kind of operation, on every size class and on page runs, with each
 * result checked: in the region (then written), or NULL with a fair code.
 * Returns the number of bad results. */
#define BAD(what) (printf("#   bad result of %s (line %d): %s\n", what, __LINE__, ph_strerror(ph_last_error())), 1)

static int exercise(ph_heap_t *h, const void *target) {
  int bad = 0;
  void *ps[64];
  int n = 0;
  if (target) { /* the damaged allocation itself first */
    int rc = ph_heap_free(h, (void *)target);
    if (rc != 0 && rc != PH_ECORRUPT && rc != PH_EBADPTR && rc != PH_EDOUBLEFREE) bad += BAD("free");
    void *q = ph_heap_realloc(h, (void *)target, 9000);
    if (!in_region(h, q, 9000) || (!q && !fair_code())) bad += BAD("realloc");
    ph_heap_usable_size(h, target);
  }
  for (unsigned c = 0; c < PH_NCLASSES + 6; c++) {
    size_t sz = c < PH_NCLASSES ? ph__classes[c].size : (size_t)(c - PH_NCLASSES + 1) * 37 * PH_PAGE_SIZE;
    for (int k = 0; k < 2; k++) {
      void *p = k ? ph_heap_calloc(h, 1, sz) : ph_heap_malloc(h, sz);
      if (!in_region(h, p, sz) || (!p && !fair_code())) bad += BAD("malloc");
      if (p) {
        memset(p, 0xA5, sz);
        if (n < 64) ps[n++] = p;
      }
    }
  }
  for (size_t align = 16; align <= 65536; align <<= 2) {
    void *p = ph_heap_aligned_alloc(h, align, 100);
    if (!in_region(h, p, 100) || (p && ((uintptr_t)p & (align - 1))) || (!p && !fair_code())) bad += BAD("aligned");
  }
  for (int i = 0; i < n; i += 2) {
    int rc = ph_heap_free(h, ps[i]);
    if (rc != 0 && rc != PH_ECORRUPT) bad += BAD("free");
  }
  for (int i = 1; i < n; i += 2) {
    void *q = ph_heap_realloc(h, ps[i], 3 * PH_PAGE_SIZE);
    if (!in_region(h, q, 3 * PH_PAGE_SIZE) || (!q && !fair_code())) bad += BAD("realloc");
  }
  for (int i = 0; i < 200; i++) {
    void *p = ph_scratch_alloc(h, (size_t)i * 13);
    if (!in_region(h, p, (size_t)i * 13) || (!p && !fair_code())) bad += BAD("scratch");
    if (p) memset(p, 0x5A, (size_t)i * 13);
  }
  return bad;
}

/* Run fn(base) where a crash or a hang fails only this case: a child process
 * on POSIX (exit status 0 = passed, 10 s at most), in process elsewhere. */
typedef int (*case_fn)(void);

static int survives(case_fn fn) {
#if defined(_WIN32)
  return fn() == 0;
#else
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    alarm(10);
    _exit(fn() == 0 ? 0 : 1);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) return 0;
  if (WIFSIGNALED(status)) printf("#   the operations died of signal %d\n", WTERMSIG(status));
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
#endif
}

/* ---- the checker proves every structure distinct, acyclic and bounded ---- */

TEST(check_rejects_a_directory_that_names_one_leaf_twice) {
  void *base;
  ph_heap_t *h = fixture_heap(SIZE, 0, &base);
  REQUIRE(h);
  /* One page run over chunks 1 and 2: both their leaves hold only NONE
   * entries, so a directory naming leaf 1 twice reads consistently. */
  REQUIRE(ph_heap_malloc(h, 500 << PH_LG_PAGE));
  char *big = ph_heap_malloc(h, 1000 << PH_LG_PAGE);
  REQUIRE(big && h->nleaves == 3);
  REQUIRE(ph_heap_check(h, SIZE) == 0);
  h->dir[2] = h->dir[1];
  EXPECT(ph_heap_check(h, SIZE) != 0);
  EXPECT(ph_snapshot_check(h, ph_heap_used_bytes(h), SIZE, 0) != 0);
  EXPECT(ph_heap_attach(base, SIZE) == NULL && ph_last_error() == PH_ECORRUPT);
  ph_region_unmap(base, SIZE);
}

TEST(check_rejects_leaves_out_of_order_or_overlapping) {
  void *base;
  ph_heap_t *h = fixture_heap(SIZE, 0, &base);
  REQUIRE(h);
  REQUIRE(ph_heap_malloc(h, 500 << PH_LG_PAGE));
  REQUIRE(ph_heap_malloc(h, 1000 << PH_LG_PAGE));
  uint32_t d1 = h->dir[1], d2 = h->dir[2];
  h->dir[1] = d2, h->dir[2] = d1;
  EXPECT(ph_heap_check(h, SIZE) != 0);
  h->dir[1] = d1, h->dir[2] = d1 + 1; /* overlapping leaves */
  EXPECT(ph_heap_check(h, SIZE) != 0);
  h->dir[2] = d2;
  EXPECT_EQ(ph_heap_check(h, SIZE), 0);
  ph_region_unmap(base, SIZE);
}

/* ---- the O(1) attach bounds every header link ---------------------------- */

typedef void (*damage_fn)(ph_heap_t *h);

static void list_head_past_hwm(ph_heap_t *h) { h->free_list[1] = h->hwm + 3; }
static void list_head_in_header(ph_heap_t *h) { h->free_list[5] = 1; }
static void list_zero_in_use(ph_heap_t *h) { h->free_list[0] = h->base_pages; }
static void mask_without_list(ph_heap_t *h) { h->free_mask |= 1u << 20; }
static void tree_root_far(ph_heap_t *h) { h->free_root = 0xFFFFFF00u; }
static void cur_past_hwm(ph_heap_t *h) { h->bins[5].cur = h->hwm - 0; }
static void cur_run_crosses_hwm(ph_heap_t *h) { h->bins[30].cur = h->hwm - 2; } /* a 7-page class */
static void cur_not_small(ph_heap_t *h) { h->bins[5].cur = h->free_root; }
static void cur_other_class(ph_heap_t *h) { h->bins[5].cur = h->bins[7].cur; }
static void bin_head_far(ph_heap_t *h) { h->bins[5].head = 0xFFFFFFF0u; }
static void bin_tail_only(ph_heap_t *h) { h->bins[5].head = 0; }
static void fresh_over_nregs(ph_heap_t *h) { h->bins[5].fresh = (uint16_t)(ph__classes[5].nregs + 1); }
static void counts_over_nregs(ph_heap_t *h) { h->bins[23].freed = 3, h->bins[23].fresh = 2; }
static void page_class_bin(ph_heap_t *h) { h->bins[31].cur = h->bins[5].cur; }
static void scratch_into_header(ph_heap_t *h) { h->scratch_next = 64; }
static void scratch_past_hwm(ph_heap_t *h) { h->scratch_end = ((uint64_t)h->hwm + 16) << PH_LG_PAGE; }
static void scratch_end_before_next(ph_heap_t *h) { h->scratch_next = h->scratch_end + 16; }
static void scratch_without_chunk(ph_heap_t *h) { h->scratch_chunks = 0; }
static void newest_class_far(ph_heap_t *h) { h->newest_class = 200; }
static void leaf_twice(ph_heap_t *h) { h->dir[1] = h->dir[0]; }

static const struct { const char *name; damage_fn fn; } header_damage[] = {
    {"free list head past hwm", list_head_past_hwm},
    {"free list head in the header", list_head_in_header},
    {"free list 0 in use", list_zero_in_use},
    {"free mask bit without a list", mask_without_list},
    {"tree root far outside", tree_root_far},
    {"bin cur at hwm", cur_past_hwm},
    {"bin cur run crossing hwm", cur_run_crosses_hwm},
    {"bin cur a free run", cur_not_small},
    {"bin cur a run of another class", cur_other_class},
    {"bin head far outside", bin_head_far},
    {"bin list with a tail and no head", bin_tail_only},
    {"bin fresh above nregs", fresh_over_nregs},
    {"bin fresh + freed above nregs", counts_over_nregs},
    {"a page-run class with a run", page_class_bin},
    {"scratch cursor in the header", scratch_into_header},
    {"scratch end past hwm", scratch_past_hwm},
    {"scratch end before next", scratch_end_before_next},
    {"scratch cursor without a chunk", scratch_without_chunk},
    {"newest class out of range", newest_class_far},
    {"leaf directory names the header's leaf twice", leaf_twice},
};

TEST(attach_refuses_every_header_link_out_of_bounds) {
  void *base;
  ph_heap_t *h = populated(&base);
  REQUIRE(h);
  REQUIRE(h->nleaves >= 2 && h->free_root && h->bins[5].head && h->scratch_end); /* every structure is in use */
  REQUIRE(ph_heap_check(h, SIZE) == 0);
  size_t used = ph_heap_used_bytes(h);
  unsigned char *pristine = malloc(used);
  REQUIRE(pristine);
  memcpy(pristine, h, used);
  for (size_t i = 0; i < sizeof header_damage / sizeof header_damage[0]; i++) {
    memcpy(h, pristine, used);
    header_damage[i].fn(h);
    ph_heap_t *a = ph_heap_attach(base, SIZE);
    if (a != NULL || ph_last_error() != PH_ECORRUPT) {
      printf("#   attach accepted: %s\n", header_damage[i].name);
      EXPECT(!"attach refuses the damaged header");
    }
    if (ph_heap_check(h, SIZE) == 0) {
      printf("#   check accepted: %s\n", header_damage[i].name);
      EXPECT(!"check refuses the damaged header");
    }
  }
  memcpy(h, pristine, used);
  EXPECT(ph_heap_attach(base, SIZE) == h);
  free(pristine);
  ph_region_unmap(base, SIZE);
}

/* ---- links in the page map, followed by operations after attach --------- */

static ph_heap_t *victim; /* the populated heap, damaged by each case */
static void *victim_base;

/* Attach the damaged heap without a full check and run every operation. */
static int attach_and_exercise(const void *target) {
  ph_heap_t *h = ph_heap_attach(victim_base, SIZE);
  if (!h) return ph_last_error() == PH_ECORRUPT ? 0 : 1;
  return exercise(h, target);
}

static uint32_t first_run_of_class(unsigned c) {
  for (uint32_t p = victim->base_pages; p < victim->hwm; p++) {
    const ph_page *e = ph__page(victim, p);
    if (ph__kind(e) == PH_PK_SMALL && PH_INFO_CLASS(e->info) == c) return p;
  }
  return 0;
}

static uint32_t first_large(void) {
  for (uint32_t p = victim->base_pages; p < victim->hwm; p++)
    if (ph__kind(ph__page(victim, p)) == PH_PK_LARGE) return p;
  return 0;
}

static void *page_ptr(uint32_t p) { return (char *)victim + ((uint64_t)p << PH_LG_PAGE); }

static int small_body_points_before_the_heap(void) {
  uint32_t run = first_run_of_class(16); /* 3 pages */
  if (!run) return 1;
  ph__page(victim, run + 1)->size = 0xFFFFFF00u;
  return attach_and_exercise((char *)page_ptr(run + 1) + 320 - (PH_PAGE_SIZE % 320));
}

static int small_body_points_at_a_leaf(void) {
  uint32_t run = first_run_of_class(16);
  if (!run) return 1;
  ph__page(victim, run + 1)->size = run + 1 - victim->dir[0];
  return attach_and_exercise((char *)page_ptr(run + 1) + 320 - (PH_PAGE_SIZE % 320));
}

static int small_head_class_out_of_range(void) {
  uint32_t run = first_run_of_class(5);
  if (!run) return 1;
  ph_page *e = ph__page(victim, run);
  e->info = PH_INFO(PH_PK_SMALL, 0, 120, PH_INFO_NFREE(e->info));
  return attach_and_exercise(page_ptr(run));
}

static int large_size_far_past_hwm(void) {
  uint32_t p = first_large();
  if (!p) return 1;
  ph__page(victim, p)->size = 0xFFFFFF00u;
  return attach_and_exercise(page_ptr(p));
}

static int large_size_zero(void) {
  uint32_t p = first_large();
  if (!p) return 1;
  ph__page(victim, p)->size = 0;
  return attach_and_exercise(page_ptr(p));
}

static int free_list_link_far_outside(void) {
  uint32_t p = victim->free_list[1];
  if (!p) return 1;
  ph__page(victim, p)->right = 0xFFFFFF00u;
  return attach_and_exercise(NULL);
}

static int free_list_cycle(void) {
  uint32_t p = victim->free_list[1];
  if (!p) return 1;
  ph__page(victim, p)->right = p;
  ph__page(victim, p)->left = p;
  return attach_and_exercise(NULL);
}

static int free_list_node_with_a_wrong_size(void) {
  uint32_t p = victim->free_list[2];
  if (!p) return 1;
  ph__page(victim, p)->size = 0xFFFFFFF0u;
  return attach_and_exercise(NULL);
}

static int free_tail_far_back(void) {
  /* A freed large run next to a free run whose tail names a start before the heap. */
  uint32_t p = victim->free_list[2];
  if (!p) return 1;
  ph__page(victim, p + 1)->size = 0xFFFFFFF0u;
  return attach_and_exercise(page_ptr(p + 2));
}

static int tree_node_is_its_own_child(void) {
  uint32_t r = victim->free_root;
  if (!r) return 1;
  ph__page(victim, r)->left = r;
  ph__page(victim, r)->right = r;
  return attach_and_exercise(NULL);
}

static int tree_child_far_outside(void) {
  uint32_t r = victim->free_root;
  if (!r) return 1;
  ph__page(victim, r)->left = 0xFFFFFF00u;
  return attach_and_exercise(NULL);
}

static int tree_node_size_past_hwm(void) {
  uint32_t r = victim->free_root;
  if (!r) return 1;
  ph__page(victim, r)->size = 0x7FFFFFFFu;
  return attach_and_exercise(NULL);
}

static int bin_list_link_far_outside(void) {
  uint32_t p = victim->bins[5].head;
  if (!p) return 1;
  ph__page(victim, p)->right = 0xFFFFFF00u;
  victim->bins[5].fresh = victim->bins[5].freed = 0; /* the next allocation refills */
  return attach_and_exercise(NULL);
}

static int bin_list_run_with_nothing_free(void) {
  for (unsigned c = 0; c < PH_NCLASSES; c++) {
    uint32_t p = victim->bins[c].head;
    if (!p) continue;
    ph__page(victim, p)->info &= 0xFFFFu; /* nfree 0 */
    victim->bins[c].fresh = victim->bins[c].freed = 0;
  }
  return attach_and_exercise(NULL);
}

static int trailing_bitmap_empty_but_counted(void) {
  ph_bin *bin = &victim->bins[0]; /* 8 bitmap words */
  if (!bin->cur) return 1;
  const ph_class *cl = &ph__classes[0];
  memset(ph__small_trailing_bitmap(victim, bin->cur, cl), 0, cl->bm_words * 8);
  ph__page(victim, bin->cur)->size = 0;
  bin->freed = (uint16_t)(cl->nregs - bin->fresh);
  bin->fresh = 0;
  memset(page_ptr(bin->cur + 1), 0, PH_PAGE_SIZE); /* no stray bit after the bitmap either */
  return attach_and_exercise(NULL);
}

static int trailing_bitmap_hint_past_the_words(void) {
  ph_bin *bin = &victim->bins[5];
  if (!bin->cur) return 1;
  ph__page(victim, bin->cur)->size = 1000;
  bin->freed = 1;
  if (bin->fresh) bin->fresh--;
  return attach_and_exercise(NULL);
}

static int inline_bitmap_empty_but_counted(void) {
  ph_bin *bin = &victim->bins[23]; /* 1024 B: 4 regions, inline bitmap */
  if (!bin->cur) return 1;
  ph__page(victim, bin->cur)->size = 0;
  bin->freed = 1;
  bin->fresh = 0;
  return attach_and_exercise(NULL);
}

static int inline_bitmap_bits_past_nregs(void) {
  ph_bin *bin = &victim->bins[23];
  if (!bin->cur) return 1;
  ph__page(victim, bin->cur)->size = 0xFFFFFFF0u; /* only regions 4.. "free" */
  bin->freed = 2;
  bin->fresh = 0;
  return attach_and_exercise(NULL);
}

/* A recent stack of the victim that holds regions (populated() frees a
 * third of its small regions), or PH_NCLASSES. */
static unsigned stacked_class(void) {
  for (unsigned c = 0; c < PH_NCLASSES; c++)
    if (ph__small_recent_count(victim, c) >= 2) return c;
  return PH_NCLASSES;
}

static int recent_slots_far_outside(void) {
  unsigned c = stacked_class();
  if (c == PH_NCLASSES) return 1;
  for (unsigned i = 0; i < PH_RECENT_CAP; i++) ph__recent(victim)->slot[c][i] = 0xFFFFFFF8u;
  return attach_and_exercise(NULL);
}

static int recent_slot_naming_a_live_region(void) {
  unsigned c = stacked_class();
  if (c == PH_NCLASSES) return 1;
  ph_recent *r = ph__recent(victim);
  uint32_t run = (uint32_t)((uint64_t)r->slot[c][0] >> (PH_LG_PAGE - 3));
  for (unsigned i = 0; i < ph__classes[c].nregs; i++) { /* the first live region of that run */
    uint64_t off = ((uint64_t)run << PH_LG_PAGE) + (uint64_t)i * ph__classes[c].size;
    if (ph__small_is_live(victim, run, (long)i)) {
      r->slot[c][r->count[c] - 1] = (uint32_t)(off >> 3);
      return attach_and_exercise((char *)victim + off);
    }
  }
  return 1;
}

static int recent_slots_all_the_same(void) {
  unsigned c = stacked_class();
  if (c == PH_NCLASSES) return 1;
  ph_recent *r = ph__recent(victim);
  for (unsigned i = 1; i < PH_RECENT_CAP; i++) r->slot[c][i] = r->slot[c][0];
  r->count[c] = PH_RECENT_CAP;
  return attach_and_exercise((char *)victim + ((uint64_t)r->slot[c][0] << 3));
}

static int recent_count_past_the_cap(void) {
  unsigned c = stacked_class();
  if (c == PH_NCLASSES) return 1;
  ph__recent(victim)->count[c] = 0xFF;
  return attach_and_exercise(NULL);
}

static int scratch_chunk_mark_removed(void) {
  uint64_t start = victim->scratch_end - PH_SCRATCH_CHUNK;
  ph_page *e = ph__page(victim, (uint32_t)(start >> PH_LG_PAGE));
  e->info = PH_INFO(PH_PK_LARGE, 0, 0, 0);
  return attach_and_exercise((char *)victim + start);
}

static const struct { const char *name; case_fn fn; } map_damage[] = {
    {"small body pointing before the heap", small_body_points_before_the_heap},
    {"small body pointing at a leaf", small_body_points_at_a_leaf},
    {"small head with a class out of range", small_head_class_out_of_range},
    {"large run far past hwm", large_size_far_past_hwm},
    {"large run of 0 pages", large_size_zero},
    {"free list link far outside", free_list_link_far_outside},
    {"free list cycle", free_list_cycle},
    {"free list node of a wrong size", free_list_node_with_a_wrong_size},
    {"free tail pointing before the heap", free_tail_far_back},
    {"tree node its own child", tree_node_is_its_own_child},
    {"tree child far outside", tree_child_far_outside},
    {"tree node past hwm", tree_node_size_past_hwm},
    {"bin list link far outside", bin_list_link_far_outside},
    {"bin list runs with nothing free", bin_list_run_with_nothing_free},
    {"trailing bitmap empty but counted", trailing_bitmap_empty_but_counted},
    {"trailing bitmap hint past its words", trailing_bitmap_hint_past_the_words},
    {"inline bitmap empty but counted", inline_bitmap_empty_but_counted},
    {"inline bitmap bits past nregs", inline_bitmap_bits_past_nregs},
    {"scratch chunk without its mark", scratch_chunk_mark_removed},
    {"recent slots far outside", recent_slots_far_outside},
    {"recent slot naming a live region", recent_slot_naming_a_live_region},
    {"recent slots all the same", recent_slots_all_the_same},
    {"recent count past the cap", recent_count_past_the_cap},
};

TEST(operations_on_damaged_map_links_work_in_the_region_or_fail_with_a_code) {
  victim = populated(&victim_base);
  REQUIRE(victim && victim->free_list[1] && victim->free_list[2] && victim->free_root);
  REQUIRE(ph_heap_check(victim, SIZE) == 0);
  size_t used = ph_heap_used_bytes(victim);
  unsigned char *pristine = malloc(used);
  REQUIRE(pristine);
  memcpy(pristine, victim, used);
  for (size_t i = 0; i < sizeof map_damage / sizeof map_damage[0]; i++) {
    memcpy(victim, pristine, used);
    memset((char *)victim + used, 0, SIZE - used);
    if (!survives(map_damage[i].fn)) {
      printf("#   failed: %s\n", map_damage[i].name);
      EXPECT(!"operations survive the damage");
    }
  }
  free(pristine);
  ph_region_unmap(victim_base, SIZE);
}

/* ---- scratch chunks are marked, not allocations ------------------------- */

static int count_visit(void *arg, uint64_t off, uint64_t size) {
  const uint64_t *chunk = arg;
  if (off < chunk[1] && chunk[0] < off + size) return 1; /* overlaps the chunk */
  return 0;
}

TEST(scratch_chunks_are_not_allocations_free_realloc_usable_refuse_them) {
  void *base;
  ph_heap_t *h = fixture_heap(SIZE, 0, &base);
  REQUIRE(h);
  char *s = ph_scratch_alloc(h, 64);
  REQUIRE(s);
  char *chunk = s - 16; /* the chunk's first page: the allocation the heap made */
  uint64_t range[2] = {(uint64_t)(chunk - (char *)h), (uint64_t)(chunk - (char *)h) + PH_SCRATCH_CHUNK};
  EXPECT_EQ(ph_heap_walk(h, count_visit, range), 0); /* the walk reports no allocation there */
  EXPECT_EQ(ph_heap_free(h, chunk), PH_EBADPTR);
  EXPECT(ph_heap_realloc(h, chunk, 100) == NULL && ph_last_error() == PH_EBADPTR);
  EXPECT(ph_heap_usable_size(h, chunk) == 0 && ph_last_error() == PH_EBADPTR);
  EXPECT(ph_heap_free(h, s) == PH_EBADPTR);
  ph_stats_t st;
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT_EQ(st.live_count, 0); /* a chunk is no allocation */
  /* Scratch and malloc never hand out the same bytes. */
  uint64_t seed = 12;
  test_seed = seed;
  for (int i = 0; i < 2000; i++) {
    char *m = ph_heap_malloc(h, 64);
    char *t = ph_scratch_alloc(h, 64);
    REQUIRE(m && t);
    memset(m, 1, 64);
    memset(t, 2, 64);
    EXPECT(m[0] == 1 && t[0] == 2);
  }
  EXPECT_EQ(ph_heap_check(h, SIZE), 0);
  ph_region_unmap(base, SIZE);
}

TEST(check_validates_the_scratch_chunk_mark) {
  void *base;
  ph_heap_t *h = fixture_heap(SIZE, 0, &base);
  REQUIRE(h);
  char *big = ph_heap_malloc(h, 20 << PH_LG_PAGE);
  char *s = ph_scratch_alloc(h, 64);
  REQUIRE(big && s);
  REQUIRE(ph_heap_check(h, SIZE) == 0);
  ph_page *chunk = ph__page(h, (uint32_t)((s - 16 - (char *)h) >> PH_LG_PAGE));
  uint32_t saved = chunk->info;
  chunk->info = PH_INFO(PH_PK_LARGE, 0, 0, 0); /* the chunk loses its mark */
  EXPECT(ph_heap_check(h, SIZE) != 0);
  chunk->info = saved;
  ph_page *other = ph__page(h, (uint32_t)((big - (char *)h) >> PH_LG_PAGE));
  other->info = saved; /* an allocation marked as a chunk */
  EXPECT(ph_heap_check(h, SIZE) != 0);
  other->info = PH_INFO(PH_PK_LARGE, 0, 0, 0);
  EXPECT_EQ(ph_heap_check(h, SIZE), 0);
  ph_region_unmap(base, SIZE);
}

/* ---- aligned zero-size requests ------------------------------------------- */

TEST(aligned_alloc_of_zero_bytes_is_a_minimal_allocation_at_any_alignment) {
  void *base;
  ph_heap_t *h = fixture_heap(SIZE, 0, &base);
  REQUIRE(h);
  for (size_t align = 1; align <= ((size_t)1 << 20); align <<= 1) {
    void *p = ph_heap_aligned_alloc(h, align, 0);
    EXPECT(p != NULL);
    if (!p) {
      printf("#   align %zu: %s\n", align, ph_strerror(ph_last_error()));
      continue;
    }
    EXPECT(((uintptr_t)p & (align - 1)) == 0);
    EXPECT(ph_heap_usable_size(h, p) >= 1);
    double off = ph_off_aligned_alloc(h, (double)align, 0);
    EXPECT(off > 0 && (uint64_t)off % align == 0);
    EXPECT_EQ(ph_heap_free(h, p), 0);
    EXPECT_EQ(ph_off_free(h, off), 0);
  }
  EXPECT_EQ(ph_heap_check(h, SIZE), 0);
  ph_region_unmap(base, SIZE);
}

TEST(posix_memalign_of_zero_bytes_succeeds_at_page_alignment) {
  void *base = ph_region_map_anon(SIZE);
  REQUIRE(base);
  REQUIRE(ph_config_private_heap(base, SIZE) == 0);
  for (size_t align = 8; align <= 65536; align <<= 1) {
    void *p = NULL;
    EXPECT_EQ(ph_posix_memalign(&p, align, 0), 0);
    EXPECT(p != NULL && ((uintptr_t)p & (align - 1)) == 0);
    ph_free(p);
  }
  EXPECT_EQ(ph_heap_check(base, SIZE), 0);
  ph_region_unmap(base, SIZE);
}

TEST_MAIN()
