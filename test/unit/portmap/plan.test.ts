/**
 * The rules portmap makes, against the reference's: chain names (hash of
 * network + container ID), comments, the order and arguments of each rule,
 * chunks of 15 ports, IPv6 forms, masqAll, external mark chain, conditions,
 * and the nftables script.
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { type PortMapConfig, loadPortMapConfig } from '../../../plugins/portmap/config.ts';
import { rulesText, scriptText } from '../../../lib/nft/text.ts';
import { chainName, dnatComment, markDef, nftAddOps, nftTable, parseDnatComment, planDnat, planNftRules, portGroups, udpPortsToFlush } from '../../../plugins/portmap/plan.ts';

const V4 = { family: 4 as const, ip: '10.88.0.5', cidr: '10.88.0.5/16' };
const V6 = { family: 6 as const, ip: 'fd00::5', cidr: 'fd00::5/64' };

function cfg(extra: Record<string, unknown> = {}, mappings: unknown[] = [
  { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '192.0.2.10' },
  { hostPort: 5353, containerPort: 53, protocol: 'udp' },
]): PortMapConfig {
  const c: NetConf = { cniVersion: '1.0.0', name: 'mynet', type: 'portmap', runtimeConfig: { portMappings: mappings }, ...extra };
  return loadPortMapConfig(c, 'eth0');
}

describe('names', () => {
  it('hashes network + container ID as the reference (28 characters)', () => {
    expect(chainName('mynet', 'ctr1', 'DN-')).toBe('CNI-DN-5145007e2a8415ce07579');
    expect(chainName('mynet', 'ctr1', 'DN-')).toHaveLength(28);
    expect(chainName('mynet', 'ctr1', 'SN-')).toMatch(/^CNI-SN-[0-9a-f]{21}$/);
  });

  it('writes and reads the dnat comment', () => {
    expect(dnatComment('mynet', 'ctr1')).toBe('dnat name: "mynet" id: "ctr1"');
    expect(parseDnatComment('dnat name: "mynet" id: "ctr1"')).toEqual({ network: 'mynet', containerId: 'ctr1' });
    expect(parseDnatComment('CNI portfwd masquerade mark')).toBeUndefined();
    const long = dnatComment('n', 'x'.repeat(300));
    expect(long).toHaveLength(255);
    expect(long.endsWith('...')).toBe(true);
  });

  it('formats the mark as Go\'s %#x', () => {
    expect(markDef(13)).toBe('0x2000/0x2000');
    expect(markDef(0)).toBe('0x1/0x1');
    expect(markDef(31)).toBe('0x80000000/0x80000000');
  });
});

describe('planDnat', () => {
  it('is the reference\'s layout for IPv4 (the notes\' replayed example)', () => {
    const p = planDnat(cfg(), 'ctr1', V4);
    expect(p.chain).toBe('CNI-DN-5145007e2a8415ce07579');
    expect(p.entries).toEqual([
      ['-m', 'comment', '--comment', 'dnat name: "mynet" id: "ctr1"', '-m', 'multiport', '-p', 'tcp', '--destination-ports', '8080,8443', '-j', p.chain],
      ['-m', 'comment', '--comment', 'dnat name: "mynet" id: "ctr1"', '-m', 'multiport', '-p', 'udp', '--destination-ports', '5353', '-j', p.chain],
    ]);
    expect(p.rules).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', '10.88.0.5/16', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'tcp', '--dport', '8080', '-s', '127.0.0.1', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.88.0.5:80'],
      ['-p', 'tcp', '--dport', '8443', '-d', '192.0.2.10', '-s', '10.88.0.5/16', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'tcp', '--dport', '8443', '-d', '192.0.2.10', '-s', '127.0.0.1', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'tcp', '--dport', '8443', '-d', '192.0.2.10', '-j', 'DNAT', '--to-destination', '10.88.0.5:443'],
      ['-p', 'udp', '--dport', '5353', '-s', '10.88.0.5/16', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'udp', '--dport', '5353', '-s', '127.0.0.1', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'udp', '--dport', '5353', '-j', 'DNAT', '--to-destination', '10.88.0.5:53'],
    ]);
  });

  it('skips mappings of the other family, has no localhost rule and brackets the address for IPv6', () => {
    const p = planDnat(cfg(), 'ctr1', V6);
    expect(p.rules).toEqual([
      ['-p', 'tcp', '--dport', '8080', '-s', 'fd00::5/64', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '[fd00::5]:80'],
      ['-p', 'udp', '--dport', '5353', '-s', 'fd00::5/64', '-j', 'CNI-HOSTPORT-SETMARK'],
      ['-p', 'udp', '--dport', '5353', '-j', 'DNAT', '--to-destination', '[fd00::5]:53'],
    ]);
    // every host port is in the entry rules, as in the reference
    expect(p.entries[0]).toContain('8080,8443');
  });

  it('honours snat false, masqAll, an external mark chain and conditions', () => {
    expect(planDnat(cfg({ snat: false }), 'c', V4).rules.every((r) => r.includes('DNAT'))).toBe(true);
    const all = planDnat(cfg({ masqAll: true }), 'c', V4).rules;
    expect(all[0]).toEqual(['-p', 'tcp', '--dport', '8080', '-s', '0.0.0.0/0', '-j', 'CNI-HOSTPORT-SETMARK']);
    expect(all.some((r) => r.includes('127.0.0.1'))).toBe(false);
    expect(planDnat(cfg({ externalSetMarkChain: 'KUBE-MARK-MASQ' }), 'c', V4).rules[0]!.at(-1)).toBe('KUBE-MARK-MASQ');
    const conds = planDnat(cfg({ conditionsV4: ['!', '-s', '10.0.0.0/8'] }), 'c', V4).entries[0]!;
    expect(conds.slice(-5)).toEqual(['!', '-s', '10.0.0.0/8', '-j', chainName('mynet', 'c', 'DN-')]);
  });

  it('splits more than 15 ports of one protocol, protocols sorted', () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ hostPort: 1000 + i, containerPort: 80, protocol: i === 16 ? 'sctp' : 'tcp' }));
    const g = portGroups(cfg({}, many).mappings);
    expect(g.map((x) => [x.protocol, x.ports.length])).toEqual([
      ['sctp', 1],
      ['tcp', 15],
      ['tcp', 1],
    ]);
  });
});

describe('nftables', () => {
  it('writes the reference\'s rules with the container ID as comment', () => {
    const text = (c: typeof V4 | typeof V6): { chain: string; rule: string }[] => planNftRules(cfg(), 'ctr1', c).map((r) => ({ chain: r.chain, rule: rulesText(r.stmts, r.comment) }));
    expect(text(V4)).toEqual([
      { chain: 'hostports', rule: 'tcp dport 8080 dnat to 10.88.0.5:80 comment "ctr1"' },
      { chain: 'hostports', rule: 'ip daddr 192.0.2.10 tcp dport 8443 dnat to 10.88.0.5:443 comment "ctr1"' },
      { chain: 'hostports', rule: 'udp dport 5353 dnat to 10.88.0.5:53 comment "ctr1"' },
      { chain: 'masquerading', rule: 'ip saddr 10.88.0.5 ip daddr 10.88.0.5 masquerade comment "ctr1"' },
      { chain: 'masquerading', rule: 'ip saddr 127.0.0.1 ip daddr 10.88.0.5 masquerade comment "ctr1"' },
    ]);
    expect(text(V6).map((r) => r.rule)).toEqual([
      'tcp dport 8080 dnat to [fd00::5]:80 comment "ctr1"',
      'udp dport 5353 dnat to [fd00::5]:53 comment "ctr1"',
      'ip6 saddr fd00::5 ip6 daddr fd00::5 masquerade comment "ctr1"',
    ]);
  });

  it('rewrites the shared chains and replaces the container\'s old rules in one script', () => {
    const script = (c: PortMapConfig, id: string, stale: { chain: string; handle: number }[]): string => scriptText(nftTable(4), nftAddOps(c, id, V4, stale));
    const s = script(cfg({ conditionsV4: ['iifname != "lo"'] }), 'ctr1', [{ chain: 'hostports', handle: 7 }]);
    expect(s).toContain('add table ip cni_hostport { comment "CNI portmap plugin" ; }');
    expect(s).toContain('add chain ip cni_hostport prerouting { type nat hook prerouting priority -100 ; }\nflush chain ip cni_hostport prerouting\nadd rule ip cni_hostport prerouting iifname != "lo" fib daddr type local jump hostports_all');
    expect(s).toContain('add rule ip cni_hostport output iifname != "lo" fib daddr type local jump hostports_all');
    expect(s.indexOf('delete rule ip cni_hostport hostports handle 7')).toBeLessThan(s.indexOf('add rule ip cni_hostport hostports tcp'));
    expect(script(cfg({ snat: false }), 'c', [])).not.toContain('masquerading');
  });

  it('flushes UDP conntrack for the UDP host ports of the family', () => {
    expect(udpPortsToFlush(cfg(), 4)).toEqual([5353]);
    expect(udpPortsToFlush(cfg({}, [{ hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '::1' }]), 4)).toEqual([]);
  });
});
