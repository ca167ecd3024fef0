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
 * Windows); if not, or if it is another process while this copy of the
 * region is private to this one (a fork's copy), it takes the lock over.
 * A word naming no process, or this thread while it holds no lock, is taken
 * over too. Limits, compared with the futex
 * lock: a release is seen up to a sleep late; a thread that exits holding
 * the lock while its process lives is waited on until the process ends; a
 * dead owner whose process id was already reused is waited on until that
 * process ends (macOS hands pids out in order, so that takes a wrap of the
 * pid space; Windows reuses them sooner).
 */
#include "prim.h"

#define SPINS 100         /* tries before yielding: a lock is held briefly */
#define YIELDS 10         /* then gives of the CPU before sleeping */
#define SLEEP_MIN_US 50   /* first sleep; doubled up to SLEEP_MAX_US */
#define SLEEP_MAX_US 1000
#define WAIT_US 20000     /* waiting this long on one owner: is it alive? */

/* The calling thread (a forked child gets a new word: another process id). */
static _Thread_local ph__lock_self self;
static uint32_t next_thread; /* numbers given to this process's threads */

static void forget_self_in_child(void) {
  ph__lock_self_forked(&self);
  next_thread = 0;
}
/* At load, before any handler a user registers (see lock.c). */
__attribute__((constructor(101))) static void install_fork_hook(void) { ph__prim_on_fork_child(forget_self_in_child); }

static uint64_t self_word(void) {
  if (PH_UNLIKELY(self.word == 0)) {
    uint32_t n = __atomic_add_fetch(&next_thread, 1, __ATOMIC_RELAXED);
    self.word = (uint64_t)(ph__prim_process_id() & 0x7FFFFFFFu) | (uint64_t)n << 32;
  }
  return self.word;
}

static uint32_t owner_pid(uint64_t word) { return (uint32_t)word & 0x7FFFFFFFu; }

/* Whether the owner named by `word` can never release this copy of the
 * lock: stale (this thread, holding nothing) or forged, gone, or another
 * process while the region is private to this one. *priv caches the
 * region's answer (-1: not asked). */
static bool orphaned(ph_heap_t *h, uint64_t word, uint64_t me, int *priv) {
  if (word == me || !ph__prim_process_alive(owner_pid(word))) return true;
  if (owner_pid(word) == (ph__prim_process_id() & 0x7FFFFFFFu)) return false;
  if (*priv < 0) *priv = ph__prim_region_is_private(h);
  return *priv == 1;
}

/* In a forked child: this thread's hold from the parent, in its private
 * copy, made its own (see lock.c). */
static bool adopt_carried(ph_heap_t *h, uint64_t cur, uint64_t me) {
  if (self.forked_from == 0 || cur != self.forked_from || ph__prim_region_is_private(h) != 1) return false;
  __atomic_store_n(&h->lock_word, me, __ATOMIC_RELAXED);
  self.holds += ph__lock_depth(h) + 1;
  return true;
}

int ph__portable_lock(ph_heap_t *h, int64_t limit_ns) {
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word(), cur;
  if (ph__lock_first_try(h, me, ~(uint64_t)0, self.holds != 0, &cur)) {
    self.holds++;
    return 0;
  }
  if (PH_UNLIKELY(adopt_carried(h, cur, me))) return ph__portable_lock(h, limit_ns);
  unsigned tries = 0, pause = SLEEP_MIN_US, waited = 0;
  int64_t slept_ns = 0; /* at least the time asleep: the bound */
  int priv = -1;
  uint64_t owner = cur;
  for (;;) {
    cur = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if (cur == 0) {
      if (__atomic_compare_exchange_n(word, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        ph__lock_set_depth(h, 0);
        self.holds++;
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
      ph__prim_yield();
      continue;
    }
    if (cur != owner) { /* another owner: its own WAIT_US before any verdict */
      owner = cur;
      waited = 0;
    }
    if (waited >= WAIT_US) {
      waited = 0;
      if (orphaned(h, cur, me, &priv) && __atomic_compare_exchange_n(word, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        self.holds++;
        return ph__lock_taken_over(h);
      }
      if (limit_ns > 0 && slept_ns >= limit_ns) return PH_EBUSY;
      continue;
    }
    ph__prim_sleep_us(pause);
    waited += pause;
    slept_ns += (int64_t)pause * 1000;
    if (pause < SLEEP_MAX_US) pause = pause * 2 < SLEEP_MAX_US ? pause * 2 : SLEEP_MAX_US;
  }
}

int ph__portable_unlock(ph_heap_t *h) {
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word();
  uint64_t cur = __atomic_load_n(word, __ATOMIC_RELAXED);
  if (cur != me && !adopt_carried(h, cur, me)) return PH_EINVAL;
  if (self.holds == 0) return PH_EINVAL; /* a word naming this thread that it never took */
  self.holds--;
  uint32_t depth = ph__lock_depth(h);
  if (depth > 0) {
    ph__lock_set_depth(h, depth - 1);
    return 0;
  }
  __atomic_store_n(word, 0, __ATOMIC_RELEASE); /* no one writes a held word but its owner */
  return 0;
}

bool ph__portable_held(const ph_heap_t *h) {
  return self.holds != 0 && __atomic_load_n(&h->lock_word, __ATOMIC_RELAXED) == self_word();
}
