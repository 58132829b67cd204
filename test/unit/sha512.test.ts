import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha512Hex } from '../../lib/sha512.ts';

const ref = (s: string): string => createHash('sha512').update(s).digest('hex');

describe('sha512Hex', () => {
  it('matches the FIPS 180-4 examples', () => {
    expect(sha512Hex('abc')).toBe('ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f');
    expect(sha512Hex('')).toBe('cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e');
  });

  it('matches node:crypto for every length across the block and padding boundaries, and for UTF-8', () => {
    let s = '';
    for (let n = 0; n < 300; n++) {
      expect(sha512Hex(s)).toBe(ref(s));
      s += String.fromCharCode(33 + ((n * 7) % 90));
    }
    for (const t of ['cbr0' + 'a'.repeat(64), 'name: "cbr0" id: "0123456789abcdef"', 'ünïcødé ✓ 𝄞', 'x'.repeat(1000)]) expect(sha512Hex(t)).toBe(ref(t));
  });
});
