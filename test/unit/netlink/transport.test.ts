/**
 * The transport over a fake package socket: errno from NLMSG_ERROR, ACKs
 * dropped, dumps restarted on NLM_F_DUMP_INTR, one request at a time,
 * timeouts, socket errors and use after close.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../lib/netlink/errors.ts';
import { Transport } from '../../../lib/netlink/transport.ts';

type PackageSocket = ConstructorParameters<typeof Transport>[0];

interface Msg {
  type: number;
  flags: number;
  seq: number;
  port: number;
  data: Buffer;
}

const msg = (type: number, data: Buffer, flags = 0): Msg => ({ type, flags, seq: 1, port: 0, data });
const ack = (errno = 0): Msg => {
  const d = Buffer.alloc(20);
  d.writeInt32LE(-errno, 0);
  return msg(2, d);
};

class FakeSocket extends EventEmitter {
  readonly sent: { type: number; flags: number | undefined; checkError: boolean | undefined }[] = [];
  closed = false;
  inflight = 0;
  maxInflight = 0;

  constructor(private readonly answer: (n: number) => Promise<Msg[]> | Msg[]) {
    super();
  }

  async request(type: number, _data: unknown, options?: { flags?: number; checkError?: boolean }): Promise<[Msg[], { port: number; groups: number }]> {
    this.sent.push({ type, flags: options?.flags, checkError: options?.checkError });
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      return [await this.answer(this.sent.length), { port: 0, groups: 0 }];
    } finally {
      this.inflight--;
    }
  }

  close(): void {
    this.closed = true;
  }
}

function transport(answer: (n: number) => Promise<Msg[]> | Msg[], timeoutMs = 1000): { t: Transport; sock: FakeSocket } {
  const sock = new FakeSocket(answer);
  return { t: new Transport(sock as unknown as PackageSocket, timeoutMs), sock };
}

const req = { type: 16, flags: 0x600, body: Buffer.alloc(16) };
const dump = { type: 18, flags: 0x300, body: Buffer.alloc(16) };

describe('Transport', () => {
  it('asks the package not to check errors, drops the ACK and returns the rest', async () => {
    const { t, sock } = transport(() => [msg(16, Buffer.from('aa', 'hex')), ack()]);
    expect(await t.request(req)).toEqual([{ type: 16, flags: 0, body: Buffer.from('aa', 'hex') }]);
    expect(sock.sent).toEqual([{ type: 16, flags: 0x600, checkError: false }]);
  });

  it('turns NLMSG_ERROR into a KernelError with code and errno', async () => {
    const { t } = transport(() => [ack(17)]);
    const err = (await t.request(req).catch((e: unknown) => e)) as KernelError;
    expect(err).toBeInstanceOf(KernelError);
    expect(err).toMatchObject({ code: 'EEXIST', errno: 17, syscall: 'netlink' });
    expect(err.message).toMatch(/\(EEXIST\)$/);
  });

  it('restarts a dump that the kernel marks interrupted, and gives up after 10 tries', async () => {
    const intr = msg(16, Buffer.alloc(16), 0x2 | 0x10);
    const ok = msg(16, Buffer.alloc(16), 0x2);
    const twice = transport((n) => (n < 3 ? [intr] : [ok]));
    expect(await twice.t.request(dump)).toEqual([{ type: 16, flags: 0x2, body: Buffer.alloc(16) }]);
    expect(twice.sock.sent).toHaveLength(3);

    const always = transport(() => [intr]);
    await expect(always.t.request(dump)).rejects.toMatchObject({ code: 'EINTR' });
    expect(always.sock.sent).toHaveLength(10);

    // a non-dump request is never repeated
    const once = transport(() => [intr]);
    await once.t.request(req);
    expect(once.sock.sent).toHaveLength(1);
  });

  it('sends one request at a time, even when the caller does not wait, and keeps going after a failure', async () => {
    const { t, sock } = transport(async (n) => {
      await new Promise((r) => setTimeout(r, 5));
      return n === 2 ? [ack(16)] : [msg(16, Buffer.from([n]))];
    });
    const results = await Promise.allSettled([t.request(dump), t.request(dump), t.request(dump)]);
    expect(sock.maxInflight).toBe(1);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('times out, closes the socket and refuses further requests', async () => {
    const { t, sock } = transport(() => new Promise<Msg[]>(() => undefined), 20);
    await expect(t.request(req)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(sock.closed).toBe(true);
    expect(t.isClosed).toBe(true);
    await expect(t.request(req)).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('fails the request in flight on a socket error event (and never crashes on one)', async () => {
    const { t, sock } = transport(() => new Promise<Msg[]>(() => undefined));
    const p = t.request(req);
    await new Promise((r) => setTimeout(r, 1));
    sock.emit('error', Object.assign(new Error('recv failed'), { code: 'ENOBUFS' }));
    await expect(p).rejects.toMatchObject({ code: 'ENOBUFS' });
    expect(() => sock.emit('error', new Error('idle'))).not.toThrow();
    t.close();
  });
});
