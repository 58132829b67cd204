/**
 * Text <-> bytes for the addresses netlink carries: IPv4/IPv6 addresses,
 * prefixes ("10.0.0.1/24") and MAC addresses. Pure; throws TypeError on bad input.
 */
import { parseIpAsWritten } from '../ip.ts';

export type IpFamily = 4 | 6;

export interface IpBytes {
  readonly family: IpFamily;
  readonly bytes: Buffer;
}

export interface Prefix extends IpBytes {
  readonly prefixLen: number;
}

export function parseIp(text: string): IpBytes {
  const pct = text.indexOf('%');
  const family = parseIpAsWritten(pct < 0 ? text : text.slice(0, pct))?.family;
  if (family === 4 && pct < 0) {
    return { family: 4, bytes: Buffer.from(text.split('.').map((p) => Number.parseInt(p, 10))) };
  }
  if (family === 6 && pct !== text.length - 1) return { family: 6, bytes: parseIpv6(text) };
  throw new TypeError(`invalid IP address "${text}"`);
}

function parseIpv6(text: string): Buffer {
  let s = text;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const words: number[] = [];
  // an embedded IPv4 tail ("::ffff:1.2.3.4") is two 16-bit words
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIp(tail).bytes;
    s = `${s.slice(0, lastColon + 1)}${((v4[0] ?? 0) << 8 | (v4[1] ?? 0)).toString(16)}:${((v4[2] ?? 0) << 8 | (v4[3] ?? 0)).toString(16)}`;
  }
  const halves = s.split('::');
  const head = halves[0] === undefined || halves[0] === '' ? [] : halves[0].split(':');
  const rest = halves[1] === undefined || halves[1] === '' ? [] : halves[1].split(':');
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  for (const w of head) words.push(Number.parseInt(w, 16));
  for (let i = 0; i < fill; i++) words.push(0);
  for (const w of rest) words.push(Number.parseInt(w, 16));
  if (words.length !== 8) throw new TypeError(`invalid IPv6 address "${text}"`);
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** "a.b.c.d" or RFC 5952 text for 4 or 16 bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new TypeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // the longest run of two or more zero words (the first on a tie) becomes "::"
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** "10.1.2.3/24" (prefix length required). The address part is kept as given, host bits and all. */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  if (slash < 0) throw new TypeError(`invalid prefix "${text}": no "/<length>"`);
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const max = ip.family === 4 ? 32 : 128;
  const prefixLen = /^\d{1,3}$/.test(lenText) ? Number.parseInt(lenText, 10) : Number.NaN;
  if (!(prefixLen >= 0 && prefixLen <= max)) throw new TypeError(`invalid prefix "${text}": length must be 0-${max}`);
  return { ...ip, prefixLen };
}

/** The IPv4 broadcast address of a prefix (all host bits set). */
export function broadcastOf(prefix: Prefix): Buffer {
  const out = Buffer.from(prefix.bytes);
  for (let bit = prefix.prefixLen; bit < out.length * 8; bit++) {
    const i = bit >> 3;
    out[i] = (out[i] ?? 0) | (0x80 >> (bit & 7));
  }
  return out;
}

/** Zeroes the host bits: "10.1.2.3/24" -> 10.1.2.0. */
export function networkOf(prefix: Prefix): Buffer {
  const out = Buffer.from(prefix.bytes);
  for (let bit = prefix.prefixLen; bit < out.length * 8; bit++) {
    const i = bit >> 3;
    out[i] = (out[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return out;
}

export function parseMac(text: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) throw new TypeError(`invalid MAC address "${text}"`);
  return Buffer.from(text.split(':').map((b) => Number.parseInt(b, 16)));
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}
