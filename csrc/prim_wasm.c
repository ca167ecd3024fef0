/*
 * prim_wasm.c - prim.h inside a WebAssembly module (wasm32, no system
 * underneath): memory is the module's linear memory, which only grows;
 * there are no files, no other processes and one thread.
 *
 * Owns: handing out spans of linear memory. Everything below `top` has
 * been handed out or sits on the free list; everything above it is fresh
 * (zero, as linear memory starts). A span given back goes on the free
 * list (sorted by address, neighbours merged) and later requests take the
 * first that fits; a request none fits takes fresh memory at `top`,
 * starting inside the free span that ends there if one does, and grows
 * the memory when `top` passes its end. A span taken from the free list is
 * zeroed as it is handed out (its earlier user wrote it).
 *
 * Giving pages back zeroes them, as Linux's purge makes them read, so a
 * heap here holds the same bytes as one on Linux after the same calls.
 */
#if defined(__wasm__)
#include "prim.h"

#define WASM_PAGE ((uintptr_t)65536)
#define SPAN_UNIT ((uintptr_t)PH_PAGE_SIZE) /* spans are whole heap pages */
#define FREE_SPANS 64
#define NO_SYSTEM 52 /* ENOSYS: what a call the module has no system for fails with */

extern unsigned char __heap_base; /* the linker's: the end of the data and the stack */

typedef struct span {
  uintptr_t start, end;
} span;

static span free_spans[FREE_SPANS]; /* [0, n_free), ascending, never adjacent */
static int n_free;
static uintptr_t top;

static uintptr_t align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }

static void remove_span(int i) {
  for (int j = i; j + 1 < n_free; j++) free_spans[j] = free_spans[j + 1];
  n_free--;
}

/* Put [start, end) on the free list, merged with the spans it touches.
 * With the list full, the span is lost (the memory stays unused). */
static void add_span(uintptr_t start, uintptr_t end) {
  if (start >= end) return;
  int i = 0;
  while (i < n_free && free_spans[i].end < start) i++;
  if (i < n_free && free_spans[i].end == start) {
    free_spans[i].end = end;
    if (i + 1 < n_free && free_spans[i + 1].start == end) {
      free_spans[i].end = free_spans[i + 1].end;
      remove_span(i + 1);
    }
    return;
  }
  if (i < n_free && free_spans[i].start == end) {
    free_spans[i].start = start;
    return;
  }
  if (n_free == FREE_SPANS) return;
  for (int j = n_free; j > i; j--) free_spans[j] = free_spans[j - 1];
  free_spans[i] = (span){start, end};
  n_free++;
}

/* Make linear memory reach `end`: false when it cannot grow that far. */
static bool reach(uintptr_t end) {
  uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * WASM_PAGE;
  if (end <= have) return true;
  uintptr_t more = (end - have + WASM_PAGE - 1) / WASM_PAGE;
  return __builtin_wasm_memory_grow(0, more) != (size_t)-1;
}

/* A free span that holds `size` bytes at an `align`-aligned address. */
static void *take_free(uintptr_t size, uintptr_t align) {
  for (int i = 0; i < n_free; i++) {
    span s = free_spans[i];
    uintptr_t at = align_up(s.start, align);
    if (at < s.start || at > s.end || s.end - at < size) continue;
    remove_span(i);
    add_span(s.start, at);
    add_span(at + size, s.end);
    memset((void *)at, 0, size);
    return (void *)at;
  }
  return NULL;
}

/* Fresh memory at `top`, beginning inside the free span that ends there. */
static void *take_top(uintptr_t size, uintptr_t align) {
  if (top == 0) top = align_up((uintptr_t)&__heap_base, SPAN_UNIT);
  uintptr_t from = top;
  if (n_free > 0 && free_spans[n_free - 1].end == top) from = free_spans[n_free - 1].start;
  uintptr_t at = align_up(from, align);
  if (at < from || at + size < at || !reach(at + size)) return NULL;
  if (from < top) n_free--; /* that span is split again below */
  add_span(from, at);       /* the gap before `at` stays free */
  if (at < top) memset((void *)at, 0, top - at);
  if (at + size > top) top = at + size;
  return (void *)at;
}

void *ph__prim_map_anon(size_t size, size_t align) {
  if (size == 0 || align < SPAN_UNIT || (align & (align - 1)) != 0) return NULL;
  uintptr_t len = align_up(size, SPAN_UNIT);
  if (len < size) return NULL;
  void *p = take_free(len, align);
  return p ? p : take_top(len, align);
}

int ph__prim_unmap(void *base, size_t size) {
  uintptr_t start = (uintptr_t)base;
  if (start % SPAN_UNIT != 0 || size == 0) return PH_EINVAL;
  add_span(start, start + align_up(size, SPAN_UNIT));
  return 0;
}

int ph__prim_flush(void *base, size_t size) {
  (void)base, (void)size;
  return 0; /* no file is ever mapped here */
}

size_t ph__prim_bulk_length(size_t size) {
  size_t len = align_up(size, SPAN_UNIT);
  return len < size ? 0 : len;
}
void *ph__prim_map_bulk(size_t len) { return ph__prim_map_anon(len, SPAN_UNIT); }
int ph__prim_unmap_bulk(void *base, size_t len) { return ph__prim_unmap(base, len); }
void ph__prim_bulk_idle(void *base, size_t len) { (void)base, (void)len; }

int ph__prim_purge(void *addr, size_t len) {
  memset(addr, 0, len);
  return 0;
}
const bool ph__prim_purge_tracked = true; /* as on Linux; there is no tracker to miss it */

/* ---- files: none ----------------------------------------------------------- */
int ph__prim_file_open(const char *path, bool create, bool excl, unsigned mode, ph__prim_file *f, bool *created) {
  (void)path, (void)create, (void)excl, (void)mode, (void)f, (void)created;
  return NO_SYSTEM;
}
void ph__prim_file_close(ph__prim_file f) { (void)f; }
void ph__prim_file_remove_created(const char *path, ph__prim_file f) { (void)path, (void)f; }
int ph__prim_file_size(ph__prim_file f, uint64_t *size) {
  (void)f, (void)size;
  return NO_SYSTEM;
}
int ph__prim_file_reserve(ph__prim_file f, uint64_t from, uint64_t to) {
  (void)f, (void)from, (void)to;
  return NO_SYSTEM;
}
int ph__prim_file_resize(ph__prim_file f, uint64_t size) {
  (void)f, (void)size;
  return NO_SYSTEM;
}
int ph__prim_file_map(ph__prim_file f, size_t size, size_t align, void **at) {
  (void)f, (void)size, (void)align, (void)at;
  return NO_SYSTEM;
}
int ph__prim_file_lock_shared(ph__prim_file f) {
  (void)f;
  return NO_SYSTEM;
}
int ph__prim_file_lock_exclusive(ph__prim_file f) {
  (void)f;
  return NO_SYSTEM;
}
const bool ph__prim_mapping_holds_lock = false;

/* ---- one process, one thread ------------------------------------------------ */
#define THIS_PROCESS 1u
uint32_t ph__prim_process_id(void) { return THIS_PROCESS; }
bool ph__prim_process_alive(uint32_t pid) { return pid == THIS_PROCESS; }
void ph__prim_yield(void) {}
void ph__prim_sleep_us(unsigned us) { (void)us; }
void ph__prim_on_fork_child(void (*fn)(void)) { (void)fn; }
int ph__prim_region_is_private(const void *addr) {
  (void)addr;
  return 1; /* nothing else can see linear memory */
}

/* ---- written pages: no tracker (callers compare bytes) ------------------------- */
int ph__prim_track_start(void *base, uint64_t pages, ph__prim_tracker **out) {
  (void)base, (void)pages, (void)out;
  return NO_SYSTEM;
}
int64_t ph__prim_track_take(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  (void)t, (void)from, (void)to, (void)out, (void)max;
  return PH_EINVAL;
}
int64_t ph__prim_track_peek(ph__prim_tracker *t, uint64_t from, uint64_t to, uint32_t *out, uint32_t max) {
  (void)t, (void)from, (void)to, (void)out, (void)max;
  return PH_EINVAL;
}
void ph__prim_track_stop(ph__prim_tracker *t) { (void)t; }
uint64_t ph__prim_track_page_size(void) { return PH_PAGE_SIZE; }
#endif
