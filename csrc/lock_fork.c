/*
 * lock_fork.c - what a forked child inherits from the shared lock, for both
 * locks (lock.c, lock_portable.c).
 *
 * A child gets the parent's memory: a region mapped shared (a heap file, a
 * MAP_SHARED mapping) is the same heap, and its lock the same lock; a
 * private region (an anonymous heap) is a copy, whose lock word may name a
 * thread of the parent that will never release this copy. So the locks ask
 * here whether a region is private, and each thread's identity is renewed
 * in the child (its id changed) while remembering the one it had.
 * Keeps: no allocator state; the answer reads the process's own mappings.
 */
#define _GNU_SOURCE 1
#include "internal.h"

void ph__lock_self_forked(ph__lock_self *self) {
  if (self->word) self->forked_from = self->word; /* else it still is the one it had before */
  self->word = 0;
  self->holds = 0;
}

#if defined(__linux__)
#include <fcntl.h>
#include <unistd.h>

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
int ph__region_is_private(const void *addr) {
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
int ph__region_is_private(const void *addr) {
  (void)addr;
  return -1;
}

#endif
