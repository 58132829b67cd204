/**
 * Real container runtimes (containerd 1.6 through `ctr run --cni`, podman 4.3
 * with its CNI backend) running pods on our plugins, for the runtime suites
 * (test/integration/runtime-*.test.ts) and the startup benchmark
 * (scripts/bench/runtime-startup.mjs loads this file with Node's type
 * stripping: erasable TypeScript only here).
 *
 * Isolation, as far as the runtimes allow:
 * - The pods' "node" is a fresh network namespace: the runtime's client (ctr,
 *   podman) runs in it through `nsenter --net`, so the plugins it execs create
 *   the bridge, the veths and every iptables/nft rule there, never in the
 *   host's namespace. Deleting the namespace removes whatever a failed test left.
 * - Files: ctr 1.6 has no option for CNI paths (it reads /etc/cni/net.d, takes
 *   the first file, and sends CNI_PATH=/opt/cni/bin:/usr/lib/cni on Debian), and
 *   both runtimes write libcni's result cache to /var/lib/cni; containerd 1.6
 *   always puts shim sockets and fifos under /run/containerd, runc keeps its
 *   state under /run/runc, podman's image cache goes to /var/lib/containers. So
 *   each runtime process runs in a private mount namespace (`unshare -m`) where
 *   temp directories are bind-mounted over those paths (over the nearest
 *   existing parent when a path does not exist, e.g. /opt for /opt/cni/bin).
 *   Nothing of the machine's is read or written: its /etc/cni/net.d and
 *   /opt/cni/bin are never touched, so there is nothing to back up.
 * - containerd: its own --config with root, state, sockets and the `opt`
 *   plugin's path in the temp dir, the CRI plugin disabled (it would read
 *   /etc/cni/net.d), its own namespace; started and stopped by the test.
 * - podman: its own CONTAINERS_CONF (network_backend "cni", cni_plugin_dirs,
 *   network_config_dir, default_ulimits) and CONTAINERS_STORAGE_CONF (vfs,
 *   graphroot/runroot in temp dirs), runc through a runtime entry that keeps
 *   its state there (conmon's `podman container cleanup` reads the same file),
 *   its config taken from conf-examples/podman-containers.conf.
 * - Names: bridge `t-rt<6 hex>`, network `t-rt-<6 hex>`, cluster 10.180-239.0.0/16
 *   (never 10.244) with a random node /24: nothing collides with another suite.
 *
 * ctr and podman 4.3 never exec loopback (containerd's CRI plugin does); its
 * link is there so that a runtime that does gets the right one.
 *
 * Which plugin comes from where: the CNI bin dir handed to the runtime links
 * every plugin our executable contains (the "plugins:" line of `cni`'s banner)
 * to dist/bin/cni, and only the others to Debian's Go plugins in /usr/lib/cni.
 * Today that makes flannel, bridge and host-local ours and portmap/loopback
 * Go's; once our portmap and loopback are in the executable they are ours too,
 * with no change here.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { BIN_DIR, GO_CNI_DIR, ROOT } from './exec.ts';
import { type TestNetns, createNetns, deleteNetns } from './netns.ts';

export const OUR_EXE = join(BIN_DIR, 'cni');
/** Every plugin type a runtime can exec for the kube-flannel conflist (loopback: containerd's CRI adds it; ctr and podman 4.3 do not). */
export const CHAIN_TYPES = ['flannel', 'bridge', 'host-local', 'portmap', 'loopback'] as const;
export const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'nc', 'ping', 'ip', 'sleep', 'cat', 'echo', 'hostname', 'ls', 'true', 'sysctl', 'httpd', 'wget', 'mkdir'];

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(argv: readonly string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Run {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000 });
  if (r.error !== undefined) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function must(argv: readonly string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): string {
  const r = run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()} ${r.stdout.trim()}`);
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `fn` until `ok` accepts its result (at most `attempts` times, `delayMs` apart) and returns the last
 * result: the pods' one-connection-at-a-time `nc -l` loops are briefly not listening between two clients.
 */
export function retrying<T>(fn: () => T, ok: (t: T) => boolean, attempts = 5, delayMs = 300): T {
  let r = fn();
  for (let i = 1; i < attempts && !ok(r); i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs);
    r = fn();
  }
  return r;
}

/** Fails with the reason when a program the runtime suites need is missing (never a silent skip). */
export function requireTools(names: readonly string[]): void {
  if (process.getuid?.() !== 0) throw new Error('the runtime suites need root (network and mount namespaces, containerd, podman)');
  const missing = names.filter((n) => run(['sh', '-c', `command -v ${n}`]).code !== 0);
  if (!existsSync(BUSYBOX)) missing.push(`${BUSYBOX} (busybox-static)`);
  if (missing.length > 0) throw new Error(`missing on this machine: ${missing.join(', ')}; run scripts/setup-machine.sh`);
  if (!existsSync(OUR_EXE)) throw new Error(`${OUR_EXE} is missing: run npm run build first`);
}

/** The plugins our executable contains, read from its banner ("plugins: bridge, flannel, host-local"). */
export function ourPlugins(): string[] {
  const r = run([OUR_EXE]);
  const m = /^plugins: (.+)$/m.exec(r.stdout);
  if (m?.[1] === undefined) throw new Error(`no "plugins:" line in the banner of ${OUR_EXE}: ${r.stdout} ${r.stderr}`);
  return m[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Where each plugin type must come from: our executable when it contains it, else Debian's Go plugin. */
export function expectedSources(types: readonly string[] = CHAIN_TYPES): Map<string, string> {
  const ours = new Set(ourPlugins());
  return new Map(types.map((t) => [t, ours.has(t) ? OUR_EXE : join(GO_CNI_DIR, t)]));
}

/** A CNI bin dir with one link per plugin type, as `expectedSources` says. */
export function makePluginDir(dir: string, types: readonly string[] = CHAIN_TYPES): Map<string, string> {
  mkdirSync(dir, { recursive: true });
  const sources = expectedSources(types);
  for (const [type, target] of sources) {
    if (!existsSync(target)) throw new Error(`${target} is missing (plugin ${type}); run scripts/setup-machine.sh and npm run build`);
    symlinkSync(target, join(dir, type));
  }
  return sources;
}

/** The links a bin dir really holds: type → target. */
export function pluginDirLinks(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).map((n) => [n, readlinkSync(join(dir, n))]));
}

export interface BusyboxImage {
  /** Rootfs tarball for `podman import`. */
  rootfsTar: string;
  /** OCI image layout tarball for `ctr image import`. */
  ociTar: string;
  /** The name the OCI layout carries. */
  ref: string;
}

function sha256File(path: string): { digest: string; size: number } {
  const out = must(['sha256sum', path]).split(' ')[0] ?? '';
  return { digest: `sha256:${out}`, size: Number(must(['stat', '-c', '%s', path]).trim()) };
}

/**
 * A one-layer busybox image built offline from busybox-static: the static
 * binary, applet links, /etc/passwd. The OCI layout is written by hand
 * (oci-layout, index.json, blobs) with the name in the index annotations.
 */
export function buildBusyboxImage(dir: string, ref = 'docker.io/library/t-busybox:1', cmd: readonly string[] = ['/bin/sh']): BusyboxImage {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  must(['cp', BUSYBOX, join(rootfs, 'bin', 'busybox')]);
  for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\n');
  const rootfsTar = join(dir, 'rootfs.tar');
  must(['tar', '--numeric-owner', '-C', rootfs, '-cf', rootfsTar, '.']);

  const oci = join(dir, 'oci');
  const blobs = join(oci, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (path: string): { digest: string; size: number } => {
    const d = sha256File(path);
    must(['cp', path, join(blobs, d.digest.slice('sha256:'.length))]);
    return d;
  };
  const layer = blob(rootfsTar);
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'], Cmd: cmd }, rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const config = blob(configPath);
  const manifestPath = join(dir, 'manifest.json');
  writeFileSync(
    manifestPath,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  const manifest = blob(manifestPath);
  writeFileSync(
    join(oci, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.split(':').pop() } }],
    }),
  );
  writeFileSync(join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const ociTar = join(dir, 'image.tar');
  must(['tar', '-C', oci, '-cf', ociTar, 'oci-layout', 'index.json', 'blobs']);
  return { rootfsTar, ociTar, ref };
}

/**
 * Shell lines that bind `source` over `target` in a private mount namespace;
 * when `target` does not exist, over its nearest existing parent, with the
 * missing part created inside a temp dir (`scratch`) and linked to `source`.
 */
export function bindOver(target: string, source: string, scratch: string): string {
  if (existsSync(target)) return `mount --bind ${q(source)} ${q(target)}`;
  let parent = dirname(target);
  while (!existsSync(parent)) parent = dirname(parent);
  const stand = join(scratch, `over${parent.replaceAll('/', '_')}`);
  const rest = relative(parent, target);
  mkdirSync(dirname(join(stand, rest)), { recursive: true });
  if (!existsSync(join(stand, rest))) symlinkSync(source, join(stand, rest));
  return `mount --bind ${q(stand)} ${q(parent)}`;
}

export function q(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

export interface NodeOptions {
  cniVersion: string;
  /**
   * The conflist's plugins instead of conf-examples/flannel-kube-<cniVersion>.conflist's (flannel entries get
   * the node's subnetFile, dataDir, bridge and IPAM dataDir as there), and the plugin types its bin dir links.
   */
  plugins?: Record<string, unknown>[];
  types?: readonly string[];
  /** Chain portmap after flannel, as kube-flannel does (default true). */
  portmap?: boolean;
  /**
   * 'kube-flannel' (default): the kube-flannel conflist, plugins as `expectedSources` says.
   * 'go-bridge': the Go bridge + host-local with the delegate config our flannel renders from this
   * node's subnet.env, every plugin from /usr/lib/cni (the benchmark's comparison).
   */
  chain?: 'kube-flannel' | 'go-bridge';
}

export interface Leftovers {
  /** veths left in the node (each pod's host side). */
  veths: string[];
  /** host-local lease files. */
  leases: string[];
  /** flannel's saved delegate configs. */
  savedConfigs: string[];
  /** iptables/ip6tables/nft lines naming a pod's container id or address. */
  rules: string[];
  /** libcni result cache files the runtime left. */
  cache: string[];
}

/**
 * The pods' node: a network namespace with lo up and forwarding on, its
 * flannel lease (subnet.env, unique cluster /16 and node /24 out of 10.0.0.0/8
 * away from the other tests' 10.244 and 10.99), a unique bridge name, and the
 * kube-flannel conflist with `subnetFile`, `dataDir` and the IPAM `dataDir`
 * in temp dirs. FLANNEL_IPMASQ=false, so the bridge adds (and must remove)
 * masquerade rules per pod.
 */
export class RuntimeNode {
  readonly tag = randomBytes(3).toString('hex');
  readonly ns: TestNetns;
  readonly root: string;
  readonly network: string;
  readonly bridge: string;
  readonly cluster: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly mtu = 1410;
  readonly subnetFile: string;
  readonly flannelDir: string;
  readonly ipamDir: string;
  readonly confDir: string;
  readonly binDir: string;
  /** Temp dir bind-mounted over /var/lib: libcni's cache lands in its cni/. */
  readonly varLib: string;
  readonly conflistPath: string;
  readonly conflist: Record<string, unknown>;
  readonly sources: Map<string, string>;

  constructor(opts: NodeOptions) {
    this.root = mkdtempSync(join(tmpdir(), 't-rtnode-'));
    const a = 180 + (randomBytes(1)[0]! % 60);
    const second = a === 244 ? 245 : a;
    const b = 1 + (randomBytes(1)[0]! % 250);
    this.cluster = `10.${second}.0.0/16`;
    this.subnet = `10.${second}.${b}.0/24`;
    this.gateway = `10.${second}.${b}.1`;
    this.network = `t-rt-${this.tag}`;
    this.bridge = `t-rt${this.tag}`;
    this.subnetFile = join(this.root, 'subnet.env');
    this.flannelDir = join(this.root, 'flannel');
    this.ipamDir = join(this.root, 'networks');
    this.confDir = join(this.root, 'net.d');
    this.binDir = join(this.root, 'bin');
    this.varLib = join(this.root, 'var-lib');
    mkdirSync(this.confDir);
    mkdirSync(this.varLib);
    writeFileSync(this.subnetFile, `FLANNEL_NETWORK=${this.cluster}\nFLANNEL_SUBNET=${this.gateway}/24\nFLANNEL_MTU=${this.mtu}\nFLANNEL_IPMASQ=false\n`);
    if (opts.chain === 'go-bridge') {
      mkdirSync(this.binDir);
      this.sources = new Map((opts.types ?? CHAIN_TYPES).map((t) => [t, join(GO_CNI_DIR, t)]));
      for (const [t, target] of this.sources) symlinkSync(target, join(this.binDir, t));
    } else {
      this.sources = makePluginDir(this.binDir, opts.types);
    }
    // kube-flannel's conflist (conf-examples/flannel-kube-<v>.conflist) plus what a node in a namespace needs
    const example =
      opts.plugins === undefined
        ? (JSON.parse(readFileSync(join(ROOT, 'conf-examples', `flannel-kube-${opts.cniVersion}.conflist`), 'utf8')) as { plugins: Record<string, unknown>[] })
        : { cniVersion: opts.cniVersion, plugins: opts.plugins };
    const plugins = example.plugins
      .filter((p) => opts.portmap !== false || p['type'] !== 'portmap')
      .map((p) => {
        if (p['type'] !== 'flannel') return p;
        const delegate = { ...(p['delegate'] as Record<string, unknown>), bridge: this.bridge };
        if (opts.chain !== 'go-bridge') return { ...p, subnetFile: this.subnetFile, dataDir: this.flannelDir, delegate, ipam: { dataDir: this.ipamDir } };
        // what flannel renders from subnet.env (FLANNEL_IPMASQ=false → ipMasq), see plugins/flannel/delegate.ts
        return {
          type: 'bridge',
          ...delegate,
          ipMasq: true,
          mtu: this.mtu,
          isGateway: true,
          ipam: { type: 'host-local', dataDir: this.ipamDir, ranges: [[{ subnet: this.subnet }]], routes: [{ dst: this.cluster }] },
        };
      });
    this.conflist = { ...example, name: this.network, plugins };
    // "10-" sorts before the podman package's 87-podman-bridge.conflist, though ctr only ever sees this directory
    this.conflistPath = join(this.confDir, `10-${this.network}.conflist`);
    writeFileSync(this.conflistPath, JSON.stringify(this.conflist, null, 2));
    this.ns = createNetns();
    must(['ip', '-n', this.ns.name, 'link', 'set', 'lo', 'up']);
    must(['ip', 'netns', 'exec', this.ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  }

  /** Runs a program in the node's namespace. */
  sh(argv: readonly string[], timeoutMs = 20_000): Run {
    return run(['ip', 'netns', 'exec', this.ns.name, ...argv], { timeoutMs });
  }

  /** iptables, ip6tables and nft rules of the node, as text lines. */
  ruleLines(): string[] {
    return [this.sh(['iptables-save']).stdout, this.sh(['ip6tables-save']).stdout, this.sh(['nft', 'list', 'ruleset']).stdout].join('\n').split('\n');
  }

  bridgeView(): { mtu: number; addresses: string[] } {
    const l = (JSON.parse(must(['ip', '-n', this.ns.name, '-j', 'addr', 'show', 'dev', this.bridge])) as { mtu: number; addr_info: { family: string; local: string; prefixlen: number }[] }[])[0];
    if (l === undefined) throw new Error(`no bridge ${this.bridge} in the node`);
    return { mtu: l.mtu, addresses: l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`) };
  }

  veths(): string[] {
    return (JSON.parse(must(['ip', '-n', this.ns.name, '-j', 'link', 'show', 'type', 'veth'])) as { ifname: string }[]).map((l) => l.ifname);
  }

  leases(): string[] {
    const dir = join(this.ipamDir, this.network);
    return existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : [];
  }

  savedConfigs(): string[] {
    return existsSync(this.flannelDir) ? readdirSync(this.flannelDir).filter((n) => n !== '.cni-ts-boot-id') : [];
  }

  cacheFiles(): string[] {
    const dir = join(this.varLib, 'cni', 'results');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  /** What pods (by CNI container id and address) left in the node. */
  leftovers(containerIds: readonly string[], podIps: readonly string[]): Leftovers {
    const ipRe = podIps.map((ip) => new RegExp(`(^|[^0-9.])${ip.replaceAll('.', '\\.')}([^0-9]|$)`));
    const rules = this.ruleLines().filter((l) => containerIds.some((id) => l.includes(id)) || ipRe.some((re) => re.test(l)));
    return { veths: this.veths(), leases: this.leases(), savedConfigs: this.savedConfigs(), rules, cache: this.cacheFiles() };
  }

  cleanup(): void {
    try {
      deleteNetns(this.ns.name);
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

/** What a pod looks like from inside its network namespace. */
export interface PodView {
  addresses: string[];
  mtu: number;
  routes: string[];
}

export function podView(netnsPath: string): PodView {
  const links = JSON.parse(must(['nsenter', `--net=${netnsPath}`, 'ip', '-j', 'addr', 'show', 'dev', 'eth0'])) as { mtu: number; addr_info: { family: string; local: string; prefixlen: number }[] }[];
  const link = links[0];
  if (link === undefined) throw new Error(`no eth0 in ${netnsPath}`);
  const routes = JSON.parse(must(['nsenter', `--net=${netnsPath}`, 'ip', '-j', '-4', 'route', 'show'])) as { dst: string; gateway?: string; dev: string }[];
  return {
    addresses: link.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    mtu: link.mtu,
    routes: routes.map((r) => (r.gateway === undefined ? `${r.dst} dev ${r.dev}` : `${r.dst} via ${r.gateway} dev ${r.dev}`)).sort(),
  };
}

/** The machine's own runtime/CNI paths, to prove a suite left them as it found them. */
export const HOST_PATHS = ['/etc/cni/net.d', '/opt/cni', '/opt/containerd', '/var/lib/cni', '/var/lib/containerd', '/var/lib/containers', '/run/containerd', '/run/runc', '/run/libpod', '/run/containers', '/run/crun'];

export function hostSnapshot(): Record<string, string> {
  const snap: Record<string, string> = {};
  for (const p of HOST_PATHS) snap[p] = existsSync(p) ? must(['find', p, '-printf', '%P %y %s\\n']).split('\n').sort().join('\n') : '(absent)';
  // other suites may use host-local's default /var/lib/cni/networks; a runtime's cache would be under results/
  delete snap['/var/lib/cni'];
  snap['/var/lib/cni/results'] = existsSync('/var/lib/cni/results') ? readdirSync('/var/lib/cni/results').sort().join(' ') : '(absent)';
  const links = JSON.parse(must(['ip', '-j', 'link', 'show'])) as { ifname: string }[];
  snap['host links named t-rt*'] = links
    .map((l) => l.ifname)
    .filter((n) => n.startsWith('t-rt'))
    .join(' ');
  // rules of the host's namespace naming a suite's network, bridge or ctr container ("t-rt...")
  snap['host rules naming t-rt*'] = [run(['iptables-save']).stdout, run(['ip6tables-save']).stdout, run(['nft', 'list', 'ruleset']).stdout]
    .join('\n')
    .split('\n')
    .filter((l) => l.includes('t-rt'))
    .join('\n');
  return snap;
}

/** Processes whose command line contains `needle` (the suite's unique temp path): ours to end. */
export function pidsWith(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) pids.push(Number(d));
    } catch {
      // gone
    }
  }
  return pids;
}

export function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export interface CtrPod {
  id: string;
  /** The CNI container id ctr uses: "<namespace>-<id>". */
  cniId: string;
  /** `ctr run --rm --cni`, which sets the network up and tears it down when the task exits. */
  proc: ChildProcess;
  exited: Promise<Run>;
  pid: number;
  netns: string;
}

/** containerd's config.toml lines that keep a daemon's root, state, sockets and `opt` dir inside `dir`. */
export function containerdConfigLines(dir: string, sock: string): string[] {
  return [
    'version = 2',
    `root = ${JSON.stringify(join(dir, 'root'))}`,
    `state = ${JSON.stringify(join(dir, 'state'))}`,
    '[grpc]',
    `  address = ${JSON.stringify(sock)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
    '[debug]',
    `  address = ${JSON.stringify(join(dir, 'debug.sock'))}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(join(dir, 'opt'))}`,
  ];
}

export interface ContainerdDaemon {
  proc: ChildProcess;
  /** The last 8000 characters of its stderr. */
  log: () => string;
}

/**
 * `containerd --config <config>` in a private mount namespace where `runDir` is bind-mounted over /run (shim
 * sockets, fifos, runc state and the CRI plugin's pod netns files go there) plus the `binds` shell lines, in the
 * network namespace `netnsPath` when given; resolves once `sock` answers, throws with its log when it exits first.
 */
export async function launchContainerd(o: { dir: string; config: string; sock: string; runDir: string; netnsPath?: string; binds?: readonly string[] }): Promise<ContainerdDaemon> {
  const script = ['set -e', ...(o.binds ?? []), `mount --bind ${q(o.runDir)} /run`, `exec containerd --config ${q(o.config)}`].join('\n');
  const argv = [...(o.netnsPath === undefined ? [] : ['nsenter', `--net=${o.netnsPath}`]), 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-8000);
  });
  installExitHook(o.dir);
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`containerd exited (${proc.exitCode}): ${log.slice(-2000)}`);
    if (existsSync(o.sock) && run(['ctr', '--address', o.sock, 'version']).code === 0) break;
    if (i === 100) {
      proc.kill('SIGKILL');
      throw new Error(`containerd did not answer on ${o.sock} within 10 s: ${log.slice(-2000)}`);
    }
    await sleep(100);
  }
  return { proc, log: () => log };
}

/** SIGTERM, then SIGKILL after 10 s; returns a complaint when it had to kill. */
export async function stopContainerd(d: ContainerdDaemon): Promise<string | undefined> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return undefined;
  const gone = new Promise<void>((r) => d.proc.on('exit', () => r()));
  d.proc.kill('SIGTERM');
  await Promise.race([gone, sleep(10_000)]);
  if (d.proc.exitCode === null && d.proc.signalCode === null) {
    d.proc.kill('SIGKILL');
    return 'containerd ignored SIGTERM for 10 s';
  }
  return undefined;
}

/**
 * A private containerd: own config, root, state, sockets and namespace in a
 * temp dir, in a private mount namespace whose /run is a temp dir (shim
 * sockets, fifos and runc state would otherwise go to /run/containerd).
 */
export class PrivateContainerd {
  readonly dir: string;
  readonly sock: string;
  readonly namespace = 't-rt';
  readonly runDir: string;
  image: BusyboxImage | undefined;
  private daemon: ContainerdDaemon | undefined;
  private readonly pods = new Set<CtrPod>();
  private execSeq = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 't-ctrd-'));
    this.sock = join(this.dir, 'containerd.sock');
    this.runDir = join(this.dir, 'run');
    mkdirSync(this.runDir);
  }

  /** Starts containerd and imports the busybox image; throws with the reason when it cannot. */
  async start(): Promise<void> {
    requireTools(['containerd', 'ctr', 'runc', 'nsenter', 'unshare', 'tar', 'sha256sum']);
    const config = join(this.dir, 'config.toml');
    writeFileSync(
      config,
      [
        ...containerdConfigLines(this.dir, this.sock),
        // the CRI plugin would load /etc/cni/net.d for its own status; ctr does not need it
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '',
      ].join('\n'),
    );
    this.daemon = await launchContainerd({ dir: this.dir, config, sock: this.sock, runDir: this.runDir });
    this.image = buildBusyboxImage(join(this.dir, 'image'));
    const imp = this.ctr(['image', 'import', this.image.ociTar]);
    if (imp.code !== 0) throw new Error(`ctr image import failed: ${imp.stderr}`);
  }

  /**
   * argv running `ctr` against this containerd; with a node, inside the node's
   * network namespace and a private mount namespace where the node's conflist
   * dir is /etc/cni/net.d, its bin dir /opt/cni/bin, and /var/lib and /run
   * are the suite's temp dirs.
   */
  ctrArgv(args: readonly string[], node?: RuntimeNode): string[] {
    const ctr = ['ctr', '--address', this.sock, '--namespace', this.namespace, ...args];
    // ctr puts its IO fifos under /run/containerd/fifo, where the shim (in the daemon's namespace) opens them
    const lines = ['set -e'];
    if (node !== undefined) {
      const scratch = join(node.root, 'mnt');
      mkdirSync(scratch, { recursive: true });
      mkdirSync(join(node.varLib, 'cni'), { recursive: true });
      lines.push(bindOver('/etc/cni/net.d', node.confDir, scratch), bindOver('/opt/cni/bin', node.binDir, scratch), bindOver('/var/lib/cni', join(node.varLib, 'cni'), scratch));
    }
    lines.push(`mount --bind ${q(this.runDir)} /run`);
    const script = [...lines, 'exec "$@"'].join('\n');
    const inNode = node === undefined ? [] : ['nsenter', `--net=${node.ns.path}`];
    return [...inNode, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ...ctr];
  }

  ctr(args: readonly string[], node?: RuntimeNode, timeoutMs = 30_000): Run {
    return run(this.ctrArgv(args, node), { timeoutMs });
  }

  tasks(): Map<string, { pid: number; status: string }> {
    const out = this.ctr(['task', 'ls']).stdout.trim().split('\n').slice(1);
    return new Map(
      out
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 3)
        .map((f) => [f[0]!, { pid: Number(f[1]), status: f[2]! }]),
    );
  }

  /**
   * `ctr run --rm --cni <image> <id> <cmd>` in the node, in the background;
   * resolves once the task runs (its network is set up by then), or rejects
   * with ctr's output when it exits first (a failed ADD).
   */
  async runPod(node: RuntimeNode, id: string, cmd: readonly string[]): Promise<CtrPod> {
    if (this.image === undefined) throw new Error('start() first');
    const argv = this.ctrArgv(['run', '--rm', '--cni', this.image.ref, id, ...cmd], node);
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<Run>((resolve) => proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
    const pod: CtrPod = { id, cniId: `${this.namespace}-${id}`, proc, exited, pid: 0, netns: '' };
    this.pods.add(pod);
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) {
        const r = await exited;
        throw new CtrRunError(`ctr run ${id} exited (${r.code}) before the task ran: ${r.stderr.trim()}`, r);
      }
      const t = this.tasks().get(id);
      if (t?.status === 'RUNNING') {
        pod.pid = t.pid;
        pod.netns = `/proc/${t.pid}/ns/net`;
        return pod;
      }
      await sleep(100);
    }
    throw new Error(`task ${id} did not start within 20 s: ${stderr}`);
  }

  /** Runs a command in a pod's container (`ctr task exec`). */
  exec(pod: CtrPod, cmd: readonly string[], timeoutMs = 20_000): Run {
    this.execSeq++;
    return this.ctr(['task', 'exec', '--exec-id', `x${this.execSeq}`, pod.id, ...cmd], undefined, timeoutMs);
  }

  /** Kills the task; `ctr run --rm` then runs the CNI DEL (netns "", prevResult from its cache) and removes the container. */
  async stopPod(pod: CtrPod): Promise<Run> {
    this.ctr(['task', 'kill', '--signal', 'SIGKILL', pod.id]);
    const timer = sleep(20_000).then(() => ({ code: -1, stdout: '', stderr: 'ctr run did not exit within 20 s of the kill' }));
    const r = await Promise.race([pod.exited, timer]);
    this.pods.delete(pod);
    return r;
  }

  /** Removes a task/container that `ctr run` left (e.g. after a failed ADD). */
  forceRemove(id: string): void {
    this.ctr(['task', 'kill', '--signal', 'SIGKILL', id]);
    for (let i = 0; i < 50; i++) {
      if (this.ctr(['task', 'delete', id]).code === 0 || !this.tasks().has(id)) break;
      spawnSync('sleep', ['0.1']);
    }
    this.ctr(['container', 'delete', id]);
  }

  /** Every container gone, containerd and its shims stopped, the temp dir removed. */
  async stop(): Promise<void> {
    const errors: string[] = [];
    try {
      if (this.daemon !== undefined && this.daemon.proc.exitCode === null) {
        for (const pod of [...this.pods]) await this.stopPod(pod);
        for (const id of this.tasks().keys()) this.forceRemove(id);
        for (const line of this.ctr(['container', 'ls', '-q']).stdout.split('\n').filter((l) => l.trim() !== '')) this.ctr(['container', 'delete', line.trim()]);
        const e = await stopContainerd(this.daemon);
        if (e !== undefined) errors.push(e);
      }
    } finally {
      // shims (and anything else) started with this suite's socket path
      killPids(pidsWith(this.dir));
      rmSync(this.dir, { recursive: true, force: true });
    }
    if (errors.length > 0) throw new Error(errors.join('; '));
  }
}

export class CtrRunError extends Error {
  readonly run: Run;
  constructor(message: string, r: Run) {
    super(message);
    this.run = r;
  }
}

const exitDirs = new Set<string>();
let exitHook = false;
/** Last resort when a run is interrupted: end this suite's processes (by pid, found by its unique temp path). */
export function installExitHook(dir: string): void {
  exitDirs.add(dir);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const d of exitDirs) {
      if (existsSync(d)) killPids(pidsWith(d));
    }
  });
}

/**
 * podman 4.3 with the CNI backend and a configuration of the suite's own:
 * CONTAINERS_CONF, CONTAINERS_STORAGE_CONF (vfs in temp dirs), runc state in
 * the temp dir (a runtime entry that runs `runc --root <temp>`), run in the node's network namespace and in a mount namespace
 * where /var/lib is a temp dir (libcni's cache, the blob-info cache). /run/netns
 * stays shared with the machine, so the netns podman makes is seen by the
 * next podman command and by conmon's cleanup.
 */
export class PrivatePodman {
  readonly dir: string;
  readonly node: RuntimeNode;
  readonly containersConf: string;
  readonly storageConf: string;
  readonly image = 'localhost/t-busybox:1';
  /** /run/netns entries before the suite, to find the ones podman made. */
  private readonly netnsBefore: Set<string>;

  constructor(node: RuntimeNode) {
    requireTools(['podman', 'conmon', 'runc', 'nsenter', 'unshare', 'tar', 'sha256sum', 'findmnt']);
    this.node = node;
    this.dir = mkdtempSync(join(tmpdir(), 't-podman-'));
    installExitHook(this.dir);
    this.netnsBefore = new Set(existsSync('/run/netns') ? readdirSync('/run/netns') : []);
    for (const d of ['root', 'runroot', 'tmp', 'runc', 'image-tmp']) mkdirSync(join(this.dir, d));
    this.containersConf = join(this.dir, 'containers.conf');
    this.storageConf = join(this.dir, 'storage.conf');
    // conf-examples/podman-containers.conf with the node's directories, then what keeps podman off the machine's state
    const example = readFileSync(join(ROOT, 'conf-examples', 'podman-containers.conf'), 'utf8');
    const sections = [...example.matchAll(/^\[([^\]]+)\]/gm)].map((m) => m[1]);
    if (!example.includes('"/opt/cni/bin"') || !example.includes('"/etc/cni/net.d"') || sections.at(-1) !== 'network') throw new Error('conf-examples/podman-containers.conf changed shape: the test expects both paths and [network] last');
    writeFileSync(
      this.containersConf,
      [
        example.replace('"/opt/cni/bin"', JSON.stringify(node.binDir)).replace('"/etc/cni/net.d"', JSON.stringify(node.confDir)).trimEnd(),
        // (still in [network], the example's last section) never one of ours: a conflist podman refuses must
        // not be replaced by its built-in default network of the same name
        `default_network = "t-rt-default-${node.tag}"`,
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        // runc with its state in the temp dir (else /run/runc), for podman and for conmon's cleanup alike
        'runtime = "t-runc"',
        'events_logger = "file"',
        `events_logfile_path = ${JSON.stringify(join(this.dir, 'events.log'))}`,
        `tmp_dir = ${JSON.stringify(join(this.dir, 'tmp'))}`,
        `image_copy_tmp_dir = ${JSON.stringify(join(this.dir, 'image-tmp'))}`,
        `static_dir = ${JSON.stringify(join(this.dir, 'root', 'libpod'))}`,
        `volume_path = ${JSON.stringify(join(this.dir, 'root', 'volumes'))}`,
        '[engine.runtimes]',
        `t-runc = [${JSON.stringify(join(this.dir, 'runc.sh'))}]`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(this.dir, 'runc.sh'), `#!/bin/sh\nexec runc --root ${q(join(this.dir, 'runc'))} "$@"\n`, { mode: 0o755 });
    writeFileSync(this.storageConf, ['[storage]', 'driver = "vfs"', `graphroot = ${JSON.stringify(join(this.dir, 'root'))}`, `runroot = ${JSON.stringify(join(this.dir, 'runroot'))}`, ''].join('\n'));
    mkdirSync(join(node.varLib, 'cni'), { recursive: true });
  }

  argv(args: readonly string[]): string[] {
    const scratch = join(this.dir, 'mnt');
    mkdirSync(scratch, { recursive: true });
    const script = [
      'set -e',
      // our binds stay in this namespace; /run/netns (a shared mount) still propagates both ways
      'mount --make-private /',
      'mount --make-private "$(findmnt -n -o TARGET -T /var/lib)"',
      bindOver('/var/lib', this.node.varLib, scratch),
      'exec "$@"',
    ].join('\n');
    return ['nsenter', `--net=${this.node.ns.path}`, 'unshare', '-m', '--propagation', 'unchanged', 'sh', '-c', script, 'sh', 'podman', ...args];
  }

  env(): Record<string, string> {
    return { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', CONTAINERS_CONF: this.containersConf, CONTAINERS_STORAGE_CONF: this.storageConf, TMPDIR: join(this.dir, 'tmp') };
  }

  podman(args: readonly string[], timeoutMs = 60_000): Run {
    return run(this.argv(args), { env: this.env(), timeoutMs });
  }

  must(args: readonly string[], timeoutMs = 60_000): string {
    const r = this.podman(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Imports the busybox rootfs. */
  importImage(): void {
    const img = buildBusyboxImage(join(this.dir, 'image'));
    this.must(['import', '--change', 'CMD=/bin/sh', img.rootfsTar, this.image]);
  }

  /** The container's full id, pid and netns path. */
  inspect(name: string): { id: string; pid: number; netns: string } {
    const j = JSON.parse(this.must(['inspect', '--format', 'json', name])) as { Id: string; State: { Pid: number }; NetworkSettings: { SandboxKey: string } }[];
    const c = j[0];
    if (c === undefined) throw new Error(`podman inspect ${name}: nothing`);
    return { id: c.Id, pid: c.State.Pid, netns: c.NetworkSettings.SandboxKey };
  }

  /** Network namespaces under /run/netns that podman made and did not remove. */
  netnsLeft(): string[] {
    return (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((n) => n.startsWith('netns-') && !this.netnsBefore.has(n));
  }

  /** Removes every container and image, ends leftover conmon processes, removes the temp dir. */
  cleanup(): void {
    try {
      this.podman(['rm', '--all', '--force', '--time', '0']);
      this.podman(['rmi', '--all', '--force']);
    } finally {
      killPids(pidsWith(this.dir));
      for (const n of this.netnsLeft()) {
        run(['umount', join('/run/netns', n)]);
        rmSync(join('/run/netns', n), { force: true });
      }
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
