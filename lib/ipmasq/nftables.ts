/**
 * Masquerade with nftables, as the reference (pkg/ip/ipmasq_nftables_linux.go):
 * table `inet cni_plugins_masquerade`, a `postrouting` nat chain rewritten on
 * every ADD (multicast returns, then goto masq_checks), and one rule per
 * address in `masq_checks` whose comment starts with a hash of (network) and
 * of (ifname:containerID), so that teardown and GC find rules by comment.
 */
import { type CommandRunner, CommandError } from './run.ts';
import { NFT_MASQ_CHAIN, NFT_TABLE, nftComment, nftInstanceHash, nftNetworkHash } from './names.ts';
import type { GcAttachment, MasqAddress, MasqAttachment, MasqBackend } from './types.ts';
import { isObject } from '../cni/conf.ts';
import { formatCidr, networkAddress, parseCidr } from '../ip.ts';

interface NftRule {
  handle: number;
  comment: string | undefined;
}

/** "10.244.1.5/24" → "10.244.1.0/24" (the pod's subnet), printed as Go prints it. */
export function networkOf(cidr: string): string {
  const net = parseCidr(cidr);
  if (net === undefined) throw new Error(`invalid CIDR ${cidr}`);
  return formatCidr({ ip: networkAddress(net), prefix: net.prefix });
}

export class NftablesMasq implements MasqBackend {
  readonly name = 'nftables';
  constructor(private readonly run: CommandRunner) {}

  private async script(text: string): Promise<void> {
    const r = await this.run('nft', ['-f', '-'], text);
    if (r.code !== 0) throw new CommandError('nft', ['-f', '-'], r);
  }

  /** The rules of masq_checks with their handles and comments; [] when the table or chain does not exist. */
  private async rules(): Promise<NftRule[]> {
    const r = await this.run('nft', ['-j', 'list', 'chain', 'inet', NFT_TABLE, NFT_MASQ_CHAIN]);
    if (r.code !== 0) {
      if (/No such file or directory|does not exist/i.test(r.stderr)) return [];
      throw new CommandError('nft', ['-j', 'list', 'chain', 'inet', NFT_TABLE, NFT_MASQ_CHAIN], r);
    }
    const parsed: unknown = JSON.parse(r.stdout);
    const out: NftRule[] = [];
    const items = isObject(parsed) && Array.isArray(parsed['nftables']) ? (parsed['nftables'] as unknown[]) : [];
    for (const item of items) {
      if (!isObject(item) || !isObject(item['rule'])) continue;
      const rule = item['rule'];
      if (typeof rule['handle'] !== 'number') continue;
      out.push({ handle: rule['handle'], comment: typeof rule['comment'] === 'string' ? rule['comment'] : undefined });
    }
    return out;
  }

  async usable(): Promise<boolean> {
    try {
      return (await this.run('nft', ['list', 'tables'])).code === 0;
    } catch {
      return false;
    }
  }

  async setup(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<void> {
    const prefix = nftInstanceHash(a.network, a.ifname, a.containerId);
    const stale = (await this.rules()).filter((r) => r.comment?.startsWith(prefix) === true);
    const comment = nftComment(a.network, a.ifname, a.containerId);
    const t = `inet ${NFT_TABLE}`;
    const lines = [
      `add table ${t} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
      `add chain ${t} ${NFT_MASQ_CHAIN} { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
      `add chain ${t} postrouting { type nat hook postrouting priority srcnat ; }`,
      `flush chain ${t} postrouting`,
      `add rule ${t} postrouting ip daddr == 224.0.0.0/4 return`,
      `add rule ${t} postrouting ip6 daddr == ff00::/8 return`,
      `add rule ${t} postrouting goto ${NFT_MASQ_CHAIN}`,
      ...stale.map((r) => `delete rule ${t} ${NFT_MASQ_CHAIN} handle ${r.handle}`),
      ...addrs.map((addr) => {
        const ip = addr.family === 4 ? 'ip' : 'ip6';
        return `add rule ${t} ${NFT_MASQ_CHAIN} ${ip} saddr == ${addr.cidr.split('/')[0]!} ${ip} daddr != ${networkOf(addr.cidr)} masquerade comment "${comment}"`;
      }),
    ];
    await this.script(`${lines.join('\n')}\n`);
  }

  private async deleteRules(rules: readonly NftRule[]): Promise<void> {
    if (rules.length === 0) return;
    await this.script(`${rules.map((r) => `delete rule inet ${NFT_TABLE} ${NFT_MASQ_CHAIN} handle ${r.handle}`).join('\n')}\n`);
  }

  async teardown(a: MasqAttachment): Promise<void> {
    const prefix = nftInstanceHash(a.network, a.ifname, a.containerId);
    await this.deleteRules((await this.rules()).filter((r) => r.comment?.startsWith(prefix) === true));
  }

  async check(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<string[]> {
    const comment = nftComment(a.network, a.ifname, a.containerId);
    const have = (await this.rules()).filter((r) => r.comment === comment).length;
    return have >= addrs.length ? [] : [`nftables: ${addrs.length - have} of ${addrs.length} masquerade rules missing in inet ${NFT_TABLE} ${NFT_MASQ_CHAIN}`];
  }

  async gc(network: string, valid: readonly GcAttachment[]): Promise<void> {
    const prefix = nftNetworkHash(network);
    const keep = new Set(valid.map((v) => nftComment(network, v.ifname, v.containerId)));
    await this.deleteRules((await this.rules()).filter((r) => r.comment?.startsWith(prefix) === true && !keep.has(r.comment)));
  }
}
