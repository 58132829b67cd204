/**
 * The rendered delegate configs flannel keeps between ADD and DEL, one file
 * per attachment under `dataDir` (default /var/lib/cni/flannel):
 *
 *   <containerID>:<ifName>   ours. The reference keys by container id only, so
 *                            two flannel attachments of one pod (Multus)
 *                            overwrite each other's file. ':' can be in
 *                            neither part (the CNI spec's container id
 *                            alphabet; the kernel refuses it in interface
 *                            names), so the name is unambiguous.
 *   +<sha256(containerID)>:<ifName>
 *                            ours, when the plain name would pass NAME_MAX
 *                            (255 bytes): any valid container id fits. '+' is
 *                            not in the container id alphabet.
 *   <containerID>            the reference's. Read (and removed after a
 *                            successful DEL), never written, so a node upgraded
 *                            from the Go plugin deletes its old pods cleanly.
 *
 * Files are written whole: a temporary file (0600) is written, fsynced and
 * renamed over the final name, so a crash leaves either the old file or the
 * new one, never half of one. The directory is not fsynced (the Go flannel
 * fsyncs nothing): a rename or unlink lost to a power cut only loses or
 * resurrects a whole file, and the pods of that boot are gone with it; DEL
 * without a saved file rebuilds the config from subnet.env, and GC removes
 * files of containers that no longer exist. One fsync per ADD, none per DEL.
 * A temporary is named .tmp-<pid>-<random>; listing removes those of dead
 * processes (a plugin killed between write and rename) as well as old ones.
 */
import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from '../../lib/random.ts';
import { type JsonObject, isObject } from '../../lib/cni/conf.ts';
import { errnoCode } from '../../lib/cni/errors.ts';
import { mkdirLevels } from '../../lib/mkdir.ts';
import { processAlive } from '../../lib/process-alive.ts';

const TMP_PREFIX = '.tmp-';

/** NAME_MAX of Linux file systems, in bytes. */
const NAME_MAX = 255;

export function keyedName(containerId: string, ifName: string): string {
  return `${containerId}:${ifName}`;
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
  /** True for a file in the reference's `<containerID>` layout. */
  legacy: boolean;
  bytes: Buffer;
  /** The parsed config; undefined when the file is not a JSON object. */
  conf: JsonObject | undefined;
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

  /** Writes the rendered config for an attachment, durably (see the file comment). */
  save(containerId: string, ifName: string, bytes: Buffer): string {
    mkdirLevels(this.dir, 0o700);
    const final = this.keyedPath(containerId, ifName);
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
    try {
      renameSync(tmp, final);
    } catch (err) {
      unlinkQuiet(tmp);
      throw err;
    }
    return final;
  }

  /**
   * The saved config of an attachment: ours, else the reference's file for the
   * container when it belongs to this network (a file naming another network
   * is left for that network's DEL).
   */
  find(containerId: string, ifName: string, network: string): Saved | undefined {
    const keyed = this.keyedPath(containerId, ifName);
    const bytes = readIfExists(keyed);
    if (bytes !== undefined) return { path: keyed, legacy: false, bytes, conf: parse(bytes) };
    const legacy = this.legacyPath(containerId);
    const old = readIfExists(legacy);
    if (old === undefined) return undefined;
    const conf = parse(old);
    const name = conf?.['name'];
    if (typeof name === 'string' && name !== network) return undefined;
    return { path: legacy, legacy: true, bytes: old, conf };
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
