/*
 * region.c - mapping regions from the operating system: anonymous memory,
 * and files mapped shared so unrelated processes see the same heap.
 *
 * Owns: the rules of region mappings, on top of prim.h. Bases are 2 MiB
 * aligned, so alignments up to 2 MiB are absolute. A new heap file gets
 * real blocks (unless sparse), so a full file system is an error here and
 * never a fault on a later write; an existing file is mapped as it is and
 * grows only through ph_heap_file_grow, which needs the file to itself.
 * Every mapping of a file holds its shared lock (where the system has one).
 */
#include "prim.h"

#define REGION_ALIGN ((size_t)2 << 20)

/* Record a prim.h result (0, an OS error number, or a PH_E* code) as this
 * call's failure and return its code. */
static int fail(int r) { return r > 0 ? ph__fail_os(PH_EIO, r) : ph__fail(r); }

static void *fail_null(int r) {
  fail(r);
  return NULL;
}

void *ph_region_map_anon(size_t size) {
  if (size == 0) return ph__fail_null(PH_EINVAL);
  void *p = ph__prim_map_anon(size, REGION_ALIGN);
  return p ? p : ph__fail_null(PH_EIO);
}

void *ph_region_map_file(const char *path, size_t *size, unsigned flags, unsigned mode) {
  if (!path || !size || (flags & ~(PH_MAP_CREATE | PH_MAP_EXCL | PH_MAP_SPARSE))) return ph__fail_null(PH_EINVAL);
  if ((flags & (PH_MAP_EXCL | PH_MAP_SPARSE)) && !(flags & PH_MAP_CREATE)) return ph__fail_null(PH_EINVAL);
  if (mode & ~0777u) return ph__fail_null(PH_EINVAL); /* never setuid, setgid or sticky */
  if ((flags & PH_MAP_CREATE) && (*size == 0 || *size > SIZE_MAX / 2)) return ph__fail_null(PH_ESIZE);
  ph__prim_file f;
  bool created;
  int err = ph__prim_file_open(path, flags & PH_MAP_CREATE, flags & PH_MAP_EXCL, mode, &f, &created);
  if (err) return fail_null(err);
  uint64_t have = 0;
  err = ph__prim_file_lock_shared(f);
  if (!err) err = ph__prim_file_size(f, &have);
  uint64_t want = err ? 0 : created ? (uint64_t)*size : *size ? (uint64_t)*size : have;
  /* An existing file is mapped as it is: it never grows here (see ph_heap_file_grow). */
  if (!err && (want == 0 || want > (uint64_t)SIZE_MAX / 2 || (!created && have < want))) err = PH_ESIZE;
  if (!err && created) err = (flags & PH_MAP_SPARSE) ? ph__prim_file_resize(f, want) : ph__prim_file_reserve(f, 0, want);
  void *p = NULL;
  if (!err) err = ph__prim_file_map(f, (size_t)want, REGION_ALIGN, &p);
  if (err && created) ph__prim_file_remove_created(path, f);
  ph__prim_file_close(f); /* the mapping keeps the file open, and with it the shared lock */
  if (err) return fail_null(err);
  *size = (size_t)want;
  return p;
}

/* Growing needs the file to itself: every mapping holds a shared lock, so
 * an exclusive one proves no process maps it, where the lock lives as long
 * as the mapping (elsewhere the file does not grow). The heap in it is
 * validated before the file changes, and a failure leaves the file as it
 * was. */
int ph_heap_file_grow(const char *path, size_t size) {
  if (!path || size == 0) return ph__fail(PH_EINVAL);
  if (size > SIZE_MAX / 2) return ph__fail(PH_ESIZE);
  ph__prim_file f;
  bool created;
  int err = ph__prim_file_open(path, false, false, 0, &f, &created);
  if (err) return fail(err);
  uint64_t old = 0;
  err = ph__prim_file_lock_exclusive(f);
  if (!err) err = ph__prim_file_size(f, &old);
  if (!err && old == 0) err = PH_ESIZE;
  if (!err && size > old && !ph__prim_mapping_holds_lock) err = PH_EINVAL; /* the lock proves nothing */
  if (err || size <= old) {
    ph__prim_file_close(f);
    return err ? fail(err) : 0;
  }
  void *p = NULL;
  err = ph__prim_file_map(f, (size_t)old, REGION_ALIGN, &p);
  ph_heap_t *h = err ? NULL : ph_heap_attach(p, (size_t)old);
  if (!err && !h) err = ph_last_error();
  else if (!err && (ph_heap_flags(h) & PH_LOCKED)) err = PH_EINVAL; /* a locked heap keeps its size */
  if (!err) {
    err = ph__prim_file_reserve(f, old, size);
    if (!err) err = ph_heap_grow(h, size); /* the header changes only once the blocks are there */
    /* Undo a partial reservation (only then: truncating to the same size still changes mtime). */
    if (err) {
      int undo = ph__prim_file_resize(f, old);
      if (undo) err = undo;
    }
  }
  if (p) ph__prim_unmap(p, (size_t)old);
  ph__prim_file_close(f);
  return err ? fail(err) : 0;
}

int ph_region_flush(void *base, size_t size) {
  if (!base || ((uintptr_t)base & (PH_PAGE_SIZE - 1))) return ph__fail(PH_EINVAL);
  int err = ph__prim_flush(base, size);
  return err ? fail(err) : 0;
}

int ph_region_unmap(void *base, size_t size) {
  if (!base || size == 0 || ((uintptr_t)base & (PH_PAGE_SIZE - 1))) return ph__fail(PH_EINVAL);
  int err = ph__prim_unmap(base, size);
  return err ? fail(err) : 0;
}
