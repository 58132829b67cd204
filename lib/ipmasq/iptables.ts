/**
 * Masquerade with iptables/ip6tables, rule for rule as the reference
 * (pkg/ip/ipmasq_iptables_linux.go): a chain CNI-<hash> per (network,
 * containerID) in the nat table with an ACCEPT for the pod's own subnet and a
 * MASQUERADE for everything but multicast, and a POSTROUTING jump from the
 * pod's address. Unlike the reference, teardown needs no addresses (it finds
 * the jumps by their target chain), so DEL works when the netns is gone, and
 * GC finds the chains of a network by their comment.
 */
import { type CommandRunner, CommandError } from './run.ts';
import { iptablesChainName, iptablesComment } from './names.ts';
import type { GcAttachment, MasqAddress, MasqAttachment, MasqBackend } from './types.ts';

const MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const;
const FAMILIES = [4, 6] as const;

/** Splits one line of `iptables -S` into arguments, undoing its double-quote quoting. */
export function splitRuleLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let have = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (inQuote) {
      if (c === '\\' && i + 1 < line.length) {
        cur += line[++i]!;
      } else if (c === '"') {
        inQuote = false;
      } else {
        cur += c;
      }
    } else if (c === '"') {
      inQuote = true;
      have = true;
    } else if (c === ' ') {
      if (have) out.push(cur);
      cur = '';
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push(cur);
  return out;
}

function isNotExist(stderr: string): boolean {
  return /No chain\/target\/match by that name|does a matching rule exist|does not exist|doesn't exist|not found/i.test(stderr);
}

export class IptablesMasq implements MasqBackend {
  readonly name = 'iptables';
  constructor(private readonly run: CommandRunner) {}

  private bin(family: 4 | 6): string {
    return family === 4 ? 'iptables' : 'ip6tables';
  }

  private async ipt(family: 4 | 6, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.run(this.bin(family), ['-w', '-t', 'nat', ...args]);
  }

  private async must(family: 4 | 6, args: readonly string[]): Promise<string> {
    const r = await this.ipt(family, args);
    if (r.code !== 0) throw new CommandError(this.bin(family), ['-w', '-t', 'nat', ...args], r);
    return r.stdout;
  }

  /** Deletes, treating "does not exist" as done. */
  private async tolerant(family: 4 | 6, args: readonly string[]): Promise<void> {
    const r = await this.ipt(family, args);
    if (r.code !== 0 && !isNotExist(r.stderr)) throw new CommandError(this.bin(family), ['-w', '-t', 'nat', ...args], r);
  }

  private async appendUnique(family: 4 | 6, chain: string, rule: readonly string[]): Promise<void> {
    const c = await this.ipt(family, ['-C', chain, ...rule]);
    if (c.code === 0) return;
    await this.must(family, ['-A', chain, ...rule]);
  }

  private async chainExists(family: 4 | 6, chain: string): Promise<boolean> {
    const r = await this.ipt(family, ['-S', chain]);
    return r.code === 0;
  }

  async usable(): Promise<boolean> {
    try {
      return (await this.ipt(4, ['-S', 'POSTROUTING'])).code === 0;
    } catch {
      return false;
    }
  }

  async setup(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<void> {
    const chain = iptablesChainName(a.network, a.containerId);
    const comment = iptablesComment(a.network, a.containerId);
    for (const addr of addrs) {
      const f = addr.family;
      if (!(await this.chainExists(f, chain))) {
        const r = await this.ipt(f, ['-N', chain]);
        if (r.code !== 0 && !/already exists/i.test(r.stderr)) throw new CommandError(this.bin(f), ['-N', chain], r);
      }
      const ip = addr.cidr.split('/')[0]!;
      await this.appendUnique(f, chain, ['-d', addr.cidr, '-j', 'ACCEPT', '-m', 'comment', '--comment', comment]);
      await this.appendUnique(f, chain, ['!', '-d', MULTICAST[f], '-j', 'MASQUERADE', '-m', 'comment', '--comment', comment]);
      await this.appendUnique(f, 'POSTROUTING', ['-s', ip, '-j', chain, '-m', 'comment', '--comment', comment]);
    }
  }

  /** The POSTROUTING rules (as -D arguments) that jump to `chain`. */
  private async jumpsTo(family: 4 | 6, chain: string): Promise<string[][]> {
    const r = await this.ipt(family, ['-S', 'POSTROUTING']);
    if (r.code !== 0) return [];
    const rules: string[][] = [];
    for (const line of r.stdout.split('\n')) {
      const args = splitRuleLine(line);
      if (args[0] !== '-A' || args[1] !== 'POSTROUTING') continue;
      const j = args.indexOf('-j');
      if (j >= 0 && args[j + 1] === chain) rules.push(args.slice(2));
    }
    return rules;
  }

  private async removeChain(family: 4 | 6, chain: string): Promise<void> {
    for (const rule of await this.jumpsTo(family, chain)) await this.tolerant(family, ['-D', 'POSTROUTING', ...rule]);
    await this.tolerant(family, ['-F', chain]);
    await this.tolerant(family, ['-X', chain]);
  }

  async teardown(a: MasqAttachment): Promise<void> {
    const chain = iptablesChainName(a.network, a.containerId);
    const errors: string[] = [];
    for (const f of FAMILIES) {
      try {
        await this.removeChain(f, chain);
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') continue; // ip6tables not installed
        errors.push((err as Error).message);
      }
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
    const errors: string[] = [];
    for (const f of FAMILIES) {
      let listing;
      try {
        listing = await this.ipt(f, ['-S']);
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') continue;
        throw err;
      }
      if (listing.code !== 0) continue;
      const ours = new Set<string>();
      const prefix = `name: ${JSON.stringify(network)} id: `;
      for (const line of listing.stdout.split('\n')) {
        const args = splitRuleLine(line);
        const chain = args[1];
        if (args[0] !== '-A' || chain === undefined || !/^CNI-[0-9a-f]{24}$/.test(chain)) continue;
        const ci = args.indexOf('--comment');
        const comment = ci >= 0 ? args[ci + 1] : undefined;
        if (comment?.startsWith(prefix) === true) ours.add(chain);
      }
      for (const chain of ours) {
        if (keep.has(chain)) continue;
        try {
          await this.removeChain(f, chain);
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    }
    if (errors.length > 0) throw new Error(errors.join('\n'));
  }
}
