/**
 * docs/troubleshooting.md: every fenced block after a `<!-- check: ID -->`
 * marker is the exact text the real executable prints in that situation. Each
 * case is made here, in a private "host" namespace, with the node's paths
 * (/run/flannel/subnet.env, /opt/cni/bin, /var/lib/cni/...) under a temp dir
 * that is stripped from the output before comparing. Where the page gives a
 * fix that our plugins can show working, it is checked too.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN_DIR, ROOT } from '../helpers/exec.ts';
import { createNetns, deleteNetns, ip, leftoverTestNetns, type TestNetns } from '../helpers/netns.ts';

const PAGE = readFileSync(join(ROOT, 'docs', 'troubleshooting.md'), 'utf8');

/** The page's checked blocks: id → text. */
function pageBlocks(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of PAGE.matchAll(/<!-- check: (\S+) -->\n```[a-z]*\n([\s\S]*?)\n```/g)) out.set(m[1]!, m[2]!);
  return out;
}
const BLOCKS = pageBlocks();
function block(id: string): string {
  const b = BLOCKS.get(id);
  if (b === undefined) throw new Error(`docs/troubleshooting.md has no <!-- check: ${id} --> block`);
  return b;
}

let root: string;
let host: TestNetns;
let pod: TestNetns;
afterAll(() => expect(leftoverTestNetns()).toEqual([]));
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dp-trouble-'));
  host = createNetns();
  pod = createNetns();
  // the node's bin dir, made by our own installer
  execFileSync(join(BIN_DIR, 'cni'), ['install', '--dest', at('/opt/cni/bin')], { stdio: 'ignore' });
  mkdirSync(at('/run/flannel'), { recursive: true });
});
afterEach(() => {
  deleteNetns(pod.name);
  deleteNetns(host.name);
  rmSync(root, { recursive: true, force: true });
});

/** A node path under the temp root. */
const at = (p: string): string => join(root, p);
const strip = (s: string): string => s.replaceAll(root, '');

function subnetEnv(subnet: string, ipMasq = true): void {
  writeFileSync(at('/run/flannel/subnet.env'), `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${ipMasq}\n`);
}

/** kube-flannel's flannel entry with the node paths under the temp root. */
function flannelConf(cniVersion = '1.0.0', delegate: object = {}): Record<string, unknown> {
  return {
    cniVersion,
    name: 'cbr0',
    type: 'flannel',
    subnetFile: at('/run/flannel/subnet.env'),
    dataDir: at('/var/lib/cni/flannel'),
    delegate: { hairpinMode: true, isDefaultGateway: true, ...delegate },
    ipam: { dataDir: at('/var/lib/cni/networks') },
  };
}

/** flannel ADD as the runtime runs it, in the host namespace; returns stdout (the error object) and the exit code. */
function flannelAdd(conf: object, env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('/usr/sbin/ip', ['netns', 'exec', host.name, at('/opt/cni/bin/flannel')], {
    input: JSON.stringify(conf),
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'dp-trouble-1', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', CNI_PATH: at('/opt/cni/bin'), ...env },
  });
  return { code: r.status ?? -1, stdout: strip(r.stdout), stderr: r.stderr };
}

describe('docs/troubleshooting.md', () => {
  it('has every case this test knows, and no unchecked block marker', () => {
    expect([...BLOCKS.keys()].sort()).toEqual(
      ['subnet-env-missing', 'range-full', 'stale-bridge-address', 'version-unsupported', 'runtime-result-version', 'no-iptables', 'delegate-missing', 'chain-plugin-missing'].sort(),
    );
    expect(PAGE.match(/<!-- check:/g)).toHaveLength(BLOCKS.size);
  });

  it('subnet.env missing', () => {
    const r = flannelAdd(flannelConf());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(block('subnet-env-missing'));
  });

  it('a full range (leaked leases); removing the leases fixes it', () => {
    subnetEnv('10.244.1.1/24');
    const leases = at('/var/lib/cni/networks/cbr0');
    mkdirSync(leases, { recursive: true });
    for (let i = 2; i <= 254; i++) writeFileSync(join(leases, `10.244.1.${i}`), `gone-${i}\r\neth0`);
    const r = flannelAdd(flannelConf());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(block('range-full'));
    rmSync(join(leases, '10.244.1.77'));
    expect(flannelAdd(flannelConf()).code).toBe(0);
  });

  it('a stale cni0 address; forceAddress (or removing the address) fixes it', () => {
    subnetEnv('10.244.2.1/24');
    ip(host, 'link', 'add', 'cni0', 'type', 'bridge');
    ip(host, 'addr', 'add', '10.244.1.1/24', 'dev', 'cni0');
    const r = flannelAdd(flannelConf());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(block('stale-bridge-address'));
    expect(flannelAdd(flannelConf('1.0.0', { forceAddress: true })).code).toBe(0);
    expect(ip(host, '-4', '-o', 'addr', 'show', 'dev', 'cni0')).toContain('10.244.2.1/24');
  });

  it('a config version the plugin does not speak; the runtime-side text is the one the runtime suites assert', () => {
    subnetEnv('10.244.1.1/24');
    const r = flannelAdd(flannelConf('1.2.0'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(block('version-unsupported'));
    // containerd 1.6 and podman 4.3 print it for a 1.1.0 conflist (test/integration/runtime-*.test.ts run them)
    for (const suite of ['runtime-containerd.test.ts', 'runtime-podman.test.ts']) {
      expect(readFileSync(join(ROOT, 'test', 'integration', suite), 'utf8')).toContain(`toContain('${block('runtime-result-version')}')`);
    }
  });

  it('no iptables and no nft on PATH: masquerade through nftables netlink; iptables asked for by name fails', () => {
    subnetEnv('10.244.1.1/24', false);
    const empty = at('/empty-path');
    mkdirSync(empty);
    const r = flannelAdd(flannelConf('1.0.0', { ipMasqBackend: 'iptables' }), { PATH: empty });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(block('no-iptables'));
    const ok = flannelAdd(flannelConf(), { PATH: empty });
    expect(ok.code, ok.stdout).toBe(0);
    expect(execFileSync('ip', ['netns', 'exec', host.name, 'nft', 'list', 'tables'], { encoding: 'utf8' })).toContain('inet cni_plugins_masquerade');
  });

  it("flannel's delegate missing from CNI_PATH", () => {
    subnetEnv('10.244.1.1/24');
    rmSync(at('/opt/cni/bin/bridge'));
    const r = flannelAdd(flannelConf());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(block('delegate-missing'));
  });

  it('a plugin of the conflist missing: the runtime (cni tool, as libcni) says so', () => {
    subnetEnv('10.244.1.1/24');
    rmSync(at('/opt/cni/bin/portmap'));
    const net = at('/etc/cni/net.d');
    mkdirSync(net, { recursive: true });
    const { cniVersion, name, ...flannel } = flannelConf();
    writeFileSync(join(net, '10-flannel.conflist'), JSON.stringify({ cniVersion, name, plugins: [flannel, { type: 'portmap', capabilities: { portMappings: true } }] }));
    const r = spawnSync('/usr/sbin/ip', ['netns', 'exec', host.name, join(BIN_DIR, 'cni'), 'tool', 'add', 'cbr0', pod.path], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NETCONFPATH: net, CNI_PATH: at('/opt/cni/bin'), CNI_CACHE_DIR: at('/var/lib/cni') },
    });
    expect(r.status).toBe(1);
    expect(strip(r.stderr)).toBe(`${block('chain-plugin-missing')}\n`);
  });
});
