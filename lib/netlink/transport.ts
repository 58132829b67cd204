/**
 * The wire: one NETLINK_ROUTE socket of the `netlink` package, used for what
 * it does well (a native socket whose I/O runs on the main loop, sequence
 * numbers, multipart reassembly) and nothing else. Requests are encoded by
 * encode.ts, replies decoded by decode.ts, and errors read here.
 *
 * The package is loaded on first use, never at module top level: VERSION
 * and other runs that never open a socket do not pay for loading the native
 * addon. Only its socket layer (dist/netlink.js) is
 * loaded: the package's index also evaluates some 500 kB of generated
 * rtnetlink/nl80211/WireGuard struct code that we never use, which cost
 * about 13 ms of every run.
 */
import { constants as osConstants } from 'node:os';
import type { NetlinkMessage, NetlinkSocket } from 'netlink';
import * as C from './constants.ts';
import type { NlRequest } from './encode.ts';
import { KernelError } from './errors.ts';

type NetlinkPackage = typeof import('netlink/dist/netlink.js');

let loading: Promise<NetlinkPackage> | undefined;

/** Loads the `netlink` package (and its native addon) once. */
export function loadNetlinkPackage(): Promise<NetlinkPackage> {
  loading ??= import('netlink/dist/netlink.js').catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/** A reply message: its type, flags and payload after the nlmsghdr. */
export interface Reply {
  readonly type: number;
  readonly flags: number;
  readonly body: Buffer;
}

/** How many times a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is restarted. */
const DUMP_RETRIES = 10;

const ETIMEDOUT = osConstants.errno.ETIMEDOUT;
const EINTR = osConstants.errno.EINTR;
const EBADF = osConstants.errno.EBADF;

/**
 * Serialises requests on one socket: the kernel runs one dump per socket at
 * a time (a second concurrent one fails with EBUSY), and it keeps replies in
 * order for us.
 */
export class Transport {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private failInflight: ((err: Error) => void) | undefined;

  constructor(
    private readonly sock: NetlinkSocket,
    private readonly timeoutMs: number,
  ) {
    // an 'error' event without a listener would throw from the event loop
    sock.on('error', (err) => this.failInflight?.(err));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one request (REQUEST|ACK added) and returns the reply messages other than the ACK. */
  request(req: NlRequest): Promise<Reply[]> {
    const run = (): Promise<Reply[]> => this.runWithRetries(req);
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /**
   * Sends several messages in one datagram (an nfnetlink batch: BEGIN, the
   * changes, END, applied by the kernel as one transaction) and waits for
   * the answer to each message sent with NLM_F_ACK in its flags. Rejects
   * with the first error the kernel reports for any of them. Serialised with
   * `request` like every other use of the socket.
   */
  batch(reqs: readonly NlRequest[]): Promise<void> {
    const run = (): Promise<void> => this.runBatch(reqs);
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  private runBatch(reqs: readonly NlRequest[]): Promise<void> {
    if (this.closed) return Promise.reject(new KernelError(EBADF, 'netlink handle is closed'));
    const seqs = reqs.map(() => this.sock.generateSeq());
    const waiting = new Set(seqs.filter((_, i) => (reqs[i]!.flags & C.NLM_F_ACK) !== 0));
    const all = new Set(seqs);
    const datagram = Buffer.concat(reqs.map((r, i) => nlmsg(r, seqs[i]!)));
    if (datagram.length > 64 * 1024) {
      // one datagram must fit the send buffer (EMSGSIZE otherwise); the kernel caps this at net.core.wmem_max
      try {
        this.sock.setSendBufferSize(datagram.length + 64 * 1024);
      } catch {
        // the send fails with EMSGSIZE and says so
      }
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.failInflight = undefined;
        this.sock.off('message', onMessage);
        this.sock.unref();
        fn();
      };
      const onMessage = (msgs: NetlinkMessage[]): void => {
        for (const m of msgs) {
          if (m.type !== C.NLMSG_ERROR || !all.has(m.seq)) continue;
          const errno = m.data.length >= 4 ? -m.data.readInt32LE(0) : 0;
          if (errno !== 0) {
            finish(() => reject(new KernelError(errno)));
            return;
          }
          waiting.delete(m.seq);
        }
        if (waiting.size === 0) finish(resolve);
      };
      const timer = setTimeout(() => {
        finish(() => reject(new KernelError(ETIMEDOUT, `no answer from the kernel within ${this.timeoutMs} ms`)));
        this.close();
      }, this.timeoutMs);
      this.failInflight = (err) => finish(() => reject(err));
      this.sock.on('message', onMessage);
      // keep the event loop alive while the answers are due (the package refs the socket only for its own requests)
      this.sock.ref(true);
      this.sock.socket.send(datagram, {}, (err) => {
        if (err !== undefined && err !== null) finish(() => reject(err));
        else if (waiting.size === 0) finish(resolve);
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }

  private async runWithRetries(req: NlRequest): Promise<Reply[]> {
    const dump = (req.flags & C.NLM_F_DUMP) === C.NLM_F_DUMP;
    for (let attempt = 1; ; attempt++) {
      const replies = await this.runOnce(req);
      if (!dump || !replies.some((r) => (r.flags & C.NLM_F_DUMP_INTR) !== 0)) return replies;
      if (attempt >= DUMP_RETRIES) throw new KernelError(EINTR, `dump interrupted ${DUMP_RETRIES} times by concurrent changes`);
    }
  }

  private runOnce(req: NlRequest): Promise<Reply[]> {
    if (this.closed) return Promise.reject(new KernelError(EBADF, 'netlink handle is closed'));
    return new Promise<Reply[]>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.failInflight = undefined;
        fn();
      };
      const timer = setTimeout(() => {
        finish(() => reject(new KernelError(ETIMEDOUT, `no answer from the kernel within ${this.timeoutMs} ms`)));
        // the package would keep the request (and the event loop) waiting forever
        this.close();
      }, this.timeoutMs);
      this.failInflight = (err) => finish(() => reject(err));
      this.sock.request(req.type, req.body, { flags: req.flags, checkError: false }).then(
        ([msgs]) => {
          finish(() => {
            try {
              resolve(collect(msgs));
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
        },
        (err: unknown) => finish(() => reject(err instanceof Error ? err : new Error(String(err)))),
      );
    });
  }
}

/** One netlink message: nlmsghdr (NLM_F_REQUEST added, port 0: the kernel's) + body, padded to 4 bytes. */
function nlmsg(r: NlRequest, seq: number): Buffer {
  const len = 16 + r.body.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(r.type, 4);
  out.writeUInt16LE(r.flags | C.NLM_F_REQUEST, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(0, 12);
  r.body.copy(out, 16);
  return out;
}

/** Throws the errno of an NLMSG_ERROR; drops the ACK (errno 0); returns the rest. */
function collect(msgs: NetlinkMessage[]): Reply[] {
  const out: Reply[] = [];
  for (const m of msgs) {
    if (m.type === C.NLMSG_ERROR) {
      if (m.data.length < 4) throw new Error('truncated NLMSG_ERROR from the kernel');
      const errno = -m.data.readInt32LE(0);
      if (errno !== 0) throw new KernelError(errno);
      continue;
    }
    if (m.type === C.NLMSG_DONE) continue;
    out.push({ type: m.type, flags: m.flags, body: m.data });
  }
  return out;
}

/** Opens a netlink socket (NETLINK_ROUTE unless told) in the namespace the calling thread is in now (synchronous). */
export function createSocket(pkg: NetlinkPackage, protocol: number = C.NETLINK_ROUTE): NetlinkSocket {
  return pkg.createNetlink(protocol);
}
