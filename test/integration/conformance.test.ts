/**
 * `cni conformance` end to end: the built executable checks our plugins (bare
 * bridge; flannel with our bridge and host-local; flannel chained with the Go
 * portmap) and passes; run against Debian's Go plugins it completes and fails
 * exactly the checks docs/runtime-side.md lists. Its namespaces and temp dirs are gone after.
 * The JUnit reports stay in build/reports/ for CI.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN_DIR, GO_CNI_DIR, ROOT, binPath, runExe } from '../helpers/exec.ts';
import { isRoot } from '../helpers/netns.ts';

interface Row {
  id: string;
  status: 'pass' | 'fail' | 'skip';
  reason: string;
}

let dir: string;
beforeAll(() => {
  expect(isRoot(), 'integration tests need root').toBe(true);
  expect(existsSync(join(GO_CNI_DIR, 'portmap')), `${GO_CNI_DIR}/portmap missing: scripts/setup-machine.sh installs containernetworking-plugins`).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'conformance-it-'));
  writeFileSync(join(dir, 'subnet.env'), readFileSync(join(ROOT, 'conf-examples', 'flannel-subnet-ipv4.env')));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const bridgeList = (version: string): object => ({
  cniVersion: version,
  name: 'conformnet',
  plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.99.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } }],
});
const flannelList = (version: string, chained: boolean): object => ({
  cniVersion: version,
  name: 'cbr0',
  plugins: [
    { type: 'flannel', subnetFile: join(dir, 'subnet.env'), delegate: { hairpinMode: true, isDefaultGateway: true } },
    ...(chained ? [{ type: 'portmap', capabilities: { portMappings: true } }] : []),
  ],
});

async function conformance(name: string, list: object, path: string): Promise<{ code: number; rows: Row[]; stdout: string; junit: string }> {
  const conf = join(dir, `${name}.conflist`);
  writeFileSync(conf, JSON.stringify(list));
  const json = join(dir, `${name}.json`);
  // JUnit reports where CI can pick them up
  mkdirSync(join(ROOT, 'build', 'reports'), { recursive: true });
  const junit = join(ROOT, 'build', 'reports', `conformance-${name}.xml`);
  const r = await runExe(binPath('cni'), { args: ['conformance', '--path', path, '--conf', conf, '--json', json, '--junit', junit, '--quiet'], env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
  expect(r.stderr).toBe('');
  const rows = (JSON.parse(readFileSync(json, 'utf8')) as { checks: Row[] }).checks;
  // nothing of the run is left: namespaces, temp dirs
  expect(readdirSync('/run/netns').filter((n) => n.startsWith('cnic-'))).toEqual([]);
  return { code: r.code, rows, stdout: r.stdout, junit: readFileSync(junit, 'utf8') };
}

const failed = (rows: Row[]): string[] => rows.filter((r) => r.status === 'fail').map((r) => `${r.id}: ${r.reason}`);
const ids = (rows: Row[], status: Row['status']): string[] => rows.filter((r) => r.status === status).map((r) => r.id);

describe('cni conformance against our plugins', () => {
  it('bare bridge (1.1.0): every check passes at every version', async () => {
    const r = await conformance('bridge', bridgeList('1.1.0'), BIN_DIR);
    expect(failed(r.rows)).toEqual([]);
    expect(r.code).toBe(0);
    // every version is exercised; only the chaining checks do not apply to a one-plugin list
    for (const v of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) expect(ids(r.rows, 'pass')).toContain(`add.kernel@${v}`);
    expect(ids(r.rows, 'pass')).toEqual(expect.arrayContaining(['check.broken@1.1.0', 'del.netns-gone@1.1.0', 'concurrency.del@1.1.0', 'gc.release@1.1.0', 'status.ok@1.1.0']));
    expect(ids(r.rows, 'skip')).toEqual(['chain.prev@1.1.0', 'chain.carry@1.1.0']);
    expect(r.stdout).toMatch(/\d+ passed, 0 failed, 2 skipped\n$/);
    expect(r.junit).toMatch(/<testsuite name="[^"]*" tests="\d+" failures="0" errors="0" skipped="2"/);
  });

  it('flannel with our bridge and host-local (1.1.0): every check passes', async () => {
    const r = await conformance('flannel', flannelList('1.1.0', false), BIN_DIR);
    expect(failed(r.rows)).toEqual([]);
    expect(r.code).toBe(0);
    expect(ids(r.rows, 'pass')).toEqual(expect.arrayContaining(['gc.release@1.1.0', 'gc.keep@1.1.0', 'status.ok@1.1.0']));
  });

  it('flannel chained with our portmap (1.1.0): chaining checks pass', async () => {
    const r = await conformance('flannel-portmap', flannelList('1.1.0', true), BIN_DIR);
    expect(failed(r.rows)).toEqual([]);
    expect(r.code).toBe(0);
    expect(ids(r.rows, 'pass')).toEqual(expect.arrayContaining(['chain.prev@1.1.0', 'chain.carry@1.1.0', 'version.shape[portmap]', 'error.json[portmap]']));
  });
});

describe('cni conformance against the Go reference (/usr/lib/cni)', () => {
  it('completes, and fails exactly what docs/runtime-side.md lists', async () => {
    const r = await conformance('go-bridge', bridgeList('1.0.0'), GO_CNI_DIR);
    expect(r.code).toBe(1);
    expect(ids(r.rows, 'fail').sort()).toEqual(['del.clean@0.4.0', 'del.clean@1.0.0', 'del.empty-netns@1.0.0', 'del.netns-gone@1.0.0']);
    for (const row of r.rows.filter((x) => x.status === 'fail')) expect(row.reason).toMatch(/^rules naming the container left: -A POSTROUTING -s 10\.99\.0\.\d+\/32 -m comment --comment "name: \\"conformnet\\"/);
  });
});
