/**
 * The pure part of portmap: chain names, the iptables rules (as argument
 * arrays, exactly the reference's, so that `iptables -C` of either
 * implementation matches the other's rules) and the nftables script, all
 * computed from the configuration and one container address.
 * (containernetworking/plugins plugins/meta/portmap portmap_iptables.go
 * fillDnatRules, genSetMarkChain, genMarkMasqChain, portmap_nftables.go.)
 */
import { bits, parseIp } from '../../lib/ip.ts';
import { PRIORITY, type Op, type Rule, type Stmt, type Table } from '../../lib/nft/types.ts';
import { sha512Hex } from '../../lib/sha512.ts';
import type { ContainerIp, PortMapConfig, PortMapping } from './config.ts';

// ---------------------------------------------------------------- iptables names

export const TOP_DNAT_CHAIN = 'CNI-HOSTPORT-DNAT';
export const SETMARK_CHAIN = 'CNI-HOSTPORT-SETMARK';
export const MASQ_CHAIN = 'CNI-HOSTPORT-MASQ';
export const OLD_SNAT_CHAIN = 'CNI-HOSTPORT-SNAT';
const MAX_CHAIN_LENGTH = 28;
const MAX_COMMENT_LENGTH = 255;

/** "CNI-" + prefix + hex(SHA-512(network + containerID)), cut to 28 characters (pkg/utils MustFormatChainNameWithPrefix). */
export function chainName(network: string, containerId: string, prefix: 'DN-' | 'SN-'): string {
  return `CNI-${prefix}${sha512Hex(network + containerId)}`.slice(0, MAX_CHAIN_LENGTH);
}

/** `dnat name: "<net>" id: "<cid>"`, plain text (no escaping), cut to iptables' 255 characters. */
export function dnatComment(network: string, containerId: string): string {
  const c = `dnat name: "${network}" id: "${containerId}"`;
  return c.length <= MAX_COMMENT_LENGTH ? c : `${c.slice(0, MAX_COMMENT_LENGTH - 3)}...`;
}

/** The network and container ID of a comment made by dnatComment (undefined for anything else or a cut one). */
export function parseDnatComment(comment: string): { network: string; containerId: string } | undefined {
  const m = /^dnat name: "([^"]*)" id: "([^"]*)"$/.exec(comment);
  return m === null ? undefined : { network: m[1]!, containerId: m[2]! };
}

/** Go's %#x/%#x of 1<<bit: "0x2000/0x2000". */
export function markDef(bit: number): string {
  const v = `0x${(2 ** bit).toString(16)}`;
  return `${v}/${v}`;
}

// ---------------------------------------------------------------- iptables rules

/** A rule of the nat table: the chain it is in and its arguments after the chain name. */
export interface ChainRule {
  chain: string;
  args: string[];
}

/** The jump from PREROUTING and OUTPUT to CNI-HOSTPORT-DNAT (appended, once). */
export const TOP_DNAT_ENTRY = ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', TOP_DNAT_CHAIN];
export const TOP_DNAT_ENTRY_CHAINS = ['PREROUTING', 'OUTPUT'] as const;

export function setMarkRule(bit: number): string[] {
  return ['-m', 'comment', '--comment', 'CNI portfwd masquerade mark', '-j', 'MARK', '--set-xmark', markDef(bit)];
}

export function masqRule(bit: number): string[] {
  return ['-m', 'mark', '--mark', markDef(bit), '-j', 'MASQUERADE'];
}

/** Inserted at the top of POSTROUTING so that the bridge's and ptp's masquerade rules do not win. */
export const POSTROUTING_MASQ_ENTRY = ['-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', MASQ_CHAIN];

/** Protocols sorted as Go's sort.Strings, each with its host ports in input order, in chunks of 15 (multiport's limit). */
export function portGroups(mappings: readonly PortMapping[]): { protocol: string; ports: number[] }[] {
  const byProto = new Map<string, number[]>();
  for (const m of mappings) {
    const list = byProto.get(m.protocol) ?? [];
    list.push(m.hostPort);
    byProto.set(m.protocol, list);
  }
  const out: { protocol: string; ports: number[] }[] = [];
  for (const protocol of [...byProto.keys()].sort()) {
    const ports = byProto.get(protocol)!;
    for (let i = 0; i < ports.length; i += 15) out.push({ protocol, ports: ports.slice(i, i + 15) });
  }
  return out;
}

/** `ip:port`, `[ip6]:port`. */
export function ipPort(c: ContainerIp, port: number): string {
  return c.family === 6 ? `[${c.ip}]:${port}` : `${c.ip}:${port}`;
}

export interface DnatPlan {
  /** CNI-DN-<hash> */
  chain: string;
  /** The jumps in CNI-HOSTPORT-DNAT (their arguments, `-j <chain>` included), in order. */
  entries: string[][];
  /** The rules of the per-container chain, in order. */
  rules: string[][];
}

/** The per-container chain and its jumps for one container address (the reference's fillDnatRules). */
export function planDnat(cfg: PortMapConfig, containerId: string, c: ContainerIp): DnatPlan {
  const chain = chainName(cfg.name, containerId, 'DN-');
  const comment = dnatComment(cfg.name, containerId);
  const conditions = c.family === 6 ? cfg.conditionsV6 : cfg.conditionsV4;
  const entries = portGroups(cfg.mappings).map((g) => [
    '-m', 'comment', '--comment', comment,
    '-m', 'multiport', '-p', g.protocol, '--destination-ports', g.ports.join(','),
    ...conditions,
    '-j', chain,
  ]);
  const markChain = cfg.externalSetMarkChain ?? SETMARK_CHAIN;
  const rules: string[][] = [];
  for (const m of cfg.mappings) {
    if (m.hostFamily !== undefined && m.hostFamily !== c.family) continue;
    const base = ['-p', m.protocol, '--dport', String(m.hostPort), ...(m.hostIp === undefined ? [] : ['-d', m.hostIp])];
    if (cfg.snat) {
      const source = cfg.masqAll ? (c.family === 6 ? '::/0' : '0.0.0.0/0') : c.cidr;
      rules.push([...base, '-s', source, '-j', markChain]);
      if (c.family === 4 && !cfg.masqAll) rules.push([...base, '-s', '127.0.0.1', '-j', markChain]);
    }
    rules.push([...base, '-j', 'DNAT', '--to-destination', ipPort(c, m.containerPort)]);
  }
  return { chain, entries, rules };
}

/** Whether the shared SETMARK/MASQ chains are ours to make. */
export function ownsMarkChains(cfg: PortMapConfig): boolean {
  return cfg.snat && cfg.externalSetMarkChain === undefined;
}

// ---------------------------------------------------------------- nftables

export const NFT_TABLE = 'cni_hostport';
export const NFT_CHAINS = ['hostports', 'hostip_hostports', 'masquerading'] as const;

export const nftTable = (f: 4 | 6): Table => ({ family: f === 4 ? 'ip' : 'ip6', name: NFT_TABLE, comment: 'CNI portmap plugin' });

/** The rules of one container address in `hostports` and `masquerading` (the reference's v1.9 layout). */
export function planNftRules(cfg: PortMapConfig, containerId: string, c: ContainerIp): Rule[] {
  const proto = c.family === 4 ? 'ip' : 'ip6';
  const ip = parseIp(c.ip);
  if (ip === undefined) throw new Error(`invalid container address ${c.ip}`);
  const host = { ip, prefix: bits(ip.family) };
  const out: Rule[] = [];
  for (const m of cfg.mappings) {
    if (m.hostFamily !== undefined && m.hostFamily !== c.family) continue;
    const stmts: Stmt[] = [];
    if (m.hostIp !== undefined) {
      const h = parseIp(m.hostIp)!;
      stmts.push({ kind: 'addr', proto, field: 'daddr', op: '==', net: { ip: h, prefix: bits(h.family) } });
    }
    stmts.push({ kind: 'port', proto: m.protocol, field: 'dport', op: '==', port: m.hostPort }, { kind: 'dnat', addr: ip, port: m.containerPort });
    out.push({ chain: 'hostports', stmts, comment: containerId });
  }
  if (cfg.snat && cfg.mappings.some((m) => m.hostFamily === undefined || m.hostFamily === c.family)) {
    const toPod: Stmt = { kind: 'addr', proto, field: 'daddr', op: '==', net: host };
    if (cfg.masqAll) {
      out.push({ chain: 'masquerading', stmts: [toPod, { kind: 'masquerade' }], comment: containerId });
    } else {
      out.push({ chain: 'masquerading', stmts: [{ kind: 'addr', proto, field: 'saddr', op: '==', net: host }, toPod, { kind: 'masquerade' }], comment: containerId });
      if (c.family === 4) {
        const lo = { ip: parseIp('127.0.0.1')!, prefix: 32 };
        out.push({ chain: 'masquerading', stmts: [{ kind: 'addr', proto, field: 'saddr', op: '==', net: lo }, toPod, { kind: 'masquerade' }], comment: containerId });
      }
    }
  }
  return out;
}

/**
 * One transaction for one family: the table and chains (the shared
 * `prerouting`, `output` and `hostports_all` rewritten, as the reference
 * does on every ADD), the deletion of this container's earlier rules (by
 * handle), and its new rules.
 */
export function nftAddOps(cfg: PortMapConfig, containerId: string, c: ContainerIp, staleHandles: readonly { chain: string; handle: number }[]): Op[] {
  const conds = c.family === 6 ? cfg.nftConditionsV6 : cfg.nftConditionsV4;
  const entry: Stmt[] = [...conds, { kind: 'fibDaddrLocal' }, { kind: 'jump', chain: 'hostports_all' }];
  const ops: Op[] = [
    { op: 'addTable', table: nftTable(c.family) },
    { op: 'addChain', chain: { name: 'hostports' } },
    { op: 'addChain', chain: { name: 'hostip_hostports' } },
    { op: 'addChain', chain: { name: 'hostports_all' } },
    { op: 'flushChain', chain: 'hostports_all' },
    { op: 'addRule', rule: { chain: 'hostports_all', stmts: [{ kind: 'jump', chain: 'hostip_hostports' }] } },
    { op: 'addRule', rule: { chain: 'hostports_all', stmts: [{ kind: 'jump', chain: 'hostports' }] } },
    { op: 'addChain', chain: { name: 'prerouting', base: { type: 'nat', hook: 'prerouting', priority: PRIORITY.dstnat } } },
    { op: 'flushChain', chain: 'prerouting' },
    { op: 'addRule', rule: { chain: 'prerouting', stmts: entry } },
    { op: 'addChain', chain: { name: 'output', base: { type: 'nat', hook: 'output', priority: PRIORITY.dstnat } } },
    { op: 'flushChain', chain: 'output' },
    { op: 'addRule', rule: { chain: 'output', stmts: entry } },
  ];
  if (cfg.snat) ops.push({ op: 'addChain', chain: { name: 'masquerading', base: { type: 'nat', hook: 'postrouting', priority: PRIORITY.srcnat } } });
  for (const s of staleHandles) ops.push({ op: 'deleteRule', chain: s.chain, handle: s.handle });
  for (const rule of planNftRules(cfg, containerId, c)) ops.push({ op: 'addRule', rule });
  return ops;
}

/** UDP host ports whose stale conntrack entries ADD flushes, per family of the container's addresses. */
export function udpPortsToFlush(cfg: PortMapConfig, family: 4 | 6): number[] {
  const ports = cfg.mappings.filter((m) => m.protocol === 'udp' && (m.hostFamily === undefined || m.hostFamily === family)).map((m) => m.hostPort);
  return [...new Set(ports)];
}
