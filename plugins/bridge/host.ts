/**
 * The host side of the bridge plugin: the bridge, the veth pair (its
 * container end created directly in the pod's namespace), the bridge port's
 * flags and VLANs, the gateway address, forwarding, and the wait for the port
 * to forward. Every function takes one options object and a HostContext; the
 * messages are the reference's (plugins/main/bridge/bridge.go, pkg/ip/link_linux.go).
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { Logger } from '../../lib/cni/skel.ts';
import { KernelError, NetlinkError, type BridgeLink, type Link, type Netlink, type VethLink } from '../../lib/netlink/index.ts';
import type { IpFamily } from '../../lib/netlink/ip.ts';
import type { Netns } from '../../lib/netns/index.ts';
import { backoffDelays, gatewayAction, randomMac, randomVethName, type GatewayAddr, type VlanPlan, vidRanges } from './plan.ts';
import { setBestEffort, type Sysctl } from './sysctl.ts';

export interface HostContext {
  /** Netlink handle on the host's namespace. */
  nl: Netlink;
  sysctl: Sysctl;
  /** Whether the host kernel has IPv6 (IPv6 sysctls are skipped without it). */
  ipv6: boolean;
  log: Logger;
  random: (bytes: number) => Buffer;
  sleep: (ms: number) => Promise<void>;
}

/** The kernel's reason for a failed netlink call ("File exists (EEXIST)"), else the error's message. */
export function reasonOf(err: unknown): string {
  if (err instanceof NetlinkError && err.cause instanceof KernelError) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

function fail(msg: string, err?: unknown): CniError {
  return new CniError(CniCode.Internal, err === undefined ? msg : `${msg}: ${reasonOf(err)}`, '', { cause: err });
}

// ---------------------------------------------------------------- bridge

export interface EnsureBridgeOptions {
  name: string;
  /** 0: the kernel's default. Applied only when the bridge is created, as in the reference. */
  mtu: number;
  promisc: boolean;
  /** Applied only when the bridge is created. */
  vlanFiltering: boolean;
}

/**
 * ensureBridge: create the bridge if it is missing (a concurrent creator's
 * EEXIST is fine), refuse a non-bridge link of that name, promisc on when
 * asked, accept_ra=0 (we own its routes), up. A bridge created here gets its
 * random MAC of its own at once, which pins it: the address stops following
 * the lowest port (containernetworking/plugins#60; the reference pins only
 * with isGateway).
 */
export async function ensureBridge(ctx: HostContext, o: EnsureBridgeOptions): Promise<{ bridge: BridgeLink; created: boolean }> {
  const prefix = `failed to create bridge "${o.name}"`;
  let link: Link | undefined = await ctx.nl.linkByName(o.name);
  let created = false;
  if (link === undefined) {
    try {
      const spec = { name: o.name, ...(o.mtu > 0 ? { mtu: o.mtu } : {}), ...(o.vlanFiltering ? { vlanFiltering: true } : {}) };
      link = await ctx.nl.linkAddBridge(spec);
      created = true;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw fail(`${prefix}: could not add "${o.name}"`, err);
      link = await ctx.nl.linkByName(o.name);
    }
  }
  if (link === undefined) throw fail(`${prefix}: could not lookup "${o.name}": Link not found`);
  if (link.kind !== 'bridge') throw fail(`${prefix}: "${o.name}" already exists but is not a bridge`);
  let br: BridgeLink = link;
  if (o.promisc && !br.flags.promisc) {
    try {
      await ctx.nl.linkSetPromisc(br, true);
    } catch (err) {
      throw fail(`${prefix}: could not set promiscuous mode on "${o.name}"`, err);
    }
  }
  if (ctx.ipv6) setBestEffort(ctx.sysctl, `net/ipv6/conf/${o.name}/accept_ra`, '0', (m) => ctx.log.warn(m));
  if (created) {
    // a new address (not the kernel's own again) also sets the bridge id, which a same-value write would leave at zero
    try {
      await ctx.nl.linkSetMac(br, randomMac(ctx.random(6)));
    } catch (err) {
      throw fail(`${prefix}: could not set bridge's mac`, err);
    }
  }
  if (!br.flags.up) {
    try {
      await ctx.nl.linkSetUp(br);
    } catch (err) {
      throw fail(prefix, err);
    }
  }
  const fresh = await ctx.nl.linkByName(o.name);
  if (fresh?.kind === 'bridge') br = fresh;
  return { bridge: br, created };
}

// ---------------------------------------------------------------- veth pair

export interface CreateVethOptions {
  /** Handle on the container's namespace. */
  contNl: Netlink;
  contNs: Netns;
  /** CNI_IFNAME. */
  ifName: string;
  mtu: number;
  /** Container end's MAC. */
  mac: string | undefined;
}

export interface VethPair {
  host: VethLink;
  container: VethLink;
}

const VETH_NAME_ATTEMPTS = 10;

/**
 * makeVeth: the pair is created from the host with its peer placed directly
 * in the container's namespace as CNI_IFNAME (nothing is ever moved), the host
 * end named veth + 8 random hex digits; a host-name collision picks another
 * name (up to 10 tries), an existing CNI_IFNAME in the container is an error.
 */
export async function createVeth(ctx: HostContext, o: CreateVethOptions): Promise<VethPair> {
  for (let attempt = 0; attempt < VETH_NAME_ATTEMPTS; attempt++) {
    const hostName = randomVethName(ctx.random(4));
    let host: VethLink;
    try {
      host = await ctx.nl.linkAddVeth({
        name: hostName,
        peerName: o.ifName,
        peerNetnsFd: o.contNs.fd,
        ...(o.mtu > 0 ? { mtu: o.mtu } : {}),
        ...(o.mac !== undefined ? { peerMac: o.mac } : {}),
      });
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') {
        if ((await ctx.nl.linkByName(hostName)) !== undefined) continue;
        throw new CniError(CniCode.Internal, `container veth name (${JSON.stringify(o.ifName)}) peer provided (${JSON.stringify(hostName)}) already exists`, `an interface named ${o.ifName} already exists in ${o.contNs.path}`, { cause: err });
      }
      throw fail('failed to make veth pair', err);
    }
    const container = await o.contNl.linkByName(o.ifName);
    if (container?.kind !== 'veth') {
      await ctx.nl.linkDel(host).catch(() => undefined);
      throw fail(`failed to lookup ${JSON.stringify(o.ifName)} in ${o.contNs.path}: the new veth end is missing`);
    }
    return { host, container };
  }
  throw fail('failed to find a unique veth name');
}

/** The host end: up, accept_ra=0 (we want to own the routes for this interface). */
export async function bringUpHostEnd(ctx: HostContext, host: Link): Promise<void> {
  try {
    await ctx.nl.linkSetUp(host);
  } catch (err) {
    throw fail(`failed to set ${JSON.stringify(host.name)} up`, err);
  }
  if (ctx.ipv6) setBestEffort(ctx.sysctl, `net/ipv6/conf/${host.name}/accept_ra`, '0', (m) => ctx.log.warn(m));
}

// ---------------------------------------------------------------- bridge port

export interface PortOptions {
  bridge: BridgeLink;
  port: Link;
  hairpin: boolean;
  isolated: boolean;
  vlans: VlanPlan;
}

/** Attach to the bridge, hairpin (explicitly on or off), isolation, VLAN entries. */
export async function setupPort(ctx: HostContext, o: PortOptions): Promise<void> {
  const name = o.port.name;
  try {
    await ctx.nl.linkSetMaster(o.port, o.bridge);
  } catch (err) {
    throw fail(`failed to connect ${JSON.stringify(name)} to bridge ${o.bridge.name}`, err);
  }
  try {
    await ctx.nl.setBridgePortFlags(o.port, { hairpin: o.hairpin });
  } catch (err) {
    throw fail(`failed to setup hairpin mode for ${name}`, err);
  }
  if (o.isolated) {
    try {
      await ctx.nl.setBridgePortFlags(o.port, { isolated: true });
    } catch (err) {
      throw fail(`failed to set isolated on interface ${JSON.stringify(name)}`, err);
    }
  }
  await setupPortVlans(ctx, o.port, o.vlans);
}

async function setupPortVlans(ctx: HostContext, port: Link, plan: VlanPlan): Promise<void> {
  if (plan.removeExisting) {
    try {
      for (const v of await ctx.nl.bridgeVlanList(port)) await ctx.nl.bridgeVlanDel({ link: port, vid: v.vid });
    } catch (err) {
      throw fail(`failed to remove default vlan on interface ${JSON.stringify(port.name)}`, err);
    }
  }
  try {
    if (plan.pvid !== undefined) await ctx.nl.bridgeVlanAdd({ link: port, vid: plan.pvid, pvid: true, untagged: true });
    for (const r of vidRanges(plan.tagged)) await ctx.nl.bridgeVlanAdd({ link: port, vid: r.vid, vidEnd: r.vidEnd });
  } catch (err) {
    throw fail(`failed to setup vlan tag on interface ${JSON.stringify(port.name)}`, err);
  }
}

/**
 * ensureVlanInterface: with `vlan` and isGateway the gateway lives on
 * "<bridge>.<vlan>", one end of a host-side veth pair whose other end is a
 * bridge port in that VLAN (PVID, untagged). Created on first use, then shared.
 */
export async function ensureVlanGateway(ctx: HostContext, o: { bridge: BridgeLink; name: string; vlans: VlanPlan }): Promise<Link> {
  const existing = await ctx.nl.linkByName(o.name);
  if (existing !== undefined) return existing;
  for (let attempt = 0; attempt < VETH_NAME_ATTEMPTS; attempt++) {
    const peerName = randomVethName(ctx.random(4));
    let dev: VethLink;
    try {
      dev = await ctx.nl.linkAddVeth({ name: o.name, peerName, mtu: o.bridge.mtu });
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') {
        const now = await ctx.nl.linkByName(o.name);
        if (now !== undefined) return now; // a concurrent ADD made it
        continue;
      }
      throw fail(`failed to create vlan interface: faild to create vlan gateway ${JSON.stringify(o.name)}`, err);
    }
    const peer = await ctx.nl.linkByName(peerName);
    if (peer === undefined) throw fail(`failed to create vlan interface: failed to lookup ${JSON.stringify(peerName)}`);
    await bringUpHostEnd(ctx, peer);
    await setupPort(ctx, { bridge: o.bridge, port: peer, hairpin: false, isolated: false, vlans: { ...o.vlans, tagged: [] } });
    try {
      await ctx.nl.linkSetUp(dev);
    } catch (err) {
      throw fail(`failed to create vlan interface: failed to up ${JSON.stringify(o.name)}`, err);
    }
    return (await ctx.nl.linkByName(o.name)) ?? dev;
  }
  throw fail('failed to create vlan interface: failed to find a unique veth name');
}

// ---------------------------------------------------------------- gateway address

/**
 * ensureAddr for each gateway: identical address present is fine; a
 * conflicting one is the reference's error unless forceAddress (then it is
 * replaced). After adding an address the link's MAC is set to itself, which
 * pins a bridge's address (the reference's fix for containernetworking/plugins#60).
 */
export async function ensureGatewayAddrs(ctx: HostContext, o: { link: Link; gateways: readonly GatewayAddr[]; force: boolean }): Promise<void> {
  const prefix = 'failed to set bridge addr';
  let added = false;
  for (const gw of o.gateways) {
    let existing;
    try {
      existing = await ctx.nl.addrList({ link: o.link, family: gw.family });
    } catch (err) {
      throw fail(`${prefix}: could not get list of IP addresses`, err);
    }
    const action = gatewayAction({ existing: existing.map((a) => ({ family: a.family, address: a.address })), gateway: gw, force: o.force, ours: o.gateways });
    if (action.kind === 'present') continue;
    if (action.kind === 'conflict') {
      throw new CniError(
        CniCode.Internal,
        `${prefix}: ${JSON.stringify(o.link.name)} already has an IP address different from ${gw.cidr}`,
        `${o.link.name} has ${action.existing}, this network's gateway is ${gw.cidr} (the node's pod subnet changed?); remove the old address or set "forceAddress": true`,
      );
    }
    for (const old of action.remove) {
      try {
        await ctx.nl.addrDel({ link: o.link, address: old });
      } catch (err) {
        if (errnoOf(err) !== 'EADDRNOTAVAIL') throw fail(`${prefix}: could not remove IP address from ${JSON.stringify(o.link.name)}`, err);
      }
      ctx.log.warn(`forceAddress: replaced ${old} on ${o.link.name} with ${gw.cidr}`);
    }
    try {
      await ctx.nl.addrAdd({ link: o.link, address: gw.cidr });
      added = true;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw fail(`${prefix}: could not add IP address ${gw.cidr} to ${JSON.stringify(o.link.name)}`, err);
    }
  }
  if (added) {
    const now = await ctx.nl.linkByIndex(o.link.index);
    if (now?.mac !== undefined) {
      try {
        await ctx.nl.linkSetMac(now, now.mac);
      } catch (err) {
        throw fail(`${prefix}: could not set bridge's mac`, err);
      }
    }
  }
}

const FORWARD_KEY: Readonly<Record<IpFamily, string>> = { 4: 'net/ipv4/ip_forward', 6: 'net/ipv6/conf/all/forwarding' };

/** enableIPForward per family; the write is skipped when it is already 1. */
export function enableForwarding(ctx: HostContext, families: readonly IpFamily[]): void {
  for (const f of families) {
    const key = FORWARD_KEY[f];
    try {
      if (ctx.sysctl.get(key) === '1') continue;
      ctx.sysctl.set(key, '1');
    } catch (err) {
      throw fail(`failed to enable forwarding: ${key}`, err);
    }
  }
}

// ---------------------------------------------------------------- port state

const BR_STATE_FORWARDING = 3;
export const PORT_WAIT_MS = 2550;

/**
 * Waits until the host end is operationally up and, as a bridge port, in the
 * forwarding state, so the pod's first packets (and the kernel's gratuitous
 * ARP from arp_notify) are not lost (containernetworking/plugins#463). Not up
 * in time is the reference's error; up but not forwarding yet (STP is on) is
 * a warning, since STP legitimately takes longer.
 */
export async function waitPortForwarding(ctx: HostContext, port: Link): Promise<void> {
  let operstate = 'unknown';
  let state: number | undefined;
  for (const delay of [0, ...backoffDelays(PORT_WAIT_MS)]) {
    if (delay > 0) await ctx.sleep(delay);
    const link = await ctx.nl.linkByIndex(port.index);
    if (link === undefined) throw fail(`failed to lookup ${JSON.stringify(port.name)}: Link not found`);
    operstate = link.operstate;
    state = (await ctx.nl.getBridgePort(port))?.state;
    if (operstate === 'up' && (state === undefined || state === BR_STATE_FORWARDING)) return;
  }
  if (operstate !== 'up') throw fail(`bridge port in error state: ${operstate}`);
  ctx.log.warn(`bridge port ${port.name} is up but not forwarding yet (STP state ${String(state)}); continuing`);
}
