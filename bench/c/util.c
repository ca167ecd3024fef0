/*
 * util.c - clock, RSS, mappings and the raw sample output of the driver.
 * Nothing here allocates with malloc (see xmap in bench.h).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t rss_bytes(void) {
  /* statm: "size resident shared text lib data dt", in pages. Plain read()
   * on a fresh descriptor: no stdio buffer, so no malloc either. */
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  unsigned long size = 0, resident = 0;
  if (sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

void *xmap(size_t size, size_t align) {
  /* Over-map by `align` and trim both ends, so the result is aligned. */
  size_t len = size + align;
  char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) {
    fprintf(stderr, "bench: mmap of %zu bytes failed\n", len);
    exit(2);
  }
  uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
  size_t head = start - (uintptr_t)raw;
  size_t tail = len - head - size;
  if (head) munmap(raw, head);
  if (tail) munmap((char *)start + size, tail);
  return (void *)start;
}

void xunmap(void *p, size_t size) {
  if (p) munmap(p, size);
}

void emit_info(const char *key, const char *fmt, ...) {
  va_list ap;
  printf("I %s ", key);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

void emit_sample(const char *metric, const char *backend, double value) {
  printf("S %s %s %.6g\n", metric, backend, value);
  fflush(stdout);
}

void emit_error(const char *backend, const char *fmt, ...) {
  va_list ap;
  printf("E %s ", backend);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  /* Also on stderr, so a failure is visible while the run goes on. */
  fprintf(stderr, "bench: %s: ", backend);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
