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
