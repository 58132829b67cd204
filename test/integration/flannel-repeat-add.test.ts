/**
 * A repeated ADD for a running pod (same container id, interface and netns),
 * with our bridge and host-local run in-process (they roll their own failed
 * ADD back): it fails as before, and leaves the running attachment untouched:
 * its saved flannel config, its lease, its interface; CHECK still passes and
 * the Go flannel could still delete it (the saved file is where it reads).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, expect, it } from 'vitest';
import { BIN_DIR, type RunResult, cniEnv, runExe } from '../helpers/exec.ts';
import { NetnsEnv, type TestNetns, ip, ipJson } from '../helpers/netns.ts';
import { removeAfterEach } from '../helpers/hooks.ts';

let env: NetnsEnv;
let dir: string;
let node: TestNetns;

beforeEach(() => {
  env = new NetnsEnv();
  dir = mkdtempSync(join(tmpdir(), 'cp-repeat-'));
  writeFileSync(join(dir, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
  node = env.netns();
  ip(node, 'link', 'set', 'lo', 'up');
});
removeAfterEach(() => ({ env, dir }));

function flannel(command: string, pod: TestNetns, prevResult?: unknown): Promise<RunResult> {
  const c: Record<string, unknown> = {
    cniVersion: '1.0.0',
    name: 'cprep',
    type: 'flannel',
    subnetFile: join(dir, 'subnet.env'),
    dataDir: join(dir, 'flannel'),
    ipam: { dataDir: join(dir, 'networks') },
  };
  if (prevResult !== undefined) c['prevResult'] = prevResult;
  return runExe('ip', {
    args: ['netns', 'exec', node.name, join(BIN_DIR, 'flannel')],
    env: cniEnv({ CNI_COMMAND: command, CNI_CONTAINERID: 'cp-pod', CNI_IFNAME: 'eth0', CNI_NETNS: pod.path, CNI_PATH: BIN_DIR }),
    stdin: JSON.stringify(c),
  });
}

const leases = () => readdirSync(join(dir, 'networks', 'cprep')).filter((n) => /^\d/.test(n));

it('a failed repeated ADD leaves the running attachment as it was; CHECK passes; DEL removes it all', async () => {
  const pod = env.netns();
  const first = await flannel('ADD', pod);
  expect(first.code, first.stdout + first.stderr).toBe(0);
  const savedPath = join(dir, 'flannel', 'cp-pod');
  const saved = readFileSync(savedPath);
  const addr = ip(pod, 'addr', 'show', 'eth0');

  const again = await flannel('ADD', pod);
  expect(again.code).toBe(1);
  expect(again.json).toMatchObject({ msg: expect.stringMatching(/already exists/) as unknown });
  expect(existsSync(savedPath)).toBe(true);
  expect(readFileSync(savedPath).equals(saved)).toBe(true);
  expect(leases()).toEqual(['10.244.1.2']);
  expect(ip(pod, 'addr', 'show', 'eth0')).toBe(addr);
  const check = await flannel('CHECK', pod, first.json);
  expect(check.code, check.stdout + check.stderr).toBe(0);

  expect((await flannel('DEL', pod, first.json)).code).toBe(0);
  expect(existsSync(savedPath)).toBe(false);
  expect(leases()).toEqual([]);
  expect(ipJson(node, 'link', 'show', 'type', 'veth')).toEqual([]);
});
