/*
 * integration_lock_fork.c - fork() and PH_LOCKED heaps (POSIX): a child
 * forked while another thread holds the lock of a heap it shares with the
 * parent waits for the release; a child whose copy of the heap is private
 * (copy-on-write) never waits for a thread of its parent: it takes the lock
 * over and checks its copy; and the usual pthread_atfork handlers (take the
 * lock before fork, release it after in both processes) work whenever they
 * were registered.
 */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS */
#include "harness.h"
#include "fixture.h"
#include "privheap.h"

#if defined(__linux__) /* the only system that tells private mappings from shared ones (see privheap.h) */
#include "watchdog.h"
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>

#define MiB ((size_t)1 << 20)
#define WAITERS_BIT 0x80000000u

/* Header layout (csrc/internal.h): the lock word, and bin 4's fresh count. */
static uint64_t lock_word_of(void *base) {
  return __atomic_load_n((uint64_t *)((char *)base + PH_LOCK_BLOCK_OFFSET), __ATOMIC_ACQUIRE);
}
static void break_heap(void *base) { ((unsigned char *)base)[304 + 4 * 20 + 16] = 5; }

/* Until the lock word shows a waiter, or `child` has exited (not reaped). */
static void wait_for_a_waiter(void *base, pid_t child) {
  siginfo_t info;
  while (!(lock_word_of(base) & WAITERS_BIT)) {
    info.si_pid = 0;
    if (waitid(P_PID, (id_t)child, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == child) return;
    sched_yield();
  }
}

/* A thread that takes the lock, optionally breaks the heap, says so, and
 * holds the lock until told to release it. */
typedef struct holder {
  ph_heap_t *h;
  int breaks;
  int holding, release, rc;
} holder;

static void *hold(void *p) {
  holder *a = p;
  a->rc = ph_heap_lock(a->h);
  if (a->breaks) break_heap(a->h);
  __atomic_store_n(&a->holding, 1, __ATOMIC_RELEASE);
  while (!__atomic_load_n(&a->release, __ATOMIC_ACQUIRE)) sched_yield();
  if (a->breaks) ((unsigned char *)a->h)[304 + 4 * 20 + 16] = 0; /* the change completes */
  if (ph_heap_unlock(a->h) != 0) a->rc = -100;
  return NULL;
}

static pthread_t start_holder(holder *a) {
  pthread_t t;
  if (pthread_create(&t, NULL, hold, a) != 0) return 0;
  while (!__atomic_load_n(&a->holding, __ATOMIC_ACQUIRE)) sched_yield();
  return t;
}

/* In a child whose copy of the heap is private: the lock held by a parent
 * thread is taken over (status 0), never waited on. */
static int child_takes_over(ph_heap_t *h, int want) {
  int rc = ph_heap_lock(h);
  if (rc != want) return 1;
  if (want == 1 && !ph_heap_malloc(h, 100)) return 2;
  if (ph_heap_unlock(h) != 0) return 3;
  int last = 0;
  if (ph_heap_lock_recoveries(h, &last) != 1) return 4;
  if (want == PH_ECORRUPT) { /* and so on, in this copy */
    if (ph_off_malloc_locked(h, 100) != PH_ECORRUPT || ph_heap_lock(h) != PH_ECORRUPT) return 5;
    ph_heap_unlock(h);
  }
  return 0;
}

static void private_copy_case(int breaks) {
  size_t size = 4 * MiB;
  void *base; /* private: a child gets a copy */
  ph_heap_t *h = fixture_heap(size, PH_LOCKED, &base);
  REQUIRE(h && ph_heap_malloc(h, 1000));
  holder a = {h, breaks, 0, 0, 0};
  pthread_t t = start_holder(&a);
  REQUIRE(t);
  fflush(stdout);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(child_takes_over(h, breaks ? PH_ECORRUPT : 1));
  EXPECT_EQ(watchdog_wait(child, 10), 0);
  __atomic_store_n(&a.release, 1, __ATOMIC_RELEASE);
  pthread_join(t, NULL);
  EXPECT_EQ(a.rc, 0);
  /* The parent's heap never saw any of it. */
  int last = 0;
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 0);
  EXPECT_EQ(ph_heap_check(base, size), 0);
  ph_region_unmap(base, size);
}

TEST(a_child_with_a_private_copy_takes_over_a_lock_another_thread_held_at_fork) { private_copy_case(0); }

TEST(a_child_with_a_private_copy_made_mid_change_gets_ecorrupt_not_a_hang) { private_copy_case(1); }

/* Status 0 when the child's lock returns 0 once the parent releases it. */
static int child_waits(ph_heap_t *h) {
  int rc = ph_heap_lock(h);
  if (rc != 0) return 1;
  if (!ph_heap_malloc(h, 100)) return 2;
  return ph_heap_unlock(h) == 0 ? 0 : 3;
}

TEST(a_child_sharing_the_heap_waits_for_the_parent_threads_release) {
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_shared_heap(size, PH_LOCKED, &base);
  REQUIRE(h);
  holder a = {h, 0, 0, 0, 0};
  pthread_t t = start_holder(&a);
  REQUIRE(t);
  fflush(stdout);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(child_waits(h));
  /* The child waits (it marks the word), then the holder releases. */
  wait_for_a_waiter(base, child);
  __atomic_store_n(&a.release, 1, __ATOMIC_RELEASE);
  pthread_join(t, NULL);
  EXPECT_EQ(watchdog_wait(child, 10), 0);
  EXPECT_EQ(a.rc, 0);
  int last = 0;
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 0); /* a wait, not a takeover */
  EXPECT_EQ(ph_heap_check(base, size), 0);
  munmap(base, size);
}

/* ---- the usual handlers: lock before fork, unlock after, in both -------- */

static ph_heap_t *atfork_heap;
static int child_unlock_rc = 1; /* what the child's handler got (the child's copy) */
static int parent_unlock_rc = 1;
static int prepare_lock_rc = 1;
static int handlers_on; /* the handlers act only inside these cases */

static void prepare(void) {
  if (handlers_on) prepare_lock_rc = ph_heap_lock(atfork_heap);
}
static void in_parent(void) {
  if (handlers_on) parent_unlock_rc = ph_heap_unlock(atfork_heap);
}
static void in_child(void) {
  if (handlers_on) child_unlock_rc = ph_heap_unlock(atfork_heap);
}

/* Registered once, before any case takes a lock: the order that used to
 * make the child act with its parent's thread id. */
__attribute__((constructor)) static void register_handlers(void) { pthread_atfork(prepare, in_parent, in_child); }

/* Child: its handler released its copy's lock (status 0), and it locks again. */
static int child_after_handlers(ph_heap_t *h) {
  if (child_unlock_rc != 0) return 1;
  if (ph_heap_lock(h) != 0) return 2; /* free in its copy: no wait, no takeover */
  if (!ph_heap_malloc(h, 64)) return 3;
  if (ph_heap_unlock(h) != 0) return 4;
  int last;
  return ph_heap_lock_recoveries(h, &last) == 0 ? 0 : 5;
}

TEST(the_usual_atfork_handlers_leave_a_private_copy_unlocked_in_the_child) {
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, PH_LOCKED, &base);
  REQUIRE(h && ph_heap_malloc(h, 100));
  atfork_heap = h;
  handlers_on = 1;
  fflush(stdout);
  pid_t child = fork();
  handlers_on = 0;
  REQUIRE(child >= 0);
  if (child == 0) _exit(child_after_handlers(h));
  EXPECT_EQ(prepare_lock_rc, 0);
  EXPECT_EQ(parent_unlock_rc, 0);
  EXPECT_EQ(watchdog_wait(child, 10), 0);
  EXPECT_EQ(lock_word_of(base), 0);
  ph_region_unmap(base, size);
}

/* The same handlers registered only after this process took a lock. */
static ph_heap_t *late_heap;
static int late_child_rc = 1;
static int late_prepare_rc = 1;
static void late_prepare(void) { late_prepare_rc = ph_heap_lock(late_heap); }
static void late_parent(void) { ph_heap_unlock(late_heap); }
static void late_child(void) { late_child_rc = ph_heap_unlock(late_heap); }

static int grandchild_after_late_handlers(ph_heap_t *h) {
  if (late_prepare_rc != 0 || late_child_rc != 0) return 1;
  if (ph_heap_lock(h) != 0) return 2;
  return ph_heap_unlock(h) == 0 ? 0 : 3;
}

static int register_late_then_fork(void *arg) {
  (void)arg;
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_heap(size, PH_LOCKED, &base);
  if (!h || ph_heap_lock(h) != 0 || ph_heap_unlock(h) != 0) return 10;
  late_heap = h;
  pthread_atfork(late_prepare, late_parent, late_child);
  pid_t child = fork();
  if (child < 0) return 11;
  if (child == 0) _exit(grandchild_after_late_handlers(h));
  int rc = watchdog_wait(child, 5);
  if (rc != 0) return 20 + (rc > 0 ? rc : 9);
  return lock_word_of(base) == 0 ? 0 : 12;
}

TEST(the_usual_atfork_handlers_work_when_registered_after_the_first_lock) {
  EXPECT_EQ(watchdog_run(register_late_then_fork, NULL, 10), 0);
}

/* Child sharing the heap: its handler must not release the parent's hold. */
static int child_sharing_after_handlers(ph_heap_t *h) {
  if (child_unlock_rc != PH_EINVAL) return 1;
  return child_waits(h) == 0 ? 0 : 2;
}

TEST(the_usual_atfork_handlers_never_release_a_shared_heaps_lock_from_the_child) {
  size_t size = 4 * MiB;
  void *base;
  ph_heap_t *h = fixture_shared_heap(size, PH_LOCKED, &base);
  REQUIRE(h);
  atfork_heap = h;
  REQUIRE(ph_heap_lock(h) == 0); /* held across the fork: the parent handler's unlock leaves this hold */
  handlers_on = 1;
  fflush(stdout);
  pid_t child = fork();
  handlers_on = 0;
  REQUIRE(child >= 0);
  if (child == 0) _exit(child_sharing_after_handlers(h));
  EXPECT_EQ(prepare_lock_rc, 0);
  EXPECT_EQ(parent_unlock_rc, 0);
  /* Still ours while the child runs its handler and then waits. */
  wait_for_a_waiter(base, child);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(watchdog_wait(child, 10), 0);
  int last;
  EXPECT_EQ(ph_heap_lock_recoveries(h, &last), 0);
  EXPECT_EQ(ph_heap_check(base, size), 0);
  munmap(base, size);
}
#endif

TEST_MAIN()
