#!/usr/bin/env node
// The pod lifecycle as kubelet drives it: RunPodSandbox + StopPodSandbox +
// RemovePodSandbox over CRI (gRPC, test/helpers/cri.ts) against a private
// containerd 1.6 with its CRI plugin, the setup of test/integration/cri.test.ts.
// The pod has no containers and no port mappings (the sandbox is where the
// network is made). Per pod the CRI plugin execs: ADD of its loopback network
// and of the conflist's chain, then at Stop a DEL of both (netns still there)
// and at Remove a DEL of both again (CNI_NETNS empty).
//
// Two chains (BENCH_CRI_CHAINS, default "kube-flannel,k3s"), as conf-examples/
// has them: kube-flannel's manifest's (0.3.1: flannel, portmap) and k3s'
// (1.0.0: flannel, portmap, bandwidth). Per chain two sides, each a node
// (network namespace) with its own private containerd:
//   - ours: every plugin (loopback, flannel → bridge → host-local in one
//     process, portmap, bandwidth) from our executable;
//   - go: Debian's Go plugins. Debian ships no flannel plugin, so the Go chain
//     is bridge (→ host-local) with the delegate config our flannel renders
//     from the same subnet.env, then the conflist's other plugins; loopback is
//     Go's too.
// and on each daemon the same pod with `hostNetwork` (no CNI call at all): the
// runtime's own share. Rounds are interleaved (the order of the four
// configurations rotates each round); medians; "added" is a side's median minus
// its own daemon's no-network median. Numbers, not a test.
//
// Alone: `node scripts/bench/cri-lifecycle.mjs` (root, built executable;
// BENCH_CRI_ROUNDS, default 15; BENCH_CRI_BREAKDOWN_ROUNDS, default 5). From bench.mjs:
//   import { measureCriLifecycle, criLifecycleMarkdown } from './bench/cri-lifecycle.mjs';
import { mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CriContainerd, recordedCalls, recordingBinDir, sandboxConfig } from '../../test/helpers/cri.ts';
import { RuntimeNode } from '../../test/helpers/runtimes.ts';

const example = (file) => JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'conf-examples', file), 'utf8'));
/** The chains measured: kube-flannel's manifest's conflist and k3s' (conf-examples/), pods without annotations. */
export const CHAINS = {
  'kube-flannel': {
    conflist: example('kube-flannel-0.3.1.conflist'),
    ours: 'loopback + kube-flannel 0.3.1 (flannel → bridge → host-local, portmap)',
    go: 'loopback + bridge → host-local (the delegate config flannel renders) + portmap',
  },
  k3s: {
    conflist: example('k3s.conflist'),
    ours: "loopback + k3s' 1.0.0 (flannel → bridge → host-local, portmap, bandwidth)",
    go: 'loopback + bridge → host-local + portmap + bandwidth',
  },
};
const CONFIGS = [
  { key: 'ours', side: 'ours', hostNetwork: false },
  { key: 'go', side: 'go', hostNetwork: false },
  { key: 'oursNone', side: 'ours', hostNetwork: true },
  { key: 'goNone', side: 'go', hostNetwork: true },
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The plugins the CRI plugin execs (bridge and host-local run inside flannel's process on our side, inside Go bridge's children on Go's). */
const EXECED = ['loopback', 'flannel', 'bridge', 'portmap', 'bandwidth'];

/** A bin dir of links to the node's, whose entries the breakdown re-points to timing wrappers. */
function binDirOf(node) {
  const dir = join(node.root, 'bin-cri');
  mkdirSync(dir);
  for (const t of readdirSync(node.binDir)) symlinkSync(join(node.binDir, t), join(dir, t));
  return dir;
}

/** Re-points the execed plugins of `dir` to recording wrappers (test/helpers/cri.ts) logging into `logDir`. */
function recordInto(node, dir, logDir) {
  const rec = join(node.root, 'bin-rec');
  recordingBinDir(rec, node.binDir, logDir, EXECED);
  for (const t of EXECED.filter((x) => readdirSync(node.binDir).includes(x))) {
    symlinkSync(join(rec, t), join(dir, `.${t}.new`));
    renameSync(join(dir, `.${t}.new`), join(dir, t));
  }
}

/** Median wall time of each call of a lifecycle: "ADD flannel", "DEL at Stop portmap", "DEL at Remove loopback", ... */
function breakdown(calls) {
  const by = new Map();
  for (const c of calls) {
    if (c.ms === undefined) continue;
    const cmd = c.env.CNI_COMMAND === 'DEL' ? ((c.env.CNI_NETNS ?? '') === '' ? 'DEL at Remove' : 'DEL at Stop') : c.env.CNI_COMMAND;
    const key = `${cmd} ${c.type}`;
    by.set(key, [...(by.get(key) ?? []), c.ms]);
  }
  return Object.fromEntries([...by].map(([k, v]) => [k, { ms: median(v), n: v.length }]));
}

/**
 * Medians of `rounds` lifecycles per configuration. Resolves
 * { rounds, ms: { ours, go, oursNone, goNone } }; throws when a call fails or a side left state behind.
 */
export async function measureCriLifecycle({ chain = 'kube-flannel', rounds = Number(process.env.BENCH_CRI_ROUNDS ?? 15), breakdownRounds = Number(process.env.BENCH_CRI_BREAKDOWN_ROUNDS ?? 5) } = {}) {
  const nodes = {};
  const daemons = {};
  const { conflist } = CHAINS[chain];
  const types = ['bridge', 'host-local', 'loopback', ...conflist.plugins.map((p) => p.type)];
  try {
    nodes.ours = new RuntimeNode({ cniVersion: conflist.cniVersion, plugins: conflist.plugins, types });
    nodes.go = new RuntimeNode({ cniVersion: conflist.cniVersion, plugins: conflist.plugins, types, chain: 'go-bridge' });
    const binDirs = {};
    for (const side of ['ours', 'go']) {
      binDirs[side] = binDirOf(nodes[side]);
      daemons[side] = new CriContainerd(nodes[side], binDirs[side]);
      await daemons[side].start();
    }
    const runs = Object.fromEntries(CONFIGS.map((c) => [c.key, []]));
    const ids = { ours: [], go: [] };
    // one unmeasured round: pause image unpacked, bridges created, page cache warm
    for (let i = -1; i < rounds; i++) {
      for (let k = 0; k < CONFIGS.length; k++) {
        const c = CONFIGS[(k + Math.max(i, 0)) % CONFIGS.length];
        const ctrd = daemons[c.side];
        const cfg = sandboxConfig(`bench-${c.key.toLowerCase()}-${i + 1}`, { hostNetwork: c.hostNetwork });
        const t0 = process.hrtime.bigint();
        const id = await ctrd.runPod(cfg);
        await ctrd.removePod(id);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (!c.hostNetwork) ids[c.side].push(id);
        if (i >= 0) runs[c.key].push(ms);
      }
    }
    // then, untimed as a whole, lifecycles with each plugin execution timed by a wrapper (sh, date: a few ms each)
    const calls = {};
    for (const side of ['ours', 'go']) recordInto(nodes[side], binDirs[side], join(nodes[side].root, 'calls'));
    for (let i = 0; i < breakdownRounds; i++) {
      for (const side of i % 2 === 0 ? ['ours', 'go'] : ['go', 'ours']) {
        const id = await daemons[side].runPod(sandboxConfig(`bench-calls-${i}`));
        await daemons[side].removePod(id);
        ids[side].push(id);
      }
    }
    for (const side of ['ours', 'go']) {
      const recorded = recordedCalls(join(nodes[side].root, 'calls'));
      const failed = recorded.filter((c) => c.code !== 0);
      if (failed.length > 0) throw new Error(`${side}: ${failed.length} plugin calls failed`);
      calls[side] = breakdown(recorded);
      const left = nodes[side].leftovers(ids[side], []);
      const n = left.veths.length + left.leases.length + left.savedConfigs.length + left.cache.length + left.rules.length;
      if (n > 0) throw new Error(`${side}: the lifecycles left state behind: ${JSON.stringify(left)}`);
    }
    return { chain, rounds, breakdownRounds, ms: Object.fromEntries(CONFIGS.map((c) => [c.key, median(runs[c.key])])), calls };
  } finally {
    try {
      for (const d of Object.values(daemons)) await d.stop();
    } finally {
      for (const n of Object.values(nodes)) n.cleanup();
    }
  }
}

/** Rows in bench.mjs's shape: { name, ours: { ms }, go: { ms } }. */
export function criLifecycleRows(result) {
  const { ours, go, oursNone, goNone } = result.ms;
  return [
    { name: `CRI pod lifecycle, Run+Stop+Remove (containerd 1.6, ${result.rounds} pods): ours ${CHAINS[result.chain].ours}; Go ${CHAINS[result.chain].go}`, ours: { ms: ours }, go: { ms: go } },
    { name: 'same, added over a hostNetwork pod on the same daemon', ours: { ms: ours - oursNone }, go: { ms: go - goNone } },
  ];
}

export function criLifecycleMarkdown(result) {
  const { ours, go, oursNone, goNone } = result.ms;
  const [addOurs, addGo] = [ours - oursNone, go - goNone];
  return [
    `| CRI pod lifecycle under containerd 1.6 (RunPodSandbox + StopPodSandbox + RemovePodSandbox, ${result.rounds} pods per configuration, interleaved, median) | ms | added over no network, ms |`,
    '|---|---:|---:|',
    `| ours: ${CHAINS[result.chain].ours} | ${ours.toFixed(1)} | ${addOurs.toFixed(1)} |`,
    `| Go: ${CHAINS[result.chain].go} | ${go.toFixed(1)} | ${addGo.toFixed(1)} |`,
    `| no network (hostNetwork pod), ours' daemon / Go's daemon | ${oursNone.toFixed(1)} / ${goNone.toFixed(1)} | – |`,
    '',
    `added over no network, ours / Go: **${(addOurs / addGo).toFixed(2)}×**`,
    '',
    ...callsMarkdown(result),
  ].join('\n');
}

/** Each plugin execution of a lifecycle, ours and Go's side by side (Go's bridge stands where our flannel is). */
function callsMarkdown(result) {
  const { ours, go } = result.calls;
  const rows = [];
  let sumOurs = 0;
  let sumGo = 0;
  for (const cmd of ['ADD', 'DEL at Stop', 'DEL at Remove']) {
    for (const [mine, theirs] of [['loopback', 'loopback'], ...CHAINS[result.chain].conflist.plugins.map((p) => (p.type === 'flannel' ? ['flannel', 'bridge'] : [p.type, p.type]))]) {
      const o = ours[`${cmd} ${mine}`];
      const g = go[`${cmd} ${theirs}`];
      sumOurs += o?.ms ?? 0;
      sumGo += g?.ms ?? 0;
      const name = mine === theirs ? mine : `${mine} (Go: ${theirs})`;
      rows.push(`| ${cmd} ${name} | ${o?.ms.toFixed(1) ?? '–'} | ${g?.ms.toFixed(1) ?? '–'} | ${o && g ? `${(o.ms / g.ms).toFixed(2)}×` : ''} |`);
    }
  }
  return [
    `| each plugin execution of a lifecycle (${result.breakdownRounds} pods per side, median; wall time around the process) | ours ms | Go ms | ours / Go |`,
    '|---|---:|---:|---:|',
    ...rows,
    `| sum of the ${rows.length} | ${sumOurs.toFixed(1)} | ${sumGo.toFixed(1)} | ${(sumOurs / sumGo).toFixed(2)}× |`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.getuid?.() !== 0) {
    process.stderr.write('cri-lifecycle needs root (network and mount namespaces, containerd)\n');
    process.exit(1);
  }
  // BENCH_CRI_CHAINS: which chains, in order (default both)
  for (const chain of (process.env.BENCH_CRI_CHAINS ?? 'kube-flannel,k3s').split(',')) {
    if (!(chain in CHAINS)) throw new Error(`unknown chain ${chain}: ${Object.keys(CHAINS).join(', ')}`);
    const result = await measureCriLifecycle({ chain });
    process.stdout.write(`\n${criLifecycleMarkdown(result)}\n`);
  }
}
