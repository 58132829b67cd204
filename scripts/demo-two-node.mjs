#!/usr/bin/env node
// The two-node flannel demo: two Kubernetes "nodes" as network namespaces on
// this machine, the built `flannel` executable wiring two pods on each, and
// proof that the pods can talk — on one node, across nodes (host-gw, then
// vxlan), out of the cluster (masqueraded) and through a hostPort — and that
// deleting them leaves nothing behind. Needs root and `npm run build` first.
//
//   node scripts/demo-two-node.mjs [--delegates=auto|ours|go] [--backend=both|host-gw|vxlan]
//
// --delegates: "ours" runs our bridge and host-local inside the flannel process;
// "go" uses Debian's Go bridge and host-local (/usr/lib/cni); "auto" (default)
// takes ours when dist/bin/bridge is implemented. portmap (chained after flannel)
// and loopback (containerd's loopback network, conf-examples/containerd-loopback.conflist)
// are always ours: with our delegates no Go plugin is left on the node.
//
// --conflist=1.0.0|1.1.0: which kube-flannel conflist of conf-examples/ to run (default 1.1.0
// with our delegates, 1.0.0 with the Go ones, which speak spec 1.0.0 at most).
//
// The lab itself is test/helpers/nodes.ts (shared with the end-to-end test),
// loaded with Node 24's type stripping; on an older `node` this re-runs itself
// with the Node 24 that `npm ci` installs in node_modules/.bin.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { arg, onNode24 } from './lib/demo-cli.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

onNode24(import.meta.url);

const isTTY = process.stdout.isTTY === true;
const paint = (code, text) => (isTTY ? `\x1b[${code}m${text}\x1b[0m` : text);
const out = (text) => process.stdout.write(`${text}\n`);
const narrator = { say: (t) => out(t), cmd: (t) => out(paint('2', `    $ ${t}`)) };
let failures = 0;
function step(title) {
  out(`\n${paint('1', `== ${title}`)}`);
}
function verdict(ok, text) {
  if (!ok) failures++;
  out(`  ${ok ? paint('32', 'OK  ') : paint('31', 'FAIL')} ${text}`);
}

if (process.getuid?.() !== 0) {
  process.stderr.write('demo: needs root (it creates network namespaces, veth pairs and bridges; all inside namespaces it removes afterwards)\n');
  process.exit(1);
}
if (!existsSync(join(root, 'dist', 'bin', 'flannel'))) {
  process.stderr.write('demo: dist/bin/flannel is missing: run npm run build first\n');
  process.exit(1);
}

const { TwoNodeLab, ourBridgeProblem } = await import(pathToFileURL(join(root, 'test', 'helpers', 'nodes.ts')).href);

let delegates = arg('delegates', 'auto');
if (delegates === 'auto') {
  const problem = ourBridgeProblem();
  delegates = problem === undefined ? 'ours' : 'go';
  if (problem !== undefined) out(`(our bridge is not ready yet — ${problem.split('\n')[0]} — so this demo uses the Go bridge and host-local)`);
}
if (delegates === 'go') {
  for (const p of ['bridge', 'host-local']) {
    if (!existsSync(join('/usr/lib/cni', p))) {
      process.stderr.write(`demo: /usr/lib/cni/${p} is missing: run bash scripts/setup-machine.sh (Debian's containernetworking-plugins)\n`);
      process.exit(1);
    }
  }
}
const conflistVersion = arg('conflist', delegates === 'ours' ? '1.1.0' : '1.0.0');
const conflistName = `flannel-kube-${conflistVersion}.conflist`;
const backendArg = arg('backend', 'both');
const backends = backendArg === 'both' ? ['host-gw', 'vxlan'] : [backendArg];

let current;
const stop = () => {
  try {
    current?.cleanup();
  } finally {
    process.exit(130);
  }
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

out(paint('1', 'flannel, two nodes, four pods'));
out(
  'flanneld (the flannel daemon) gives every node a slice of the cluster network and writes it to /run/flannel/subnet.env.\n' +
    'When a pod starts, the container runtime calls the flannel CNI plugin; flannel reads subnet.env, turns it into a\n' +
    'config for the bridge plugin (which makes the pod\'s network interface) and host-local (which picks its address),\n' +
    'and hands over. This demo does exactly that, with our flannel executable, on two pretend nodes.',
);

for (const backend of backends) {
  const flanneldMasq = backend === 'vxlan';
  const lab = new TwoNodeLab({ delegates, backend, flanneldMasq, narrator, conflist: join(root, 'conf-examples', conflistName) });
  current = lab;
  try {
    step(`${backend}: building two nodes`);
    lab.setup();
    const [node1, node2] = lab.pair();

    step(`${backend}: what flanneld would set up between the nodes`);
    lab.installBackend();

    step(`${backend}: starting four pods (loopback for lo, then kube-flannel's conflist: flannel, then portmap)`);
    out(`The conflist (conf-examples/${conflistName}): ${JSON.stringify(lab.conflist)}`);
    const pods = {};
    for (const [node, name] of [
      [node1, 'a1'],
      [node1, 'a2'],
      [node2, 'b1'],
      [node2, 'b2'],
    ]) {
      const mappings = name === 'a1' ? [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] : [];
      if (name === 'a1') out('a1 asks for hostPort 8080 → its port 80 (the runtime passes that to portmap as runtimeConfig).');
      pods[name] = lab.addPod(node, name, mappings).pod;
      if (name === 'a1') {
        const saved = join(node1.dataDir, pods.a1.containerId); // the first attachment: where the Go flannel reads it too
        out(`flannel saved the config it gave the bridge plugin in ${saved}, for DEL later:`);
        out(`    ${readFileSync(saved, 'utf8')}`);
      }
    }

    step(`${backend}: what each pod got`);
    for (const pod of Object.values(pods)) {
      const v = lab.podView(pod);
      out(`  ${pod.name} on ${pod.node.name}: address ${v.addresses.join(', ')}, MTU ${v.mtu}, routes: ${v.routes.join('; ')}`);
      verdict(v.addresses[0]?.startsWith(pod.node.subnet.replace('0/24', '')) === true, `${pod.name}'s address is in ${pod.node.name}'s subnet ${pod.node.subnet}`);
    }

    step(`${backend}: pod to pod on the same node`);
    verdict(lab.ping(pods.a1.ns, pods.a2.ip), `a1 pings a2 (${pods.a2.ip})`);
    let t = await lab.tcp(pods.a1.ns, pods.a2.ns, pods.a2.ip, 7001);
    verdict(t.seenSource === pods.a1.ip, `TCP a1 → a2: a2 sees the connection coming from ${t.seenSource}`);

    step(`${backend}: pod to pod across nodes`);
    verdict(lab.ping(pods.a1.ns, pods.b1.ip), `a1 (node1) pings b1 (node2, ${pods.b1.ip})`);
    verdict(lab.ping(pods.b2.ns, pods.a2.ip), `b2 (node2) pings a2 (node1, ${pods.a2.ip})`);
    t = await lab.tcp(pods.a1.ns, pods.b1.ns, pods.b1.ip, 7002);
    verdict(t.seenSource !== '', `TCP a1 → b1: b1 sees the connection coming from ${t.seenSource}`);
    out(
      flanneldMasq
        ? '  (flanneld\'s rules leave traffic inside 10.244.0.0/16 alone, so b1 sees a1\'s own address)'
        : '  (here the bridge plugin masquerades: its rule rewrites everything leaving the node\'s own /24, other nodes\' pods included — which is why kube-flannel normally lets flanneld masquerade instead)',
    );

    step(`${backend}: leaving the cluster network`);
    verdict(lab.ping(pods.a2.ns, node2.address), `a2 pings node2's own address ${node2.address}`);
    t = await lab.tcp(pods.a2.ns, node2.ns, node2.address, 7003);
    verdict(t.seenSource === node1.address, `TCP a2 → node2: node2 sees ${t.seenSource}, node1's address (masqueraded by ${flanneldMasq ? 'flanneld\'s rule' : 'the bridge plugin\'s rule'})`);

    step(`${backend}: hostPort through portmap`);
    t = await lab.tcp(node2.ns, pods.a1.ns, node1.address, 80, 8080);
    verdict(t.reply !== '', `node2 connects to node1:8080 and reaches a1's port 80 (reply ${t.reply})`);
    const dnat = lab.natRules(node1).filter((r) => r.includes('CNI-DN-') || r.includes('CNI-HOSTPORT'));
    out(`  portmap's rules on node1 (the Go plugin's layout, so either can delete the other's):\n${dnat.map((r) => `    ${r}`).join('\n')}`);

    step(`${backend}: CHECK (the runtime asking "is this pod still wired as you left it?")`);
    for (const pod of Object.values(pods)) {
      const [flannel, portmap] = lab.checkPod(pod);
      const fine = flannel.code === 0;
      out(`  ${pod.name}: flannel CHECK ${fine ? 'passed' : `answered: ${flannel.json?.msg ?? flannel.stdout.trim()}`}`);
      verdict(portmap.code === 0, `${pod.name}: portmap CHECK ${portmap.code === 0 ? 'passed' : `answered: ${portmap.json?.msg ?? portmap.stdout.trim()}`}`);
    }
    if (delegates === 'go') out('  (the Go bridge\'s own CHECK trips over the routes host-local returns; flannel passes its answer on — the reference flannel does not check at all)');

    step(`${backend}: deleting every pod`);
    const ids = Object.values(pods).map((p) => p.containerId);
    for (const pod of Object.values(pods)) lab.delPod(pod, { keepNetns: true });
    for (const node of [node1, node2]) {
      const left = lab.leftovers(node, ids);
      verdict(left.veths.length === 0, `${node.name}: no pod veth left (${left.veths.join(', ') || 'none'})`);
      verdict(left.leases.length === 0, `${node.name}: no address lease left (${left.leases.join(', ') || 'none'})`);
      verdict(left.savedConfigs.length === 0, `${node.name}: no saved flannel config left (${left.savedConfigs.join(', ') || 'none'})`);
      verdict(left.podRules.length === 0, `${node.name}: no masquerade or port-mapping rule naming a pod left (${left.podRules.length})`);
    }
  } catch (err) {
    failures++;
    out(paint('31', `\nThe ${backend} run stopped: ${err instanceof Error ? err.message : String(err)}`));
  } finally {
    step(`${backend}: cleaning up (namespaces and files)`);
    lab.cleanup();
    current = undefined;
  }
}

out(failures === 0 ? paint('32', '\nAll good: every check passed, and nothing is left behind.') : paint('31', `\n${failures} check(s) failed.`));
process.exit(failures === 0 ? 0 : 1);
