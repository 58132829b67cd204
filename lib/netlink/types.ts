/**
 * The facade's public types: what a link, an address and a route look like
 * to plugin code, and the option objects of each verb. Optional fields are
 * the kernel attributes that may be absent: unset is not the same as false/0.
 */
import type { IpFamily } from './ip.ts';
import type { MirredSpec, Qdisc, TbfParams, TcFilter } from './tc.ts';

export type { MirredSpec, Qdisc, TbfOptions, TbfParams, TcAction, TcFilter } from './tc.ts';

/** IFLA_OPERSTATE (RFC 2863), by name. */
export type OperState = 'unknown' | 'notpresent' | 'down' | 'lowerlayerdown' | 'testing' | 'dormant' | 'up';

/** ifi_flags, decoded. Always all present: the kernel reports every flag. */
export interface LinkFlags {
  readonly up: boolean;
  readonly broadcast: boolean;
  readonly loopback: boolean;
  readonly pointopoint: boolean;
  readonly running: boolean;
  readonly noarp: boolean;
  readonly promisc: boolean;
  readonly allmulti: boolean;
  readonly master: boolean;
  readonly slave: boolean;
  readonly multicast: boolean;
  readonly lowerUp: boolean;
  readonly dormant: boolean;
}

interface LinkCommon {
  readonly index: number;
  readonly name: string;
  readonly mtu: number;
  /** IFLA_ADDRESS as "aa:bb:cc:dd:ee:ff" (absent on some tunnel types). */
  readonly mac?: string;
  readonly flags: LinkFlags;
  readonly operstate: OperState;
  /** IFLA_MASTER: the bridge (or bond) this link is enslaved to. */
  readonly masterIndex?: number;
  /** IFLA_INFO_SLAVE_KIND, e.g. "bridge" for a bridge port. */
  readonly slaveKind?: string;
  readonly txqlen?: number;
  /** IFLA_PROMISCUITY: the kernel's promiscuity counter (bridge ports count 1). */
  readonly promiscuity?: number;
  /** IFLA_IFALIAS, when set. */
  readonly alias?: string;
  /** ARPHRD_* link type (1 = ether, 772 = loopback). */
  readonly linkType: number;
}

export interface BridgeLink extends LinkCommon {
  readonly kind: 'bridge';
  /** IFLA_BR_VLAN_FILTERING. */
  readonly vlanFiltering?: boolean;
  /** IFLA_BR_VLAN_DEFAULT_PVID. */
  readonly vlanDefaultPvid?: number;
}

export interface VethLink extends LinkCommon {
  readonly kind: 'veth';
  /** IFLA_LINK: the peer's ifindex, in the peer's namespace. */
  readonly peerIndex?: number;
  /** IFLA_LINK_NETNSID: set when the peer lives in another namespace (this namespace's id for it). */
  readonly peerNetnsId?: number;
}

export interface VlanLink extends LinkCommon {
  readonly kind: 'vlan';
  readonly vlanId?: number;
  /** IFLA_LINK: the lower device. */
  readonly parentIndex?: number;
}

/** A link without IFLA_INFO_KIND: a physical NIC or loopback. */
export interface DeviceLink extends LinkCommon {
  readonly kind: 'device';
}

/** Any other rtnl link kind (dummy, vxlan, macvlan, ...): `infoKind` names it. */
export interface OtherLink extends LinkCommon {
  readonly kind: 'other';
  readonly infoKind: string;
}

export type Link = BridgeLink | VethLink | VlanLink | DeviceLink | OtherLink;
export type LinkKind = Link['kind'];

/** A link named by its index, or a Link (its name then appears in error messages). */
export type LinkRef = number | { readonly index: number; readonly name?: string };

/** A network namespace, by open fd or by an object holding one (lib/netns Netns). */
export type NetnsRef = number | { readonly fd: number; readonly path?: string };

export interface BridgeAddOptions {
  readonly name: string;
  readonly mtu?: number;
  readonly mac?: string;
  readonly txqlen?: number;
  /** IFLA_BR_VLAN_FILTERING; unset leaves the kernel default (off). */
  readonly vlanFiltering?: boolean;
  /** IFLA_BR_VLAN_DEFAULT_PVID; unset leaves the kernel default (1). */
  readonly vlanDefaultPvid?: number;
}

export interface IfbAddOptions {
  readonly name: string;
  readonly mtu?: number;
  readonly txqlen?: number;
  /** Created up (IFF_UP in the request, as the reference does). */
  readonly up?: boolean;
}

export interface TbfAddOptions extends TbfParams {
  readonly link: LinkRef;
  /** Default 1: (0x00010000). */
  readonly handle?: number;
  /** Default root. */
  readonly parent?: number;
}

export interface U32RedirectOptions {
  readonly link: LinkRef;
  /** The qdisc the filter hangs on (ffff: for ingress). */
  readonly parent: number;
  readonly priority: number;
  /** Ethernet protocol, host order (ETH_P_ALL 3). */
  readonly protocol: number;
  readonly classId: number;
  /** Mirred actions, in order. */
  readonly mirred: readonly MirredSpec[];
}

export interface QdiscRef {
  readonly link: LinkRef;
  readonly handle: number;
  readonly parent: number;
}

export interface VethAddOptions {
  readonly name: string;
  readonly peerName: string;
  /** Both ends, unless `peerMtu` is given. */
  readonly mtu?: number;
  readonly peerMtu?: number;
  readonly mac?: string;
  readonly peerMac?: string;
  /** Create the peer directly in the namespace of this open fd (IFLA_NET_NS_FD in the peer's attributes); e.g. `netns.fd`. */
  readonly peerNetnsFd?: number;
}

/** Bridge port (IFLA_BRPORT_*) settings; unset fields are left as they are. */
export interface BridgePortFlags {
  /** IFLA_BRPORT_MODE: hairpin (reflective relay). */
  readonly hairpin?: boolean;
  readonly isolated?: boolean;
  readonly learning?: boolean;
  readonly unicastFlood?: boolean;
  readonly multicastFlood?: boolean;
  readonly broadcastFlood?: boolean;
  /** IFLA_BRPORT_GUARD: BPDU guard. */
  readonly bpduGuard?: boolean;
  /** IFLA_BRPORT_PROTECT: root port protection (root_block). */
  readonly rootBlock?: boolean;
  readonly fastLeave?: boolean;
  readonly proxyArp?: boolean;
  readonly neighSuppress?: boolean;
  readonly cost?: number;
  readonly priority?: number;
  /** STP state: 0 disabled, 1 listening, 2 learning, 3 forwarding, 4 blocking. */
  readonly state?: number;
}

/** A bridge port as the kernel reports it. Fields the kernel did not send stay unset. */
export interface BridgePort extends BridgePortFlags {
  readonly index: number;
  readonly masterIndex?: number;
}

export interface BridgeVlanOptions {
  readonly link: LinkRef;
  readonly vid: number;
  /** Last VID of a range vid..vidEnd (not with pvid). */
  readonly vidEnd?: number;
  /** Ingress untagged traffic is put in this VLAN. */
  readonly pvid?: boolean;
  /** Egress untagged. */
  readonly untagged?: boolean;
  /** Operate on the bridge device itself (`bridge vlan ... self`), not on the port via its master. */
  readonly self?: boolean;
}

export interface BridgeVlan {
  readonly index: number;
  readonly vid: number;
  readonly pvid: boolean;
  readonly untagged: boolean;
  /** BRIDGE_VLAN_INFO_BRENTRY: the bridge's own entry (on the bridge device). */
  readonly brentry: boolean;
}

export type Scope = 'universe' | 'site' | 'link' | 'host' | 'nowhere' | number;

export interface AddrFlags {
  readonly secondary: boolean;
  readonly nodad: boolean;
  readonly optimistic: boolean;
  readonly dadfailed: boolean;
  readonly homeaddress: boolean;
  readonly deprecated: boolean;
  readonly tentative: boolean;
  readonly permanent: boolean;
  readonly managetempaddr: boolean;
  readonly noprefixroute: boolean;
  readonly mcautojoin: boolean;
  readonly stablePrivacy: boolean;
}

export interface Addr {
  readonly index: number;
  readonly family: IpFamily;
  /** The local address, "10.1.2.3". */
  readonly ip: string;
  readonly prefixLen: number;
  /** "10.1.2.3/24". */
  readonly address: string;
  /** The peer (IFA_ADDRESS) when it differs from the local address. */
  readonly peer?: string;
  readonly broadcast?: string;
  readonly label?: string;
  readonly scope: Scope;
  readonly flags: AddrFlags;
  /** Seconds; 0xffffffff is forever. */
  readonly validLft?: number;
  readonly preferredLft?: number;
}

export interface AddrAddOptions {
  readonly link: LinkRef;
  /** "ip/prefix". */
  readonly address: string;
  readonly peer?: string;
  /** IPv4 only. Unset: computed from the prefix (as the reference plugins do); false: none. */
  readonly broadcast?: string | false;
  /** IPv4 only; must be the link's name or start with "<name>:". */
  readonly label?: string;
  readonly scope?: Scope;
  /** IFA_F_NODAD: skip IPv6 duplicate address detection. */
  readonly noDad?: boolean;
  /** IFA_F_NOPREFIXROUTE: do not install the prefix route. */
  readonly noPrefixRoute?: boolean;
}

export interface AddrDelOptions {
  readonly link: LinkRef;
  readonly address: string;
}

export interface AddrFilter {
  readonly link?: LinkRef;
  readonly family?: IpFamily;
}

export type RouteType = 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw' | 'nat';

export interface RouteSpec {
  /** "10.0.0.0/8", "0.0.0.0/0", "::/0". */
  readonly dst: string;
  readonly gw?: string;
  readonly link?: LinkRef;
  /** Routing table; unset means main (254). */
  readonly table?: number;
  /** Unset: universe on add (as the reference plugins do), any on delete. */
  readonly scope?: Scope;
  /** RTA_PRIORITY, the metric. */
  readonly priority?: number;
  /** RTAX_MTU. */
  readonly mtu?: number;
  /** RTAX_ADVMSS. */
  readonly advmss?: number;
  /** RTA_PREFSRC, the preferred source address ("src" in iproute2). */
  readonly src?: string;
  /** Unset: unicast on add, any on delete. */
  readonly type?: RouteType;
  /** rtm_protocol; unset: 3 (boot) on add, any on delete. */
  readonly protocol?: number;
}

export interface RouteAddOptions extends RouteSpec {
  /** NLM_F_EXCL: fail if a route with the same key exists (default false: ECMP-friendly, like the reference). */
  readonly exclusive?: boolean;
}

export interface NextHop {
  readonly gw?: string;
  readonly linkIndex: number;
  /** rtnh_hops + 1. */
  readonly weight: number;
}

export interface Route {
  readonly family: IpFamily;
  readonly dst: string;
  readonly gw?: string;
  readonly linkIndex?: number;
  readonly table: number;
  readonly scope: Scope;
  readonly priority?: number;
  readonly protocol: number;
  readonly type: RouteType | number;
  readonly src?: string;
  readonly mtu?: number;
  readonly advmss?: number;
  /** RTA_MULTIPATH (ECMP). */
  readonly nexthops?: readonly NextHop[];
}

export interface RouteFilter {
  readonly family?: IpFamily;
  /** Default main (254); 'all' for every table. */
  readonly table?: number | 'all';
  /** Routes out of this link (directly or through one of their nexthops). */
  readonly link?: LinkRef;
  /** Exact destination, e.g. "10.0.0.0/8" or "0.0.0.0/0". */
  readonly dst?: string;
}

/**
 * A netlink handle bound to one network namespace (the one it was opened in),
 * usable from anywhere: the socket stays in its namespace.
 */
export interface Netlink {
  /** Path of the namespace the socket was created in; undefined for the process's own. */
  readonly netnsPath: string | undefined;

  linkByName(name: string): Promise<Link | undefined>;
  linkByIndex(index: number): Promise<Link | undefined>;
  linkList(): Promise<Link[]>;
  linkAddBridge(opts: BridgeAddOptions): Promise<BridgeLink>;
  /** Creates the pair and returns the local end (the peer may be in another namespace). */
  linkAddVeth(opts: VethAddOptions): Promise<VethLink>;
  /** Creates an ifb device and returns it. */
  linkAddIfb(opts: IfbAddOptions): Promise<Link>;
  linkDel(link: LinkRef): Promise<void>;
  linkSetUp(link: LinkRef): Promise<void>;
  linkSetDown(link: LinkRef): Promise<void>;
  linkSetMtu(link: LinkRef, mtu: number): Promise<void>;
  /** IFLA_IFALIAS (at most 255 bytes). */
  linkSetAlias(link: LinkRef, alias: string): Promise<void>;
  linkSetMac(link: LinkRef, mac: string): Promise<void>;
  /** `undefined` detaches (nomaster). */
  linkSetMaster(link: LinkRef, master: LinkRef | undefined): Promise<void>;
  linkSetPromisc(link: LinkRef, on: boolean): Promise<void>;
  linkSetNetns(link: LinkRef, netns: NetnsRef): Promise<void>;

  setBridgePortFlags(link: LinkRef, flags: BridgePortFlags): Promise<void>;
  /** undefined when the link does not exist or is not a bridge port. */
  getBridgePort(link: LinkRef): Promise<BridgePort | undefined>;
  bridgeVlanAdd(opts: BridgeVlanOptions): Promise<void>;
  bridgeVlanDel(opts: BridgeVlanOptions): Promise<void>;
  /** VLAN entries of one link, or of every bridge port and bridge when `link` is unset. */
  bridgeVlanList(link?: LinkRef): Promise<BridgeVlan[]>;

  addrAdd(opts: AddrAddOptions): Promise<void>;
  addrReplace(opts: AddrAddOptions): Promise<void>;
  addrDel(opts: AddrDelOptions): Promise<void>;
  addrList(filter?: AddrFilter): Promise<Addr[]>;

  routeAdd(route: RouteAddOptions): Promise<void>;
  routeReplace(route: RouteSpec): Promise<void>;
  routeDel(route: RouteSpec): Promise<void>;
  routeList(filter?: RouteFilter): Promise<Route[]>;
  /** The route the kernel would use to reach `ip` (`ip route get`); undefined when it is unreachable. */
  routeGet(ip: string): Promise<Route | undefined>;

  /** Qdiscs of one link (or of every link). */
  qdiscList(link?: LinkRef): Promise<Qdisc[]>;
  qdiscAddTbf(opts: TbfAddOptions): Promise<void>;
  /** The ingress qdisc (handle ffff:). */
  qdiscAddIngress(link: LinkRef): Promise<void>;
  qdiscDel(q: QdiscRef): Promise<void>;
  /** A match-all u32 filter with mirred redirects (`tc filter add ... u32 match u32 0 0 ... action mirred ...`). */
  filterAddU32Redirect(opts: U32RedirectOptions): Promise<void>;
  /** Filters of one link under `parent`; empty when the link has no such qdisc. */
  filterList(link: LinkRef, parent: number): Promise<TcFilter[]>;

  close(): void;
}
