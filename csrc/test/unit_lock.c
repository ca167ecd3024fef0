/*
 * unit_lock.c - the lock block from inside: a lock word naming a thread id
 * that is in use, but by a thread that started at another time (the dead
 * owner's id was reused), is taken over; a waiter's bit survives a restore
 * and a ring's page copy; the header check refuses a lock block or flags
 * no version of this layout writes; an unlock by a thread that does not own
 * the lock is refused, without a data race on the owner's recursion.
 */
#define _DEFAULT_SOURCE 1 /* getppid */
#include "harness.h"
#include "prim.h"

#define MiB ((size_t)1 << 20)

/* A copy of the used prefix of h, with its lock block set to `fill`
 * (lock_enabled left as it was: the header check reads it). */
static unsigned char *copy_with_lock_block(const ph_heap_t *h, unsigned char fill) {
  size_t used = ph_heap_used_bytes(h);
  unsigned char *copy = malloc(used);
  if (!copy) return NULL;
  memcpy(copy, h, used);
  memset(copy + PH_LOCK_BLOCK_OFFSET, fill, offsetof(struct ph_heap, lock_enabled) - PH_LOCK_BLOCK_OFFSET);
  return copy;
}

TEST(the_header_check_refuses_unknown_flags_and_lock_states) {
  size_t size = 4 * MiB;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  ph_heap_t *h = ph_heap_init(base, size, PH_ZERO_ON_FREE);
  REQUIRE(h);
  EXPECT_EQ(ph_heap_flags(h), PH_ZERO_ON_FREE);
  h->flags |= PH_LOCKED; /* where layout 1 kept it: not a layout-2 heap */
  EXPECT(ph_heap_attach(base, size) == NULL && ph_last_error() == PH_ECORRUPT);
  h->flags &= ~PH_LOCKED;
  h->lock_enabled = 2;
  EXPECT(ph_heap_attach(base, size) == NULL && ph_last_error() == PH_ECORRUPT);
  h->lock_enabled = 1;
  EXPECT(ph_heap_attach(base, size) == h);
  EXPECT_EQ(ph_heap_flags(h), PH_ZERO_ON_FREE | PH_LOCKED);
  h->lock_enabled = 0;
  ph_region_unmap(base, size);
}

TEST(a_restore_into_a_fresh_region_leaves_no_lock) {
  size_t size = 4 * MiB;
  void *a = ph_region_map_anon(size), *b = ph_region_map_anon(size);
  REQUIRE(a && b);
  ph_heap_t *h = ph_heap_init(a, size, 0);
  REQUIRE(h && ph_heap_malloc(h, 64));
  h->lock_enabled = 1; /* as a locked heap's image has it */
  unsigned char *copy = copy_with_lock_block(h, 0x5A);
  REQUIRE(copy);
  memset(b, 0xEE, size); /* not a heap: nothing there to keep */
  ph_heap_t *r = ph_heap_restore(b, size, copy, ph_heap_used_bytes(h), 0);
  REQUIRE(r);
  EXPECT_EQ(ph_heap_flags(r) & PH_LOCKED, 0);
  EXPECT_EQ(r->lock_word, 0);
  EXPECT_EQ(r->lock_depth, 0);
  EXPECT_EQ(r->lock_recoveries, 0);
  EXPECT_EQ(ph_heap_check(b, size), 0);
  free(copy);
  ph_region_unmap(a, size);
  ph_region_unmap(b, size);
}

#if PH_PRIM_FUTEX
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>

TEST(an_owner_id_reused_by_another_thread_is_taken_over) {
  size_t size = (size_t)4 << 20;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  ph_heap_t *h = ph_heap_init(base, size, PH_LOCKED);
  REQUIRE(h);
  /* The parent process exists, but it did not start at clock tick 1. */
  uint32_t parent = (uint32_t)getppid();
  __atomic_store_n(&h->lock_word, (uint64_t)parent | (uint64_t)1 << 32, __ATOMIC_RELEASE);
  EXPECT_EQ(ph_heap_lock(h), 1); /* taken over (after one sleep), heap consistent */
  EXPECT_EQ(h->lock_recoveries, 1);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), 0);
  /* A word that names another thread is not ours to release. */
  __atomic_store_n(&h->lock_word, (uint64_t)parent | (uint64_t)1 << 32, __ATOMIC_RELEASE);
  EXPECT_EQ(ph_heap_unlock(h), PH_EINVAL);
  __atomic_store_n(&h->lock_word, 0, __ATOMIC_RELEASE);
  ph_region_unmap(base, size);
}

TEST(attach_validates_a_locked_heap_under_its_lock) {
  size_t size = (size_t)4 << 20;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  ph_heap_t *h = ph_heap_init(base, size, PH_LOCKED);
  REQUIRE(h);
  /* Held by a dead owner: attach takes the lock over (counted), then gives it back. */
  __atomic_store_n(&h->lock_word, (uint64_t)getppid() | (uint64_t)1 << 32, __ATOMIC_RELEASE);
  EXPECT(ph_heap_attach(base, size) == h);
  EXPECT_EQ(h->lock_recoveries, 1);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), 0);
  /* Held by this thread: attach nests inside the hold, and leaves it held. */
  REQUIRE(ph_heap_lock(h) == 0);
  EXPECT(ph_heap_attach(base, size) == h);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), 0);
  /* A larger mapping does not grow a locked heap (others map it at its size). */
  REQUIRE(ph_heap_init(base, size / 2, PH_LOCKED) == h);
  EXPECT(ph_heap_attach(base, size) == h);
  EXPECT_EQ(h->npages, (uint32_t)(size / 2 / PH_PAGE_SIZE));
  ph_region_unmap(base, size);
}

typedef struct attach_arg {
  void *base;
  size_t size;
  ph_heap_t *got;
  int done;
} attach_arg;

static void *attacher(void *p) {
  attach_arg *a = p;
  a->got = ph_heap_attach(a->base, a->size);
  __atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

TEST(attach_waits_for_the_holder_instead_of_reading_a_header_mid_change) {
  size_t size = (size_t)4 << 20;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  ph_heap_t *h = ph_heap_init(base, size, PH_LOCKED);
  REQUIRE(h);
  REQUIRE(ph_heap_lock(h) == 0);
  uint32_t hwm = h->hwm;
  h->hwm = h->npages + 1; /* as a writer's half-done change could look */
  attach_arg a = {base, size, NULL, 0};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, attacher, &a) == 0);
  /* It waits (the waiters bit shows it), unless it read the header at once. */
  while (!(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE) & 0x80000000u) && !__atomic_load_n(&a.done, __ATOMIC_ACQUIRE))
    sched_yield();
  h->hwm = hwm; /* the change completes */
  EXPECT_EQ(ph_heap_unlock(h), 0);
  REQUIRE(pthread_join(t, NULL) == 0);
  EXPECT(a.got == h);
  ph_region_unmap(base, size);
}

/* A waiter in another thread: takes the lock, and gives it back. */
static void *waiter(void *p) {
  ph_heap_t *h = p;
  int rc = ph_heap_lock(h);
  if (rc == 0) rc = ph_heap_unlock(h);
  return (void *)(intptr_t)rc;
}

TEST(restores_and_page_copies_leave_a_held_and_awaited_lock_alone) {
  size_t size = 4 * MiB;
  void *base = ph_region_map_anon(size);
  REQUIRE(base);
  ph_heap_t *h = ph_heap_init(base, size, PH_LOCKED);
  REQUIRE(h && ph_heap_malloc(h, 4000));
  unsigned char *copy = copy_with_lock_block(h, 0); /* an image of the heap, lock free */
  REQUIRE(copy);
  size_t used = ph_heap_used_bytes(h);
  REQUIRE(ph_heap_lock(h) == 0);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, waiter, h) == 0);
  /* Until the waiter has marked the word: it spins 100 times, then sets bit 31. */
  uint64_t word;
  while (!((word = __atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE)) & 0x80000000u)) sched_yield();
  REQUIRE(ph_heap_restore(base, size, copy, used, 0) == h);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), word);
  uint32_t all[64];
  for (uint32_t i = 0; i < 64; i++) all[i] = i;
  uint32_t pages = (uint32_t)(used >> PH_LG_PAGE);
  REQUIRE(pages <= 64);
  EXPECT_EQ(ph_heap_put_pages(h, copy, all, all, pages), (int)pages);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), word);
  EXPECT_EQ(ph_heap_flags(h) & PH_LOCKED, PH_LOCKED);
  EXPECT_EQ(ph_heap_unlock(h), 0); /* still ours: the waiter is woken and gets it */
  void *rc;
  REQUIRE(pthread_join(t, &rc) == 0);
  EXPECT_EQ((int)(intptr_t)rc, 0);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), 0);
  EXPECT_EQ(ph_heap_check(base, size), 0);
  free(copy);
  ph_region_unmap(base, size);
}
/* A thread holding another heap's lock, so its unlock of h gets past the
 * "holds nothing" check: every try must be PH_EINVAL, and its reads of the
 * owner's recursion count must not race with the owner's writes
 * (ThreadSanitizer reports a plain read there as a data race). */
typedef struct stranger_arg {
  ph_heap_t *h, *other;
  int ready, stop, wrong;
} stranger_arg;

static void *stranger(void *p) {
  stranger_arg *a = p;
  if (ph_heap_lock(a->other) != 0) a->wrong = -1000000;
  __atomic_store_n(&a->ready, 1, __ATOMIC_RELEASE);
  while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE))
    if (ph_heap_unlock(a->h) != PH_EINVAL) a->wrong++;
  if (ph_heap_unlock(a->other) != 0) a->wrong++;
  return NULL;
}

TEST(an_unlock_by_a_thread_that_holds_another_lock_is_einval_and_leaves_the_owners_recursion) {
  size_t size = (size_t)4 << 20;
  void *a_base = ph_region_map_anon(size), *b_base = ph_region_map_anon(size);
  REQUIRE(a_base && b_base);
  ph_heap_t *h = ph_heap_init(a_base, size, PH_LOCKED), *other = ph_heap_init(b_base, size, PH_LOCKED);
  REQUIRE(h && other);
  REQUIRE(ph_heap_lock(h) == 0);
  REQUIRE(ph_heap_lock(h) == 0); /* recursion 1 */
  stranger_arg a = {h, other, 0, 0, 0};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, stranger, &a) == 0);
  while (!__atomic_load_n(&a.ready, __ATOMIC_ACQUIRE)) sched_yield();
  int wrong = 0;
  for (int i = 0; i < 20000; i++) /* recursion 1 -> 2 -> 1 while the stranger tries */
    if (ph_heap_lock(h) != 0 || ph_heap_unlock(h) != 0) wrong++;
  __atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
  REQUIRE(pthread_join(t, NULL) == 0);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(a.wrong, 0);
  EXPECT_EQ(h->lock_depth, 1);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), 0);
  EXPECT_EQ(ph_heap_unlock(h), PH_EINVAL);
  EXPECT_EQ(__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE), 0);
  ph_region_unmap(a_base, size);
  ph_region_unmap(b_base, size);
}

/* ---- lock words from untrusted bytes ------------------------------------ */
#include "watchdog.h"
#include <sys/mman.h>
#include <sys/syscall.h>

#define WAITERS_BIT 0x80000000u

/* A live thread to name in forged words: it blocks reading a pipe. */
static int park_pipe[2];
static pid_t parked_tid;
static void *parked(void *p) {
  (void)p;
  __atomic_store_n(&parked_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
  char c;
  if (read(park_pipe[0], &c, 1) < 0) return NULL;
  return NULL;
}

/* Whether attach of h's region fails with PH_EBUSY after waiting `bound` s
 * (the caller's watchdog bounds a wait that never ends). */
static int attach_is_ebusy_after(ph_heap_t *h, size_t size, double bound) {
  double t0 = watchdog_now();
  ph_heap_t *r = ph_heap_attach(h, size);
  double took = watchdog_now() - t0;
  if (r != NULL || ph_last_error() != PH_EBUSY) return 0;
  return took >= bound * 0.95;
}

/* Child of the case below; its exit status is the first step that failed. */
static int live_owner_steps(void *arg) {
  (void)arg;
  size_t size = 4 * MiB;
  /* Shared, as a heap file is (a private copy's lock is another matter: a
   * process elsewhere can never release it). */
  void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ph_heap_t *h = base == MAP_FAILED ? NULL : ph_heap_init(base, size, PH_LOCKED);
  if (!h) return 10;
  double bound = PH_ATTACH_WAIT_MS / 1000.0;
  /* Process 1 exists as long as the system (or container) runs. */
  __atomic_store_n(&h->lock_word, 1, __ATOMIC_RELEASE);
  if (!attach_is_ebusy_after(h, size, bound)) return 11;
  if ((__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE) & ~(uint64_t)WAITERS_BIT) != 1) return 12;
  double t0 = watchdog_now();
  if (ph_heap_lock_timeout(h, 100) != PH_EBUSY) return 13;
  double took = watchdog_now() - t0;
  if (took < 0.095 || took > 1.0) return 14;
  /* Another thread of this process, alive. */
  pthread_t t;
  if (pipe(park_pipe) != 0 || pthread_create(&t, NULL, parked, NULL) != 0) return 15;
  while (__atomic_load_n(&parked_tid, __ATOMIC_ACQUIRE) == 0) sched_yield();
  __atomic_store_n(&h->lock_word, (uint64_t)parked_tid, __ATOMIC_RELEASE);
  if (!attach_is_ebusy_after(h, size, bound)) return 16;
  if (write(park_pipe[1], "x", 1) != 1 || pthread_join(t, NULL) != 0) return 17;
  /* That thread is gone now: the next attach takes its lock over. */
  if (ph_heap_attach(h, size) != h || h->lock_recoveries != 1) return 18;
  if (__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE) != 0) return 19;
  return 0;
}

TEST(attach_waits_a_bounded_time_for_a_live_owner_it_cannot_verify_then_is_ebusy) {
  int rc = watchdog_run(live_owner_steps, NULL, 3 * PH_ATTACH_WAIT_MS / 1000.0 + 10);
  EXPECT_EQ(rc, 0);
}

/* Child of the case below. */
static int garbage_steps(void *arg) {
  (void)arg;
  size_t size = 4 * MiB;
  ph_heap_t *h = ph_heap_init(ph_region_map_anon(size), size, PH_LOCKED);
  if (!h || !ph_heap_malloc(h, 100)) return 10;
  /* Only the waiters bit and a start time: no owner at all. */
  __atomic_store_n(&h->lock_word, WAITERS_BIT | (uint64_t)0x12345678u << 32, __ATOMIC_RELEASE);
  if (ph_heap_attach(h, size) != h) return 11;
  if (h->lock_recoveries != 1 || __atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE) != 0) return 12;
  /* This very thread's word, in a file, while the thread holds nothing:
   * not a hold of this thread's (it would never be released). */
  if (ph_heap_lock(h) != 0) return 13;
  uint64_t mine = __atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE);
  if (ph_heap_unlock(h) != 0) return 14;
  __atomic_store_n(&h->lock_word, mine, __ATOMIC_RELEASE);
  h->lock_depth = 7;
  if (ph_heap_attach(h, size) != h) return 15;
  if (h->lock_recoveries != 2 || __atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE) != 0) return 16;
  if (ph_heap_unlock(h) != PH_EINVAL) return 17; /* not held */
  /* A free word with a garbage depth: the next holder starts from 0. */
  h->lock_depth = 0xFFFFFFFFu;
  if (ph_heap_lock(h) != 0 || ph_heap_lock(h) != 0 || ph_heap_unlock(h) != 0 || ph_heap_unlock(h) != 0) return 18;
  if (__atomic_load_n(&h->lock_word, __ATOMIC_ACQUIRE) != 0) return 19;
  if (ph_heap_check(h, size) != 0) return 20;
  return 0;
}

TEST(a_lock_word_with_no_owner_or_naming_a_thread_that_holds_nothing_is_taken_over) {
  int rc = watchdog_run(garbage_steps, NULL, 10);
  EXPECT_EQ(rc, 0);
}
#endif

TEST_MAIN()
