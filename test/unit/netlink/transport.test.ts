/**
 * The transport over a fake wire (the addon's nlOpen/nlTransact): the header
 * it frames, errno from NLMSG_ERROR, ACKs and DONE dropped, dumps restarted
 * on NLM_F_DUMP_INTR, timeouts that close the socket, use after close, and
 * the generic `exchange` returning every answer as is.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../lib/netlink/errors.ts';
import { frame, parseMessages, Transport, type NetlinkWire } from '../../../lib/netlink/transport.ts';

interface Msg {
  type: number;
  flags?: number;
  seq?: number;
  data: Buffer;
}

const ack = (errno = 0, seq?: number): Msg => {
  const d = Buffer.alloc(20);
  d.writeInt32LE(-errno, 0);
  return { type: 2, data: d, ...(seq === undefined ? {} : { seq }) };
};

class FakeWire implements NetlinkWire {
  readonly sent: Buffer[] = [];
  closed: number[] = [];
  constructor(private readonly answer: (n: number, seq: number) => Msg[] | Error) {}
  nlOpen(): number {
    return 42;
  }
  nlTransact(fd: number, request: Buffer): Buffer {
    expect(fd).toBe(42);
    this.sent.push(request);
    const seq = request.readUInt32LE(8);
    const a = this.answer(this.sent.length, seq);
    if (a instanceof Error) throw a;
    return Buffer.concat(a.map((m) => frame(m.type, m.flags ?? 0, m.seq ?? seq, m.data)));
  }
  close(fd: number): void {
    this.closed.push(fd);
  }
}

function transport(answer: (n: number, seq: number) => Msg[] | Error): { t: Transport; wire: FakeWire } {
  const wire = new FakeWire(answer);
  return { t: new Transport(wire, 42, 1000), wire };
}

const req = { type: 16, flags: 0x600, body: Buffer.from('0102030405', 'hex') };
const dump = { type: 18, flags: 0x300, body: Buffer.alloc(16) };

describe('Transport', () => {
  it('frames the request (REQUEST|ACK added, padded to 4 bytes), drops the ACK and returns the rest', async () => {
    const { t, wire } = transport(() => [{ type: 16, data: Buffer.from('aa', 'hex') }, ack()]);
    expect(await t.request(req)).toEqual([{ type: 16, flags: 0, body: Buffer.from('aa', 'hex') }]);
    const sent = wire.sent[0]!;
    expect(sent.length).toBe(24);
    expect(sent.readUInt32LE(0)).toBe(21);
    expect(sent.readUInt16LE(4)).toBe(16);
    expect(sent.readUInt16LE(6)).toBe(0x605);
    expect(sent.subarray(16, 21)).toEqual(req.body);
  });

  it('gives every request a new sequence number', async () => {
    const { t, wire } = transport(() => [ack()]);
    await t.request(req);
    await t.request(req);
    expect(wire.sent[0]!.readUInt32LE(8)).not.toBe(wire.sent[1]!.readUInt32LE(8));
  });

  it('turns NLMSG_ERROR into a KernelError with code and errno', async () => {
    const { t } = transport(() => [ack(17)]);
    const err = (await t.request(req).catch((e: unknown) => e)) as KernelError;
    expect(err).toBeInstanceOf(KernelError);
    expect(err).toMatchObject({ code: 'EEXIST', errno: 17, syscall: 'netlink' });
    expect(err.message).toMatch(/\(EEXIST\)$/);
  });

  it('drops NLMSG_DONE at the end of a dump', async () => {
    const { t } = transport(() => [{ type: 16, flags: 0x2, data: Buffer.alloc(4) }, { type: 3, flags: 0x2, data: Buffer.alloc(4) }]);
    expect(await t.request(dump)).toEqual([{ type: 16, flags: 0x2, body: Buffer.alloc(4) }]);
  });

  it('restarts a dump that the kernel marks interrupted, and gives up after 10 tries', async () => {
    const intr: Msg = { type: 16, flags: 0x2 | 0x10, data: Buffer.alloc(16) };
    const ok: Msg = { type: 16, flags: 0x2, data: Buffer.alloc(16) };
    const twice = transport((n) => (n < 3 ? [intr] : [ok]));
    expect(await twice.t.request(dump)).toEqual([{ type: 16, flags: 0x2, body: Buffer.alloc(16) }]);
    expect(twice.wire.sent).toHaveLength(3);

    const always = transport(() => [intr]);
    await expect(always.t.request(dump)).rejects.toMatchObject({ code: 'EINTR' });
    expect(always.wire.sent).toHaveLength(10);

    // a non-dump request is never repeated
    const once = transport(() => [intr]);
    await once.t.request(req);
    expect(once.wire.sent).toHaveLength(1);
  });

  it('times out, closes the socket and refuses further requests', async () => {
    const { t, wire } = transport(() => Object.assign(new Error('netlink: timed out'), { errno: 110, code: 'ETIMEDOUT' }));
    await expect(t.request(req)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(wire.closed).toEqual([42]);
    expect(t.isClosed).toBe(true);
    await expect(t.request(req)).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('passes other socket errors on, and stays usable', async () => {
    const { t, wire } = transport((n) => (n === 1 ? Object.assign(new Error('recv: no buffer space'), { errno: 105, code: 'ENOBUFS' }) : [ack()]));
    await expect(t.request(req)).rejects.toMatchObject({ code: 'ENOBUFS' });
    expect(await t.request(req)).toEqual([]);
    expect(wire.closed).toEqual([]);
    t.close();
    t.close();
    expect(wire.closed).toEqual([42]);
  });

  it('exchange sends the caller’s messages as they are and returns every answer, errors included', () => {
    const { t, wire } = transport(() => [ack(0, 7), ack(17, 8)]);
    const batch = Buffer.concat([frame(0x10, 0x5, 7, Buffer.alloc(4)), frame(0x11, 0x5, 8, Buffer.alloc(3))]);
    const replies = t.exchange(batch);
    expect(wire.sent[0]).toEqual(batch);
    expect(replies.map((r) => [r.type, r.seq, r.body.readInt32LE(0)])).toEqual([
      [2, 7, 0],
      [2, 8, -17],
    ]);
  });
});

describe('parseMessages', () => {
  it('splits padded messages and refuses a truncated one', () => {
    const two = Buffer.concat([frame(16, 2, 1, Buffer.from([1, 2, 3])), frame(3, 2, 1, Buffer.alloc(4))]);
    expect(parseMessages(two).map((m) => [m.type, m.body.length])).toEqual([
      [16, 3],
      [3, 4],
    ]);
    expect(() => parseMessages(two.subarray(0, 18))).toThrow(/truncated/);
  });
});
