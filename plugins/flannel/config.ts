/**
 * flannel's own configuration keys (flannel-io/cni-plugin flannel.go NetConf),
 * read once into a typed value. Top-level keys match case-insensitively, as
 * Go's decoder does; `delegate`, `ipam` and `runtimeConfig` are opaque maps
 * passed on as they are (Go keeps them as map[string]interface{}).
 */
import { type JsonObject, type NetConf, isObject, validateConf } from '../../lib/cni/conf.ts';
import { valueDepth } from '../../lib/cni/json-depth.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { flannelSchema } from '../../build/gen/schemas.mjs';
import { validateFlannel } from '../../build/gen/validators.mjs';
import { DEFAULT_SUBNET_FILE } from './subnet-env.ts';

export const DEFAULT_DATA_DIR = '/var/lib/cni/flannel';

type Nullable<T> = T | null | undefined;

/** The shape flannel.schema.json guarantees. */
type RawFlannelConf = NetConf & {
  subnetFile?: Nullable<string>;
  dataDir?: Nullable<string>;
  delegate?: Nullable<JsonObject>;
  ipam?: Nullable<JsonObject>;
  runtimeConfig?: Nullable<JsonObject>;
};

export interface FlannelConf {
  name: string;
  /** The effective version ("0.1.0" when the config has none). */
  cniVersion: string;
  /** Whether the config named a version: the reference copies it into the delegate only then. */
  cniVersionGiven: boolean;
  subnetFile: string;
  dataDir: string;
  /** The user's `delegate` map, or undefined. Checked by `delegateProblem`, not here: DEL must not fail on it. */
  delegate: JsonObject | undefined;
  ipam: JsonObject | undefined;
  runtimeConfig: JsonObject | undefined;
  /** The operators' log keys (`logFile`, `logLevel`, lib/cni/oplog.ts) as given: passed on to the delegate. */
  logKeys?: JsonObject;
}

const LOG_KEYS = ['logFile', 'logLevel'] as const;

function orDefault(v: Nullable<string>, dflt: string): string {
  // null keeps Go's default; "" would make the reference open "" or write into the working directory
  return v === undefined || v === null || v === '' ? dflt : v;
}

/** Whether the config on stdin has a non-empty `cniVersion` (the protocol layer fills in "0.1.0" when not). */
function versionGiven(stdin: Buffer | undefined): boolean {
  if (stdin === undefined) return true;
  try {
    const parsed: unknown = JSON.parse(stdin.toString('utf8'));
    return isObject(parsed) && typeof parsed['cniVersion'] === 'string' && parsed['cniVersion'] !== '';
  } catch {
    return true;
  }
}

/** Validates and types flannel's config (`stdin`: the raw bytes it came from). A wrong type is code 7 naming the key. */
export function loadFlannelConf(conf: NetConf, stdin?: Buffer): FlannelConf {
  const raw = validateConf<RawFlannelConf>(conf, flannelSchema, validateFlannel);
  return {
    name: raw.name,
    cniVersion: raw.cniVersion,
    cniVersionGiven: versionGiven(stdin),
    subnetFile: orDefault(raw.subnetFile, DEFAULT_SUBNET_FILE),
    dataDir: orDefault(raw.dataDir, DEFAULT_DATA_DIR),
    delegate: raw.delegate ?? undefined,
    ipam: raw.ipam ?? undefined,
    runtimeConfig: raw.runtimeConfig ?? undefined,
    ...logKeysOf(raw),
  };
}

function logKeysOf(raw: JsonObject): { logKeys?: JsonObject } {
  const keys = LOG_KEYS.filter((k) => typeof raw[k] === 'string');
  return keys.length === 0 ? {} : { logKeys: Object.fromEntries(keys.map((k) => [k, raw[k]])) };
}

/**
 * How deep `delegate`, `ipam` and `runtimeConfig` may nest: they are cloned and
 * re-serialised into the delegate config, by code that recurses. A real one
 * nests a handful of levels; the protocol layer already refuses stdin past
 * Go's 10 000.
 */
export const MAX_RENDERED_DEPTH = 1000;

/** Refuses (code 7) a `delegate`, `ipam` or `runtimeConfig` nested past MAX_RENDERED_DEPTH. */
export function checkRenderedDepth(conf: Pick<FlannelConf, 'delegate' | 'ipam' | 'runtimeConfig'>): void {
  for (const key of ['delegate', 'ipam', 'runtimeConfig'] as const) {
    if (valueDepth(conf[key], MAX_RENDERED_DEPTH) > MAX_RENDERED_DEPTH) {
      throw new CniError(CniCode.InvalidNetworkConfig, `'${key}' is nested deeper than ${MAX_RENDERED_DEPTH} levels`);
    }
  }
}

/** The reference's checks on `delegate` (cmdAdd), with its messages; code 7. */
export function checkDelegate(delegate: JsonObject | undefined): void {
  if (delegate === undefined) return;
  if ('type' in delegate && typeof delegate['type'] !== 'string') {
    throw new CniError(CniCode.InvalidNetworkConfig, "'delegate' dictionary, if present, must have (string) 'type' field");
  }
  if ('name' in delegate) throw new CniError(CniCode.InvalidNetworkConfig, "'delegate' dictionary must not have 'name' field, it'll be set by flannel");
  if ('ipam' in delegate) throw new CniError(CniCode.InvalidNetworkConfig, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel");
}
