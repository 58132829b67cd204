/**
 * The bad-input suite (issue 9): table-driven hostile and broken inputs to the
 * built flannel, bridge and host-local, on a node namespace that already runs
 * one pod per plugin. Every case asserts:
 *   - one valid CNI error object on stdout with the expected code (and message
 *     where it matters), a non-zero exit, no JavaScript stack on stderr;
 *   - an answer within ANSWER_MS;
 *   - no change to links, addresses, routes, rules, iptables or files
 *     (snapshot before/after: the node, the resident pods and the new pod);
 *   - the runtime's follow-up DEL (same env and config, as containerd/cri-o
 *     send after a failed ADD) leaves nothing either, answers as expected, and
 *     is quiet on stderr when it succeeds.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetnsEnv, type TestNetns, isRoot, leftoverTestNetns } from '../helpers/netns.ts';
import { TestNode, hasStack, isCniError } from '../helpers/reliability.ts';
import { diff, snapshot } from '../helpers/snapshot.ts';
import { ANSWER_MS, CASES, type Ctx, PLUGINS } from '../helpers/bad-input-cases.ts';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// ------------------------------------------------------------------ the harness

let env: NetnsEnv;
let t: TestNode;
let residents: TestNetns[];
let pod: TestNetns | undefined;

beforeAll(async () => {
  expect(isRoot(), 'the bad-input suite needs root (network namespaces)').toBe(true);
  env = new NetnsEnv();
  t = new TestNode(env.netns());
  residents = [];
  // one pod per plugin already running on the node: a bad input must leave them alone
  for (const plugin of PLUGINS) {
    const r = env.netns();
    residents.push(r);
    const add = await t.run(plugin, t.env('ADD', r, `resident-${plugin}`), JSON.stringify(t.conf(plugin)));
    expect(add.code, add.stdout + add.stderr).toBe(0);
  }
});

afterEach(() => {
  if (pod !== undefined) sh('ip', ['netns', 'del', pod.name]);
  pod = undefined;
});

afterAll(() => {
  try {
    env.cleanup();
  } finally {
    t.cleanup();
  }
  expect(leftoverTestNetns()).toEqual([]);
});

function state(p: TestNetns) {
  return snapshot([t.node, p], [t.dir]);
}

it('has at least 150 cases', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(150);
});

describe.each(PLUGINS)('%s', (plugin) => {
  const cases = CASES.filter((c) => c.plugin === plugin);
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    // a namespace of its own, not from NetnsEnv: deleted in afterEach even if the case fails
    const name = `t-bi${Math.random().toString(16).slice(2, 8)}`;
    sh('ip', ['netns', 'add', name]);
    pod = { name, path: `/run/netns/${name}` };
    const x: Ctx = { t, pod, conf: t.conf(plugin) };
    const id = `bad-${Math.random().toString(16).slice(2, 10)}`;
    const command = c.command ?? 'ADD';
    const stdinOf = (): string | Buffer => {
      const v = c.conf === undefined ? x.conf : c.conf(structuredClone(x.conf), x);
      return typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v);
    };
    const envOf = (cmd: string): Record<string, string> => {
      const over = c.env?.(x) ?? {};
      const e = t.env(cmd, pod, id, { ...over, CNI_COMMAND: cmd === command ? (over['CNI_COMMAND'] ?? cmd) : cmd });
      return e;
    };

    const savedSubnetEnv = `FLANNEL_NETWORK=10.${t.octet}.0.0/16\nFLANNEL_SUBNET=10.${t.octet}.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`;
    const restore: (() => void)[] = [() => t.writeSubnetEnv(savedSubnetEnv), () => rmSync(join(t.dir, 'lockdir'), { recursive: true, force: true }), () => rmSync(join(t.dir, 'empty'), { recursive: true, force: true })];
    try {
      await c.setup?.(x);
      const before = state(pod);
      const stdin = stdinOf();
      const r = await t.run(plugin, envOf(command), stdin);
      expect(r.ms, 'answered within the bound').toBeLessThan(ANSWER_MS);
      if (c.code === 0) {
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stderr).toBe('');
      } else {
        expect(r.code, r.stdout + r.stderr).not.toBe(0);
        expect(isCniError(r.json), `a CNI error object on stdout: ${r.stdout}`).toBe(true);
        expect(hasStack(r.stderr), `no stack on stderr: ${r.stderr}`).toBe(false);
        const err = r.json as { code: number; msg: string };
        expect({ code: err.code, msg: err.msg }, r.stdout).toMatchObject({ code: c.code });
        if (typeof c.msg === 'string') expect(err.msg).toBe(c.msg);
        else if (c.msg !== undefined) expect(err.msg).toMatch(c.msg);
      }
      expect(diff(before, state(pod)).join('\n'), 'nothing changed').toBe('');

      const del = c.del ?? (command === 'ADD' ? 'any' : 'skip');
      if (del !== 'skip') {
        const d = await t.run(plugin, envOf('DEL'), stdin);
        expect(d.ms).toBeLessThan(ANSWER_MS);
        if (del === 'ok' || (del === 'any' && d.code === 0)) {
          expect(d.code, `follow-up DEL: ${d.stdout}${d.stderr}`).toBe(0);
          if (c.delWarns === true) expect(hasStack(d.stderr), d.stderr).toBe(false);
          else expect(d.stderr, 'a follow-up DEL is quiet').toBe('');
        } else {
          expect(d.code).not.toBe(0);
          expect(isCniError(d.json), d.stdout).toBe(true);
          expect(hasStack(d.stderr), d.stderr).toBe(false);
        }
        expect(diff(before, state(pod)).join('\n'), 'the follow-up DEL left nothing').toBe('');
      }
      await c.teardown?.(x);
    } finally {
      for (const f of restore) f();
    }
  });
});
