/** Address parsing and printing agree with Go's net package, whose printed form names the lease files. */
import { describe, expect, it } from 'vitest';
import { formatCidr, formatIp, ipAdd, lastAddress, netContains, networkAddress, parseCidr, parseIp, parseIpMaybePrefix } from '../../lib/ip.ts';

function ip(s: string) {
  const v = parseIp(s);
  if (v === undefined) throw new Error(`test address ${s} does not parse`);
  return v;
}

describe('parseIp / formatIp', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['fd00::1', 'fd00::1'],
    ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs is compressed
    ['2001:db8::', '2001:db8::'],
    ['::', '::'],
    ['::1', '::1'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], // a single zero group is not compressed
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::ffff:10.1.2.3', '10.1.2.3'], // IPv4-mapped becomes IPv4 (Go's To4)
    ['::1.2.3.4', '::102:304'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
  ])('%s prints as %s', (input, want) => {
    expect(formatIp(ip(input))).toBe(want);
  });

  it.each(['', '10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', '10.0.0.1 ', 'fd00::1::2', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', 'fe80::1%eth0', '12345::', 'g::1', '1.2.3.4/24'])(
    'refuses %j',
    (input) => {
      expect(parseIp(input)).toBeUndefined();
    },
  );

  it('keeps the families apart', () => {
    expect(ip('10.0.0.1').family).toBe(4);
    expect(ip('::a00:1').family).toBe(6);
    expect(ip('::a00:1').value).toBe(ip('10.0.0.1').value);
  });
});

describe('CIDRs', () => {
  it('parses and keeps host bits as written', () => {
    const n = parseCidr('10.1.2.3/16');
    expect(n).toBeDefined();
    expect(formatCidr(n!)).toBe('10.1.2.3/16');
    expect(formatIp(networkAddress(n!))).toBe('10.1.0.0');
    expect(formatIp(lastAddress(n!))).toBe('10.1.255.255');
  });

  it.each(['10.0.0.0', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/x', 'nope/8'])('refuses %j', (s) => {
    expect(parseCidr(s)).toBeUndefined();
  });

  it('contains by prefix and family', () => {
    const n = parseCidr('fd00::/120')!;
    expect(netContains(n, ip('fd00::ff'))).toBe(true);
    expect(netContains(n, ip('fd00::100'))).toBe(false);
    expect(netContains(parseCidr('0.0.0.0/0')!, ip('fd00::1'))).toBe(false);
  });

  it('reads requested addresses with or without a prefix', () => {
    expect(formatIp(parseIpMaybePrefix('10.0.0.5/24')!)).toBe('10.0.0.5');
    expect(formatIp(parseIpMaybePrefix('fd00::5')!)).toBe('fd00::5');
    expect(parseIpMaybePrefix('10.0.0.5/40')).toBeUndefined();
  });

  it('adds within the family and clamps at the ends', () => {
    expect(formatIp(ipAdd(ip('10.0.0.255'), 1n))).toBe('10.0.1.0');
    expect(formatIp(ipAdd(ip('255.255.255.255'), 1n))).toBe('255.255.255.255');
    expect(formatIp(ipAdd(ip('fd00::ffff'), 1n))).toBe('fd00::1:0');
  });
});
