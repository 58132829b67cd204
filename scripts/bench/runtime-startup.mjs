#!/usr/bin/env node
// Container start+stop under a real runtime: `ctr run --rm` (containerd 1.6,
// private daemon, busybox image built offline) of a container that exits at
// once, in three configurations interleaved round by round in one run:
//   - ours: the kube-flannel conflist without portmap, our flannel → bridge →
//     host-local (one process);
//   - go: Debian's Go bridge → host-local with the delegate config our flannel
//     renders from the same subnet.env (there is no Go flannel in Debian);
//   - none: no --cni, the runtime's own share.
// Each run is one `ctr run --rm [--cni]`: create, network ADD, start, exit,
// network DEL, delete; wall time of that process, median per configuration.
// The node of each configuration is its own network namespace, the files are
// temp dirs (test/helpers/runtimes.ts). Numbers, not a test.
//
// Alone: `node scripts/bench/runtime-startup.mjs` (root, built executable;
// BENCH_RUNTIME_ROUNDS, default 15). From bench.mjs:
//   import { measureRuntimeStartup, runtimeStartupRows } from './bench/runtime-startup.mjs';
//   rows.push(...runtimeStartupRows(await measureRuntimeStartup({ rounds })));
// gives rows shaped like bench.mjs's ({ name, ours: { ms }, go: { ms } }).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PrivateContainerd, RuntimeNode } from '../../test/helpers/runtimes.ts';

const CONFIGS = ['ours', 'go', 'none'];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(argv) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stderr }));
  });
}

/**
 * Medians of `rounds` runs per configuration, the configurations' order rotating
 * each round. Resolves { rounds, ms: { ours, go, none } }; throws when a run fails.
 */
export async function measureRuntimeStartup({ rounds = Number(process.env.BENCH_RUNTIME_ROUNDS ?? 15) } = {}) {
  const ctrd = new PrivateContainerd();
  const nodes = {};
  try {
    await ctrd.start();
    nodes.ours = new RuntimeNode({ cniVersion: '1.0.0', portmap: false });
    nodes.go = new RuntimeNode({ cniVersion: '1.0.0', portmap: false, chain: 'go-bridge' });
    const runs = { ours: [], go: [], none: [] };
    // one unmeasured run each: image unpacked, bridges created, page cache warm
    for (let i = -1; i < rounds; i++) {
      for (let k = 0; k < CONFIGS.length; k++) {
        const config = CONFIGS[(k + Math.max(i, 0)) % CONFIGS.length];
        const id = `bench-${config}-${i + 1}`;
        const args = config === 'none' ? ['run', '--rm', ctrd.image.ref, id, 'true'] : ['run', '--rm', '--cni', ctrd.image.ref, id, 'true'];
        const r = await timed(ctrd.ctrArgv(args, nodes[config]));
        if (r.code !== 0) throw new Error(`ctr run (${config}) failed (exit ${r.code}): ${r.stderr.trim()}`);
        if (i >= 0) runs[config].push(r.ms);
      }
    }
    const leaked = {};
    for (const config of ['ours', 'go']) {
      const left = nodes[config].leftovers([], []);
      if (left.veths.length + left.leases.length + left.savedConfigs.length + left.cache.length > 0) throw new Error(`${config}: runs left state behind: ${JSON.stringify(left)}`);
      // masquerade rules of the pods (named "CNI-<hash>" with the network in their comment) still in the node
      leaked[config] = nodes[config].ruleLines().filter((l) => l.startsWith('-A POSTROUTING') && l.includes(nodes[config].network)).length;
    }
    if (leaked.ours > 0) throw new Error(`our chain left ${leaked.ours} masquerade rules behind`);
    return { rounds, ms: Object.fromEntries(CONFIGS.map((c) => [c, median(runs[c])])), goLeakedMasqRules: leaked.go };
  } finally {
    try {
      await ctrd.stop();
    } finally {
      for (const n of Object.values(nodes)) n.cleanup();
    }
  }
}

/** Rows in bench.mjs's shape: { name, ours: { ms }, go: { ms } } (no RSS: the runtime's, not the plugins'). */
export function runtimeStartupRows(result) {
  return [
    { name: `container start+stop, containerd 1.6 \`ctr run --rm --cni\` (${result.rounds} runs): ours flannel→bridge→host-local, Go bridge→host-local`, ours: { ms: result.ms.ours }, go: { ms: result.ms.go } },
    { name: 'same container without network (the runtime alone)', ours: { ms: result.ms.none }, go: { ms: result.ms.none } },
  ];
}

/** A table of its own: one row per configuration, and what the network adds. */
export function runtimeStartupMarkdown(result) {
  const { ours, go, none } = result.ms;
  return [
    `| container start+stop under containerd 1.6 (\`ctr run --rm\`, ${result.rounds} runs each, interleaved, median) | ms | network's share ms |`,
    '|---|---:|---:|',
    `| our flannel → bridge → host-local (kube-flannel conflist without portmap) | ${ours.toFixed(1)} | ${(ours - none).toFixed(1)} |`,
    `| Go bridge → host-local (the delegate config flannel renders) | ${go.toFixed(1)} | ${(go - none).toFixed(1)} |`,
    `| no network | ${none.toFixed(1)} | – |`,
    '',
    `ctr's DEL comes with CNI_NETNS empty: the Go bridge then skips its masquerade teardown (containernetworking/plugins#810) and left ${result.goLeakedMasqRules} POSTROUTING rules after ${result.rounds + 1} containers, which also makes its DEL cheaper; ours removes them.`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.getuid?.() !== 0) {
    process.stderr.write('runtime-startup needs root (network and mount namespaces, containerd)\n');
    process.exit(1);
  }
  const result = await measureRuntimeStartup();
  process.stdout.write(`${runtimeStartupMarkdown(result)}\n`);
}
