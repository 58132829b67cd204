/**
 * A node with pods for the portmap tests, in scratch namespaces:
 *
 *   pod (eth0 10.88.0.N/24, fd00:88::N/64)
 *      │ veth, hairpin on
 *   cni0 10.88.0.1/24 fd00:88::1/64 ── node ── eth0 192.168.77.1/24 (+ .11) fd00:77::1/64
 *                                                  │ veth
 *                                     other node: 192.168.77.2/24 fd00:77::2/64
 *
 * The plugin (ours or Debian's Go portmap) runs inside the node namespace as
 * a chained plugin, with a prevResult describing the pod's addresses; echo
 * servers (test/helpers/echo.mjs) answer in the pods with the pod's name.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GO_CNI_DIR, type RunResult, binPath, cniEnv, runExe, BIN_DIR } from './exec.ts';
import { NetnsEnv, type TestNetns, ip } from './netns.ts';

export const GO_PORTMAP = join(GO_CNI_DIR, 'portmap');
export const GO_LOOPBACK = join(GO_CNI_DIR, 'loopback');
const ECHO = join(dirname(fileURLToPath(import.meta.url)), 'echo.mjs');
const IP_BIN = '/usr/sbin/ip';

export const NODE_V4 = '192.168.77.1';
export const NODE_V4_OTHER = '192.168.77.11';
export const NODE_V6 = 'fd00:77::1';

export interface Pod {
  name: string;
  ns: TestNetns;
  v4: string;
  v6: string;
  containerId: string;
}

export interface Mapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP?: string;
}

let seq = 0;

export class PortmapLab {
  readonly env = new NetnsEnv();
  readonly node: TestNetns;
  readonly remote: TestNetns;
  private readonly servers: ChildProcess[] = [];
  private podCount = 0;

  constructor() {
    this.node = this.env.netns();
    this.remote = this.env.netns();
    const n = this.node.name;
    // no DAD anywhere: a tentative link-local address delays neighbour discovery by a second or more
    for (const ns of [n, this.remote.name]) this.sh(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
    this.sh(n, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    ip(this.node, 'link', 'set', 'lo', 'up');
    ip(this.remote, 'link', 'set', 'lo', 'up');
    ip(this.node, 'link', 'add', 'cni0', 'type', 'bridge');
    ip(this.node, 'addr', 'add', '10.88.0.1/24', 'dev', 'cni0');
    ip(this.node, 'addr', 'add', 'fd00:88::1/64', 'dev', 'cni0', 'nodad');
    ip(this.node, 'link', 'set', 'cni0', 'up');
    ip(this.node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'r0', 'netns', this.remote.name);
    ip(this.node, 'addr', 'add', `${NODE_V4}/24`, 'dev', 'eth0');
    ip(this.node, 'addr', 'add', `${NODE_V4_OTHER}/24`, 'dev', 'eth0');
    ip(this.node, 'addr', 'add', `${NODE_V6}/64`, 'dev', 'eth0', 'nodad');
    ip(this.node, 'link', 'set', 'eth0', 'up');
    ip(this.remote, 'addr', 'add', '192.168.77.2/24', 'dev', 'r0');
    ip(this.remote, 'addr', 'add', 'fd00:77::2/64', 'dev', 'r0', 'nodad');
    ip(this.remote, 'link', 'set', 'r0', 'up');
  }

  /** A pod attached to cni0 with both families. */
  pod(): Pod {
    const i = ++this.podCount + 1;
    const ns = this.env.netns();
    this.sh(ns.name, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
    const host = `veth${i}${seq++}`;
    ip(this.node, 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
    ip(this.node, 'link', 'set', host, 'master', 'cni0');
    ip(this.node, 'link', 'set', host, 'type', 'bridge_slave', 'hairpin', 'on');
    ip(this.node, 'link', 'set', host, 'up');
    ip(ns, 'link', 'set', 'lo', 'up');
    ip(ns, 'addr', 'add', `10.88.0.${i}/24`, 'dev', 'eth0');
    ip(ns, 'addr', 'add', `fd00:88::${i}/64`, 'dev', 'eth0', 'nodad');
    ip(ns, 'link', 'set', 'eth0', 'up');
    ip(ns, 'route', 'add', 'default', 'via', '10.88.0.1');
    ip(ns, '-6', 'route', 'add', 'default', 'via', 'fd00:88::1');
    return { name: `pod${i}`, ns, v4: `10.88.0.${i}`, v6: `fd00:88::${i}`, containerId: `ctr-${process.pid}-${i}-${seq}` };
  }

  /** The ADD result of the main plugin for `pod` (bridge-like: host veth, then eth0 in the sandbox). */
  prevResult(pod: Pod, families: readonly (4 | 6)[] = [4, 6], cniVersion = '1.0.0'): Record<string, unknown> {
    const ips = [];
    if (families.includes(4)) ips.push({ address: `${pod.v4}/24`, gateway: '10.88.0.1', interface: 1 });
    if (families.includes(6)) ips.push({ address: `${pod.v6}/64`, gateway: 'fd00:88::1', interface: 1 });
    return {
      cniVersion,
      interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: pod.ns.path }],
      ips,
    };
  }

  conf(opts: { mappings: Mapping[]; pod?: Pod; families?: (4 | 6)[]; cniVersion?: string; extra?: Record<string, unknown>; name?: string; prev?: boolean }): Record<string, unknown> {
    const cniVersion = opts.cniVersion ?? '1.0.0';
    return {
      cniVersion,
      name: opts.name ?? 'pmnet',
      type: 'portmap',
      capabilities: { portMappings: true },
      runtimeConfig: { portMappings: opts.mappings },
      ...(opts.pod !== undefined && opts.prev !== false ? { prevResult: this.prevResult(opts.pod, opts.families, cniVersion) } : {}),
      ...opts.extra,
    };
  }

  /** Runs portmap (ours unless `go`) in the node namespace. */
  call(c: { command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS'; conf: Record<string, unknown>; pod?: Pod; containerId?: string; netns?: string; go?: boolean; plugin?: string; env?: Record<string, string> }): Promise<RunResult> {
    const plugin = c.plugin ?? 'portmap';
    const bin = c.go === true ? join(GO_CNI_DIR, plugin) : binPath(plugin);
    const attach = c.command === 'ADD' || c.command === 'DEL' || c.command === 'CHECK';
    const env = cniEnv({
      CNI_COMMAND: c.command,
      CNI_CONTAINERID: attach ? (c.containerId ?? c.pod?.containerId ?? 'ctr') : undefined,
      CNI_NETNS: attach ? (c.netns ?? c.pod?.ns.path) : undefined,
      CNI_IFNAME: attach ? 'eth0' : undefined,
      CNI_PATH: c.go === true ? GO_CNI_DIR : BIN_DIR,
      ...c.env,
    });
    return runExe(IP_BIN, { args: ['netns', 'exec', this.node.name, bin], env, stdin: JSON.stringify(c.conf) });
  }

  /** Starts the echo server of `pod` on the given tcp/udp ports; resolves when it listens. */
  serve(pod: Pod, specs: string[]): Promise<void> {
    const child = spawn(IP_BIN, ['netns', 'exec', pod.ns.name, process.execPath, ECHO, 'server', pod.name, ...specs], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.servers.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`echo server of ${pod.name} exited (${code})`)));
    });
  }

  /** Connects from `from` to host:port; the answer (the pod's name) or "ERR ...". */
  async probe(from: TestNetns, proto: 'tcp' | 'udp', host: string, port: number, opts: { bind?: string; sport?: number } = {}): Promise<string> {
    const args = ['netns', 'exec', from.name, process.execPath, ECHO, 'client', proto, host, String(port), opts.bind ?? '', opts.sport === undefined ? '' : String(opts.sport)];
    const r = await runExe(IP_BIN, { args, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
    return r.stdout.trim();
  }

  sh(ns: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  shOr(...args: string[]): string {
    try {
      return this.sh(this.node.name, ...args);
    } catch {
      return '';
    }
  }

  /** iptables -S of the nat table, both families. */
  iptables(): string {
    return `${this.shOr('iptables', '-w', '-t', 'nat', '-S')}\n${this.shOr('ip6tables', '-w', '-t', 'nat', '-S')}`;
  }

  nft(): string {
    return `${this.shOr('nft', 'list', 'table', 'ip', 'cni_hostport')}\n${this.shOr('nft', 'list', 'table', 'ip6', 'cni_hostport')}`;
  }

  cleanup(): void {
    for (const s of this.servers.splice(0)) s.kill('SIGKILL');
    this.env.cleanup();
  }
}
