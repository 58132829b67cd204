/**
 * lib/lock.ts: a contended wait runs off the main thread (timers keep
 * running), a lock that timed out once is only tried again, the holder is
 * named, and every wait stops short of the invocation's deadline.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { armDeadline } from '../../lib/cni/deadline.ts';
import { CniError } from '../../lib/cni/errors.ts';
import { LOCK_RESERVE_MS, LockTimeoutError, lockFile, lockFileAsync, lockHolder } from '../../lib/lock.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 't-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('lockFileAsync', () => {
  it('takes a free lock at once and releases it', async () => {
    const l = await lockFileAsync(join(dir, 'a'), 1000);
    l.release();
    (await lockFileAsync(join(dir, 'a'), 0)).release();
  });

  it('waits on a thread of its own: timers run while it waits, then code 11', async () => {
    const path = join(dir, 'b');
    const held = lockFile(path, 0); // another open file description: excludes this process's next open too
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    try {
      const err = await lockFileAsync(path, 400).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LockTimeoutError);
      expect((err as CniError).code).toBe(11);
      expect((err as CniError).msg).toBe(`timed out after 400 ms waiting for the lock on ${path}`);
    } finally {
      clearInterval(timer);
      held.release();
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('after a timeout the same lock is only tried again, not waited for (a rollback does not wait twice)', async () => {
    const path = join(dir, 'c');
    const held = lockFile(path, 0);
    try {
      await expect(lockFileAsync(path, 200)).rejects.toBeInstanceOf(LockTimeoutError);
      const started = Date.now();
      await expect(lockFileAsync(path, 10_000)).rejects.toThrow(`timed out after 0 ms waiting for the lock on ${path}`);
      expect(Date.now() - started).toBeLessThan(200);
    } finally {
      held.release();
    }
    // once free, trying once is enough
    (await lockFileAsync(path, 10_000)).release();
  });

  it('names the holding process', async () => {
    const path = join(dir, 'd');
    const child = spawn('flock', ['-x', path, 'sleep', '60'], { stdio: 'ignore', detached: true });
    try {
      for (let i = 0; i < 200 && !readFileSync('/proc/locks', 'utf8').includes(` ${child.pid} `); i++) await new Promise((r) => setTimeout(r, 10));
      await expect(lockFileAsync(path, 50)).rejects.toThrow(`timed out after 50 ms waiting for the lock on ${path} (held by pid ${child.pid})`);
    } finally {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    }
  });

  it('never waits past the deadline less the reserve', async () => {
    const path = join(dir, 'e');
    const held = lockFile(path, 0);
    const armed = armDeadline({ ms: LOCK_RESERVE_MS + 300, error: new CniError(11, 'deadline'), write: () => undefined, exit: () => undefined, backend: undefined });
    const started = Date.now();
    try {
      await expect(lockFileAsync(path, 60_000)).rejects.toBeInstanceOf(LockTimeoutError);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      armed.disarm();
      held.release();
    }
  });
});

describe('lockHolder', () => {
  it('finds the pid of a FLOCK on the same device and inode in /proc/locks, skipping waiters and other files', () => {
    const path = join(dir, 'f');
    const fd = openSync(path, 'a+');
    try {
      const st = fstatSync(fd);
      const major = (st.dev >>> 8) & 0xfff;
      const minor = (st.dev & 0xff) | ((st.dev >>> 12) & 0xfff00);
      const key = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
      const locks = [
        `1: POSIX  ADVISORY  WRITE 111 ${key} 0 EOF`,
        `2: FLOCK  ADVISORY  WRITE 222 ${key}0 0 EOF`,
        `3: FLOCK  ADVISORY  WRITE 4242 ${key} 0 EOF`,
        `3: -> FLOCK  ADVISORY  WRITE 333 ${key} 0 EOF`,
      ].join('\n');
      expect(lockHolder(fd, locks)).toBe(4242);
      expect(lockHolder(fd, locks.replace('4242', String(process.pid)))).toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });
});
