/**
 * The disk store in a temporary directory: the reference's bytes and modes,
 * files the Go plugin (or an older one) wrote, a crash between each step of a
 * reservation, and the bounded lock wait.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../../lib/cni/errors.ts';
import { DiskStore, type ReserveStep, TMP_PREFIX, parseLeaseContent } from '../../../ipam/host-local/disk-store.ts';
import { type IP, formatIp, parseIp } from '../../../lib/ip.ts';
import { ipamAdd, ipamDel, ipamGc } from '../../../ipam/host-local/commands.ts';
import { loadIpamConfig } from '../../../ipam/host-local/config.ts';
import { lockFile } from '../../../lib/lock.ts';

function ip(s: string): IP {
  const v = parseIp(s);
  if (v === undefined) throw new Error(s);
  return v;
}

const A = { containerId: 'ctr-a', ifName: 'eth0' };
const quiet = { warn: (): void => undefined };

let base: string;
let dir: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'hl-disk-'));
  dir = join(base, 'net');
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

function open(onStep?: (s: ReserveStep) => void): DiskStore {
  return DiskStore.open(dir, onStep === undefined ? { lockTimeoutMs: 1000 } : { lockTimeoutMs: 1000, onStep });
}

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('DiskStore format', () => {
  it('writes what the reference writes, byte for byte', async () => {
    const s = open();
    expect(mode(dir) & 0o755).toBe(0o755);
    expect(await s.withLock(() => s.reserve(A, ip('10.1.0.2'), '0'))).toBe(true);
    expect(await s.withLock(() => s.reserve({ containerId: 'ctr-a', ifName: 'eth0' }, ip('fd00::a:2'), '1'))).toBe(true);
    expect(readFileSync(join(dir, '10.1.0.2'))).toEqual(Buffer.from('ctr-a\r\neth0'));
    expect(readFileSync(join(dir, 'fd00::a:2'))).toEqual(Buffer.from('ctr-a\r\neth0'));
    expect(readFileSync(join(dir, 'last_reserved_ip.0'))).toEqual(Buffer.from('10.1.0.2'));
    expect(readFileSync(join(dir, 'last_reserved_ip.1'))).toEqual(Buffer.from('fd00::a:2'));
    expect(readFileSync(join(dir, 'lock'))).toEqual(Buffer.alloc(0));
    expect(mode(join(dir, '10.1.0.2'))).toBe(0o600);
    expect(mode(join(dir, 'last_reserved_ip.0'))).toBe(0o600);
    expect(mode(join(dir, 'lock'))).toBe(0o750); // go-filemutex creates it O_RDONLY|O_CREAT, 0750
    expect(readdirSync(dir).sort()).toEqual(['10.1.0.2', 'fd00::a:2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
  });

  it('refuses a held address without leaving anything behind', async () => {
    const s = open();
    await s.withLock(() => s.reserve(A, ip('10.1.0.2'), '0'));
    expect(await s.withLock(() => s.reserve({ containerId: 'b', ifName: 'eth0' }, ip('10.1.0.2'), '0'))).toBe(false);
    expect(readFileSync(join(dir, '10.1.0.2'), 'utf8')).toBe('ctr-a\r\neth0');
    expect(readdirSync(dir).filter((n) => n.startsWith(TMP_PREFIX))).toEqual([]);
  });

  it('reads leases written by the Go plugin and by versions before the interface was recorded', () => {
    const s = open();
    writeFileSync(join(dir, '10.1.0.5'), 'go-ctr\r\neth1', { mode: 0o644 });
    writeFileSync(join(dir, '10.1.0.6'), 'legacy-ctr\n', { mode: 0o644 });
    writeFileSync(join(dir, '10.1.0.7'), '');
    writeFileSync(join(dir, 'fd00::7'), '  spaced\r\neth0  ');
    writeFileSync(join(dir, 'last_reserved_ip.0'), '10.1.0.5');
    writeFileSync(join(dir, 'lock'), '');
    writeFileSync(join(dir, 'README'), 'not a lease');
    writeFileSync(join(dir, '010.1.0.8'), 'not canonical, not ours');
    const got = s
      .leases()
      .leases.map((l) => [formatIp(l.ip), l.owner.containerId, l.owner.ifName])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(got).toEqual([
      ['10.1.0.5', 'go-ctr', 'eth1'],
      ['10.1.0.6', 'legacy-ctr', undefined],
      ['10.1.0.7', '', undefined],
      ['fd00::7', 'spaced', 'eth0'],
    ]);
    expect(formatIp(s.lastReserved('0')!)).toBe('10.1.0.5');
    expect(s.lastReserved('1')).toBeUndefined();
  });

  it('ignores a cursor it cannot parse', () => {
    const s = open();
    writeFileSync(join(dir, 'last_reserved_ip.0'), '10.1.0.');
    expect(s.lastReserved('0')).toBeUndefined();
  });

  it('parses lease content like the reference compares it', () => {
    expect(parseLeaseContent('a\r\neth0')).toEqual({ containerId: 'a', ifName: 'eth0' });
    expect(parseLeaseContent('a\r\neth0\n')).toEqual({ containerId: 'a', ifName: 'eth0' });
    expect(parseLeaseContent('a')).toEqual({ containerId: 'a', ifName: undefined });
  });

  it('releases a lease, and an absent one quietly; DEL of a missing directory opens nothing', async () => {
    const s = open();
    await s.withLock(() => s.reserve(A, ip('10.1.0.2'), '0'));
    s.release(ip('10.1.0.2'));
    s.release(ip('10.1.0.2'));
    expect(existsSync(join(dir, '10.1.0.2'))).toBe(false);
    expect(DiskStore.openExisting(join(base, 'nope'), { lockTimeoutMs: 1 })).toBeUndefined();
    expect(existsSync(join(base, 'nope'))).toBe(false);
    expect(s.unusableReason()).toBeUndefined();
  });
});

describe('DiskStore crash safety', () => {
  const steps: ReserveStep[] = ['tmp-written', 'tmp-synced', 'linked', 'tmp-removed', 'cursor-written'];

  it.each(steps)('a crash after %s leaves no lease or a complete one, and the next run cleans up', async (crashAt) => {
    class Crash extends Error {}
    const s = open((step) => {
      if (step === crashAt) throw new Crash(step);
    });
    await expect(s.withLock(() => s.reserve(A, ip('10.1.0.2'), '0'))).rejects.toThrow(Crash);

    // what the Go plugin (or our next run) would see right now
    const lease = join(dir, '10.1.0.2');
    const linked = steps.indexOf(crashAt) >= steps.indexOf('linked');
    expect(existsSync(lease)).toBe(linked);
    if (linked) expect(readFileSync(lease, 'utf8')).toBe('ctr-a\r\neth0');

    // the next run: a fresh store, under the lock
    const next = open();
    const leases = await next.withLock(() => next.leases().leases);
    expect(leases.map((l) => formatIp(l.ip))).toEqual(linked ? ['10.1.0.2'] : []);
    expect(readdirSync(dir).filter((n) => n.startsWith(TMP_PREFIX))).toEqual([]);
    // and the address is usable or releasable as usual
    if (linked) await next.withLock(() => next.release(ip('10.1.0.2')));
    expect(await next.withLock(() => next.reserve({ containerId: 'b', ifName: 'eth0' }, ip('10.1.0.2'), '0'))).toBe(true);
  });

  it.each(['tmp-written', 'tmp-synced'] as const)('a crash after %s in prepare (before the lock) leaves no lease, and the next run cleans up', async (crashAt) => {
    class Crash extends Error {}
    const s = open((step) => {
      if (step === crashAt) throw new Crash(step);
    });
    expect(() => s.prepare(A, 2)).toThrow(Crash);
    expect(readdirSync(dir).filter((n) => n.startsWith(TMP_PREFIX))).toHaveLength(1);
    const next = open();
    expect(await next.withLock(() => next.leases().leases)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.startsWith(TMP_PREFIX))).toEqual([]);
  });

  it('prepares content ahead of the lock, reuses it past a taken address, and discards the rest', async () => {
    const s = open();
    await s.withLock(() => s.reserve({ containerId: 'b', ifName: 'eth0' }, ip('10.1.0.2'), '0'));
    s.prepare(A, 2);
    expect(readdirSync(dir).filter((n) => n.startsWith(TMP_PREFIX))).toHaveLength(2);
    await s.withLock(() => {
      // the other temporaries are ours and in use: the sweep leaves them
      s.leases();
      expect(s.reserve(A, ip('10.1.0.2'), '0')).toBe(false);
      expect(s.reserve(A, ip('10.1.0.3'), '0')).toBe(true);
    });
    expect(readdirSync(dir).filter((n) => n.startsWith(TMP_PREFIX))).toHaveLength(1);
    s.discardPrepared();
    expect(readdirSync(dir).sort()).toEqual(['10.1.0.2', '10.1.0.3', 'last_reserved_ip.0', 'lock']);
    expect(readFileSync(join(dir, '10.1.0.3'), 'utf8')).toBe('ctr-a\r\neth0');
  });

  it('sweeps only the temporaries of dead writers, and only under the lock', async () => {
    const s = open();
    const dead = `${TMP_PREFIX}2147483646.abc`;
    const live = `${TMP_PREFIX}1.abc`; // pid 1 is always alive
    writeFileSync(join(dir, dead), 'x\r\neth0');
    writeFileSync(join(dir, live), 'y\r\neth0');
    s.leases();
    expect(existsSync(join(dir, dead))).toBe(true);
    await s.withLock(() => s.leases());
    expect(existsSync(join(dir, dead))).toBe(false);
    expect(existsSync(join(dir, live))).toBe(true);
  });

  it('an empty lease left by a crashed reference plugin belongs to nobody: DEL leaves it, GC collects it', async () => {
    const s = open();
    writeFileSync(join(dir, '10.1.0.3'), '');
    const c = loadIpamConfig({ cniVersion: '1.1.0', name: 'net', type: 'host-local', ipam: { subnet: '10.1.0.0/24', dataDir: base } }, '');
    await ipamDel(c, s, A, quiet);
    expect(existsSync(join(dir, '10.1.0.3'))).toBe(true);
    await ipamGc(c, s, [A], quiet);
    expect(existsSync(join(dir, '10.1.0.3'))).toBe(false);
  });
});

describe('DiskStore lock', () => {
  it('gives up after the bound with code 11 instead of waiting forever', async () => {
    DiskStore.open(dir, { lockTimeoutMs: 1000 });
    const waiter = DiskStore.open(dir, { lockTimeoutMs: 300 });
    const c = loadIpamConfig({ cniVersion: '1.1.0', name: 'net', type: 'host-local', ipam: { subnet: '10.1.0.0/24', dataDir: base } }, '');
    let caught: unknown;
    let elapsed = 0;
    // another holder of the same flock (another open file description, as another process has)
    const held = lockFile(join(dir, 'lock'), 0, { readOnly: true, mode: 0o750 });
    const t0 = Date.now();
    try {
      await ipamAdd(c, waiter, A);
    } catch (err) {
      caught = err;
    } finally {
      elapsed = Date.now() - t0;
      held.release();
    }
    expect(caught).toBeInstanceOf(CniError);
    expect((caught as CniError).code).toBe(11);
    expect((caught as CniError).msg).toContain(join(dir, 'lock'));
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(existsSync(join(dir, '10.1.0.2'))).toBe(false);
    // once the holder is done the same call goes through
    expect(await ipamAdd(c, waiter, A)).toEqual([{ address: '10.1.0.2/24', gateway: '10.1.0.1' }]);
  });
});
