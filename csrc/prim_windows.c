/*
 * prim_windows.c - prim.h on Windows: VirtualAlloc, file mappings,
 * OpenProcess. Regions go at a 2 MiB-aligned address found free just
 * before (retried if another thread takes it). There is no fork, and no
 * file lock that lives as long as a view, so heap files are used unlocked
 * and keep their size.
 */
#if defined(_WIN32)
#include "prim.h"
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

/* ---- memory ---------------------------------------------------------------- */

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

void *ph__prim_map_anon(size_t size, size_t align) {
  for (int i = 0; i < ALIGNED_TRIES; i++) {
    void *at = free_aligned_address(size, align);
    if (!at) break;
    void *p = VirtualAlloc(at, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
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

/* ---- files ----------------------------------------------------------------- */

/* The reason for the failure just seen (never 0: that would read as success). */
static int os_error(void) {
  DWORD e = GetLastError();
  return e > 0 && e <= INT32_MAX ? (int)e : ERROR_GEN_FAILURE;
}

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
/* No tracker yet: GetWriteWatch needs regions reserved with MEM_WRITE_WATCH. */
uint64_t ph__prim_track_page_size(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwPageSize;
}
int ph__prim_track_start(void *base, uint64_t pages, ph__prim_tracker **out) {
  (void)base, (void)pages;
  *out = NULL;
  return ERROR_CALL_NOT_IMPLEMENTED;
}
int64_t ph__prim_track_take(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  (void)t, (void)from, (void)to, (void)out, (void)max;
  return PH_EINVAL;
}
void ph__prim_track_stop(ph__prim_tracker *t) { (void)t; }

#endif /* _WIN32 */
