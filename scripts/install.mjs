#!/usr/bin/env node
// npm run install-plugins -- /opt/cni/bin [--only flannel,bridge,host-local,portmap,loopback] [--target node|bun]
//
// Installs the default build target's executable (scripts/targets.mjs: bun, dist/bun/cni;
// --target node for dist/bin/cni) as <dir>/cni and points <dir>/<plugin> links at it.
// Every replacement is a rename, so a runtime executing a plugin at that
// moment sees either the old or the new file, never a half-written one (and
// never ETXTBSY). A Go plugin of the same name is replaced; the previous file
// is kept as <name>.orig the first time, so the switch can be undone.
import { copyFileSync, chmodSync, existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TARGET, TARGETS } from './targets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// the one list of plugins, from the composition root (Node 24 reads TypeScript; the loaders do not run)
const { PLUGIN_NAMES: ALL } = await import('../cmd/registry.ts');

const args = process.argv.slice(2);
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? (args.splice(onlyIdx, 2)[1] ?? '').split(',').filter(Boolean) : ALL;
const targetIdx = args.indexOf('--target');
const target = targetIdx >= 0 ? args.splice(targetIdx, 2)[1] : DEFAULT_TARGET;
const dir = args[0];
if (dir === undefined || only.some((p) => !ALL.includes(p)) || !Object.hasOwn(TARGETS, target ?? '')) {
  process.stderr.write(`usage: npm run install-plugins -- <dir> [--only ${ALL.join(',')}] [--target ${Object.keys(TARGETS).join('|')}] (default ${DEFAULT_TARGET})\n`);
  process.exit(2);
}
const src = join(root, 'dist', TARGETS[target], 'cni');
if (!existsSync(src)) {
  process.stderr.write(`dist/${TARGETS[target]}/cni is missing: run npm run build first\n`);
  process.exit(1);
}
mkdirSync(dir, { recursive: true });
const tmp = join(dir, `.cni.${process.pid}.tmp`);
copyFileSync(src, tmp);
chmodSync(tmp, 0o755);
renameSync(tmp, join(dir, 'cni'));
process.stdout.write(`installed ${join(dir, 'cni')} (the ${target} build target)\n`);
for (const name of only) {
  const target = join(dir, name);
  let existing;
  try {
    existing = lstatSync(target);
  } catch {
    existing = undefined;
  }
  if (existing?.isFile() && !existsSync(`${target}.orig`)) {
    copyFileSync(target, `${target}.orig`);
    process.stdout.write(`kept the previous ${name} as ${target}.orig\n`);
  }
  const linkTmp = join(dir, `.${name}.${process.pid}.tmp`);
  rmSync(linkTmp, { force: true });
  symlinkSync('cni', linkTmp);
  renameSync(linkTmp, target);
  process.stdout.write(`linked ${target} -> cni\n`);
}
