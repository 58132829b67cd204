/**
 * `cni tool` as cnitool: add/check/del/gc/status against our plugins and the
 * Go reference, run inside a private "host" namespace (bridges, veths and
 * rules never reach the real host), with a private cache dir (CNI_CACHE_DIR),
 * and cache files exchanged with a libcni-based Go client both ways.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN_DIR, GO_CNI_DIR, binPath, runExe, type RunResult } from '../helpers/exec.ts';
import { buildLibcniClient } from '../helpers/libcni-client.ts';
import { createNetns, deleteNetns, ipJson, isRoot, leftoverTestNetns, type TestNetns } from '../helpers/netns.ts';
import { containerIdFor } from '../../tools/cnitool/index.ts';

let client: string;
beforeAll(() => {
  expect(isRoot(), 'integration tests need root').toBe(true);
  expect(existsSync(join(GO_CNI_DIR, 'bridge')), `${GO_CNI_DIR}/bridge missing: scripts/setup-machine.sh installs containernetworking-plugins`).toBe(true);
  client = buildLibcniClient();
});
afterAll(() => {
  expect(leftoverTestNetns()).toEqual([]);
});

let host: TestNetns;
let pods: TestNetns[];
let dir: string;

beforeEach(() => {
  host = createNetns();
  pods = [];
  dir = mkdtempSync(join(tmpdir(), 'cnitool-it-'));
});
afterEach(() => {
  for (const p of pods) deleteNetns(p.name);
  deleteNetns(host.name);
  rmSync(dir, { recursive: true, force: true });
});

function pod(): TestNetns {
  const p = createNetns();
  pods.push(p);
  return p;
}

function writeConf(version: string, extra: object = {}): void {
  const list = {
    cniVersion: version,
    name: 'tnet',
    plugins: [
      {
        type: 'bridge',
        bridge: 'tcni0',
        isGateway: true,
        ipMasq: true,
        ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.97.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
    ],
    ...extra,
  };
  writeFileSync(join(dir, '10-tnet.conflist'), JSON.stringify(list, null, 2));
}

/** Runs `cmd args` inside the private host namespace with the cnitool environment. */
function inHost(cmd: string, args: string[], cniPath: string, extra: Record<string, string> = {}): Promise<RunResult> {
  return runExe('/usr/bin/ip', {
    args: ['netns', 'exec', host.name, cmd, ...args],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', NETCONFPATH: dir, CNI_PATH: cniPath, CNI_CACHE_DIR: join(dir, 'cache'), ...extra },
  });
}
const tool = (verb: string, p: TestNetns | undefined, cniPath = BIN_DIR, extra: Record<string, string> = {}): Promise<RunResult> =>
  inHost(binPath('cni'), ['tool', verb, 'tnet', ...(p === undefined ? [] : [p.path])], cniPath, extra);
const goClient = (verb: string, p: TestNetns, cniPath = BIN_DIR): Promise<RunResult> => inHost(client, [verb, 'tnet', p.path], cniPath);

const cacheFiles = (): string[] => (existsSync(join(dir, 'cache', 'results')) ? readdirSync(join(dir, 'cache', 'results')) : []);
const addrsOf = (p: TestNetns): string[] =>
  ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(p, 'addr', 'show', 'dev', 'eth0').flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));

describe('cni tool with our plugins', () => {
  it('add prints the result and caches it in libcni format; check, status, del, del again', async () => {
    writeConf('1.1.0');
    const p = pod();
    const add = await tool('add', p);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stderr).toBe('');
    expect(add.stdout.endsWith('}')).toBe(true);
    expect(add.stdout).toContain('\n    "cniVersion": "1.1.0"');
    const result = JSON.parse(add.stdout) as { ips: { address: string }[] };
    expect(addrsOf(p)).toContain(result.ips[0]!.address);
    const cid = containerIdFor(p.path, '/');
    expect(cacheFiles()).toEqual([`tnet-${cid}-eth0`]);
    const cached = JSON.parse(readFileSync(join(dir, 'cache', 'results', `tnet-${cid}-eth0`), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(cached)).toEqual(['kind', 'containerId', 'config', 'ifName', 'networkName', 'netns', 'result']);
    expect(Buffer.from(cached['config'] as string, 'base64').toString()).toBe(readFileSync(join(dir, '10-tnet.conflist'), 'utf8'));
    for (const verb of ['check', 'status']) {
      const r = await tool(verb, p);
      expect(r.code, `${verb}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr).toBe('');
    }
    expect((await tool('del', p)).code).toBe(0);
    expect(cacheFiles()).toEqual([]);
    expect(readdirSync(join(dir, 'ipam', 'tnet')).filter((f) => /^\d/.test(f))).toEqual([]);
    expect((await tool('del', p)).code).toBe(0);
  });

  it('a plugin error: libcni-wrapped message on stderr, exit 1, nothing cached', async () => {
    writeConf('1.1.0');
    const p = pod();
    const r = await tool('add', p, BIN_DIR, { CNI_IFNAME: 'x/y' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('plugin type="bridge" failed (add): interface name contains / or : or whitespace characters\n');
    expect(cacheFiles()).toEqual([]);
  });

  it('CAP_ARGS and CNI_ARGS reach the cache; gc deletes every cached attachment of the network', async () => {
    writeConf('1.1.0');
    const [a, b] = [pod(), pod()];
    for (const p of [a, b]) expect((await tool('add', p, BIN_DIR, { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=x', CAP_ARGS: '{"portMappings":[]}' })).code).toBe(0);
    const entry = JSON.parse(readFileSync(join(dir, 'cache', 'results', cacheFiles()[0]!), 'utf8')) as Record<string, unknown>;
    expect(entry['cniArgs']).toEqual([
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAME', 'x'],
    ]);
    expect(entry['capabilityArgs']).toEqual({ portMappings: [] });
    const gc = await tool('gc', undefined);
    expect(gc.code, gc.stderr).toBe(0);
    expect(cacheFiles()).toEqual([]);
    for (const p of [a, b]) expect(ipJson<{ ifname: string }[]>(p, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
  });
});

describe('cache files shared with a libcni (Go) client', () => {
  it('ours → libcni: the Go client reads our cache entry, CHECKs and DELs with it (Go plugins)', async () => {
    writeConf('1.0.0');
    const p = pod();
    const add = await tool('add', p, GO_CNI_DIR);
    expect(add.code, add.stderr).toBe(0);
    const cached = await goClient('cached', p, GO_CNI_DIR);
    expect(cached.code, cached.stderr).toBe(0);
    const c = JSON.parse(cached.stdout) as { config: string; result: { ips: { address: string }[] } };
    expect(c.config).toBe(readFileSync(join(dir, '10-tnet.conflist'), 'utf8'));
    expect(c.result.ips[0]!.address).toBe((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]!.address);
    const check = await goClient('check', p, GO_CNI_DIR);
    expect(check.code, check.stderr).toBe(0);
    const del = await goClient('del', p, GO_CNI_DIR);
    expect(del.code, del.stderr).toBe(0);
    expect(cacheFiles()).toEqual([]);
  });

  it('libcni → ours: cni tool CHECKs and DELs with the entry the Go client wrote (our plugins)', async () => {
    writeConf('1.0.0');
    const p = pod();
    const add = await goClient('add', p);
    expect(add.code, add.stderr).toBe(0);
    expect(cacheFiles()).toEqual([`tnet-${containerIdFor(p.path, '/')}-eth0`]);
    const check = await tool('check', p);
    expect(check.code, check.stderr).toBe(0);
    const del = await tool('del', p);
    expect(del.code, del.stderr).toBe(0);
    expect(cacheFiles()).toEqual([]);
    expect(execFileSync('ip', ['netns', 'exec', host.name, 'iptables-save'], { encoding: 'utf8' })).not.toContain(containerIdFor(p.path, '/'));
  });
});
