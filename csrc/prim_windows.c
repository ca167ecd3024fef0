/*
 * prim_windows.c - prim.h on Windows: VirtualAlloc, file mappings,
 * OpenProcess, write watches. Regions go at a 2 MiB-aligned address found
 * free just before (retried if another thread takes it). There is no fork,
 * and no file lock that lives as long as a view, so heap files are used
 * unlocked and keep their size.
 */
#if defined(_WIN32)
#include "prim.h"
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdlib.h>

/* ---- memory ---------------------------------------------------------------- */

/* The reason for the failure just seen (never 0: that would read as success). */
static int os_error(void) {
  DWORD e = GetLastError();
  return e > 0 && e <= INT32_MAX ? (int)e : ERROR_GEN_FAILURE;
}

/* An address where `size` bytes are free and `align` aligned, found by
 * reserving size + align and giving it back; NULL when there is none.
 * Another thread may take it before the caller maps there: callers retry. */
static void *free_aligned_address(size_t size, size_t align) {
  size_t span = size + align;
  if (span < size) return NULL;
  char *raw = VirtualAlloc(NULL, span, MEM_RESERVE, PAGE_NOACCESS);
  if (!raw) return NULL;
  VirtualFree(raw, 0, MEM_RELEASE);
  return (void *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
}

#define ALIGNED_TRIES 16

/* Reserved with write watching (only a reservation can be given it), for
 * the written-page tracker below: it costs the kernel a bit per page, and
 * a write a fault only on a page's first write after a tracker reset it. */
void *ph__prim_map_anon(size_t size, size_t align) {
  for (int i = 0; i < ALIGNED_TRIES; i++) {
    void *at = free_aligned_address(size, align);
    if (!at) break;
    void *p = VirtualAlloc(at, size, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, PAGE_READWRITE);
    if (p) return p;
  }
  return NULL;
}

int ph__prim_unmap(void *base, size_t size) {
  (void)size;
  if (UnmapViewOfFile(base)) return 0;
  return VirtualFree(base, 0, MEM_RELEASE) ? 0 : PH_EIO;
}

int ph__prim_flush(void *base, size_t size) { return FlushViewOfFile(base, size) ? 0 : PH_EIO; }

/* Whole 64 KiB (the allocation granularity), committed at once (a charge
 * against the commit limit, so no room is NULL here); pages are zeroed as
 * they are first touched. Large pages would need a privilege most
 * accounts lack. */
#define BULK_UNIT ((size_t)64 << 10)

size_t ph__prim_bulk_length(size_t size) {
  return size == 0 || size > SIZE_MAX - BULK_UNIT ? 0 : (size + BULK_UNIT - 1) & ~(BULK_UNIT - 1);
}

void *ph__prim_map_bulk(size_t len) { return len ? VirtualAlloc(NULL, len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE) : NULL; }

int ph__prim_unmap_bulk(void *base, size_t len) {
  (void)len;
  return VirtualFree(base, 0, MEM_RELEASE) ? 0 : PH_EIO;
}

/* MEM_RESET: the system may drop the pages instead of paging them out. */
void ph__prim_bulk_idle(void *base, size_t len) { (void)VirtualAlloc(base, len, MEM_RESET, PAGE_READWRITE); }

/* Decommitted and committed again, the pages read as zero and hold no
 * memory until written (not MEM_RESET: its pages keep undefined bytes).
 * The write watch does not report them (measured under wine): the heap
 * gives back only pages no snapshot holds (ph__prim_purge_tracked). */
int ph__prim_purge(void *addr, size_t len) {
  if (!VirtualFree(addr, len, MEM_DECOMMIT)) return os_error();
  return VirtualAlloc(addr, len, MEM_COMMIT, PAGE_READWRITE) == addr ? 0 : os_error();
}
const bool ph__prim_purge_tracked = false;

/* ---- files ----------------------------------------------------------------- */


/* Files get the default ACL of their folder: `mode` has no meaning here. */
int ph__prim_file_open(const char *path, bool create, bool excl, unsigned mode, ph__prim_file *f, bool *created) {
  (void)mode;
  DWORD disp = create ? (excl ? CREATE_NEW : OPEN_ALWAYS) : OPEN_EXISTING;
  HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, disp,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE) return os_error();
  *created = create && GetLastError() != ERROR_ALREADY_EXISTS;
  *f = (ph__prim_file)h;
  return 0;
}

void ph__prim_file_close(ph__prim_file f) { CloseHandle((HANDLE)f); }

/* The handle was opened without FILE_SHARE_DELETE (so that no other opener
 * can delete a mapped heap), which also keeps this file from being removed
 * while it is open: the file stays. */
void ph__prim_file_remove_created(const char *path, ph__prim_file f) {
  (void)path;
  (void)f;
}

int ph__prim_file_size(ph__prim_file f, uint64_t *size) {
  LARGE_INTEGER cur;
  if (!GetFileSizeEx((HANDLE)f, &cur)) return os_error();
  *size = (uint64_t)cur.QuadPart;
  return 0;
}

int ph__prim_file_resize(ph__prim_file f, uint64_t size) {
  LARGE_INTEGER at;
  at.QuadPart = (LONGLONG)size;
  if (!SetFilePointerEx((HANDLE)f, at, NULL, FILE_BEGIN) || !SetEndOfFile((HANDLE)f)) return os_error();
  return 0;
}

/* NTFS gives a file clusters for the whole of its new size (files are not
 * sparse unless asked), so a full disk fails here. */
int ph__prim_file_reserve(ph__prim_file f, uint64_t from, uint64_t to) {
  (void)from;
  return ph__prim_file_resize(f, to);
}

int ph__prim_file_map(ph__prim_file f, size_t size, size_t align, void **at) {
  uint64_t want = size;
  HANDLE m = CreateFileMappingA((HANDLE)f, NULL, PAGE_READWRITE, (DWORD)(want >> 32), (DWORD)want, NULL);
  if (!m) return PH_EIO;
  void *p = NULL;
  for (int i = 0; i < ALIGNED_TRIES && !p; i++) {
    void *free_at = free_aligned_address(size, align);
    if (!free_at) break;
    p = MapViewOfFileEx(m, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)size, free_at);
  }
  CloseHandle(m); /* the view keeps the mapping, and the file, open */
  *at = p;
  return p ? 0 : PH_EIO;
}

/* A lock on a handle ends with the handle, long before the view does:
 * it would prove nothing, so none is taken. */
int ph__prim_file_lock_shared(ph__prim_file f) {
  (void)f;
  return 0;
}

int ph__prim_file_lock_exclusive(ph__prim_file f) {
  (void)f;
  return 0;
}

const bool ph__prim_mapping_holds_lock = false;

/* ---- processes ------------------------------------------------------------- */

uint32_t ph__prim_process_id(void) { return (uint32_t)GetCurrentProcessId(); }

/* Access denied: it runs, someone else's. */
bool ph__prim_process_alive(uint32_t pid) {
  if (pid == 0) return false; /* the idle process: never a lock owner */
  HANDLE p = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (!p) return GetLastError() == ERROR_ACCESS_DENIED;
  DWORD state = WaitForSingleObject(p, 0);
  CloseHandle(p);
  return state == WAIT_TIMEOUT;
}

void ph__prim_yield(void) { SwitchToThread(); }

void ph__prim_sleep_us(unsigned us) { Sleep(us < 1000 ? 1 : us / 1000); } /* whole milliseconds */

void ph__prim_on_fork_child(void (*fn)(void)) { (void)fn; }

/* Windows has no fork, so no copy of a region that another process wrote. */
int ph__prim_region_is_private(const void *addr) {
  (void)addr;
  return -1;
}

/* ---- written pages ------------------------------------------------------------ */
/* Write watching: the kernel keeps a bit per page of a region reserved
 * with MEM_WRITE_WATCH (every anonymous mapping made here) and sets it on
 * the page's first write after a reset. File views cannot have it: starting
 * a tracker on one fails with GetWriteWatch's error.
 *
 * A take is GetWriteWatch with WRITE_WATCH_FLAG_RESET, never a query then
 * ResetWriteWatch: a write between those two calls would be reset unseen,
 * as ResetWriteWatch's documentation warns. With the flag the kernel reads
 * and clears each page's bit together, in address order, and returns as
 * soon as the address array is full, so the pages after the last one
 * reported keep their bits (NtGetWriteWatch clears bit by bit for that
 * reason in the Windows Research Kernel's wrtwatch.c; Wine resets only up
 * to the last page it looked at). Bounding the array by what `max` still
 * allows therefore bounds what is reset.
 *
 * Starting resets nothing: pages written before it are reported by the
 * first take over them (the contract allows a page no take has covered to
 * be reported), and start stays O(1) instead of clearing every page. Two
 * trackers over one region would take each other's pages: one per region.
 * There is no fork, so a tracker is never copied into another process. */
struct ph__prim_tracker {
  char *base;
  uint64_t pages;
};

uint64_t ph__prim_track_page_size(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwPageSize;
}

int ph__prim_track_start(void *base, uint64_t pages, ph__prim_tracker **out) {
  *out = NULL;
  uint64_t ps = ph__prim_track_page_size();
  if (!base || pages == 0 || (uintptr_t)base % ps != 0 || pages > UINT32_MAX || pages > SIZE_MAX / ps)
    return ERROR_INVALID_PARAMETER;
  /* One allocation holds the whole range (write watching belongs to an
   * allocation), and it has write watching: GetWriteWatch on its first
   * page succeeds, without reset. Both O(1). */
  MEMORY_BASIC_INFORMATION first, last;
  if (!VirtualQuery(base, &first, sizeof first) || !VirtualQuery((char *)base + (pages - 1) * ps, &last, sizeof last))
    return os_error();
  if (first.AllocationBase != last.AllocationBase) return ERROR_INVALID_ADDRESS;
  void *seen;
  ULONG_PTR count = 1;
  DWORD granularity = 0;
  if (GetWriteWatch(0, base, (SIZE_T)ps, &seen, &count, &granularity) != 0) return os_error();
  if (granularity != ps) return ERROR_NOT_SUPPORTED; /* reports would not be in our pages */
  ph__prim_tracker *t = calloc(1, sizeof *t);
  if (!t) return ERROR_NOT_ENOUGH_MEMORY;
  t->base = base;
  t->pages = pages;
  *out = t;
  return 0;
}

/* A look at [from, to): with WRITE_WATCH_FLAG_RESET in `flags`, each page
 * reported is unwritten again. */
static int64_t track_look(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max, DWORD flags) {
  if (!t || from > to || to > t->pages || (max != 0 && !out)) return PH_EINVAL;
  uint64_t ps = ph__prim_track_page_size(), count = 0, at = from;
  void *seen[256];
  /* Each call asks for at most the addresses still wanted, so it resets no
   * page it does not report; a full array means there may be more after
   * the last one. (A count or a size of 0 is an error to GetWriteWatch.) */
  while (at < to && count < max) {
    ULONG_PTR want = max - count < 256 ? max - count : 256, got = want;
    DWORD granularity;
    if (GetWriteWatch(flags, t->base + at * ps, (SIZE_T)((to - at) * ps), seen, &got, &granularity) != 0) return PH_EIO;
    for (ULONG_PTR i = 0; i < got; i++) out[count++] = (uint32_t)(((char *)seen[i] - t->base) / ps);
    if (got < want) break; /* no more written pages in [at, to) */
    at = out[count - 1] + 1ull;
  }
  return (int64_t)count;
}

int64_t ph__prim_track_take(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  return track_look(t, from, to, out, max, WRITE_WATCH_FLAG_RESET);
}

/* Without the reset a page keeps its bit and its writable entry: writes to
 * it cost nothing until a take resets it. */
int64_t ph__prim_track_peek(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  return track_look(t, from, to, out, max, 0);
}

void ph__prim_track_stop(ph__prim_tracker *t) { free(t); } /* the region keeps its write watching */

#endif /* _WIN32 */
