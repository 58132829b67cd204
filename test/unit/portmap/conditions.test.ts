/**
 * portmap's conditions: nftables ones parsed into single match statements
 * (the forms the reference's users write), everything else refused with
 * code 7 naming the entry; iptables ones kept as arguments without control
 * characters; externalSetMarkChain a plain chain name.
 */
import { describe, expect, it } from 'vitest';
import { loadPortMapConfig } from '../../../plugins/portmap/config.ts';
import { parseNftConditions } from '../../../plugins/portmap/conditions.ts';
import { stmtText } from '../../../lib/nft/text.ts';

const text = (key: 'conditionsV4' | 'conditionsV6', entries: string[]): string => parseNftConditions(key, entries).map(stmtText).join(' ');

describe('nftables conditions', () => {
  it('parses the accepted forms, split across entries or not', () => {
    expect(text('conditionsV4', ['ip', 'saddr', '1.2.3.4'])).toBe('ip saddr 1.2.3.4');
    expect(text('conditionsV4', ['ip saddr != 10.0.0.1/8'])).toBe('ip saddr != 10.0.0.0/8');
    expect(text('conditionsV4', ['ip daddr == 192.168.0.0/16 tcp dport 80'])).toBe('ip daddr 192.168.0.0/16 tcp dport 80');
    expect(text('conditionsV6', ['ip6 saddr fd00::/8', 'iifname != "lo"', 'meta oifname eth*'])).toBe('ip6 saddr fd00::/8 iifname != "lo" oifname "eth*"');
    expect(text('conditionsV4', ['meta mark 0x10', 'mark != 7', 'udp sport 53'])).toBe('meta mark 0x00000010 meta mark != 0x00000007 udp sport 53');
    expect(parseNftConditions('conditionsV4', [])).toEqual([]);
  });

  it('refuses anything else with code 7, naming the entry', () => {
    const bad: [string, string[], RegExp][] = [
      ['conditionsV4', ['ip saddr 1.2.3.4; add table ip x'], /conditionsV4\[0\]/],
      ['conditionsV4', ['ip saddr 1.2.3.4', 'accept\nadd table ip x'], /conditionsV4\[1\]/],
      ['conditionsV4', ['a', 'b'], /conditionsV4\[0\].*unsupported condition "a"/],
      ['conditionsV4', ['ip6 saddr fd00::1'], /IPv6, not allowed in conditionsV4/],
      ['conditionsV6', ['ip6 saddr 10.0.0.1'], /not an IPv6 address/],
      ['conditionsV4', ['tcp dport 70000'], /not a port/],
      ['conditionsV4', ['ip saddr'], /expected an address/],
      ['conditionsV4', ['ip saddr { 1.2.3.4, 5.6.7.8 }'], /conditionsV4\[0\]/],
      ['conditionsV4', ['iifname "a b"'], /not an interface name/],
      ['conditionsV4', ['iifname', '"x"', 'jump', 'hostports'], /conditionsV4\[2\].*unsupported condition "jump"/],
    ];
    for (const [key, entries, msg] of bad) {
      expect(() => parseNftConditions(key as 'conditionsV4', entries), entries.join('|')).toThrow(msg);
      try {
        parseNftConditions(key as 'conditionsV4', entries);
      } catch (err) {
        expect((err as { code?: number }).code).toBe(7);
      }
    }
  });
});

describe('configuration', () => {
  const conf = (extra: Record<string, unknown>): Parameters<typeof loadPortMapConfig>[0] => ({ cniVersion: '1.0.0', name: 'n', type: 'portmap', ...extra });

  it('keeps iptables conditions as arguments, refuses control characters and odd chain names', () => {
    expect(loadPortMapConfig(conf({ conditionsV4: ['!', '-s', '10.0.0.0/8'] }), 'eth0').conditionsV4).toEqual(['!', '-s', '10.0.0.0/8']);
    expect(() => loadPortMapConfig(conf({ conditionsV4: ['-s', '1.2.3.4\n-A POSTROUTING -j ACCEPT'] }), 'eth0')).toThrow(/conditionsV4\[1\].*control characters/);
    expect(() => loadPortMapConfig(conf({ externalSetMarkChain: 'X\n-A OUTPUT -j ACCEPT' }), 'eth0')).toThrow(/invalid externalSetMarkChain/);
    expect(() => loadPortMapConfig(conf({ externalSetMarkChain: '-X' }), 'eth0')).toThrow(/invalid externalSetMarkChain/);
    expect(loadPortMapConfig(conf({ externalSetMarkChain: 'KUBE-MARK-MASQ' }), 'eth0').externalSetMarkChain).toBe('KUBE-MARK-MASQ');
  });

  it('parses nftables conditions into statements; DEL and GC ignore bad ones', () => {
    const c = loadPortMapConfig(conf({ conditionsV4: ['ip saddr 10.0.0.0/8'] }), 'eth0');
    expect(c.backend).toBe('nftables');
    expect(c.nftConditionsV4.map(stmtText)).toEqual(['ip saddr 10.0.0.0/8']);
    expect(c.conditionsV4).toEqual([]);
    expect(() => loadPortMapConfig(conf({ conditionsV4: ['x;y'] }), 'eth0')).toThrow(/conditionsV4\[0\]/);
    expect(loadPortMapConfig(conf({ conditionsV4: ['x;y'] }), 'eth0', { teardown: true }).nftConditionsV4).toEqual([]);
  });
});
