/**
 * The Netlink facade over one namespace-bound socket: iproute2-style verbs,
 * typed results, `undefined` for "no such link", and errors that name the
 * action and the object and keep the kernel's errno `code`.
 */
import { netnsReady, type Netns } from '../netns/index.ts';
import * as C from './constants.ts';
import { decodeAddr, decodeBridgePort, decodeBridgeVlans, decodeLink, decodeRoute } from './decode.ts';
import * as CT from './conntrack.ts';
import * as E from './encode.ts';
import { causeText, NetlinkError } from './errors.ts';
import { parsePrefix, formatIp, type IpFamily } from './ip.ts';
import { createSocket, loadNetlinkPackage, Transport, type Reply } from './transport.ts';
import * as TC from './tc.ts';
import type {
  Addr,
  AddrAddOptions,
  AddrDelOptions,
  AddrFilter,
  BridgeAddOptions,
  BridgeLink,
  BridgePort,
  BridgePortFlags,
  BridgeVlan,
  BridgeVlanOptions,
  IfbAddOptions,
  Link,
  LinkRef,
  Netlink,
  NetnsRef,
  Qdisc,
  QdiscRef,
  Route,
  RouteAddOptions,
  RouteFilter,
  RouteSpec,
  TbfAddOptions,
  TcFilter,
  U32RedirectOptions,
  VethAddOptions,
  VethLink,
} from './types.ts';

export interface OpenNetlinkOptions {
  /** How long one request may wait for the kernel before the handle is closed (default 10 s). */
  readonly timeoutMs?: number;
}

/**
 * Opens a handle on the namespace `ns` (the socket is created inside it and
 * stays there), or on the namespace the process is in when `ns` is undefined.
 */
export async function openNetlink(ns?: Netns, options: OpenNetlinkOptions = {}): Promise<Netlink> {
  const pkg = await loadNetlinkPackage();
  const where = ns === undefined ? 'the current network namespace' : `netns ${ns.path}`;
  let sock;
  try {
    if (ns === undefined) {
      sock = createSocket(pkg);
    } else {
      await netnsReady();
      sock = ns.run(() => createSocket(pkg));
    }
  } catch (err) {
    throw new NetlinkError(`failed to open a netlink socket in ${where}: ${causeText(err)}`, { cause: err });
  }
  return new RtNetlink(new Transport(sock, options.timeoutMs ?? 10_000), ns?.path);
}

/** Opens a handle on `ns` (or the current namespace), runs `fn`, always closes it. */
export async function withNetlink<T>(ns: Netns | undefined, fn: (nl: Netlink) => Promise<T>): Promise<T> {
  const nl = await openNetlink(ns);
  try {
    return await fn(nl);
  } finally {
    nl.close();
  }
}

const refIndex = (ref: LinkRef): number => (typeof ref === 'number' ? ref : ref.index);

/** `"eth0"` or `link 5`, for messages. */
function describe(ref: LinkRef): string {
  if (typeof ref !== 'number' && ref.name !== undefined) return `"${ref.name}"`;
  return `link ${refIndex(ref)}`;
}

const nsRefFd = (ns: NetnsRef): number => (typeof ns === 'number' ? ns : ns.fd);
const describeNs = (ns: NetnsRef): string => (typeof ns !== 'number' && ns.path !== undefined ? `netns ${ns.path}` : `netns fd ${nsRefFd(ns)}`);

function isNoDevice(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENODEV';
}

function routeText(r: RouteSpec): string {
  let s = r.dst;
  if (r.gw !== undefined) s += ` via ${r.gw}`;
  if (r.link !== undefined) s += ` dev ${typeof r.link === 'number' ? r.link : (r.link.name ?? r.link.index)}`;
  if (r.table !== undefined) s += ` table ${r.table}`;
  if (r.priority !== undefined) s += ` metric ${r.priority}`;
  return `route ${s}`;
}

/** Normalises "10.0.0.0/8" and friends for comparison. */
function canonicalPrefix(text: string): string {
  const p = parsePrefix(text);
  return `${formatIp(p.bytes)}/${p.prefixLen}`;
}

class RtNetlink implements Netlink {
  constructor(
    private readonly t: Transport,
    readonly netnsPath: string | undefined,
  ) {}

  /** Sends `req`; any failure (encoding included) becomes a NetlinkError "failed to <action>: <reason>". */
  private async call(action: string, req: () => E.NlRequest): Promise<Reply[]> {
    try {
      return await this.t.request(req());
    } catch (err) {
      const where = this.netnsPath === undefined ? '' : ` in netns ${this.netnsPath}`;
      throw new NetlinkError(`failed to ${action}${where}: ${causeText(err)}`, { cause: err });
    }
  }

  // ------------------------------------------------------------ links

  private async getLink(action: string, req: () => E.NlRequest): Promise<Link | undefined> {
    let replies: Reply[];
    try {
      replies = await this.call(action, req);
    } catch (err) {
      if (err instanceof NetlinkError && isNoDevice(err)) return undefined;
      throw err;
    }
    const msg = replies.find((r) => r.type === C.RTM_NEWLINK);
    return msg === undefined ? undefined : decodeLink(msg.body);
  }

  linkByName(name: string): Promise<Link | undefined> {
    // longer names cannot exist; the kernel would answer EINVAL rather than ENODEV
    if (name === '' || Buffer.byteLength(name) >= 16) return Promise.resolve(undefined);
    return this.getLink(`look up link "${name}"`, () => E.getLinkByName(name));
  }

  linkByIndex(index: number): Promise<Link | undefined> {
    if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff) return Promise.resolve(undefined);
    return this.getLink(`look up link ${index}`, () => E.getLinkByIndex(index));
  }

  async linkList(): Promise<Link[]> {
    const replies = await this.call('list links', () => E.dumpLinks());
    return replies.filter((r) => r.type === C.RTM_NEWLINK).map((r) => decodeLink(r.body));
  }

  async linkAddBridge(opts: BridgeAddOptions): Promise<BridgeLink> {
    await this.call(`add bridge "${opts.name}"`, () => E.newBridge(opts));
    const link = await this.linkByName(opts.name);
    if (link?.kind !== 'bridge') throw new NetlinkError(`bridge "${opts.name}" vanished right after it was added`, { cause: undefined });
    return link;
  }

  async linkAddVeth(opts: VethAddOptions): Promise<VethLink> {
    await this.call(`add veth pair "${opts.name}" / "${opts.peerName}"`, () => E.newVeth(opts));
    const link = await this.linkByName(opts.name);
    if (link?.kind !== 'veth') throw new NetlinkError(`veth "${opts.name}" vanished right after it was added`, { cause: undefined });
    return link;
  }

  async linkAddIfb(opts: IfbAddOptions): Promise<Link> {
    await this.call(`add ifb "${opts.name}"`, () => TC.newIfb(opts));
    const link = await this.linkByName(opts.name);
    if (link === undefined) throw new NetlinkError(`ifb "${opts.name}" vanished right after it was added`, { cause: undefined });
    return link;
  }

  async linkDel(link: LinkRef): Promise<void> {
    await this.call(`delete ${describe(link)}`, () => E.delLink(refIndex(link)));
  }

  async linkSetUp(link: LinkRef): Promise<void> {
    await this.call(`set ${describe(link)} up`, () => E.setLinkUp(refIndex(link), true));
  }

  async linkSetDown(link: LinkRef): Promise<void> {
    await this.call(`set ${describe(link)} down`, () => E.setLinkUp(refIndex(link), false));
  }

  async linkSetMtu(link: LinkRef, mtu: number): Promise<void> {
    await this.call(`set MTU of ${describe(link)} to ${mtu}`, () => E.setLinkMtu(refIndex(link), mtu));
  }

  async linkSetAlias(link: LinkRef, alias: string): Promise<void> {
    await this.call(`set the alias of ${describe(link)}`, () => TC.setLinkAlias(refIndex(link), alias));
  }

  async linkSetMac(link: LinkRef, mac: string): Promise<void> {
    await this.call(`set MAC of ${describe(link)} to ${mac}`, () => E.setLinkMac(refIndex(link), mac));
  }

  async linkSetMaster(link: LinkRef, master: LinkRef | undefined): Promise<void> {
    const action = master === undefined ? `detach ${describe(link)} from its master` : `connect ${describe(link)} to ${describe(master)}`;
    await this.call(action, () => E.setLinkMaster(refIndex(link), master === undefined ? 0 : refIndex(master)));
  }

  async linkSetPromisc(link: LinkRef, on: boolean): Promise<void> {
    await this.call(`set promisc ${on ? 'on' : 'off'} on ${describe(link)}`, () => E.setLinkPromisc(refIndex(link), on));
  }

  async linkSetNetns(link: LinkRef, netns: NetnsRef): Promise<void> {
    await this.call(`move ${describe(link)} to ${describeNs(netns)}`, () => E.setLinkNetns(refIndex(link), nsRefFd(netns)));
  }

  // ------------------------------------------------------------ bridge ports and VLANs

  async setBridgePortFlags(link: LinkRef, flags: BridgePortFlags): Promise<void> {
    if (E.brportAttrs(flags).length === 0) return;
    const what = Object.entries(flags)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    await this.call(`set bridge port ${what} on ${describe(link)}`, () => E.setBridgePort(refIndex(link), flags));
  }

  async getBridgePort(link: LinkRef): Promise<BridgePort | undefined> {
    let replies: Reply[];
    try {
      replies = await this.call(`look up bridge port ${describe(link)}`, () => E.getLinkByIndex(refIndex(link)));
    } catch (err) {
      if (isNoDevice(err)) return undefined;
      throw err;
    }
    const msg = replies.find((r) => r.type === C.RTM_NEWLINK);
    return msg === undefined ? undefined : decodeBridgePort(msg.body);
  }

  async bridgeVlanAdd(opts: BridgeVlanOptions): Promise<void> {
    await this.call(`add ${vlanText(opts)} to ${describe(opts.link)}`, () => E.bridgeVlan('add', { ...opts, index: refIndex(opts.link) }));
  }

  async bridgeVlanDel(opts: BridgeVlanOptions): Promise<void> {
    await this.call(`delete ${vlanText(opts)} from ${describe(opts.link)}`, () => E.bridgeVlan('del', { ...opts, index: refIndex(opts.link) }));
  }

  async bridgeVlanList(link?: LinkRef): Promise<BridgeVlan[]> {
    const replies = await this.call('list bridge VLANs', () => E.dumpBridgeVlans());
    const index = link === undefined ? undefined : refIndex(link);
    return replies
      .filter((r) => r.type === C.RTM_NEWLINK)
      .flatMap((r) => decodeBridgeVlans(r.body))
      .filter((v) => index === undefined || v.index === index);
  }

  // ------------------------------------------------------------ addresses

  async addrAdd(opts: AddrAddOptions): Promise<void> {
    await this.call(`add address ${opts.address} to ${describe(opts.link)}`, () => E.addr('add', { ...opts, index: refIndex(opts.link) }));
  }

  async addrReplace(opts: AddrAddOptions): Promise<void> {
    await this.call(`replace address ${opts.address} on ${describe(opts.link)}`, () => E.addr('replace', { ...opts, index: refIndex(opts.link) }));
  }

  async addrDel(opts: AddrDelOptions): Promise<void> {
    await this.call(`delete address ${opts.address} from ${describe(opts.link)}`, () => E.addr('del', { ...opts, index: refIndex(opts.link) }));
  }

  async addrList(filter: AddrFilter = {}): Promise<Addr[]> {
    const what = filter.link === undefined ? 'list addresses' : `list addresses of ${describe(filter.link)}`;
    const replies = await this.call(what, () => E.dumpAddrs(filter.family));
    const index = filter.link === undefined ? undefined : refIndex(filter.link);
    const out: Addr[] = [];
    for (const r of replies) {
      if (r.type !== C.RTM_NEWADDR) continue;
      const a = decodeAddr(r.body);
      if (a === undefined) continue;
      if (index !== undefined && a.index !== index) continue;
      if (filter.family !== undefined && a.family !== filter.family) continue;
      out.push(a);
    }
    return out;
  }

  // ------------------------------------------------------------ routes

  private routeMsg(r: RouteAddOptions): E.RouteMsg {
    const { link, ...rest } = r;
    return link === undefined ? rest : { ...rest, oif: refIndex(link) };
  }

  async routeAdd(route: RouteAddOptions): Promise<void> {
    await this.call(`add ${routeText(route)}`, () => E.route('add', this.routeMsg(route)));
  }

  async routeReplace(route: RouteSpec): Promise<void> {
    await this.call(`replace ${routeText(route)}`, () => E.route('replace', this.routeMsg(route)));
  }

  async routeDel(route: RouteSpec): Promise<void> {
    await this.call(`delete ${routeText(route)}`, () => E.route('del', this.routeMsg(route)));
  }

  async routeList(filter: RouteFilter = {}): Promise<Route[]> {
    const replies = await this.call('list routes', () => E.dumpRoutes(filter.family));
    const table = filter.table ?? C.RT_TABLE_MAIN;
    const index = filter.link === undefined ? undefined : refIndex(filter.link);
    const dst = filter.dst === undefined ? undefined : canonicalPrefix(filter.dst);
    const out: Route[] = [];
    for (const r of replies) {
      if (r.type !== C.RTM_NEWROUTE) continue;
      const decoded = decodeRoute(r.body);
      if (decoded === undefined || decoded.cloned) continue;
      const d = decoded.route;
      if (filter.family !== undefined && d.family !== filter.family) continue;
      if (table !== 'all' && d.table !== table) continue;
      if (index !== undefined && d.linkIndex !== index && !(d.nexthops ?? []).some((h) => h.linkIndex === index)) continue;
      if (dst !== undefined && d.dst !== dst) continue;
      out.push(d);
    }
    return out;
  }

  async routeGet(ip: string): Promise<Route | undefined> {
    let replies: Reply[];
    try {
      replies = await this.call(`look up the route to ${ip}`, () => E.getRouteTo(ip));
    } catch (err) {
      // no route to it at all
      if (err instanceof NetlinkError && (err.code === 'ENETUNREACH' || err.code === 'EHOSTUNREACH')) return undefined;
      throw err;
    }
    const msg = replies.find((r) => r.type === C.RTM_NEWROUTE);
    return msg === undefined ? undefined : decodeRoute(msg.body)?.route;
  }

  // ------------------------------------------------------------ traffic control

  async qdiscList(link?: LinkRef): Promise<Qdisc[]> {
    const what = link === undefined ? 'list qdiscs' : `list qdiscs of ${describe(link)}`;
    const index = link === undefined ? undefined : refIndex(link);
    const replies = await this.call(what, () => TC.dumpQdiscs(index));
    return replies.filter((r) => r.type === C.RTM_NEWQDISC).map((r) => TC.decodeQdisc(r.body)).filter((q) => index === undefined || q.index === index);
  }

  async qdiscAddTbf(opts: TbfAddOptions): Promise<void> {
    const handle = opts.handle ?? TC.tcHandle(1, 0);
    const parent = opts.parent ?? C.TC_H_ROOT;
    await this.call(`add tbf qdisc (rate ${opts.rate} B/s, limit ${opts.limit}, buffer ${opts.buffer}) to ${describe(opts.link)}`, () =>
      TC.newTbf({ index: refIndex(opts.link), handle, parent, rate: opts.rate, limit: opts.limit, buffer: opts.buffer }),
    );
  }

  async qdiscAddIngress(link: LinkRef): Promise<void> {
    await this.call(`add ingress qdisc to ${describe(link)}`, () => TC.newIngress(refIndex(link)));
  }

  async qdiscDel(q: QdiscRef): Promise<void> {
    await this.call(`delete qdisc ${qdiscText(q.handle)} from ${describe(q.link)}`, () => TC.delQdisc({ index: refIndex(q.link), handle: q.handle, parent: q.parent }));
  }

  async filterAddU32Redirect(opts: U32RedirectOptions): Promise<void> {
    await this.call(`add u32 redirect filter to ${describe(opts.link)}`, () => TC.newU32MatchAll({ ...opts, index: refIndex(opts.link) }));
  }

  async filterList(link: LinkRef, parent: number): Promise<TcFilter[]> {
    let replies: Reply[];
    try {
      replies = await this.call(`list filters of ${describe(link)}`, () => TC.dumpFilters(refIndex(link), parent));
    } catch (err) {
      // no such qdisc (EINVAL) or link (ENODEV): no filters
      if (err instanceof NetlinkError && (err.code === 'EINVAL' || err.code === 'ENODEV' || err.code === 'ENOENT')) return [];
      throw err;
    }
    return replies.filter((r) => r.type === C.RTM_NEWTFILTER).map((r) => TC.decodeFilter(r.body));
  }

  close(): void {
    this.t.close();
  }
}

/** "1:" or "ffff:" as tc prints a qdisc handle. */
function qdiscText(handle: number): string {
  const minor = handle & 0xffff;
  return `${(handle >>> 16).toString(16)}:${minor === 0 ? '' : minor.toString(16)}`;
}

/**
 * Deletes the conntrack entries of `family` whose original tuple has protocol
 * `proto` and a destination port in `ports`, in the namespace `ns` (or the
 * current one). Returns how many were deleted; an entry that vanished
 * meanwhile is not an error.
 */
export async function conntrackDeleteByDstPort(family: IpFamily, proto: number, ports: readonly number[], ns?: Netns, options: OpenNetlinkOptions = {}): Promise<number> {
  if (ports.length === 0) return 0;
  const pkg = await loadNetlinkPackage();
  const where = ns === undefined ? 'the current network namespace' : `netns ${ns.path}`;
  let sock;
  try {
    if (ns === undefined) {
      sock = createSocket(pkg, C.NETLINK_NETFILTER);
    } else {
      await netnsReady();
      sock = ns.run(() => createSocket(pkg, C.NETLINK_NETFILTER));
    }
  } catch (err) {
    throw new NetlinkError(`failed to open a netfilter netlink socket in ${where}: ${causeText(err)}`, { cause: err });
  }
  const t = new Transport(sock, options.timeoutMs ?? 10_000);
  const wanted = new Set(ports);
  try {
    let replies: Reply[];
    try {
      replies = await t.request(CT.dumpConntrack(family));
    } catch (err) {
      throw new NetlinkError(`failed to list IPv${family} conntrack entries in ${where}: ${causeText(err)}`, { cause: err });
    }
    let deleted = 0;
    for (const r of replies) {
      const e = CT.decodeConntrackEntry(r.body);
      if (e.proto !== proto || e.dstPort === undefined || !wanted.has(e.dstPort) || e.key.length === 0) continue;
      try {
        await t.request(CT.deleteConntrack(family, e));
        deleted++;
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') continue;
        throw new NetlinkError(`failed to delete a conntrack entry to port ${e.dstPort} in ${where}: ${causeText(err)}`, { cause: err });
      }
    }
    return deleted;
  } finally {
    t.close();
  }
}

function vlanText(o: BridgeVlanOptions): string {
  let s = `VLAN ${o.vid}`;
  if (o.vidEnd !== undefined) s += `-${o.vidEnd}`;
  if (o.pvid === true) s += ' pvid';
  if (o.untagged === true) s += ' untagged';
  if (o.self === true) s += ' self';
  return s;
}
