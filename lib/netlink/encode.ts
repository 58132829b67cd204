/**
 * Request encoders: each returns the message type, the NLM_F_* flags beyond
 * REQUEST|ACK (which the transport adds) and the payload after the nlmsghdr.
 * Pure and byte-exact, so they are unit-tested against literal bytes.
 *
 * Attribute order and header fields follow what iproute2 6.1 sends for the
 * equivalent `ip` / `bridge` command, so the unit tests compare against bytes
 * captured from it.
 *
 * We encode every request ourselves, not only the nests the `netlink` package
 * leaves as raw Buffers: its attribute writer masks the type to 14 bits, so it
 * cannot set NLA_F_NESTED, and IFLA_PROTINFO without NLA_F_NESTED is read by
 * the bridge as the legacy one-byte port state.
 */
import * as C from './constants.ts';
import { broadcastOf, parseIp, parseMac, parsePrefix, type IpBytes, type IpFamily } from './ip.ts';
import type { BridgePortFlags, RouteType, Scope } from './types.ts';

export interface NlRequest {
  readonly type: number;
  /** NLM_F_* flags other than REQUEST and ACK. */
  readonly flags: number;
  readonly body: Buffer;
}

const align4 = (n: number): number => (n + 3) & ~3;

// ---------------------------------------------------------------- attributes

/** One attribute: 4-byte header (length without padding, type) + payload, padded to 4 bytes. */
export function attr(type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const len = 4 + payload.length;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type} too long (${len} bytes)`);
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  out.set(payload, 4);
  return out;
}

/**
 * A nested attribute; its length covers the children's padding. iproute2
 * sends nests without NLA_F_NESTED and the kernel's rtnetlink parsers accept
 * that, except for IFLA_PROTINFO: pass `nestedFlag` there.
 */
export function nest(type: number, children: readonly Uint8Array[], nestedFlag = false): Buffer {
  return attr(nestedFlag ? type | C.NLA_F_NESTED : type, Buffer.concat(children));
}

export function u8(v: number): Buffer {
  const b = Buffer.alloc(1);
  b.writeUInt8(v);
  return b;
}
export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
/** NUL-terminated string. */
export function str(v: string): Buffer {
  return Buffer.concat([Buffer.from(v, 'utf8'), Buffer.alloc(1)]);
}
/** String without the NUL, as iproute2 sends IFLA_INFO_KIND (the kernel takes NLA_STRING either way). */
export function bareStr(v: string): Buffer {
  return Buffer.from(v, 'utf8');
}
const flag = (v: boolean): Buffer => u8(v ? 1 : 0);

// ---------------------------------------------------------------- fixed headers

export interface IfInfoMsg {
  readonly family?: number;
  readonly type?: number;
  readonly index?: number;
  readonly flags?: number;
  readonly change?: number;
}

/** struct ifinfomsg (16 bytes). */
export function ifinfomsg(m: IfInfoMsg = {}): Buffer {
  const b = Buffer.alloc(C.IFINFOMSG_LEN);
  b.writeUInt8(m.family ?? C.AF_UNSPEC, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE(m.flags ?? 0, 8);
  b.writeUInt32LE(m.change ?? 0, 12);
  return b;
}

export interface IfAddrMsg {
  readonly family: number;
  readonly prefixLen?: number;
  readonly flags?: number;
  readonly scope?: number;
  readonly index?: number;
}

/** struct ifaddrmsg (8 bytes). */
export function ifaddrmsg(m: IfAddrMsg): Buffer {
  const b = Buffer.alloc(C.IFADDRMSG_LEN);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.prefixLen ?? 0, 1);
  b.writeUInt8(m.flags ?? 0, 2);
  b.writeUInt8(m.scope ?? 0, 3);
  b.writeUInt32LE(m.index ?? 0, 4);
  return b;
}

export interface RtMsg {
  readonly family: number;
  readonly dstLen?: number;
  readonly srcLen?: number;
  readonly tos?: number;
  readonly table?: number;
  readonly protocol?: number;
  readonly scope?: number;
  readonly type?: number;
  readonly flags?: number;
}

/** struct rtmsg (12 bytes). */
export function rtmsg(m: RtMsg): Buffer {
  const b = Buffer.alloc(C.RTMSG_LEN);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.dstLen ?? 0, 1);
  b.writeUInt8(m.srcLen ?? 0, 2);
  b.writeUInt8(m.tos ?? 0, 3);
  b.writeUInt8(m.table ?? 0, 4);
  b.writeUInt8(m.protocol ?? 0, 5);
  b.writeUInt8(m.scope ?? 0, 6);
  b.writeUInt8(m.type ?? 0, 7);
  b.writeUInt32LE(m.flags ?? 0, 8);
  return b;
}

// ---------------------------------------------------------------- validation

const IFNAMSIZ = 16;

export function checkIfName(name: string): string {
  const len = Buffer.byteLength(name, 'utf8');
  if (len === 0 || len >= IFNAMSIZ || name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new TypeError(`invalid interface name "${name}" (1-${IFNAMSIZ - 1} bytes, no "/", ":" or whitespace)`);
  }
  return name;
}

function checkUint(what: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new TypeError(`invalid ${what} ${v} (0-${max})`);
  return v;
}
const checkU32 = (what: string, v: number): number => checkUint(what, v, 0xffffffff);

function checkVid(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 4094) throw new TypeError(`invalid ${what} ${v} (1-4094)`);
  return v;
}

const SCOPES: Record<Exclude<Scope, number>, number> = { universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };

export function scopeNumber(s: Scope): number {
  return typeof s === 'number' ? checkUint('scope', s, 255) : SCOPES[s];
}

export const ROUTE_TYPES: Record<RouteType, number> = {
  unicast: 1,
  local: 2,
  broadcast: 3,
  anycast: 4,
  multicast: 5,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
  throw: 9,
  nat: 10,
};

const familyNumber = (f: IpFamily): number => (f === 4 ? C.AF_INET : C.AF_INET6);

// ---------------------------------------------------------------- links

export function getLinkByName(name: string): NlRequest {
  return { type: C.RTM_GETLINK, flags: 0, body: Buffer.concat([ifinfomsg(), attr(C.IFLA_IFNAME, str(name))]) };
}

export function getLinkByIndex(index: number): NlRequest {
  return { type: C.RTM_GETLINK, flags: 0, body: ifinfomsg({ index }) };
}

export function dumpLinks(): NlRequest {
  return { type: C.RTM_GETLINK, flags: C.NLM_F_DUMP, body: ifinfomsg() };
}

const NEW_LINK_FLAGS = C.NLM_F_CREATE | C.NLM_F_EXCL;

interface CommonLinkAttrs {
  name: string;
  mtu?: number | undefined;
  mac?: string | undefined;
  txqlen?: number | undefined;
  netnsFd?: number | undefined;
}

/** IFLA_MTU, IFLA_ADDRESS, IFLA_TXQLEN, IFLA_NET_NS_FD, IFLA_IFNAME: the given ones, in iproute2's order. */
function commonLinkAttrs(o: CommonLinkAttrs): Buffer[] {
  const out: Buffer[] = [];
  if (o.mtu !== undefined) out.push(attr(C.IFLA_MTU, u32(checkU32('MTU', o.mtu))));
  if (o.mac !== undefined) out.push(attr(C.IFLA_ADDRESS, parseMac(o.mac)));
  if (o.txqlen !== undefined) out.push(attr(C.IFLA_TXQLEN, u32(checkU32('txqlen', o.txqlen))));
  if (o.netnsFd !== undefined) out.push(attr(C.IFLA_NET_NS_FD, u32(checkU32('netns fd', o.netnsFd))));
  out.push(attr(C.IFLA_IFNAME, str(checkIfName(o.name))));
  return out;
}

export interface NewBridge {
  readonly name: string;
  readonly mtu?: number;
  readonly mac?: string;
  readonly txqlen?: number;
  readonly vlanFiltering?: boolean;
  readonly vlanDefaultPvid?: number;
}

/** RTM_NEWLINK: IFLA_LINKINFO { IFLA_INFO_KIND "bridge", IFLA_INFO_DATA { IFLA_BR_* } }. */
export function newBridge(o: NewBridge): NlRequest {
  const data: Buffer[] = [];
  if (o.vlanFiltering !== undefined) data.push(attr(C.IFLA_BR_VLAN_FILTERING, flag(o.vlanFiltering)));
  if (o.vlanDefaultPvid !== undefined) {
    // 0 is allowed: no default PVID
    data.push(attr(C.IFLA_BR_VLAN_DEFAULT_PVID, u16(o.vlanDefaultPvid === 0 ? 0 : checkVid('default PVID', o.vlanDefaultPvid))));
  }
  const info = [attr(C.IFLA_INFO_KIND, bareStr('bridge'))];
  if (data.length > 0) info.push(nest(C.IFLA_INFO_DATA, data));
  return {
    type: C.RTM_NEWLINK,
    flags: NEW_LINK_FLAGS,
    body: Buffer.concat([ifinfomsg(), ...commonLinkAttrs(o), nest(C.IFLA_LINKINFO, info)]),
  };
}

export interface NewVeth {
  readonly name: string;
  readonly peerName: string;
  readonly mtu?: number;
  readonly peerMtu?: number;
  readonly mac?: string;
  readonly peerMac?: string;
  readonly txqlen?: number;
  readonly peerNetnsFd?: number;
}

/**
 * RTM_NEWLINK: IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER
 * { struct ifinfomsg, peer's IFLA_* (IFLA_NET_NS_FD puts it in another namespace) } } }.
 */
export function newVeth(o: NewVeth): NlRequest {
  const peer = [
    ifinfomsg(),
    ...commonLinkAttrs({ name: o.peerName, mtu: o.peerMtu ?? o.mtu, mac: o.peerMac, txqlen: o.txqlen, netnsFd: o.peerNetnsFd }),
  ];
  const info = [attr(C.IFLA_INFO_KIND, bareStr('veth')), nest(C.IFLA_INFO_DATA, [nest(C.VETH_INFO_PEER, peer)])];
  return {
    type: C.RTM_NEWLINK,
    flags: NEW_LINK_FLAGS,
    body: Buffer.concat([ifinfomsg(), ...commonLinkAttrs(o), nest(C.IFLA_LINKINFO, info)]),
  };
}

export function delLink(index: number): NlRequest {
  return { type: C.RTM_DELLINK, flags: 0, body: ifinfomsg({ index }) };
}

/**
 * Changes one existing link: the `change` bits of ifi_flags to `flags`, plus
 * attributes. RTM_NEWLINK without NLM_F_CREATE, as iproute2 sends `ip link set`
 * (ENODEV when the index does not exist).
 */
export function setLink(index: number, o: { flags?: number; change?: number; attrs?: readonly Buffer[] }): NlRequest {
  return {
    type: C.RTM_NEWLINK,
    flags: 0,
    body: Buffer.concat([ifinfomsg({ index, flags: o.flags ?? 0, change: o.change ?? 0 }), ...(o.attrs ?? [])]),
  };
}

export const setLinkUp = (index: number, up: boolean): NlRequest => setLink(index, { flags: up ? C.IFF_UP : 0, change: C.IFF_UP });
export const setLinkPromisc = (index: number, on: boolean): NlRequest =>
  setLink(index, { flags: on ? C.IFF_PROMISC : 0, change: C.IFF_PROMISC });
export const setLinkMtu = (index: number, mtu: number): NlRequest => setLink(index, { attrs: [attr(C.IFLA_MTU, u32(checkU32('MTU', mtu)))] });
export const setLinkMac = (index: number, mac: string): NlRequest => setLink(index, { attrs: [attr(C.IFLA_ADDRESS, parseMac(mac))] });
/** masterIndex 0 detaches (nomaster). */
export const setLinkMaster = (index: number, masterIndex: number): NlRequest =>
  setLink(index, { attrs: [attr(C.IFLA_MASTER, u32(checkU32('master index', masterIndex)))] });
export const setLinkNetns = (index: number, nsFd: number): NlRequest =>
  setLink(index, { attrs: [attr(C.IFLA_NET_NS_FD, u32(checkU32('netns fd', nsFd)))] });

// ---------------------------------------------------------------- bridge ports and VLANs

/** Attribute number, encoder, in kernel attribute order. */
const BRPORT_ATTRS: readonly [keyof BridgePortFlags, number, (v: number | boolean) => Buffer][] = [
  ['state', C.IFLA_BRPORT_STATE, (v) => u8(checkUint('STP state', Number(v), 4))],
  ['priority', C.IFLA_BRPORT_PRIORITY, (v) => u16(checkUint('port priority', Number(v), 0xffff))],
  ['cost', C.IFLA_BRPORT_COST, (v) => u32(checkU32('port cost', Number(v)))],
  ['hairpin', C.IFLA_BRPORT_MODE, (v) => flag(v === true)],
  ['bpduGuard', C.IFLA_BRPORT_GUARD, (v) => flag(v === true)],
  ['rootBlock', C.IFLA_BRPORT_PROTECT, (v) => flag(v === true)],
  ['fastLeave', C.IFLA_BRPORT_FAST_LEAVE, (v) => flag(v === true)],
  ['learning', C.IFLA_BRPORT_LEARNING, (v) => flag(v === true)],
  ['unicastFlood', C.IFLA_BRPORT_UNICAST_FLOOD, (v) => flag(v === true)],
  ['proxyArp', C.IFLA_BRPORT_PROXYARP, (v) => flag(v === true)],
  ['multicastFlood', C.IFLA_BRPORT_MCAST_FLOOD, (v) => flag(v === true)],
  ['broadcastFlood', C.IFLA_BRPORT_BCAST_FLOOD, (v) => flag(v === true)],
  ['neighSuppress', C.IFLA_BRPORT_NEIGH_SUPPRESS, (v) => flag(v === true)],
  ['isolated', C.IFLA_BRPORT_ISOLATED, (v) => flag(v === true)],
];

/** The IFLA_BRPORT_* attributes for the flags that are set; empty when none is. */
export function brportAttrs(f: BridgePortFlags): Buffer[] {
  const out: Buffer[] = [];
  for (const [key, type, enc] of BRPORT_ATTRS) {
    const v = f[key];
    if (v !== undefined) out.push(attr(type, enc(v)));
  }
  return out;
}

/** RTM_SETLINK, family AF_BRIDGE, IFLA_PROTINFO|NLA_F_NESTED { IFLA_BRPORT_* }: handled by the port's master bridge. */
export function setBridgePort(index: number, f: BridgePortFlags): NlRequest {
  return {
    type: C.RTM_SETLINK,
    flags: 0,
    body: Buffer.concat([ifinfomsg({ family: C.AF_BRIDGE, index }), nest(C.IFLA_PROTINFO, brportAttrs(f), true)]),
  };
}

export interface BridgeVlanMsg {
  readonly index: number;
  readonly vid: number;
  readonly vidEnd?: number;
  readonly pvid?: boolean;
  readonly untagged?: boolean;
  readonly self?: boolean;
}

/** struct bridge_vlan_info { u16 flags; u16 vid } */
function vlanInfo(flags: number, vid: number): Buffer {
  return attr(C.IFLA_BRIDGE_VLAN_INFO, Buffer.concat([u16(flags), u16(vid)]));
}

/**
 * RTM_SETLINK (add) or RTM_DELLINK (del), family AF_BRIDGE,
 * IFLA_AF_SPEC { [IFLA_BRIDGE_FLAGS SELF], IFLA_BRIDGE_VLAN_INFO (two for a range) }.
 * Without `self` the port's master bridge handles it (no IFLA_BRIDGE_FLAGS, as iproute2).
 */
export function bridgeVlan(op: 'add' | 'del', m: BridgeVlanMsg): NlRequest {
  const vid = checkVid('VLAN id', m.vid);
  let flags = 0;
  if (m.pvid === true) flags |= C.BRIDGE_VLAN_INFO_PVID;
  if (m.untagged === true) flags |= C.BRIDGE_VLAN_INFO_UNTAGGED;
  const spec: Buffer[] = [];
  if (m.self === true) spec.push(attr(C.IFLA_BRIDGE_FLAGS, u16(C.BRIDGE_FLAGS_SELF)));
  if (m.vidEnd !== undefined && m.vidEnd !== vid) {
    const end = checkVid('VLAN range end', m.vidEnd);
    if (end < vid) throw new TypeError(`invalid VLAN range ${vid}-${end}`);
    if (m.pvid === true) throw new TypeError(`a VLAN range (${vid}-${end}) cannot be the PVID`);
    spec.push(vlanInfo(flags | C.BRIDGE_VLAN_INFO_RANGE_BEGIN, vid), vlanInfo(flags | C.BRIDGE_VLAN_INFO_RANGE_END, end));
  } else {
    spec.push(vlanInfo(flags, vid));
  }
  return {
    type: op === 'add' ? C.RTM_SETLINK : C.RTM_DELLINK,
    flags: 0,
    body: Buffer.concat([ifinfomsg({ family: C.AF_BRIDGE, index: m.index }), nest(C.IFLA_AF_SPEC, spec)]),
  };
}

/** RTM_GETLINK dump, family AF_BRIDGE, IFLA_EXT_MASK RTEXT_FILTER_BRVLAN: every port's VLANs, one entry per VID. */
export function dumpBridgeVlans(): NlRequest {
  return {
    type: C.RTM_GETLINK,
    flags: C.NLM_F_DUMP,
    body: Buffer.concat([ifinfomsg({ family: C.AF_BRIDGE }), attr(C.IFLA_EXT_MASK, u32(C.RTEXT_FILTER_BRVLAN))]),
  };
}

// ---------------------------------------------------------------- addresses

export interface AddrMsg {
  readonly index: number;
  readonly address: string;
  readonly peer?: string;
  readonly broadcast?: string | false;
  readonly label?: string;
  readonly scope?: Scope;
  readonly noDad?: boolean;
  readonly noPrefixRoute?: boolean;
}

function sameFamily(what: string, ip: IpBytes, family: IpFamily, text: string): Buffer {
  if (ip.family !== family) throw new TypeError(`${what} "${text}" is not an IPv${family} address`);
  return ip.bytes;
}

/**
 * RTM_NEWADDR (add: CREATE|EXCL, replace: CREATE|REPLACE) or RTM_DELADDR.
 * IFA_LOCAL is the address and IFA_ADDRESS the peer (the address itself when
 * there is none), as iproute2 sends them; flags above 0xff go in IFA_FLAGS.
 */
export function addr(op: 'add' | 'replace' | 'del', m: AddrMsg): NlRequest {
  const p = parsePrefix(m.address);
  let ifaFlags = 0;
  if (m.noDad === true) ifaFlags |= C.IFA_F_NODAD;
  if (m.noPrefixRoute === true) ifaFlags |= C.IFA_F_NOPREFIXROUTE;
  const local = p.bytes;
  const peer = m.peer === undefined ? local : sameFamily('peer', parseIp(m.peer), p.family, m.peer);
  // iproute2's order: IFA_LOCAL, IFA_LABEL, IFA_FLAGS, IFA_ADDRESS, IFA_BROADCAST
  const attrs = [attr(C.IFA_LOCAL, local)];
  if (m.label !== undefined) {
    if (p.family !== 4) throw new TypeError(`address labels are IPv4 only ("${m.label}" on ${m.address})`);
    attrs.push(attr(C.IFA_LABEL, str(m.label)));
  }
  if (ifaFlags > 0xff) attrs.push(attr(C.IFA_FLAGS, u32(ifaFlags)));
  attrs.push(attr(C.IFA_ADDRESS, peer));
  if (op !== 'del' && p.family === 4) {
    if (typeof m.broadcast === 'string') attrs.push(attr(C.IFA_BROADCAST, sameFamily('broadcast', parseIp(m.broadcast), 4, m.broadcast)));
    else if (m.broadcast === undefined && m.peer === undefined && p.prefixLen < 31) attrs.push(attr(C.IFA_BROADCAST, broadcastOf(p)));
  }
  const header = ifaddrmsg({
    family: familyNumber(p.family),
    prefixLen: p.prefixLen,
    flags: ifaFlags > 0xff ? 0 : ifaFlags,
    scope: m.scope === undefined ? 0 : scopeNumber(m.scope),
    index: m.index,
  });
  const flags = op === 'add' ? C.NLM_F_CREATE | C.NLM_F_EXCL : op === 'replace' ? C.NLM_F_CREATE | C.NLM_F_REPLACE : 0;
  return { type: op === 'del' ? C.RTM_DELADDR : C.RTM_NEWADDR, flags, body: Buffer.concat([header, ...attrs]) };
}

export function dumpAddrs(family?: IpFamily): NlRequest {
  return { type: C.RTM_GETADDR, flags: C.NLM_F_DUMP, body: ifaddrmsg({ family: family === undefined ? C.AF_UNSPEC : familyNumber(family) }) };
}

// ---------------------------------------------------------------- routes

export interface RouteMsg {
  readonly dst: string;
  readonly gw?: string;
  readonly oif?: number;
  readonly table?: number;
  readonly scope?: Scope;
  readonly priority?: number;
  readonly mtu?: number;
  readonly advmss?: number;
  readonly src?: string;
  readonly type?: RouteType;
  readonly protocol?: number;
  readonly exclusive?: boolean;
}

/**
 * RTM_NEWROUTE (add: CREATE, plus EXCL only when asked, so a second nexthop
 * for the same IPv6 prefix joins it as ECMP, as the reference does; replace:
 * CREATE|REPLACE) or RTM_DELROUTE. Tables below 256 go in rtm_table, larger
 * ones in RTA_TABLE, as iproute2 does. Add defaults: protocol boot, scope
 * universe, type unicast; delete leaves unset fields as wildcards.
 */
export function route(op: 'add' | 'replace' | 'del', r: RouteMsg): NlRequest {
  const dst = parsePrefix(r.dst);
  const family = dst.family;
  const del = op === 'del';
  const table = r.table === undefined ? C.RT_TABLE_MAIN : checkU32('table', r.table);
  // iproute2's order for `ip route add DST via GW metric N src S table T dev D mtu M advmss A`
  const attrs: Buffer[] = [];
  if (dst.prefixLen > 0) attrs.push(attr(C.RTA_DST, dst.bytes));
  if (r.gw !== undefined) attrs.push(attr(C.RTA_GATEWAY, sameFamily('gateway', parseIp(r.gw), family, r.gw)));
  if (r.priority !== undefined) attrs.push(attr(C.RTA_PRIORITY, u32(checkU32('metric', r.priority))));
  if (r.src !== undefined) attrs.push(attr(C.RTA_PREFSRC, sameFamily('source', parseIp(r.src), family, r.src)));
  if (table >= 256) attrs.push(attr(C.RTA_TABLE, u32(table)));
  if (r.oif !== undefined) attrs.push(attr(C.RTA_OIF, u32(checkU32('link index', r.oif))));
  const metrics: Buffer[] = [];
  if (r.mtu !== undefined) metrics.push(attr(C.RTAX_MTU, u32(checkU32('route MTU', r.mtu))));
  if (r.advmss !== undefined) metrics.push(attr(C.RTAX_ADVMSS, u32(checkU32('advmss', r.advmss))));
  // RTA_METRICS goes without NLA_F_NESTED, as iproute2 sends it
  if (metrics.length > 0) attrs.push(attr(C.RTA_METRICS, Buffer.concat(metrics)));
  const header = rtmsg({
    family: familyNumber(family),
    dstLen: dst.prefixLen,
    table: table >= 256 ? C.RT_TABLE_UNSPEC : table,
    protocol: r.protocol !== undefined ? checkUint('protocol', r.protocol, 255) : del ? C.RTPROT_UNSPEC : C.RTPROT_BOOT,
    scope: r.scope !== undefined ? scopeNumber(r.scope) : del ? C.RT_SCOPE_NOWHERE : C.RT_SCOPE_UNIVERSE,
    type: r.type !== undefined ? ROUTE_TYPES[r.type] : del ? C.RTN_UNSPEC : C.RTN_UNICAST,
  });
  const flags =
    op === 'add' ? C.NLM_F_CREATE | (r.exclusive === true ? C.NLM_F_EXCL : 0) : op === 'replace' ? C.NLM_F_CREATE | C.NLM_F_REPLACE : 0;
  return { type: del ? C.RTM_DELROUTE : C.RTM_NEWROUTE, flags, body: Buffer.concat([header, ...attrs]) };
}

export function dumpRoutes(family?: IpFamily): NlRequest {
  return { type: C.RTM_GETROUTE, flags: C.NLM_F_DUMP, body: rtmsg({ family: family === undefined ? C.AF_UNSPEC : familyNumber(family) }) };
}

/** RTM_GETROUTE for one address: the route the kernel would use to reach it (`ip route get`). */
export function getRouteTo(ip: string): NlRequest {
  const a = parseIp(ip);
  return {
    type: C.RTM_GETROUTE,
    flags: 0,
    body: Buffer.concat([rtmsg({ family: familyNumber(a.family), dstLen: a.bytes.length * 8 }), attr(C.RTA_DST, a.bytes)]),
  };
}
