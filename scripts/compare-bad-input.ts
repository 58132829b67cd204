/**
 * The bad-input table of test/integration/bad-input.test.ts against our
 * bridge and host-local and against the Go reference's (/usr/lib/cni), side
 * by side, for docs/reliability.md. Root only; run with Node 24
 * (type stripping): node_modules/.bin/node scripts/compare-bad-input.ts
 *
 * Per implementation and case: did it answer within 5 s, with a valid CNI
 * error (and the code we expect), without a stack or panic on stderr; did the
 * failed call change links, addresses, routes, rules, iptables or files; did
 * the runtime's follow-up DEL leave anything. flannel's cases are not run
 * (Debian has no Go flannel); the delegation cycles are not run against Go
 * (its bridge would exec itself without end).
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { CASES, type Case, type Ctx } from '../test/helpers/bad-input-cases.ts';
import { BIN_DIR, GO_CNI_DIR } from '../test/helpers/exec.ts';
import type { TestNetns } from '../test/helpers/netns.ts';
import { type PluginName, TestNode, hasStack, isCniError } from '../test/helpers/reliability.ts';
import { diff, snapshot } from '../test/helpers/snapshot.ts';

const TIMEOUT_MS = 5000;

function netns(): TestNetns {
  const name = `t-cmp${Math.random().toString(16).slice(2, 8)}`;
  execFileSync('ip', ['netns', 'add', name]);
  return { name, path: `/run/netns/${name}` };
}

interface Out {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Runs a plugin in the node namespace; past TIMEOUT_MS its whole process group is killed. */
function run(t: TestNode, plugin: PluginName, env: Record<string, string>, stdin: string | Buffer): Promise<Out> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', t.node.name, join(t.bin, plugin)], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: Date.now() - started, timedOut });
    });
    child.stdin.end(stdin);
  });
}

interface Row {
  impl: string;
  name: string;
  answered: boolean;
  validError: boolean;
  code: number | undefined;
  expected: number;
  stack: boolean;
  changedByCall: string[];
  delCode: number | undefined;
  leftAfterDel: string[];
}

async function runCase(t: TestNode, impl: string, c: Case): Promise<Row> {
  const pod = netns();
  const x: Ctx = { t, pod, conf: t.conf(c.plugin) };
  const id = `cmp-${Math.random().toString(16).slice(2, 10)}`;
  const command = c.command ?? 'ADD';
  const v = c.conf === undefined ? x.conf : c.conf(structuredClone(x.conf), x);
  const stdin = typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v);
  const envOf = (cmd: string): Record<string, string> => {
    const over = c.env?.(x) ?? {};
    return t.env(cmd, pod, id, { ...over, CNI_COMMAND: cmd === command ? (over['CNI_COMMAND'] ?? cmd) : cmd });
  };
  const row: Row = { impl, name: `${c.plugin} ${c.name}`, answered: false, validError: false, code: undefined, expected: c.code, stack: false, changedByCall: [], delCode: undefined, leftAfterDel: [] };
  try {
    await c.setup?.(x);
    const before = snapshot([t.node, pod], [t.dir]);
    const r = await run(t, c.plugin, envOf(command), stdin);
    row.answered = !r.timedOut && r.ms < TIMEOUT_MS;
    let json: unknown;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
    row.validError = r.code !== 0 && isCniError(json);
    row.code = isCniError(json) ? json.code : r.code === 0 ? 0 : undefined;
    row.stack = hasStack(r.stderr) || r.stderr.includes('goroutine ') || r.stderr.includes('panic:');
    row.changedByCall = diff(before, snapshot([t.node, pod], [t.dir]));
    if (command === 'ADD') {
      const d = await run(t, c.plugin, envOf('DEL'), stdin);
      row.delCode = d.code;
      row.leftAfterDel = diff(before, snapshot([t.node, pod], [t.dir]));
    }
    await c.teardown?.(x).catch(() => undefined);
  } finally {
    execFileSync('ip', ['netns', 'del', pod.name]);
  }
  return row;
}

async function compare(impl: 'ours' | 'go'): Promise<Row[]> {
  const node = netns();
  const t = new TestNode(node, impl === 'ours' ? BIN_DIR : GO_CNI_DIR);
  const residents: TestNetns[] = [];
  const rows: Row[] = [];
  try {
    for (const plugin of ['bridge', 'host-local'] as const) {
      const r = netns();
      residents.push(r);
      const add = await run(t, plugin, t.env('ADD', r, `resident-${plugin}`), JSON.stringify(t.conf(plugin)));
      if (add.code !== 0) throw new Error(`${impl} resident ${plugin}: ${add.stdout}${add.stderr}`);
    }
    for (const c of CASES) {
      if (c.plugin === 'flannel') continue;
      if (impl === 'go' && /cycle/.test(c.name)) continue;
      rows.push(await runCase(t, impl, c));
      t.writeSubnetEnv();
    }
  } finally {
    for (const r of residents) execFileSync('ip', ['netns', 'del', r.name]);
    execFileSync('ip', ['netns', 'del', node.name]);
    t.cleanup();
  }
  return rows;
}

function summary(rows: Row[]): Record<string, number> {
  return {
    cases: rows.length,
    'answered within 5 s': rows.filter((r) => r.answered).length,
    'valid CNI error': rows.filter((r) => r.validError).length,
    'expected code': rows.filter((r) => r.code === r.expected).length,
    'accepted (exit 0)': rows.filter((r) => r.code === 0).length,
    'stack or panic on stderr': rows.filter((r) => r.stack).length,
    'state changed by the failed call': rows.filter((r) => r.changedByCall.length > 0).length,
    'follow-up DEL failed': rows.filter((r) => r.delCode !== undefined && r.delCode !== 0).length,
    'state left after the follow-up DEL': rows.filter((r) => r.leftAfterDel.length > 0).length,
  };
}

const ours = await compare('ours');
const go = await compare('go');
const s = { ours: summary(ours), go: summary(go) };
process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
for (const r of go) {
  const o = ours.find((x) => x.name === r.name);
  const notes: string[] = [];
  if (!r.answered) notes.push('no answer');
  if (r.code !== o?.code) notes.push(`code ${String(r.code)} (ours ${String(o?.code)})`);
  if (r.stack) notes.push('panic');
  if (r.changedByCall.length > 0) notes.push(`changed: ${r.changedByCall.length} lines`);
  if (r.leftAfterDel.length > 0) notes.push(`left after DEL: ${r.leftAfterDel.slice(0, 2).join(' / ')}`);
  if (notes.length > 0) process.stdout.write(`go  ${r.name}: ${notes.join('; ')}\n`);
}
for (const r of ours) if (r.changedByCall.length > 0 || r.leftAfterDel.length > 0 || !r.answered) process.stdout.write(`ours ${r.name}: ${JSON.stringify(r)}\n`);
