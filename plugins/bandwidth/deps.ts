/**
 * What the bandwidth commands need from the outside world, made per call so
 * tests can replace a piece.
 */
import { openNetlink, type Netlink } from '../../lib/netlink/index.ts';
import { netnsReady, Netns } from '../../lib/netns/index.ts';
import { readPsched } from './commands.ts';

export interface BandwidthDeps {
  /** A netlink handle on the host's namespace (the process's own). */
  openHostNetlink: () => Promise<Netlink>;
  /** A netlink handle inside the container's namespace; throws NetnsNotFoundError / NotANetnsError. */
  openNetnsNetlink: (path: string) => Promise<Netlink>;
  /** /proc/net/psched's text. */
  readPsched: () => string;
}

async function netnsNetlink(path: string): Promise<Netlink> {
  await netnsReady();
  const ns = Netns.open(path);
  try {
    return await openNetlink(ns);
  } finally {
    // the socket stays in the namespace; the fd is no longer needed
    ns.close();
  }
}

export function defaultDeps(): BandwidthDeps {
  return { openHostNetlink: () => openNetlink(), openNetnsNetlink: netnsNetlink, readPsched };
}
