/**
 * The built `flannel` executable on a real node namespace, delegating by exec
 * to Debian's Go bridge and host-local (CNI_PATH: a link to dist/bin/flannel
 * plus /usr/lib/cni's bridge and host-local): every spec version the Go
 * plugins speak, code 11 and 50 while subnet.env is missing, a failed
 * delegate DEL that keeps the saved config so the retry releases the lease,
 * a node upgraded from the Go flannel (its <dataDir>/<containerID> files),
 * and two flannel attachments in one pod (Multus).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BIN_DIR, GO_CNI_DIR, type RunResult, cniEnv, runExe } from '../helpers/exec.ts';
import { NetnsEnv, type TestNetns, ip, ipJson, isRoot } from '../helpers/netns.ts';
import { removeAfterEach } from '../helpers/hooks.ts';

let env: NetnsEnv;
let dir: string;
let bin: string;
let node: TestNetns;

const SUBNET_ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

beforeEach(() => {
  env = new NetnsEnv();
  dir = mkdtempSync(join(tmpdir(), 't-flannel-int-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(join(BIN_DIR, 'flannel'), join(bin, 'flannel'));
  for (const p of ['bridge', 'host-local']) symlinkSync(join(GO_CNI_DIR, p), join(bin, p));
  writeFileSync(join(dir, 'subnet.env'), SUBNET_ENV);
  node = env.netns();
  ip(node, 'link', 'set', 'lo', 'up');
});

removeAfterEach(() => ({ env, dir }));

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'flannel',
    subnetFile: join(dir, 'subnet.env'),
    dataDir: join(dir, 'flannel'),
    ipam: { dataDir: join(dir, 'networks') },
    delegate: { hairpinMode: true, isDefaultGateway: true },
    ...extra,
  };
}

/** Runs dist/bin/flannel (through the CNI_PATH link) inside the node namespace, as the node's runtime would. */
function flannel(command: string, c: Record<string, unknown>, opts: { pod?: TestNetns; containerId?: string; ifName?: string } = {}): Promise<RunResult> {
  return runExe('ip', {
    args: ['netns', 'exec', node.name, join(bin, 'flannel')],
    env: cniEnv({ CNI_COMMAND: command, CNI_CONTAINERID: opts.containerId ?? 'ctr1', CNI_IFNAME: opts.ifName ?? 'eth0', CNI_NETNS: opts.pod?.path, CNI_PATH: bin }),
    stdin: JSON.stringify(c),
  });
}

function leases(network = 'cbr0'): string[] {
  const d = join(dir, 'networks', network);
  return existsSync(d) ? readdirSync(d).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : [];
}

function saved(): string[] {
  const d = join(dir, 'flannel');
  return existsSync(d) ? readdirSync(d).filter((n) => n !== '.cni-ts-boot-id').sort() : [];
}

it('runs as root', () => {
  expect(isRoot()).toBe(true);
});

describe.each(['0.3.1', '0.4.0', '1.0.0'])('with the Go bridge and host-local, cniVersion %s', (version) => {
  it('ADD wires the pod with the rendered config, DEL releases everything', async () => {
    const pod = env.netns();
    const add = await flannel('ADD', conf({ cniVersion: version }), { pod });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json).toMatchObject({ cniVersion: version, ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1' }] });
    expect(ipJson<{ mtu: number }[]>(pod, 'link', 'show', 'eth0')[0]?.mtu).toBe(1450);
    expect(ip(pod, 'route', 'show')).toContain('10.244.0.0/16 via 10.244.1.1');
    expect(saved()).toEqual(['ctr1']);
    expect(JSON.parse(readFileSync(join(dir, 'flannel', 'ctr1'), 'utf8'))).toMatchObject({ cniVersion: version, type: 'bridge', mtu: 1450, ipMasq: false });
    expect(leases()).toEqual(['10.244.1.2']);

    const del = await flannel('DEL', conf({ cniVersion: version }), { pod });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(saved()).toEqual([]);
    expect(leases()).toEqual([]);
    expect(ipJson(node, 'link', 'show', 'type', 'veth')).toEqual([]);
    expect((await flannel('DEL', conf({ cniVersion: version }), { pod })).code).toBe(0);
  });
});

describe('subnet.env not written yet', () => {
  it('ADD is code 11 with the reference message and the reason, and touches nothing', async () => {
    rmSync(join(dir, 'subnet.env'));
    const pod = env.netns();
    const r = await flannel('ADD', conf(), { pod });
    expect(r.code).toBe(1);
    expect(r.json).toEqual({
      code: 11,
      msg: `failed to load flannel 'subnet.env' file: open ${join(dir, 'subnet.env')}: no such file or directory. Check the flannel pod log for this node.`,
      details: "flanneld has not written this node's subnet lease yet (is the flannel pod running on this node?); try again later",
    });
    expect(ip(node, 'link', 'show')).not.toContain('cni0');
    expect(saved()).toEqual([]);
  });

  it('STATUS is code 50 until it is there (and needs no delegate for that)', async () => {
    rmSync(join(dir, 'subnet.env'));
    const r = await flannel('STATUS', conf({ cniVersion: '1.1.0' }));
    expect(r.json).toMatchObject({ code: 50, msg: expect.stringContaining('no such file or directory') as unknown });
  });
});

describe('DEL that never loses a lease', () => {
  it('keeps the saved config when the delegate DEL fails, so the retry releases the lease', async () => {
    const pod = env.netns();
    expect((await flannel('ADD', conf(), { pod })).code).toBe(0);
    // break host-local's data directory: its DEL (called by the Go bridge's DEL) fails
    const netDir = join(dir, 'networks', 'cbr0');
    renameSync(netDir, `${netDir}.aside`);
    writeFileSync(netDir, 'not a directory');
    const failed = await flannel('DEL', conf(), { pod });
    expect(failed.code).toBe(1);
    expect(failed.json).toMatchObject({ msg: expect.stringMatching(/^failed to delegate del: /) as unknown });
    expect(saved()).toEqual(['ctr1']);

    rmSync(netDir);
    renameSync(`${netDir}.aside`, netDir);
    expect(leases()).toEqual(['10.244.1.2']);
    const retried = await flannel('DEL', conf(), { pod });
    expect(retried.code, retried.stdout).toBe(0);
    expect(leases()).toEqual([]);
    expect(saved()).toEqual([]);
  });

  it('without a saved config still releases the lease, with the config rebuilt from subnet.env', async () => {
    const pod = env.netns();
    expect((await flannel('ADD', conf(), { pod })).code).toBe(0);
    rmSync(join(dir, 'flannel', 'ctr1'));
    const r = await flannel('DEL', conf(), { pod });
    expect(r.code).toBe(0);
    expect(leases()).toEqual([]);
  });

  it("DELs a pod added by the Go flannel (its <dataDir>/<containerID> file) and removes that file", async () => {
    const pod = env.netns();
    expect((await flannel('ADD', conf(), { pod, containerId: 'goctr' })).code).toBe(0);
    // what the Go plugin leaves: the same file without the key naming the interface
    const file = join(dir, 'flannel', 'goctr');
    const goSaved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete goSaved['cni-ts.ifName'];
    writeFileSync(file, JSON.stringify(goSaved));
    writeFileSync(join(dir, 'subnet.env'), SUBNET_ENV.replace('10.244.1.1/24', '10.244.9.1/24')); // the saved config wins over a new lease
    const r = await flannel('DEL', conf(), { pod, containerId: 'goctr' });
    expect(r.code, r.stdout).toBe(0);
    expect(leases()).toEqual([]);
    expect(saved()).toEqual([]);
  });
});

describe('two flannel attachments in one pod (Multus)', () => {
  it('keeps one saved config per interface; deleting one leaves the other working', async () => {
    const pod = env.netns();
    writeFileSync(join(dir, 'subnet2.env'), 'FLANNEL_NETWORK=10.245.0.0/16\nFLANNEL_SUBNET=10.245.1.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=true\n');
    const second = conf({ name: 'cbr1', subnetFile: join(dir, 'subnet2.env'), delegate: { bridge: 'cni1', isDefaultGateway: false } });
    expect((await flannel('ADD', conf(), { pod, ifName: 'eth0' })).code).toBe(0);
    const add2 = await flannel('ADD', second, { pod, ifName: 'net1' });
    expect(add2.code, add2.stdout).toBe(0);
    expect(add2.json).toMatchObject({ ips: [{ address: '10.245.1.2/24' }] });
    expect(saved()).toEqual(['ctr1', 'ctr1:net1']);

    expect((await flannel('DEL', second, { pod, ifName: 'net1' })).code).toBe(0);
    expect(saved()).toEqual(['ctr1']);
    expect(leases('cbr1')).toEqual([]);
    expect(leases('cbr0')).toEqual(['10.244.1.2']);
    expect(ip(pod, 'addr', 'show', 'eth0')).toContain('10.244.1.2/24');

    expect((await flannel('DEL', conf(), { pod, ifName: 'eth0' })).code).toBe(0);
    expect(saved()).toEqual([]);
    expect(leases('cbr0')).toEqual([]);
  });
});
