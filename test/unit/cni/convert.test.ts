import { describe, expect, it } from 'vitest';
import { CniError } from '../../../lib/cni/errors.ts';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { SUPPORTED_VERSIONS, type SpecVersion } from '../../../lib/cni/version.ts';
import type { Result } from '../../../lib/cni/types/current.ts';
import { FAMILY_OF, type Family, convertResult, parsePrevResult, parseResult, resultToVersion } from '../../../lib/cni/types/convert.ts';

/** Compares as printed text, so key order counts as well as content. */
function expectJson(actual: unknown, expected: unknown): void {
  expect(JSON.stringify(actual, null, 4)).toBe(JSON.stringify(expected, null, 4));
}

function expectCniError(fn: () => unknown, code: number, msg: string | RegExp): CniError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CniError);
  const e = caught as CniError;
  expect(e.code).toBe(code);
  if (typeof msg === 'string') expect(e.msg).toBe(msg);
  else expect(e.msg).toMatch(msg);
  return e;
}

/** A dual-stack bridge-like result using every field 1.1.0 has. */
const FULL: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:01:00:01', mtu: 1450 },
    { name: 'veth1234', mac: '0a:58:0a:01:00:02' },
    { name: 'eth0', mac: '0a:58:0a:01:00:05', mtu: 1450, sandbox: '/var/run/netns/c1', socketPath: '/run/vhost.sock', pciID: '0000:00:05.0' },
  ],
  ips: [
    { interface: 2, address: '10.1.0.5/16', gateway: '10.1.0.1' },
    { interface: 2, address: 'fd00:1::5/64', gateway: 'fd00:1::1' },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, advmss: 1360, priority: 100, table: 254, scope: 0 },
    { dst: '::/0', gw: 'fd00:1::1', priority: 1024 },
    { dst: '192.168.0.0/16' },
  ],
  dns: { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['default.svc.cluster.local'], options: ['ndots:5'] },
};

/** How much of FULL a result of each family still holds. */
type Held = 'all' | 'no-1.1-interface-fields' | 'one-ip-per-family';
const HELD: Record<Family, Held> = { '100': 'all', '040': 'no-1.1-interface-fields', '020': 'one-ip-per-family' };

// 1.x: keys sorted at every level (the reference re-marshals through a map); empty dns left out.
const DNS_SORTED = { domain: 'cluster.local', nameservers: ['10.96.0.10'], options: ['ndots:5'], search: ['default.svc.cluster.local'] };
const DNS_STRUCT = { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['default.svc.cluster.local'], options: ['ndots:5'] };

function expected100(v: string, held: Held): object {
  if (held === 'one-ip-per-family') {
    return {
      cniVersion: v,
      dns: DNS_SORTED,
      ips: [
        { address: '10.1.0.5/16', gateway: '10.1.0.1' },
        { address: 'fd00:1::5/64', gateway: 'fd00:1::1' },
      ],
      // ip4.routes then ip6.routes, dst and gw only
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '192.168.0.0/16' }, { dst: '::/0', gw: 'fd00:1::1' }],
    };
  }
  return {
    cniVersion: v,
    dns: DNS_SORTED,
    interfaces:
      held === 'all'
        ? [
            { mac: '0a:58:0a:01:00:01', mtu: 1450, name: 'cni0' },
            { mac: '0a:58:0a:01:00:02', name: 'veth1234' },
            { mac: '0a:58:0a:01:00:05', mtu: 1450, name: 'eth0', pciID: '0000:00:05.0', sandbox: '/var/run/netns/c1', socketPath: '/run/vhost.sock' },
          ]
        : [
            { mac: '0a:58:0a:01:00:01', name: 'cni0' },
            { mac: '0a:58:0a:01:00:02', name: 'veth1234' },
            { mac: '0a:58:0a:01:00:05', name: 'eth0', sandbox: '/var/run/netns/c1' },
          ],
    ips: [
      { address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 },
      { address: 'fd00:1::5/64', gateway: 'fd00:1::1', interface: 2 },
    ],
    routes: [
      { advmss: 1360, dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, priority: 100, scope: 0, table: 254 },
      { dst: '::/0', gw: 'fd00:1::1', priority: 1024 },
      { dst: '192.168.0.0/16' },
    ],
  };
}

function expected040(v: string, held: Held): object {
  if (held === 'one-ip-per-family') {
    return {
      cniVersion: v,
      ips: [
        { version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1' },
        { version: '6', address: 'fd00:1::5/64', gateway: 'fd00:1::1' },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '192.168.0.0/16' }, { dst: '::/0', gw: 'fd00:1::1' }],
      dns: DNS_STRUCT,
    };
  }
  return {
    cniVersion: v,
    // interface mtu/socketPath/pciID do not exist below 1.1
    interfaces: [
      { name: 'cni0', mac: '0a:58:0a:01:00:01' },
      { name: 'veth1234', mac: '0a:58:0a:01:00:02' },
      { name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: '/var/run/netns/c1' },
    ],
    ips: [
      { version: '4', interface: 2, address: '10.1.0.5/16', gateway: '10.1.0.1' },
      { version: '6', interface: 2, address: 'fd00:1::5/64', gateway: 'fd00:1::1' },
    ],
    // routes are the shared Go type: the 1.1 route keys survive in 0.4.0 JSON
    routes: [
      { dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, advmss: 1360, priority: 100, table: 254, scope: 0 },
      { dst: '::/0', gw: 'fd00:1::1', priority: 1024 },
      { dst: '192.168.0.0/16' },
    ],
    dns: DNS_STRUCT,
  };
}

function expected020(v: string): object {
  return {
    cniVersion: v,
    ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '192.168.0.0/16' }] },
    ip6: { ip: 'fd00:1::5/64', gateway: 'fd00:1::1', routes: [{ dst: '::/0', gw: 'fd00:1::1' }] },
    dns: DNS_STRUCT,
  };
}

function expectedFor(to: SpecVersion, held: Held): object {
  switch (FAMILY_OF[to]) {
    case '100':
      return expected100(to, held);
    case '040':
      return expected040(to, held);
    case '020':
      return expected020(to);
  }
}

/** The least of what two versions hold. */
function heldAfter(from: SpecVersion): Held {
  return HELD[FAMILY_OF[from]];
}

const PAIRS = SUPPORTED_VERSIONS.flatMap((from) => SUPPORTED_VERSIONS.map((to) => [from, to] as const));

describe('resultToVersion: the current result printed for each version', () => {
  it.each(SUPPORTED_VERSIONS)('%s', (v) => {
    expectJson(resultToVersion(FULL, v), expectedFor(v, 'all'));
  });

  it('covers every supported version with a family', () => {
    expect(Object.keys(FAMILY_OF).sort()).toEqual([...SUPPORTED_VERSIONS].sort());
  });
});

describe('conversion between every pair of versions (dual stack, interfaces, 1.1 route fields, dns)', () => {
  it('has all 49 pairs', () => {
    expect(PAIRS).toHaveLength(SUPPORTED_VERSIONS.length ** 2);
  });

  it.each(PAIRS)('%s → %s', (from, to) => {
    const source = resultToVersion(FULL, from);
    const want = expectedFor(to, heldAfter(from));
    // JSON to JSON (what a runtime does with a cached result) ...
    expectJson(convertResult(source, to), want);
    // ... and through the current Result (a plugin reading a delegate's output, then printing)
    expectJson(resultToVersion(parseResult(source), to), want);
  });
});

describe('0.1.0 / 0.2.0 targets', () => {
  const l2only: Result = { cniVersion: '1.1.0', interfaces: [{ name: 'cni0', mac: '0a:58:0a:01:00:01' }] };

  it.each(['0.1.0', '0.2.0'])('a result without addresses cannot become %s (code 999, as Go)', (v) => {
    expectCniError(() => resultToVersion(l2only, v), 999, 'cannot convert: no valid IP addresses');
  });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0'])('the same from a %s result', (from) => {
    const src = resultToVersion(l2only, from);
    expectCniError(() => convertResult(src, '0.2.0'), 999, 'cannot convert: no valid IP addresses');
  });

  it('a 0.2.0 result without addresses still copies to 0.1.0 and up-converts', () => {
    expectJson(convertResult({ cniVersion: '0.2.0', dns: {} }, '0.1.0'), { cniVersion: '0.1.0', dns: {} });
    expectJson(convertResult({ cniVersion: '0.2.0' }, '1.0.0'), { cniVersion: '1.0.0' });
    expectJson(convertResult({ cniVersion: '0.2.0' }, '0.4.0'), { cniVersion: '0.4.0', dns: {} });
  });

  it('keeps the first address of each family, routes by destination family, drops routes of a missing family', () => {
    const r: Result = {
      cniVersion: '1.1.0',
      ips: [{ address: '10.1.0.5/16' }, { address: '10.2.0.5/16', gateway: '10.2.0.1' }, { address: '10.3.0.5/16' }],
      routes: [{ dst: '::/0', gw: 'fd00::1' }, { dst: '10.0.0.0/8', gw: '10.1.0.1', mtu: 9000, table: 5 }],
    };
    expectJson(resultToVersion(r, '0.2.0'), {
      cniVersion: '0.2.0',
      ip4: { ip: '10.1.0.5/16', routes: [{ dst: '10.0.0.0/8', gw: '10.1.0.1' }] },
      dns: {},
    });
  });

  it('an IPv6-only result has only ip6', () => {
    const r: Result = { cniVersion: '1.0.0', ips: [{ address: 'fd00::5/64', gateway: 'fd00::1' }], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] };
    expectJson(resultToVersion(r, '0.1.0'), { cniVersion: '0.1.0', ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] }, dns: {} });
  });
});

describe('empty and zero fields are left out the way the Go types do', () => {
  const bare: Result = { cniVersion: '1.1.0', ips: [{ address: '10.1.0.5/16' }] };

  it('dns: {} in 0.1/0.2 and 0.3/0.4, absent in 1.x', () => {
    expectJson(resultToVersion(bare, '0.2.0'), { cniVersion: '0.2.0', ip4: { ip: '10.1.0.5/16' }, dns: {} });
    expectJson(resultToVersion(bare, '0.3.0'), { cniVersion: '0.3.0', ips: [{ version: '4', address: '10.1.0.5/16' }], dns: {} });
    expectJson(resultToVersion(bare, '1.0.0'), { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/16' }] });
    expectJson(resultToVersion({ ...bare, dns: { nameservers: [], domain: '' } }, '1.1.0'), { cniVersion: '1.1.0', ips: [{ address: '10.1.0.5/16' }] });
  });

  it('empty arrays, empty strings and zero mtu/advmss/priority are omitted; table and scope 0 are kept', () => {
    const r: Result = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mac: '', mtu: 0, sandbox: '' }],
      ips: [{ address: '10.1.0.5/16', gateway: '', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '', mtu: 0, advmss: 0, priority: 0, table: 0, scope: 0 }],
      dns: { nameservers: ['1.1.1.1'], search: [], options: [] },
    };
    expectJson(resultToVersion(r, '1.1.0'), {
      cniVersion: '1.1.0',
      dns: { nameservers: ['1.1.1.1'] },
      interfaces: [{ name: 'eth0' }],
      ips: [{ address: '10.1.0.5/16', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', scope: 0, table: 0 }],
    });
    expectJson(resultToVersion({ cniVersion: '1.1.0', interfaces: [], ips: [], routes: [] }, '1.0.0'), { cniVersion: '1.0.0' });
  });

  it('does not print keys the Result type does not have', () => {
    const sneaky = { cniVersion: '1.1.0', ips: [{ address: '10.1.0.5/16', extra: 1 }], extra: true };
    expectJson(resultToVersion(sneaky, '1.1.0'), { cniVersion: '1.1.0', ips: [{ address: '10.1.0.5/16' }] });
  });
});

describe('round trips', () => {
  it.each(['1.0.0', '1.1.0'])('%s → current is lossless', (v) => {
    expect(parseResult(resultToVersion(FULL, v))).toEqual(FULL);
  });

  it.each(['0.3.0', '0.3.1', '0.4.0'])('%s → current loses only the 1.1 interface fields', (v) => {
    const back = parseResult(resultToVersion(FULL, v));
    expect(back).toEqual({
      ...FULL,
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:01:00:01' },
        { name: 'veth1234', mac: '0a:58:0a:01:00:02' },
        { name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: '/var/run/netns/c1' },
      ],
    });
  });

  it.each(SUPPORTED_VERSIONS)('%s printed, read and printed again is unchanged', (v) => {
    const once = resultToVersion(FULL, v);
    expectJson(resultToVersion(parseResult(once), v), once);
    expectJson(convertResult(once, v), once);
  });

  it('1.1 route fields survive 1.1.0 → 0.4.0 → 1.0.0 → 0.3.0 → 1.1.0', () => {
    let json: unknown = resultToVersion(FULL, '1.1.0');
    for (const v of ['0.4.0', '1.0.0', '0.3.0', '1.1.0']) json = convertResult(json, v);
    expect(parseResult(json).routes).toEqual(FULL.routes);
  });

  it('the parsed result carries the current version and does not share arrays with its input', () => {
    const src = resultToVersion(FULL, '1.0.0');
    const parsed = parseResult(src);
    expect(parsed.cniVersion).toBe('1.1.0');
    parsed.ips?.push({ address: '10.9.9.9/8' });
    expect(JSON.stringify(src)).not.toContain('10.9.9.9');
  });
});

describe('unknown versions', () => {
  it('resultToVersion to an unknown version is code 1', () => {
    expectCniError(() => resultToVersion(FULL, '9.9.9'), 1, 'no converter for CNI result version 1.1.0 to 9.9.9');
    expectCniError(() => resultToVersion(FULL, '1.1'), 1, /to 1\.1$/);
  });

  it('parseResult of an unknown version is code 1', () => {
    expectCniError(() => parseResult({ cniVersion: '0.5.0' }), 1, 'unsupported CNI result version "0.5.0"');
    expectCniError(() => parseResult({}, '2.0.0'), 1, 'unsupported CNI result version "2.0.0"');
  });

  it('convertResult names both ends', () => {
    expectCniError(() => convertResult({ cniVersion: '0.4.0' }, '0.9.0'), 1, 'no converter for CNI result version 0.4.0 to 0.9.0');
  });
});

describe('parseResult: which version a result is read as', () => {
  const ips100 = { ips: [{ address: '10.0.0.2/24' }] };
  const ip4 = { ip4: { ip: '10.0.0.2/24' } };

  it.each([
    ['no cniVersion, no fallback: 0.1.0 rules (ip4)', ip4, undefined, [{ address: '10.0.0.2/24' }]],
    ['no cniVersion, no fallback: an ips list is not 0.1.0', ips100, undefined, undefined],
    ['no cniVersion, fallback 1.0.0', ips100, '1.0.0', [{ address: '10.0.0.2/24' }]],
    ['no cniVersion, fallback 1.0.0: ip4 is not 1.0.0', ip4, '1.0.0', undefined],
    ['empty cniVersion counts as none', { cniVersion: '', ...ip4 }, undefined, [{ address: '10.0.0.2/24' }]],
    ['null cniVersion counts as none', { cniVersion: null, ...ips100 }, '0.4.0', [{ address: '10.0.0.2/24' }]],
    ['empty fallback counts as none', ip4, '', [{ address: '10.0.0.2/24' }]],
    ['its own cniVersion beats the fallback', { cniVersion: '0.2.0', ...ip4 }, '1.0.0', [{ address: '10.0.0.2/24' }]],
  ])('%s', (_name, json, fallback, ips) => {
    const r = parseResult(json, fallback);
    expect(r.cniVersion).toBe('1.1.0');
    expect(r.ips).toEqual(ips);
  });
});

describe('parseResult: shapes are checked, code 6 naming the field', () => {
  it.each([
    ['not an object', '10.0.0.1', /^invalid result: the result must be a JSON object, got "10\.0\.0\.1"$/],
    ['an array', [], /the result must be a JSON object, got \[\]/],
    ['cniVersion not a string', { cniVersion: 1 }, /"cniVersion" must be a string, got 1/],
    ['ips not an array', { cniVersion: '1.0.0', ips: {} }, /"ips" must be an array, got \{\}/],
    ['ips item not an object', { cniVersion: '1.0.0', ips: ['10.0.0.1/8'] }, /"ips\[0\]" must be an object/],
    ['address missing', { cniVersion: '1.0.0', ips: [{ gateway: '10.0.0.1' }] }, /"ips\[0\]\.address" must be a string, got undefined/],
    ['address without prefix', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5' }] }, /"ips\[0\]\.address" must be an address with a prefix length/],
    ['prefix too long (v4)', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/33' }] }, /"ips\[0\]\.address".*got "10\.0\.0\.5\/33"/],
    ['prefix too long (v6)', { cniVersion: '1.0.0', ips: [{ address: 'fd00::5/129' }] }, /"ips\[0\]\.address"/],
    ['prefix not a number', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/x' }] }, /"ips\[0\]\.address"/],
    ['address with a zone', { cniVersion: '1.0.0', ips: [{ address: 'fe80::1%eth0/64' }] }, /"ips\[0\]\.address"/],
    ['address with leading zeros', { cniVersion: '1.0.0', ips: [{ address: '010.0.0.5/8' }] }, /"ips\[0\]\.address"/],
    ['gateway not an IP', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/8', gateway: '10.0.0.1/8' }] }, /"ips\[0\]\.gateway" must be an IP address, got "10\.0\.0\.1\/8"/],
    ['gateway not a string', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/8', gateway: 1 }] }, /"ips\[0\]\.gateway" must be a string/],
    ['interface index negative', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/8', interface: -1 }] }, /"ips\[0\]\.interface" must be a non-negative integer, got -1/],
    ['interface index fractional', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/8', interface: 1.5 }] }, /"ips\[0\]\.interface" must be an integer, got 1\.5/],
    ['interface index a string', { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/8', interface: '1' }] }, /"ips\[0\]\.interface" must be an integer, got "1"/],
    ['interface without name', { cniVersion: '1.1.0', interfaces: [{ mac: 'aa:bb:cc:dd:ee:ff' }] }, /"interfaces\[0\]\.name" must be a string, got undefined/],
    ['interface mtu a string', { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', mtu: '1500' }] }, /"interfaces\[0\]\.mtu" must be an integer/],
    ['route without dst', { cniVersion: '1.1.0', routes: [{ dst: '0.0.0.0/0' }, { gw: '10.0.0.1' }] }, /"routes\[1\]\.dst" must be a string, got undefined/],
    ['route gw bad', { cniVersion: '1.1.0', routes: [{ dst: '0.0.0.0/0', gw: 'router' }] }, /"routes\[0\]\.gw" must be an IP address, got "router"/],
    ['route table a string', { cniVersion: '1.1.0', routes: [{ dst: '0.0.0.0/0', table: 'main' }] }, /"routes\[0\]\.table" must be an integer, got "main"/],
    ['dns not an object', { cniVersion: '1.1.0', dns: ['1.1.1.1'] }, /"dns" must be an object/],
    ['dns nameservers not strings', { cniVersion: '1.1.0', dns: { nameservers: ['1.1.1.1', 2] } }, /"dns\.nameservers\[1\]" must be a string, got 2/],
    ['dns domain not a string', { cniVersion: '0.4.0', dns: { domain: 5 } }, /"dns\.domain" must be a string, got 5/],
    ['0.4.0 ips version not 4/6', { cniVersion: '0.4.0', ips: [{ version: '5', address: '10.0.0.5/8' }] }, /"ips\[0\]\.version" must be "4" or "6", got "5"/],
    ['0.4.0 interfaces not an array', { cniVersion: '0.4.0', interfaces: 'eth0' }, /"interfaces" must be an array/],
    ['0.2.0 ip4 not an object', { cniVersion: '0.2.0', ip4: '10.0.0.5/8' }, /"ip4" must be an object, got "10\.0\.0\.5\/8"/],
    ['0.2.0 ip4 without ip', { cniVersion: '0.2.0', ip4: { gateway: '10.0.0.1' } }, /"ip4\.ip" must be a string, got undefined/],
    ['0.2.0 ip6 route bad', { cniVersion: '0.2.0', ip6: { ip: 'fd00::5/64', routes: [{ dst: 'default' }] } }, /"ip6\.routes\[0\]\.dst"/],
  ])('%s', (_name, json, msg) => {
    expectCniError(() => parseResult(json), 6, msg);
  });
});

describe('parseResult: values as Go would decode them', () => {
  it('canonicalises addresses the way Go prints them, keeping host bits', () => {
    const r = parseResult({
      cniVersion: '1.0.0',
      ips: [{ address: 'FD00:0:0::5/064', gateway: 'FD00:0::1' }, { address: '10.1.0.5/16' }],
      routes: [{ dst: '2001:DB8:0:0:1:0:0:1/128', gw: '::0' }],
    });
    expect(r.ips).toEqual([{ address: 'fd00::5/64', gateway: 'fd00::1' }, { address: '10.1.0.5/16' }]);
    expect(r.routes).toEqual([{ dst: '2001:db8::1:0:0:1/128', gw: '::' }]);
  });

  it('null means absent; "" means absent for optional strings and IPs; zero mtu is absent, zero table is not', () => {
    const r = parseResult({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mac: '', mtu: 0, sandbox: null, socketPath: '' }],
      ips: [{ address: '10.1.0.5/16', gateway: '', interface: null }],
      routes: [{ dst: '0.0.0.0/0', gw: null, mtu: 0, advmss: null, priority: 0, table: 0, scope: 253 }],
      dns: null,
    });
    expect(r).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ address: '10.1.0.5/16' }],
      routes: [{ dst: '0.0.0.0/0', table: 0, scope: 253 }],
    });
    expect(parseResult({ cniVersion: '1.0.0', ips: null, routes: null, interfaces: null })).toEqual({ cniVersion: '1.1.0' });
  });

  it('ignores keys its version does not have (unknown keys, or 1.1 interface fields in a 0.4.0 result)', () => {
    const r = parseResult({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', mtu: 9000, pciID: 'x' }],
      ips: [{ version: '4', address: '10.1.0.5/16', extra: 'x' }],
      somethingElse: { a: 1 },
    });
    expect(r).toEqual({ cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.1.0.5/16' }] });
    expect(parseResult({ cniVersion: '1.0.0', ips: [{ version: '4', address: '10.1.0.5/16' }] }).ips).toEqual([{ address: '10.1.0.5/16' }]);
  });

  it('a 0.4.0 ip without "version" takes it from the address', () => {
    expectJson(convertResult({ cniVersion: '0.3.1', ips: [{ address: 'fd00::5/64' }, { address: '10.0.0.5/8' }] }, '0.4.0'), {
      cniVersion: '0.4.0',
      ips: [
        { version: '6', address: 'fd00::5/64' },
        { version: '4', address: '10.0.0.5/8' },
      ],
      dns: {},
    });
  });

  it('reads the abbreviated (IPAM) result of host-local', () => {
    const hostLocal = {
      cniVersion: '0.3.1',
      ips: [{ version: '4', address: '10.244.1.7/24', gateway: '10.244.1.1' }],
      routes: [{ dst: '10.244.0.0/16' }],
      dns: {},
    };
    expect(parseResult(hostLocal)).toEqual({
      cniVersion: '1.1.0',
      ips: [{ address: '10.244.1.7/24', gateway: '10.244.1.1' }],
      routes: [{ dst: '10.244.0.0/16' }],
    });
  });
});

describe('parsePrevResult', () => {
  const conf = (cniVersion: string, prevResult?: unknown): NetConf => ({
    cniVersion,
    name: 'net',
    type: 'bridge',
    ...(prevResult === undefined ? {} : { prevResult }),
  });

  it('is undefined without a prevResult (absent or null)', () => {
    expect(parsePrevResult(conf('1.0.0'))).toBeUndefined();
    expect(parsePrevResult(conf('1.0.0', null))).toBeUndefined();
  });

  it('converts a prevResult of any version to the current Result', () => {
    expect(parsePrevResult(conf('1.1.0', resultToVersion(FULL, '0.4.0')))?.ips).toEqual(FULL.ips);
    expect(parsePrevResult(conf('1.1.0', resultToVersion(FULL, '1.1.0')))).toEqual(FULL);
  });

  it('reads a prevResult without cniVersion as the config version', () => {
    const prev = { ips: [{ version: '4', interface: 0, address: '10.0.0.5/8' }], interfaces: [{ name: 'eth0' }] };
    expect(parsePrevResult(conf('0.4.0', prev))).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ interface: 0, address: '10.0.0.5/8' }],
    });
    // as 0.2.0 the same JSON holds nothing
    expect(parsePrevResult(conf('0.2.0', prev))).toEqual({ cniVersion: '1.1.0' });
  });

  it('prefixes errors and keeps their code', () => {
    const e = expectCniError(() => parsePrevResult(conf('1.0.0', { ips: [{ address: 'nope' }] })), 6, /^could not parse prevResult: invalid result: "ips\[0\]\.address"/);
    expect(e.cause).toBeInstanceOf(CniError);
    expectCniError(() => parsePrevResult(conf('1.0.0', 'a string')), 6, 'could not parse prevResult: invalid result: the result must be a JSON object, got "a string"');
    expectCniError(() => parsePrevResult(conf('1.0.0', { cniVersion: '7.0.0' })), 1, 'could not parse prevResult: unsupported CNI result version "7.0.0"');
  });
});

describe('byte-for-byte against text the Go reference printed', () => {
  // Printed by containernetworking/plugins `static` (an IPAM plugin, so no interfaces) for these versions.
  const GO_010 = `{
    "cniVersion": "0.1.0",
    "ip4": {
        "ip": "10.1.0.5/16",
        "gateway": "10.1.0.1",
        "routes": [
            {
                "dst": "0.0.0.0/0",
                "gw": "10.1.0.1"
            },
            {
                "dst": "192.168.0.0/16"
            }
        ]
    },
    "ip6": {
        "ip": "fd00::5/64",
        "routes": [
            {
                "dst": "::/0"
            }
        ]
    },
    "dns": {
        "nameservers": [
            "1.1.1.1"
        ],
        "domain": "x"
    }
}`;
  const GO_031 = `{
    "cniVersion": "0.3.1",
    "ips": [
        {
            "version": "4",
            "address": "10.1.0.5/16",
            "gateway": "10.1.0.1"
        },
        {
            "version": "4",
            "address": "10.2.0.5/16"
        },
        {
            "version": "6",
            "address": "fd00::5/64",
            "gateway": "fd00::1"
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0",
            "gw": "10.1.0.1"
        },
        {
            "dst": "::/0"
        },
        {
            "dst": "192.168.0.0/16"
        }
    ],
    "dns": {}
}`;

  it.each([
    ['0.1.0', GO_010],
    ['0.3.1', GO_031],
  ])('%s: read and printed again gives the same text', (v, text) => {
    expect(JSON.stringify(resultToVersion(parseResult(JSON.parse(text)), v), null, 4)).toBe(text);
  });

  it('the same result built in plugin code prints the same 0.3.1 text', () => {
    const r: Result = {
      cniVersion: '1.1.0',
      ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1' }, { address: '10.2.0.5/16' }, { address: 'fd00::5/64', gateway: 'fd00::1' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }, { dst: '192.168.0.0/16' }],
    };
    expect(JSON.stringify(resultToVersion(r, '0.3.1'), null, 4)).toBe(GO_031);
  });
});
