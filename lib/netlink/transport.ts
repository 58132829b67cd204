/**
 * The wire: one netlink socket of our own addon (native/cni_native.c,
 * `nlOpen`/`nlTransact`), driven synchronously: a request is sent and every
 * answer to it read in one call, with a timeout, on the calling thread. No
 * event loop is involved, so the Node and the Bun executables share this one
 * path (Bun has no libuv poll for the `netlink` package's socket), and a run
 * needs no second addon. Requests are encoded by encode.ts, replies decoded
 * by decode.ts, and errors read here.
 *
 * Three entry points: `request` (one message of encode.ts, REQUEST|ACK added,
 * the kernel's errno thrown, the ACK dropped) for the facade's verbs, `batch`
 * (an nf_tables transaction: several messages in one datagram, the first
 * error thrown; lib/nft), and `exchange` (any complete messages, every answer
 * returned as is, errors included) for protocols built on top of it.
 */
import { constants as osConstants } from 'node:os';
import { closeSync } from 'node:fs';
import { native } from '../native/loader.ts';
import { withErrnoCode } from '../native/errno.ts';
import * as C from './constants.ts';
import type { NlRequest } from './encode.ts';
import { KernelError } from './errors.ts';

/** A reply message: its type, flags and payload after the nlmsghdr. */
export interface Reply {
  readonly type: number;
  readonly flags: number;
  readonly body: Buffer;
}

/** A reply of `exchange`: a Reply with the sequence number it answers. */
export interface RawReply extends Reply {
  readonly seq: number;
}

/** What the transport needs of the addon (a fake in the unit tests). */
export interface NetlinkWire {
  nlOpen(protocol: number): number;
  nlTransact(fd: number, request: Buffer, timeoutMs: number): Buffer;
  close(fd: number): void;
}

/** The addon's socket calls, errors with a Node-style `code`. */
export function nativeWire(): NetlinkWire {
  const addon = native();
  return {
    nlOpen: (protocol) => call(() => addon.nlOpen(protocol)),
    nlTransact: (fd, request, timeoutMs) => call(() => addon.nlTransact(fd, request, timeoutMs)),
    close: (fd) => closeSync(fd),
  };
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw withErrnoCode(err);
  }
}

/** How many times a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is restarted. */
const DUMP_RETRIES = 10;

const ETIMEDOUT = osConstants.errno.ETIMEDOUT;
const EINTR = osConstants.errno.EINTR;
const EBADF = osConstants.errno.EBADF;

const NLMSG_HDRLEN = 16;
const align4 = (n: number): number => (n + 3) & ~3;

/** Complete netlink message bytes: nlmsghdr (pid 0, the kernel fills it in) and the payload. */
export function frame(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const len = NLMSG_HDRLEN + body.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  body.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Splits received bytes into messages. */
export function parseMessages(buf: Buffer): RawReply[] {
  const out: RawReply[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new Error('truncated netlink message from the kernel');
    out.push({ type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), body: buf.subarray(off + NLMSG_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/**
 * One socket. Calls are synchronous underneath (a request holds the thread
 * until the kernel answered or the timeout passed), so requests never
 * overlap on it and the kernel keeps the replies in order.
 */
export class Transport {
  private closed = false;
  private seq = 0;

  constructor(
    private readonly wire: NetlinkWire,
    private readonly fd: number,
    private readonly timeoutMs: number,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** A fresh sequence number for a message of `exchange`. */
  nextSeq(): number {
    this.seq = (this.seq % 0xfffffff0) + 1;
    return this.seq;
  }

  /** Sends one request (REQUEST|ACK added) and returns the reply messages other than the ACK. */
  request(req: NlRequest): Promise<Reply[]> {
    try {
      return Promise.resolve(this.requestSync(req));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** `request`, synchronously. */
  requestSync(req: NlRequest): Reply[] {
    const dump = (req.flags & C.NLM_F_DUMP) === C.NLM_F_DUMP;
    for (let attempt = 1; ; attempt++) {
      const seq = this.nextSeq();
      const replies = collect(this.exchange(frame(req.type, req.flags | C.NLM_F_REQUEST | C.NLM_F_ACK, seq, req.body)));
      if (!dump || !replies.some((r) => (r.flags & C.NLM_F_DUMP_INTR) !== 0)) return replies;
      if (attempt >= DUMP_RETRIES) throw new KernelError(EINTR, `dump interrupted ${DUMP_RETRIES} times by concurrent changes`);
    }
  }

  /**
   * Sends several messages in one datagram (an nfnetlink batch: BEGIN, the
   * changes, END, applied by the kernel as one transaction; NLM_F_REQUEST
   * added) and waits for the answer to each message sent with NLM_F_ACK in
   * its flags. Rejects with the first error the kernel reports for any of them.
   */
  batch(reqs: readonly NlRequest[]): Promise<void> {
    try {
      const datagram = Buffer.concat(reqs.map((r) => frame(r.type, r.flags | C.NLM_F_REQUEST, this.nextSeq(), r.body)));
      collect(this.exchange(datagram));
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * The generic entry point: sends `messages` (complete netlink messages,
   * headers included: see `frame` and `nextSeq`) and returns every message
   * the kernel sent for the sequence numbers that asked for an answer
   * (NLM_F_ACK or a dump) up to each one's NLMSG_ERROR or NLMSG_DONE, errors
   * included and not thrown. A timeout closes the socket (ETIMEDOUT).
   */
  exchange(messages: Buffer): RawReply[] {
    if (this.closed) throw new KernelError(EBADF, 'netlink handle is closed');
    let raw: Buffer;
    try {
      raw = this.wire.nlTransact(this.fd, messages, this.timeoutMs);
    } catch (err) {
      if ((err as { errno?: unknown }).errno === ETIMEDOUT) {
        // a late answer must never be read as the next request's
        this.close();
        throw new KernelError(ETIMEDOUT, `no answer from the kernel within ${this.timeoutMs} ms`);
      }
      throw err;
    }
    return parseMessages(raw);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wire.close(this.fd);
  }
}

/** Throws the errno of an NLMSG_ERROR; drops the ACK (errno 0) and NLMSG_DONE; returns the rest. */
function collect(msgs: readonly RawReply[]): Reply[] {
  const out: Reply[] = [];
  for (const m of msgs) {
    if (m.type === C.NLMSG_ERROR) {
      if (m.body.length < 4) throw new Error('truncated NLMSG_ERROR from the kernel');
      const errno = -m.body.readInt32LE(0);
      if (errno !== 0) throw new KernelError(errno);
      continue;
    }
    if (m.type === C.NLMSG_DONE) continue;
    out.push({ type: m.type, flags: m.flags, body: m.body });
  }
  return out;
}

/**
 * Opens a netlink socket of `protocol` (NETLINK_ROUTE unless told) in the
 * namespace the calling thread is in now (synchronous).
 */
export function openSocket(wire: NetlinkWire, protocol: number, timeoutMs: number): Transport {
  return new Transport(wire, wire.nlOpen(protocol), timeoutMs);
}
