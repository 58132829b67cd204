/**
 * dist/bin/host-local as a runtime runs it: every command for every spec
 * version, dual stack, requested addresses, exhaustion, GC, STATUS, the
 * bounded lock wait, and 100 concurrent ADDs then DELs on one data directory.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SUPPORTED_VERSIONS, versionGte } from '../../lib/cni/version.ts';
import { lockFile } from '../../lib/lock.ts';
import type { RunResult } from '../helpers/exec.ts';
import { listing, onlyBookkeeping, ours, tempDataDir } from '../helpers/host-local.ts';

const NET = 'hlnet';
let dataDir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dataDir, cleanup } = tempDataDir());
});
afterEach(() => cleanup());

function conf(ipam: Record<string, unknown>, extra: Record<string, unknown> = {}, cniVersion = '1.1.0'): Record<string, unknown> {
  return { cniVersion, name: NET, type: 'bridge', ipam: { type: 'host-local', dataDir, ...ipam }, ...extra };
}

const DUAL = { ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/120' }]] };

function ok(r: RunResult): unknown {
  if (r.code !== 0) throw new Error(`plugin failed (${r.code}): ${r.stdout} ${r.stderr}`);
  return r.json;
}

function errorOf(r: RunResult): { code: number; msg: string } {
  expect(r.code).toBe(1);
  return r.json as { code: number; msg: string };
}

function lease(ip: string): string {
  return readFileSync(join(dataDir, NET, ip), 'utf8');
}

/** The addresses of an ADD result, checking the version's shape on the way. */
function addresses(result: unknown, version: string): string[] {
  const r = result as Record<string, unknown>;
  expect(r['cniVersion']).toBe(version);
  if (!versionGte(version, '0.3.0')) {
    expect(r['ips']).toBeUndefined();
    const out: string[] = [];
    for (const k of ['ip4', 'ip6']) {
      const v = r[k] as { ip: string; gateway: string } | undefined;
      if (v !== undefined) out.push(v.ip);
    }
    return out;
  }
  const ips = r['ips'] as { address: string; version?: string; gateway?: string }[];
  for (const x of ips) {
    if (versionGte(version, '1.0.0')) expect(x.version).toBeUndefined();
    else expect(x.version).toBe(x.address.includes(':') ? '6' : '4');
  }
  return ips.map((x) => x.address);
}

describe.each(SUPPORTED_VERSIONS)('host-local, cniVersion %s', (version) => {
  it('ADD gives one address per range set and writes the reference files; DEL removes them, twice', async () => {
    const c = conf(DUAL, {}, version);
    const res = ok(await ours({ command: 'ADD', conf: c, containerId: 'ctr-1' }));
    expect(addresses(res, version)).toEqual(['10.77.0.2/24', 'fd77::2/120']);
    expect(listing(dataDir, NET)).toEqual(['10.77.0.2', 'fd77::2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect(lease('10.77.0.2')).toBe('ctr-1\r\neth0');
    expect(lease('last_reserved_ip.1')).toBe('fd77::2');

    if (versionGte(version, '0.4.0')) {
      ok(await ours({ command: 'CHECK', conf: { ...c, prevResult: res }, containerId: 'ctr-1' }));
      const forged = structuredClone(res) as { ips: { address: string }[] };
      forged.ips[0]!.address = '10.77.0.9/24';
      const e = errorOf(await ours({ command: 'CHECK', conf: { ...c, prevResult: forged }, containerId: 'ctr-1' }));
      expect(e.msg).toBe('host-local: address 10.77.0.9 in prevResult is not reserved for container ctr-1 interface eth0: nobody holds it');
    }

    ok(await ours({ command: 'DEL', conf: c, containerId: 'ctr-1' }));
    expect(listing(dataDir, NET)).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    ok(await ours({ command: 'DEL', conf: c, containerId: 'ctr-1' }));
    if (versionGte(version, '0.4.0')) {
      const e = errorOf(await ours({ command: 'CHECK', conf: { ...c, prevResult: res }, containerId: 'ctr-1' }));
      expect(e.msg).toBe('host-local: Failed to find address added by container ctr-1');
    }
  });

  if (version === '1.1.0') {
    it('GC releases the leases of attachments not listed; STATUS answers ready', async () => {
      const c = conf(DUAL);
      for (const id of ['keep', 'drop1', 'drop2']) ok(await ours({ command: 'ADD', conf: c, containerId: id }));
      ok(await ours({ command: 'STATUS', conf: c }));
      ok(await ours({ command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] } }));
      expect(listing(dataDir, NET)).toEqual(['10.77.0.2', 'fd77::2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    });
  } else {
    it('GC and STATUS are refused below 1.1.0', async () => {
      expect(errorOf(await ours({ command: 'GC', conf: conf(DUAL, {}, version) })).code).toBe(1);
      expect(errorOf(await ours({ command: 'STATUS', conf: conf(DUAL, {}, version) })).code).toBe(1);
    });
  }
});

describe('host-local behaviour', () => {
  it('returns routes with every 1.1.0 field and DNS from resolvConf', async () => {
    const resolv = join(dataDir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 10.0.0.53\nsearch a.example b.example\noptions ndots:2\ndomain a.example\n');
    const routes = [{ dst: '0.0.0.0/0' }, { dst: '10.99.0.0/16', gw: '10.77.0.254', mtu: 1400, advmss: 1360, priority: 5, table: 100, scope: 0 }];
    const res = ok(await ours({ command: 'ADD', conf: conf({ subnet: '10.77.0.0/24', routes, resolvConf: resolv }) }));
    expect(res).toEqual({
      cniVersion: '1.1.0',
      ips: [{ address: '10.77.0.2/24', gateway: '10.77.0.1' }],
      routes,
      dns: { nameservers: ['10.0.0.53'], domain: 'a.example', search: ['a.example', 'b.example'], options: ['ndots:2'] },
    });
  });

  it('refuses a second ADD for the same attachment and leaves the first lease alone', async () => {
    const c = conf(DUAL);
    ok(await ours({ command: 'ADD', conf: c, containerId: 'twice' }));
    const e = errorOf(await ours({ command: 'ADD', conf: c, containerId: 'twice' }));
    expect(e.msg).toBe('failed to allocate for range 0: 10.77.0.2 has been allocated to twice, duplicate allocation is not allowed');
    expect(listing(dataDir, NET)).toEqual(['10.77.0.2', 'fd77::2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    // another interface of the same container is another attachment
    ok(await ours({ command: 'ADD', conf: c, containerId: 'twice', ifName: 'eth1' }));
    expect(lease('10.77.0.3')).toBe('twice\r\neth1');
  });

  it('gives requested addresses from CNI_ARGS, args.cni.ips and runtimeConfig.ips', async () => {
    const c = conf(DUAL);
    const r1 = ok(await ours({ command: 'ADD', conf: c, containerId: 'a', cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.77.0.50,fd77::50' }));
    expect(addresses(r1, '1.1.0')).toEqual(['10.77.0.50/24', 'fd77::50/120']);
    const r2 = ok(await ours({ command: 'ADD', conf: { ...c, args: { cni: { ips: ['10.77.0.60/24'] } } }, containerId: 'b' }));
    expect(addresses(r2, '1.1.0')).toEqual(['10.77.0.60/24', 'fd77::51/120']);
    const r3 = ok(await ours({ command: 'ADD', conf: { ...c, runtimeConfig: { ips: ['fd77::70'] } }, containerId: 'c' }));
    expect(addresses(r3, '1.1.0')).toEqual(['10.77.0.61/24', 'fd77::70/120']);
  });

  it('refuses the gateway, a held address (naming the holder) and an unmatched request, changing nothing', async () => {
    const c = conf(DUAL);
    ok(await ours({ command: 'ADD', conf: c, containerId: 'holder', cniArgs: 'IP=10.77.0.9' }));
    const before = listing(dataDir, NET);
    const gw = errorOf(await ours({ command: 'ADD', conf: c, containerId: 'x', cniArgs: 'IP=10.77.0.1' }));
    expect(gw.msg).toBe("failed to allocate for range 0: requested ip 10.77.0.1 is subnet's gateway");
    const held = errorOf(await ours({ command: 'ADD', conf: c, containerId: 'x', cniArgs: 'IP=10.77.0.9' }));
    expect(held.msg).toBe('failed to allocate for range 0: requested IP address 10.77.0.9 is not available in range set 10.77.0.1-10.77.0.254 (reserved by container holder interface eth0)');
    const far = errorOf(await ours({ command: 'ADD', conf: c, containerId: 'x', cniArgs: 'IP=10.78.0.9' }));
    expect(far.msg).toBe('failed to allocate all requested IPs: 10.78.0.9');
    // the refused ADDs left nothing behind
    expect(listing(dataDir, NET)).toEqual(before);
  });

  it('exhausts a /30 after one lease, answers STATUS 50, and recovers after DEL', async () => {
    const c = conf({ ranges: [[{ subnet: '10.79.0.0/30' }]] });
    ok(await ours({ command: 'ADD', conf: c, containerId: 'one' }));
    const e = errorOf(await ours({ command: 'ADD', conf: c, containerId: 'two' }));
    expect(e).toEqual({ code: 999, msg: 'failed to allocate for range 0: no IP addresses available in range set: 10.79.0.1-10.79.0.2' });
    const s = errorOf(await ours({ command: 'STATUS', conf: c }));
    expect(s.code).toBe(50);
    expect(s.msg).toBe('host-local: no IP addresses available in range set: 10.79.0.1-10.79.0.2');
    ok(await ours({ command: 'DEL', conf: c, containerId: 'one' }));
    ok(await ours({ command: 'STATUS', conf: c }));
    expect(addresses(ok(await ours({ command: 'ADD', conf: c, containerId: 'two' })), '1.1.0')).toEqual(['10.79.0.2/30']);
  });

  it('answers STATUS 50 when the data directory cannot be used', async () => {
    writeFileSync(join(dataDir, 'file'), '');
    const s = errorOf(await ours({ command: 'STATUS', conf: conf({ ...DUAL, dataDir: join(dataDir, 'file') }) }));
    expect(s.code).toBe(50);
    expect(s.msg).toContain(`host-local: data directory ${join(dataDir, 'file', NET)} is not usable`);
  });

  it('refuses a bad config with code 7 and touches nothing on disk', async () => {
    for (const ipam of [{ ranges: [[{ subnet: '10.77.0.1/24' }]] }, { ranges: [[{ subnet: '10.77.0.0/24', gateway: '10.78.0.1' }]] }, { subnet: '10.77.0.0/24', ranges: [[{ subnet: '10.77.0.0/16' }]] }, {}]) {
      for (const command of ['ADD', 'DEL', 'GC', 'STATUS'] as const) {
        const e = errorOf(await ours({ command, conf: conf(ipam) }));
        expect(e.code).toBe(7);
      }
    }
    expect(listing(dataDir, NET)).toEqual([]);
  });

  it('GC without an attachment list releases nothing; the older key cni.dev/attachments works', async () => {
    const c = conf(DUAL);
    for (const id of ['a', 'b']) ok(await ours({ command: 'ADD', conf: c, containerId: id }));
    const r = await ours({ command: 'GC', conf: c });
    ok(r);
    expect(r.stderr).toContain('nothing is released');
    expect(listing(dataDir, NET).filter((n) => !onlyBookkeeping([n]))).toHaveLength(4);
    ok(await ours({ command: 'GC', conf: { ...c, 'cni.dev/attachments': [{ containerID: 'b', ifname: 'eth0' }] } }));
    expect(listing(dataDir, NET)).toEqual(['10.77.0.3', 'fd77::3', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    ok(await ours({ command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': [] } }));
    expect(onlyBookkeeping(listing(dataDir, NET))).toBe(true);
  });

  it('gives up waiting for a held lock with code 11 after lockTimeout', async () => {
    const dir = join(dataDir, NET);
    mkdirSync(dir, { recursive: true });
    const held = lockFile(join(dir, 'lock'), 1000, { readOnly: true, mode: 0o750 });
    try {
      const t0 = Date.now();
      const e = errorOf(await ours({ command: 'ADD', conf: conf({ ...DUAL, lockTimeout: 0.5 }), containerId: 'late' }));
      expect(e.code).toBe(11);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
      expect(listing(dataDir, NET)).toEqual(['lock']);
    } finally {
      held.release();
    }
    ok(await ours({ command: 'ADD', conf: conf({ ...DUAL, lockTimeout: 0.5 }), containerId: 'late' }));
  });

  it('100 ADDs at once get 100 distinct addresses; 100 DELs at once leave only the bookkeeping', async () => {
    const c = conf(DUAL);
    const ids = Array.from({ length: 100 }, (_, i) => `burst-${i}`);
    const results = await Promise.all(ids.map((id) => ours({ command: 'ADD', conf: c, containerId: id })));
    const got = results.map((r) => addresses(ok(r), '1.1.0'));
    expect(new Set(got.map((a) => a[0])).size).toBe(100);
    expect(new Set(got.map((a) => a[1])).size).toBe(100);
    const names = listing(dataDir, NET).filter((n) => !onlyBookkeeping([n]));
    expect(names).toHaveLength(200);
    const owners = new Set(names.map((n) => lease(n)));
    expect(owners.size).toBe(100);
    for (const id of ids) expect(owners.has(`${id}\r\neth0`)).toBe(true);
    const dels = await Promise.all(ids.map((id) => ours({ command: 'DEL', conf: c, containerId: id })));
    for (const d of dels) ok(d);
    expect(listing(dataDir, NET)).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
  });
});
