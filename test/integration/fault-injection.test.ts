/**
 * The fault-injection suite (issue 9): the flannel → bridge → host-local ADD
 * of the built executable (one process: our own delegates run in-process)
 * killed with SIGKILL at every checkpoint (CNI_TS_FAULT=<point>:stop stops the
 * process there, then the test kills it) and at random times; then the
 * runtime's DEL and a GC, as kubelet/containerd would send them. Each time:
 * no lease, veth, address, route, rule, iptables rule, saved or temporary
 * file of the killed attachment remains (snapshot before/after of the node,
 * the pod and every file), the resident pod is untouched, and the next ADD
 * gets a correct address (in the node's subnet, not the resident's).
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetnsEnv, type TestNetns, isRoot, leftoverTestNetns } from '../helpers/netns.ts';
import { TestNode, hasStack } from '../helpers/reliability.ts';
import { diff, snapshot } from '../helpers/snapshot.ts';
import { execFileSync } from 'node:child_process';

const CHECKPOINTS = [
  'flannel:saved',
  'bridge:bridge',
  'bridge:veth',
  'bridge:spoofcheck',
  'host-local:tmp-written',
  'host-local:tmp-synced',
  'host-local:linked',
  'host-local:tmp-removed',
  'host-local:cursor-written',
  'bridge:ipam',
  'bridge:container',
  'bridge:gateway',
  'bridge:masquerade',
  'bridge:port',
  'flannel:delegated',
];
const RANDOM_KILLS = 20;

let env: NetnsEnv;
let t: TestNode;
let resident: TestNetns;
let residentIp: string;
/** How long an ADD takes here: random kills land within it. */
let addMs = 100;
let interrupted = 0;
const pods: string[] = [];

function newPod(): TestNetns {
  const name = `t-fi${Math.random().toString(16).slice(2, 8)}`;
  execFileSync('ip', ['netns', 'add', name]);
  pods.push(name);
  return { name, path: `/run/netns/${name}` };
}

function conf(version = '1.0.0'): string {
  return JSON.stringify(t.conf('flannel', version));
}

beforeAll(async () => {
  expect(isRoot(), 'the fault-injection suite needs root (network namespaces)').toBe(true);
  env = new NetnsEnv();
  t = new TestNode(env.netns());
  resident = env.netns();
  const add = await t.run('flannel', t.env('ADD', resident, 'resident'), conf());
  expect(add.code, add.stdout + add.stderr).toBe(0);
  residentIp = ((add.json as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0] ?? '';
  expect(residentIp).toBe(`10.${t.octet}.1.2`);
  // one ADD's length, from warm ADDs like the killed ones (the first ADD of a node also makes its bridge and
  // sweeps its directories): the median of three, each then deleted
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const pod = env.netns();
    const warm = await t.run('flannel', t.env('ADD', pod, `warm-${i}`), conf());
    expect(warm.code, warm.stdout + warm.stderr).toBe(0);
    times.push(warm.ms);
    expect((await t.run('flannel', t.env('DEL', pod, `warm-${i}`), conf())).code).toBe(0);
  }
  addMs = times.sort((x, y) => x - y)[1] ?? add.ms;
});

afterEach(() => {
  for (const name of pods.splice(0)) execFileSync('ip', ['netns', 'del', name]);
});

afterAll(() => {
  try {
    env.cleanup();
  } finally {
    t.cleanup();
  }
  expect(leftoverTestNetns()).toEqual([]);
});

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

interface Killed {
  /** Whether the kill came before the process finished on its own. */
  killed: boolean;
  stopped: boolean;
}

/** Starts ADD in the node namespace; kills it when it stops at `checkpoint`, or after `afterMs`. */
function addAndKill(pod: TestNetns, id: string, opts: { checkpoint?: string; afterMs?: number }): Promise<Killed> {
  const e = t.env('ADD', pod, id, opts.checkpoint === undefined ? {} : { CNI_TS_FAULT: `${opts.checkpoint}:stop` });
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', t.node.name, join(t.bin, 'flannel')], { env: e, stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.end(conf());
    let done = false;
    let stopped = false;
    let killed = false;
    child.on('error', reject);
    child.on('exit', () => {
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ killed, stopped });
    });
    const kill = (): void => {
      if (done || child.pid === undefined) return;
      killed = true;
      process.kill(child.pid, 'SIGKILL');
    };
    const poll = setInterval(() => {
      if (opts.checkpoint === undefined || child.pid === undefined) return;
      if (processState(child.pid) === 'T') {
        stopped = true;
        kill();
      }
    }, 2);
    const timer = setTimeout(kill, opts.afterMs ?? 10_000);
  });
}

function leases(): string[] {
  const d = join(t.dir, 'ipam', `rlf${t.tag}`);
  return existsSync(d) ? readdirSync(d).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : [];
}

async function delAndGc(pod: TestNetns, id: string): Promise<void> {
  const del = await t.run('flannel', t.env('DEL', pod, id), conf());
  expect(del.code, `DEL after the kill: ${del.stdout}${del.stderr}`).toBe(0);
  expect(hasStack(del.stderr), del.stderr).toBe(false);
  const gcConf = JSON.stringify({ ...t.conf('flannel', '1.1.0'), 'cni.dev/valid-attachments': [{ containerID: 'resident', ifname: 'eth0' }] });
  const gc = await t.run('flannel', t.env('GC', undefined, ''), gcConf);
  expect(gc.code, `GC after the kill: ${gc.stdout}${gc.stderr}`).toBe(0);
}

/** The next pod gets a correct address, and goes away cleanly. */
async function nextAddIsCorrect(): Promise<void> {
  const pod = newPod();
  const add = await t.run('flannel', t.env('ADD', pod, 'next'), conf());
  expect(add.code, add.stdout + add.stderr).toBe(0);
  const addr = (add.json as { ips: { address: string }[] }).ips[0]?.address ?? '';
  expect(addr).toMatch(new RegExp(`^10\\.${t.octet}\\.1\\.\\d+/24$`));
  expect(addr.split('/')[0]).not.toBe(residentIp);
  expect(leases().sort()).toEqual([residentIp, addr.split('/')[0]].sort());
  const del = await t.run('flannel', t.env('DEL', pod, 'next'), conf());
  expect(del.code, del.stdout + del.stderr).toBe(0);
  expect(leases()).toEqual([residentIp]);
}

function state(pod: TestNetns) {
  return snapshot([t.node, pod, resident], [t.dir]);
}

describe('SIGKILL at every checkpoint of flannel → bridge → host-local ADD, then DEL and GC', () => {
  it.each(CHECKPOINTS)('%s', async (cp) => {
    const pod = newPod();
    const before = state(pod);
    const id = `killed-${cp.replace(/[^a-z]/g, '')}`;
    const k = await addAndKill(pod, id, { checkpoint: cp });
    expect(k.stopped, `the ADD reached ${cp}`).toBe(true);
    expect(k.killed).toBe(true);
    await delAndGc(pod, id);
    expect(diff(before, state(pod)).join('\n'), 'nothing of the killed ADD remains').toBe('');
    expect(leases()).toEqual([residentIp]);
    await nextAddIsCorrect();
  });
});

describe('SIGKILL at random times', () => {
  // spread over the length of one ADD (measured in beforeAll), a random point in each slice
  const slices = Array.from({ length: RANDOM_KILLS }, (_, i) => [i, Math.random()] as const);
  it.each(slices)('kill %i', async (i, r) => {
    const ms = Math.floor(((i + r) / RANDOM_KILLS) * addMs * 1.5);
    const pod = newPod();
    const before = state(pod);
    const id = `rnd-${i}`;
    const k = await addAndKill(pod, id, { afterMs: ms });
    if (k.killed) interrupted++;
    await delAndGc(pod, id);
    expect(diff(before, state(pod)).join('\n'), 'nothing of the killed ADD remains').toBe('');
    expect(leases()).toEqual([residentIp]);
  });

  it('most kills interrupted an ADD, and the node still hands out a correct address', async () => {
    expect(interrupted, `${interrupted} of ${RANDOM_KILLS} kills landed before the ADD finished (one ADD: ${addMs} ms)`).toBeGreaterThanOrEqual(RANDOM_KILLS / 2);
    await nextAddIsCorrect();
  });
});
