/**
 * A minimal D-Bus client over a Unix socket (node:net, no native code): the
 * SASL EXTERNAL handshake, Hello, method calls with basic-type arguments
 * (s, o, g, u, b, y) and their replies (method return or error), and, for
 * tests, serving method calls. Enough for firewalld's zone API; not a general
 * D-Bus library (no containers, no fds, little-endian messages only).
 * Wire format: the D-Bus specification, "Message Protocol".
 */
import { type Socket, createConnection } from 'node:net';

export type BasicType = 's' | 'o' | 'g' | 'u' | 'b' | 'y';
export type BasicValue = string | number | boolean;

export const SYSTEM_BUS_SOCKET = '/run/dbus/system_bus_socket';

const MSG = { call: 1, reply: 2, error: 3, signal: 4 } as const;
const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, sender: 7, signature: 8 } as const;
const FIELD_TYPES: Record<number, BasicType> = { 1: 'o', 2: 's', 3: 's', 4: 's', 5: 'u', 6: 's', 7: 's', 8: 'g' };

/** The address of the system bus: DBUS_SYSTEM_BUS_ADDRESS (unix:path=… only) or the well-known socket. */
export function systemBusPath(env: NodeJS.ProcessEnv = process.env): string {
  const addr = env['DBUS_SYSTEM_BUS_ADDRESS'];
  if (addr === undefined || addr === '') return SYSTEM_BUS_SOCKET;
  for (const part of addr.split(';')) {
    const m = /^unix:(?:.*,)?path=([^,]+)/.exec(part);
    if (m !== null) return decodeURIComponent(m[1]!);
  }
  throw new Error(`DBUS_SYSTEM_BUS_ADDRESS ${JSON.stringify(addr)} names no unix:path= address`);
}

class Writer {
  private buf = Buffer.alloc(256);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  align(n: number): void {
    const pad = (n - (this.len % n)) % n;
    this.ensure(pad);
    this.buf.fill(0, this.len, this.len + pad);
    this.len += pad;
  }

  byte(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  u32(v: number): void {
    this.align(4);
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }

  value(t: BasicType, v: BasicValue): void {
    switch (t) {
      case 's':
      case 'o': {
        const b = Buffer.from(String(v), 'utf8');
        this.u32(b.length);
        this.bytes(b);
        this.byte(0);
        return;
      }
      case 'g': {
        const b = Buffer.from(String(v), 'utf8');
        this.byte(b.length);
        this.bytes(b);
        this.byte(0);
        return;
      }
      case 'u':
        this.u32(Number(v));
        return;
      case 'b':
        this.u32(v === true ? 1 : 0);
        return;
      case 'y':
        this.byte(Number(v));
    }
  }

  done(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    /** Offset that alignment is relative to (the start of the message). */
    private readonly base = 0,
  ) {}

  align(n: number): void {
    const rel = this.pos - this.base;
    this.pos += (n - (rel % n)) % n;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('D-Bus message truncated');
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.align(4);
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  value(t: string): BasicValue {
    switch (t) {
      case 's':
      case 'o': {
        const n = this.u32();
        this.need(n + 1);
        const s = this.buf.toString('utf8', this.pos, this.pos + n);
        this.pos += n + 1;
        return s;
      }
      case 'g': {
        const n = this.byte();
        this.need(n + 1);
        const s = this.buf.toString('utf8', this.pos, this.pos + n);
        this.pos += n + 1;
        return s;
      }
      case 'u':
        return this.u32();
      case 'b':
        return this.u32() !== 0;
      case 'y':
        return this.byte();
      default:
        throw new Error(`D-Bus type ${JSON.stringify(t)} is not supported by this client`);
    }
  }
}

export interface Message {
  type: number;
  flags: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature: string;
  body: BasicValue[];
}

/** Encodes one little-endian message (pure: unit-tested). */
export function encodeMessage(m: Omit<Message, 'flags'> & { flags?: number }): Buffer {
  if (!/^[sogbuy]*$/.test(m.signature)) throw new Error(`D-Bus signature ${JSON.stringify(m.signature)} is not supported by this client`);
  if (m.signature.length !== m.body.length) throw new Error('D-Bus body does not match its signature');
  const body = new Writer();
  [...m.signature].forEach((t, i) => body.value(t as BasicType, m.body[i]!));
  const bodyBuf = body.done();
  const h = new Writer();
  h.byte(0x6c); // 'l'
  h.byte(m.type);
  h.byte(m.flags ?? 0);
  h.byte(1);
  h.u32(bodyBuf.length);
  h.u32(m.serial);
  const fields: [number, BasicValue | undefined][] = [
    [FIELD.path, m.path],
    [FIELD.interface, m.interface],
    [FIELD.member, m.member],
    [FIELD.errorName, m.errorName],
    [FIELD.replySerial, m.replySerial],
    [FIELD.destination, m.destination],
    [FIELD.sender, m.sender],
    [FIELD.signature, m.signature === '' ? undefined : m.signature],
  ];
  // the field array: its byte length, then 8-aligned (code, variant) structs
  h.u32(0);
  const lenAt = h.len - 4;
  h.align(8);
  const start = h.len;
  for (const [code, v] of fields) {
    if (v === undefined) continue;
    h.align(8);
    h.byte(code);
    const t = FIELD_TYPES[code]!;
    h.value('g', t);
    h.value(t, v);
  }
  const arrayLen = h.len - start;
  h.align(8);
  const head = h.done();
  head.writeUInt32LE(arrayLen, lenAt);
  return Buffer.concat([head, bodyBuf]);
}

/** The total length of the message at the start of `buf`, or undefined when more bytes are needed. */
export function messageLength(buf: Buffer): number | undefined {
  if (buf.length < 16) return undefined;
  if (buf[0] !== 0x6c) throw new Error('big-endian D-Bus messages are not supported by this client');
  const bodyLen = buf.readUInt32LE(4);
  const fieldsLen = buf.readUInt32LE(12);
  const headerLen = 16 + fieldsLen + ((8 - ((16 + fieldsLen) % 8)) % 8);
  const total = headerLen + bodyLen;
  return buf.length >= total ? total : undefined;
}

/** Decodes one complete message (pure: unit-tested). */
export function decodeMessage(buf: Buffer): Message {
  const r = new Reader(buf, 0);
  r.byte();
  const type = r.byte();
  const flags = r.byte();
  r.byte();
  const bodyLen = r.u32();
  const serial = r.u32();
  const fieldsLen = r.u32();
  r.align(8);
  const end = r.pos + fieldsLen;
  const m: Message = { type, flags, serial, signature: '', body: [] };
  while (r.pos < end) {
    r.align(8);
    const code = r.byte();
    const sig = r.value('g') as string;
    const v = r.value(sig);
    if (code === FIELD.path) m.path = v as string;
    else if (code === FIELD.interface) m.interface = v as string;
    else if (code === FIELD.member) m.member = v as string;
    else if (code === FIELD.errorName) m.errorName = v as string;
    else if (code === FIELD.replySerial) m.replySerial = v as number;
    else if (code === FIELD.destination) m.destination = v as string;
    else if (code === FIELD.sender) m.sender = v as string;
    else if (code === FIELD.signature) m.signature = v as string;
  }
  r.align(8);
  const bodyStart = r.pos;
  const br = new Reader(buf.subarray(0, bodyStart + bodyLen), bodyStart, bodyStart);
  // a body we cannot read (arrays, dicts: firewalld's other replies) is left empty
  try {
    for (const t of m.signature) m.body.push(br.value(t));
  } catch {
    m.body = [];
  }
  return m;
}

/** A D-Bus error reply, with its name ("org.fedoraproject.FirewallD1.Exception") and message. */
export class DBusError extends Error {
  override readonly name = 'DBusError';
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(`${errorName}: ${message}`);
  }
}

export interface CallOptions {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: BasicValue[];
}

export type CallHandler = (m: Message) => Promise<{ signature: string; body: BasicValue[] }> | { signature: string; body: BasicValue[] };

/** One connection to a bus. Every call is bounded by `timeoutMs`. */
export class DBusConnection {
  private serial = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private handler: CallHandler | undefined;
  private closed: Error | undefined;
  uniqueName = '';

  private constructor(
    private readonly sock: Socket,
    private readonly timeoutMs: number,
  ) {}

  /** Connects, authenticates (EXTERNAL, our uid) and says Hello. */
  static async connect(path: string, timeoutMs = 5000): Promise<DBusConnection> {
    const sock = createConnection(path);
    const conn = new DBusConnection(sock, timeoutMs);
    try {
      await conn.handshake();
    } catch (err) {
      sock.destroy();
      throw err;
    }
    sock.on('data', (d: Buffer) => conn.onData(d));
    sock.on('error', (e) => conn.fail(e));
    sock.on('close', () => conn.fail(new Error('D-Bus connection closed')));
    try {
      const hello = await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello' });
      conn.uniqueName = String(hello.body[0] ?? '');
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  private handshake(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no D-Bus authentication answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      let text = '';
      const onData = (d: Buffer): void => {
        text += d.toString('latin1');
        const nl = text.indexOf('\r\n');
        if (nl < 0) return;
        const line = text.slice(0, nl);
        if (line.startsWith('OK ')) {
          this.sock.write('BEGIN\r\n');
          done();
        } else {
          done(new Error(`D-Bus authentication refused: ${line}`));
        }
      };
      const onError = (e: Error): void => done(e);
      const done = (e?: Error): void => {
        clearTimeout(timer);
        this.sock.off('data', onData);
        this.sock.off('error', onError);
        if (e === undefined) resolve();
        else reject(e);
      };
      this.sock.on('data', onData);
      this.sock.on('error', onError);
      this.sock.on('connect', () => {
        const uid = Buffer.from(String(process.getuid?.() ?? 0)).toString('hex');
        this.sock.write(`\0AUTH EXTERNAL ${uid}\r\n`);
      });
    });
  }

  private fail(e: Error): void {
    if (this.closed !== undefined) return;
    this.closed = e;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      let n: number | undefined;
      try {
        n = messageLength(this.buf);
      } catch (e) {
        this.fail(e as Error);
        this.sock.destroy();
        return;
      }
      if (n === undefined) return;
      const m = decodeMessage(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      this.dispatch(m);
    }
  }

  private dispatch(m: Message): void {
    if ((m.type === MSG.reply || m.type === MSG.error) && m.replySerial !== undefined) {
      const p = this.pending.get(m.replySerial);
      if (p === undefined) return;
      this.pending.delete(m.replySerial);
      clearTimeout(p.timer);
      if (m.type === MSG.error) p.reject(new DBusError(m.errorName ?? 'org.freedesktop.DBus.Error.Failed', typeof m.body[0] === 'string' ? m.body[0] : ''));
      else p.resolve(m);
    } else if (m.type === MSG.call && this.handler !== undefined) {
      void this.answer(m, this.handler);
    }
  }

  private async answer(m: Message, handler: CallHandler): Promise<void> {
    try {
      const r = await handler(m);
      this.sock.write(encodeMessage({ type: MSG.reply, serial: ++this.serial, replySerial: m.serial, ...(m.sender === undefined ? {} : { destination: m.sender }), signature: r.signature, body: r.body }));
    } catch (err) {
      const name = err instanceof DBusError ? err.errorName : 'org.freedesktop.DBus.Error.Failed';
      const msg = err instanceof DBusError ? err.message.slice(name.length + 2) : String(err);
      this.sock.write(encodeMessage({ type: MSG.error, serial: ++this.serial, replySerial: m.serial, errorName: name, ...(m.sender === undefined ? {} : { destination: m.sender }), signature: 's', body: [msg] }));
    }
  }

  /** Serves method calls made to this connection (tests: a pretend service). */
  serve(handler: CallHandler): void {
    this.handler = handler;
  }

  call(o: CallOptions): Promise<Message> {
    if (this.closed !== undefined) return Promise.reject(this.closed);
    const serial = ++this.serial;
    const msg = encodeMessage({ type: MSG.call, serial, destination: o.destination, path: o.path, interface: o.interface, member: o.member, signature: o.signature ?? '', body: o.body ?? [] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(new Error(`no D-Bus answer to ${o.interface}.${o.member} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(serial, { resolve, reject, timer });
      this.sock.write(msg);
    });
  }

  close(): void {
    this.fail(new Error('D-Bus connection closed'));
    this.sock.destroy();
  }
}
