/*
 * cni_native: the few kernel calls Node.js cannot make on its own.
 *
 *   setns(fd)                    enter the network namespace behind fd (this thread only)
 *   flock(fd, timeoutMs)         take LOCK_EX; false when timeoutMs passed first (0 = try once)
 *   funlock(fd)                  release the lock
 *   memfdCreate(name)            an anonymous, executable in-memory file; returns its fd
 *   watchdogArm(ms, text)        after ms, write text to fd 1 and _exit(1) from a thread of its own,
 *                                even while the main thread is stuck (re-arming replaces the previous)
 *   watchdogDisarm()             cancel it
 *
 * Every failure throws an Error whose `errno` is the positive errno and whose
 * `syscall` names the call; lib/native maps it to a Node-style `code`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
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

static napi_value js_flock(napi_env env, napi_callback_info info) {
  int32_t a[2];
  napi_value result;
  if (!arg_int(env, info, 2, a)) return NULL;
  int fd = a[0];
  long long left_ns = (long long)(a[1] < 0 ? 0 : a[1]) * 1000000LL;
  long long step_ns = 1000000LL; /* 1 ms, doubling up to 8 ms: a short hand-off when many runs wait on one lock */
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      napi_get_boolean(env, 1, &result);
      return result;
    }
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return throw_errno(env, "flock", errno);
    if (left_ns <= 0) break;
    long long nap = step_ns < left_ns ? step_ns : left_ns;
    struct timespec ts = { (time_t)(nap / 1000000000LL), (long)(nap % 1000000000LL) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    left_ns -= nap;
    if (step_ns < 5000000LL) step_ns *= 2;
  }
  napi_get_boolean(env, 0, &result);
  return result;
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

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "setns", NULL, js_setns, NULL, NULL, NULL, napi_enumerable, NULL },
    { "flock", NULL, js_flock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "funlock", NULL, js_funlock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "memfdCreate", NULL, js_memfd_create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchdogArm", NULL, js_watchdog_arm, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchdogDisarm", NULL, js_watchdog_disarm, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
