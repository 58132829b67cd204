#!/usr/bin/env node
// The flannel demo with the real engine: etcd in a control-plane namespace, three "nodes" (network namespaces on one
// wire), the real flanneld on each (--etcd-endpoints, --iface, --subnet-file, --ip-masq), and the built `flannel`
// (chained with our portmap; lo by our loopback) wiring pods from the subnet.env each flanneld wrote. First with
// vxlan, then host-gw. Proves: leases from etcd, pod to pod across every pair of nodes (ping, TCP), a full-size
// packet with don't-fragment at the flannel MTU, traffic leaving the cluster masqueraded once, a hostPort, a
// shaped pod (when the executable has bandwidth), and that deleting the pods and stopping the daemons leaves
// nothing. Needs root, `npm run build`, etcd (setup-machine.sh) and flanneld (scripts/lib/flanneld.mjs: FLANNELD=,
// or built once from ../shared/tools/flanneld).
//
//   node scripts/demo-cluster.mjs [--backend=both|vxlan|host-gw] [--commands]
//
// --commands also prints every command run to build the lab (ip, etcdctl, the daemons' command lines).
// The lab is test/helpers/cluster.ts (shared with test/integration/flanneld-*.test.ts), loaded with Node 24's
// type stripping.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { arg, onNode24 } from './lib/demo-cli.mjs';
import { flanneldVersion, locateFlanneld } from './lib/flanneld.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();

onNode24(import.meta.url);
const showCommands = process.argv.includes('--commands');
const isTTY = process.stdout.isTTY === true;
const paint = (code, text) => (isTTY ? `\x1b[${code}m${text}\x1b[0m` : text);
const out = (text) => process.stdout.write(`${text}\n`);
let mute = !showCommands;
const narrator = { say: (t) => out(`  ${t}`), cmd: (t) => (mute ? undefined : out(paint('2', `    $ ${t}`))) };
let failures = 0;
const step = (title) => out(`\n${paint('1', `== ${title}`)}`);
function verdict(ok, text) {
  if (!ok) failures++;
  out(`  ${ok ? paint('32', 'OK  ') : paint('31', 'FAIL')} ${text}`);
  return ok;
}

if (process.getuid?.() !== 0) {
  process.stderr.write('demo: needs root (it creates network namespaces and runs etcd and flanneld inside them)\n');
  process.exit(1);
}
for (const exe of ['flannel', 'portmap', 'loopback']) {
  if (!existsSync(join(root, 'dist', 'bin', exe))) {
    process.stderr.write(`demo: dist/bin/${exe} is missing: run npm run build first\n`);
    process.exit(1);
  }
}
for (const tool of ['etcd', 'etcdctl']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    process.stderr.write(`demo: ${tool} is missing: run bash scripts/setup-machine.sh (Debian's etcd-server and etcd-client)\n`);
    process.exit(1);
  }
}
const found = locateFlanneld((line) => out(line));
if (found.path === undefined) {
  process.stderr.write(`demo: ${found.problem}\n`);
  process.exit(1);
}
const flanneld = found.path;
const version = flanneldVersion(flanneld);

const { FlannelCluster, CLUSTER_NET, ETCD_URL, OUTSIDE_ADDRESS } = await import(pathToFileURL(join(root, 'test', 'helpers', 'cluster.ts')).href);
const hasBandwidth = existsSync(join(root, 'dist', 'bin', 'bandwidth'));

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

out(paint('1', `flannel with the real engine: etcd, three nodes, flanneld ${version} on each`));
out(`flanneld: ${flanneld} (${found.origin})`);
out(
  'Each node\'s flanneld leases a /24 of the cluster network from etcd, writes it to its subnet.env and builds the\n' +
    'backend (vxlan: the flannel.1 device with a neighbour and FDB entry per peer; host-gw: a route per peer). When a\n' +
    'pod starts, the runtime calls our flannel plugin, which reads subnet.env and hands over to our bridge and\n' +
    'host-local (in one process), then our portmap. Nothing here touches this machine\'s own network namespace.',
);

const backends = arg('backend', 'both') === 'both' ? ['vxlan', 'host-gw'] : [arg('backend', 'both')];

for (const backend of backends) {
  const cluster = new FlannelCluster({ flanneld, backend, nodes: 3, narrator, bandwidth: hasBandwidth });
  current = cluster;
  const t0 = Date.now();
  try {
    step(`${backend}: the control plane and three nodes on one wire`);
    mute = !showCommands;
    cluster.setup();
    await cluster.startEtcd();

    step(`${backend}: flanneld on every node`);
    const nodes = cluster.nodes;
    out(`  each: ${flanneld} --etcd-endpoints=${ETCD_URL} --iface=eth0 --subnet-file=<node>/subnet.env --ip-masq`);
    await cluster.startAllFlanneld();
    for (const node of nodes) {
      const l = node.lease;
      out(`  ${node.name} (${node.address}): flanneld ${version} leased ${paint('1', node.subnet)} — subnet.env: ${l.text.trim().split('\n').join(' ')}`);
    }
    verdict(new Set(nodes.map((n) => n.subnet)).size === nodes.length, `three distinct leases out of ${CLUSTER_NET}; in etcd: ${cluster.leaseKeys().join(', ')}`);
    await cluster.waitForMesh();
    const n1 = nodes[0];
    const mtu = n1.lease.mtu;
    if (backend === 'vxlan') {
      const fdb = spawnSync('bridge', ['-n', n1.ns.name, 'fdb', 'show', 'dev', 'flannel.1'], { encoding: 'utf8' }).stdout.trim().split('\n');
      out(`  flanneld built on node1: flannel.1 (MTU ${mtu}) with one FDB entry per peer VTEP: ${fdb.filter((l) => l.includes('dst')).map((l) => l.split(' self')[0]).join('; ')}`);
    }
    const routes = spawnSync('ip', ['-n', n1.ns.name, 'route', 'show'], { encoding: 'utf8' }).stdout.trim().split('\n').filter((l) => l.startsWith('10.244.'));
    out(`  node1's routes to the other nodes' pods: ${routes.join('; ')}`);

    step(`${backend}: pods on every node (loopback for lo, then kube-flannel's conflist: flannel${hasBandwidth ? ', portmap, bandwidth' : ', then portmap'})`);
    mute = true;
    const pods = [];
    for (const node of nodes) {
      const mappings = node === n1 ? [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] : [];
      pods.push(cluster.addPod(node, `p${node.index}`, mappings).pod);
    }
    for (const pod of pods) {
      const v = cluster.podView(pod);
      verdict(v.addresses[0]?.startsWith(pod.node.gateway.replace(/\.1$/, '.')) === true && v.mtu === mtu, `${pod.name} on ${pod.node.name}: ${v.addresses.join(', ')} (in ${pod.node.subnet}), MTU ${v.mtu}, routes ${v.routes.join('; ')}`);
    }
    const saved = JSON.parse(readFileSync(join(n1.dataDir, pods[0].containerId), 'utf8')); // the first attachment: where the Go flannel reads it too
    verdict(n1.lease.ipMasq && saved.ipMasq === false, `flanneld wrote FLANNEL_IPMASQ=${n1.lease.values.FLANNEL_IPMASQ}, so our flannel gave the bridge "ipMasq": ${String(saved.ipMasq)}: only flanneld masquerades`);

    step(`${backend}: pod to pod across every pair of nodes`);
    let port = 7200;
    for (let i = 0; i < pods.length; i++) {
      for (let j = i + 1; j < pods.length; j++) {
        const [a, b] = [pods[i], pods[j]];
        const there = cluster.ping(a.ns, b.ip);
        const back = cluster.ping(b.ns, a.ip);
        const t = await cluster.tcp(a.ns, b.ns, b.ip, port++);
        verdict(there && back && t.seenSource === a.ip, `${a.name} (${a.node.name}) ⇄ ${b.name} (${b.node.name}): ping both ways, TCP ${a.name} → ${b.name} seen from ${t.seenSource} (the pod's own address)`);
      }
    }

    step(`${backend}: a full-size packet with don't-fragment at the flannel MTU (${mtu})`);
    const [p1, p2] = pods;
    verdict(cluster.pingDf(p1.ns, p2.ip, mtu - 28), `${p1.name} → ${p2.name}: ${mtu}-byte IPv4 packet (ping -M do -s ${mtu - 28}) arrives${backend === 'vxlan' ? ` (${mtu + 50} bytes on the wire with the VXLAN header)` : ''}`);
    verdict(!cluster.pingDf(p1.ns, p2.ip, mtu - 27), `${p1.name} → ${p2.name}: ${mtu + 1} bytes with don't-fragment is refused in the pod (its eth0 has MTU ${mtu})`);

    step(`${backend}: leaving the cluster, masqueraded once`);
    const before = cluster.masqueradeRules(n1);
    const t = await cluster.tcp(p1.ns, cluster.controlPlane, OUTSIDE_ADDRESS, port++);
    const after = cluster.masqueradeRules(n1);
    const hit = after.filter((r, i) => r.packets > (before[i]?.packets ?? 0));
    verdict(t.seenSource === n1.address, `${p1.name} → ${OUTSIDE_ADDRESS} (outside the cluster): seen from ${t.seenSource}, node1's address`);
    // portmap's CNI-HOSTPORT-MASQ rule only takes hairpinned hostPort traffic (marked); anything else would be the bridge's
    const others = after.filter((r) => !r.rule.includes('flanneld masq') && !r.rule.startsWith('-A CNI-HOSTPORT-MASQ'));
    verdict(
      hit.length === 1 && others.length === 0,
      `node1 masquerades pod traffic with flanneld's rules only (the bridge added none: ${others.map((r) => r.rule).join(' | ') || 'none'}); the connection went through exactly one: ${hit.map((r) => r.rule).join(' | ')}`,
    );

    step(`${backend}: a hostPort through portmap`);
    const n2 = nodes[1];
    const hp = await cluster.tcp(n2.ns, p1.ns, n1.address, 80, 8080);
    verdict(hp.reply !== '', `node2 connects to node1:8080 and reaches ${p1.name}'s port 80 (reply ${hp.reply})`);

    step(`${backend}: a shaped pod (bandwidth)`);
    if (!hasBandwidth) {
      out('  skipped: this build has no bandwidth plugin (dist/bin/bandwidth is missing); the step runs once it is merged');
    } else {
      // 8 Mbit/s each way, 100 kB bursts (the bandwidth capability takes bits)
      const rate = 8_000_000;
      const burst = 800_000;
      const shaped = cluster.addPod(nodes[2], 'shaped', [], { bandwidth: { ingressRate: rate, ingressBurst: burst, egressRate: rate, egressBurst: burst } }).pod;
      pods.push(shaped);
      const qdiscs = spawnSync('tc', ['-n', nodes[2].ns.name, 'qdisc', 'show'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('tbf'));
      verdict(qdiscs.length > 0, `the shaped pod (${shaped.ip}) on node3, 8 Mbit/s each way: token-bucket qdiscs on node3: ${qdiscs.map((l) => l.trim()).join('; ') || 'none'}`);
      const bytes = 2_000_000;
      const free = await cluster.transfer(p1.ns, pods[2].ns, pods[2].ip, port++, bytes);
      const slow = await cluster.transfer(p1.ns, shaped.ns, shaped.ip, port++, bytes);
      verdict(
        slow.mbps < 10 && slow.mbps > 4,
        `2 MB from ${p1.name} to the shaped pod: ${slow.seconds.toFixed(2)} s, ${slow.mbps.toFixed(1)} Mbit/s (to ${pods[2].name}, unshaped, on the same node: ${free.mbps.toFixed(0)} Mbit/s)`,
      );
    }

    step(`${backend}: CHECK, then DEL of every pod`);
    for (const pod of pods) {
      const runs = cluster.checkPod(pod);
      verdict(runs.every((r) => r.code === 0), `${pod.name}: CHECK of the chain passed`);
    }
    const ids = pods.map((p) => p.containerId);
    for (const pod of [...pods]) cluster.delPod(pod);
    for (const node of nodes) {
      const left = cluster.leftovers(node, ids);
      verdict(left.veths.length + left.leases.length + left.savedConfigs.length + left.podRules.length === 0, `${node.name}: no pod veth, address lease, saved config or rule left`);
    }
  } catch (err) {
    failures++;
    out(paint('31', `\nThe ${backend} run stopped: ${err instanceof Error ? err.message : String(err)}`));
  } finally {
    step(`${backend}: stopping flanneld and etcd, removing the namespaces and files`);
    try {
      await cluster.teardown();
    } catch (err) {
      failures++;
      out(paint('31', `  teardown failed: ${err instanceof Error ? err.message : String(err)}`));
    }
    const r = cluster.residue();
    verdict(r.namespaces.length + r.daemons.length + r.files.length === 0, `nothing left: namespaces ${r.namespaces.join(', ') || 'none'}, daemons ${r.daemons.join(', ') || 'none'}, files (etcd data dir, subnet.env, leases) ${r.files.join(', ') || 'none'}`);
    out(`  (${backend} took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    current = undefined;
  }
}

const secs = ((Date.now() - started) / 1000).toFixed(1);
out(failures === 0 ? paint('32', `\nAll good (${secs} s): every check passed, and nothing is left behind.`) : paint('31', `\n${failures} check(s) failed (${secs} s).`));
process.exit(failures === 0 ? 0 : 1);
