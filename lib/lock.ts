/**
 * flock(2) on a file, with a bound on the wait. The lock is on the open file
 * description, so it excludes other processes (the Go host-local takes the
 * same lock on the same file) and other opens in this process alike.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { CniCode, CniError } from './cni/errors.ts';
import { native } from './native/loader.ts';
import { withErrnoCode } from './native/errno.ts';

export interface FileLock {
  readonly path: string;
  release(): void;
}

export class LockTimeoutError extends CniError {
  constructor(path: string, timeoutMs: number) {
    super(CniCode.TryAgainLater, `timed out after ${timeoutMs} ms waiting for the lock on ${path}`, 'another plugin run holds it; try again later');
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

/** Opens (creating) `path` and takes LOCK_EX, waiting at most `timeoutMs`. */
export function lockFile(path: string, timeoutMs: number, opts: LockOptions = {}): FileLock {
  const flags = opts.readOnly === true ? constants.O_CREAT | constants.O_RDONLY : 'a+';
  const fd = openSync(path, flags, opts.mode ?? 0o644);
  let got: boolean;
  try {
    got = native().flock(fd, timeoutMs);
  } catch (err) {
    closeSync(fd);
    throw withErrnoCode(err);
  }
  if (!got) {
    closeSync(fd);
    throw new LockTimeoutError(path, timeoutMs);
  }
  let held = true;
  return {
    path,
    release(): void {
      if (!held) return;
      held = false;
      closeSync(fd); // closing the last fd of the description releases the lock
    },
  };
}
