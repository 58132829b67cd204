/*
 * runstat: runs a command and reports its wall time, peak RSS and memory just
 * before it exits. Used by scripts/bench.mjs so that our executable and the Go
 * plugins are measured by the same fork/exec/wait path.
 *
 *   runstat time N STDIN_FILE CMD [ARGS...]
 *       N runs one after another, untraced: per run "wall_ns maxrss_kib exit_status"
 *   runstat mem STDIN_FILE CMD [ARGS...]
 *       one traced run: "wall_ns anon_kib pss_kib exit_status", the memory read
 *       from /proc/TID/smaps_rollup when the thread that ends the process stops
 *       at PTRACE_EVENT_EXIT (the address space is still whole there)
 *   runstat hold N STDIN_FILE CMD [ARGS...]
 *       N traced runs at once, each held at its exit stop until all N are there:
 *       "wall_ns_all_at_exit sum_pss_kib sum_anon_kib failures" (PSS of N live
 *       processes, so shared pages are split N ways as on a busy node)
 *
 * With RUNSTAT_NETNS=/run/netns/X set, runstat enters that network namespace
 * first, so a plugin can be measured in a test "host" namespace without the
 * cost of `ip netns exec` in the timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static pid_t start(const char *stdin_file, char **cmd, int traced) {
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); exit(1); }
  if (pid == 0) {
    int in = open(stdin_file, O_RDONLY);
    int devnull = open("/dev/null", O_WRONLY);
    if (in < 0 || devnull < 0) _exit(126);
    dup2(in, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (traced && ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(125);
    execv(cmd[0], cmd);
    _exit(127);
  }
  return pid;
}

static int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* "Anonymous:" and "Pss:" of a thread's address space, in KiB. */
static void read_mem(pid_t tid, long *anon, long *pss) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", tid);
  FILE *f = fopen(path, "r");
  *anon = *pss = -1;
  if (f == NULL) return;
  while (fgets(line, sizeof line, f) != NULL) {
    long v;
    if (sscanf(line, "Anonymous: %ld kB", &v) == 1) *anon = v;
    else if (sscanf(line, "Pss: %ld kB", &v) == 1) *pss = v;
  }
  fclose(f);
}

static pid_t tgid_of(pid_t tid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  FILE *f = fopen(path, "r");
  pid_t tgid = -1;
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL) if (sscanf(line, "Tgid: %d", &tgid) == 1) break;
  fclose(f);
  return tgid;
}

struct proc { pid_t pid; int started, sampled, done, status; long anon, pss; pid_t held; };

/* Traces n processes (threads included) to their exits; with hold, the first exit stop of each is kept until all have one. */
static long long trace(struct proc *p, int n, int hold) {
  long long t0 = now_ns(), all_at_exit = -1;
  int remaining = n, sampled = 0;
  while (remaining > 0) {
    int st;
    pid_t tid = waitpid(-1, &st, __WALL);
    if (tid < 0) { if (errno == EINTR) continue; perror("waitpid"); exit(1); }
    struct proc *me = NULL;
    for (int i = 0; i < n; i++) if (p[i].pid == tid) me = &p[i];
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      if (me != NULL && !me->done) {
        me->done = 1;
        me->status = exit_code(st);
        remaining--;
        if (!me->sampled) { me->sampled = 1; sampled++; if (hold && sampled == n) goto release; }
      }
    } else if (WIFSTOPPED(st)) {
      if (me != NULL && !me->started) {
        /* the stop after execve: trace its threads and its exit from here on */
        me->started = 1;
        ptrace(PTRACE_SETOPTIONS, tid, NULL, (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
        ptrace(PTRACE_CONT, tid, NULL, NULL);
        continue;
      }
      int event = st >> 16, sig = WSTOPSIG(st);
      if (event == PTRACE_EVENT_EXIT) {
        pid_t tgid = me != NULL ? me->pid : tgid_of(tid);
        struct proc *owner = NULL;
        for (int i = 0; i < n; i++) if (p[i].pid == tgid) owner = &p[i];
        if (owner != NULL && !owner->sampled) {
          long anon, pss;
          read_mem(tid, &anon, &pss);
          if (anon >= 0) { owner->anon = anon; owner->pss = pss; }
          /*
           * A thread that ends early (a helper thread) is not the process's exit: only the
           * leader's exit stop is. If the leader never stops there (SIGKILLed by a sibling's
           * exit_group), the last sample of any thread stands, taken when the process ended.
           */
          if (tid == owner->pid && anon >= 0) {
            owner->sampled = 1;
            sampled++;
            if (hold) { owner->held = tid; if (sampled == n) goto release; continue; }
          }
        }
        ptrace(PTRACE_CONT, tid, NULL, NULL);
      } else if (event != 0 || sig == SIGSTOP || sig == SIGTRAP) {
        ptrace(PTRACE_CONT, tid, NULL, NULL);
      } else {
        ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig); /* a signal for the tracee: deliver it */
      }
      continue;
    release:
      all_at_exit = now_ns() - t0;
      if (hold) {
        for (int i = 0; i < n; i++) if (p[i].held > 0) {
          long anon, pss;
          read_mem(p[i].held, &anon, &pss); /* all n alive now: shared pages split n ways */
          if (anon >= 0) { p[i].anon = anon; p[i].pss = pss; }
        }
        for (int i = 0; i < n; i++) if (p[i].held > 0) ptrace(PTRACE_CONT, p[i].held, NULL, NULL);
        hold = 0;
      }
    }
  }
  return all_at_exit >= 0 ? all_at_exit : now_ns() - t0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: runstat time N STDIN_FILE CMD... | mem STDIN_FILE CMD... | hold N STDIN_FILE CMD...\n");
    return 2;
  }
  const char *netns = getenv("RUNSTAT_NETNS");
  if (netns != NULL && netns[0] != '\0') {
    int fd = open(netns, O_RDONLY);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) { perror(netns); return 1; }
    close(fd);
  }
  if (strcmp(argv[1], "time") == 0 && argc >= 5) {
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
      long long t0 = now_ns();
      pid_t pid = start(argv[3], &argv[4], 0);
      int status = 0;
      struct rusage ru;
      if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 1; }
      printf("%lld %ld %d\n", now_ns() - t0, ru.ru_maxrss, exit_code(status));
    }
    return 0;
  }
  if (strcmp(argv[1], "mem") == 0) {
    struct proc p = {0};
    long long t0 = now_ns();
    p.pid = start(argv[2], &argv[3], 1);
    trace(&p, 1, 0);
    printf("%lld %ld %ld %d\n", now_ns() - t0, p.anon, p.pss, p.status);
    return 0;
  }
  if (strcmp(argv[1], "hold") == 0 && argc >= 5) {
    int n = atoi(argv[2]);
    struct proc *p = calloc((size_t)n, sizeof *p);
    for (int i = 0; i < n; i++) p[i].pid = start(argv[3], &argv[4], 1);
    long long wall = trace(p, n, 1);
    long sum_pss = 0, sum_anon = 0;
    int failures = 0;
    for (int i = 0; i < n; i++) {
      sum_pss += p[i].pss > 0 ? p[i].pss : 0;
      sum_anon += p[i].anon > 0 ? p[i].anon : 0;
      if (p[i].status != 0 || p[i].pss <= 0) failures++;
    }
    if (getenv("RUNSTAT_DEBUG") != NULL)
      for (int i = 0; i < n; i++) fprintf(stderr, "pid %d held %d status %d pss %ld anon %ld\n", p[i].pid, p[i].held, p[i].status, p[i].pss, p[i].anon);
    printf("%lld %ld %ld %d\n", wall, sum_pss, sum_anon, failures);
    return 0;
  }
  fprintf(stderr, "runstat: unknown mode %s\n", argv[1]);
  return 2;
}
