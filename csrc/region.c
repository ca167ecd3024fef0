/*
 * region.c - mapping regions from the operating system: anonymous memory,
 * and files mapped shared so unrelated processes see the same heap.
 *
 * POSIX: bases are 2 MiB aligned (reserve more, map at the aligned address,
 * give the rest back), so alignments up to 2 MiB are absolute, and anonymous
 * memory is reserved with MAP_NORESERVE: a 64 GiB heap costs only the pages
 * it touches. Windows: VirtualAlloc / MapViewOfFileEx at a 2 MiB-aligned
 * address found free just before (retried if another thread takes it).
 */
/* POSIX and BSD mapping flags (MAP_ANONYMOUS, MAP_NORESERVE) under -std=c11. */
#define _DEFAULT_SOURCE 1
#define _DARWIN_C_SOURCE 1
#include "internal.h"

#define REGION_ALIGN ((size_t)2 << 20)

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

/* An address where `size` bytes are free and 2 MiB aligned, found by
 * reserving size + 2 MiB and giving it back; NULL when there is none. Another
 * thread may take it before the caller maps there: callers retry. */
static void *free_aligned_address(size_t size) {
  size_t span = size + REGION_ALIGN;
  if (span < size) return NULL;
  char *raw = VirtualAlloc(NULL, span, MEM_RESERVE, PAGE_NOACCESS);
  if (!raw) return NULL;
  VirtualFree(raw, 0, MEM_RELEASE);
  return (void *)(((uintptr_t)raw + REGION_ALIGN - 1) & ~(uintptr_t)(REGION_ALIGN - 1));
}

#define ALIGNED_TRIES 16

void *ph_region_map_anon(size_t size) {
  if (size == 0) return ph__fail_null(PH_EINVAL);
  for (int i = 0; i < ALIGNED_TRIES; i++) {
    void *at = free_aligned_address(size);
    if (!at) break;
    void *p = VirtualAlloc(at, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p) return p;
  }
  return ph__fail_null(PH_EIO);
}

void *ph_region_map_file(const char *path, size_t *size, unsigned flags, unsigned mode) {
  /* Windows files get the default ACL of their folder; `mode` is only checked.
   * PH_MAP_SPARSE changes nothing: a new file's clusters come with its size. */
  if (!path || !size || (flags & ~(PH_MAP_CREATE | PH_MAP_EXCL | PH_MAP_SPARSE)) || (mode & ~0777u)) return ph__fail_null(PH_EINVAL);
  if ((flags & (PH_MAP_EXCL | PH_MAP_SPARSE)) && !(flags & PH_MAP_CREATE)) return ph__fail_null(PH_EINVAL);
  DWORD disp = (flags & PH_MAP_CREATE) ? ((flags & PH_MAP_EXCL) ? CREATE_NEW : OPEN_ALWAYS) : OPEN_EXISTING;
  HANDLE f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, disp,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  if (f == INVALID_HANDLE_VALUE) {
    ph__fail_os(PH_EIO, (int)GetLastError());
    return NULL;
  }
  bool created = (flags & PH_MAP_CREATE) && GetLastError() != ERROR_ALREADY_EXISTS;
  LARGE_INTEGER cur;
  if (!GetFileSizeEx(f, &cur)) {
    CloseHandle(f);
    return ph__fail_null(PH_EIO);
  }
  uint64_t want = *size ? (uint64_t)*size : (uint64_t)cur.QuadPart;
  /* An existing file is mapped as it is: it never grows here. A new one is
   * extended by the mapping, which allocates its clusters (NTFS files are
   * not sparse unless asked), so a full disk fails here. */
  if (want == 0 || ((uint64_t)cur.QuadPart < want && !created)) {
    CloseHandle(f);
    return ph__fail_null(PH_ESIZE);
  }
  HANDLE m = CreateFileMappingA(f, NULL, PAGE_READWRITE, (DWORD)(want >> 32), (DWORD)want, NULL);
  CloseHandle(f);
  if (!m) return ph__fail_null(PH_EIO);
  void *p = NULL;
  for (int i = 0; i < ALIGNED_TRIES && !p; i++) {
    void *at = free_aligned_address((size_t)want);
    if (!at) break;
    p = MapViewOfFileEx(m, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)want, at);
  }
  CloseHandle(m);
  if (!p) return ph__fail_null(PH_EIO);
  *size = (size_t)want;
  return p;
}

int ph_region_flush(void *base, size_t size) {
  if (!base) return ph__fail(PH_EINVAL);
  return FlushViewOfFile(base, size) ? 0 : ph__fail(PH_EIO);
}

/* Windows cannot tell here whether another process maps the file (a view
 * outlives the handle it was made from), so a heap file keeps its size. */
int ph_heap_file_grow(const char *path, size_t size) {
  if (!path || size == 0) return ph__fail(PH_EINVAL);
  WIN32_FILE_ATTRIBUTE_DATA at;
  if (!GetFileAttributesExA(path, GetFileExInfoStandard, &at)) {
    ph__fail_os(PH_EIO, (int)GetLastError());
    return PH_EIO;
  }
  uint64_t old = ((uint64_t)at.nFileSizeHigh << 32) | at.nFileSizeLow;
  if (old == 0) return ph__fail(PH_ESIZE);
  return size <= old ? 0 : ph__fail(PH_EINVAL); /* already that large: nothing to prove */
}

int ph_region_unmap(void *base, size_t size) {
  (void)size;
  if (!base) return ph__fail(PH_EINVAL);
  if (UnmapViewOfFile(base)) return 0;
  return VirtualFree(base, 0, MEM_RELEASE) ? 0 : ph__fail(PH_EIO);
}

#else
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

/* Reserve size + 2 MiB of address space and return the aligned start; the
 * unused head and tail are unmapped. *fd < 0: anonymous memory. */
static void *map_aligned(size_t size, int fd) {
  size_t span = size + REGION_ALIGN;
  if (span < size) return NULL;
  char *raw = mmap(NULL, span, fd < 0 ? PROT_READ | PROT_WRITE : PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  char *start = (char *)(((uintptr_t)raw + REGION_ALIGN - 1) & ~(uintptr_t)(REGION_ALIGN - 1));
  size_t len = (size + PH_PAGE_SIZE - 1) & ~(size_t)(PH_PAGE_SIZE - 1);
  if (fd >= 0 && mmap(start, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
    munmap(raw, span);
    return NULL;
  }
  if (start > raw) munmap(raw, (size_t)(start - raw));
  if (raw + span > start + len) munmap(start + len, (size_t)(raw + span - (start + len)));
  return start;
}

void *ph_region_map_anon(size_t size) {
  if (size == 0) return ph__fail_null(PH_EINVAL);
  void *p = map_aligned(size, -1);
  return p ? p : ph__fail_null(PH_EIO);
}

/* How long an open waits while another process grows the file (it holds
 * the exclusive lock for as long as reserving the new blocks takes). */
#define SHARED_LOCK_TRIES 400
#define SHARED_LOCK_SLEEP_NS 5000000L /* 400 x 5 ms = 2 s */

/* The shared lock every mapping of a heap file holds: flock(LOCK_SH). On
 * Linux a flock lock belongs to the open file, and the mapping holds the
 * open file, so the lock lives exactly as long as the mapping (through
 * close(fd), fork and munmap of the last page). Waits a bounded time:
 * PH_EBUSY after it. A file system without flock maps unlocked; growing
 * such a file then fails, since the grower cannot take its lock either. */
static int lock_shared(int fd) {
  for (int i = 0;; i++) {
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == ENOLCK || errno == EOPNOTSUPP || errno == EINVAL) return 0;
    if (errno != EWOULDBLOCK) return ph__fail_os(PH_EIO, errno);
    if (i == SHARED_LOCK_TRIES) return ph__fail(PH_EBUSY);
    struct timespec ts = {0, SHARED_LOCK_SLEEP_NS};
    nanosleep(&ts, NULL);
  }
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

/* Give [from, to) of the file real blocks, so a full file system is an
 * error here and never a SIGBUS on a later write through the mapping.
 * Where the file system cannot reserve (EOPNOTSUPP), one byte of each new
 * page is written instead, which allocates it on every file system that
 * does not compress or deduplicate zeros. */
static int reserve(int fd, uint64_t from, uint64_t to) {
  int rc = allocate(fd, from, to);
  if (rc == 0) return 0;
  if (rc != EOPNOTSUPP && rc != EINVAL) return ph__fail_os(PH_EIO, rc);
  for (uint64_t off = from; off < to; off += PH_PAGE_SIZE)
    if (pwrite(fd, "", 1, (off_t)off) != 1) return ph__fail_os(PH_EIO, errno ? errno : ENOSPC);
  return ftruncate(fd, (off_t)to) == 0 ? 0 : ph__fail_os(PH_EIO, errno);
}

static void *fail_os_null(int os_error) {
  ph__fail_os(PH_EIO, os_error);
  return NULL;
}

/* Remove the file this call created at `path`, if the path still names it. */
static void remove_created(const char *path, int fd) {
  struct stat mine, now;
  if (fstat(fd, &mine) == 0 && lstat(path, &now) == 0 && mine.st_dev == now.st_dev && mine.st_ino == now.st_ino)
    unlink(path);
}

/* A new file at `path`, never through a symbolic link there: -1 with errno
 * EEXIST when something (a file, a link, anything) has the name. */
static int create_new(const char *path, unsigned mode) {
  return open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL | O_NOFOLLOW, (mode_t)(mode ? mode : 0600));
}

/* An existing file, following a link (its bytes are validated before use).
 * O_NONBLOCK and O_NOCTTY: opening a FIFO or a terminal neither waits nor
 * adopts it; the caller refuses anything but a regular file. */
static int open_existing(const char *path) { return open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); }

void *ph_region_map_file(const char *path, size_t *size, unsigned flags, unsigned mode) {
  if (!path || !size || (flags & ~(PH_MAP_CREATE | PH_MAP_EXCL | PH_MAP_SPARSE))) return ph__fail_null(PH_EINVAL);
  if ((flags & (PH_MAP_EXCL | PH_MAP_SPARSE)) && !(flags & PH_MAP_CREATE)) return ph__fail_null(PH_EINVAL);
  if (mode & ~0777u) return ph__fail_null(PH_EINVAL); /* never setuid, setgid or sticky */
  if ((flags & PH_MAP_CREATE) && (*size == 0 || *size > SIZE_MAX / 2)) return ph__fail_null(PH_ESIZE);
  bool created = false;
  int fd = -1;
  if (flags & PH_MAP_CREATE) {
    fd = create_new(path, mode);
    created = fd >= 0;
    if (!created && (errno != EEXIST || (flags & PH_MAP_EXCL))) return fail_os_null(errno);
  }
  if (fd < 0) fd = open_existing(path);
  if (fd < 0) return fail_os_null(errno);
  struct stat st;
  int err = lock_shared(fd);
  if (!err && fstat(fd, &st) != 0) err = ph__fail_os(PH_EIO, errno);
  if (!err && !S_ISREG(st.st_mode)) err = ph__fail_os(PH_EIO, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  uint64_t want = err ? 0 : created ? (uint64_t)*size : *size ? (uint64_t)*size : (uint64_t)st.st_size;
  /* An existing file is mapped as it is: it never grows here (see ph_heap_file_grow). */
  if (!err && (want == 0 || want > (uint64_t)SIZE_MAX / 2 || (!created && (uint64_t)st.st_size < want))) err = ph__fail(PH_ESIZE);
  if (!err && created) err = (flags & PH_MAP_SPARSE) ? (ftruncate(fd, (off_t)want) == 0 ? 0 : ph__fail_os(PH_EIO, errno)) : reserve(fd, 0, want);
  void *p = err ? NULL : map_aligned((size_t)want, fd);
  if (!err && !p) err = ph__fail_os(PH_EIO, errno);
  if (err && created) remove_created(path, fd);
  close(fd); /* the mapping keeps the file open, and with it the shared lock */
  if (err) return NULL; /* the code (and errno) are recorded */
  *size = (size_t)want;
  return p;
}

/* Growing needs the file to itself: every mapping holds a shared lock, so
 * an exclusive one proves no process maps it (only Linux ties the lock to
 * the mapping; elsewhere the lock ends with the descriptor, which proves
 * nothing, so the file does not grow there). The heap in it is validated
 * before the file changes, and a failure leaves the file as it was. */
int ph_heap_file_grow(const char *path, size_t size) {
  if (!path || size == 0) return ph__fail(PH_EINVAL);
  if (size > SIZE_MAX / 2) return ph__fail(PH_ESIZE);
  int fd = open_existing(path);
  if (fd < 0) return ph__fail_os(PH_EIO, errno);
  struct stat st;
  int err = 0;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0 && !err)
    if (errno != EINTR) err = errno == EWOULDBLOCK ? ph__fail(PH_EBUSY) : ph__fail_os(PH_EIO, errno);
  if (!err && fstat(fd, &st) != 0) err = ph__fail_os(PH_EIO, errno);
  if (!err && !S_ISREG(st.st_mode)) err = ph__fail_os(PH_EIO, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  uint64_t old = err ? 0 : (uint64_t)st.st_size;
  if (!err && old == 0) err = ph__fail(PH_ESIZE);
#if !defined(__linux__)
  if (!err && size > old) err = ph__fail(PH_EINVAL); /* the lock proves nothing here */
#endif
  if (err || size <= old) {
    close(fd);
    return err;
  }
  void *p = map_aligned((size_t)old, fd);
  ph_heap_t *h = p ? ph_heap_attach(p, (size_t)old) : NULL;
  if (!p) err = ph__fail_os(PH_EIO, errno);
  else if (!h) err = ph_last_error();
  else if (ph_heap_flags(h) & PH_LOCKED) err = ph__fail(PH_EINVAL); /* a locked heap keeps its size */
  if (!err) {
    err = reserve(fd, old, size);
    if (!err) err = ph_heap_grow(h, size); /* the header changes only once the blocks are there */
    /* Undo a partial reservation (only then: truncating to the same size still changes mtime). */
    if (err && ftruncate(fd, (off_t)old) != 0) err = ph__fail_os(PH_EIO, errno);
  }
  if (p) munmap(p, (size_t)old);
  close(fd);
  return err;
}

int ph_region_flush(void *base, size_t size) {
  if (!base || ((uintptr_t)base & (PH_PAGE_SIZE - 1))) return ph__fail(PH_EINVAL);
  return msync(base, size, MS_SYNC) == 0 ? 0 : ph__fail(PH_EIO);
}

int ph_region_unmap(void *base, size_t size) {
  if (!base || size == 0 || ((uintptr_t)base & (PH_PAGE_SIZE - 1))) return ph__fail(PH_EINVAL);
  return munmap(base, size) == 0 ? 0 : ph__fail(PH_EIO);
}
#endif
