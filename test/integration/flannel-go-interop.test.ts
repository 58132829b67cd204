/**
 * Both directions between our flannel and the Go flannel (flannel-io/cni-plugin
 * v1.1.2, built from its source at test time: test/helpers/go-flannel.ts),
 * on one node namespace, with the delegates (bridge, host-local) ours or
 * Debian's Go ones: a pod added by one flannel and deleted by the other
 * leaves nothing (lease, saved delegate config, masquerade rules, veth).
 * The rollback direction (ours ADD, Go DEL) works because our flannel saves a
 * container's first attachment where every Go flannel reads it,
 * <dataDir>/<containerID>.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BIN_DIR, GO_CNI_DIR, type RunResult, cniEnv, runExe } from '../helpers/exec.ts';
import { goFlannel } from '../helpers/go-flannel.ts';
import { onlyBookkeeping } from '../helpers/host-local.ts';
import { NetnsEnv, type TestNetns, ip, ipJson } from '../helpers/netns.ts';
import { removeAfterEach } from '../helpers/hooks.ts';

const GO = goFlannel();
const OURS = join(BIN_DIR, 'flannel');
// FLANNEL_IPMASQ=false: the delegate bridge masquerades, so there are rules to leak
const SUBNET_ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n';
const NET = 'cpgo';

let env: NetnsEnv;
let dir: string;
let node: TestNetns;

if (!GO.ok) console.warn(`flannel-go-interop: SKIPPED: ${GO.reason}`);

beforeEach(() => {
  env = new NetnsEnv();
  dir = mkdtempSync(join(tmpdir(), 'cp-flgo-'));
  writeFileSync(join(dir, 'subnet.env'), SUBNET_ENV);
  node = env.netns();
  ip(node, 'link', 'set', 'lo', 'up');
});

removeAfterEach(() => ({ env, dir }));

/** A CNI_PATH directory holding the delegates, ours or Debian's Go ones. */
function delegates(which: 'ours' | 'go'): string {
  const bin = join(dir, `bin-${which}`);
  if (existsSync(bin)) return bin;
  mkdirSync(bin);
  for (const p of ['bridge', 'host-local']) symlinkSync(join(which === 'ours' ? BIN_DIR : GO_CNI_DIR, p), join(bin, p));
  return bin;
}

function conf(): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: NET,
    type: 'flannel',
    subnetFile: join(dir, 'subnet.env'),
    dataDir: join(dir, 'flannel'),
    ipam: { dataDir: join(dir, 'networks') },
    delegate: { hairpinMode: true, isDefaultGateway: true },
  });
}

function flannel(path: string, command: string, bin: string, pod: TestNetns, containerId: string): Promise<RunResult> {
  return runExe('ip', {
    args: ['netns', 'exec', node.name, path],
    env: cniEnv({ CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_IFNAME: 'eth0', CNI_NETNS: pod.path, CNI_PATH: bin }),
    stdin: conf(),
  });
}

function files(sub: string): string[] {
  const d = join(dir, sub);
  // without our boot marker (lib/boot.ts): bookkeeping of the directory, not of a pod
  return existsSync(d) ? readdirSync(d).filter((n) => n !== '.cni-ts-boot-id').sort() : [];
}

function natRules(): string {
  return execFileSync('ip', ['netns', 'exec', node.name, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' });
}

/** Everything a pod's attachment leaves on the node, for the assertions after DEL. */
function leftovers(containerId: string): string[] {
  const out: string[] = [];
  const leases = files(join('networks', NET));
  if (!onlyBookkeeping(leases.filter((n) => !n.startsWith('.')))) out.push(`leases: ${leases.join(' ')}`);
  const saved = files('flannel');
  if (saved.length > 0) out.push(`saved configs: ${saved.join(' ')}`);
  for (const line of natRules().split('\n')) if (line.includes(containerId) || /CNI-[0-9a-f]{24}/.test(line)) out.push(`nat: ${line}`);
  const veths = ipJson<{ ifname: string }[]>(node, 'link', 'show', 'type', 'veth');
  if (veths.length > 0) out.push(`veths: ${veths.map((v) => v.ifname).join(' ')}`);
  return out;
}

const cases = [
  { adder: 'ours', deleter: 'go', delegate: 'ours' },
  { adder: 'ours', deleter: 'go', delegate: 'go' },
  { adder: 'go', deleter: 'ours', delegate: 'ours' },
  { adder: 'go', deleter: 'ours', delegate: 'go' },
] as const;

describe.skipIf(!GO.ok)(`our flannel and the Go flannel v1.1.2 on one node${GO.ok ? '' : ` (SKIPPED: ${GO.reason})`}`, () => {
  const path = (who: 'ours' | 'go') => (who === 'ours' ? OURS : GO.ok ? GO.path : '');

  it.each(cases)('$adder flannel ADD, $deleter flannel DEL, $delegate bridge and host-local: nothing left', async ({ adder, deleter, delegate }) => {
    const bin = delegates(delegate);
    const pod = env.netns();
    const cid = `cp-${adder}-${deleter}-${delegate}`;
    const add = await flannel(path(adder), 'ADD', bin, pod, cid);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json).toMatchObject({ ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1' }] });
    // the state a DEL must remove is there
    expect(files('flannel')).toEqual([cid]);
    expect(files(join('networks', NET))).toContain('10.244.1.2');
    expect(natRules()).toContain(cid);

    const del = await flannel(path(deleter), 'DEL', bin, pod, cid);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(leftovers(cid)).toEqual([]);
    // and the node goes on: the next pod of the first flannel comes and goes cleanly
    const pod2 = env.netns();
    const again = await flannel(path(adder), 'ADD', bin, pod2, `${cid}-2`);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect((await flannel(path(adder), 'DEL', bin, pod2, `${cid}-2`)).code).toBe(0);
    expect(leftovers(`${cid}-2`)).toEqual([]);
  });

  it("a second attachment of a pod (Multus) stays ours and its own: the Go flannel's DEL of eth0 leaves it, ours then removes it", async () => {
    const bin = delegates('ours');
    const pod = env.netns();
    const cid = 'cp-multus';
    const run = (p: string, command: string, ifName: string) =>
      runExe('ip', {
        args: ['netns', 'exec', node.name, p],
        env: cniEnv({ CNI_COMMAND: command, CNI_CONTAINERID: cid, CNI_IFNAME: ifName, CNI_NETNS: pod.path, CNI_PATH: bin }),
        stdin: conf(),
      });
    expect((await run(OURS, 'ADD', 'eth0')).code).toBe(0);
    expect((await run(OURS, 'ADD', 'net1')).code).toBe(0);
    expect(files('flannel')).toEqual([cid, `${cid}:net1`]);
    expect((await run(path('go'), 'DEL', 'eth0')).code).toBe(0);
    expect(files('flannel')).toEqual([`${cid}:net1`]);
    expect(ipJson(pod, 'link', 'show', 'net1')).toHaveLength(1);
    expect((await run(OURS, 'DEL', 'net1')).code).toBe(0);
    expect(leftovers(cid)).toEqual([]);
  });
});
