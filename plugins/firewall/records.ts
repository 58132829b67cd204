/**
 * Attachment records: what lets DEL without prevResult and GC find a pod's
 * rules, which carry no identity of their own (they must be the reference's
 * rules, byte for byte, so that Go's DEL removes ours and ours Go's). One
 * small JSON file per attachment in `dataDir` (default /var/lib/cni/firewall),
 * named by a hash of (network, container ID, interface), holding those three
 * and the addresses the rules were made for. ADD writes it before the rules,
 * DEL and GC delete it after the rules are gone, so a run killed at any point
 * leaves either nothing or a record that DEL or GC completes. All access
 * happens under the plugin's lock (commands.ts).
 */
import { readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../../lib/cni/errors.ts';
import { mkdirLevels } from '../../lib/mkdir.ts';
import { processAlive } from '../../lib/process-alive.ts';
import { sha512Hex } from '../../lib/sha512.ts';
import type { Attachment, HostAddress } from './config.ts';

export interface AttachmentRecord {
  network: string;
  containerId: string;
  ifName: string;
  addresses: HostAddress[];
}

const SUFFIX = '.json';

function isRecord(v: unknown): v is AttachmentRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r['network'] === 'string' &&
    typeof r['containerId'] === 'string' &&
    typeof r['ifName'] === 'string' &&
    Array.isArray(r['addresses']) &&
    r['addresses'].every((a: unknown) => typeof a === 'object' && a !== null && ((a as HostAddress).family === 4 || (a as HostAddress).family === 6) && typeof (a as HostAddress).cidr === 'string')
  );
}

export class Records {
  constructor(readonly dir: string) {}

  fileOf(network: string, a: Attachment): string {
    return join(this.dir, `${sha512Hex(`${network}\0${a.containerId}\0${a.ifName}`).slice(0, 32)}${SUFFIX}`);
  }

  private readFile(path: string): AttachmentRecord | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const v: unknown = JSON.parse(text);
      return isRecord(v) ? v : undefined;
    } catch {
      return undefined; // a torn or foreign file: not ours to interpret
    }
  }

  read(network: string, a: Attachment): AttachmentRecord | undefined {
    const r = this.readFile(this.fileOf(network, a));
    return r !== undefined && r.network === network && r.containerId === a.containerId && r.ifName === a.ifName ? r : undefined;
  }

  /** Written whole to a temporary name, then renamed: a reader sees the old or the new record. */
  write(r: AttachmentRecord): void {
    mkdirLevels(this.dir, 0o700);
    const path = this.fileOf(r.network, r);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(r)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  }

  remove(network: string, a: Attachment): void {
    try {
      unlinkSync(this.fileOf(network, a));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }

  /** Every readable record (none when the directory does not exist); removes dead writers' temporary files. */
  all(): AttachmentRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const out: AttachmentRecord[] = [];
    for (const n of names) {
      // a temporary file of a writer killed before its rename: nobody will finish it
      const tmp = /\.(\d+)\.tmp$/.exec(n);
      if (tmp !== null && !processAlive(Number(tmp[1]))) {
        try {
          unlinkSync(join(this.dir, n));
        } catch {
          // gone meanwhile, or not ours to remove: harmless either way
        }
        continue;
      }
      if (!n.endsWith(SUFFIX)) continue;
      const r = this.readFile(join(this.dir, n));
      if (r !== undefined) out.push(r);
    }
    return out;
  }
}

export const sameAttachment = (r: AttachmentRecord, network: string, a: Attachment): boolean => r.network === network && r.containerId === a.containerId && r.ifName === a.ifName;
