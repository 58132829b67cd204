/**
 * The container side: sysctls of the new interface, its addresses, the link
 * up, the wait for IPv6 addresses to leave the tentative state, and routes.
 * The reference's order and messages (bridge.go cmdAdd, pkg/ipam/ipam_linux.go
 * ConfigureIface, pkg/ip/addr_linux.go SettleAddresses).
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { Logger } from '../../lib/cni/skel.ts';
import type { IPConfig } from '../../lib/cni/types/current.ts';
import type { Link, Netlink } from '../../lib/netlink/index.ts';
import { errnoOf, reasonOf } from './host.ts';
import { backoffDelays, parseCidr, type ContainerRoute } from './plan.ts';
import { setBestEffort, type Sysctl } from './sysctl.ts';

export interface ContainerContext {
  /** Netlink handle on the container's namespace. */
  nl: Netlink;
  sysctl: Sysctl;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
}

export const SETTLE_MS = 5000;

function fail(msg: string, err?: unknown): CniError {
  return new CniError(CniCode.Internal, err === undefined ? msg : `${msg}: ${reasonOf(err)}`, '', { cause: err });
}

/** DAD and ARP sysctls of the new interface; best effort (no IPv6 in the kernel is fine). */
export function interfaceSysctls(ctx: ContainerContext, o: { ifName: string; enableDad: boolean }): void {
  const warn = (m: string): void => ctx.log.warn(m);
  const v6 = `net/ipv6/conf/${o.ifName}`;
  if (ctx.sysctl.get(`${v6}/accept_dad`) !== undefined) {
    if (o.enableDad) {
      setBestEffort(ctx.sysctl, `${v6}/enhanced_dad`, '1', warn);
      setBestEffort(ctx.sysctl, `${v6}/accept_dad`, '1', warn);
    } else {
      // hairpin reflects our own neighbour solicitations: without DAD they cannot fail it
      setBestEffort(ctx.sysctl, `${v6}/accept_dad`, '0', warn);
    }
  }
  // the kernel sends a gratuitous ARP when the link comes up or its address changes
  setBestEffort(ctx.sysctl, `net/ipv4/conf/${o.ifName}/arp_notify`, '1', warn);
}

/** ConfigureIface's IPv6 preparation: disable_ipv6=0 on lo and the interface, keep_addr_on_down=1. */
function enableIpv6(ctx: ContainerContext, ifName: string): void {
  for (const dev of ['lo', ifName]) {
    const key = `net/ipv6/conf/${dev}/disable_ipv6`;
    let value: string | undefined;
    try {
      value = ctx.sysctl.get(key);
    } catch (err) {
      ctx.log.warn(`failed to read sysctl ${JSON.stringify(key)}: ${(err as Error).message}`);
      continue;
    }
    if (value === undefined) throw fail(`failed to enable IPv6 for interface ${JSON.stringify(dev)}: the kernel has no IPv6 (${key} does not exist)`);
    if (value === '0') continue;
    try {
      ctx.sysctl.set(key, '0');
    } catch (err) {
      throw fail(`failed to enable IPv6 for interface ${JSON.stringify(dev)} (${key}=${value})`, err);
    }
  }
  setBestEffort(ctx.sysctl, `net/ipv6/conf/${ifName}/keep_addr_on_down`, '1', (m) => ctx.log.warn(m));
}

function routeText(r: ContainerRoute, ifName: string): string {
  return `'${r.dst} via ${r.gw ?? '<nil>'} dev ${ifName} metric ${r.priority ?? 0} (Scope: ${r.scope ?? 0}, Table: ${r.table ?? 0})'`;
}

/**
 * Addresses, link up, settle, routes. `ips` are the result's addresses (all on
 * this interface), `routes` the planned routes.
 */
export async function configureInterface(ctx: ContainerContext, o: { link: Link; ips: readonly IPConfig[]; routes: readonly ContainerRoute[] }): Promise<void> {
  const ifName = o.link.name;
  const hasV6 = o.ips.some((ipc) => parseCidr(ipc.address).family === 6);
  if (hasV6) enableIpv6(ctx, ifName);
  for (const ipc of o.ips) {
    try {
      await ctx.nl.addrAdd({ link: o.link, address: ipc.address });
    } catch (err) {
      throw fail(`failed to add IP addr ${ipc.address} to ${JSON.stringify(ifName)}`, err);
    }
  }
  try {
    await ctx.nl.linkSetUp(o.link);
  } catch (err) {
    throw fail(`failed to set ${JSON.stringify(ifName)} UP`, err);
  }
  if (hasV6) await settleAddresses(ctx, o.link);
  for (const r of o.routes) {
    try {
      await ctx.nl.routeAdd({
        dst: r.dst,
        link: o.link,
        ...(r.gw !== undefined ? { gw: r.gw } : {}),
        ...(r.priority !== undefined ? { priority: r.priority } : {}),
        ...(r.table !== undefined ? { table: r.table } : {}),
        ...(r.scope !== undefined ? { scope: r.scope } : {}),
        ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
        ...(r.advmss !== undefined ? { advmss: r.advmss } : {}),
      });
    } catch (err) {
      // without NLM_F_EXCL the kernel says EEXIST only for an identical route: it is there
      if (errnoOf(err) === 'EEXIST') continue;
      throw fail(`failed to add route ${routeText(r, ifName)}`, err);
    }
  }
}

/** SettleAddresses: wait (5 s at most) until no IPv6 address of the link is tentative; DAD failure is an error. */
export async function settleAddresses(ctx: ContainerContext, link: Link): Promise<void> {
  for (const delay of [0, ...backoffDelays(SETTLE_MS, 5, 250)]) {
    if (delay > 0) await ctx.sleep(delay);
    const addrs = await ctx.nl.addrList({ link, family: 6 });
    const failed = addrs.find((a) => a.flags.dadfailed);
    if (failed !== undefined) throw fail(`link ${link.name} has address ${failed.address} in DADFAILED state`);
    if (!addrs.some((a) => a.flags.tentative)) return;
  }
  throw fail(`link ${link.name} still has tentative addresses after ${SETTLE_MS / 1000}s`);
}

/** Layer 2 only: just bring the interface up. */
export async function linkUp(ctx: ContainerContext, link: Link): Promise<void> {
  try {
    await ctx.nl.linkSetUp(link);
  } catch (err) {
    throw fail(`failed to set ${JSON.stringify(link.name)} up`, err);
  }
}
