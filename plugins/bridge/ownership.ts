/**
 * Whose is the container interface DEL found? A DEL must never remove another
 * pod's interface: when an ADD failed because CNI_IFNAME already existed in the
 * namespace (another attachment's), the runtime's DEL for the failed container
 * names that same interface. The reference deletes it regardless; we delete it
 * only when it is provably this attachment's:
 *
 * - prevResult names it (CNI_IFNAME in CNI_NETNS) with a MAC, and the MAC matches; or
 * - IPAM is host-local and one of its addresses is leased to this container id
 *   (and interface, when the lease records one) in host-local's data directory;
 * - the network has IPAM and the interface is a veth without a global address
 *   yet: an ADD that stopped before its addresses were set (killed, or failed
 *   before IPAM), which a configured pod's interface never is;
 * - the network has no IPAM (layer 2 only: nothing is leased to prove it) and
 *   the interface is a veth whose other end is a port of this network's bridge
 *   in the plugin's namespace (each end names the other's index). Another
 *   network's interface of the same name hangs on another bridge; a DEL
 *   without prevResult (1.0.0 without a cached result, and every DEL libcni
 *   sends below 0.4.0) then removes it, as the reference does.
 *
 * A prevResult MAC that differs is proof of the contrary. Without either proof
 * (no prevResult and another IPAM, or no addresses) the interface stays: it
 * goes with its namespace, which the runtime deletes after a DEL.
 */
import type { CmdArgs } from '../../lib/cni/skel.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { parseIp } from '../../lib/ip.ts';
import type { Addr, Link } from '../../lib/netlink/index.ts';
import { leaseOwner } from '../../ipam/host-local/api.ts';

export type Ownership = 'ours' | 'not-ours' | 'unknown';

/** What prevResult says of the container interface: its MAC matches or not; unknown without one. */
export function ownershipByMac(args: Pick<CmdArgs, 'ifName' | 'netns'>, prev: Result | undefined, link: Pick<Link, 'mac'>): Ownership {
  const entry = prev?.interfaces?.find((i) => i.name === args.ifName && (i.sandbox ?? '') !== '' && (i.sandbox === args.netns || args.netns === ''));
  const mac = entry?.mac;
  if (mac === undefined || mac === '' || link.mac === undefined) return 'unknown';
  return mac.toLowerCase() === link.mac.toLowerCase() ? 'ours' : 'not-ours';
}

/**
 * True when `contLink` (a veth in the container's namespace) and `hostEnd`
 * (the plugin's namespace's link at contLink's peer index) are the two ends of
 * one pair and `hostEnd` is a port of `bridge`.
 */
export function peerIsPortOf(contLink: Pick<Link, 'index' | 'kind'> & { peerIndex?: number; peerNetnsId?: number }, bridge: Link | undefined, hostEnd: Link | undefined): boolean {
  if (contLink.kind !== 'veth' || bridge?.kind !== 'bridge' || hostEnd?.kind !== 'veth') return false;
  if (contLink.peerNetnsId === undefined || hostEnd.peerNetnsId === undefined) return false; // both ends in one namespace
  return hostEnd.masterIndex === bridge.index && hostEnd.peerIndex === contLink.index && contLink.peerIndex === hostEnd.index;
}

/** True when host-local (per this config) has one of `addrs` leased to this container id and interface. */
export function leasedToUs(args: Pick<CmdArgs, 'conf' | 'args' | 'containerId' | 'ifName'>, addrs: readonly Pick<Addr, 'ip'>[]): boolean {
  // without prevResult (it may nest deep)
  const conf = Object.fromEntries(Object.entries(args.conf).filter(([k]) => k !== 'prevResult')) as CmdArgs['conf'];
  for (const a of addrs) {
    const ip = parseIp(a.ip);
    const owner = ip === undefined ? undefined : leaseOwner(conf, args.args, ip);
    if (owner !== undefined && owner.containerId === args.containerId.trim() && (owner.ifName === undefined || owner.ifName === args.ifName)) return true;
  }
  return false;
}
