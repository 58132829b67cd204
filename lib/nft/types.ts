/**
 * nftables objects as values, in the spirit of knftables: a table, its chains
 * and rules are built as data, put in a transaction, and applied at once.
 * A rule is a list of typed statements, never a string of nft syntax: what a
 * configuration contributes (an address, a port, an interface name) is a
 * field of a statement, so it cannot become another command.
 */
import type { IP, IPNet } from '../ip.ts';

export type NftFamily = 'ip' | 'ip6' | 'inet';
export type CmpOp = '==' | '!=';
export type L4Proto = 'tcp' | 'udp' | 'sctp';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

/** One statement of a rule (a match, a verdict or an action), in the order nft prints them. */
export type Stmt =
  /** `ip saddr 10.0.0.0/8`, `ip6 daddr != fd00::/64` (a full-length prefix is one address) */
  | { readonly kind: 'addr'; readonly proto: 'ip' | 'ip6'; readonly field: 'saddr' | 'daddr'; readonly op: CmpOp; readonly net: IPNet }
  /** `tcp dport 8080` */
  | { readonly kind: 'port'; readonly proto: L4Proto; readonly field: 'sport' | 'dport'; readonly op: CmpOp; readonly port: number }
  /** `iifname "eth0"`, `oifname != "veth*"` (a trailing `*` matches a prefix) */
  | { readonly kind: 'ifname'; readonly key: 'iifname' | 'oifname'; readonly op: CmpOp; readonly name: string }
  /** `meta mark 0x10` */
  | { readonly kind: 'mark'; readonly op: CmpOp; readonly value: number }
  /** `fib daddr type local` */
  | { readonly kind: 'fibDaddrLocal' }
  | { readonly kind: 'jump' | 'goto'; readonly chain: string }
  | { readonly kind: 'return' | 'accept' | 'drop' }
  /** `dnat to 10.0.0.2:80`, `dnat to [fd00::2]:80` */
  | { readonly kind: 'dnat'; readonly addr: IP; readonly port: number }
  | { readonly kind: 'masquerade' };

export interface Table {
  readonly family: NftFamily;
  readonly name: string;
  readonly comment?: string;
}

export interface BaseChainSpec {
  readonly type: 'nat' | 'filter';
  readonly hook: Hook;
  readonly priority: number;
}

export interface Chain {
  readonly name: string;
  readonly comment?: string;
  /** Set for a base chain (one attached to a hook). */
  readonly base?: BaseChainSpec;
}

export interface Rule {
  readonly chain: string;
  readonly stmts: readonly Stmt[];
  readonly comment?: string;
}

/** A rule as listed from the kernel: its handle, comment and statements (undefined: one we do not model). */
export interface ListedRule {
  readonly chain: string;
  readonly handle: number;
  readonly comment: string | undefined;
  readonly stmts: readonly Stmt[] | undefined;
}

/** One operation of a transaction, on the transaction's table. */
export type Op =
  | { readonly op: 'addTable'; readonly table: Table }
  | { readonly op: 'addChain'; readonly chain: Chain }
  | { readonly op: 'flushChain'; readonly chain: string }
  | { readonly op: 'deleteChain'; readonly chain: string }
  | { readonly op: 'addRule'; readonly rule: Rule }
  | { readonly op: 'deleteRule'; readonly chain: string; readonly handle: number };

/** Priorities by name, as nft knows them for the ip, ip6 and inet families. */
export const PRIORITY = { dstnat: -100, filter: 0, srcnat: 100 } as const;

/** Longest comment the kernel keeps in a rule's user data (knftables.CommentLengthMax). */
export const COMMENT_MAX = 128;
/** Longest table, chain name (NFT_NAME_MAXLEN - 1). */
export const NAME_MAX = 255;
