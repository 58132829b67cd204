/**
 * Runs the flannel plugin in-process through the real protocol layer with a
 * fake delegate runner, on throwaway directories: a subnet.env, a dataDir and
 * a CNI_PATH holding placeholder delegate files (findInPath wants a file).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlugin } from '../../../lib/cni/skel.ts';
import type { PluginRunner, RawOutput } from '../../../lib/cni/invoke.ts';
import { flannelPlugin } from '../../../plugins/flannel/index.ts';

export interface DelegateCall {
  command: string;
  type: string;
  env: Record<string, string>;
  /** The delegate's stdin, parsed. */
  conf: Record<string, unknown>;
  stdin: string;
}

export type Responder = (call: DelegateCall) => RawOutput;

/** A plain bridge result for `subnet`'s .2, in `version`. */
export function bridgeResult(version: string, address = '10.244.1.2/24', gateway = '10.244.1.1'): RawOutput {
  return {
    exitCode: 0,
    stdout: JSON.stringify({
      cniVersion: version,
      interfaces: [{ name: 'cni0', mac: '0a:58:0a:f4:01:01' }, { name: 'veth1', mac: '0a:58:0a:f4:01:02' }, { name: 'eth0', mac: '0a:58:0a:f4:01:03', sandbox: '/var/run/netns/p' }],
      ips: [{ address, gateway, interface: 2 }],
      routes: [{ dst: '10.244.0.0/16' }],
    }),
    stderr: '',
  };
}

export function ok(): RawOutput {
  return { exitCode: 0, stdout: '', stderr: '' };
}

export function fail(code: number, msg: string, details?: string): RawOutput {
  return { exitCode: 1, stdout: JSON.stringify(details === undefined ? { code, msg } : { code, msg, details }), stderr: '' };
}

export const IPV4_ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

export class Harness {
  readonly root = mkdtempSync(join(tmpdir(), 't-flannel-'));
  readonly subnetFile = join(this.root, 'subnet.env');
  readonly dataDir = join(this.root, 'data');
  readonly binDir = join(this.root, 'bin');
  readonly calls: DelegateCall[] = [];
  respond: Responder = (c) => (c.command === 'ADD' ? bridgeResult(typeof c.conf['cniVersion'] === 'string' ? c.conf['cniVersion'] : '0.1.0') : ok());
  /** Called while the delegate runs (to look at the disk at that moment). */
  during: ((c: DelegateCall) => void) | undefined;

  constructor(subnetEnv: string | undefined = IPV4_ENV) {
    mkdirSync(this.binDir);
    for (const p of ['bridge', 'ipvlan', 'host-local']) writeFileSync(join(this.binDir, p), '');
    if (subnetEnv !== undefined) writeFileSync(this.subnetFile, subnetEnv);
  }

  /** A flannel config on this harness's files. */
  conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { cniVersion: '1.0.0', name: 'cbr0', type: 'flannel', subnetFile: this.subnetFile, dataDir: this.dataDir, delegate: { hairpinMode: true, isDefaultGateway: true }, ...extra };
  }

  runner(): PluginRunner {
    return {
      run: (path, type, env, stdin) => {
        const text = stdin.toString();
        const call: DelegateCall = { command: env['CNI_COMMAND'] ?? '', type, env, conf: JSON.parse(text) as Record<string, unknown>, stdin: text };
        if (!path.startsWith(this.binDir)) throw new Error(`delegate found outside CNI_PATH: ${path}`);
        this.calls.push(call);
        this.during?.(call);
        return Promise.resolve(this.respond(call));
      },
    };
  }

  async run(command: string, conf: Record<string, unknown> | string, opts: { containerId?: string; ifName?: string; env?: Record<string, string> } = {}) {
    let stdout = '';
    let stderr = '';
    const env: Record<string, string> = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: opts.containerId ?? 'ctr1',
      CNI_NETNS: '/var/run/netns/nonexistent-t-flannel',
      CNI_IFNAME: opts.ifName ?? 'eth0',
      CNI_PATH: this.binDir,
      ...opts.env,
    };
    const code = await runPlugin(
      flannelPlugin,
      {
        env,
        readStdin: () => Promise.resolve(Buffer.from(typeof conf === 'string' ? conf : JSON.stringify(conf))),
        writeStdout: (t) => {
          stdout += t;
        },
        writeStderr: (t) => {
          stderr += t;
        },
      },
      { runner: this.runner() },
    );
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch {
      json = undefined;
    }
    return { code, stdout, stderr, json: json as Record<string, unknown> | undefined };
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
