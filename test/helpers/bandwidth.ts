/**
 * A scratch node for the bandwidth plugin: a "host" namespace and pod
 * namespaces joined by veth pairs (host end `bwv<n>`, pod end eth0,
 * 10.77.<n>.1/24 on the host side, .2 in the pod), and runs of our plugin or
 * Debian's Go one inside the host namespace, as a runtime would run them.
 * Names start with "bw" (this branch's prefix); cleanup() removes everything.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { binPath, cniEnv, GO_CNI_DIR, runExe, type RunResult } from './exec.ts';
import { createNetns, deleteNetns, type TestNetns } from './netns.ts';

export const GO_BANDWIDTH = `${GO_CNI_DIR}/bandwidth`;

export interface BwPod {
  readonly ns: TestNetns;
  readonly containerId: string;
  /** Host end of the veth. */
  readonly veth: string;
  readonly hostIp: string;
  readonly podIp: string;
  readonly prevResult: Record<string, unknown>;
}

export function sh(ns: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class BwLab {
  readonly host: TestNetns;
  readonly pods: BwPod[] = [];
  /** Container ids are bw-<tag>-<n>: two labs with the same tag make the same ifb names. */
  constructor(private readonly tag: string = randomBytes(3).toString('hex')) {
    this.host = createNetns();
    sh(this.host.name, 'ip', 'link', 'set', 'lo', 'up');
  }

  pod(): BwPod {
    const n = this.pods.length + 1;
    const ns = createNetns();
    const veth = `bwv${n}`;
    execFileSync('ip', ['-n', this.host.name, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    const hostIp = `10.77.${n}.1`;
    const podIp = `10.77.${n}.2`;
    execFileSync('ip', ['-n', this.host.name, 'addr', 'add', `${hostIp}/24`, 'dev', veth]);
    execFileSync('ip', ['-n', this.host.name, 'link', 'set', veth, 'up']);
    execFileSync('ip', ['-n', ns.name, 'addr', 'add', `${podIp}/24`, 'dev', 'eth0']);
    execFileSync('ip', ['-n', ns.name, 'link', 'set', 'eth0', 'up']);
    execFileSync('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    const mac = (name: string, where: string): string =>
      (JSON.parse(execFileSync('ip', ['-n', where, '-j', 'link', 'show', name], { encoding: 'utf8' })) as { address: string }[])[0]!.address;
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [
        { name: veth, mac: mac(veth, this.host.name) },
        { name: 'eth0', mac: mac('eth0', ns.name), sandbox: ns.path },
      ],
      ips: [{ address: `${podIp}/24`, interface: 1 }],
    };
    const pod: BwPod = { ns, containerId: `bw-${this.tag}-${n}`, veth, hostIp, podIp, prevResult };
    this.pods.push(pod);
    return pod;
  }

  /** Runs `plugin` (a path) in the host namespace. */
  run(plugin: string, command: string, pod: BwPod | undefined, conf: Record<string, unknown>, opts: { netns?: string; containerId?: string } = {}): Promise<RunResult> {
    const env = cniEnv({
      CNI_COMMAND: command,
      CNI_CONTAINERID: opts.containerId ?? pod?.containerId,
      CNI_NETNS: opts.netns ?? pod?.ns.path,
      CNI_IFNAME: pod === undefined ? undefined : 'eth0',
      CNI_PATH: GO_CNI_DIR,
    });
    return runExe('/usr/sbin/ip', { args: ['netns', 'exec', this.host.name, plugin], env, stdin: JSON.stringify(conf) });
  }

  ours(command: string, pod: BwPod | undefined, conf: Record<string, unknown>, opts: { netns?: string; containerId?: string } = {}): Promise<RunResult> {
    return this.run(binPath('bandwidth'), command, pod, conf, opts);
  }

  go(command: string, pod: BwPod | undefined, conf: Record<string, unknown>, opts: { netns?: string; containerId?: string } = {}): Promise<RunResult> {
    return this.run(GO_BANDWIDTH, command, pod, conf, opts);
  }

  /** `tc -j qdisc show` of the host namespace, without the kernel's default qdiscs. */
  qdiscs(): unknown[] {
    const all = JSON.parse(sh(this.host.name, 'tc', '-j', 'qdisc', 'show')) as { kind: string }[];
    return all.filter((q) => q.kind !== 'noqueue' && q.kind !== 'pfifo_fast' && q.kind !== 'noop');
  }

  /** `tc -j filter show` of a host veth's ingress qdisc (empty when there is none). */
  filters(veth: string): unknown[] {
    try {
      return JSON.parse(sh(this.host.name, 'tc', '-j', 'filter', 'show', 'dev', veth, 'parent', 'ffff:')) as unknown[];
    } catch {
      return [];
    }
  }

  /** ifb devices of the host namespace, by name. */
  ifbs(): string[] {
    const links = JSON.parse(execFileSync('ip', ['-n', this.host.name, '-j', 'link', 'show', 'type', 'ifb'], { encoding: 'utf8' })) as { ifname: string }[];
    return links.map((l) => l.ifname).sort();
  }

  cleanup(): void {
    for (const p of this.pods.splice(0)) deleteNetns(p.ns.name);
    deleteNetns(this.host.name);
  }
}

/** A bandwidth conf with a prevResult (unless `prev` is null). */
export function bwConf(pod: BwPod | undefined, extra: Record<string, unknown>, cniVersion = '1.0.0', prev: 'with' | 'without' = 'with'): Record<string, unknown> {
  const conf: Record<string, unknown> = { cniVersion, name: 'bwnet', type: 'bandwidth', ...extra };
  if (pod !== undefined && prev === 'with') conf['prevResult'] = { ...pod.prevResult, cniVersion };
  return conf;
}
