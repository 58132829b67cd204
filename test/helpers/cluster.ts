/**
 * A flannel cluster driven by the real engine: etcd in a control-plane
 * namespace, one real flanneld per "node" namespace, all on one wire, and the
 * built executable wiring pods from the subnet.env each flanneld wrote. Used
 * by the demo (scripts/demo.mjs, through Node's type stripping: erasable
 * TypeScript only) and the real-engine tests (test/integration/flanneld-*.test.ts).
 *
 *                      control plane: etcd http://192.0.2.254:2379
 *                      "outside" 198.51.100.1 (beyond the cluster)
 *                                     │ wire0 (a bridge: the L2 network)
 *          ┌──────────────────────────┼──────────────────────────┐
 *   node1 eth0 192.0.2.1        node2 eth0 192.0.2.2       node3 eth0 192.0.2.3
 *   flanneld → subnet.env       flanneld → subnet.env      flanneld → subnet.env
 *   cni0 10.244.X.1/24          cni0 10.244.Y.1/24         cni0 10.244.Z.1/24
 *   pods ...                    pods ...                   pods ...
 *
 * The pod side (conflist, ADD/DEL/CHECK through the chain, ping, TCP, what a
 * pod got, what a node has left) is TwoNodeLab's (nodes.ts); this adds the
 * wire, etcd, the flanneld daemons and the checks that nothing outlives them.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { findFlanneld, locateFlanneld } from '../../scripts/lib/flanneld.mjs';
import { ROOT } from './exec.ts';
import { createNetns, deleteNetns, type TestNetns } from './netns.ts';
import { type Backend, type LabNode, type Narrator, TwoNodeLab } from './nodes.ts';

export const CLUSTER_NET = '10.244.0.0/16';
export const CLUSTER_NET6 = 'fd00:10:244::/56';
export const ETCD_ADDRESS = '192.0.2.254';
export const OUTSIDE_ADDRESS = '198.51.100.1';
export const ETCD_URL = `http://${ETCD_ADDRESS}:2379`;
export const ETCD_PREFIX = '/coreos.com/network';

export interface ClusterOptions {
  /** The flanneld binary (scripts/lib/flanneld.mjs locates it). */
  flanneld: string;
  backend: Backend;
  /** How many nodes (default 3). */
  nodes?: number;
  /** EnableIPv6 with IPv6Network in the network config, and IPv6 on the wire. */
  ipv6?: boolean;
  /** Extra keys for the flannel entry's `delegate` (e.g. forceAddress). */
  delegate?: Record<string, unknown>;
  /** Add the bandwidth plugin to the chain (only when the executable has it). */
  bandwidth?: boolean;
  narrator?: Narrator;
  /** Namespace and directory prefix (default `fd`). */
  prefix?: string;
}

/** One subnet.env as flanneld wrote it. */
export interface Lease {
  text: string;
  values: Record<string, string>;
  subnet: string;
  gateway: string;
  subnet6: string | undefined;
  gateway6: string | undefined;
  mtu: number;
  ipMasq: boolean;
}

export interface ClusterNode extends LabNode {
  index: number;
  address6: string;
  lease: Lease | undefined;
  log: string;
}

/** A daemon run inside a namespace; its output goes to a log file. */
export class Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(name: string, ns: TestNetns, argv: readonly string[], logFile: string) {
    this.name = name;
    this.logFile = logFile;
    const fd = openSync(logFile, 'a');
    try {
      this.child = spawn('ip', ['netns', 'exec', ns.name, ...argv], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
      this.child.on('error', () => {
        this.exit = { code: -1, signal: null };
        live.delete(this);
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  logTail(lines = 8): string {
    return this.log().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Daemons not yet exited: killed when the process exits however it exits. */
const live = new Set<Daemon>();
process.on('exit', () => {
  for (const d of live) d.child.kill('SIGKILL');
});

/**
 * Whether the real-engine tests can run here: `skip` (a reason) only when flanneld is not available at all and
 * CI is not set; `fail` when FLANNELD names nothing usable, or in CI without flanneld. Otherwise `flanneld()`
 * returns the binary, building it into the cache the first time (minutes: call it from a hook with a long timeout).
 */
export function flanneldForTests(): { skip: string | undefined; fail: string | undefined; flanneld(): string } {
  const found = findFlanneld();
  let skip: string | undefined;
  let fail: string | undefined;
  if (found.path === undefined && !found.buildable) {
    if (found.fatal) fail = found.problem;
    else if (process.env['CI'] === 'true') fail = `CI=true and ${found.problem}`;
    else skip = found.problem;
  }
  return {
    skip,
    fail,
    flanneld(): string {
      if (fail !== undefined) throw new Error(fail);
      const r = locateFlanneld((line) => process.stderr.write(`${line}\n`));
      if (r.path === undefined) throw new Error(r.problem);
      return r.path;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined; throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: () => string, probe: () => T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(everyMs);
  }
}

/** subnet.env as flanneld writes it; undefined while it is missing or has no subnet yet. */
export function readLease(file: string): Lease | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  const sub = values['FLANNEL_SUBNET'];
  if (sub === undefined || values['FLANNEL_IPMASQ'] === undefined) return undefined;
  const [gateway = '', len = ''] = sub.split('/');
  const sub6 = values['FLANNEL_IPV6_SUBNET'];
  const [gateway6, len6] = sub6 === undefined ? [undefined, undefined] : sub6.split('/');
  return {
    text,
    values,
    subnet: `${gateway.replace(/\.\d+$/, '.0')}/${len}`,
    gateway,
    subnet6: gateway6 === undefined ? undefined : `${gateway6.replace(/::1$/, '::')}/${len6 ?? ''}`,
    gateway6,
    mtu: Number(values['FLANNEL_MTU']),
    ipMasq: values['FLANNEL_IPMASQ'] === 'true',
  };
}

function run(argv: readonly string[]): { code: number; stdout: string; stderr: string } {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd ?? 'false', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** What is left of a cluster after teardown: should be all empty. */
export interface Residue {
  namespaces: string[];
  daemons: string[];
  files: string[];
}

export class FlannelCluster extends TwoNodeLab {
  readonly copts: ClusterOptions;
  override readonly nodes: ClusterNode[] = [];
  controlPlane: TestNetns | undefined;
  etcd: Daemon | undefined;
  readonly flanneldByNode = new Map<string, Daemon>();
  /** flanneld restarts waitForMesh needed because a flanneld missed a peer's lease. */
  readonly repairs: string[] = [];
  private readonly allNamespaces: string[] = [];
  private readonly allDaemons: Daemon[] = [];

  constructor(opts: ClusterOptions) {
    super({
      delegates: 'ours',
      backend: opts.backend,
      flanneldMasq: true,
      conflist: join(ROOT, 'conf-examples', 'flannel-kube-1.1.0.conflist'),
      prefix: opts.prefix ?? 'fd',
      ...(opts.narrator === undefined ? {} : { narrator: opts.narrator }),
    });
    this.copts = opts;
    if (opts.delegate !== undefined) this.setDelegate(opts.delegate);
    if (opts.bandwidth === true) (this.conflist['plugins'] as Record<string, unknown>[]).push({ type: 'bandwidth', capabilities: { bandwidth: true } });
  }

  /** Adds keys to the flannel entry's `delegate` for the pods added from now on (the conflist edited on the node). */
  setDelegate(extra: Record<string, unknown>): void {
    const fl = (this.conflist['plugins'] as Record<string, unknown>[]).find((p) => p['type'] === 'flannel');
    if (fl === undefined) throw new Error('the conflist has no flannel entry');
    fl['delegate'] = { ...(fl['delegate'] as Record<string, unknown>), ...extra };
  }

  /** The network config flanneld reads from etcd. */
  get networkConfig(): Record<string, unknown> {
    return {
      Network: CLUSTER_NET,
      ...(this.copts.ipv6 === true ? { EnableIPv6: true, IPv6Network: CLUSTER_NET6 } : {}),
      Backend: { Type: this.copts.backend },
    };
  }

  /** Node `i` (1-based). */
  node(i: number): ClusterNode {
    const n = this.nodes[i - 1];
    if (n === undefined) throw new Error(`no node${i}`);
    return n;
  }

  private ns(node: { ns: TestNetns }): string {
    return node.ns.name;
  }

  /** The wire, the control plane with etcd and the network config, the nodes (no flanneld yet), CNI_PATH. */
  override setup(): void {
    const n = this.narrator;
    const count = this.copts.nodes ?? 3;
    const cp = createNetns(this.prefix);
    this.controlPlane = cp;
    this.extraNs.push(cp);
    this.allNamespaces.push(cp.name);
    n.say(`The control plane is namespace ${cp.name}: bridge wire0 (${ETCD_ADDRESS}/24) is the physical network, etcd listens on ${ETCD_URL}, and ${OUTSIDE_ADDRESS} stands for the world outside the cluster.`);
    const c = ['ip', '-n', cp.name];
    this.sh([...c, 'link', 'set', 'lo', 'up']);
    this.sh([...c, 'link', 'add', 'wire0', 'type', 'bridge']);
    this.sh([...c, 'addr', 'add', `${ETCD_ADDRESS}/24`, 'dev', 'wire0']);
    this.sh([...c, 'addr', 'add', 'fd00:192:0:2::fe/64', 'dev', 'wire0', 'nodad']);
    this.sh([...c, 'link', 'set', 'wire0', 'up']);
    this.sh([...c, 'addr', 'add', `${OUTSIDE_ADDRESS}/32`, 'dev', 'lo']);
    for (let i = 1; i <= count; i++) {
      const ns = createNetns(this.prefix);
      this.allNamespaces.push(ns.name);
      const dir = join(this.root, `node${i}`);
      mkdirSync(dir);
      this.nodes.push({
        name: `node${i}`,
        index: i,
        ns,
        address: `192.0.2.${i}`,
        address6: `fd00:192:0:2::${i}`,
        subnet: '',
        gateway: '',
        vtepMac: '',
        dir,
        subnetFile: join(dir, 'subnet.env'),
        dataDir: join(dir, 'flannel'),
        ipamDir: join(dir, 'networks'),
        lease: undefined,
        log: join(dir, 'flanneld.log'),
      });
      this.sh([...c, 'link', 'add', `n${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
      this.sh([...c, 'link', 'set', `n${i}`, 'master', 'wire0', 'up']);
      const x = ['ip', '-n', ns.name];
      this.sh([...x, 'addr', 'add', `192.0.2.${i}/24`, 'dev', 'eth0']);
      this.sh([...x, 'addr', 'add', `fd00:192:0:2::${i}/64`, 'dev', 'eth0', 'nodad']);
      this.sh([...x, 'link', 'set', 'eth0', 'up']);
      this.sh([...x, 'link', 'set', 'lo', 'up']);
      this.sh([...x, 'route', 'add', 'default', 'via', ETCD_ADDRESS]);
      this.sh(['ip', 'netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    }
    n.say(`${count} nodes: ${this.nodes.map((x) => `${x.name} = ${x.ns.name} (${x.address})`).join(', ')}.`);
    this.linkBinDir();
  }

  /** etcd in the control plane, healthy, with the network config under /coreos.com/network/config. */
  async startEtcd(): Promise<void> {
    const cp = this.controlPlane;
    if (cp === undefined) throw new Error('setup() first');
    for (const tool of ['etcd', 'etcdctl']) {
      if (run(['sh', '-c', `command -v ${tool}`]).code !== 0) throw new Error(`${tool} is missing: run bash scripts/setup-machine.sh (Debian's etcd-server and etcd-client)`);
    }
    const dataDir = join(this.root, 'etcd');
    const argv = [
      'etcd',
      '--name=fd-etcd',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${ETCD_URL}`,
      `--advertise-client-urls=${ETCD_URL}`,
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=fd-etcd=http://127.0.0.1:2380',
    ];
    this.narrator.cmd(`[control plane] ${argv.join(' ')} &`);
    const etcd = new Daemon('etcd', cp, argv, join(this.root, 'etcd.log'));
    this.etcd = etcd;
    this.allDaemons.push(etcd);
    await waitFor(
      () => `etcd did not become healthy: ${etcd.logTail()}`,
      () => {
        if (!etcd.running) throw new Error(`etcd exited (${JSON.stringify(etcd.exit)}): ${etcd.logTail()}`);
        return this.etcdctl(['endpoint', 'health'], true).code === 0 ? true : undefined;
      },
      30_000,
      200,
    );
    const config = JSON.stringify(this.networkConfig);
    this.etcdctl(['put', `${ETCD_PREFIX}/config`, config]);
    this.narrator.say(`etcd is up; the network config flanneld reads: ${ETCD_PREFIX}/config = ${config}`);
  }

  /** etcdctl (v3 API) against the cluster's etcd, from the control plane. */
  etcdctl(args: readonly string[], quiet = false): { code: number; stdout: string; stderr: string } {
    const cp = this.controlPlane;
    if (cp === undefined) throw new Error('setup() first');
    const argv = ['ip', 'netns', 'exec', cp.name, 'env', 'ETCDCTL_API=3', 'etcdctl', `--endpoints=${ETCD_URL}`, '--dial-timeout=2s', '--command-timeout=5s', ...args];
    if (!quiet) this.narrator.cmd(`ETCDCTL_API=3 etcdctl --endpoints=${ETCD_URL} ${args.join(' ')}`);
    const r = run(argv);
    if (!quiet && r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r;
  }

  /** The lease keys in etcd, e.g. /coreos.com/network/subnets/10.244.82.0-24. */
  leaseKeys(): string[] {
    return this.etcdctl(['get', '--prefix', '--keys-only', `${ETCD_PREFIX}/subnets/`], true)
      .stdout.split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }

  /** The etcd key of a node's current lease. */
  leaseKey(node: ClusterNode): string {
    if (node.lease === undefined) throw new Error(`${node.name} has no lease`);
    return `${ETCD_PREFIX}/subnets/${node.lease.subnet.replace('/', '-')}`;
  }

  flanneldArgv(node: ClusterNode): string[] {
    return [this.copts.flanneld, `--etcd-endpoints=${ETCD_URL}`, '--iface=eth0', `--subnet-file=${node.subnetFile}`, '--ip-masq'];
  }

  /** Starts the node's flanneld. `wait`: until it has written subnet.env (and the node's lease fields are set). */
  async startFlanneld(node: ClusterNode, opts: { wait?: boolean } = {}): Promise<Daemon> {
    const old = this.flanneldByNode.get(node.name);
    if (old?.running === true) throw new Error(`${node.name}'s flanneld is already running`);
    const argv = this.flanneldArgv(node);
    this.narrator.cmd(`[on ${node.name}] ${argv.join(' ')} &`);
    const d = new Daemon(`flanneld on ${node.name}`, node.ns, argv, node.log);
    this.flanneldByNode.set(node.name, d);
    this.allDaemons.push(d);
    if (opts.wait !== false) await this.waitForLease(node);
    return d;
  }

  /** Waits until the node's flanneld has written its subnet.env; sets node.lease, subnet and gateway. */
  async waitForLease(node: ClusterNode, timeoutMs = 30_000): Promise<Lease> {
    const d = this.flanneldByNode.get(node.name);
    const lease = await waitFor(
      () => `${node.name}'s flanneld wrote no ${node.subnetFile}: ${d?.logTail() ?? 'not started'}`,
      () => {
        if (d !== undefined && !d.running) throw new Error(`${node.name}'s flanneld exited (${JSON.stringify(d.exit)}): ${d.logTail()}`);
        return readLease(node.subnetFile);
      },
      timeoutMs,
    );
    node.lease = lease;
    node.subnet = lease.subnet;
    node.gateway = lease.gateway;
    return lease;
  }

  /** Stops the node's flanneld (it panics on SIGTERM in etcd mode, a known upstream bug; harmless). */
  async stopFlanneld(node: ClusterNode): Promise<void> {
    const d = this.flanneldByNode.get(node.name);
    this.narrator.cmd(`[on ${node.name}] kill -TERM ${String(d?.pid)}  # flanneld`);
    await d?.stop();
  }

  /**
   * Every node's flanneld, one after the other: each once the ones before it route to each other. Started
   * together, a v0.20.2 flanneld in etcd mode can miss a peer for good: its lease watch reads one event per etcd
   * watch response and resumes "from now" (subnet/etcd/registry.go watchSubnets returns the response's
   * CompactRevision, 0, as the next revision), so leases created close together are lost until it restarts.
   */
  async startAllFlanneld(): Promise<void> {
    for (const node of this.nodes) {
      await this.startFlanneld(node);
      await this.waitForMesh();
    }
  }

  /** The running nodes that route no pod subnet of some other running node (either family): node → the peers it misses. */
  missingPeers(): Map<ClusterNode, ClusterNode[]> {
    const up = this.nodes.filter((n) => n.lease !== undefined && this.flanneldByNode.get(n.name)?.running === true);
    const routed = (self: ClusterNode, dst: string, family: '-4' | '-6'): boolean => run(['ip', '-n', this.ns(self), family, 'route', 'show', dst]).stdout.trim() !== '';
    const missing = new Map<ClusterNode, ClusterNode[]>();
    for (const self of up) {
      const lacks = up.filter((peer) => {
        if (peer === self || peer.lease === undefined) return false;
        const six = peer.lease.subnet6;
        return !routed(self, peer.subnet, '-4') || (six !== undefined && !routed(self, six, '-6'));
      });
      if (lacks.length > 0) missing.set(self, lacks);
    }
    return missing;
  }

  /**
   * Waits until every running node routes every other one's pod subnets (flanneld learns its peers from an etcd
   * watch). A flanneld still missing a peer after `repairAfterMs` lost that lease to v0.20.2's watch bug (see
   * startAllFlanneld): it is restarted, as an operator would, since a starting flanneld reads every lease; each
   * such restart is narrated and listed in `repairs`.
   */
  async waitForMesh(timeoutMs = 30_000, repairAfterMs = 8_000): Promise<void> {
    const describe = (m: Map<ClusterNode, ClusterNode[]>): string =>
      [...m].map(([self, peers]) => `${self.name} has no route to ${peers.map((p) => `${p.name}'s ${[p.subnet, p.lease?.subnet6].filter((x) => x !== undefined).join(' and ')}`).join(', ')}`).join('; ');
    let last = new Map<ClusterNode, ClusterNode[]>();
    const meshed = (): true | undefined => {
      last = this.missingPeers();
      return last.size === 0 ? true : undefined;
    };
    try {
      await waitFor(() => describe(last), meshed, Math.min(repairAfterMs, timeoutMs));
      return;
    } catch (err) {
      if (last.size === 0 || repairAfterMs >= timeoutMs) throw err;
    }
    for (const [node, peers] of last) {
      this.narrator.say(
        `${node.name}'s flanneld missed the lease of ${peers.map((p) => p.name).join(', ')} (flanneld v0.20.2's etcd watch drops leases made while it re-arms, docs/demo.md): restarting it, which reads every lease again`,
      );
      this.repairs.push(`${node.name} missed ${peers.map((p) => p.name).join(', ')}`);
      await this.stopFlanneld(node);
      await this.startFlanneld(node);
    }
    await waitFor(() => `${describe(last)} (even after restarting its flanneld): ${[...last.keys()].map((n) => this.flanneldByNode.get(n.name)?.logTail(3) ?? '').join(' | ')}`, meshed, timeoutMs);
  }

  /** `ping -M do` with a payload of `size` bytes (IPv4: size + 28 on the wire): true when a reply came back. */
  pingDf(from: TestNetns, to: string, size: number): boolean {
    const argv = ['ip', 'netns', 'exec', from.name, 'ping', '-M', 'do', '-s', String(size), '-c', '1', '-W', '2', '-q', to];
    this.narrator.cmd(argv.join(' '));
    return run(argv).code === 0;
  }

  /**
   * Sends `bytes` over TCP from `clientNs` to a sink in `serverNs` (at `to`:`port`); the sink times the bytes
   * from the first to the last and answers with that time. Returns the throughput the receiver saw.
   */
  async transfer(clientNs: TestNetns, serverNs: TestNetns, to: string, port: number, bytes: number): Promise<{ seconds: number; mbps: number }> {
    const sink = [
      "const net = require('node:net');",
      'const s = net.createServer((c) => { let n = 0, t0 = 0; c.on("data", (x) => { if (n === 0) t0 = performance.now(); n += x.length; if (n >= ' +
        String(bytes) +
        ') { c.end(JSON.stringify({ ms: performance.now() - t0, n }) + "\\n"); s.close(); } }); });',
      `s.listen(${port}, '${to.includes(':') ? '::' : '0.0.0.0'}', () => console.log('listening'));`,
      'setTimeout(() => process.exit(3), 60000).unref();',
    ].join('\n');
    const source = [
      "const net = require('node:net');",
      `const c = net.connect(${port}, '${to}', () => c.write(Buffer.alloc(${bytes}, 120)));`,
      'let d = ""; c.on("data", (x) => (d += x)); c.on("end", () => process.stdout.write(d));',
      'c.on("error", (e) => { console.error(e.message); process.exit(1); });',
      "setTimeout(() => { console.error('timeout'); process.exit(2); }, 50000).unref();",
    ].join('\n');
    const child = spawn('ip', ['netns', 'exec', serverNs.name, process.execPath, '-e', sink], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.servers.push(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the TCP sink did not start')), 10_000);
      child.stdout.on('data', (c: Buffer) => {
        if (c.toString().includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the TCP sink exited early (${String(code)})`));
      });
    });
    this.narrator.cmd(`ip netns exec ${clientNs.name} node -e <send ${bytes} bytes to ${to}:${port}>`);
    const [cmd, ...args] = ['ip', 'netns', 'exec', clientNs.name, process.execPath, '-e', source];
    const r = spawnSync(cmd ?? 'ip', args, { encoding: 'utf8', timeout: 60_000 });
    child.kill();
    if (r.status !== 0) throw new Error(`sending ${bytes} bytes to ${to}:${port} failed: ${r.stderr.trim()}`);
    const { ms } = JSON.parse(r.stdout) as { ms: number };
    return { seconds: ms / 1000, mbps: (bytes * 8) / (ms / 1000) / 1e6 };
  }

  /** iptables-save -c of the node's nat table, the MASQUERADE rules with their packet counts. */
  masqueradeRules(node: ClusterNode): { rule: string; packets: number }[] {
    return run(['ip', 'netns', 'exec', this.ns(node), 'iptables-save', '-c', '-t', 'nat'])
      .stdout.split('\n')
      .filter((l) => l.includes('-j MASQUERADE'))
      .map((l) => {
        const m = /^\[(\d+):\d+\]\s*(.*)$/.exec(l);
        return m === null ? { rule: l, packets: 0 } : { rule: m[2] ?? l, packets: Number(m[1]) };
      });
  }

  /** Stops every daemon (flanneld first, etcd last), then removes namespaces and files. */
  async teardown(): Promise<void> {
    for (const d of this.flanneldByNode.values()) await d.stop();
    await this.etcd?.stop();
    this.cleanup();
  }

  /** Namespaces, daemons and files of this cluster still there (after teardown: none). */
  residue(): Residue {
    const listed = run(['ip', '-j', 'netns', 'list']).stdout.trim();
    const names = listed === '' ? [] : (JSON.parse(listed) as { name: string }[]).map((x) => x.name);
    return {
      namespaces: names.filter((x) => this.allNamespaces.includes(x)),
      daemons: this.allDaemons.filter((d) => d.running || (d.pid !== undefined && existsSync(`/proc/${d.pid}`))).map((d) => `${d.name} (pid ${String(d.pid)})`),
      files: existsSync(this.root) ? [this.root] : [],
    };
  }

  /** Last resort: kill the daemons, then TwoNodeLab's cleanup (pods, nodes, the control plane, the directory). */
  override cleanup(): void {
    for (const d of this.allDaemons) if (d.running) d.child.kill('SIGKILL');
    try {
      super.cleanup();
    } finally {
      for (const name of this.allNamespaces) deleteNetns(name);
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}
