/**
 * Pieces every result version shares: reading fields out of untrusted JSON
 * (unknown → checked value, a failure is a code-6 error naming the field),
 * IP/CIDR parsing with the canonical text the Go reference would print, and
 * the route and DNS objects, which all versions share (Go's types.Route and
 * types.DNS).
 *
 * Go's encoding/json decides what "absent" means on the wire: null leaves a
 * field at its zero value, and omitempty drops zero values when printing. So
 * here null reads as absent everywhere, "" reads as absent for optional strings
 * and IPs, and 0 reads as absent for route/interface mtu, advmss and priority
 * (plain ints in Go), but not for route table and scope (pointers in Go, so a 0
 * is printed).
 */
import { formatIp, parseIpAsWritten } from '../../ip.ts';
import { CniCode, CniError } from '../errors.ts';
import { type JsonObject, isObject } from '../conf.ts';
import type { DNS, Route } from './current.ts';

export type { JsonObject };

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The code-6 error for one field of a result: `invalid result: "ips[0].address" must be …, got …`. */
export function badField(path: string, expected: string, got: unknown): CniError {
  const where = path === '' ? 'the result' : JSON.stringify(path);
  return new CniError(CniCode.DecodingFailure, `invalid result: ${where} must be ${expected}, got ${describe(got)}`);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The top level of a result: a JSON object. */
export function asObject(v: unknown, path: string): JsonObject {
  if (!isObject(v)) throw badField(path, 'an object', v);
  return v;
}

export function optObject(o: JsonObject, key: string, path: string): JsonObject | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return asObject(v, join(path, key));
}

/** An optional array; each element goes through `item` with its own path (`routes[2]`). */
export function optArray<T>(o: JsonObject, key: string, path: string, item: (v: unknown, path: string) => T): T[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const p = join(path, key);
  if (!Array.isArray(v)) throw badField(p, 'an array', v);
  return v.map((el: unknown, i) => item(el, `${p}[${i}]`));
}

export function reqString(o: JsonObject, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw badField(join(path, key), 'a string', v);
  return v;
}

/** An optional string; "" is absent (omitempty). */
export function optString(o: JsonObject, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw badField(join(path, key), 'a string', v);
  return v;
}

/** An optional integer; `zeroIsAbsent` for Go's plain (non-pointer) omitempty ints. */
export function optInt(o: JsonObject, key: string, path: string, zeroIsAbsent: boolean): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw badField(join(path, key), 'an integer', v);
  return zeroIsAbsent && v === 0 ? undefined : v;
}

/** An optional index into another array (Go: *int, so 0 is kept): a non-negative integer. */
export function optIndex(o: JsonObject, key: string, path: string): number | undefined {
  const v = optInt(o, key, path, false);
  if (v !== undefined && v < 0) throw badField(join(path, key), 'a non-negative integer', v);
  return v;
}

function stringArray(o: JsonObject, key: string, path: string): string[] | undefined {
  const arr = optArray(o, key, path, (v, p) => {
    if (typeof v !== 'string') throw badField(p, 'a string', v);
    return v;
  });
  return arr === undefined || arr.length === 0 ? undefined : arr;
}

/**
 * The value with every object's keys in sorted order, recursively: what Go's
 * encoding/json prints for a map[string]interface{} (the 1.x result marshals
 * itself through one).
 */
export function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeysDeep(v[k]);
  return out;
}

// ---------------------------------------------------------------------------
// Addresses

/** The canonical text of an address (RFC 5952 for IPv6, as Go prints it); undefined if not an IP. */
function canonicalIp(s: string): string | undefined {
  const ip = parseIpAsWritten(s);
  if (ip === undefined) return undefined;
  return ip.family === 4 ? s : formatIp(ip);
}

function isIPv4(s: string): boolean {
  return parseIpAsWritten(s)?.family === 4;
}

/** A bare IP address (Go net.IP), canonicalised. */
export function parseIp(s: string, path: string): string {
  const ip = canonicalIp(s);
  if (ip === undefined) throw badField(path, 'an IP address', s);
  return ip;
}

/** An address with its prefix length, "10.1.0.5/16" (Go types.IPNet: host bits are kept), canonicalised. */
export function parseCidr(s: string, path: string): string {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? undefined : canonicalIp(s.slice(0, slash));
  const prefix = s.slice(slash + 1);
  if (ip === undefined || !/^\d+$/.test(prefix) || Number(prefix) > (isIPv4(ip) ? 32 : 128)) {
    throw badField(path, 'an address with a prefix length such as "10.1.0.5/16"', s);
  }
  return `${ip}/${Number(prefix)}`;
}

export function reqCidr(o: JsonObject, key: string, path: string): string {
  return parseCidr(reqString(o, key, path), join(path, key));
}

/** An optional IP; "" is absent (Go's net.IP decodes "" as nil). */
export function optIp(o: JsonObject, key: string, path: string): string | undefined {
  const s = optString(o, key, path);
  return s === undefined ? undefined : parseIp(s, join(path, key));
}

/**
 * Whether an address or CIDR is IPv4, as Go's `IP.To4() != nil` decides the
 * family when converting. Anything else counts as IPv6, as there.
 */
export function isV4(addressOrCidr: string): boolean {
  const slash = addressOrCidr.indexOf('/');
  return isIPv4(slash < 0 ? addressOrCidr : addressOrCidr.slice(0, slash));
}

// ---------------------------------------------------------------------------
// Routes and DNS (the same in every version)

export function parseRoute(v: unknown, path: string): Route {
  const o = asObject(v, path);
  const route: Route = { dst: reqCidr(o, 'dst', path) };
  const gw = optIp(o, 'gw', path);
  if (gw !== undefined) route.gw = gw;
  const mtu = optInt(o, 'mtu', path, true);
  if (mtu !== undefined) route.mtu = mtu;
  const advmss = optInt(o, 'advmss', path, true);
  if (advmss !== undefined) route.advmss = advmss;
  const priority = optInt(o, 'priority', path, true);
  if (priority !== undefined) route.priority = priority;
  const table = optInt(o, 'table', path, false);
  if (table !== undefined) route.table = table;
  const scope = optInt(o, 'scope', path, false);
  if (scope !== undefined) route.scope = scope;
  return route;
}

/** A route as Go prints it: dst, gw, mtu, advmss, priority, table, scope, empty ones left out. */
export function encodeRoute(r: Route): JsonObject {
  const out: JsonObject = { dst: r.dst };
  if (r.gw !== undefined && r.gw !== '') out['gw'] = r.gw;
  if (r.mtu !== undefined && r.mtu !== 0) out['mtu'] = r.mtu;
  if (r.advmss !== undefined && r.advmss !== 0) out['advmss'] = r.advmss;
  if (r.priority !== undefined && r.priority !== 0) out['priority'] = r.priority;
  if (r.table !== undefined) out['table'] = r.table;
  if (r.scope !== undefined) out['scope'] = r.scope;
  return out;
}

/** A copy of the route with the given fields only (0.1/0.2 keep dst and gw). */
export function dstGwOnly(r: Route): Route {
  return r.gw === undefined ? { dst: r.dst } : { dst: r.dst, gw: r.gw };
}

export function copyRoute(r: Route): Route {
  return { ...r };
}

export function parseDns(o: JsonObject, key: string, path: string): DNS {
  const d = optObject(o, key, path);
  const dns: DNS = {};
  if (d === undefined) return dns;
  const p = join(path, key);
  const nameservers = stringArray(d, 'nameservers', p);
  if (nameservers !== undefined) dns.nameservers = nameservers;
  const domain = optString(d, 'domain', p);
  if (domain !== undefined) dns.domain = domain;
  const search = stringArray(d, 'search', p);
  if (search !== undefined) dns.search = search;
  const options = stringArray(d, 'options', p);
  if (options !== undefined) dns.options = options;
  return dns;
}

/** DNS as Go prints it: nameservers, domain, search, options, empty ones left out (so maybe `{}`). */
export function encodeDns(d: DNS | undefined): JsonObject {
  const out: JsonObject = {};
  if (d === undefined) return out;
  if (d.nameservers !== undefined && d.nameservers.length > 0) out['nameservers'] = [...d.nameservers];
  if (d.domain !== undefined && d.domain !== '') out['domain'] = d.domain;
  if (d.search !== undefined && d.search.length > 0) out['search'] = [...d.search];
  if (d.options !== undefined && d.options.length > 0) out['options'] = [...d.options];
  return out;
}

export function copyDns(d: DNS | undefined): DNS {
  const out: DNS = {};
  if (d === undefined) return out;
  if (d.nameservers !== undefined) out.nameservers = [...d.nameservers];
  if (d.domain !== undefined) out.domain = d.domain;
  if (d.search !== undefined) out.search = [...d.search];
  if (d.options !== undefined) out.options = [...d.options];
  return out;
}

export function isDnsEmpty(d: DNS | undefined): boolean {
  return Object.keys(encodeDns(d)).length === 0;
}
