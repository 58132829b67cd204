/**
 * The nf_tables netlink encoding of the values in types.ts (pure: no socket).
 * A transaction becomes one nfnetlink batch (BATCH_BEGIN, NEWTABLE, NEWCHAIN,
 * DELRULE, NEWRULE…, BATCH_END) that the kernel applies whole or not at all
 * (only the last change asks for an ACK; a failing one is reported anyway);
 * each statement becomes the expressions `nft` itself generates for it
 * (checked by test/integration/nft.test.ts against `nft --debug=netlink` of
 * the same rules written as text). Rules listed from the kernel are decoded
 * into their handle, comment (user data) and raw expressions.
 * Numbers are from the UAPI headers linux/netfilter/nf_tables.h and
 * nfnetlink.h, and libnftnl's user-data layout (udata.h).
 */
import { attr, nest, str, type NlRequest } from '../netlink/encode.ts';
import { bits, formatIp, networkAddress, type IP, type IPNet } from '../ip.ts';
import type { Chain, NftFamily, Op, Rule, Stmt, Table } from './types.ts';

// ---------------------------------------------------------------- numbers

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;

const MSG = { NEWTABLE: 0, NEWCHAIN: 3, DELCHAIN: 5, NEWRULE: 6, GETRULE: 7, DELRULE: 8, GETGEN: 16 } as const;
const msgType = (m: number): number => (NFNL_SUBSYS_NFTABLES << 8) | m;
/** The message type of a rule in a GETRULE dump. */
export const NEWRULE_TYPE = msgType(MSG.NEWRULE);

const NFPROTO: Record<NftFamily, number> = { inet: 1, ip: 2, ip6: 10 };
const HOOK = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 } as const;

const TABLE_A = { NAME: 1, USERDATA: 6 } as const;
const CHAIN_A = { TABLE: 1, NAME: 3, HOOK: 4, TYPE: 7, USERDATA: 12 } as const;
const HOOK_A = { HOOKNUM: 1, PRIORITY: 2 } as const;
const RULE_A = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, USERDATA: 7 } as const;
const LIST_ELEM = 1;
const EXPR_A = { NAME: 1, DATA: 2 } as const;
const DATA_A = { VALUE: 1, VERDICT: 2 } as const;
const VERDICT_A = { CODE: 1, CHAIN: 2 } as const;
const PAYLOAD_A = { DREG: 1, BASE: 2, OFFSET: 3, LEN: 4 } as const;
const CMP_A = { SREG: 1, OP: 2, DATA: 3 } as const;
const BITWISE_A = { SREG: 1, DREG: 2, LEN: 3, MASK: 4, XOR: 5 } as const;
const META_A = { DREG: 1, KEY: 2 } as const;
const IMM_A = { DREG: 1, DATA: 2 } as const;
const NAT_A = { TYPE: 1, FAMILY: 2, ADDR_MIN: 3, ADDR_MAX: 4, PROTO_MIN: 5, PROTO_MAX: 6, FLAGS: 7 } as const;
const FIB_A = { DREG: 1, RESULT: 2, FLAGS: 3 } as const;

const BASE = { network: 1, transport: 2 } as const;
const META_KEY = { mark: 3, iifname: 6, oifname: 7, nfproto: 15, l4proto: 16 } as const;
const CMP_OP = { '==': 0, '!=': 1 } as const;
const VERDICT = { drop: 0, accept: 1, jump: -3, goto: -4, return: -5 } as const;
const REG_VERDICT = 0;
const REG_1 = 1;
const REG_2 = 2;
const NAT_DNAT = 1;
/** NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED */
const NAT_FLAGS_ADDR_PORT = 3;
const FIB_RESULT_ADDRTYPE = 3;
const FIB_F_DADDR = 2;
const RTN_LOCAL = 2;
const IPPROTO = { tcp: 6, udp: 17, sctp: 132 } as const;
const IFNAMSIZ = 16;
/** libnftnl user data: NFTNL_UDATA_{TABLE,CHAIN,RULE}_COMMENT */
const UDATA_COMMENT = 0;

// ---------------------------------------------------------------- encoding helpers

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
}
function be64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}
function le32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function nfgenmsg(family: number, resId = 0): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  b.writeUInt16BE(resId, 2);
  return b;
}

/** A comment as libnftnl stores it in user data: type, length, the string and its NUL. */
function commentUdata(comment: string): Buffer {
  const s = str(comment);
  if (s.length > 255) throw new Error(`nftables comment too long (${s.length - 1} bytes)`);
  return Buffer.concat([Buffer.from([UDATA_COMMENT, s.length]), s]);
}

const ipBytes = (ip: IP): Buffer => {
  const n = bits(ip.family) / 8;
  const b = Buffer.alloc(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
};

// ---------------------------------------------------------------- expressions

function expr(name: string, data: readonly Buffer[]): Buffer {
  return nest(LIST_ELEM, [attr(EXPR_A.NAME, str(name)), nest(EXPR_A.DATA, data, true)], true);
}
const dataValue = (b: Buffer): Buffer => attr(DATA_A.VALUE, b);

const payload = (base: number, offset: number, len: number): Buffer =>
  expr('payload', [attr(PAYLOAD_A.DREG, be32(REG_1)), attr(PAYLOAD_A.BASE, be32(base)), attr(PAYLOAD_A.OFFSET, be32(offset)), attr(PAYLOAD_A.LEN, be32(len))]);
const cmp = (op: '==' | '!=', data: Buffer): Buffer => expr('cmp', [attr(CMP_A.SREG, be32(REG_1)), attr(CMP_A.OP, be32(CMP_OP[op])), nest(CMP_A.DATA, [dataValue(data)], true)]);
const meta = (key: number): Buffer => expr('meta', [attr(META_A.KEY, be32(key)), attr(META_A.DREG, be32(REG_1))]);
const bitwise = (mask: Buffer): Buffer =>
  expr('bitwise', [
    attr(BITWISE_A.SREG, be32(REG_1)),
    attr(BITWISE_A.DREG, be32(REG_1)),
    attr(BITWISE_A.LEN, be32(mask.length)),
    nest(BITWISE_A.MASK, [dataValue(mask)], true),
    nest(BITWISE_A.XOR, [dataValue(Buffer.alloc(mask.length))], true),
  ]);
const verdict = (code: number, chain?: string): Buffer => {
  const v = [attr(VERDICT_A.CODE, be32(code)), ...(chain === undefined ? [] : [attr(VERDICT_A.CHAIN, str(chain))])];
  return expr('immediate', [attr(IMM_A.DREG, be32(REG_VERDICT)), nest(IMM_A.DATA, [nest(DATA_A.VERDICT, v, true)], true)]);
};
const immediate = (reg: number, value: Buffer): Buffer => expr('immediate', [attr(IMM_A.DREG, be32(reg)), nest(IMM_A.DATA, [dataValue(value)], true)]);

/** Offsets of the address fields in the IPv4 and IPv6 headers. */
const ADDR_OFFSET = { ip: { saddr: 12, daddr: 16 }, ip6: { saddr: 8, daddr: 24 } } as const;

/** An address match as nft writes it: whole bytes of a byte-aligned prefix, else the field masked. */
function addrExprs(proto: 'ip' | 'ip6', field: 'saddr' | 'daddr', op: '==' | '!=', net: IPNet): Buffer[] {
  const full = bits(net.ip.family);
  if ((proto === 'ip') !== (net.ip.family === 4)) throw new Error(`${proto} ${field} cannot match an IPv${net.ip.family} address`);
  if (net.prefix <= 0 || net.prefix > full) throw new Error(`${proto} ${field}: prefix /${net.prefix} not supported`);
  const offset = ADDR_OFFSET[proto][field];
  const value = ipBytes(networkAddress(net));
  if (net.prefix === full) return [payload(BASE.network, offset, full / 8), cmp(op, value)];
  if (net.prefix % 8 === 0) return [payload(BASE.network, offset, net.prefix / 8), cmp(op, value.subarray(0, net.prefix / 8))];
  const mask = ipBytes({ family: net.ip.family, value: ((1n << BigInt(net.prefix)) - 1n) << BigInt(full - net.prefix) });
  return [payload(BASE.network, offset, full / 8), bitwise(mask), cmp(op, value)];
}

function ifnameData(name: string): Buffer {
  if (name.endsWith('*')) return Buffer.from(name.slice(0, -1), 'utf8');
  const b = Buffer.alloc(IFNAMSIZ);
  const n = Buffer.from(name, 'utf8');
  if (n.length >= IFNAMSIZ) throw new Error(`interface name ${JSON.stringify(name)} too long`);
  n.copy(b);
  return b;
}

/** The expressions of one rule's statements, with the dependencies nft adds (meta nfproto in inet, meta l4proto). */
export function ruleExprs(family: NftFamily, stmts: readonly Stmt[]): Buffer[] {
  const out: Buffer[] = [];
  let nfproto: 'ip' | 'ip6' | undefined;
  for (const s of stmts) {
    switch (s.kind) {
      case 'addr':
        if (family === 'inet' && nfproto !== s.proto) {
          out.push(meta(META_KEY.nfproto), cmp('==', Buffer.from([NFPROTO[s.proto]])));
          nfproto = s.proto;
        }
        if (family !== 'inet' && family !== s.proto) throw new Error(`${s.proto} ${s.field} in a table of family ${family}`);
        out.push(...addrExprs(s.proto, s.field, s.op, s.net));
        break;
      case 'port':
        out.push(meta(META_KEY.l4proto), cmp('==', Buffer.from([IPPROTO[s.proto]])));
        out.push(payload(BASE.transport, s.field === 'sport' ? 0 : 2, 2), cmp(s.op, be16(s.port)));
        break;
      case 'ifname':
        out.push(meta(META_KEY[s.key]), cmp(s.op, ifnameData(s.name)));
        break;
      case 'mark':
        out.push(meta(META_KEY.mark), cmp(s.op, le32(s.value)));
        break;
      case 'fibDaddrLocal':
        out.push(expr('fib', [attr(FIB_A.DREG, be32(REG_1)), attr(FIB_A.RESULT, be32(FIB_RESULT_ADDRTYPE)), attr(FIB_A.FLAGS, be32(FIB_F_DADDR))]), cmp('==', le32(RTN_LOCAL)));
        break;
      case 'jump':
      case 'goto':
        out.push(verdict(VERDICT[s.kind], s.chain));
        break;
      case 'return':
      case 'accept':
      case 'drop':
        out.push(verdict(VERDICT[s.kind]));
        break;
      case 'dnat': {
        if (family === 'inet') throw new Error('dnat in an inet table needs a family: not supported');
        const natFamily = s.addr.family === 4 ? NFPROTO.ip : NFPROTO.ip6;
        out.push(immediate(REG_1, ipBytes(s.addr)), immediate(REG_2, be16(s.port)));
        out.push(
          expr('nat', [
            attr(NAT_A.TYPE, be32(NAT_DNAT)),
            attr(NAT_A.FAMILY, be32(natFamily)),
            attr(NAT_A.ADDR_MIN, be32(REG_1)),
            attr(NAT_A.ADDR_MAX, be32(REG_1)),
            attr(NAT_A.PROTO_MIN, be32(REG_2)),
            attr(NAT_A.PROTO_MAX, be32(REG_2)),
            attr(NAT_A.FLAGS, be32(NAT_FLAGS_ADDR_PORT)),
          ]),
        );
        break;
      }
      case 'masquerade':
        out.push(expr('masq', []));
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- messages

function tableMsg(t: Table): NlRequest {
  const attrs = [attr(TABLE_A.NAME, str(t.name))];
  if (t.comment !== undefined) attrs.push(attr(TABLE_A.USERDATA, commentUdata(t.comment)));
  return { type: msgType(MSG.NEWTABLE), flags: NLM_F_CREATE | NLM_F_ACK, body: Buffer.concat([nfgenmsg(NFPROTO[t.family]), ...attrs]) };
}

function chainMsg(t: Table, c: Chain): NlRequest {
  const attrs = [attr(CHAIN_A.TABLE, str(t.name)), attr(CHAIN_A.NAME, str(c.name))];
  if (c.base !== undefined) {
    attrs.push(nest(CHAIN_A.HOOK, [attr(HOOK_A.HOOKNUM, be32(HOOK[c.base.hook])), attr(HOOK_A.PRIORITY, be32(c.base.priority))], true));
    attrs.push(attr(CHAIN_A.TYPE, str(c.base.type)));
  }
  if (c.comment !== undefined) attrs.push(attr(CHAIN_A.USERDATA, commentUdata(c.comment)));
  return { type: msgType(MSG.NEWCHAIN), flags: NLM_F_CREATE | NLM_F_ACK, body: Buffer.concat([nfgenmsg(NFPROTO[t.family]), ...attrs]) };
}

function ruleMsg(t: Table, r: Rule): NlRequest {
  const attrs = [attr(RULE_A.TABLE, str(t.name)), attr(RULE_A.CHAIN, str(r.chain)), nest(RULE_A.EXPRESSIONS, ruleExprs(t.family, r.stmts), true)];
  if (r.comment !== undefined) attrs.push(attr(RULE_A.USERDATA, commentUdata(r.comment)));
  return { type: msgType(MSG.NEWRULE), flags: NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, body: Buffer.concat([nfgenmsg(NFPROTO[t.family]), ...attrs]) };
}

function delRuleMsg(t: Table, chain: string, handle?: number): NlRequest {
  const attrs = [attr(RULE_A.TABLE, str(t.name)), attr(RULE_A.CHAIN, str(chain))];
  if (handle !== undefined) attrs.push(attr(RULE_A.HANDLE, be64(handle)));
  return { type: msgType(MSG.DELRULE), flags: NLM_F_ACK, body: Buffer.concat([nfgenmsg(NFPROTO[t.family]), ...attrs]) };
}

function delChainMsg(t: Table, chain: string): NlRequest {
  return { type: msgType(MSG.DELCHAIN), flags: NLM_F_ACK, body: Buffer.concat([nfgenmsg(NFPROTO[t.family]), attr(CHAIN_A.TABLE, str(t.name)), attr(CHAIN_A.NAME, str(chain))]) };
}

/** The batch of one transaction on `table`: BEGIN, one message per operation, END. */
export function batchMessages(table: Table, ops: readonly Op[]): NlRequest[] {
  const body = nfgenmsg(0, NFNL_SUBSYS_NFTABLES);
  const msgs: NlRequest[] = [{ type: NFNL_MSG_BATCH_BEGIN, flags: 0, body }];
  for (const o of ops) {
    switch (o.op) {
      case 'addTable':
        msgs.push(tableMsg(o.table));
        break;
      case 'addChain':
        msgs.push(chainMsg(table, o.chain));
        break;
      case 'flushChain':
        msgs.push(delRuleMsg(table, o.chain));
        break;
      case 'deleteChain':
        msgs.push(delChainMsg(table, o.chain));
        break;
      case 'addRule':
        msgs.push(ruleMsg(table, o.rule));
        break;
      case 'deleteRule':
        msgs.push(delRuleMsg(table, o.chain, o.handle));
        break;
    }
  }
  // only the last change asks for an ACK: the kernel reports every failing message anyway, and one ACK per
  // message of a large batch (GC of many rules) could overflow the socket's receive buffer
  const framed = msgs.map((m, i) => (i === 0 || i === msgs.length - 1 ? m : { ...m, flags: m.flags & ~NLM_F_ACK }));
  framed.push({ type: NFNL_MSG_BATCH_END, flags: 0, body });
  return framed;
}

/** A dump of the rules of `table` (of one chain when given). */
export function getRulesMessage(family: NftFamily, table: string, chain?: string): NlRequest {
  const attrs = [attr(RULE_A.TABLE, str(table)), ...(chain === undefined ? [] : [attr(RULE_A.CHAIN, str(chain))])];
  return { type: msgType(MSG.GETRULE), flags: NLM_F_DUMP, body: Buffer.concat([nfgenmsg(NFPROTO[family]), ...attrs]) };
}

/** Asks for the ruleset generation: answered when the kernel has nf_tables. */
export function getGenMessage(): NlRequest {
  return { type: msgType(MSG.GETGEN), flags: 0, body: nfgenmsg(0) };
}

// ---------------------------------------------------------------- decoding

function* attrs(buf: Buffer): Generator<{ type: number; payload: Buffer }> {
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) return;
    yield { type: buf.readUInt16LE(off + 2) & 0x3fff, payload: buf.subarray(off + 4, off + len) };
    off += (len + 3) & ~3;
  }
}

const cstr = (b: Buffer): string => {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
};

/** One expression of a listed rule: its name and its attributes by type. */
export interface RawExpr {
  readonly name: string;
  readonly attrs: ReadonlyMap<number, Buffer>;
}

/** A rule from a GETRULE dump. */
export interface DecodedRule {
  readonly table: string;
  readonly chain: string;
  readonly handle: number;
  readonly comment: string | undefined;
  readonly exprs: readonly RawExpr[];
}

function commentOf(udata: Buffer): string | undefined {
  let off = 0;
  while (off + 2 <= udata.length) {
    const type = udata[off]!;
    const len = udata[off + 1]!;
    if (off + 2 + len > udata.length) return undefined;
    if (type === UDATA_COMMENT) return cstr(udata.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return undefined;
}

/** Decodes the payload of one NFT_MSG_NEWRULE message. */
export function decodeRule(body: Buffer): DecodedRule {
  let table = '';
  let chain = '';
  let handle = 0;
  let comment: string | undefined;
  const exprs: RawExpr[] = [];
  for (const a of attrs(body.subarray(4))) {
    if (a.type === RULE_A.TABLE) table = cstr(a.payload);
    else if (a.type === RULE_A.CHAIN) chain = cstr(a.payload);
    else if (a.type === RULE_A.HANDLE && a.payload.length === 8) handle = Number(a.payload.readBigUInt64BE(0));
    else if (a.type === RULE_A.USERDATA) comment = commentOf(a.payload);
    else if (a.type === RULE_A.EXPRESSIONS) {
      for (const e of attrs(a.payload)) {
        let name = '';
        const m = new Map<number, Buffer>();
        for (const x of attrs(e.payload)) {
          if (x.type === EXPR_A.NAME) name = cstr(x.payload);
          else if (x.type === EXPR_A.DATA) for (const d of attrs(x.payload)) m.set(d.type, d.payload);
        }
        exprs.push({ name, attrs: m });
      }
    }
  }
  return { table, chain, handle, comment, exprs };
}

/** The value of a nested NFTA_DATA_VALUE (cmp data, immediate data). */
function dataOf(b: Buffer | undefined): Buffer | undefined {
  if (b === undefined) return undefined;
  for (const a of attrs(b)) if (a.type === DATA_A.VALUE) return a.payload;
  return undefined;
}

function formatAddr(b: Buffer): string | undefined {
  if (b.length !== 4 && b.length !== 16) return undefined;
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return formatIp({ family: b.length === 4 ? 4 : 6, value: v });
}

/** What DEL and CHECK look at in a rule: the destination port it matches, the addresses it matches or DNATs to. */
export function ruleFacts(r: DecodedRule): { dport: number | undefined; addrs: string[] } {
  let dport: number | undefined;
  const addrs: string[] = [];
  let last: { base: number; offset: number; len: number } | undefined;
  for (const e of r.exprs) {
    if (e.name === 'payload') {
      const n = (k: number): number => e.attrs.get(k)?.readUInt32BE(0) ?? -1;
      last = { base: n(PAYLOAD_A.BASE), offset: n(PAYLOAD_A.OFFSET), len: n(PAYLOAD_A.LEN) };
      continue;
    }
    if (e.name === 'cmp' && last !== undefined) {
      const v = dataOf(e.attrs.get(CMP_A.DATA));
      if (v !== undefined && last.base === BASE.transport && last.offset === 2 && v.length === 2) dport = v.readUInt16BE(0);
      if (v !== undefined && last.base === BASE.network && (v.length === 4 || v.length === 16) && last.len === v.length) {
        const a = formatAddr(v);
        if (a !== undefined) addrs.push(a);
      }
    }
    if (e.name === 'immediate') {
      const v = dataOf(e.attrs.get(IMM_A.DATA));
      const a = v === undefined ? undefined : formatAddr(v);
      if (a !== undefined) addrs.push(a);
    }
    if (e.name !== 'bitwise') last = undefined;
  }
  return { dport, addrs };
}
