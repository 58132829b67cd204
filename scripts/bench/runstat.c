/*
 * runstat: run a command N times with stdin from a file and report, per run,
 * the wall time (ns) and the child's peak RSS (KiB, from wait4's rusage).
 * Used by scripts/bench.mjs so that our executable and the Go plugins are
 * measured by the same fork/exec/wait path.
 *
 *   runstat N STDIN_FILE CMD [ARGS...]   -> N lines "wall_ns maxrss_kib exit_status"
 *
 * With RUNSTAT_NETNS=/run/netns/X set, runstat enters that network namespace
 * first, so a plugin can be measured in a test "host" namespace without the
 * cost of `ip netns exec` in the timing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: runstat N STDIN_FILE CMD [ARGS...]\n");
    return 2;
  }
  const char *netns = getenv("RUNSTAT_NETNS");
  if (netns != NULL && netns[0] != '\0') {
    int fd = open(netns, O_RDONLY);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) { perror(netns); return 1; }
    close(fd);
  }
  int n = atoi(argv[1]);
  for (int i = 0; i < n; i++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      int in = open(argv[2], O_RDONLY);
      int devnull = open("/dev/null", O_WRONLY);
      if (in < 0 || devnull < 0) _exit(126);
      dup2(in, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execv(argv[3], &argv[3]);
      _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    printf("%lld %ld %d\n", ns, ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return 0;
}
