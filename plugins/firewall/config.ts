/**
 * The firewall plugin's configuration, read once into a typed value with the
 * reference's keys and defaults (containernetworking/plugins
 * plugins/meta/firewall firewall.go FirewallNetConf, parseConf), the pod's
 * addresses taken from prevResult, and every string that will reach an
 * iptables-restore batch checked against a strict alphabet (code 7): a chain
 * name or interface name with a quote, a newline or a leading "-" could
 * otherwise add rules of its own.
 */
import { type NetConf, validateConf } from '../../lib/cni/conf.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { parsePrevResult } from '../../lib/cni/types/convert.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { formatIp, parseIpMaybePrefix } from '../../lib/ip.ts';
import { firewallSchema } from '../../build/gen/schemas.mjs';
import { validateFirewall } from '../../build/gen/validators.mjs';

export type BackendName = 'iptables' | 'firewalld';
export type IngressPolicy = 'open' | 'same-bridge' | 'isolated';
type Nullable<T> = T | null | undefined;

interface RawAttachment {
  containerID: string;
  ifname: string;
}

type RawFirewallConf = NetConf & {
  backend?: Nullable<string>;
  iptablesAdminChainName?: Nullable<string>;
  firewalldZone?: Nullable<string>;
  ingressPolicy?: Nullable<string>;
  dataDir?: Nullable<string>;
  'cni.dev/valid-attachments'?: Nullable<RawAttachment[]>;
  'cni.dev/attachments'?: Nullable<RawAttachment[]>;
};

/** One pod address as the rules name it: "10.88.0.2/32", "fd00::2/128". */
export interface HostAddress {
  family: 4 | 6;
  cidr: string;
}

export interface Attachment {
  containerId: string;
  ifName: string;
}

export interface FirewallConfig {
  name: string;
  cniVersion: string;
  /** Configured backend; undefined: firewalld when it runs, else iptables (the reference's choice). */
  backend: BackendName | undefined;
  adminChain: string;
  firewalldZone: string;
  ingressPolicy: IngressPolicy;
  /** Where the attachment records live (DEL without prevResult, GC). */
  dataDir: string;
  prevResult: Result | undefined;
  /** Every address of prevResult, in its order, as a host prefix (the reference takes all of them). */
  addresses: HostAddress[];
  /** The first interface of prevResult (the bridge, when chained after bridge): the ingress policy's subject. */
  bridgeName: string | undefined;
  validAttachments: Attachment[] | undefined;
}

export const PRIV_CHAIN = 'CNI-FORWARD';
export const DEFAULT_ADMIN_CHAIN = 'CNI-ADMIN';
export const DEFAULT_DATA_DIR = '/var/lib/cni/firewall';

const invalid = (msg: string): CniError => new CniError(CniCode.InvalidNetworkConfig, msg);

/** Names iptables has for itself: a jump to one of them would not be a jump to a chain of ours. */
const RESERVED = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE', 'REJECT', 'LOG', 'INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING', PRIV_CHAIN]);

/**
 * A user chain name that is safe on an iptables-restore line: 1-28 characters
 * (the kernel's limit), letters, digits, `_`, `-`, `.`, not starting with `-`
 * or `!`, not a built-in chain or target, and not CNI-FORWARD (a loop).
 */
export function checkChainName(name: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$/.test(name)) {
    throw invalid(`invalid iptablesAdminChainName ${JSON.stringify(name)}: a chain name is 1 to 28 letters, digits, "_", "-" or "." and does not start with "-" or "."`);
  }
  if (RESERVED.has(name.toUpperCase())) throw invalid(`invalid iptablesAdminChainName ${JSON.stringify(name)}: it names a built-in chain or target, or the plugin's own ${PRIV_CHAIN}`);
}

/**
 * An interface name that is safe as an iptables `-i`/`-o` argument: what the
 * kernel accepts (1-15 characters, no "/", no space) narrowed to letters,
 * digits, `_`, `-`, `.`, not starting with `-` (and no `+`, iptables' wildcard).
 */
export function checkInterfaceName(name: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(name)) {
    throw invalid(`invalid interface name ${JSON.stringify(name)} in prevResult for the ingress policy: 1 to 15 letters, digits, "_", "-" or "." expected`);
  }
}

/** The reference's ipString: the address with /32 or /128, whatever prefix prevResult had. */
export function hostAddresses(prev: Result | undefined): HostAddress[] {
  const out: HostAddress[] = [];
  for (const ipc of prev?.ips ?? []) {
    const ip = parseIpMaybePrefix(ipc.address);
    if (ip === undefined) continue;
    out.push({ family: ip.family, cidr: `${formatIp(ip)}/${ip.family === 4 ? 32 : 128}` });
  }
  return out;
}

export interface LoadOptions {
  /** DEL and GC: a bad value is left at its default instead of failing, so a pod is never stuck. */
  teardown?: boolean;
}

export function loadFirewallConfig(netConf: NetConf, opts: LoadOptions = {}): FirewallConfig {
  const raw = validateConf<RawFirewallConf>(netConf, firewallSchema, validateFirewall);
  const lenient = opts.teardown === true;

  let backend: BackendName | undefined;
  const b = raw.backend ?? '';
  if (b === 'iptables' || b === 'firewalld') backend = b;
  // the reference falls back to its default for any other value; we refuse a typo at ADD
  else if (b !== '' && !lenient) throw invalid(`unknown backend ${JSON.stringify(b)}: "iptables" or "firewalld" expected`);

  let adminChain = raw.iptablesAdminChainName ?? '';
  if (adminChain === '') adminChain = DEFAULT_ADMIN_CHAIN;
  try {
    checkChainName(adminChain);
  } catch (err) {
    // DEL and GC never put an unchecked name on a restore line: they fall back to the default
    if (!lenient) throw err;
    adminChain = DEFAULT_ADMIN_CHAIN;
  }

  let ingressPolicy: IngressPolicy = 'open';
  const p = raw.ingressPolicy ?? '';
  if (p === 'same-bridge' || p === 'isolated') ingressPolicy = p;
  else if (p !== '' && p !== 'open' && !lenient) throw invalid(`unknown ingress policy: ${JSON.stringify(p)}`);

  const dataDir = raw.dataDir ?? '';
  if (dataDir !== '' && !dataDir.startsWith('/')) throw invalid(`dataDir ${JSON.stringify(dataDir)} must be an absolute path`);

  let prevResult: Result | undefined;
  try {
    prevResult = parsePrevResult(netConf);
  } catch (err) {
    if (!lenient) throw err;
  }

  const first = prevResult?.interfaces?.[0]?.name;
  const lists = [raw['cni.dev/valid-attachments'], raw['cni.dev/attachments']].filter((l): l is RawAttachment[] => l !== null && l !== undefined);
  return {
    name: raw.name,
    cniVersion: raw.cniVersion,
    backend,
    adminChain,
    firewalldZone: (raw.firewalldZone ?? '') === '' ? 'trusted' : raw.firewalldZone!,
    ingressPolicy,
    dataDir: dataDir === '' ? DEFAULT_DATA_DIR : dataDir,
    prevResult,
    addresses: hostAddresses(prevResult),
    bridgeName: first === undefined || first === '' ? undefined : first,
    validAttachments: lists.length === 0 ? undefined : lists.flat().map((a) => ({ containerId: a.containerID, ifName: a.ifname })),
  };
}
