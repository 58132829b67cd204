/**
 * kill -9 at random times during a bridge → host-local ADD (ipMasq, iptables),
 * ours and the Go reference's (/usr/lib/cni) side by side, each followed by the
 * runtime's DEL only (Debian's Go plugins have no GC): how many DELs failed and
 * how many kills left something (a lease, a veth, an address, a route, an
 * iptables rule, a file). Only the plugin process is killed, as a runtime's
 * timeout does; a child it exec'd (Go's host-local, iptables) runs on.
 * Root only; Node 24: node_modules/.bin/node scripts/compare-kills.ts [kills]
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { BIN_DIR, GO_CNI_DIR } from '../test/helpers/exec.ts';
import type { TestNetns } from '../test/helpers/netns.ts';
import { TestNode } from '../test/helpers/reliability.ts';
import { diff, snapshot } from '../test/helpers/snapshot.ts';

const KILLS = Number(process.argv[2] ?? '30');

function netns(): TestNetns {
  const name = `t-kil${Math.random().toString(16).slice(2, 8)}`;
  execFileSync('ip', ['netns', 'add', name]);
  return { name, path: `/run/netns/${name}` };
}

function run(t: TestNode, env: Record<string, string>, stdin: string, killAfterMs?: number): Promise<{ code: number; ms: number; killed: boolean; stdout: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', t.node.name, join(t.bin, 'bridge')], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    let killed = false;
    let done = false;
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => {
      if (!done && child.pid !== undefined) {
        killed = true;
        process.kill(child.pid, 'SIGKILL');
      }
    }, killAfterMs);
    child.on('close', (code) => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code: code ?? -1, ms: Date.now() - started, killed, stdout: Buffer.concat(out).toString() });
    });
    child.stdin.end(stdin);
  });
}

async function kills(impl: 'ours' | 'go'): Promise<Record<string, number | string[]>> {
  const node = netns();
  const t = new TestNode(node, impl === 'ours' ? BIN_DIR : GO_CNI_DIR);
  const conf = JSON.stringify(t.conf('bridge', '0.4.0'));
  const pods: TestNetns[] = [];
  let interrupted = 0;
  let delFailed = 0;
  let retryFailed = 0;
  let leftSomething = 0;
  const examples: string[] = [];
  try {
    const resident = netns();
    pods.push(resident);
    const first = await run(t, t.env('ADD', resident, 'resident'), conf);
    if (first.code !== 0) throw new Error(`${impl}: resident ADD failed`);
    const addMs = first.ms;
    for (let i = 0; i < KILLS; i++) {
      const pod = netns();
      pods.push(pod);
      const before = snapshot([t.node, pod], [t.dir]);
      const id = `kill-${i}`;
      const r = await run(t, t.env('ADD', pod, id), conf, Math.floor(((i + Math.random()) / KILLS) * addMs * 1.5));
      if (r.killed) interrupted++;
      await new Promise((res) => setTimeout(res, 300)); // let orphaned children finish
      const d = await run(t, t.env('DEL', pod, id), conf);
      if (d.code !== 0) {
        delFailed++;
        if ((await run(t, t.env('DEL', pod, id), conf)).code !== 0) retryFailed++;
        if (examples.length < 4) examples.push(`${id} DEL: ${d.stdout.replace(/\s+/g, ' ').slice(0, 240)}`);
      }
      await new Promise((res) => setTimeout(res, 100));
      const left = diff(before, snapshot([t.node, pod], [t.dir]));
      if (left.length > 0) {
        leftSomething++;
        if (examples.length < 4) examples.push(`${id}: ${left.slice(0, 2).join(' / ').slice(0, 240)}`);
      }
    }
  } finally {
    for (const p of pods) execFileSync('ip', ['netns', 'del', p.name]);
    execFileSync('ip', ['netns', 'del', node.name]);
    t.cleanup();
  }
  return { kills: KILLS, 'killed mid-ADD': interrupted, 'DEL failed': delFailed, 'retried DEL failed again': retryFailed, 'kills that left something after DEL': leftSomething, examples };
}

const ours = await kills('ours');
const go = await kills('go');
process.stdout.write(`${JSON.stringify({ ours, go }, null, 2)}\n`);
