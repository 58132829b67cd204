/**
 * The portmap plugin's configuration, read once into a typed value with the
 * reference's keys, defaults, checks and messages (containernetworking/plugins
 * plugins/meta/portmap main.go parseConfig and ensureBackend), and the
 * container addresses taken from prevResult. Every mistake is code 7.
 */
import { type NetConf, validateConf } from '../../lib/cni/conf.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { parsePrevResult } from '../../lib/cni/types/convert.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { formatIp, parseCidr, parseIp } from '../../lib/ip.ts';
import type { Stmt } from '../../lib/nft/types.ts';
import { portmapSchema } from '../../build/gen/schemas.mjs';
import { checkIptablesConditions, parseNftConditions } from './conditions.ts';
import { validatePortmap } from '../../build/gen/validators.mjs';

export type BackendName = 'iptables' | 'nftables';
export type Protocol = 'tcp' | 'udp' | 'sctp';
type Nullable<T> = T | null | undefined;

interface RawMapping {
  hostPort: number;
  containerPort: number;
  protocol?: Nullable<string>;
  hostIP?: Nullable<string>;
}
interface RawAttachment {
  containerID: string;
  ifname: string;
}

type RawPortMapConf = NetConf & {
  snat?: Nullable<boolean>;
  masqAll?: Nullable<boolean>;
  markMasqBit?: Nullable<number>;
  externalSetMarkChain?: Nullable<string>;
  conditionsV4?: Nullable<string[]>;
  conditionsV6?: Nullable<string[]>;
  backend?: Nullable<string>;
  runtimeConfig?: Nullable<NetConf['runtimeConfig'] & { portMappings?: Nullable<RawMapping[]> }>;
  'cni.dev/valid-attachments'?: Nullable<RawAttachment[]>;
  'cni.dev/attachments'?: Nullable<RawAttachment[]>;
};

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
  /** Normalised host address; undefined when unset or unspecified (0.0.0.0, ::). */
  hostIp: string | undefined;
  /** Family of `hostIP` when one was given (an unspecified one too): the mapping only applies to that family. */
  hostFamily: 4 | 6 | undefined;
}

/** A container address from prevResult, with its prefix: "10.244.1.5/24". */
export interface ContainerIp {
  family: 4 | 6;
  /** "10.244.1.5" */
  ip: string;
  /** "10.244.1.5/24", host bits kept */
  cidr: string;
}

export interface Attachment {
  containerId: string;
  ifName: string;
}

export interface PortMapConfig {
  name: string;
  cniVersion: string;
  snat: boolean;
  masqAll: boolean;
  /** The mark bit (13 unless set); undefined with externalSetMarkChain. */
  markMasqBit: number | undefined;
  externalSetMarkChain: string | undefined;
  /** iptables conditions: arguments of the CNI-HOSTPORT-DNAT jumps (empty when the conditions are nftables ones). */
  conditionsV4: string[];
  conditionsV6: string[];
  /** nftables conditions, parsed into match statements (empty when the conditions are iptables ones). */
  nftConditionsV4: Stmt[];
  nftConditionsV6: Stmt[];
  /** Configured backend; undefined: chosen at run time (or implied by backend-specific keys). */
  backend: BackendName | undefined;
  mappings: PortMapping[];
  /** prevResult, when given. */
  prevResult: Result | undefined;
  /** The first IPv4 and first IPv6 address of the container interface in prevResult. */
  containerIps: ContainerIp[];
  validAttachments: Attachment[] | undefined;
}

export const DEFAULT_MARK_BIT = 13;

const invalid = (msg: string): CniError => new CniError(CniCode.InvalidNetworkConfig, msg);

const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'sctp'];

function parseMapping(raw: RawMapping): PortMapping {
  // a port left out is Go's zero value, refused as 0 (the schema checks only the types)
  const m = { ...raw, hostPort: (raw.hostPort as number | undefined) ?? 0, containerPort: (raw.containerPort as number | undefined) ?? 0 };
  if (m.containerPort <= 0 || m.containerPort > 65535) throw invalid(`Invalid container port number: ${m.containerPort}`);
  if (m.hostPort <= 0 || m.hostPort > 65535) throw invalid(`Invalid host port number: ${m.hostPort}`);
  const proto = (m.protocol ?? '').toLowerCase();
  if (!PROTOCOLS.includes(proto)) throw invalid(`Invalid protocol ${JSON.stringify(m.protocol ?? '')} for host port ${m.hostPort}: must be tcp, udp or sctp`);
  let hostIp: string | undefined;
  let hostFamily: 4 | 6 | undefined;
  const hostText = m.hostIP ?? '';
  if (hostText !== '') {
    const ip = parseIp(hostText);
    if (ip === undefined) throw invalid(`Invalid host IP ${JSON.stringify(hostText)} for host port ${m.hostPort}`);
    hostFamily = ip.family;
    if (ip.value !== 0n) hostIp = formatIp(ip);
  }
  return { hostPort: m.hostPort, containerPort: m.containerPort, protocol: proto as Protocol, hostIp, hostFamily };
}

/** iptables' chain name limit (XT_EXTENSION_MAXNAMELEN - 1). */
const IPTABLES_CHAIN_MAX = 28;

/** An iptables chain name given in the configuration: one restore argument, no option, no line break. */
function checkChainName(key: string, name: string): void {
   
  if (name === '' || name.length > IPTABLES_CHAIN_MAX || /[\s"'\x00-\x1f\x7f]/.test(name) || name.startsWith('-') || name.startsWith('!')) {
    throw invalid(`invalid ${key} ${JSON.stringify(name)}: an iptables chain name of 1-${IPTABLES_CHAIN_MAX} characters without spaces, quotes or control characters, not starting with - or !`);
  }
}

/**
 * Which backend a list of conditions is for, by its first entry as the
 * reference decides (an iptables condition starts with "-" or "!"; an nft
 * one never does); undefined for none (an empty first entry included).
 */
export function conditionsBackend(entries: readonly string[]): BackendName | undefined {
  const first = entries[0];
  if (first === undefined || first === '') return undefined;
  return first.startsWith('-') || first.startsWith('!') ? 'iptables' : 'nftables';
}

/**
 * The first IPv4 and the first IPv6 address whose interface is the container
 * interface `ifName` (with a sandbox) or is not given (the reference's rule).
 */
export function selectContainerIps(prev: Result | undefined, ifName: string): ContainerIp[] {
  if (prev === undefined) return [];
  const out: ContainerIp[] = [];
  const interfaces = prev.interfaces ?? [];
  for (const ipc of prev.ips ?? []) {
    const idx = ipc.interface;
    if (idx !== undefined && idx >= 0 && idx < interfaces.length) {
      const intf = interfaces[idx]!;
      if (intf.name !== ifName || (intf.sandbox ?? '') === '') continue;
    }
    const net = parseCidr(ipc.address);
    if (net === undefined) continue;
    if (out.some((c) => c.family === net.ip.family)) continue;
    const ip = formatIp(net.ip);
    out.push({ family: net.ip.family, ip, cidr: `${ip}/${net.prefix}` });
  }
  return out;
}

export interface LoadOptions {
  /** DEL and GC: a value check that fails drops the mapping or key instead of failing, so a pod is never stuck. */
  teardown?: boolean;
}

function conflicts(raw: RawPortMapConf): { iptables: string[]; nftables: string[] } {
  const ipt: string[] = [];
  const nft: string[] = [];
  if (raw.markMasqBit !== null && raw.markMasqBit !== undefined) ipt.push('markMasqBit');
  if (raw.externalSetMarkChain !== null && raw.externalSetMarkChain !== undefined) ipt.push('externalSetMarkChain');
  for (const key of ['conditionsV4', 'conditionsV6'] as const) {
    const b = conditionsBackend(raw[key] ?? []);
    if (b === 'iptables') ipt.push(key);
    else if (b === 'nftables') nft.push(key);
  }
  return { iptables: ipt, nftables: nft };
}

export function loadPortMapConfig(netConf: NetConf, ifName: string, opts: LoadOptions = {}): PortMapConfig {
  const raw = validateConf<RawPortMapConf>(netConf, portmapSchema, validatePortmap);
  const lenient = opts.teardown === true;

  const external = raw.externalSetMarkChain ?? undefined;
  let markMasqBit: number | undefined = raw.markMasqBit ?? undefined;
  if (!lenient) {
    if (external !== undefined && markMasqBit !== undefined) throw invalid('Cannot specify externalSetMarkChain and markMasqBit');
    if (markMasqBit !== undefined && (markMasqBit < 0 || markMasqBit > 31)) throw invalid('MasqMarkBit must be between 0 and 31');
  }
  if (external !== undefined) markMasqBit = undefined;
  else if (markMasqBit === undefined || markMasqBit < 0 || markMasqBit > 31) markMasqBit = DEFAULT_MARK_BIT;

  let backend: BackendName | undefined;
  const b = raw.backend ?? undefined;
  const c = conflicts(raw);
  if (b === 'iptables' || b === 'nftables') backend = b;
  else if (b !== undefined && !lenient) throw invalid(`unrecognized backend ${JSON.stringify(b)}`);
  if (!lenient) {
    if (backend === 'nftables' && c.iptables.length > 0) throw invalid(`nftables backend was requested but configuration contains iptables-specific options [${c.iptables.join(' ')}]`);
    if (backend === 'iptables' && c.nftables.length > 0) throw invalid(`iptables backend was requested but configuration contains nftables-specific options [${c.nftables.join(' ')}]`);
    if (backend === undefined && c.iptables.length > 0 && c.nftables.length > 0) {
      throw invalid(`configuration contains both iptables-specific options [${c.iptables.join(' ')}] and nftables-specific options [${c.nftables.join(' ')}]`);
    }
  }
  if (backend === undefined) {
    if (c.iptables.length > 0) backend = 'iptables';
    else if (c.nftables.length > 0) backend = 'nftables';
  }

  const mappings: PortMapping[] = [];
  for (const m of raw.runtimeConfig?.portMappings ?? []) {
    try {
      mappings.push(parseMapping(m));
    } catch (err) {
      if (!lenient) throw err;
    }
  }

  let prevResult: Result | undefined;
  try {
    prevResult = parsePrevResult(netConf);
  } catch (err) {
    if (!lenient) throw err;
  }

  // DEL and GC need no conditions (rules are found by name and comment): a bad one must not block them
  const conds = { conditionsV4: [] as string[], conditionsV6: [] as string[], nftConditionsV4: [] as Stmt[], nftConditionsV6: [] as Stmt[] };
  if (!lenient) {
    for (const key of ['conditionsV4', 'conditionsV6'] as const) {
      const entries = raw[key] ?? [];
      const kind = conditionsBackend(entries);
      if (kind === 'iptables') conds[key] = checkIptablesConditions(key, entries);
      else if (kind === 'nftables') conds[key === 'conditionsV4' ? 'nftConditionsV4' : 'nftConditionsV6'] = parseNftConditions(key, entries);
      // the reference cannot tell their backend and passes them on as they are; we refuse them
      else if (entries.some((e) => e !== '')) throw invalid(`invalid ${key}[0] "": the first condition decides the backend and must not be empty`);
    }
    if (external !== undefined) checkChainName('externalSetMarkChain', external);
  }

  const lists = [raw['cni.dev/valid-attachments'], raw['cni.dev/attachments']].filter((l): l is RawAttachment[] => l !== null && l !== undefined);
  return {
    name: raw.name,
    cniVersion: raw.cniVersion,
    snat: raw.snat !== false,
    masqAll: raw.masqAll === true,
    markMasqBit,
    externalSetMarkChain: external,
    ...conds,
    backend,
    mappings,
    prevResult,
    containerIps: selectContainerIps(prevResult, ifName),
    validAttachments: lists.length === 0 ? undefined : lists.flat().map((a) => ({ containerId: a.containerID, ifName: a.ifname })),
  };
}
