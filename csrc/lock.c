/*
 * lock.c - the process-shared lock of PH_LOCKED heaps: one 32-bit word in
 * the header, so every process that maps the heap sees the same lock.
 *
 * Owns: `lock`, `lock_depth`, `lock_recoveries`, `lock_check` in the header.
 * Keeps: the word is 0 when free, else the owner's thread id (Linux thread
 * ids are unique across processes) with bit 31 set while others may be
 * waiting. Waiters sleep on the word (a futex), waking on release or every
 * WAIT_NS to see whether the owner still exists; a waiter that finds it gone
 * takes the lock over, counts it, and checks the heap. Only the owner writes
 * lock_depth. Thread ids can be reused: an owner that died and whose id
 * went to a new thread looks alive until that thread ends too.
 */
#define _GNU_SOURCE 1 /* syscall, kill under -std=c11 */
#include "internal.h"

#if defined(__linux__)
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WAITERS 0x80000000u
#define OWNER 0x7FFFFFFFu
#define SPINS 100           /* tries before sleeping: a lock is held briefly */
#define WAIT_NS 20000000L   /* a sleeper looks at the owner every 20 ms */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

bool ph__lock_supported(void) { return true; }

/* This thread's id, asked of the kernel once per thread (a syscall costs
 * more than the rest of a lock); a forked child asks again. */
static __thread uint32_t cached_id;
static void forget_id(void) { cached_id = 0; }
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;
static void install_fork_hook(void) { pthread_atfork(NULL, NULL, forget_id); }

static uint32_t self_id(void) {
  if (PH_UNLIKELY(cached_id == 0)) {
    pthread_once(&fork_hook, install_fork_hook);
    cached_id = (uint32_t)syscall(SYS_gettid) & OWNER;
  }
  return cached_id;
}

/* Whether thread `id` exists (in any process of this pid namespace). */
static bool alive(uint32_t id) { return kill((pid_t)id, 0) == 0 || errno == EPERM; }

/* Sleep while *word == val, for at most WAIT_NS; false when it timed out. */
static bool wait_on(uint32_t *word, uint32_t val) {
  struct timespec ts = {0, WAIT_NS};
  return syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0) == 0 || errno != ETIMEDOUT;
}

static void wake_one(uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

/* The lock is ours after its owner died: count it and check the heap. */
static int taken_over(ph_heap_t *h) {
  h->lock_depth = 0;
  h->lock_recoveries++;
  int broken = ph_heap_check(h, (size_t)h->npages << PH_LG_PAGE);
  h->lock_check = broken;
  return broken == 0 ? 1 : PH_ECORRUPT;
}

int ph_heap_lock(ph_heap_t *h) {
  if (!h || !(h->flags & PH_LOCKED)) return ph__fail(PH_EINVAL);
  uint32_t *word = &h->lock;
  uint32_t me = self_id();
  uint32_t keep = 0; /* WAITERS once we have slept: others may be asleep too */
  int spins = 0;
  for (;;) {
    uint32_t cur = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if (cur == 0) {
      if (__atomic_compare_exchange_n(word, &cur, me | keep, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        h->lock_depth = 0;
        return 0;
      }
      continue;
    }
    uint32_t owner = cur & OWNER;
    if (owner == me) { /* recursive */
      h->lock_depth++;
      return 0;
    }
    if (spins < SPINS) {
      spins++;
      cpu_relax();
      continue;
    }
    if (!(cur & WAITERS)) {
      if (!__atomic_compare_exchange_n(word, &cur, cur | WAITERS, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) continue;
      cur |= WAITERS;
    }
    keep = WAITERS;
    if (!wait_on(word, cur) && !alive(owner)) {
      /* Asleep for WAIT_NS with the same owner, and it is gone: take over. */
      if (__atomic_compare_exchange_n(word, &cur, me | WAITERS, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return taken_over(h);
    }
  }
}

int ph_heap_unlock(ph_heap_t *h) {
  if (!h || !(h->flags & PH_LOCKED)) return ph__fail(PH_EINVAL);
  uint32_t *word = &h->lock;
  if ((__atomic_load_n(word, __ATOMIC_RELAXED) & OWNER) != self_id()) return ph__fail(PH_EINVAL);
  if (h->lock_depth > 0) {
    h->lock_depth--;
    return 0;
  }
  if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) & WAITERS) wake_one(word);
  return 0;
}

#else /* no futex and no system-wide thread ids here yet */

bool ph__lock_supported(void) { return false; }
int ph_heap_lock(ph_heap_t *h) {
  (void)h;
  return ph__fail(PH_EINVAL);
}
int ph_heap_unlock(ph_heap_t *h) {
  (void)h;
  return ph__fail(PH_EINVAL);
}

#endif

int ph_heap_lock_recoveries(const ph_heap_t *h, int *last_check) {
  if (!h) return ph__fail(PH_EINVAL);
  if (last_check) *last_check = h->lock_check;
  return (int)h->lock_recoveries;
}
