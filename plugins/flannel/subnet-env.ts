/**
 * flanneld's node lease, `subnet.env` (flannel-io/flannel pkg/subnet WriteSubnetFile):
 *
 *   FLANNEL_NETWORK=10.244.0.0/16          one or several cluster CIDRs, comma-separated
 *   FLANNEL_SUBNET=10.244.1.1/24           this node's subnet (first usable address + prefix)
 *   FLANNEL_IPV6_NETWORK=..., FLANNEL_IPV6_SUBNET=...
 *   FLANNEL_MTU=1450
 *   FLANNEL_IPMASQ=true                    flanneld itself masquerades
 *
 * Read as the reference reads it (flannel.go loadFlannelSubnetEnv): unknown keys
 * ignored, a later duplicate wins, networks de-duplicated, subnets reduced to
 * their network address, FLANNEL_IPMASQ true only for "true". More forgiving
 * than the reference on form: blank lines and `#` comments are ignored and
 * values are trimmed; a known key without `=` is an error naming the line
 * (the reference panics on it).
 */
import { readFileSync } from 'node:fs';
import { errnoCode } from '../../lib/cni/errors.ts';
import { type IPNet, formatCidr, networkAddress, parseCidr } from '../../lib/ip.ts';

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

export interface SubnetEnv {
  /** FLANNEL_NETWORK, network addresses, de-duplicated, in file order. */
  networks: IPNet[];
  /** FLANNEL_SUBNET as its network (10.244.1.1/24 → 10.244.1.0/24). */
  subnet: IPNet | undefined;
  ipv6Networks: IPNet[];
  ipv6Subnet: IPNet | undefined;
  mtu: number;
  /** FLANNEL_IPMASQ: flanneld masquerades, so the delegate must not. */
  ipMasq: boolean;
}

/** Why a subnet.env cannot be used: `kind` decides the CNI code (missing and incomplete: try again later). */
export class SubnetEnvError extends Error {
  override readonly name = 'SubnetEnvError';
  constructor(
    readonly kind: 'missing' | 'incomplete' | 'invalid' | 'unreadable',
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The keys in the order the reference's error lists them. */
export const SUBNET_ENV_KEYS = ['FLANNEL_NETWORK', 'FLANNEL_IPV6_NETWORK', 'FLANNEL_SUBNET', 'FLANNEL_IPV6_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ'] as const;
type Key = (typeof SUBNET_ENV_KEYS)[number];

function isKey(s: string): s is Key {
  return (SUBNET_ENV_KEYS as readonly string[]).includes(s);
}

/** Go's os.PathError texts for the errors people actually hit, so the message reads as the reference's. */
const GO_ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ELOOP: 'too many levels of symbolic links',
};

interface Fields {
  networks?: IPNet[];
  subnet?: IPNet;
  ipv6Networks?: IPNet[];
  ipv6Subnet?: IPNet;
  mtu?: number;
  ipMasq?: boolean;
}

function sameNet(a: IPNet, b: IPNet): boolean {
  return a.prefix === b.prefix && a.ip.family === b.ip.family && a.ip.value === b.ip.value;
}

function cidrOf(file: string, line: number, key: Key, raw: string, family: 4 | 6): IPNet {
  const n = parseCidr(raw);
  if (n === undefined) throw new SubnetEnvError('invalid', file, `${file} line ${line}: ${key}: invalid CIDR address: ${raw}`);
  if (n.ip.family !== family) {
    throw new SubnetEnvError('invalid', file, `${file} line ${line}: ${key}: ${raw} is not an IPv${family} network`);
  }
  return { ip: networkAddress(n), prefix: n.prefix };
}

function networksOf(file: string, line: number, key: Key, raw: string, family: 4 | 6): IPNet[] {
  const out: IPNet[] = [];
  for (const part of raw.split(',')) {
    const n = cidrOf(file, line, key, part.trim(), family);
    if (!out.some((o) => sameNet(o, n))) out.push(n);
  }
  return out;
}

/** Strips a trailing ` # comment` (values never contain '#'). */
function stripComment(s: string): string {
  const hash = s.indexOf('#');
  return hash < 0 ? s : s.slice(0, hash);
}

/** Parses the text of a subnet.env; `file` names it in errors. Throws SubnetEnvError. */
export function parseSubnetEnv(text: string, file: string): SubnetEnv {
  const p: Fields = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = stripComment(lines[i] ?? '').trim();
    if (line === '') continue;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!isKey(key)) continue; // unknown keys are ignored, as in the reference
    if (eq < 0) throw new SubnetEnvError('invalid', file, `${file} line ${lineNo}: ${key} has no value (expected ${key}=...)`);
    const value = line.slice(eq + 1).trim();
    switch (key) {
      case 'FLANNEL_NETWORK':
        p.networks = networksOf(file, lineNo, key, value, 4);
        break;
      case 'FLANNEL_IPV6_NETWORK':
        p.ipv6Networks = networksOf(file, lineNo, key, value, 6);
        break;
      case 'FLANNEL_SUBNET':
        p.subnet = cidrOf(file, lineNo, key, value, 4);
        break;
      case 'FLANNEL_IPV6_SUBNET':
        p.ipv6Subnet = cidrOf(file, lineNo, key, value, 6);
        break;
      case 'FLANNEL_MTU': {
        // strconv.ParseUint(s, 10, 32)
        if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) {
          throw new SubnetEnvError('invalid', file, `${file} line ${lineNo}: FLANNEL_MTU: invalid number ${JSON.stringify(value)}`);
        }
        p.mtu = Number(value);
        break;
      }
      case 'FLANNEL_IPMASQ':
        p.ipMasq = value === 'true';
        break;
    }
  }
  const missing = missingKeys(p);
  if (missing.length > 0) throw new SubnetEnvError('incomplete', file, `${file} is missing ${missing.join(', ')}`);
  return {
    networks: p.networks ?? [],
    subnet: p.subnet,
    ipv6Networks: p.ipv6Networks ?? [],
    ipv6Subnet: p.ipv6Subnet,
    mtu: p.mtu ?? 0,
    ipMasq: p.ipMasq ?? false,
  };
}

/** The reference's missing(): both keys of a family pair are named when neither is present. */
function missingKeys(p: Fields): Key[] {
  const m: Key[] = [];
  if ((p.networks ?? []).length === 0 && (p.ipv6Networks ?? []).length === 0) m.push('FLANNEL_NETWORK', 'FLANNEL_IPV6_NETWORK');
  if (p.subnet === undefined && p.ipv6Subnet === undefined) m.push('FLANNEL_SUBNET', 'FLANNEL_IPV6_SUBNET');
  if (p.mtu === undefined) m.push('FLANNEL_MTU');
  if (p.ipMasq === undefined) m.push('FLANNEL_IPMASQ');
  return m;
}

/** Reads and parses `file`. Throws SubnetEnvError (kind 'missing' when the file does not exist). */
export function loadSubnetEnv(file: string): SubnetEnv {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    const why = (code === undefined ? undefined : GO_ERRNO_TEXT[code]) ?? (err as Error).message;
    throw new SubnetEnvError(code === 'ENOENT' ? 'missing' : 'unreadable', file, `open ${file}: ${why}`, { cause: err });
  }
  return parseSubnetEnv(text, file);
}

/** One line for logs: "10.244.1.0/24 (network 10.244.0.0/16, MTU 1450, flanneld masquerades)". */
export function describeSubnetEnv(env: SubnetEnv): string {
  const subnets = [env.subnet, env.ipv6Subnet].filter((s): s is IPNet => s !== undefined).map(formatCidr);
  const nets = [...env.networks, ...env.ipv6Networks].map(formatCidr);
  return `${subnets.join(', ')} (network ${nets.join(', ')}, MTU ${env.mtu}, ${env.ipMasq ? 'flanneld masquerades' : 'the delegate masquerades'})`;
}
