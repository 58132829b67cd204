/**
 * The rules of the firewall plugin, pure: the reference's layout in the
 * filter table (containernetworking/plugins plugins/meta/firewall
 * iptables.go and ingresspolicy.go), written as `iptables -S` prints them
 * (matches before the target), so that a listing can be compared with them
 * and iptables-restore lines made from them:
 *
 *   FORWARD      -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD          (inserted first)
 *   CNI-FORWARD  -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN   (inserted first)
 *   CNI-FORWARD  -d <ip>/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT           (appended, per address)
 *   CNI-FORWARD  -s <ip>/32 -j ACCEPT                                                       (appended, per address)
 *
 * and, with ingressPolicy same-bridge or isolated, the CNI-ISOLATION-STAGE-1/2
 * chains of the pod's bridge. Every batch is computed from a listing taken
 * under the plugin's lock, and adds only what is missing (the reference's
 * Exists/Insert/AppendUnique), so a repeated ADD changes nothing.
 */
import { Listing, restoreLine, sameArgs } from '../../lib/iptables/index.ts';
import { type HostAddress, type IngressPolicy, PRIV_CHAIN } from './config.ts';

export { Listing };

export const FILTER_COMMENT = 'CNI firewall plugin rules';
export const ADMIN_COMMENT = 'CNI firewall plugin admin overrides';
export const STAGE1 = 'CNI-ISOLATION-STAGE-1';
export const STAGE2 = 'CNI-ISOLATION-STAGE-2';
export const ISOLATION_COMMENT = 'CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)';

export interface Rule {
  chain: string;
  args: string[];
}

export const forwardJump = (): Rule => ({ chain: 'FORWARD', args: ['-m', 'comment', '--comment', FILTER_COMMENT, '-j', PRIV_CHAIN] });
export const adminJump = (adminChain: string): Rule => ({ chain: PRIV_CHAIN, args: ['-m', 'comment', '--comment', ADMIN_COMMENT, '-j', adminChain] });

/** The two rules of one pod address in CNI-FORWARD (the reference's getPrivChainRules). */
export function podRules(cidr: string): Rule[] {
  return [
    { chain: PRIV_CHAIN, args: ['-d', cidr, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'] },
    { chain: PRIV_CHAIN, args: ['-s', cidr, '-j', 'ACCEPT'] },
  ];
}

/** The addresses of one family, in prevResult's order, without repeats. */
export function addressesOf(addresses: readonly HostAddress[], family: 4 | 6): string[] {
  return [...new Set(addresses.filter((a) => a.family === family).map((a) => a.cidr))];
}

/** A batch for one family: the restore lines and the rules it adds (what ADD's rollback removes). */
export interface Batch {
  lines: string[];
  added: Rule[];
}

/** Builds a batch against a listing, adding each rule only when missing. */
class BatchBuilder {
  readonly lines: string[] = [];
  readonly added: Rule[] = [];
  private readonly chains = new Set<string>();

  constructor(private readonly listing: Listing) {}

  chain(name: string): void {
    if (this.listing.hasChain(name) || this.chains.has(name)) return;
    this.chains.add(name);
    this.lines.push(`-N ${name}`);
  }

  private present(r: Rule): boolean {
    return this.listing.hasRule(r.chain, r.args) || this.added.some((a) => a.chain === r.chain && sameArgs(a.args, r.args));
  }

  /** `-I chain 1` unless present. */
  insertFirst(r: Rule): void {
    if (this.present(r)) return;
    this.added.push(r);
    this.lines.push(restoreLine(['-I', r.chain, '1', ...r.args]));
  }

  /** `-A chain` unless present. */
  append(r: Rule): void {
    if (this.present(r)) return;
    this.added.push(r);
    this.lines.push(restoreLine(['-A', r.chain, ...r.args]));
  }

  done(): Batch {
    return { lines: this.lines, added: this.added };
  }
}

/** ADD of one family: the reference's setupChains, then each address's rules appended (pure). */
export function planAdd(listing: Listing, adminChain: string, cidrs: readonly string[]): Batch {
  const b = new BatchBuilder(listing);
  if (cidrs.length === 0) return b.done();
  b.chain(PRIV_CHAIN);
  b.chain(adminChain);
  b.insertFirst(forwardJump());
  b.insertFirst(adminJump(adminChain));
  for (const cidr of cidrs) for (const r of podRules(cidr)) b.append(r);
  return b.done();
}

/** Rules of the ingress policy for `bridge`, in the order the reference ensures them. */
export function isolationRules(bridge: string, policy: Exclude<IngressPolicy, 'open'>): { rule: Rule; first: boolean }[] {
  const withComment = (args: string[], comment: string, target: string): string[] => [...args, '-m', 'comment', '--comment', comment, '-j', target];
  const policyComment = `CNI firewall plugin rules (ingressPolicy: ${policy})`;
  const out: { rule: Rule; first: boolean }[] = [
    // ahead of CNI-FORWARD: the reference inserts it first
    { rule: { chain: 'FORWARD', args: withComment([], ISOLATION_COMMENT, STAGE1) }, first: true },
    { rule: { chain: STAGE1, args: withComment(['-i', bridge, '!', '-o', bridge], policyComment, STAGE2) }, first: true },
  ];
  if (policy === 'isolated') out.push({ rule: { chain: STAGE1, args: withComment(['-i', bridge, '-o', bridge], policyComment, 'DROP') }, first: true });
  out.push(
    { rule: { chain: STAGE1, args: withComment([], ISOLATION_COMMENT, 'RETURN') }, first: false },
    { rule: { chain: STAGE2, args: withComment(['-o', bridge], ISOLATION_COMMENT, 'DROP') }, first: true },
    { rule: { chain: STAGE2, args: withComment([], ISOLATION_COMMENT, 'RETURN') }, first: false },
  );
  return out;
}

/** The ingress policy's chains and rules for one family (the reference's setupIsolationChains; pure). */
export function planIsolation(listing: Listing, bridge: string, policy: Exclude<IngressPolicy, 'open'>): Batch {
  const b = new BatchBuilder(listing);
  b.chain(STAGE1);
  b.chain(STAGE2);
  for (const { rule, first } of isolationRules(bridge, policy)) {
    if (first) b.insertFirst(rule);
    else b.append(rule);
  }
  return b.done();
}

/** Deletes every copy of each rule that the listing holds (pure). */
export function planRemoveRules(listing: Listing, rules: readonly Rule[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const r of rules) {
    const key = `${r.chain} ${restoreLine(r.args)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    for (let i = listing.count(r.chain, r.args); i > 0; i--) out.push(restoreLine(['-D', r.chain, ...r.args]));
  }
  return out;
}

/** DEL of one family: the rules of these addresses, wherever they are in CNI-FORWARD (pure). */
export function planRemove(listing: Listing, cidrs: readonly string[]): string[] {
  return planRemoveRules(listing, cidrs.flatMap(podRules));
}

/** What CHECK finds missing for one family (empty: all there), with the reference's messages. */
export function checkProblems(listing: Listing, adminChain: string, cidrs: readonly string[], isolation?: { bridge: string; policy: Exclude<IngressPolicy, 'open'> }): string[] {
  if (cidrs.length === 0) return [];
  const problems: string[] = [];
  for (const chain of [PRIV_CHAIN, adminChain]) if (!listing.hasChain(chain)) problems.push(`chain ${chain} not found`);
  const expect = (r: Rule, what: string): void => {
    if (!listing.hasRule(r.chain, r.args)) problems.push(`expected ${what}rule [${r.args.join(' ')}] not found`);
  };
  expect(forwardJump(), 'FORWARD ');
  expect(adminJump(adminChain), `${PRIV_CHAIN} `);
  for (const cidr of cidrs) for (const r of podRules(cidr)) expect(r, '');
  if (isolation !== undefined) for (const { rule } of isolationRules(isolation.bridge, isolation.policy)) expect(rule, `${rule.chain} `);
  return problems;
}

/** What CHECK finds missing of the ingress policy's rules for one family (the firewalld backend's CHECK). */
export function checkIsolation(listing: Listing, bridge: string, policy: Exclude<IngressPolicy, 'open'>): string[] {
  return isolationRules(bridge, policy)
    .filter(({ rule }) => !listing.hasRule(rule.chain, rule.args))
    .map(({ rule }) => `expected ${rule.chain} rule [${rule.args.join(' ')}] not found`);
}
