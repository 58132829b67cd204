/** Range and range-set maths: defaults, validation with the reference's messages, containment, overlap, free counts. */
import { describe, expect, it } from 'vitest';
import { formatIp, parseCidr, parseIp } from '../../../lib/ip.ts';
import { type RangeSpec, canonicalizeRange, rangeContains, rangeSize, rangeToString, rangesOverlap } from '../../../ipam/host-local/range.ts';
import { canonicalizeRangeSet, freeCount, isGatewayOf, rangeFor, rangeSetToString, rangeSetsOverlap } from '../../../ipam/host-local/range-set.ts';

function ip(s: string) {
  const v = parseIp(s);
  if (v === undefined) throw new Error(s);
  return v;
}

function spec(subnet: string, extra: { rangeStart?: string; rangeEnd?: string; gateway?: string } = {}): RangeSpec {
  const n = parseCidr(subnet);
  if (n === undefined) throw new Error(subnet);
  return {
    subnet: n,
    rangeStart: extra.rangeStart === undefined ? undefined : ip(extra.rangeStart),
    rangeEnd: extra.rangeEnd === undefined ? undefined : ip(extra.rangeEnd),
    gateway: extra.gateway === undefined ? undefined : ip(extra.gateway),
  };
}

describe('canonicalizeRange', () => {
  it.each([
    ['10.1.2.0/24', '10.1.2.1', '10.1.2.254', '10.1.2.1'],
    ['10.1.2.0/30', '10.1.2.1', '10.1.2.2', '10.1.2.1'],
    ['fd00::/120', 'fd00::1', 'fd00::ff', 'fd00::1'], // no broadcast in IPv6: the all-ones address is leasable
    ['fd00:1::/64', 'fd00:1::1', 'fd00:1::ffff:ffff:ffff:ffff', 'fd00:1::1'],
  ])('%s defaults to start %s, end %s, gateway %s', (subnet, start, end, gw) => {
    const r = canonicalizeRange(spec(subnet));
    expect([formatIp(r.rangeStart), formatIp(r.rangeEnd), formatIp(r.gateway)]).toEqual([start, end, gw]);
  });

  it('keeps configured values', () => {
    const r = canonicalizeRange(spec('10.0.0.0/24', { rangeStart: '10.0.0.100', rangeEnd: '10.0.0.110', gateway: '10.0.0.254' }));
    expect(rangeToString(r)).toBe('10.0.0.100-10.0.0.110');
    expect(formatIp(r.gateway)).toBe('10.0.0.254');
    expect(rangeSize(r)).toBe(11n);
  });

  it.each([
    ['10.0.0.0/31', {}, 'Network 10.0.0.0/31 too small to allocate from'],
    ['10.0.0.1/32', {}, 'Network 10.0.0.1/32 too small to allocate from'],
    ['fd00::/127', {}, 'Network fd00::/127 too small to allocate from'],
    ['10.0.0.5/24', {}, 'Network has host bits set. For a subnet mask of length 24 the network address is 10.0.0.0'],
    ['fd00::5/64', {}, 'Network has host bits set. For a subnet mask of length 64 the network address is fd00::'],
    ['10.0.0.0/24', { rangeStart: '10.0.1.1' }, 'RangeStart 10.0.1.1 not in network 10.0.0.0/24'],
    ['10.0.0.0/24', { rangeEnd: '10.0.1.1' }, 'RangeEnd 10.0.1.1 not in network 10.0.0.0/24'],
    ['10.0.0.0/24', { rangeStart: '10.0.0.50', rangeEnd: '10.0.0.40' }, 'RangeStart 10.0.0.50 not in network 10.0.0.0/24'],
    ['10.0.0.0/24', { rangeStart: 'fd00::1' }, 'RangeStart fd00::1 not in network 10.0.0.0/24'],
    ['10.0.0.0/24', { gateway: '10.0.1.1' }, 'gateway 10.0.1.1 not in network 10.0.0.0/24'],
  ])('refuses %s %j: %s', (subnet, extra, msg) => {
    expect(() => canonicalizeRange(spec(subnet, extra))).toThrow(msg);
  });

  it('leaves the gateway out of the size only when it is in the window', () => {
    expect(rangeSize(canonicalizeRange(spec('10.0.0.0/29')))).toBe(5n); // .1-.6 less the gateway .1
    expect(rangeSize(canonicalizeRange(spec('10.0.0.0/29', { rangeStart: '10.0.0.2' })))).toBe(5n);
  });
});

describe('containment and overlap', () => {
  const a = canonicalizeRange(spec('10.0.0.0/24', { rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' }));
  const b = canonicalizeRange(spec('10.0.0.0/24', { rangeStart: '10.0.0.20', rangeEnd: '10.0.0.30' }));
  const c = canonicalizeRange(spec('10.0.0.0/24', { rangeStart: '10.0.0.21', rangeEnd: '10.0.0.30' }));
  const v6 = canonicalizeRange(spec('fd00::/120'));

  it('contains only the window', () => {
    expect(rangeContains(a, ip('10.0.0.10'))).toBe(true);
    expect(rangeContains(a, ip('10.0.0.20'))).toBe(true);
    expect(rangeContains(a, ip('10.0.0.9'))).toBe(false);
    expect(rangeContains(a, ip('fd00::a'))).toBe(false);
  });

  it('overlaps on a shared address, never across families', () => {
    expect(rangesOverlap(a, b)).toBe(true);
    expect(rangesOverlap(a, c)).toBe(false);
    expect(rangesOverlap(a, v6)).toBe(false);
    expect(rangeSetsOverlap([a], [c, b])).toBe(true);
  });
});

describe('canonicalizeRangeSet', () => {
  it('refuses an empty set, mixed families and overlaps', () => {
    expect(() => canonicalizeRangeSet([])).toThrow('empty range set');
    expect(() => canonicalizeRangeSet([spec('10.0.0.0/24'), spec('fd00::/64')])).toThrow('mixed address families');
    expect(() => canonicalizeRangeSet([spec('10.0.0.0/24'), spec('10.0.0.0/25')])).toThrow('subnets 10.0.0.1-10.0.0.254 and 10.0.0.1-10.0.0.126 overlap');
  });

  it('finds the range of an address and its gateway, and prints like the reference', () => {
    const set = canonicalizeRangeSet([spec('10.0.0.0/24', { rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' }), spec('10.0.1.0/24')]);
    expect(rangeSetToString(set)).toBe('10.0.0.10-10.0.0.20,10.0.1.1-10.0.1.254');
    expect(rangeFor(set, ip('10.0.1.7'))).toBe(set[1]);
    expect(rangeFor(set, ip('10.0.0.1'))).toBeUndefined();
    expect(isGatewayOf(set, ip('10.0.1.1'))).toBe(true);
    expect(isGatewayOf(set, ip('10.0.1.2'))).toBe(false);
  });

  it('counts free addresses: windows, less gateways, less held addresses in the set', () => {
    const set = canonicalizeRangeSet([spec('10.0.0.0/30'), spec('10.0.1.0/30')]);
    expect(freeCount(set, [])).toBe(2n);
    expect(freeCount(set, [ip('10.0.0.2'), ip('10.0.0.2'), ip('10.9.9.9'), ip('10.0.0.1')])).toBe(1n);
    expect(freeCount(set, [ip('10.0.0.2'), ip('10.0.1.2')])).toBe(0n);
  });
});
