/** ctnetlink messages (the dump request, an entry's protocol and port, the delete that names it) and the route lookup portmap uses. */
import { describe, expect, it } from 'vitest';
import { attr } from '../../../lib/netlink/encode.ts';
import { conntrackEntryAttrs, decodeConntrackEntry, deleteConntrack, dumpConntrack } from '../../../lib/netlink/conntrack.ts';

describe('conntrack', () => {
  it('dumps one family of the ctnetlink subsystem', () => {
    const d = dumpConntrack(6);
    expect(d.type).toBe((1 << 8) | 1);
    expect([...d.body]).toEqual([10, 0, 0, 0]);
  });

  it('reads protocol and destination port and deletes by the original tuple and zone', () => {
    const tuple = conntrackEntryAttrs(17, 8053);
    const zone = attr(18 | 0x4000, Buffer.from([0, 5]));
    const other = attr(3, Buffer.alloc(4)); // CTA_STATUS
    const body = Buffer.concat([Buffer.from([2, 0, 0, 0]), tuple, other, zone]);
    const e = decodeConntrackEntry(body);
    expect(e).toMatchObject({ proto: 17, dstPort: 8053 });
    const del = deleteConntrack(4, e);
    expect(del.type).toBe((1 << 8) | 2);
    expect(del.body).toEqual(Buffer.concat([Buffer.from([2, 0, 0, 0]), tuple, zone]));
  });
});

describe('route lookup', () => {
  it('asks RTM_GETROUTE for one address, as `ip route get` does', async () => {
    const { getRouteTo } = await import('../../../lib/netlink/encode.ts');
    const r = getRouteTo('10.88.0.5');
    expect(r.type).toBe(26);
    expect(r.flags).toBe(0);
    // rtmsg: family 2, dst_len 32, then RTA_DST (len 8, type 1) 10.88.0.5
    expect([...r.body]).toEqual([2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 88, 0, 5]);
    expect(getRouteTo('fd00::5').body.readUInt8(1)).toBe(128);
  });
});
