/*
 * lock_portable.c - the shared lock where there is no futex (macOS, the
 * BSDs, Windows): the same 64-bit word as on Linux, waited on by sleeping.
 *
 * Owns: the portable encoding of `lock_word`. Linux uses lock.c's futex
 * lock; this one is compiled there too, so its tests run on Linux (and on
 * Windows builds under wine).
 * Keeps: the word is 0 when free; else its low half is the owner's process
 * id and its high half a number this process gave the owner thread (from
 * 1, so the word of a holder is never 0). A waiter spins, yields, then
 * sleeps with backoff from 50 us to 1 ms (whole milliseconds on Windows;
 * it never burns a core), and every WAIT_US of waiting on the same word asks
 * whether the owner process still exists (kill(pid, 0); OpenProcess on
 * Windows); if not, it takes the lock over. Limits, compared with the futex
 * lock: a release is seen up to a sleep late; a thread that exits holding
 * the lock while its process lives is waited on until the process ends; a
 * dead owner whose process id was already reused is waited on until that
 * process ends (macOS hands pids out in order, so that takes a wrap of the
 * pid space; Windows reuses them sooner).
 */
#define _DEFAULT_SOURCE 1  /* kill, nanosleep under -std=c11 */
#define _DARWIN_C_SOURCE 1 /* the same on macOS */
#include "internal.h"

#define SPINS 100         /* tries before yielding: a lock is held briefly */
#define YIELDS 10         /* then gives of the CPU before sleeping */
#define SLEEP_MIN_US 50   /* first sleep; doubled up to SLEEP_MAX_US */
#define SLEEP_MAX_US 1000
#define WAIT_US 20000     /* waiting this long on one owner: is it alive? */

/* ---- what differs between systems: process ids, liveness, sleeping ---- */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

static uint32_t process_id(void) { return (uint32_t)GetCurrentProcessId(); }

/* Whether process `pid` runs (access denied: it does, someone else's). */
static bool process_alive(uint32_t pid) {
  HANDLE p = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (!p) return GetLastError() == ERROR_ACCESS_DENIED;
  DWORD state = WaitForSingleObject(p, 0);
  CloseHandle(p);
  return state == WAIT_TIMEOUT;
}

static void yield_cpu(void) { SwitchToThread(); }
static void sleep_us(unsigned us) { Sleep(us < 1000 ? 1 : us / 1000); } /* whole milliseconds */
static void on_fork_forget(void (*forget)(void)) { (void)forget; } /* no fork */

#else
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static uint32_t process_id(void) { return (uint32_t)getpid(); }

/* Whether process `pid` exists (EPERM: it does, someone else's). */
static bool process_alive(uint32_t pid) { return kill((pid_t)pid, 0) == 0 || errno == EPERM; }

static void yield_cpu(void) { sched_yield(); }

static void sleep_us(unsigned us) {
  struct timespec ts = {0, (long)us * 1000L};
  nanosleep(&ts, NULL);
}

static void (*forget_hook)(void);
static pthread_once_t fork_hook = PTHREAD_ONCE_INIT;
static void install_fork_hook(void) { pthread_atfork(NULL, NULL, forget_hook); }
/* A forked child has another process id: its threads need new words. */
static void on_fork_forget(void (*forget)(void)) {
  forget_hook = forget;
  pthread_once(&fork_hook, install_fork_hook);
}
#endif

/* ---- the lock ----------------------------------------------------------- */

/* This thread's word, made once per thread (and again in a forked child). */
static _Thread_local uint64_t cached_self;
static uint32_t next_thread; /* numbers given to this process's threads */
static void forget_self(void) {
  cached_self = 0;
  next_thread = 0;
}

static uint64_t self_word(void) {
  if (PH_UNLIKELY(cached_self == 0)) {
    on_fork_forget(forget_self);
    uint32_t n = __atomic_add_fetch(&next_thread, 1, __ATOMIC_RELAXED);
    cached_self = (uint64_t)(process_id() & 0x7FFFFFFFu) | (uint64_t)n << 32;
  }
  return cached_self;
}

static bool alive(uint64_t word) { return process_alive((uint32_t)word & 0x7FFFFFFFu); }

int ph__portable_lock(ph_heap_t *h) {
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word(), cur;
  if (ph__lock_first_try(h, me, ~(uint64_t)0, &cur)) return 0;
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
      ph__cpu_relax();
      continue;
    }
    if (tries < SPINS + YIELDS) {
      tries++;
      yield_cpu();
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

