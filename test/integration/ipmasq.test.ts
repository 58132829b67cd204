/**
 * Masquerade rules, both backends, in a fresh network namespace (the host's
 * tables are never touched): the reference's chain names and comments, setup
 * that is idempotent, teardown without addresses, GC by valid attachments.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpMasq } from '../../lib/ipmasq/index.ts';
import { Nft } from '../../lib/nft/index.ts';
import { openNetfilter } from '../../lib/netlink/index.ts';
import { Netns, netnsReady } from '../../lib/netns/index.ts';
import { execRunner, type CommandRunner } from '../../lib/exec/index.ts';
import { iptablesChainName, nftComment } from '../../lib/ipmasq/names.ts';
import type { MasqAddress } from '../../lib/ipmasq/types.ts';

const ns = `t-masq-${randomBytes(4).toString('hex')}`;
/** Runs the backends' programs inside the test namespace. */
const inNs: CommandRunner = (cmd, args, input) => execRunner('ip', ['netns', 'exec', ns, cmd, ...args], input);
const sh = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });

const net = 'masqnet';
const a = { network: net, ifname: 'eth0', containerId: 'ctr-a' };
const b = { network: net, ifname: 'eth0', containerId: 'ctr-b' };
const addrsA: MasqAddress[] = [
  { cidr: '10.99.1.5/24', family: 4 },
  { cidr: 'fd99:1::5/64', family: 6 },
];
const addrsB: MasqAddress[] = [{ cidr: '10.99.1.6/24', family: 4 }];

let handle: Netns | undefined;
/** nf_tables through netlink, in the test namespace. */
const nftInNs = new Nft(async () => {
  await netnsReady();
  handle ??= Netns.open(`/run/netns/${ns}`);
  return openNetfilter(handle);
});

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
});
afterAll(() => {
  handle?.close();
  execFileSync('ip', ['netns', 'del', ns]);
});

describe('iptables backend', () => {
  const masq = new IpMasq(inNs, nftInNs);

  it('creates the reference chain, rules and POSTROUTING jump, once however often it runs', async () => {
    await masq.setup('iptables', a, addrsA);
    await masq.setup('iptables', a, addrsA);
    const chain = iptablesChainName(net, 'ctr-a');
    expect(chain).toMatch(/^CNI-[0-9a-f]{24}$/);
    const v4 = sh('iptables', '-t', 'nat', '-S');
    expect(v4).toContain(`-A ${chain} -d 10.99.1.0/24 -m comment --comment "name: \\"masqnet\\" id: \\"ctr-a\\"" -j ACCEPT`);
    expect(v4).toContain(`-A ${chain} ! -d 224.0.0.0/4 -m comment --comment "name: \\"masqnet\\" id: \\"ctr-a\\"" -j MASQUERADE`);
    expect(v4.split('\n').filter((l) => l.startsWith('-A POSTROUTING -s 10.99.1.5/32') && l.endsWith(`-j ${chain}`))).toHaveLength(1);
    const v6 = sh('ip6tables', '-t', 'nat', '-S');
    expect(v6).toContain(`-A POSTROUTING -s fd99:1::5/128`);
    expect(await masq.iptables.check(a, addrsA)).toEqual([]);
  });

  it('tears down without being told the addresses, in both families', async () => {
    await masq.teardown(a);
    const chain = iptablesChainName(net, 'ctr-a');
    expect(sh('iptables', '-t', 'nat', '-S')).not.toContain(chain);
    expect(sh('ip6tables', '-t', 'nat', '-S')).not.toContain(chain);
    expect((await masq.iptables.check(a, addrsA)).length).toBeGreaterThan(0);
    await masq.teardown(a); // again: still fine
  });

  it('GC removes the chains of attachments that are no longer valid and keeps the rest', async () => {
    await masq.setup('iptables', a, addrsA);
    await masq.setup('iptables', b, addrsB);
    await masq.gc(net, [{ containerId: 'ctr-b', ifname: 'eth0' }]);
    const rules = sh('iptables', '-t', 'nat', '-S');
    expect(rules).not.toContain(iptablesChainName(net, 'ctr-a'));
    expect(rules).toContain(iptablesChainName(net, 'ctr-b'));
    await masq.teardown(b);
  });
});

describe('nftables backend', () => {
  const masq = new IpMasq(inNs, nftInNs);

  it('creates the reference table, chains and a commented rule per address', async () => {
    await masq.setup('nftables', a, addrsA);
    await masq.setup('nftables', a, addrsA);
    const ruleset = sh('nft', 'list', 'table', 'inet', 'cni_plugins_masquerade');
    const comment = nftComment(net, 'eth0', 'ctr-a');
    expect(comment).toMatch(/^[0-9a-f]{16}-[0-9a-f]{16}, net: masqnet, if: eth0, id: ctr-a$/);
    expect(ruleset).toContain('type nat hook postrouting priority srcnat');
    expect(ruleset).toContain(`ip saddr 10.99.1.5 ip daddr != 10.99.1.0/24 masquerade comment "${comment}"`);
    expect(ruleset).toContain(`ip6 saddr fd99:1::5 ip6 daddr != fd99:1::/64 masquerade comment "${comment}"`);
    expect(ruleset.split('\n').filter((l) => l.includes('saddr 10.99.1.5'))).toHaveLength(1);
    expect(await masq.nftables.check(a, addrsA)).toEqual([]);
  });

  it('GC and teardown remove rules by comment', async () => {
    await masq.setup('nftables', b, [{ cidr: '10.99.1.6/24', family: 4 }]);
    await masq.gc(net, [{ containerId: 'ctr-a', ifname: 'eth0' }]);
    let ruleset = sh('nft', 'list', 'table', 'inet', 'cni_plugins_masquerade');
    expect(ruleset).not.toContain('10.99.1.6');
    expect(ruleset).toContain('10.99.1.5');
    await masq.teardown(a);
    ruleset = sh('nft', 'list', 'table', 'inet', 'cni_plugins_masquerade');
    expect(ruleset).not.toContain('masquerade comment');
  });
});
