/**
 * ADD, in the reference's order (bridge.go cmdAdd): bridge, veth pair, port
 * settings, spoof check, IPAM, the container's interface, the gateway on the
 * bridge and forwarding, masquerade, the wait for the port to forward, then
 * the result with freshly read MACs. Unlike the reference, a failure at any
 * step undoes everything this ADD made (rules, lease, veth pair) before the
 * error is returned; shared things (the bridge, its gateway address,
 * forwarding) stay, as other pods use them.
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { CmdArgs } from '../../lib/cni/skel.ts';
import type { Interface, Result } from '../../lib/cni/types/current.ts';
import { CURRENT_VERSION } from '../../lib/cni/version.ts';
import { spoofRefId } from '../../lib/ipmasq/spoofcheck.ts';
import { openNetlink, type Link, type Netlink } from '../../lib/netlink/index.ts';
import { Netns, netnsReady } from '../../lib/netns/index.ts';
import { loadBridgeConfig, type BridgeConfig } from './config.ts';
import { configureInterface, interfaceSysctls, linkUp, type ContainerContext } from './container.ts';
import { faultPoint } from '../../lib/fault.ts';
import { UndoStack } from '../../lib/undo.ts';
import type { AddStep, BridgeDeps } from './deps.ts';
import {
  bringUpHostEnd,
  createVeth,
  enableForwarding,
  ensureBridge,
  ensureGatewayAddrs,
  ensureVlanGateway,
  errnoOf,
  setupPort,
  waitPortForwarding,
  type HostContext,
} from './host.ts';
import { masqAddresses, planAddresses, planContainerRoutes, planVlans, resultDns, vlanGatewayName } from './plan.ts';
import { hasIpv6, netnsSysctl } from './sysctl.ts';

/** Opens CNI_NETNS with the reference's message on failure. */
export async function openContainerNetns(path: string): Promise<Netns> {
  await netnsReady();
  try {
    return Netns.open(path);
  } catch (err) {
    throw new CniError(CniCode.InvalidNetNS, `failed to open netns ${JSON.stringify(path)}: ${(err as Error).message}`, 'CNI_NETNS must name a network namespace (such as /var/run/netns/<name> or /proc/<pid>/ns/net)', { cause: err });
  }
}

export function masqAttachment(cfg: BridgeConfig, args: CmdArgs): { network: string; ifname: string; containerId: string } {
  return { network: cfg.name, ifname: args.ifName, containerId: args.containerId };
}

export async function cmdAdd(args: CmdArgs, deps: BridgeDeps): Promise<Result> {
  const cfg = loadBridgeConfig(args.conf, args.args);
  const ns = await openContainerNetns(args.netns);
  const undo = new UndoStack();
  let hostNl: Netlink | undefined;
  let contNl: Netlink | undefined;
  try {
    hostNl = await deps.openHostNetlink();
    contNl = await openNetlink(ns);
    const result = await addSteps({ args, deps, cfg, ns, hostNl, contNl, undo });
    undo.clear();
    return result;
  } catch (err) {
    await undo.run(args.log);
    throw err;
  } finally {
    hostNl?.close();
    contNl?.close();
    ns.close();
  }
}

interface AddContext {
  args: CmdArgs;
  deps: BridgeDeps;
  cfg: BridgeConfig;
  ns: Netns;
  hostNl: Netlink;
  contNl: Netlink;
  undo: UndoStack;
}

async function addSteps(c: AddContext): Promise<Result> {
  const { args, deps, cfg, ns, hostNl, contNl, undo } = c;
  const checkpoint = (step: AddStep): void => faultPoint(args.env, 'bridge', step);
  const hostSysctl = deps.hostSysctl();
  const host: HostContext = { nl: hostNl, sysctl: hostSysctl, ipv6: hasIpv6(hostSysctl), log: args.log, random: deps.random, sleep: deps.sleep };
  const cont: ContainerContext = { nl: contNl, sysctl: netnsSysctl(ns), log: args.log, sleep: deps.sleep };
  const vlans = planVlans(cfg);

  const { bridge } = await ensureBridge(host, { name: cfg.bridge, mtu: cfg.mtu, promisc: cfg.promiscMode, vlanFiltering: vlans.vlanFiltering });
  checkpoint('bridge');

  const pair = await createVeth(host, { contNl, contNs: ns, ifName: args.ifName, mtu: cfg.mtu, mac: cfg.mac });
  undo.push(`delete veth pair ${pair.host.name}`, async () => {
    await hostNl.linkDel(pair.host).catch((err: unknown) => {
      if (errnoOf(err) !== 'ENODEV') throw err;
    });
  });
  await bringUpHostEnd(host, pair.host);
  await setupPort(host, { bridge, port: pair.host, hairpin: cfg.hairpinMode, isolated: cfg.portIsolation, vlans });
  checkpoint('veth');

  if (cfg.macspoofchk) {
    const refId = spoofRefId(args.containerId, args.ifName);
    undo.push('remove spoof-check rules', () => deps.spoof.teardown(refId));
    await deps.spoof.setup({ refId, hostIface: pair.host.name, mac: pair.container.mac ?? '' });
  }
  checkpoint('spoofcheck');

  const interfaces: Interface[] = [
    { name: bridge.name },
    { name: pair.host.name },
    { name: args.ifName, sandbox: args.netns },
  ];
  const result: Result = { cniVersion: CURRENT_VERSION, interfaces };
  const extraLinks: Link[] = [];

  const ipamType = cfg.ipamType;
  if (ipamType !== undefined) {
    // the spec asks for a DEL of the delegate when anything fails, its own ADD included
    undo.push(`release the address through ${ipamType}`, () => args.invoke.del(ipamType, args.stdinData));
    const ipam = await args.invoke.add(ipamType, args.stdinData, cfg.cniVersion);
    checkpoint('ipam');
    if ((ipam.ips ?? []).length === 0) throw new CniError(CniCode.Internal, 'IPAM plugin returned missing IP config');
    const plan = planAddresses(cfg, ipam);
    result.ips = plan.ips;
    if (plan.routes.length > 0) result.routes = plan.routes;
    const dns = resultDns(cfg.dns, ipam.dns);
    if (dns !== undefined) result.dns = dns;

    interfaceSysctls(cont, { ifName: args.ifName, enableDad: cfg.enableDad });
    await configureInterface(cont, { link: pair.container, ips: plan.ips, routes: planContainerRoutes(plan.ips, plan.routes) });
    checkpoint('container');

    if (cfg.isGateway && plan.gateways.length > 0) {
      let gwLink: Link = bridge;
      if (cfg.vlan !== 0) {
        gwLink = await ensureVlanGateway(host, { bridge, name: vlanGatewayName(cfg.bridge, cfg.vlan), vlans });
        interfaces.push({ name: gwLink.name });
        extraLinks.push(gwLink);
      }
      await ensureGatewayAddrs(host, { link: gwLink, gateways: plan.gateways, force: cfg.forceAddress });
      enableForwarding(host, plan.forwardFamilies);
    }
    checkpoint('gateway');

    if (cfg.ipMasq) {
      const att = masqAttachment(cfg, args);
      undo.push('remove masquerade rules', () => deps.masq.teardown(att));
      await deps.masq.setup(cfg.ipMasqBackend, att, masqAddresses(plan.ips));
    }
    checkpoint('masquerade');
  } else {
    if (cfg.dns !== undefined) result.dns = cfg.dns;
    if (!cfg.disableContainerInterface) await linkUp(cont, pair.container);
  }

  if (!cfg.disableContainerInterface) await waitPortForwarding(host, pair.host);
  checkpoint('port');

  // MACs can change while ports come and go (containernetworking/plugins#805): read them last
  const [br, hostEnd, contEnd] = await Promise.all([hostNl.linkByIndex(bridge.index), hostNl.linkByIndex(pair.host.index), contNl.linkByIndex(pair.container.index)]);
  setMac(interfaces[0], br?.mac ?? bridge.mac);
  setMac(interfaces[1], hostEnd?.mac ?? pair.host.mac);
  setMac(interfaces[2], contEnd?.mac ?? pair.container.mac);
  for (const [i, l] of extraLinks.entries()) setMac(interfaces[3 + i], (await hostNl.linkByIndex(l.index))?.mac ?? l.mac);
  return result;
}

function setMac(iface: Interface | undefined, mac: string | undefined): void {
  if (iface !== undefined && mac !== undefined) iface.mac = mac;
}
