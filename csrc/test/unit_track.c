/*
 * unit_track.c - the written-page tracker of prim.h: once a take has
 * covered a page, it reports exactly the pages written since the last take
 * (each once, ascending), no page only read, honours `max` and the
 * [from, to) window without losing the pages it did not report, and
 * refuses a fork's child. Linux (userfaultfd) and Windows (write watches)
 * run the same cases; where the Linux kernel refuses the tracker at run
 * time (a container's seccomp filter, a kernel before 6.7) they are
 * skipped with its reason, while on Windows, which always has write
 * watching, a refusal fails them. Where the system has no tracker,
 * starting one is ENOSYS and nothing is tracked.
 */
#define _DEFAULT_SOURCE 1
#include "harness.h"
#include "prim.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <sys/wait.h>
#include <unistd.h>
#endif

#define PAGES 512u

#if defined(__linux__) || defined(_WIN32)
typedef struct {
  unsigned char *base;
  uint64_t ps;
  ph__prim_tracker *t;
} tracked;

/* Why the last track_new failed (it outlives the case, for TEST_SKIP). */
static char refusal[96];

/* A fresh anonymous mapping of PAGES pages with a tracker, or false and the refusal. */
static bool track_new(tracked *m) {
  m->ps = ph__prim_track_page_size();
  m->base = ph__prim_map_anon(PAGES * m->ps, m->ps);
  m->t = NULL;
  if (!m->base) {
    snprintf(refusal, sizeof refusal, "no memory for the mapping");
    return false;
  }
  int err = ph__prim_track_start(m->base, PAGES, &m->t);
  if (err != 0) snprintf(refusal, sizeof refusal, "the system refused the tracker (error %d)", err);
  return err == 0;
}

static void track_free(tracked *m) {
  ph__prim_track_stop(m->t);
  if (m->base) (void)ph__prim_unmap(m->base, PAGES * m->ps);
}

/* The generator's state: seeded, printed with a failure. */
static uint64_t rng_state;

/* A case's tracker over a fresh mapping. Where the Linux kernel refuses
 * one, the case is skipped with its reason; Windows always has write
 * watching, so there a refusal fails the case. */
#if defined(_WIN32)
#define START_TRACKING(m)        \
  tracked m;                     \
  if (!track_new(&m)) {          \
    printf("#   %s\n", refusal); \
    track_free(&m);              \
    REQUIRE(false);              \
  }
#else
#define START_TRACKING(m) \
  tracked m;              \
  if (!track_new(&m)) {   \
    track_free(&m);       \
    TEST_SKIP(refusal);   \
  }
#endif

/* One take over every page: from then on a take reports exactly the writes. */
static void cover(tracked *m) {
  static uint32_t all[PAGES];
  (void)ph__prim_track_take(m->t, 0, PAGES, all, PAGES);
}

TEST(pages_no_take_covered_are_reported_until_one_does_and_start_protects_nothing) {
  START_TRACKING(m);
  uint32_t got[PAGES];
  memset(m.base + 7 * m.ps, 1, m.ps); /* before any take: reported */
  int64_t n = ph__prim_track_take(m.t, 0, 64, got, PAGES);
  REQUIRE(n >= 1 && n <= 64);
  bool seven = false;
  for (int64_t i = 0; i < n; i++) seven |= got[i] == 7;
  EXPECT(seven);
  EXPECT_EQ(ph__prim_track_take(m.t, 0, 64, got, PAGES), 0); /* covered now */
  /* Pages past the window were never covered: a write there stays reported, never lost. */
  m.base[300 * m.ps] = 1;
  n = ph__prim_track_take(m.t, 64, PAGES, got, PAGES);
  seven = false;
  for (int64_t i = 0; i < n; i++) seven |= got[i] == 300;
  EXPECT(seven);
  track_free(&m);
}

TEST(a_take_reports_exactly_the_pages_written_since_the_last_one) {
  START_TRACKING(m);
  uint32_t got[PAGES];
  cover(&m);
  EXPECT_EQ(ph__prim_track_take(m.t, 0, PAGES, got, PAGES), 0); /* nothing written since */
  rng_state = test_seed = 0x7ac4e2ull ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)m.base;
  for (int round = 0; round < 50; round++) {
    bool written[PAGES] = {false};
    unsigned writes = (unsigned)(test_random(&rng_state) % 40);
    for (unsigned i = 0; i < writes; i++) {
      uint32_t p = (uint32_t)(test_random(&rng_state) % PAGES);
      written[p] = true;
      m.base[p * m.ps + test_random(&rng_state) % m.ps] = (unsigned char)round; /* anywhere in the page */
    }
    /* Reads mark nothing. */
    volatile unsigned char sink = 0;
    for (unsigned i = 0; i < 20; i++) sink ^= m.base[(test_random(&rng_state) % PAGES) * m.ps];
    (void)sink;
    int64_t n = ph__prim_track_take(m.t, 0, PAGES, got, PAGES);
    int64_t want = 0;
    for (uint32_t p = 0; p < PAGES; p++) want += written[p];
    REQUIRE(n == want);
    for (int64_t i = 0; i < n; i++) {
      REQUIRE(got[i] < PAGES && written[got[i]]);
      if (i > 0) REQUIRE(got[i] > got[i - 1]);
    }
    EXPECT_EQ(ph__prim_track_take(m.t, 0, PAGES, got, PAGES), 0); /* each page once */
  }
  track_free(&m);
}

TEST(max_and_the_window_bound_a_take_and_the_rest_stay_written) {
  START_TRACKING(m);
  uint32_t got[PAGES];
  cover(&m);
  const uint32_t pages[] = {3, 4, 5, 100, 101, 300, 301, 302, 400, 511};
  for (unsigned i = 0; i < sizeof pages / sizeof pages[0]; i++) memset(m.base + pages[i] * m.ps, 1, 8);
  /* The window [100, 302): 100, 101, 300, 301 in it. */
  REQUIRE(ph__prim_track_take(m.t, 100, 302, got, PAGES) == 4);
  EXPECT_EQ(got[0], 100);
  EXPECT_EQ(got[3], 301);
  /* max 3 of the rest: 3, 4, 5; then the others, then none. */
  REQUIRE(ph__prim_track_take(m.t, 0, PAGES, got, 3) == 3);
  EXPECT_EQ(got[0], 3);
  EXPECT_EQ(got[2], 5);
  REQUIRE(ph__prim_track_take(m.t, 0, PAGES, got, PAGES) == 3);
  EXPECT_EQ(got[0], 302);
  EXPECT_EQ(got[1], 400);
  EXPECT_EQ(got[2], 511);
  EXPECT_EQ(ph__prim_track_take(m.t, 0, PAGES, got, PAGES), 0);
  track_free(&m);
}

TEST(a_write_spanning_many_pages_reports_each_of_them) {
  START_TRACKING(m);
  uint32_t got[PAGES];
  cover(&m);
  memset(m.base + 10 * m.ps + 7, 0xAB, 200 * m.ps); /* pages 10 to 210 */
  REQUIRE(ph__prim_track_take(m.t, 0, PAGES, got, PAGES) == 201);
  for (uint32_t i = 0; i < 201; i++) EXPECT_EQ(got[i], 10 + i);
  track_free(&m);
}

TEST(a_peek_reports_the_written_pages_and_leaves_them_written) {
  START_TRACKING(m);
  uint32_t got[PAGES];
  cover(&m);
  m.base[20 * m.ps] = 1;
  m.base[30 * m.ps] = 1;
  m.base[40 * m.ps] = 1;
  REQUIRE(ph__prim_track_peek(m.t, 0, PAGES, got, 2) == 2); /* max bounds it too */
  EXPECT_EQ(got[0], 20);
  EXPECT_EQ(got[1], 30);
  REQUIRE(ph__prim_track_peek(m.t, 0, PAGES, got, PAGES) == 3);
  EXPECT_EQ(got[2], 40);
  m.base[20 * m.ps + 1] = 2; /* a peeked page written again: still one report */
  REQUIRE(ph__prim_track_take(m.t, 0, PAGES, got, PAGES) == 3);
  EXPECT_EQ(got[0], 20);
  EXPECT_EQ(got[2], 40);
  EXPECT_EQ(ph__prim_track_peek(m.t, 0, PAGES, got, PAGES), 0);
  EXPECT_EQ(ph__prim_track_peek(NULL, 0, 1, got, 1), PH_EINVAL);
  track_free(&m);
}

TEST(bad_ranges_are_einval_and_change_nothing) {
  START_TRACKING(m);
  uint32_t got[4];
  cover(&m);
  m.base[0] = 1;
  EXPECT_EQ(ph__prim_track_take(m.t, 5, 4, got, 4), PH_EINVAL);
  EXPECT_EQ(ph__prim_track_take(m.t, 0, PAGES + 1, got, 4), PH_EINVAL);
  EXPECT_EQ(ph__prim_track_take(NULL, 0, 1, got, 4), PH_EINVAL);
  EXPECT_EQ(ph__prim_track_take(m.t, 0, 1, NULL, 4), PH_EINVAL);
  /* An empty window and max 0 report nothing and take nothing. */
  EXPECT_EQ(ph__prim_track_take(m.t, 3, 3, got, 4), 0);
  EXPECT_EQ(ph__prim_track_take(m.t, 0, PAGES, got, 0), 0);
  EXPECT_EQ(ph__prim_track_take(m.t, 0, PAGES, got, 4), 1);
  EXPECT_EQ(got[0], 0);
  track_free(&m);
}

TEST(more_written_pages_than_one_system_call_returns_are_all_reported) {
  START_TRACKING(m);
  static uint32_t got[PAGES];
  cover(&m);
  /* Two pages of every three: 341 addresses (Windows returns 256 a call),
   * 171 ranges (Linux returns 64 a call). */
  uint32_t want = 0;
  for (uint32_t p = 0; p < PAGES; p++)
    if (p % 3 != 0) m.base[p * m.ps] = 1, want++;
  REQUIRE(ph__prim_track_take(m.t, 0, PAGES, got, PAGES) == want);
  for (uint32_t i = 0; i < want; i++) EXPECT_EQ(got[i], i / 2 * 3 + 1 + i % 2);
  /* Every page, taken 100 at a time: each take starts where the last stopped. */
  memset(m.base, 2, PAGES * m.ps);
  uint32_t next = 0;
  for (int64_t n; (n = ph__prim_track_take(m.t, 0, PAGES, got, 100)) > 0;) {
    REQUIRE(n <= 100);
    for (int64_t i = 0; i < n; i++) EXPECT_EQ(got[i], next++);
  }
  EXPECT_EQ(next, PAGES);
  track_free(&m);
}

TEST(a_region_mapped_at_the_heaps_alignment_is_tracked) {
  enum { SIZE = 8 << 20 };
  static uint32_t got[SIZE / 4096];
  uint64_t ps = ph__prim_track_page_size(), pages = SIZE / ps;
  unsigned char *base = ph__prim_map_anon(SIZE, (size_t)2 << 20);
  REQUIRE(base != NULL);
  EXPECT((uintptr_t)base % ((size_t)2 << 20) == 0);
  ph__prim_tracker *t = NULL;
  int err = ph__prim_track_start(base, pages, &t);
  if (err != 0) {
    (void)ph__prim_unmap(base, SIZE);
    snprintf(refusal, sizeof refusal, "the system refused the tracker (error %d)", err);
#if defined(_WIN32)
    printf("#   %s\n", refusal);
    REQUIRE(false);
#else
    TEST_SKIP(refusal);
#endif
  }
  (void)ph__prim_track_take(t, 0, pages, got, (uint32_t)pages);
  base[(pages / 2) * ps] = 1;
  base[(pages - 1) * ps + 5] = 1;
  EXPECT_EQ(ph__prim_track_take(t, 0, pages, got, (uint32_t)pages), 2);
  EXPECT_EQ(got[0], pages / 2);
  EXPECT_EQ(got[1], pages - 1);
  ph__prim_track_stop(t);
  (void)ph__prim_unmap(base, SIZE);
}

/* Pages given back read as zero. Where the tracker reports them written
 * (Linux), a ring or a checksum it keeps sees the change; where it does
 * not (Windows' write watch), ph__prim_purge_tracked says so, and the heap
 * gives back only pages no snapshot holds. */
TEST(a_purged_page_reads_zero_and_is_reported_where_the_tracker_sees_purges) {
  START_TRACKING(m);
  uint32_t got[PAGES];
  cover(&m);
  memset(m.base + 5 * m.ps, 0xC3, 5 * m.ps); /* pages 5 to 9 */
  REQUIRE(ph__prim_track_take(m.t, 0, PAGES, got, PAGES) == 5); /* write-protected again */
  REQUIRE(ph__prim_purge(m.base + 6 * m.ps, 2 * m.ps) == 0);
  for (uint64_t i = 0; i < 2 * m.ps; i++) REQUIRE(m.base[6 * m.ps + i] == 0);
  EXPECT_EQ(m.base[5 * m.ps + m.ps - 1], 0xC3);
  EXPECT_EQ(m.base[8 * m.ps], 0xC3);
  int64_t n = ph__prim_track_take(m.t, 0, PAGES, got, PAGES);
  if (ph__prim_purge_tracked) {
    REQUIRE(n == 2);
    EXPECT_EQ(got[0], 6);
    EXPECT_EQ(got[1], 7);
  } else {
    EXPECT_EQ(n, 0);
  }
  m.base[6 * m.ps] = 1; /* a write after the purge is a write like any other */
  REQUIRE(ph__prim_track_take(m.t, 0, PAGES, got, PAGES) == 1);
  EXPECT_EQ(got[0], 6);
  track_free(&m);
}

#if !defined(_WIN32)
TEST(a_forks_child_is_refused_and_leaves_the_parents_pages) {
  START_TRACKING(m);
  uint32_t got[4];
  cover(&m);
  m.base[0] = 1;
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(ph__prim_track_take(m.t, 0, PAGES, got, 4) == PH_EINVAL ? 0 : 1);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* The child's refusal left the parent's page written. */
  EXPECT_EQ(ph__prim_track_take(m.t, 0, PAGES, got, 4), 1);
  track_free(&m);
}
#endif

#if defined(_WIN32)
/* Views of a file cannot be given write watching. */
TEST(a_file_view_is_refused_with_the_systems_error) {
  char dir[MAX_PATH], path[MAX_PATH];
  REQUIRE(GetTempPathA(sizeof dir, dir) != 0 && GetTempFileNameA(dir, "pht", 0, path) != 0); /* creates it */
  uint64_t ps = ph__prim_track_page_size();
  ph__prim_file f;
  bool created;
  REQUIRE(ph__prim_file_open(path, false, false, 0, &f, &created) == 0);
  void *view = NULL;
  int err = ph__prim_file_resize(f, PAGES * ps);
  if (err == 0) err = ph__prim_file_map(f, PAGES * ps, (size_t)1 << 16, &view);
  ph__prim_file_close(f);
  if (err == 0) {
    ph__prim_tracker *t = (ph__prim_tracker *)view; /* overwritten */
    EXPECT_EQ(ph__prim_track_start(view, PAGES, &t), ERROR_INVALID_PARAMETER);
    EXPECT(t == NULL);
    (void)ph__prim_unmap(view, PAGES * ps);
  }
  DeleteFileA(path);
  EXPECT_EQ(err, 0);
}
#endif
#else
TEST(without_a_tracker_starting_one_is_enosys_and_tracks_nothing) {
  uint64_t ps = ph__prim_track_page_size();
  void *base = ph__prim_map_anon(64 * ps, ps);
  REQUIRE(base != NULL);
  ph__prim_tracker *t = (ph__prim_tracker *)base; /* overwritten */
  EXPECT_EQ(ph__prim_track_start(base, 64, &t), ENOSYS);
  EXPECT(t == NULL);
  uint32_t got[1];
  EXPECT_EQ(ph__prim_track_take(NULL, 0, 1, got, 1), PH_EINVAL);
  (void)ph__prim_unmap(base, 64 * ps);
}
#endif

TEST_MAIN()
