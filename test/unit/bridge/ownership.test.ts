/** peerIsPortOf: the layer-2-only ownership proof of bridge DEL (the veth's other end is a port of our bridge). */
import { describe, expect, it } from 'vitest';
import type { Link } from '../../../lib/netlink/index.ts';
import { peerIsPortOf } from '../../../plugins/bridge/ownership.ts';

const bridge = { kind: 'bridge', index: 5, name: 'cni0' } as unknown as Link;
const hostEnd = (o: Record<string, unknown> = {}) => ({ kind: 'veth', index: 9, name: 'veth1234', masterIndex: 5, peerIndex: 2, peerNetnsId: 0, ...o }) as unknown as Link;
const cont = { kind: 'veth', index: 2, peerIndex: 9, peerNetnsId: 0 } as const;

describe('peerIsPortOf', () => {
  it('true when each end names the other and the host end is a port of the bridge', () => {
    expect(peerIsPortOf(cont, bridge, hostEnd())).toBe(true);
  });
  it.each([
    ['the host end is on another bridge', hostEnd({ masterIndex: 6 })],
    ['the host end names another peer index', hostEnd({ peerIndex: 3 })],
    ['the host end is no veth', hostEnd({ kind: 'dummy' })],
    ['the host end has its peer in its own namespace', hostEnd({ peerNetnsId: undefined })],
    ['there is no host end', undefined],
  ])('false when %s', (_why, h) => {
    expect(peerIsPortOf(cont, bridge, h)).toBe(false);
  });
  it('false without the bridge, for a container link that is no veth, or whose peer is in its own namespace', () => {
    expect(peerIsPortOf(cont, undefined, hostEnd())).toBe(false);
    expect(peerIsPortOf({ ...cont, kind: 'macvlan' } as never, bridge, hostEnd())).toBe(false);
    expect(peerIsPortOf({ kind: 'veth', index: 2, peerIndex: 9 }, bridge, hostEnd())).toBe(false);
    expect(peerIsPortOf({ ...cont, peerIndex: 10 }, bridge, hostEnd())).toBe(false);
  });
});
