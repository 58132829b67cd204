/**
 * The operators' log (`logFile`/`logLevel` in a plugin's conflist entry,
 * lib/cni/oplog.ts) over a pod's whole lifecycle through `cni tool` (ADD,
 * CHECK, DEL of kube-flannel's chain: flannel → bridge → host-local, then
 * portmap), in a private "host" namespace: one well-formed JSON line per
 * plugin invocation, 0600, no CNI_ARGS value beyond K8S_*; a failed call
 * logged with its error; an unwritable log never fails the call; without the
 * keys nothing is written and stdout/stderr are the same.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN_DIR, binPath, runExe, type RunResult } from '../helpers/exec.ts';
import { createNetns, deleteNetns, leftoverTestNetns, type TestNetns } from '../helpers/netns.ts';

let host: TestNetns;
let pod: TestNetns;
let dir: string;
afterAll(() => expect(leftoverTestNetns()).toEqual([]));
beforeEach(() => {
  host = createNetns();
  pod = createNetns();
  dir = mkdtempSync(join(tmpdir(), 'dp-oplog-'));
  writeFileSync(join(dir, 'subnet.env'), 'FLANNEL_NETWORK=10.231.0.0/16\nFLANNEL_SUBNET=10.231.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
});
afterEach(() => {
  deleteNetns(pod.name);
  deleteNetns(host.name);
  rmSync(dir, { recursive: true, force: true });
});

const CNI_ARGS = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;SECRET_TOKEN=hunter2';

function writeConf(log: { flannel?: object; portmap?: object }, subnetFile = join(dir, 'subnet.env')): void {
  const list = {
    cniVersion: '1.0.0',
    name: 'dpnet',
    plugins: [
      { type: 'flannel', subnetFile, dataDir: join(dir, 'flannel'), delegate: { bridge: 'dp0', hairpinMode: true, isDefaultGateway: true }, ipam: { dataDir: join(dir, 'ipam') }, ...log.flannel },
      { type: 'portmap', capabilities: { portMappings: true }, ...log.portmap },
    ],
  };
  writeFileSync(join(dir, '10-dpnet.conflist'), JSON.stringify(list));
}

function tool(verb: string): Promise<RunResult> {
  return runExe('/usr/bin/ip', {
    args: ['netns', 'exec', host.name, binPath('cni'), 'tool', verb, 'dpnet', pod.path],
    env: {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      NETCONFPATH: dir,
      CNI_PATH: BIN_DIR,
      CNI_CACHE_DIR: join(dir, 'cache'),
      CNI_ARGS,
      CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] }),
    },
  });
}

interface Line {
  time: string;
  plugin: string;
  command: string;
  containerId: string;
  ifName: string;
  netns: string;
  network: string;
  cniVersion: string;
  durationMs: number;
  exitCode: number;
  pid: number;
  k8s?: Record<string, string>;
  error?: { code: number; msg: string };
  ips?: string[];
  steps?: { step: string; type?: string; command?: string; exitCode?: number }[];
}

function lines(file: string): Line[] {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

describe('logFile / logLevel', () => {
  it('writes one well-formed line per plugin call of a pod lifecycle (ADD, CHECK, DEL), 0600, no secrets', async () => {
    const log = join(dir, 'log', 'cni.log');
    // flanneld does not masquerade here, so the bridge does (its iptables/nft runs are steps at debug)
    writeFileSync(join(dir, 'subnet.env'), 'FLANNEL_NETWORK=10.231.0.0/16\nFLANNEL_SUBNET=10.231.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
    writeConf({ flannel: { logFile: log, logLevel: 'debug' }, portmap: { logFile: log } });
    for (const verb of ['add', 'check', 'del']) {
      const r = await tool(verb);
      expect(r.code, `${verb}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
    }
    expect(statSync(log).mode & 0o777).toBe(0o600);
    const text = readFileSync(log, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('SECRET_TOKEN');
    const all = lines(log);
    // flannel's keys reach its delegate (bridge) and, through the delegate's stdin, host-local
    const per = (command: string): string[] => all.filter((l) => l.command === command).map((l) => l.plugin).sort();
    for (const command of ['ADD', 'CHECK', 'DEL']) expect(per(command)).toEqual(['bridge', 'flannel', 'host-local', 'portmap']);
    expect(all).toHaveLength(12);
    for (const l of all) {
      expect(Object.keys(l).slice(0, 11)).toEqual(['time', 'plugin', 'command', 'containerId', 'ifName', 'netns', 'network', 'cniVersion', 'durationMs', 'exitCode', 'pid']);
      expect(Date.parse(l.time)).not.toBeNaN();
      expect(l).toMatchObject({ ifName: 'eth0', netns: pod.path, network: 'dpnet', cniVersion: '1.0.0', exitCode: 0 });
      expect(l.containerId).toMatch(/^cnitool-[0-9a-f]{20}$/);
      expect(l.durationMs).toBeGreaterThanOrEqual(0);
      expect(l.durationMs).toBeLessThan(60_000);
      expect(l.k8s).toEqual({ K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web-0', K8S_POD_INFRA_CONTAINER_ID: 'abc' });
      expect(l.error).toBeUndefined();
    }
    const add = (plugin: string): Line => all.find((l) => l.command === 'ADD' && l.plugin === plugin)!;
    expect(add('flannel').ips).toEqual([expect.stringMatching(/^10\.231\.7\.\d+\/24$/)]);
    expect(add('host-local').ips).toEqual(add('flannel').ips);
    // debug (flannel and, inherited, its delegates): the steps; info (portmap): none
    expect(add('flannel').steps).toEqual([expect.objectContaining({ step: 'delegate', type: 'bridge', command: 'ADD', exitCode: 0 })]);
    expect(add('bridge').steps?.filter((s) => s.step === 'delegate')).toEqual([expect.objectContaining({ step: 'delegate', type: 'host-local', command: 'ADD', exitCode: 0 })]);
    expect(add('portmap').steps).toBeUndefined();
    // the programs a call ran (the bridge's masquerade: set up on ADD, both backends cleaned on DEL), with their exit codes
    const runsOf = (command: string): { cmd: string; args: string; exitCode: number }[] =>
      (all.find((l) => l.command === command && l.plugin === 'bridge')!.steps ?? []).filter((s) => s.step === 'run') as unknown as { cmd: string; args: string; exitCode: number }[];
    expect(runsOf('ADD').length).toBeGreaterThan(0);
    // (nftables goes through netlink in the process: no program, so no step)
    expect(runsOf('DEL').map((r) => r.cmd)).toEqual(expect.arrayContaining(['iptables']));
    for (const r of [...runsOf('ADD'), ...runsOf('DEL')]) expect(typeof r.exitCode).toBe('number');
  });

  it('logs a failed call with its CNI error (and at logLevel error only failures)', async () => {
    const log = join(dir, 'cni.log');
    writeConf({ flannel: { logFile: log, logLevel: 'error' }, portmap: { logFile: log, logLevel: 'error' } }, join(dir, 'missing-subnet.env'));
    const r = await tool('add');
    expect(r.code).toBe(1);
    const all = lines(log);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ plugin: 'flannel', command: 'ADD', exitCode: 1, error: { code: expect.any(Number) as number, msg: expect.stringContaining('subnet.env') as string } });
    // the cleanup DEL libcni would not run here; with a good subnet.env a whole lifecycle adds no line at "error"
    writeConf({ flannel: { logFile: log, logLevel: 'error' }, portmap: { logFile: log, logLevel: 'error' } });
    for (const verb of ['add', 'del']) expect((await tool(verb)).code).toBe(0);
    expect(lines(log)).toHaveLength(1);
  });

  it('never fails the call when the log cannot be written, and without the keys writes nothing', async () => {
    writeConf({ flannel: { logFile: '/proc/dp-no-such-dir/cni.log' }, portmap: { logFile: 'relative/ignored.log' } });
    const logged = await tool('add');
    expect(logged.code, logged.stderr).toBe(0);
    expect(logged.stderr).toBe('');
    expect((await tool('del')).code).toBe(0);
    writeConf({});
    const before = readdirSync(dir).sort();
    const plain = await tool('add');
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe('');
    // the same result, but for the address
    const strip = (s: string): string => s.replace(/10\.231\.7\.\d+/g, 'X').replace(/"mac": "[^"]+"/g, '').replace(/"sandbox": "[^"]+"/g, '').replace(/veth[0-9a-f]{8}/g, 'veth');
    expect(strip(plain.stdout)).toBe(strip(logged.stdout));
    expect((await tool('del')).code).toBe(0);
    // nothing new besides what the plugins keep (flannel's data dir, the lease dir, the runtime's cache)
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(join(dir, 'relative'))).toBe(false);
  });
});
