/**
 * lib/nft against nft itself, in two scratch namespaces: the same
 * transactions applied through our netlink batches in one and as `nft -f`
 * scripts in the other must list the same (`nft -j list ruleset`, and the
 * kernel's bytecode, `nft --debug=netlink list ruleset`). Also: listing with
 * handles and comments, deleting by handle, flushing, a failing transaction
 * leaving nothing, a missing table listing as empty.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr, parseIp } from '../../lib/ip.ts';
import { Nft, type Op, type Stmt, type Table } from '../../lib/nft/index.ts';
import { ruleFacts } from '../../lib/nft/wire.ts';
import { scriptText } from '../../lib/nft/text.ts';
import { Netns, netnsReady } from '../../lib/netns/index.ts';
import { isRoot } from '../helpers/netns.ts';
import { MASQ_TABLE, masqSetupOps } from '../../lib/ipmasq/nftables.ts';
import { loadPortMapConfig } from '../../plugins/portmap/config.ts';
import { nftAddOps, nftTable } from '../../plugins/portmap/plan.ts';

const nsA = `nf-a-${randomBytes(3).toString('hex')}`;
const nsB = `nf-b-${randomBytes(3).toString('hex')}`;
let handle: Netns;
let nft: Nft;

const sh = (ns: string, args: string[], input?: string): string => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', input });
const script = (table: Table, ops: Op[]): void => void sh(nsB, ['nft', '-f', '-'], scriptText(table, ops));
/** The ruleset without handles (which count per table and so may differ) and the bytecode. */
const listing = (ns: string): { json: unknown; bytecode: string } => {
  const json = JSON.parse(sh(ns, ['nft', '-j', 'list', 'ruleset']), (k, v: unknown) => (k === 'handle' ? undefined : v)) as unknown;
  const bytecode = sh(ns, ['nft', '--debug=netlink', 'list', 'ruleset']).replace(/^(\w+ \S+ \S+) \d+( \d+)?$/gm, '$1');
  return { json, bytecode };
};

beforeAll(async () => {
  if (!isRoot()) throw new Error('the nft tests need root (network namespaces)');
  execFileSync('ip', ['netns', 'add', nsA]);
  execFileSync('ip', ['netns', 'add', nsB]);
  await netnsReady();
  handle = Netns.open(`/run/netns/${nsA}`);
  nft = Nft.in(handle);
});
afterAll(() => {
  handle?.close();
  for (const ns of [nsA, nsB]) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
});

const ip = (s: string): ReturnType<typeof parseIp> & object => parseIp(s)!;
const net = (s: string): NonNullable<ReturnType<typeof parseCidr>> => (s.includes('/') ? parseCidr(s)! : { ip: ip(s), prefix: ip(s).family === 4 ? 32 : 128 });
const addr = (proto: 'ip' | 'ip6', field: 'saddr' | 'daddr', op: '==' | '!=', n: string): Stmt => ({ kind: 'addr', proto, field, op, net: net(n) });

const masqTable: Table = { family: 'inet', name: 'cni_plugins_masquerade', comment: 'Masquerading for plugins from github.com/containernetworking/plugins' };
const masqOps: Op[] = [
  { op: 'addTable', table: masqTable },
  { op: 'addChain', chain: { name: 'masq_checks', comment: 'Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet' } },
  { op: 'addChain', chain: { name: 'postrouting', base: { type: 'nat', hook: 'postrouting', priority: 100 } } },
  { op: 'flushChain', chain: 'postrouting' },
  { op: 'addRule', rule: { chain: 'postrouting', stmts: [addr('ip', 'daddr', '==', '224.0.0.0/4'), { kind: 'return' }] } },
  { op: 'addRule', rule: { chain: 'postrouting', stmts: [addr('ip6', 'daddr', '==', 'ff00::/8'), { kind: 'return' }] } },
  { op: 'addRule', rule: { chain: 'postrouting', stmts: [{ kind: 'goto', chain: 'masq_checks' }] } },
  { op: 'addRule', rule: { chain: 'masq_checks', stmts: [addr('ip', 'saddr', '==', '10.244.1.5'), addr('ip', 'daddr', '!=', '10.244.1.0/24'), { kind: 'masquerade' }], comment: 'abc, net: x, if: eth0, id: c1' } },
  { op: 'addRule', rule: { chain: 'masq_checks', stmts: [addr('ip6', 'saddr', '==', 'fd00::5'), addr('ip6', 'daddr', '!=', 'fd00::/64'), { kind: 'masquerade' }], comment: 'abc' } },
  { op: 'addRule', rule: { chain: 'masq_checks', stmts: [addr('ip', 'saddr', '==', '10.244.1.6'), addr('ip', 'daddr', '!=', '10.244.0.0/17'), { kind: 'masquerade' }], comment: 'def' } },
  { op: 'addRule', rule: { chain: 'masq_checks', stmts: [addr('ip6', 'saddr', '==', 'fd00::6'), addr('ip6', 'daddr', '!=', 'fd00:1:2::/57'), { kind: 'masquerade' }] } },
];

const pmTable = (f: 4 | 6): Table => ({ family: f === 4 ? 'ip' : 'ip6', name: 'cni_hostport', comment: 'CNI portmap plugin' });
function pmOps(f: 4 | 6): Op[] {
  const p = f === 4 ? 'ip' : 'ip6';
  const pod = f === 4 ? '10.88.0.5' : 'fd00:88::5';
  const conds: Stmt[] =
    f === 4
      ? [addr('ip', 'saddr', '!=', '10.99.0.0/16'), { kind: 'ifname', key: 'iifname', op: '!=', name: 'lo' }, { kind: 'ifname', key: 'oifname', op: '==', name: 'eth*' }, { kind: 'mark', op: '==', value: 0x10 }, { kind: 'port', proto: 'udp', field: 'sport', op: '!=', port: 53 }]
      : [addr('ip6', 'saddr', '==', 'fd00:77::/64')];
  const entry: Stmt[] = [...conds, { kind: 'fibDaddrLocal' }, { kind: 'jump', chain: 'hostports_all' }];
  return [
    { op: 'addTable', table: pmTable(f) },
    { op: 'addChain', chain: { name: 'hostports' } },
    { op: 'addChain', chain: { name: 'hostip_hostports' } },
    { op: 'addChain', chain: { name: 'hostports_all' } },
    { op: 'flushChain', chain: 'hostports_all' },
    { op: 'addRule', rule: { chain: 'hostports_all', stmts: [{ kind: 'jump', chain: 'hostip_hostports' }] } },
    { op: 'addRule', rule: { chain: 'hostports_all', stmts: [{ kind: 'jump', chain: 'hostports' }] } },
    { op: 'addChain', chain: { name: 'prerouting', base: { type: 'nat', hook: 'prerouting', priority: -100 } } },
    { op: 'flushChain', chain: 'prerouting' },
    { op: 'addRule', rule: { chain: 'prerouting', stmts: entry } },
    { op: 'addChain', chain: { name: 'output', base: { type: 'nat', hook: 'output', priority: -100 } } },
    { op: 'flushChain', chain: 'output' },
    { op: 'addRule', rule: { chain: 'output', stmts: entry } },
    { op: 'addChain', chain: { name: 'masquerading', base: { type: 'nat', hook: 'postrouting', priority: 100 } } },
    { op: 'addRule', rule: { chain: 'hostports', stmts: [{ kind: 'port', proto: 'tcp', field: 'dport', op: '==', port: 8080 }, { kind: 'dnat', addr: ip(pod), port: 80 }], comment: 'ctr1' } },
    { op: 'addRule', rule: { chain: 'hostports', stmts: [addr(p, 'daddr', '==', f === 4 ? '192.168.77.1' : 'fd00:77::1'), { kind: 'port', proto: 'sctp', field: 'dport', op: '==', port: 8081 }, { kind: 'dnat', addr: ip(pod), port: 81 }], comment: 'ctr1' } },
    { op: 'addRule', rule: { chain: 'masquerading', stmts: [addr(p, 'saddr', '==', pod), addr(p, 'daddr', '==', pod), { kind: 'masquerade' }], comment: 'ctr1' } },
    { op: 'addRule', rule: { chain: 'masquerading', stmts: [addr(p, 'daddr', '==', pod), { kind: 'masquerade' }], comment: 'ctr2' } },
  ];
}

describe('lib/nft through netlink', () => {
  it('writes what nft writes for the same transactions (JSON listing and bytecode)', async () => {
    for (const [table, ops] of [[masqTable, masqOps], [pmTable(4), pmOps(4)], [pmTable(6), pmOps(6)]] as const) {
      await nft.apply(table, ops);
      script(table, ops);
    }
    // twice: existing tables and chains are fine, the flushed chains are rewritten
    await nft.apply(masqTable, masqOps);
    script(masqTable, masqOps);
    const a = listing(nsA);
    const b = listing(nsB);
    expect(a.bytecode).toBe(b.bytecode);
    expect(a.json).toEqual(b.json);
    expect(a.bytecode).toContain('[ nat dnat ip6 addr_min reg 1 addr_max reg 1 proto_min reg 2 proto_max reg 2 flags 0x3 ]');
  });

  it('masquerade and portmap transactions as the plugins build them: the same through netlink as through nft', async () => {
    const wipe = (ns: string): void => void sh(ns, ['nft', 'flush', 'ruleset']);
    wipe(nsA);
    wipe(nsB);
    const att = { network: 'nfnet', ifname: 'eth0', containerId: 'nf-ctr' };
    const masq = masqSetupOps(att, [{ cidr: '10.244.1.5/24', family: 4 }, { cidr: 'fd00:10:244::5/64', family: 6 }, { cidr: '10.245.0.9/17', family: 4 }], []);
    await nft.apply(MASQ_TABLE, masq);
    script(MASQ_TABLE, masq);
    const conf = {
      cniVersion: '1.0.0',
      name: 'nfnet',
      type: 'portmap',
      masqAll: false,
      conditionsV4: ['ip saddr != 10.99.0.0/16', 'iifname', '!=', '"lo"', 'tcp sport != 22'],
      conditionsV6: ['ip6 daddr fd00:77::/64', 'meta mark 0x4000'],
      runtimeConfig: {
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
          { hostPort: 8053, containerPort: 53, protocol: 'udp' },
          { hostPort: 8081, containerPort: 81, protocol: 'sctp', hostIP: '192.168.77.1' },
          { hostPort: 8082, containerPort: 82, protocol: 'tcp', hostIP: 'fd00:77::1' },
        ],
      },
    };
    const cfg = loadPortMapConfig(conf, 'eth0');
    for (const c of [{ family: 4 as const, ip: '10.88.0.5', cidr: '10.88.0.5/24' }, { family: 6 as const, ip: 'fd00:88::5', cidr: 'fd00:88::5/64' }]) {
      const ops = nftAddOps(cfg, 'nf-ctr', c, []);
      await nft.apply(nftTable(c.family), ops);
      script(nftTable(c.family), ops);
    }
    const a = listing(nsA);
    const b = listing(nsB);
    expect(a.bytecode).toBe(b.bytecode);
    expect(a.json).toEqual(b.json);
    const text = sh(nsA, ['nft', 'list', 'ruleset']);
    expect(text).toContain('ip saddr != 10.99.0.0/16 iifname != "lo" tcp sport != 22 fib daddr type local jump hostports_all');
    expect(text).toContain('ip daddr 192.168.77.1 sctp dport 8081 dnat to 10.88.0.5:81 comment "nf-ctr"');
    expect(text).toContain('ip6 daddr fd00:77::1 tcp dport 8082 dnat to [fd00:88::5]:82 comment "nf-ctr"');
    expect(text).toContain('ip saddr 10.245.0.9 ip daddr != 10.245.0.0/17 masquerade comment');
  });

  it('lists rules with handles, comments, ports and addresses; deletes by handle; flushes', async () => {
    sh(nsA, ['nft', 'flush', 'ruleset']);
    await nft.apply(pmTable(4), pmOps(4));
    const rules = await nft.rules('ip', 'cni_hostport');
    const mine = rules.filter((r) => r.comment === 'ctr1');
    expect(mine.map((r) => r.chain)).toEqual(['hostports', 'hostports', 'masquerading']);
    expect(mine.map((r) => ruleFacts(r))).toEqual([
      { dport: 8080, addrs: ['10.88.0.5'] },
      { dport: 8081, addrs: ['192.168.77.1', '10.88.0.5'] },
      { dport: undefined, addrs: ['10.88.0.5', '10.88.0.5'] },
    ]);
    expect((await nft.rules('ip', 'cni_hostport', 'masquerading')).map((r) => r.comment)).toEqual(['ctr1', 'ctr2']);
    await nft.apply(pmTable(4), mine.map((r) => ({ op: 'deleteRule', chain: r.chain, handle: r.handle })));
    expect((await nft.rules('ip', 'cni_hostport')).filter((r) => r.comment === 'ctr1')).toEqual([]);
    await nft.apply(pmTable(4), [{ op: 'flushChain', chain: 'prerouting' }]);
    expect(await nft.rules('ip', 'cni_hostport', 'prerouting')).toEqual([]);
    expect(await nft.rules('ip', 'nf_no_such_table')).toEqual([]);
    expect(await nft.available()).toBe(true);
  });

  it('applies a transaction whole or not at all', async () => {
    const t: Table = { family: 'ip', name: 'nf_atomic' };
    const ops: Op[] = [{ op: 'addTable', table: t }, { op: 'addChain', chain: { name: 'c' } }, { op: 'deleteRule', chain: 'c', handle: 999999 }];
    await expect(nft.apply(t, ops)).rejects.toThrow(/nftables transaction on table ip nf_atomic failed: .*(No such file|ENOENT)/);
    expect(sh(nsA, ['nft', 'list', 'tables'])).not.toContain('nf_atomic');
    // a failing change in the middle (only the last one asks for an ACK) is reported all the same
    const middle: Op[] = [{ op: 'addTable', table: t }, { op: 'addChain', chain: { name: 'c' } }, { op: 'deleteRule', chain: 'c', handle: 999999 }, { op: 'addChain', chain: { name: 'd' } }];
    await expect(nft.apply(t, middle)).rejects.toThrow(/nftables transaction on table ip nf_atomic failed/);
    expect(sh(nsA, ['nft', 'list', 'tables'])).not.toContain('nf_atomic');
  });

  it('applies large transactions (3000 rules in, then out, one batch each)', async () => {
    const t: Table = { family: 'ip', name: 'nf_large' };
    const rules: Op[] = Array.from({ length: 3000 }, (_, i) => ({ op: 'addRule', rule: { chain: 'c', stmts: [{ kind: 'port', proto: 'tcp', field: 'dport', op: '==', port: 1000 + i }, { kind: 'accept' }], comment: `r${i}` } }));
    await nft.apply(t, [{ op: 'addTable', table: t }, { op: 'addChain', chain: { name: 'c' } }, ...rules]);
    const listed = await nft.rules('ip', 'nf_large');
    expect(listed).toHaveLength(3000);
    await nft.apply(t, listed.map((r) => ({ op: 'deleteRule', chain: r.chain, handle: r.handle })));
    expect(await nft.rules('ip', 'nf_large')).toEqual([]);
  });
});
