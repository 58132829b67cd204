/**
 * Conntrack over NETLINK_NETFILTER (ctnetlink), for what the plugins need:
 * dropping the entries of one protocol to some destination ports (portmap
 * flushes stale UDP flows of a hostPort so that a restarted pod receives its
 * traffic, as the reference does with vishvananda/netlink's
 * ConntrackDeleteFilters). Like the reference we dump the table and delete
 * each match by its original tuple; the kernel's own dump filters differ
 * between versions. The encoders and the decoder are pure (unit-tested).
 */
import * as C from './constants.ts';
import { attr } from './encode.ts';
import type { NlRequest } from './encode.ts';
import type { IpFamily } from './ip.ts';

const msgType = (m: number): number => (C.NFNL_SUBSYS_CTNETLINK << 8) | m;
const familyNumber = (f: IpFamily): number => (f === 4 ? C.AF_INET : C.AF_INET6);

/** struct nfgenmsg: family, version, res_id (big endian). */
function nfgenmsg(family: IpFamily): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(familyNumber(family), 0);
  b.writeUInt8(C.NFNETLINK_V0, 1);
  return b;
}

/** Dump of the conntrack table of one family. */
export function dumpConntrack(family: IpFamily): NlRequest {
  return { type: msgType(C.IPCTNL_MSG_CT_GET), flags: C.NLM_F_DUMP, body: nfgenmsg(family) };
}

/** Walks the attributes of `buf` (type with the flag bits masked off). */
function* attrs(buf: Buffer): Generator<{ type: number; payload: Buffer; raw: Buffer }> {
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) return;
    // `raw` keeps the padding, so that attributes copied into a request stay aligned
    yield { type: buf.readUInt16LE(off + 2) & C.NLA_TYPE_MASK, payload: buf.subarray(off + 4, off + len), raw: buf.subarray(off, Math.min(buf.length, off + ((len + 3) & ~3))) };
    off += (len + 3) & ~3;
  }
}

/** One entry of a dump, as much as deleting it takes. */
export interface ConntrackEntry {
  /** IP protocol number of the original tuple (17: UDP). */
  proto: number | undefined;
  /** Original destination port. */
  dstPort: number | undefined;
  /** The CTA_TUPLE_ORIG attribute as the kernel sent it, and CTA_ZONE if any: what identifies the entry. */
  key: Buffer[];
}

/** Decodes the payload of one IPCTNL_MSG_CT_NEW message of a dump. */
export function decodeConntrackEntry(body: Buffer): ConntrackEntry {
  let proto: number | undefined;
  let dstPort: number | undefined;
  const key: Buffer[] = [];
  for (const a of attrs(body.subarray(4))) {
    if (a.type === C.CTA_TUPLE_ORIG) {
      key.push(a.raw);
      for (const t of attrs(a.payload)) {
        if (t.type !== C.CTA_TUPLE_PROTO) continue;
        for (const p of attrs(t.payload)) {
          if (p.type === C.CTA_PROTO_NUM && p.payload.length >= 1) proto = p.payload.readUInt8(0);
          if (p.type === C.CTA_PROTO_DST_PORT && p.payload.length >= 2) dstPort = p.payload.readUInt16BE(0);
        }
      }
    } else if (a.type === C.CTA_ZONE) {
      key.push(a.raw);
    }
  }
  return { proto, dstPort, key };
}

/** Deletes the entry `e` (found by a dump of `family`). */
export function deleteConntrack(family: IpFamily, e: ConntrackEntry): NlRequest {
  return { type: msgType(C.IPCTNL_MSG_CT_DELETE), flags: 0, body: Buffer.concat([nfgenmsg(family), ...e.key]) };
}

/** Builds an entry as a dump would show it (tests). */
export function conntrackEntryAttrs(proto: number, dstPort: number): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(dstPort);
  const protoNest = attr(C.CTA_TUPLE_PROTO | C.NLA_F_NESTED, Buffer.concat([attr(C.CTA_PROTO_NUM, Buffer.from([proto])), attr(C.CTA_PROTO_DST_PORT | C.NLA_F_NET_BYTEORDER, port)]));
  return attr(C.CTA_TUPLE_ORIG | C.NLA_F_NESTED, protoNest);
}
