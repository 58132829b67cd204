/**
 * A before/after picture of everything a plugin run may touch, for the
 * reliability suites: in each given namespace its links (name, master, MAC,
 * MTU, flags), addresses, routes of every table and rules of both families,
 * and in the first (the node) every iptables table; and under a directory
 * every file with its content. Not state: directories themselves, host-local's
 * `lock` files (empty, and created by the Go plugin too before it fails) and
 * its `last_reserved_ip.*` cursors (where the next search starts; any address
 * the cursor points at is still a correct one), and IPv6 link-local addresses
 * and routes (the kernel adds them, and DAD changes their flags, by itself).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TestNetns } from './netns.ts';

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function lines(text: string, prefix: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\\\s+valid_lft.*$/, '').replace(/\b(LOWER_UP|NO-CARRIER|M-DOWN),?/g, '').replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '')
    .map((l) => `${prefix} ${l}`);
}

/** Two `ip -batch` runs and one iptables-save per namespace; lines without counters. */
function kernelState(ns: TestNetns, withIptables: boolean): string[] {
  const out: string[] = [];
  out.push(...lines(run('ip', ['-n', ns.name, '-o', '-batch', '-'], 'link show\naddr show\nroute show table all\nrule show\n'), 'v4'));
  out.push(...lines(run('ip', ['-6', '-n', ns.name, '-o', '-batch', '-'], 'route show table all\nrule show\n'), 'v6'));
  if (withIptables) {
    let text = '';
    try {
      text = run('ip', ['netns', 'exec', ns.name, 'iptables-save']);
    } catch {
      text = '';
    }
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || line.trim() === '' || line === 'COMMIT') continue;
      out.push(`iptables ${line.replace(/\[\d+:\d+\]/g, '')}`);
    }
  }
  return out.sort();
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (name === 'lock' || name === '.cni-ts-boot-id' || name.startsWith('last_reserved_ip.')) continue;
      else if (st.isSymbolicLink()) out.push(`file ${relative(dir, p)} -> link`);
      else out.push(`file ${relative(dir, p)} ${readFileSync(p).toString('base64')}`);
    }
  };
  walk(dir);
  return out;
}

export interface Snapshot {
  lines: string[];
}

/** IPv6 link-local addresses and their routes come and go (DAD) by themselves. */
function volatile(line: string): boolean {
  return line.includes('fe80::');
}

/** The state of `namespaces` (iptables only of the first: the node), and of the files under `dirs`. */
export function snapshot(namespaces: readonly TestNetns[], dirs: readonly string[]): Snapshot {
  const out: string[] = [];
  namespaces.forEach((ns, i) => {
    for (const l of kernelState(ns, i === 0)) if (!volatile(l)) out.push(`${ns.name}: ${l}`);
  });
  for (const d of dirs) for (const l of filesUnder(d)) out.push(`${d}: ${l}`);
  return { lines: out };
}

/** What differs: lines only in `after` (+) and only in `before` (-). */
export function diff(before: Snapshot, after: Snapshot): string[] {
  const b = new Set(before.lines);
  const a = new Set(after.lines);
  return [...after.lines.filter((l) => !b.has(l)).map((l) => `+ ${l}`), ...before.lines.filter((l) => !a.has(l)).map((l) => `- ${l}`)];
}
