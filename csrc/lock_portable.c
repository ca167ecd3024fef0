/*
 * lock_portable.c - the shared lock where there is no futex (macOS, the
 * BSDs): the same 64-bit word as on Linux, waited on by sleeping.
 *
 * Owns: the portable encoding of `lock_word`. Linux uses lock.c's futex
 * lock; this one is compiled there too, so its tests run on Linux.
 * Keeps: the word is 0 when free; else its low half is the owner's process
 * id and its high half a number this process gave the owner thread (from
 * 1, so the word of a holder is never 0). A waiter spins, yields, then
 * sleeps with backoff from 50 us to 1 ms (it never burns a core), and every
 * WAIT_US of waiting on the same word asks whether the owner process still
 * exists (kill(pid, 0)); if not, it takes the lock over. Limits, compared
 * with the futex lock: a release is seen up to 1 ms late by a sleeper; a
 * thread that exits holding the lock while its process lives is waited on
 * until the process ends; a dead owner whose process id was already reused
 * is waited on until that process ends (pids are handed out in order on
 * macOS, so that takes a wrap of the pid space).
 */
#define _DEFAULT_SOURCE 1  /* kill, nanosleep under -std=c11 */
#define _DARWIN_C_SOURCE 1 /* the same on macOS */
#include "internal.h"

#if !defined(_WIN32)
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define SPINS 100         /* tries before yielding: a lock is held briefly */
#define YIELDS 10         /* then gives of the CPU before sleeping */
#define SLEEP_MIN_US 50   /* first sleep; doubled up to SLEEP_MAX_US */
#define SLEEP_MAX_US 1000
#define WAIT_US 20000     /* waiting this long on one owner: is it alive? */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* This thread's word, made once per thread; a forked child makes new ones
 * (its process id differs). */
static __thread uint64_t cached_self;
static uint32_t next_thread; /* numbers given to this process's threads */
static void forget_self(void) {
  cached_self = 0;
  next_thread = 0;
}
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;
static void install_fork_hook(void) { pthread_atfork(NULL, NULL, forget_self); }

static uint64_t self_word(void) {
  if (PH_UNLIKELY(cached_self == 0)) {
    pthread_once(&fork_hook, install_fork_hook);
    uint32_t n = __atomic_add_fetch(&next_thread, 1, __ATOMIC_RELAXED);
    cached_self = (uint64_t)((uint32_t)getpid() & 0x7FFFFFFFu) | (uint64_t)n << 32;
  }
  return cached_self;
}

/* Whether the process named in `word` exists (EPERM: it does, someone else's). */
static bool alive(uint64_t word) {
  pid_t pid = (pid_t)(word & 0x7FFFFFFFu);
  return kill(pid, 0) == 0 || errno == EPERM;
}

static void sleep_us(unsigned us) {
  struct timespec ts = {0, (long)us * 1000L};
  nanosleep(&ts, NULL);
}

int ph__portable_lock(ph_heap_t *h) {
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word();
  uint64_t cur = 0;
  if (__atomic_compare_exchange_n(word, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    h->lock_depth = 0;
    return 0;
  }
  if (cur == me) { /* recursive */
    h->lock_depth++;
    return 0;
  }
  unsigned tries = 0, pause = SLEEP_MIN_US, waited = 0;
  uint64_t owner = cur;
  for (;;) {
    cur = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if (cur == 0) {
      if (__atomic_compare_exchange_n(word, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        h->lock_depth = 0;
        return 0;
      }
      continue;
    }
    if (tries < SPINS) {
      tries++;
      cpu_relax();
      continue;
    }
    if (tries < SPINS + YIELDS) {
      tries++;
      sched_yield();
      continue;
    }
    if (cur != owner) { /* another owner: its own WAIT_US before any verdict */
      owner = cur;
      waited = 0;
    }
    if (waited >= WAIT_US) {
      waited = 0;
      if (!alive(cur) && __atomic_compare_exchange_n(word, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return ph__lock_taken_over(h);
      continue;
    }
    sleep_us(pause);
    waited += pause;
    if (pause < SLEEP_MAX_US) pause = pause * 2 < SLEEP_MAX_US ? pause * 2 : SLEEP_MAX_US;
  }
}

int ph__portable_unlock(ph_heap_t *h) {
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word();
  if (__atomic_load_n(word, __ATOMIC_RELAXED) != me) return PH_EINVAL;
  if (h->lock_depth > 0) {
    h->lock_depth--;
    return 0;
  }
  __atomic_store_n(word, 0, __ATOMIC_RELEASE); /* no one writes a held word but its owner */
  return 0;
}

#endif
