/**
 * Traffic control over rtnetlink: the requests the bandwidth plugin sends
 * (a tbf qdisc, the ingress qdisc, a u32 match-all filter whose actions are
 * mirred redirects, an ifb link) and the decoders of the kernel's qdisc and
 * filter dumps. Pure and byte-exact: the encoders produce exactly what the
 * reference Go plugin (vishvananda/netlink) sends for the same values, and
 * the unit tests compare against bytes captured from it with strace.
 */
import * as C from './constants.ts';
import { attr, checkIfName, ifinfomsg, nest, str, bareStr, u32, type NlRequest } from './encode.ts';
import { attrTable, parseAttrs } from './decode.ts';

/** A qdisc or filter handle as tc writes it: 0x00010000 is "1:", 0xffff0000 "ffff:". */
export const tcHandle = (major: number, minor: number): number => ((major << 16) | (minor & 0xffff)) >>> 0;

/** struct tcmsg (20 bytes). */
export function tcmsg(m: { index?: number; handle?: number; parent?: number; info?: number }): Buffer {
  const b = Buffer.alloc(C.TCMSG_LEN);
  b.writeUInt8(C.AF_UNSPEC, 0);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE((m.handle ?? 0) >>> 0, 8);
  b.writeUInt32LE((m.parent ?? 0) >>> 0, 12);
  b.writeUInt32LE((m.info ?? 0) >>> 0, 16);
  return b;
}

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

function checkIndex(what: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0 || v > 0x7fffffff) throw new TypeError(`invalid ${what} ${v}`);
  return v;
}

function checkU32(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new TypeError(`invalid ${what} ${v} (0-4294967295)`);
  return v;
}

const CREATE_EXCL = C.NLM_F_CREATE | C.NLM_F_EXCL;

// ---------------------------------------------------------------- links

export interface NewIfb {
  readonly name: string;
  readonly mtu?: number;
  readonly txqlen?: number;
  readonly up?: boolean;
}

/**
 * RTM_NEWLINK of kind "ifb", attributes in vishvananda/netlink's order
 * (IFLA_IFNAME, IFLA_MTU, IFLA_TXQLEN, IFLA_LINKINFO), created up through
 * ifi_flags, as the reference creates its ifb.
 */
export function newIfb(o: NewIfb): NlRequest {
  const attrs = [attr(C.IFLA_IFNAME, str(checkIfName(o.name)))];
  if (o.mtu !== undefined) attrs.push(attr(C.IFLA_MTU, u32(checkU32('MTU', o.mtu))));
  if (o.txqlen !== undefined) attrs.push(attr(C.IFLA_TXQLEN, u32(checkU32('txqlen', o.txqlen))));
  attrs.push(nest(C.IFLA_LINKINFO, [attr(C.IFLA_INFO_KIND, bareStr('ifb'))]));
  const up = o.up === true;
  return { type: C.RTM_NEWLINK, flags: CREATE_EXCL, body: Buffer.concat([ifinfomsg({ flags: up ? C.IFF_UP : 0, change: up ? C.IFF_UP : 0 }), ...attrs]) };
}

/** RTM_NEWLINK on an existing link setting IFLA_IFALIAS (`ip link set X alias A`; the kernel ignores it on create). */
export function setLinkAlias(index: number, alias: string): NlRequest {
  if (Buffer.byteLength(alias) > 255) throw new TypeError(`interface alias too long (${Buffer.byteLength(alias)} bytes, at most 255)`);
  return { type: C.RTM_NEWLINK, flags: 0, body: Buffer.concat([ifinfomsg({ index: checkIndex('link index', index) }), attr(C.IFLA_IFALIAS, Buffer.from(alias, 'utf8'))]) };
}

// ---------------------------------------------------------------- qdiscs

export interface TbfParams {
  /** Bytes per second (64 bits: TCA_TBF_RATE64 is added from 2^32 on). */
  readonly rate: bigint;
  /** Bytes. */
  readonly limit: number;
  /** Ticks of the packet scheduler clock (/proc/net/psched). */
  readonly buffer: number;
}

/** struct tc_tbf_qopt with only the rate's 32-bit field, limit and buffer set (what vishvananda/netlink sends). */
function tbfQopt(p: TbfParams): Buffer {
  const b = Buffer.alloc(C.TC_TBF_QOPT_LEN);
  const rate32 = p.rate >= 1n << 32n ? Number(p.rate & 0xffffffffn) : Number(p.rate);
  b.writeUInt32LE(rate32, 8); // rate.rate
  b.writeUInt32LE(checkU32('tbf limit', p.limit), 24);
  b.writeUInt32LE(checkU32('tbf buffer', p.buffer), 28);
  return b;
}

/** RTM_NEWQDISC (add: CREATE|EXCL) of a tbf: TCA_KIND "tbf", TCA_OPTIONS { TCA_TBF_PARMS [, TCA_TBF_RATE64] }. */
export function newTbf(o: { index: number; handle: number; parent: number } & TbfParams): NlRequest {
  if (o.rate < 0n || o.rate >= 1n << 64n) throw new TypeError(`invalid tbf rate ${o.rate}`);
  const opts = [attr(C.TCA_TBF_PARMS, tbfQopt(o))];
  if (o.rate >= 1n << 32n) opts.push(attr(C.TCA_TBF_RATE64, u64(o.rate)));
  return {
    type: C.RTM_NEWQDISC,
    flags: CREATE_EXCL,
    body: Buffer.concat([tcmsg({ index: checkIndex('link index', o.index), handle: o.handle, parent: o.parent }), attr(C.TCA_KIND, str('tbf')), nest(C.TCA_OPTIONS, opts)]),
  };
}

/** RTM_NEWQDISC of the ingress qdisc (handle ffff:, parent ingress), with an empty TCA_OPTIONS as the reference sends. */
export function newIngress(index: number): NlRequest {
  return {
    type: C.RTM_NEWQDISC,
    flags: CREATE_EXCL,
    body: Buffer.concat([tcmsg({ index: checkIndex('link index', index), handle: tcHandle(0xffff, 0), parent: C.TC_H_INGRESS }), attr(C.TCA_KIND, str('ingress')), attr(C.TCA_OPTIONS)]),
  };
}

/** RTM_DELQDISC by link, handle and parent (`tc qdisc del dev X parent P handle H`). */
export function delQdisc(o: { index: number; handle: number; parent: number }): NlRequest {
  return { type: C.RTM_DELQDISC, flags: 0, body: tcmsg({ index: checkIndex('link index', o.index), handle: o.handle, parent: o.parent }) };
}

/**
 * RTM_GETQDISC dump, of one link when `index` is given (as `tc qdisc show dev X`
 * asks; kernels that ignore tcm_ifindex dump every link's, so callers filter the
 * replies by index too).
 */
export function dumpQdiscs(index?: number): NlRequest {
  return { type: C.RTM_GETQDISC, flags: C.NLM_F_DUMP, body: tcmsg(index === undefined ? {} : { index: checkIndex('link index', index) }) };
}

// ---------------------------------------------------------------- filters

export interface MirredSpec {
  /** TC_ACT_*: what happens to the packet after the redirect (4 stolen, 0 ok/pass). */
  readonly action: number;
  /** TCA_EGRESS_REDIR (1), ... */
  readonly eaction: number;
  readonly ifindex: number;
}

/** struct tc_mirred: tc_gen { index, capab, action, refcnt, bindcnt }, eaction, ifindex. */
function mirredParms(m: MirredSpec): Buffer {
  const b = Buffer.alloc(C.TC_MIRRED_LEN);
  b.writeInt32LE(m.action, 8);
  b.writeInt32LE(m.eaction, 20);
  b.writeUInt32LE(checkIndex('redirect link index', m.ifindex), 24);
  return b;
}

/** A match-all u32 selector: one zero key, TC_U32_TERMINAL (vishvananda/netlink's default Sel). */
function matchAllSel(): Buffer {
  const b = Buffer.alloc(16 + 16);
  b.writeUInt8(C.TC_U32_TERMINAL, 0);
  b.writeUInt8(1, 2); // nkeys
  return b;
}

/**
 * RTM_NEWTFILTER (add: CREATE|EXCL) of a match-all u32 filter: tcm_info =
 * priority << 16 | protocol in network order; TCA_KIND "u32", TCA_OPTIONS
 * { TCA_U32_SEL, TCA_U32_CLASSID, TCA_U32_ACT { 1: mirred, 2: mirred... } }.
 */
export function newU32MatchAll(o: { index: number; parent: number; priority: number; protocol: number; classId: number; mirred: readonly MirredSpec[] }): NlRequest {
  if (!Number.isInteger(o.priority) || o.priority < 0 || o.priority > 0xffff) throw new TypeError(`invalid filter priority ${o.priority}`);
  const proto = ((o.protocol & 0xff) << 8) | ((o.protocol >> 8) & 0xff);
  const actions = o.mirred.map((m, i) => nest(i + 1, [attr(C.TCA_ACT_KIND, str('mirred')), nest(C.TCA_ACT_OPTIONS, [attr(C.TCA_MIRRED_PARMS, mirredParms(m))])]));
  const options = [attr(C.TCA_U32_SEL, matchAllSel()), attr(C.TCA_U32_CLASSID, u32(o.classId >>> 0)), nest(C.TCA_U32_ACT, actions)];
  return {
    type: C.RTM_NEWTFILTER,
    flags: CREATE_EXCL,
    body: Buffer.concat([
      tcmsg({ index: checkIndex('link index', o.index), parent: o.parent, info: tcHandle(o.priority, proto) }),
      attr(C.TCA_KIND, str('u32')),
      nest(C.TCA_OPTIONS, options),
    ]),
  };
}

/** RTM_GETTFILTER dump of one link's filters under `parent`. */
export function dumpFilters(index: number, parent: number): NlRequest {
  return { type: C.RTM_GETTFILTER, flags: C.NLM_F_DUMP, body: tcmsg({ index: checkIndex('link index', index), parent }) };
}

// ---------------------------------------------------------------- decoders

export interface TbfOptions {
  readonly rate: bigint;
  readonly peakrate: bigint;
  readonly limit: number;
  readonly buffer: number;
  readonly mtu: number;
}

export interface Qdisc {
  readonly index: number;
  readonly handle: number;
  readonly parent: number;
  readonly kind: string;
  /** Set for kind "tbf". */
  readonly tbf?: TbfOptions;
}

function tcHeader(body: Buffer): { index: number; handle: number; parent: number; info: number; attrs: Map<number, Buffer> } {
  if (body.length < C.TCMSG_LEN) throw new RangeError(`netlink tcmsg: ${body.length} bytes, expected ${C.TCMSG_LEN}`);
  return {
    index: body.readInt32LE(4),
    handle: body.readUInt32LE(8),
    parent: body.readUInt32LE(12),
    info: body.readUInt32LE(16),
    attrs: attrTable(body.subarray(C.TCMSG_LEN)),
  };
}

function kindOf(b: Buffer | undefined): string {
  if (b === undefined) return '';
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

function decodeTbf(opts: Buffer): TbfOptions | undefined {
  const t = attrTable(opts);
  const p = t.get(C.TCA_TBF_PARMS);
  if (p === undefined || p.length < C.TC_TBF_QOPT_LEN) return undefined;
  const r64 = t.get(C.TCA_TBF_RATE64);
  const pr64 = t.get(C.TCA_TBF_PRATE64);
  return {
    rate: r64 !== undefined && r64.length >= 8 ? r64.readBigUInt64LE(0) : BigInt(p.readUInt32LE(8)),
    peakrate: pr64 !== undefined && pr64.length >= 8 ? pr64.readBigUInt64LE(0) : BigInt(p.readUInt32LE(20)),
    limit: p.readUInt32LE(24),
    buffer: p.readUInt32LE(28),
    mtu: p.readUInt32LE(32),
  };
}

/** An RTM_NEWQDISC payload. */
export function decodeQdisc(body: Buffer): Qdisc {
  const h = tcHeader(body);
  const kind = kindOf(h.attrs.get(C.TCA_KIND));
  const opts = h.attrs.get(C.TCA_OPTIONS);
  const tbf = kind === 'tbf' && opts !== undefined ? decodeTbf(opts) : undefined;
  return { index: h.index, handle: h.handle, parent: h.parent, kind, ...(tbf === undefined ? {} : { tbf }) };
}

export interface TcAction {
  readonly kind: string;
  /** Set for kind "mirred". */
  readonly mirred?: MirredSpec;
}

export interface TcFilter {
  readonly index: number;
  readonly handle: number;
  readonly parent: number;
  readonly priority: number;
  /** Host order (ETH_P_ALL is 3). */
  readonly protocol: number;
  readonly kind: string;
  /** TCA_U32_CLASSID, for kind "u32". */
  readonly classId?: number;
  readonly actions: readonly TcAction[];
}

function decodeActions(buf: Buffer): TcAction[] {
  const out: TcAction[] = [];
  for (const a of parseAttrs(buf).sort((x, y) => x.type - y.type)) {
    const t = attrTable(a.data);
    const kind = kindOf(t.get(C.TCA_ACT_KIND));
    const opts = t.get(C.TCA_ACT_OPTIONS);
    let mirred: MirredSpec | undefined;
    if (kind === 'mirred' && opts !== undefined) {
      const p = attrTable(opts).get(C.TCA_MIRRED_PARMS);
      if (p !== undefined && p.length >= C.TC_MIRRED_LEN) mirred = { action: p.readInt32LE(8), eaction: p.readInt32LE(20), ifindex: p.readUInt32LE(24) };
    }
    out.push({ kind, ...(mirred === undefined ? {} : { mirred }) });
  }
  return out;
}

/** An RTM_NEWTFILTER payload. */
export function decodeFilter(body: Buffer): TcFilter {
  const h = tcHeader(body);
  const kind = kindOf(h.attrs.get(C.TCA_KIND));
  const opts = h.attrs.get(C.TCA_OPTIONS);
  let classId: number | undefined;
  let actions: TcAction[] = [];
  if (kind === 'u32' && opts !== undefined) {
    const t = attrTable(opts);
    const cid = t.get(C.TCA_U32_CLASSID);
    if (cid !== undefined && cid.length >= 4) classId = cid.readUInt32LE(0);
    const act = t.get(C.TCA_U32_ACT);
    if (act !== undefined) actions = decodeActions(act);
  }
  const p = h.info & 0xffff;
  return {
    index: h.index,
    handle: h.handle,
    parent: h.parent,
    priority: h.info >>> 16,
    protocol: ((p & 0xff) << 8) | (p >> 8),
    kind,
    ...(classId === undefined ? {} : { classId }),
    actions,
  };
}
