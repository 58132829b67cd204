import { describe, expect, it } from 'vitest';
import { broadcastOf, formatIp, formatMac, networkOf, parseIp, parseMac, parsePrefix } from '../../../lib/netlink/ip.ts';

describe('IP text <-> bytes', () => {
  it.each([
    ['10.1.2.3', 4, '0a010203'],
    ['0.0.0.0', 4, '00000000'],
    ['::', 6, '00000000000000000000000000000000'],
    ['::1', 6, '00000000000000000000000000000001'],
    ['2001:db8::5', 6, '20010db8000000000000000000000005'],
    ['fe80::ff:fe00:b01', 6, 'fe80000000000000000000fffe000b01'],
    ['::ffff:10.1.2.3', 6, '00000000000000000000ffff0a010203'],
    ['2001:DB8:0:0:1:0:0:1', 6, '20010db8000000000001000000000001'],
  ])('parses %s', (text, family, hex) => {
    expect(parseIp(text)).toEqual({ family, bytes: Buffer.from(hex, 'hex') });
  });

  it.each(['10.1.2', '1.2.3.256', '2001:db8::5::1', 'eth0', ''])('rejects %j', (text) => {
    expect(() => parseIp(text)).toThrow(TypeError);
  });

  it.each([
    ['20010db8000000000000000000000005', '2001:db8::5'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // first of two equal runs
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'], // longest run
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'], // no run
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // a single zero word stays
    ['00000000000000000000000000000000', '::'],
    ['fe800000000000000000000000000000', 'fe80::'],
  ])('formats %s as %s (RFC 5952)', (hex, text) => {
    expect(formatIp(Buffer.from(hex, 'hex'))).toBe(text);
  });

  it('parses prefixes and computes broadcast/network', () => {
    const p = parsePrefix('10.1.2.3/24');
    expect(p).toMatchObject({ family: 4, prefixLen: 24 });
    expect(formatIp(broadcastOf(p))).toBe('10.1.2.255');
    expect(formatIp(networkOf(p))).toBe('10.1.2.0');
    expect(formatIp(broadcastOf(parsePrefix('10.0.0.0/13')))).toBe('10.7.255.255');
    expect(parsePrefix('::/0').prefixLen).toBe(0);
    expect(() => parsePrefix('10.0.0.0/x')).toThrow(/length must be 0-32/);
    expect(() => parsePrefix('::/129')).toThrow(/length must be 0-128/);
  });

  it('parses and formats MAC addresses', () => {
    expect(parseMac('02:00:00:AA:bb:01').toString('hex')).toBe('020000aabb01');
    expect(formatMac(Buffer.from('020000aabb01', 'hex'))).toBe('02:00:00:aa:bb:01');
    expect(() => parseMac('02-00-00-aa-bb-01')).toThrow(/invalid MAC/);
  });
});
