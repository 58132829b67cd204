/**
 * Reply decoders: payload (after the nlmsghdr) of RTM_NEWLINK / RTM_NEWADDR /
 * RTM_NEWROUTE messages into the facade's types. Pure; a malformed message
 * throws RangeError.
 *
 * We decode ourselves rather than through the `netlink` package's parsers:
 * they leave IFLA_LINKINFO as a raw Buffer and collect IFLA_AF_SPEC into a
 * Map keyed by attribute type, which keeps only the last of the repeated
 * IFLA_BRIDGE_VLAN_INFO entries.
 */
import * as C from './constants.ts';
import { formatIp, formatMac, type IpFamily } from './ip.ts';
import type { Addr, AddrFlags, BridgePort, BridgeVlan, Link, LinkFlags, NextHop, OperState, Route, RouteType, Scope } from './types.ts';

export interface NlAttr {
  readonly type: number;
  readonly nested: boolean;
  readonly data: Buffer;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Splits a run of attributes; the flags bits are taken off `type`. */
export function parseAttrs(buf: Buffer): NlAttr[] {
  const out: NlAttr[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2);
    if (len < 4 || off + len > buf.length) throw new RangeError(`malformed netlink attribute at offset ${off} (length ${len} of ${buf.length - off})`);
    out.push({ type: type & C.NLA_TYPE_MASK, nested: (type & C.NLA_F_NESTED) !== 0, data: buf.subarray(off + 4, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the first of each type wins). */
export function attrTable(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of parseAttrs(buf)) if (!m.has(a.type)) m.set(a.type, a.data);
  return m;
}

function need(b: Buffer, n: number, what: string): Buffer {
  if (b.length < n) throw new RangeError(`netlink ${what}: ${b.length} bytes, expected ${n}`);
  return b;
}
const getU8 = (b: Buffer | undefined): number | undefined => (b === undefined ? undefined : need(b, 1, 'u8').readUInt8(0));
const getU16 = (b: Buffer | undefined): number | undefined => (b === undefined ? undefined : need(b, 2, 'u16').readUInt16LE(0));
const getU32 = (b: Buffer | undefined): number | undefined => (b === undefined ? undefined : need(b, 4, 'u32').readUInt32LE(0));
const getS32 = (b: Buffer | undefined): number | undefined => (b === undefined ? undefined : need(b, 4, 's32').readInt32LE(0));
const getBool = (b: Buffer | undefined): boolean | undefined => (b === undefined ? undefined : getU8(b) !== 0);
function getStr(b: Buffer | undefined): string | undefined {
  if (b === undefined) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}
const getIp = (b: Buffer | undefined): string | undefined => (b === undefined || (b.length !== 4 && b.length !== 16) ? undefined : formatIp(b));

/** Assigns only defined values, so optional fields stay absent (exactOptionalPropertyTypes). */
function defined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

// ---------------------------------------------------------------- links

const OPERSTATES: readonly OperState[] = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];

export function decodeLinkFlags(f: number): LinkFlags {
  return {
    up: (f & C.IFF_UP) !== 0,
    broadcast: (f & C.IFF_BROADCAST) !== 0,
    loopback: (f & C.IFF_LOOPBACK) !== 0,
    pointopoint: (f & C.IFF_POINTOPOINT) !== 0,
    running: (f & C.IFF_RUNNING) !== 0,
    noarp: (f & C.IFF_NOARP) !== 0,
    promisc: (f & C.IFF_PROMISC) !== 0,
    allmulti: (f & C.IFF_ALLMULTI) !== 0,
    master: (f & C.IFF_MASTER) !== 0,
    slave: (f & C.IFF_SLAVE) !== 0,
    multicast: (f & C.IFF_MULTICAST) !== 0,
    lowerUp: (f & C.IFF_LOWER_UP) !== 0,
    dormant: (f & C.IFF_DORMANT) !== 0,
  };
}

interface IfInfo {
  readonly family: number;
  readonly linkType: number;
  readonly index: number;
  readonly flags: number;
  readonly attrs: Map<number, Buffer>;
}

function ifinfo(body: Buffer): IfInfo {
  need(body, C.IFINFOMSG_LEN, 'ifinfomsg');
  return {
    family: body.readUInt8(0),
    linkType: body.readUInt16LE(2),
    index: body.readInt32LE(4),
    flags: body.readUInt32LE(8),
    attrs: attrTable(body.subarray(C.IFINFOMSG_LEN)),
  };
}

interface LinkInfo {
  kind?: string;
  data?: Map<number, Buffer>;
  slaveKind?: string;
  slaveData?: Buffer;
}

function linkInfo(buf: Buffer | undefined): LinkInfo {
  if (buf === undefined) return {};
  const t = attrTable(buf);
  const data = t.get(C.IFLA_INFO_DATA);
  return defined({
    kind: getStr(t.get(C.IFLA_INFO_KIND)),
    data: data === undefined ? undefined : attrTable(data),
    slaveKind: getStr(t.get(C.IFLA_INFO_SLAVE_KIND)),
    slaveData: t.get(C.IFLA_INFO_SLAVE_DATA),
  });
}

/** An RTM_NEWLINK payload (family AF_UNSPEC) as a Link. */
export function decodeLink(body: Buffer): Link {
  const m = ifinfo(body);
  const a = m.attrs;
  const info = linkInfo(a.get(C.IFLA_LINKINFO));
  const operstate = getU8(a.get(C.IFLA_OPERSTATE));
  const address = a.get(C.IFLA_ADDRESS);
  const common = {
    index: m.index,
    name: getStr(a.get(C.IFLA_IFNAME)) ?? '',
    mtu: getU32(a.get(C.IFLA_MTU)) ?? 0,
    flags: decodeLinkFlags(m.flags),
    operstate: OPERSTATES[operstate ?? 0] ?? 'unknown',
    linkType: m.linkType,
    ...defined({
      mac: address === undefined || address.length === 0 ? undefined : formatMac(address),
      masterIndex: getU32(a.get(C.IFLA_MASTER)),
      slaveKind: info.slaveKind,
      txqlen: getU32(a.get(C.IFLA_TXQLEN)),
      promiscuity: getU32(a.get(C.IFLA_PROMISCUITY)),
      alias: getStr(a.get(C.IFLA_IFALIAS)),
    }),
  };
  const lower = getS32(a.get(C.IFLA_LINK));
  switch (info.kind) {
    case undefined:
      return { kind: 'device', ...common };
    case 'bridge': {
      const vf = getBool(info.data?.get(C.IFLA_BR_VLAN_FILTERING));
      const pvid = getU16(info.data?.get(C.IFLA_BR_VLAN_DEFAULT_PVID));
      return { kind: 'bridge', ...common, ...defined({ vlanFiltering: vf, vlanDefaultPvid: pvid }) };
    }
    case 'veth':
      return { kind: 'veth', ...common, ...defined({ peerIndex: lower, peerNetnsId: getS32(a.get(C.IFLA_LINK_NETNSID)) }) };
    case 'vlan':
      return { kind: 'vlan', ...common, ...defined({ vlanId: getU16(info.data?.get(C.IFLA_VLAN_ID)), parentIndex: lower }) };
    default:
      return { kind: 'other', infoKind: info.kind, ...common };
  }
}

/** IFLA_BRPORT_* attributes (from IFLA_PROTINFO or IFLA_INFO_SLAVE_DATA). */
export function decodeBridgePortAttrs(buf: Buffer): Omit<BridgePort, 'index' | 'masterIndex'> {
  const t = attrTable(buf);
  return defined({
    state: getU8(t.get(C.IFLA_BRPORT_STATE)),
    priority: getU16(t.get(C.IFLA_BRPORT_PRIORITY)),
    cost: getU32(t.get(C.IFLA_BRPORT_COST)),
    hairpin: getBool(t.get(C.IFLA_BRPORT_MODE)),
    bpduGuard: getBool(t.get(C.IFLA_BRPORT_GUARD)),
    rootBlock: getBool(t.get(C.IFLA_BRPORT_PROTECT)),
    fastLeave: getBool(t.get(C.IFLA_BRPORT_FAST_LEAVE)),
    learning: getBool(t.get(C.IFLA_BRPORT_LEARNING)),
    unicastFlood: getBool(t.get(C.IFLA_BRPORT_UNICAST_FLOOD)),
    proxyArp: getBool(t.get(C.IFLA_BRPORT_PROXYARP)),
    multicastFlood: getBool(t.get(C.IFLA_BRPORT_MCAST_FLOOD)),
    broadcastFlood: getBool(t.get(C.IFLA_BRPORT_BCAST_FLOOD)),
    neighSuppress: getBool(t.get(C.IFLA_BRPORT_NEIGH_SUPPRESS)),
    isolated: getBool(t.get(C.IFLA_BRPORT_ISOLATED)),
  });
}

/**
 * The bridge-port view of an RTM_NEWLINK payload: IFLA_PROTINFO when the
 * message is family AF_BRIDGE, else IFLA_INFO_SLAVE_DATA of slave kind
 * "bridge". undefined when the link is not a bridge port.
 */
export function decodeBridgePort(body: Buffer): BridgePort | undefined {
  const m = ifinfo(body);
  let portAttrs: Buffer | undefined;
  if (m.family === C.AF_BRIDGE) {
    portAttrs = m.attrs.get(C.IFLA_PROTINFO);
  } else {
    const info = linkInfo(m.attrs.get(C.IFLA_LINKINFO));
    if (info.slaveKind === 'bridge') portAttrs = info.slaveData ?? Buffer.alloc(0);
  }
  if (portAttrs === undefined) return undefined;
  return { index: m.index, ...defined({ masterIndex: getU32(m.attrs.get(C.IFLA_MASTER)) }), ...decodeBridgePortAttrs(portAttrs) };
}

/** VLAN entries of one RTM_NEWLINK payload of family AF_BRIDGE (IFLA_AF_SPEC, repeated IFLA_BRIDGE_VLAN_INFO; ranges expanded). */
export function decodeBridgeVlans(body: Buffer): BridgeVlan[] {
  const m = ifinfo(body);
  const spec = m.attrs.get(C.IFLA_AF_SPEC);
  if (spec === undefined) return [];
  const out: BridgeVlan[] = [];
  let rangeStart: number | undefined;
  for (const a of parseAttrs(spec)) {
    if (a.type !== C.IFLA_BRIDGE_VLAN_INFO) continue;
    need(a.data, 4, 'bridge_vlan_info');
    const flags = a.data.readUInt16LE(0);
    const vid = a.data.readUInt16LE(2);
    if ((flags & C.BRIDGE_VLAN_INFO_RANGE_BEGIN) !== 0) {
      rangeStart = vid;
      continue;
    }
    const first = (flags & C.BRIDGE_VLAN_INFO_RANGE_END) !== 0 && rangeStart !== undefined ? rangeStart : vid;
    rangeStart = undefined;
    for (let v = first; v <= vid; v++) {
      out.push({
        index: m.index,
        vid: v,
        pvid: (flags & C.BRIDGE_VLAN_INFO_PVID) !== 0,
        untagged: (flags & C.BRIDGE_VLAN_INFO_UNTAGGED) !== 0,
        brentry: (flags & C.BRIDGE_VLAN_INFO_BRENTRY) !== 0,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------- addresses

const SCOPE_NAMES = new Map<number, Exclude<Scope, number>>([
  [0, 'universe'],
  [200, 'site'],
  [253, 'link'],
  [254, 'host'],
  [255, 'nowhere'],
]);
export const scopeName = (n: number): Scope => SCOPE_NAMES.get(n) ?? n;

function ipFamily(af: number): IpFamily | undefined {
  return af === C.AF_INET ? 4 : af === C.AF_INET6 ? 6 : undefined;
}

export function decodeAddrFlags(f: number): AddrFlags {
  return {
    secondary: (f & C.IFA_F_SECONDARY) !== 0,
    nodad: (f & C.IFA_F_NODAD) !== 0,
    optimistic: (f & C.IFA_F_OPTIMISTIC) !== 0,
    dadfailed: (f & C.IFA_F_DADFAILED) !== 0,
    homeaddress: (f & C.IFA_F_HOMEADDRESS) !== 0,
    deprecated: (f & C.IFA_F_DEPRECATED) !== 0,
    tentative: (f & C.IFA_F_TENTATIVE) !== 0,
    permanent: (f & C.IFA_F_PERMANENT) !== 0,
    managetempaddr: (f & C.IFA_F_MANAGETEMPADDR) !== 0,
    noprefixroute: (f & C.IFA_F_NOPREFIXROUTE) !== 0,
    mcautojoin: (f & C.IFA_F_MCAUTOJOIN) !== 0,
    stablePrivacy: (f & C.IFA_F_STABLE_PRIVACY) !== 0,
  };
}

/** An RTM_NEWADDR payload; undefined for families other than IPv4/IPv6. */
export function decodeAddr(body: Buffer): Addr | undefined {
  need(body, C.IFADDRMSG_LEN, 'ifaddrmsg');
  const family = ipFamily(body.readUInt8(0));
  if (family === undefined) return undefined;
  const prefixLen = body.readUInt8(1);
  const t = attrTable(body.subarray(C.IFADDRMSG_LEN));
  const local = getIp(t.get(C.IFA_LOCAL));
  const address = getIp(t.get(C.IFA_ADDRESS));
  const ip = local ?? address;
  if (ip === undefined) throw new RangeError('netlink address message without IFA_LOCAL or IFA_ADDRESS');
  const cache = t.get(C.IFA_CACHEINFO);
  const cacheOk = cache !== undefined && cache.length >= 8;
  return {
    index: body.readUInt32LE(4),
    family,
    ip,
    prefixLen,
    address: `${ip}/${prefixLen}`,
    scope: scopeName(body.readUInt8(3)),
    // IFA_FLAGS (u32) supersedes the 8-bit ifa_flags when present
    flags: decodeAddrFlags(getU32(t.get(C.IFA_FLAGS)) ?? body.readUInt8(2)),
    ...defined({
      peer: local !== undefined && address !== undefined && address !== local ? address : undefined,
      broadcast: getIp(t.get(C.IFA_BROADCAST)),
      label: getStr(t.get(C.IFA_LABEL)),
      preferredLft: cacheOk ? cache.readUInt32LE(0) : undefined,
      validLft: cacheOk ? cache.readUInt32LE(4) : undefined,
    }),
  };
}

// ---------------------------------------------------------------- routes

const ROUTE_TYPE_NAMES: readonly (RouteType | undefined)[] = [
  undefined,
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
];

function decodeNexthops(buf: Buffer): NextHop[] {
  const out: NextHop[] = [];
  let off = 0;
  while (off + C.RTNEXTHOP_LEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < C.RTNEXTHOP_LEN || off + len > buf.length) throw new RangeError(`malformed rtnexthop at offset ${off} (length ${len})`);
    const hops = buf.readUInt8(off + 3);
    const linkIndex = buf.readInt32LE(off + 4);
    const t = attrTable(buf.subarray(off + C.RTNEXTHOP_LEN, off + len));
    out.push({ linkIndex, weight: hops + 1, ...defined({ gw: getIp(t.get(C.RTA_GATEWAY)) }) });
    off += align4(len);
  }
  return out;
}

export interface DecodedRoute {
  readonly route: Route;
  /** rtm_flags has RTM_F_CLONED (an IPv6 cache entry, not a configured route). */
  readonly cloned: boolean;
}

/** An RTM_NEWROUTE payload; undefined for families other than IPv4/IPv6. */
export function decodeRoute(body: Buffer): DecodedRoute | undefined {
  need(body, C.RTMSG_LEN, 'rtmsg');
  const family = ipFamily(body.readUInt8(0));
  if (family === undefined) return undefined;
  const dstLen = body.readUInt8(1);
  const t = attrTable(body.subarray(C.RTMSG_LEN));
  const dstIp = getIp(t.get(C.RTA_DST)) ?? (family === 4 ? '0.0.0.0' : '::');
  const typeNum = body.readUInt8(7);
  const metrics = t.get(C.RTA_METRICS);
  const mx = metrics === undefined ? undefined : attrTable(metrics);
  const mp = t.get(C.RTA_MULTIPATH);
  const route: Route = {
    family,
    dst: `${dstIp}/${dstLen}`,
    table: getU32(t.get(C.RTA_TABLE)) ?? body.readUInt8(4),
    protocol: body.readUInt8(5),
    scope: scopeName(body.readUInt8(6)),
    type: ROUTE_TYPE_NAMES[typeNum] ?? typeNum,
    ...defined({
      gw: getIp(t.get(C.RTA_GATEWAY)),
      linkIndex: getU32(t.get(C.RTA_OIF)),
      priority: getU32(t.get(C.RTA_PRIORITY)),
      src: getIp(t.get(C.RTA_PREFSRC)),
      mtu: getU32(mx?.get(C.RTAX_MTU)),
      advmss: getU32(mx?.get(C.RTAX_ADVMSS)),
      nexthops: mp === undefined ? undefined : decodeNexthops(mp),
    }),
  };
  return { route, cloned: (body.readUInt32LE(8) & C.RTM_F_CLONED) !== 0 };
}
