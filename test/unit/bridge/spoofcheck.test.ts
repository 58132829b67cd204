/**
 * The spoof-check rules against a fake `nft`: the reference's table, chains,
 * rules and comments as JSON commands, teardown by refID alone, listing for GC.
 * (test/integration/bridge.test.ts runs them against the kernel.)
 */
import { describe, expect, it } from 'vitest';
import type { CommandResult, CommandRunner } from '../../../lib/exec/index.ts';
import { SpoofCheck, ifaceChainName, macChainName, spoofComment, spoofRefId } from '../../../lib/ipmasq/spoofcheck.ts';

interface Call {
  cmd: string;
  args: readonly string[];
  input: string | undefined;
}

function fakeNft(listing: unknown): { run: CommandRunner; calls: Call[] } {
  const calls: Call[] = [];
  const run: CommandRunner = (cmd, args, input) => {
    calls.push({ cmd, args, input });
    let r: CommandResult = { code: 0, stdout: '', stderr: '' };
    if (args.includes('list')) {
      r = listing === undefined ? { code: 1, stdout: '', stderr: 'Error: No such file or directory' } : { code: 0, stdout: JSON.stringify(listing), stderr: '' };
    }
    return Promise.resolve(r);
  };
  return { run, calls };
}

const refId = spoofRefId('ctr1', 'eth0');

function listingWith(ref: string, iif: string, handle: number): unknown {
  return {
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'bridge', name: 'nat', handle: 1 } },
      { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING', handle: 1, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } },
      { chain: { family: 'bridge', table: 'nat', name: ifaceChainName(ref), handle: 2 } },
      { chain: { family: 'bridge', table: 'nat', name: macChainName(ref), handle: 3 } },
      {
        rule: {
          family: 'bridge',
          table: 'nat',
          chain: 'PREROUTING',
          handle,
          comment: spoofComment(ref),
          expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: iif } }, { jump: { target: ifaceChainName(ref) } }],
        },
      },
      { rule: { family: 'bridge', table: 'nat', chain: macChainName(ref), handle: handle + 2, comment: spoofComment(ref), expr: [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: '02:00:00:00:00:01' } }, { return: null }] } },
    ],
  };
}

describe('SpoofCheck', () => {
  it('names things as the reference: refID <containerID>-<ifname>', () => {
    expect(refId).toBe('ctr1-eth0');
    expect(ifaceChainName(refId)).toBe('cni-br-iface-ctr1-eth0');
    expect(macChainName(refId)).toBe('cni-br-iface-ctr1-eth0-mac');
    expect(spoofComment(refId)).toBe('macspoofchk-ctr1-eth0');
  });

  it('sets up table, base chain, both chains and four commented rules in one transaction', async () => {
    const { run, calls } = fakeNft(undefined);
    await new SpoofCheck(run).setup({ refId, hostIface: 'veth01020304', mac: '02:00:00:00:00:01' });
    const apply = calls.find((c) => c.args.length === 2 && c.args[0] === '-j');
    const cmds = (JSON.parse(apply?.args[1] ?? '{}') as { nftables: Record<string, unknown>[] }).nftables;
    expect(cmds[1]).toEqual({ add: { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } });
    const rules = cmds.filter((c) => 'add' in c && 'rule' in (c['add'] as object)).map((c) => (c['add'] as { rule: Record<string, unknown> }).rule);
    expect(rules.map((r) => r['chain'])).toEqual(['PREROUTING', 'cni-br-iface-ctr1-eth0', 'cni-br-iface-ctr1-eth0-mac', 'cni-br-iface-ctr1-eth0-mac']);
    expect(new Set(rules.map((r) => r['comment']))).toEqual(new Set(['macspoofchk-ctr1-eth0']));
    expect(JSON.stringify(rules[0])).toContain('"right":"veth01020304"');
    expect(JSON.stringify(rules[2])).toContain('"right":"02:00:00:00:00:01"');
    expect(rules[3]?.['expr']).toEqual([{ drop: null }]);
  });

  it('a repeated setup replaces its jump rule', async () => {
    const { run, calls } = fakeNft(listingWith(refId, 'vethold', 9));
    await new SpoofCheck(run).setup({ refId, hostIface: 'vethnew', mac: '02:00:00:00:00:01' });
    const input = calls.find((c) => c.args.length === 2 && c.args[0] === '-j')?.args[1] ?? '';
    expect(input).toContain('{"delete":{"rule":{"family":"bridge","table":"nat","chain":"PREROUTING","handle":9}}}');
  });

  it('tears down by refID: the jump rule, then the two chains', async () => {
    const { run, calls } = fakeNft(listingWith(refId, 'veth1', 7));
    await new SpoofCheck(run).teardown(refId);
    const input = JSON.parse(calls.at(-1)?.args[1] ?? '{}') as unknown;
    expect(input).toEqual({
      nftables: [
        { delete: { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 7 } } },
        { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-ctr1-eth0' } } },
        { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-ctr1-eth0-mac' } } },
      ],
    });
  });

  it('teardown with no table (or no nft) does nothing', async () => {
    const { run, calls } = fakeNft(undefined);
    await new SpoofCheck(run).teardown(refId);
    expect(calls).toHaveLength(1);
    const missing: CommandRunner = () => Promise.reject(Object.assign(new Error('cannot run nft'), { code: 'ENOENT' }));
    await expect(new SpoofCheck(missing).teardown(refId)).resolves.toBeUndefined();
  });

  it('lists attachments for GC and checks one', async () => {
    const { run } = fakeNft(listingWith(refId, 'veth1', 7));
    const sc = new SpoofCheck(run);
    expect(await sc.list()).toEqual([{ refId, iifname: 'veth1' }]);
    expect(await sc.check({ refId, hostIface: 'veth1', mac: '02:00:00:00:00:01' })).toEqual([]);
    expect(await sc.check({ refId, hostIface: 'veth2', mac: '02:00:00:00:00:09' })).toHaveLength(2);
  });
});
