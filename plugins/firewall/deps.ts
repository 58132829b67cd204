/**
 * What the firewall commands need from the outside world, injected so that
 * tests can replace a step; `defaultDeps()` is the real thing, made per call
 * (nothing is created at import: the executable has a V8 startup snapshot).
 */
import { type FileLock, lockFile } from '../../lib/lock.ts';
import { type CommandRunner, execRunner } from './exec.ts';
import { type Firewalld, connectFirewalld } from './firewalld.ts';
import { FilterTable } from './iptables.ts';
import { Records } from './records.ts';

export interface FirewallDeps {
  table: FilterTable;
  records: (dataDir: string) => Records;
  /** The lock of every change to the filter table and the records. */
  lock: () => FileLock;
  /** firewalld's zone API over D-Bus; rejects when the bus or the daemon is missing. */
  firewalld: () => Promise<Firewalld>;
}

/**
 * One lock file for the node, like /run/xtables.lock (runs in other network
 * namespaces wait a few ms for nothing); not that file: legacy iptables takes
 * it while we would hold it.
 */
export const LOCK_PATH = '/run/cni-ts-firewall.lock';
const LOCK_TIMEOUT_MS = 20_000;

export function defaultDeps(run: CommandRunner = execRunner): FirewallDeps {
  return {
    table: new FilterTable(run),
    records: (dir) => new Records(dir),
    lock: () => lockFile(LOCK_PATH, LOCK_TIMEOUT_MS, { mode: 0o600 }),
    firewalld: connectFirewalld,
  };
}
