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
  (void)mode; /* Windows files get the default ACL of their folder */
  if (!path || !size) return ph__fail_null(PH_EINVAL);
  DWORD disp = (flags & PH_MAP_CREATE) ? ((flags & PH_MAP_EXCL) ? CREATE_NEW : OPEN_ALWAYS) : OPEN_EXISTING;
  HANDLE f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, disp,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  if (f == INVALID_HANDLE_VALUE) return ph__fail_null(PH_EIO);
  LARGE_INTEGER cur;
  if (!GetFileSizeEx(f, &cur)) {
    CloseHandle(f);
    return ph__fail_null(PH_EIO);
  }
  uint64_t want = *size ? (uint64_t)*size : (uint64_t)cur.QuadPart;
  if (want == 0 || ((uint64_t)cur.QuadPart < want && !(flags & PH_MAP_CREATE))) {
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

int ph_region_unmap(void *base, size_t size) {
  (void)size;
  if (!base) return ph__fail(PH_EINVAL);
  if (UnmapViewOfFile(base)) return 0;
  return VirtualFree(base, 0, MEM_RELEASE) ? 0 : ph__fail(PH_EIO);
}

#else
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

void *ph_region_map_file(const char *path, size_t *size, unsigned flags, unsigned mode) {
  if (!path || !size || (flags & ~(PH_MAP_CREATE | PH_MAP_EXCL))) return ph__fail_null(PH_EINVAL);
  int oflags = O_RDWR | O_CLOEXEC;
  if (flags & PH_MAP_CREATE) oflags |= O_CREAT;
  if ((flags & PH_MAP_CREATE) && (flags & PH_MAP_EXCL)) oflags |= O_EXCL;
  int fd = open(path, oflags, (mode_t)(mode ? mode : 0600));
  if (fd < 0) return ph__fail_null(PH_EIO);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ph__fail_null(PH_EIO);
  }
  uint64_t want = *size ? (uint64_t)*size : (uint64_t)st.st_size;
  int err = 0;
  if (want == 0 || want > (uint64_t)SIZE_MAX / 2) err = PH_ESIZE;
  else if ((uint64_t)st.st_size < want) {
    /* Growing is allowed only when asked to create: the new tail is sparse. */
    if (!(flags & PH_MAP_CREATE)) err = PH_ESIZE;
    else if (ftruncate(fd, (off_t)want) != 0) err = PH_EIO;
  }
  void *p = err ? NULL : map_aligned((size_t)want, fd);
  close(fd); /* the mapping keeps the file open */
  if (err) return ph__fail_null(err);
  if (!p) return ph__fail_null(PH_EIO);
  *size = (size_t)want;
  return p;
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
