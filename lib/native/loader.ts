/**
 * Loads the two native addons (ours, build/cni_native.node, and the `netlink`
 * package's prebuilt one) without needing HOME, a writable /tmp or any fixed
 * path.
 *
 * In the single-file executable both are SEA assets. Ours is written to an
 * anonymous O_TMPFILE inode (never linked into a directory, so concurrent
 * starts cannot race on a name) and opened by dlopen through /proc/self/fd/N;
 * once it is loaded, memfd_create gives an in-memory file for the other one.
 * The fds stay open for the life of the process, so every path dlopen sees is
 * unique and glibc's by-path cache cannot hand back a stale handle.
 *
 * Run from source (tests, scripts), the files are loaded from the build tree
 * and node_modules.
 */
import { closeSync, constants, existsSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
}

export type AddonName = 'cni_native' | 'netlink';

/** Linux x86_64 O_TMPFILE (includes O_DIRECTORY); Node does not export it. */
const O_TMPFILE = 0o20000000 | 0o200000;

const loaded = new Map<AddonName, unknown>();
const heldFds: number[] = [];

interface SeaModule {
  isSea(): boolean;
  getRawAsset(key: string): ArrayBuffer;
}

function seaModule(): SeaModule | undefined {
  try {
    const req = createRequire(process.execPath);
    const sea = req('node:sea') as SeaModule;
    return sea.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

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

function loadFromBytesMemfd(own: NativeAddon, name: string, bytes: Uint8Array): unknown {
  const fd = own.memfdCreate(name);
  try {
    writeAll(fd, bytes);
    return dlopenFd(fd);
  } catch (err) {
    if (!heldFds.includes(fd)) closeSync(fd);
    throw err;
  }
}

/**
 * The source tree's root when running unbundled (lib/native/loader.ts → ../..),
 * or the one scripts/sea-loader.cjs names when the build trains the code cache
 * on the bundle outside the executable.
 */
function sourceRoot(): string {
  const training = (globalThis as Record<symbol, unknown>)[Symbol.for('cni-ts.sourceRoot')];
  if (typeof training === 'string') return training;
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

function loadFromTree(name: AddonName): unknown {
  const root = sourceRoot();
  const file =
    name === 'cni_native'
      ? join(root, 'build', 'cni_native.node')
      : join(root, 'node_modules', 'netlink', 'prebuilds', `linux-${process.arch}`, 'node.napi.node');
  if (!existsSync(file)) throw new Error(`native addon ${name} not found at ${file} (run npm run build)`);
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file);
  return mod.exports;
}

export function loadAddon(name: 'cni_native'): NativeAddon;
export function loadAddon(name: 'netlink'): unknown;
export function loadAddon(name: AddonName): unknown {
  const cached = loaded.get(name);
  if (cached !== undefined) return cached;
  const sea = seaModule();
  let exports: unknown;
  if (sea === undefined) {
    exports = loadFromTree(name);
  } else {
    const bytes = new Uint8Array(sea.getRawAsset(`${name}.node`));
    exports = name === 'cni_native' ? loadFromBytesBootstrap(bytes) : loadFromBytesMemfd(loadAddon('cni_native'), name, bytes);
  }
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
