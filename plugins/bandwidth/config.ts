/**
 * The bandwidth plugin's configuration (containernetworking/plugins
 * plugins/meta/bandwidth main.go parseConfig): the four rate/burst keys at the
 * top level or, when none of them is there, in `runtimeConfig.bandwidth` (the
 * `bandwidth` capability), matched case-insensitively as Go's decoder does
 * (containerd sends `IngressRate`...). The values are unsigned 64-bit integers,
 * read from the JSON text itself so that values past 2^53 are exact. Every
 * mistake is code 7, with the reference's messages for its own checks.
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { type NetConf, isObject } from '../../lib/cni/conf.ts';
import { parsePrevResult } from '../../lib/cni/types/convert.ts';
import type { Result } from '../../lib/cni/types/current.ts';

export interface Bandwidth {
  /** Bits per second; 0 is no limit. */
  readonly ingressRate: bigint;
  /** Bits. */
  readonly ingressBurst: bigint;
  readonly egressRate: bigint;
  readonly egressBurst: bigint;
}

export interface Attachment {
  readonly containerId: string;
  readonly ifName: string;
}

export interface BandwidthConfig {
  readonly name: string;
  readonly cniVersion: string;
  /** undefined: no bandwidth key at all. */
  readonly bandwidth: Bandwidth | undefined;
  readonly prevResult: Result | undefined;
  readonly validAttachments: Attachment[] | undefined;
}

const KEYS = { ingressrate: 'ingressRate', ingressburst: 'ingressBurst', egressrate: 'egressRate', egressburst: 'egressBurst' } as const;
type Key = (typeof KEYS)[keyof typeof KEYS];

/** A number of the JSON text, kept as its source (JSON.parse's reviver context). */
class RawNumber {
  constructor(readonly source: string) {}
}

const invalid = (msg: string, details = ''): CniError => new CniError(CniCode.InvalidNetworkConfig, msg, details);

/** stdin again, with the four keys' numbers as their source text, wherever they are. */
function parseExact(stdin: Buffer): unknown {
  const reviver = function (this: unknown, key: string, value: unknown, ctx?: { source?: string }): unknown {
    if (typeof value === 'number' && key.toLowerCase() in KEYS && ctx?.source !== undefined) return new RawNumber(ctx.source);
    return value;
  };
  return JSON.parse(stdin.toString('utf8'), reviver);
}

const MAX_U64 = (1n << 64n) - 1n;

function toU64(key: string, v: unknown): bigint {
  if (v === null || v === undefined) return 0n; // Go's decoder leaves the field at 0
  if (v instanceof RawNumber && /^(0|[1-9][0-9]*)$/.test(v.source)) {
    const n = BigInt(v.source);
    if (n <= MAX_U64) return n;
  }
  const shown = v instanceof RawNumber ? v.source : JSON.stringify(v);
  throw invalid(`invalid network config: "${key}" must be an unsigned 64-bit integer (bits or bits per second), got ${shown}`);
}

/** The value of `key` in `o` matched case-insensitively; the last match wins, as in Go's decoder. */
function lookup(o: Record<string, unknown>, lower: string): { found: boolean; value: unknown } {
  let found = false;
  let value: unknown;
  for (const [k, v] of Object.entries(o)) {
    if (k.toLowerCase() === lower) {
      found = true;
      value = v;
    }
  }
  return { found, value };
}

function entryFrom(o: Record<string, unknown>, where: string): Bandwidth | undefined {
  const vals: Partial<Record<Key, bigint>> = {};
  let any = false;
  for (const [lower, key] of Object.entries(KEYS)) {
    const { found, value } = lookup(o, lower);
    if (!found) continue;
    any = true;
    vals[key] = toU64(`${where}${key}`, value);
  }
  if (!any) return undefined;
  return { ingressRate: vals.ingressRate ?? 0n, ingressBurst: vals.ingressBurst ?? 0n, egressRate: vals.egressRate ?? 0n, egressBurst: vals.egressBurst ?? 0n };
}

/** The top-level keys when any is present (even 0 or null), else runtimeConfig.bandwidth (getBandwidth). */
export function selectBandwidth(root: Record<string, unknown>): Bandwidth | undefined {
  const top = entryFrom(root, '');
  if (top !== undefined) return top;
  const rc = lookup(root, 'runtimeconfig').value;
  if (!isObject(rc)) {
    if (rc !== undefined && rc !== null) throw invalid(`invalid network config: "runtimeConfig" must be an object, got ${JSON.stringify(rc)}`);
    return undefined;
  }
  const bw = lookup(rc, 'bandwidth').value;
  if (bw === undefined || bw === null) return undefined;
  if (!isObject(bw)) throw invalid(`invalid network config: "runtimeConfig.bandwidth" must be an object, got ${JSON.stringify(bw)}`);
  return entryFrom(bw, 'runtimeConfig.bandwidth.') ?? { ingressRate: 0n, ingressBurst: 0n, egressRate: 0n, egressBurst: 0n };
}

const MAX_U32 = 0xffffffffn;

/** validateRateAndBurst, with the reference's messages. */
export function validateRateAndBurst(rate: bigint, burst: bigint): void {
  if (burst === 0n && rate !== 0n) throw invalid('if rate is set, burst must also be set');
  if (rate === 0n && burst !== 0n) throw invalid('if burst is set, rate must also be set');
  if (burst / 8n >= MAX_U32) throw invalid('burst cannot be more than 4GB');
}

export function isZero(b: Bandwidth | undefined): boolean {
  return b === undefined || (b.ingressRate === 0n && b.ingressBurst === 0n && b.egressRate === 0n && b.egressBurst === 0n);
}

function attachments(root: Record<string, unknown>, key: string): Attachment[] | undefined {
  const v = root[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid(`invalid network config: "${key}" must be an array, got ${JSON.stringify(v)}`);
  return v.map((a, i) => {
    if (!isObject(a) || typeof a['containerID'] !== 'string') throw invalid(`invalid network config: "${key}[${i}].containerID" must be a string`);
    return { containerId: a['containerID'], ifName: typeof a['ifname'] === 'string' ? a['ifname'] : '' };
  });
}

export interface LoadOptions {
  /** DEL and GC: bad rate values or a bad prevResult do not stop the teardown. */
  readonly teardown?: boolean;
}

export function loadBandwidthConfig(conf: NetConf, stdin: Buffer, opts: LoadOptions = {}): BandwidthConfig {
  const lenient = opts.teardown === true;
  let bandwidth: Bandwidth | undefined;
  try {
    const exact = parseExact(stdin);
    if (!isObject(exact)) throw invalid('network config is not a JSON object');
    bandwidth = selectBandwidth(exact);
    if (bandwidth !== undefined) {
      validateRateAndBurst(bandwidth.ingressRate, bandwidth.ingressBurst);
      validateRateAndBurst(bandwidth.egressRate, bandwidth.egressBurst);
    }
  } catch (err) {
    if (!lenient) throw err;
    bandwidth = undefined;
  }
  let prevResult: Result | undefined;
  try {
    prevResult = parsePrevResult(conf);
  } catch (err) {
    if (!lenient) throw err;
  }
  const lists = [attachments(conf, 'cni.dev/valid-attachments'), attachments(conf, 'cni.dev/attachments')].filter((l): l is Attachment[] => l !== undefined);
  return { name: conf.name, cniVersion: conf.cniVersion, bandwidth, prevResult, validAttachments: lists.length === 0 ? undefined : lists.flat() };
}
