/*
 * measure.c - run a program and report what it cost: CPU time (user +
 * system) and peak resident set size, from wait4's rusage of the child.
 *
 * Usage: measure REPORT PRELOAD program [arguments...]
 * The child runs with LD_PRELOAD=PRELOAD (none when PRELOAD is empty);
 * this process is not preloaded, so only the program is measured. Its
 * standard streams are the program's. REPORT gets one line:
 * "cpu_seconds peak_rss_kib exit_status". The exit status is the child's
 * (128 + signal for a signal).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: measure REPORT PRELOAD program [arguments...]\n");
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("measure: fork");
    return 2;
  }
  if (pid == 0) {
    if (argv[2][0]) setenv("LD_PRELOAD", argv[2], 1);
    else unsetenv("LD_PRELOAD");
    execvp(argv[3], argv + 3);
    perror("measure: exec");
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("measure: wait4");
    return 2;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  FILE *f = fopen(argv[1], "w");
  if (!f) {
    perror("measure: report");
    return 2;
  }
  fprintf(f, "%.6f %ld %d\n", cpu, ru.ru_maxrss, code);
  fclose(f);
  return code;
}
