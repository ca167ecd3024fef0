/*
 * lock.c - the process-shared lock of PH_LOCKED heaps: one 64-bit word in
 * the header, so every process that maps the heap sees the same lock. This
 * is the Linux lock (a futex); elsewhere ph_heap_lock is lock_portable.c's.
 *
 * Owns: the lock block of the header (`lock_word` to `lock_enabled`).
 * Keeps: the word is 0 when free; else its low half is the owner's thread
 * id (Linux thread ids are unique across the processes of a pid namespace)
 * with bit 31 set while others may be waiting, and its high half the low 32
 * bits of the owner's start time, so a thread that later gets a dead
 * owner's id is not taken for it. Waiters sleep on the low half (a futex),
 * waking on release or every WAIT_NS to see whether the owner still exists;
 * a waiter that finds it gone takes the lock over, counts it, and checks
 * the heap. Only the owner writes lock_depth.
 */
#define _GNU_SOURCE 1 /* syscall, kill under -std=c11 */
#include "internal.h"

#if defined(__linux__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WAITERS 0x80000000u
#define OWNER 0x7FFFFFFFu
#define SPINS 100           /* tries before sleeping: a lock is held briefly */
#define WAIT_NS 20000000L   /* a sleeper looks at the owner every 20 ms */

bool ph__lock_supported(void) { return true; }

/* Low 32 bits of thread `id`'s start time (field 22 of /proc/<id>/stat),
 * or 0 when it cannot be read (the thread is gone, or /proc is missing). */
static uint32_t start_time(uint32_t id) {
  char path[48], buf[512];
  snprintf(path, sizeof path, "/proc/%u/stat", id);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
  if (!p) return 0;
  /* After ") ": field 3 (state) onwards; starttime is field 22. */
  int field = 2;
  for (char *q = p + 1; *q; q++)
    if (*q == ' ' && ++field == 22) return (uint32_t)strtoull(q + 1, NULL, 10);
  return 0;
}

/* This thread's lock word when it holds the lock (without the waiters bit),
 * asked of the kernel once per thread; a forked child asks again. */
static __thread uint64_t cached_self;
static void forget_self(void) { cached_self = 0; }
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;
static void install_fork_hook(void) { pthread_atfork(NULL, NULL, forget_self); }

static uint64_t self_word(void) {
  if (PH_UNLIKELY(cached_self == 0)) {
    pthread_once(&fork_hook, install_fork_hook);
    uint32_t id = (uint32_t)syscall(SYS_gettid) & OWNER;
    cached_self = (uint64_t)id | (uint64_t)start_time(id) << 32;
  }
  return cached_self;
}

/* Whether the owner recorded in `word` still exists: its thread id is in
 * use, and by the same thread (same start time, when both are known). */
static bool alive(uint64_t word) {
  uint32_t id = (uint32_t)word & OWNER, started = (uint32_t)(word >> 32);
  if (kill((pid_t)id, 0) != 0 && errno != EPERM) return false;
  uint32_t now = start_time(id);
  return started == 0 || now == 0 || now == started;
}

/* The futex is the word's low half (little-endian: its first 4 bytes). */
static uint32_t *futex_of(ph_heap_t *h) { return (uint32_t *)&h->lock_word; }

/* Sleep while the low half == val, for at most WAIT_NS; false when it timed out. */
static bool wait_on(uint32_t *futex, uint32_t val) {
  struct timespec ts = {0, WAIT_NS};
  return syscall(SYS_futex, futex, FUTEX_WAIT, val, &ts, NULL, 0) == 0 || errno != ETIMEDOUT;
}

static void wake_one(uint32_t *futex) { syscall(SYS_futex, futex, FUTEX_WAKE, 1, NULL, NULL, 0); }

int ph_heap_lock(ph_heap_t *h) {
  if (!h || !h->lock_enabled) return ph__fail(PH_EINVAL);
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word(), cur;
  if (ph__lock_first_try(h, me, ~(uint64_t)WAITERS, &cur)) return 0;
  uint64_t keep = 0; /* WAITERS once we have slept: others may be asleep too */
  int spins = 0;
  for (;;) {
    cur = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if (cur == 0) {
      if (__atomic_compare_exchange_n(word, &cur, me | keep, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        h->lock_depth = 0;
        return 0;
      }
      continue;
    }
    if (spins < SPINS) {
      spins++;
      ph__cpu_relax();
      continue;
    }
    if (!(cur & WAITERS)) {
      if (!__atomic_compare_exchange_n(word, &cur, cur | WAITERS, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) continue;
      cur |= WAITERS;
    }
    keep = WAITERS;
    if (!wait_on(futex_of(h), (uint32_t)cur) && !alive(cur)) {
      /* Asleep for WAIT_NS with the same owner, and it is gone: take over. */
      if (__atomic_compare_exchange_n(word, &cur, me | WAITERS, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return ph__lock_taken_over(h);
    }
    spins = 0; /* woken: spin again before the next sleep */
  }
}

int ph_heap_unlock(ph_heap_t *h) {
  if (!h || !h->lock_enabled) return ph__fail(PH_EINVAL);
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word();
  if (h->lock_depth > 0) { /* only its owner writes it: ours if we own the lock */
    if ((__atomic_load_n(word, __ATOMIC_RELAXED) & ~(uint64_t)WAITERS) != me) return ph__fail(PH_EINVAL);
    h->lock_depth--;
    return 0;
  }
  /* Ours with no one waiting: one atomic. */
  uint64_t cur = me;
  if (__atomic_compare_exchange_n(word, &cur, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) return 0;
  if ((cur & ~(uint64_t)WAITERS) != me) return ph__fail(PH_EINVAL);
  __atomic_exchange_n(word, 0, __ATOMIC_RELEASE); /* ours, and waited on: only waiters change it, setting the bit */
  wake_one(futex_of(h));
  return 0;
}

#else /* no futex: lock_portable.c */

bool ph__lock_supported(void) { return true; }

int ph_heap_lock(ph_heap_t *h) {
  if (!h || !h->lock_enabled) return ph__fail(PH_EINVAL);
  return ph__portable_lock(h);
}

int ph_heap_unlock(ph_heap_t *h) {
  if (!h || !h->lock_enabled) return ph__fail(PH_EINVAL);
  int rc = ph__portable_unlock(h);
  return rc ? ph__fail(rc) : 0;
}

#endif

/* The lock is ours after its owner died: count it and check the heap. */
int ph__lock_taken_over(ph_heap_t *h) {
  h->lock_depth = 0;
  h->lock_recoveries++;
  int broken = ph_heap_check(h, (size_t)h->npages << PH_LG_PAGE);
  h->lock_check = broken;
  return broken == 0 ? 1 : PH_ECORRUPT;
}

int ph_heap_lock_recoveries(const ph_heap_t *h, int *last_check) {
  if (!h) return ph__fail(PH_EINVAL);
  if (last_check) *last_check = h->lock_check;
  return (int)h->lock_recoveries;
}
