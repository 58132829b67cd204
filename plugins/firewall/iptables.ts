/**
 * The filter table of one family through iptables/ip6tables: one `-S`
 * listing and one atomic `iptables-restore --noflush` batch per change (the
 * reference runs one program per rule: 9 for a one-address ADD). A batch
 * that fails, because a program that does not take our lock (the Go plugin,
 * kube-proxy) changed the table between our listing and our restore, is
 * recomputed from a fresh listing, twice at most.
 */
import { type CommandRunner, CommandError } from './exec.ts';
import { Listing } from './plan.ts';

export type Family = 4 | 6;

export class FilterTable {
  constructor(private readonly run: CommandRunner) {}

  bin(f: Family): string {
    return f === 4 ? 'iptables' : 'ip6tables';
  }

  /** The filter table, or an error naming the program and its complaint. */
  async list(f: Family): Promise<Listing> {
    const args = ['-w', '-t', 'filter', '-S'];
    const r = await this.run(this.bin(f), args);
    if (r.code !== 0) throw new CommandError(this.bin(f), args, r);
    return Listing.parse(r.stdout);
  }

  /** The listing, or undefined when this family cannot be listed here (no ip6tables, IPv6 off). */
  async tryList(f: Family): Promise<Listing | undefined> {
    try {
      return await this.list(f);
    } catch {
      return undefined;
    }
  }

  async restore(f: Family, lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const cmd = `${this.bin(f)}-restore`;
    const args = ['-w', '--noflush'];
    const r = await this.run(cmd, args, ['*filter', ...lines, 'COMMIT', ''].join('\n'));
    if (r.code !== 0) throw new CommandError(cmd, args, r);
  }

  /** Lists, computes, restores; again from a fresh listing when the restore fails. Returns what `compute` returned last. */
  async apply<T extends { lines: readonly string[] }>(f: Family, compute: (l: Listing) => T, first?: Listing): Promise<T> {
    let listing = first;
    for (let attempt = 0; ; attempt++) {
      const batch = compute(listing ?? (await this.list(f)));
      listing = undefined;
      try {
        await this.restore(f, batch.lines);
        return batch;
      } catch (err) {
        if (attempt >= 2) throw err;
      }
    }
  }
}
