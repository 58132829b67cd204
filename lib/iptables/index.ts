/**
 * iptables-restore and `iptables -S` for the nat table, the one place that
 * runs them (masquerade in lib/ipmasq, portmap): a listing parsed into
 * argument lists, restore lines quoted as iptables-save quotes them, and one
 * `iptables-restore -w --noflush` transaction per change. Every argument is
 * quoted; an argument holding a line break is refused (it would start
 * another restore command).
 */
import { type CommandResult, type CommandRunner, CommandError } from '../exec/index.ts';

export type Family = 4 | 6;

export const iptablesBin = (f: Family): string => (f === 4 ? 'iptables' : 'ip6tables');

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

/** One argument of an iptables-restore line, quoted as iptables-save quotes it. */
export function quoteRestoreArg(arg: string): string {
  if (arg !== '' && !/[\s"\\']/.test(arg)) return arg;
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** One restore line from its arguments; refuses a line break or NUL inside an argument. */
export function restoreLine(args: readonly string[]): string {
  for (const a of args) if (/[\n\r\0]/.test(a)) throw new Error(`iptables-restore argument with a line break: ${JSON.stringify(a)}`);
  return args.map(quoteRestoreArg).join(' ');
}

/** Two argument lists are the same rule. */
export const sameArgs = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** A parsed `iptables -S` listing of one table (nat: masquerade and portmap; filter: firewall). */
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

  /** How many rules of `chain` are exactly `args`. */
  count(chain: string, args: readonly string[]): number {
    return this.rules(chain).filter((r) => sameArgs(r, args)).length;
  }

  /** Rules of `chain` that end in `-j <target>` (how the reference's DEL finds them). */
  jumpsTo(chain: string, target: string): string[][] {
    return this.rules(chain).filter((r) => r.length >= 2 && r[r.length - 2] === '-j' && r[r.length - 1] === target);
  }
}

/** `iptables -w -t nat -S` (or ip6tables); rejects only when the program cannot be started. */
export function runNatList(run: CommandRunner, f: Family): Promise<CommandResult> {
  return run(iptablesBin(f), ['-w', '-t', 'nat', '-S']);
}

/** The nat table, or undefined when it cannot be listed (a non-zero exit: no IPv6 NAT in the kernel, say). */
export async function listNat(run: CommandRunner, f: Family): Promise<Listing | undefined> {
  const r = await runNatList(run, f);
  return r.code === 0 ? Listing.parse(r.stdout) : undefined;
}

/** The nat table; a non-zero exit is a CommandError. */
export async function listNatOrThrow(run: CommandRunner, f: Family): Promise<Listing> {
  const r = await runNatList(run, f);
  if (r.code !== 0) throw new CommandError(iptablesBin(f), ['-w', '-t', 'nat', '-S'], r);
  return Listing.parse(r.stdout);
}

/** Applies `lines` to the nat table in one `iptables-restore -w --noflush` transaction (nothing to do: no run). */
export async function restoreNat(run: CommandRunner, f: Family, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const cmd = `${iptablesBin(f)}-restore`;
  const r = await run(cmd, ['-w', '--noflush'], ['*nat', ...lines, 'COMMIT', ''].join('\n'));
  if (r.code !== 0) throw new CommandError(cmd, ['-w', '--noflush'], r);
}
