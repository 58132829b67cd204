/**
 * ADD, DEL, CHECK, GC and STATUS of portmap. ADD installs the rules of each
 * container address (rolled back newest first if a later step fails), flushes
 * stale UDP conntrack entries of the host ports and turns route_localnet on
 * for localhost hostPorts, as the reference does; DEL needs neither
 * prevResult nor the netns; GC and STATUS exist (the reference's are no-ops).
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { CmdArgs, Logger } from '../../lib/cni/skel.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import type { PortBackend, TeardownScope } from './backend.ts';
import { type ContainerIp, type PortMapConfig, loadPortMapConfig } from './config.ts';
import type { PortmapDeps } from './deps.ts';
import { udpPortsToFlush } from './plan.ts';
import { UndoStack } from '../../lib/undo.ts';

const IPPROTO_UDP = 17;

function reason(err: unknown): string {
  return err instanceof CniError ? err.message : err instanceof Error ? err.message : String(err);
}

function parse(args: CmdArgs, teardown = false, wrap = true): PortMapConfig {
  try {
    return loadPortMapConfig(args.conf, args.ifName, { teardown });
  } catch (err) {
    throw wrap ? CniError.wrap('failed to parse config', err) : err;
  }
}

/** The configured backend, else iptables unless only nftables is usable (the reference's choice). */
export async function chooseBackend(cfg: PortMapConfig, deps: PortmapDeps): Promise<PortBackend> {
  if (cfg.backend !== undefined) return deps[cfg.backend];
  if (await deps.iptables.usable()) return deps.iptables;
  if (await deps.nftables.usable()) return deps.nftables;
  return deps.iptables;
}

/** net.ipv4.conf.<host interface towards the container>.route_localnet=1, so 127.0.0.1:hostPort can be DNATed. */
async function enableRouteLocalnet(c: ContainerIp, deps: PortmapDeps): Promise<void> {
  let ifName: string | undefined;
  const nl = await deps.openHostNetlink();
  try {
    const route = await nl.routeGet(c.ip);
    if (route?.linkIndex !== undefined) ifName = (await nl.linkByIndex(route.linkIndex))?.name;
  } catch {
    return; // the reference skips the sysctl when the route lookup fails
  } finally {
    nl.close();
  }
  if (ifName === undefined) return;
  try {
    deps.setSysctl(`net/ipv4/conf/${ifName}/route_localnet`, '1');
  } catch (err) {
    throw new CniError(CniCode.Internal, `unable to enable route_localnet: ${reason(err)}`, '', { cause: err });
  }
}

async function flushUdp(cfg: PortMapConfig, families: readonly (4 | 6)[], deps: PortmapDeps, log: Logger): Promise<void> {
  for (const f of families) {
    const ports = udpPortsToFlush(cfg, f);
    if (ports.length === 0) continue;
    try {
      await deps.conntrackDelete(f, IPPROTO_UDP, ports);
    } catch (err) {
      log.warn(`failed to delete stale UDP conntrack entries for ports ${ports.join(',')} (IPv${f}): ${reason(err)}`);
    }
  }
}

function scopeOf(cfg: PortMapConfig): TeardownScope {
  return { hostPorts: cfg.mappings.map((m) => m.hostPort), containerIps: cfg.containerIps };
}

export async function cmdAdd(args: CmdArgs, deps: PortmapDeps): Promise<Result> {
  const cfg = parse(args);
  const prev = cfg.prevResult;
  if (prev === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'must be called as chained plugin');
  if (cfg.mappings.length === 0 || cfg.containerIps.length === 0) return prev;
  const backend = await chooseBackend(cfg, deps);
  const a = { network: cfg.name, containerId: args.containerId };
  const undo = new UndoStack();
  try {
    for (const c of cfg.containerIps) {
      undo.push(`remove IPv${c.family} ${backend.name} rules`, () => backend.teardownFamily(a, c.family, scopeOf(cfg)));
      try {
        await backend.setup(cfg, args.containerId, c);
      } catch (err) {
        // a CNI error keeps its code (a lock that cannot be had is 11, try again later); anything else is 999
        throw CniError.wrap(`failed to set up IPv${c.family} port forwarding with ${backend.name}`, err);
      }
    }
    await flushUdp(cfg, cfg.containerIps.map((c) => c.family), deps, args.log);
    const v4 = cfg.containerIps.find((c) => c.family === 4);
    if (cfg.snat && v4 !== undefined) await enableRouteLocalnet(v4, deps);
  } catch (err) {
    await undo.run(args.log);
    throw err;
  }
  return prev;
}

/** Both backends: the pod may have been added by another configuration or by the Go plugin. */
async function teardownBoth(cfg: PortMapConfig, containerId: string, deps: PortmapDeps): Promise<void> {
  const a = { network: cfg.name, containerId };
  const backends = [deps.iptables, deps.nftables];
  const outcomes = await Promise.allSettled(backends.map((b) => b.teardown(a, scopeOf(cfg))));
  const errors: string[] = [];
  for (const [i, o] of outcomes.entries()) {
    const b = backends[i]!;
    // a backend that cannot be used here holds nothing of ours (even the configured one: DEL is best effort)
    if (o.status === 'rejected' && (await b.usable())) errors.push(`${b.name}: ${reason(o.reason)}`);
  }
  if (errors.length > 0) throw new CniError(CniCode.Internal, 'failed to remove the port forwarding rules', errors.join('; '));
}

export async function cmdDel(args: CmdArgs, deps: PortmapDeps): Promise<void> {
  const cfg = parse(args, true);
  // the reference's fast path: a pod without host ports has no rules (GC cleans what a DEL without mappings leaves)
  if (cfg.mappings.length === 0) return;
  await teardownBoth(cfg, args.containerId, deps);
  // the rules are gone: stale UDP flows would keep reaching the old address (plugins#1190)
  await flushUdp(cfg, [4, 6], deps, args.log);
}

export async function cmdCheck(args: CmdArgs, deps: PortmapDeps): Promise<void> {
  const cfg = parse(args, false, false);
  if (cfg.prevResult === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'Required prevResult missing');
  if (cfg.mappings.length === 0) return;
  const backend = await chooseBackend(cfg, deps);
  const problems: string[] = [];
  // only the families the container has (the reference before v1.3.0 required ip6tables rules of IPv4-only pods)
  for (const c of cfg.containerIps) problems.push(...(await backend.check(cfg, args.containerId, c)));
  if (problems.length > 0) throw new CniError(CniCode.Internal, `portmap rules of container ${args.containerId} are missing`, problems.join('; '));
}

export async function cmdGc(args: CmdArgs, deps: PortmapDeps): Promise<void> {
  const cfg = parse(args, true);
  if (cfg.validAttachments === undefined) {
    args.log.warn('GC: the request lists no cni.dev/valid-attachments; no rule is removed');
    return;
  }
  const valid = new Set(cfg.validAttachments.map((a) => a.containerId));
  const backends = [deps.iptables, deps.nftables];
  const outcomes = await Promise.allSettled(backends.map((b) => b.gc(cfg.name, valid)));
  const errors: string[] = [];
  for (const [i, o] of outcomes.entries()) {
    const b = backends[i]!;
    if (o.status === 'rejected' && (await b.usable())) errors.push(`${b.name}: ${reason(o.reason)}`);
  }
  if (errors.length > 0) throw new CniError(CniCode.Internal, `GC of network ${JSON.stringify(cfg.name)} failed`, errors.join('; '));
}

export async function cmdStatus(args: CmdArgs, deps: PortmapDeps): Promise<void> {
  const cfg = parse(args);
  if (cfg.backend !== undefined) {
    if (!(await deps[cfg.backend].usable())) {
      throw new CniError(CniCode.PluginNotAvailable, `portmap backend ${JSON.stringify(cfg.backend)} is not usable`, `running ${cfg.backend === 'iptables' ? 'iptables -t nat' : 'nft'} failed: the program is missing or the kernel refuses it`);
    }
    return;
  }
  if (!(await deps.iptables.usable()) && !(await deps.nftables.usable())) {
    throw new CniError(CniCode.PluginNotAvailable, 'neither iptables nor nftables is usable for port forwarding');
  }
}
