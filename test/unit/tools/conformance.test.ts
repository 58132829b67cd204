import { describe, expect, it } from 'vitest';
import { validateCniError, validateCniResult020, validateCniResult040, validateCniResult100, validateCniVersion } from '../../../build/gen/tools-validators.mjs';
import { confListFromBytes } from '../../../lib/runtime/index.ts';
import { claimed } from '../../../tools/conformance/checks.ts';
import { parseArgs, withPrivateDirs } from '../../../tools/conformance/index.ts';
import { junit, table, type CheckResult } from '../../../tools/conformance/report.ts';

describe('arguments', () => {
  it('needs --path and --conf; paths become absolute', () => {
    const a = parseArgs(['--path', 'dist/bin:/usr/lib/cni', '--conf=/x.conflist', '--junit', 'j.xml']);
    expect(a.path[0]!.startsWith('/')).toBe(true);
    expect(a.path[1]).toBe('/usr/lib/cni');
    expect(a).toMatchObject({ conf: '/x.conflist', junit: 'j.xml', ifName: 'eth0', parallel: 4 });
    expect(() => parseArgs(['--conf', 'x'])).toThrow('--path is required');
    expect(() => parseArgs(['--path', 'x'])).toThrow('--conf is required');
    expect(() => parseArgs(['--path', 'x', '--conf', 'y', '--bogus'])).toThrow('unknown argument "--bogus"');
    expect(() => parseArgs(['--path'])).toThrow('--path needs a value');
  });
});

describe('private data directories', () => {
  it('host-local ipam and flannel get dirs under the run directory', () => {
    const list = confListFromBytes(
      Buffer.from(JSON.stringify({ name: 'n', cniVersion: '1.0.0', plugins: [{ type: 'flannel' }, { type: 'bridge', ipam: { type: 'host-local', dataDir: '/var/lib/x' } }, { type: 'portmap' }] })),
    );
    const p = withPrivateDirs(list, '/tmp/run').plugins.map((x) => x.raw);
    expect(p[0]).toMatchObject({ dataDir: '/tmp/run/flannel-0', ipam: { type: 'host-local', dataDir: '/tmp/run/ipam-0' } });
    expect(p[1]).toMatchObject({ ipam: { dataDir: '/tmp/run/ipam-1' } });
    expect(p[2]).toEqual({ type: 'portmap' });
  });
});

describe('result schemas (compiled at build time)', () => {
  it('accept each version family and refuse wrong shapes', () => {
    expect(validateCniResult100({ cniVersion: '1.1.0', interfaces: [{ name: 'eth0', mac: '0a:58:0a:f4:01:02', sandbox: '/x' }], ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }] })).toBe(true);
    expect(validateCniResult100({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2' }] })).toBe(false);
    expect(validateCniResult100({ cniVersion: '0.4.0' })).toBe(false);
    expect(validateCniResult040({ cniVersion: '0.3.1', ips: [{ version: '4', address: 'fd00::2/64' }] })).toBe(true);
    expect(validateCniResult040({ cniVersion: '0.3.1', ips: [{ address: '10.0.0.2/24' }] })).toBe(false);
    expect(validateCniResult020({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] } })).toBe(true);
    expect(validateCniResult020({ cniVersion: '0.2.0', ip4: { gateway: '10.0.0.1' } })).toBe(false);
  });

  it('error and VERSION shapes', () => {
    expect(validateCniError({ code: 4, msg: 'x', details: '' })).toBe(true);
    expect(validateCniError({ code: '4', msg: 'x' })).toBe(false);
    expect(validateCniVersion({ cniVersion: '1.1.0', supportedVersions: ['1.0.0'] })).toBe(true);
    expect(validateCniVersion({ cniVersion: '1.1.0', supportedVersions: [] })).toBe(false);
  });
});

describe('claimed addresses', () => {
  it('sandbox addresses only; 0.2.0 ip4/ip6', () => {
    const r = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/x' }],
      ips: [
        { address: '10.0.0.1/24', interface: 0 },
        { address: '10.0.0.2/24', interface: 1 },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
    };
    expect(claimed(r, 'eth0')).toEqual({ addrs: [{ cidr: '10.0.0.2/24', ifname: 'eth0' }], ips: ['10.0.0.2'], routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] });
    expect(claimed({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.3/24', routes: [{ dst: '10.1.0.0/16' }] } }, 'eth0').ips).toEqual(['10.0.0.3']);
  });
});

describe('report', () => {
  const rows: CheckResult[] = [
    { id: 'a', what: 'first', section: 'SPEC §2', status: 'pass', reason: '', ms: 5 },
    { id: 'b', what: 'second <x>', section: 'SPEC §3', status: 'fail', reason: 'broke & "why"', ms: 7 },
    { id: 'c', what: 'third', section: 'SPEC §4', status: 'skip', reason: 'n/a', ms: 0 },
  ];
  it('table has one row per check and the counts', () => {
    const t = table(rows);
    expect(t.split('\n')[2]).toMatch(/^b\s+second <x>\s+SPEC §3\s+fail: broke & "why"$/);
    expect(t).toContain('1 passed, 1 failed, 1 skipped');
  });
  it('JUnit XML escapes and counts', () => {
    const x = junit(rows, 'suite');
    expect(x).toContain('tests="3" failures="1" errors="0" skipped="1"');
    expect(x).toContain('<failure message="broke &#38; &#34;why&#34;"/>');
    expect(x).toContain('name="b: second &#60;x&#62; (SPEC §3)"');
  });
});
