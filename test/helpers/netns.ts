/**
 * Fresh, uniquely named network namespaces for root-only integration tests,
 * so nothing ever touches the host's own namespace. Tests may run `ip` and
 * `bridge` here to set up and to read kernel state back; plugins may not.
 *
 *   let env: NetnsEnv;
 *   beforeEach(() => { env = new NetnsEnv(); });
 *   afterEach(() => env.cleanup());        // runs even when the test failed
 *   afterAll(() => assertNoTestNetnsLeft());
 *
 * Everything a test registers with `env.track()` (netlink handles, Netns fds)
 * is closed before the namespaces are deleted: an open socket or fd would
 * keep a deleted namespace (and its links) alive.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

const NETNS_DIR = '/run/netns';

/** Every namespace this process created and has not deleted yet. */
const live = new Set<string>();

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // last resort when a run is interrupted between create and cleanup
  process.on('exit', () => {
    for (const name of live) deleteNetns(name);
  });
}

export interface TestNetns {
  readonly name: string;
  /** /run/netns/<name>, what CNI_NETNS would be. */
  readonly path: string;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** `ip netns add <prefix>-<8 hex>` (prefix `t` unless a test owns another). */
export function createNetns(prefix = 't'): TestNetns {
  installExitHook();
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(name);
  return { name, path: `${NETNS_DIR}/${name}` };
}

/** `ip netns del <name>`; quiet when it is already gone. */
export function deleteNetns(name: string): void {
  if (existsSync(`${NETNS_DIR}/${name}`)) {
    execFileSync('ip', ['netns', 'del', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  live.delete(name);
}

/** Names from `ip netns list` that this process created. */
export function leftoverTestNetns(): string[] {
  const out = execFileSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).trim();
  const names = out === '' ? [] : (JSON.parse(out) as { name: string }[]).map((n) => n.name);
  return names.filter((n) => live.has(n));
}

/** Runs `ip -n <ns> <args>` and returns stdout. */
export function ip(ns: TestNetns, ...args: string[]): string {
  return execFileSync('ip', ['-n', ns.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `ip -n <ns> -j <args>` and parses the JSON. */
export function ipJson<T = unknown>(ns: TestNetns, ...args: string[]): T {
  const out = ip(ns, '-j', ...args).trim();
  return JSON.parse(out === '' ? '[]' : out) as T;
}

/** Runs `bridge -n <ns> -j <args>` and parses the JSON. */
export function bridgeJson<T = unknown>(ns: TestNetns, ...args: string[]): T {
  const out = execFileSync('bridge', ['-n', ns.name, '-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  return JSON.parse(out === '' ? '[]' : out) as T;
}

let vlanFiltering: boolean | undefined;

/**
 * Whether this kernel has CONFIG_BRIDGE_VLAN_FILTERING (some minimal VM
 * kernels do not: the bridge then refuses vlan_filtering and every VLAN
 * entry with EOPNOTSUPP). Probed once, in a scratch namespace.
 */
export function kernelHasBridgeVlanFiltering(): boolean {
  if (vlanFiltering !== undefined) return vlanFiltering;
  const ns = createNetns();
  try {
    ip(ns, 'link', 'add', 'probe0', 'type', 'bridge', 'vlan_filtering', '1');
    vlanFiltering = true;
  } catch {
    vlanFiltering = false;
  } finally {
    deleteNetns(ns.name);
  }
  return vlanFiltering;
}

interface Closable {
  close(): void;
}

/** A set of namespaces plus the handles opened on them, torn down together. */
export class NetnsEnv {
  private readonly namespaces: TestNetns[] = [];
  private readonly closables: Closable[] = [];

  /** A new namespace owned by this env. */
  netns(): TestNetns {
    const ns = createNetns();
    this.namespaces.push(ns);
    return ns;
  }

  /** Closes `c` at cleanup, before the namespaces go. Returns it. */
  track<T extends Closable>(c: T): T {
    this.closables.push(c);
    return c;
  }

  /** Closes every tracked handle, then deletes every namespace; reports all failures together. */
  cleanup(): void {
    const errors: unknown[] = [];
    for (const c of this.closables.splice(0).reverse()) {
      try {
        c.close();
      } catch (err) {
        errors.push(err);
      }
    }
    for (const ns of this.namespaces.splice(0)) {
      try {
        deleteNetns(ns.name);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'test namespace cleanup failed');
  }
}
