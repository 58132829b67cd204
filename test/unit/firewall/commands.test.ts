/**
 * The firewall commands against an in-memory iptables (a fake runner that
 * understands `-S` and restore batches): ADD's record and rules and its
 * rollback, DEL with and without prevResult, addresses another record holds,
 * CHECK, GC by cni.dev/valid-attachments, firewalld refused, STATUS.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { CniError } from '../../../lib/cni/errors.ts';
import type { CmdArgs } from '../../../lib/cni/skel.ts';
import { quoteRestoreArg, splitRuleLine } from '../../../lib/iptables/index.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from '../../../plugins/firewall/commands.ts';
import type { FirewallDeps } from '../../../plugins/firewall/deps.ts';
import type { Firewalld } from '../../../plugins/firewall/firewalld.ts';
import { DBusError } from '../../../lib/dbus/index.ts';
import type { CommandRunner } from '../../../plugins/firewall/exec.ts';
import { FilterTable } from '../../../plugins/firewall/iptables.ts';
import { Records } from '../../../plugins/firewall/records.ts';

const BUILTIN = ['INPUT', 'FORWARD', 'OUTPUT'];

/** The filter table of both families in memory, changed by restore batches all or nothing. */
class FakeIptables {
  readonly tables = { 4: new Map<string, string[][]>(), 6: new Map<string, string[][]>() };
  failRestore: { 4: boolean; 6: boolean } = { 4: false, 6: false };
  missing6 = false;
  restores = 0;

  constructor() {
    for (const t of Object.values(this.tables)) for (const c of BUILTIN) t.set(c, []);
  }

  dump(f: 4 | 6): string[] {
    const out: string[] = [];
    for (const [chain, rules] of this.tables[f]) {
      out.push(BUILTIN.includes(chain) ? `-P ${chain} ACCEPT` : `-N ${chain}`);
      for (const r of rules) out.push(['-A', chain, ...r].map(quoteRestoreArg).join(' '));
    }
    return out;
  }

  podRules(f: 4 | 6): string[][] {
    return (this.tables[f].get('CNI-FORWARD') ?? []).filter((r) => r[0] === '-d' || r[0] === '-s');
  }

  private apply(f: 4 | 6, input: string): string | undefined {
    const copy = new Map([...this.tables[f]].map(([k, v]) => [k, v.map((r) => [...r])]));
    for (const line of input.split('\n')) {
      if (line === '' || line === '*filter' || line === 'COMMIT') continue;
      const a = splitRuleLine(line);
      const [op, chain] = [a[0], a[1]!];
      const rules = copy.get(chain);
      if (op === '-N') {
        if (rules !== undefined) return `chain ${chain} exists`;
        copy.set(chain, []);
        continue;
      }
      if (rules === undefined) return `no chain ${chain}`;
      const jump = a[a.length - 1]!;
      if ((op === '-A' || op === '-I') && a[a.length - 2] === '-j' && !['ACCEPT', 'DROP', 'RETURN'].includes(jump) && !copy.has(jump)) return `no target ${jump}`;
      if (op === '-A') rules.push(a.slice(2));
      else if (op === '-I') rules.unshift(a.slice(3));
      else if (op === '-D') {
        const i = rules.findIndex((r) => r.join('\0') === a.slice(2).join('\0'));
        if (i < 0) return 'Bad rule (does a matching rule exist in that chain?)';
        rules.splice(i, 1);
      } else return `unknown ${op}`;
    }
    this.tables[f] = copy;
    return undefined;
  }

  readonly run: CommandRunner = (cmd, args, input) => {
    const f = cmd.startsWith('ip6') ? 6 : 4;
    if (f === 6 && this.missing6) return Promise.reject(new Error(`cannot run ${cmd}: ENOENT`));
    if (cmd.endsWith('-restore')) {
      this.restores++;
      const err = this.failRestore[f] ? 'injected failure' : this.apply(f, input ?? '');
      return Promise.resolve({ code: err === undefined ? 0 : 1, stdout: '', stderr: err ?? '' });
    }
    if (args.includes('-S')) return Promise.resolve({ code: 0, stdout: `${this.dump(f).join('\n')}\n`, stderr: '' });
    return Promise.resolve({ code: 2, stdout: '', stderr: 'unexpected' });
  };
}

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/p' }],
  ips: [
    { address: '10.88.0.5/24', interface: 1 },
    { address: 'fd00::5/64', interface: 1 },
  ],
};

let dir: string;
let ipt: FakeIptables;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-unit-'));
  ipt = new FakeIptables();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A firewalld that keeps zone → sources and answers as the real one (ZONE_ALREADY_SET, UNKNOWN_SOURCE). */
class FakeFirewalld implements Firewalld {
  readonly zones = new Map<string, Set<string>>();
  closed = 0;
  failAdd: string | undefined;
  private zone(z: string): Set<string> {
    const s = this.zones.get(z) ?? new Set<string>();
    this.zones.set(z, s);
    return s;
  }
  addSource(zone: string, source: string): Promise<void> {
    if (source === this.failAdd) return Promise.reject(new DBusError('org.fedoraproject.FirewallD1.Exception', 'INVALID_ADDR'));
    if (this.zone(zone).has(source)) return Promise.reject(new DBusError('org.fedoraproject.FirewallD1.Exception', `ZONE_ALREADY_SET: ${source}`));
    this.zone(zone).add(source);
    return Promise.resolve();
  }
  removeSource(zone: string, source: string): Promise<void> {
    return this.zone(zone).delete(source) ? Promise.resolve() : Promise.reject(new DBusError('org.fedoraproject.FirewallD1.Exception', 'UNKNOWN_SOURCE'));
  }
  querySource(zone: string, source: string): Promise<boolean> {
    return Promise.resolve(this.zone(zone).has(source));
  }
  close(): void {
    this.closed++;
  }
}

/** Without `fw`, firewalld is not running (no owner of its bus name). */
function deps(fw?: FakeFirewalld): FirewallDeps {
  return {
    table: new FilterTable(ipt.run),
    records: (d) => new Records(d),
    lock: () => ({ path: '', release: () => undefined }),
    firewalld: () => (fw === undefined ? Promise.reject(new Error('firewalld is not running: no owner of org.fedoraproject.FirewallD1')) : Promise.resolve(fw)),
  };
}

/** `prev` null: no prevResult. */
function args(extra: Record<string, unknown> = {}, containerId = 'ctr1', prev: unknown = PREV): CmdArgs & { warnings: string[] } {
  const conf: NetConf = { cniVersion: '1.0.0', name: 'fwnet', type: 'firewall', dataDir: dir, ...(prev === null ? {} : { prevResult: prev }), ...extra };
  const warnings: string[] = [];
  return { command: 'ADD', containerId, netns: '/run/netns/p', ifName: 'eth0', args: '', path: [], stdinData: Buffer.from(JSON.stringify(conf)), conf, env: {}, log: { warn: (m: string) => warnings.push(m) }, warnings } as unknown as CmdArgs & { warnings: string[] };
}

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof CniError ? err.code : -1;
  }
  return undefined;
}

const prevWith = (v4: string, v6?: string): unknown => ({
  ...PREV,
  ips: [{ address: `${v4}/24`, interface: 1 }, ...(v6 === undefined ? [] : [{ address: `${v6}/64`, interface: 1 }])],
});

describe('ADD', () => {
  it('adds the rules of both families, writes the record, returns prevResult, is idempotent', async () => {
    const r = await cmdAdd(args(), deps());
    expect(r.ips?.map((i) => i.address)).toEqual(['10.88.0.5/24', 'fd00::5/64']);
    expect(ipt.podRules(4)).toEqual([['-d', '10.88.0.5/32', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'], ['-s', '10.88.0.5/32', '-j', 'ACCEPT']]);
    expect(ipt.podRules(6).map((x) => x[1])).toEqual(['fd00::5/128', 'fd00::5/128']);
    expect(new Records(dir).all()).toEqual([{ network: 'fwnet', containerId: 'ctr1', ifName: 'eth0', addresses: [{ family: 4, cidr: '10.88.0.5/32' }, { family: 6, cidr: 'fd00::5/128' }] }]);
    const before = ipt.dump(4).join('\n');
    await cmdAdd(args(), deps());
    expect(ipt.dump(4).join('\n')).toBe(before);
  });

  it('touches only the families the pod has', async () => {
    await cmdAdd(args({}, 'ctr1', prevWith('10.88.0.7')), deps());
    expect(ipt.tables[6].has('CNI-FORWARD')).toBe(false);
  });

  it('needs prevResult (code 7)', async () => {
    expect(await codeOf(cmdAdd(args({}, 'ctr1', null), deps()))).toBe(7);
  });

  it('rolls back the IPv4 rules and the record when IPv6 fails', async () => {
    ipt.failRestore[6] = true;
    expect(await codeOf(cmdAdd(args(), deps()))).toBe(999);
    expect(ipt.podRules(4)).toEqual([]);
    expect(ipt.tables[4].get('FORWARD')).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failed re-ADD keeps the rules the first ADD made', async () => {
    await cmdAdd(args(), deps());
    ipt.failRestore[6] = true;
    const p = prevWith('10.88.0.5', 'fd00::9');
    expect(await codeOf(cmdAdd(args({}, 'ctr1', p), deps()))).toBe(999);
    expect(ipt.podRules(4)).toHaveLength(2);
    expect(new Records(dir).all()[0]!.addresses).toHaveLength(2);
  });

  it('backend firewalld without firewalld: code 50 naming the daemon, nothing added', async () => {
    const e = await cmdAdd(args({ backend: 'firewalld' }), deps()).catch((err: unknown) => err as CniError);
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(50);
    expect((e as CniError).msg).toMatch(/firewalld is not running/);
    expect(ipt.restores).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('firewalld (configured, or running without a backend): the addresses go into the zone, no iptables rule', async () => {
    const fw = new FakeFirewalld();
    await cmdAdd(args(), deps(fw));
    expect([...fw.zones.get('trusted')!]).toEqual(['10.88.0.5/32', 'fd00::5/128']);
    expect(ipt.restores).toBe(0);
    expect(fw.closed).toBe(1);
    // again: ZONE_ALREADY_SET is fine
    await cmdAdd(args({ backend: 'firewalld', firewalldZone: 'trusted' }), deps(fw));
    await cmdCheck(args(), deps(fw));
    fw.zones.get('trusted')!.delete('fd00::5/128');
    const e = await cmdCheck(args(), deps(fw)).catch((err: unknown) => err as CniError);
    expect((e as CniError).details).toMatch(/fd00::5\/128 is not in trusted zone/);
    // DEL without prevResult: the record names the addresses
    await cmdDel(args({}, 'ctr1', null), deps(fw));
    expect([...fw.zones.get('trusted')!]).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    // explicit iptables never asks firewalld
    await cmdAdd(args({ backend: 'iptables' }), deps(fw));
    expect(ipt.podRules(4)).toHaveLength(2);
    expect([...fw.zones.get('trusted')!]).toEqual([]);
  });

  it('firewalld: a refused address rolls back the ones added and the record; the ingress policy still uses iptables', async () => {
    const fw = new FakeFirewalld();
    fw.failAdd = 'fd00::5/128';
    expect(await codeOf(cmdAdd(args({ firewalldZone: 'internal' }), deps(fw)))).toBe(999);
    expect([...(fw.zones.get('internal') ?? [])]).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    fw.failAdd = undefined;
    await cmdAdd(args({ ingressPolicy: 'same-bridge' }), deps(fw));
    expect(ipt.tables[4].get('CNI-ISOLATION-STAGE-1')).toHaveLength(2);
    expect(ipt.podRules(4)).toEqual([]);
    await cmdCheck(args({ ingressPolicy: 'same-bridge' }), deps(fw));
  });

  it('ingress policy: needs a bridge name, refuses an unsafe one, adds the isolation chains', async () => {
    expect(await codeOf(cmdAdd(args({ ingressPolicy: 'same-bridge' }, 'ctr1', { ...PREV, interfaces: [] }), deps()))).toBe(7);
    const bad = { ...PREV, interfaces: [{ name: 'br"x' }, PREV.interfaces[1]] };
    expect(await codeOf(cmdAdd(args({ ingressPolicy: 'same-bridge' }, 'ctr1', bad), deps()))).toBe(7);
    expect(ipt.restores).toBe(0);
    await cmdAdd(args({ ingressPolicy: 'isolated' }), deps());
    for (const f of [4, 6] as const) {
      expect(ipt.tables[f].get('CNI-ISOLATION-STAGE-1')).toHaveLength(3);
      expect(ipt.tables[f].get('FORWARD')!.map((r) => r[r.length - 1])).toEqual(['CNI-ISOLATION-STAGE-1', 'CNI-FORWARD']);
    }
    await cmdCheck(args({ ingressPolicy: 'isolated' }), deps());
  });
});

describe('DEL', () => {
  it('with prevResult, removes the pod rules and the record, keeps the shared jumps; again succeeds', async () => {
    await cmdAdd(args(), deps());
    await cmdDel(args(), deps());
    expect(ipt.podRules(4)).toEqual([]);
    expect(ipt.podRules(6)).toEqual([]);
    expect(ipt.tables[4].get('FORWARD')).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
    await cmdDel(args(), deps());
  });

  it('without prevResult, finds the addresses in the record (the reference removes nothing)', async () => {
    await cmdAdd(args(), deps());
    await cmdAdd(args({}, 'ctr2', prevWith('10.88.0.6', 'fd00::6')), deps());
    await cmdDel(args({}, 'ctr1', null), deps());
    expect(ipt.podRules(4).map((r) => r[1])).toEqual(['10.88.0.6/32', '10.88.0.6/32']);
    expect(ipt.podRules(6).map((r) => r[1])).toEqual(['fd00::6/128', 'fd00::6/128']);
    expect(new Records(dir).all().map((r) => r.containerId)).toEqual(['ctr2']);
  });

  it('keeps rules of an address another attachment holds; a newer ADD takes an address over', async () => {
    await cmdAdd(args({}, 'old', prevWith('10.88.0.5', 'fd00::5')), deps());
    await cmdAdd(args({}, 'new', prevWith('10.88.0.5')), deps());
    expect(new Records(dir).all().find((r) => r.containerId === 'old')!.addresses).toEqual([{ family: 6, cidr: 'fd00::5/128' }]);
    await cmdDel(args({}, 'old', prevWith('10.88.0.5', 'fd00::5')), deps());
    expect(ipt.podRules(4)).toHaveLength(2);
    expect(ipt.podRules(6)).toHaveLength(0);
    await cmdAdd(args({}, 'other', prevWith('10.88.0.7')), deps());
    await cmdAdd(args({}, 'last', prevWith('10.88.0.7')), deps());
    expect(new Records(dir).all().map((r) => r.containerId).sort()).toEqual(['last', 'new']);
    await cmdDel(args({}, 'new', null), deps());
    expect(ipt.podRules(4).map((r) => r[1])).toEqual(['10.88.0.7/32', '10.88.0.7/32']);
  });

  it('without ip6tables still removes IPv4; firewalld and bad config values do not block it', async () => {
    await cmdAdd(args({}, 'ctr1', prevWith('10.88.0.5')), deps());
    ipt.missing6 = true;
    await cmdDel(args({ backend: 'nonsense', iptablesAdminChainName: 'x y' }), deps());
    expect(ipt.podRules(4)).toEqual([]);
    await cmdDel(args({ backend: 'firewalld' }), deps());
    await cmdGc(args({ backend: 'firewalld', 'cni.dev/valid-attachments': [] }, '', null), deps());
  });

  it('fails with 999 and keeps the record when a restore fails', async () => {
    await cmdAdd(args(), deps());
    ipt.failRestore[4] = true;
    expect(await codeOf(cmdDel(args({}, 'ctr1', null), deps()))).toBe(999);
    expect(readdirSync(dir)).toHaveLength(1);
    ipt.failRestore[4] = false;
    await cmdDel(args({}, 'ctr1', null), deps());
    expect(ipt.podRules(4)).toEqual([]);
  });
});

describe('CHECK', () => {
  it('passes after ADD, fails (999) naming a rule removed by hand, needs prevResult', async () => {
    await cmdAdd(args(), deps());
    await cmdCheck(args(), deps());
    ipt.tables[6].get('CNI-FORWARD')!.pop();
    const e = await cmdCheck(args(), deps()).catch((err: unknown) => err as CniError);
    expect((e as CniError).code).toBe(999);
    expect((e as CniError).details).toMatch(/ip6tables: expected rule \[-s fd00::5\/128 -j ACCEPT\] not found/);
    expect(await codeOf(cmdCheck(args({}, 'ctr1', null), deps()))).toBe(7);
  });
});

describe('GC', () => {
  it('removes the rules and records of attachments of this network not listed, nothing else', async () => {
    await cmdAdd(args({}, 'keep', prevWith('10.88.0.2')), deps());
    await cmdAdd(args({}, 'gone', prevWith('10.88.0.3', 'fd00::3')), deps());
    await cmdAdd(args({ name: 'othernet' }, 'other', prevWith('10.99.0.3')), deps());
    const a = args({ 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }, '', null);
    await cmdGc(a, deps());
    expect(ipt.podRules(4).map((r) => r[1])).toEqual(['10.88.0.2/32', '10.88.0.2/32', '10.99.0.3/32', '10.99.0.3/32']);
    expect(ipt.podRules(6)).toEqual([]);
    expect(new Records(dir).all().map((r) => r.containerId).sort()).toEqual(['keep', 'other']);
  });

  it('without an attachment list removes nothing and says so', async () => {
    await cmdAdd(args(), deps());
    const a = args({}, '', null);
    await cmdGc(a, deps());
    expect(ipt.podRules(4)).toHaveLength(2);
    expect(a.warnings.join()).toMatch(/valid-attachments/);
  });
});

describe('STATUS', () => {
  it('passes with iptables or a running firewalld, 50 without them', async () => {
    await cmdStatus(args(), deps());
    expect(await codeOf(cmdStatus(args({ backend: 'firewalld' }), deps()))).toBe(50);
    await cmdStatus(args({ backend: 'firewalld' }), deps(new FakeFirewalld()));
    const broken: FirewallDeps = { ...deps(), table: new FilterTable(() => Promise.reject(new Error('cannot run iptables: ENOENT'))) };
    expect(await codeOf(cmdStatus(args(), broken))).toBe(50);
    await cmdStatus(args(), { ...broken, firewalld: () => Promise.resolve(new FakeFirewalld()) });
  });
});
