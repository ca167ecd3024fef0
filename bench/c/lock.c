/*
 * bench/c/lock.c - the shared lock against glibc's process-shared mutex,
 * both around the same malloc(64) + free on one PH_LOCKED heap in shared
 * memory, from one process and from two at once.
 *
 * Usage: lock [pairs per process] (built and run by bench/c/lock.sh)
 *
 * Each row: pairs per second in total, for `work` iterations of arithmetic
 * after each pair (0: the processes do nothing but contend). The ratio
 * column is privheap's lock against the mutex in the same setting. Linux
 * only (the futex lock); the median of 5 runs.
 */
#define _GNU_SOURCE 1
#include "privheap.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 5

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *shared(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  return p;
}

/* One process's loop: `pairs` malloc+free under the lock, `work` after each. */
static void loop(ph_heap_t *h, pthread_mutex_t *mutex, long pairs, int work) {
  volatile double sink = 0;
  for (long i = 0; i < pairs; i++) {
    if (mutex) pthread_mutex_lock(mutex);
    else if (ph_heap_lock(h) < 0) {
      fprintf(stderr, "lock: %s\n", ph_strerror(ph_last_error()));
      exit(1);
    }
    ph_heap_free(h, ph_heap_malloc(h, 64));
    if (mutex) pthread_mutex_unlock(mutex);
    else ph_heap_unlock(h);
    for (int j = 0; j < work; j++) sink = sink + j * 0.5;
  }
}

/* Total pairs per second of `procs` processes running loop() at once. */
static double run(int procs, int use_mutex, long pairs, int work) {
  size_t size = (size_t)64 << 20;
  void *base = shared(size);
  ph_heap_t *h = ph_heap_init(base, size, use_mutex ? 0 : PH_LOCKED);
  pthread_mutex_t *mutex = NULL;
  if (use_mutex) {
    mutex = shared(4096);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(mutex, &attr);
  }
  double t0 = now();
  for (int p = 0; p < procs; p++) {
    pid_t child = fork();
    if (child == 0) {
      loop(h, mutex, pairs, work);
      _exit(0);
    }
    if (child < 0) {
      perror("fork");
      exit(1);
    }
  }
  for (int p = 0; p < procs; p++) wait(NULL);
  double t = now() - t0;
  munmap(base, size);
  if (mutex) munmap(mutex, 4096);
  return (double)procs * (double)pairs / t;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_run(int procs, int use_mutex, long pairs, int work) {
  double xs[RUNS];
  for (int r = 0; r < RUNS; r++) xs[r] = run(procs, use_mutex, pairs, work);
  qsort(xs, RUNS, sizeof xs[0], by_value);
  return xs[RUNS / 2];
}

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 2000000;
  printf("%-10s %-6s %14s %14s %8s\n", "processes", "work", "privheap/s", "mutex/s", "ratio");
  const int works[] = {0, 30, 100, 300};
  for (int procs = 1; procs <= 2; procs++)
    for (unsigned w = 0; w < sizeof works / sizeof works[0]; w++) {
      double ours = median_run(procs, 0, pairs, works[w]);
      double theirs = median_run(procs, 1, pairs, works[w]);
      printf("%-10d %-6d %14.0f %14.0f %7.2fx\n", procs, works[w], ours, theirs, ours / theirs);
    }
  return 0;
}
