/**
 * The pure part of the bridge plugin: what to create and configure, computed
 * from the configuration and IPAM's result with no side effects, so that it is
 * unit-tested with tables. host.ts and container.ts carry it out.
 * (The reference's seed of this is calcGateways in bridge.go.)
 */
import type { DNS, IPConfig, Result, Route } from '../../lib/cni/types/current.ts';
import { formatIp, parseIp, type IpFamily } from '../../lib/netlink/ip.ts';
import type { BridgeConfig } from './config.ts';

// ---------------------------------------------------------------- addresses

export interface ParsedIp {
  family: IpFamily;
  /** The address as an integer (32 or 128 bits). */
  value: bigint;
}

export interface ParsedPrefix extends ParsedIp {
  prefixLen: number;
}

const bitsOf = (f: IpFamily): number => (f === 4 ? 32 : 128);

export function ipToBig(text: string): ParsedIp {
  const p = parseIp(text);
  let v = 0n;
  for (const b of p.bytes) v = (v << 8n) | BigInt(b);
  return { family: p.family, value: v };
}

export function bigToIp(family: IpFamily, value: bigint): string {
  const n = bitsOf(family) / 8;
  const bytes = Buffer.alloc(n);
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return formatIp(bytes);
}

/** "10.1.2.3/24" (host bits kept). Throws TypeError on bad text. */
export function parseCidr(text: string): ParsedPrefix {
  const slash = text.indexOf('/');
  if (slash < 0) throw new TypeError(`invalid CIDR address "${text}"`);
  const ip = ipToBig(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const prefixLen = /^\d{1,3}$/.test(lenText) ? Number(lenText) : Number.NaN;
  if (!(prefixLen >= 0 && prefixLen <= bitsOf(ip.family))) throw new TypeError(`invalid CIDR address "${text}"`);
  return { ...ip, prefixLen };
}

function mask(family: IpFamily, prefixLen: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefixLen))) - 1n);
}

export function networkValue(p: ParsedPrefix): bigint {
  return p.value & mask(p.family, p.prefixLen);
}

/** "10.1.2.3/24" → "10.1.2.0/24". */
export function networkCidr(text: string): string {
  const p = parseCidr(text);
  return `${bigToIp(p.family, networkValue(p))}/${p.prefixLen}`;
}

/** Canonical text of "ip/len" (RFC 5952 for IPv6), host bits kept. */
export function canonicalCidr(text: string): string {
  const p = parseCidr(text);
  return `${bigToIp(p.family, p.value)}/${p.prefixLen}`;
}

export function canonicalIp(text: string): string {
  const p = ipToBig(text);
  return bigToIp(p.family, p.value);
}

export function familyOfIp(text: string): IpFamily {
  return ipToBig(text).family;
}

export function prefixContains(net: ParsedPrefix, ip: ParsedIp): boolean {
  return net.family === ip.family && (ip.value & mask(net.family, net.prefixLen)) === networkValue(net);
}

/** The reference's calcGatewayIP: the network address plus one. */
export function defaultGatewayFor(address: string): string {
  const p = parseCidr(address);
  return bigToIp(p.family, networkValue(p) + 1n);
}

export const DEFAULT_DST: Readonly<Record<IpFamily, string>> = { 4: '0.0.0.0/0', 6: '::/0' };

// ---------------------------------------------------------------- veth names

/** The reference's RandomVethName: "veth" + 8 hex digits of 4 random bytes (NetworkManager ignores "veth*"). */
export function randomVethName(random: Buffer): string {
  if (random.length < 4) throw new RangeError('randomVethName needs 4 random bytes');
  return `veth${random.subarray(0, 4).toString('hex')}`;
}

/** A random locally administered unicast MAC from 6 random bytes. */
export function randomMac(random: Buffer): string {
  if (random.length < 6) throw new RangeError('randomMac needs 6 random bytes');
  const b = Buffer.from(random.subarray(0, 6));
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The device that carries the gateway when `vlan` is set: "<bridge>.<vlan>". */
export function vlanGatewayName(bridge: string, vlan: number): string {
  return `${bridge}.${vlan}`;
}

// ---------------------------------------------------------------- gateways and routes

export interface GatewayAddr {
  family: IpFamily;
  /** "10.244.1.1/24": the gateway with the prefix length of the pod's address. */
  cidr: string;
}

export interface AddressPlan {
  /** IPAM's addresses, each with `interface: 2` and, for isGateway, a gateway. */
  ips: IPConfig[];
  /** IPAM's routes plus one default route per family when isDefaultGateway. */
  routes: Route[];
  /** The addresses to put on the bridge (isGateway), per family in result order. */
  gateways: GatewayAddr[];
  /** Families that got a gateway: forwarding is enabled for these. */
  forwardFamilies: IpFamily[];
}

/**
 * calcGateways: every address refers to the container interface (index 2);
 * with isGateway a missing gateway becomes network+1 and is put on the bridge;
 * with isDefaultGateway each family gets a default route through it unless
 * IPAM already returned a default route with a gateway for that family.
 */
export function planAddresses(cfg: Pick<BridgeConfig, 'isGateway' | 'isDefaultGateway'>, ipam: Pick<Result, 'ips' | 'routes'>): AddressPlan {
  const ips: IPConfig[] = [];
  const routes: Route[] = (ipam.routes ?? []).map((r) => ({ ...r }));
  const gateways: GatewayAddr[] = [];
  const defaultFound: Record<IpFamily, boolean> = { 4: false, 6: false };
  for (const orig of ipam.ips ?? []) {
    const ipc: IPConfig = { ...orig, interface: 2 };
    const addr = parseCidr(ipc.address);
    const family = addr.family;
    if (ipc.gateway === undefined && cfg.isGateway) ipc.gateway = defaultGatewayFor(ipc.address);
    if (cfg.isDefaultGateway && !defaultFound[family]) {
      defaultFound[family] = routes.some((r) => r.gw !== undefined && isDefaultDst(r.dst, family));
      if (!defaultFound[family]) {
        const route: Route = { dst: DEFAULT_DST[family] };
        if (ipc.gateway !== undefined) route.gw = ipc.gateway;
        routes.push(route);
        defaultFound[family] = true;
      }
    }
    if (cfg.isGateway && ipc.gateway !== undefined) gateways.push({ family, cidr: `${canonicalIp(ipc.gateway)}/${addr.prefixLen}` });
    ips.push(ipc);
  }
  const forwardFamilies = ([4, 6] as const).filter((f) => gateways.some((g) => g.family === f));
  return { ips, routes, gateways, forwardFamilies };
}

function isDefaultDst(dst: string, family: IpFamily): boolean {
  try {
    const p = parseCidr(dst);
    return p.family === family && p.prefixLen === 0 && p.value === 0n;
  } catch {
    return false;
  }
}

/** A route to add in the container, every field resolved. */
export interface ContainerRoute {
  family: IpFamily;
  dst: string;
  gw?: string;
  priority?: number;
  table?: number;
  scope?: number;
  mtu?: number;
  advmss?: number;
}

/**
 * ConfigureIface's routes: a route without a gateway goes through the first
 * gateway of its family among the addresses (if any). Unlike the reference,
 * the 1.1.0 fields mtu and advmss are applied too, and exact duplicates (for
 * example IPAM's gateway-less default route next to isDefaultGateway's) are
 * added once instead of failing with "file exists".
 */
export function planContainerRoutes(ips: readonly IPConfig[], routes: readonly Route[]): ContainerRoute[] {
  const firstGw: Partial<Record<IpFamily, string>> = {};
  for (const ipc of ips) {
    if (ipc.gateway === undefined) continue;
    const f = familyOfIp(ipc.gateway);
    firstGw[f] ??= ipc.gateway;
  }
  const out: ContainerRoute[] = [];
  const seen = new Set<string>();
  for (const r of routes) {
    const dst = parseCidr(r.dst);
    const route: ContainerRoute = { family: dst.family, dst: `${bigToIp(dst.family, networkValue(dst))}/${dst.prefixLen}` };
    const gw = r.gw ?? firstGw[dst.family];
    if (gw !== undefined) route.gw = canonicalIp(gw);
    if (r.priority !== undefined) route.priority = r.priority;
    if (r.table !== undefined) route.table = r.table;
    if (r.scope !== undefined) route.scope = r.scope;
    if (r.mtu !== undefined && r.mtu !== 0) route.mtu = r.mtu;
    if (r.advmss !== undefined && r.advmss !== 0) route.advmss = r.advmss;
    const key = JSON.stringify(route);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(route);
  }
  return out;
}

// ---------------------------------------------------------------- the gateway address on the bridge

export interface ExistingAddr {
  family: IpFamily;
  /** "ip/len". */
  address: string;
}

export type GatewayAction =
  | { kind: 'present' }
  | { kind: 'add'; remove: string[] }
  | { kind: 'conflict'; existing: string };

/**
 * ensureAddr's decision for one gateway: an identical address is fine; for
 * IPv4 any other address conflicts, for IPv6 only an overlapping prefix does.
 * A conflict is an error unless forceAddress, which removes the old address.
 * Unlike the reference, the other gateways of this same ADD (a second range
 * of the same family) never count as conflicts.
 */
export function gatewayAction(opts: { existing: readonly ExistingAddr[]; gateway: GatewayAddr; force: boolean; ours: readonly GatewayAddr[] }): GatewayAction {
  const want = parseCidr(opts.gateway.cidr);
  const wantText = canonicalCidr(opts.gateway.cidr);
  const ours = new Set(opts.ours.map((g) => canonicalCidr(g.cidr)));
  const remove: string[] = [];
  for (const e of opts.existing) {
    if (e.family !== opts.gateway.family) continue;
    const have = parseCidr(e.address);
    const haveText = canonicalCidr(e.address);
    if (haveText === wantText) return { kind: 'present' };
    if (ours.has(haveText)) continue;
    const conflicts = opts.gateway.family === 4 || prefixContains(have, want) || prefixContains(want, have);
    if (!conflicts) continue;
    if (!opts.force) return { kind: 'conflict', existing: haveText };
    remove.push(haveText);
  }
  return { kind: 'add', remove };
}

// ---------------------------------------------------------------- VLANs

export interface VlanPlan {
  /** Turn vlan_filtering on when the bridge is created. */
  vlanFiltering: boolean;
  /** Remove the port's existing VLAN entries (the default VID 1) first. */
  removeExisting: boolean;
  /** Access VLAN: PVID and egress untagged. */
  pvid: number | undefined;
  /** Trunk VIDs: tagged. */
  tagged: number[];
}

/**
 * The port's VLAN entries as the reference makes them since v1.8.0: `vlan` is
 * the access VLAN, or with `vlanTrunk` the trunk's native VLAN (PVID, egress
 * untagged); a trunk without `vlan` gets native VLAN 1, as before v1.8.0.
 * One difference: a native VID that is also listed in the trunk stays native
 * (the reference's trunk entry, added after it, turns it into a tagged,
 * non-PVID entry, leaving the port without a native VLAN).
 */
export function planVlans(cfg: Pick<BridgeConfig, 'vlan' | 'vlanTrunk' | 'hasTrunk' | 'preserveDefaultVlan'>): VlanPlan {
  const any = cfg.vlan !== 0 || cfg.vlanTrunk.length > 0;
  const pvid = cfg.vlan !== 0 ? cfg.vlan : cfg.vlanTrunk.length > 0 ? 1 : undefined;
  return {
    vlanFiltering: cfg.vlan !== 0 || cfg.hasTrunk,
    removeExisting: any && !cfg.preserveDefaultVlan,
    pvid,
    tagged: cfg.vlanTrunk.filter((v) => v !== pvid),
  };
}

/** Consecutive VIDs as ranges, so that a trunk of 4094 VIDs is a handful of requests. */
export function vidRanges(vids: readonly number[]): { vid: number; vidEnd: number }[] {
  const sorted = [...new Set(vids)].sort((a, b) => a - b);
  const out: { vid: number; vidEnd: number }[] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.vidEnd === v - 1) last.vidEnd = v;
    else out.push({ vid: v, vidEnd: v });
  }
  return out;
}

// ---------------------------------------------------------------- result

/** The `dns` of the result: the configuration's when it sets anything, else IPAM's. */
export function resultDns(confDns: DNS | undefined, ipamDns: DNS | undefined): DNS | undefined {
  return confDns ?? ipamDns;
}

/** The container's addresses from a result, for masquerade: those on interface `index` (all when unset). */
export function masqAddresses(ips: readonly IPConfig[]): { cidr: string; family: IpFamily }[] {
  return ips.map((ipc) => ({ cidr: ipc.address, family: parseCidr(ipc.address).family }));
}

/** The backoff of a wait: short first (most waits end within milliseconds), capped. */
export function backoffDelays(totalMs: number, firstMs = 2, capMs = 200): number[] {
  const out: number[] = [];
  let sum = 0;
  let d = firstMs;
  while (sum < totalMs) {
    const step = Math.min(d, capMs, totalMs - sum);
    out.push(step);
    sum += step;
    d *= 2;
  }
  return out;
}
