/**
 * subnet.env is read as the reference reads it (values, de-duplication, host
 * bits dropped, IPMASQ only "true") with comments and blank lines allowed, and
 * every problem is named with the file (and the line, or every missing key).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatCidr } from '../../../lib/ip.ts';
import { type SubnetEnv, SubnetEnvError, describeSubnetEnv, loadSubnetEnv, parseSubnetEnv } from '../../../plugins/flannel/subnet-env.ts';

const F = '/run/flannel/subnet.env';

function plain(env: SubnetEnv) {
  return {
    networks: env.networks.map(formatCidr),
    subnet: env.subnet === undefined ? undefined : formatCidr(env.subnet),
    ipv6Networks: env.ipv6Networks.map(formatCidr),
    ipv6Subnet: env.ipv6Subnet === undefined ? undefined : formatCidr(env.ipv6Subnet),
    mtu: env.mtu,
    ipMasq: env.ipMasq,
  };
}

function error(text: string): SubnetEnvError {
  try {
    parseSubnetEnv(text, F);
  } catch (err) {
    if (err instanceof SubnetEnvError) return err;
    throw err;
  }
  throw new Error('parsed without error');
}

describe('parseSubnetEnv', () => {
  it('reads what flanneld writes, dropping the host bits of the subnet (10.244.1.1/24 → 10.244.1.0/24)', () => {
    expect(plain(parseSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', F))).toEqual({
      networks: ['10.244.0.0/16'],
      subnet: '10.244.1.0/24',
      ipv6Networks: [],
      ipv6Subnet: undefined,
      mtu: 1450,
      ipMasq: true,
    });
  });

  it('reads the reference test suite files: IPv6 only and dual stack', () => {
    expect(plain(parseSubnetEnv('\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n', F))).toMatchObject({
      networks: [],
      ipv6Networks: ['fc00::/48'],
      ipv6Subnet: 'fc00::/64',
      mtu: 1472,
    });
    expect(
      plain(parseSubnetEnv('FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n', F)),
    ).toMatchObject({ networks: ['10.1.0.0/16'], subnet: '10.1.17.0/24', ipv6Networks: ['fc00::/48'], ipv6Subnet: 'fc00::/64' });
  });

  it('takes several comma-separated networks, de-duplicated by network (host bits do not make a new one)', () => {
    const env = parseSubnetEnv('FLANNEL_NETWORK=10.1.0.0/16,192.168.0.0/16,10.1.5.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n', F);
    expect(plain(env).networks).toEqual(['10.1.0.0/16', '192.168.0.0/16']);
  });

  it('ignores comments, blank lines, surrounding blanks, CRLF and unknown keys; a later duplicate wins', () => {
    const text = '# written by flanneld\r\n\r\n  FLANNEL_NETWORK = 10.244.0.0/16   # cluster\r\nFLANNEL_SUBNET=10.244.9.1/24\r\nFLANNEL_SUBNET=10.244.1.1/24\r\nOTHER=x\r\nFLANNEL_MTU=1500\r\nFLANNEL_IPMASQ=false\r\n';
    expect(plain(parseSubnetEnv(text, F))).toMatchObject({ networks: ['10.244.0.0/16'], subnet: '10.244.1.0/24', mtu: 1500, ipMasq: false });
  });

  it.each([
    ['true', true],
    ['false', false],
    ['TRUE', false],
    ['1', false],
    ['', false],
  ])('FLANNEL_IPMASQ=%j is %s (only "true" counts, as in the reference)', (v, want) => {
    expect(parseSubnetEnv(`FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.1.1/24\nFLANNEL_MTU=1\nFLANNEL_IPMASQ=${v}\n`, F).ipMasq).toBe(want);
  });

  it('names the file and every missing key in one error (the reference test: "foo=bar")', () => {
    const e = error('foo=bar');
    expect(e.kind).toBe('incomplete');
    expect(e.message).toBe(`${F} is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ`);
  });

  it('lists only what is missing: one family is enough', () => {
    expect(error('FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\n').message).toBe(`${F} is missing FLANNEL_MTU, FLANNEL_IPMASQ`);
    expect(error('FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_MTU=1\nFLANNEL_IPMASQ=true').message).toBe(`${F} is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET`);
  });

  it.each([
    ['FLANNEL_NETWORK=10.1.0.0/33', 'line 1: FLANNEL_NETWORK: invalid CIDR address: 10.1.0.0/33'],
    ['FLANNEL_NETWORK=10.1.0.0/16,nope', 'line 1: FLANNEL_NETWORK: invalid CIDR address: nope'],
    ['\nFLANNEL_SUBNET=fc00::1/64', 'line 2: FLANNEL_SUBNET: fc00::1/64 is not an IPv4 network'],
    ['FLANNEL_IPV6_SUBNET=10.1.1.1/24', 'line 1: FLANNEL_IPV6_SUBNET: 10.1.1.1/24 is not an IPv6 network'],
    ['FLANNEL_MTU=-1', 'line 1: FLANNEL_MTU: invalid number "-1"'],
    ['FLANNEL_MTU=4294967296', 'line 1: FLANNEL_MTU: invalid number "4294967296"'],
    ['FLANNEL_MTU', 'line 1: FLANNEL_MTU has no value (expected FLANNEL_MTU=...)'],
  ])('refuses %j, naming the file and line', (text, msg) => {
    const e = error(text);
    expect(e.kind).toBe('invalid');
    expect(e.message).toBe(`${F} ${msg}`);
  });

  it('describes a lease in one line for logs', () => {
    expect(describeSubnetEnv(parseSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', F))).toBe(
      '10.244.1.0/24 (network 10.244.0.0/16, MTU 1450, flanneld masquerades)',
    );
  });
});

describe('loadSubnetEnv', () => {
  const dir = mkdtempSync(join(tmpdir(), 't-subnetenv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says "open <file>: no such file or directory" (Go wording) with kind "missing" when the file is not there', () => {
    const file = join(dir, 'absent.env');
    expect(() => loadSubnetEnv(file)).toThrow(new SubnetEnvError('missing', file, `open ${file}: no such file or directory`));
    try {
      loadSubnetEnv(file);
    } catch (err) {
      expect((err as SubnetEnvError).kind).toBe('missing');
    }
  });

  it('says "is a directory" with kind "unreadable" for a directory', () => {
    try {
      loadSubnetEnv(dir);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SubnetEnvError);
      expect((err as SubnetEnvError).kind).toBe('unreadable');
      expect((err as Error).message).toBe(`open ${dir}: is a directory`);
    }
  });

  it('reads a file', () => {
    const file = join(dir, 'subnet.env');
    writeFileSync(file, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    expect(plain(loadSubnetEnv(file)).subnet).toBe('10.244.2.0/24');
  });
});
