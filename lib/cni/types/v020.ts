/**
 * Results of spec 0.1.0 and 0.2.0 (Go pkg/types/020): at most one address per
 * family (`ip4`, `ip6`), each with its own routes; no interfaces. `dns` is
 * always printed (`{}` when empty). A result without `cniVersion` is 0.1.0.
 */
import type { DNS, Route } from './current.ts';
import type { IPConfig040, Result040 } from './v040.ts';
import { CniCode, CniError } from '../errors.ts';
import {
  type JsonObject,
  copyDns,
  copyRoute,
  dstGwOnly,
  encodeDns,
  encodeRoute,
  isV4,
  optArray,
  optIp,
  optObject,
  parseDns,
  parseRoute,
  reqCidr,
} from './wire.ts';

export interface IPConfig020 {
  /** CIDR notation, "10.1.0.5/16". */
  ip: string;
  gateway?: string;
  routes?: Route[];
}

export interface Result020 {
  cniVersion: string;
  ip4?: IPConfig020;
  ip6?: IPConfig020;
  dns: DNS;
}

function parseIpConfig(o: JsonObject, key: 'ip4' | 'ip6'): IPConfig020 | undefined {
  const c = optObject(o, key, '');
  if (c === undefined) return undefined;
  const ip: IPConfig020 = { ip: reqCidr(c, 'ip', key) };
  const gateway = optIp(c, 'gateway', key);
  if (gateway !== undefined) ip.gateway = gateway;
  const routes = optArray(c, 'routes', key, parseRoute);
  if (routes !== undefined && routes.length > 0) ip.routes = routes;
  return ip;
}

/** Reads a 0.1.0/0.2.0 result (unknown keys ignored); `version` is stamped on it. */
export function parse020(o: JsonObject, version: string): Result020 {
  const r: Result020 = { cniVersion: version, dns: parseDns(o, 'dns', '') };
  const ip4 = parseIpConfig(o, 'ip4');
  if (ip4 !== undefined) r.ip4 = ip4;
  const ip6 = parseIpConfig(o, 'ip6');
  if (ip6 !== undefined) r.ip6 = ip6;
  return r;
}

function encodeIpConfig(c: IPConfig020): JsonObject {
  const out: JsonObject = { ip: c.ip };
  if (c.gateway !== undefined && c.gateway !== '') out['gateway'] = c.gateway;
  if (c.routes !== undefined && c.routes.length > 0) out['routes'] = c.routes.map(encodeRoute);
  return out;
}

/** The JSON Go prints for a 0.1.0/0.2.0 result: cniVersion, ip4, ip6, dns (always). */
export function encode020(r: Result020): JsonObject {
  const out: JsonObject = { cniVersion: r.cniVersion };
  if (r.ip4 !== undefined) out['ip4'] = encodeIpConfig(r.ip4);
  if (r.ip6 !== undefined) out['ip6'] = encodeIpConfig(r.ip6);
  out['dns'] = encodeDns(r.dns);
  return out;
}

function copyIpConfig(c: IPConfig020): IPConfig020 {
  const out: IPConfig020 = { ip: c.ip };
  if (c.gateway !== undefined) out.gateway = c.gateway;
  if (c.routes !== undefined) out.routes = c.routes.map(copyRoute);
  return out;
}

/** 0.1.0 ↔ 0.2.0: a copy stamped with `version`. */
export function copy020(r: Result020, version: string): Result020 {
  const out: Result020 = { cniVersion: version, dns: copyDns(r.dns) };
  if (r.ip4 !== undefined) out.ip4 = copyIpConfig(r.ip4);
  if (r.ip6 !== undefined) out.ip6 = copyIpConfig(r.ip6);
  return out;
}

/**
 * 0.3.x/0.4.0 → 0.1/0.2: the first IPv4 and the first IPv6 address (by their
 * `version`); each route goes to the family of its destination keeping dst and
 * gw only, and is dropped when that family has no address. No address at all
 * cannot be expressed: `cannot convert: no valid IP addresses` (a plain error
 * in Go, so code 999).
 */
export function from040(r: Result040, version: string): Result020 {
  const out: Result020 = { cniVersion: version, dns: copyDns(r.dns) };
  for (const ip of r.ips ?? []) {
    if (ip.version === '4' && out.ip4 === undefined) out.ip4 = ipConfigFrom040(ip);
    else if (ip.version === '6' && out.ip6 === undefined) out.ip6 = ipConfigFrom040(ip);
    if (out.ip4 !== undefined && out.ip6 !== undefined) break;
  }
  for (const route of r.routes ?? []) {
    const target = isV4(route.dst) ? out.ip4 : out.ip6;
    if (target !== undefined) (target.routes ??= []).push(dstGwOnly(route));
  }
  if (out.ip4 === undefined && out.ip6 === undefined) {
    throw new CniError(CniCode.Internal, 'cannot convert: no valid IP addresses');
  }
  return out;
}

function ipConfigFrom040(ip: IPConfig040): IPConfig020 {
  return ip.gateway === undefined ? { ip: ip.address } : { ip: ip.address, gateway: ip.gateway };
}

/** 0.1/0.2 → 0.3.x/0.4.0: ip4 then ip6 become `ips` (no interface), their routes concatenated. */
export function to040(r: Result020, version: string): Result040 {
  const out: Result040 = { cniVersion: version, dns: copyDns(r.dns) };
  const ips: IPConfig040[] = [];
  const routes: Route[] = [];
  for (const [family, c] of [['4', r.ip4], ['6', r.ip6]] as const) {
    if (c === undefined) continue;
    const ip: IPConfig040 = { version: family, address: c.ip };
    if (c.gateway !== undefined) ip.gateway = c.gateway;
    ips.push(ip);
    for (const route of c.routes ?? []) routes.push(copyRoute(route));
  }
  if (ips.length > 0) out.ips = ips;
  if (routes.length > 0) out.routes = routes;
  return out;
}
