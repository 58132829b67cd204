/**
 * Reply decoders against real kernel messages (fixtures/kernel-replies.json,
 * captured from Linux 6.18; its _comment describes the setup) and, for what
 * the capture kernel could not produce (VLAN entries: it lacks
 * CONFIG_BRIDGE_VLAN_FILTERING), against messages laid out by hand.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeAddr, decodeBridgePort, decodeBridgeVlans, decodeLink, decodeRoute, parseAttrs } from '../../../lib/netlink/decode.ts';
import { attr, ifinfomsg, nest, str, u16, u32 } from '../../../lib/netlink/encode.ts';

interface Fixture {
  messages: Record<string, { type: number; hex: string }>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/kernel-replies.json', import.meta.url), 'utf8')) as Fixture;

function msg(name: string): Buffer {
  const m = fixture.messages[name];
  if (m === undefined) throw new Error(`no fixture ${name}`);
  return Buffer.from(m.hex, 'hex');
}

const PERMANENT_ONLY = {
  secondary: false,
  nodad: false,
  optimistic: false,
  dadfailed: false,
  homeaddress: false,
  deprecated: false,
  tentative: false,
  permanent: true,
  managetempaddr: false,
  noprefixroute: false,
  mcautojoin: false,
  stablePrivacy: false,
};

describe('links', () => {
  it('decodes a bridge', () => {
    const br = decodeLink(msg('bridge'));
    expect(br).toMatchObject({
      kind: 'bridge',
      index: 2,
      name: 'br0',
      mtu: 1400,
      mac: '02:00:00:aa:bb:01',
      operstate: 'up',
      linkType: 1,
      txqlen: 1000,
      // the capture kernel reports IFLA_BR_VLAN_FILTERING 0 but, without the option, no default PVID
      vlanFiltering: false,
    });
    expect(br.flags).toMatchObject({ up: true, running: true, lowerUp: true, promisc: false, loopback: false });
    expect(br).not.toHaveProperty('masterIndex');
    expect(br).not.toHaveProperty('vlanDefaultPvid');
    expect(decodeBridgePort(msg('bridge'))).toBeUndefined();
  });

  it('decodes a veth that is a bridge port, with its peer in another namespace', () => {
    expect(decodeLink(msg('bridgePort'))).toEqual({
      kind: 'veth',
      index: 3,
      name: 'vethA',
      mtu: 1400,
      mac: '02:00:00:00:0a:01',
      flags: {
        up: true,
        broadcast: true,
        loopback: false,
        pointopoint: false,
        running: true,
        noarp: false,
        promisc: false,
        allmulti: false,
        master: false,
        slave: false,
        multicast: true,
        lowerUp: true,
        dormant: false,
      },
      operstate: 'up',
      linkType: 1,
      masterIndex: 2,
      slaveKind: 'bridge',
      txqlen: 1000,
      promiscuity: 1,
      peerIndex: 2,
      peerNetnsId: 0,
    });
    expect(decodeLink(msg('vethPeerElsewhere'))).toMatchObject({ kind: 'veth', index: 2, name: 'eth0', mtu: 1500, peerIndex: 3, peerNetnsId: 0 });
  });

  it('decodes loopback as a device', () => {
    const lo = decodeLink(msg('loopback'));
    expect(lo).toMatchObject({ kind: 'device', index: 1, name: 'lo', mtu: 65536, linkType: 772, operstate: 'down', mac: '00:00:00:00:00:00' });
    expect(lo.flags.loopback).toBe(true);
    expect(lo.flags.up).toBe(false);
  });

  it('reads bridge port flags from IFLA_INFO_SLAVE_DATA and from IFLA_PROTINFO (AF_BRIDGE) alike', () => {
    const expected = {
      index: 3,
      masterIndex: 2,
      state: 3,
      priority: 32,
      cost: 2,
      hairpin: true,
      bpduGuard: false,
      rootBlock: false,
      fastLeave: false,
      learning: true,
      unicastFlood: true,
      proxyArp: false,
      multicastFlood: true,
      broadcastFlood: true,
      neighSuppress: false,
      isolated: true,
    };
    expect(decodeBridgePort(msg('bridgePort'))).toEqual(expected);
    expect(decodeBridgePort(msg('bridgePortProtinfo'))).toEqual(expected);
    expect(decodeBridgePort(msg('vethPeerElsewhere'))).toBeUndefined();
  });

  it('names other kinds by IFLA_INFO_KIND', () => {
    const body = Buffer.concat([ifinfomsg({ index: 9, type: 1 }), attr(3, str('vx0')), nest(18, [attr(1, Buffer.from('vxlan'))])]);
    expect(decodeLink(body)).toMatchObject({ kind: 'other', infoKind: 'vxlan', index: 9, name: 'vx0', mtu: 0, operstate: 'unknown' });
  });
});

describe('bridge VLANs (hand-built AF_BRIDGE dump entry)', () => {
  const vlan = (flags: number, vid: number): Buffer => attr(2, Buffer.concat([u16(flags), u16(vid)]));
  const entries = [
    attr(0, u16(2)), // IFLA_BRIDGE_FLAGS, ignored
    vlan(0x2 | 0x4, 10), // PVID, untagged
    vlan(0, 20),
    vlan(0x8, 30), // range begin
    vlan(0x10, 32), // range end
  ];

  it.each([
    ['without NLA_F_NESTED', false],
    ['with NLA_F_NESTED', true],
  ])('decodes IFLA_AF_SPEC %s and expands ranges', (_what, nested) => {
    const body = Buffer.concat([ifinfomsg({ family: 7, index: 5 }), attr(3, str('vethA')), attr(10, u32(2)), nest(26, entries, nested)]);
    expect(decodeBridgeVlans(body)).toEqual([
      { index: 5, vid: 10, pvid: true, untagged: true, brentry: false },
      { index: 5, vid: 20, pvid: false, untagged: false, brentry: false },
      { index: 5, vid: 30, pvid: false, untagged: false, brentry: false },
      { index: 5, vid: 31, pvid: false, untagged: false, brentry: false },
      { index: 5, vid: 32, pvid: false, untagged: false, brentry: false },
    ]);
  });

  it('marks the bridge entry and returns nothing without IFLA_AF_SPEC', () => {
    const br = Buffer.concat([ifinfomsg({ family: 7, index: 2 }), nest(26, [vlan(0x20 | 0x2 | 0x4, 1)])]);
    expect(decodeBridgeVlans(br)).toEqual([{ index: 2, vid: 1, pvid: true, untagged: true, brentry: true }]);
    expect(decodeBridgeVlans(msg('bridgePortProtinfo'))).toEqual([]);
  });
});

describe('addresses', () => {
  it('decodes IPv4 addresses with broadcast, label and scope', () => {
    expect(decodeAddr(msg('addr1'))).toEqual({
      index: 2,
      family: 4,
      ip: '10.1.2.3',
      prefixLen: 24,
      address: '10.1.2.3/24',
      scope: 'universe',
      flags: PERMANENT_ONLY,
      broadcast: '10.1.2.255',
      label: 'eth0',
      preferredLft: 0xffffffff,
      validLft: 0xffffffff,
    });
    const linkScoped = decodeAddr(msg('addr0'));
    expect(linkScoped).toMatchObject({ address: '10.1.3.3/24', scope: 'link', label: 'eth0:x' });
    expect(linkScoped).not.toHaveProperty('broadcast');
    expect(linkScoped).not.toHaveProperty('peer');
  });

  it('decodes IPv6 flags: tentative during DAD, nodad, link-local scope', () => {
    expect(decodeAddr(msg('addr2'))).toMatchObject({ address: '2001:db8:1::5/64', family: 6, flags: { ...PERMANENT_ONLY, tentative: true } });
    expect(decodeAddr(msg('addrAfterDad0'))).toMatchObject({ address: '2001:db8:1::5/64', flags: PERMANENT_ONLY });
    expect(decodeAddr(msg('addr3'))).toMatchObject({ address: '2001:db8::5/64', flags: { ...PERMANENT_ONLY, nodad: true } });
    expect(decodeAddr(msg('addr4'))).toMatchObject({ ip: 'fe80::ff:fe00:b01', scope: 'link' });
  });

  it('reports a peer and prefers IFA_FLAGS over the 8-bit field', () => {
    const body = Buffer.concat([
      Buffer.from('02200880' + '07000000', 'hex'), // AF_INET /32, ifa_flags DADFAILED, scope 128, index 7
      attr(2, Buffer.from([10, 0, 0, 1])),
      attr(1, Buffer.from([10, 0, 0, 2])),
      attr(8, u32(0x200 | 0x08)), // NOPREFIXROUTE | DADFAILED
    ]);
    expect(decodeAddr(body)).toMatchObject({ ip: '10.0.0.1', peer: '10.0.0.2', address: '10.0.0.1/32', scope: 128 });
    expect(decodeAddr(body)?.flags).toMatchObject({ dadfailed: true, noprefixroute: true });
  });

  it('skips families other than IPv4/IPv6', () => {
    expect(decodeAddr(Buffer.from('1100000001000000', 'hex'))).toBeUndefined();
  });
});

describe('routes', () => {
  it('decodes table, metric, gateway, src, mtu and advmss', () => {
    expect(decodeRoute(msg('routeTable100'))).toEqual({
      cloned: false,
      route: {
        family: 4,
        dst: '10.9.0.0/16',
        table: 100,
        protocol: 3,
        scope: 'universe',
        type: 'unicast',
        gw: '10.1.2.1',
        linkIndex: 2,
        priority: 100,
        src: '10.1.2.3',
        mtu: 1300,
        advmss: 1260,
      },
    });
  });

  it('decodes IPv6 ECMP nexthops (RTA_MULTIPATH)', () => {
    expect(decodeRoute(msg('route6Multipath'))?.route).toEqual({
      family: 6,
      dst: '2001:db8:9::/64',
      table: 254,
      protocol: 3,
      scope: 'universe',
      type: 'unicast',
      priority: 1024,
      nexthops: [
        { linkIndex: 2, weight: 1, gw: '2001:db8::1' },
        { linkIndex: 2, weight: 1, gw: '2001:db8::2' },
      ],
    });
    expect(decodeRoute(msg('route6Kernel'))?.route).toMatchObject({ dst: '2001:db8::/64', protocol: 2, priority: 256, linkIndex: 2 });
  });

  it('writes the default route as 0.0.0.0/0 and flags cloned entries', () => {
    const body = Buffer.from('02000000fe030001' + '00020000', 'hex');
    expect(decodeRoute(body)).toMatchObject({ cloned: true, route: { dst: '0.0.0.0/0', table: 254 } });
  });
});

describe('malformed input', () => {
  it('throws on an attribute running past the buffer', () => {
    expect(() => parseAttrs(Buffer.from('0800030061', 'hex'))).toThrow(RangeError);
    expect(() => parseAttrs(Buffer.from('02000300', 'hex'))).toThrow(/malformed netlink attribute/);
  });

  it('throws on a truncated header or attribute value', () => {
    expect(() => decodeLink(Buffer.alloc(10))).toThrow(/ifinfomsg: 10 bytes, expected 16/);
    expect(() => decodeLink(Buffer.concat([ifinfomsg(), attr(4, Buffer.from([1]))]))).toThrow(/u32/);
  });

  it('ignores trailing padding shorter than an attribute header', () => {
    expect(parseAttrs(Buffer.from('050003006100000000', 'hex'))).toHaveLength(1);
  });
});
