/** lib/iptables: listing lines split as iptables-save quotes them, restore lines quoted back, no line break let through. */
import { describe, expect, it } from 'vitest';
import { Listing, quoteRestoreArg, restoreLine, splitRuleLine } from '../../../lib/iptables/index.ts';

describe('lib/iptables', () => {
  it('round-trips quoted arguments', () => {
    const args = ['-A', 'CNI-X', '-m', 'comment', '--comment', 'name: "n" id: "c"', '-j', 'ACCEPT'];
    expect(splitRuleLine(restoreLine(args))).toEqual(args);
    expect(quoteRestoreArg('a b')).toBe('"a b"');
  });

  it('refuses an argument that would start another restore command', () => {
    expect(() => restoreLine(['-A', 'X', '-s', '1.2.3.4\n-A POSTROUTING -j ACCEPT'])).toThrow(/line break/);
    expect(() => restoreLine(['-A', 'X\r'])).toThrow(/line break/);
  });

  it('parses a listing', () => {
    const l = Listing.parse('-P PREROUTING ACCEPT\n-N CNI-DN-x\n-A CNI-HOSTPORT-DNAT -p tcp -j CNI-DN-x\n');
    expect(l.hasChain('CNI-DN-x')).toBe(true);
    expect(l.jumpsTo('CNI-HOSTPORT-DNAT', 'CNI-DN-x')).toEqual([['-p', 'tcp', '-j', 'CNI-DN-x']]);
  });
});
