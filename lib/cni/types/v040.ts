/**
 * Results of spec 0.3.0, 0.3.1 and 0.4.0 (Go pkg/types/040): interfaces, ips
 * with a required `version` ("4"/"6"), routes and dns. `dns` is always printed
 * (`{}` when empty: the Go type has no custom marshaller). Interfaces know only
 * name, mac and sandbox; routes are the shared route type, so 1.1-only route
 * keys survive a trip through 0.4.0.
 */
import type { DNS, IPConfig, Result, Route } from './current.ts';
import {
  type JsonObject,
  asObject,
  badField,
  copyDns,
  copyRoute,
  encodeDns,
  encodeRoute,
  isDnsEmpty,
  isV4,
  optArray,
  optIndex,
  optIp,
  optString,
  parseDns,
  parseRoute,
  reqCidr,
  reqString,
} from './wire.ts';

export interface Interface040 {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface IPConfig040 {
  /** "4" or "6". */
  version: '4' | '6';
  /** Index into `interfaces`. */
  interface?: number;
  /** CIDR notation. */
  address: string;
  gateway?: string;
}

export interface Result040 {
  cniVersion: string;
  interfaces?: Interface040[];
  ips?: IPConfig040[];
  routes?: Route[];
  dns: DNS;
}

function parseInterface(v: unknown, path: string): Interface040 {
  const o = asObject(v, path);
  const intf: Interface040 = { name: reqString(o, 'name', path) };
  const mac = optString(o, 'mac', path);
  if (mac !== undefined) intf.mac = mac;
  const sandbox = optString(o, 'sandbox', path);
  if (sandbox !== undefined) intf.sandbox = sandbox;
  return intf;
}

function familyOf(address: string): '4' | '6' {
  return isV4(address) ? '4' : '6';
}

function parseIpConfig(v: unknown, path: string): IPConfig040 {
  const o = asObject(v, path);
  const address = reqCidr(o, 'address', path);
  // Required by the spec; Go does not check it. Absent → taken from the address.
  const given = optString(o, 'version', path);
  if (given !== undefined && given !== '4' && given !== '6') throw badField(`${path}.version`, '"4" or "6"', given);
  const ip: IPConfig040 = { version: given ?? familyOf(address), address };
  const idx = optIndex(o, 'interface', path);
  if (idx !== undefined) ip.interface = idx;
  const gateway = optIp(o, 'gateway', path);
  if (gateway !== undefined) ip.gateway = gateway;
  return ip;
}

/** Reads a 0.3.x/0.4.0 result (unknown keys, e.g. interface mtu, ignored); `version` is stamped on it. */
export function parse040(o: JsonObject, version: string): Result040 {
  const r: Result040 = { cniVersion: version, dns: parseDns(o, 'dns', '') };
  const interfaces = optArray(o, 'interfaces', '', parseInterface);
  if (interfaces !== undefined && interfaces.length > 0) r.interfaces = interfaces;
  const ips = optArray(o, 'ips', '', parseIpConfig);
  if (ips !== undefined && ips.length > 0) r.ips = ips;
  const routes = optArray(o, 'routes', '', parseRoute);
  if (routes !== undefined && routes.length > 0) r.routes = routes;
  return r;
}

function encodeInterface(i: Interface040): JsonObject {
  const out: JsonObject = { name: i.name };
  if (i.mac !== undefined && i.mac !== '') out['mac'] = i.mac;
  if (i.sandbox !== undefined && i.sandbox !== '') out['sandbox'] = i.sandbox;
  return out;
}

function encodeIpConfig(ip: IPConfig040): JsonObject {
  const out: JsonObject = { version: ip.version };
  if (ip.interface !== undefined) out['interface'] = ip.interface;
  out['address'] = ip.address;
  if (ip.gateway !== undefined && ip.gateway !== '') out['gateway'] = ip.gateway;
  return out;
}

/** The JSON Go prints for a 0.3.x/0.4.0 result: cniVersion, interfaces, ips, routes, dns (always). */
export function encode040(r: Result040): JsonObject {
  const out: JsonObject = { cniVersion: r.cniVersion };
  if (r.interfaces !== undefined && r.interfaces.length > 0) out['interfaces'] = r.interfaces.map(encodeInterface);
  if (r.ips !== undefined && r.ips.length > 0) out['ips'] = r.ips.map(encodeIpConfig);
  if (r.routes !== undefined && r.routes.length > 0) out['routes'] = r.routes.map(encodeRoute);
  out['dns'] = encodeDns(r.dns);
  return out;
}

/** 0.3.0 ↔ 0.3.1 ↔ 0.4.0: a field-for-field copy stamped with `version`. */
export function copy040(r: Result040, version: string): Result040 {
  const out: Result040 = { cniVersion: version, dns: copyDns(r.dns) };
  if (r.interfaces !== undefined) out.interfaces = r.interfaces.map((i) => ({ ...i }));
  if (r.ips !== undefined) out.ips = r.ips.map((ip) => ({ ...ip }));
  if (r.routes !== undefined) out.routes = r.routes.map(copyRoute);
  return out;
}

/** 1.x → 0.3.x/0.4.0: `version` from the address family; interfaces lose mtu/socketPath/pciID; routes kept whole. */
export function from100(r: Result, version: string): Result040 {
  const out: Result040 = { cniVersion: version, dns: copyDns(r.dns) };
  if (r.interfaces !== undefined) {
    out.interfaces = r.interfaces.map((i) => {
      const intf: Interface040 = { name: i.name };
      if (i.mac !== undefined) intf.mac = i.mac;
      if (i.sandbox !== undefined) intf.sandbox = i.sandbox;
      return intf;
    });
  }
  if (r.ips !== undefined) {
    out.ips = r.ips.map((ip) => {
      const c: IPConfig040 = { version: familyOf(ip.address), address: ip.address };
      if (ip.interface !== undefined) c.interface = ip.interface;
      if (ip.gateway !== undefined) c.gateway = ip.gateway;
      return c;
    });
  }
  if (r.routes !== undefined) out.routes = r.routes.map(copyRoute);
  return out;
}

/** 0.3.x/0.4.0 → 1.x: `version` dropped, the rest copied. */
export function to100(r: Result040, version: string): Result {
  const out: Result = { cniVersion: version };
  if (r.interfaces !== undefined) out.interfaces = r.interfaces.map((i) => ({ ...i }));
  if (r.ips !== undefined) {
    out.ips = r.ips.map((ip) => {
      const c: IPConfig = { address: ip.address };
      if (ip.interface !== undefined) c.interface = ip.interface;
      if (ip.gateway !== undefined) c.gateway = ip.gateway;
      return c;
    });
  }
  if (r.routes !== undefined) out.routes = r.routes.map(copyRoute);
  if (!isDnsEmpty(r.dns)) out.dns = copyDns(r.dns);
  return out;
}
