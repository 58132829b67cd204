/**
 * DEL: best effort and idempotent. Only a bad configuration fails early.
 * The container's link goes if the namespace is still there; the lease is
 * released through IPAM; masquerade and spoof-check rules are removed by the
 * names derived from (network, containerID, ifname), so they go even when
 * CNI_NETNS is empty or the namespace is already gone (the reference leaks
 * them there: containernetworking/plugins#810). Every step runs whatever the
 * previous ones did; the first real failure is reported at the end, so the
 * runtime retries. The bridge is never deleted.
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { CmdArgs } from '../../lib/cni/skel.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { parsePrevResult } from '../../lib/cni/types/convert.ts';
import { spoofRefId } from '../../lib/ipmasq/spoofcheck.ts';
import { openNetlink, type Netlink } from '../../lib/netlink/index.ts';
import { NetnsNotFoundError, NotANetnsError, withNetns } from '../../lib/netns/index.ts';
import { masqAttachment } from './add.ts';
import { loadBridgeConfig, type BridgeConfig } from './config.ts';
import type { BridgeDeps } from './deps.ts';
import { errnoOf, reasonOf } from './host.ts';
import { leasedToUs, ownershipByMac, peerIsPortOf } from './ownership.ts';

/**
 * Deletes CNI_IFNAME inside the namespace when it is this attachment's (see
 * ownership.ts); 'gone' when the namespace no longer exists, 'kept' when the
 * interface is another's or not provably ours. `decided` is called once
 * ownership is known (the caller also calls it when this returns or throws).
 */
async function deleteContainerLink(
  args: CmdArgs,
  cfg: BridgeConfig,
  deps: BridgeDeps,
  prev: Result | undefined,
  decided: () => void,
): Promise<'deleted' | 'absent' | 'gone' | 'kept'> {
  try {
    return await withNetns(args.netns, async (ns) => {
      const nl = await openNetlink(ns);
      try {
        const link = await nl.linkByName(args.ifName);
        if (link === undefined) return 'absent';
        let owner = ownershipByMac(args, prev, link);
        if (owner === 'unknown' && cfg.ipamType !== undefined) {
          const addrs = (await nl.addrList({ link })).filter((a) => a.scope === 'universe');
          // a veth with no address yet is an ADD of this network that stopped half-way (killed, or failed before IPAM)
          if (addrs.length === 0 && link.kind === 'veth') owner = 'ours';
          else if (cfg.ipamType === 'host-local' && leasedToUs(args, addrs)) owner = 'ours';
        }
        // a layer-2-only attachment has no lease to prove it: its veth's other end being a port of our bridge does
        if (owner === 'unknown' && cfg.ipamType === undefined && link.kind === 'veth') {
          const host = await deps.openHostNetlink();
          try {
            if (peerIsPortOf(link, await host.linkByName(cfg.bridge), link.peerIndex === undefined ? undefined : await host.linkByIndex(link.peerIndex))) owner = 'ours';
          } finally {
            host.close();
          }
        }
        // the lease release may go ahead now, at the same time as the (slow) link deletion
        decided();
        if (owner !== 'ours') return 'kept';
        try {
          // deleting one end of a veth pair deletes both
          await nl.linkDel(link);
        } catch (err) {
          if (errnoOf(err) === 'ENODEV') return 'absent';
          throw err;
        }
        return 'deleted';
      } finally {
        nl.close();
      }
    });
  } catch (err) {
    if (err instanceof NetnsNotFoundError) return 'gone';
    if (err instanceof NotANetnsError) {
      args.log.warn(`DEL: CNI_NETNS ${args.netns} is not a network namespace (${err.message}); cleaning up the rest`);
      return 'gone';
    }
    throw err;
  }
}

function prevResultOrWarn(args: CmdArgs): Result | undefined {
  try {
    return parsePrevResult(args.conf);
  } catch (err) {
    args.log.warn(`DEL: ignoring prevResult: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * When the namespace is gone but its host-side veth survived (a namespace
 * path unmounted while something still held it), delete the host end that
 * prevResult names, if it is still a veth port of our bridge with that MAC.
 */
async function deleteOrphanHostEnd(cfg: BridgeConfig, prev: Result | undefined, nl: Netlink): Promise<void> {
  if (prev === undefined) return;
  const bridge = await nl.linkByName(cfg.bridge);
  if (bridge?.kind !== 'bridge') return;
  for (const intf of prev.interfaces ?? []) {
    if ((intf.sandbox ?? '') !== '' || intf.name === cfg.bridge || intf.name === '') continue;
    const link = await nl.linkByName(intf.name);
    if (link?.kind !== 'veth' || link.masterIndex !== bridge.index || link.peerNetnsId === undefined) continue;
    if (intf.mac !== undefined && link.mac !== intf.mac.toLowerCase()) continue;
    await nl.linkDel(link).catch((err: unknown) => {
      if (errnoOf(err) !== 'ENODEV') throw err;
    });
  }
}

export async function cmdDel(args: CmdArgs, deps: BridgeDeps): Promise<void> {
  const cfg = loadBridgeConfig(args.conf, args.args, { teardown: true });
  // The steps are independent, so they run at the same time: the veth deletion waits in the kernel
  // for 20+ ms while the masquerade programs run and the lease is released (the reference releases
  // the lease first, too). Failures are reported in step order whatever order they came in.
  const stepFailures: CniError[][] = [[], [], []];
  const recorder = (step: number) => (what: string, err: unknown): void => {
    const e = err instanceof CniError ? err : new CniError(CniCode.Internal, `${what}: ${reasonOf(err)}`, '', { cause: err });
    stepFailures[step]!.push(e);
  };

  const prev = prevResultOrWarn(args);
  // The lease release must not run before the container step has decided whether the interface is
  // ours: one proof of ownership is an address leased to this container (ownership.ts).
  let decided!: () => void;
  const ownershipDecided = new Promise<void>((resolve) => (decided = resolve));
  const containerStep = async (): Promise<void> => {
    const record = recorder(0);
    let netnsGone = args.netns === '';
    if (!netnsGone) {
      try {
        netnsGone = (await deleteContainerLink(args, cfg, deps, prev, decided)) === 'gone';
      } catch (err) {
        record(`failed to delete ${JSON.stringify(args.ifName)} in ${args.netns}`, err);
      }
    }
    decided();

    if (netnsGone) {
      let nl: Netlink | undefined;
      try {
        nl = await deps.openHostNetlink();
        await deleteOrphanHostEnd(cfg, prev, nl);
      } catch (err) {
        args.log.warn(`DEL: could not look for a leftover host veth: ${reasonOf(err)}`);
      } finally {
        nl?.close();
      }
    }
  };

  const ipamStep = async (): Promise<void> => {
    if (cfg.ipamType === undefined) return;
    await ownershipDecided;
    try {
      await args.invoke.del(cfg.ipamType, args.stdinData);
    } catch (err) {
      recorder(1)(`failed to release the address through ${cfg.ipamType}`, err);
    }
  };

  const rulesStep = async (): Promise<void> => {
    const record = recorder(2);
    await Promise.all([
      (async () => {
        if (!cfg.macspoofchk) return;
        try {
          await deps.spoof.teardown(spoofRefId(args.containerId, args.ifName));
        } catch (err) {
          // the reference only prints this; a leftover spoof-check chain matches no interface
          args.log.warn((err as Error).message);
        }
      })(),
      (async () => {
        if (!cfg.ipMasq) return;
        try {
          await deps.masq.teardown(masqAttachment(cfg, args));
        } catch (err) {
          record('failed to remove masquerade rules', err);
        }
      })(),
    ]);
  };

  // the rules step first: its programs start at once and run while the others wait in the kernel
  await Promise.all([rulesStep(), ipamStep(), containerStep()]);

  const failures = stepFailures.flat();
  const first = failures[0];
  if (first !== undefined) {
    for (const f of failures.slice(1)) args.log.warn(`DEL: also failed: ${f.message}`);
    throw first;
  }
}
