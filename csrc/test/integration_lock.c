/*
 * integration_lock.c - the shared lock of PH_LOCKED heaps through the
 * public API: it is recursive, the *_locked offset calls take it, a restore
 * keeps it (on every system); threads that allocate at once under it keep
 * the heap consistent, and a process killed while holding it is taken over
 * by the next locker, which checks the heap (Linux).
 */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, kill */
#include "harness.h"
#include "fixture.h"
#include "privheap.h"

#include <stdint.h>

#define MiB ((size_t)1 << 20)

TEST(the_lock_is_recursive_and_only_its_owner_unlocks_it) {
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, PH_LOCKED, &base);
  REQUIRE(h);
  EXPECT_EQ(ph_heap_unlock(h), PH_EINVAL); /* not held */
  EXPECT_EQ(ph_heap_lock(h), 0);
  EXPECT_EQ(ph_heap_lock(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), PH_EINVAL);
  /* Without PH_LOCKED there is no lock. */
  ph_heap_t *plain = ph_heap_init(base, size, 0);
  REQUIRE(plain);
  EXPECT_EQ(ph_heap_lock(plain), PH_EINVAL);
  EXPECT_EQ(ph_heap_lock(NULL), PH_EINVAL);
  ph_region_unmap(base, size);
}

TEST(offset_calls_take_the_lock_themselves) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *plain = fixture_heap(size, 0, &base);
  REQUIRE(plain);
  EXPECT_EQ(ph_off_malloc_locked(plain, 16), PH_EINVAL); /* no lock to take */
  EXPECT_EQ(ph_off_free_locked(plain, 4096), PH_EINVAL);
  ph_heap_t *h = ph_heap_init(base, size, PH_LOCKED);
  REQUIRE(h);
  /* Each call leaves the lock free, results as the plain calls give them. */
  double a = ph_off_malloc_locked(h, 100), b = ph_off_calloc_locked(h, 10, 10), c = ph_off_aligned_alloc_locked(h, 4096, 10);
  EXPECT(a > 0 && b > 0 && c > 0 && (uint64_t)c % 4096 == 0);
  EXPECT_EQ(ph_off_usable_size_locked(h, a), 112);
  a = ph_off_realloc_locked(h, a, 5000);
  EXPECT(a > 0);
  EXPECT_EQ(ph_off_free_locked(h, b), 0);
  EXPECT_EQ(ph_off_free_locked(h, b), PH_EDOUBLEFREE);
  EXPECT_EQ(ph_off_malloc_locked(h, -1), PH_EINVAL);
  EXPECT_EQ(ph_heap_unlock(h), PH_EINVAL); /* not held */
  /* Inside a hold they nest, and the hold stays. */
  REQUIRE(ph_heap_lock(h) == 0);
  EXPECT_EQ(ph_off_free_locked(h, c), 0);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), PH_EINVAL);
  EXPECT_EQ(ph_off_free_locked(h, a), 0);
  EXPECT_EQ(ph_heap_check(h, size), 0);
  ph_region_unmap(base, size);
}

TEST(restore_keeps_the_destinations_lock) {
  size_t size = 8 * MiB;
  void *a, *b;
  ph_heap_t *locked = fixture_heap(size, PH_LOCKED, &a);
  ph_heap_t *plain = fixture_heap(size, 0, &b);
  REQUIRE(locked && plain);
  REQUIRE(ph_heap_malloc(plain, 100));
  /* Into a locked heap, under its lock: still locked, still held. */
  REQUIRE(ph_heap_lock(locked) == 0);
  REQUIRE(ph_heap_restore(a, size, b, ph_heap_used_bytes(plain), 0) == locked);
  EXPECT((ph_heap_flags(locked) & PH_LOCKED) != 0);
  EXPECT(ph_heap_malloc(locked, 10) != NULL);
  EXPECT_EQ(ph_heap_unlock(locked), 0);
  EXPECT_EQ(ph_heap_unlock(locked), PH_EINVAL); /* released once: it was held once */
  EXPECT_EQ(ph_heap_lock(locked), 0);
  /* A snapshot taken while held, into a plain heap: no lock comes along. */
  size_t used = ph_heap_used_bytes(locked);
  unsigned char *copy = malloc(used);
  REQUIRE(copy);
  memcpy(copy, a, used);
  EXPECT_EQ(ph_heap_unlock(locked), 0);
  REQUIRE(ph_heap_restore(b, size, copy, used, 0) == plain);
  EXPECT_EQ(ph_heap_flags(plain) & PH_LOCKED, 0);
  EXPECT_EQ(ph_heap_lock(plain), PH_EINVAL);
  EXPECT(ph_heap_malloc(plain, 10) != NULL);
  EXPECT_EQ(ph_heap_check(b, size), 0);
  EXPECT_EQ(ph_heap_check(a, size), 0);
  free(copy);
  ph_region_unmap(a, size);
  ph_region_unmap(b, size);
}

/* Threads and processes: Linux here (fork, pthreads); unit_lock_portable.c
 * does the same for the lock of other systems, Windows included. */
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct worker_arg {
  ph_heap_t *h;
  unsigned seed;
  int ops;
  int errors;
} worker_arg;

/* Random malloc/free under the lock; each allocation tagged with its owner. */
static void *worker(void *p) {
  worker_arg *a = p;
  unsigned char *live[256] = {0};
  size_t sizes[256] = {0};
  unsigned s = a->seed;
  for (int i = 0; i < a->ops; i++) {
    s = s * 1103515245u + 12345u;
    int k = (int)((s >> 8) & 255);
    if (ph_heap_lock(a->h) != 0) a->errors++;
    if (live[k]) {
      for (size_t j = 0; j < sizes[k]; j++)
        if (live[k][j] != (unsigned char)a->seed) a->errors++; /* someone else wrote here */
      if (ph_heap_free(a->h, live[k]) != 0) a->errors++;
      live[k] = NULL;
    } else {
      sizes[k] = 1 + (s >> 16) % 700;
      live[k] = ph_heap_malloc(a->h, sizes[k]);
      if (live[k]) memset(live[k], (unsigned char)a->seed, sizes[k]);
      else a->errors++;
    }
    if (ph_heap_unlock(a->h) != 0) a->errors++;
  }
  return NULL;
}

TEST(threads_allocating_at_once_under_the_lock_keep_the_heap_consistent) {
  size_t size = 64 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, PH_LOCKED, &base);
  REQUIRE(h);
  pthread_t t[4];
  worker_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (worker_arg){h, 11u + (unsigned)i * 40u, 100000, 0};
    REQUIRE(pthread_create(&t[i], NULL, worker, &args[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    EXPECT_EQ(args[i].errors, 0);
  }
  EXPECT_EQ(ph_heap_check(h, size), 0);
  int last = -1;
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 0);
  ph_region_unmap(base, size);
}

TEST(a_holder_killed_with_sigkill_is_taken_over_and_the_heap_checked) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_shared_heap(size, PH_LOCKED, &base);
  REQUIRE(h);
  REQUIRE(ph_heap_malloc(h, 1000));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    /* 'x' once it holds the lock after a finished call (the heap is consistent) */
    char done = ph_heap_lock(h) == 0 && ph_heap_malloc(h, 5000) ? 'x' : 'e';
    if (write(ready[1], &done, 1) != 1) _exit(3);
    for (;;) pause(); /* hold the lock until killed */
  }
  char c;
  REQUIRE(read(ready[0], &c, 1) == 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(ph_heap_lock(h), 1); /* taken over, consistent */
  int last = -1;
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 1);
  EXPECT_EQ(last, 0);
  EXPECT(ph_heap_malloc(h, 100) != NULL);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_lock(h), 0); /* an ordinary lock again */
  EXPECT_EQ(ph_heap_unlock(h), 0);

  /* A holder that dies in the middle of changing the heap: the check says so. */
  child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    char held = ph_heap_lock(h) == 0 ? 'x' : 'e';
    /* Die halfway through a change: bin 4 (40-byte regions, unused here)
     * gets a count of fresh regions but no run. Header layout: internal.h. */
    ((unsigned char *)base)[304 + 4 * 20 + 16] = 5;
    if (write(ready[1], &held, 1) != 1) _exit(3);
    for (;;) pause();
  }
  REQUIRE(read(ready[0], &c, 1) == 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(ph_heap_lock(h), PH_ECORRUPT);
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 2);
  EXPECT(last != 0); /* broken invariants, or a broken header (PH_ECORRUPT) */
  EXPECT_EQ(ph_heap_unlock(h), 0);
  close(ready[0]);
  close(ready[1]);
  munmap(base, size);
}

/* Threads allocating with the *_locked offset calls, tagging their bytes. */
static void *offset_worker(void *p) {
  worker_arg *a = p;
  double live[64] = {0};
  unsigned s = a->seed;
  unsigned char *base = (unsigned char *)a->h;
  for (int i = 0; i < a->ops; i++) {
    s = s * 1103515245u + 12345u;
    int k = (int)((s >> 8) & 63);
    if (live[k] > 0) {
      if (base[(size_t)live[k]] != (unsigned char)a->seed) a->errors++;
      if (ph_off_free_locked(a->h, live[k]) != 0) a->errors++;
      live[k] = 0;
    } else {
      live[k] = ph_off_malloc_locked(a->h, 1 + (s >> 16) % 2000);
      if (live[k] > 0) base[(size_t)live[k]] = (unsigned char)a->seed;
      else a->errors++;
    }
  }
  for (int k = 0; k < 64; k++)
    if (live[k] > 0 && ph_off_free_locked(a->h, live[k]) != 0) a->errors++;
  return NULL;
}

TEST(offset_calls_from_threads_and_a_dead_holder) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_shared_heap(size, PH_LOCKED, &base);
  REQUIRE(h);
  double a = ph_off_malloc_locked(h, 100);
  REQUIRE(a > 0);
  /* Threads at once. */
  pthread_t t[4];
  worker_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (worker_arg){h, 11u + (unsigned)i, 100000, 0};
    REQUIRE(pthread_create(&t[i], NULL, offset_worker, &args[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    EXPECT_EQ(args[i].errors, 0);
  }
  EXPECT_EQ(ph_off_free_locked(h, a), 0);
  ph_stats_t st;
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT_EQ(st.live_count, 0);
  /* A dead holder left the heap broken: the call does nothing, and frees the lock. */
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    char held = ph_heap_lock(h) == 0 ? 'x' : 'e';
    ((unsigned char *)base)[304 + 4 * 20 + 16] = 5; /* as in the test above */
    if (write(ready[1], &held, 1) != 1) _exit(3);
    for (;;) pause();
  }
  char ch;
  REQUIRE(read(ready[0], &ch, 1) == 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  EXPECT_EQ(ch, 'x');
  EXPECT_EQ(ph_off_malloc_locked(h, 64), PH_ECORRUPT);
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT_EQ(st.live_count, 0);
  int last = 0;
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 1);
  EXPECT_EQ(ph_heap_lock(h), PH_ECORRUPT); /* free, no second takeover, and still refused */
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 1);
  close(ready[0]);
  close(ready[1]);
  munmap(base, size);
}

/* A child that takes the lock, breaks the heap as a writer killed halfway
 * through a change would (bin 4 gets fresh regions but no run), and is
 * killed with SIGKILL while it holds the lock. */
static int kill_a_breaking_holder(ph_heap_t *h) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) {
    char held = ph_heap_lock(h) == 0 ? 'x' : 'e';
    ((unsigned char *)h)[304 + 4 * 20 + 16] = 5;
    if (write(ready[1], &held, 1) != 1) _exit(3);
    for (;;) pause();
  }
  char c;
  int ok = read(ready[0], &c, 1) == 1 && c == 'x';
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  close(ready[0]);
  close(ready[1]);
  return ok ? 0 : -1;
}

/* A survivor: 50 rounds of every locked entry point, each of which must be
 * PH_ECORRUPT and do nothing. Exit status: how many were not. */
static int refused_every_time(ph_heap_t *h, double live_off) {
  int wrong = 0;
  for (int i = 0; i < 50; i++) {
    wrong += ph_off_malloc_locked(h, 40) != PH_ECORRUPT;
    wrong += ph_off_calloc_locked(h, 2, 20) != PH_ECORRUPT;
    wrong += ph_off_free_locked(h, live_off) != PH_ECORRUPT;
    wrong += ph_off_realloc_locked(h, live_off, 5000) != PH_ECORRUPT;
    wrong += ph_off_usable_size_locked(h, live_off) != PH_ECORRUPT;
    int rc = ph_heap_lock(h);
    wrong += rc != PH_ECORRUPT;
    wrong += ph_heap_unlock(h) != 0;
  }
  return wrong > 255 ? 255 : wrong;
}

TEST(a_failed_takeover_is_refused_by_every_process_until_a_restore_or_reset) {
  size_t size = 8 * MiB;
  void *base;
  ph_heap_t *h = fixture_shared_heap(size, PH_LOCKED, &base);
  REQUIRE(h);
  double live = ph_off_malloc_locked(h, 1000);
  REQUIRE(live > 0);
  size_t used = ph_heap_used_bytes(h);
  unsigned char *good = malloc(used);
  REQUIRE(good);
  memcpy(good, base, used); /* a consistent image, lock free */
  REQUIRE(kill_a_breaking_holder(h) == 0);
  EXPECT_EQ(ph_heap_lock(h), PH_ECORRUPT); /* the takeover finds it broken */
  EXPECT_EQ(ph_heap_unlock(h), 0);
  /* Two other processes, at once: refused every time, and no crash. */
  pid_t a = fork();
  if (a == 0) _exit(refused_every_time(h, live));
  pid_t b = fork();
  if (b == 0) _exit(refused_every_time(h, live));
  REQUIRE(a > 0 && b > 0);
  int sa, sb;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  EXPECT(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
  EXPECT(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
  EXPECT_EQ(refused_every_time(h, live), 0); /* and here */
  int last = 0;
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 1);
  EXPECT(last != 0); /* broken invariants, or a broken header (PH_ECORRUPT) */
  /* A restore, under the lock (which says ECORRUPT but is held), mends it. */
  EXPECT_EQ(ph_heap_lock(h), PH_ECORRUPT);
  EXPECT(ph_heap_restore(base, size, good, used, 0) == h);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_lock(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT(ph_off_malloc_locked(h, 40) > 0);
  EXPECT_EQ(ph_off_free_locked(h, live), 0);
  EXPECT_EQ(ph_heap_check(base, size), 0);
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 1);
  EXPECT_EQ(last, 0);
  /* Broken again; a reset mends it too, and other processes see that. */
  REQUIRE(kill_a_breaking_holder(h) == 0);
  EXPECT_EQ(ph_off_malloc_locked(h, 40), PH_ECORRUPT);
  EXPECT_EQ(ph_heap_lock(h), PH_ECORRUPT);
  EXPECT_EQ(ph_heap_reset(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  pid_t c = fork();
  if (c == 0) _exit(ph_off_malloc_locked(h, 40) > 0 && ph_heap_check(h, size) == 0 ? 0 : 1);
  REQUIRE(c > 0);
  int sc;
  waitpid(c, &sc, 0);
  EXPECT(WIFEXITED(sc) && WEXITSTATUS(sc) == 0);
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 2);
  EXPECT_EQ(last, 0);
  EXPECT_EQ(ph_heap_check(base, size), 0);
  free(good);
  munmap(base, size);
}

/* ---- kill -9 of a holder at random points of its calls ------------------ */

/* A writer that never stops: malloc, calloc, free and realloc (large ones
 * too, so it spends time copying under the lock), counting its calls in
 * *progress. */
static void churn(ph_heap_t *h, unsigned seed, volatile uint64_t *progress) {
  double live[64] = {0};
  unsigned s = seed;
  for (;;) {
    s = s * 1103515245u + 12345u;
    int k = (int)((s >> 8) & 63);
    size_t n = (s >> 16) % 4 == 0 ? (size_t)((s >> 18) % 400000) : 1 + (s >> 16) % 3000;
    if (live[k] > 0 && (s & 3) == 0) {
      double r = ph_off_realloc_locked(h, live[k], (double)n);
      if (r > 0) live[k] = r;
    } else if (live[k] > 0) {
      ph_off_free_locked(h, live[k]);
      live[k] = 0;
    } else {
      live[k] = (s & 4) ? ph_off_calloc_locked(h, 1, (double)n) : ph_off_malloc_locked(h, (double)n);
    }
    (*progress)++;
  }
}

/* A survivor process: the heap is usable and consistent (status 0), or
 * refused by every call (status 0 too when `broken`); else non-zero. */
static int survivor(ph_heap_t *h, size_t size, int broken) {
  for (int i = 0; i < 20; i++) {
    double a = ph_off_malloc_locked(h, 100 + i);
    if (broken ? a != PH_ECORRUPT : a <= 0) return 1;
    if (!broken && ph_off_free_locked(h, a) != 0) return 2;
  }
  int rc = ph_heap_lock(h);
  if (rc != (broken ? PH_ECORRUPT : 0)) return 3;
  if (!broken && ph_heap_check(h, size) != 0) return 4;
  return ph_heap_unlock(h) == 0 ? 0 : 5;
}

TEST(a_holder_killed_at_random_points_leaves_every_survivor_a_consistent_heap_or_ecorrupt) {
  size_t size = 64 * MiB;
  void *base;
  ph_heap_t *h = fixture_shared_heap(size, PH_LOCKED, &base);
  uint64_t *progress = fixture_shared_region(4096);
  REQUIRE(progress);
  REQUIRE(h);
  test_seed = 0x5eed1234u;
  unsigned s = (unsigned)test_seed;
  int outside = 0, consistent = 0, broken = 0, rounds = 60;
  for (int round = 0; round < rounds; round++) {
    s = s * 1103515245u + 12345u;
    uint64_t target = 200 + (s >> 8) % 3000;
    *progress = 0;
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) churn(h, s, progress);
    while (*progress < target) sched_yield();
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    int before = ph_heap_lock_recoveries(h, NULL);
    int rc = ph_heap_lock(h); /* the first survivor */
    int took_over = ph_heap_lock_recoveries(h, NULL) != before;
    EXPECT(rc == 0 || rc == 1 || rc == PH_ECORRUPT);
    EXPECT(took_over == (rc != 0));
    int is_broken = rc == PH_ECORRUPT;
    if (!is_broken) EXPECT_EQ(ph_heap_check(h, size), 0);
    EXPECT_EQ(ph_heap_unlock(h), 0);
    outside += rc == 0;
    consistent += rc == 1;
    broken += is_broken;
    /* Two more survivors, in other processes, one after the other. */
    for (int k = 0; k < 2; k++) {
      pid_t other = fork();
      REQUIRE(other >= 0);
      if (other == 0) _exit(survivor(h, size, is_broken));
      int st;
      waitpid(other, &st, 0);
      EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* Mend (a broken heap) and empty it for the next round. */
    EXPECT_EQ(ph_heap_lock(h), is_broken ? PH_ECORRUPT : 0);
    EXPECT_EQ(ph_heap_reset(h), 0);
    EXPECT_EQ(ph_heap_unlock(h), 0);
  }
  printf("#   %d kills: %d outside the lock, %d holding it with the heap consistent, %d mid-change (ECORRUPT)\n", rounds,
         outside, consistent, broken);
  EXPECT_EQ(outside + consistent + broken, rounds);
  munmap(progress, 4096);
  munmap(base, size);
}

#endif

TEST_MAIN()
