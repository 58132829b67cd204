/**
 * Configuration: every source of ranges and requested addresses, the
 * defaults, case-insensitive keys, and each validation error with the
 * reference's message and code 7 (code 4 for CNI_ARGS).
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { DEFAULT_LOCK_TIMEOUT_MS, loadIpamConfig } from '../../../ipam/host-local/config.ts';
import { formatIp } from '../../../lib/ip.ts';
import { rangeSetToString } from '../../../ipam/host-local/range-set.ts';
import { cniErrorOf } from '../../helpers/errors.ts';

function conf(ipam: Record<string, unknown>, extra: Record<string, unknown> = {}): NetConf {
  return { cniVersion: '1.0.0', name: 'net1', type: 'bridge', ipam: { type: 'host-local', ...ipam }, ...extra };
}

describe('loadIpamConfig', () => {
  it('applies the defaults', () => {
    const c = loadIpamConfig(conf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }), '');
    expect(c.dir).toBe('/var/lib/cni/networks/net1');
    expect(c.ranges.map(rangeSetToString)).toEqual(['10.1.0.1-10.1.0.254']);
    expect(c.routes).toEqual([]);
    expect(c.resolvConf).toBeUndefined();
    expect(c.requested).toEqual([]);
    expect(c.lockTimeoutMs).toBe(DEFAULT_LOCK_TIMEOUT_MS);
    expect(c.validAttachments).toBeUndefined();
  });

  it('orders range sets: runtimeConfig.ipRanges, then the legacy range, then ranges', () => {
    const c = loadIpamConfig(
      conf(
        { subnet: '10.2.0.0/24', rangeStart: '10.2.0.10', rangeEnd: '10.2.0.20', gateway: '10.2.0.254', ranges: [[{ subnet: 'fd00::/120' }]] },
        { runtimeConfig: { ipRanges: [[{ subnet: '10.3.0.0/24' }]] } },
      ),
      '',
    );
    expect(c.ranges.map(rangeSetToString)).toEqual(['10.3.0.1-10.3.0.254', '10.2.0.10-10.2.0.20', 'fd00::1-fd00::ff']);
    expect(formatIp(c.ranges[1]![0]!.gateway)).toBe('10.2.0.254');
  });

  it('collects requested addresses from CNI_ARGS (comma-separated), args.cni.ips and runtimeConfig.ips, in that order', () => {
    const c = loadIpamConfig(
      conf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, { args: { cni: { ips: ['10.1.0.7/24'] } }, runtimeConfig: { ips: ['fd00::7'] } }),
      'IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.5, 10.1.0.6/24',
    );
    expect(c.requested.map(formatIp)).toEqual(['10.1.0.5', '10.1.0.6', '10.1.0.7', 'fd00::7']);
  });

  it('ignores unknown CNI_ARGS keys even without IgnoreUnknown', () => {
    expect(loadIpamConfig(conf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }), 'FOO=bar').requested).toEqual([]);
  });

  it('matches keys case-insensitively, as Go does (containerd sends capitalised keys)', () => {
    const c = loadIpamConfig(
      { cniVersion: '1.1.0', name: 'n', type: 'x', IPAM: { Ranges: [[{ Subnet: '10.5.0.0/16', RangeStart: '10.5.1.0', RangeEnd: '10.5.1.9' }]], DataDir: '/run/x', LockTimeout: 2.5 } },
      '',
    );
    expect(c.ranges.map(rangeSetToString)).toEqual(['10.5.1.0-10.5.1.9']);
    expect(c.dir).toBe('/run/x/n');
    expect(c.lockTimeoutMs).toBe(2500);
  });

  it('copies routes with every 1.1.0 field, canonicalised, dropping zero omitempty ints as the reference prints them', () => {
    const c = loadIpamConfig(
      conf({
        ranges: [[{ subnet: '10.1.0.0/24' }]],
        routes: [{ dst: '0.0.0.0/0' }, { dst: 'FD00:0::/8', gw: 'fd00::0:1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 }, { dst: '10.9.0.0/16', mtu: 0 }],
      }),
      '',
    );
    expect(c.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: 'fd00::/8', gw: 'fd00::1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 }, { dst: '10.9.0.0/16' }]);
  });

  it('reads both GC attachment keys', () => {
    const c = loadIpamConfig(
      conf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, { 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }], 'cni.dev/attachments': [{ containerid: 'b', IfName: 'eth1' }] }),
      '',
    );
    expect(c.validAttachments).toEqual([
      { containerId: 'a', ifName: 'eth0' },
      { containerId: 'b', ifName: 'eth1' },
    ]);
    expect(loadIpamConfig(conf({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, { 'cni.dev/valid-attachments': [] }), '').validAttachments).toEqual([]);
  });

  it('allows more than one address per family from 0.3.0 on, and refuses it below', () => {
    const two = { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24' }]] };
    expect(loadIpamConfig({ ...conf(two), cniVersion: '0.3.0' }, '').ranges).toHaveLength(2);
    expect(loadIpamConfig({ ...conf({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] }), cniVersion: '0.2.0' }, '').ranges).toHaveLength(2);
    const e = cniErrorOf(() => loadIpamConfig({ ...conf(two), cniVersion: '0.2.0' }, ''));
    expect(e.code).toBe(7);
    expect(e.msg).toBe('CNI version 0.2.0 does not support more than 1 address per family');
  });

  it.each([
    ['no ipam', { cniVersion: '1.0.0', name: 'n', type: 'x' }, "IPAM config missing 'ipam' key"],
    ['no ranges', conf({}), 'no IP ranges specified'],
    ['an empty range set', conf({ ranges: [[]] }), 'invalid range set 0: empty range set'],
    ['host bits', conf({ ranges: [[{ subnet: '10.1.0.1/24' }]] }), 'invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.1.0.0'],
    ['a /31', conf({ subnet: '10.1.0.0/31' }), 'invalid range set 0: Network 10.1.0.0/31 too small to allocate from'],
    ['a start outside', conf({ ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.1' }]] }), 'invalid range set 0: RangeStart 10.2.0.1 not in network 10.1.0.0/24'],
    ['an end outside', conf({ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.2.0.0/24', rangeEnd: '10.3.0.1' }]] }), 'invalid range set 1: RangeEnd 10.3.0.1 not in network 10.2.0.0/24'],
    ['a gateway outside', conf({ ranges: [[{ subnet: '10.1.0.0/24', gateway: '10.9.0.1' }]] }), 'invalid range set 0: gateway 10.9.0.1 not in network 10.1.0.0/24'],
    ['mixed families', conf({ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] }), 'invalid range set 0: mixed address families'],
    ['overlap inside a set', conf({ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.1.0.0/16' }]] }), 'invalid range set 0: subnets 10.1.0.1-10.1.0.254 and 10.1.0.1-10.1.255.254 overlap'],
    ['overlapping sets', conf({ subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.1.0.0/16' }]] }), 'range set 0 overlaps with 1'],
    ['a subnet that is not a CIDR', conf({ ranges: [[{ subnet: '10.1.0.0' }]] }), 'invalid network config: "ipam.ranges.0.0.subnet" is not a CIDR address, got "10.1.0.0"'],
    ['a bad rangeStart', conf({ ranges: [[{ subnet: '10.1.0.0/24', rangeStart: 'x' }]] }), 'invalid network config: "ipam.ranges.0.0.rangeStart" is not an IP address, got "x"'],
    ['a wrong type', conf({ ranges: [[{ subnet: 5 }]] }), 'invalid network config: "ipam.ranges.0.0.subnet" must be string, got 5'],
    ['a missing subnet', conf({ ranges: [[{ gateway: '10.0.0.1' }]] }), 'invalid network config: "ipam.ranges.0.0.subnet" is required'],
    ['a route without dst', conf({ subnet: '10.1.0.0/24', routes: [{ gw: '10.1.0.1' }] }), 'invalid network config: "ipam.routes.0.dst" is required'],
    ['a bad args.cni.ips entry', conf({ subnet: '10.1.0.0/24' }, { args: { cni: { ips: ['nope'] } } }), 'invalid network config: "args.cni.ips.0" is not an IP address, got "nope"'],
    ['a negative lockTimeout', conf({ subnet: '10.1.0.0/24', lockTimeout: -1 }), 'invalid network config: "ipam.lockTimeout" must be >= 0, got -1'],
  ])('refuses %s with code 7', (_what, c, msg) => {
    const e = cniErrorOf(() => loadIpamConfig(c, ''));
    expect(e.code).toBe(7);
    expect(e.msg).toBe(msg);
  });

  it('refuses a bad CNI_ARGS IP with code 4 in the reference wording', () => {
    const e = cniErrorOf(() => loadIpamConfig(conf({ subnet: '10.1.0.0/24' }), 'IP=10.1.0.5,bogus'));
    expect(e.code).toBe(4);
    expect(e.msg).toBe('ARGS: error parsing value of pair "IP=10.1.0.5,bogus": invalid IP address bogus');
  });
});
