/*
 * unit_lock_portable.c - the lock of systems without futex
 * (lock_portable.c), run on Linux through its internal entry points: it
 * excludes threads and processes, is recursive for its owner only, takes
 * over from a dead process, and never from a live one.
 */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, kill */
#include "harness.h"
#include "internal.h"

#if !defined(_WIN32)
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

/* A locked heap in memory shared with forked children. */
static ph_heap_t *shared_heap(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : ph_heap_init(p, size, PH_LOCKED);
}

typedef struct worker_arg {
  ph_heap_t *h;
  unsigned seed;
  int ops, errors;
} worker_arg;

/* Random malloc/free under the lock, each allocation tagged with its owner. */
static void *worker(void *p) {
  worker_arg *a = p;
  unsigned char *live[128] = {0};
  size_t sizes[128] = {0};
  unsigned s = a->seed;
  for (int i = 0; i < a->ops; i++) {
    s = s * 1103515245u + 12345u;
    int k = (int)((s >> 8) & 127);
    if (ph__portable_lock(a->h) != 0) a->errors++;
    if (live[k]) {
      for (size_t j = 0; j < sizes[k]; j++)
        if (live[k][j] != (unsigned char)a->seed) a->errors++;
      if (ph_heap_free(a->h, live[k]) != 0) a->errors++;
      live[k] = NULL;
    } else {
      sizes[k] = 1 + (s >> 16) % 900;
      live[k] = ph_heap_malloc(a->h, sizes[k]);
      if (live[k]) memset(live[k], (unsigned char)a->seed, sizes[k]);
      else a->errors++;
    }
    if (ph__portable_unlock(a->h) != 0) a->errors++;
  }
  return NULL;
}

TEST(threads_and_processes_allocating_at_once_keep_the_heap_consistent) {
  ph_heap_t *h = shared_heap(16 * MiB);
  REQUIRE(h);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    worker_arg a = {h, 99u, 30000, 0};
    worker(&a);
    _exit(a.errors == 0 ? 0 : 1);
  }
  pthread_t t[3];
  worker_arg args[3];
  for (int i = 0; i < 3; i++) {
    args[i] = (worker_arg){h, 7u + (unsigned)i, 30000, 0};
    REQUIRE(pthread_create(&t[i], NULL, worker, &args[i]) == 0);
  }
  for (int i = 0; i < 3; i++) {
    pthread_join(t[i], NULL);
    EXPECT_EQ(args[i].errors, 0);
  }
  int status = -1;
  waitpid(child, &status, 0);
  EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(h->lock_word, 0);
  EXPECT_EQ(ph_heap_check(h, 16 * MiB), 0);
  EXPECT_EQ(h->lock_recoveries, 0);
  munmap(h, 16 * MiB);
}

static void *try_unlock(void *p) { return (void *)(intptr_t)ph__portable_unlock(p); }

TEST(recursive_for_its_owner_and_released_only_by_it) {
  ph_heap_t *h = shared_heap(4 * MiB);
  REQUIRE(h);
  EXPECT_EQ(ph__portable_lock(h), 0);
  EXPECT_EQ(ph__portable_lock(h), 0);
  pthread_t t;
  void *rc;
  REQUIRE(pthread_create(&t, NULL, try_unlock, h) == 0);
  pthread_join(t, &rc);
  EXPECT_EQ((int)(intptr_t)rc, PH_EINVAL); /* another thread does not own it */
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT(h->lock_word != 0); /* held once more */
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT_EQ(h->lock_word, 0);
  EXPECT_EQ(ph__portable_unlock(h), PH_EINVAL);
  munmap(h, 4 * MiB);
}

/* A child that takes the lock, runs `change` on the heap, says so on the
 * pipe, and waits to be killed or told (a byte on `go`) to release. */
static pid_t holder(ph_heap_t *h, int ready, int go, void (*change)(ph_heap_t *)) {
  pid_t child = fork();
  if (child != 0) return child;
  ph__portable_lock(h);
  if (change) change(h);
  char c = 'x';
  if (write(ready, &c, 1) != 1) _exit(3);
  if (read(go, &c, 1) != 1) _exit(4);
  ph__portable_unlock(h);
  _exit(0);
}

static void finished_malloc(ph_heap_t *h) { ph_heap_malloc(h, 5000); }
static void half_done(ph_heap_t *h) { h->bins[4].fresh = 5; } /* fresh regions but no run */

TEST(a_dead_holder_is_taken_over_and_the_heap_checked) {
  ph_heap_t *h = shared_heap(8 * MiB);
  REQUIRE(h);
  int ready[2], go[2];
  REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
  char c;
  pid_t child = holder(h, ready[1], go[0], finished_malloc);
  REQUIRE(child > 0 && read(ready[0], &c, 1) == 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  EXPECT_EQ(ph__portable_lock(h), 1); /* taken over, consistent */
  EXPECT_EQ(h->lock_recoveries, 1);
  EXPECT(ph_heap_malloc(h, 100) != NULL);
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT_EQ(ph__portable_lock(h), 0); /* an ordinary lock again */
  EXPECT_EQ(ph__portable_unlock(h), 0);

  child = holder(h, ready[1], go[0], half_done);
  REQUIRE(child > 0 && read(ready[0], &c, 1) == 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  EXPECT_EQ(ph__portable_lock(h), PH_ECORRUPT);
  EXPECT_EQ(h->lock_recoveries, 2);
  EXPECT(h->lock_check > 0);
  EXPECT_EQ(ph__portable_unlock(h), 0);
  close(ready[0]);
  close(ready[1]);
  close(go[0]);
  close(go[1]);
  munmap(h, 8 * MiB);
}

typedef struct locker_arg {
  ph_heap_t *h;
  int rc, done;
} locker_arg;

static void *locker(void *p) {
  locker_arg *a = p;
  a->rc = ph__portable_lock(a->h);
  __atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
  if (a->rc >= 0) ph__portable_unlock(a->h);
  return NULL;
}

TEST(a_live_holder_in_another_process_is_waited_for_not_taken_over) {
  ph_heap_t *h = shared_heap(4 * MiB);
  REQUIRE(h);
  int ready[2], go[2];
  REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
  char c = 'x';
  pid_t child = holder(h, ready[1], go[0], NULL);
  REQUIRE(child > 0 && read(ready[0], &c, 1) == 1);
  locker_arg a = {h, -100, 0};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, locker, &a) == 0);
  /* Five of its liveness checks: it must still be waiting. */
  struct timespec wait = {0, 100 * 1000 * 1000};
  nanosleep(&wait, NULL);
  EXPECT_EQ(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), 0);
  REQUIRE(write(go[1], &c, 1) == 1); /* the holder releases */
  pthread_join(t, NULL);
  EXPECT_EQ(a.rc, 0); /* an ordinary lock, no takeover */
  EXPECT_EQ(h->lock_recoveries, 0);
  waitpid(child, NULL, 0);
  close(ready[0]);
  close(ready[1]);
  close(go[0]);
  close(go[1]);
  munmap(h, 4 * MiB);
}

TEST(a_word_naming_a_process_that_is_gone_is_taken_over) {
  ph_heap_t *h = shared_heap(4 * MiB);
  REQUIRE(h);
  pid_t gone = fork();
  REQUIRE(gone >= 0);
  if (gone == 0) _exit(0);
  waitpid(gone, NULL, 0); /* reaped: its id names no process (until reused) */
  __atomic_store_n(&h->lock_word, (uint64_t)(uint32_t)gone | (uint64_t)1 << 32, __ATOMIC_RELEASE);
  EXPECT_EQ(ph__portable_lock(h), 1);
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT_EQ(h->lock_word, 0);
  munmap(h, 4 * MiB);
}
#else
TEST(no_portable_lock_on_windows) { EXPECT(ph_heap_init(NULL, 0, PH_LOCKED) == NULL); }
#endif

TEST_MAIN()
