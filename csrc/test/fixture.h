/*
 * fixture.h - the heaps and files of the C integration tests, made one way.
 *
 * fixture_heap formats a heap in a new anonymous region (fresh pages are
 * zero, hence PH_REGION_ZEROED); ph_region_unmap(base, size) gives it back.
 * fixture_shared_heap does the same in memory shared with forked children
 * (POSIX). fixture_path names a new file in the program's own temporary
 * directory (fixture_dir), made on first use; at exit every named file and
 * then the directory are removed.
 */
#ifndef PH_TEST_FIXTURE_H
#define PH_TEST_FIXTURE_H

#include "privheap.h"
#include <stdio.h>
#include <stdlib.h>
#if defined(_WIN32)
#include <direct.h>
#include <process.h>
#define fixture_mkdir_(p) _mkdir(p)
#define fixture_rmdir_(p) _rmdir(p)
#define fixture_pid_() _getpid()
#else
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define fixture_mkdir_(p) mkdir(p, 0700)
#define fixture_rmdir_(p) rmdir(p)
#define fixture_pid_() getpid()
#endif

/* A heap of `size` bytes formatted with `flags` in a new anonymous region,
 * stored in *base; NULL if the mapping or the format failed. */
static inline ph_heap_t *fixture_heap(size_t size, unsigned flags, void **base) {
  *base = ph_region_map_anon(size);
  return *base ? ph_heap_init(*base, size, flags | PH_REGION_ZEROED) : NULL;
}

#if defined(MAP_ANONYMOUS) /* POSIX, with _DEFAULT_SOURCE under -std=c11 */
/* A region shared with forked children (MAP_SHARED, not a file); NULL on failure. */
static inline void *fixture_shared_region(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* fixture_heap in a region shared with forked children. */
static inline ph_heap_t *fixture_shared_heap(size_t size, unsigned flags, void **base) {
  *base = fixture_shared_region(size);
  return *base ? ph_heap_init(*base, size, flags | PH_REGION_ZEROED) : NULL;
}
#endif

#define FIXTURE_PATHS 256
static char fixture_dir_[200];
static char fixture_paths_[FIXTURE_PATHS][256];
static int fixture_npaths_;

static inline void fixture_remove_all_(void) {
  for (int i = 0; i < fixture_npaths_; i++) remove(fixture_paths_[i]);
  if (fixture_rmdir_(fixture_dir_) != 0) printf("#   fixture: could not remove %s (files left in it?)\n", fixture_dir_);
}

/* This program's temporary directory, made on first use (exits with status
 * 2 if it cannot be made: no test could run). */
static inline const char *fixture_dir(void) {
  if (fixture_dir_[0]) return fixture_dir_;
#if defined(_WIN32)
  const char *tmp = getenv("TEMP");
#else
  const char *tmp = getenv("TMPDIR");
#endif
  if (!tmp || !*tmp) tmp = "/tmp";
  for (int k = 0; k < 100; k++) {
    snprintf(fixture_dir_, sizeof fixture_dir_, "%s/privheap-test-%ld-%d", tmp, (long)fixture_pid_(), k);
    if (fixture_mkdir_(fixture_dir_) == 0) {
      atexit(fixture_remove_all_);
      return fixture_dir_;
    }
  }
  printf("# fixture: cannot make a directory in %s\n", tmp);
  exit(2);
}

/* A new path in fixture_dir() (no file is made); the file is removed at
 * exit. The string stays valid for the program's life. */
static inline const char *fixture_path(void) {
  const char *dir = fixture_dir();
  if (fixture_npaths_ == FIXTURE_PATHS) {
    printf("# fixture: more than %d paths; raise FIXTURE_PATHS\n", FIXTURE_PATHS);
    exit(2);
  }
  char *p = fixture_paths_[fixture_npaths_];
  snprintf(p, sizeof fixture_paths_[0], "%s/f%d", dir, fixture_npaths_);
  fixture_npaths_++;
  return p;
}

#endif
