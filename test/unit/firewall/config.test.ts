/**
 * The firewall plugin's configuration: the reference's keys and defaults,
 * the pod addresses as host prefixes, and the refusal (code 7) of every
 * string that could inject into an iptables-restore batch.
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { CniError } from '../../../lib/cni/errors.ts';
import { checkChainName, checkInterfaceName, loadFirewallConfig } from '../../../plugins/firewall/config.ts';

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/p' }],
  ips: [
    { address: '10.88.0.5/24', interface: 1 },
    { address: 'fd00::5/64', interface: 1 },
    { address: '::ffff:10.1.0.7/120' },
  ],
};

const conf = (extra: Record<string, unknown> = {}): NetConf => ({ cniVersion: '1.0.0', name: 'fwnet', type: 'firewall', prevResult: PREV, ...extra });

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CniError ? err.code : -1;
  }
  return undefined;
}

describe('loadFirewallConfig', () => {
  it('has the reference defaults', () => {
    const c = loadFirewallConfig(conf());
    expect(c.backend).toBeUndefined();
    expect(c.adminChain).toBe('CNI-ADMIN');
    expect(c.firewalldZone).toBe('trusted');
    expect(c.ingressPolicy).toBe('open');
    expect(c.dataDir).toBe('/var/lib/cni/firewall');
    expect(c.bridgeName).toBe('cni0');
    expect(c.validAttachments).toBeUndefined();
  });

  it('takes every prevResult address as a /32 or /128 (an IPv4-mapped one as IPv4, as Go To4 does)', () => {
    expect(loadFirewallConfig(conf()).addresses).toEqual([
      { family: 4, cidr: '10.88.0.5/32' },
      { family: 6, cidr: 'fd00::5/128' },
      { family: 4, cidr: '10.1.0.7/32' },
    ]);
    expect(loadFirewallConfig(conf({ prevResult: undefined })).addresses).toEqual([]);
  });

  it('reads the keys, null as unset', () => {
    const c = loadFirewallConfig(conf({ backend: 'iptables', iptablesAdminChainName: 'MY-ADMIN', firewalldZone: 'internal', ingressPolicy: 'isolated', dataDir: '/tmp/fw' }));
    expect([c.backend, c.adminChain, c.firewalldZone, c.ingressPolicy, c.dataDir]).toEqual(['iptables', 'MY-ADMIN', 'internal', 'isolated', '/tmp/fw']);
    const n = loadFirewallConfig(conf({ backend: null, iptablesAdminChainName: null, firewalldZone: null, ingressPolicy: null }));
    expect([n.backend, n.adminChain, n.firewalldZone, n.ingressPolicy]).toEqual([undefined, 'CNI-ADMIN', 'trusted', 'open']);
  });

  it('reads the GC attachment list', () => {
    const c = loadFirewallConfig(conf({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }));
    expect(c.validAttachments).toEqual([{ containerId: 'a', ifName: 'eth0' }]);
  });

  it('refuses bad values with code 7, and is lenient for DEL/GC', () => {
    expect(codeOf(() => loadFirewallConfig(conf({ backend: 'nftables' })))).toBe(7);
    expect(codeOf(() => loadFirewallConfig(conf({ ingressPolicy: 'closed' })))).toBe(7);
    expect(codeOf(() => loadFirewallConfig(conf({ iptablesAdminChainName: 'X\n-A INPUT -j DROP' })))).toBe(7);
    expect(codeOf(() => loadFirewallConfig(conf({ dataDir: 'relative' })))).toBe(7);
    expect(codeOf(() => loadFirewallConfig(conf({ backend: 3 })))).toBe(7);
    const lenient = loadFirewallConfig(conf({ backend: 'nftables', ingressPolicy: 'closed', iptablesAdminChainName: 'bad"name' }), { teardown: true });
    expect([lenient.backend, lenient.ingressPolicy, lenient.adminChain]).toEqual([undefined, 'open', 'CNI-ADMIN']);
  });
});

describe('strings that reach iptables', () => {
  it('accepts ordinary chain names, refuses injection, built-ins, loops and long names', () => {
    for (const ok of ['CNI-ADMIN', 'my_admin.1', 'A', 'x'.repeat(28)]) expect(codeOf(() => checkChainName(ok))).toBeUndefined();
    for (const bad of ['', '-A', '!x', 'a b', 'a"b', "a'b", 'a\nb', 'a\\b', 'x'.repeat(29), 'ACCEPT', 'drop', 'FORWARD', 'CNI-FORWARD', '.x', 'a+', 'a/b', 'a;b']) {
      expect(codeOf(() => checkChainName(bad)), JSON.stringify(bad)).toBe(7);
    }
  });

  it('accepts kernel-style interface names, refuses the rest', () => {
    for (const ok of ['cni0', 'br-1a2b', 'eth0.100', 'x'.repeat(15)]) expect(codeOf(() => checkInterfaceName(ok))).toBeUndefined();
    for (const bad of ['', '-i', 'a b', 'a"b', 'a\nCOMMIT', 'x'.repeat(16), 'cni+', '!br', '.hidden']) expect(codeOf(() => checkInterfaceName(bad)), JSON.stringify(bad)).toBe(7);
  });
});
