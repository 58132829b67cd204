#!/usr/bin/env node
// npm run install-plugins -- /opt/cni/bin [--only flannel,bridge,...] [--target node|bun] [--conflist FILE --conf-dir DIR]
//
// Runs the built executable's own installer, `cni install --dest <dir> ...`
// (tools/install/index.ts: atomic renames, links for every plugin of
// cmd/registry.ts, a replaced Go plugin kept once as <name>.orig, nothing
// touched when already installed), with the executable of the chosen build
// target (scripts/targets.mjs: the default, or --target). The first argument
// not starting with "--" is the bin dir; everything else goes to
// `cni install` as given.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TARGET, TARGETS } from './targets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const args = process.argv.slice(2);
const targetIdx = args.indexOf('--target');
const target = targetIdx >= 0 ? args.splice(targetIdx, 2)[1] : DEFAULT_TARGET;
if (!Object.hasOwn(TARGETS, target ?? '')) {
  process.stderr.write(`usage: npm run install-plugins -- <dir> [--only NAMES] [--target ${Object.keys(TARGETS).join('|')}] (default ${DEFAULT_TARGET})\n`);
  process.exit(2);
}
// the executable whose installer runs (and which it installs)
const exe = join(root, 'dist', TARGETS[target], 'cni');
const pos = args.findIndex((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--') || args[i - 1].includes('=')));
if (pos >= 0) args.splice(pos, 1, '--dest', args[pos]);
if (!existsSync(exe)) {
  process.stderr.write(`${exe} is missing: run npm run build first\n`);
  process.exit(1);
}
const r = spawnSync(exe, ['install', ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
