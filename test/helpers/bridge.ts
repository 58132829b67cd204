/**
 * Running the bridge plugin (ours or Debian's Go reference) the way a runtime
 * does, with a scratch namespace playing the host: the executable runs under
 * `ip netns exec <host>`, CNI_NETNS is another scratch namespace (the pod), and
 * IPAM data goes to a fresh data directory. Nothing touches the real host.
 *
 *   const env = new BridgeEnv();          // host namespace + data dir
 *   const pod = env.pod();                // a pod namespace
 *   const r = ok(await env.call({ command: 'ADD', conf: env.conf(), pod }));
 *   env.cleanup();                        // in afterEach: namespaces and data dir
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN_DIR, GO_CNI_DIR, type RunResult, binPath, cniEnv, runExe } from './exec.ts';
import { NetnsEnv, type TestNetns, bridgeJson, ip, ipJson } from './netns.ts';

export const GO_BRIDGE = join(GO_CNI_DIR, 'bridge');
/** `ip` by absolute path, so that a test may run the plugin with any PATH. */
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
export const haveGoBridge = existsSync(GO_BRIDGE) && existsSync(join(GO_CNI_DIR, 'host-local'));

export interface BridgeCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';
  conf: Record<string, unknown>;
  /** The pod namespace, or a path (possibly of a deleted namespace), or '' for none. */
  pod?: TestNetns | string;
  containerId?: string;
  ifName?: string;
  cniArgs?: string;
  /** Run Debian's Go plugins (bridge and its host-local) instead of ours. */
  go?: boolean;
  /** Extra or replaced environment variables (PATH, for instance). */
  env?: Record<string, string>;
}

export function ok(r: RunResult): Record<string, unknown> {
  if (r.code !== 0) throw new Error(`plugin failed (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  return (r.json ?? {}) as Record<string, unknown>;
}

/** The error a plugin printed: code and msg. */
export function err(r: RunResult): { code: number; msg: string; details?: string } {
  if (r.code === 0) throw new Error(`plugin succeeded but should have failed: ${r.stdout}`);
  return r.json as { code: number; msg: string; details?: string };
}

let counter = 0;
/** A container ID unique within this test run. */
export function cid(prefix = 'ctr'): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}

export class BridgeEnv {
  readonly ns = new NetnsEnv();
  readonly host: TestNetns;
  readonly dataDir: string;

  constructor() {
    this.host = this.ns.netns();
    this.dataDir = mkdtempSync(join(tmpdir(), 't-bridge-'));
  }

  pod(): TestNetns {
    return this.ns.netns();
  }

  /** kube-flannel's delegate config (flannel-io/cni-plugin getDelegateIPAM + the default delegate) with host-local ranges. */
  conf(opts: { cniVersion?: string; subnets?: string[]; name?: string; extra?: Record<string, unknown>; ipam?: Record<string, unknown> } = {}): Record<string, unknown> {
    const subnets = opts.subnets ?? ['10.244.1.0/24'];
    return {
      cniVersion: opts.cniVersion ?? '1.0.0',
      name: opts.name ?? 'cbr0',
      type: 'bridge',
      hairpinMode: true,
      isDefaultGateway: true,
      ipMasq: false,
      mtu: 1450,
      isGateway: true,
      ipam: {
        type: 'host-local',
        dataDir: this.dataDir,
        ranges: subnets.map((s) => [{ subnet: s }]),
        routes: subnets.map((s) => ({ dst: s.includes(':') ? 'fd00:10:244::/48' : '10.244.0.0/16' })),
        ...opts.ipam,
      },
      ...opts.extra,
    };
  }

  call(c: BridgeCall): Promise<RunResult> {
    const bin = c.go === true ? GO_BRIDGE : binPath('bridge');
    const netns = c.pod === undefined ? '' : typeof c.pod === 'string' ? c.pod : c.pod.path;
    const needsAttachment = c.command === 'ADD' || c.command === 'DEL' || c.command === 'CHECK';
    const env = cniEnv({
      CNI_COMMAND: c.command,
      CNI_CONTAINERID: needsAttachment ? (c.containerId ?? 'ctr') : undefined,
      CNI_NETNS: needsAttachment && netns !== '' ? netns : undefined,
      CNI_IFNAME: needsAttachment ? (c.ifName ?? 'eth0') : undefined,
      CNI_PATH: c.go === true ? GO_CNI_DIR : BIN_DIR,
      CNI_ARGS: c.cniArgs,
      ...c.env,
    });
    return runExe(IP, { args: ['netns', 'exec', this.host.name, bin], env, stdin: JSON.stringify(c.conf) });
  }

  /** Runs a program inside the host namespace and returns its stdout. */
  sh(...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.host.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Same, but "" when the program fails (a table that does not exist, say). */
  shOr(...args: string[]): string {
    try {
      return this.sh(...args);
    } catch {
      return '';
    }
  }

  /** Every masquerade or spoof-check rule in the host namespace, both families and both backends, as text. */
  rules(): string {
    return [this.shOr('iptables', '-t', 'nat', '-S'), this.shOr('ip6tables', '-t', 'nat', '-S'), this.shOr('nft', 'list', 'ruleset')].join('\n');
  }

  /** Lease files of a network (bookkeeping files left out). */
  leases(network = 'cbr0'): string[] {
    try {
      return readdirSync(join(this.dataDir, network))
        .filter((n) => n !== 'lock' && !n.startsWith('last_reserved_ip.') && !n.startsWith('.'))
        .sort();
    } catch {
      return [];
    }
  }

  /** Links of the host namespace (ip -j link). */
  hostLinks(): { ifname: string; link_type?: string; master?: string; mtu?: number; operstate?: string; address?: string; linkinfo?: { info_kind?: string } }[] {
    return ipJson(this.host, '-d', 'link', 'show');
  }

  vethsOnHost(): string[] {
    return this.hostLinks()
      .filter((l) => l.linkinfo?.info_kind === 'veth')
      .map((l) => l.ifname);
  }

  bridgePort(ifname: string): Record<string, unknown> | undefined {
    return bridgeJson<Record<string, unknown>[]>(this.host, '-d', 'link', 'show', 'dev', ifname)[0];
  }

  ipIn(ns: TestNetns, ...args: string[]): string {
    return ip(ns, ...args);
  }

  cleanup(): void {
    try {
      this.ns.cleanup();
    } finally {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

/** Runs `ping` inside a namespace; true when one reply came back (retries while IPv6 DAD settles). */
export async function pingFrom(ns: TestNetns, target: string, attempts = 4): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    try {
      execFileSync('ip', ['netns', 'exec', ns.name, 'ping', '-c', '1', '-W', '1', target], { stdio: 'ignore' });
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return false;
}
