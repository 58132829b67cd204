/**
 * A layer-2-only bridge attachment (no `ipam`) deleted without prevResult:
 * a direct DEL at 1.0.0, and every DEL libcni sends for a 0.3.1 conflist
 * (libcni passes no prevResult below 0.4.0), through the Go libcni client
 * built from Debian's sources and through `cni tool`. The container's
 * interface and its bridge port go, as with the Go bridge; an interface of
 * the same name that hangs on another network's bridge stays.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BridgeEnv, cid, ok } from '../helpers/bridge.ts';
import { BIN_DIR, type RunResult, binPath, runExe } from '../helpers/exec.ts';
import { buildLibcniClient } from '../helpers/libcni-client.ts';
import { type TestNetns, ipJson } from '../helpers/netns.ts';
import { removeAfterEach } from '../helpers/hooks.ts';

let env: BridgeEnv;
let dir: string;
let client: string;

beforeAll(() => {
  client = buildLibcniClient();
});
beforeEach(() => {
  env = new BridgeEnv();
  dir = mkdtempSync(join(tmpdir(), 'cp-l2-'));
});
removeAfterEach(() => ({ env, dir }));

function l2conf(version: string, bridge = 'cpl2br0', name = 'cpl2'): Record<string, unknown> {
  return { cniVersion: version, name, type: 'bridge', bridge };
}

const podLinks = (p: TestNetns): string[] => ipJson<{ ifname: string }[]>(p, 'link', 'show').map((l) => l.ifname).filter((n) => n !== 'lo');
const ports = (bridge: string): string[] => env.hostLinks().filter((l) => l.master === bridge).map((l) => l.ifname);

describe('direct DEL at 1.0.0 without prevResult', () => {
  it('removes the container interface and its bridge port', async () => {
    const pod = env.pod();
    const id = cid('cpl2');
    ok(await env.call({ command: 'ADD', conf: l2conf('1.0.0'), pod, containerId: id }));
    expect(podLinks(pod)).toEqual(['eth0']);
    expect(ports('cpl2br0')).toHaveLength(1);
    ok(await env.call({ command: 'DEL', conf: l2conf('1.0.0'), pod, containerId: id }));
    expect(podLinks(pod)).toEqual([]);
    expect(ports('cpl2br0')).toEqual([]);
    expect(env.vethsOnHost()).toEqual([]);
    ok(await env.call({ command: 'DEL', conf: l2conf('1.0.0'), pod, containerId: id }));
  });

  it("leaves an interface of that name that is a port of another network's bridge", async () => {
    const pod = env.pod();
    ok(await env.call({ command: 'ADD', conf: l2conf('1.0.0', 'cpl2other', 'other'), pod, containerId: 'a' }));
    // the ADD of another network fails (eth0 is taken); the runtime's DEL of it must not take eth0
    const failed = await env.call({ command: 'ADD', conf: l2conf('1.0.0'), pod, containerId: 'b' });
    expect(failed.code).not.toBe(0);
    ok(await env.call({ command: 'DEL', conf: l2conf('1.0.0'), pod, containerId: 'b' }));
    expect(podLinks(pod)).toEqual(['eth0']);
    expect(ports('cpl2other')).toHaveLength(1);
    ok(await env.call({ command: 'DEL', conf: l2conf('1.0.0', 'cpl2other', 'other'), pod, containerId: 'a' }));
    expect(podLinks(pod)).toEqual([]);
  });
});

describe('through a runtime, 0.3.1 conflist (no prevResult on DEL)', () => {
  function inHost(cmd: string, args: string[]): Promise<RunResult> {
    return runExe('/usr/bin/ip', {
      args: ['netns', 'exec', env.host.name, cmd, ...args],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', NETCONFPATH: dir, CNI_PATH: BIN_DIR, CNI_CACHE_DIR: join(dir, 'cache') },
    });
  }

  it.each([
    ['the Go libcni client', (verb: string, p: TestNetns) => inHost(client, [verb, 'cpl2', p.path])],
    ['cni tool', (verb: string, p: TestNetns) => inHost(binPath('cni'), ['tool', verb, 'cpl2', p.path])],
  ] as const)('%s: DEL removes the interface and the bridge port', async (_name, run) => {
    writeFileSync(join(dir, '10-cpl2.conflist'), JSON.stringify({ cniVersion: '0.3.1', name: 'cpl2', plugins: [{ type: 'bridge', bridge: 'cpl2br0' }] }));
    const pod = env.pod();
    const add = await run('add', pod);
    expect(add.code, add.stderr).toBe(0);
    expect(podLinks(pod)).toEqual(['eth0']);
    expect(ports('cpl2br0')).toHaveLength(1);
    const del = await run('del', pod);
    expect(del.code, del.stderr).toBe(0);
    expect(podLinks(pod)).toEqual([]);
    expect(ports('cpl2br0')).toEqual([]);
  });
});
