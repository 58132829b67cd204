/**
 * What the portmap commands need from the outside world, injected so that
 * tests can replace a step; `defaultDeps()` is the real thing, made per call
 * (nothing is created at import).
 */
import { type CommandRunner, execRunner } from '../../lib/ipmasq/run.ts';
import { conntrackDeleteByDstPort, openNetlink, type Netlink } from '../../lib/netlink/index.ts';
import { sysctlSet } from '../../lib/netns/index.ts';
import type { PortBackend } from './backend.ts';
import { IptablesPortmap } from './iptables.ts';
import { NftablesPortmap } from './nftables.ts';

export interface PortmapDeps {
  iptables: PortBackend;
  nftables: PortBackend;
  /** A netlink handle on the host's namespace (the process's own). */
  openHostNetlink: () => Promise<Netlink>;
  /** Writes a sysctl of the host's namespace. */
  setSysctl: (key: string, value: string) => void;
  /** Deletes conntrack entries of `proto` to `ports` in the host's namespace; returns how many. */
  conntrackDelete: (family: 4 | 6, proto: number, ports: readonly number[]) => Promise<number>;
}

export function defaultDeps(run: CommandRunner = execRunner): PortmapDeps {
  return {
    iptables: new IptablesPortmap(run),
    nftables: new NftablesPortmap(run),
    openHostNetlink: () => openNetlink(),
    setSysctl: (key, value) => sysctlSet(key, value),
    conntrackDelete: (family, proto, ports) => conntrackDeleteByDstPort(family, proto, ports),
  };
}
