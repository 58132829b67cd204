/**
 * Network namespaces. See README.md beside this file for why it is shaped
 * this way: setns(2) moves only the calling thread, so we switch the main
 * thread only around synchronous work and always switch back.
 */
import { access, closeSync, openSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { errnoCode } from '../cni/errors.ts';
import { native } from '../native/loader.ts';
import { withErrnoCode } from '../native/errno.ts';

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/** CNI_NETNS names nothing: DEL treats this as "already gone". */
export class NetnsNotFoundError extends Error {
  override readonly name = 'NetnsNotFoundError';
  constructor(readonly path: string, options?: { cause?: unknown }) {
    super(`failed to Statfs "${path}": no such file or directory`, options);
  }
}

/** CNI_NETNS exists but is not a network namespace (a plain file, a directory, another ns type). */
export class NotANetnsError extends Error {
  override readonly name = 'NotANetnsError';
  constructor(readonly path: string, detail: string) {
    super(`unknown FS magic on "${path}": ${detail}`);
  }
}

let ready: Promise<void> | undefined;
let isReady = false;

/**
 * libuv starts its worker threads on the first asynchronous fs call, and a
 * thread starts in the namespace its creator is in at that moment. One async
 * call before the first switch makes sure they are all born in the host's.
 */
export function netnsReady(): Promise<void> {
  // Bun starts its pool threads lazily too, but only from an asynchronous call on the main thread,
  // which can never be inside Netns.run (synchronous only): forcing them early would only cost a run
  // two threads it may never need (docs/build-targets.md; test/integration/threads-netns.test.ts)
  if (process.versions['bun'] !== undefined) {
    isReady = true;
    return Promise.resolve();
  }
  // the callback form: fs.promises costs a run ~1 ms of loading
  ready ??= new Promise((resolve) => {
    access('/', () => {
      isReady = true;
      resolve();
    });
  });
  return ready;
}

function assertReady(): void {
  if (!isReady) throw new Error('netnsReady() must be awaited before the first namespace switch');
}

function checkIsNetns(path: string): void {
  let stat;
  try {
    stat = statfsSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new NetnsNotFoundError(path, { cause: err });
    throw err;
  }
  if (stat.type !== NSFS_MAGIC && stat.type !== PROC_SUPER_MAGIC) {
    throw new NotANetnsError(path, `0x${stat.type.toString(16)}`);
  }
}

let ownNsFd: number | undefined;

function ownNs(): number {
  ownNsFd ??= openSync('/proc/thread-self/ns/net', 'r');
  return ownNsFd;
}

function setns(fd: number): void {
  try {
    native().setns(fd);
  } catch (err) {
    throw withErrnoCode(err);
  }
}

/** An open network namespace; `run` executes synchronous code inside it. */
export class Netns {
  private closed = false;
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  static open(path: string): Netns {
    checkIsNetns(path);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NetnsNotFoundError(path, { cause: err });
      throw err;
    }
    const ns = new Netns(path, fd);
    try {
      // a path on nsfs can still be a namespace of another type (mnt, uts...)
      ns.run(() => undefined);
    } catch (err) {
      closeSync(fd);
      if (errnoCode(err) === 'EINVAL') throw new NotANetnsError(path, 'not a network namespace');
      throw err;
    }
    return ns;
  }

  /**
   * Runs `fn` with this thread inside the namespace and always switches back.
   * `fn` must be synchronous: nothing asynchronous may start while switched.
   */
  run<T>(fn: () => T): T {
    if (this.closed) throw new Error(`netns ${this.path} is closed`);
    assertReady();
    const home = ownNs();
    setns(this.fd);
    try {
      const out = fn();
      if (out instanceof Promise) throw new Error('Netns.run takes a synchronous function');
      return out;
    } finally {
      setns(home);
    }
  }

  /** Reads /proc/sys/<key> inside the namespace (key with slashes: net/ipv4/conf/eth0/arp_notify). */
  sysctlGet(key: string): string {
    return this.run(() => readFileSync(sysctlPath(key), 'utf8').trim());
  }

  /** Writes /proc/sys/<key> inside the namespace. */
  sysctlSet(key: string, value: string): void {
    this.run(() => writeFileSync(sysctlPath(key), value));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

export function sysctlPath(key: string): string {
  if (key.includes('..') || key.startsWith('/')) throw new Error(`invalid sysctl key ${key}`);
  return `/proc/sys/${key}`;
}

/** Reads a sysctl of the namespace this process is in. */
export function sysctlGet(key: string): string {
  return readFileSync(sysctlPath(key), 'utf8').trim();
}

/** Writes a sysctl of the namespace this process is in. */
export function sysctlSet(key: string, value: string): void {
  writeFileSync(sysctlPath(key), value);
}

/** Opens `path`, runs `fn` with the handle, closes it. The handle's `run` switches for sync work. */
export async function withNetns<T>(path: string, fn: (ns: Netns) => Promise<T> | T): Promise<T> {
  await netnsReady();
  const ns = Netns.open(path);
  try {
    return await fn(ns);
  } finally {
    ns.close();
  }
}

/** Synchronous form: the thread is inside `path` for the whole of `fn`. */
export async function withNetnsSync<T>(path: string, fn: () => T): Promise<T> {
  return withNetns(path, (ns) => ns.run(fn));
}
