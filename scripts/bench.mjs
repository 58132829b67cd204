#!/usr/bin/env node
// npm run bench: our executable and Debian's Go plugins (containernetworking-
// plugins, /usr/lib/cni) side by side, in one run, through the same
// fork/exec/wait4 path (scripts/bench/runstat.c): median wall time and peak
// RSS per scenario. Numbers, not a test: nothing here fails on a threshold.
//
// Plugins that touch the network run inside throwaway "host" namespaces (one
// per side, so each side has its own cni0) with a fresh pod namespace per run;
// the real host namespace is never touched. Debian ships no flannel plugin: the
// flannel rows compare our flannel → bridge → host-local chain (one process)
// with the Go bridge → host-local chain (two processes) given the same
// delegate config that flannel renders.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const OURS = join(root, 'dist', 'bin');
const GO = '/usr/lib/cni';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 50);
const SIDES = existsSync(join(GO, 'bridge')) ? ['ours', 'go'] : ['ours'];
const tag = randomBytes(3).toString('hex');

function runstatPath() {
  const out = join(root, 'build', 'runstat');
  mkdirSync(dirname(out), { recursive: true });
  execFileSync('gcc', ['-O2', '-o', out, join(root, 'scripts', 'bench', 'runstat.c')]);
  return out;
}

const work = mkdtempSync(join(tmpdir(), 'cni-bench-'));
let stdinSeq = 0;
function stdinFile(text) {
  const p = join(work, `stdin-${stdinSeq++}`);
  writeFileSync(p, text);
  return p;
}

const namespaces = [];
function netnsAdd(name) {
  execFileSync('ip', ['netns', 'add', name]);
  namespaces.push(name);
  return `/run/netns/${name}`;
}

/** One run of `exe` (optionally inside `netns`); resolves { ns, rssKiB, status }. */
function once(runstat, { exe, env, stdin, netns }) {
  return new Promise((resolve, reject) => {
    const child = spawn(runstat, ['1', stdinFile(stdin), exe], { env: { ...env, RUNSTAT_NETNS: netns ?? '' } });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', () => {
      const [ns, rss, status] = out.trim().split(' ').map(Number);
      resolve({ ns, rssKiB: rss, status });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (rs) => ({ ms: median(rs.map((r) => r.ns)) / 1e6, rssMiB: Math.max(...rs.map((r) => r.rssKiB)) / 1024 });

/** Runs iteration(i, side) `rounds` times per side, alternating sides so that noise falls on both alike. */
async function measure(runstat, scenario) {
  const runs = Object.fromEntries(SIDES.map((s) => [s, []]));
  const failed = {};
  for (let i = 0; i < scenario.rounds; i++) {
    for (const side of SIDES) {
      if (failed[side] !== undefined) continue;
      const r = await once(runstat, scenario.iteration(i, side));
      if (r.status !== 0) failed[side] = `exit ${r.status}`;
      else runs[side].push(r);
    }
  }
  const row = { name: scenario.name };
  for (const side of SIDES) row[side] = failed[side] !== undefined ? { failed: failed[side] } : summary(runs[side]);
  return row;
}

/** `count` runs at once per side; the wall time from the first start to the last exit. */
async function measureConcurrent(runstat, scenario) {
  const row = { name: scenario.name };
  for (const side of SIDES) {
    const calls = Array.from({ length: scenario.count }, (_, i) => scenario.iteration(i, side));
    const t0 = process.hrtime.bigint();
    const rs = await Promise.all(calls.map((c) => once(runstat, c)));
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const bad = rs.filter((r) => r.status !== 0).length;
    row[side] = bad > 0 ? { failed: `${bad} of ${scenario.count} failed` } : { ms: wall, rssMiB: Math.max(...rs.map((r) => r.rssKiB)) / 1024 };
  }
  return row;
}

const baseEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const binDir = (side) => (side === 'ours' ? OURS : GO);
const dataDir = (side, what) => join(work, `data-${what}-${side}`);
const cniEnv = (side, command, id, netns, extra = {}) => ({
  ...baseEnv,
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: netns,
  CNI_IFNAME: 'eth0',
  CNI_PATH: binDir(side),
  ...extra,
});

// host-local: no namespace needed
const hostLocalConf = (side) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'benchnet',
    type: 'host-local',
    ipam: { type: 'host-local', dataDir: dataDir(side, 'hl'), ranges: [[{ subnet: '10.250.0.0/16' }], [{ subnet: 'fd50::/64' }]], routes: [{ dst: '0.0.0.0/0' }] },
  });

// bridge with the delegate config kube-flannel's flannel renders
const hostNs = Object.fromEntries(SIDES.map((s) => [s, `t-bench-${s}-${tag}`]));
const podNs = (side, what, i) => `t-bp-${tag}-${side}-${what}${i}`;
const delegateConf = (side, what) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'bridge',
    hairpinMode: true,
    isDefaultGateway: true,
    isGateway: true,
    ipMasq: true,
    mtu: 1450,
    // exactly what flannel renders from the subnet.env below, so both sides configure the same cni0
    ipam: { type: 'host-local', dataDir: dataDir(side, what), ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '10.244.0.0/16' }] },
  });
const flannelConf = (side) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'flannel',
    subnetFile: join(work, 'subnet.env'),
    dataDir: dataDir(side, 'flannel-saved'),
    delegate: { hairpinMode: true, isDefaultGateway: true },
    ipam: { dataDir: dataDir(side, 'fl') },
  });

function podCall(side, command, what, i, conf, exeName) {
  return {
    exe: join(binDir(side), exeName),
    env: cniEnv(side, command, `${what}-${i}`, `/run/netns/${podNs(side, what, i)}`),
    stdin: conf,
    netns: `/run/netns/${hostNs[side]}`,
  };
}

function prepPods(what, count) {
  for (const side of SIDES) for (let i = 0; i < count; i++) netnsAdd(podNs(side, what, i));
}

function fmt(n, digits) {
  return n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits);
}

function cell(side, key, digits) {
  if (side === undefined) return 'n/a';
  if (side.failed !== undefined) return `failed (${side.failed})`;
  return fmt(side[key], digits);
}

async function main() {
  const runstat = runstatPath();
  if (!existsSync(join(OURS, 'cni'))) throw new Error('dist/bin/cni is missing: run npm run build first');
  if (SIDES.length === 1) process.stdout.write(`note: ${GO} is missing (apt-get install containernetworking-plugins): Go columns are n/a\n`);
  for (const side of SIDES) {
    netnsAdd(hostNs[side]);
    execFileSync('ip', ['netns', 'exec', hostNs[side], 'ip', 'link', 'set', 'lo', 'up']);
  }
  // FLANNEL_IPMASQ=false so that the rendered delegate has ipMasq true, like the Go rows' config
  writeFileSync(join(work, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');

  const rows = [];
  const version = { exe: '', env: { ...baseEnv, CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' };
  rows.push(await measure(runstat, { name: 'bridge VERSION', rounds: ROUNDS, iteration: (_i, side) => ({ ...version, exe: join(binDir(side), 'bridge') }) }));

  const hl = (command) => (i, side) => ({ exe: join(binDir(side), 'host-local'), env: cniEnv(side, command, `hl-${i}`, '/proc/self/ns/net', { CNI_NETNS_OVERRIDE: '1' }), stdin: hostLocalConf(side) });
  rows.push(await measure(runstat, { name: 'host-local ADD (dual stack)', rounds: ROUNDS, iteration: hl('ADD') }));
  rows.push(await measure(runstat, { name: 'host-local DEL', rounds: ROUNDS, iteration: hl('DEL') }));

  prepPods('b', ROUNDS);
  rows.push(await measure(runstat, { name: 'bridge ADD (kube-flannel delegate config, ipMasq)', rounds: ROUNDS, iteration: (i, side) => podCall(side, 'ADD', 'b', i, delegateConf(side, 'b'), 'bridge') }));
  rows.push(await measure(runstat, { name: 'bridge DEL', rounds: ROUNDS, iteration: (i, side) => podCall(side, 'DEL', 'b', i, delegateConf(side, 'b'), 'bridge') }));

  prepPods('f', ROUNDS);
  const chain = (command) => (i, side) => (side === 'ours' ? podCall(side, command, 'f', i, flannelConf(side), 'flannel') : podCall(side, command, 'f', i, delegateConf(side, 'f'), 'bridge'));
  rows.push(await measure(runstat, { name: 'pod ADD: ours flannel→bridge→host-local, Go bridge→host-local', rounds: ROUNDS, iteration: chain('ADD') }));
  rows.push(await measure(runstat, { name: 'pod DEL: same chains', rounds: ROUNDS, iteration: chain('DEL') }));

  prepPods('c', CONCURRENT);
  const conc = (i, side) => (side === 'ours' ? podCall(side, 'ADD', 'c', i, flannelConf(side), 'flannel') : podCall(side, 'ADD', 'c', i, delegateConf(side, 'c'), 'bridge'));
  rows.push(await measureConcurrent(runstat, { name: `${CONCURRENT} pod ADDs at once (wall time of all)`, count: CONCURRENT, iteration: conc }));

  const lines = [
    `| scenario (${ROUNDS} runs per side, median) | ours ms | Go ms | ours peak RSS MiB | Go peak RSS MiB |`,
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${cell(r.ours, 'ms', 1)} | ${cell(r.go, 'ms', 1)} | ${cell(r.ours, 'rssMiB', 1)} | ${cell(r.go, 'rssMiB', 1)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

try {
  await main();
} finally {
  for (const ns of namespaces.reverse()) {
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
}
