/**
 * A node for the reliability suites: a node namespace where the plugins run
 * (ip netns exec), a temp dir with CNI_PATH links to the built executable
 * (so flannel → bridge → host-local runs in one process, as installed),
 * subnet.env, data dirs, and per-plugin base configs with unique names.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN_DIR, type RunResult, cniEnv, runExe } from './exec.ts';
import { type TestNetns, ip } from './netns.ts';

export type PluginName = 'flannel' | 'bridge' | 'host-local';
export type Conf = Record<string, unknown>;

export class TestNode {
  readonly dir = mkdtempSync(join(tmpdir(), 't-reliab-'));
  readonly bin = join(this.dir, 'bin');
  readonly subnetFile = join(this.dir, 'subnet.env');
  readonly tag = randomBytes(3).toString('hex');
  /** 10.<octet>.0.0/16: this node's flannel network. */
  readonly octet = 100 + (randomBytes(1)[0] ?? 0) % 100;

  readonly node: TestNetns;

  /** `binDir`: where the plugins come from (default the built executable's links; GO_CNI_DIR for the reference). */
  constructor(node: TestNetns, binDir = BIN_DIR) {
    this.node = node;
    mkdirSync(this.bin);
    for (const p of ['flannel', 'bridge', 'host-local']) if (existsSync(join(binDir, p))) symlinkSync(join(binDir, p), join(this.bin, p));
    this.writeSubnetEnv();
    ip(node, 'link', 'set', 'lo', 'up');
  }

  writeSubnetEnv(text = `FLANNEL_NETWORK=10.${this.octet}.0.0/16\nFLANNEL_SUBNET=10.${this.octet}.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`): void {
    writeFileSync(this.subnetFile, text);
  }

  get flannelBridge(): string {
    return `rf${this.tag}`;
  }

  get bridgeBridge(): string {
    return `rb${this.tag}`;
  }

  conf(plugin: PluginName, version = '1.0.0'): Conf {
    const ipamDir = join(this.dir, 'ipam');
    switch (plugin) {
      case 'flannel':
        return { cniVersion: version, name: `rlf${this.tag}`, type: 'flannel', subnetFile: this.subnetFile, dataDir: join(this.dir, 'flannel'), ipam: { dataDir: ipamDir }, delegate: { bridge: this.flannelBridge } };
      case 'bridge':
        return { cniVersion: version, name: `rlb${this.tag}`, type: 'bridge', bridge: this.bridgeBridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', subnet: `10.${this.octet}.2.0/24`, dataDir: ipamDir } };
      case 'host-local':
        return { cniVersion: version, name: `rlh${this.tag}`, type: 'host-local', ipam: { type: 'host-local', subnet: `10.${this.octet}.3.0/24`, dataDir: ipamDir } };
    }
  }

  env(command: string, pod: TestNetns | undefined, containerId: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
    const base: Record<string, string | undefined> = { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_IFNAME: 'eth0', CNI_NETNS: pod?.path, CNI_PATH: this.bin };
    for (const [k, v] of Object.entries(extra)) base[k] = v;
    return cniEnv(base);
  }

  /** Runs a plugin in the node namespace with exactly `env` and `stdin`. */
  run(plugin: PluginName | 'portmap', env: Record<string, string>, stdin: string | Buffer): Promise<RunResult & { ms: number }> {
    const started = Date.now();
    return runExe('ip', { args: ['netns', 'exec', this.node.name, join(this.bin, plugin)], env, stdin }).then((r) => ({ ...r, ms: Date.now() - started }));
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A CNI error object as the spec has it: integer code, non-empty msg, optional string details, nothing else. */
export function isCniError(json: unknown): json is { code: number; msg: string; details?: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return false;
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['code', 'msg', 'details', 'cniVersion'].includes(k)) return false;
  return Number.isInteger(o['code']) && typeof o['msg'] === 'string' && o['msg'] !== '' && (o['details'] === undefined || typeof o['details'] === 'string');
}

/** A JavaScript stack trace on stderr: only real bugs may print one. */
export function hasStack(stderr: string): boolean {
  return /\n\s+at /.test(stderr);
}
