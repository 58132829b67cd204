/**
 * Masquerade with iptables/ip6tables, rule for rule as the reference
 * (pkg/ip/ipmasq_iptables_linux.go): a chain CNI-<hash> per (network,
 * containerID) in the nat table with an ACCEPT for the pod's own subnet and a
 * MASQUERADE for everything but multicast, and a POSTROUTING jump from the
 * pod's address. Unlike the reference, teardown needs no addresses (it finds
 * the jumps by their target chain), so DEL works when the netns is gone, and
 * GC finds the chains of a network by their comment.
 *
 * Each change is one `iptables -S` listing plus one atomic
 * `iptables-restore --noflush` batch per family (the reference runs a
 * program per rule: 8 per address for setup). Within a chain every ACCEPT
 * comes before the MASQUERADE, also with two subnets of one family (the
 * reference appends the second ACCEPT after the MASQUERADE, so traffic to the
 * second subnet is masqueraded).
 */
import { formatIp, parseIp } from '../netlink/ip.ts';
import { type CommandRunner, CommandError } from '../exec/index.ts';
import { iptablesBin, listNat, restoreLine, restoreNat, runNatList } from '../iptables/index.ts';
import { iptablesChainName, iptablesComment } from './names.ts';
import { networkOf } from './nftables.ts';
import type { GcAttachment, MasqAddress, MasqAttachment, MasqBackend } from './types.ts';

const MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const;
const FAMILIES = [4, 6] as const;

function valueAfter(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** "10.244.1.2/32" or "10.244.1.2" → canonical "10.244.1.2"; undefined for a real prefix or junk. */
function hostOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const [ip, len] = text.split('/');
  try {
    const p = parseIp(ip ?? '');
    if (len !== undefined && Number(len) !== p.bytes.length * 8) return undefined;
    return formatIp(p.bytes);
  } catch {
    return undefined;
  }
}

/** A subnet as iptables prints it ("10.244.1.0/24", IPv6 compressed). */
function subnetOf(cidr: string): string {
  const net = networkOf(cidr);
  const [ip, len] = net.split('/');
  return `${formatIp(parseIp(ip ?? '').bytes)}/${len ?? ''}`;
}

export class IptablesMasq implements MasqBackend {
  readonly name = 'iptables';
  /**
   * The IPv4 nat listing that `usableForSetup()` made: the next IPv4 listing
   * (the setup that follows choosing a backend) takes it instead of running
   * `iptables -S` again, so an ADD lists the table once; a change drops it.
   */
  private usableListing: string[][] | undefined;

  constructor(private readonly run: CommandRunner) {}

  private bin(family: 4 | 6): string {
    return iptablesBin(family);
  }

  private async ipt(family: 4 | 6, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.run(this.bin(family), ['-w', '-t', 'nat', ...args]);
  }

  /** The nat table as argument lists (`iptables -t nat -S`); undefined when it cannot be listed. */
  private async list(family: 4 | 6): Promise<string[][] | undefined> {
    if (family === 4 && this.usableListing !== undefined) {
      const listing = this.usableListing;
      this.usableListing = undefined;
      return listing;
    }
    return this.listNow(family);
  }

  private async listNow(family: 4 | 6): Promise<string[][] | undefined> {
    return (await listNat(this.run, family))?.lines.map((l) => [...l]);
  }

  /** Applies lines to the nat table in one transaction. */
  private async restore(family: 4 | 6, lines: readonly string[]): Promise<void> {
    if (family === 4) this.usableListing = undefined;
    await restoreNat(this.run, family, lines);
  }

  async usable(): Promise<boolean> {
    try {
      return (await this.ipt(4, ['-S', 'POSTROUTING'])).code === 0;
    } catch {
      return false;
    }
  }

  /**
   * `usable()` for choosing the backend of a setup: lists the whole IPv4 nat
   * table instead of POSTROUTING alone and keeps the listing for that setup.
   */
  async usableForSetup(): Promise<boolean> {
    try {
      this.usableListing = await this.listNow(4);
      return this.usableListing !== undefined;
    } catch {
      return false;
    }
  }

  async setup(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<void> {
    const chain = iptablesChainName(a.network, a.containerId);
    const comment = iptablesComment(a.network, a.containerId);
    // the families are separate tables and programs: set them up at the same time
    await Promise.all(FAMILIES.map((f) => this.setupFamily(f, chain, comment, addrs.filter((x) => x.family === f))));
  }

  private async setupFamily(f: 4 | 6, chain: string, comment: string, mine: readonly MasqAddress[]): Promise<void> {
    if (mine.length === 0) return;
    const listing = await this.list(f);
    if (listing === undefined) {
      throw new CommandError(this.bin(f), ['-w', '-t', 'nat', '-S'], await runNatList(this.run, f));
    }
    // the chain is per (network, containerID): keep the subnets another interface of the same container put there
    const subnets: string[] = [];
    for (const l of listing) {
      if (l[0] === '-A' && l[1] === chain && valueAfter(l, '-j') === 'ACCEPT') {
        const d = valueAfter(l, '-d');
        if (d !== undefined && !subnets.includes(d)) subnets.push(d);
      }
    }
    for (const addr of mine) {
      const d = subnetOf(addr.cidr);
      if (!subnets.includes(d)) subnets.push(d);
    }
    const jumped = new Set(listing.filter((l) => l[0] === '-A' && l[1] === 'POSTROUTING' && valueAfter(l, '-j') === chain).map((l) => hostOf(valueAfter(l, '-s'))));
    // declaring the chain creates it, or flushes it (even with --noflush), so it is rewritten whole
    const lines = [`:${chain} - [0:0]`];
    for (const d of subnets) lines.push(restoreLine(['-A', chain, '-d', d, '-j', 'ACCEPT', '-m', 'comment', '--comment', comment]));
    lines.push(restoreLine(['-A', chain, '!', '-d', MULTICAST[f], '-j', 'MASQUERADE', '-m', 'comment', '--comment', comment]));
    for (const addr of mine) {
      const ip = addr.cidr.split('/')[0]!;
      if (jumped.has(hostOf(ip))) continue;
      lines.push(restoreLine(['-A', 'POSTROUTING', '-s', ip, '-j', chain, '-m', 'comment', '--comment', comment]));
    }
    await this.restore(f, lines);
  }

  /**
   * Removes the POSTROUTING jumps to `chains` and the chains themselves, in
   * one transaction; nothing to do costs one listing. A family whose nat
   * table cannot be listed (no IPv6 in the kernel, say) holds nothing of ours.
   * A rule that vanished between listing and removal (a concurrent DEL) makes
   * the batch fail as a whole: it is listed and tried once more.
   */
  private async removeChains(family: 4 | 6, chains: ReadonlySet<string>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const listing = await this.list(family);
      if (listing === undefined) return;
      const lines: string[] = [];
      for (const l of listing) {
        if (l[0] === '-A' && l[1] === 'POSTROUTING' && chains.has(valueAfter(l, '-j') ?? '')) lines.push(restoreLine(['-D', ...l.slice(1)]));
      }
      for (const l of listing) {
        if (l[0] === '-N' && chains.has(l[1] ?? '')) lines.push(`-F ${l[1]}`, `-X ${l[1]}`);
      }
      if (lines.length === 0) return;
      try {
        await this.restore(family, lines);
        return;
      } catch (err) {
        if (attempt >= 1) throw err;
      }
    }
  }

  async teardown(a: MasqAttachment): Promise<void> {
    const chain = iptablesChainName(a.network, a.containerId);
    // both families always (a DEL may carry no addresses), at the same time: separate tables and programs
    const outcomes = await Promise.allSettled(FAMILIES.map((f) => this.removeChains(f, new Set([chain]))));
    const errors: string[] = [];
    for (const o of outcomes) {
      if (o.status === 'fulfilled') continue;
      if ((o.reason as { code?: unknown }).code === 'ENOENT') continue; // ip6tables not installed
      errors.push((o.reason as Error).message);
    }
    if (errors.length > 0) throw new Error(errors.join('\n'));
  }

  async check(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<string[]> {
    const chain = iptablesChainName(a.network, a.containerId);
    const comment = iptablesComment(a.network, a.containerId);
    const problems: string[] = [];
    for (const addr of addrs) {
      const f = addr.family;
      const ip = addr.cidr.split('/')[0]!;
      const rules: Array<[string, string[]]> = [
        [chain, ['-d', addr.cidr, '-j', 'ACCEPT', '-m', 'comment', '--comment', comment]],
        [chain, ['!', '-d', MULTICAST[f], '-j', 'MASQUERADE', '-m', 'comment', '--comment', comment]],
        ['POSTROUTING', ['-s', ip, '-j', chain, '-m', 'comment', '--comment', comment]],
      ];
      for (const [c, rule] of rules) {
        if ((await this.ipt(f, ['-C', c, ...rule])).code !== 0) problems.push(`${this.bin(f)} nat rule missing in ${c}: ${rule.join(' ')}`);
      }
    }
    return problems;
  }

  async gc(network: string, valid: readonly GcAttachment[]): Promise<void> {
    const keep = new Set(valid.map((v) => iptablesChainName(network, v.containerId)));
    const prefix = `name: ${JSON.stringify(network)} id: `;
    const errors: string[] = [];
    for (const f of FAMILIES) {
      try {
        const listing = await this.list(f);
        if (listing === undefined) continue;
        const stale = new Set<string>();
        for (const l of listing) {
          const chain = l[1];
          if (l[0] !== '-A' || chain === undefined || !/^CNI-[0-9a-f]{24}$/.test(chain) || keep.has(chain)) continue;
          if (valueAfter(l, '--comment')?.startsWith(prefix) === true) stale.add(chain);
        }
        if (stale.size > 0) await this.removeChains(f, stale);
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') continue;
        errors.push((err as Error).message);
      }
    }
    if (errors.length > 0) throw new Error(errors.join('\n'));
  }
}
