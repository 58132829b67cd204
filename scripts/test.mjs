#!/usr/bin/env node
// `npm test`: build the executable (the integration tests run the real thing),
// type-check, lint, then every test. Integration tests need root (network
// namespaces); they are never skipped silently: without root this fails.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// run the tools with this (Node 24) binary, whatever `node` is first on PATH
const tool = (rel) => [join(root, 'node_modules', rel)];

function run(label, cmd, args) {
  process.stdout.write(`\n== ${label}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`\n${label} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

if (process.getuid?.() !== 0) {
  process.stderr.write('npm test needs root: the integration tests create network namespaces, bridges and veth pairs.\n');
  process.exit(1);
}
const only = process.argv.slice(2);
run('build', process.execPath, [join(root, 'scripts', 'build.mjs')]);
run('typecheck', process.execPath, [...tool('typescript/bin/tsc'), '-p', 'tsconfig.json']);
run('lint', process.execPath, [...tool('eslint/bin/eslint.js'), '.']);
run('tests (unit, and integration on the Node target: dist/bin)', process.execPath, [...tool('vitest/vitest.mjs'), 'run', ...only]);
// the integration suite again on the second build target (docs/build-targets.md); one run after the
// other, never at once: both use the same kernel, namespaces and lock files
process.env.CNI_TS_TARGET = 'bun';
run('tests (integration on the Bun target: dist/bun)', process.execPath, [...tool('vitest/vitest.mjs'), 'run', '--project', 'integration-bun', '--passWithNoTests', ...only]);
