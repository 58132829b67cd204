/**
 * The conformance run's own kernel state: a throwaway "host" network
 * namespace the plugins run in (so bridges, veth host ends and iptables/nft
 * rules never land in the real host's namespace) and throwaway container
 * namespaces. This test tool uses `ip` for setup and inspection; plugins are
 * exec'd through `ip netns exec <host>`, never run in-process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { RawOutput } from '../../lib/cni/invoke.ts';
import { findInPath } from '../../lib/cni/invoke.ts';
import type { PluginExec } from '../../lib/runtime/index.ts';

export const NETNS_DIR = '/run/netns';

export interface CmdOut {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: readonly string[], input?: string): CmdOut {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: input ?? '', timeout: 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error !== undefined) return { status: 127, stdout: '', stderr: r.error.message };
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

function mustRun(cmd: string, args: readonly string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
  return r.stdout;
}

export interface IfAddr {
  local: string;
  prefixlen: number;
}

export interface RouteRow {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** Every namespace of one run; `cleanup` deletes them all. */
export class Sandbox {
  readonly prefix = `cnic-${randomBytes(3).toString('hex')}`;
  private readonly live = new Set<string>();
  private n = 0;
  readonly host: string;

  constructor() {
    this.host = this.create('h');
    mustRun('ip', ['-n', this.host, 'link', 'set', 'lo', 'up']);
  }

  /** A fresh namespace; returns its name (its path is NETNS_DIR/name). */
  create(tag = `c${++this.n}`): string {
    const name = `${this.prefix}-${tag}`;
    mustRun('ip', ['netns', 'add', name]);
    this.live.add(name);
    return name;
  }

  remove(name: string): void {
    if (existsSync(`${NETNS_DIR}/${name}`)) run('ip', ['netns', 'del', name]);
    this.live.delete(name);
  }

  cleanup(): void {
    for (const name of [...this.live]) if (name !== this.host) this.remove(name);
    this.remove(this.host);
  }

  path(name: string): string {
    return `${NETNS_DIR}/${name}`;
  }

  /** Runs a command inside the host namespace. */
  inHost(cmd: string, args: readonly string[]): CmdOut {
    return run('ip', ['netns', 'exec', this.host, cmd, ...args]);
  }

  addrs(ns: string, ifname: string): IfAddr[] | undefined {
    const r = run('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', ifname]);
    if (r.status !== 0) return undefined;
    const rows = JSON.parse(r.stdout.trim() || '[]') as { addr_info?: IfAddr[] }[];
    return rows.flatMap((row) => row.addr_info ?? []);
  }

  routes(ns: string): RouteRow[] {
    const out: RouteRow[] = [];
    for (const fam of ['-4', '-6']) {
      const r = run('ip', [fam, '-n', ns, '-j', 'route', 'show', 'table', 'all']);
      if (r.status === 0) out.push(...(JSON.parse(r.stdout.trim() || '[]') as RouteRow[]).map((row) => ({ ...row, dst: normDst(row.dst, fam === '-6') })));
    }
    return out;
  }

  /** `ip link del`; '' on success, else the error. */
  linkDel(ns: string, ifname: string): string {
    const r = run('ip', ['-n', ns, 'link', 'del', ifname]);
    return r.status === 0 ? '' : r.stderr.trim();
  }

  links(ns: string, type?: string): string[] {
    const args = ['-n', ns, '-j', 'link', 'show', ...(type === undefined ? [] : ['type', type])];
    const r = run('ip', args);
    if (r.status !== 0) return [];
    return (JSON.parse(r.stdout.trim() || '[]') as { ifname: string }[]).map((l) => l.ifname);
  }

  /** iptables-save, ip6tables-save and nft list ruleset of the host namespace (what exists of them). */
  rules(): string {
    let text = '';
    for (const [cmd, args] of [
      ['iptables-save', []],
      ['ip6tables-save', []],
      ['nft', ['list', 'ruleset']],
    ] as const) {
      const r = this.inHost(cmd, args);
      if (r.status === 0) text += r.stdout;
    }
    return text;
  }
}

/** `default` → 0.0.0.0/0 or ::/0; a bare address → /32 or /128. */
export function normDst(dst: string, v6: boolean): string {
  if (dst === 'default') return v6 ? '::/0' : '0.0.0.0/0';
  return dst.includes('/') ? dst : `${dst}/${v6 ? 128 : 32}`;
}

/** Execs plugins inside the sandbox's host namespace, bounded in time. */
export function sandboxExec(sb: Sandbox, timeoutMs: number, record?: (type: string, stdin: Buffer, out: RawOutput) => void): PluginExec {
  return {
    findInPath: (type, paths) => findInPath(type, paths),
    exec: (path, env, stdin) =>
      new Promise((resolve, reject) => {
        const child = spawn('ip', ['netns', 'exec', sb.host, path], { env, stdio: ['pipe', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs);
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => err.push(c));
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        child.stdin.on('error', () => undefined);
        child.on('close', (code) => {
          clearTimeout(timer);
          const raw: RawOutput = timedOut
            ? { exitCode: 137, stdout: '', stderr: `no answer within ${timeoutMs} ms` }
            : { exitCode: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
          record?.(path.slice(path.lastIndexOf('/') + 1), stdin, raw);
          resolve(raw);
        });
        child.stdin.end(stdin);
      }),
  };
}
