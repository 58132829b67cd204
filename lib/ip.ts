/**
 * IP addresses and prefixes as one value type, parsed at the edge and compared
 * as numbers. Parsing follows Go's net.ParseIP / net.ParseCIDR (the reference
 * plugin's parser, so a config accepted there is accepted here) and printing
 * follows Go's net.IP.String(), because the printed form is the lease file
 * name the Go plugin looks for.
 */

export type Family = 4 | 6;

export interface IP {
  readonly family: Family;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
}

/** An address with a prefix length. `ip` keeps any host bits as written (as Go's types.IPNet does). */
export interface IPNet {
  readonly ip: IP;
  readonly prefix: number;
}

export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Go (>= 1.17) refuses leading zeros: they were read as octal by some parsers
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined; // zones are not addresses
  let head = s;
  let tailV4: bigint | undefined;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.indexOf('.', lastColon) >= 0) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    // "::1.2.3.4" keeps its "::"; "1:2:3:4:5:6:1.2.3.4" drops the separator
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = tailV4 === undefined ? 8 : 6;
  const dbl = head.indexOf('::');
  if (dbl >= 0 && head.indexOf('::', dbl + 1) >= 0) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (left === undefined || right === undefined) return undefined;
    const fill = groupsWanted - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...(new Array<number>(fill).fill(0)), ...right];
  } else {
    const all = parseGroups(head);
    if (all === undefined || all.length !== groupsWanted) return undefined;
    groups = all;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tailV4 !== undefined) v = (v << 32n) | tailV4;
  return v;
}

/**
 * Parses an address as written; IPv4-mapped IPv6 ("::ffff:10.0.0.1") becomes
 * IPv4, as Go's To4() canonicalization does. Undefined when it is not an address.
 */
export function parseIp(s: string): IP | undefined {
  if (s.includes(':')) {
    const v = parseV6(s);
    if (v === undefined) return undefined;
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

/**
 * Parses an address keeping the family of its notation ("::ffff:10.0.0.1" stays
 * IPv6), like node:net's isIPv4/isIPv6 decide; no zones. Undefined when it is
 * not an address.
 */
export function parseIpAsWritten(s: string): IP | undefined {
  const value = s.includes(':') ? parseV6(s) : parseV4(s);
  return value === undefined ? undefined : { family: s.includes(':') ? 6 : 4, value };
}

/** Parses `ip/prefix` like Go's net.ParseCIDR but keeps the host bits in `ip`. */
export function parseCidr(s: string): IPNet | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash);
  const pfx = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(pfx)) return undefined;
  const prefix = Number(pfx);
  // the family of a CIDR is the notation's, not the To4() form: "::ffff:10.0.0.0/104" is IPv6
  const value = addr.includes(':') ? parseV6(addr) : parseV4(addr);
  if (value === undefined) return undefined;
  const family: Family = addr.includes(':') ? 6 : 4;
  if (prefix > bits(family)) return undefined;
  return { ip: { family, value }, prefix };
}

/** Parses "ip" or "ip/prefix" (the prefix is dropped), like the reference's ip.ParseIP for requested IPs. */
export function parseIpMaybePrefix(s: string): IP | undefined {
  if (!s.includes('/')) return parseIp(s);
  const n = parseCidr(s);
  if (n === undefined) return undefined;
  return n.ip.family === 6 && n.ip.value >> 32n === 0xffffn ? { family: 4, value: n.ip.value & 0xffffffffn } : n.ip;
}

/** True when this IPv6 value is an IPv4-mapped address (::ffff:a.b.c.d). */
export function isV4Mapped(ip: IP): boolean {
  return ip.family === 6 && ip.value >> 32n === 0xffffn;
}

/** Go's net.IP.String(): dotted quad, or RFC 5952 (longest run of two or more zero groups compressed, lowercase). */
export function formatIp(ip: IP): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatCidr(n: IPNet): string {
  return `${formatIp(n.ip)}/${n.prefix}`;
}

export function ipEqual(a: IP, b: IP): boolean {
  return a.family === b.family && a.value === b.value;
}

/** Orders by family first, then by value. */
export function ipCompare(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

export function ipAdd(ip: IP, n: bigint): IP {
  const max = (1n << BigInt(bits(ip.family))) - 1n;
  const v = ip.value + n;
  return { family: ip.family, value: v < 0n ? 0n : v > max ? max : v };
}

function hostMask(n: IPNet): bigint {
  return (1n << BigInt(bits(n.ip.family) - n.prefix)) - 1n;
}

/** The network address (host bits cleared). */
export function networkAddress(n: IPNet): IP {
  return { family: n.ip.family, value: n.ip.value & ~hostMask(n) };
}

/** The all-ones address of the prefix (the IPv4 broadcast). */
export function lastAddress(n: IPNet): IP {
  return { family: n.ip.family, value: networkAddress(n).value | hostMask(n) };
}

export function netContains(n: IPNet, ip: IP): boolean {
  if (ip.family !== n.ip.family) return false;
  const m = hostMask(n);
  return (ip.value & ~m) === (n.ip.value & ~m);
}

/** A stable map key for an address (its printed form is unique per family). */
export const ipKey = formatIp;
