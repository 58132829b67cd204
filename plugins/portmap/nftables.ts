/**
 * The nftables backend: the reference's tables `ip cni_hostport` and
 * `ip6 cni_hostport` and their chains (its HEAD layout, the one without the
 * v1.6.x holes: DNAT in the nat prerouting/output hooks, only to local
 * addresses), one `nft -f` transaction per family. Rules carry the container
 * ID as comment, as the reference's do, so either implementation removes the
 * other's. DEL removes only the rules of this container for the host ports
 * of the request (and, with prevResult, its addresses), so a container in two
 * networks keeps the other network's rules.
 */
import { isObject } from '../../lib/cni/conf.ts';
import { type CommandRunner, CommandError } from '../../lib/ipmasq/run.ts';
import type { Attachment, PortBackend, TeardownScope } from './backend.ts';
import type { ContainerIp, PortMapConfig } from './config.ts';
import { NFT_CHAINS, NFT_TABLE, nftAddScript, planNftRules } from './plan.ts';

const FAMILIES = [4, 6] as const;
const familyWord = (f: 4 | 6): string => (f === 4 ? 'ip' : 'ip6');

/** One rule of the table as `nft -j` shows it, with what DEL and CHECK look at. */
export interface NftRule {
  chain: string;
  handle: number;
  comment: string | undefined;
  /** `tcp dport N` / `udp dport N` / `sctp dport N` */
  dport: number | undefined;
  /** Addresses the rule matches or DNATs to (daddr, saddr, dnat address). */
  addrs: string[];
}

function collect(node: unknown, into: { dport?: number; addrs: string[] }): void {
  if (Array.isArray(node)) {
    for (const n of node) collect(n, into);
    return;
  }
  if (!isObject(node)) return;
  const match = node['match'];
  if (isObject(match)) {
    const left = match['left'];
    const right = match['right'];
    const payload = isObject(left) ? left['payload'] : undefined;
    if (isObject(payload)) {
      if (payload['field'] === 'dport' && typeof right === 'number') into.dport = right;
      if ((payload['field'] === 'daddr' || payload['field'] === 'saddr') && typeof right === 'string') into.addrs.push(right);
    }
  }
  const dnat = node['dnat'];
  if (isObject(dnat) && typeof dnat['addr'] === 'string') into.addrs.push(dnat['addr']);
  for (const v of Object.values(node)) if (typeof v === 'object') collect(v, into);
}

/** The rules of the table from `nft -j list table` output (pure). */
export function parseNftRules(json: string): NftRule[] {
  const parsed: unknown = JSON.parse(json);
  const items = isObject(parsed) && Array.isArray(parsed['nftables']) ? (parsed['nftables'] as unknown[]) : [];
  const out: NftRule[] = [];
  for (const item of items) {
    if (!isObject(item) || !isObject(item['rule'])) continue;
    const r = item['rule'];
    if (typeof r['handle'] !== 'number' || typeof r['chain'] !== 'string') continue;
    const seen: { dport?: number; addrs: string[] } = { addrs: [] };
    collect(r['expr'], seen);
    out.push({ chain: r['chain'], handle: r['handle'], comment: typeof r['comment'] === 'string' ? r['comment'] : undefined, dport: seen.dport, addrs: seen.addrs });
  }
  return out;
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
  constructor(private readonly run: CommandRunner) {}

  private async script(text: string): Promise<void> {
    const r = await this.run('nft', ['-f', '-'], text);
    if (r.code !== 0) throw new CommandError('nft', ['-f', '-'], r);
  }

  /** The rules of one family's table; [] when the table does not exist. */
  async rules(f: 4 | 6): Promise<NftRule[]> {
    const args = ['-j', 'list', 'table', familyWord(f), NFT_TABLE];
    const r = await this.run('nft', args);
    if (r.code !== 0) {
      if (/No such file or directory|does not exist/i.test(r.stderr)) return [];
      throw new CommandError('nft', args, r);
    }
    return parseNftRules(r.stdout);
  }

  async usable(): Promise<boolean> {
    try {
      return (await this.run('nft', ['list', 'tables'])).code === 0;
    } catch {
      return false;
    }
  }

  async setup(cfg: PortMapConfig, containerId: string, c: ContainerIp): Promise<void> {
    // this container's earlier rules of the same ports and address go in the same transaction
    const stale = rulesToRemove(await this.rules(c.family), containerId, { hostPorts: cfg.mappings.map((m) => m.hostPort), containerIps: [c] });
    await this.script(nftAddScript(cfg, containerId, c, stale));
  }

  private async remove(f: 4 | 6, rules: readonly NftRule[]): Promise<void> {
    if (rules.length === 0) return;
    const t = `${familyWord(f)} ${NFT_TABLE}`;
    await this.script(`${rules.map((r) => `delete rule ${t} ${r.chain} handle ${r.handle}`).join('\n')}\n`);
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
          if ((err as { code?: unknown }).code === 'ENOENT') return; // no nft: nothing of ours can exist
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
        let rules: NftRule[];
        try {
          rules = await this.rules(f);
        } catch (err) {
          if ((err as { code?: unknown }).code === 'ENOENT') return;
          throw err;
        }
        await this.remove(f, rules.filter((r) => r.comment !== undefined && (NFT_CHAINS as readonly string[]).includes(r.chain) && !valid.has(r.comment)));
      }),
    );
  }
}
