/**
 * CHECK: the reference's checks (bridge.go cmdCheck: the bridge, the
 * container interface, a host veth peered with it and attached to the bridge,
 * their MACs, the container's addresses and routes) with its messages, plus
 * what the reference leaves out: the bridge port's hairpin and isolation
 * flags, the masquerade rules when ipMasq is set and the spoof-check rules
 * when macspoofchk is set. IPAM CHECK is delegated only when there is an IPAM
 * (the reference delegates unconditionally, so a layer-2-only CHECK always
 * fails there).
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { CmdArgs } from '../../lib/cni/skel.ts';
import type { Interface, IPConfig, Result, Route as ResultRoute } from '../../lib/cni/types/current.ts';
import { parsePrevResult } from '../../lib/cni/types/convert.ts';
import { spoofRefId } from '../../lib/ipmasq/spoofcheck.ts';
import { openNetlink, type BridgeLink, type Link, type Netlink, type VethLink } from '../../lib/netlink/index.ts';
import { masqAttachment, openContainerNetns } from './add.ts';
import { loadBridgeConfig, type BridgeConfig } from './config.ts';
import type { BridgeDeps } from './deps.ts';
import { bigToIp, canonicalIp, masqAddresses, networkValue, parseCidr } from './plan.ts';

function failed(msg: string, details = ''): CniError {
  return new CniError(CniCode.Internal, msg, details);
}

const sameMac = (a: string | undefined, b: string | undefined): boolean => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

async function checkBridge(nl: Netlink, cfg: BridgeConfig, entry: Interface | undefined): Promise<BridgeLink> {
  if (entry === undefined) throw failed(`CNI created bridge ${cfg.bridge} in host namespace was not found`);
  const link = await nl.linkByName(entry.name);
  if (link === undefined) throw failed(`Error: Bridge interface ${entry.name} not found`);
  if (link.kind !== 'bridge') throw failed(`Error: Interface ${entry.name} is not a bridge`);
  if (entry.mac !== undefined && entry.mac !== '' && !sameMac(entry.mac, link.mac)) {
    throw failed(`Bridge interface ${entry.name} Mac doesn't match: ${entry.mac}`, `it is ${link.mac ?? 'unset'} now`);
  }
  if (link.flags.promisc !== cfg.promiscMode) {
    throw failed(`Bridge interface ${entry.name} configured Promisc Mode ${String(cfg.promiscMode)} doesn't match current state: ${String(link.flags.promisc)}`);
  }
  return link;
}

async function checkContainerLink(nl: Netlink, entry: Interface): Promise<VethLink> {
  const link = await nl.linkByName(entry.name);
  if (link === undefined) throw failed(`CNI created interface in container ${entry.name} not found`);
  if (link.kind !== 'veth') throw failed(`Error: Container interface ${entry.name} should be veth link`);
  if (entry.mac !== undefined && entry.mac !== '' && !sameMac(entry.mac, link.mac)) {
    throw failed(`Interface ${entry.name} Mac ${entry.mac} doesn't match container Mac: ${link.mac ?? 'unset'}`);
  }
  return link;
}

/** The host end: an interface of prevResult (not the bridge or the container's) that is a veth peered with the container's and a port of the bridge. */
async function findHostEnd(nl: Netlink, result: Result, skip: readonly string[], bridge: BridgeLink, cont: VethLink): Promise<VethLink | undefined> {
  for (const intf of result.interfaces ?? []) {
    if (skip.includes(intf.name) || (intf.sandbox ?? '') !== '') continue;
    const link = await nl.linkByName(intf.name);
    if (link?.kind !== 'veth') continue;
    if (link.peerIndex !== cont.index || link.masterIndex !== bridge.index) continue;
    if (intf.mac !== undefined && intf.mac !== '' && !sameMac(intf.mac, link.mac)) throw failed(`Interface ${intf.name} Mac doesn't match: ${intf.mac} not found`);
    return link;
  }
  return undefined;
}

/** ValidateExpectedInterfaceIPs: each address on the interface. */
async function checkAddresses(nl: Netlink, link: Link, ips: readonly IPConfig[]): Promise<void> {
  const have = await nl.addrList({ link });
  for (const ipc of ips) {
    const want = parseCidr(ipc.address);
    const found = have.some((a) => a.family === want.family && a.prefixLen === want.prefixLen && canonicalIp(a.ip) === bigToIp(want.family, want.value));
    if (!found) throw failed(`Failed to match addr ${ipc.address} on interface ${link.name}`);
  }
}

/** ValidateExpectedRoute: each route (dst, and gw when the result names one) in its table. */
async function checkRoutes(nl: Netlink, routes: readonly ResultRoute[]): Promise<void> {
  for (const r of routes) {
    const dst = parseCidr(r.dst);
    const dstText = `${bigToIp(dst.family, networkValue(dst))}/${dst.prefixLen}`;
    const found = await nl.routeList({ family: dst.family, table: r.table ?? 'all', dst: dstText });
    const ok = found.some((k) => {
      if (r.gw === undefined) return true;
      const gw = canonicalIp(r.gw);
      return (k.gw !== undefined && canonicalIp(k.gw) === gw) || (k.nexthops ?? []).some((h) => h.gw !== undefined && canonicalIp(h.gw) === gw);
    });
    if (!ok) throw failed(`Expected Route ${JSON.stringify({ dst: r.dst, ...(r.gw !== undefined ? { gw: r.gw } : {}) })} not found in routing table`);
  }
}

export async function cmdCheck(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const cfg = loadBridgeConfig(args.conf, args.args);
  if (cfg.ipamType !== undefined) await args.invoke.check(cfg.ipamType, args.stdinData);
  const prev = parsePrevResult(args.conf);
  if (prev === undefined) throw failed('Required prevResult missing');

  const interfaces = prev.interfaces ?? [];
  const brEntry = interfaces.find((i) => i.name === cfg.bridge);
  const contEntry = interfaces.find((i) => i.name === args.ifName && i.sandbox === args.netns);
  if (contEntry === undefined) {
    const other = interfaces.find((i) => i.name === args.ifName);
    throw failed(`Sandbox in prevResult ${other?.sandbox ?? ''} doesn't match configured netns: ${args.netns}`);
  }

  const ns = await openContainerNetns(args.netns);
  let hostNl: Netlink | undefined;
  let contNl: Netlink | undefined;
  try {
    hostNl = await deps.openHostNetlink();
    contNl = await openNetlink(ns);
    const bridge = await checkBridge(hostNl, cfg, brEntry);
    const cont = await checkContainerLink(contNl, contEntry);
    const ips = (prev.ips ?? []).filter((ipc) => ipc.interface === undefined || interfaces[ipc.interface]?.name === args.ifName);
    await checkAddresses(contNl, cont, ips);
    await checkRoutes(contNl, prev.routes ?? []);
    const hostEnd = await findHostEnd(hostNl, prev, [cfg.bridge, args.ifName], bridge, cont);
    if (hostEnd === undefined) throw failed(`CNI veth created for bridge ${cfg.bridge} was not found`);

    const problems: string[] = [];
    const port = await hostNl.getBridgePort(hostEnd);
    if (port?.hairpin !== undefined && port.hairpin !== cfg.hairpinMode) problems.push(`hairpin mode of ${hostEnd.name} is ${port.hairpin ? 'on' : 'off'}, the configuration says ${cfg.hairpinMode ? 'on' : 'off'}`);
    if (cfg.portIsolation && port?.isolated !== true) problems.push(`port isolation of ${hostEnd.name} is off, the configuration says on`);
    if (cfg.ipMasq && ips.length > 0) {
      const backend = await deps.masq.choose(cfg.ipMasqBackend);
      problems.push(...(await backend.check(masqAttachment(cfg, args), masqAddresses(ips))));
    }
    if (cfg.macspoofchk) {
      problems.push(...(await deps.spoof.check({ refId: spoofRefId(args.containerId, args.ifName), hostIface: hostEnd.name, mac: cont.mac ?? '' })));
    }
    const first = problems[0];
    if (first !== undefined) throw failed(first, problems.slice(1).join('; '));
  } finally {
    hostNl?.close();
    contNl?.close();
    ns.close();
  }
}
