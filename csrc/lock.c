/*
 * lock.c - the process-shared lock of PH_LOCKED heaps: one 64-bit word in
 * the header, so every process that maps the heap sees the same lock. This
 * is the futex lock (where prim.h has PH_PRIM_FUTEX: Linux); elsewhere the
 * waiting is lock_portable.c's.
 * Both share the verdict below: what a takeover found stays in the region.
 *
 * Owns: the lock block of the header (`lock_word` to `lock_enabled`).
 * Keeps: the word is 0 when free; else its low half is the owner's thread
 * id (Linux thread ids are unique across the processes of a pid namespace)
 * with bit 31 set while others may be waiting, and its high half the low 32
 * bits of the owner's start time, so a thread that later gets a dead
 * owner's id is not taken for it. Waiters sleep on the low half (a futex),
 * waking on release or every WAIT_NS to ask whether the owner can still
 * release it; a waiter that finds it cannot (see `orphaned`) takes the lock
 * over, counts it, and checks the heap. Only the owner writes lock_depth
 * (relaxed atomics: an unlock reads it before it knows it owns the lock)
 * and lock_check. A lock word is bytes from a file like any other: one
 * that names no thread, or this thread while it holds no lock, is taken
 * over too, and one that names a live thread is waited on without bound
 * only by ph_heap_lock (attach waits PH_ATTACH_WAIT_MS).
 */
#include "prim.h"

#if PH_PRIM_FUTEX
#define WAITERS 0x80000000u
#define OWNER 0x7FFFFFFFu
#define SPINS 100           /* tries before sleeping: a lock is held briefly */
#define WAIT_NS 20000000L   /* a sleeper looks at the owner every 20 ms */

bool ph__lock_supported(void) { return true; }

/* The calling thread, as the lock knows it (see lock_fork.c for a forked
 * child: it gets a new word, and `forked_from` names the old one). */
static _Thread_local ph__lock_self self;

static void forget_self_in_child(void) { ph__lock_self_forked(&self); }
/* At load, before any handler a user registers: theirs then run with this
 * thread's new identity in a child. */
__attribute__((constructor(101))) static void install_fork_hook(void) { ph__prim_on_fork_child(forget_self_in_child); }

static uint64_t self_word(void) {
  if (PH_UNLIKELY(self.word == 0)) {
    uint32_t id = ph__prim_thread_id() & OWNER;
    self.word = (uint64_t)id | (uint64_t)ph__prim_thread_start(id) << 32;
  }
  return self.word;
}

/* Whether the owner recorded in `word` still exists: its thread id is in
 * use, and by the same thread (same start time, when both are known). */
static bool alive(uint64_t word) {
  uint32_t id = (uint32_t)word & OWNER, started = (uint32_t)(word >> 32);
  if (!ph__prim_thread_exists(id)) return false;
  uint32_t now = ph__prim_thread_start(id);
  return started == 0 || now == 0 || now == started;
}

/* Whether the owner named by `word` (not this thread's word, or this
 * thread holding no lock) can never release this copy of the lock. *priv
 * caches whether the region is private to this process (-1: not asked). */
static bool orphaned(ph_heap_t *h, uint64_t word, uint64_t me, int *priv) {
  uint64_t owner = word & ~(uint64_t)WAITERS;
  if (owner == me || !alive(owner)) return true; /* stale or forged, or gone */
  if (ph__prim_thread_in_this_process((uint32_t)owner & OWNER)) return false;
  if (*priv < 0) *priv = ph__prim_region_is_private(h);
  return *priv == 1; /* a fork's copy: that thread releases its own copy, not this one */
}

/* The futex is the word's low half (little-endian: its first 4 bytes). */
static uint32_t *futex_of(ph_heap_t *h) { return (uint32_t *)&h->lock_word; }

/* In a forked child: a word naming this thread as it was in the parent is
 * this thread's own hold, carried into its private copy: made its own. */
static bool adopt_carried(ph_heap_t *h, uint64_t cur, uint64_t me) {
  if (self.forked_from == 0 || (cur & ~(uint64_t)WAITERS) != self.forked_from || ph__prim_region_is_private(h) != 1) return false;
  /* No one else can see a private copy: no waiters, no race. */
  __atomic_store_n(&h->lock_word, me, __ATOMIC_RELAXED);
  self.holds += ph__lock_depth(h) + 1;
  return true;
}

static int acquire(ph_heap_t *h, int64_t limit_ns);

/* acquire after its first try found the word `cur` (out of line: the
 * common case is the first try, inlined into ph_heap_lock). */
__attribute__((noinline)) static int acquire_slow(ph_heap_t *h, int64_t limit_ns, uint64_t me, uint64_t cur) {
  uint64_t *word = &h->lock_word;
  if (PH_UNLIKELY(adopt_carried(h, cur, me))) return acquire(h, limit_ns);
  int64_t deadline = limit_ns > 0 ? ph__prim_now_ns() + limit_ns : 0;
  int priv = -1;
  uint64_t keep = 0; /* WAITERS once we have slept: others may be asleep too */
  int spins = 0;
  for (;;) {
    cur = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if (cur == 0) {
      if (__atomic_compare_exchange_n(word, &cur, me | keep, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        ph__lock_set_depth(h, 0);
        self.holds++;
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
    if (!ph__prim_futex_wait(futex_of(h), (uint32_t)cur, WAIT_NS) && orphaned(h, cur, me, &priv)) {
      /* Asleep for WAIT_NS with the same owner, which cannot release it: take over. */
      if (__atomic_compare_exchange_n(word, &cur, me | WAITERS, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        self.holds++;
        return ph__lock_taken_over(h);
      }
    }
    if (deadline && ph__prim_now_ns() >= deadline) return PH_EBUSY;
    spins = 0; /* woken: spin again before the next sleep */
  }
}

/* Take the lock: 0, 1 after a takeover, or PH_EBUSY when `limit_ns` (> 0)
 * passed with an owner that can still release it. */
static inline int acquire(ph_heap_t *h, int64_t limit_ns) {
  uint64_t me = self_word(), cur;
  if (PH_LIKELY(ph__lock_first_try(h, me, ~(uint64_t)WAITERS, self.holds != 0, &cur))) {
    self.holds++;
    return 0;
  }
  return acquire_slow(h, limit_ns, me, cur);
}

static inline int release(ph_heap_t *h) {
  uint64_t *word = &h->lock_word;
  uint64_t me = self_word();
  if (PH_UNLIKELY(self.holds == 0)) { /* nothing to release, unless a fork carried a hold here */
    uint64_t cur = __atomic_load_n(word, __ATOMIC_RELAXED);
    return adopt_carried(h, cur, me) ? release(h) : PH_EINVAL;
  }
  uint32_t depth = ph__lock_depth(h); /* the owner's value only if we own the lock */
  if (depth > 0) {
    if ((__atomic_load_n(word, __ATOMIC_RELAXED) & ~(uint64_t)WAITERS) != me) return PH_EINVAL;
    ph__lock_set_depth(h, depth - 1);
    self.holds--;
    return 0;
  }
  /* Ours with no one waiting: one atomic. */
  uint64_t cur = me;
  if (__atomic_compare_exchange_n(word, &cur, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    self.holds--;
    return 0;
  }
  if ((cur & ~(uint64_t)WAITERS) != me) return PH_EINVAL;
  __atomic_exchange_n(word, 0, __ATOMIC_RELEASE); /* ours, and waited on: only waiters change it, setting the bit */
  self.holds--;
  ph__prim_futex_wake_one(futex_of(h));
  return 0;
}

static bool held_here(const ph_heap_t *h) {
  return self.holds != 0 && (__atomic_load_n(&h->lock_word, __ATOMIC_RELAXED) & ~(uint64_t)WAITERS) == self_word();
}

#else /* lock_portable.c */

bool ph__lock_supported(void) { return true; }

static inline int acquire(ph_heap_t *h, int64_t limit_ns) { return ph__portable_lock(h, limit_ns); }
static inline int release(ph_heap_t *h) { return ph__portable_unlock(h); }
static bool held_here(const ph_heap_t *h) { return ph__portable_held(h); }

#endif

/* ---- what every lock shares: the verdict, the bounds --------------------- */

/* The lock is ours, with the verdict: a heap a takeover found broken is
 * refused (PH_ECORRUPT, held) until a restore or reset replaces it. */
static inline int lock_within(ph_heap_t *h, int64_t limit_ns) {
  if (!h || !h->lock_enabled) return ph__fail(PH_EINVAL);
  int rc = acquire(h, limit_ns);
  if (PH_UNLIKELY(rc < 0)) return ph__fail(rc);
  if (PH_UNLIKELY(h->lock_check != 0)) return ph__fail(PH_ECORRUPT);
  return rc;
}

int ph_heap_lock(ph_heap_t *h) { return lock_within(h, 0); }

int ph_heap_lock_timeout(ph_heap_t *h, unsigned wait_ms) {
  return lock_within(h, wait_ms ? (int64_t)wait_ms * 1000000 : 1); /* 0: one look at the owner */
}

int ph_heap_unlock(ph_heap_t *h) {
  if (!h || !h->lock_enabled) return ph__fail(PH_EINVAL);
  int rc = release(h);
  return rc ? ph__fail(rc) : 0;
}

/* The lock is ours after its owner died: count it and check the heap. */
int ph__lock_taken_over(ph_heap_t *h) {
  ph__lock_set_depth(h, 0);
  if (h->lock_recoveries < INT32_MAX) h->lock_recoveries++; /* a count from a file may be anything */
  h->lock_check = ph_heap_check(h, (size_t)h->npages << PH_LG_PAGE);
  return 1;
}

int ph_heap_lock_recheck(ph_heap_t *h) {
  if (!h || !h->lock_enabled || !held_here(h)) return ph__fail(PH_EINVAL);
  h->lock_check = ph_heap_check(h, (size_t)h->npages << PH_LG_PAGE);
  return h->lock_check;
}

int ph_heap_lock_recoveries(const ph_heap_t *h, int *last_check) {
  if (!h) return ph__fail(PH_EINVAL);
  if (last_check) *last_check = h->lock_check;
  return h->lock_recoveries > INT32_MAX ? INT32_MAX : (int)h->lock_recoveries;
}
