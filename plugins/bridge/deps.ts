/**
 * What the bridge commands need from the outside world, injected so that
 * tests can put the "host" in a scratch namespace and fail any step of ADD on
 * purpose. `defaultDeps()` is the real thing; nothing is created at import
 * time.
 */
import { randomBytes } from '../../lib/random.ts';
import { IpMasq } from '../../lib/ipmasq/index.ts';
import { SpoofCheck } from '../../lib/ipmasq/spoofcheck.ts';
import { openNetlink, type Netlink } from '../../lib/netlink/index.ts';
import { currentSysctl, type Sysctl } from './sysctl.ts';

/** The points of ADD after which lib/fault.ts's checkpoint is passed, in order. */
export const ADD_STEPS = ['bridge', 'veth', 'spoofcheck', 'ipam', 'container', 'gateway', 'masquerade', 'port'] as const;
export type AddStep = (typeof ADD_STEPS)[number];

export interface BridgeDeps {
  /** A netlink handle on the host's namespace (the process's own). */
  openHostNetlink: () => Promise<Netlink>;
  /** Sysctls of the host's namespace. */
  hostSysctl: () => Sysctl;
  masq: IpMasq;
  spoof: SpoofCheck;
  random: (bytes: number) => Buffer;
  sleep: (ms: number) => Promise<void>;
}

export function defaultDeps(): BridgeDeps {
  return {
    openHostNetlink: () => openNetlink(),
    hostSysctl: currentSysctl,
    masq: new IpMasq(),
    spoof: new SpoofCheck(),
    random: (n) => randomBytes(n),
    sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  };
}
