/**
 * The rendered delegate configs flannel keeps between ADD and DEL, one file
 * per attachment under `dataDir` (default /var/lib/cni/flannel):
 *
 *   <containerID>            the reference's name, which every Go flannel
 *                            release (v0.1 to v1.9) reads on DEL. The first
 *                            attachment of a container is saved there, in the
 *                            reference's format (the delegate config as Go
 *                            marshals it) plus one key, `cni-ts.ifName`,
 *                            naming the interface it belongs to (Go's DEL
 *                            hands the bytes to the delegate, which ignores an
 *                            unknown key; ours strips it). So a node rolled
 *                            back to the Go flannel deletes our pods cleanly,
 *                            and a file the Go flannel wrote (no such key) is
 *                            read for the container as it was written.
 *   <containerID>:<ifName>   a further attachment of the same container
 *                            (Multus), which the reference cannot have: its
 *                            single file per container would be overwritten.
 *                            ':' can be in neither part (the CNI spec's
 *                            container id alphabet; the kernel refuses it in
 *                            interface names), so the name is unambiguous.
 *   +<sha256(containerID)>:<ifName>
 *                            ours, when the id is not usable as a file name of
 *                            its own (past NAME_MAX, 255 bytes; the reference
 *                            fails such an ADD) or the keyed name would be too
 *                            long. '+' is not in the container id alphabet.
 *
 * Files are written whole: a temporary file (0600) is written, fsynced and
 * renamed over the final name (linked, when claiming <containerID>, so two
 * attachments cannot both claim it), so a crash leaves either the old file
 * or the new one, never half of one. The directory is not fsynced (the Go
 * flannel fsyncs nothing): a rename or unlink lost to a power cut only loses
 * or resurrects a whole file, and the pods of that boot are gone with it (the
 * first ADD of a new boot removes the files of earlier boots, see boot.ts);
 * DEL without a saved file rebuilds the config from subnet.env, and GC removes
 * files of containers that no longer exist. One fsync per ADD, none per DEL.
 * A temporary is named .tmp-<pid>-<random>; listing removes those of dead
 * processes (a plugin killed between write and rename) as well as old ones.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from '../../lib/random.ts';
import { type JsonObject, isObject } from '../../lib/cni/conf.ts';
import { errnoCode } from '../../lib/cni/errors.ts';
import { mkdirLevels } from '../../lib/mkdir.ts';
import { processAlive } from '../../lib/process-alive.ts';
import { earlierBootSweep, sweepFilesOfEarlierBoot } from '../../lib/boot.ts';

const TMP_PREFIX = '.tmp-';

/** NAME_MAX of Linux file systems, in bytes. */
const NAME_MAX = 255;

export function keyedName(containerId: string, ifName: string): string {
  return `${containerId}:${ifName}`;
}

/** The key, in a <containerID> file we wrote, naming the interface it belongs to. */
export const IFNAME_KEY = 'cni-ts.ifName';

/** A saved config without IFNAME_KEY: what the delegate was given. */
export function withoutOwner(conf: JsonObject): JsonObject {
  const copy = { ...conf };
  delete copy[IFNAME_KEY];
  return copy;
}

/** Whether a container id can be a file name of its own (the reference's layout) without clashing with ours. */
export function plainIdUsable(containerId: string): boolean {
  return (
    containerId !== '' &&
    Buffer.byteLength(containerId) <= NAME_MAX &&
    !containerId.startsWith('.') &&
    !containerId.startsWith('+') &&
    !/[/:\0]/.test(containerId)
  );
}

/** The file name of an attachment's saved config: keyedName, or its hashed form when that is too long for a name. */
export function fileName(containerId: string, ifName: string): string {
  const plain = keyedName(containerId, ifName);
  if (Buffer.byteLength(plain) <= NAME_MAX && !plain.includes('/')) return plain;
  // node:crypto only for the rare id that needs it (loading it costs every ADD ~8 ms)
  const { createHash } = process.getBuiltinModule('node:crypto');
  return `+${createHash('sha256').update(containerId).digest('hex')}:${ifName}`;
}

/** The pid in a temporary's name (.tmp-<pid>-<random>); undefined for other names. */
function tmpOwner(name: string): number | undefined {
  const m = /^\.tmp-([0-9]{1,10})-[0-9a-f]+$/.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

export interface Saved {
  path: string;
  /** True for a file in the reference's `<containerID>` layout (written by it, or by us for a container's first attachment). */
  legacy: boolean;
  /** True when the file carries IFNAME_KEY (ours): `bytes` are not what the delegate was given. */
  marked: boolean;
  bytes: Buffer;
  /** The parsed config, without IFNAME_KEY; undefined when the file is not a JSON object. */
  conf: JsonObject | undefined;
}

/** Where an ADD saves its config. */
export interface SavePlan {
  path: string;
  /** Claim <containerID> (create it only if absent; fall back to the keyed name if another attachment got it first). */
  claim: boolean;
  /** The attachment's saved file as it was before this ADD (a repeated ADD): left alone unless the ADD succeeds. */
  previous: Buffer | undefined;
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return undefined;
    throw err;
  }
}

function parse(bytes: Buffer): JsonObject | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class ConfStore {
  constructor(readonly dir: string) {}

  keyedPath(containerId: string, ifName: string): string {
    return join(this.dir, fileName(containerId, ifName));
  }

  legacyPath(containerId: string): string {
    return join(this.dir, containerId);
  }

  /**
   * Where ADD for an attachment saves: its existing file (a repeated ADD);
   * else <containerID> when no other attachment holds it; else the keyed name.
   */
  plan(containerId: string, ifName: string): SavePlan {
    const keyed = this.keyedPath(containerId, ifName);
    const own = readIfExists(keyed);
    if (own !== undefined) return { path: keyed, claim: false, previous: own };
    if (!plainIdUsable(containerId)) return { path: keyed, claim: false, previous: undefined };
    const legacy = this.legacyPath(containerId);
    const held = readIfExists(legacy);
    if (held === undefined) return { path: legacy, claim: true, previous: undefined };
    if (parse(held)?.[IFNAME_KEY] === ifName) return { path: legacy, claim: false, previous: held };
    return { path: keyed, claim: false, previous: undefined };
  }

  /**
   * Writes the rendered config for an attachment, durably (see the file
   * comment), where `plan` says; the bytes for <containerID> carry IFNAME_KEY
   * (`marked`). Returns the path written.
   */
  save(plan: SavePlan, containerId: string, ifName: string, bytes: Buffer, marked: Buffer): string {
    mkdirLevels(this.dir, 0o700);
    const legacy = plan.path === this.legacyPath(containerId);
    const tmp = this.writeTemp(legacy ? marked : bytes);
    try {
      if (plan.claim) {
        try {
          linkSync(tmp, plan.path); // fails if another attachment claimed it meanwhile
          return plan.path;
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw err;
        }
        const keyed = this.keyedPath(containerId, ifName);
        const tmp2 = this.writeTemp(bytes);
        try {
          renameSync(tmp2, keyed);
        } catch (err) {
          unlinkQuiet(tmp2);
          throw err;
        }
        return keyed;
      }
      renameSync(tmp, plan.path);
      return plan.path;
    } finally {
      unlinkQuiet(tmp);
    }
  }

  /** Puts `bytes` back where a repeated ADD found them (it failed after replacing them). */
  restore(path: string, bytes: Buffer): void {
    const tmp = this.writeTemp(bytes);
    try {
      renameSync(tmp, path);
    } finally {
      unlinkQuiet(tmp);
    }
  }

  private writeTemp(bytes: Buffer): string {
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkQuiet(tmp);
      throw err;
    }
    closeSync(fd);
    return tmp;
  }

  /**
   * The saved config of an attachment: its keyed file, else <containerID>
   * when that is this network's and either names this interface (ours) or
   * names none (the reference's, one per container). A file naming another
   * network, or another interface, is left for that attachment's DEL.
   */
  find(containerId: string, ifName: string, network: string): Saved | undefined {
    const keyed = this.keyedPath(containerId, ifName);
    const bytes = readIfExists(keyed);
    if (bytes !== undefined) return { path: keyed, legacy: false, marked: false, bytes, conf: parse(bytes) };
    if (!plainIdUsable(containerId)) return undefined;
    const legacy = this.legacyPath(containerId);
    const old = readIfExists(legacy);
    if (old === undefined) return undefined;
    const conf = parse(old);
    const name = conf?.['name'];
    if (typeof name === 'string' && name !== network) return undefined;
    const owner = conf?.[IFNAME_KEY];
    if (owner !== undefined && owner !== ifName) return undefined;
    if (conf === undefined || owner === undefined) return { path: legacy, legacy: true, marked: false, bytes: old, conf };
    return { path: legacy, legacy: true, marked: true, bytes: old, conf: withoutOwner(conf) };
  }

  /**
   * Removes the saved configs of an earlier boot (their pods died with it;
   * their leases go the same way in host-local), once per boot: see
   * lib/boot.ts. Best effort; files of the current boot, ours or the Go
   * flannel's, are newer than the boot and stay.
   */
  sweepEarlierBoot(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return; // no directory yet: nothing saved, the marker comes with the first file
    }
    const boot = earlierBootSweep(this.dir);
    if (boot === undefined) return;
    sweepFilesOfEarlierBoot(this.dir, boot, names, (name) => !name.startsWith('.'));
  }

  /** Removes a saved file; a missing one is fine. */
  remove(path: string): void {
    unlinkQuiet(path);
  }

  /** Every saved file, for GC. Temporary files of dead processes, or older than `staleTmpMs`, are listed as `stale`. */
  list(staleTmpMs = 10 * 60_000): { entries: StoreEntry[]; stale: string[] } {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { entries: [], stale: [] };
      throw err;
    }
    const entries: StoreEntry[] = [];
    const stale: string[] = [];
    const now = Date.now();
    for (const name of names.sort()) {
      const path = join(this.dir, name);
      if (name.startsWith(TMP_PREFIX)) {
        const owner = tmpOwner(name);
        if (owner !== undefined && owner !== process.pid && !processAlive(owner)) {
          stale.push(path);
          continue;
        }
        try {
          if (now - statSync(path).mtimeMs > staleTmpMs) stale.push(path);
        } catch {
          // gone meanwhile
        }
        continue;
      }
      if (name.startsWith('.')) continue;
      let mtimeMs: number;
      try {
        const st = statSync(path);
        if (!st.isFile()) continue;
        mtimeMs = st.mtimeMs;
      } catch {
        continue; // gone meanwhile
      }
      const colon = name.indexOf(':');
      const entry: StoreEntry =
        colon < 0 ? { path, name, containerId: name, ifName: undefined, mtimeMs } : { path, name, containerId: name.slice(0, colon), ifName: name.slice(colon + 1), mtimeMs };
      entries.push(entry);
    }
    return { entries, stale };
  }

  /** Reads one listed file; undefined when it vanished or is not a JSON object. */
  read(path: string): JsonObject | undefined {
    const bytes = readIfExists(path);
    return bytes === undefined ? undefined : parse(bytes);
  }
}

export interface StoreEntry {
  path: string;
  /** The file name (see fileName). */
  name: string;
  /** The id part of the name (a hash for '+' names). */
  containerId: string;
  /** Undefined for the reference's `<containerID>` files. */
  ifName: string | undefined;
  mtimeMs: number;
}

function unlinkQuiet(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
