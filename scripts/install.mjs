#!/usr/bin/env node
// npm run install-plugins -- /opt/cni/bin [--only flannel,bridge,...] [--conflist FILE --conf-dir DIR]
//
// Runs the built executable's own installer, `cni install --dest <dir> ...`
// (tools/install/index.ts: atomic renames, links for every plugin of
// cmd/registry.ts, a replaced Go plugin kept once as <name>.orig, nothing
// touched when already installed). The first argument not starting with "--"
// is the bin dir; everything else goes to `cni install` as given.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// the executable whose installer runs (and which it installs): the one place a build target changes
const exe = join(root, 'dist', 'bin', 'cni');

const args = process.argv.slice(2);
const pos = args.findIndex((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--') || args[i - 1].includes('=')));
if (pos >= 0) args.splice(pos, 1, '--dest', args[pos]);
if (!existsSync(exe)) {
  process.stderr.write(`${exe} is missing: run npm run build first\n`);
  process.exit(1);
}
const r = spawnSync(exe, ['install', ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
