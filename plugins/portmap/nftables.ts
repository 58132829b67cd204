/**
 * The nftables backend: the reference's tables `ip cni_hostport` and
 * `ip6 cni_hostport` and their chains (its v1.9 layout: DNAT in the nat
 * prerouting/output hooks through `hostports_all`, only to local addresses),
 * one listing and one transaction per family, through nf_tables netlink in
 * our process (lib/nft; no `nft` program). Rules carry the container ID as
 * comment, as the reference's do, so either implementation removes the
 * other's. DEL removes only the rules of this container for the host ports
 * of the request (and, with prevResult, its addresses), so a container in two
 * networks keeps the other network's rules.
 */
import { Nft, ruleFacts, type DecodedRule } from '../../lib/nft/index.ts';
import type { Attachment, PortBackend, TeardownScope } from './backend.ts';
import type { ContainerIp, PortMapConfig } from './config.ts';
import { NFT_CHAINS, NFT_TABLE, nftAddOps, nftTable, planNftRules } from './plan.ts';

const FAMILIES = [4, 6] as const;
const familyWord = (f: 4 | 6): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');

/** One rule of the table, with what DEL and CHECK look at. */
export interface NftRule {
  chain: string;
  handle: number;
  comment: string | undefined;
  /** `tcp dport N` / `udp dport N` / `sctp dport N` */
  dport: number | undefined;
  /** Addresses the rule matches or DNATs to (daddr, saddr, dnat address). */
  addrs: string[];
}

export function toNftRule(r: DecodedRule): NftRule {
  return { chain: r.chain, handle: r.handle, comment: r.comment, ...ruleFacts(r) };
}

/** The rules DEL removes: this container's (by comment) for these host ports and, when known, these addresses (pure). */
export function rulesToRemove(rules: readonly NftRule[], containerId: string, scope: TeardownScope): NftRule[] {
  const ports = new Set(scope.hostPorts);
  const ips = new Set(scope.containerIps.map((c) => c.ip));
  return rules.filter((r) => {
    if (r.comment !== containerId || !(NFT_CHAINS as readonly string[]).includes(r.chain)) return false;
    if (r.chain === 'masquerading') return ips.size === 0 || r.addrs.some((a) => ips.has(a));
    return ports.size === 0 || (r.dport !== undefined && ports.has(r.dport));
  });
}

export class NftablesPortmap implements PortBackend {
  readonly name = 'nftables';
  constructor(private readonly nft: Nft = new Nft()) {}

  /** The rules of one family's table; [] when the table does not exist. */
  async rules(f: 4 | 6): Promise<NftRule[]> {
    return (await this.nft.rules(familyWord(f), NFT_TABLE)).map(toNftRule);
  }

  usable(): Promise<boolean> {
    return this.nft.available();
  }

  async setup(cfg: PortMapConfig, containerId: string, c: ContainerIp): Promise<void> {
    // this container's earlier rules of the same ports and address go in the same transaction
    const stale = rulesToRemove(await this.rules(c.family), containerId, { hostPorts: cfg.mappings.map((m) => m.hostPort), containerIps: [c] });
    await this.nft.apply(nftTable(c.family), nftAddOps(cfg, containerId, c, stale));
  }

  private async remove(f: 4 | 6, rules: readonly NftRule[]): Promise<void> {
    await this.nft.apply(nftTable(f), rules.map((r) => ({ op: 'deleteRule', chain: r.chain, handle: r.handle })));
  }

  async teardownFamily(a: Attachment, family: 4 | 6, scope: TeardownScope): Promise<void> {
    await this.remove(family, rulesToRemove(await this.rules(family), a.containerId, scope));
  }

  async teardown(a: Attachment, scope: TeardownScope): Promise<void> {
    const errors: string[] = [];
    await Promise.all(
      FAMILIES.map(async (f) => {
        try {
          await this.teardownFamily(a, f, scope);
        } catch (err) {
          errors.push(`error deleting nftables rules: ${(err as Error).message}`);
        }
      }),
    );
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  async check(cfg: PortMapConfig, containerId: string, c: ContainerIp): Promise<string[]> {
    const mine = (await this.rules(c.family)).filter((r) => r.comment === containerId);
    const problems: string[] = [];
    const expected = planNftRules(cfg, containerId, c);
    for (const chain of ['hostports', 'masquerading']) {
      const want = expected.filter((e) => e.chain === chain).length;
      const have = mine.filter((r) => r.chain === chain && r.addrs.includes(c.ip)).length;
      if (have < want) problems.push(`missing hostport rules in ${JSON.stringify(chain)} chain of ${familyWord(c.family)} ${NFT_TABLE} (${have} of ${want})`);
    }
    return problems;
  }

  /**
   * The reference's rules carry no network name: a rule is stale when its
   * container ID is not among the valid attachments of this GC at all.
   */
  async gc(_network: string, valid: ReadonlySet<string>): Promise<void> {
    await Promise.all(
      FAMILIES.map(async (f) => {
        const rules = await this.rules(f);
        await this.remove(f, rules.filter((r) => r.comment !== undefined && (NFT_CHAINS as readonly string[]).includes(r.chain) && !valid.has(r.comment)));
      }),
    );
  }
}
