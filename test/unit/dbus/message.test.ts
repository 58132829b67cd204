/**
 * lib/dbus's message encoding: header layout (little endian, version 1,
 * 8-aligned header fields, body length), round trips of the basic types, and
 * framing of partial input.
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, messageLength, systemBusPath } from '../../../lib/dbus/index.ts';

describe('encodeMessage / decodeMessage', () => {
  it('lays out the fixed header and 8-aligned fields as the specification says', () => {
    const m = encodeMessage({ type: 1, serial: 7, destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello', signature: '', body: [] });
    expect([...m.subarray(0, 4)]).toEqual([0x6c, 1, 0, 1]);
    expect(m.readUInt32LE(4)).toBe(0); // no body
    expect(m.readUInt32LE(8)).toBe(7);
    expect(m.length % 8).toBe(0);
    // first field: PATH (1), signature "o", then the string
    expect([...m.subarray(16, 20)]).toEqual([1, 1, 0x6f, 0]);
    expect(m.readUInt32LE(20)).toBe('/org/freedesktop/DBus'.length);
    expect(messageLength(m)).toBe(m.length);
    expect(decodeMessage(m)).toMatchObject({ type: 1, serial: 7, path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello', destination: 'org.freedesktop.DBus', signature: '', body: [] });
  });

  it('round-trips bodies of basic types, aligned', () => {
    const m = encodeMessage({ type: 2, serial: 3, replySerial: 9, destination: ':1.5', signature: 'ysubgo', body: [7, 'trusted', 0xfffffffe, true, 'as', '/a/b'] });
    const d = decodeMessage(m);
    expect(d).toMatchObject({ type: 2, replySerial: 9, destination: ':1.5', signature: 'ysubgo', body: [7, 'trusted', 0xfffffffe, true, 'as', '/a/b'] });
    // the body follows the 8-aligned header: its first byte is the 'y'
    expect(m[m.length - m.readUInt32LE(4)]).toBe(7);
  });

  it('frames: undefined until the whole message is there', () => {
    const m = encodeMessage({ type: 3, serial: 1, replySerial: 1, errorName: 'org.x.Error', signature: 's', body: ['nope: ümlaut'] });
    for (const n of [0, 15, 16, m.length - 1]) expect(messageLength(m.subarray(0, n))).toBeUndefined();
    expect(messageLength(Buffer.concat([m, m]))).toBe(m.length);
    expect(decodeMessage(m)).toMatchObject({ errorName: 'org.x.Error', body: ['nope: ümlaut'] });
  });

  it('refuses what it cannot encode', () => {
    expect(() => encodeMessage({ type: 1, serial: 1, signature: 'as', body: [] })).toThrow(/not supported/);
    expect(() => encodeMessage({ type: 1, serial: 1, signature: 'ss', body: ['a'] })).toThrow(/does not match/);
    expect(() => messageLength(Buffer.from('B\x01\x00\x01' + '\0'.repeat(12), 'latin1'))).toThrow(/big-endian/);
  });
});

describe('systemBusPath', () => {
  it('reads DBUS_SYSTEM_BUS_ADDRESS unix:path=, else the well-known socket', () => {
    expect(systemBusPath({})).toBe('/run/dbus/system_bus_socket');
    expect(systemBusPath({ DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/tmp/x%20y/bus,guid=1' })).toBe('/tmp/x y/bus');
    expect(systemBusPath({ DBUS_SYSTEM_BUS_ADDRESS: 'tcp:host=a;unix:path=/b' })).toBe('/b');
    expect(() => systemBusPath({ DBUS_SYSTEM_BUS_ADDRESS: 'unix:abstract=/x' })).toThrow(/no unix:path/);
  });
});
