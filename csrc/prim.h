/*
 * prim.h - the operating system as privheap uses it: memory, files,
 * processes and threads. Each platform implements this interface in one
 * file (prim_posix.c for Linux, macOS and the BSDs; prim_windows.c), so the
 * concept files (region.c, the locks) name no platform and a port touches
 * one file. A file for another platform compiles to nothing.
 *
 * Results: a function returning int returns 0, a positive OS error number
 * (errno, GetLastError: an I/O failure for that reason, which the public
 * call reports as PH_EIO with ph_last_os_error), or a negative PH_E* code.
 * One returning a pointer returns NULL when it failed (PH_EIO). Nothing
 * here records an error: the public call does, where it returns.
 */
#ifndef PH_PRIM_H
#define PH_PRIM_H
#include "internal.h"

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* Whether waiters can sleep on a 32-bit word that other processes wake
 * (a futex) and threads have ids unique across processes: the lock in
 * lock.c uses both, and the low half of a little-endian word. Without
 * them the lock is lock_portable.c's. */
#if defined(__linux__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PH_PRIM_FUTEX 1
#else
#define PH_PRIM_FUTEX 0
#endif

/* ---- memory ---------------------------------------------------------------- */
/* `size` bytes of zeroed read-write memory at an `align`-aligned address
 * (a power of two, at least the page size), private to this process and
 * committed as it is touched; NULL when there is no room. */
void *ph__prim_map_anon(size_t size, size_t align);
/* Give back a mapping made here (anonymous or of a file). */
int ph__prim_unmap(void *base, size_t size);
/* Write a file mapping's dirty pages to its file, and wait for it. */
int ph__prim_flush(void *base, size_t size);
/* Bulk memory: mappings written whole right after they are made (snapshot
 * images), in the largest pages the system gives on request (Linux: 2 MiB
 * transparent huge pages), so the first writes cost few page faults. The
 * length of the mapping that holds `size` bytes (rounded up: sizes with
 * one length can share a mapping), or 0 when it overflows. */
size_t ph__prim_bulk_length(size_t size);
/* A zeroed read-write mapping of `len` bytes (a bulk length), committed up
 * front: where the system counts commitments, no room is NULL here, never
 * a fault on a later write. */
void *ph__prim_map_bulk(size_t len);
int ph__prim_unmap_bulk(void *base, size_t len);
/* The bytes are no longer needed: the system may take the pages back while
 * memory is short (they then read as zero); a write keeps them again,
 * without a fault while the system has not taken them. */
void ph__prim_bulk_idle(void *base, size_t len);
/* Give back the memory of the `len` bytes at `addr` (whole system pages of
 * a private anonymous mapping made here): 0 when they now read as zero and
 * hold no memory until written again, else a positive OS error number,
 * and then the bytes may be as they were. On Linux a page given back counts as
 * written for the tracker (its next take reports it). Never on a file's
 * mapping: there the file's bytes would come back, not zeros. */
int ph__prim_purge(void *addr, size_t len);
/* Whether the written-page tracker reports the pages a purge gave back
 * (Linux: yes; Windows: its write watch does not). Where it does not, only
 * pages outside every snapshot may be given back: a ring or a checksum kept
 * by the tracker would miss the change from stale bytes to zeros. */
extern const bool ph__prim_purge_tracked;

/* ---- files ----------------------------------------------------------------- */
/* An open file: a descriptor or a handle. */
typedef intptr_t ph__prim_file;

/* Open the file at `path` for reading and writing. With `create`, a missing
 * file is created with permission bits `mode` (0600 when 0; where the
 * system has them), never through a symbolic link at `path`; with `excl`
 * too, an existing one is an error. *created tells which happened. */
int ph__prim_file_open(const char *path, bool create, bool excl, unsigned mode, ph__prim_file *f, bool *created);
void ph__prim_file_close(ph__prim_file f);
/* After a failure: remove the file that this open created at `path`, if
 * the path still names it and the system allows it. */
void ph__prim_file_remove_created(const char *path, ph__prim_file f);
/* The size of a regular file (anything else is an error). */
int ph__prim_file_size(ph__prim_file f, uint64_t *size);
/* Make the file `to` bytes long with real blocks for [from, to), so a full
 * file system is an error here and never a fault on a later write through
 * a mapping. */
int ph__prim_file_reserve(ph__prim_file f, uint64_t from, uint64_t to);
/* Set the file's size without reserving blocks for new bytes. */
int ph__prim_file_resize(ph__prim_file f, uint64_t size);
/* Map the file's first `size` bytes shared, read-write, at an `align`-
 * aligned address (*at). The mapping outlives the file's closing. */
int ph__prim_file_map(ph__prim_file f, size_t size, size_t align, void **at);

/* The lock every mapping holds on its file, shared, waiting a bounded
 * time for an exclusive holder (PH_EBUSY after it); where the file system
 * has no such locks the file is used unlocked. */
int ph__prim_file_lock_shared(ph__prim_file f);
/* The exclusive lock, without waiting: PH_EBUSY while anyone holds it. */
int ph__prim_file_lock_exclusive(ph__prim_file f);
/* Whether the shared lock lives as long as the mapping (not only as long
 * as the open file): only then does the exclusive lock prove that no
 * process maps the file. */
extern const bool ph__prim_mapping_holds_lock;

/* ---- processes ------------------------------------------------------------- */
uint32_t ph__prim_process_id(void);
/* Whether process `pid` exists (someone else's counts; pid 0 never does). */
bool ph__prim_process_alive(uint32_t pid);
/* Give the CPU to another thread. */
void ph__prim_yield(void);
/* Sleep at least about `us` microseconds (the system may round up). */
void ph__prim_sleep_us(unsigned us);
/* Call `fn` in the child after every fork() (nothing where there is none). */
void ph__prim_on_fork_child(void (*fn)(void));
/* Whether the memory at addr is mapped private to this process (a fork's
 * copy-on-write copy): 1, 0 when shared, -1 when this system cannot say. */
int ph__prim_region_is_private(const void *addr);

/* ---- written pages ------------------------------------------------------------ */
/* Which pages of a mapping were written since the last look, from the
 * system instead of a comparison of bytes. On Linux (6.7+): userfaultfd
 * write protection in asynchronous mode (the kernel resolves each first
 * write itself: no handler thread, no signal), read and re-protected by
 * the PAGEMAP_SCAN ioctl. On Windows: write watching (GetWriteWatch),
 * which every anonymous mapping made here is reserved with and no view of
 * a file has. Elsewhere, and where the kernel refuses, there is
 * no tracker, and the caller compares bytes instead. Process-local: a
 * tracker is not valid in a fork's child, and sees only writes through
 * this process's mapping. */
typedef struct ph__prim_tracker ph__prim_tracker;
/* Track writes to the `pages` system pages at `base` (a mapping made here,
 * page-aligned), in O(1) whatever their number. Every page written from
 * now on is reported by the next take that covers it; a page no take has
 * covered yet may be reported though unwritten (on Linux it is: the first
 * take over a page is what protects it). 0, or a positive OS error
 * number: ENOSYS (ERROR_CALL_NOT_IMPLEMENTED on Windows) where there is no
 * tracker, the kernel's reason where it refuses. */
int ph__prim_track_start(void *base, uint64_t pages, ph__prim_tracker **out);
/* The indexes of the pages in [from, to) written since the start or since
 * the take that last reported them (and maybe pages no take covered
 * before), ascending, at most `max` of them, into `out`; each page
 * reported is unwritten again, atomically with reading it, and a page not
 * reported keeps its state. The count (below `max`: no
 * more in [from, to)), or PH_EINVAL (a bad range, or a fork's child), or
 * PH_EIO (the kernel refused: the tracker is lost). */
int64_t ph__prim_track_take(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max);
/* take, except that the pages reported keep their written state: they
 * are reported again by the next look, and writes to them cost nothing
 * (for a caller that expects most pages written before it looks again). */
int64_t ph__prim_track_peek(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max);
/* Stop tracking (the pages stay as they are) and free the tracker. */
void ph__prim_track_stop(ph__prim_tracker *t);
/* The system page size the tracker counts in. */
uint64_t ph__prim_track_page_size(void);

#if PH_PRIM_FUTEX
/* ---- what the futex lock needs ----------------------------------------------- */
/* This thread's id, unique among the threads of all processes. */
uint32_t ph__prim_thread_id(void);
/* Low 32 bits of thread `id`'s start time, or 0 when it cannot be read. */
uint32_t ph__prim_thread_start(uint32_t id);
/* Whether a thread (of any process) has id `id` (never id 0). */
bool ph__prim_thread_exists(uint32_t id);
/* Whether thread `id` belongs to this process. */
bool ph__prim_thread_in_this_process(uint32_t id);
/* Sleep while *word == val, for at most `timeout_ns`: false when it timed out. */
bool ph__prim_futex_wait(uint32_t *word, uint32_t val, long timeout_ns);
/* Wake one thread sleeping on `word`, in any process. */
void ph__prim_futex_wake_one(uint32_t *word);
/* A monotonic clock in nanoseconds. */
int64_t ph__prim_now_ns(void);
#endif

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif
#endif
