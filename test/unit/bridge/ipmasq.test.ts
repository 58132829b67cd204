/**
 * iptables masquerade against a fake iptables: setup and teardown are one
 * listing plus one iptables-restore batch per family, teardown finds the jumps
 * and the chain by name (no addresses needed), a family with nothing of ours
 * costs one listing, a family whose nat table cannot be listed (a kernel
 * without IPv6) is skipped instead of failing DEL, and every ACCEPT comes
 * before the MASQUERADE.
 */
import { describe, expect, it } from 'vitest';
import { IpMasq } from '../../../lib/ipmasq/index.ts';
import { Nft } from '../../../lib/nft/index.ts';

/** nf_tables that holds nothing (the unit tests never reach the kernel). */
const noNft = new Nft(() => Promise.resolve({ request: () => Promise.resolve([]), batch: () => Promise.resolve(), close: () => undefined }));
import { quoteRestoreArg } from '../../../lib/iptables/index.ts';
import { iptablesChainName, iptablesComment } from '../../../lib/ipmasq/names.ts';
import type { CommandResult, CommandRunner } from '../../../lib/exec/index.ts';

const att = { network: 'cbr0', ifname: 'eth0', containerId: 'c1' };
const chain = iptablesChainName('cbr0', 'c1');
const comment = iptablesComment('cbr0', 'c1');
const q = `"${comment.replaceAll('"', '\\"')}"`;

interface Call {
  cmd: string;
  args: string;
  input: string | undefined;
}

function fake(listings: { v4: CommandResult; v6: CommandResult }): { run: CommandRunner; calls: Call[] } {
  const calls: Call[] = [];
  const run: CommandRunner = (cmd, args, input) => {
    calls.push({ cmd, args: args.join(' '), input });
    if (cmd === 'nft') return Promise.resolve({ code: 1, stdout: '', stderr: 'Error: No such file or directory' });
    if (args.includes('-S')) return Promise.resolve(cmd === 'iptables' ? listings.v4 : listings.v6);
    return Promise.resolve({ code: 0, stdout: '', stderr: '' });
  };
  return { run, calls };
}

const ok = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: '' });
const empty = ok('-P POSTROUTING ACCEPT\n');
const v4Listing = ok(['-P POSTROUTING ACCEPT', `-N ${chain}`, `-A POSTROUTING -s 10.244.1.2/32 -m comment --comment ${q} -j ${chain}`, `-A ${chain} -d 10.244.1.0/24 -m comment --comment ${q} -j ACCEPT`].join('\n'));

describe('iptables setup', () => {
  it('creates the chain, ACCEPTs before MASQUERADE, and the jump, in one batch per family', async () => {
    const { run, calls } = fake({ v4: empty, v6: empty });
    await new IpMasq(run, noNft).setup('iptables', att, [
      { cidr: '10.244.1.2/24', family: 4 },
      { cidr: '10.245.0.7/16', family: 4 },
      { cidr: 'fd00:1::2/64', family: 6 },
    ]);
    // the families run at the same time: each in its own order
    const family = (p: string) => calls.filter((c) => c.cmd.startsWith(p));
    expect(family('iptables').map((c) => `${c.cmd} ${c.args}`)).toEqual(['iptables -w -t nat -S', 'iptables-restore -w --noflush']);
    expect(family('ip6tables').map((c) => `${c.cmd} ${c.args}`)).toEqual(['ip6tables -w -t nat -S', 'ip6tables-restore -w --noflush']);
    expect(family('iptables')[1]?.input).toBe(
      [
        '*nat',
        `:${chain} - [0:0]`,
        `-A ${chain} -d 10.244.1.0/24 -j ACCEPT -m comment --comment ${q}`,
        `-A ${chain} -d 10.245.0.0/16 -j ACCEPT -m comment --comment ${q}`,
        `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE -m comment --comment ${q}`,
        `-A POSTROUTING -s 10.244.1.2 -j ${chain} -m comment --comment ${q}`,
        `-A POSTROUTING -s 10.245.0.7 -j ${chain} -m comment --comment ${q}`,
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(family('ip6tables')[1]?.input).toContain(`-A ${chain} ! -d ff00::/8 -j MASQUERADE`);
  });

  it('a repeated setup keeps the chain whole and does not add a second jump', async () => {
    const { run, calls } = fake({ v4: v4Listing, v6: empty });
    await new IpMasq(run, noNft).setup('iptables', att, [{ cidr: '10.244.1.2/24', family: 4 }]);
    const input = calls[1]?.input ?? '';
    expect(input.match(/-j ACCEPT/g)).toHaveLength(1);
    expect(input).not.toContain('-A POSTROUTING');
  });
});

describe('iptables teardown', () => {
  it('deletes the jump (its exact arguments), flushes and deletes the chain, found by name, in one batch', async () => {
    const { run, calls } = fake({ v4: v4Listing, v6: empty });
    await new IpMasq(run, noNft).teardown(att);
    // both families at the same time: each in its own order
    const ipt = calls.filter((c) => c.cmd.startsWith('iptables'));
    expect(ipt.map((c) => `${c.cmd} ${c.args}`)).toEqual(['iptables -w -t nat -S', 'iptables-restore -w --noflush']);
    expect(calls.filter((c) => c.cmd.startsWith('ip6tables')).map((c) => `${c.cmd} ${c.args}`)).toEqual(['ip6tables -w -t nat -S']);
    expect(ipt[1]?.input).toBe(['*nat', `-D POSTROUTING -s 10.244.1.2/32 -m comment --comment ${q} -j ${chain}`, `-F ${chain}`, `-X ${chain}`, 'COMMIT', ''].join('\n'));
  });

  it('skips a family whose nat table cannot be listed (no IPv6 in the kernel)', async () => {
    const noV6 = { code: 3, stdout: '', stderr: "ip6tables v1.8.9 (nf_tables): can't initialize ip6tables table `nat': Address family not supported by protocol" };
    const { run, calls } = fake({ v4: v4Listing, v6: noV6 });
    await expect(new IpMasq(run, noNft).teardown(att)).resolves.toBeUndefined();
    expect(calls.filter((c) => c.cmd.startsWith('ip6tables')).map((c) => c.args)).toEqual(['-w -t nat -S']);
  });
});

describe('quoteRestoreArg', () => {
  it('quotes as iptables-save does', () => {
    expect(quoteRestoreArg('ACCEPT')).toBe('ACCEPT');
    expect(quoteRestoreArg('name: "n" id: "c"')).toBe('"name: \\"n\\" id: \\"c\\""');
    expect(quoteRestoreArg('')).toBe('""');
  });
});
