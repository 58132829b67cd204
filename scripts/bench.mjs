#!/usr/bin/env node
// npm run bench: our executable and Debian's Go plugins (containernetworking-
// plugins, /usr/lib/cni) side by side, in one run, through the same
// fork/exec/wait4 path (scripts/bench/runstat.c): median wall time and peak
// RSS per scenario. Numbers, not a test: nothing here fails on a threshold.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const OURS = join(root, 'dist', 'bin');
const GO = '/usr/lib/cni';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);

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

/** One run of `exe`; returns { ns, rssKiB, status }. */
function once(runstat, exe, env, stdin) {
  const out = execFileSync(runstat, ['1', stdinFile(stdin), exe], { env, encoding: 'utf8' });
  const [ns, rss, status] = out.trim().split(' ').map(Number);
  return { ns, rssKiB: rss, status };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
};

/**
 * A scenario runs `iteration(i, side)` ROUNDS times per side, alternating the
 * sides so that machine noise falls on both alike.
 */
function measure(runstat, scenario) {
  const sides = { ours: [], go: [] };
  const haveGo = existsSync(join(GO, scenario.goExe));
  for (let i = 0; i < scenario.rounds; i++) {
    for (const side of haveGo ? ['ours', 'go'] : ['ours']) {
      const { exe, env, stdin } = scenario.iteration(i, side);
      const r = once(runstat, exe, env, stdin);
      if (r.status !== 0) throw new Error(`${scenario.name} (${side}) exited ${r.status}`);
      sides[side].push(r);
    }
  }
  const summary = (rs) => (rs.length === 0 ? undefined : { ms: median(rs.map((r) => r.ns)) / 1e6, rssMiB: Math.max(...rs.map((r) => r.rssKiB)) / 1024 });
  return { name: scenario.name, ours: summary(sides.ours), go: summary(sides.go) };
}

const baseEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

const dataDirs = { ours: join(work, 'data-ours'), go: join(work, 'data-go') };
const hostLocalConf = (side) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'benchnet',
    type: 'host-local',
    ipam: { type: 'host-local', dataDir: dataDirs[side], ranges: [[{ subnet: '10.250.0.0/16' }], [{ subnet: 'fd50::/64' }]], routes: [{ dst: '0.0.0.0/0' }] },
  });
const cniCall = (command, i) => ({
  ...baseEnv,
  CNI_COMMAND: command,
  CNI_CONTAINERID: `bench-${i}`,
  CNI_NETNS: '/proc/self/ns/net',
  CNI_NETNS_OVERRIDE: '1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/nonexistent',
});

const scenarios = [
  {
    name: 'bridge VERSION',
    goExe: 'bridge',
    rounds: ROUNDS,
    iteration: (_i, side) => ({
      exe: join(side === 'ours' ? OURS : GO, 'bridge'),
      env: { ...baseEnv, CNI_COMMAND: 'VERSION' },
      stdin: '{"cniVersion":"1.0.0"}',
    }),
  },
  {
    name: 'host-local ADD (dual stack)',
    goExe: 'host-local',
    rounds: ROUNDS,
    iteration: (i, side) => ({ exe: join(side === 'ours' ? OURS : GO, 'host-local'), env: cniCall('ADD', i), stdin: hostLocalConf(side) }),
  },
  {
    name: 'host-local DEL',
    goExe: 'host-local',
    rounds: ROUNDS,
    iteration: (i, side) => ({ exe: join(side === 'ours' ? OURS : GO, 'host-local'), env: cniCall('DEL', i), stdin: hostLocalConf(side) }),
  },
];

function fmt(n, digits) {
  return n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits);
}

try {
  const runstat = runstatPath();
  if (!existsSync(join(OURS, 'cni'))) throw new Error('dist/bin/cni is missing: run npm run build first');
  if (!existsSync(GO)) process.stdout.write(`note: ${GO} is missing (apt-get install containernetworking-plugins): Go columns are n/a\n`);
  const rows = scenarios.map((s) => measure(runstat, s));
  const lines = [
    `| scenario (${ROUNDS} runs per side) | ours median ms | Go median ms | ours peak RSS MiB | Go peak RSS MiB |`,
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.ours?.ms, 1)} | ${fmt(r.go?.ms, 1)} | ${fmt(r.ours?.rssMiB, 1)} | ${fmt(r.go?.rssMiB, 1)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
