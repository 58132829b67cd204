/**
 * bandwidth, as root in scratch namespaces, next to Debian's Go plugin
 * (/usr/lib/cni/bandwidth, 1.1.1): the same tc state for the same input
 * (`tc -j qdisc/filter show` compared), each CHECK accepting the other's state,
 * ours deleting Go's and the reverse,
 * CHECK that notices a missing qdisc, a failed ADD leaving nothing, DEL
 * without netns or prevResult, GC and STATUS.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BwLab, bwConf, sh, type BwPod } from '../helpers/bandwidth.ts';
import { isRoot } from '../helpers/netns.ts';
import { ROOT, binPath, cniEnv, runExe, type RunResult } from '../helpers/exec.ts';
import { BANDWIDTH_ADD_STEPS } from '../../plugins/bandwidth/commands.ts';

beforeAll(() => {
  if (!isRoot()) throw new Error('the bandwidth integration tests need root (network namespaces)');
});

const labs: BwLab[] = [];
afterEach(() => {
  for (const l of labs.splice(0)) l.cleanup();
});
function lab(tag?: string): BwLab {
  const l = new BwLab(tag);
  labs.push(l);
  return l;
}

function ok(r: RunResult): unknown {
  if (r.code !== 0) throw new Error(`plugin failed (${r.code}): ${r.stdout}${r.stderr}`);
  expect(r.stderr).toBe('');
  return r.json;
}

function fail(r: RunResult, code: number, msg: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.json).toMatchObject({ code, msg: expect.stringContaining(msg) as unknown });
}

const BOTH = { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 8_000_000, egressBurst: 800_000 };
/** What containerd's CRI plugin sends for kubernetes.io/ingress-bandwidth: 1M / egress-bandwidth: 10M. */
const CRI = { runtimeConfig: { bandwidth: { IngressRate: 1_000_000, IngressBurst: 4_294_967_295, EgressRate: 10_000_000, EgressBurst: 4_294_967_295 } } };

function expectClean(l: BwLab, pod: BwPod): void {
  expect(l.ifbs()).toEqual([]);
  expect(l.qdiscs()).toEqual([]);
  expect(l.filters(pod.veth)).toEqual([]);
}

describe('bandwidth: the same tc state as the Go plugin', () => {
  it.each([
    ['both directions', BOTH],
    ['ingress only', { ingressRate: 1_000_000, ingressBurst: 100_000 }],
    ['egress only', { egressRate: 100_000_000, egressBurst: 1_000_000 }],
    ["containerd's CRI bursts (the buffer wraps)", CRI],
    ['a 64-bit rate', { ingressRate: 40_000_000_000, ingressBurst: 4_294_967_295, egressRate: 40_000_000_000, egressBurst: 4_294_967_295 }],
  ])('%s', async (_what, keys) => {
    const tag = randomBytes(3).toString('hex');
    const a = lab(tag);
    const b = lab(tag);
    const pa = a.pod();
    const pb = b.pod();
    const ra = ok(await a.ours('ADD', pa, bwConf(pa, keys))) as { interfaces: { name: string }[] };
    const rb = ok(await b.go('ADD', pb, bwConf(pb, keys))) as { interfaces: { name: string }[] };
    expect(ra.interfaces.map((i) => i.name)).toEqual(rb.interfaces.map((i) => i.name));
    expect(a.qdiscs()).toEqual(b.qdiscs());
    expect(a.filters(pa.veth)).toEqual(b.filters(pb.veth));
    expect(a.ifbs()).toEqual(b.ifbs());
    expect(a.qdiscs().length).toBeGreaterThan(0);
    // each CHECK accepts both
    ok(await a.ours('CHECK', pa, bwConf(pa, keys)));
    ok(await b.ours('CHECK', pb, bwConf(pb, keys)));
    ok(await a.go('CHECK', pa, bwConf(pa, keys)));
    // ours deletes Go's and Go deletes ours (Go's DEL removes only the ifb)
    ok(await b.ours('DEL', pb, bwConf(pb, keys)));
    expectClean(b, pb);
    ok(await a.go('DEL', pa, bwConf(pa, keys)));
    expect(a.ifbs()).toEqual([]);
    ok(await a.ours('DEL', pa, bwConf(pa, keys)));
    expectClean(a, pa);
  });
});

describe('bandwidth ADD, CHECK, DEL', () => {
  it('ADD returns prevResult plus the ifb; DEL is idempotent and needs neither the netns nor prevResult', async () => {
    const l = lab();
    const pod = l.pod();
    const res = ok(await l.ours('ADD', pod, bwConf(pod, BOTH, '1.1.0'))) as { interfaces: { name: string; mac: string; sandbox?: string }[] };
    const ifbs = l.ifbs();
    expect(ifbs).toHaveLength(1);
    expect(res.interfaces).toHaveLength(3);
    expect(res.interfaces[2]).toEqual({ name: ifbs[0], mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) as unknown });
    const link = JSON.parse(sh(l.host.name, 'ip', '-j', '-d', 'link', 'show', ifbs[0]!)) as { flags: string[]; mtu: number; txqlen?: number; ifalias?: string }[];
    expect(link[0]!.flags).toContain('UP');
    expect(link[0]!.mtu).toBe(1500);
    expect(link[0]!.ifalias).toBe('cni-bandwidth net=bwnet');
    ok(await l.ours('STATUS', undefined, bwConf(undefined, {}, '1.1.0')));
    // the runtime's second DEL (RemovePodSandbox): no netns, no prevResult
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH, '1.1.0', 'without'), { netns: '' }));
    expect(l.ifbs()).toEqual([]);
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH, '1.1.0')));
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH, '1.1.0')));
    expectClean(l, pod);
  });

  it('no bandwidth: prevResult passes through and nothing is made', async () => {
    const l = lab();
    const pod = l.pod();
    expect(ok(await l.ours('ADD', pod, bwConf(pod, {})))).toEqual(pod.prevResult);
    expect(ok(await l.ours('ADD', pod, bwConf(pod, { runtimeConfig: { bandwidth: { ingressRate: 0, ingressBurst: 0 } } })))).toEqual(pod.prevResult);
    expectClean(l, pod);
  });

  it('CHECK fails when a qdisc, the filter or the ifb was removed by hand (Go passes the first)', async () => {
    const l = lab();
    const pod = l.pod();
    ok(await l.ours('ADD', pod, bwConf(pod, BOTH)));
    sh(l.host.name, 'tc', 'qdisc', 'del', 'dev', pod.veth, 'root');
    fail(await l.ours('CHECK', pod, bwConf(pod, BOTH)), 999, 'bandwidth limits of container');
    ok(await l.go('CHECK', pod, bwConf(pod, BOTH)));
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH)));
    ok(await l.ours('ADD', pod, bwConf(pod, BOTH)));
    sh(l.host.name, 'tc', 'qdisc', 'del', 'dev', pod.veth, 'ingress');
    fail(await l.ours('CHECK', pod, bwConf(pod, BOTH)), 999, 'bandwidth limits of container');
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH)));
    ok(await l.ours('ADD', pod, bwConf(pod, BOTH)));
    // other numbers than the conf's
    fail(await l.ours('CHECK', pod, bwConf(pod, { ...BOTH, egressRate: 16_000_000 })), 999, "Rate doesn't match");
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH)));
    expectClean(l, pod);
  });

  it('a failed ADD leaves nothing behind', async () => {
    const l = lab();
    const pod = l.pod();
    const conf = bwConf(pod, BOTH);
    ok(await l.ours('ADD', pod, conf));
    const ifb = l.ifbs()[0]!;
    // the ifb name taken by something that is not ours: ADD fails after the ingress tbf
    ok(await l.ours('DEL', pod, conf));
    sh(l.host.name, 'ip', 'link', 'add', ifb, 'type', 'veth', 'peer', 'name', 'bwtaken');
    fail(await l.ours('ADD', pod, conf), 999, 'already exists');
    expect(l.qdiscs()).toEqual([]);
    expect(l.filters(pod.veth)).toEqual([]);
    // DEL leaves a device that is not an ifb alone
    ok(await l.ours('DEL', pod, conf));
    expect(sh(l.host.name, 'ip', '-br', 'link', 'show', ifb)).toContain(ifb);
  });

  it.each([
    ['no prevResult', (p: BwPod) => bwConf(p, BOTH, '1.0.0', 'without'), 7, 'must be called as chained plugin'],
    ['a rate without a burst', (p: BwPod) => bwConf(p, { ingressRate: 1000 }), 7, 'if rate is set, burst must also be set'],
    ['a burst over 4 GB', (p: BwPod) => bwConf(p, { egressRate: 1000, egressBurst: 40_000_000_000 }), 7, 'burst cannot be more than 4GB'],
    ['a negative rate', (p: BwPod) => bwConf(p, { egressRate: -1, egressBurst: 1 }), 7, 'unsigned 64-bit integer'],
    ['prevResult without interfaces', (p: BwPod) => ({ ...bwConf(p, BOTH), prevResult: { cniVersion: '1.0.0', ips: [] } }), 7, 'no interfaces provided'],
  ])('refuses %s with a precise code and leaves nothing', async (_what, mk, code, msg) => {
    const l = lab();
    const pod = l.pod();
    fail(await l.ours('ADD', pod, mk(pod)), code, msg);
    expectClean(l, pod);
  });

  it('a missing netns is code 8', async () => {
    const l = lab();
    const pod = l.pod();
    fail(await l.ours('ADD', pod, bwConf(pod, BOTH), { netns: '/run/netns/bw-nope' }), 8, 'failed to open netns');
    expectClean(l, pod);
  });
});

describe('bandwidth GC', () => {
  it('removes the ifb devices of attachments not in cni.dev/valid-attachments, and only this network\'s', async () => {
    const l = lab();
    const p1 = l.pod();
    const p2 = l.pod();
    const p3 = l.pod();
    ok(await l.ours('ADD', p1, bwConf(p1, BOTH)));
    ok(await l.ours('ADD', p2, bwConf(p2, BOTH)));
    // another network's attachment
    ok(await l.ours('ADD', p3, { ...bwConf(p3, BOTH), name: 'othernet' }));
    // a Go-made ifb still in use (no label): kept while its filter redirects to it
    expect(l.ifbs()).toHaveLength(3);
    const gc = { ...bwConf(undefined, {}, '1.1.0'), 'cni.dev/valid-attachments': [{ containerID: p1.containerId, ifname: 'eth0' }] };
    ok(await l.ours('GC', undefined, gc));
    const left = l.ifbs();
    expect(left).toHaveLength(2);
    ok(await l.ours('CHECK', p1, bwConf(p1, BOTH, '1.1.0')));
    fail(await l.ours('CHECK', p2, bwConf(p2, BOTH, '1.1.0')), 999, 'not found');
    ok(await l.ours('CHECK', p3, { ...bwConf(p3, BOTH, '1.1.0'), name: 'othernet' }));
    for (const [p, name] of [[p1, 'bwnet'], [p2, 'bwnet'], [p3, 'othernet']] as const) ok(await l.ours('DEL', p, { ...bwConf(p, BOTH), name }));
    expect(l.ifbs()).toEqual([]);
  });

  it("removes an unlabelled (Go's) ifb only once nothing redirects to it", async () => {
    const l = lab();
    const p1 = l.pod();
    ok(await l.go('ADD', p1, bwConf(p1, BOTH)));
    const gc = { ...bwConf(undefined, {}, '1.1.0'), 'cni.dev/valid-attachments': [] };
    ok(await l.ours('GC', undefined, gc));
    expect(l.ifbs()).toHaveLength(1);
    sh(l.host.name, 'ip', 'link', 'del', p1.veth); // the pod's veth went away with its filter
    ok(await l.ours('GC', undefined, gc));
    expect(l.ifbs()).toEqual([]);
  });
});

/** Runs a TCP transfer from `fromNs` to `toIp` in `toNs`; returns the receiver's rate in bit/s. */
async function measure(toNs: string, toIp: string, fromNs: string, seconds: number): Promise<number> {
  const script = join(ROOT, 'test', 'helpers', 'tcp-rate.mjs');
  const port = '5201';
  const recv = spawn('ip', ['netns', 'exec', toNs, process.execPath, script, 'recv', toIp, port], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    recv.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!out.includes('READY')) {
      if (Date.now() > deadline || recv.exitCode !== null) throw new Error(`receiver did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise<void>((resolve, reject) => {
      const send = spawn('ip', ['netns', 'exec', fromNs, process.execPath, script, 'send', toIp, port, String(seconds)], { stdio: 'inherit' });
      send.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited ${code}`))));
    });
    const end = Date.now() + 20_000;
    while (!out.includes('}')) {
      if (Date.now() > end) throw new Error(`receiver did not finish: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const m = JSON.parse(out.slice(out.indexOf('{'))) as { bytes: number; seconds: number };
    return (m.bytes * 8) / m.seconds;
  } finally {
    recv.kill('SIGKILL');
  }
}

describe('bandwidth shapes real traffic', () => {
  it('a pod shaped at 8 Mbit/s each way transfers at 8 Mbit/s ± 30% in both directions', { timeout: 60_000 }, async () => {
    const l = lab();
    const pod = l.pod();
    const unshaped = await measure(pod.ns.name, pod.podIp, l.host.name, 1);
    ok(await l.ours('ADD', pod, bwConf(pod, BOTH)));
    // into the pod: the tbf on the host veth
    const ingress = await measure(pod.ns.name, pod.podIp, l.host.name, 3);
    // out of the pod: redirected through the ifb and its tbf
    const egress = await measure(l.host.name, pod.hostIp, pod.ns.name, 3);
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH)));
    process.stderr.write(`bandwidth shaping: unshaped ${(unshaped / 1e6).toFixed(1)} Mbit/s, into the pod ${(ingress / 1e6).toFixed(2)}, out of it ${(egress / 1e6).toFixed(2)}\n`);
    expect(unshaped).toBeGreaterThan(8_000_000 * 3);
    expect(ingress).toBeGreaterThan(8_000_000 * 0.7);
    expect(ingress).toBeLessThan(8_000_000 * 1.3);
    expect(egress).toBeGreaterThan(8_000_000 * 0.7);
    expect(egress).toBeLessThan(8_000_000 * 1.3);
    expectClean(l, pod);
  });
});

/** Starts ADD stopped at `step` (CNI_TS_FAULT=bandwidth:<step>:stop), kills it there with SIGKILL. */
async function killAddAt(l: BwLab, pod: BwPod, step: string): Promise<void> {
  const env = cniEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: pod.containerId, CNI_NETNS: pod.ns.path, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', CNI_TS_FAULT: `bandwidth:${step}:stop` });
  const child = spawn('ip', ['netns', 'exec', l.host.name, binPath('bandwidth')], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin.end(JSON.stringify(bwConf(pod, BOTH)));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    let state = '';
    try {
      state = readFileSync(`/proc/${child.pid!}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';
    } catch {
      // not there yet or gone
    }
    if (state === 'T') break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ADD did not stop at ${step}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  await exited;
}

describe('bandwidth ADD killed at each step', () => {
  it.each(BANDWIDTH_ADD_STEPS.map((s) => [s]))('killed after %s: DEL leaves nothing, the next ADD works', async (step) => {
    const l = lab();
    const pod = l.pod();
    await killAddAt(l, pod, step);
    expect(l.qdiscs().length + l.ifbs().length).toBeGreaterThan(0);
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH)));
    expectClean(l, pod);
    ok(await l.ours('ADD', pod, bwConf(pod, BOTH)));
    ok(await l.ours('CHECK', pod, bwConf(pod, BOTH)));
    ok(await l.ours('DEL', pod, bwConf(pod, BOTH)));
    expectClean(l, pod);
  });

  it.each([['ifb'], ['alias'], ['ifb-tbf']])('killed after %s, the pod then gone: GC removes the ifb', async (step) => {
    const l = lab();
    const pod = l.pod();
    await killAddAt(l, pod, step);
    expect(l.ifbs()).toHaveLength(1);
    sh(l.host.name, 'ip', 'link', 'del', pod.veth);
    ok(await l.ours('GC', undefined, { ...bwConf(undefined, {}, '1.1.0'), 'cni.dev/valid-attachments': [] }));
    expect(l.ifbs()).toEqual([]);
  });
});

describe('dist/bin/bandwidth', () => {
  it('answers VERSION with 0.3.0 and later, as the reference (older results have no interfaces to find the veth in)', async () => {
    const r = await runExe(binPath('bandwidth'), { env: cniEnv({ CNI_COMMAND: 'VERSION' }), stdin: '' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n');
    const about = await runExe(binPath('bandwidth'), { env: cniEnv({}) });
    expect(about.stderr).toContain('CNI plugin bandwidth (cni-ts)');
    const old = await runExe(binPath('bandwidth'), { env: cniEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' }), stdin: JSON.stringify({ cniVersion: '0.2.0', name: 'n', type: 'bandwidth' }) });
    expect(old.json).toMatchObject({ code: 1, msg: 'incompatible CNI versions' });
  });
});
