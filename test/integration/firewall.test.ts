/**
 * The firewall plugin as a runtime runs it, in scratch network namespaces
 * (the host's tables are never touched), against Debian's Go firewall
 * (v1.1.1): the same iptables-save and ip6tables-save after the same ADDs,
 * Go's rules removed by our DEL and ours by Go's, CHECK both ways, DEL
 * without prevResult, GC by cni.dev/valid-attachments, firewalld refused,
 * injection refused, STATUS.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { err, ok } from '../helpers/bridge.ts';
import { BIN_DIR, GO_CNI_DIR, ROOT, type RunResult, binPath, cniEnv, runExe } from '../helpers/exec.ts';
import { NetnsEnv, type TestNetns, ip, isRoot } from '../helpers/netns.ts';
import { PortmapLab } from '../helpers/portmap.ts';
import { FakeFirewalld, PrivateBus } from '../helpers/dbus.ts';

const GO_FIREWALL = join(GO_CNI_DIR, 'firewall');

beforeAll(() => {
  if (!isRoot()) throw new Error('the firewall tests need root (network namespaces)');
  if (!existsSync(GO_FIREWALL)) throw new Error(`${GO_FIREWALL} is missing: scripts/setup-machine.sh installs containernetworking-plugins`);
  binPath('firewall');
});

interface Pod {
  id: string;
  v4?: string | undefined;
  v6?: string | undefined;
}

let env: NetnsEnv;
let dataDir: string;
let seq = 0;
afterEach(() => {
  env?.cleanup();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

function setup(): void {
  env = new NetnsEnv();
  dataDir = mkdtempSync(join(tmpdir(), 'fw-data-'));
}

const pod = (v4?: string, v6?: string): Pod => ({ id: `fw-${process.pid}-${++seq}`, v4, v6 });

function prevResult(p: Pod): Record<string, unknown> {
  const ips = [];
  if (p.v4 !== undefined) ips.push({ address: `${p.v4}/24`, gateway: '10.88.0.1', interface: 1 });
  if (p.v6 !== undefined) ips.push({ address: `${p.v6}/64`, gateway: 'fd00:88::1', interface: 1 });
  return { cniVersion: '1.0.0', interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/fw-pod' }], ips };
}

/** A GC or STATUS request (spec 1.1.0). */
const v11 = (extra: Record<string, unknown> = {}): Record<string, unknown> => conf(undefined, { cniVersion: '1.1.0', ...extra });

function conf(p: Pod | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'fwnet', type: 'firewall', dataDir, ...(p === undefined ? {} : { prevResult: prevResult(p) }), ...extra };
}

/**
 * Runs a plugin in `ns`. The D-Bus system bus is `bus` (a private one) or a
 * path where there is none: never the host's, whose firewalld (if any) the
 * tests must not touch; without a bus both plugins pick iptables by default.
 */
function call(ns: TestNetns, command: string, c: Record<string, unknown>, p?: Pod, opts: { go?: boolean; netns?: string; bus?: string } = {}): Promise<RunResult> {
  const attach = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const bin = opts.go === true ? GO_FIREWALL : binPath('firewall');
  const e = cniEnv({
    CNI_COMMAND: command,
    CNI_CONTAINERID: attach ? (p?.id ?? 'fw-none') : undefined,
    CNI_NETNS: attach ? (opts.netns ?? '/run/netns/fw-pod') : undefined,
    CNI_IFNAME: attach ? 'eth0' : undefined,
    CNI_PATH: opts.go === true ? GO_CNI_DIR : BIN_DIR,
    DBUS_SYSTEM_BUS_ADDRESS: opts.bus ?? `unix:path=${join(dataDir, 'no-bus')}`,
  });
  return runExe('/usr/sbin/ip', { args: ['netns', 'exec', ns.name, bin], env: e, stdin: JSON.stringify(c) });
}

/** iptables-save and ip6tables-save of the namespace, without the comment lines (dates) and counters. */
function save(ns: TestNetns): string {
  const one = (cmd: string): string =>
    execFileSync('ip', ['netns', 'exec', ns.name, cmd], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
      .join('\n');
  return `${one('iptables-save')}\n--- v6\n${one('ip6tables-save')}`;
}

function iptables(ns: TestNetns, ...args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns.name, 'iptables', '-w', ...args], { stdio: 'ignore' });
}

/**
 * Debian's Go firewall is v1.1.1; v1.2.0 added ingressPolicy "isolated" and
 * with it the shared rules' comment "(ingressPolicy: same-bridge|isolated)"
 * that v1.9, the version we follow, writes. Only that comment differs.
 */
const goV11 = (save: string): string =>
  save
    .split('\n')
    .map((l) => (l.startsWith('-A CNI-ISOLATION-STAGE-1 -i ') ? l : l.replace('(ingressPolicy: same-bridge)"', '(ingressPolicy: same-bridge|isolated)"')))
    .join('\n');

const podLines = (s: string): string[] => s.split('\n').filter((l) => /^-A CNI-FORWARD -[ds] /.test(l));

describe('firewall against the Go plugin', () => {
  it('makes exactly the rules Go makes: both families, two pods, custom admin chain, same-bridge policy', async () => {
    setup();
    const goNs = env.netns();
    const ourNs = env.netns();
    const pods = [pod('10.88.0.2', 'fd00:88::2'), pod('10.88.0.3'), pod(undefined, 'fd00:88::4')];
    for (const [extra, label] of [
      [{}, 'default'],
      [{ iptablesAdminChainName: 'FW-ADMIN', ingressPolicy: 'same-bridge' }, 'admin chain + same-bridge'],
    ] as const) {
      for (const p of pods) {
        ok(await call(goNs, 'ADD', conf(p, extra), p, { go: true }));
        const add = await call(ourNs, 'ADD', conf(p, extra), p);
        expect(add.stderr).toBe('');
        expect(ok(add)['ips']).toEqual(prevResult(p)['ips']);
      }
      expect(save(ourNs), label).toBe(goV11(save(goNs)));
    }
    expect(podLines(save(ourNs))).toEqual([
      '-A CNI-FORWARD -d 10.88.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT',
      '-A CNI-FORWARD -d 10.88.0.3/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A CNI-FORWARD -s 10.88.0.3/32 -j ACCEPT',
      '-A CNI-FORWARD -d fd00:88::2/128 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A CNI-FORWARD -s fd00:88::2/128 -j ACCEPT',
      '-A CNI-FORWARD -d fd00:88::4/128 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A CNI-FORWARD -s fd00:88::4/128 -j ACCEPT',
    ]);
    // each CHECK accepts the other's rules
    for (const p of pods) {
      ok(await call(goNs, 'CHECK', conf(p), p));
      ok(await call(ourNs, 'CHECK', conf(p), p, { go: true }));
    }
  });

  it('Go ADD → our DEL leaves what Go DEL leaves; our ADD → Go DEL too', async () => {
    setup();
    const ns = env.netns();
    const ref = env.netns();
    const p = pod('10.88.0.5', 'fd00:88::5');
    ok(await call(ref, 'ADD', conf(p), p, { go: true }));
    ok(await call(ref, 'DEL', conf(p), p, { go: true }));
    const cleaned = save(ref);
    expect(podLines(cleaned)).toEqual([]);

    ok(await call(ns, 'ADD', conf(p), p, { go: true }));
    expect(podLines(save(ns))).toHaveLength(4);
    ok(await call(ns, 'DEL', conf(p), p));
    expect(save(ns)).toBe(cleaned);

    ok(await call(ns, 'ADD', conf(p), p));
    expect(podLines(save(ns))).toHaveLength(4);
    ok(await call(ns, 'DEL', conf(p), p, { go: true }));
    expect(save(ns)).toBe(cleaned);
    // Go cannot remove our record; our GC (or our DEL) does, and finds no rule left to remove
    expect(readdirSync(dataDir)).toHaveLength(1);
    ok(await call(ns, 'GC', v11({ 'cni.dev/valid-attachments': [] })));
    expect(readdirSync(dataDir)).toEqual([]);
    expect(save(ns)).toBe(cleaned);
  });
});

describe('firewall on its own', () => {
  it('DEL without prevResult nor netns removes the pod rules (the reference removes none); DEL again succeeds', async () => {
    setup();
    const ns = env.netns();
    const a = pod('10.88.0.6', 'fd00:88::6');
    const b = pod('10.88.0.7', 'fd00:88::7');
    ok(await call(ns, 'ADD', conf(a), a));
    const onlyA = save(ns);
    ok(await call(ns, 'ADD', conf(b), b));
    ok(await call(ns, 'DEL', conf(undefined), b, { netns: '' }));
    expect(save(ns)).toBe(onlyA);
    ok(await call(ns, 'DEL', conf(undefined), b, { netns: '' }));
    // the Go plugin, same input: removes nothing
    ok(await call(ns, 'ADD', conf(b), b));
    ok(await call(ns, 'DEL', conf(undefined), b, { go: true, netns: '' }));
    expect(podLines(save(ns))).toHaveLength(8);
    ok(await call(ns, 'DEL', conf(undefined), b, { netns: '' }));
    ok(await call(ns, 'DEL', conf(undefined), a, { netns: '' }));
    expect(podLines(save(ns))).toEqual([]);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('ingressPolicy isolated: the same-bridge DROP first in stage 1, CHECK covers the policy rules', async () => {
    setup();
    const ns = env.netns();
    const p = pod('10.88.0.9', 'fd00:88::9');
    const c = conf(p, { ingressPolicy: 'isolated' });
    ok(await call(ns, 'ADD', c, p));
    for (const family of save(ns).split('--- v6')) {
      const stage1 = family.split('\n').filter((l) => l.startsWith('-A CNI-ISOLATION-STAGE-1 '));
      expect(stage1).toEqual([
        '-A CNI-ISOLATION-STAGE-1 -i cni0 -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j DROP',
        '-A CNI-ISOLATION-STAGE-1 -i cni0 ! -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j CNI-ISOLATION-STAGE-2',
        '-A CNI-ISOLATION-STAGE-1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j RETURN',
      ]);
    }
    ok(await call(ns, 'CHECK', c, p));
    iptables(ns, '-D', 'CNI-ISOLATION-STAGE-1', '1');
    expect(err(await call(ns, 'CHECK', c, p)).details).toMatch(/CNI-ISOLATION-STAGE-1 rule \[-i cni0 -o cni0 /);
    ok(await call(ns, 'DEL', c, p));
    expect(podLines(save(ns))).toEqual([]);
  });

  it.each(['recorded', 'rules'])('an ADD killed at firewall:%s leaves what a DEL without prevResult removes', async (step) => {
    setup();
    const ns = env.netns();
    const p = pod('10.88.0.30', 'fd00:88::30');
    const e = cniEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: p.id, CNI_NETNS: '/run/netns/fw-pod', CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, CNI_TS_FAULT: `firewall:${step}:stop`, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dataDir, 'no-bus')}` });
    const child = spawn('/usr/sbin/ip', ['netns', 'exec', ns.name, binPath('firewall')], { env: e, stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.end(JSON.stringify(conf(p)));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // `ip netns exec` execs the plugin: the child's pid is the plugin's; wait until it stops itself
    const until = Date.now() + 20_000;
    const state = (): string => readFileSync(`/proc/${child.pid!}/stat`, 'utf8').replace(/^.*\) /, '')[0]!;
    while (state() !== 'T') {
      if (Date.now() > until) throw new Error(`the plugin did not reach firewall:${step} within 20 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await exited;
    expect(readdirSync(dataDir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    if (step === 'rules') expect(podLines(save(ns))).toHaveLength(4);
    ok(await call(ns, 'DEL', conf(undefined), p, { netns: '' }));
    expect(podLines(save(ns))).toEqual([]);
    expect(readdirSync(dataDir).filter((f) => f.endsWith('.json'))).toEqual([]);
    // the lock went with the killed process: the next ADD goes through
    ok(await call(ns, 'ADD', conf(p), p));
    ok(await call(ns, 'DEL', conf(p), p));
    expect(podLines(save(ns))).toEqual([]);
  });

  it('CHECK fails (999) when a rule was deleted by hand', async () => {
    setup();
    const ns = env.netns();
    const p = pod('10.88.0.8');
    ok(await call(ns, 'ADD', conf(p), p));
    ok(await call(ns, 'CHECK', conf(p), p));
    iptables(ns, '-D', 'CNI-FORWARD', '-s', '10.88.0.8/32', '-j', 'ACCEPT');
    const e = err(await call(ns, 'CHECK', conf(p), p));
    expect(e.code).toBe(999);
    expect(e.details).toMatch(/-s 10\.88\.0\.8\/32 -j ACCEPT/);
  });

  it('GC removes the rules of attachments not listed, keeps the listed ones', async () => {
    setup();
    const ns = env.netns();
    const keep = pod('10.88.0.10', 'fd00:88::10');
    const gone = pod('10.88.0.11', 'fd00:88::11');
    ok(await call(ns, 'ADD', conf(keep), keep));
    const onlyKeep = save(ns);
    ok(await call(ns, 'ADD', conf(gone), gone));
    ok(await call(ns, 'GC', v11({ 'cni.dev/valid-attachments': [{ containerID: keep.id, ifname: 'eth0' }] })));
    expect(save(ns)).toBe(onlyKeep);
    ok(await call(ns, 'CHECK', conf(keep), keep));
  });

  it('backend firewalld without a bus: code 50 naming it; injection refused (code 7); nothing changed; STATUS', async () => {
    setup();
    const ns = env.netns();
    const p = pod('10.88.0.12');
    const before = save(ns);
    const fwd = err(await call(ns, 'ADD', conf(p, { backend: 'firewalld' }), p));
    expect(fwd.code).toBe(50);
    expect(fwd.msg).toMatch(/backend "firewalld" is not usable: cannot reach the D-Bus system bus at .*no-bus/);
    expect(err(await call(ns, 'STATUS', v11({ backend: 'firewalld' }))).code).toBe(50);
    ok(await call(ns, 'DEL', conf(p, { backend: 'firewalld' }), p));
    for (const bad of ['X\nCOMMIT\n*filter\n-A INPUT -j DROP', 'A" -j DROP', '-j', 'ACCEPT', 'x'.repeat(29)]) {
      expect(err(await call(ns, 'ADD', conf(p, { iptablesAdminChainName: bad }), p)).code).toBe(7);
    }
    const evilBridge = { ...conf(p, { ingressPolicy: 'same-bridge' }) };
    (evilBridge['prevResult'] as { interfaces: { name: string }[] }).interfaces[0]!.name = 'br0 -j DROP';
    expect(err(await call(ns, 'ADD', evilBridge, p)).code).toBe(7);
    expect(save(ns)).toBe(before);
    expect(readdirSync(dataDir)).toEqual([]);
    ok(await call(ns, 'STATUS', v11()));
    expect(err(await call(ns, 'ADD', conf(undefined), p)).msg).toMatch(/prevResult/);
  });

  it('answers VERSION with the reference versions and more', async () => {
    const r = await runExe(binPath('firewall'), { env: cniEnv({ CNI_COMMAND: 'VERSION' }), stdin: '{"cniVersion":"1.0.0"}' });
    expect((r.json as { supportedVersions: string[] }).supportedVersions).toEqual(expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']));
  });
});

describe('firewall with traffic', () => {
  let lab: PortmapLab | undefined;
  afterEach(() => lab?.cleanup());

  it('with FORWARD policy DROP, a pod reaches the outside (both families) only while its rules exist; new connections in stay dropped', async () => {
    setup();
    lab = new PortmapLab();
    const node = lab.node;
    const remote = lab.remote;
    ip(remote, 'route', 'add', '10.88.0.0/24', 'via', '192.168.77.1');
    ip(remote, '-6', 'route', 'add', 'fd00:88::/64', 'via', 'fd00:77::1');
    lab.sh(node.name, 'iptables', '-w', '-P', 'FORWARD', 'DROP');
    lab.sh(node.name, 'ip6tables', '-w', '-P', 'FORWARD', 'DROP');
    const p = lab.pod();
    await lab.serve({ ...p, name: 'remote', ns: remote }, ['tcp:8000']);
    await lab.serve(p, ['tcp:80']);
    const fw: Pod = { id: p.containerId, v4: p.v4, v6: p.v6 };
    const out = (): Promise<string[]> => Promise.all([lab!.probe(p.ns, 'tcp', '192.168.77.2', 8000), lab!.probe(p.ns, 'tcp', 'fd00:77::2', 8000)]);

    expect((await out()).every((r) => r.startsWith('ERR'))).toBe(true);
    ok(await call(node, 'ADD', conf(fw), fw));
    expect(await out()).toEqual(['remote', 'remote']);
    // only replies come in: the reference's rules accept RELATED,ESTABLISHED towards the pod, not new connections
    expect(await lab.probe(remote, 'tcp', p.v4, 80)).toMatch(/^ERR/);
    ok(await call(node, 'DEL', conf(undefined), fw, { netns: '' }));
    expect((await out()).every((r) => r.startsWith('ERR'))).toBe(true);
  });
});

describe('conf-examples/bridge-firewall.conflist through cni tool', () => {
  it('bridge → portmap → firewall: add makes the pod rules, check/status pass, a del without the cache still removes them', async () => {
    setup();
    const host = env.netns();
    const p = env.netns();
    const list = JSON.parse(readFileSync(join(ROOT, 'conf-examples', 'bridge-firewall.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    // spec 1.1.0 for STATUS; private state directories, a bridge name of this test
    list.cniVersion = '1.1.0';
    list.name = 'fwlist';
    list.plugins[0]!['bridge'] = 'fwcni0';
    (list.plugins[0]!['ipam'] as Record<string, unknown>)['dataDir'] = join(dataDir, 'ipam');
    list.plugins[2]!['dataDir'] = join(dataDir, 'fw');
    writeFileSync(join(dataDir, '10-fwlist.conflist'), JSON.stringify(list));
    const tool = (verb: string, netns?: string): Promise<RunResult> =>
      runExe('/usr/sbin/ip', {
        args: ['netns', 'exec', host.name, binPath('cni'), 'tool', verb, 'fwlist', ...(netns === undefined ? [] : [netns])],
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', NETCONFPATH: dataDir, CNI_PATH: BIN_DIR, CNI_CACHE_DIR: join(dataDir, 'cache') },
      });
    const add = await tool('add', p.path);
    expect(add.code, add.stderr).toBe(0);
    const ips = (JSON.parse(add.stdout) as { ips: { address: string }[] }).ips.map((i) => i.address.replace(/\/\d+$/, ''));
    expect(ips).toHaveLength(2);
    const rules = podLines(save(host));
    expect(rules).toEqual([
      `-A CNI-FORWARD -d ${ips[0]!}/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A CNI-FORWARD -s ${ips[0]!}/32 -j ACCEPT`,
      `-A CNI-FORWARD -d ${ips[1]!}/128 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A CNI-FORWARD -s ${ips[1]!}/128 -j ACCEPT`,
    ]);
    for (const verb of ['check', 'status']) {
      const r = await tool(verb, verb === 'status' ? undefined : p.path);
      expect(r.code, `${verb}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    // the cached result gone (a crash, a reboot): DEL comes without prevResult
    rmSync(join(dataDir, 'cache'), { recursive: true, force: true });
    const del = await tool('del', p.path);
    expect(del.code, del.stderr).toBe(0);
    expect(podLines(save(host))).toEqual([]);
    expect(readdirSync(join(dataDir, 'fw'))).toEqual([]);
  });
});

describe('firewall, firewalld backend (a private bus with a pretend firewalld)', () => {
  let bus: PrivateBus | undefined;
  let fw: FakeFirewalld | undefined;
  afterEach(() => {
    fw?.stop();
    bus?.stop();
  });

  it('the addresses go into the zone, no iptables rule; interop with the Go plugin both ways; DEL without prevResult; GC', async () => {
    setup();
    bus = new PrivateBus();
    await bus.start();
    fw = new FakeFirewalld();
    await fw.start(bus);
    const ns = env.netns();
    const b = { bus: bus.address };
    const trusted = (): string[] => [...(fw!.zones.get('trusted') ?? [])].sort();
    const p = pod('10.88.0.20', 'fd00:88::20');
    const before = save(ns);

    // Go ADD (firewalld runs: its default) → our CHECK → our DEL
    ok(await call(ns, 'ADD', conf(p), p, { ...b, go: true }));
    expect(trusted()).toEqual(['10.88.0.20/32', 'fd00:88::20/128']);
    ok(await call(ns, 'CHECK', conf(p), p, b));
    ok(await call(ns, 'DEL', conf(p), p, b));
    expect(trusted()).toEqual([]);

    // our ADD (the same default) → Go CHECK → Go DEL; our GC then drops the record Go cannot see
    ok(await call(ns, 'ADD', conf(p), p, b));
    expect(trusted()).toEqual(['10.88.0.20/32', 'fd00:88::20/128']);
    expect(save(ns)).toBe(before);
    ok(await call(ns, 'CHECK', conf(p), p, { ...b, go: true }));
    ok(await call(ns, 'DEL', conf(p), p, { ...b, go: true }));
    expect(trusted()).toEqual([]);
    ok(await call(ns, 'GC', v11({ 'cni.dev/valid-attachments': [] }), undefined, b));
    expect(readdirSync(dataDir).filter((f) => f.endsWith('.json'))).toEqual([]);

    // our ADD in another zone, our DEL without prevResult nor netns
    ok(await call(ns, 'ADD', conf(p, { backend: 'firewalld', firewalldZone: 'internal' }), p, b));
    expect([...(fw.zones.get('internal') ?? [])].sort()).toEqual(['10.88.0.20/32', 'fd00:88::20/128']);
    ok(await call(ns, 'STATUS', v11({ backend: 'firewalld' }), undefined, b));
    ok(await call(ns, 'DEL', conf(undefined, { backend: 'firewalld', firewalldZone: 'internal' }), p, { ...b, netns: '' }));
    expect([...(fw.zones.get('internal') ?? [])]).toEqual([]);

    // CHECK notices a source removed behind our back (the reference's CHECK passes on any reply)
    ok(await call(ns, 'ADD', conf(p), p, b));
    fw.zones.get('trusted')!.delete('10.88.0.20/32');
    expect(err(await call(ns, 'CHECK', conf(p), p, b)).details).toMatch(/10\.88\.0\.20\/32 is not in trusted zone/);
    ok(await call(ns, 'DEL', conf(p), p, b));
    expect(save(ns)).toBe(before);
  });
});

describe('cni conformance on bridge → firewall', () => {
  it('passes every check at every spec version it runs (concurrent ADDs, DEL without netns, GC, chaining)', async () => {
    setup();
    const list = {
      cniVersion: '1.1.0',
      name: 'fwconform',
      plugins: [
        { type: 'bridge', bridge: 'fwc0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir: join(dataDir, 'ipam'), ranges: [[{ subnet: '10.99.7.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'firewall', backend: 'iptables', dataDir: join(dataDir, 'fw') },
      ],
    };
    const conf = join(dataDir, 'fwconform.conflist');
    writeFileSync(conf, JSON.stringify(list));
    const json = join(dataDir, 'report.json');
    const r = await runExe(binPath('cni'), { args: ['conformance', '--path', BIN_DIR, '--conf', conf, '--json', json, '--quiet'], env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
    expect(r.stderr).toBe('');
    const rows = (JSON.parse(readFileSync(json, 'utf8')) as { checks: { id: string; status: string }[] }).checks;
    expect(rows.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(rows.map((c) => c.id)).toEqual(expect.arrayContaining(['concurrency.add@1.1.0', 'del.netns-gone@1.1.0', 'gc.release@1.1.0', 'chain.prev@1.1.0']));
    expect(r.code).toBe(0);
    expect(readdirSync(join(dataDir, 'fw')).filter((f) => f.endsWith('.json'))).toEqual([]);
  });
});
