/**
 * nftables through nf_tables netlink in our own process: no `nft` program,
 * so it also serves nodes without it. Tables, chains and rules are values
 * (types.ts); `apply` sends a transaction as one nfnetlink batch (applied by
 * the kernel whole or not at all), `rules` lists a table's rules with their
 * handles and comments (what to delete). Used by masquerade (lib/ipmasq)
 * and portmap. The socket is the lib/netlink facade's (NETLINK_NETFILTER),
 * opened per call in the namespace given at construction.
 */
import { openNetfilter, type NetfilterHandle } from '../netlink/index.ts';
import type { Netns } from '../netns/index.ts';
import { scriptText } from './text.ts';
import type { NftFamily, Op, Table } from './types.ts';
import { NEWRULE_TYPE, batchMessages, decodeRule, getGenMessage, getRulesMessage, type DecodedRule } from './wire.ts';

export type { DecodedRule } from './wire.ts';
export { ruleFacts } from './wire.ts';
export type * from './types.ts';

const ENOENT = 2;

function errnoOf(err: unknown): number | undefined {
  let e: unknown = err;
  while (typeof e === 'object' && e !== null) {
    if (typeof (e as { errno?: unknown }).errno === 'number') return Math.abs((e as { errno: number }).errno);
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export class NftError extends Error {
  override readonly name = 'NftError';
}

export class Nft {
  constructor(private readonly open: () => Promise<NetfilterHandle> = () => openNetfilter()) {}

  /** An Nft whose sockets are created in `ns`. */
  static in(ns: Netns): Nft {
    return new Nft(() => openNetfilter(ns));
  }

  private async with<T>(fn: (h: NetfilterHandle) => Promise<T>): Promise<T> {
    const h = await this.open();
    try {
      return await fn(h);
    } finally {
      h.close();
    }
  }

  /** Whether the kernel answers nf_tables requests here. */
  async available(): Promise<boolean> {
    try {
      await this.with((h) => h.request(getGenMessage()));
      return true;
    } catch {
      return false;
    }
  }

  /** Applies `ops` on `table` as one transaction; the message names the table and shows the transaction as nft text. */
  async apply(table: Table, ops: readonly Op[]): Promise<void> {
    if (ops.length === 0) return;
    const msgs = batchMessages(table, ops);
    try {
      await this.with((h) => h.batch(msgs));
    } catch (err) {
      let text: string;
      try {
        const shown = scriptText(table, ops.slice(0, 8)).trimEnd().replaceAll('\n', '; ');
        text = ops.length > 8 ? `${shown}; … ${ops.length - 8} more` : shown;
      } catch {
        text = `${ops.length} operations`;
      }
      throw new NftError(`nftables transaction on table ${table.family} ${table.name} failed: ${(err as Error).message} [${text}]`, { cause: err });
    }
  }

  /** The rules of `table` (of `chain` only when given); [] when the table or chain does not exist. */
  async rules(family: NftFamily, table: string, chain?: string): Promise<DecodedRule[]> {
    try {
      const replies = await this.with((h) => h.request(getRulesMessage(family, table, chain)));
      return replies.filter((r) => r.type === NEWRULE_TYPE).map((r) => decodeRule(r.body)).filter((r) => r.table === table && (chain === undefined || r.chain === chain));
    } catch (err) {
      if (errnoOf(err) === ENOENT) return [];
      throw new NftError(`cannot list the rules of table ${family} ${table}${chain === undefined ? '' : ` chain ${chain}`}: ${(err as Error).message}`, { cause: err });
    }
  }
}
