/**
 * flock(2) on a file, with a bound on the wait. The lock is on the open file
 * description, so it excludes other processes (the Go host-local takes the
 * same lock on the same file) and other opens in this process alike.
 *
 * Every wait of one invocation draws on its deadline (lib/cni/deadline.ts): a
 * wait never runs past the deadline less LOCK_RESERVE_MS, so a lock that
 * cannot be had is answered with code 11 (naming the file and its holder)
 * before the deadline's own error. A lock that already timed out once in
 * this process is only tried again, never waited for (a rollback after a
 * timed-out wait does not wait a second time for the same stuck holder).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { CniCode, CniError } from './cni/errors.ts';
import { timeLeftMs } from './cni/deadline.ts';
import { native } from './native/loader.ts';
import { withErrnoCode } from './native/errno.ts';

export interface FileLock {
  readonly path: string;
  release(): void;
}

/** Left before the deadline for what follows a failed wait: the rollback and the answer. */
export const LOCK_RESERVE_MS = 3_000;

export class LockTimeoutError extends CniError {
  constructor(path: string, timeoutMs: number, holder?: number) {
    super(
      CniCode.TryAgainLater,
      `timed out after ${timeoutMs} ms waiting for the lock on ${path}${holder !== undefined ? ` (held by pid ${holder})` : ''}`,
      'another process holds it; try again later',
    );
  }
}

export interface LockOptions {
  /** Mode for a lock file that does not exist yet (default 0644). */
  mode?: number;
  /**
   * Open read-only (O_CREAT|O_RDONLY), as go-filemutex does for the Go
   * host-local's `<dir>/lock`; flock needs no write access.
   */
  readOnly?: boolean;
}

/** Locks that timed out in this process: later attempts try once. */
const timedOut = new Set<string>();

/** How long a wait for `path` may last: its own bound, the deadline's, and 0 after an earlier timeout. */
function allowedWait(path: string, timeoutMs: number): number {
  if (timedOut.has(path)) return 0;
  return Math.max(0, Math.min(timeoutMs, timeLeftMs(LOCK_RESERVE_MS)));
}

/**
 * The pid holding a flock on the file behind `fd`, from /proc/locks (as seen
 * from this pid namespace), when one is listed.
 */
export function lockHolder(fd: number, locks?: string): number | undefined {
  let st;
  try {
    st = fstatSync(fd);
    locks ??= readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  // Linux's new dev_t encoding, as /proc/locks prints it: major:minor:inode, major and minor in hex
  const major = ((st.dev >>> 8) & 0xfff) | (Math.floor(st.dev / 2 ** 32) & ~0xfff);
  const minor = (st.dev & 0xff) | ((st.dev >>> 12) & ~0xff & 0xfffff);
  const key = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  for (const line of locks.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters are listed as "1: -> FLOCK ..."
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK' || f[5] !== key) continue;
    const pid = Number(f[4]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) return pid;
  }
  return undefined;
}

function openLockFile(path: string, opts: LockOptions): number {
  const flags = opts.readOnly === true ? constants.O_CREAT | constants.O_RDONLY : 'a+';
  return openSync(path, flags, opts.mode ?? 0o644);
}

function held(path: string, fd: number): FileLock {
  let open = true;
  return {
    path,
    release(): void {
      if (!open) return;
      open = false;
      closeSync(fd); // closing the last fd of the description releases the lock
    },
  };
}

function timeoutError(path: string, fd: number, waitedMs: number): LockTimeoutError {
  const holder = lockHolder(fd);
  closeSync(fd);
  timedOut.add(path);
  return new LockTimeoutError(path, waitedMs, holder);
}

/**
 * Opens (creating) `path` and takes LOCK_EX, waiting at most `timeoutMs` (and
 * never past the deadline). Blocks the thread while it waits: for short
 * critical sections of synchronous code; prefer lockFileAsync.
 */
export function lockFile(path: string, timeoutMs: number, opts: LockOptions = {}): FileLock {
  const fd = openLockFile(path, opts);
  const wait = allowedWait(path, timeoutMs);
  let got: boolean;
  try {
    got = native().flock(fd, wait);
  } catch (err) {
    closeSync(fd);
    throw withErrnoCode(err);
  }
  if (!got) throw timeoutError(path, fd, wait);
  return held(path, fd);
}

/**
 * lockFile without blocking the event loop: the uncontended case is one
 * try on this thread; a contended wait runs on a native thread of its own,
 * so the deadline's timer (and everything else) runs meanwhile.
 */
export async function lockFileAsync(path: string, timeoutMs: number, opts: LockOptions = {}): Promise<FileLock> {
  const fd = openLockFile(path, opts);
  const wait = allowedWait(path, timeoutMs);
  const addon = native();
  let got: boolean;
  try {
    got = addon.flock(fd, 0);
    if (!got && wait > 0) {
      got = await new Promise<boolean>((resolve, reject) => {
        addon.flockAsync(fd, wait, (ok, errno) => {
          if (errno !== 0) reject(Object.assign(new Error(`flock: errno ${errno}`), { errno, syscall: 'flock' }));
          else resolve(ok);
        });
      });
    }
  } catch (err) {
    closeSync(fd);
    throw withErrnoCode(err);
  }
  if (!got) throw timeoutError(path, fd, wait);
  return held(path, fd);
}
