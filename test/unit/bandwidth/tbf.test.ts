/**
 * The reference's numbers. The expected tbf values are what Debian's Go
 * bandwidth plugin (1.1.1) sent the kernel for the same input (captured with
 * strace, see test/unit/netlink/tc.test.ts), on a kernel whose /proc/net/psched
 * is "000003e8 00000040 000f4240 3b9aca00" (15.625 ticks per microsecond).
 */
import { describe, expect, it } from 'vitest';
import { goFloatToUint32, ifbName, isIfbName, tbfNumbers, tickInUsec } from '../../../plugins/bandwidth/tbf.ts';

const TICK = tickInUsec('000003e8 00000040 000f4240 3b9aca00\n');

describe('bandwidth tbf numbers', () => {
  it('reads the scheduler clock as vishvananda/netlink does', () => {
    expect(TICK).toBe(15.625);
    expect(tickInUsec('00000001 00000001 3b9aca00 3b9aca00')).toBe(1000); // clock_res 1e9: t2us = us2t, factor 1000
    expect(tickInUsec('garbage')).toBe(0);
  });

  it('names the ifb as the reference: bwp + 12 hex digits of sha512(network + container id)', () => {
    expect(ifbName('mynet', 'ctr1')).toBe('bwp5145007e2a84');
    expect(isIfbName('bwp5145007e2a84')).toBe(true);
    expect(isIfbName('bwp5145007e2a8')).toBe(false);
    expect(isIfbName('eth0')).toBe(false);
  });

  it.each([
    ['8 Mbit/s, 800000-bit burst', 8_000_000n, 800_000n, { rate: 1_000_000n, limit: 125_000, buffer: 1_562_500 }],
    ['40 Gbit/s with the CRI burst (64-bit rate)', 40_000_000_000n, 4_294_967_295n, { rate: 5_000_000_000n, limit: 661_870_911, buffer: 1_677_718 }],
    ['1 Mbit/s with the CRI burst (the buffer wraps)', 1_000_000n, 4_294_967_295n, { rate: 125_000n, limit: 536_874_036, buffer: 2_684_354_435 }],
  ])('%s: the Go plugin\'s numbers', (_what, rate, burst, want) => {
    expect(tbfNumbers(rate, burst, TICK)).toEqual(want);
  });

  it('8 Mbit/s with the CRI burst wraps like Go', () => {
    // time 536870911 us fits; ticks 8388607984.375 -> int64 8388607984 -> low 32 bits
    expect(tbfNumbers(8_000_000n, 4_294_967_295n, TICK)).toEqual({ rate: 1_000_000n, limit: 536_895_911, buffer: 8_388_607_984 - 2 ** 32 });
  });

  it('converts float64 to uint32 as Go on amd64', () => {
    expect(goFloatToUint32(1.9)).toBe(1);
    expect(goFloatToUint32(2 ** 32 + 5)).toBe(5);
    expect(goFloatToUint32(-1)).toBe(0xffffffff);
    expect(goFloatToUint32(Number.NaN)).toBe(0);
    expect(goFloatToUint32(Infinity)).toBe(0);
    expect(goFloatToUint32(2 ** 70)).toBe(0);
  });
});
