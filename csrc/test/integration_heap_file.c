/*
 * integration_heap_file.c - heap files through the public API: files are
 * created exclusively (never through a link) with permission bits only and
 * their blocks reserved, existing files are mapped as they are, and a heap
 * file grows only while no mapping of it exists (each holds a shared lock
 * for as long as it lives), after its heap was validated.
 */
#define _DEFAULT_SOURCE 1 /* mkdtemp, symlink under -std=c11 */
#include "privheap.h"

#if defined(__linux__)
#include "harness.h"
#include "fixture.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

/* A heap file of `size` bytes at `path`, formatted and unmapped. */
static int make_heap(const char *path, size_t size) {
  size_t n = size;
  void *p = ph_region_map_file(path, &n, PH_MAP_CREATE | PH_MAP_EXCL, 0);
  if (!p || !ph_heap_init(p, n, 0)) return -1;
  return ph_region_unmap(p, n);
}

TEST(new_files_are_reserved_owner_only_and_never_made_through_a_link) {
  char path[256];
  snprintf(path, sizeof path, "%s", fixture_path());
  size_t n = 4 * MiB;
  void *p = ph_region_map_file(path, &n, PH_MAP_CREATE | PH_MAP_EXCL, 0);
  REQUIRE(p);
  struct stat st;
  REQUIRE(stat(path, &st) == 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
  EXPECT((uint64_t)st.st_blocks * 512 >= 4 * MiB); /* reserved, not sparse */
  EXPECT_EQ(ph_region_unmap(p, n), 0);

  for (unsigned mode = 01000; mode <= 06000; mode += 01000) { /* sticky, setgid, setuid */
    n = MiB;
    const char *refused = fixture_path();
    EXPECT(ph_region_map_file(refused, &n, PH_MAP_CREATE, mode | 0600) == NULL && ph_last_error() == PH_EINVAL);
    EXPECT(access(refused, F_OK) != 0);
  }
  n = MiB;
  EXPECT(ph_region_map_file(fixture_path(), &n, PH_MAP_EXCL, 0) == NULL && ph_last_error() == PH_EINVAL); /* EXCL needs CREATE */

  char target[256], link[256];
  snprintf(target, sizeof target, "%s", fixture_path());
  snprintf(link, sizeof link, "%s", fixture_path());
  REQUIRE(symlink(target, link) == 0); /* dangling */
  n = MiB;
  EXPECT(ph_region_map_file(link, &n, PH_MAP_CREATE, 0) == NULL && ph_last_error() == PH_EIO);
  EXPECT_EQ(ph_last_os_error(), ENOENT); /* the link was not followed to create, then not found to open */
  EXPECT(access(target, F_OK) != 0);
  n = MiB;
  EXPECT(ph_region_map_file(link, &n, PH_MAP_CREATE | PH_MAP_EXCL, 0) == NULL && ph_last_os_error() == EEXIST);
  EXPECT(access(target, F_OK) != 0);
}

TEST(an_existing_file_is_mapped_as_it_is_and_never_grown) {
  char path[256];
  snprintf(path, sizeof path, "%s", fixture_path());
  REQUIRE(make_heap(path, 2 * MiB) == 0);
  size_t n = 4 * MiB;
  EXPECT(ph_region_map_file(path, &n, 0, 0) == NULL && ph_last_error() == PH_ESIZE);
  n = 4 * MiB;
  EXPECT(ph_region_map_file(path, &n, PH_MAP_CREATE, 0) == NULL && ph_last_error() == PH_ESIZE);
  struct stat st;
  REQUIRE(stat(path, &st) == 0);
  EXPECT_EQ(st.st_size, 2 * MiB);
  n = 2 * MiB;
  void *p = ph_region_map_file(path, &n, PH_MAP_CREATE, 0); /* exists: opened, not created */
  REQUIRE(p);
  EXPECT_EQ(n, 2 * MiB);
  EXPECT(ph_heap_attach(p, n) == p);
  ph_region_unmap(p, n);
  n = 0;
  EXPECT(ph_region_map_file(fixture_dir(), &n, 0, 0) == NULL && ph_last_error() == PH_EIO && ph_last_os_error() == EISDIR);
}

TEST(a_heap_file_grows_only_while_no_mapping_of_it_exists) {
  char path[256];
  snprintf(path, sizeof path, "%s", fixture_path());
  REQUIRE(make_heap(path, 2 * MiB) == 0);
  size_t n = 0;
  void *p = ph_region_map_file(path, &n, 0, 0); /* its descriptor is closed: the mapping holds the lock */
  REQUIRE(p);
  EXPECT_EQ(ph_heap_file_grow(path, 4 * MiB), PH_EBUSY);
  /* A child's mapping (inherited by fork) holds it too, after the parent unmaps. */
  int to_child[2];
  REQUIRE(pipe(to_child) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    char c;
    close(to_child[1]);
    _exit(read(to_child[0], &c, 1) == 1 ? 0 : 1); /* holds the mapping until told */
  }
  close(to_child[0]);
  ph_region_unmap(p, n);
  EXPECT_EQ(ph_heap_file_grow(path, 4 * MiB), PH_EBUSY);
  struct stat st;
  REQUIRE(stat(path, &st) == 0);
  EXPECT_EQ(st.st_size, 2 * MiB);
  EXPECT(write(to_child[1], "x", 1) == 1);
  int status;
  waitpid(pid, &status, 0);
  close(to_child[1]);
  EXPECT_EQ(ph_heap_file_grow(path, 4 * MiB), 0);
  REQUIRE(stat(path, &st) == 0);
  EXPECT_EQ(st.st_size, 4 * MiB);
  EXPECT((uint64_t)st.st_blocks * 512 >= 4 * MiB);
  n = 0;
  p = ph_region_map_file(path, &n, 0, 0);
  REQUIRE(p);
  ph_heap_t *h = ph_heap_attach(p, n);
  REQUIRE(h);
  EXPECT(ph_heap_malloc(h, 3 * MiB) != NULL); /* the new pages are the heap's */
  EXPECT(ph_heap_check(h, n) == 0);
  EXPECT_EQ(ph_heap_file_grow(path, 8 * MiB), PH_EBUSY);
  ph_region_unmap(p, n);
  EXPECT_EQ(ph_heap_file_grow(path, 2 * MiB), 0); /* already larger: left alone */
  REQUIRE(stat(path, &st) == 0);
  EXPECT_EQ(st.st_size, 4 * MiB);
}

TEST(growing_validates_first_and_changes_nothing_it_refuses) {
  char path[256];
  snprintf(path, sizeof path, "%s", fixture_path());
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
  REQUIRE(fd >= 0);
  char junk[8192];
  memset(junk, 7, sizeof junk);
  EXPECT(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
  close(fd);
  struct stat st, before;
  REQUIRE(stat(path, &before) == 0);
  usleep(20000); /* so that a write would show in mtime */
  EXPECT_EQ(ph_heap_file_grow(path, 4 * MiB), PH_ECORRUPT);
  REQUIRE(stat(path, &st) == 0);
  EXPECT_EQ(st.st_size, sizeof junk);
  EXPECT(st.st_mtim.tv_sec == before.st_mtim.tv_sec && st.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  char locked[256];
  snprintf(locked, sizeof locked, "%s", fixture_path());
  size_t n = 2 * MiB;
  void *p = ph_region_map_file(locked, &n, PH_MAP_CREATE | PH_MAP_EXCL, 0);
  REQUIRE(p && ph_heap_init(p, n, PH_LOCKED));
  ph_region_unmap(p, n);
  EXPECT_EQ(ph_heap_file_grow(locked, 4 * MiB), PH_EINVAL); /* a locked heap keeps its size */
  REQUIRE(stat(locked, &st) == 0);
  EXPECT_EQ(st.st_size, 2 * MiB);
  EXPECT_EQ(ph_heap_file_grow(fixture_path(), 4 * MiB), PH_EIO); /* missing */
  EXPECT_EQ(ph_last_os_error(), ENOENT);
}

TEST_MAIN()
#else
#include <stdio.h>
/* Heap files grow only where a mapping's lock can be proven (Linux); the
 * other platforms' mapping is covered by integration_api. */
int main(void) {
  printf("# 0 passed, 0 failed\n");
  return 0;
}
#endif
