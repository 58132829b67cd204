/**
 * GC and STATUS (spec 1.1.0), which the reference bridge does not implement
 * (containernetworking/plugins#1013): GC removes the masquerade and
 * spoof-check rules of this network's attachments that are not in
 * `cni.dev/valid-attachments` and forwards GC to IPAM; STATUS reports code 50
 * when the configured masquerade backend cannot be used or the bridge's name
 * is taken by another kind of link, and forwards STATUS to IPAM.
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { findInPath } from '../../lib/cni/invoke.ts';
import type { CmdArgs } from '../../lib/cni/skel.ts';
import { spoofRefId } from '../../lib/ipmasq/spoofcheck.ts';
import type { Netlink } from '../../lib/netlink/index.ts';
import { type Attachment, type BridgeConfig, loadBridgeConfig } from './config.ts';
import type { BridgeDeps } from './deps.ts';
import { reasonOf } from './host.ts';

/**
 * Spoof-check rules carry no network name, so only those of ports of this
 * network's bridge (or whose host interface is gone) are candidates.
 */
async function gcSpoofCheck(cfg: BridgeConfig, valid: readonly Attachment[], deps: BridgeDeps): Promise<void> {
  const keep = new Set(valid.map((a) => spoofRefId(a.containerId, a.ifName)));
  const candidates = (await deps.spoof.list()).filter((e) => !keep.has(e.refId));
  if (candidates.length === 0) return;
  let nl: Netlink | undefined;
  try {
    nl = await deps.openHostNetlink();
    const bridge = await nl.linkByName(cfg.bridge);
    const stale: string[] = [];
    for (const c of candidates) {
      const link = c.iifname === undefined ? undefined : await nl.linkByName(c.iifname);
      if (link === undefined || (bridge !== undefined && link.masterIndex === bridge.index)) stale.push(c.refId);
    }
    await deps.spoof.remove(stale);
  } finally {
    nl?.close();
  }
}

export async function cmdGc(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const cfg = loadBridgeConfig(args.conf, args.args, { teardown: true });
  const failures: string[] = [];
  const valid = cfg.validAttachments;
  if (valid === undefined) {
    args.log.warn('GC: the request lists no cni.dev/valid-attachments; no rule is removed');
  } else {
    try {
      await deps.masq.gc(cfg.name, valid.map((a) => ({ containerId: a.containerId, ifname: a.ifName })));
    } catch (err) {
      failures.push(`masquerade: ${reasonOf(err)}`);
    }
    if (cfg.macspoofchk) {
      try {
        await gcSpoofCheck(cfg, valid, deps);
      } catch (err) {
        failures.push(`spoof-check: ${reasonOf(err)}`);
      }
    }
  }
  let ipamError: unknown;
  if (cfg.ipamType !== undefined) {
    try {
      await args.invoke.gc(cfg.ipamType, args.stdinData);
    } catch (err) {
      ipamError = err;
    }
  }
  if (failures.length > 0) {
    if (ipamError !== undefined) failures.push(`${cfg.ipamType ?? 'ipam'}: ${reasonOf(ipamError)}`);
    throw new CniError(CniCode.Internal, `GC of network ${JSON.stringify(cfg.name)} failed`, failures.join('; '));
  }
  if (ipamError !== undefined) throw CniError.from(ipamError);
}

export async function cmdStatus(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const cfg = loadBridgeConfig(args.conf, args.args);
  if (cfg.ipMasq) {
    if (cfg.ipMasqBackend !== undefined) {
      if (!(await deps.masq[cfg.ipMasqBackend].usable())) {
        throw new CniError(CniCode.PluginNotAvailable, `ipMasq backend ${JSON.stringify(cfg.ipMasqBackend)} is not usable`, cfg.ipMasqBackend === 'iptables' ? 'running iptables -t nat failed: the program is missing or the kernel refuses it' : 'the kernel does not answer nf_tables requests');
      }
    } else if (!(await deps.masq.iptables.usable()) && !(await deps.masq.nftables.usable())) {
      throw new CniError(CniCode.PluginNotAvailable, 'ipMasq is set but neither iptables nor nftables is usable');
    }
  }
  const nl = await deps.openHostNetlink();
  try {
    const link = await nl.linkByName(cfg.bridge);
    if (link !== undefined && link.kind !== 'bridge') {
      throw new CniError(CniCode.PluginNotAvailable, `${JSON.stringify(cfg.bridge)} already exists but is not a bridge`);
    }
  } finally {
    nl.close();
  }
  if (cfg.ipamType !== undefined) {
    try {
      findInPath(cfg.ipamType, args.path);
    } catch (err) {
      // an IPAM plugin that is not installed means we cannot serve ADD
      throw new CniError(CniCode.PluginNotAvailable, CniError.from(err).msg, '', { cause: err });
    }
    await args.invoke.status(cfg.ipamType, args.stdinData);
  }
}
