#!/usr/bin/env node
// npm run demo: runs the built executable the way a container runtime does and
// says what happens at each step, then the two-node flannel demo. Needs `npm run build` first (the README's
// main command does both).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'dist', 'bin');
const say = (text) => process.stdout.write(`\n### ${text}\n`);

function run(label, exe, env, stdin = '', args = []) {
  process.stdout.write(`$ ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} ${label}${args.length ? ` ${args.join(' ')}` : ''}${stdin ? ` <<< '${stdin}'` : ''}\n`);
  const r = spawnSync(exe, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, input: stdin, encoding: 'utf8' });
  if (r.stdout) process.stdout.write(`${r.stdout.trimEnd()}\n`);
  if (r.stderr) process.stdout.write(`(stderr) ${r.stderr.trimEnd().replace(/\n/g, '\n(stderr) ')}\n`);
  process.stdout.write(`(exit ${r.status})\n`);
  return r;
}

if (!existsSync(join(bin, 'cni'))) {
  process.stderr.write('dist/bin/cni is missing: run npm run build first\n');
  process.exit(1);
}

say('One executable, five plugins. Called by its own name it says what it contains:');
run('dist/bin/cni', join(bin, 'cni'), {});

say('flannel, bridge, host-local, portmap and loopback are links to it; each answers VERSION like the Go reference plugins:');
for (const name of ['flannel', 'bridge', 'host-local', 'portmap', 'loopback']) run(`dist/bin/${name}`, join(bin, name), { CNI_COMMAND: 'VERSION' });

say('Bad input gets a CNI error object on stdout (code, msg, details) and a non-zero exit. Missing variables are named together:');
run('dist/bin/bridge', join(bin, 'bridge'), { CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.0.0","name":"demo","type":"bridge"}');

say('A config version the plugin does not speak is refused with the supported list:');
run('dist/bin/host-local', join(bin, 'host-local'), { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'demo1', CNI_IFNAME: 'eth0', CNI_PATH: bin }, '{"cniVersion":"0.9.0","name":"demo","type":"host-local"}');

say('The native parts (setns/flock/memfd addon and the netlink addon) are inside the executable; selftest loads them:');
run('dist/bin/cni', join(bin, 'cni'), {}, '', ['selftest']);

say('Now the real job: two nodes, flannel wiring pods on each, traffic across nodes (scripts/demo-two-node.mjs):');
const two = spawnSync(process.execPath, [join(root, 'scripts', 'demo-two-node.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(two.status ?? 1);
