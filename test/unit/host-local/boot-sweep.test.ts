/**
 * The earlier-boot sweep (lib/boot.ts) on real directories: host-local's
 * DiskStore under its lock, and flannel's ConfStore. The current boot id and
 * uptime are the machine's; "an earlier boot" is a marker naming another boot
 * and files dated before this boot began. (The simulated reboot, with another
 * boot id bind-mounted, is test/integration/reboot-reclaim.test.ts.)
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BOOT_MARKER, earlierBootSweep } from '../../../lib/boot.ts';
import { DiskStore } from '../../../ipam/host-local/disk-store.ts';
import { ConfStore } from '../../../plugins/flannel/store.ts';

const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
/** A time before this boot began (seconds since the epoch, for utimes). */
const beforeBoot = (Date.now() - uptimeS * 1000 - 3600_000) / 1000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cp-boot-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function files(d: string, names: Record<string, string>, old: readonly string[]): void {
  mkdirSync(d, { recursive: true });
  for (const [n, content] of Object.entries(names)) writeFileSync(join(d, n), content);
  for (const n of old) utimesSync(join(d, n), beforeBoot, beforeBoot);
}

describe('earlierBootSweep', () => {
  it('nothing to do while the marker names this boot; else the boot id and a start in the past', () => {
    writeFileSync(join(dir, BOOT_MARKER), `${BOOT_ID}\n`);
    expect(earlierBootSweep(dir)).toBeUndefined();
    writeFileSync(join(dir, BOOT_MARKER), 'another-boot\n');
    const b = earlierBootSweep(dir);
    expect(b?.bootId).toBe(BOOT_ID);
    expect(b?.bootStartMs).toBeLessThan(Date.now());
    rmSync(join(dir, BOOT_MARKER));
    expect(earlierBootSweep(dir)?.bootId).toBe(BOOT_ID);
  });
});

describe('host-local DiskStore', () => {
  const leaseFiles = { '10.1.0.2': 'a\r\neth0', '10.1.0.3': 'b\r\neth0', 'last_reserved_ip.0': '10.1.0.3', lock: '' };

  it('the first locked call after a boot frees the leases older than the boot, keeps newer ones, records the boot', async () => {
    files(dir, leaseFiles, ['10.1.0.2', 'last_reserved_ip.0']);
    writeFileSync(join(dir, BOOT_MARKER), 'another-boot\n');
    const st = DiskStore.open(dir, { lockTimeoutMs: 1000, reclaimEarlierBoots: true });
    const held = await st.withLock(() => st.leases().leases.map((l) => l.owner.containerId));
    expect(held).toEqual(['b']);
    expect(readdirSync(dir).sort()).toEqual([BOOT_MARKER, '10.1.0.3', 'last_reserved_ip.0', 'lock']);
    expect(readFileSync(join(dir, BOOT_MARKER), 'utf8').trim()).toBe(BOOT_ID);
  });

  it('an unlocked listing (STATUS) before the first locked call of a boot counts the earlier boot\'s leases as free, removing nothing', () => {
    files(dir, leaseFiles, ['10.1.0.2']);
    writeFileSync(join(dir, BOOT_MARKER), 'another-boot\n');
    const st = DiskStore.open(dir, { lockTimeoutMs: 1000, reclaimEarlierBoots: true });
    expect(st.leases().leases.map((l) => l.owner.containerId)).toEqual(['b']);
    expect(readdirSync(dir)).toContain('10.1.0.2');
    const off = DiskStore.open(dir, { lockTimeoutMs: 1000, reclaimEarlierBoots: false });
    expect(off.leases().leases).toHaveLength(2);
  });

  it('within the boot (marker current) and with the key off, nothing is freed however old', async () => {
    files(dir, leaseFiles, ['10.1.0.2', '10.1.0.3']);
    writeFileSync(join(dir, BOOT_MARKER), `${BOOT_ID}\n`);
    const on = DiskStore.open(dir, { lockTimeoutMs: 1000, reclaimEarlierBoots: true });
    expect(await on.withLock(() => on.leases().leases)).toHaveLength(2);
    writeFileSync(join(dir, BOOT_MARKER), 'another-boot\n');
    const off = DiskStore.open(dir, { lockTimeoutMs: 1000, reclaimEarlierBoots: false });
    expect(await off.withLock(() => off.leases().leases)).toHaveLength(2);
    expect(readFileSync(join(dir, BOOT_MARKER), 'utf8')).toBe('another-boot\n');
  });
});

describe('flannel ConfStore', () => {
  it('removes saved configs older than the boot (ours, keyed, and the Go flannel\'s), keeps newer ones and temporaries', () => {
    const saved = '{"name":"cbr0","type":"bridge"}';
    files(dir, { c1: saved, 'c2:net1': saved, c3: saved, '.tmp-1-ab': '{' }, ['c1', 'c2:net1', '.tmp-1-ab']);
    writeFileSync(join(dir, BOOT_MARKER), 'another-boot\n');
    new ConfStore(dir).sweepEarlierBoot();
    expect(readdirSync(dir).sort()).toEqual(['.cni-ts-boot-id', '.tmp-1-ab', 'c3']);
    expect(readFileSync(join(dir, BOOT_MARKER), 'utf8').trim()).toBe(BOOT_ID);
  });

  it('does nothing without a directory, or within the boot', () => {
    new ConfStore(join(dir, 'none')).sweepEarlierBoot();
    files(dir, { c1: '{}' }, ['c1']);
    writeFileSync(join(dir, BOOT_MARKER), `${BOOT_ID}\n`);
    new ConfStore(dir).sweepEarlierBoot();
    expect(readdirSync(dir).sort()).toEqual(['.cni-ts-boot-id', 'c1']);
  });
});
