/*
 * watchdog.h - run a piece of a test in a child process with a deadline
 * (POSIX), so a call that hangs or crashes fails its case instead of the
 * whole suite: the child's exit status, or WATCHDOG_HUNG / a signal.
 */
#ifndef PH_TEST_WATCHDOG_H
#define PH_TEST_WATCHDOG_H

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WATCHDOG_HUNG (-1000)   /* still running at the deadline: killed */
#define WATCHDOG_SIGNAL (-2000) /* plus the signal number: it crashed */

/* Wait for `pid` for at most `seconds`; its exit status, or the codes above. */
static inline int watchdog_wait(pid_t pid, double seconds) {
  struct timespec nap = {0, 5 * 1000 * 1000};
  for (double waited = 0; waited < seconds; waited += 0.005) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : WATCHDOG_SIGNAL - WTERMSIG(status);
    if (r < 0) return WATCHDOG_SIGNAL;
    nanosleep(&nap, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return WATCHDOG_HUNG;
}

/* fn(arg) in a forked child, whose return is its exit status. */
static inline int watchdog_run(int (*fn)(void *), void *arg, double seconds) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return WATCHDOG_SIGNAL;
  if (pid == 0) _exit(fn(arg));
  return watchdog_wait(pid, seconds);
}

/* Seconds on the monotonic clock. */
static inline double watchdog_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
