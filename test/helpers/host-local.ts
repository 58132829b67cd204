/** Running host-local (ours or the Go reference) on a throwaway data directory. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN_DIR, type RunResult, binPath, cniEnv, runExe } from './exec.ts';

export const GO_HOST_LOCAL = '/usr/lib/cni/host-local';

export interface Call {
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';
  conf: Record<string, unknown>;
  containerId?: string;
  ifName?: string;
  cniArgs?: string;
}

/**
 * Runs one command. host-local needs no namespace, so CNI_NETNS is the
 * caller's own with CNI_NETNS_OVERRIDE=1 (both plugins then accept it).
 */
export function callPlugin(path: string, c: Call): Promise<RunResult> {
  const needsAttachment = c.command === 'ADD' || c.command === 'DEL' || c.command === 'CHECK';
  const env = cniEnv({
    CNI_COMMAND: c.command,
    CNI_CONTAINERID: needsAttachment ? (c.containerId ?? 'ctr') : undefined,
    CNI_IFNAME: needsAttachment ? (c.ifName ?? 'eth0') : undefined,
    CNI_NETNS: c.command === 'ADD' || c.command === 'CHECK' ? '/proc/self/ns/net' : undefined,
    CNI_NETNS_OVERRIDE: '1',
    CNI_PATH: BIN_DIR,
    CNI_ARGS: c.cniArgs,
  });
  return runExe(path, { env, stdin: JSON.stringify(c.conf) });
}

export function ours(c: Call): Promise<RunResult> {
  return callPlugin(binPath('host-local'), c);
}

export function go(c: Call): Promise<RunResult> {
  return callPlugin(GO_HOST_LOCAL, c);
}

/** A fresh data directory per test; `cleanup` removes it. */
export function tempDataDir(): { dataDir: string; cleanup: () => void } {
  const dataDir = mkdtempSync(join(tmpdir(), 'hl-int-'));
  return { dataDir, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** The network's directory listing, sorted, without our boot marker (.cni-ts-boot-id, lib/boot.ts). */
export function listing(dataDir: string, network: string): string[] {
  try {
    return readdirSync(join(dataDir, network))
      .filter((n) => n !== '.cni-ts-boot-id')
      .sort();
  } catch {
    return [];
  }
}

/** Only bookkeeping left: `lock`, `last_reserved_ip.*` and our boot marker. */
export function onlyBookkeeping(names: readonly string[]): boolean {
  return names.every((n) => n === 'lock' || n === '.cni-ts-boot-id' || n.startsWith('last_reserved_ip.'));
}

/** Runs `fns` with at most `limit` in flight. */
export async function pool<T>(limit: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array<T>(fns.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, fns.length) }, worker));
  return out;
}
