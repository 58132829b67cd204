/**
 * Masquerade with nftables, as the reference (pkg/ip/ipmasq_nftables_linux.go):
 * table `inet cni_plugins_masquerade`, a `postrouting` nat chain rewritten on
 * every ADD (multicast returns, then goto masq_checks), and one rule per
 * address in `masq_checks` whose comment starts with a hash of (network) and
 * of (ifname:containerID), so that teardown and GC find rules by comment.
 * Through nf_tables netlink in our process (lib/nft): one listing and one
 * transaction per change, no `nft` program.
 */
import { Nft, type DecodedRule, type Op, type Rule, type Stmt, type Table } from '../nft/index.ts';
import { PRIORITY } from '../nft/types.ts';
import { NFT_MASQ_CHAIN, NFT_TABLE, nftComment, nftInstanceHash, nftNetworkHash } from './names.ts';
import type { GcAttachment, MasqAddress, MasqAttachment, MasqBackend } from './types.ts';
import { formatCidr, networkAddress, parseCidr } from '../ip.ts';

/** "10.244.1.5/24" → "10.244.1.0/24" (the pod's subnet), printed as Go prints it. */
export function networkOf(cidr: string): string {
  const net = parseCidr(cidr);
  if (net === undefined) throw new Error(`invalid CIDR ${cidr}`);
  return formatCidr({ ip: networkAddress(net), prefix: net.prefix });
}

export const MASQ_TABLE: Table = { family: 'inet', name: NFT_TABLE, comment: 'Masquerading for plugins from github.com/containernetworking/plugins' };

const multicast = (proto: 'ip' | 'ip6', cidr: string): Stmt => ({ kind: 'addr', proto, field: 'daddr', op: '==', net: parseCidr(cidr)! });

/** The rule of one address: `ip saddr == <ip> ip daddr != <subnet> masquerade comment "<comment>"` (pure). */
export function masqRule(addr: MasqAddress, comment: string): Rule {
  const net = parseCidr(addr.cidr);
  if (net === undefined) throw new Error(`invalid CIDR ${addr.cidr}`);
  const proto = net.ip.family === 4 ? 'ip' : 'ip6';
  const stmts: Stmt[] = [
    { kind: 'addr', proto, field: 'saddr', op: '==', net: { ip: net.ip, prefix: net.ip.family === 4 ? 32 : 128 } },
    { kind: 'addr', proto, field: 'daddr', op: '!=', net: { ip: networkAddress(net), prefix: net.prefix } },
    { kind: 'masquerade' },
  ];
  return { chain: NFT_MASQ_CHAIN, stmts, comment };
}

/** The transaction of a setup (pure): table, chains, the rewritten postrouting chain, stale rules out, new rules in. */
export function masqSetupOps(a: MasqAttachment, addrs: readonly MasqAddress[], stale: readonly { handle: number }[]): Op[] {
  const comment = nftComment(a.network, a.ifname, a.containerId);
  return [
    { op: 'addTable', table: MASQ_TABLE },
    { op: 'addChain', chain: { name: NFT_MASQ_CHAIN, comment: 'Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet' } },
    { op: 'addChain', chain: { name: 'postrouting', base: { type: 'nat', hook: 'postrouting', priority: PRIORITY.srcnat } } },
    { op: 'flushChain', chain: 'postrouting' },
    { op: 'addRule', rule: { chain: 'postrouting', stmts: [multicast('ip', '224.0.0.0/4'), { kind: 'return' }] } },
    { op: 'addRule', rule: { chain: 'postrouting', stmts: [multicast('ip6', 'ff00::/8'), { kind: 'return' }] } },
    { op: 'addRule', rule: { chain: 'postrouting', stmts: [{ kind: 'goto', chain: NFT_MASQ_CHAIN }] } },
    ...stale.map((r): Op => ({ op: 'deleteRule', chain: NFT_MASQ_CHAIN, handle: r.handle })),
    ...addrs.map((addr): Op => ({ op: 'addRule', rule: masqRule(addr, comment) })),
  ];
}

export class NftablesMasq implements MasqBackend {
  readonly name = 'nftables';
  constructor(private readonly nft: Nft = new Nft()) {}

  /** The rules of masq_checks with their handles and comments; [] when the table or chain does not exist. */
  private rules(): Promise<DecodedRule[]> {
    return this.nft.rules('inet', NFT_TABLE, NFT_MASQ_CHAIN);
  }

  usable(): Promise<boolean> {
    return this.nft.available();
  }

  async setup(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<void> {
    const prefix = nftInstanceHash(a.network, a.ifname, a.containerId);
    const stale = (await this.rules()).filter((r) => r.comment?.startsWith(prefix) === true);
    await this.nft.apply(MASQ_TABLE, masqSetupOps(a, addrs, stale));
  }

  private async deleteRules(rules: readonly DecodedRule[]): Promise<void> {
    await this.nft.apply(MASQ_TABLE, rules.map((r) => ({ op: 'deleteRule', chain: NFT_MASQ_CHAIN, handle: r.handle })));
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
