/**
 * Results of spec 1.0.0 and 1.1.0 (Go pkg/types/100, which serves both): the
 * shape of lib/cni/types/current.ts on the wire. 1.0.0 dropped `ips[].version`;
 * 1.1.0 added interface mtu/socketPath/pciID and route mtu/advmss/priority/
 * table/scope, all optional, so one reader and one writer serve both (the
 * reference converts 1.1.0 ↔ 1.0.0 as a pure copy: 1.1 fields are not stripped
 * when printing 1.0.0).
 */
import type { IPConfig, Interface, Result } from './current.ts';
import {
  type JsonObject,
  asObject,
  copyDns,
  copyRoute,
  encodeDns,
  encodeRoute,
  isDnsEmpty,
  optArray,
  optIndex,
  optInt,
  optIp,
  optString,
  parseDns,
  parseRoute,
  reqCidr,
  reqString,
  sortKeysDeep,
} from './wire.ts';

function parseInterface(v: unknown, path: string): Interface {
  const o = asObject(v, path);
  const intf: Interface = { name: reqString(o, 'name', path) };
  const mac = optString(o, 'mac', path);
  if (mac !== undefined) intf.mac = mac;
  const mtu = optInt(o, 'mtu', path, true);
  if (mtu !== undefined) intf.mtu = mtu;
  const sandbox = optString(o, 'sandbox', path);
  if (sandbox !== undefined) intf.sandbox = sandbox;
  const socketPath = optString(o, 'socketPath', path);
  if (socketPath !== undefined) intf.socketPath = socketPath;
  const pciID = optString(o, 'pciID', path);
  if (pciID !== undefined) intf.pciID = pciID;
  return intf;
}

function parseIpConfig(v: unknown, path: string): IPConfig {
  const o = asObject(v, path);
  const ip: IPConfig = { address: reqCidr(o, 'address', path) };
  const gateway = optIp(o, 'gateway', path);
  if (gateway !== undefined) ip.gateway = gateway;
  const idx = optIndex(o, 'interface', path);
  if (idx !== undefined) ip.interface = idx;
  return ip;
}

/** Reads a 1.0.0/1.1.0 result (unknown keys ignored); `version` is stamped on it. */
export function parse100(o: JsonObject, version: string): Result {
  const r: Result = { cniVersion: version };
  const interfaces = optArray(o, 'interfaces', '', parseInterface);
  if (interfaces !== undefined && interfaces.length > 0) r.interfaces = interfaces;
  const ips = optArray(o, 'ips', '', parseIpConfig);
  if (ips !== undefined && ips.length > 0) r.ips = ips;
  const routes = optArray(o, 'routes', '', parseRoute);
  if (routes !== undefined && routes.length > 0) r.routes = routes;
  const dns = parseDns(o, 'dns', '');
  if (!isDnsEmpty(dns)) r.dns = dns;
  return r;
}

function encodeInterface(i: Interface): JsonObject {
  const out: JsonObject = { name: i.name };
  if (i.mac !== undefined && i.mac !== '') out['mac'] = i.mac;
  if (i.mtu !== undefined && i.mtu !== 0) out['mtu'] = i.mtu;
  if (i.sandbox !== undefined && i.sandbox !== '') out['sandbox'] = i.sandbox;
  if (i.socketPath !== undefined && i.socketPath !== '') out['socketPath'] = i.socketPath;
  if (i.pciID !== undefined && i.pciID !== '') out['pciID'] = i.pciID;
  return out;
}

function encodeIpConfig(ip: IPConfig): JsonObject {
  const out: JsonObject = {};
  if (ip.interface !== undefined) out['interface'] = ip.interface;
  out['address'] = ip.address;
  if (ip.gateway !== undefined && ip.gateway !== '') out['gateway'] = ip.gateway;
  return out;
}

/**
 * The JSON Go prints for a 1.x result: empty fields (dns too) left out, and
 * every object's keys sorted, because the reference's Result.MarshalJSON
 * (added with the empty-dns fix, cni ≥ 1.2) re-marshals through a
 * map[string]interface{}: cniVersion, dns, interfaces, ips, routes; routes as
 * advmss, dst, gw, mtu, priority, scope, table.
 */
export function encode100(r: Result): JsonObject {
  const out: JsonObject = { cniVersion: r.cniVersion };
  if (r.interfaces !== undefined && r.interfaces.length > 0) out['interfaces'] = r.interfaces.map(encodeInterface);
  if (r.ips !== undefined && r.ips.length > 0) out['ips'] = r.ips.map(encodeIpConfig);
  if (r.routes !== undefined && r.routes.length > 0) out['routes'] = r.routes.map(encodeRoute);
  if (!isDnsEmpty(r.dns)) out['dns'] = encodeDns(r.dns);
  const sorted: JsonObject = {};
  for (const k of Object.keys(out).sort()) sorted[k] = sortKeysDeep(out[k]);
  return sorted;
}

/** A deep copy stamped with `version` (1.0.0 ↔ 1.1.0 is a copy). */
export function copy100(r: Result, version: string): Result {
  const out: Result = { cniVersion: version };
  if (r.interfaces !== undefined) out.interfaces = r.interfaces.map((i) => ({ ...i }));
  if (r.ips !== undefined) out.ips = r.ips.map((ip) => ({ ...ip }));
  if (r.routes !== undefined) out.routes = r.routes.map(copyRoute);
  if (r.dns !== undefined) out.dns = copyDns(r.dns);
  return out;
}
