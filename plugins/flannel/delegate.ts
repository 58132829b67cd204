/**
 * The delegate config, built exactly as the reference builds it
 * (flannel_linux.go doCmdAdd and getDelegateIPAM):
 *
 *   the user's `delegate` map as is, then `runtimeConfig` (flannel's, when it has one),
 *   `name`, `type` (default "bridge"), `ipMasq` (default !FLANNEL_IPMASQ),
 *   `mtu` (default FLANNEL_MTU), `isGateway` (default true, bridge only),
 *   `cniVersion`, and `ipam` = the user's ipam with `type` defaulting to
 *   "host-local", `ranges` set to the node subnet per family (IPv4 first) and
 *   `routes` = the user's routes followed by one route per flannel network.
 *
 * `marshalDelegate` prints it as Go's json.Marshal prints a map (keys sorted,
 * compact, `<>&` escaped; the entries of ipam.routes in struct field order,
 * as they are types.Route values there), so a config saved by us is
 * byte-for-byte what the Go plugin would have saved.
 */
import { type JsonObject, isObject } from '../../lib/cni/conf.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { type IPNet, formatCidr, formatIp, parseCidr, parseIp } from '../../lib/ip.ts';
import { type FlannelConf, checkDelegate, checkRenderedDepth } from './config.ts';
import type { SubnetEnv } from './subnet-env.ts';

function has(o: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

function routesError(detail: string): CniError {
  return new CniError(CniCode.InvalidNetworkConfig, `failed to assemble Delegate IPAM: failed to read IPAM routes: failed to parse ipam.routes: ${detail}`);
}

/** A key of a Go struct field: exact match first, then case-insensitive (encoding/json). */
function field(o: JsonObject, name: string): unknown {
  if (has(o, name)) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

function intField(o: JsonObject, name: string, where: string): number | null | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return v;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw routesError(`${where}.${name} must be an integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * One route as Go's types.Route decodes and re-encodes it: known keys only,
 * `dst` keeps host bits, zero mtu/advmss/priority and a null table/scope left
 * out. Stricter than Go in one way: a route without `dst` is refused (Go
 * would pass "<nil>" on to the IPAM plugin).
 */
function parseRoute(v: unknown, i: number): JsonObject {
  const where = `routes[${i}]`;
  if (!isObject(v)) throw routesError(`${where} must be an object, got ${JSON.stringify(v)}`);
  const dst = field(v, 'dst');
  if (typeof dst !== 'string') throw routesError(`${where}.dst must be a CIDR string, got ${JSON.stringify(dst)}`);
  const dstNet = parseCidr(dst);
  if (dstNet === undefined) throw routesError(`${where}.dst: invalid CIDR address: ${dst}`);
  const out: JsonObject = { dst: formatCidr(dstNet) };
  const gw = field(v, 'gw');
  if (gw !== undefined && gw !== null && gw !== '') {
    const ip = typeof gw === 'string' ? parseIp(gw) : undefined;
    if (ip === undefined) throw routesError(`${where}.gw: invalid IP address: ${typeof gw === 'string' ? gw : JSON.stringify(gw)}`);
    out['gw'] = formatIp(ip);
  }
  for (const k of ['mtu', 'advmss', 'priority'] as const) {
    const n = intField(v, k, where);
    if (n !== undefined && n !== null && n !== 0) out[k] = n;
  }
  for (const k of ['table', 'scope'] as const) {
    const n = intField(v, k, where);
    if (n !== undefined && n !== null) out[k] = n;
  }
  return out;
}

function netRoute(n: IPNet): JsonObject {
  return { dst: formatCidr(n) };
}

/** The user's ipam.routes (absent or null: none), then one route per flannel network, IPv4 first. */
function delegateRoutes(ipam: JsonObject | undefined, env: SubnetEnv): JsonObject[] {
  const routes: JsonObject[] = [];
  if (ipam !== undefined && has(ipam, 'routes')) {
    const raw = ipam['routes'];
    if (raw !== null) {
      if (!Array.isArray(raw)) throw routesError(`routes must be a list, got ${JSON.stringify(raw)}`);
      raw.forEach((r, i) => routes.push(parseRoute(r, i)));
    }
  }
  for (const n of env.networks) routes.push(netRoute(n));
  for (const n of env.ipv6Networks) routes.push(netRoute(n));
  return routes;
}

/** getDelegateIPAM. */
export function delegateIpam(ipam: JsonObject | undefined, env: SubnetEnv): JsonObject {
  // replaced below, but a value that is no list is a config mistake (the reference drops it silently)
  const given = ipam?.['ranges'];
  if (given !== undefined && given !== null && !Array.isArray(given)) {
    throw new CniError(CniCode.InvalidNetworkConfig, `invalid network config: "ipam.ranges" must be a list (flannel sets it to the node's subnet), got ${JSON.stringify(given)}`);
  }
  const out: JsonObject = structuredClone(ipam ?? {});
  if (!has(out, 'type')) out['type'] = 'host-local';
  const ranges: JsonObject[][] = [];
  if (env.subnet !== undefined) ranges.push([{ subnet: formatCidr(env.subnet) }]);
  if (env.ipv6Subnet !== undefined) ranges.push([{ subnet: formatCidr(env.ipv6Subnet) }]);
  out['ranges'] = ranges;
  out['routes'] = delegateRoutes(ipam, env);
  return out;
}

/** doCmdAdd: the complete delegate config for `conf` on a node whose lease is `env`. Throws code 7 for a bad `delegate`/`ipam`. */
export function buildDelegate(conf: FlannelConf, env: SubnetEnv): JsonObject {
  checkRenderedDepth(conf);
  checkDelegate(conf.delegate);
  const d: JsonObject = structuredClone(conf.delegate ?? {});
  if (conf.runtimeConfig !== undefined) d['runtimeConfig'] = structuredClone(conf.runtimeConfig);
  d['name'] = conf.name;
  if (!has(d, 'type')) d['type'] = 'bridge';
  if (!has(d, 'ipMasq')) d['ipMasq'] = !env.ipMasq; // if flanneld does not masquerade, the delegate must
  if (!has(d, 'mtu')) d['mtu'] = env.mtu;
  if (d['type'] === 'bridge' && !has(d, 'isGateway')) d['isGateway'] = true;
  if (conf.cniVersionGiven) d['cniVersion'] = conf.cniVersion;
  d['ipam'] = delegateIpam(conf.ipam, env);
  // flannel's own logFile/logLevel reach the delegate (and through its stdin, its IPAM) unless it has its own
  for (const [k, v] of Object.entries(conf.logKeys ?? {})) if (!has(d, k)) d[k] = v;
  return d;
}

/** The delegate's plugin type (buildDelegate guarantees a string; a saved file may not have one). */
export function delegateType(d: JsonObject): string | undefined {
  const t = d['type'];
  return typeof t === 'string' && t !== '' ? t : undefined;
}

/** Go's json.Marshal string escaping on top of JSON's: <, >, &, U+2028, U+2029. */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Where Go prints a struct (field order) rather than a map (sorted keys): the entries of ipam.routes. */
function isRouteEntry(path: readonly string[]): boolean {
  return path.length === 3 && path[0] === 'ipam' && path[1] === 'routes';
}

function goMarshal(v: unknown, path: readonly string[]): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x, i) => goMarshal(x, [...path, String(i)])).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (!isRouteEntry(path)) keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${goString(k)}:${goMarshal(v[k], [...path, k])}`).join(',')}}`;
  }
  return 'null';
}

/** The bytes the delegate gets on stdin and the saved file holds. */
export function marshalDelegate(d: JsonObject): Buffer {
  return Buffer.from(goMarshal(d, []));
}

/** The node subnets a delegate config's ipam.ranges name (for CHECK); undefined when it has none we can read. */
export function rangeSubnets(d: JsonObject): string[] | undefined {
  const ipam = d['ipam'];
  if (!isObject(ipam) || !Array.isArray(ipam['ranges'])) return undefined;
  const out: string[] = [];
  for (const set of ipam['ranges'] as unknown[]) {
    if (!Array.isArray(set)) return undefined;
    for (const r of set as unknown[]) {
      if (!isObject(r) || typeof r['subnet'] !== 'string') return undefined;
      const n = parseCidr(r['subnet']);
      if (n === undefined) return undefined;
      out.push(formatCidr(n));
    }
  }
  return out;
}
