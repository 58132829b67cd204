/**
 * The iptables backend, rule for rule the reference's layout in the nat table
 * (see plan.ts), so that Go's DEL removes our rules and ours removes Go's:
 * DEL finds a container's jumps by their target `-j CNI-DN-<hash>`, as Go's
 * does. Each change is one `iptables -S` listing and one atomic
 * `iptables-restore --noflush` batch per family (the reference runs a
 * program per rule). Unlike the reference, ADD rewrites an existing
 * per-container chain instead of appending to it, and puts the container's
 * jumps first in CNI-HOSTPORT-DNAT, so that the newest pod holding a host
 * port wins over a stale chain.
 */
import { quoteRestoreArg, splitRuleLine } from '../../lib/ipmasq/iptables.ts';
import { type FileLock, lockFileAsync } from '../../lib/lock.ts';
import { type CommandRunner, CommandError } from '../../lib/ipmasq/run.ts';
import type { Attachment, PortBackend } from './backend.ts';
import type { ContainerIp, PortMapConfig } from './config.ts';
import {
  MASQ_CHAIN,
  OLD_SNAT_CHAIN,
  POSTROUTING_MASQ_ENTRY,
  SETMARK_CHAIN,
  TOP_DNAT_CHAIN,
  TOP_DNAT_ENTRY,
  TOP_DNAT_ENTRY_CHAINS,
  chainName,
  masqRule,
  ownsMarkChains,
  parseDnatComment,
  planDnat,
  setMarkRule,
} from './plan.ts';

const FAMILIES = [4, 6] as const;
const line = (args: readonly string[]): string => args.map(quoteRestoreArg).join(' ');
const sameArgs = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** A parsed `iptables -S` listing of the nat table. */
export class Listing {
  constructor(readonly lines: readonly string[][]) {}

  static parse(text: string): Listing {
    return new Listing(text.split('\n').filter((l) => l !== '').map(splitRuleLine));
  }

  hasChain(chain: string): boolean {
    return this.lines.some((l) => (l[0] === '-N' || l[0] === '-P') && l[1] === chain);
  }

  /** Rules of `chain`, as their arguments after the chain name. */
  rules(chain: string): string[][] {
    return this.lines.filter((l) => l[0] === '-A' && l[1] === chain).map((l) => l.slice(2));
  }

  hasRule(chain: string, args: readonly string[]): boolean {
    return this.rules(chain).some((r) => sameArgs(r, args));
  }

  /** Rules of `chain` that end in `-j <target>` (how the reference's DEL finds them). */
  jumpsTo(chain: string, target: string): string[][] {
    return this.rules(chain).filter((r) => r.length >= 2 && r[r.length - 2] === '-j' && r[r.length - 1] === target);
  }
}

/** The restore lines of an ADD for one family (pure: unit-tested). */
export function addLines(listing: Listing, cfg: PortMapConfig, containerId: string, c: ContainerIp): string[] {
  const out: string[] = [];
  if (ownsMarkChains(cfg)) {
    const bit = cfg.markMasqBit!;
    if (!listing.hasChain(SETMARK_CHAIN)) out.push(`-N ${SETMARK_CHAIN}`);
    if (!listing.hasRule(SETMARK_CHAIN, setMarkRule(bit))) out.push(line(['-A', SETMARK_CHAIN, ...setMarkRule(bit)]));
    if (!listing.hasChain(MASQ_CHAIN)) out.push(`-N ${MASQ_CHAIN}`);
    if (!listing.hasRule(MASQ_CHAIN, masqRule(bit))) out.push(line(['-A', MASQ_CHAIN, ...masqRule(bit)]));
    if (!listing.hasRule('POSTROUTING', POSTROUTING_MASQ_ENTRY)) out.push(line(['-I', 'POSTROUTING', '1', ...POSTROUTING_MASQ_ENTRY]));
  }
  if (!listing.hasChain(TOP_DNAT_CHAIN)) out.push(`-N ${TOP_DNAT_CHAIN}`);
  for (const entry of TOP_DNAT_ENTRY_CHAINS) {
    if (!listing.hasRule(entry, TOP_DNAT_ENTRY)) out.push(line(['-A', entry, ...TOP_DNAT_ENTRY]));
  }
  const plan = planDnat(cfg, containerId, c);
  out.push(listing.hasChain(plan.chain) ? `-F ${plan.chain}` : `-N ${plan.chain}`);
  for (const r of plan.rules) out.push(line(['-A', plan.chain, ...r]));
  for (const old of listing.jumpsTo(TOP_DNAT_CHAIN, plan.chain)) out.push(line(['-D', TOP_DNAT_CHAIN, ...old]));
  // inserted at the top, last first, so that they end up in order ahead of older containers' jumps
  for (const e of [...plan.entries].reverse()) out.push(line(['-I', TOP_DNAT_CHAIN, '1', ...e]));
  return out;
}

/** The restore lines removing the chains `dn` (and legacy `sn`) and every jump to them (pure). */
export function removeLines(listing: Listing, chains: readonly { dn: string; sn?: string }[]): string[] {
  const out: string[] = [];
  for (const { dn, sn } of chains) {
    for (const r of listing.jumpsTo(TOP_DNAT_CHAIN, dn)) out.push(line(['-D', TOP_DNAT_CHAIN, ...r]));
    if (listing.hasChain(dn)) out.push(`-F ${dn}`, `-X ${dn}`);
    if (sn !== undefined) {
      for (const r of listing.jumpsTo(OLD_SNAT_CHAIN, sn)) out.push(line(['-D', OLD_SNAT_CHAIN, ...r]));
      if (listing.hasChain(sn)) out.push(`-F ${sn}`, `-X ${sn}`);
    }
  }
  return out;
}

/** How long a change waits for another plugin run's change to the same namespace's nat table. */
const LOCK_TIMEOUT_MS = 20_000;

/**
 * The lock that makes "list, compute, restore" atomic between portmap runs:
 * iptables-nft's restore accepts `-N` of a chain that exists, so two ADDs that
 * listed before either restored would both append the shared jumps
 * (PREROUTING, OUTPUT, POSTROUTING). One file for the node, like
 * /run/xtables.lock (runs in other namespaces wait a few ms for nothing);
 * not that file itself: legacy iptables takes it while we would hold it.
 */
const NAT_LOCK_PATH = '/run/cni-ts-portmap.lock';

export class IptablesPortmap implements PortBackend {
  readonly name = 'iptables';
  private lock: Promise<FileLock> | undefined;
  private holders = 0;

  constructor(
    private readonly run: CommandRunner,
    private readonly lockPath: () => string = () => NAT_LOCK_PATH,
  ) {}

  /** Runs `fn` holding the namespace's nat lock (re-entrant within this process: IPv4 and IPv6 run at once). */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.holders++;
    this.lock ??= lockFileAsync(this.lockPath(), LOCK_TIMEOUT_MS, { mode: 0o600 });
    const lock = this.lock;
    try {
      await lock;
      return await fn();
    } finally {
      if (--this.holders === 0) {
        this.lock = undefined;
        lock.then((l) => l.release(), () => undefined);
      }
    }
  }

  private bin(f: 4 | 6): string {
    return f === 4 ? 'iptables' : 'ip6tables';
  }

  /** The nat table, or undefined when this family's nat table cannot be listed (no ip6tables, no IPv6 NAT). */
  async list(f: 4 | 6): Promise<Listing | undefined> {
    let r;
    try {
      r = await this.run(this.bin(f), ['-w', '-t', 'nat', '-S']);
    } catch {
      return undefined;
    }
    return r.code === 0 ? Listing.parse(r.stdout) : undefined;
  }

  private async listOrThrow(f: 4 | 6): Promise<Listing> {
    const r = await this.run(this.bin(f), ['-w', '-t', 'nat', '-S']);
    if (r.code !== 0) throw new CommandError(this.bin(f), ['-w', '-t', 'nat', '-S'], r);
    return Listing.parse(r.stdout);
  }

  private async restore(f: 4 | 6, lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const cmd = `${this.bin(f)}-restore`;
    const r = await this.run(cmd, ['-w', '--noflush'], ['*nat', ...lines, 'COMMIT', ''].join('\n'));
    if (r.code !== 0) throw new CommandError(cmd, ['-w', '--noflush'], r);
  }

  /**
   * Under the nat lock: lists, computes the batch, applies it. A batch that
   * fails anyway (a program that changes the table without our lock: the Go
   * portmap, kube-proxy) is recomputed from a fresh listing, twice at most.
   */
  private async apply(f: 4 | 6, compute: (l: Listing) => string[], listedUnderLock?: Listing): Promise<void> {
    await this.exclusive(async () => {
      let first = listedUnderLock;
      for (let attempt = 0; ; attempt++) {
        const current = first ?? (await this.listOrThrow(f));
        first = undefined;
        try {
          await this.restore(f, compute(current));
          return;
        } catch (err) {
          if (attempt >= 2) throw err;
        }
      }
    });
  }

  /** The reference's test lists one chain; we list the whole IPv4 nat table. */
  async usable(): Promise<boolean> {
    return (await this.list(4)) !== undefined;
  }

  async setup(cfg: PortMapConfig, containerId: string, c: ContainerIp): Promise<void> {
    await this.apply(c.family, (l) => addLines(l, cfg, containerId, c));
  }

  private chainsOf(a: Attachment): { dn: string; sn: string } {
    return { dn: chainName(a.network, a.containerId, 'DN-'), sn: chainName(a.network, a.containerId, 'SN-') };
  }

  async teardownFamily(a: Attachment, family: 4 | 6): Promise<void> {
    await this.exclusive(async () => {
      const listing = await this.list(family);
      if (listing === undefined) return;
      await this.apply(family, (l) => removeLines(l, [this.chainsOf(a)]), listing);
    });
  }

  async teardown(a: Attachment): Promise<void> {
    await this.exclusive(() => this.teardownLocked(a));
  }

  private async teardownLocked(a: Attachment): Promise<void> {
    const listings = await Promise.all(FAMILIES.map((f) => this.list(f)));
    if (listings.every((l) => l === undefined)) {
      throw new Error('neither iptables nor ip6tables is usable (the nat table cannot be listed)');
    }
    const errors: string[] = [];
    await Promise.all(
      FAMILIES.map(async (f, i) => {
        const listing = listings[i];
        if (listing === undefined) return;
        try {
          await this.apply(f, (l) => removeLines(l, [this.chainsOf(a)]), listing);
        } catch (err) {
          errors.push(`could not teardown ipv${f} dnat: ${(err as Error).message}`);
        }
      }),
    );
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  async check(cfg: PortMapConfig, containerId: string, c: ContainerIp): Promise<string[]> {
    const f = c.family;
    const plan = planDnat(cfg, containerId, c);
    const listing = await this.list(f);
    if (listing === undefined) return [`${this.bin(f)} cannot list the nat table`];
    if (!listing.hasChain(plan.chain)) return [`chain ${plan.chain} not found in ${this.bin(f)} table nat`];
    const wanted: { chain: string; args: string[] }[] = [
      ...plan.rules.map((args) => ({ chain: plan.chain, args })),
      ...plan.entries.map((args) => ({ chain: TOP_DNAT_CHAIN, args })),
    ];
    if (ownsMarkChains(cfg)) {
      wanted.push({ chain: SETMARK_CHAIN, args: setMarkRule(cfg.markMasqBit!) }, { chain: MASQ_CHAIN, args: masqRule(cfg.markMasqBit!) }, { chain: 'POSTROUTING', args: POSTROUTING_MASQ_ENTRY });
    }
    for (const entry of TOP_DNAT_ENTRY_CHAINS) wanted.push({ chain: entry, args: TOP_DNAT_ENTRY });
    const problems: string[] = [];
    // `-C` compares as the kernel sees the rule (prefixes masked, implicit matches), which a text comparison cannot
    const results = await Promise.all(wanted.map((w) => this.run(this.bin(f), ['-w', '-t', 'nat', '-C', w.chain, ...w.args])));
    results.forEach((r, i) => {
      if (r.code !== 0) problems.push(`rule [${wanted[i]!.args.join(' ')}] in chain ${wanted[i]!.chain} not found in ${this.bin(f)} table nat`);
    });
    return problems;
  }

  async gc(network: string, valid: ReadonlySet<string>): Promise<void> {
    await this.exclusive(() => this.gcLocked(network, valid));
  }

  private async gcLocked(network: string, valid: ReadonlySet<string>): Promise<void> {
    const errors: string[] = [];
    await Promise.all(
      FAMILIES.map(async (f) => {
        const listing = await this.list(f);
        if (listing === undefined) return;
        const stale = (l: Listing): { dn: string; sn: string }[] => {
          const chains = new Map<string, { dn: string; sn: string }>();
          for (const r of l.rules(TOP_DNAT_CHAIN)) {
            const i = r.indexOf('--comment');
            const parsed = i >= 0 ? parseDnatComment(r[i + 1] ?? '') : undefined;
            if (parsed === undefined || parsed.network !== network || valid.has(parsed.containerId)) continue;
            const dn = chainName(network, parsed.containerId, 'DN-');
            // only a jump to the chain the comment's own names hash to: never another network's chain
            if (r[r.length - 1] === dn) chains.set(dn, { dn, sn: chainName(network, parsed.containerId, 'SN-') });
          }
          return [...chains.values()];
        };
        if (stale(listing).length === 0) return;
        try {
          await this.apply(f, (l) => removeLines(l, stale(l)), listing);
        } catch (err) {
          errors.push(`ipv${f}: ${(err as Error).message}`);
        }
      }),
    );
    if (errors.length > 0) throw new Error(errors.join('; '));
  }
}
