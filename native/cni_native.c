/*
 * cni_native: the few kernel calls Node.js cannot make on its own.
 *
 *   setns(fd)                    enter the network namespace behind fd (this thread only)
 *   flock(fd, timeoutMs)         take LOCK_EX; false when timeoutMs passed first (0 = try once)
 *   flockAsync(fd, timeoutMs, callback)
 *                                the same wait on a thread of its own, so the main thread's
 *                                event loop (the deadline timer) runs meanwhile;
 *                                callback(got, errno) on the main thread
 *   funlock(fd)                  release the lock
 *   memfdCreate(name)            an anonymous, executable in-memory file; returns its fd
 *   watchdogArm(ms, text)        after ms, write text to fd 1 and _exit(1) from a thread of its own,
 *                                even while the main thread is stuck (re-arming replaces the previous)
 *   watchdogDisarm()             cancel it
 *   exit(code)                   _exit(code): ends the process without Node's teardown
 *                                (joining its worker threads); stdout must be written already
 *   spawn(file, argv, envp, input, timeoutMs, callback)
 *                                runs a program (PATH searched) with posix_spawn, which
 *                                does not copy Node's address space as fork does; stdin
 *                                is `input` (a Buffer or null), stdout and stderr go to
 *                                in-memory files read when it exits. A thread of ours
 *                                waits for it (SIGKILL after timeoutMs), then
 *                                callback(status, signal, stdout, stderr, timedOut, waitErrno)
 *                                runs on the main thread (waitErrno non-zero: waitpid failed,
 *                                the outcome is unknown). Returns the pid; throws when the
 *                                program cannot be started (ENOENT...).
 *
 * Every failure throws an Error whose `errno` is the positive errno and whose
 * `syscall` names the call; lib/native maps it to a Node-style `code`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_value msg, error, num, sc;
  char text[256];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

static int arg_int(napi_env env, napi_callback_info info, size_t want, int32_t *out) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "missing argument");
    return 0;
  }
  for (size_t i = 0; i < want; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "expected an integer argument");
      return 0;
    }
  }
  return 1;
}

static napi_value js_setns(napi_env env, napi_callback_info info) {
  int32_t a[1];
  if (!arg_int(env, info, 1, a)) return NULL;
  if (setns(a[0], CLONE_NEWNET) != 0) return throw_errno(env, "setns", errno);
  return NULL;
}

/* LOCK_EX within timeout_ms: 1 taken, 0 timed out, -errno on another failure. */
static int flock_wait(int fd, int32_t timeout_ms) {
  long long left_ns = (long long)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000LL;
  long long step_ns = 100000LL; /* 0.1 ms, doubling up to 1.6 ms: a short hand-off when many runs wait on one lock */
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 1;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return -errno;
    if (left_ns <= 0) return 0;
    long long nap = step_ns < left_ns ? step_ns : left_ns;
    struct timespec ts = { (time_t)(nap / 1000000000LL), (long)(nap % 1000000000LL) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    left_ns -= nap;
    if (step_ns < 1000000LL) step_ns *= 2;
  }
}

static napi_value js_flock(napi_env env, napi_callback_info info) {
  int32_t a[2];
  napi_value result;
  if (!arg_int(env, info, 2, a)) return NULL;
  int rc = flock_wait(a[0], a[1]);
  if (rc < 0) return throw_errno(env, "flock", -rc);
  napi_get_boolean(env, rc == 1, &result);
  return result;
}

struct flock_job {
  int fd;
  int32_t timeout_ms;
  int rc;
  napi_threadsafe_function tsfn;
};

static void *flock_waiter(void *arg) {
  struct flock_job *job = arg;
  job->rc = flock_wait(job->fd, job->timeout_ms);
  napi_threadsafe_function tsfn = job->tsfn;
  napi_call_threadsafe_function(tsfn, job, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static void flock_call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  struct flock_job *job = data;
  if (env != NULL && cb != NULL) {
    napi_value argv[2], undefined;
    napi_get_boolean(env, job->rc == 1, &argv[0]);
    napi_create_int32(env, job->rc < 0 ? -job->rc : 0, &argv[1]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 2, argv, NULL);
  }
  free(job);
}

static napi_value js_flock_async(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  int32_t fd = -1, timeout_ms = 0;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, a[0], &fd) != napi_ok || napi_get_value_int32(env, a[1], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "flockAsync(fd, timeoutMs, callback)");
    return NULL;
  }
  struct flock_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, "calloc", ENOMEM);
  job->fd = fd;
  job->timeout_ms = timeout_ms;
  napi_value name;
  napi_create_string_utf8(env, "cni_native.flockAsync", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, a[2], NULL, name, 0, 1, NULL, NULL, NULL, flock_call_js, &job->tsfn) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "flockAsync: cannot create the completion callback");
    return NULL;
  }
  pthread_t t;
  pthread_attr_t ta;
  pthread_attr_init(&ta);
  pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&ta, 64 * 1024);
  int err = pthread_create(&t, &ta, flock_waiter, job);
  pthread_attr_destroy(&ta);
  if (err != 0) {
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    free(job);
    return throw_errno(env, "pthread_create", err);
  }
  return NULL;
}

static napi_value js_funlock(napi_env env, napi_callback_info info) {
  int32_t a[1];
  if (!arg_int(env, info, 1, a)) return NULL;
  if (flock(a[0], LOCK_UN) != 0) return throw_errno(env, "flock", errno);
  return NULL;
}

static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  char name[64] = "cni";
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1)
    napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len);
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "memfd_create", errno);
  napi_create_int32(env, fd, &result);
  return result;
}

/* The watchdog: one detached thread, created on the first arm, that waits on a
 * condition variable (CLOCK_MONOTONIC) until the deadline or a disarm. */
static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;
static int wd_started = 0;
static int wd_armed = 0;
static struct timespec wd_deadline;
static char *wd_text = NULL;
static size_t wd_len = 0;

static void *wd_main(void *unused) {
  (void)unused;
  pthread_mutex_lock(&wd_mu);
  for (;;) {
    while (!wd_armed) pthread_cond_wait(&wd_cv, &wd_mu);
    int rc = pthread_cond_timedwait(&wd_cv, &wd_mu, &wd_deadline);
    if (rc == ETIMEDOUT && wd_armed) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > wd_deadline.tv_sec || (now.tv_sec == wd_deadline.tv_sec && now.tv_nsec >= wd_deadline.tv_nsec)) {
        size_t off = 0;
        while (off < wd_len) {
          ssize_t n = write(1, wd_text + off, wd_len - off);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          off += (size_t)n;
        }
        _exit(1);
      }
    }
  }
  return NULL;
}

static napi_value js_watchdog_arm(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t ms;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int64(env, argv[0], &ms) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (ms, text)");
    return NULL;
  }
  char *text = malloc(len + 1);
  if (text == NULL) return throw_errno(env, "malloc", ENOMEM);
  napi_get_value_string_utf8(env, argv[1], text, len + 1, &len);
  if (ms < 0) ms = 0;
  pthread_mutex_lock(&wd_mu);
  if (!wd_started) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&ta, 64 * 1024);
    int err = pthread_create(&t, &ta, wd_main, NULL);
    pthread_attr_destroy(&ta);
    if (err != 0) {
      pthread_mutex_unlock(&wd_mu);
      free(text);
      return throw_errno(env, "pthread_create", err);
    }
    wd_started = 1;
  }
  free(wd_text);
  wd_text = text;
  wd_len = len;
  clock_gettime(CLOCK_MONOTONIC, &wd_deadline);
  wd_deadline.tv_sec += (time_t)(ms / 1000);
  wd_deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (wd_deadline.tv_nsec >= 1000000000L) {
    wd_deadline.tv_sec += 1;
    wd_deadline.tv_nsec -= 1000000000L;
  }
  wd_armed = 1;
  pthread_cond_signal(&wd_cv);
  pthread_mutex_unlock(&wd_mu);
  return NULL;
}

static napi_value js_watchdog_disarm(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  pthread_mutex_lock(&wd_mu);
  wd_armed = 0;
  if (wd_started) pthread_cond_signal(&wd_cv);
  pthread_mutex_unlock(&wd_mu);
  return NULL;
}

static napi_value js_exit(napi_env env, napi_callback_info info) {
  int32_t a[1];
  if (!arg_int(env, info, 1, a)) return NULL;
  _exit(a[0]);
}

/* ---- spawn ---------------------------------------------------------------- */

struct spawn_job {
  pid_t pid;
  int out_fd, err_fd;
  int timeout_ms;
  napi_threadsafe_function tsfn;
  /* filled by the waiting thread */
  int status, timed_out, wait_errno;
  char *out, *err;
  size_t out_len, err_len;
};

static void free_strv(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

/* A JS array of strings as a NULL-terminated vector; NULL (with a pending exception) on bad input. */
static char **strv_from(napi_env env, napi_value arr) {
  uint32_t n = 0;
  bool is_array = false;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array || napi_get_array_length(env, arr, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an array of strings");
    return NULL;
  }
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (v == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    size_t len = 0;
    if (napi_get_element(env, arr, i, &el) != napi_ok || napi_get_value_string_utf8(env, el, NULL, 0, &len) != napi_ok) {
      free_strv(v);
      napi_throw_type_error(env, NULL, "expected an array of strings");
      return NULL;
    }
    v[i] = malloc(len + 1);
    if (v[i] == NULL) {
      free_strv(v);
      napi_throw_error(env, NULL, "out of memory");
      return NULL;
    }
    napi_get_value_string_utf8(env, el, v[i], len + 1, &len);
  }
  return v;
}

/* The whole content of an in-memory file, from offset 0. */
static char *slurp(int fd, size_t *len) {
  off_t size = lseek(fd, 0, SEEK_END);
  *len = 0;
  if (size <= 0) return NULL;
  char *buf = malloc((size_t)size);
  if (buf == NULL) return NULL;
  size_t got = 0;
  while (got < (size_t)size) {
    ssize_t r = pread(fd, buf + got, (size_t)size - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  *len = got;
  return buf;
}

/* The program's wait status; job->wait_errno is set when waitpid failed (the outcome is unknown). */
static int wait_exit(struct spawn_job *job) {
  int status = 0;
  /* pidfd (Linux 5.3+) lets us wait with a timeout; otherwise poll waitpid */
  int pidfd = (int)syscall(SYS_pidfd_open, job->pid, 0);
  long long left_ms = job->timeout_ms;
  for (;;) {
    pid_t r = waitpid(job->pid, &status, WNOHANG);
#ifdef CNI_TEST_WAITPID_ERRNO
    /* tests only (never in the shipped build): a waitpid that fails once the program has ended */
    if (r == job->pid) { r = -1; errno = CNI_TEST_WAITPID_ERRNO; }
#endif
    if (r == job->pid) break;
    if (r < 0 && errno != EINTR) { job->wait_errno = errno; status = 0; break; }
    if (left_ms <= 0 && !job->timed_out) {
      job->timed_out = 1;
      kill(job->pid, SIGKILL);
      left_ms = 1000000;
    }
    int step = left_ms > 1000 ? 1000 : (int)left_ms;
    if (pidfd >= 0) {
      struct pollfd p = { pidfd, POLLIN, 0 };
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      poll(&p, 1, step);
      clock_gettime(CLOCK_MONOTONIC, &t1);
      left_ms -= (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    } else {
      struct timespec ts = { 0, 1000000 };
      nanosleep(&ts, NULL);
      left_ms -= 1;
    }
  }
  if (pidfd >= 0) close(pidfd);
  return status;
}

static void *spawn_waiter(void *arg) {
  struct spawn_job *job = arg;
  job->status = wait_exit(job);
  job->out = slurp(job->out_fd, &job->out_len);
  job->err = slurp(job->err_fd, &job->err_len);
  close(job->out_fd);
  close(job->err_fd);
  /* job belongs to the main thread once handed over (spawn_call_js frees it) */
  napi_threadsafe_function tsfn = job->tsfn;
  napi_call_threadsafe_function(tsfn, job, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static void spawn_call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  struct spawn_job *job = data;
  if (env != NULL && cb != NULL) {
    napi_value argv[6], undefined;
    int st = job->status;
    napi_create_int32(env, WIFEXITED(st) ? WEXITSTATUS(st) : -1, &argv[0]);
    napi_create_int32(env, WIFSIGNALED(st) ? WTERMSIG(st) : 0, &argv[1]);
    napi_create_string_utf8(env, job->out != NULL ? job->out : "", job->out_len, &argv[2]);
    napi_create_string_utf8(env, job->err != NULL ? job->err : "", job->err_len, &argv[3]);
    napi_get_boolean(env, job->timed_out, &argv[4]);
    napi_create_int32(env, job->wait_errno, &argv[5]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 6, argv, NULL);
  }
  free(job->out);
  free(job->err);
  free(job);
}

static int write_all(int fd, const char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t r = write(fd, buf + off, len - off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    off += (size_t)r;
  }
  return 0;
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34)) && !defined(CNI_NO_CLOSEFROM_NP)
#define HAVE_CLOSEFROM_NP 1
#else
#define HAVE_CLOSEFROM_NP 0
#include <dirent.h>
/* Without posix_spawn_file_actions_addclosefrom_np (glibc < 2.34): a close
 * action for every descriptor from 3 up that would survive exec (no
 * FD_CLOEXEC), as listed in /proc/self/fd now. */
static void add_close_inherited(posix_spawn_file_actions_t *fa) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return;
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end != '\0' || end == e->d_name || fd < 3 || fd == self) continue;
    int flags = fcntl((int)fd, F_GETFD);
    if (flags < 0 || (flags & FD_CLOEXEC)) continue;
    posix_spawn_file_actions_addclose(fa, (int)fd);
  }
  closedir(d);
}
#endif

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6], result;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 6) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, envp, input, timeoutMs, callback)");
    return NULL;
  }
  char file[4096];
  size_t flen = 0;
  int32_t timeout_ms = 0;
  if (napi_get_value_string_utf8(env, a[0], file, sizeof file, &flen) != napi_ok || napi_get_value_int32(env, a[4], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "spawn: bad file or timeout");
    return NULL;
  }
  char **argv = strv_from(env, a[1]);
  if (argv == NULL) return NULL;
  char **envp = strv_from(env, a[2]);
  if (envp == NULL) { free_strv(argv); return NULL; }

  int in_fd = -1, out_fd = -1, err_fd = -1, saved = 0;
  const char *where = "memfd_create";
  napi_valuetype input_type;
  napi_typeof(env, a[3], &input_type);
  if (input_type != napi_null && input_type != napi_undefined) {
    void *data = NULL;
    size_t len = 0;
    if (napi_get_buffer_info(env, a[3], &data, &len) != napi_ok) {
      free_strv(argv);
      free_strv(envp);
      napi_throw_type_error(env, NULL, "spawn: input must be a Buffer or null");
      return NULL;
    }
    in_fd = memfd_create("cni-stdin", MFD_CLOEXEC);
    if (in_fd < 0 || write_all(in_fd, data, len) != 0 || lseek(in_fd, 0, SEEK_SET) != 0) { saved = errno; goto fail; }
  } else {
    in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    where = "open /dev/null";
    if (in_fd < 0) { saved = errno; goto fail; }
  }
  where = "memfd_create";
  out_fd = memfd_create("cni-stdout", MFD_CLOEXEC);
  err_fd = memfd_create("cni-stderr", MFD_CLOEXEC);
  if (out_fd < 0 || err_fd < 0) { saved = errno; goto fail; }

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  /* the program gets fds 0-2 only, whatever Node or the netlink addon left without O_CLOEXEC */
#if HAVE_CLOSEFROM_NP
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#else
  add_close_inherited(&fa);
#endif
  posix_spawnattr_init(&attr);
  /* the child starts with default signal dispositions and an empty mask, whatever Node set up */
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  int rc = posix_spawnp(&pid, file, &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  where = "posix_spawn";
  if (rc != 0) { saved = rc; goto fail; }
  close(in_fd);
  free_strv(argv);
  free_strv(envp);

  struct spawn_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out_fd);
    close(err_fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  job->pid = pid;
  job->out_fd = out_fd;
  job->err_fd = err_fd;
  job->timeout_ms = timeout_ms;
  napi_value name;
  napi_create_string_utf8(env, "cni_native.spawn", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, a[5], NULL, name, 0, 1, NULL, NULL, NULL, spawn_call_js, &job->tsfn) != napi_ok) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out_fd);
    close(err_fd);
    free(job);
    napi_throw_error(env, NULL, "spawn: cannot create the completion callback");
    return NULL;
  }
  pthread_t t;
  pthread_attr_t ta;
  pthread_attr_init(&ta);
  pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&ta, 256 * 1024);
  if (pthread_create(&t, &ta, spawn_waiter, job) != 0) {
    /* no thread: wait here (the program is already running) */
    spawn_waiter(job);
  }
  pthread_attr_destroy(&ta);
  napi_create_int32(env, pid, &result);
  return result;

fail:
  if (in_fd >= 0) close(in_fd);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  free_strv(argv);
  free_strv(envp);
  return throw_errno(env, where, saved);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "setns", NULL, js_setns, NULL, NULL, NULL, napi_enumerable, NULL },
    { "flock", NULL, js_flock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "flockAsync", NULL, js_flock_async, NULL, NULL, NULL, napi_enumerable, NULL },
    { "funlock", NULL, js_funlock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "memfdCreate", NULL, js_memfd_create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchdogArm", NULL, js_watchdog_arm, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchdogDisarm", NULL, js_watchdog_disarm, NULL, NULL, NULL, napi_enumerable, NULL },
    { "exit", NULL, js_exit, NULL, NULL, NULL, napi_enumerable, NULL },
    { "spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
