/**
 * Our host-local and the Go reference (Debian's containernetworking-plugins,
 * /usr/lib/cni/host-local) on one data directory: each sees, continues and
 * releases the other's leases, they exclude each other through the same flock,
 * and 40 ADDs at once, half through each, all get distinct addresses.
 * In CI a missing Go plugin is a failure, not a skip: CI must prove interop.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockFile } from '../../lib/lock.ts';
import type { RunResult } from '../helpers/exec.ts';
import { GO_HOST_LOCAL, go, listing, onlyBookkeeping, ours, tempDataDir } from '../helpers/host-local.ts';

const haveGo = existsSync(GO_HOST_LOCAL);
const inCi = (process.env['CI'] ?? '') !== '';
const NET = 'interop';

describe('the Go reference plugin', () => {
  it.runIf(inCi || haveGo)(`is installed at ${GO_HOST_LOCAL}`, () => {
    expect(haveGo, `${GO_HOST_LOCAL} is missing: .ci/run installs containernetworking-plugins`).toBe(true);
  });
});

describe.runIf(haveGo)('host-local interop with the Go reference', () => {
  let dataDir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dataDir, cleanup } = tempDataDir());
  });
  afterEach(() => cleanup());

  // the Debian package (plugins v1.1.x) speaks up to 1.0.0
  function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { cniVersion: '1.0.0', name: NET, type: 'bridge', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.66.0.0/24' }], [{ subnet: 'fd66::/120' }]] }, ...extra };
  }

  function ok(r: RunResult): unknown {
    if (r.code !== 0) throw new Error(`plugin failed (${r.code}): ${r.stdout} ${r.stderr}`);
    return r.json;
  }

  const file = (name: string): Buffer => readFileSync(join(dataDir, NET, name));
  const leaseNames = (): string[] => listing(dataDir, NET).filter((n) => !onlyBookkeeping([n]));

  it('writes the same bytes as the reference for the same attachment', async () => {
    ok(await go({ command: 'ADD', conf: conf(), containerId: 'same' }));
    const goFiles = Object.fromEntries(listing(dataDir, NET).map((n) => [n, file(n).toString('latin1')]));
    ok(await go({ command: 'DEL', conf: conf(), containerId: 'same' }));
    cleanup();
    ({ dataDir, cleanup } = tempDataDir());
    ok(await ours({ command: 'ADD', conf: conf(), containerId: 'same' }));
    const ourFiles = Object.fromEntries(listing(dataDir, NET).map((n) => [n, file(n).toString('latin1')]));
    expect(ourFiles).toEqual(goFiles);
    expect(ourFiles['10.66.0.2']).toBe('same\r\neth0');
    expect(ourFiles['lock']).toBe('');
  });

  it('a lease made by Go is seen (CHECK, duplicate refusal, round robin) and released by ours', async () => {
    const res = ok(await go({ command: 'ADD', conf: conf(), containerId: 'go-made' }));
    ok(await ours({ command: 'CHECK', conf: { ...conf(), prevResult: res }, containerId: 'go-made' }));
    const dup = await ours({ command: 'ADD', conf: conf(), containerId: 'go-made' });
    expect((dup.json as { msg: string }).msg).toBe('failed to allocate for range 0: 10.66.0.2 has been allocated to go-made, duplicate allocation is not allowed');
    // our next lease continues Go's cursor
    const next = ok(await ours({ command: 'ADD', conf: conf(), containerId: 'ours-next' })) as { ips: { address: string }[] };
    expect(next.ips.map((x) => x.address)).toEqual(['10.66.0.3/24', 'fd66::3/120']);
    ok(await ours({ command: 'DEL', conf: conf(), containerId: 'go-made' }));
    expect(leaseNames()).toEqual(['10.66.0.3', 'fd66::3']);
  });

  it('a lease made by ours is seen (CHECK, duplicate refusal, round robin) and released by Go', async () => {
    ok(await ours({ command: 'ADD', conf: conf(), containerId: 'ts-made' }));
    ok(await go({ command: 'CHECK', conf: conf(), containerId: 'ts-made' }));
    const dup = await go({ command: 'ADD', conf: conf(), containerId: 'ts-made' });
    expect(dup.code).toBe(1);
    expect((dup.json as { msg: string }).msg).toContain('duplicate allocation is not allowed');
    const next = ok(await go({ command: 'ADD', conf: conf(), containerId: 'go-next' })) as { ips: { address: string }[] };
    expect(next.ips.map((x) => x.address)).toEqual(['10.66.0.3/24', 'fd66::3/120']);
    ok(await go({ command: 'DEL', conf: conf(), containerId: 'ts-made' }));
    expect(leaseNames()).toEqual(['10.66.0.3', 'fd66::3']);
  });

  it('both release a legacy lease that holds only a container id', async () => {
    mkdirSync(join(dataDir, NET), { recursive: true });
    writeFileSync(join(dataDir, NET, '10.66.0.40'), 'old-one', { mode: 0o644 });
    writeFileSync(join(dataDir, NET, '10.66.0.41'), 'old-two', { mode: 0o644 });
    ok(await ours({ command: 'DEL', conf: conf(), containerId: 'old-one' }));
    ok(await go({ command: 'DEL', conf: conf(), containerId: 'old-two' }));
    expect(leaseNames()).toEqual([]);
  });

  it('Go waits for the lock ours takes (the same flock on the same file)', async () => {
    const dir = join(dataDir, NET);
    mkdirSync(dir, { recursive: true });
    const held = lockFile(join(dir, 'lock'), 1000, { readOnly: true, mode: 0o750 });
    let done = false;
    const pending = go({ command: 'ADD', conf: conf(), containerId: 'waiter' }).then((r) => {
      done = true;
      return r;
    });
    // until the kernel lists a second process blocked on that lock ("->" lines of /proc/locks), bounded
    const { ino } = statSync(join(dir, 'lock'));
    const waiting = (): boolean => readFileSync('/proc/locks', 'utf8').split('\n').some((l) => l.includes('->') && l.includes(`:${ino} `));
    for (let i = 0; i < 500 && !waiting() && !done; i++) await new Promise((r) => setTimeout(r, 10));
    expect(waiting()).toBe(true);
    expect(done).toBe(false);
    expect(leaseNames()).toEqual([]);
    held.release();
    ok(await pending);
    expect(leaseNames()).toEqual(['10.66.0.2', 'fd66::2']);
  });

  it('40 ADDs at once, half through each plugin, get distinct addresses; 40 crossed DELs leave only the bookkeeping', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `mix-${i}`);
    const adds = await Promise.all(ids.map((id, i) => (i % 2 === 0 ? ours : go)({ command: 'ADD', conf: conf(), containerId: id })));
    const v4 = adds.map((r) => (ok(r) as { ips: { address: string }[] }).ips[0]!.address);
    const v6 = adds.map((r) => (ok(r) as { ips: { address: string }[] }).ips[1]!.address);
    expect(new Set(v4).size).toBe(40);
    expect(new Set(v6).size).toBe(40);
    const names = leaseNames();
    expect(names).toHaveLength(80);
    const owners = names.map((n) => file(n).toString());
    for (const id of ids) expect(owners.filter((o) => o === `${id}\r\neth0`)).toHaveLength(2);
    // each plugin deletes the leases the other one made
    const dels = await Promise.all(ids.map((id, i) => (i % 2 === 0 ? go : ours)({ command: 'DEL', conf: conf(), containerId: id })));
    for (const d of dels) ok(d);
    expect(listing(dataDir, NET)).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
  });
});
