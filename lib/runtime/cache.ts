/**
 * libcni's result cache, byte-compatible (libcni/api.go `cachedInfo`):
 * `<cacheDir>/results/<network>-<containerId>-<ifName>`, compact JSON with the
 * fields in libcni's order, `config` as standard base64, written 0600 in a
 * 0700 directory after a successful ADD chain. Files that are not `cniCacheV1`
 * are read as a legacy bare result, as libcni does.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isObject, type JsonObject } from '../cni/conf.ts';
import { errnoCode } from '../cni/errors.ts';
import { goMapValue, goMarshal } from './gojson.ts';

export const DEFAULT_CACHE_DIR = '/var/lib/cni';
export const CACHE_KIND = 'cniCacheV1';

export type CniArgs = readonly (readonly [string, string])[];

export interface CachedAttachment {
  readonly containerId: string;
  readonly ifName: string;
  readonly networkName: string;
  readonly config: Buffer;
  readonly netns: string;
  readonly cniArgs: CniArgs | undefined;
  readonly capabilityArgs: JsonObject | undefined;
  readonly result: JsonObject | undefined;
}

/** `getCacheFilePath`; libcni's error text when a part is missing. */
export function cacheFilePath(cacheDir: string, network: string, containerId: string, ifName: string): string {
  if (network === '' || containerId === '' || ifName === '') {
    throw new Error(`cache file path requires network name (${JSON.stringify(network)}), container ID (${JSON.stringify(containerId)}), and interface name (${JSON.stringify(ifName)})`);
  }
  return join(cacheDir, 'results', `${network}-${containerId}-${ifName}`);
}

/** The file's bytes for an attachment (libcni's json.Marshal of cachedInfo). */
export function encodeCacheEntry(a: CachedAttachment): string {
  const o: JsonObject = {
    kind: CACHE_KIND,
    containerId: a.containerId,
    config: a.config.toString('base64'),
    ifName: a.ifName,
    networkName: a.networkName,
  };
  if (a.netns !== '') o['netns'] = a.netns;
  if (a.cniArgs !== undefined && a.cniArgs.length > 0) o['cniArgs'] = a.cniArgs.map(([k, v]) => [k, v]);
  if (a.capabilityArgs !== undefined && Object.keys(a.capabilityArgs).length > 0) o['capabilityArgs'] = goMapValue(a.capabilityArgs);
  // RawResult is a Go map: the result's keys come back sorted
  if (a.result !== undefined) o['result'] = goMapValue(a.result);
  return goMarshal(o);
}

/** Go's encoding/json matches keys case-insensitively (ocicni writes `containerID`). */
function field(o: JsonObject, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

function str(o: JsonObject, name: string): string {
  const v = field(o, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new Error(`json: cannot unmarshal ${typeof v} into Go struct field cachedInfo.${name} of type string`);
  return v;
}

/** Parses a cache file's text; undefined when it is not a cniCacheV1 entry (then it may be a legacy bare result). */
export function decodeCacheEntry(text: string): CachedAttachment | undefined {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(o) || str(o, 'kind') !== CACHE_KIND) return undefined;
  const cfg = field(o, 'config');
  const args = field(o, 'cniArgs');
  let cniArgs: [string, string][] | undefined;
  if (Array.isArray(args)) {
    cniArgs = args.map((p: unknown) => {
      if (!Array.isArray(p) || p.length > 2) throw new Error('json: cannot unmarshal cniArgs entry into Go value of type [2]string');
      return [String(p[0] ?? ''), String(p[1] ?? '')];
    });
  }
  const caps = field(o, 'capabilityArgs');
  const result = field(o, 'result');
  return {
    containerId: str(o, 'containerId'),
    ifName: str(o, 'ifName'),
    networkName: str(o, 'networkName'),
    config: typeof cfg === 'string' ? Buffer.from(cfg, 'base64') : Buffer.alloc(0),
    netns: str(o, 'netns'),
    cniArgs,
    capabilityArgs: isObject(caps) ? caps : undefined,
    result: isObject(result) ? result : undefined,
  };
}

export class ResultCache {
  constructor(readonly dir: string = DEFAULT_CACHE_DIR) {}

  path(network: string, containerId: string, ifName: string): string {
    return cacheFilePath(this.dir, network, containerId, ifName);
  }

  write(a: CachedAttachment): void {
    const file = this.path(a.networkName, a.containerId, a.ifName);
    mkdirSync(join(this.dir, 'results'), { recursive: true, mode: 0o700 });
    writeFileSync(file, encodeCacheEntry(a), { mode: 0o600 });
  }

  /** The file's text, or undefined when it cannot be read (libcni: no cache). */
  read(network: string, containerId: string, ifName: string): string | undefined {
    const file = this.path(network, containerId, ifName);
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Removes the entry; a missing part or a missing file is not an error. */
  remove(network: string, containerId: string, ifName: string): void {
    let file: string;
    try {
      file = this.path(network, containerId, ifName);
    } catch {
      return;
    }
    rmSync(file, { force: true });
  }

  /** `GetCachedAttachments`: every readable cniCacheV1 entry (optionally of one container), in file-name order. */
  attachments(containerId = ''): CachedAttachment[] {
    const dir = join(this.dir, 'results');
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const out: CachedAttachment[] = [];
    for (const name of names) {
      if (containerId !== '') {
        const part = `-${containerId}-`;
        const pos = name.indexOf(part);
        if (pos <= 0 || pos + part.length >= name.length) continue;
      }
      let entry: CachedAttachment | undefined;
      try {
        entry = decodeCacheEntry(readFileSync(join(dir, name), 'utf8'));
      } catch {
        continue;
      }
      if (entry === undefined) continue;
      if (containerId !== '' && entry.containerId !== containerId) continue;
      if (entry.ifName === '' || entry.networkName === '') continue;
      out.push(entry);
    }
    return out;
  }
}
