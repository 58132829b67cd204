/**
 * MAC spoof check (the bridge plugin's `macspoofchk`), rule for rule as the
 * reference (containernetworking/plugins pkg/link/spoofcheck.go): nftables
 * table `bridge nat`, base chain PREROUTING (filter, prerouting hook,
 * priority -300, policy accept), and per attachment two regular chains
 * `cni-br-iface-<refID>` and `cni-br-iface-<refID>-mac`, where refID is
 * `<containerID>-<ifname>`:
 *
 *   PREROUTING:            iifname <hostVeth> jump cni-br-iface-<refID>
 *   cni-br-iface-<refID>:  jump cni-br-iface-<refID>-mac
 *   ...-mac:               ether saddr <containerMAC> return; drop
 *
 * every rule commented `macspoofchk-<refID>`. Commands go to `nft` as one JSON
 * argument (`nft -j '{...}'`), which needs no quoting of names. Teardown needs only the
 * refID, so it works when the namespace and the interface are gone.
 */
import { isObject } from '../cni/conf.ts';
import { type CommandRunner, CommandError, execRunner } from '../exec/index.ts';

export const SPOOF_TABLE = 'nat';
export const SPOOF_BASE_CHAIN = 'PREROUTING';
export const SPOOF_CHAIN_PREFIX = 'cni-br-iface-';
export const SPOOF_COMMENT_PREFIX = 'macspoofchk-';

/** The reference's uniqueID(containerID, ifname). */
export function spoofRefId(containerId: string, ifName: string): string {
  return `${containerId}-${ifName}`;
}

export const ifaceChainName = (refId: string): string => `${SPOOF_CHAIN_PREFIX}${refId}`;
export const macChainName = (refId: string): string => `${SPOOF_CHAIN_PREFIX}${refId}-mac`;
export const spoofComment = (refId: string): string => `${SPOOF_COMMENT_PREFIX}${refId}`;

export interface SpoofAttachment {
  refId: string;
  /** The host end of the veth (the bridge port the container's frames arrive on). */
  hostIface: string;
  /** The container interface's MAC. */
  mac: string;
}

/** One PREROUTING rule that jumps to an attachment's chain. */
export interface SpoofJump {
  handle: number;
  /** The jump target, `cni-br-iface-<refID>`. */
  target: string;
  refId: string;
  /** The iifname it matches, when it matches one. */
  iifname: string | undefined;
}

interface TableState {
  chains: Set<string>;
  jumps: SpoofJump[];
  /** Rules of each chain, as [comment, expr JSON]. */
  rules: Map<string, { comment: string | undefined; expr: unknown }[]>;
}

type Json = Record<string, unknown>;

const fam = { family: 'bridge', table: SPOOF_TABLE } as const;

function rule(chain: string, refId: string, expr: unknown[]): Json {
  return { add: { rule: { ...fam, chain, comment: spoofComment(refId), expr } } };
}

function jumpTarget(expr: unknown): string | undefined {
  if (!Array.isArray(expr)) return undefined;
  for (const st of expr) {
    if (isObject(st) && isObject(st['jump']) && typeof st['jump']['target'] === 'string') return st['jump']['target'];
  }
  return undefined;
}

function iifnameOf(expr: unknown): string | undefined {
  if (!Array.isArray(expr)) return undefined;
  for (const st of expr) {
    if (!isObject(st) || !isObject(st['match'])) continue;
    const m = st['match'];
    if (isObject(m['left']) && isObject(m['left']['meta']) && m['left']['meta']['key'] === 'iifname' && typeof m['right'] === 'string') return m['right'];
  }
  return undefined;
}

export class SpoofCheck {
  constructor(private readonly run: CommandRunner = execRunner) {}

  private async apply(commands: readonly Json[]): Promise<void> {
    if (commands.length === 0) return;
    // as an argument: nft opens "-f -" as /dev/stdin, which fails on the socket Node gives a child as stdin
    const input = JSON.stringify({ nftables: commands });
    const r = await this.run('nft', ['-j', input]);
    if (r.code !== 0) throw new CommandError('nft', ['-j', '<JSON commands>'], r);
  }

  /** The table's chains and PREROUTING jumps; undefined when the table (or nft) is not there. */
  private async state(): Promise<TableState | undefined> {
    let r;
    try {
      r = await this.run('nft', ['-j', 'list', 'table', 'bridge', SPOOF_TABLE]);
    } catch {
      return undefined; // nft is not installed: nothing of ours can exist
    }
    if (r.code !== 0) return undefined;
    const parsed: unknown = JSON.parse(r.stdout);
    const items = isObject(parsed) && Array.isArray(parsed['nftables']) ? (parsed['nftables'] as unknown[]) : [];
    const st: TableState = { chains: new Set(), jumps: [], rules: new Map() };
    for (const item of items) {
      if (!isObject(item)) continue;
      const chain = item['chain'];
      if (isObject(chain) && typeof chain['name'] === 'string') st.chains.add(chain['name']);
      const rl = item['rule'];
      if (!isObject(rl) || typeof rl['chain'] !== 'string') continue;
      const comment = typeof rl['comment'] === 'string' ? rl['comment'] : undefined;
      const list = st.rules.get(rl['chain']) ?? [];
      list.push({ comment, expr: rl['expr'] });
      st.rules.set(rl['chain'], list);
      if (rl['chain'] !== SPOOF_BASE_CHAIN || typeof rl['handle'] !== 'number') continue;
      const target = jumpTarget(rl['expr']);
      if (target === undefined || !target.startsWith(SPOOF_CHAIN_PREFIX)) continue;
      st.jumps.push({ handle: rl['handle'], target, refId: target.slice(SPOOF_CHAIN_PREFIX.length), iifname: iifnameOf(rl['expr']) });
    }
    return st;
  }

  /** Installs (or rewrites) the rules of one attachment in one transaction. */
  async setup(a: SpoofAttachment): Promise<void> {
    const iface = ifaceChainName(a.refId);
    const mac = macChainName(a.refId);
    const existing = (await this.state())?.jumps.filter((j) => j.target === iface) ?? [];
    const commands: Json[] = [
      { add: { table: { ...fam, name: SPOOF_TABLE } } },
      { add: { chain: { ...fam, name: SPOOF_BASE_CHAIN, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
      { add: { chain: { ...fam, name: iface } } },
      { add: { chain: { ...fam, name: mac } } },
      { flush: { chain: { ...fam, name: iface } } },
      { flush: { chain: { ...fam, name: mac } } },
      // a repeated setup replaces its jump instead of adding a second one
      ...existing.map((j) => ({ delete: { rule: { ...fam, chain: SPOOF_BASE_CHAIN, handle: j.handle } } })),
      rule(SPOOF_BASE_CHAIN, a.refId, [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: a.hostIface } }, { jump: { target: iface } }]),
      rule(iface, a.refId, [{ jump: { target: mac } }]),
      rule(mac, a.refId, [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: a.mac } }, { return: null }]),
      rule(mac, a.refId, [{ drop: null }]),
    ];
    try {
      await this.apply(commands);
    } catch (err) {
      throw new Error(`failed to setup spoof-check: ${(err as Error).message}`, { cause: err });
    }
  }

  private removal(st: TableState, refIds: ReadonlySet<string>): Json[] {
    const commands: Json[] = [];
    for (const j of st.jumps) {
      if (refIds.has(j.refId)) commands.push({ delete: { rule: { ...fam, chain: SPOOF_BASE_CHAIN, handle: j.handle } } });
    }
    for (const refId of refIds) {
      // the iface chain jumps to the mac chain, so it goes first
      for (const chain of [ifaceChainName(refId), macChainName(refId)]) {
        if (st.chains.has(chain)) commands.push({ delete: { chain: { ...fam, name: chain } } });
      }
    }
    return commands;
  }

  /** Removes one attachment's jump and chains; nothing there is fine. */
  async teardown(refId: string): Promise<void> {
    const st = await this.state();
    if (st === undefined) return;
    try {
      await this.apply(this.removal(st, new Set([refId])));
    } catch (err) {
      throw new Error(`failed to teardown spoof-check: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Problems with one attachment's rules (empty when they are all in place). */
  async check(a: SpoofAttachment): Promise<string[]> {
    const st = await this.state();
    const iface = ifaceChainName(a.refId);
    const mac = macChainName(a.refId);
    if (st === undefined) return [`macspoofchk: nftables table bridge ${SPOOF_TABLE} not found`];
    const problems: string[] = [];
    if (!st.jumps.some((j) => j.target === iface && j.iifname === a.hostIface)) problems.push(`macspoofchk: no rule in ${SPOOF_BASE_CHAIN} sends ${a.hostIface} to ${iface}`);
    if (!st.chains.has(iface)) problems.push(`macspoofchk: chain ${iface} not found`);
    const macRules = st.rules.get(mac) ?? [];
    const allows = macRules.some((r) => JSON.stringify(r.expr).toLowerCase().includes(JSON.stringify(a.mac.toLowerCase())));
    if (!allows) problems.push(`macspoofchk: chain ${mac} does not allow ${a.mac}`);
    return problems;
  }

  /**
   * Every attachment that has spoof-check rules: its refID and the host
   * interface its jump matches (undefined for chains left without a jump).
   */
  async list(): Promise<{ refId: string; iifname: string | undefined }[]> {
    const st = await this.state();
    if (st === undefined) return [];
    const out = new Map<string, string | undefined>();
    for (const j of st.jumps) out.set(j.refId, j.iifname);
    for (const chain of st.chains) {
      // an iface chain is one whose "-mac" companion exists
      if (!chain.startsWith(SPOOF_CHAIN_PREFIX)) continue;
      const refId = chain.slice(SPOOF_CHAIN_PREFIX.length);
      if (!out.has(refId) && st.chains.has(macChainName(refId))) out.set(refId, undefined);
    }
    return [...out].map(([refId, iifname]) => ({ refId, iifname }));
  }

  /** Removes the rules of the given attachments in one transaction. */
  async remove(refIds: readonly string[]): Promise<void> {
    if (refIds.length === 0) return;
    const st = await this.state();
    if (st === undefined) return;
    await this.apply(this.removal(st, new Set(refIds)));
  }
}
