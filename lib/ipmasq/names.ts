/**
 * The names the reference gives masquerade rules (containernetworking/plugins
 * pkg/utils, pkg/ip/ipmasq_*), so that rules made by the Go bridge are found
 * and removed by ours and the reverse.
 */
import { sha512Hex } from '../sha512.ts';

const MAX_CHAIN_LENGTH = 28;
/** knftables.CommentLengthMax */
const NFT_COMMENT_MAX = 128;

function hashWithPrefix(length: number, prefix: string, toHash: string): string {
  // our own SHA-512: loading node:crypto for this one hash cost ~8 ms per run
  return `${prefix}${sha512Hex(toHash)}`.slice(0, length);
}

/** iptables chain: "CNI-" + 24 hex of SHA-512(network + containerID). */
export function iptablesChainName(network: string, containerId: string): string {
  return hashWithPrefix(MAX_CHAIN_LENGTH, 'CNI-', network + containerId);
}

/** Go's %q of a plain string: JSON quoting matches it for printable ASCII. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** xt_comment holds 255 bytes and a NUL; iptables keeps the first 255 (what the Go bridge ends up with), iptables-restore refuses longer. */
export const IPTABLES_COMMENT_MAX = 255;

/** iptables comment: name: "<network>" id: "<containerID>" (the ifname is not in it, for historical reasons), cut at 255 bytes as the rule ends up under the Go bridge. */
export function iptablesComment(network: string, containerId: string): string {
  const full = `name: ${goQuote(network)} id: ${goQuote(containerId)}`;
  const bytes = Buffer.from(full);
  return bytes.length <= IPTABLES_COMMENT_MAX ? full : bytes.subarray(0, IPTABLES_COMMENT_MAX).toString('utf8').replace(/\uFFFD$/, '');
}

export function nftNetworkHash(network: string): string {
  return hashWithPrefix(16, '', network);
}

export function nftInstanceHash(network: string, ifname: string, containerId: string): string {
  return `${nftNetworkHash(network)}-${hashWithPrefix(16, '', `${ifname}:${containerId}`)}`;
}

/** nftables comment: "<hash16(net)>-<hash16(if:id)>, net: N, if: I, id: C", quotes dropped, at most 128 bytes. */
export function nftComment(network: string, ifname: string, containerId: string): string {
  const strip = (s: string): string => s.replaceAll('"', '');
  const full = `${nftInstanceHash(network, ifname, containerId)}, net: ${strip(network)}, if: ${strip(ifname)}, id: ${strip(containerId)}`;
  return full.length > NFT_COMMENT_MAX ? full.slice(0, NFT_COMMENT_MAX) : full;
}

export const NFT_TABLE = 'cni_plugins_masquerade';
export const NFT_MASQ_CHAIN = 'masq_checks';
