/*
 * shim.c - the C library's allocation functions over privheap's
 * seed-compatible API, for running unmodified programs on the allocator
 * (LD_PRELOAD=libprivheap-shim.so program ...).
 *
 * One anonymous region is reserved on the first call (MAP_NORESERVE, so
 * only touched pages cost memory) and formatted as the default heap with
 * ph_config_private_heap. Every allocation of the program comes from it,
 * with the seed API's C alignment (16 bytes for blocks of 16 and more).
 *
 * Environment:
 *   PRIVHEAP_SHIM_SIZE   region size in bytes, or with a K, M or G suffix
 *                        (default 8G)
 *   PRIVHEAP_SHIM_LOCK=1 a lock around every call from the start. Without
 *                        it the lock is switched on by the first
 *                        pthread_create, while the program is still one
 *                        thread, so a program that starts threads is safe.
 *   PRIVHEAP_SHIM_PURGE  when free pages go back to the system: decay
 *                        (default: once they pile up, PH_PURGE), now
 *                        (PH_PURGE_NOW) or off
 *   PRIVHEAP_SHIM_CHECK=1 at exit, run ph_heap_check on the region and
 *                        print its result, the heap's used bytes and the
 *                        count of ignored frees (below) on stderr; a
 *                        failed check exits with status 99.
 *
 * A free the heap rejects (bad or double free) aborts with a message, as
 * glibc does. Pointers outside the region were not allocated here (the
 * dynamic loader's own minimal allocator hands out a few before this one
 * is bound): free ignores them, malloc_usable_size reports 0, and realloc
 * of one aborts, since its size is unknown.
 */
#define _GNU_SOURCE
#include "privheap.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHIM_API __attribute__((visibility("default")))
#define DEFAULT_REGION ((size_t)8 << 30)

static char *region_base; /* NULL until the first call */
static size_t region_size;
static ph_heap_t *heap;   /* the default heap, at region_base */
static int lock_on;       /* read on every call; set while single-threaded */
static uint64_t foreign_frees; /* frees of blocks from outside the region */
static atomic_flag lock_word = ATOMIC_FLAG_INIT;

/* ---- messages without stdio (stdio may allocate) ---------------------- */

static void say(const char *s) {
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

static void say_num(uint64_t v) {
  char buf[24];
  int i = (int)sizeof buf;
  buf[--i] = 0;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  say(buf + i);
}

static _Noreturn void die(const char *what, int code) {
  say("privheap-shim: ");
  say(what);
  if (code) {
    say(": ");
    say(ph_strerror(code));
  }
  say("\n");
  abort();
}

/* ---- the region ------------------------------------------------------- */

static size_t size_from_env(void) {
  const char *s = getenv("PRIVHEAP_SHIM_SIZE");
  if (!s || !*s) return DEFAULT_REGION;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  switch (*end) {
    case 'G': case 'g': v <<= 30; break;
    case 'M': case 'm': v <<= 20; break;
    case 'K': case 'k': v <<= 10; break;
    default: break;
  }
  return v ? (size_t)v : DEFAULT_REGION;
}

/* Runs on the first allocation, which comes before any second thread. */
__attribute__((noinline)) static void init_region(void) {
  size_t size = size_from_env();
  void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) die("cannot reserve the region (PRIVHEAP_SHIM_SIZE)", 0);
  int rc = ph_config_private_heap(base, size);
  if (rc) die("ph_config_private_heap", rc);
  /* The region is private anonymous memory: its free pages may go back. */
  const char *purge = getenv("PRIVHEAP_SHIM_PURGE");
  unsigned mode = !purge || !*purge || strcmp(purge, "decay") == 0 ? PH_PURGE
                : strcmp(purge, "now") == 0                       ? PH_PURGE_NOW
                : strcmp(purge, "off") == 0                       ? 0u
                                                                  : ~0u;
  if (mode == ~0u) die("PRIVHEAP_SHIM_PURGE is not decay, now or off", 0);
  rc = ph_heap_set_purge(ph_default_heap(), mode);
  if (rc) die("ph_heap_set_purge", rc);
  const char *lock = getenv("PRIVHEAP_SHIM_LOCK");
  lock_on = lock && *lock == '1';
  region_size = size;
  heap = ph_default_heap();
  region_base = base;
}

static int in_region(const void *p) {
  return (const char *)p >= region_base && (const char *)p < region_base + region_size;
}

/* ---- the lock --------------------------------------------------------- */

__attribute__((noinline)) static void lock(void) {
  for (unsigned spins = 0; atomic_flag_test_and_set_explicit(&lock_word, memory_order_acquire); spins++)
    if (spins >= 64) sched_yield();
}

/* Inline, with the rare steps out of line: every call of the program
 * passes here (two loads and two branches). */
static inline __attribute__((always_inline)) void take(void) {
  if (__builtin_expect(!region_base, 0)) init_region();
  if (__builtin_expect(lock_on, 0)) lock();
}

static inline __attribute__((always_inline)) void give(void) {
  if (__builtin_expect(lock_on, 0)) atomic_flag_clear_explicit(&lock_word, memory_order_release);
}

/* A fork while another thread holds the lock would leave the child's lock
 * held forever: the fork waits for it, and both sides let it go. */
static void before_fork(void) { take(); }
static void after_fork(void) { give(); }

static void switch_lock_on(void) {
  if (lock_on) return;
  lock_on = 1;
  pthread_atfork(before_fork, after_fork, after_fork);
}

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

SHIM_API int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  static create_fn real_create;
  if (!region_base) init_region();
  switch_lock_on();
  if (!real_create) real_create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
  if (!real_create) die("pthread_create not found", 0);
  return real_create(t, attr, fn, arg);
}

/* ---- the C library's functions ---------------------------------------- */

SHIM_API void *malloc(size_t size) {
  take();
  void *p = ph_malloc(size);
  give();
  if (!p) errno = ENOMEM;
  return p;
}

SHIM_API void free(void *p) {
  if (!in_region(p)) { /* NULL too, and everything before the region exists */
    if (p) {
      take();
      foreign_frees++;
      give();
    }
    return;
  }
  take();
  int rc = ph_heap_free(heap, p);
  give();
  if (rc) die("free", rc);
}

SHIM_API void *calloc(size_t n, size_t size) {
  take();
  void *p = ph_calloc(n, size);
  give();
  if (!p) errno = ENOMEM;
  return p;
}

SHIM_API void *realloc(void *p, size_t size) {
  if (!p) return malloc(size);
  if (size == 0) {
    free(p);
    return NULL;
  }
  take();
  if (!in_region(p)) die("realloc of a block allocated before the shim", 0);
  void *q = ph_realloc(p, size);
  give();
  if (!q) errno = ENOMEM;
  return q;
}

SHIM_API void *reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, total);
}

SHIM_API int posix_memalign(void **out, size_t align, size_t size) {
  take();
  int rc = ph_posix_memalign(out, align, size);
  give();
  return rc;
}

/* memalign and friends take any alignment: below a pointer's it is a
 * pointer's, and one that is not a power of two rounds up to one. */
static void *aligned(size_t align, size_t size) {
  size_t a = sizeof(void *);
  while (a < align) {
    if (a > SIZE_MAX / 2) {
      errno = EINVAL;
      return NULL;
    }
    a *= 2;
  }
  void *p = NULL;
  int rc = posix_memalign(&p, a, size);
  if (rc) {
    errno = rc;
    return NULL;
  }
  return p;
}

SHIM_API void *aligned_alloc(size_t align, size_t size) { return aligned(align, size); }
SHIM_API void *memalign(size_t align, size_t size) { return aligned(align, size); }
SHIM_API void *valloc(size_t size) { return aligned((size_t)sysconf(_SC_PAGESIZE), size); }

SHIM_API void *pvalloc(size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (size > SIZE_MAX - page) {
    errno = ENOMEM;
    return NULL;
  }
  return aligned(page, (size + page - 1) & ~(page - 1));
}

SHIM_API size_t malloc_usable_size(void *p) {
  if (!p) return 0;
  take();
  size_t n = in_region(p) ? ph_malloc_usable_size(p) : 0;
  give();
  return n;
}

/* ---- the check at exit ------------------------------------------------ */

__attribute__((destructor)) static void check_at_exit(void) {
  const char *want = getenv("PRIVHEAP_SHIM_CHECK");
  if (!region_base || !want || *want != '1') return;
  take();
  int rc = ph_heap_check(region_base, region_size);
  size_t used = ph_heap_used_bytes(heap);
  give();
  say("privheap-shim: check=");
  if (rc < 0) say("-");
  say_num((uint64_t)(rc < 0 ? -rc : rc));
  say(" used_bytes=");
  say_num(used);
  say(" foreign_frees=");
  say_num(foreign_frees);
  say("\n");
  if (rc) _exit(99);
}
