/** loopback's pure part: which addresses are loopback ones, and the result it builds. */
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../lib/netlink/index.ts';
import { foreignAddress, isLoopbackIp, loopbackResult } from '../../../plugins/loopback/plan.ts';

const addr = (family: 4 | 6, ip: string, prefixLen: number): Addr => ({ index: 1, family, ip, prefixLen, address: `${ip}/${prefixLen}`, scope: 'host', flags: {} as Addr['flags'] });

describe('loopback plan', () => {
  it('knows loopback addresses as Go does', () => {
    expect(isLoopbackIp('127.0.0.1')).toBe(true);
    expect(isLoopbackIp('127.255.1.2')).toBe(true);
    expect(isLoopbackIp('::1')).toBe(true);
    expect(isLoopbackIp('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackIp('10.0.0.1')).toBe(false);
    expect(isLoopbackIp('::2')).toBe(false);
    expect(foreignAddress([addr(4, '127.0.0.1', 8), addr(4, '10.9.9.9', 32)])).toBe('10.9.9.9');
  });

  it('reports the first address of each family', () => {
    expect(loopbackResult('1.0.0', '/run/netns/x', [addr(4, '127.0.0.1', 8), addr(4, '127.0.0.2', 8), addr(6, '::1', 128)])).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: '/run/netns/x' }],
      ips: [
        { interface: 0, address: '127.0.0.1/8' },
        { interface: 0, address: '::1/128' },
      ],
    });
    expect(loopbackResult('1.0.0', '/x', [])).not.toHaveProperty('ips');
  });
});
