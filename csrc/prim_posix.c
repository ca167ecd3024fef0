/*
 * prim_posix.c - prim.h on Linux, macOS and the BSDs: mmap, flock, kill.
 * What only Linux has (futexes, thread ids across processes, /proc, a
 * flock tied to the mapping, posix_fallocate) and macOS's file
 * preallocation are the differences inside.
 */
#if !defined(_WIN32) && !defined(__wasm__)
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

/* Bulk memory from a huge page's size up is whole huge pages, aligned to
 * one, so every part of it can be one. Where the system maps huge pages
 * only on request (Linux's transparent huge pages set to "madvise"), a
 * first write then costs one fault and one 2 MiB clear per 2 MiB instead
 * of 512 faults, several times the cost of the copy into it. Smaller
 * mappings are whole 64 KiB. */
#define BULK_HUGE ((size_t)2 << 20)
#define BULK_SMALL ((size_t)64 << 10)

size_t ph__prim_bulk_length(size_t size) {
  size_t unit = size < BULK_HUGE ? BULK_SMALL : BULK_HUGE;
  return size == 0 || size > SIZE_MAX - 2 * BULK_HUGE ? 0 : (size + unit - 1) & ~(unit - 1);
}

void *ph__prim_map_bulk(size_t len) {
  size_t align = len < BULK_HUGE ? (size_t)PH_PAGE_SIZE : BULK_HUGE;
  if (len == 0 || len > SIZE_MAX - align) return NULL;
  size_t span = len + align;
  /* Without MAP_NORESERVE: where the system counts commitments, no room is
   * a refusal here, not a process killed on a later write. */
  char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  char *start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  if (start > raw) munmap(raw, (size_t)(start - raw));
  if (raw + span > start + len) munmap(start + len, (size_t)(raw + span - (start + len)));
#if defined(MADV_HUGEPAGE)
  if (len >= BULK_HUGE) (void)madvise(start, len, MADV_HUGEPAGE); /* a hint: refused, the pages are small */
#endif
  return start;
}

int ph__prim_unmap_bulk(void *base, size_t len) { return munmap(base, len) == 0 ? 0 : PH_EIO; }

/* MADV_FREE keeps a huge page whole (Linux 4.5+, macOS); without it the
 * pages simply stay. */
void ph__prim_bulk_idle(void *base, size_t len) {
#if defined(MADV_FREE)
  (void)madvise(base, len, MADV_FREE);
#else
  (void)base;
  (void)len;
#endif
}

/* Linux: MADV_DONTNEED empties private anonymous pages at once; they read
 * as zero from then on, and the userfaultfd tracker reports them written.
 * Never MADV_FREE: its pages keep their bytes until the kernel wants them,
 * so what they read later depends on memory pressure, and the tracker does
 * not see that change. Elsewhere MADV_DONTNEED may keep the bytes (macOS,
 * the BSDs): a new anonymous mapping over the range replaces them. */
int ph__prim_purge(void *addr, size_t len) {
#if defined(__linux__)
  return madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : (errno > 0 ? errno : EIO);
#else
  void *at = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return at == addr ? 0 : (errno > 0 ? errno : EIO);
#endif
}
/* The userfaultfd tracker reports a page emptied by MADV_DONTNEED as
 * written; elsewhere there is no tracker to miss anything. */
const bool ph__prim_purge_tracked = true;

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

/* ---- written pages ------------------------------------------------------------ */
#if defined(__linux__)
#include <sys/ioctl.h>

/* The kernel's interface (linux/userfaultfd.h, linux/fs.h), declared here
 * under our own names: older system headers (Debian 12's) lack the 6.7
 * additions, and the numbers are the kernel's ABI. */
struct ph__uffd_api { uint64_t api, features, ioctls; };
struct ph__uffd_range { uint64_t start, len; };
struct ph__uffd_register { struct ph__uffd_range range; uint64_t mode, ioctls; };
struct ph__page_region { uint64_t start, end, categories; };
struct ph__pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PH__UFFD_API 0xAAull
#define PH__UFFD_FEATURE_WP_UNPOPULATED (1ull << 13)
#define PH__UFFD_FEATURE_WP_ASYNC (1ull << 15)
#define PH__UFFDIO_API _IOWR(0xAA, 0x3F, struct ph__uffd_api)
#define PH__UFFDIO_REGISTER _IOWR(0xAA, 0x00, struct ph__uffd_register)
#define PH__UFFDIO_REGISTER_MODE_WP (1ull << 1)
#define PH__UFFD_USER_MODE_ONLY 1
#define PH__USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#define PH__PAGE_IS_WRITTEN (1ull << 1)
#define PH__PM_SCAN_WP_MATCHING (1ull << 0)
#define PH__PM_SCAN_CHECK_WPASYNC (1ull << 1)
#define PH__PAGEMAP_SCAN _IOWR('f', 16, struct ph__pm_scan_arg)

struct ph__prim_tracker {
  int uffd;        /* owns the registration */
  int pagemap;     /* /proc/self/pagemap, for PAGEMAP_SCAN */
  uint32_t pid;    /* the process that registered: a fork's child may not scan */
  uintptr_t base;
  uint64_t pages;
};

uint64_t ph__prim_track_page_size(void) { return (uint64_t)sysconf(_SC_PAGESIZE); }

/* A userfaultfd: the device first (allowed by its permissions where the
 * syscall is restricted), then the syscall, then the syscall for user-mode
 * faults only (all this tracker needs; allowed unprivileged even with
 * vm.unprivileged_userfaultfd = 0). */
static int ph__uffd_open(void) {
  int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    int fd = ioctl(dev, PH__USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    close(dev);
    if (fd >= 0) return fd;
  }
#if defined(SYS_userfaultfd)
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) return fd;
  return (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | PH__UFFD_USER_MODE_ONLY);
#else
  errno = ENOSYS;
  return -1;
#endif
}

int ph__prim_track_start(void *base, uint64_t pages, ph__prim_tracker **out) {
  *out = NULL;
  uint64_t ps = ph__prim_track_page_size();
  if (pages == 0 || (uintptr_t)base % ps != 0 || pages > UINT32_MAX) return EINVAL;
  ph__prim_tracker *t = calloc(1, sizeof *t);
  if (!t) return ENOMEM;
  t->uffd = t->pagemap = -1;
  t->pid = ph__prim_process_id();
  t->base = (uintptr_t)base;
  t->pages = pages;
  int err = 0;
  struct ph__uffd_api api = {PH__UFFD_API, PH__UFFD_FEATURE_WP_ASYNC | PH__UFFD_FEATURE_WP_UNPOPULATED, 0};
  struct ph__uffd_range range = {t->base, pages * ps};
  struct ph__uffd_register reg = {range, PH__UFFDIO_REGISTER_MODE_WP, 0};
  /* Each step's failure is the kernel's reason: no userfaultfd, no
   * asynchronous write protection (before 6.7), a mapping it cannot track. */
  if ((t->uffd = ph__uffd_open()) < 0 || ioctl(t->uffd, PH__UFFDIO_API, &api) != 0 ||
      ioctl(t->uffd, PH__UFFDIO_REGISTER, &reg) != 0 ||
      (t->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0)
    err = errno ? errno : EIO;
  if (err == 0) {
    /* A scan of one page proves the pair works: PAGEMAP_SCAN exists
     * (6.7+) and sees the registration. Registering protects nothing: the
     * first take over a page write-protects it (PM_SCAN_WP_MATCHING also
     * protects pages never touched), so only the pages a caller looks at
     * get page tables, never the whole of a large lazy region. */
    uint32_t first;
    if (ph__prim_track_take(t, 0, 1, &first, 1) < 0) err = errno ? errno : EIO;
  }
  if (err != 0) {
    ph__prim_track_stop(t);
    return err;
  }
  *out = t;
  return 0;
}

/* A scan of [from, to): with `protect`, each page reported is protected again. */
static int64_t ph__track_scan(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max, bool protect) {
  if (!t || from > to || to > t->pages || (max != 0 && !out)) return PH_EINVAL;
  /* The descriptors a child inherits name the parent's memory. */
  if (t->pid != ph__prim_process_id()) return PH_EINVAL;
  uint64_t ps = ph__prim_track_page_size(), count = 0, at = from;
  struct ph__page_region vec[64];
  while (at < to && count < max) {
    /* max_pages bounds what is reported and so what is re-protected: a
     * page past it keeps its written state for the next take. */
    struct ph__pm_scan_arg arg = {
        .size = sizeof arg,
        .flags = (protect ? PH__PM_SCAN_WP_MATCHING : 0) | PH__PM_SCAN_CHECK_WPASYNC,
        .start = t->base + at * ps,
        .end = t->base + to * ps,
        .vec = (uint64_t)(uintptr_t)vec,
        .vec_len = sizeof vec / sizeof vec[0],
        .max_pages = max - count,
        .category_mask = PH__PAGE_IS_WRITTEN,
        .return_mask = PH__PAGE_IS_WRITTEN,
    };
    long n = ioctl(t->pagemap, PH__PAGEMAP_SCAN, &arg);
    if (n < 0) return PH_EIO;
    for (long i = 0; i < n; i++)
      for (uint64_t a = vec[i].start; a < vec[i].end && count < max; a += ps) out[count++] = (uint32_t)((a - t->base) / ps);
    uint64_t walked = (arg.walk_end - t->base) / ps;
    if (walked <= at) break; /* no progress: the kernel stopped short */
    at = walked;
  }
  return (int64_t)count;
}

int64_t ph__prim_track_take(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  return ph__track_scan(t, from, to, out, max, true);
}

int64_t ph__prim_track_peek(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  return ph__track_scan(t, from, to, out, max, false);
}

void ph__prim_track_stop(ph__prim_tracker *t) {
  if (!t) return;
  if (t->pagemap >= 0) close(t->pagemap);
  if (t->uffd >= 0) close(t->uffd); /* drops the registration and the protection */
  free(t);
}
#else
uint64_t ph__prim_track_page_size(void) { return (uint64_t)sysconf(_SC_PAGESIZE); }
int ph__prim_track_start(void *base, uint64_t pages, ph__prim_tracker **out) {
  (void)base, (void)pages;
  *out = NULL;
  return ENOSYS;
}
int64_t ph__prim_track_take(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  (void)t, (void)from, (void)to, (void)out, (void)max;
  return PH_EINVAL;
}
int64_t ph__prim_track_peek(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  return ph__prim_track_take(t, from, to, out, max);
}
void ph__prim_track_stop(ph__prim_tracker *t) { (void)t; }
#endif

#endif /* !_WIN32 && !__wasm__ */
