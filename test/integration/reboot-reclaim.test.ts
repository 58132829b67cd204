/**
 * Leases and flannel's saved configs of an earlier boot are reclaimed. A
 * reboot is simulated: the plugin runs in a private mount namespace
 * (`unshare -m`) where /proc/sys/kernel/random/boot_id and /proc/uptime are
 * bind-mounted files of the test's (another boot id; a boot one minute old),
 * and the files "of the earlier boot" are given an mtime before that.
 */
import { utimesSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BIN_DIR, GO_CNI_DIR, type RunResult, cniEnv, runExe } from '../helpers/exec.ts';
import { NetnsEnv, type TestNetns } from '../helpers/netns.ts';
import { removeAfterEach } from '../helpers/hooks.ts';

const NET = 'cpboot';
let env: NetnsEnv;
let dir: string;
let pod: TestNetns;

beforeEach(() => {
  env = new NetnsEnv();
  dir = mkdtempSync(join(tmpdir(), 'cp-boot-'));
  pod = env.netns();
  writeFileSync(join(dir, 'boot_id'), '00000000-1111-2222-3333-444444444444\n');
  writeFileSync(join(dir, 'uptime'), '60.00 100.00\n');
});
removeAfterEach(() => ({ env, dir }));

function ipamConf(extra: Record<string, unknown> = {}, cniVersion = '1.0.0'): string {
  return JSON.stringify({
    cniVersion,
    name: NET,
    type: 'host-local',
    ipam: { type: 'host-local', dataDir: join(dir, 'networks'), ranges: [[{ subnet: '10.99.0.0/24', rangeStart: '10.99.0.10', rangeEnd: '10.99.0.11' }]], ...extra },
  });
}

/** Runs a plugin, in this boot or (`rebooted`) in one that began a minute ago with another boot id. */
function run(plugin: string, command: string, stdin: string, containerId: string, rebooted: boolean): Promise<RunResult> {
  const attach = command !== 'STATUS' && command !== 'GC';
  const vars = cniEnv({ CNI_COMMAND: command, CNI_CONTAINERID: attach ? containerId : undefined, CNI_IFNAME: attach ? 'eth0' : undefined, CNI_NETNS: attach ? pod.path : undefined, CNI_PATH: BIN_DIR });
  if (!rebooted) return runExe(plugin, { env: vars, stdin });
  const script = 'mount --bind "$0" /proc/sys/kernel/random/boot_id && mount --bind "$1" /proc/uptime && exec "$2"';
  return runExe('unshare', { args: ['-m', '--propagation', 'private', 'sh', '-c', script, join(dir, 'boot_id'), join(dir, 'uptime'), plugin], env: vars, stdin });
}
const hostLocal = (command: string, cid: string, rebooted = false, extra: Record<string, unknown> = {}) => run(join(BIN_DIR, 'host-local'), command, ipamConf(extra), cid, rebooted);

const netDir = () => join(dir, 'networks', NET);
const leases = () => readdirSync(netDir()).filter((n) => /^\d/.test(n)).sort();

/** Gives every lease (or saved file) an mtime of an hour ago: made before the simulated boot. */
function age(d: string, names: readonly string[]): void {
  const t = (Date.now() - 3600_000) / 1000;
  for (const n of names) utimesSync(join(d, n), t, t);
}

describe('host-local', () => {
  it('a full range accepts an ADD after a reboot; within one boot nothing is reclaimed, however old', async () => {
    for (const c of ['a', 'b']) expect((await hostLocal('ADD', c)).code).toBe(0);
    expect(leases()).toEqual(['10.99.0.10', '10.99.0.11']);
    age(netDir(), leases());
    const sameBoot = await hostLocal('ADD', 'c');
    expect(sameBoot.code).toBe(1);
    expect(sameBoot.json).toMatchObject({ msg: expect.stringContaining('no IP addresses available in range set') as unknown });
    expect(leases()).toEqual(['10.99.0.10', '10.99.0.11']);

    // STATUS (a readiness probe, unlocked) already counts the earlier boot's leases as free: not-ready would stop any ADD coming
    const status = (rebooted: boolean) => run(join(BIN_DIR, 'host-local'), 'STATUS', ipamConf({}, '1.1.0'), '', rebooted);
    expect((await status(false)).json).toMatchObject({ code: 50 });
    const ready = await status(true);
    expect(ready.code, ready.stdout).toBe(0);
    expect(leases()).toEqual(['10.99.0.10', '10.99.0.11']);

    const after = await hostLocal('ADD', 'c', true);
    expect(after.code, after.stdout).toBe(0);
    expect(leases()).toHaveLength(1);
    expect(readFileSync(join(netDir(), leases()[0]!), 'utf8')).toBe('c\r\neth0');
    expect(readFileSync(join(netDir(), '.cni-ts-boot-id'), 'utf8').trim()).toBe('00000000-1111-2222-3333-444444444444');
  });

  it('with reclaimEarlierBoots false the full range stays full', async () => {
    for (const c of ['a', 'b']) expect((await hostLocal('ADD', c, false, { reclaimEarlierBoots: false })).code).toBe(0);
    age(netDir(), leases());
    const r = await hostLocal('ADD', 'c', true, { reclaimEarlierBoots: false });
    expect(r.code).toBe(1);
    expect(leases()).toEqual(['10.99.0.10', '10.99.0.11']);
  });

  it("a lease the Go host-local wrote in the new boot, before our first ADD of it, stays; the earlier boot's go", async () => {
    expect((await hostLocal('ADD', 'a')).code).toBe(0);
    age(netDir(), leases());
    // the "reboot": the Go host-local runs first in the new boot
    const go = await run(join(GO_CNI_DIR, 'host-local'), 'ADD', ipamConf(), 'go1', true);
    expect(go.code, go.stdout).toBe(0);
    expect(leases()).toEqual(['10.99.0.10', '10.99.0.11']);
    const ours = await hostLocal('ADD', 'c', true);
    expect(ours.code, ours.stdout).toBe(0);
    expect(ours.json).toMatchObject({ ips: [{ address: '10.99.0.10/24' }] });
    expect(readFileSync(join(netDir(), '10.99.0.11'), 'utf8')).toBe('go1\r\neth0');
    // and the Go host-local still reads the directory: it releases its own lease
    expect((await run(join(GO_CNI_DIR, 'host-local'), 'DEL', ipamConf(), 'go1', true)).code).toBe(0);
    expect(leases()).toEqual(['10.99.0.10']);
  });
});

describe('flannel', () => {
  it("removes the saved configs of an earlier boot at the first ADD of a boot, not those of this one", async () => {
    const subnet = join(dir, 'subnet.env');
    writeFileSync(subnet, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    const data = join(dir, 'flannel');
    mkdirSync(data);
    const saved = '{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","ipam":{}}';
    for (const n of ['old1', 'old2:net1', 'fresh']) writeFileSync(join(data, n), saved);
    age(data, ['old1', 'old2:net1']);
    // the directory was last swept in this boot
    writeFileSync(join(data, '.cni-ts-boot-id'), readFileSync('/proc/sys/kernel/random/boot_id'));
    // a delegate that cannot run: the ADD fails, but the sweep has happened by then
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', type: 'flannel', subnetFile: subnet, dataDir: data, delegate: { type: 'cp-absent' } });
    const sameBoot = await run(join(BIN_DIR, 'flannel'), 'ADD', conf, 'x', false);
    expect(sameBoot.code).toBe(1);
    expect(readdirSync(data).filter((n) => !n.startsWith('.')).sort()).toEqual(['fresh', 'old1', 'old2:net1']);
    await run(join(BIN_DIR, 'flannel'), 'ADD', conf, 'x', true);
    expect(readdirSync(data).filter((n) => !n.startsWith('.')).sort()).toEqual(['fresh']);
  });
});
