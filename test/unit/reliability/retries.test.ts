/**
 * Every retry path, proved by a fake that fails on purpose: the masquerade
 * teardown lists again and retries once when its batch fails (a rule removed
 * meanwhile by a concurrent DEL); portmap's batch is recomputed from a fresh
 * listing twice at most (another program changed the nat table); a plugin
 * binary being replaced (ETXTBSY) is exec'd again, as libcni does.
 */
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execPlugin } from '../../../lib/cni/invoke.ts';
import { IptablesMasq } from '../../../lib/ipmasq/iptables.ts';
import { iptablesChainName } from '../../../lib/ipmasq/names.ts';
import type { CommandResult, CommandRunner } from '../../../lib/ipmasq/run.ts';
import { loadPortMapConfig } from '../../../plugins/portmap/config.ts';
import { IptablesPortmap } from '../../../plugins/portmap/iptables.ts';

const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
const failed: CommandResult = { code: 1, stdout: '', stderr: 'iptables-restore: line 2 failed' };

/** A fake iptables: listings from `listing(family, n)`, restores answered by `restore(family, n)` (n counts from 0). */
function fake(listing: (cmd: string, n: number) => CommandResult, restore: (cmd: string, n: number) => CommandResult) {
  const calls: string[] = [];
  const count = new Map<string, number>();
  const next = (key: string): number => {
    const n = count.get(key) ?? 0;
    count.set(key, n + 1);
    return n;
  };
  const run: CommandRunner = (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    if (cmd === 'nft') return Promise.resolve({ code: 1, stdout: '', stderr: 'Error: No such file or directory' });
    if (cmd.endsWith('-restore')) return Promise.resolve(restore(cmd, next(cmd)));
    return Promise.resolve(listing(cmd, next(cmd)));
  };
  return { run, calls };
}

describe('masquerade teardown', () => {
  const att = { network: 'cbr0', ifname: 'eth0', containerId: 'c1' };
  const chain = iptablesChainName('cbr0', 'c1');
  const withChain = ok(`-P POSTROUTING ACCEPT\n-N ${chain}\n-A POSTROUTING -s 10.244.1.2/32 -j ${chain}\n`);
  const without = ok('-P POSTROUTING ACCEPT\n');

  it('a batch that fails is listed again and retried once', async () => {
    const { run, calls } = fake(
      (cmd, n) => (cmd === 'iptables' ? (n === 0 ? withChain : withChain) : without),
      (cmd, n) => (cmd === 'iptables-restore' && n === 0 ? failed : ok()),
    );
    await new IptablesMasq(run).teardown(att);
    expect(calls.filter((c) => c.startsWith('iptables '))).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('iptables-restore'))).toHaveLength(2);
  });

  it('the rule gone by the second listing: nothing left to do, success', async () => {
    const { run, calls } = fake(
      (cmd, n) => (cmd === 'iptables' && n === 0 ? withChain : without),
      () => failed,
    );
    await new IptablesMasq(run).teardown(att);
    expect(calls.filter((c) => c.startsWith('iptables-restore'))).toHaveLength(1);
  });

  it('a batch that fails twice is an error', async () => {
    const { run, calls } = fake((cmd) => (cmd === 'iptables' ? withChain : without), (cmd) => (cmd === 'iptables-restore' ? failed : ok()));
    await expect(new IptablesMasq(run).teardown(att)).rejects.toThrow(/iptables-restore/);
    expect(calls.filter((c) => c.startsWith('iptables-restore'))).toHaveLength(2);
  });
});

describe("portmap's iptables batch", () => {
  const cfg = loadPortMapConfig({ cniVersion: '1.0.0', name: 'mynet', type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } }, 'eth0');
  const V4 = { family: 4 as const, ip: '10.88.0.5', cidr: '10.88.0.5/16' };
  const empty = ok('-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n');

  function backend(run: CommandRunner): IptablesPortmap {
    const dir = mkdtempSync(join(tmpdir(), 't-pm-retry-'));
    return new IptablesPortmap(run, () => join(dir, 'lock'));
  }

  it('a failed batch is recomputed from a fresh listing and applied', async () => {
    const { run, calls } = fake(() => empty, (_cmd, n) => (n === 0 ? failed : ok()));
    await backend(run).setup(cfg, 'ctr1', V4);
    expect(calls.filter((c) => c.startsWith('iptables -w -t nat -S'))).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('iptables-restore'))).toHaveLength(2);
  });

  it('three failed batches are an error', async () => {
    const { run, calls } = fake(() => empty, () => failed);
    await expect(backend(run).setup(cfg, 'ctr1', V4)).rejects.toThrow(/iptables-restore/);
    expect(calls.filter((c) => c.startsWith('iptables-restore'))).toHaveLength(3);
  });
});

describe('exec of a plugin being replaced', () => {
  it("ETXTBSY: exec'd again once the writer is done", async () => {
    const dir = mkdtempSync(join(tmpdir(), 't-etxtbsy-'));
    try {
      const path = join(dir, 'plugin');
      writeFileSync(path, '#!/bin/sh\necho \'{"cniVersion":"1.0.0"}\'\n');
      chmodSync(path, 0o755);
      const writer = openSync(path, 'r+'); // open for writing: exec fails with ETXTBSY
      const pending = execPlugin(path, { PATH: '/usr/bin:/bin' }, Buffer.alloc(0), () => undefined);
      closeSync(writer); // the first exec has already failed; the retry finds the file free
      const out = await pending;
      expect(out.stdout.toString()).toContain('"cniVersion":"1.0.0"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
