/**
 * A range set: several ranges of one family that form one pool; ADD takes one
 * address from each set. Pure functions with the reference's messages
 * (plugins/ipam/host-local/backend/allocator/range_set.go).
 */
import { type Family, type IP, ipKey } from '../../lib/ip.ts';
import { type Range, type RangeSpec, RangeConfigError, canonicalizeRange, rangeContains, rangeSize, rangeToString, rangesOverlap } from './range.ts';

export type RangeSet = readonly Range[];

export function canonicalizeRangeSet(specs: readonly RangeSpec[]): RangeSet {
  if (specs.length === 0) throw new RangeConfigError('empty range set');
  const out: Range[] = [];
  let family: Family | undefined;
  for (const spec of specs) {
    const r = canonicalizeRange(spec);
    if (family === undefined) family = r.subnet.ip.family;
    else if (family !== r.subnet.ip.family) throw new RangeConfigError('mixed address families');
    out.push(r);
  }
  for (let i = 0; i < out.length - 1; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const a = out[i]!;
      const b = out[j]!;
      if (rangesOverlap(a, b)) throw new RangeConfigError(`subnets ${rangeToString(a)} and ${rangeToString(b)} overlap`);
    }
  }
  return out;
}

export function rangeSetFamily(set: RangeSet): Family {
  return set[0]!.subnet.ip.family;
}

/** The range of the set whose window holds `ip`. */
export function rangeFor(set: RangeSet, ip: IP): Range | undefined {
  return set.find((r) => rangeContains(r, ip));
}

export function rangeSetContains(set: RangeSet, ip: IP): boolean {
  return rangeFor(set, ip) !== undefined;
}

export function rangeSetsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((x) => b.some((y) => rangesOverlap(x, y)));
}

/** "a-b,c-d", as in `no IP addresses available in range set: a-b,c-d`. */
export function rangeSetToString(set: RangeSet): string {
  return set.map(rangeToString).join(',');
}

/** True when `ip` is the gateway of the range that holds it. */
export function isGatewayOf(set: RangeSet, ip: IP): boolean {
  const r = rangeFor(set, ip);
  return r !== undefined && r.gateway.value === ip.value;
}

/** Leasable addresses in the set that `reserved` does not hold (gateways never count). */
export function freeCount(set: RangeSet, reserved: Iterable<IP>): bigint {
  let total = 0n;
  for (const r of set) total += rangeSize(r);
  const seen = new Set<string>();
  for (const ip of reserved) {
    const k = ipKey(ip);
    if (seen.has(k)) continue;
    seen.add(k);
    if (rangeSetContains(set, ip) && !isGatewayOf(set, ip)) total -= 1n;
  }
  return total;
}
