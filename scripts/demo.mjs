#!/usr/bin/env node
// npm run demo: runs the built executable the way a container runtime does and
// says what happens at each step, then the flannel cluster demo (the real flanneld and etcd, or flanneld
// simulated without them). Needs `npm run build` first (the README's main command does both).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFlanneld } from './lib/flanneld.mjs';

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

const engine = findFlanneld();
if (engine.fatal) {
  process.stderr.write(`demo: ${engine.problem}\n`);
  process.exit(1);
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

// The real job: the three-node demo with the real flanneld and etcd (scripts/demo-cluster.mjs); without them
// (no FLANNELD, no ../shared/tools/flanneld to build it from, or no etcd), the two-node demo with flanneld's part
// played by scripts (scripts/demo-two-node.mjs). A FLANNELD that names nothing usable is an error.
const etcd = ['etcd', 'etcdctl'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
let next = 'demo-cluster.mjs';
if (engine.path === undefined && !engine.buildable) {
  say(`No real flanneld here (${engine.problem}), so flanneld's part is simulated: two nodes, flannel wiring pods on each (scripts/demo-two-node.mjs):`);
  next = 'demo-two-node.mjs';
} else if (!etcd) {
  say('No real flanneld here (etcd/etcdctl are missing: bash scripts/setup-machine.sh installs them), so flanneld\'s part is simulated: two nodes (scripts/demo-two-node.mjs):');
  next = 'demo-two-node.mjs';
} else {
  say('Now the real job: etcd, three nodes, the real flanneld on each, our flannel wiring pods from the subnet.env it wrote (scripts/demo-cluster.mjs):');
}
const r = spawnSync(process.execPath, [join(root, 'scripts', next), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
