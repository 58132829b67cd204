/**
 * portmap's configuration: the reference's defaults, checks and messages,
 * case-insensitive mapping keys (containerd sends HostPort...), backend
 * selection from backend-specific keys, and the container address picked
 * from prevResult.
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { loadPortMapConfig, selectContainerIps } from '../../../plugins/portmap/config.ts';
import { cniErrorOf } from '../../helpers/errors.ts';

function conf(extra: Record<string, unknown> = {}): NetConf {
  return { cniVersion: '1.0.0', name: 'mynet', type: 'portmap', ...extra };
}
const maps = (...m: unknown[]): Record<string, unknown> => ({ runtimeConfig: { portMappings: m } });

describe('loadPortMapConfig', () => {
  it('applies the reference defaults', () => {
    expect(loadPortMapConfig(conf(), 'eth0')).toMatchObject({
      snat: true,
      masqAll: false,
      markMasqBit: 13,
      externalSetMarkChain: undefined,
      conditionsV4: [],
      conditionsV6: [],
      backend: undefined,
      mappings: [],
      containerIps: [],
      validAttachments: undefined,
    });
  });

  it('reads containerd\'s capitalised mapping keys and normalises protocol and hostIP', () => {
    const c = loadPortMapConfig(conf(maps({ HostPort: 8080, ContainerPort: 80, Protocol: 'TCP', HostIP: '0.0.0.0' }, { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '2001:DB8::1' })), 'eth0');
    expect(c.mappings).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIp: undefined, hostFamily: 4 },
      { hostPort: 53, containerPort: 53, protocol: 'udp', hostIp: '2001:db8::1', hostFamily: 6 },
    ]);
  });

  it.each([
    [{ markMasqBit: 32 }, 'MasqMarkBit must be between 0 and 31'],
    [{ markMasqBit: 3, externalSetMarkChain: 'KUBE-MARK-MASQ' }, 'Cannot specify externalSetMarkChain and markMasqBit'],
    [{ backend: 'pf' }, 'unrecognized backend "pf"'],
    [{ backend: 'nftables', externalSetMarkChain: 'X' }, 'nftables backend was requested but configuration contains iptables-specific options [externalSetMarkChain]'],
    [{ backend: 'iptables', conditionsV4: ['ip saddr 10.0.0.0/8'] }, 'iptables backend was requested but configuration contains nftables-specific options [conditionsV4]'],
    [maps({ hostPort: 8080, containerPort: 0, protocol: 'tcp' }), 'Invalid container port number: 0'],
    [maps({ hostPort: -1, containerPort: 80, protocol: 'tcp' }), 'Invalid host port number: -1'],
    [maps({ hostPort: 70000, containerPort: 80, protocol: 'tcp' }), 'Invalid host port number: 70000'],
    // a mapping without hostPort (or containerPort) is the reference's zero value
    [maps({ containerPort: 80, protocol: 'tcp' }), 'Invalid host port number: 0'],
    [maps({ hostPort: 8080, protocol: 'tcp' }), 'Invalid container port number: 0'],
    [maps({ hostPort: 80, containerPort: 80, protocol: 'icmp' }), 'Invalid protocol "icmp" for host port 80: must be tcp, udp or sctp'],
    [maps({ hostPort: 80, containerPort: 80, protocol: 'tcp', hostIP: 'nope' }), 'Invalid host IP "nope" for host port 80'],
  ])('refuses %j with code 7', (extra, msg) => {
    const e = cniErrorOf(() => loadPortMapConfig(conf(extra), 'eth0'));
    expect(e.code).toBe(7);
    expect(e.msg).toBe(msg);
  });

  it('DEL and GC read what they can of a config ADD would refuse', () => {
    const c = loadPortMapConfig(conf({ markMasqBit: 99, backend: 'pf', ...maps({ hostPort: 0, containerPort: 80, protocol: 'tcp' }, { hostPort: 81, containerPort: 80, protocol: 'tcp' }), prevResult: { bogus: true, ips: 'x' } }), 'eth0', { teardown: true });
    expect(c.mappings.map((m) => m.hostPort)).toEqual([81]);
    // an unknown backend is ignored; markMasqBit still says iptables
    expect(c.backend).toBe('iptables');
  });

  it('infers the backend from backend-specific keys', () => {
    expect(loadPortMapConfig(conf({ markMasqBit: 5 }), 'eth0').backend).toBe('iptables');
    expect(loadPortMapConfig(conf({ conditionsV4: ['!', '-s', '10.0.0.0/8'] }), 'eth0').backend).toBe('iptables');
    expect(loadPortMapConfig(conf({ conditionsV6: ['ip6 saddr fd00::/8'] }), 'eth0').backend).toBe('nftables');
    expect(loadPortMapConfig(conf({ externalSetMarkChain: 'X' }), 'eth0')).toMatchObject({ backend: 'iptables', markMasqBit: undefined });
  });

  it('reads both attachment keys of GC', () => {
    const c = loadPortMapConfig(conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }], 'cni.dev/attachments': [{ containerID: 'b', ifname: 'eth0' }] }), '');
    expect(c.validAttachments).toEqual([
      { containerId: 'a', ifName: 'eth0' },
      { containerId: 'b', ifName: 'eth0' },
    ]);
  });
});

describe('selectContainerIps', () => {
  it('takes the first IPv4 and IPv6 of the sandbox interface or of no interface, keeping the prefix', () => {
    const prev = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [
        { address: '10.0.0.1/24', interface: 0 },
        { address: '10.88.0.5/16', interface: 2 },
        { address: '10.88.0.6/16', interface: 2 },
        { address: 'fd00::5/64' },
      ],
    };
    expect(selectContainerIps(prev, 'eth0')).toEqual([
      { family: 4, ip: '10.88.0.5', cidr: '10.88.0.5/16' },
      { family: 6, ip: 'fd00::5', cidr: 'fd00::5/64' },
    ]);
    // an interface of that name but without a sandbox is a host interface
    expect(selectContainerIps({ ...prev, interfaces: [{ name: 'eth0' }], ips: [{ address: '10.1.1.1/24', interface: 0 }] }, 'eth0')).toEqual([]);
  });
});
