/**
 * Which boot of the kernel wrote a file. Leases and saved configs of pods
 * from an earlier boot are garbage (every container died with it, and no
 * runtime sends DEL or GC for them), but a directory may also hold files a
 * Go plugin wrote in this boot. A directory carries a marker, BOOT_MARKER,
 * holding the kernel's boot id (/proc/sys/kernel/random/boot_id) of the last
 * boot one of our plugins worked in it. While it names the current boot
 * nothing is looked at (one small read per ADD). When it names another boot,
 * or is missing, the files older than this boot's start (now minus
 * /proc/uptime, which counts time suspended) are from an earlier boot; files
 * written since (by a Go plugin before our first run in this boot) are not.
 * Then the marker is rewritten.
 *
 * The clock: a file is judged by its mtime against the boot's start on the
 * wall clock. A clock set far back at our first run of a boot judges old
 * files new (kept: the safe direction, they go at the next boot); a clock
 * stepped forward after a Go plugin wrote a lease early in the boot (a
 * machine without a real-time clock, before NTP) could judge that lease old:
 * only with a Go host-local on the same directory before our first ADD of
 * that boot.
 */
import { readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from './random.ts';

export const BOOT_MARKER = '.cni-ts-boot-id';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';
const UPTIME = '/proc/uptime';

function readTrimmed(path: string): string | undefined {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

export interface EarlierBoot {
  /** The current boot id, to write into the marker once the sweep is done. */
  bootId: string;
  /** The current boot's start on the wall clock (ms since the epoch): files older than this are from an earlier boot. */
  bootStartMs: number;
}

/**
 * Undefined when `dir`'s marker names the current boot (nothing to sweep) or
 * the boot cannot be told (no /proc: sweep nothing); else what the sweep needs.
 */
export function earlierBootSweep(dir: string): EarlierBoot | undefined {
  const bootId = readTrimmed(BOOT_ID);
  if (bootId === undefined) return undefined;
  if (readTrimmed(join(dir, BOOT_MARKER)) === bootId) return undefined;
  const uptime = Number(readTrimmed(UPTIME)?.split(/\s+/)[0]);
  if (!Number.isFinite(uptime) || uptime < 0) return undefined;
  return { bootId, bootStartMs: Date.now() - uptime * 1000 };
}

/** Records that `dir` has been swept in boot `bootId` (whole file, by rename; the temporary is named as host-local's, which sweeps it if we die). */
export function markBoot(dir: string, bootId: string): void {
  const tmp = join(dir, `.cni-ts-tmp.${process.pid}.${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, `${bootId}\n`, { mode: 0o644 });
  try {
    renameSync(tmp, join(dir, BOOT_MARKER));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * The sweep itself, best effort: removes every regular file of `names` (in
 * `dir`) that `candidate` accepts and that is older than the current boot,
 * then marks `dir` as swept in this boot. A file that cannot be removed now is
 * tried again by a later boot's first call (or released by DEL/GC); a marker
 * that cannot be written makes the next call sweep again.
 */
export function sweepFilesOfEarlierBoot(dir: string, boot: EarlierBoot, names: readonly string[], candidate: (name: string) => boolean): void {
  for (const name of names) {
    if (!candidate(name)) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isFile() && st.mtimeMs < boot.bootStartMs) unlinkSync(path);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  try {
    markBoot(dir, boot.bootId);
  } catch {
    // a read-only directory fails the call's own write anyway
  }
}
