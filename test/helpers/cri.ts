/**
 * The kubelet's path to the network: a private containerd 1.6 with its CRI
 * plugin enabled, spoken to over gRPC as kubelet does (CRI runtime.v1, the
 * calls in test/helpers/cri.proto), for test/integration/cri.test.ts and the
 * CRI pod lifecycle benchmark (scripts/bench/cri-lifecycle.mjs loads this file
 * with Node's type stripping: erasable TypeScript only here).
 *
 * The daemon runs in the node's network namespace (the CRI plugin execs the
 * CNI plugins itself, so the bridge, veths and rules land in the node) and in a
 * private mount namespace where /run is a temp dir (shims, runc state and the
 * pods' netns files under /run/netns) and /var/lib/cni is the node's (libcni's
 * result cache). Its root, state, sockets, CNI `conf_dir` and `bin_dir` are
 * temp dirs; the streaming server listens on 127.0.0.1 on a port of the
 * kernel's choosing inside the node. See test/helpers/runtimes.ts for the node.
 *
 * Config the CRI plugin needs on this machine: `restrict_oom_score_adj = true`
 * (without CAP_SYS_RESOURCE runc fails to write the pause's oom_score_adj of
 * -998), a `sandbox_image` built offline from busybox (`sleep infinity`: the
 * CRI plugin only needs a process that holds the namespaces and dies on SIGKILL),
 * `max_conf_num = 1` (kubelet's nodes: the first conflist of conf_dir).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  type ContainerdDaemon,
  type Run,
  type RuntimeNode,
  bindOver,
  buildBusyboxImage,
  containerdConfigLines,
  killPids,
  launchContainerd,
  pidsWith,
  q,
  requireTools,
  run,
  stopContainerd,
} from './runtimes.ts';

const PROTO = join(dirname(fileURLToPath(import.meta.url)), 'cri.proto');

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  container_port: number;
  host_port: number;
  host_ip: string;
}

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  hostname: string;
  log_directory: string;
  port_mappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Only for host-network pods (network NODE): kubelet's `hostNetwork: true`, no CNI call at all. */
  linux?: { cgroup_parent: string; security_context: { namespace_options: { network: 'POD' | 'NODE'; pid: 'POD'; ipc: 'POD' } } };
}

export interface ContainerConfig {
  metadata: { name: string; attempt: number };
  image: { image: string };
  command: string[];
  args: string[];
  working_dir: string;
  envs: { key: string; value: string }[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  log_path: string;
}

export interface VersionResponse {
  version: string;
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}

export interface PodSandboxStatusResponse {
  status: {
    id: string;
    state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
    network: { ip: string; additional_ips: { ip: string }[] } | null;
  };
  info: Record<string, string>;
}

export interface ExecSyncResponse {
  stdout: Buffer;
  stderr: Buffer;
  exit_code: number;
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type Method = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => void;

/** A CRI RuntimeService client over the runtime's unix socket, each call with a deadline. */
export class CriClient {
  private readonly stub: grpc.Client & Record<string, Method>;

  constructor(socket: string) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & Record<string, Method> } } };
    this.stub = new pkg.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  private call<T>(method: string, req: unknown, timeoutMs: number): Promise<T> {
    const fn = this.stub[method];
    if (fn === undefined) return Promise.reject(new Error(`no CRI method ${method}`));
    return new Promise((resolve, reject) => {
      fn.call(this.stub, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err === null ? resolve(res as T) : reject(new CriError(method, err))));
    });
  }

  version(): Promise<VersionResponse> {
    return this.call('Version', { version: 'v1' }, 10_000);
  }

  async runPodSandbox(config: PodSandboxConfig, timeoutMs = 60_000): Promise<string> {
    return (await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' }, timeoutMs)).pod_sandbox_id;
  }

  async stopPodSandbox(id: string, timeoutMs = 60_000): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: id }, timeoutMs);
  }

  async removePodSandbox(id: string, timeoutMs = 60_000): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: id }, timeoutMs);
  }

  podSandboxStatus(id: string, verbose = false): Promise<PodSandboxStatusResponse> {
    return this.call('PodSandboxStatus', { pod_sandbox_id: id, verbose }, 20_000);
  }

  async createContainer(podId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call<{ container_id: string }>('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: sandboxConfig }, 60_000)).container_id;
  }

  async startContainer(id: string): Promise<void> {
    await this.call('StartContainer', { container_id: id }, 60_000);
  }

  /** Runs `cmd` in the container; `timeoutSec` is the runtime's bound, the call's deadline is a little later. */
  execSync(id: string, cmd: string[], timeoutSec = 10): Promise<ExecSyncResponse> {
    return this.call('ExecSync', { container_id: id, cmd, timeout: timeoutSec }, (timeoutSec + 10) * 1000);
  }

  close(): void {
    this.stub.close();
  }
}

/** A failed CRI call: the gRPC status code and the runtime's message. */
export class CriError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(method: string, err: grpc.ServiceError) {
    super(`CRI ${method}: ${err.details || err.message}`);
    this.code = err.code;
    this.details = err.details;
  }
}

/**
 * A sandbox config as kubelet builds it (name, uid, namespace; no log directory, DNS or Linux options), or with
 * `hostNetwork` a pod in the node's network namespace, which the CRI plugin sets up without any CNI call.
 */
export function sandboxConfig(name: string, opts: { portMappings?: PortMapping[]; annotations?: Record<string, string>; namespace?: string; hostNetwork?: boolean } = {}): PodSandboxConfig {
  return {
    ...(opts.hostNetwork === true ? { linux: { cgroup_parent: '', security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } } : {}),
    metadata: { name, uid: `uid-${name}`, namespace: opts.namespace ?? 't-cri', attempt: 0 },
    // kubelet leaves a host-network pod's hostname empty (it shares the node's UTS namespace)
    hostname: opts.hostNetwork === true ? '' : name,
    log_directory: '',
    port_mappings: opts.portMappings ?? [],
    labels: {},
    annotations: opts.annotations ?? {},
  };
}

export function containerConfig(name: string, image: string, command: string[]): ContainerConfig {
  return { metadata: { name, attempt: 0 }, image: { image }, command, args: [], working_dir: '', envs: [], labels: {}, annotations: {}, log_path: '' };
}

/** One CNI plugin execution as recorded by a recording bin dir. */
export interface CniCall {
  /** The plugin type (the file name the runtime executed). */
  type: string;
  /** Wall time of the plugin process in ms (the wrapper's clock around it), and its exit code; undefined while it runs. */
  ms: number | undefined;
  code: number | undefined;
  /** The CNI_* variables. */
  env: Record<string, string>;
  /** The network configuration on stdin, parsed. */
  config: Record<string, unknown>;
}

/**
 * A CNI bin dir whose entries for the `recorded` types are shell wrappers that
 * record each execution (the CNI_* environment, stdin, wall time and exit
 * code) in `logDir` around the plugin of the same name in `realBinDir`: what
 * the runtime sends, seen from outside, and what each call costs. The other types are links to `realBinDir`'s, so that
 * flannel still finds its delegates (bridge, host-local) to be its own
 * executable and runs them in its process, as on a node.
 */
export function recordingBinDir(dir: string, realBinDir: string, logDir: string, recorded: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  for (const type of readdirSync(realBinDir)) {
    if (!recorded.includes(type)) {
      symlinkSync(join(realBinDir, type), join(dir, type));
      continue;
    }
    const script = [
      '#!/bin/sh',
      't0=$(date +%s%N)',
      `f=${q(logDir)}/$t0-$$-${type}`,
      'cat > "$f.stdin"',
      'env | grep "^CNI_" > "$f.env"',
      's=$(date +%s%N)',
      `${q(join(realBinDir, type))} < "$f.stdin"`,
      'rc=$?',
      'echo "$s $(date +%s%N) $rc" > "$f.time"',
      'exit $rc',
      '',
    ].join('\n');
    writeFileSync(join(dir, type), script, { mode: 0o755 });
  }
}

/** The recorded executions, in order. */
export function recordedCalls(logDir: string): CniCall[] {
  const names = readdirSync(logDir)
    .filter((f) => f.endsWith('.env'))
    .map((f) => f.slice(0, -'.env'.length))
    .sort((a, b) => {
      const [ta, tb] = [BigInt(a.split('-')[0] ?? '0'), BigInt(b.split('-')[0] ?? '0')];
      return ta < tb ? -1 : ta > tb ? 1 : 0;
    });
  return names.map((n) => {
    const env: Record<string, string> = {};
    for (const line of readFileSync(join(logDir, `${n}.env`), 'utf8').split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    const text = existsSync(join(logDir, `${n}.stdin`)) ? readFileSync(join(logDir, `${n}.stdin`), 'utf8') : '';
    const time = existsSync(join(logDir, `${n}.time`)) ? readFileSync(join(logDir, `${n}.time`), 'utf8').trim().split(' ') : [];
    const [t0, t1, rc] = [time[0], time[1], time[2]];
    return {
      type: n.split('-').slice(2).join('-'),
      ms: t0 !== undefined && t1 !== undefined ? Number(BigInt(t1) - BigInt(t0)) / 1e6 : undefined,
      code: rc === undefined ? undefined : Number(rc),
      env,
      config: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    };
  });
}

/**
 * containerd 1.6 with the CRI plugin, private to one node (see the top of
 * this file). `binDir` is the CNI bin dir it hands to the plugins (the node's
 * own by default, or a recording one).
 */
export class CriContainerd {
  readonly dir: string;
  readonly sock: string;
  readonly runDir: string;
  readonly node: RuntimeNode;
  readonly binDir: string;
  readonly namespace = 'k8s.io';
  readonly busybox = 'docker.io/library/t-busybox:1';
  readonly pause = 'docker.io/library/t-pause:1';
  client: CriClient | undefined;
  private daemon: ContainerdDaemon | undefined;
  /** Sandboxes run through `runPod` and not removed yet: removed by `stop`. */
  private readonly sandboxes = new Set<string>();

  constructor(node: RuntimeNode, binDir = node.binDir) {
    this.node = node;
    this.binDir = binDir;
    this.dir = mkdtempSync(join(tmpdir(), 't-cri-'));
    this.sock = join(this.dir, 'containerd.sock');
    this.runDir = join(this.dir, 'run');
    mkdirSync(this.runDir);
  }

  /** Starts the daemon in the node, imports the pause and busybox images, connects the client. */
  async start(): Promise<CriClient> {
    requireTools(['containerd', 'ctr', 'runc', 'nsenter', 'unshare', 'tar', 'sha256sum']);
    const cri = '[plugins."io.containerd.grpc.v1.cri"';
    const config = join(this.dir, 'config.toml');
    writeFileSync(
      config,
      [
        ...containerdConfigLines(this.dir, this.sock),
        `${cri}]`,
        `  sandbox_image = ${JSON.stringify(this.pause)}`,
        '  restrict_oom_score_adj = true',
        '  disable_apparmor = true',
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        `${cri}.cni]`,
        `  bin_dir = ${JSON.stringify(this.binDir)}`,
        `  conf_dir = ${JSON.stringify(this.node.confDir)}`,
        '  max_conf_num = 1',
        `${cri}.containerd]`,
        '  default_runtime_name = "runc"',
        `${cri}.containerd.runtimes.runc]`,
        '  runtime_type = "io.containerd.runc.v2"',
        '',
      ].join('\n'),
    );
    const scratch = join(this.dir, 'mnt');
    mkdirSync(scratch);
    mkdirSync(join(this.node.varLib, 'cni'), { recursive: true });
    this.daemon = await launchContainerd({
      dir: this.dir,
      config,
      sock: this.sock,
      runDir: this.runDir,
      netnsPath: this.node.ns.path,
      binds: [bindOver('/var/lib/cni', join(this.node.varLib, 'cni'), scratch)],
    });
    for (const [ref, cmd] of [
      [this.pause, ['/bin/sleep', 'infinity']],
      [this.busybox, ['/bin/sh']],
    ] as const) {
      const img = buildBusyboxImage(join(this.dir, `image-${ref.split(':')[0]?.split('/').pop() ?? 'x'}`), ref, cmd);
      const imp = this.ctr(['image', 'import', img.ociTar]);
      if (imp.code !== 0) throw new Error(`ctr image import ${ref} failed: ${imp.stderr}`);
    }
    this.client = new CriClient(this.sock);
    return this.client;
  }

  /** `ctr` against this daemon, in the CRI plugin's namespace (k8s.io). */
  ctr(args: readonly string[]): Run {
    return run(['ctr', '--address', this.sock, '--namespace', this.namespace, ...args]);
  }

  get cri(): CriClient {
    if (this.client === undefined) throw new Error('start() first');
    return this.client;
  }

  /** RunPodSandbox, remembering the sandbox so that `stop` removes it even when a test failed. */
  async runPod(config: PodSandboxConfig): Promise<string> {
    const id = await this.cri.runPodSandbox(config);
    this.sandboxes.add(id);
    return id;
  }

  /** StopPodSandbox then RemovePodSandbox, as kubelet does when a pod is deleted. */
  async removePod(id: string): Promise<void> {
    await this.cri.stopPodSandbox(id);
    await this.cri.removePodSandbox(id);
    this.sandboxes.delete(id);
  }

  /** The sandbox's pause process and network namespace path (from PodSandboxStatus verbose info). */
  async sandboxInfo(id: string): Promise<{ pid: number; netns: string; cniResult: CniResultInfo | undefined; ip: string }> {
    const s = await this.cri.podSandboxStatus(id, true);
    const info = JSON.parse(s.info['info'] ?? '{}') as { pid?: number; cniResult?: CniResultInfo };
    if (info.pid === undefined) throw new Error(`PodSandboxStatus ${id}: no pid in ${JSON.stringify(s.info)}`);
    return { pid: info.pid, netns: `/proc/${info.pid}/ns/net`, cniResult: info.cniResult, ip: s.status.network?.ip ?? '' };
  }

  /** Every sandbox gone, the daemon and its shims stopped, the temp dir removed. */
  async stop(): Promise<void> {
    const errors: string[] = [];
    try {
      if (this.client !== undefined) {
        for (const id of [...this.sandboxes]) {
          try {
            await this.removePod(id);
          } catch (e) {
            errors.push(`removing sandbox ${id}: ${(e as Error).message}`);
          }
        }
        this.client.close();
      }
      if (this.daemon !== undefined) {
        const e = await stopContainerd(this.daemon);
        if (e !== undefined) errors.push(e);
      }
    } finally {
      killPids(pidsWith(this.dir));
      // containers the daemon could not remove (pause and workload processes do not name our dir): runc's state
      // of the runc v2 shim is under our /run, readable from here
      const runcRoot = join(this.runDir, 'containerd', 'runc', this.namespace);
      if (existsSync(runcRoot)) {
        for (const id of run(['runc', '--root', runcRoot, 'list', '-q']).stdout.split('\n').filter((l) => l.trim() !== '')) {
          run(['runc', '--root', runcRoot, 'delete', '--force', id.trim()]);
          errors.push(`container ${id.trim()} was still running`);
        }
      }
      rmSync(this.dir, { recursive: true, force: true });
    }
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  /** The daemon's recent stderr, for failure messages. */
  log(): string {
    return this.daemon?.log() ?? '';
  }
}

/** go-cni's result as containerd 1.6 shows it in PodSandboxStatus verbose info. */
export interface CniResultInfo {
  Interfaces: Record<string, { IPConfigs: { IP: string; Gateway: string }[] | null; Mac: string; Sandbox: string }>;
}
