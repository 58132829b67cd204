/**
 * Network configuration: the keys every plugin shares, lenient key matching
 * (Go's encoding/json matches object keys case-insensitively, and runtimes rely
 * on it: containerd sends `HostPort`, `IngressRate`), and schema validation
 * through validators that scripts/gen-validators.mjs compiles at build time.
 */
import { CniCode, CniError } from './errors.ts';
import type { DNS } from './types/current.ts';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The keys the protocol layer itself reads; everything else is preserved untouched. */
export interface NetConf extends JsonObject {
  cniVersion: string;
  name: string;
  type: string;
  ipam?: JsonObject & { type?: string };
  dns?: DNS;
  runtimeConfig?: JsonObject;
  args?: JsonObject;
  prevResult?: unknown;
  capabilities?: JsonObject;
}

/** The subset of JSON Schema that key canonicalization walks. */
export interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  [key: string]: unknown;
}

/**
 * A copy of `value` whose keys that match a schema property case-insensitively
 * carry the schema's spelling, recursively (objects and arrays the schema
 * describes are copied; `value` itself is never changed). An exact match
 * always wins; unknown keys stay, their values shared with the original.
 */
export function canonicalizeKeys<T>(value: T, schema: SchemaNode | undefined): T;
export function canonicalizeKeys(value: unknown, schema: SchemaNode | undefined): unknown {
  if (schema === undefined) return value;
  if (Array.isArray(value)) {
    const items = schema.items;
    const list: unknown[] = value;
    return items === undefined ? list : list.map((item) => canonicalizeKeys(item, items));
  }
  if (!isObject(value)) return value;
  const props = schema.properties ?? {};
  const byLower = new Map<string, string>();
  for (const k of Object.keys(props)) byLower.set(k.toLowerCase(), k);
  const extra = isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    let name = key;
    if (!(key in props)) {
      const canonical = byLower.get(key.toLowerCase());
      if (canonical !== undefined && !(canonical in value)) name = canonical;
    }
    const sub = name in props ? props[name] : extra;
    out[name] = canonicalizeKeys(v, sub);
  }
  return out;
}

/** What an ajv standalone validator looks like from the outside. */
export interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ReadonlyArray<{ instancePath: string; message?: string; params?: Record<string, unknown>; keyword: string }> | null;
}

function describeValue(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** One JSON Pointer segment as the key it names (`cni.dev~1x` → `cni.dev/x`). */
function unescapePointer(raw: string): string {
  return raw.replace(/~1/g, '/').replace(/~0/g, '~');
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const raw of pointer.split('/').slice(1)) {
    const part = unescapePointer(raw);
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = cur[part];
    else return undefined;
  }
  return cur;
}

/**
 * Canonicalizes keys, then validates; a failure is code 7 naming the key and
 * the value, e.g. `invalid network config: "mtu" must be integer, got "abc"`.
 */
export function validateConf<T extends JsonObject>(given: JsonObject, schema: SchemaNode, validate: CompiledValidator): T {
  const conf = canonicalizeKeys(given, schema);
  if (validate(conf)) return conf as T;
  const first = validate.errors?.[0];
  if (first === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'invalid network config');
  let path = first.instancePath.split('/').slice(1).map(unescapePointer).join('.');
  let value = valueAt(conf, first.instancePath);
  if (first.keyword === 'required' && typeof first.params?.['missingProperty'] === 'string') {
    path = path === '' ? first.params['missingProperty'] : `${path}.${first.params['missingProperty']}`;
    throw new CniError(CniCode.InvalidNetworkConfig, `invalid network config: "${path}" is required`);
  }
  if (first.keyword === 'additionalProperties' && typeof first.params?.['additionalProperty'] === 'string') {
    const extra = first.params['additionalProperty'];
    path = path === '' ? extra : `${path}.${extra}`;
    value = valueAt(conf, `${first.instancePath}/${extra}`);
  }
  const key = path === '' ? '(top level)' : path;
  throw new CniError(CniCode.InvalidNetworkConfig, `invalid network config: "${key}" ${first.message ?? 'is invalid'}, got ${describeValue(value)}`);
}
