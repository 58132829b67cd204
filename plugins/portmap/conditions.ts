/**
 * `conditionsV4`/`conditionsV6`, checked before any of them reaches a rule.
 *
 * nftables conditions (the reference joins the entries with spaces and puts
 * them in front of `fib daddr type local jump hostports_all`) are parsed into
 * match statements (lib/nft values): the forms below, one after another,
 * split across entries as the reference's examples do (`["ip", "saddr",
 * "1.2.3.4"]`) or not (`["ip saddr 1.2.3.4"]`). Anything else is refused
 * with code 7 naming the entry, never passed on as text: a `;` or a line
 * break in the reference's script ran further nft commands.
 *
 *   ip saddr|daddr [==|!=] <IPv4 address or prefix>        (conditionsV4 only)
 *   ip6 saddr|daddr [==|!=] <IPv6 address or prefix>       (conditionsV6 only)
 *   tcp|udp|sctp sport|dport [==|!=] <port>
 *   [meta] iifname|oifname [==|!=] <name, "name", name*>
 *   [meta] mark [==|!=] <number>
 *
 * iptables conditions stay argument lists (each entry one argument of
 * iptables-restore); an entry with a control character (a line break would
 * start another restore command) is refused the same way.
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { bits, networkAddress, parseCidr, parseIpAsWritten } from '../../lib/ip.ts';
import { IFNAME_RE } from '../../lib/nft/text.ts';
import type { CmpOp, Stmt } from '../../lib/nft/types.ts';

type Key = 'conditionsV4' | 'conditionsV6';

const FORMS = 'ip/ip6 saddr/daddr [==|!=] <address or prefix>, tcp/udp/sctp sport/dport [==|!=] <port>, iifname/oifname [==|!=] <name>, meta mark [==|!=] <number>';

 
const CONTROL = /[\x00-\x1f\x7f]/;

function refuse(key: Key, index: number, entry: string, why: string): CniError {
  return new CniError(CniCode.InvalidNetworkConfig, `invalid ${key}[${index}] ${JSON.stringify(entry)}: ${why}`);
}

/** iptables conditions: arguments as given, none with a control character. */
export function checkIptablesConditions(key: Key, entries: readonly string[]): string[] {
  entries.forEach((e, i) => {
    if (CONTROL.test(e)) throw refuse(key, i, e, 'control characters (line breaks) are not allowed');
  });
  return [...entries];
}

interface Token {
  text: string;
  entry: number;
}

/** The nftables conditions of one family as match statements; throws code 7 naming the first bad entry. */
export function parseNftConditions(key: Key, entries: readonly string[]): Stmt[] {
  const family = key === 'conditionsV4' ? 4 : 6;
  const tokens: Token[] = [];
  entries.forEach((e, i) => {
    if (CONTROL.test(e) || /[;{}#\\']/.test(e)) throw refuse(key, i, e, `only single match expressions are allowed (${FORMS})`);
    for (const text of e.split(' ')) if (text !== '') tokens.push({ text, entry: i });
  });
  const out: Stmt[] = [];
  let pos = 0;
  const fail = (t: Token | undefined, why: string): CniError => {
    const i = t?.entry ?? entries.length - 1;
    return refuse(key, i, entries[i] ?? '', why);
  };
  const next = (what: string): Token => {
    const t = tokens[pos];
    if (t === undefined) throw fail(tokens[pos - 1], `expected ${what} after ${JSON.stringify(tokens[pos - 1]?.text ?? '')}`);
    pos++;
    return t;
  };
  const op = (): CmpOp => {
    const t = tokens[pos]?.text;
    if (t === '==' || t === 'eq') {
      pos++;
      return '==';
    }
    if (t === '!=' || t === 'ne') {
      pos++;
      return '!=';
    }
    return '==';
  };
  while (pos < tokens.length) {
    const head = next('a condition');
    const word = head.text === 'meta' ? next('iifname, oifname or mark') : head;
    switch (word.text) {
      case 'ip':
      case 'ip6': {
        if (head.text === 'meta') throw fail(word, `unsupported condition "meta ${word.text}" (${FORMS})`);
        const want = word.text === 'ip' ? 4 : 6;
        if (want !== family) throw fail(word, `"${word.text}" matches IPv${want}, not allowed in ${key}`);
        const field = next('saddr or daddr');
        if (field.text !== 'saddr' && field.text !== 'daddr') throw fail(field, `expected saddr or daddr, got ${JSON.stringify(field.text)}`);
        const o = op();
        const v = next('an address');
        const net = v.text.includes('/') ? parseCidr(v.text) : (() => {
          const ip = parseIpAsWritten(v.text);
          return ip === undefined ? undefined : { ip, prefix: bits(ip.family) };
        })();
        if (net === undefined || net.ip.family !== family) throw fail(v, `${JSON.stringify(v.text)} is not an IPv${family} address or prefix`);
        out.push({ kind: 'addr', proto: word.text, field: field.text, op: o, net: { ip: networkAddress(net), prefix: net.prefix } });
        break;
      }
      case 'tcp':
      case 'udp':
      case 'sctp': {
        if (head.text === 'meta') throw fail(word, `unsupported condition "meta ${word.text}" (${FORMS})`);
        const field = next('sport or dport');
        if (field.text !== 'sport' && field.text !== 'dport') throw fail(field, `expected sport or dport, got ${JSON.stringify(field.text)}`);
        const o = op();
        const v = next('a port');
        if (!/^\d{1,5}$/.test(v.text) || Number(v.text) > 65535) throw fail(v, `${JSON.stringify(v.text)} is not a port number`);
        out.push({ kind: 'port', proto: word.text, field: field.text, op: o, port: Number(v.text) });
        break;
      }
      case 'iifname':
      case 'oifname': {
        const o = op();
        const v = next('an interface name');
        const name = /^".*"$/.test(v.text) ? v.text.slice(1, -1) : v.text;
        if (!IFNAME_RE.test(name)) throw fail(v, `${JSON.stringify(v.text)} is not an interface name`);
        out.push({ kind: 'ifname', key: word.text, op: o, name });
        break;
      }
      case 'mark': {
        const o = op();
        const v = next('a mark');
        const value = /^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(v.text) ? Number(v.text) : NaN;
        if (!Number.isInteger(value) || value > 0xffffffff) throw fail(v, `${JSON.stringify(v.text)} is not a 32-bit mark`);
        out.push({ kind: 'mark', op: o, value });
        break;
      }
      default:
        throw fail(word, `unsupported condition ${JSON.stringify(word.text)} (${FORMS})`);
    }
  }
  return out;
}
