/**
 * One range of a range set: a subnet, the inclusive [rangeStart, rangeEnd]
 * window that may be leased, and the gateway that never is. Pure functions;
 * the messages are the reference's (plugins/ipam/host-local/backend/allocator/range.go).
 */
import { type IP, type IPNet, bits, formatCidr, formatIp, ipAdd, ipCompare, isV4Mapped, lastAddress, netContains, networkAddress } from '../../lib/ip.ts';

export interface Range {
  readonly subnet: IPNet;
  readonly rangeStart: IP;
  readonly rangeEnd: IP;
  readonly gateway: IP;
}

/** A range as configured: only the subnet is required. */
export interface RangeSpec {
  subnet: IPNet;
  rangeStart?: IP | undefined;
  rangeEnd?: IP | undefined;
  gateway?: IP | undefined;
}

/** A configuration mistake in one range; the caller adds which range set it is. */
export class RangeConfigError extends Error {
  override readonly name = 'RangeConfigError';
}

function within(subnet: IPNet, start: IP | undefined, end: IP | undefined, ip: IP): boolean {
  if (!netContains(subnet, ip)) return false;
  if (start !== undefined && ipCompare(ip, start) < 0) return false;
  if (end !== undefined && ipCompare(ip, end) > 0) return false;
  return true;
}

/** Fills in the defaults (gateway = network+1, start = network+1, end = last usable) and validates. */
export function canonicalizeRange(spec: RangeSpec): Range {
  const subnet = spec.subnet;
  const net = formatCidr(subnet);
  if (subnet.prefix > bits(subnet.ip.family) - 2) throw new RangeConfigError(`Network ${net} too small to allocate from`);
  if (isV4Mapped(subnet.ip)) throw new RangeConfigError('IPNet IP and Mask version mismatch');
  const network = networkAddress(subnet);
  if (network.value !== subnet.ip.value) {
    throw new RangeConfigError(`Network has host bits set. For a subnet mask of length ${subnet.prefix} the network address is ${formatIp(network)}`);
  }
  let gateway = spec.gateway;
  if (gateway === undefined) {
    gateway = ipAdd(network, 1n);
  } else if (!netContains(subnet, gateway)) {
    throw new RangeConfigError(`gateway ${formatIp(gateway)} not in network ${net}`);
  }
  let rangeStart = spec.rangeStart;
  if (rangeStart === undefined) {
    rangeStart = ipAdd(network, 1n);
  } else if (!within(subnet, rangeStart, spec.rangeEnd, rangeStart)) {
    throw new RangeConfigError(`RangeStart ${formatIp(rangeStart)} not in network ${net}`);
  }
  let rangeEnd = spec.rangeEnd;
  if (rangeEnd === undefined) {
    const last = lastAddress(subnet);
    rangeEnd = subnet.ip.family === 4 ? ipAdd(last, -1n) : last;
  } else if (!within(subnet, rangeStart, rangeEnd, rangeEnd)) {
    throw new RangeConfigError(`RangeEnd ${formatIp(rangeEnd)} not in network ${net}`);
  }
  return { subnet: { ip: network, prefix: subnet.prefix }, rangeStart, rangeEnd, gateway };
}

/** True when `ip` may be leased from this range's window (the gateway included: callers skip it). */
export function rangeContains(r: Range, ip: IP): boolean {
  return within(r.subnet, r.rangeStart, r.rangeEnd, ip);
}

export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.subnet.ip.family !== b.subnet.ip.family) return false;
  return rangeContains(a, b.rangeStart) || rangeContains(a, b.rangeEnd) || rangeContains(b, a.rangeStart) || rangeContains(b, a.rangeEnd);
}

/** "start-end", as the reference prints a range in its messages. */
export function rangeToString(r: Range): string {
  return `${formatIp(r.rangeStart)}-${formatIp(r.rangeEnd)}`;
}

/** How many addresses the window holds, the gateway not counted. */
export function rangeSize(r: Range): bigint {
  const n = r.rangeEnd.value - r.rangeStart.value + 1n;
  return rangeContains(r, r.gateway) ? n - 1n : n;
}
