/**
 * The per-invocation deadline: whatever happens (a delegate that never
 * answers, a lock held by a stuck process, a bug that spins), the plugin
 * prints a CNI error and exits non-zero within a bound, rather than blocking
 * the pod sandbox forever.
 *
 * Two layers, both armed once at the process entry:
 * - an unref'd timer (it never keeps the process alive) that kills the
 *   delegates this process exec'd and still waits for, prints the error and
 *   exits 1;
 * - a native watchdog thread, a little later, that prints the same error and
 *   _exit(1)s even when the main thread is stuck in synchronous code and the
 *   timer can never run.
 *
 * The bound is DEFAULT_DEADLINE_MS, or CNI_TS_DEADLINE_MS from the environment
 * (a positive integer of milliseconds, at most MAX_DEADLINE_MS).
 */
import { CniCode, CniError } from './errors.ts';

export const DEFAULT_DEADLINE_MS = 100_000;
export const MAX_DEADLINE_MS = 3_600_000;
/** How much later than the timer the native watchdog fires. */
export const WATCHDOG_GRACE_MS = 2_000;

export interface DeadlineBackend {
  /** Arms the native watchdog: after `ms`, `text` on fd 1 and _exit(1). */
  watchdogArm(ms: number, text: string): void;
  watchdogDisarm(): void;
}

/** The bound for this invocation from CNI_TS_DEADLINE_MS; invalid values fall back to the default. */
export function deadlineMs(env: Record<string, string | undefined>): number {
  const raw = env['CNI_TS_DEADLINE_MS'];
  if (raw === undefined || !/^[0-9]{1,10}$/.test(raw)) return DEFAULT_DEADLINE_MS;
  const n = Number(raw);
  return n > 0 ? Math.min(n, MAX_DEADLINE_MS) : DEFAULT_DEADLINE_MS;
}

/** The error a plugin prints when its deadline passes. */
export function deadlineError(plugin: string, command: string, ms: number): CniError {
  return new CniError(
    CniCode.TryAgainLater,
    `${plugin} ${command} did not finish within ${ms} ms`,
    'a delegate, a lock or the kernel did not answer in time; nothing more will be done by this invocation: retry it (DEL releases whatever it left)',
  );
}

/** Monotonic milliseconds (process.hrtime: no perf_hooks load at start). */
function nowMs(): number {
  const [sec, ns] = process.hrtime();
  return sec * 1e3 + ns / 1e6;
}

/** When the armed deadline passes (nowMs() time), or undefined while none is armed. */
let expiresAt: number | undefined;

/**
 * How long this invocation may still wait: the time left before its deadline,
 * less `reserveMs` for what must follow the wait (a rollback, the answer).
 * Infinity while no deadline is armed (tests, tools); never negative.
 */
export function timeLeftMs(reserveMs = 0): number {
  if (expiresAt === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(0, Math.floor(expiresAt - nowMs() - reserveMs));
}

/** Things to stop when the deadline passes (delegates this process waits for). */
const onExpiry = new Set<() => void>();

/** Registers `fn` to run if the deadline passes; returns the function that unregisters it. */
export function whenDeadlinePasses(fn: () => void): () => void {
  onExpiry.add(fn);
  return () => onExpiry.delete(fn);
}

export interface Armed {
  disarm(): void;
}

/**
 * Arms the deadline. `write` prints to stdout, `exit` ends the process;
 * `backend` is the native watchdog (undefined in tests of the timer alone).
 */
export function armDeadline(opts: {
  ms: number;
  error: CniError;
  write: (text: string) => void;
  exit: (code: number) => void;
  backend: DeadlineBackend | undefined;
}): Armed {
  const text = JSON.stringify(opts.error.toJSON(), null, 4);
  opts.backend?.watchdogArm(opts.ms + WATCHDOG_GRACE_MS, text);
  expiresAt = nowMs() + opts.ms;
  const timer = setTimeout(() => {
    for (const fn of onExpiry) {
      try {
        fn();
      } catch {
        // stopping what we can is all that is left to do
      }
    }
    opts.write(text);
    opts.exit(1);
  }, opts.ms);
  timer.unref();
  return {
    disarm(): void {
      clearTimeout(timer);
      expiresAt = undefined;
      opts.backend?.watchdogDisarm();
    },
  };
}

const TIMED_COMMANDS = new Set(['ADD', 'DEL', 'CHECK', 'GC', 'STATUS']);

/**
 * Arms the deadline of a real process for one plugin invocation (nothing for
 * VERSION or the about text, which cannot block). `backend` loads the native
 * watchdog lazily; when it cannot be loaded the timer alone stands.
 */
export function armProcessDeadline(
  plugin: string,
  env: Record<string, string | undefined>,
  io: { write: (text: string) => void; exit: (code: number) => void },
  backend: () => DeadlineBackend,
): Armed | undefined {
  const command = env['CNI_COMMAND'] ?? '';
  if (!TIMED_COMMANDS.has(command)) return undefined;
  const ms = deadlineMs(env);
  let native: DeadlineBackend | undefined;
  try {
    native = backend();
  } catch {
    native = undefined;
  }
  return armDeadline({ ms, error: deadlineError(plugin, command, ms), write: io.write, exit: io.exit, backend: native });
}
