/**
 * loopback, as root in scratch namespaces, at every spec version, side by
 * side with Debian's Go loopback (v1.1.1: spec ≤ 1.0.0).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, ip, ipJson } from '../helpers/netns.ts';
import { GO_LOOPBACK, PortmapLab } from '../helpers/portmap.ts';
import { err, ok } from '../helpers/bridge.ts';

beforeAll(() => {
  if (!isRoot()) throw new Error('the loopback integration tests need root (network namespaces)');
  if (!existsSync(GO_LOOPBACK)) throw new Error(`${GO_LOOPBACK} is missing: scripts/setup-machine.sh installs containernetworking-plugins`);
});

let lab: PortmapLab;
afterEach(() => lab?.cleanup());

const conf = (cniVersion: string): Record<string, unknown> => ({ cniVersion, name: 'cni-loopback', type: 'loopback' });
const loUp = (ns: Parameters<typeof ip>[0]): boolean => (ipJson<{ flags: string[] }[]>(ns, 'link', 'show', 'lo')[0]?.flags ?? []).includes('UP');

describe('loopback', () => {
  it('gives the Go plugin\'s result from 0.3.0 to 1.0.0, the spec\'s at 0.1.0, 0.2.0 and 1.1.0', async () => {
    lab = new PortmapLab();
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
      const ours = lab.env.netns();
      const theirs = lab.env.netns();
      const a = ok(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf(v), netns: ours.path }));
      const b = ok(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf(v), netns: theirs.path, go: true }));
      // the spec's "version" of 0.3.x/0.4.0 IPs is missing from Debian's v1.1.1 output (it labels a 1.0.0 result),
      // and its 1.0.0 result carries an empty "dns" (newer Go releases omit it, as we do)
      const norm = (o: Record<string, unknown>, path: string): unknown => {
        const j = JSON.parse(JSON.stringify(o).replaceAll(path, 'NS').replace(/"version":"[46]",?/g, '')) as Record<string, unknown>;
        if (v === '1.0.0' && JSON.stringify(j['dns']) === '{}') delete j['dns'];
        return j;
      };
      expect(norm(a, ours.path), v).toEqual(norm(b, theirs.path));
      expect(loUp(ours)).toBe(true);
    }
    // 0.1.0/0.2.0: the spec's ip4/ip6 shape (Debian's v1.1.1 prints a 1.0.0-shaped result labelled 0.x there)
    for (const v of ['0.1.0', '0.2.0']) {
      const old = lab.env.netns();
      expect(ok(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf(v), netns: old.path }))).toEqual({ cniVersion: v, ip4: { ip: '127.0.0.1/8' }, ip6: { ip: '::1/128' }, dns: {} });
    }
    const ns = lab.env.netns();
    const r = ok(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf('1.1.0'), netns: ns.path }));
    expect(r).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: ns.path }],
      ips: [
        { interface: 0, address: '127.0.0.1/8' },
        { interface: 0, address: '::1/128' },
      ],
    });
    ok(await lab.call({ command: 'CHECK', plugin: 'loopback', conf: conf('1.1.0'), netns: ns.path }));
    ok(await lab.call({ command: 'GC', plugin: 'loopback', conf: conf('1.1.0') }));
    ok(await lab.call({ command: 'STATUS', plugin: 'loopback', conf: conf('1.1.0') }));
  });

  it('reports only 127.0.0.1/8 where the namespace has no IPv6, and refuses a foreign address on lo', async () => {
    lab = new PortmapLab();
    const ns = lab.env.netns();
    lab.sh(ns.name, 'sysctl', '-qw', 'net.ipv6.conf.lo.disable_ipv6=1');
    const r = ok(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path }));
    expect(r['ips']).toEqual([{ interface: 0, address: '127.0.0.1/8' }]);
    ip(ns, 'addr', 'add', '10.9.9.9/32', 'dev', 'lo');
    expect(err(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path })).msg).toMatch(/non-loopback address "10\.9\.9\.9"/);
  });

  it('DEL sets lo down, CHECK then fails; DEL of a gone or empty netns succeeds; interop with Go both ways', async () => {
    lab = new PortmapLab();
    const ns = lab.env.netns();
    ok(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path, go: true }));
    ok(await lab.call({ command: 'CHECK', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path }));
    ok(await lab.call({ command: 'DEL', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path }));
    expect(loUp(ns)).toBe(false);
    expect(err(await lab.call({ command: 'CHECK', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path })).msg).toMatch(/loopback interface is down/);
    expect(err(await lab.call({ command: 'CHECK', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path, go: true })).msg).toMatch(/down/);
    ok(await lab.call({ command: 'ADD', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path }));
    ok(await lab.call({ command: 'CHECK', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path, go: true }));
    ok(await lab.call({ command: 'DEL', plugin: 'loopback', conf: conf('1.0.0'), netns: ns.path, go: true }));
    expect(loUp(ns)).toBe(false);
    ok(await lab.call({ command: 'DEL', plugin: 'loopback', conf: conf('0.3.1'), netns: '/run/netns/t-gone-forever' }));
    ok(await lab.call({ command: 'DEL', plugin: 'loopback', conf: conf('0.3.1'), netns: '' }));
    // the node's own namespace is refused before anything is touched
    const self = err(await lab.call({ command: 'DEL', plugin: 'loopback', conf: conf('0.3.1'), netns: lab.node.path }));
    expect(self.code).toBe(8);
    expect(loUp(lab.node)).toBe(true);
  });

  it('CHECK refuses its own namespace as ADD and DEL do; DEL of a path that is no namespace is code 8 as ADD; GC refuses a valid list that is not a list', async () => {
    lab = new PortmapLab();
    expect(err(await lab.call({ command: 'CHECK', plugin: 'loopback', conf: conf('1.0.0'), netns: lab.node.path })).code).toBe(8);
    const dir = mkdtempSync(join(tmpdir(), 'cp-lo-'));
    try {
      const file = join(dir, 'file');
      writeFileSync(file, '');
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      for (const path of [file, fifo]) {
        for (const command of ['ADD', 'DEL', 'CHECK'] as const) {
          const e = err(await lab.call({ command, plugin: 'loopback', conf: conf('1.0.0'), netns: path }));
          expect(e.code, `${command} ${path}`).toBe(8);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const bad of [{ containerID: 'a', ifname: 'eth0' }, 'all', 7]) {
      const e = err(await lab.call({ command: 'GC', plugin: 'loopback', conf: { ...conf('1.1.0'), 'cni.dev/valid-attachments': bad } }));
      expect(e).toMatchObject({ code: 7, msg: 'invalid network config: "cni.dev/valid-attachments" must be a list' });
    }
    ok(await lab.call({ command: 'GC', plugin: 'loopback', conf: { ...conf('1.1.0'), 'cni.dev/valid-attachments': [] } }));
  });
});
