/**
 * `cni install [--dest DIR] [--only NAMES] [--conflist FILE --conf-dir DIR [--conf-name NAME]]`:
 * puts this executable into a CNI bin dir with one link per plugin, and
 * optionally a conflist into the runtime's config dir, the way a cluster's
 * init container does (kube-flannel's `install-cni-plugin` and `install-cni`),
 * but so that a runtime running a plugin at that very moment never sees a
 * missing or half-written file:
 *
 * - every file is written to a temporary name in the target directory,
 *   fsynced, and renamed over the old one (the old inode stays whole for a
 *   process executing it; no ETXTBSY, no window without the file);
 * - a file whose bytes are already right, and a link already pointing at
 *   `cni`, are left alone (a pod restart changes nothing: mtimes and inodes
 *   stay);
 * - a plugin that is a file of someone else's (the Go plugin), and a `cni`
 *   that is not a build of ours (k3s' multi-call binary), is kept once, as
 *   `<name>.orig` (a hard link, so no copy and no window), to undo the switch;
 * - a directory that cannot be written is one clear line on stderr, exit 1.
 *
 * `npm run install-plugins` runs the built executable's `cni install`
 * (scripts/install.mjs), so there is one installer. Its only input that
 * depends on the build is `source`, the executable to install (this process's
 * own file by default).
 */
import { closeSync, fsyncSync, linkSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { errnoCode } from '../../lib/cni/errors.ts';
import { errnoWords, mkdirLevels, MkdirError } from '../../lib/mkdir.ts';
import { confListFromBytes } from '../../lib/runtime/conf.ts';
import { versionLine } from '../../lib/build-info.ts';
import { parseOptions } from '../options.ts';

/** The executable's name in the bin dir; every plugin is a link to it. */
export const EXE_NAME = 'cni';
/** kube-flannel's name for its conflist in /etc/cni/net.d. */
export const DEFAULT_CONF_NAME = '10-flannel.conflist';
/** Temporaries of a killed installer older than this are removed by the next run. */
const STALE_TMP_MS = 10 * 60 * 1000;
const TMP_PREFIX = '.cni-install-';

export interface InstallOptions {
  /** The executable to install: the one parameter a build target (dist/bin, another runtime's build) changes. */
  source: string;
  /** The CNI bin dir. */
  dest?: string;
  /** Which plugins get a link (default: every plugin of the executable). */
  only: readonly string[];
  conflist?: string;
  confDir?: string;
  /** The conflist's file name in confDir (default: FILE's name when it ends in .conflist, else 10-flannel.conflist). */
  confName?: string;
}

export type Outcome = 'installed' | 'replaced' | 'unchanged' | 'linked' | 'relinked';

export interface InstallReport {
  /** One entry per path touched or checked, in order. */
  steps: { path: string; outcome: Outcome; kept?: string }[];
}

/** A failure the operator must act on (a path that cannot be written, a bad conflist): one line, exit 1. */
export class InstallError extends Error {
  override readonly name = 'InstallError';
}

function describe(op: string, path: string, err: unknown): InstallError {
  const code = errnoCode(err);
  const hint = code === 'EROFS' || code === 'EACCES' || code === 'EPERM' ? ' (is the host directory mounted read-write, and is this run as root?)' : '';
  return new InstallError(`${op} ${path}: ${errnoWords(err)}${code !== undefined ? ` (${code})` : ''}${hint}`, { cause: err });
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw describe('stat', path, err);
  }
}

/** Whether the regular file at `path` holds exactly the bytes of `source` (compared in 1 MiB chunks). */
function sameBytes(path: string, source: string): boolean {
  let a: number | undefined;
  let b: number | undefined;
  try {
    const sa = statSync(path);
    const sb = statSync(source);
    if (!sa.isFile() || sa.size !== sb.size) return false;
    if (sa.dev === sb.dev && sa.ino === sb.ino) return true;
    a = openSync(path, 'r');
    b = openSync(source, 'r');
    const ba = Buffer.allocUnsafe(1 << 20);
    const bb = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const na = readSync(a, ba, 0, ba.length, null);
      const nb = readSync(b, bb, 0, bb.length, null);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (ba.compare(bb, 0, nb, 0, na) !== 0) return false;
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw describe('read', path, err);
  } finally {
    if (a !== undefined) closeSync(a);
    if (b !== undefined) closeSync(b);
  }
}

/** What every build of ours carries in its bundle (lib/cni/plugin.ts's about text), and no Go plugin does. */
const OUR_MARKER = Buffer.from('(cni-ts) v');

/** Whether the file at `path` is a build of ours (any version): it holds OUR_MARKER somewhere. */
function isOurs(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.allocUnsafe((1 << 20) + OUR_MARKER.length);
    let keep = 0;
    for (;;) {
      const n = readSync(fd, buf, keep, buf.length - keep, null);
      if (n === 0) return false;
      const end = keep + n;
      if (buf.subarray(0, end).includes(OUR_MARKER)) return true;
      keep = Math.min(OUR_MARKER.length - 1, end);
      buf.copy(buf, 0, end - keep, end);
    }
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function tmpName(dir: string, name: string): string {
  return join(dir, `${TMP_PREFIX}${name}.${process.pid}.${Math.random().toString(16).slice(2, 10)}.tmp`);
}

/** Writes `bytes` (or the file `from`) to a temporary in `dir`, fsynced, with `mode`, then renames it to `dir/name`. */
function writeAtomically(dir: string, name: string, mode: number, content: { bytes: Buffer } | { from: string }): void {
  const tmp = tmpName(dir, name);
  let fd: number | undefined;
  try {
    try {
      fd = openSync(tmp, 'wx', mode);
    } catch (err) {
      throw describe('create a file in', dir, err);
    }
    if ('bytes' in content) {
      writeAll(fd, content.bytes, content.bytes.length);
    } else {
      let src: number;
      try {
        src = openSync(content.from, 'r');
      } catch (err) {
        throw describe('read', content.from, err);
      }
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        for (;;) {
          const n = readSync(src, buf, 0, buf.length, null);
          if (n === 0) break;
          writeAll(fd, buf, n);
        }
      } finally {
        closeSync(src);
      }
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    try {
      renameSync(tmp, join(dir, name));
    } catch (err) {
      throw describe('rename into', join(dir, name), err);
    }
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw err instanceof InstallError ? err : describe('write', join(dir, name), err);
  }
}

/** Removes a temporary of ours if it is there; never fails (a read-only directory: Bun's rmSync reports EROFS even for a file that does not exist). */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // nothing of ours is there to remove, or the directory cannot be written: the caller reports what failed
  }
}

function writeAll(fd: number, buf: Buffer, len: number): void {
  let off = 0;
  while (off < len) off += writeSync(fd, buf, off, len - off);
}

/** fsync a directory after renames, so a power cut keeps them; best effort (some filesystems refuse). */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the renames are done; only their durability is at stake
  }
}

/** Removes the temporaries a killed installer left (only old ones: another installer may be writing now). */
function removeStaleTemporaries(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const n of names) {
    if (!n.startsWith(TMP_PREFIX) || !n.endsWith('.tmp')) continue;
    const st = lstatOrUndefined(join(dir, n));
    if (st !== undefined && now - st.mtimeMs > STALE_TMP_MS) removeQuietly(join(dir, n));
  }
}

function ensureDir(dir: string): void {
  try {
    mkdirLevels(dir, 0o755);
  } catch (err) {
    if (err instanceof MkdirError) throw new InstallError(`cannot create ${dir}: ${err.message}`, { cause: err });
    throw describe('mkdir', dir, err);
  }
}

/** Links `dir/name` to the executable; keeps what was there once as `name.orig` unless it was ours. */
function linkPlugin(dir: string, name: string, source: string, report: InstallReport): void {
  const target = join(dir, name);
  const st = lstatOrUndefined(target);
  let kept: string | undefined;
  if (st?.isSymbolicLink() === true && readlinkSync(target) === EXE_NAME) {
    report.steps.push({ path: target, outcome: 'unchanged' });
    return;
  }
  if (st?.isDirectory() === true) throw new InstallError(`${target} is a directory, not a plugin: remove it first`);
  if (st !== undefined && lstatOrUndefined(`${target}.orig`) === undefined && !(st.isFile() && sameBytes(target, source))) {
    // the Go plugin (or a link to it): a hard link keeps it without a copy and without a moment when `name` is missing
    try {
      linkSync(target, `${target}.orig`);
    } catch (err) {
      throw describe('keep the previous plugin as', `${target}.orig`, err);
    }
    kept = `${target}.orig`;
  }
  const tmp = tmpName(dir, name);
  try {
    symlinkSync(EXE_NAME, tmp);
    renameSync(tmp, target);
  } catch (err) {
    removeQuietly(tmp);
    throw describe('link', target, err);
  }
  report.steps.push({ path: target, outcome: st === undefined ? 'linked' : 'relinked', ...(kept !== undefined ? { kept } : {}) });
}

function installConflist(file: string, dir: string, name: string, report: InstallReport): void {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw describe('read the conflist', file, err);
  }
  try {
    const list = confListFromBytes(bytes);
    if (list.plugins.length === 0) throw new Error('no plugins in list');
  } catch (err) {
    // never put a config the runtime would refuse in place of a working one
    throw new InstallError(`${file} is not a valid conflist: ${(err as Error).message}`, { cause: err });
  }
  ensureDir(dir);
  const target = join(dir, name);
  const st = lstatOrUndefined(target);
  if (st?.isFile() === true && sameBytes(target, file)) {
    report.steps.push({ path: target, outcome: 'unchanged' });
    return;
  }
  writeAtomically(dir, name, 0o644, { bytes });
  syncDir(dir);
  report.steps.push({ path: target, outcome: st === undefined ? 'installed' : 'replaced' });
}

/** The installer; throws InstallError with the message for the operator. */
export function install(opts: InstallOptions): InstallReport {
  const report: InstallReport = { steps: [] };
  if (opts.dest !== undefined) {
    const dir = opts.dest;
    ensureDir(dir);
    removeStaleTemporaries(dir);
    const exe = join(dir, EXE_NAME);
    const st = lstatOrUndefined(exe);
    if (st?.isFile() === true && sameBytes(exe, opts.source)) {
      report.steps.push({ path: exe, outcome: 'unchanged' });
    } else {
      if (st?.isDirectory() === true) throw new InstallError(`${exe} is a directory: remove it first`);
      // someone else's `cni` (k3s' multi-call Go binary has that name) is kept once, as a replaced plugin is
      let kept: string | undefined;
      if (st?.isFile() === true && lstatOrUndefined(`${exe}.orig`) === undefined && !isOurs(exe)) {
        try {
          linkSync(exe, `${exe}.orig`);
        } catch (err) {
          throw describe('keep the previous file as', `${exe}.orig`, err);
        }
        kept = `${exe}.orig`;
      }
      writeAtomically(dir, EXE_NAME, 0o755, { from: opts.source });
      report.steps.push({ path: exe, outcome: st === undefined ? 'installed' : 'replaced', ...(kept !== undefined ? { kept } : {}) });
    }
    for (const name of opts.only) linkPlugin(dir, name, opts.source, report);
    if (report.steps.some((s) => s.outcome !== 'unchanged')) syncDir(dir);
  }
  if (opts.conflist !== undefined && opts.confDir !== undefined) {
    installConflist(opts.conflist, opts.confDir, opts.confName ?? defaultConfName(opts.conflist), report);
  }
  return report;
}

export function defaultConfName(file: string): string {
  const b = basename(file);
  return b.endsWith('.conflist') ? b : DEFAULT_CONF_NAME;
}

export const USAGE =
  'usage: cni install [--dest DIR] [--only NAME,...] [--conflist FILE --conf-dir DIR [--conf-name NAME]]\n' +
  '  --dest DIR        install this executable as DIR/cni and link every plugin to it\n' +
  '  --only NAMES      link only these plugins (comma-separated)\n' +
  '  --conflist FILE   install FILE into --conf-dir (atomically, only when its bytes changed)\n' +
  '  --conf-name NAME  its name there (default: FILE\'s name if it ends in .conflist, else 10-flannel.conflist)\n';

/** Parses argv; a string is a usage error. */
export function parseArgs(argv: readonly string[], plugins: readonly string[], source: string): InstallOptions | string {
  let v;
  try {
    v = parseOptions(argv, { dest: { type: 'string' }, only: { type: 'string' }, conflist: { type: 'string' }, 'conf-dir': { type: 'string' }, 'conf-name': { type: 'string' } });
  } catch (err) {
    return (err as Error).message;
  }
  const opts: { -readonly [K in keyof InstallOptions]: InstallOptions[K] } = { source, only: plugins };
  for (const [flag, value] of [['--dest', v.dest], ['--conflist', v.conflist], ['--conf-dir', v['conf-dir']], ['--conf-name', v['conf-name']]] as const) {
    if (value === '') return `${flag} needs a value`;
  }
  if (v.dest !== undefined) opts.dest = v.dest;
  if (v.conflist !== undefined) opts.conflist = v.conflist;
  if (v['conf-dir'] !== undefined) opts.confDir = v['conf-dir'];
  if (v['conf-name'] !== undefined) {
    if (v['conf-name'].includes('/')) return `--conf-name is a file name, not a path: ${JSON.stringify(v['conf-name'])}`;
    opts.confName = v['conf-name'];
  }
  if (v.only !== undefined) {
    const names = v.only.split(',').filter((s) => s !== '');
    const unknown = names.filter((n) => !plugins.includes(n));
    if (names.length === 0) return '--only needs plugin names';
    if (unknown.length > 0) return `unknown plugin ${unknown.join(', ')} (this executable has ${plugins.join(', ')})`;
    opts.only = names;
  }
  if ((opts.conflist === undefined) !== (opts.confDir === undefined)) return '--conflist and --conf-dir go together';
  if (opts.confName !== undefined && opts.conflist === undefined) return '--conf-name needs --conflist';
  if (opts.dest === undefined && opts.conflist === undefined) return 'nothing to do: give --dest and/or --conflist with --conf-dir';
  return opts;
}

export interface InstallIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** `cni install ...`: 0 done, 1 failed (one line on stderr), 2 usage. */
export function main(argv: readonly string[], plugins: readonly string[], io: InstallIO, source = process.execPath): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(USAGE);
    return 0;
  }
  const opts = parseArgs(argv, plugins, source);
  if (typeof opts === 'string') {
    io.stderr(`cni install: ${opts}\n${USAGE}`);
    return 2;
  }
  try {
    const report = install(opts);
    io.stdout(`cni install: ${versionLine()}`);
    for (const s of report.steps) io.stdout(`cni install: ${s.path} ${s.outcome}${s.kept !== undefined ? ` (the previous file kept as ${s.kept})` : ''}\n`);
    return 0;
  } catch (err) {
    if (err instanceof InstallError) {
      io.stderr(`cni install: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
