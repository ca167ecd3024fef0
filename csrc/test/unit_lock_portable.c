/*
 * unit_lock_portable.c - the lock of systems without futex
 * (lock_portable.c), through its internal entry points: it excludes threads
 * and processes, is recursive for its owner only, takes over from a dead
 * process, and never from a live one. Runs on Linux and, built for
 * Windows, under wine; there the helper processes are this program started
 * again with arguments (no fork).
 */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, kill */
#include "harness.h"
#include "internal.h"

#include <stdint.h>

#define MiB ((size_t)1 << 20)

/* ---- threads and helper processes, per system --------------------------- */

typedef void *(*thread_fn)(void *);

/* A process holding the lock: it writes one byte once it holds it, then
 * waits to be killed, or (mode 'r') for one byte, to release and exit. */
typedef struct holder holder;

/* What a helper does once it holds the lock, by mode: 'k' a finished
 * malloc, 'b' a half-done change (bin 4 gets fresh regions but no run),
 * 'r' nothing (it will release). */
static void change_for(ph_heap_t *h, char mode) {
  if (mode == 'k' && ph_heap_malloc(h, 5000) == NULL) return; /* finished either way: the heap is consistent */
  if (mode == 'b') h->bins[4].fresh = 5;
}

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

typedef struct thread {
  HANDLE h;
  thread_fn fn;
  void *arg, *ret;
} thread;
static DWORD WINAPI trampoline(LPVOID p) {
  thread *t = p;
  t->ret = t->fn(t->arg);
  return 0;
}
static int thread_start(thread *t, thread_fn fn, void *arg) {
  t->fn = fn;
  t->arg = arg;
  t->h = CreateThread(NULL, 0, trampoline, t, 0, NULL);
  return t->h ? 0 : -1;
}
static void *thread_join(thread *t) {
  WaitForSingleObject(t->h, INFINITE);
  CloseHandle(t->h);
  return t->ret;
}
static void nap_ms(unsigned ms) { Sleep(ms); }

/* The heap lives in a file both processes map. */
static char heap_path[MAX_PATH];
static ph_heap_t *shared_heap(size_t size) {
  char dir[MAX_PATH];
  if (!GetTempPathA(sizeof dir, dir)) return NULL;
  snprintf(heap_path, sizeof heap_path, "%sph-lock-%lu-%lu.heap", dir, (unsigned long)GetCurrentProcessId(),
           (unsigned long)GetTickCount());
  size_t n = size;
  void *p = ph_region_map_file(heap_path, &n, PH_MAP_CREATE, 0);
  return p ? ph_heap_init(p, size, PH_LOCKED) : NULL;
}
static void drop_heap(ph_heap_t *h, size_t size) {
  ph_region_unmap(h, size);
  DeleteFileA(heap_path);
}

struct holder {
  HANDLE process, to, from;
};

static int holder_start(holder *c, ph_heap_t *h, size_t size, char mode) {
  (void)h;
  char exe[MAX_PATH], cmd[3 * MAX_PATH];
  if (!GetModuleFileNameA(NULL, exe, sizeof exe)) return -1;
  snprintf(cmd, sizeof cmd, "\"%s\" hold %c %zu \"%s\"", exe, mode, size, heap_path);
  SECURITY_ATTRIBUTES inherit = {sizeof inherit, NULL, TRUE};
  HANDLE in_r, in_w, out_r, out_w;
  if (!CreatePipe(&in_r, &in_w, &inherit, 0) || !CreatePipe(&out_r, &out_w, &inherit, 0)) return -1;
  SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOA si = {.cb = sizeof si, .dwFlags = STARTF_USESTDHANDLES, .hStdInput = in_r, .hStdOutput = out_w,
                     .hStdError = GetStdHandle(STD_ERROR_HANDLE)};
  PROCESS_INFORMATION pi;
  BOOL ok = CreateProcessA(exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
  CloseHandle(in_r);
  CloseHandle(out_w);
  if (!ok) return -1;
  CloseHandle(pi.hThread);
  *c = (holder){pi.hProcess, in_w, out_r};
  return 0;
}
static int holder_ready(holder *c) {
  char b;
  DWORD n = 0;
  return ReadFile(c->from, &b, 1, &n, NULL) && n == 1 ? 0 : -1;
}
static void holder_end(holder *c) {
  WaitForSingleObject(c->process, INFINITE);
  CloseHandle(c->process);
  CloseHandle(c->to);
  CloseHandle(c->from);
}
static void holder_kill(holder *c) {
  TerminateProcess(c->process, 9);
  holder_end(c);
}
static void holder_release(holder *c) {
  DWORD n;
  WriteFile(c->to, "x", 1, &n, NULL);
  holder_end(c);
}
/* A process id that names no process: one that has exited and been waited for. */
static uint32_t gone_process(void) {
  char exe[MAX_PATH], cmd[MAX_PATH + 16];
  if (!GetModuleFileNameA(NULL, exe, sizeof exe)) return 0;
  snprintf(cmd, sizeof cmd, "\"%s\" exit", exe);
  STARTUPINFOA si = {.cb = sizeof si};
  PROCESS_INFORMATION pi;
  if (!CreateProcessA(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return 0;
  WaitForSingleObject(pi.hProcess, INFINITE);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess); /* the last handle: the id is free */
  return (uint32_t)pi.dwProcessId;
}

/* The helper side: "exit", or "hold MODE SIZE PATH". */
static int helper(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "exit") == 0) return 0;
  if (argc != 5 || strcmp(argv[1], "hold") != 0) return -1;
  size_t size = (size_t)strtoull(argv[3], NULL, 10), n = size;
  void *p = ph_region_map_file(argv[4], &n, 0, 0);
  ph_heap_t *h = p ? ph_heap_attach(p, n) : NULL;
  if (!h || ph__portable_lock(h, 0) != 0) return 3;
  change_for(h, argv[2][0]);
  DWORD k;
  char b = 'x';
  if (!WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), &b, 1, &k, NULL)) return 4;
  if (argv[2][0] != 'r') Sleep(INFINITE);
  if (!ReadFile(GetStdHandle(STD_INPUT_HANDLE), &b, 1, &k, NULL)) return 5;
  return ph__portable_unlock(h) == 0 ? 0 : 6;
}

#else /* POSIX: pthreads, and fork for the helpers */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct thread {
  pthread_t t;
} thread;
static int thread_start(thread *t, thread_fn fn, void *arg) { return pthread_create(&t->t, NULL, fn, arg); }
static void *thread_join(thread *t) {
  void *r = NULL;
  pthread_join(t->t, &r);
  return r;
}
static void nap_ms(unsigned ms) {
  struct timespec ts = {0, (long)ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* A locked heap in memory shared with forked children. */
static ph_heap_t *shared_heap(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : ph_heap_init(p, size, PH_LOCKED);
}
static void drop_heap(ph_heap_t *h, size_t size) { munmap(h, size); }

struct holder {
  pid_t pid;
  int to, from;
};

static int holder_start(holder *c, ph_heap_t *h, size_t size, char mode) {
  (void)size;
  int to[2], from[2];
  if (pipe(to) != 0 || pipe(from) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    char b = 'x';
    ph__portable_lock(h, 0);
    change_for(h, mode);
    if (write(from[1], &b, 1) != 1) _exit(4);
    if (mode != 'r') for (;;) pause();
    if (read(to[0], &b, 1) != 1) _exit(5);
    _exit(ph__portable_unlock(h) == 0 ? 0 : 6);
  }
  close(to[0]);
  close(from[1]);
  *c = (holder){pid, to[1], from[0]};
  return 0;
}
static int holder_ready(holder *c) {
  char b;
  return read(c->from, &b, 1) == 1 ? 0 : -1;
}
static void holder_end(holder *c) {
  waitpid(c->pid, NULL, 0);
  close(c->to);
  close(c->from);
}
static void holder_kill(holder *c) {
  kill(c->pid, SIGKILL);
  holder_end(c);
}
static void holder_release(holder *c) {
  if (write(c->to, "x", 1) != 1) kill(c->pid, SIGKILL);
  holder_end(c);
}
static uint32_t gone_process(void) {
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  if (gone < 0) return 0;
  waitpid(gone, NULL, 0); /* reaped: its id names no process (until reused) */
  return (uint32_t)gone;
}
static int helper(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return -1; /* helpers are forked */
}
#endif

/* ---- the cases ---------------------------------------------------------- */

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
    if (ph__portable_lock(a->h, 0) != 0) a->errors++;
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
  for (int k = 0; k < 128; k++)
    if (live[k]) {
      ph__portable_lock(a->h, 0);
      if (ph_heap_free(a->h, live[k]) != 0) a->errors++;
      ph__portable_unlock(a->h);
    }
  return NULL;
}

TEST(threads_allocating_at_once_keep_the_heap_consistent) {
  size_t size = 16 * MiB;
  ph_heap_t *h = shared_heap(size);
  REQUIRE(h);
  thread t[4];
  worker_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (worker_arg){h, 7u + (unsigned)i, 30000, 0};
    REQUIRE(thread_start(&t[i], worker, &args[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    thread_join(&t[i]);
    EXPECT_EQ(args[i].errors, 0);
  }
  EXPECT_EQ(h->lock_word, 0);
  EXPECT_EQ(ph_heap_check(h, size), 0);
  ph_stats_t st;
  REQUIRE(ph_heap_stats(h, &st) == 0);
  EXPECT_EQ(st.live_count, 0);
  EXPECT_EQ(h->lock_recoveries, 0);
  drop_heap(h, size);
}

static void *try_unlock(void *p) { return (void *)(intptr_t)ph__portable_unlock(p); }

TEST(recursive_for_its_owner_and_released_only_by_it) {
  ph_heap_t *h = shared_heap(4 * MiB);
  REQUIRE(h);
  EXPECT_EQ(ph__portable_lock(h, 0), 0);
  EXPECT_EQ(ph__portable_lock(h, 0), 0);
  thread t;
  REQUIRE(thread_start(&t, try_unlock, h) == 0);
  EXPECT_EQ((int)(intptr_t)thread_join(&t), PH_EINVAL); /* another thread does not own it */
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT(h->lock_word != 0); /* held once more */
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT_EQ(h->lock_word, 0);
  EXPECT_EQ(ph__portable_unlock(h), PH_EINVAL);
  drop_heap(h, 4 * MiB);
}

TEST(a_dead_holder_is_taken_over_and_the_heap_checked) {
  size_t size = 8 * MiB;
  ph_heap_t *h = shared_heap(size);
  REQUIRE(h);
  holder c;
  REQUIRE(holder_start(&c, h, size, 'k') == 0);
  REQUIRE(holder_ready(&c) == 0);
  holder_kill(&c);
  EXPECT_EQ(ph__portable_lock(h, 0), 1); /* taken over, consistent */
  EXPECT_EQ(h->lock_recoveries, 1);
  EXPECT(ph_heap_malloc(h, 100) != NULL);
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT_EQ(ph__portable_lock(h, 0), 0); /* an ordinary lock again */
  EXPECT_EQ(ph__portable_unlock(h), 0);

  REQUIRE(holder_start(&c, h, size, 'b') == 0);
  REQUIRE(holder_ready(&c) == 0);
  holder_kill(&c);
  EXPECT_EQ(ph__portable_lock(h, 0), 1); /* taken over; the verdict (ph_heap_lock's) says broken */
  EXPECT_EQ(h->lock_recoveries, 2);
  EXPECT(h->lock_check != 0);
  EXPECT_EQ(ph__portable_unlock(h), 0);
  drop_heap(h, size);
}

typedef struct locker_arg {
  ph_heap_t *h;
  int rc, done;
} locker_arg;

static void *locker(void *p) {
  locker_arg *a = p;
  a->rc = ph__portable_lock(a->h, 0);
  __atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
  if (a->rc >= 0) ph__portable_unlock(a->h);
  return NULL;
}

TEST(a_live_holder_in_another_process_is_waited_for_not_taken_over) {
  size_t size = 4 * MiB;
  ph_heap_t *h = shared_heap(size);
  REQUIRE(h);
  holder c;
  REQUIRE(holder_start(&c, h, size, 'r') == 0);
  REQUIRE(holder_ready(&c) == 0);
  locker_arg a = {h, -100, 0};
  thread t;
  REQUIRE(thread_start(&t, locker, &a) == 0);
  nap_ms(100); /* five of its liveness checks: it must still be waiting */
  EXPECT_EQ(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), 0);
  holder_release(&c);
  thread_join(&t);
  EXPECT_EQ(a.rc, 0); /* an ordinary lock, no takeover */
  EXPECT_EQ(h->lock_recoveries, 0);
  drop_heap(h, size);
}

TEST(a_word_naming_a_process_that_is_gone_is_taken_over) {
  ph_heap_t *h = shared_heap(4 * MiB);
  REQUIRE(h);
  uint32_t gone = gone_process();
  REQUIRE(gone != 0);
  __atomic_store_n(&h->lock_word, (uint64_t)gone | (uint64_t)1 << 32, __ATOMIC_RELEASE);
  EXPECT_EQ(ph__portable_lock(h, 0), 1);
  EXPECT_EQ(ph__portable_unlock(h), 0);
  EXPECT_EQ(h->lock_word, 0);
  drop_heap(h, 4 * MiB);
}

TEST_MAIN_OR(helper)
