/**
 * Loads our native addon (build/cni_native.node) without needing HOME, a
 * writable /tmp or any fixed path.
 *
 * In the Node executable it is a SEA asset; in the Bun executable a file
 * embedded by `bun build --compile`, whose /$bunfs path scripts/bun-entry.ts
 * hands over. Either way its bytes are written to an anonymous O_TMPFILE
 * inode (never linked into a directory, so concurrent starts cannot race on a
 * name) and opened by dlopen through /proc/self/fd/N (Bun's own loading of an
 * embedded addon would write it under /tmp by name). The fd stays open for the
 * life of the process, so every path dlopen sees is unique and glibc's by-path
 * cache cannot hand back a stale handle.
 *
 * Run from source (tests, scripts), the file is loaded from the build tree.
 */
import { closeSync, constants, existsSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { host } from '../host.ts';

export interface NativeAddon {
  setns(fd: number): void;
  flock(fd: number, timeoutMs: number): boolean;
  /** flock's wait on a native thread: `done(got, errno)` on the main thread (errno 0 unless flock failed). */
  flockAsync(fd: number, timeoutMs: number, done: (got: boolean, errno: number) => void): void;
  funlock(fd: number): void;
  memfdCreate(name: string): number;
  /** After `ms`, writes `text` to fd 1 and _exit(1)s from a thread of its own (a stuck main thread included). */
  watchdogArm(ms: number, text: string): void;
  watchdogDisarm(): void;
  /** _exit(code): no Node teardown. Only once every output is written. */
  exit(code: number): never;
  /**
   * posix_spawn with stdin from `input`, stdout/stderr captured; `done` runs on
   * the main thread when it exited (status -1 when killed by `signal`), or was
   * killed after timeoutMs; `waitErrno` is non-zero when waiting for it failed
   * (its outcome is unknown). Returns the pid; throws when it cannot start.
   */
  spawn(
    file: string,
    argv: readonly string[],
    envp: readonly string[],
    input: Buffer | null,
    timeoutMs: number,
    done: (status: number, signal: number, stdout: string, stderr: string, timedOut: boolean, waitErrno: number) => void,
  ): number;
  /** A netlink socket of `protocol`, bound, in the calling thread's network namespace; its fd. */
  nlOpen(protocol: number): number;
  /** Sends complete netlink messages and returns every answer to those that asked for one (synchronous; errno ETIMEDOUT after timeoutMs). */
  nlTransact(fd: number, request: Buffer, timeoutMs: number): Buffer;
}

export type AddonName = 'cni_native';

/** Linux x86_64 O_TMPFILE (includes O_DIRECTORY); Node does not export it. */
const O_TMPFILE = 0o20000000 | 0o200000;

const loaded = new Map<AddonName, unknown>();
const heldFds: number[] = [];


function dlopenFd(fd: number): unknown {
  const mod = { exports: {} as unknown };
  process.dlopen(mod, `/proc/self/fd/${fd}`);
  heldFds.push(fd);
  return mod.exports;
}

/** Where an anonymous executable file can live; the first that works wins. */
function tmpfileDirs(): string[] {
  const dirs = ['/dev/shm', '/run', process.env['TMPDIR'] ?? '/tmp', '/tmp', dirname(process.execPath), '/var/tmp'];
  return [...new Set(dirs)];
}

function loadFromBytesBootstrap(bytes: Uint8Array): unknown {
  const failures: string[] = [];
  for (const dir of tmpfileDirs()) {
    let fd: number | undefined;
    try {
      fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o700);
      writeAll(fd, bytes);
      return dlopenFd(fd);
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
      if (fd !== undefined && !heldFds.includes(fd)) closeSync(fd);
    }
  }
  throw new Error(`cannot load the native addon: no directory accepts an anonymous executable file (${failures.join('; ')})`);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/**
 * The source tree's root when running unbundled (lib/native/loader.ts → ../..),
 * or the one scripts/sea-loader.cjs names when the build trains the code cache
 * on the bundle outside the executable.
 */
function sourceRoot(): string {
  return host()?.training?.sourceRoot ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

function loadFromTree(name: AddonName): unknown {
  const root = sourceRoot();
  const file = join(root, 'build', `${name}.node`);
  if (!existsSync(file)) throw new Error(`native addon ${name} not found at ${file} (run npm run build)`);
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file);
  return mod.exports;
}

/** The addon's bytes inside this executable (Bun: the embedded file; Node: the SEA asset), or undefined outside one. */
function embeddedBytes(name: AddonName): Uint8Array | undefined {
  return host()?.embedded(`${name}.node`);
}

export function loadAddon(name: 'cni_native'): NativeAddon;
export function loadAddon(name: AddonName): unknown {
  const cached = loaded.get(name);
  if (cached !== undefined) return cached;
  const bytes = embeddedBytes(name);
  const exports = bytes === undefined ? loadFromTree(name) : loadFromBytesBootstrap(bytes);
  loaded.set(name, exports);
  return exports;
}

/** Our addon if this process has loaded it already, else undefined (never loads it). */
export function nativeIfLoaded(): NativeAddon | undefined {
  return loaded.get('cni_native') as NativeAddon | undefined;
}

/** Our addon, typed. */
export function native(): NativeAddon {
  return loadAddon('cni_native');
}
