/**
 * The allocation policy against the in-memory store: the reference's
 * round-robin order, cursor handling, gateway skipping, wrap-around across the
 * ranges of a set, exhaustion, requested addresses and the duplicate-ADD rule.
 */
import { describe, expect, it } from 'vitest';
import { CniError } from '../../../lib/cni/errors.ts';
import { RangeIter, allocateFromSet, matchRequested } from '../../../ipam/host-local/allocator.ts';
import { type IP, formatIp, parseCidr, parseIp } from '../../../lib/ip.ts';
import { MemoryStore } from '../../../ipam/host-local/memory-store.ts';
import { type RangeSet, canonicalizeRangeSet } from '../../../ipam/host-local/range-set.ts';
import type { Attachment } from '../../../ipam/host-local/store.ts';

function ip(s: string): IP {
  const v = parseIp(s);
  if (v === undefined) throw new Error(s);
  return v;
}

function set(...ranges: { subnet: string; rangeStart?: string; rangeEnd?: string; gateway?: string }[]): RangeSet {
  return canonicalizeRangeSet(
    ranges.map((r) => ({
      subnet: parseCidr(r.subnet)!,
      rangeStart: r.rangeStart === undefined ? undefined : ip(r.rangeStart),
      rangeEnd: r.rangeEnd === undefined ? undefined : ip(r.rangeEnd),
      gateway: r.gateway === undefined ? undefined : ip(r.gateway),
    })),
  );
}

function walk(s: RangeSet, last?: string): string[] {
  const it = new RangeIter(s, last === undefined ? undefined : ip(last));
  const out: string[] = [];
  for (let c = it.next(); c !== undefined; c = it.next()) out.push(formatIp(c.ip));
  return out;
}

const A: Attachment = { containerId: 'ctr-a', ifName: 'eth0' };

function alloc(store: MemoryStore, s: RangeSet, a: Attachment = A, requested?: string): string {
  return store.withLockSync(() => {
    const leases = [...store.leases().leases];
    return formatIp(allocateFromSet({ store, set: s, rangeIndex: 0, attachment: a, requested: requested === undefined ? undefined : ip(requested), leases }).ip);
  });
}

function allocError(store: MemoryStore, s: RangeSet, a: Attachment = A, requested?: string): string {
  try {
    alloc(store, s, a, requested);
  } catch (err) {
    if (err instanceof CniError) return err.msg;
    throw err;
  }
  throw new Error('expected allocation to fail');
}

describe('RangeIter', () => {
  it('walks a fresh set from rangeStart, skipping the gateway', () => {
    expect(walk(set({ subnet: '10.0.0.0/29' }))).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('leases .1 when the gateway is elsewhere', () => {
    expect(walk(set({ subnet: '10.0.0.0/29', gateway: '10.0.0.6' }))).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
  });

  it('starts after the cursor and wraps, ending with the cursor itself', () => {
    expect(walk(set({ subnet: '10.0.0.0/29' }), '10.0.0.4')).toEqual(['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('crosses the ranges of a set in order and wraps to the first', () => {
    const s = set({ subnet: '10.0.0.0/29' }, { subnet: '10.0.1.0/30' }, { subnet: '10.0.2.0/24', rangeStart: '10.0.2.10', rangeEnd: '10.0.2.11' });
    expect(walk(s, '10.0.1.2')).toEqual(['10.0.2.10', '10.0.2.11', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.1.2']);
  });

  it('ignores a cursor outside the set (a config change) and starts over', () => {
    expect(walk(set({ subnet: '10.0.0.0/30' }), '192.168.0.9')).toEqual(['10.0.0.2']);
    expect(walk(set({ subnet: '10.0.0.0/30' }), 'fd00::1')).toEqual(['10.0.0.2']);
  });

  it('ends when every address is the gateway', () => {
    expect(walk(set({ subnet: '10.0.0.0/30', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' }))).toEqual([]);
  });

  it('walks IPv6, whose last address is leasable', () => {
    expect(walk(set({ subnet: 'fd00::/126' }))).toEqual(['fd00::2', 'fd00::3']);
  });
});

describe('allocateFromSet', () => {
  it('hands out addresses round robin and moves the cursor', () => {
    const store = new MemoryStore();
    const s = set({ subnet: '10.0.0.0/29' });
    const got = ['a', 'b', 'c'].map((id) => alloc(store, s, { containerId: id, ifName: 'eth0' }));
    expect(got).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect(formatIp(store.lastReserved('0')!)).toBe('10.0.0.4');
    // a released address is not reused before the rest of the set has been handed out
    store.release(ip('10.0.0.2'));
    expect(alloc(store, s, { containerId: 'd', ifName: 'eth0' })).toBe('10.0.0.5');
  });

  it('skips held addresses and fails with the reference message when the set is full', () => {
    const store = new MemoryStore();
    const s = set({ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' });
    store.seed(ip('10.0.0.2'), { containerId: 'other', ifName: 'eth0' });
    expect(alloc(store, s)).toBe('10.0.1.2');
    expect(allocError(store, s, { containerId: 'x', ifName: 'eth0' })).toBe('no IP addresses available in range set: 10.0.0.1-10.0.0.2,10.0.1.1-10.0.1.2');
  });

  it('refuses a second allocation for the same attachment, legacy leases included', () => {
    const store = new MemoryStore();
    const s = set({ subnet: '10.0.0.0/24' });
    alloc(store, s);
    expect(allocError(store, s)).toBe('10.0.0.2 has been allocated to ctr-a, duplicate allocation is not allowed');
    const legacy = new MemoryStore();
    legacy.seed(ip('10.0.0.9'), { containerId: 'ctr-a', ifName: undefined });
    expect(allocError(legacy, s)).toBe('10.0.0.9 has been allocated to ctr-a, duplicate allocation is not allowed');
    // another interface of the same container is a different attachment
    expect(alloc(store, s, { containerId: 'ctr-a', ifName: 'eth1' })).toBe('10.0.0.3');
  });

  it('gives a requested address, refusing the gateway and an address someone holds (naming them)', () => {
    const store = new MemoryStore();
    const s = set({ subnet: '10.0.0.0/24' });
    expect(alloc(store, s, A, '10.0.0.77')).toBe('10.0.0.77');
    expect(formatIp(store.lastReserved('0')!)).toBe('10.0.0.77');
    expect(allocError(store, s, { containerId: 'b', ifName: 'eth0' }, '10.0.0.1')).toBe("requested ip 10.0.0.1 is subnet's gateway");
    expect(allocError(store, s, { containerId: 'b', ifName: 'eth0' }, '10.0.0.77')).toBe(
      'requested IP address 10.0.0.77 is not available in range set 10.0.0.1-10.0.0.254 (reserved by container ctr-a interface eth0)',
    );
  });
});

describe('matchRequested', () => {
  it('gives each set the first requested address it holds and returns the rest', () => {
    const sets = [set({ subnet: '10.0.0.0/24' }), set({ subnet: 'fd00::/64' })];
    const r = matchRequested(sets, [ip('fd00::5'), ip('10.0.0.5'), ip('10.0.0.6'), ip('10.0.0.5'), ip('10.9.0.1')]);
    expect(r.perSet.map((x) => (x === undefined ? undefined : formatIp(x)))).toEqual(['10.0.0.5', 'fd00::5']);
    expect(r.unmatched.map(formatIp)).toEqual(['10.0.0.6', '10.9.0.1']);
  });

  it('does not match an address of the subnet outside the window', () => {
    const sets = [set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.100' })];
    expect(matchRequested(sets, [ip('10.0.0.5')]).unmatched.map(formatIp)).toEqual(['10.0.0.5']);
  });
});
