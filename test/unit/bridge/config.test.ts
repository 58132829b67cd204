/**
 * The bridge configuration: every key with the reference's type and default,
 * case-insensitive keys, the MAC sources and their precedence, and each check
 * with the reference's message and code 7 (code 4 for CNI_ARGS).
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { collectVlanTrunk, loadBridgeConfig, parseMacText } from '../../../plugins/bridge/config.ts';
import { cniErrorOf } from '../../helpers/errors.ts';

function conf(extra: Record<string, unknown> = {}): NetConf {
  return { cniVersion: '1.0.0', name: 'cbr0', type: 'bridge', ...extra };
}

describe('loadBridgeConfig', () => {
  it('applies the reference defaults', () => {
    const c = loadBridgeConfig(conf(), '');
    expect(c).toMatchObject({
      bridge: 'cni0',
      isGateway: false,
      isDefaultGateway: false,
      forceAddress: false,
      ipMasq: false,
      ipMasqBackend: undefined,
      mtu: 0,
      hairpinMode: false,
      promiscMode: false,
      vlan: 0,
      vlanTrunk: [],
      hasTrunk: false,
      preserveDefaultVlan: false,
      macspoofchk: false,
      enableDad: false,
      disableContainerInterface: false,
      portIsolation: false,
      ipamType: undefined,
      dns: undefined,
      mac: undefined,
      validAttachments: undefined,
    });
  });

  it('reads the kube-flannel delegate config', () => {
    const c = loadBridgeConfig(
      conf({ hairpinMode: true, isDefaultGateway: true, ipMasq: false, mtu: 1450, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]] } }),
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p',
    );
    expect(c).toMatchObject({ hairpinMode: true, isGateway: true, isDefaultGateway: true, ipMasq: false, mtu: 1450, ipamType: 'host-local' });
  });

  it('isDefaultGateway implies isGateway', () => {
    expect(loadBridgeConfig(conf({ isDefaultGateway: true }), '').isGateway).toBe(true);
  });

  it('matches keys case-insensitively, as Go does, and treats null as unset', () => {
    const c = loadBridgeConfig(conf({ HairpinMode: true, MTU: 1400, Bridge: 'br9', macSpoofChk: true, ipmasqbackend: 'nftables', vlan: null }), '');
    expect(c).toMatchObject({ hairpinMode: true, mtu: 1400, bridge: 'br9', macspoofchk: true, ipMasqBackend: 'nftables', vlan: 0 });
  });

  it('reads every other key', () => {
    const c = loadBridgeConfig(
      conf({
        forceAddress: true,
        ipMasq: true,
        ipMasqBackend: 'iptables',
        promiscMode: true,
        vlan: 100,
        preserveDefaultVlan: true,
        enabledad: true,
        portIsolation: true,
        dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
        'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
      }),
      '',
    );
    expect(c).toMatchObject({
      forceAddress: true,
      ipMasq: true,
      ipMasqBackend: 'iptables',
      promiscMode: true,
      vlan: 100,
      preserveDefaultVlan: true,
      enableDad: true,
      portIsolation: true,
      dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
      validAttachments: [{ containerId: 'a', ifName: 'eth0' }],
    });
  });

  it('takes the older GC key too', () => {
    expect(loadBridgeConfig(conf({ 'cni.dev/attachments': [{ containerID: 'b', ifname: 'net1' }] }), '').validAttachments).toEqual([{ containerId: 'b', ifName: 'net1' }]);
  });

  it('ignores a dns section with nothing in it', () => {
    expect(loadBridgeConfig(conf({ dns: { nameservers: [] } }), '').dns).toBeUndefined();
  });

  it('takes the container MAC from runtimeConfig, else args.cni, else CNI_ARGS, normalised', () => {
    const all = conf({ runtimeConfig: { mac: 'C2:11:22:33:44:55' }, args: { cni: { mac: '02:00:00:00:00:02' } } });
    expect(loadBridgeConfig(all, 'MAC=02:00:00:00:00:03').mac).toBe('c2:11:22:33:44:55');
    expect(loadBridgeConfig(conf({ args: { cni: { mac: '02-00-00-00-00-02' } } }), 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:02');
    expect(loadBridgeConfig(conf(), 'IgnoreUnknown=1;MAC=0200.0000.0003').mac).toBe('02:00:00:00:00:03');
  });

  it('ignores unknown CNI_ARGS keys', () => {
    expect(loadBridgeConfig(conf(), 'K8S_POD_NAME=x;FOO=bar').mac).toBeUndefined();
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ['a string where a bool belongs (the cni.dev portIsolation example)', { portIsolation: 'true' }, 'invalid network config: "portIsolation" must be boolean,null, got "true"'],
    ['a string MTU', { mtu: 'abc' }, 'invalid network config: "mtu" must be integer,null, got "abc"'],
    ['a fractional VLAN', { vlan: 1.5 }, 'invalid network config: "vlan" must be integer,null, got 1.5'],
    ['a number as bridge name', { bridge: 5 }, 'invalid network config: "bridge" must be string,null, got 5'],
    ['an empty bridge name', { bridge: '' }, 'invalid network config: "bridge" is empty, got ""'],
    ['a bridge name over 15 bytes', { bridge: 'a-very-long-bridge' }, 'invalid network config: "bridge" is longer than 15 bytes, got "a-very-long-bridge"'],
    ['a VLAN out of range', { vlan: 4095 }, 'invalid VLAN ID 4095 (must be between 0 and 4094)'],
    ['a negative VLAN', { vlan: -1 }, 'invalid VLAN ID -1 (must be between 0 and 4094)'],
    ['hairpin with promisc', { hairpinMode: true, promiscMode: true }, 'cannot set hairpin mode and promiscuous mode at the same time'],
    ['IPAM with disableContainerInterface', { disableContainerInterface: true, ipam: { type: 'host-local' } }, 'cannot use IPAM when DisableContainerInterface flag is set'],
    ['an unknown masquerade backend', { ipMasqBackend: 'ebtables' }, 'unknown ipmasq backend "ebtables"'],
    ['a tiny MTU', { mtu: 20 }, 'invalid network config: "mtu" must be 0 (kernel default) or 68-65535, got 20'],
    ['a bad args.cni.mac', { args: { cni: { mac: 'nope' } } }, 'invalid network config: "args.cni.mac" is not a MAC address, got "nope"'],
    ['a multicast runtimeConfig.mac', { runtimeConfig: { mac: '01:00:5e:00:00:01' } }, 'invalid network config: "runtimeConfig.mac" is a multicast MAC address, got "01:00:5e:00:00:01"'],
    ['a trunk that is not a list', { vlanTrunk: { id: 5 } }, 'invalid network config: "vlanTrunk" must be array,null, got {"id":5}'],
    ['a wrong ipam.type', { ipam: { type: 7 } }, 'invalid network config: "ipam.type" must be string,null, got 7'],
    ['a VLAN gateway name over 15 bytes', { bridge: 'bridge-name-12', vlan: 100, isGateway: true }, 'invalid network config: the VLAN gateway device name "bridge-name-12.100" is longer than 15 bytes'],
  ];
  for (const [what, extra, msg] of bad) {
    it(`refuses ${what} with code 7`, () => {
      const e = cniErrorOf(() => loadBridgeConfig(conf(extra), ''));
      expect(e.code).toBe(7);
      expect(e.msg).toBe(msg);
    });
  }

  it('for DEL and GC, only unreadable types fail: what ADD refused can still be deleted', () => {
    const refusedByAdd = conf({ hairpinMode: true, promiscMode: true, vlan: 5000, mtu: 20, ipMasqBackend: 'x', args: { cni: { mac: 'nope' } }, disableContainerInterface: true, ipam: { type: 'host-local' } });
    const c = loadBridgeConfig(refusedByAdd, 'MAC=zz;bad', { teardown: true });
    expect(c).toMatchObject({ vlan: 0, mtu: 0, ipMasqBackend: undefined, mac: undefined, ipamType: 'host-local' });
    expect(cniErrorOf(() => loadBridgeConfig(conf({ ipMasq: 'yes' }), '', { teardown: true })).code).toBe(7);
  });

  it('refuses a bad CNI_ARGS MAC with code 4', () => {
    const e = cniErrorOf(() => loadBridgeConfig(conf(), 'MAC=zz'));
    expect(e.code).toBe(4);
    expect(e.msg).toBe('invalid CNI_ARGS: "CNI_ARGS MAC" is not a MAC address, got "zz"');
  });
});

describe('collectVlanTrunk', () => {
  it('collects ids and ranges, sorted and unique', () => {
    expect(collectVlanTrunk([{ id: 30 }, { minID: 10, maxID: 12 }, { id: 11 }, null])).toEqual([10, 11, 12, 30]);
    expect(collectVlanTrunk([])).toEqual([]);
  });

  const bad: [Parameters<typeof collectVlanTrunk>[0], string][] = [
    [[{ id: 0 }], 'incorrect trunk id parameter'],
    [[{ id: 4095 }], 'incorrect trunk id parameter'],
    [[{ minID: 0, maxID: 5 }], 'incorrect trunk minID parameter'],
    [[{ minID: 1, maxID: 5000 }], 'incorrect trunk maxID parameter'],
    [[{ minID: 9, maxID: 5 }], 'minID is greater than maxID in trunk parameter'],
    [[{ maxID: 5 }], 'minID and maxID should be configured simultaneously, minID is missing'],
    [[{ minID: 5 }], 'minID and maxID should be configured simultaneously, maxID is missing'],
  ];
  for (const [trunk, msg] of bad) {
    it(`refuses ${JSON.stringify(trunk)}: ${msg}`, () => {
      const e = cniErrorOf(() => collectVlanTrunk(trunk));
      expect(e.code).toBe(7);
      expect(e.msg).toBe(msg);
    });
  }
});

describe('parseMacText', () => {
  it('reads the 6-byte forms of Go net.ParseMAC', () => {
    expect(parseMacText('AA:bb:CC:dd:EE:ff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(parseMacText('aa-bb-cc-dd-ee-ff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(parseMacText('aabb.ccdd.eeff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(parseMacText('aa:bb-cc:dd:ee:ff')).toBeUndefined();
    expect(parseMacText('aa:bb:cc:dd:ee')).toBeUndefined();
    expect(parseMacText('')).toBeUndefined();
  });
});
