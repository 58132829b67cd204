/**
 * The reference's data directory, byte for byte, so that this plugin and the
 * Go host-local can take turns on one node (plugins/ipam/host-local/backend/disk):
 *
 *   <dataDir>/<network>/<ip>                  "<containerID>\r\n<ifname>", no newline, 0600
 *   <dataDir>/<network>/last_reserved_ip.<N>  the last address reserved from range set N
 *   <dataDir>/<network>/lock                  empty; flock(LOCK_EX) around every change
 *
 * Differences, all invisible to the Go plugin:
 * - A lease appears complete or not at all: its content is written to a
 *   temporary file and fsynced, then hard-linked to the address's name
 *   (link(2) fails with EEXIST like O_EXCL does). The reference creates the
 *   name first and writes after, so a crash between the two leaves an empty
 *   lease. The content does not depend on the address, so the temporaries are
 *   written before the lock is taken (prepare()): the fsync, the slow part,
 *   stays out of the critical section, which is left with link and rename.
 *   Temporaries are named TMP_PREFIX<pid>.<random> (never an address, so
 *   neither plugin takes them for a lease); under the lock, those of a dead
 *   process are removed.
 * - The cursor is replaced by rename(2), never seen half-written.
 * - The wait for the lock is bounded (code 11 past it) instead of forever.
 * - Leases of an earlier boot are reclaimed (`reclaimEarlierBoots`, on by
 *   default): the first locked call of a boot removes the leases older than
 *   the boot, and the directory's `.cni-ts-boot-id` (lib/boot.ts) records the
 *   boot so that later calls skip that look. The Go plugin ignores the marker
 *   (not an address), and leases it writes in this boot are newer than it.
 */
import { accessSync, closeSync, constants, fsyncSync, linkSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from '../../lib/random.ts';
import { join } from 'node:path';
import { errnoCode } from '../../lib/cni/errors.ts';
import { mkdirLevels } from '../../lib/mkdir.ts';
import { processAlive } from '../../lib/process-alive.ts';
import { lockFileAsync } from '../../lib/lock.ts';
import { type IP, formatIp, parseIp } from '../../lib/ip.ts';
import { earlierBootSweep, sweepFilesOfEarlierBoot } from '../../lib/boot.ts';
import type { Attachment, Lease, LeaseListing, LeaseProblem, Owner, Store } from './store.ts';

export const LOCK_FILE = 'lock';
export const LAST_IP_PREFIX = 'last_reserved_ip.';
export const LINE_BREAK = '\r\n';
export const TMP_PREFIX = '.cni-ts-tmp.';

/** The steps of a reservation, in order; DiskStoreOptions.onStep runs after each. */
export type ReserveStep = 'tmp-written' | 'tmp-synced' | 'linked' | 'tmp-removed' | 'cursor-written';

export interface DiskStoreOptions {
  /** Bound on the wait for `<dir>/lock`; past it a code-11 error. */
  lockTimeoutMs: number;
  /** Remove leases made in an earlier boot of the kernel, under the first lock of a boot (see the file comment). */
  reclaimEarlierBoots?: boolean;
  /**
   * Test seam: runs after each step of a reservation (`ip` is undefined for
   * the steps prepare() does ahead of the lock); throwing there simulates a
   * crash at that point.
   */
  onStep?: (step: ReserveStep, ip: IP | undefined) => void;
}

/** What a lease file says: `id\r\nifname`, or a bare container id in legacy files (whitespace trimmed, as the reference does). */
export function parseLeaseContent(content: string): Owner {
  const t = content.trim();
  const i = t.indexOf(LINE_BREAK);
  if (i < 0) return { containerId: t, ifName: undefined };
  return { containerId: t.slice(0, i), ifName: t.slice(i + LINE_BREAK.length) };
}

export function leaseContent(a: Attachment): string {
  return `${a.containerId.trim()}${LINE_BREAK}${a.ifName}`;
}

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

function sameAttachment(x: Attachment, y: Attachment): boolean {
  return x.containerId === y.containerId && x.ifName === y.ifName;
}

export class DiskStore implements Store {
  readonly dir: string;
  readonly #opts: DiskStoreOptions;
  #locked = false;
  #prepared: { attachment: Attachment; paths: string[] } | undefined;

  private constructor(dir: string, opts: DiskStoreOptions) {
    this.dir = dir;
    this.#opts = opts;
  }

  /** Opens `<dir>`, creating it (0755, as the reference) when missing. */
  static open(dir: string, opts: DiskStoreOptions): DiskStore {
    mkdirLevels(dir, 0o755);
    return new DiskStore(dir, opts);
  }

  /** Opens `<dir>` only if it exists (DEL has nothing to release otherwise, and creates nothing). */
  static openExisting(dir: string, opts: DiskStoreOptions): DiskStore | undefined {
    try {
      if (!statSync(dir).isDirectory()) return undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    return new DiskStore(dir, opts);
  }

  /**
   * Who holds `ip`, or undefined when nobody does (or the lease cannot be
   * read). Unlocked: a lease file is written whole and then linked into
   * place, so a reader sees none or all of it.
   */
  ownerOf(ip: IP): Owner | undefined {
    try {
      return parseLeaseContent(readFileSync(join(this.dir, formatIp(ip)), 'utf8'));
    } catch {
      return undefined;
    }
  }

  async withLock<T>(fn: () => T): Promise<T> {
    if (this.#locked) throw new Error('DiskStore: lock is not reentrant');
    const lock = await lockFileAsync(join(this.dir, LOCK_FILE), this.#opts.lockTimeoutMs, { mode: 0o750, readOnly: true });
    this.#locked = true;
    try {
      if (this.#opts.reclaimEarlierBoots === true) this.#sweepEarlierBoot();
      return fn();
    } finally {
      this.#locked = false;
      lock.release();
    }
  }

  /** Best effort: a lease that cannot be removed now is tried again by a later boot's first call, or released by DEL/GC. */
  #sweepEarlierBoot(): void {
    const boot = earlierBootSweep(this.dir);
    if (boot === undefined) return;
    sweepFilesOfEarlierBoot(this.dir, boot, readdirSync(this.dir), (name) => {
      const ip = parseIp(name);
      return ip !== undefined && formatIp(ip) === name;
    });
  }

  #step(step: ReserveStep, ip: IP | undefined): void {
    this.#opts.onStep?.(step, ip);
  }

  /** Writes and fsyncs a temporary holding `a`'s lease content; returns its path. */
  #writeTemp(a: Attachment, ip: IP | undefined): string {
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}.${randomBytes(6).toString('hex')}`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeAll(fd, Buffer.from(leaseContent(a)));
      this.#step('tmp-written', ip);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.#step('tmp-synced', ip);
    return tmp;
  }

  prepare(a: Attachment, count: number): void {
    this.discardPrepared();
    const paths: string[] = [];
    this.#prepared = { attachment: a, paths };
    for (let i = 0; i < count; i++) paths.push(this.#writeTemp(a, undefined));
  }

  discardPrepared(): void {
    const p = this.#prepared;
    this.#prepared = undefined;
    for (const path of p?.paths ?? []) this.#removeDebris(path);
  }

  reserve(a: Attachment, ip: IP, rangeId: string): boolean {
    const name = formatIp(ip);
    const path = join(this.dir, name);
    if (!this.#place(a, ip, path)) return false;
    try {
      this.#writeCursor(rangeId, name);
    } catch (err) {
      try {
        unlinkSync(path);
      } catch {
        // nothing more to undo
      }
      throw err;
    }
    this.#step('cursor-written', ip);
    return true;
  }

  /** Puts the lease file in place, complete, unless the address is taken (false). */
  #place(a: Attachment, ip: IP, path: string): boolean {
    const pool = this.#prepared !== undefined && sameAttachment(this.#prepared.attachment, a) ? this.#prepared.paths : undefined;
    const tmp = pool?.[0] ?? this.#writeTemp(a, ip);
    try {
      linkSync(tmp, path);
    } catch (err) {
      // a prepared temporary stays for the next candidate; one made here goes
      if (pool === undefined) this.#removeDebris(tmp);
      const code = errnoCode(err);
      if (code === 'EEXIST') return false;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return this.#createInPlace(a, path);
      throw err;
    }
    pool?.shift();
    this.#step('linked', ip);
    this.#removeDebris(tmp); // left over, it would be swept under a later lock; the lease itself is complete
    this.#step('tmp-removed', ip);
    return true;
  }

  /**
   * The reference's way, for a file system without hard links: create the
   * name exclusively, then write. Not atomic (a crash in between leaves an
   * empty lease, which GC collects), but it works where link(2) does not.
   */
  #createInPlace(a: Attachment, path: string): boolean {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return false;
      throw err;
    }
    try {
      writeAll(fd, Buffer.from(leaseContent(a)));
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      this.#removeDebris(path);
      throw err;
    }
    closeSync(fd);
    return true;
  }

  #writeCursor(rangeId: string, text: string): void {
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}.${randomBytes(6).toString('hex')}`);
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, join(this.dir, `${LAST_IP_PREFIX}${rangeId}`));
  }

  lastReserved(rangeId: string): IP | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.dir, `${LAST_IP_PREFIX}${rangeId}`), 'utf8');
    } catch {
      return undefined; // missing or unreadable: round robin restarts from the first address, as in the reference
    }
    return parseIp(text.trim());
  }

  leases(): LeaseListing {
    const leases: Lease[] = [];
    const problems: LeaseProblem[] = [];
    // unlocked (STATUS) before this boot's first locked call: the earlier boot's leases count as free, as ADD will
    // find them (a node whose range an earlier boot filled must not report not-ready, or no ADD ever comes)
    const earlier = !this.#locked && this.#opts.reclaimEarlierBoots === true ? earlierBootSweep(this.dir) : undefined;
    for (const entry of readdirSync(this.dir, { withFileTypes: true })) {
      const name = entry.name;
      if (name.startsWith(TMP_PREFIX)) {
        if (this.#locked && this.#isDebris(name)) this.#removeDebris(join(this.dir, name));
        continue;
      }
      const ip = parseIp(name);
      if (ip === undefined || formatIp(ip) !== name || !entry.isFile()) continue;
      let content: string;
      try {
        content = readFileSync(join(this.dir, name), 'utf8');
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') problems.push({ name, error: (err as Error).message });
        continue;
      }
      if (earlier !== undefined && this.#madeBefore(name, earlier.bootStartMs)) continue;
      leases.push({ ip, owner: parseLeaseContent(content) });
    }
    return { leases, problems };
  }

  #madeBefore(name: string, ms: number): boolean {
    try {
      return statSync(join(this.dir, name)).mtimeMs < ms;
    } catch {
      return false;
    }
  }

  /** A temporary is debris when its writer is gone (or is us, without it in the pool). */
  #isDebris(name: string): boolean {
    const pid = Number(name.slice(TMP_PREFIX.length).split('.')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return true;
    if (pid === process.pid) return !(this.#prepared?.paths ?? []).includes(join(this.dir, name));
    return !processAlive(pid);
  }

  #removeDebris(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // someone else swept it
    }
  }

  release(ip: IP): void {
    try {
      unlinkSync(join(this.dir, formatIp(ip)));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }

  unusableReason(): string | undefined {
    try {
      if (!statSync(this.dir).isDirectory()) return `${this.dir} is not a directory`;
      accessSync(this.dir, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }
}
