/*
 * prim_posix.c - prim.h on Linux, macOS and the BSDs: mmap, flock, kill.
 * What only Linux has (futexes, thread ids across processes, /proc, a
 * flock tied to the mapping, posix_fallocate) and macOS's file
 * preallocation are the differences inside.
 */
#if !defined(_WIN32)
#define _GNU_SOURCE 1      /* syscall, MAP_ANONYMOUS, MAP_NORESERVE under -std=c11 */
#define _DARWIN_C_SOURCE 1 /* the same on macOS */
#include "prim.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

/* ---- memory ---------------------------------------------------------------- */

/* Reserve size + align bytes of address space and keep the aligned part:
 * anonymous memory (fd < 0; MAP_NORESERVE, so it costs only the pages it
 * touches) or the file mapped over it; the unused head and tail go back. */
static void *map_aligned(size_t size, size_t align, int fd) {
  size_t span = size + align;
  if (span < size) return NULL;
  char *raw = mmap(NULL, span, fd < 0 ? PROT_READ | PROT_WRITE : PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  char *start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  size_t len = (size + PH_PAGE_SIZE - 1) & ~(size_t)(PH_PAGE_SIZE - 1);
  if (fd >= 0 && mmap(start, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
    munmap(raw, span);
    return NULL;
  }
  if (start > raw) munmap(raw, (size_t)(start - raw));
  if (raw + span > start + len) munmap(start + len, (size_t)(raw + span - (start + len)));
  return start;
}

void *ph__prim_map_anon(size_t size, size_t align) { return map_aligned(size, align, -1); }

int ph__prim_unmap(void *base, size_t size) { return munmap(base, size) == 0 ? 0 : PH_EIO; }

int ph__prim_flush(void *base, size_t size) { return msync(base, size, MS_SYNC) == 0 ? 0 : PH_EIO; }

/* ---- files ----------------------------------------------------------------- */

/* The reason for the failure just seen (never 0: that would read as success). */
static int os_error(void) { return errno > 0 ? errno : EIO; }

int ph__prim_file_open(const char *path, bool create, bool excl, unsigned mode, ph__prim_file *f, bool *created) {
  int fd = -1;
  *created = false;
  if (create) {
    /* Exclusive, and never through a symbolic link: EEXIST when anything
     * (a file, a link) has the name. */
    fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL | O_NOFOLLOW, (mode_t)(mode ? mode : 0600));
    *created = fd >= 0;
    if (fd < 0 && (errno != EEXIST || excl)) return os_error();
  }
  /* An existing file, through links (its bytes are validated before use).
   * O_NONBLOCK and O_NOCTTY: opening a FIFO or a terminal neither waits nor
   * adopts it; the size check refuses anything but a regular file. */
  if (fd < 0) fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return os_error();
  *f = fd;
  return 0;
}

void ph__prim_file_close(ph__prim_file f) { close((int)f); }

void ph__prim_file_remove_created(const char *path, ph__prim_file f) {
  struct stat mine, now;
  if (fstat((int)f, &mine) == 0 && lstat(path, &now) == 0 && mine.st_dev == now.st_dev && mine.st_ino == now.st_ino)
    unlink(path);
}

int ph__prim_file_size(ph__prim_file f, uint64_t *size) {
  struct stat st;
  if (fstat((int)f, &st) != 0) return os_error();
  if (!S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
  *size = (uint64_t)st.st_size;
  return 0;
}

/* The system's reservation of [from, to): 0 or an errno value. */
#if defined(__APPLE__)
static int allocate(int fd, uint64_t from, uint64_t to) {
  /* macOS has no posix_fallocate: preallocate past the physical end, then set the size. */
  fstore_t fs = {F_ALLOCATEALL, F_PEOFPOSMODE, 0, (off_t)(to - from), 0};
  if (fcntl(fd, F_PREALLOCATE, &fs) == -1) return errno == ENOTSUP ? EOPNOTSUPP : errno;
  return ftruncate(fd, (off_t)to) == 0 ? 0 : errno;
}
#else
static int allocate(int fd, uint64_t from, uint64_t to) { return posix_fallocate(fd, (off_t)from, (off_t)(to - from)); }
#endif

/* Where the file system cannot reserve (EOPNOTSUPP), one byte of each new
 * page is written instead, which allocates it on every file system that
 * does not compress or deduplicate zeros. */
int ph__prim_file_reserve(ph__prim_file f, uint64_t from, uint64_t to) {
  int fd = (int)f;
  int rc = allocate(fd, from, to);
  if (rc == 0) return 0;
  if (rc != EOPNOTSUPP && rc != EINVAL) return rc;
  for (uint64_t off = from; off < to; off += PH_PAGE_SIZE)
    if (pwrite(fd, "", 1, (off_t)off) != 1) return errno > 0 ? errno : ENOSPC;
  return ftruncate(fd, (off_t)to) == 0 ? 0 : os_error();
}

int ph__prim_file_resize(ph__prim_file f, uint64_t size) {
  return ftruncate((int)f, (off_t)size) == 0 ? 0 : os_error();
}

int ph__prim_file_map(ph__prim_file f, size_t size, size_t align, void **at) {
  *at = map_aligned(size, align, (int)f);
  return *at ? 0 : os_error();
}

/* How long the shared lock waits while another process grows the file (it
 * holds the exclusive lock for as long as reserving the new blocks takes). */
#define SHARED_LOCK_TRIES 400
#define SHARED_LOCK_SLEEP_NS 5000000L /* 400 x 5 ms = 2 s */

/* flock(LOCK_SH). On Linux a flock lock belongs to the open file, and the
 * mapping holds the open file, so the lock lives exactly as long as the
 * mapping (through close(fd), fork and munmap of the last page). A file
 * system without flock maps unlocked; growing such a file then fails,
 * since the grower cannot take its lock either. */
int ph__prim_file_lock_shared(ph__prim_file f) {
  for (int i = 0;; i++) {
    if (flock((int)f, LOCK_SH | LOCK_NB) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == ENOLCK || errno == EOPNOTSUPP || errno == EINVAL) return 0;
    if (errno != EWOULDBLOCK) return os_error();
    if (i == SHARED_LOCK_TRIES) return PH_EBUSY;
    struct timespec ts = {0, SHARED_LOCK_SLEEP_NS};
    nanosleep(&ts, NULL);
  }
}

int ph__prim_file_lock_exclusive(ph__prim_file f) {
  while (flock((int)f, LOCK_EX | LOCK_NB) != 0)
    if (errno != EINTR) return errno == EWOULDBLOCK ? PH_EBUSY : os_error();
  return 0;
}

/* Elsewhere the lock ends with the descriptor, which proves nothing. */
#if defined(__linux__)
const bool ph__prim_mapping_holds_lock = true;
#else
const bool ph__prim_mapping_holds_lock = false;
#endif

/* ---- processes ------------------------------------------------------------- */

uint32_t ph__prim_process_id(void) { return (uint32_t)getpid(); }

/* EPERM: it exists, someone else's. pid 0 names none (kill(0) would mean
 * this process group). */
bool ph__prim_process_alive(uint32_t pid) { return pid != 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM); }

void ph__prim_yield(void) { sched_yield(); }

void ph__prim_sleep_us(unsigned us) {
  struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
  nanosleep(&ts, NULL);
}

void ph__prim_on_fork_child(void (*fn)(void)) { pthread_atfork(NULL, NULL, fn); }

#if defined(__linux__)
/* One hexadecimal number at *p, advancing p. */
static uint64_t hex(const char **p, const char *end) {
  uint64_t v = 0;
  for (; *p < end; (*p)++) {
    char c = **p;
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;
    if (d == 16) break;
    v = v << 4 | d;
  }
  return v;
}

/* /proc/self/maps lines read "start-end perms ...", perms like "rw-p"
 * (private) or "rw-s" (shared). */
int ph__prim_region_is_private(const void *addr) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  uint64_t at = (uint64_t)(uintptr_t)addr;
  char buf[4096];
  size_t have = 0;
  int answer = -1;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) break;
    have += (size_t)n;
    const char *line = buf, *end = buf + have, *nl;
    while ((nl = memchr(line, '\n', (size_t)(end - line))) != NULL) {
      const char *p = line;
      uint64_t lo = hex(&p, nl);
      p++; /* '-' */
      uint64_t hi = hex(&p, nl);
      if (at >= lo && at < hi && p + 4 < nl) {
        answer = p[4] == 'p' ? 1 : 0; /* " rwxp": the fourth permission letter */
        goto done;
      }
      line = nl + 1;
    }
    have = (size_t)(end - line);
    memmove(buf, line, have);
    if (have == sizeof buf) have = 0; /* no line is this long: skip it */
  }
done:
  close(fd);
  return answer;
}
#else
/* Not known here: such a region is treated as shared (its lock waited on). */
int ph__prim_region_is_private(const void *addr) {
  (void)addr;
  return -1;
}
#endif

#if PH_PRIM_FUTEX
/* ---- what the futex lock needs ----------------------------------------------- */

/* Linux thread ids are unique across the processes of a pid namespace. */
uint32_t ph__prim_thread_id(void) { return (uint32_t)syscall(SYS_gettid); }

/* Field 22 of /proc/<id>/stat; 0 when the thread is gone or /proc is missing. */
uint32_t ph__prim_thread_start(uint32_t id) {
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

/* kill(0) would mean the process group, hence the id-0 check. */
bool ph__prim_thread_exists(uint32_t id) { return id != 0 && (kill((pid_t)id, 0) == 0 || errno == EPERM); }

bool ph__prim_thread_in_this_process(uint32_t id) { return syscall(SYS_tgkill, getpid(), (pid_t)id, 0) == 0; }

bool ph__prim_futex_wait(uint32_t *word, uint32_t val, long timeout_ns) {
  struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
  return syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0) == 0 || errno != ETIMEDOUT;
}

void ph__prim_futex_wake_one(uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

int64_t ph__prim_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif

#endif /* !_WIN32 */
