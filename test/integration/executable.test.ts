/**
 * The built single-file executable answers the CNI protocol through each of
 * its links exactly as the reference plugins do, loads its native code without
 * HOME or a writable /tmp, ignores NODE_OPTIONS, and survives 50 cold starts at once.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN_DIR, binPath, cniEnv, runExe } from '../helpers/exec.ts';

const LINKS = ['flannel', 'bridge', 'host-local', 'portmap', 'loopback', 'bandwidth'] as const;
const VERSION_OUT = '{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n';
const FULL = { CNI_CONTAINERID: 'ctr-1', CNI_NETNS: '/var/run/netns/nope', CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR };

function conf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: '1.0.0', name: 'testnet', type: 'bridge', ...extra });
}

describe.each(LINKS)('dist/bin/%s', (link) => {
  const path = binPath(link);

  it('answers VERSION exactly as the reference, ignoring stdin', async () => {
    const r = await runExe(path, { env: cniEnv({ CNI_COMMAND: 'VERSION' }), stdin: 'not json' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(VERSION_OUT);
  });

  it('prints the about text on stderr and exits 0 without CNI_COMMAND', async () => {
    const r = await runExe(path, { env: cniEnv({}) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`CNI plugin ${link}`);
    expect(r.stderr).toContain('CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  });

  it.each([
    ['all missing variables in one code-4 error', { CNI_COMMAND: 'ADD' }, conf(), 4, 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing'],
    ['DEL does not need CNI_NETNS', { CNI_COMMAND: 'DEL', CNI_PATH: BIN_DIR }, conf(), 4, 'required env variables [CNI_CONTAINERID,CNI_IFNAME] missing'],
    ['an unknown command', { ...FULL, CNI_COMMAND: 'FROB' }, conf(), 4, 'unknown CNI_COMMAND: FROB'],
    ['a bad container id', { ...FULL, CNI_COMMAND: 'ADD', CNI_CONTAINERID: '-bad!' }, conf(), 4, 'invalid characters in containerID'],
    ['an interface name over 15 bytes', { ...FULL, CNI_COMMAND: 'ADD', CNI_IFNAME: 'a23456789012345x' }, conf(), 4, 'interface name is too long'],
    ['an interface name with a slash', { ...FULL, CNI_COMMAND: 'ADD', CNI_IFNAME: 'a/b' }, conf(), 4, 'interface name contains / or : or whitespace characters'],
    ['stdin that is not JSON', { ...FULL, CNI_COMMAND: 'ADD' }, '{nope', 6, 'error unmarshall network config'],
    ['a config without a name', { ...FULL, CNI_COMMAND: 'ADD' }, JSON.stringify({ cniVersion: '1.0.0', type: 'x' }), 7, 'missing network name'],
    ['a network name with bad characters', { ...FULL, CNI_COMMAND: 'ADD' }, conf({ name: 'bad name' }), 7, 'invalid characters found in network name'],
    ['an unsupported version', { ...FULL, CNI_COMMAND: 'ADD' }, conf({ cniVersion: '9.9.9' }), 1, 'incompatible CNI versions'],
    ['CHECK below 0.4.0', { ...FULL, CNI_COMMAND: 'CHECK' }, conf({ cniVersion: '0.3.1' }), 1, 'config version does not allow CHECK'],
    ['GC below 1.1.0', { CNI_COMMAND: 'GC', CNI_PATH: BIN_DIR }, conf({ cniVersion: '1.0.0' }), 1, 'config version does not allow GC'],
    ['STATUS below 1.1.0', { CNI_COMMAND: 'STATUS', CNI_PATH: BIN_DIR }, conf({ cniVersion: '1.0.0' }), 1, 'config version does not allow STATUS'],
    ["CNI_NETNS being the plugin's own namespace", { ...FULL, CNI_COMMAND: 'ADD', CNI_NETNS: '/proc/self/ns/net' }, conf(), 8, "plugin's netns and netns from CNI_NETNS should not be the same"],
  ])('refuses %s with the reference code and message', async (_what, env, stdin, code, msg) => {
    const r = await runExe(path, { env: cniEnv(env), stdin });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code, msg: expect.stringContaining(msg) as unknown });
    expect(r.stdout.startsWith('{\n    "code": ')).toBe(true);
  });

  it('names the supported versions in the details of a version mismatch', async () => {
    const r = await runExe(path, { env: cniEnv({ ...FULL, CNI_COMMAND: 'DEL' }), stdin: conf({ cniVersion: '0.9.0' }) });
    expect(r.json).toEqual({ code: 1, msg: 'incompatible CNI versions', details: 'config is "0.9.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]' });
  });
});

describe('dist/bin/cni', () => {
  it('prints its version and the plugins it contains under its own name', async () => {
    const r = await runExe(binPath('cni'), { env: cniEnv({}) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cni-ts \d+\.\d+\.\d+/);
    expect(r.stdout).toContain('plugins: bridge, flannel, host-local');
  });

  it('dispatches on the name it was called by, not on the file it runs from', async () => {
    const r = await runExe(binPath('cni'), { env: cniEnv({ CNI_COMMAND: 'VERSION' }), argv0: '/opt/cni/bin/bridge' });
    expect(r.stdout).toBe(VERSION_OUT);
  });

  it('ignores NODE_OPTIONS from the runtime (execArgvExtension none)', async () => {
    const r = await runExe(binPath('bridge'), { env: cniEnv({ CNI_COMMAND: 'VERSION', NODE_OPTIONS: '--require /nonexistent/inject.js' }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(VERSION_OUT);
  });

  it('loads both native addons with no HOME, TMPDIR pointing nowhere, and /tmp, /dev/shm and /run read-only', () => {
    // read-only bind mounts: the contents stay visible (the checkout itself may live under /tmp)
    const ro = (d: string): string => `mount --bind ${d} ${d} && mount -o remount,bind,ro ${d}`;
    const script = `${['/tmp', '/dev/shm', '/run'].map(ro).join(' && ')} && exec "$0" selftest`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, binPath('cni')], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TMPDIR: '/nonexistent' }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; native: string[]; netlink: string[]; links: string[] };
    expect(out.ok).toBe(true);
    expect(out.native).toEqual(['exit', 'flock', 'funlock', 'memfdCreate', 'setns', 'spawn', 'watchdogArm', 'watchdogDisarm']);
    expect(out.netlink).toContain('NativeNetlink');
    expect(out.links).toContain('lo');
  });

  it('survives 50 cold starts at once, each loading the native addons', async () => {
    const runs = await Promise.all(Array.from({ length: 50 }, () => runExe(binPath('cni'), { env: cniEnv({}), args: ['selftest'] })));
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.json).toMatchObject({ ok: true });
    }
  });
});

describe('V8 code cache', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const loader = join(root, 'scripts', 'sea-loader.cjs');
  const nodeBase = (): string => {
    const base = readdirSync(join(root, 'build')).find((f) => /^node-base-[0-9a-f]+$/.test(f));
    if (base === undefined) throw new Error('build/node-base-* is missing: run npm run build');
    return join(root, 'build', base);
  };
  /** The loader outside the executable, on the same bundle and cache the executable carries. */
  const viaLoader = (nodeArgs: string[], args: string[], env: Record<string, string>) =>
    spawnSync(nodeBase(), [...nodeArgs, loader, ...args], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_TS_TRAIN_BUNDLE: join(root, 'build', 'bundle.js'), CNI_TS_TRAIN_CACHE_IN: join(root, 'build', 'bundle.cache'), ...env },
      encoding: 'utf8',
    });

  it('the shipped executable accepts its own cache', () => {
    const r = spawnSync(binPath('cni'), ['selftest'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, codeCache: 'accepted' });
  });

  it('a cache V8 rejects (a V8 flag changes its flag hash) still runs correctly', () => {
    const self = viaLoader(['--no-opt'], ['selftest'], {});
    expect(self.stderr).toBe('');
    expect(JSON.parse(self.stdout)).toMatchObject({ ok: true, codeCache: 'rejected' });
    const version = viaLoader(['--no-opt'], ['bridge'], { CNI_COMMAND: 'VERSION' });
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(VERSION_OUT);
    const bad = viaLoader(['--no-opt'], ['bridge'], { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR });
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ code: 6 });
  });

  it('the same loader without flags accepts the cache (the control for the test above)', () => {
    const r = viaLoader([], ['selftest'], {});
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, codeCache: 'accepted' });
  });
});
