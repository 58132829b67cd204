/**
 * The conflists clusters write, run through `cni tool` (our runtime side) on
 * our plugins with CAP_ARGS as kubelet's path fills them (portMappings and
 * bandwidth), in a private "host" namespace with a fake flannel subnet.env:
 * ADD, CHECK (from 0.4.0), DEL, then nothing left: no veth or ifb, no qdisc,
 * no lease, no saved flannel config, no cached result, no rule naming the
 * container. Each file gets flannel's `subnetFile` and `dataDir` (and the
 * IPAM's `dataDir`) pointed at a temporary directory, the one edit a node
 * would not need (see conf-examples/README.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN_DIR, ROOT, binPath, runExe, type RunResult } from '../helpers/exec.ts';
import { createNetns, deleteNetns, isRoot, leftoverTestNetns, type TestNetns } from '../helpers/netns.ts';
import { containerIdFor } from '../../tools/cnitool/index.ts';

beforeAll(() => {
  expect(isRoot(), 'integration tests need root').toBe(true);
});
afterAll(() => {
  expect(leftoverTestNetns()).toEqual([]);
});

let host: TestNetns | undefined;
let pod: TestNetns | undefined;
let dir: string | undefined;
afterEach(() => {
  if (pod !== undefined) deleteNetns(pod.name);
  if (host !== undefined) deleteNetns(host.name);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  host = pod = dir = undefined;
});

const CAP_ARGS = JSON.stringify({
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  bandwidth: { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 8_000_000, egressBurst: 800_000 },
});

function sh(...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', host!.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tool(verb: string): Promise<RunResult> {
  return runExe('/usr/bin/ip', {
    args: ['netns', 'exec', host!.name, binPath('cni'), 'tool', verb, 'cbr0', pod!.path],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', NETCONFPATH: join(dir!, 'net.d'), CNI_PATH: BIN_DIR, CNI_CACHE_DIR: join(dir!, 'cache'), CAP_ARGS },
  });
}

const files = (d: string): string[] => (existsSync(d) ? readdirSync(d, { recursive: true }).map(String) : []);
const links = (kind: string): string[] =>
  (JSON.parse(sh('ip', '-j', 'link', 'show', 'type', kind)) as { ifname: string }[]).map((l) => l.ifname);

describe.each([
  ['k3s.conflist', '1.0.0', true],
  ['kube-flannel-0.3.1.conflist', '0.3.1', false],
  ['rke2-flannel.conflist', '0.3.1', true],
  ['flannel-kube-1.0.0.conflist', '1.0.0', false],
])('conf-examples/%s through cni tool', (file, version, hasBandwidth) => {
  it('ADD, CHECK, DEL with portMappings and bandwidth; nothing left', { timeout: 60_000 }, async () => {
    host = createNetns();
    pod = createNetns();
    dir = mkdtempSync(join(tmpdir(), 'bw-confex-'));
    sh('ip', 'link', 'set', 'lo', 'up');
    const list = JSON.parse(readFileSync(join(ROOT, 'conf-examples', file), 'utf8')) as { cniVersion: string; plugins: Record<string, unknown>[] };
    expect(list.cniVersion).toBe(version);
    const flannel = list.plugins[0]!;
    expect(flannel['type']).toBe('flannel');
    writeFileSync(join(dir, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
    Object.assign(flannel, { subnetFile: join(dir, 'subnet.env'), dataDir: join(dir, 'flannel'), ipam: { dataDir: join(dir, 'ipam') } });
    execFileSync('mkdir', ['-p', join(dir, 'net.d')]);
    writeFileSync(join(dir, 'net.d', '10-flannel.conflist'), JSON.stringify(list, null, 2));
    const cid = containerIdFor(pod.path, '/');

    const add = await tool('add');
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.stderr).toBe('');
    const result = JSON.parse(add.stdout) as { cniVersion: string; ips: { address: string }[] };
    expect(result.cniVersion).toBe(version);
    expect(result.ips[0]!.address).toMatch(/^10\.244\.1\.\d+\/24$/);
    expect(links('veth')).toHaveLength(1);
    expect(sh('iptables-save', '-t', 'nat')).toContain('--dport 8080');
    const qdiscs = sh('tc', 'qdisc', 'show');
    if (hasBandwidth) {
      expect(links('ifb')).toHaveLength(1);
      expect(qdiscs).toContain('qdisc tbf 1: dev veth');
      expect(qdiscs).toContain('qdisc ingress ffff: dev veth');
    } else {
      expect(links('ifb')).toEqual([]);
      expect(qdiscs).not.toContain('tbf');
    }
    if (version !== '0.3.1') {
      const check = await tool('check');
      expect(check.code, check.stdout + check.stderr).toBe(0);
    }

    const del = await tool('del');
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect((await tool('del')).code).toBe(0);

    expect(links('veth')).toEqual([]);
    expect(links('ifb')).toEqual([]);
    expect(sh('tc', 'qdisc', 'show')).not.toMatch(/tbf|ingress/);
    expect(files(join(dir, 'ipam')).filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
    expect(files(join(dir, 'flannel')).filter((f) => !f.startsWith('.'))).toEqual([]);
    expect(files(join(dir, 'cache', 'results'))).toEqual([]);
    for (const table of ['nat', 'filter']) {
      const rules = sh('iptables-save', '-t', table);
      expect(rules).not.toContain(cid);
      expect(rules).not.toContain('--dport 8080');
      expect(rules).not.toMatch(/-A CNI-DN-/);
    }
    expect(sh('nft', 'list', 'ruleset')).not.toContain(cid);
  });
});
