/**
 * The pure part of loopback: which addresses of `lo` make the result, and
 * whether an address is one a loopback interface may carry.
 */
import type { Result } from '../../lib/cni/types/current.ts';
import type { Addr } from '../../lib/netlink/index.ts';
import { parseIp } from '../../lib/ip.ts';

/** 127.0.0.0/8 or ::1, as Go's net.IP.IsLoopback (an IPv4-mapped 127.x counts too). */
export function isLoopbackIp(text: string): boolean {
  const ip = parseIp(text);
  if (ip === undefined) return false;
  const v = ip.value;
  if (ip.family === 4) return v >> 24n === 127n;
  if (v >> 32n === 0xffffn) return ((v >> 24n) & 0xffn) === 127n; // IPv4-mapped
  return v === 1n;
}

/** The first address of `lo` that is not a loopback address, if any. */
export function foreignAddress(addrs: readonly Addr[]): string | undefined {
  return addrs.find((a) => !isLoopbackIp(a.ip))?.ip;
}

/** The result of ADD without prevResult: `lo` with the first IPv4 and the first IPv6 address (the kernel's order). */
export function loopbackResult(cniVersion: string, netns: string, addrs: readonly Addr[]): Result {
  const v4 = addrs.find((a) => a.family === 4);
  const v6 = addrs.find((a) => a.family === 6);
  const ips = [v4, v6].filter((a): a is Addr => a !== undefined).map((a) => ({ interface: 0, address: a.address }));
  return {
    cniVersion,
    interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: netns }],
    ...(ips.length > 0 ? { ips } : {}),
  };
}
