/**
 * The pure plan: gateways and default routes per family (calcGateways), the
 * container's routes, the gateway-address decision on the bridge (ensureAddr),
 * VLAN handling, veth names and address arithmetic.
 */
import { describe, expect, it } from 'vitest';
import {
  backoffDelays,
  canonicalCidr,
  defaultGatewayFor,
  gatewayAction,
  networkCidr,
  planAddresses,
  planContainerRoutes,
  planVlans,
  randomMac,
  randomVethName,
  resultDns,
  vidRanges,
  vlanGatewayName,
} from '../../../plugins/bridge/plan.ts';

const gw = { isGateway: true, isDefaultGateway: false };
const dgw = { isGateway: true, isDefaultGateway: true };
const l2 = { isGateway: false, isDefaultGateway: false };

describe('planAddresses (calcGateways)', () => {
  it('fills in network+1 as the gateway and puts it on the bridge with the address prefix', () => {
    const p = planAddresses(gw, { ips: [{ address: '10.244.1.5/24' }] });
    expect(p.ips).toEqual([{ address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 2 }]);
    expect(p.gateways).toEqual([{ family: 4, cidr: '10.244.1.1/24' }]);
    expect(p.forwardFamilies).toEqual([4]);
    expect(p.routes).toEqual([]);
  });

  it("keeps IPAM's gateway", () => {
    const p = planAddresses(gw, { ips: [{ address: '10.244.1.5/24', gateway: '10.244.1.254' }] });
    expect(p.gateways).toEqual([{ family: 4, cidr: '10.244.1.254/24' }]);
  });

  it('without isGateway, sets no gateway and puts nothing on the bridge', () => {
    const p = planAddresses(l2, { ips: [{ address: '10.244.1.5/24' }] });
    expect(p.ips).toEqual([{ address: '10.244.1.5/24', interface: 2 }]);
    expect(p.gateways).toEqual([]);
    expect(p.forwardFamilies).toEqual([]);
  });

  it('adds one default route per family for isDefaultGateway, dual stack', () => {
    const p = planAddresses(dgw, { ips: [{ address: '10.244.1.5/24' }, { address: 'fd00:1::5/64' }], routes: [{ dst: '10.244.0.0/16' }] });
    expect(p.routes).toEqual([{ dst: '10.244.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.244.1.1' }, { dst: '::/0', gw: 'fd00:1::1' }]);
    expect(p.gateways).toEqual([
      { family: 4, cidr: '10.244.1.1/24' },
      { family: 6, cidr: 'fd00:1::1/64' },
    ]);
    expect(p.forwardFamilies).toEqual([4, 6]);
  });

  it('adds only one default route per family when there are two ranges of a family', () => {
    const p = planAddresses(dgw, { ips: [{ address: '10.1.0.5/24' }, { address: '10.2.0.5/24' }] });
    expect(p.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
    expect(p.gateways.map((g) => g.cidr)).toEqual(['10.1.0.1/24', '10.2.0.1/24']);
  });

  it("does not add a default route when IPAM returned one with a gateway, but does when IPAM's has none", () => {
    expect(planAddresses(dgw, { ips: [{ address: '10.1.0.5/24' }], routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.254' }] }).routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.254' }]);
    expect(planAddresses(dgw, { ips: [{ address: '10.1.0.5/24' }], routes: [{ dst: '0.0.0.0/0' }] }).routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
  });

  it('an IPv6 default route does not count for IPv4', () => {
    const p = planAddresses(dgw, { ips: [{ address: '10.1.0.5/24' }], routes: [{ dst: '::/0', gw: 'fd00::1' }] });
    expect(p.routes).toContainEqual({ dst: '0.0.0.0/0', gw: '10.1.0.1' });
  });

  it('does not touch its input', () => {
    const ipam = { ips: [{ address: '10.1.0.5/24' }], routes: [{ dst: '10.0.0.0/8' }] };
    planAddresses(dgw, ipam);
    expect(ipam).toEqual({ ips: [{ address: '10.1.0.5/24' }], routes: [{ dst: '10.0.0.0/8' }] });
  });
});

describe('planContainerRoutes', () => {
  it("sends gateway-less routes through the family's first gateway and keeps the 1.1.0 fields", () => {
    const r = planContainerRoutes(
      [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }, { address: 'fd00::5/64', gateway: 'fd00::1' }],
      [{ dst: '10.0.0.0/8', priority: 100, table: 100, scope: 0, mtu: 1400, advmss: 1360 }, { dst: '2001:db8::/32' }, { dst: '192.168.0.0/16', gw: '10.1.0.254' }],
    );
    expect(r).toEqual([
      { family: 4, dst: '10.0.0.0/8', gw: '10.1.0.1', priority: 100, table: 100, scope: 0, mtu: 1400, advmss: 1360 },
      { family: 6, dst: '2001:db8::/32', gw: 'fd00::1' },
      { family: 4, dst: '192.168.0.0/16', gw: '10.1.0.254' },
    ]);
  });

  it('leaves a route without gateway when its family has none, zeroes host bits, adds duplicates once', () => {
    const r = planContainerRoutes([{ address: '10.1.0.5/24' }], [{ dst: '10.9.9.9/16' }, { dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
    expect(r).toEqual([
      { family: 4, dst: '10.9.0.0/16' },
      { family: 4, dst: '0.0.0.0/0', gw: '10.1.0.1' },
    ]);
  });

  it('merges IPAM gateway-less default with the isDefaultGateway one', () => {
    const p = planAddresses(dgw, { ips: [{ address: '10.1.0.5/24' }], routes: [{ dst: '0.0.0.0/0' }] });
    expect(planContainerRoutes(p.ips, p.routes)).toEqual([{ family: 4, dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
  });
});

describe('gatewayAction (ensureAddr)', () => {
  const v4 = { family: 4 as const, cidr: '10.244.1.1/24' };
  const v6 = { family: 6 as const, cidr: 'fd00:1::1/64' };

  it('accepts an identical address (also written differently)', () => {
    expect(gatewayAction({ existing: [{ family: 6, address: 'fd00:1:0:0::1/64' }], gateway: v6, force: false, ours: [v6] })).toEqual({ kind: 'present' });
  });

  it('adds to an empty bridge', () => {
    expect(gatewayAction({ existing: [], gateway: v4, force: false, ours: [v4] })).toEqual({ kind: 'add', remove: [] });
  });

  it('IPv4: any other address conflicts (the stale-subnet case) unless forceAddress', () => {
    const existing = [{ family: 4 as const, address: '10.244.7.1/24' }];
    expect(gatewayAction({ existing, gateway: v4, force: false, ours: [v4] })).toEqual({ kind: 'conflict', existing: '10.244.7.1/24' });
    expect(gatewayAction({ existing, gateway: v4, force: true, ours: [v4] })).toEqual({ kind: 'add', remove: ['10.244.7.1/24'] });
  });

  it('IPv6: only an overlapping prefix conflicts; link-local and other prefixes coexist', () => {
    const existing = [
      { family: 6 as const, address: 'fe80::1/64' },
      { family: 6 as const, address: 'fd00:2::1/64' },
    ];
    expect(gatewayAction({ existing, gateway: v6, force: false, ours: [v6] })).toEqual({ kind: 'add', remove: [] });
    expect(gatewayAction({ existing: [{ family: 6, address: 'fd00:1::fe/64' }], gateway: v6, force: false, ours: [v6] })).toEqual({ kind: 'conflict', existing: 'fd00:1::fe/64' });
    expect(gatewayAction({ existing: [{ family: 6, address: 'fd00::1/16' }], gateway: v6, force: true, ours: [v6] })).toEqual({ kind: 'add', remove: ['fd00::1/16'] });
  });

  it("ignores the other family and this ADD's own other gateways", () => {
    const second = { family: 4 as const, cidr: '10.2.0.1/24' };
    expect(gatewayAction({ existing: [{ family: 4, address: '10.244.1.1/24' }, { family: 6, address: 'fd00:1::1/64' }], gateway: second, force: false, ours: [v4, second] })).toEqual({ kind: 'add', remove: [] });
  });
});

describe('VLANs', () => {
  const base = { vlan: 0, vlanTrunk: [], hasTrunk: false, preserveDefaultVlan: false };
  it('no VLAN: nothing', () => {
    expect(planVlans(base)).toEqual({ vlanFiltering: false, removeExisting: false, pvid: undefined, tagged: [] });
  });
  it('access VLAN: filtering, default VLAN removed, PVID untagged', () => {
    expect(planVlans({ ...base, vlan: 100 })).toEqual({ vlanFiltering: true, removeExisting: true, pvid: 100, tagged: [] });
    expect(planVlans({ ...base, vlan: 100, preserveDefaultVlan: true }).removeExisting).toBe(false);
  });
  it('trunk: tagged VIDs; an empty trunk list still turns filtering on, as the reference', () => {
    // native VLAN 1 on a trunk without vlan (the reference adds it back after removing the default entries)
    expect(planVlans({ ...base, vlanTrunk: [5, 6], hasTrunk: true })).toEqual({ vlanFiltering: true, removeExisting: true, pvid: 1, tagged: [5, 6] });
    // v1.8.0: vlan with vlanTrunk is the trunk's native VLAN; listed in the trunk too, it stays native
    expect(planVlans({ ...base, vlan: 7, vlanTrunk: [5, 7, 9], hasTrunk: true })).toEqual({ vlanFiltering: true, removeExisting: true, pvid: 7, tagged: [5, 9] });
    expect(planVlans({ ...base, vlan: 7, vlanTrunk: [5], hasTrunk: true, preserveDefaultVlan: true })).toEqual({ vlanFiltering: true, removeExisting: false, pvid: 7, tagged: [5] });
    expect(planVlans({ ...base, hasTrunk: true })).toEqual({ vlanFiltering: true, removeExisting: false, pvid: undefined, tagged: [] });
  });
  it('groups VIDs into ranges', () => {
    expect(vidRanges([5, 1, 2, 3, 7, 8, 3])).toEqual([
      { vid: 1, vidEnd: 3 },
      { vid: 5, vidEnd: 5 },
      { vid: 7, vidEnd: 8 },
    ]);
  });
  it('names the VLAN gateway device <bridge>.<vlan>', () => {
    expect(vlanGatewayName('cni0', 100)).toBe('cni0.100');
  });
});

describe('names and arithmetic', () => {
  it('veth names are "veth" + 8 hex digits', () => {
    expect(randomVethName(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x99]))).toBe('vethdeadbeef');
  });
  it('random MACs are unicast and locally administered', () => {
    expect(randomMac(Buffer.from([0xff, 1, 2, 3, 4, 5]))).toBe('fe:01:02:03:04:05');
    expect(randomMac(Buffer.from([0x00, 1, 2, 3, 4, 5]))).toBe('02:01:02:03:04:05');
  });
  it('gateway is network+1, networks and canonical text', () => {
    expect(defaultGatewayFor('10.244.1.77/24')).toBe('10.244.1.1');
    expect(defaultGatewayFor('fd00:1::77/64')).toBe('fd00:1::1');
    expect(defaultGatewayFor('10.0.0.5/30')).toBe('10.0.0.5');
    expect(networkCidr('10.244.1.77/20')).toBe('10.244.0.0/20');
    expect(networkCidr('fd00:1:2:3::9/48')).toBe('fd00:1:2::/48');
    expect(canonicalCidr('FD00:0:0::1/64')).toBe('fd00::1/64');
  });
  it("the result's dns: the configuration's wins", () => {
    expect(resultDns({ nameservers: ['1.1.1.1'] }, { nameservers: ['8.8.8.8'], domain: 'x' })).toEqual({ nameservers: ['1.1.1.1'] });
    expect(resultDns(undefined, { domain: 'x' })).toEqual({ domain: 'x' });
  });
  it('backoff delays add up to the total, short first', () => {
    const d = backoffDelays(2550);
    expect(d.reduce((a, b) => a + b, 0)).toBe(2550);
    expect(d[0]).toBe(2);
    expect(Math.max(...d)).toBe(200);
  });
});
