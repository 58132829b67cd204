/**
 * A two-node flannel cluster in network namespaces, for the end-to-end test
 * (test/integration/flannel-two-node.test.ts) and the demo
 * (scripts/demo-two-node.mjs, which loads this file with Node's type
 * stripping: erasable TypeScript only here, no parameter properties or enums).
 *
 *   pod a1   pod a2                      pod b1   pod b2
 *      \      /                             \      /
 *   cni0 10.244.1.1/24                   cni0 10.244.2.1/24
 *   node1 ── eth0 192.0.2.1 ─── veth ─── eth0 192.0.2.2 ── node2
 *
 * Each "node" is a namespace with its own subnet.env (as flanneld writes it,
 * leased out of 10.244.0.0/16). The built `flannel` executable is run inside
 * the node's namespace by a tiny runtime (what libcni does with a conflist:
 * ADD in order with prevResult, DEL in reverse). What flanneld itself would do
 * for the backend (host-gw routes, or the vxlan device with its FDB and
 * neighbour entries, and its masquerade rules) is done here with `ip`,
 * `bridge` and `iptables`. Nothing runs in the host's own namespace, and every
 * name starts with `t-`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN_DIR, GO_CNI_DIR, ROOT } from './exec.ts';
import { type TestNetns, createNetns, deleteNetns } from './netns.ts';

export type DelegateSet = 'go' | 'ours';
export type Backend = 'host-gw' | 'vxlan';

/** Where the lab reports what it does: the demo prints it, the test keeps it for failure messages. */
export interface Narrator {
  /** A plain-words explanation. */
  say(text: string): void;
  /** A command being run. */
  cmd(text: string): void;
}

export function collectingNarrator(): Narrator & { lines: string[] } {
  const lines: string[] = [];
  return { lines, say: (t) => lines.push(t), cmd: (t) => lines.push(`  $ ${t}`) };
}

export interface LabOptions {
  delegates: DelegateSet;
  backend: Backend;
  /** The conflist to run (default conf-examples/flannel-kube-1.0.0.conflist). */
  conflist?: string;
  /** FLANNEL_IPMASQ: true = flanneld masquerades (the lab installs its rules), false = the bridge masquerades per pod. */
  flanneldMasq: boolean;
  narrator?: Narrator;
  /** Run every flannel call under strace and record which plugin executables started. */
  traceExecs?: boolean;
  /** Prefix of the namespaces and the temporary directory (default `t`; a suite that owns its own picks another). */
  prefix?: string;
}

export interface LabNode {
  name: string;
  ns: TestNetns;
  /** The node's address on the "physical" network. */
  address: string;
  /** Its flannel lease, e.g. 10.244.1.0/24, and the bridge address .1 in it. */
  subnet: string;
  gateway: string;
  /** The vxlan device's MAC (vxlan backend). */
  vtepMac: string;
  dir: string;
  subnetFile: string;
  dataDir: string;
  ipamDir: string;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export interface LabPod {
  name: string;
  node: LabNode;
  ns: TestNetns;
  containerId: string;
  ifName: string;
  portMappings: PortMapping[];
  /** The chain's final ADD result. */
  result: Record<string, unknown>;
  /** Its address, without prefix. */
  ip: string;
  /** Its IPv6 address, without prefix, when it got one. */
  ip6: string | undefined;
}

/** Per-pod runtime configuration for the chain's capabilities other than port mappings. */
export interface PodRuntime {
  /** The `bandwidth` capability (the bandwidth plugin's runtimeConfig), when the conflist has a plugin declaring it. */
  bandwidth?: { ingressRate: number; ingressBurst: number; egressRate: number; egressBurst: number };
}

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  json: unknown;
  /** Plugin executables (in the CNI_PATH dir) that started, when traced. */
  execs: string[];
}

export interface PodView {
  addresses: string[];
  /** Global IPv6 addresses. */
  addresses6: string[];
  mtu: number;
  routes: string[];
}

export interface Leftovers {
  /** veth interfaces on the node other than its uplink. */
  veths: string[];
  leases: string[];
  savedConfigs: string[];
  /** iptables/nftables lines that still name one of the lab's pods. */
  podRules: string[];
}

export const CLUSTER_NETWORK = '10.244.0.0/16';
export const PHYSICAL_NETWORK = '192.0.2.0/24';
const VXLAN = { dev: 'flannel.1', vni: '1', port: '8472', mtu: 1450 } as const;

function run(argv: readonly string[], input?: string): { code: number; stdout: string; stderr: string } {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: input ?? '' });
  if (r.error !== undefined) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function must(argv: readonly string[]): string {
  const r = run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Is our own bridge (dist/bin/bridge) implemented? It answers STATUS with "not implemented" while it is a stub. */
export function ourBridgeProblem(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 't-bridge-probe-'));
  try {
    const conf = { cniVersion: '1.1.0', name: 't-probe', type: 'bridge', bridge: 't-probe0', ipam: { type: 'host-local', dataDir: dir, ranges: [[{ subnet: '10.99.0.0/24' }]] } };
    const r = spawnSync(join(BIN_DIR, 'bridge'), [], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CNI_COMMAND: 'STATUS', CNI_PATH: BIN_DIR }, input: JSON.stringify(conf), encoding: 'utf8' });
    if (r.error !== undefined) return `dist/bin/bridge cannot run: ${r.error.message}`;
    if (/not implemented/.test(r.stdout)) return `dist/bin/bridge is still a stub: ${r.stdout.trim()}`;
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** containerd's built-in loopback network (go-cni WithLoNetwork), as conf-examples/containerd-loopback.conflist: its one plugin's config. */
export function loopbackConf(): Record<string, unknown> {
  const list = JSON.parse(readFileSync(join(ROOT, 'conf-examples', 'containerd-loopback.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  return { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion };
}

/** An ADD of the chain that a plugin refused: which one, and its answer. */
export class AddError extends Error {
  override readonly name = 'AddError';
  readonly plugin: string;
  readonly run: PluginRun;
  constructor(message: string, plugin: string, run: PluginRun) {
    super(message);
    this.plugin = plugin;
    this.run = run;
  }
}

export class TwoNodeLab {
  readonly opts: LabOptions;
  readonly narrator: Narrator;
  readonly root: string;
  readonly binDir: string;
  readonly nodes: LabNode[] = [];
  readonly pods: LabPod[] = [];
  readonly conflist: Record<string, unknown>;
  readonly prefix: string;
  protected readonly extraNs: TestNetns[] = [];
  protected readonly servers: { kill(): void }[] = [];

  constructor(opts: LabOptions) {
    this.opts = opts;
    this.prefix = opts.prefix ?? 't';
    this.narrator = opts.narrator ?? { say: () => undefined, cmd: () => undefined };
    this.root = mkdtempSync(join(tmpdir(), this.prefix === 't' ? 't-two-node-' : `${this.prefix}-lab-`));
    this.binDir = join(this.root, 'cni-bin');
    const file = opts.conflist ?? join(ROOT, 'conf-examples', 'flannel-kube-1.0.0.conflist');
    this.conflist = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  }

  get network(): string {
    return String(this.conflist['name']);
  }

  get cniVersion(): string {
    return String(this.conflist['cniVersion']);
  }

  protected sh(argv: readonly string[]): string {
    this.narrator.cmd(argv.join(' '));
    return must(argv);
  }

  /** Namespaces, the wire between them, each node's subnet.env and directories, and CNI_PATH. */
  setup(): void {
    const n = this.narrator;
    n.say(`Two "nodes" are network namespaces on this machine, joined by a veth pair that plays the physical network ${PHYSICAL_NETWORK}.`);
    for (const i of [1, 2]) {
      const ns = createNetns(this.prefix);
      const dir = join(this.root, `node${i}`);
      mkdirSync(dir);
      this.nodes.push({
        name: `node${i}`,
        ns,
        address: `192.0.2.${i}`,
        subnet: `10.244.${i}.0/24`,
        gateway: `10.244.${i}.1`,
        vtepMac: `0e:f1:a0:00:00:0${i}`,
        dir,
        subnetFile: join(dir, 'subnet.env'),
        dataDir: join(dir, 'flannel'),
        ipamDir: join(dir, 'networks'),
      });
    }
    const [a, b] = this.pair();
    n.say(`node1 is namespace ${a.ns.name}, node2 is ${b.ns.name}.`);
    this.sh(['ip', '-n', a.ns.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.ns.name]);
    for (const node of this.nodes) {
      this.sh(['ip', '-n', node.ns.name, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
      this.sh(['ip', '-n', node.ns.name, 'link', 'set', 'eth0', 'up']);
      this.sh(['ip', '-n', node.ns.name, 'link', 'set', 'lo', 'up']);
      // what every Kubernetes node has (flanneld and kube-proxy insist on it)
      this.sh(['ip', 'netns', 'exec', node.ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    }
    const mtu = this.opts.backend === 'vxlan' ? VXLAN.mtu : 1500;
    n.say(
      `flanneld leases each node a /24 out of the cluster network ${CLUSTER_NETWORK} and writes it to subnet.env ` +
        `(FLANNEL_IPMASQ=${String(this.opts.flanneldMasq)}: ${this.opts.flanneldMasq ? 'flanneld masquerades pod traffic leaving the cluster' : 'the bridge plugin masquerades for each pod'}):`,
    );
    for (const node of this.nodes) {
      const text = `FLANNEL_NETWORK=${CLUSTER_NETWORK}\nFLANNEL_SUBNET=${node.gateway}/24\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=${String(this.opts.flanneldMasq)}\n`;
      writeFileSync(node.subnetFile, text, { mode: 0o644 });
      n.say(`  ${node.name} ${node.subnetFile}: ${text.trim().split('\n').join(' ')}`);
    }
    n.say('The namespaces share this machine\'s disk, so each node gets its own subnet.env, flannel dataDir and host-local dataDir (three keys added to the conflist).');
    this.linkBinDir();
  }

  /** CNI_PATH for the nodes: links to our executable (and the Go delegates when asked for). */
  protected linkBinDir(): void {
    const n = this.narrator;
    mkdirSync(this.binDir);
    const links: [string, string][] =
      this.opts.delegates === 'ours'
        ? [
            ['flannel', join(BIN_DIR, 'cni')],
            ['bridge', join(BIN_DIR, 'cni')],
            ['host-local', join(BIN_DIR, 'cni')],
            ['portmap', join(BIN_DIR, 'cni')],
            ['loopback', join(BIN_DIR, 'cni')],
          ]
        : [
            ['flannel', join(BIN_DIR, 'flannel')],
            ['bridge', join(GO_CNI_DIR, 'bridge')],
            ['host-local', join(GO_CNI_DIR, 'host-local')],
            ['portmap', join(BIN_DIR, 'portmap')],
            ['loopback', join(BIN_DIR, 'loopback')],
          ];
    // our bandwidth plugin, once the executable has it
    if (existsSync(join(BIN_DIR, 'bandwidth'))) links.push(['bandwidth', join(BIN_DIR, 'cni')]);
    for (const [name, target] of links) symlinkSync(target, join(this.binDir, name));
    n.say(
      this.opts.delegates === 'ours'
        ? `CNI_PATH ${this.binDir}: flannel, bridge, host-local, portmap and loopback all link to our one executable, so flannel runs bridge and host-local inside its own process; no Go plugin is left.`
        : `CNI_PATH ${this.binDir}: our flannel, portmap and loopback, with the Go reference bridge and host-local from ${GO_CNI_DIR} (flannel execs them).`,
    );
  }

  pair(): [LabNode, LabNode] {
    const [a, b] = this.nodes;
    if (a === undefined || b === undefined) throw new Error('setup() first');
    return [a, b];
  }

  /** What flanneld does on each node for the backend, so pods on different nodes can reach each other. */
  installBackend(): void {
    const [a, b] = this.pair();
    const n = this.narrator;
    if (this.opts.backend === 'host-gw') {
      n.say('host-gw backend: each node routes the other node\'s pod subnet via the other node\'s address.');
      for (const [self, peer] of [
        [a, b],
        [b, a],
      ] as const) {
        this.sh(['ip', '-n', self.ns.name, 'route', 'add', peer.subnet, 'via', peer.address, 'dev', 'eth0']);
      }
    } else {
      n.say(`vxlan backend: each node gets ${VXLAN.dev} (VNI ${VXLAN.vni}, UDP port ${VXLAN.port}, MTU ${VXLAN.mtu}); the other node's VTEP goes into the neighbour table and the forwarding database, and its pod subnet is routed through ${VXLAN.dev}.`);
      for (const self of [a, b]) {
        const ns = self.ns.name;
        this.sh(['ip', '-n', ns, 'link', 'add', VXLAN.dev, 'address', self.vtepMac, 'type', 'vxlan', 'id', VXLAN.vni, 'local', self.address, 'dev', 'eth0', 'dstport', VXLAN.port, 'nolearning']);
        this.sh(['ip', '-n', ns, 'link', 'set', VXLAN.dev, 'mtu', String(VXLAN.mtu), 'up']);
        this.sh(['ip', '-n', ns, 'addr', 'add', `${self.subnet.replace('/24', '/32')}`, 'dev', VXLAN.dev]);
      }
      for (const [self, peer] of [
        [a, b],
        [b, a],
      ] as const) {
        const ns = self.ns.name;
        const peerVtepIp = peer.subnet.replace('/24', '');
        this.sh(['ip', '-n', ns, 'neigh', 'replace', peerVtepIp, 'lladdr', peer.vtepMac, 'dev', VXLAN.dev, 'nud', 'permanent']);
        this.sh(['bridge', '-n', ns, 'fdb', 'append', peer.vtepMac, 'dev', VXLAN.dev, 'dst', peer.address]);
        this.sh(['ip', '-n', ns, 'route', 'add', peer.subnet, 'via', peerVtepIp, 'dev', VXLAN.dev, 'onlink']);
      }
    }
    if (this.opts.flanneldMasq) {
      n.say(`flanneld's masquerade rules: traffic inside ${CLUSTER_NETWORK} keeps its pod address, traffic from pods to anywhere else leaves with the node's address.`);
      for (const self of [a, b]) {
        const ipt = ['ip', 'netns', 'exec', self.ns.name, 'iptables', '-w', '-t', 'nat'];
        this.sh([...ipt, '-N', 'FLANNEL-POSTRTG']);
        this.sh([...ipt, '-A', 'POSTROUTING', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG']);
        this.sh([...ipt, '-A', 'FLANNEL-POSTRTG', '-s', CLUSTER_NETWORK, '-d', CLUSTER_NETWORK, '-m', 'comment', '--comment', 'flanneld masq', '-j', 'RETURN']);
        this.sh([...ipt, '-A', 'FLANNEL-POSTRTG', '-s', CLUSTER_NETWORK, '!', '-d', '224.0.0.0/4', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'MASQUERADE']);
      }
    }
  }

  /** The conflist's plugin entries with this node's directories added to the flannel entry. */
  protected pluginConfs(node: LabNode): Record<string, unknown>[] {
    const plugins = this.conflist['plugins'];
    if (!Array.isArray(plugins)) throw new Error('conflist without plugins');
    return (plugins as unknown[]).map((p) => {
      if (!isRecord(p)) throw new Error('conflist plugin is not an object');
      if (p['type'] !== 'flannel') return p;
      const ipam = isRecord(p['ipam']) ? p['ipam'] : {};
      return { ...p, subnetFile: node.subnetFile, dataDir: node.dataDir, ipam: { ...ipam, dataDir: node.ipamDir } };
    });
  }

  /** libcni's per-plugin config: entry + list name and version (+ prevResult, + runtimeConfig for declared capabilities). */
  protected netConf(entry: Record<string, unknown>, prevResult: unknown, pod: { portMappings: PortMapping[]; runtime?: PodRuntime }): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...entry, name: this.network, cniVersion: this.cniVersion };
    if (prevResult !== undefined) conf['prevResult'] = prevResult;
    const caps = entry['capabilities'];
    const runtimeConfig: Record<string, unknown> = {};
    if (isRecord(caps) && caps['portMappings'] === true && pod.portMappings.length > 0) runtimeConfig['portMappings'] = pod.portMappings;
    if (isRecord(caps) && caps['bandwidth'] === true && pod.runtime?.bandwidth !== undefined) runtimeConfig['bandwidth'] = pod.runtime.bandwidth;
    if (Object.keys(runtimeConfig).length > 0) conf['runtimeConfig'] = runtimeConfig;
    return conf;
  }

  /** Runs one plugin of the chain inside the node's namespace, as the runtime on that node would. */
  runPlugin(node: LabNode, type: string, command: string, conf: Record<string, unknown>, pod: { ns: TestNetns | undefined; containerId: string; ifName: string }): PluginRun {
    const path = join(this.binDir, type);
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_IFNAME: pod.ifName,
      CNI_PATH: this.binDir,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.containerId}`,
    };
    if (pod.ns !== undefined) env['CNI_NETNS'] = pod.ns.path;
    const trace = this.opts.traceExecs === true && type === 'flannel' ? join(this.root, `strace-${randomBytes(4).toString('hex')}`) : undefined;
    const argv = ['ip', 'netns', 'exec', node.ns.name, ...(trace === undefined ? [] : ['strace', '-f', '-qq', '-e', 'trace=execve', '-o', trace]), path];
    this.narrator.cmd(`[on ${node.name}] CNI_COMMAND=${command} CNI_CONTAINERID=${pod.containerId} CNI_IFNAME=${pod.ifName}${pod.ns === undefined ? '' : ` CNI_NETNS=${pod.ns.path}`} ${type} < (its entry of the conflist)`);
    const r = spawnSync(argv[0] ?? 'ip', argv.slice(1), { env, input: JSON.stringify(conf), encoding: 'utf8' });
    if (r.error !== undefined) throw r.error;
    let execs: string[] = [];
    if (trace !== undefined) {
      const prefix = `execve("${this.binDir}/`;
      execs = readFileSync(trace, 'utf8')
        .split('\n')
        .filter((l) => l.includes(prefix) && !l.includes('ENOENT'))
        .map((l) => l.slice(l.indexOf(prefix) + prefix.length).split('"')[0] ?? '');
    }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: parseJson(r.stdout), execs };
  }

  /** A pod: a namespace, then ADD of the whole conflist (flannel, then portmap) on its node. */
  addPod(node: LabNode, name: string, portMappings: PortMapping[] = [], runtime: PodRuntime = {}): { pod: LabPod; runs: PluginRun[] } {
    const ns = createNetns(this.prefix);
    this.extraNs.push(ns);
    const containerId = `${this.prefix}-${name}-${randomBytes(6).toString('hex')}`;
    const shell = { ns, containerId, ifName: 'eth0', portMappings, runtime };
    this.narrator.say(`Pod ${name} on ${node.name}: namespace ${ns.name}; the runtime brings up lo with its loopback network, then calls each plugin of the conflist with CNI_COMMAND=ADD.`);
    const lo = this.runPlugin(node, 'loopback', 'ADD', loopbackConf(), { ns, containerId, ifName: 'lo' });
    if (lo.code !== 0) throw new Error(`ADD of pod ${name}: loopback failed (exit ${lo.code}): ${lo.stdout.trim()} ${lo.stderr.trim()}`);
    let prev: unknown;
    const runs: PluginRun[] = [];
    for (const entry of this.pluginConfs(node)) {
      const type = String(entry['type']);
      const r = this.runPlugin(node, type, 'ADD', this.netConf(entry, prev, shell), shell);
      runs.push(r);
      if (r.code !== 0 || !isRecord(r.json)) throw new AddError(`ADD of pod ${name}: ${type} failed (exit ${r.code}): ${r.stdout.trim()} ${r.stderr.trim()}`, type, r);
      prev = r.json;
    }
    const result = prev as Record<string, unknown>;
    const ips = result['ips'];
    const first = Array.isArray(ips) && isRecord(ips[0]) ? String(ips[0]['address']) : '';
    const v6 = Array.isArray(ips) ? ips.map((i) => (isRecord(i) ? String(i['address']) : '')).find((a) => a.includes(':')) : undefined;
    const pod: LabPod = { name, node, ns, containerId, ifName: 'eth0', portMappings, result, ip: first.split('/')[0] ?? '', ip6: v6?.split('/')[0] };
    this.pods.push(pod);
    this.narrator.say(`  → ${name} got ${first} (gateway ${Array.isArray(ips) && isRecord(ips[0]) ? String(ips[0]['gateway']) : '?'})`);
    return { pod, runs };
  }

  /** CHECK of the whole conflist, with the ADD result as prevResult. */
  checkPod(pod: LabPod): PluginRun[] {
    return this.pluginConfs(pod.node).map((entry) => this.runPlugin(pod.node, String(entry['type']), 'CHECK', this.netConf(entry, pod.result, pod), pod));
  }

  /** DEL of the whole conflist in reverse order, with the ADD result as prevResult (as libcni does from its cache). */
  delPod(pod: LabPod, opts: { keepNetns?: boolean } = {}): PluginRun[] {
    this.narrator.say(`Deleting pod ${pod.name}: CNI_COMMAND=DEL for each plugin, last first.`);
    const runs = this.pluginConfs(pod.node)
      .reverse()
      .map((entry) => this.runPlugin(pod.node, String(entry['type']), 'DEL', this.netConf(entry, pod.result, pod), pod));
    // containerd tears the loopback network down too (a namespace already gone is success)
    runs.push(this.runPlugin(pod.node, 'loopback', 'DEL', loopbackConf(), { ns: pod.ns, containerId: pod.containerId, ifName: 'lo' }));
    const bad = runs.find((r) => r.code !== 0);
    if (bad !== undefined) throw new Error(`DEL of pod ${pod.name} failed: ${bad.stdout.trim()} ${bad.stderr.trim()}`);
    const i = this.pods.indexOf(pod);
    if (i >= 0) this.pods.splice(i, 1);
    if (opts.keepNetns !== true) deleteNetns(pod.ns.name);
    return runs;
  }

  /** `ping` from a namespace; true when a reply came back. */
  ping(from: TestNetns, to: string): boolean {
    const argv = ['ip', 'netns', 'exec', from.name, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '-q', to];
    this.narrator.cmd(argv.join(' '));
    return run(argv).code === 0;
  }

  /**
   * A TCP exchange: a one-shot server in `serverNs` on port `port` answers with
   * the source address it saw; the client in `clientNs` connects to `to`.
   */
  async tcp(clientNs: TestNetns, serverNs: TestNetns, to: string, port: number, connectPort = port): Promise<{ reply: string; seenSource: string }> {
    const host = to.includes(':') ? '::' : '0.0.0.0';
    const server = [
      "const net = require('node:net');",
      'const s = net.createServer((c) => { let d = ""; c.on("data", (x) => { d += x; if (d.includes("\\n")) { c.end(JSON.stringify({ seenSource: c.remoteAddress, got: d.trim() }) + "\\n"); s.close(); } }); });',
      `s.listen(${port}, '${host}', () => console.log('listening'));`,
      'setTimeout(() => process.exit(3), 20000).unref();',
    ].join('\n');
    const client = [
      "const net = require('node:net');",
      `const c = net.connect(${connectPort}, '${to}', () => c.write('hello\\n'));`,
      'let d = ""; c.on("data", (x) => (d += x)); c.on("end", () => { process.stdout.write(d); });',
      'c.on("error", (e) => { console.error(e.message); process.exit(1); });',
      "setTimeout(() => { console.error('timeout'); process.exit(2); }, 8000).unref();",
    ].join('\n');
    const child = spawn('ip', ['netns', 'exec', serverNs.name, process.execPath, '-e', server], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.servers.push(child);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('TCP server did not start')), 10_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`TCP server exited early (${String(code)})`));
      });
    });
    this.narrator.cmd(`ip netns exec ${clientNs.name} node -e <connect to ${to}:${connectPort}, send "hello", print the reply>`);
    const r = run(['ip', 'netns', 'exec', clientNs.name, process.execPath, '-e', client]);
    child.kill();
    if (r.code !== 0) throw new Error(`TCP to ${to}:${connectPort} failed: ${r.stderr.trim()}`);
    const reply = r.stdout.trim();
    const parsed = parseJson(reply);
    return { reply, seenSource: isRecord(parsed) ? String(parsed['seenSource']) : '' };
  }

  /** What the pod's eth0 got: addresses, MTU and routes, read back from the kernel. */
  podView(pod: LabPod): PodView {
    const links = JSON.parse(must(['ip', '-n', pod.ns.name, '-j', 'addr', 'show', 'dev', pod.ifName])) as { mtu: number; addr_info: { family: string; local: string; prefixlen: number }[] }[];
    const link = links[0];
    if (link === undefined) throw new Error(`no ${pod.ifName} in ${pod.ns.name}`);
    const routes = JSON.parse(must(['ip', '-n', pod.ns.name, '-j', 'route', 'show'])) as { dst: string; gateway?: string; dev: string }[];
    return {
      addresses: link.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      addresses6: link.addr_info.filter((a) => a.family === 'inet6' && !a.local.startsWith('fe80:')).map((a) => `${a.local}/${a.prefixlen}`),
      mtu: link.mtu,
      routes: routes.map((r) => (r.gateway === undefined ? `${r.dst} dev ${r.dev}` : `${r.dst} via ${r.gateway}`)),
    };
  }

  /** What the pods of this lab left on a node: veths, leases, saved configs, rules naming a pod. */
  leftovers(node: LabNode, containerIds: readonly string[]): Leftovers {
    const veths = (JSON.parse(must(['ip', '-n', node.ns.name, '-j', 'link', 'show', 'type', 'veth'])) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n !== 'eth0');
    const leaseDir = join(node.ipamDir, this.network);
    const leases = existsSync(leaseDir) ? readdirSync(leaseDir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : [];
    const savedConfigs = existsSync(node.dataDir) ? readdirSync(node.dataDir).filter((n) => n !== '.cni-ts-boot-id') : [];
    const rules = [
      run(['ip', 'netns', 'exec', node.ns.name, 'iptables-save']).stdout,
      run(['ip', 'netns', 'exec', node.ns.name, 'nft', 'list', 'ruleset']).stdout,
    ]
      .join('\n')
      .split('\n');
    const podRules = rules.filter((l) => containerIds.some((id) => l.includes(id)));
    return { veths, leases, savedConfigs, podRules };
  }

  /** Rules of the node's nat table that masquerade (for showing what the bridge added). */
  natRules(node: LabNode): string[] {
    return run(['ip', 'netns', 'exec', node.ns.name, 'iptables-save', '-t', 'nat'])
      .stdout.split('\n')
      .filter((l) => l.startsWith('-A '));
  }

  /** Removes everything, even after a failure: servers, pods, nodes, files. */
  cleanup(): void {
    const errors: unknown[] = [];
    for (const s of this.servers.splice(0)) {
      try {
        s.kill();
      } catch {
        // already gone
      }
    }
    for (const ns of [...this.extraNs.splice(0), ...this.nodes.map((n) => n.ns)]) {
      try {
        deleteNetns(ns.name);
      } catch (err) {
        errors.push(err);
      }
    }
    try {
      rmSync(this.root, { recursive: true, force: true });
    } catch (err) {
      errors.push(err);
    }
    if (errors.length > 0) throw new AggregateError(errors, 'two-node lab cleanup failed');
  }
}
