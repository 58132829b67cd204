/**
 * ADD, DEL, CHECK, GC and STATUS of bandwidth. ADD shapes traffic into the
 * pod with a tbf on the host-side veth and traffic out of it by redirecting
 * the veth's ingress to an ifb device that has its own tbf, as the reference
 * does, and undoes what it made when a later step fails. DEL needs neither
 * the netns nor prevResult (the ifb is found by name); CHECK verifies every
 * qdisc, the filter and the ifb with their numbers; GC removes ifb devices of
 * attachments that are no longer valid.
 */
import { readFileSync } from 'node:fs';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { faultPoint } from '../../lib/fault.ts';
import type { CmdArgs } from '../../lib/cni/skel.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { ETH_P_ALL, TC_ACT_OK, TC_ACT_STOLEN, TC_H_INGRESS, TC_H_ROOT, TCA_EGRESS_REDIR, tcHandle, type Link, type Netlink, type Qdisc } from '../../lib/netlink/index.ts';
import { NetnsNotFoundError, NotANetnsError } from '../../lib/netns/index.ts';
import { type Bandwidth, type BandwidthConfig, isZero, loadBandwidthConfig } from './config.ts';
import type { BandwidthDeps } from './deps.ts';
import { ifbName, isIfbName, tbfNumbers, tickInUsec, type TbfNumbers } from './tbf.ts';
import { UndoStack } from '../../lib/undo.ts';

const ROOT_HANDLE = tcHandle(1, 0);
const INGRESS_HANDLE = tcHandle(0xffff, 0);
const CLASS_ID = tcHandle(1, 1);

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const internal = (msg: string, err?: unknown): CniError => new CniError(CniCode.Internal, err === undefined ? msg : `${msg}: ${reason(err)}`, '', { cause: err });

/** The alias our ifb devices carry: GC removes only this network's (and unreferenced unlabelled ones). */
export function ifbAlias(network: string): string | undefined {
  const a = `cni-bandwidth net=${network}`;
  return Buffer.byteLength(a) <= 255 ? a : undefined;
}

function parse(args: CmdArgs, teardown = false): BandwidthConfig {
  return loadBandwidthConfig(args.conf, args.stdinData, { teardown });
}

interface Shaping {
  ingress?: TbfNumbers;
  egress?: TbfNumbers;
}

/** The qdisc numbers of each direction that is shaped (rate and burst both set). */
export function planShaping(bw: Bandwidth, tick: number): Shaping {
  const out: Shaping = {};
  if (bw.ingressRate > 0n && bw.ingressBurst > 0n) out.ingress = tbfNumbers(bw.ingressRate, bw.ingressBurst, tick);
  if (bw.egressRate > 0n && bw.egressBurst > 0n) out.egress = tbfNumbers(bw.egressRate, bw.egressBurst, tick);
  return out;
}

/**
 * The host end of the container's veth: the container interface's peer,
 * which prevResult must list without a sandbox (getHostInterface).
 */
async function hostVeth(args: CmdArgs, prev: Result, deps: BandwidthDeps, host: Netlink): Promise<Link> {
  const interfaces = prev.interfaces ?? [];
  if (interfaces.length === 0) throw new CniError(CniCode.InvalidNetworkConfig, 'no interfaces provided', 'prevResult lists no interfaces');
  const peerIndex = await containerPeerIndex(args, deps, true);
  if (peerIndex === undefined) {
    throw new CniError(CniCode.UnknownContainer, `container interface ${args.ifName} has no veth peer`, `no veth named ${JSON.stringify(args.ifName)} in ${args.netns}`);
  }
  const link = await host.linkByIndex(peerIndex);
  if (link === undefined) throw new CniError(CniCode.UnknownContainer, `veth peer with index ${peerIndex} is not in host ns`);
  if (!interfaces.some((i) => (i.sandbox ?? '') === '' && i.name === link.name)) {
    throw new CniError(CniCode.InvalidNetworkConfig, 'no veth peer of container interface found in host ns', `prevResult does not list the host interface ${JSON.stringify(link.name)}`);
  }
  return link;
}

/** The ifindex (in the host) of the container interface's veth peer; undefined when there is none. */
async function containerPeerIndex(args: CmdArgs, deps: BandwidthDeps, strict: boolean): Promise<number | undefined> {
  let nl: Netlink;
  try {
    nl = await deps.openNetnsNetlink(args.netns);
  } catch (err) {
    if (!strict) return undefined;
    if (err instanceof NetnsNotFoundError || err instanceof NotANetnsError) {
      throw new CniError(CniCode.InvalidNetNS, `failed to open netns ${JSON.stringify(args.netns)}: ${reason(err)}`, '', { cause: err });
    }
    throw err;
  }
  try {
    const link = await nl.linkByName(args.ifName);
    if (link?.kind !== 'veth' || link.peerIndex === undefined || link.peerIndex <= 0) return undefined;
    return link.peerIndex;
  } finally {
    nl.close();
  }
}

function tick(deps: BandwidthDeps): number {
  let text: string;
  try {
    text = deps.readPsched();
  } catch (err) {
    throw new CniError(CniCode.IOFailure, `failed to read /proc/net/psched: ${reason(err)}`, '', { cause: err });
  }
  const t = tickInUsec(text);
  if (t === 0) throw new CniError(CniCode.IOFailure, 'failed to read /proc/net/psched', `unexpected content ${JSON.stringify(text.trim())}`);
  return t;
}

const isCode = (err: unknown, code: string): boolean => typeof err === 'object' && err !== null && 'code' in err && err.code === code;

export async function cmdAdd(args: CmdArgs, deps: BandwidthDeps): Promise<Result> {
  const cfg = parse(args);
  const prev = cfg.prevResult;
  if (prev === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'must be called as chained plugin');
  if (cfg.bandwidth === undefined || isZero(cfg.bandwidth)) return prev;
  const shaping = planShaping(cfg.bandwidth, tick(deps));
  const host = await deps.openHostNetlink();
  const undo = new UndoStack();
  try {
    const veth = await hostVeth(args, prev, deps, host);
    const result: Result = { ...prev, interfaces: [...(prev.interfaces ?? [])] };
    if (shaping.ingress !== undefined) {
      try {
        await host.qdiscAddTbf({ link: veth, ...shaping.ingress });
      } catch (err) {
        throw internal('create qdisc', err);
      }
      undo.push(`delete the tbf qdisc of ${veth.name}`, () => host.qdiscDel({ link: veth, handle: ROOT_HANDLE, parent: TC_H_ROOT }));
      faultPoint(args.env, 'bandwidth', 'veth-tbf');
    }
    if (shaping.egress !== undefined) {
      const name = ifbName(cfg.name, args.containerId);
      let ifb: Link;
      try {
        ifb = await host.linkAddIfb({ name, mtu: veth.mtu, txqlen: 0, up: true });
      } catch (err) {
        if (isCode(err, 'EEXIST')) throw internal(`adding link: ifb ${name} already exists (an earlier ADD of container ${args.containerId} was not deleted)`);
        throw internal('adding link', err);
      }
      undo.push(`delete ifb ${name}`, () => host.linkDel(ifb));
      faultPoint(args.env, 'bandwidth', 'ifb');
      // the label GC goes by (the kernel takes no alias on create)
      const alias = ifbAlias(cfg.name);
      if (alias !== undefined) await host.linkSetAlias(ifb, alias);
      faultPoint(args.env, 'bandwidth', 'alias');
      result.interfaces!.push({ name, mac: ifb.mac ?? '' });
      try {
        await host.qdiscAddIngress(veth);
      } catch (err) {
        throw internal('create ingress qdisc', err);
      }
      undo.push(`delete the ingress qdisc of ${veth.name}`, () => host.qdiscDel({ link: veth, handle: INGRESS_HANDLE, parent: TC_H_INGRESS }));
      faultPoint(args.env, 'bandwidth', 'ingress-qdisc');
      // the reference's filter carries the redirect twice (U32.RedirIndex and U32.Actions): same state as Go's
      const redirect = { eaction: TCA_EGRESS_REDIR, ifindex: ifb.index };
      try {
        await host.filterAddU32Redirect({
          link: veth,
          parent: INGRESS_HANDLE,
          priority: 1,
          protocol: ETH_P_ALL,
          classId: CLASS_ID,
          mirred: [
            { action: TC_ACT_STOLEN, ...redirect },
            { action: TC_ACT_OK, ...redirect },
          ],
        });
      } catch (err) {
        throw internal('add filter', err);
      }
      faultPoint(args.env, 'bandwidth', 'filter');
      try {
        await host.qdiscAddTbf({ link: ifb, ...shaping.egress });
      } catch (err) {
        throw internal('create ifb qdisc: create qdisc', err);
      }
      faultPoint(args.env, 'bandwidth', 'ifb-tbf');
    }
    return result;
  } catch (err) {
    await undo.run(args.log);
    throw err;
  } finally {
    host.close();
  }
}

/** Ours: a tbf with handle 1: at the root. */
const isOurTbf = (q: Qdisc): boolean => q.kind === 'tbf' && q.handle === ROOT_HANDLE && q.parent === TC_H_ROOT;
const isIngress = (q: Qdisc): boolean => q.kind === 'ingress' && q.handle === INGRESS_HANDLE;

/** Removes the tbf and, when it holds only mirred redirects, the ingress qdisc of the host veth. */
async function removeVethQdiscs(host: Netlink, veth: Link): Promise<void> {
  const qdiscs = await host.qdiscList(veth);
  if (qdiscs.some(isOurTbf)) await ignoreGone(host.qdiscDel({ link: veth, handle: ROOT_HANDLE, parent: TC_H_ROOT }));
  if (qdiscs.some(isIngress)) {
    const filters = await host.filterList(veth, INGRESS_HANDLE);
    const ours = filters.every((f) => f.kind === '' || (f.kind === 'u32' && f.actions.every((a) => a.kind === 'mirred')));
    if (ours) await ignoreGone(host.qdiscDel({ link: veth, handle: INGRESS_HANDLE, parent: TC_H_INGRESS }));
  }
}

async function ignoreGone(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (isCode(err, 'ENOENT') || isCode(err, 'ENODEV') || isCode(err, 'EINVAL')) return;
    throw err;
  }
}

/** Deletes the ifb `name` when it exists and is an ifb; a missing one is success. */
async function deleteIfb(host: Netlink, name: string): Promise<void> {
  const link = await host.linkByName(name);
  if (link === undefined || link.kind !== 'other' || link.infoKind !== 'ifb') return;
  await ignoreGone(host.linkDel(link));
}

export async function cmdDel(args: CmdArgs, deps: BandwidthDeps): Promise<void> {
  const cfg = parse(args, true);
  const host = await deps.openHostNetlink();
  try {
    const errors: string[] = [];
    // the qdiscs of the host veth, when the netns still names the container's interface
    if (args.netns !== '') {
      try {
        const peer = await containerPeerIndex(args, deps, false);
        const veth = peer === undefined ? undefined : await host.linkByIndex(peer);
        if (veth?.kind === 'veth') await removeVethQdiscs(host, veth);
      } catch (err) {
        errors.push(`removing the qdiscs of the host veth: ${reason(err)}`);
      }
    }
    try {
      await deleteIfb(host, ifbName(cfg.name, args.containerId));
    } catch (err) {
      errors.push(reason(err));
    }
    if (errors.length > 0) throw new CniError(CniCode.Internal, `failed to remove the bandwidth limits of container ${args.containerId}`, errors.join('; '));
  } finally {
    host.close();
  }
}

function tbfProblem(where: string, q: Qdisc | undefined, want: TbfNumbers): string | undefined {
  if (q?.tbf === undefined) return `${where} has no tbf qdisc (handle 1:, root)`;
  if (q.tbf.rate !== want.rate) return `${where}: Rate doesn't match (tbf rate ${q.tbf.rate} B/s, expected ${want.rate})`;
  if (q.tbf.limit !== want.limit) return `${where}: Limit doesn't match (tbf limit ${q.tbf.limit}, expected ${want.limit})`;
  if (q.tbf.buffer !== want.buffer) return `${where}: Buffer doesn't match (tbf buffer ${q.tbf.buffer}, expected ${want.buffer})`;
  return undefined;
}

export async function cmdCheck(args: CmdArgs, deps: BandwidthDeps): Promise<void> {
  const cfg = parse(args);
  const prev = cfg.prevResult;
  if (prev === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'must be called as a chained plugin');
  const host = await deps.openHostNetlink();
  try {
    const veth = await hostVeth(args, prev, deps, host);
    if (cfg.bandwidth === undefined || isZero(cfg.bandwidth)) return;
    const shaping = planShaping(cfg.bandwidth, tick(deps));
    const problems: string[] = [];
    const vethQdiscs = await host.qdiscList(veth);
    if (shaping.ingress !== undefined) {
      const p = tbfProblem(`host interface ${veth.name}`, vethQdiscs.find(isOurTbf), shaping.ingress);
      if (p !== undefined) problems.push(p);
    }
    if (shaping.egress !== undefined) {
      const name = ifbName(cfg.name, args.containerId);
      const ifb = await host.linkByName(name);
      if (ifb === undefined || ifb.kind !== 'other' || ifb.infoKind !== 'ifb') {
        problems.push(`get ifb device: ifb ${name} not found`);
      } else {
        if (!ifb.flags.up) problems.push(`ifb ${name} is down`);
        const p = tbfProblem(`ifb ${name}`, (await host.qdiscList(ifb)).find(isOurTbf), shaping.egress);
        if (p !== undefined) problems.push(p);
        if (!vethQdiscs.some(isIngress)) {
          problems.push(`host interface ${veth.name} has no ingress qdisc`);
        } else {
          const filters = await host.filterList(veth, INGRESS_HANDLE);
          const redirects = filters.some(
            (f) => f.kind === 'u32' && f.actions.some((a) => a.mirred !== undefined && a.mirred.eaction === TCA_EGRESS_REDIR && a.mirred.ifindex === ifb.index && a.mirred.action === TC_ACT_STOLEN),
          );
          if (!redirects) problems.push(`host interface ${veth.name} has no filter redirecting its ingress to ${name}`);
        }
      }
    }
    if (problems.length > 0) throw new CniError(CniCode.Internal, `bandwidth limits of container ${args.containerId} are not in place: ${problems[0]!}`, problems.slice(1).join('; '));
  } finally {
    host.close();
  }
}

/** Indexes of ifb devices some link's ingress filter redirects to. */
async function redirectTargets(host: Netlink, links: readonly Link[]): Promise<Set<number>> {
  const out = new Set<number>();
  const ingress = (await host.qdiscList()).filter(isIngress);
  for (const q of ingress) {
    const link = links.find((l) => l.index === q.index);
    if (link === undefined) continue;
    for (const f of await host.filterList(link, INGRESS_HANDLE)) for (const a of f.actions) if (a.mirred !== undefined) out.add(a.mirred.ifindex);
  }
  return out;
}

export async function cmdGc(args: CmdArgs, deps: BandwidthDeps): Promise<void> {
  const cfg = parse(args, true);
  if (cfg.validAttachments === undefined) {
    args.log.warn('GC: the request lists no cni.dev/valid-attachments; no ifb is removed');
    return;
  }
  const valid = new Set(cfg.validAttachments.map((a) => ifbName(cfg.name, a.containerId)));
  const alias = ifbAlias(cfg.name);
  const host = await deps.openHostNetlink();
  try {
    const links = await host.linkList();
    const stale = links.filter((l) => l.kind === 'other' && l.infoKind === 'ifb' && isIfbName(l.name) && !valid.has(l.name));
    if (stale.length === 0) return;
    let targets: Set<number> | undefined;
    const errors: string[] = [];
    for (const l of stale) {
      const a = l.alias;
      if (a !== undefined && a !== '' && a !== alias) continue; // another network's
      if (a === undefined || a === '') {
        // no label (the Go plugin's): only when nothing redirects to it any more
        targets ??= await redirectTargets(host, links);
        if (targets.has(l.index)) continue;
      }
      try {
        await ignoreGone(host.linkDel(l));
      } catch (err) {
        errors.push(reason(err));
      }
    }
    if (errors.length > 0) throw new CniError(CniCode.Internal, `GC of network ${JSON.stringify(cfg.name)} failed`, errors.join('; '));
  } finally {
    host.close();
  }
}

export async function cmdStatus(args: CmdArgs, deps: BandwidthDeps): Promise<void> {
  parse(args);
  try {
    tick(deps);
    const host = await deps.openHostNetlink();
    try {
      await host.qdiscList();
    } finally {
      host.close();
    }
  } catch (err) {
    throw new CniError(CniCode.PluginNotAvailable, 'traffic control is not usable in this namespace', reason(err), { cause: err });
  }
}

/** The real /proc/net/psched. */
export function readPsched(): string {
  return readFileSync('/proc/net/psched', 'utf8');
}

/** The fault-injection checkpoints of ADD (lib/fault.ts), in order. */
export const BANDWIDTH_ADD_STEPS = ['veth-tbf', 'ifb', 'alias', 'ingress-qdisc', 'filter', 'ifb-tbf'] as const;
