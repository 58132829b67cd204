/**
 * The netlink facade against the real kernel, as root, only in fresh
 * namespaces (never the host's): A plays the host with the bridge, B the
 * container. State is read back both through the facade and through
 * `ip -d -j` / `bridge -j`, so a decoder bug cannot hide an encoder bug.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NetlinkError, openNetlink, type Link, type Netlink, type VethLink } from '../../lib/netlink/index.ts';
import { Netns, netnsReady } from '../../lib/netns/index.ts';
import { NetnsEnv, bridgeJson, ip, ipJson, isRoot, kernelHasBridgeVlanFiltering, leftoverTestNetns, type TestNetns } from '../helpers/netns.ts';

/**
 * Without CONFIG_BRIDGE_VLAN_FILTERING the kernel refuses vlan_filtering and
 * VLAN entries (EOPNOTSUPP): the VLAN tests then run as "reports the refusal"
 * and the positive ones show as skipped, never silently.
 */
const VLAN_FILTERING = isRoot() && kernelHasBridgeVlanFiltering();

interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  master?: string;
  link_netnsid?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}

interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string; broadcast?: string; label?: string; tentative?: boolean; nodad?: boolean }[];
}

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  scope?: string;
  table?: string;
  prefsrc?: string;
  metrics?: { mtu?: number; advmss?: number }[];
  nexthops?: { gateway: string; dev: string }[];
}

interface BridgeVlanShow {
  ifname: string;
  vlans: { vlan: number; vlanEnd?: number; flags?: string[] }[];
}

function ipLink(ns: TestNetns, name: string): IpLink {
  const [link] = ipJson<IpLink[]>(ns, '-d', 'link', 'show', 'dev', name);
  if (link === undefined) throw new Error(`ip link show ${name}: no output`);
  return link;
}

/** `bridge -j vlan show dev <name>` as [vid, flags] pairs, ranges expanded. */
function bridgeVlans(ns: TestNetns, name: string): [number, string[]][] {
  const out: [number, string[]][] = [];
  for (const entry of bridgeJson<BridgeVlanShow[]>(ns, 'vlan', 'show', 'dev', name)) {
    for (const v of entry.vlans) {
      for (let vid = v.vlan; vid <= (v.vlanEnd ?? v.vlan); vid++) out.push([vid, [...(v.flags ?? [])].sort()]);
    }
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<NetlinkError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(NetlinkError);
    return err as NetlinkError;
  }
  throw new Error('expected a rejection');
}

function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is missing`);
  return v;
}

describe('netlink facade (root, fresh namespaces)', () => {
  let env: NetnsEnv;
  let A: TestNetns;
  let B: TestNetns;
  let nsA: Netns;
  let nsB: Netns;
  let nlA: Netlink;
  let nlB: Netlink;

  beforeAll(async () => {
    if (!isRoot()) throw new Error('these tests need root (they create network namespaces)');
    await netnsReady();
  });

  beforeEach(async () => {
    env = new NetnsEnv();
    A = env.netns();
    B = env.netns();
    nsA = env.track(Netns.open(A.path));
    nsB = env.track(Netns.open(B.path));
    nlA = env.track(await openNetlink(nsA));
    nlB = env.track(await openNetlink(nsB));
  });

  afterEach(() => env.cleanup());

  afterAll(() => {
    expect(leftoverTestNetns()).toEqual([]);
  });

  /** Bridge br0 (vlan_filtering when the kernel has it) in A, veth vethA in A with its peer eth0 created directly in B, attached to br0. */
  async function bridgeWithPort(): Promise<{ br: Link; veth: VethLink; peer: Link }> {
    const br = await nlA.linkAddBridge({ name: 'br0', mtu: 1400, ...(VLAN_FILTERING ? { vlanFiltering: true } : {}) });
    const veth = await nlA.linkAddVeth({ name: 'vethA', peerName: 'eth0', mtu: 1400, peerNetnsFd: nsB.fd });
    await nlA.linkSetMaster(veth, br);
    await nlA.linkSetUp(veth);
    await nlA.linkSetUp(br);
    const peer = must(await nlB.linkByName('eth0'), 'eth0 in B');
    return { br, veth, peer };
  }

  it('binds each handle to the namespace it was opened in', async () => {
    const namesA = (await nlA.linkList()).map((l) => l.name);
    expect(namesA).toEqual(['lo']);
    await nlA.linkAddBridge({ name: 'br-only-a' });
    expect((await nlA.linkList()).map((l) => l.name).sort()).toEqual(['br-only-a', 'lo']);
    expect(await nlB.linkByName('br-only-a')).toBeUndefined();
    expect(ipJson<IpLink[]>(A, 'link', 'show').map((l) => l.ifname)).toContain('br-only-a');
    expect(ipJson<IpLink[]>(B, 'link', 'show').map((l) => l.ifname)).not.toContain('br-only-a');
    expect(nlA.netnsPath).toBe(A.path);
  });

  it('opens the socket in the namespace the process is in when no Netns is given', async () => {
    await nlA.linkAddBridge({ name: 'br-a' });
    // a child started inside A by `ip netns exec`, so the host's namespace is never opened
    const facade = fileURLToPath(new URL('../../lib/netlink/index.ts', import.meta.url));
    const script = `const { openNetlink } = await import(${JSON.stringify(facade)});
      const nl = await openNetlink();
      process.stdout.write(JSON.stringify({ path: nl.netnsPath ?? null, names: (await nl.linkList()).map((l) => l.name) }));
      nl.close();`;
    const out = execFileSync('ip', ['netns', 'exec', A.name, process.execPath, '--experimental-transform-types', '--no-warnings', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ path: null, names: ['lo', 'br-a'] });
  });

  it('returns undefined for missing links and keeps the errno on failures', async () => {
    expect(await nlA.linkByName('nosuchlink')).toBeUndefined();
    expect(await nlA.linkByName('a-name-much-too-long-for-linux')).toBeUndefined();
    expect(await nlA.linkByIndex(4242)).toBeUndefined();
    expect(await nlA.getBridgePort(4242)).toBeUndefined();
    const lo = must(await nlA.linkByIndex(1), 'lo');
    expect(lo).toMatchObject({ kind: 'device', name: 'lo', index: 1, linkType: 772 });
    expect(lo.flags.loopback).toBe(true);

    const del = await rejection(nlA.linkDel({ index: 4242, name: 'ghost' }));
    expect(del.code).toBe('ENODEV');
    expect(del.errno).toBe(19);
    expect(del.message).toContain('delete "ghost"');
    expect(del.message).toContain(`in netns ${A.path}`);
    expect(del.cause).toMatchObject({ code: 'ENODEV', errno: 19 });

    await nlA.linkAddBridge({ name: 'br0' });
    const dup = await rejection(nlA.linkAddBridge({ name: 'br0' }));
    expect(dup.code).toBe('EEXIST');
    expect(dup.message).toMatch(/^failed to add bridge "br0" in netns \/run\/netns\/t-[0-9a-f]{8}: .+ \(EEXIST\)$/);

    const bad = await rejection(nlA.linkAddBridge({ name: 'bad/name' }));
    expect(bad.code).toBeUndefined();
    expect(bad.message).toContain('invalid interface name');
  });

  it('creates a bridge with MTU and MAC', async () => {
    const br = await nlA.linkAddBridge({ name: 'br0', mtu: 1400, mac: '02:00:00:aa:bb:01' });
    expect(br).toMatchObject({ kind: 'bridge', name: 'br0', mtu: 1400, mac: '02:00:00:aa:bb:01', vlanFiltering: false });
    expect(br.flags.up).toBe(false);
    const shown = ipLink(A, 'br0');
    expect(shown.mtu).toBe(1400);
    expect(shown.address).toBe('02:00:00:aa:bb:01');
    expect(shown.linkinfo?.info_kind).toBe('bridge');
    expect(shown.linkinfo?.info_data?.['vlan_filtering']).toBe(0);

    await nlA.linkSetUp(br);
    const up = must(await nlA.linkByName('br0'), 'br0');
    expect(up.flags.up).toBe(true);
    expect(ipLink(A, 'br0').flags).toContain('UP');
  });

  it.runIf(VLAN_FILTERING)('creates a bridge with vlan_filtering', async () => {
    const br = await nlA.linkAddBridge({ name: 'br0', vlanFiltering: true });
    expect(br).toMatchObject({ kind: 'bridge', vlanFiltering: true, vlanDefaultPvid: 1 });
    expect(ipLink(A, 'br0').linkinfo?.info_data?.['vlan_filtering']).toBe(1);
  });

  it.skipIf(VLAN_FILTERING)('reports the refusal of vlan_filtering and VLAN entries by a kernel without CONFIG_BRIDGE_VLAN_FILTERING', async () => {
    const err = await rejection(nlA.linkAddBridge({ name: 'br0', vlanFiltering: true }));
    // EOPNOTSUPP and ENOTSUP are both 95 on Linux; Node names it ENOTSUP
    expect(err.errno).toBe(95);
    expect(err.code).toBe('ENOTSUP');
    expect(await nlA.linkByName('br0')).toBeUndefined();

    const { veth } = await bridgeWithPort();
    const vlanErr = await rejection(nlA.bridgeVlanAdd({ link: veth, vid: 10, pvid: true, untagged: true }));
    expect(vlanErr.errno).toBe(95);
    expect(vlanErr.message).toContain('add VLAN 10 pvid untagged to "vethA"');
    // the AF_BRIDGE dump still answers, with no VLAN entries
    expect(await nlA.bridgeVlanList(veth)).toEqual([]);
  });

  it('creates a veth pair with the peer directly in another namespace and attaches it to a bridge', async () => {
    const br = await nlA.linkAddBridge({ name: 'br0', mtu: 1400 });
    const veth = await nlA.linkAddVeth({
      name: 'vethA',
      peerName: 'eth0',
      mtu: 1400,
      mac: '02:00:00:00:0a:01',
      peerMac: '02:00:00:00:0b:01',
      peerNetnsFd: nsB.fd,
    });
    expect(veth).toMatchObject({ kind: 'veth', name: 'vethA', mtu: 1400, mac: '02:00:00:00:0a:01' });
    expect(await nlA.linkByName('eth0')).toBeUndefined();
    const peer = must(await nlB.linkByName('eth0'), 'eth0 in B');
    expect(peer).toMatchObject({ kind: 'veth', mtu: 1400, mac: '02:00:00:00:0b:01', peerIndex: veth.index });
    expect(veth.peerIndex).toBe(peer.index);
    expect(veth.peerNetnsId).toBeTypeOf('number');
    expect(ipLink(B, 'eth0')).toMatchObject({ mtu: 1400, address: '02:00:00:00:0b:01', linkinfo: { info_kind: 'veth' } });

    await nlA.linkSetMaster(veth, br);
    const port = must(await nlA.linkByName('vethA'), 'vethA');
    expect(port.masterIndex).toBe(br.index);
    expect(port.slaveKind).toBe('bridge');
    expect(ipLink(A, 'vethA').master).toBe('br0');

    await nlA.linkSetMaster(veth, undefined);
    const detached = must(await nlA.linkByName('vethA'), 'vethA');
    expect(detached.masterIndex).toBeUndefined();
    expect(ipLink(A, 'vethA').master).toBeUndefined();
  });

  it('sets hairpin and isolated on a bridge port and reads them back', async () => {
    const { br, veth } = await bridgeWithPort();
    const before = must(await nlA.getBridgePort(veth), 'port');
    expect(before).toMatchObject({ index: veth.index, masterIndex: br.index, hairpin: false, isolated: false, learning: true });

    await nlA.setBridgePortFlags(veth, { hairpin: true, isolated: true });
    expect(await nlA.getBridgePort(veth)).toMatchObject({ hairpin: true, isolated: true, learning: true });
    let slave = ipLink(A, 'vethA').linkinfo;
    expect(slave?.info_slave_kind).toBe('bridge');
    expect(slave?.info_slave_data).toMatchObject({ hairpin: true, isolated: true });

    // an unset field is left alone: only hairpin changes here
    await nlA.setBridgePortFlags(veth, { hairpin: false });
    expect(await nlA.getBridgePort(veth)).toMatchObject({ hairpin: false, isolated: true });
    slave = ipLink(A, 'vethA').linkinfo;
    expect(slave?.info_slave_data).toMatchObject({ hairpin: false, isolated: true });

    await nlA.setBridgePortFlags(veth, { learning: false, cost: 42 });
    expect(await nlA.getBridgePort(veth)).toMatchObject({ learning: false, cost: 42 });
    expect(ipLink(A, 'vethA').linkinfo?.info_slave_data).toMatchObject({ learning: false, cost: 42 });

    // the bridge itself and links outside a bridge are not ports
    expect(await nlA.getBridgePort(br)).toBeUndefined();
    const lone = await nlA.linkAddBridge({ name: 'br9' });
    const err = await rejection(nlA.setBridgePortFlags(lone, { hairpin: true }));
    expect(err.errno).toBe(95); // EOPNOTSUPP
    expect(err.message).toContain('"br9"');
  });

  it.runIf(VLAN_FILTERING)('adds, lists and deletes bridge VLAN entries', async () => {
    const { br, veth } = await bridgeWithPort();
    // a new port of a vlan_filtering bridge gets the default PVID 1, untagged
    expect(await nlA.bridgeVlanList(veth)).toEqual([{ index: veth.index, vid: 1, pvid: true, untagged: true, brentry: false }]);
    expect(bridgeVlans(A, 'vethA')).toEqual([[1, ['Egress Untagged', 'PVID']]]);

    await nlA.bridgeVlanDel({ link: veth, vid: 1 });
    await nlA.bridgeVlanAdd({ link: veth, vid: 10, pvid: true, untagged: true });
    await nlA.bridgeVlanAdd({ link: veth, vid: 20 });
    await nlA.bridgeVlanAdd({ link: veth, vid: 30, vidEnd: 32 });
    const listed = (await nlA.bridgeVlanList(veth)).map((v) => [v.vid, v.pvid, v.untagged]);
    expect(listed).toEqual([
      [10, true, true],
      [20, false, false],
      [30, false, false],
      [31, false, false],
      [32, false, false],
    ]);
    expect(bridgeVlans(A, 'vethA')).toEqual([
      [10, ['Egress Untagged', 'PVID']],
      [20, []],
      [30, []],
      [31, []],
      [32, []],
    ]);

    // `self` puts the VLAN on the bridge device itself
    await nlA.bridgeVlanAdd({ link: br, vid: 10, self: true });
    const onBridge = await nlA.bridgeVlanList(br);
    expect(onBridge.find((v) => v.vid === 10)).toMatchObject({ index: br.index, brentry: true });
    expect(bridgeVlans(A, 'br0').map(([vid]) => vid)).toContain(10);

    // the unfiltered list covers every port and the bridge
    const all = await nlA.bridgeVlanList();
    expect(new Set(all.map((v) => v.index))).toEqual(new Set([br.index, veth.index]));

    await nlA.bridgeVlanDel({ link: veth, vid: 20 });
    await nlA.bridgeVlanDel({ link: veth, vid: 30, vidEnd: 32 });
    expect((await nlA.bridgeVlanList(veth)).map((v) => v.vid)).toEqual([10]);
    expect(bridgeVlans(A, 'vethA')).toEqual([[10, ['Egress Untagged', 'PVID']]]);

    const bad = await rejection(nlA.bridgeVlanAdd({ link: veth, vid: 4095 }));
    expect(bad.message).toContain('invalid VLAN id 4095');
  });

  it('changes MTU, MAC, promisc and up/down', async () => {
    const { veth } = await bridgeWithPort();
    await nlA.linkSetMtu(veth, 1280);
    await nlA.linkSetMac(veth, '02:00:00:12:34:56');
    let l = must(await nlA.linkByName('vethA'), 'vethA');
    expect(l).toMatchObject({ mtu: 1280, mac: '02:00:00:12:34:56' });
    expect(ipLink(A, 'vethA')).toMatchObject({ mtu: 1280, address: '02:00:00:12:34:56' });

    const br = await nlA.linkAddBridge({ name: 'br1' });
    expect(br.flags.promisc).toBe(false);
    await nlA.linkSetPromisc(br, true);
    expect(must(await nlA.linkByName('br1'), 'br1').flags.promisc).toBe(true);
    expect(ipLink(A, 'br1').flags).toContain('PROMISC');
    await nlA.linkSetPromisc(br, false);
    expect(must(await nlA.linkByName('br1'), 'br1').flags.promisc).toBe(false);

    await nlA.linkSetDown(veth);
    l = must(await nlA.linkByName('vethA'), 'vethA');
    expect(l.flags.up).toBe(false);
    expect(l.operstate).toBe('down');
    expect(ipLink(A, 'vethA').flags).not.toContain('UP');

    const tooBig = await rejection(nlA.linkSetMtu(veth, 70000));
    expect(tooBig.code).toBe('EINVAL');
  });

  it('moves a link to another namespace', async () => {
    const veth = await nlA.linkAddVeth({ name: 'v0', peerName: 'v1' });
    const peer = must(await nlA.linkByName('v1'), 'v1');
    expect(veth.peerIndex).toBe(peer.index);
    expect(veth.peerNetnsId).toBeUndefined();
    await nlA.linkSetNetns(peer, nsB);
    expect(await nlA.linkByName('v1')).toBeUndefined();
    expect(must(await nlB.linkByName('v1'), 'v1 in B').kind).toBe('veth');
    expect(ipJson<IpLink[]>(B, 'link', 'show', 'dev', 'v1')).toHaveLength(1);
  });

  it('deleting one veth end removes the other', async () => {
    const { veth } = await bridgeWithPort();
    expect(await nlB.linkByName('eth0')).toBeDefined();
    await nlA.linkDel(veth);
    expect(await nlA.linkByName('vethA')).toBeUndefined();
    expect(await nlB.linkByName('eth0')).toBeUndefined();
    expect(ipJson<IpLink[]>(B, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
  });

  it('adds, lists and deletes addresses', async () => {
    const { peer } = await bridgeWithPort();
    await nlB.linkSetUp(peer);
    await nlB.addrAdd({ link: peer, address: '10.1.2.3/24' });
    await nlB.addrAdd({ link: peer, address: '10.1.3.3/24', broadcast: false, label: 'eth0:x', scope: 'link' });
    await nlB.addrAdd({ link: peer, address: '2001:db8::5/64', noDad: true });
    await nlB.addrAdd({ link: peer, address: '2001:db8:1::5/64' });

    const v4 = await nlB.addrList({ link: peer, family: 4 });
    expect(v4.map((a) => a.address).sort()).toEqual(['10.1.2.3/24', '10.1.3.3/24']);
    const first = must(
      v4.find((a) => a.ip === '10.1.2.3'),
      '10.1.2.3',
    );
    const second = must(
      v4.find((a) => a.ip === '10.1.3.3'),
      '10.1.3.3',
    );
    expect(first).toMatchObject({
      index: peer.index,
      family: 4,
      ip: '10.1.2.3',
      prefixLen: 24,
      address: '10.1.2.3/24',
      broadcast: '10.1.2.255',
      label: 'eth0',
      scope: 'universe',
    });
    expect(first.flags.permanent).toBe(true);
    expect(first.flags.tentative).toBe(false);
    expect(second).toMatchObject({ address: '10.1.3.3/24', label: 'eth0:x', scope: 'link' });
    expect(second.broadcast).toBeUndefined();

    const v6 = await nlB.addrList({ link: peer, family: 6 });
    const nodad = must(
      v6.find((a) => a.ip === '2001:db8::5'),
      '2001:db8::5',
    );
    expect(nodad.flags).toMatchObject({ nodad: true, tentative: false, permanent: true });
    const dad = must(
      v6.find((a) => a.ip === '2001:db8:1::5'),
      '2001:db8:1::5',
    );
    // DAD has just started on an up link: the address is still tentative
    expect(dad.flags.tentative).toBe(true);
    expect(dad.scope).toBe('universe');

    const shown = must(ipJson<IpAddr[]>(B, 'addr', 'show', 'dev', 'eth0')[0], 'ip addr').addr_info;
    expect(shown.find((a) => a.local === '10.1.2.3')).toMatchObject({ prefixlen: 24, broadcast: '10.1.2.255', scope: 'global' });
    expect(shown.find((a) => a.local === '10.1.3.3')).toMatchObject({ label: 'eth0:x', scope: 'link' });
    expect(shown.find((a) => a.local === '2001:db8::5')).toMatchObject({ nodad: true });
    expect(shown.find((a) => a.local === '2001:db8:1::5')).toMatchObject({ tentative: true });

    // unfiltered: every link and family, loopback included
    const all = await nlB.addrList();
    expect(all.some((a) => a.ip === '10.1.2.3')).toBe(true);
    expect((await nlA.addrList()).some((a) => a.ip === '10.1.2.3')).toBe(false);

    const dup = await rejection(nlB.addrAdd({ link: peer, address: '10.1.2.3/24' }));
    expect(dup.code).toBe('EEXIST');
    expect(dup.message).toContain('add address 10.1.2.3/24 to "eth0"');

    await nlB.addrDel({ link: peer, address: '10.1.2.3/24' });
    await nlB.addrDel({ link: peer, address: '2001:db8::5/64' });
    const left = (await nlB.addrList({ link: peer })).map((a) => a.address);
    expect(left).not.toContain('10.1.2.3/24');
    expect(left).not.toContain('2001:db8::5/64');
    expect(left).toContain('10.1.3.3/24');
    expect(ip(B, 'addr', 'show', 'dev', 'eth0')).not.toContain('10.1.2.3/24');

    const gone = await rejection(nlB.addrDel({ link: peer, address: '10.1.2.3/24' }));
    expect(gone.code).toBe('EADDRNOTAVAIL');
  });

  it('adds, lists, replaces and deletes routes (table, scope, metric, mtu, advmss, src)', async () => {
    const { peer } = await bridgeWithPort();
    await nlB.linkSetUp(peer);
    await nlB.addrAdd({ link: peer, address: '10.1.2.3/24' });
    await nlB.addrAdd({ link: peer, address: '2001:db8::5/64', noDad: true });

    await nlB.routeAdd({ dst: '0.0.0.0/0', gw: '10.1.2.1', link: peer });
    await nlB.routeAdd({ dst: '10.9.0.0/16', gw: '10.1.2.1', link: peer, priority: 100 });
    await nlB.routeAdd({ dst: '10.10.0.0/16', link: peer, scope: 'link', table: 100 });
    await nlB.routeAdd({ dst: '10.11.0.0/16', gw: '10.1.2.1', mtu: 1300, advmss: 1260, src: '10.1.2.3' });
    await nlB.routeAdd({ dst: '10.12.0.0/16', gw: '10.1.2.1', table: 1000 });

    const main = await nlB.routeList({ family: 4 });
    expect(main.find((r) => r.dst === '0.0.0.0/0')).toMatchObject({ gw: '10.1.2.1', linkIndex: peer.index, table: 254, scope: 'universe', protocol: 3, type: 'unicast' });
    expect(main.find((r) => r.dst === '10.9.0.0/16')).toMatchObject({ gw: '10.1.2.1', priority: 100 });
    expect(main.find((r) => r.dst === '10.11.0.0/16')).toMatchObject({ mtu: 1300, advmss: 1260, src: '10.1.2.3' });
    // the kernel's prefix route for the address is there too; other tables are not
    expect(main.find((r) => r.dst === '10.1.2.0/24')).toMatchObject({ scope: 'link', protocol: 2 });
    expect(main.find((r) => r.dst === '10.10.0.0/16')).toBeUndefined();

    expect(await nlB.routeList({ table: 100 })).toEqual([
      { family: 4, dst: '10.10.0.0/16', linkIndex: peer.index, table: 100, scope: 'link', protocol: 3, type: 'unicast' },
    ]);
    expect(await nlB.routeList({ table: 1000 })).toMatchObject([{ dst: '10.12.0.0/16', table: 1000, gw: '10.1.2.1' }]);
    expect((await nlB.routeList({ table: 'all', dst: '10.10.0.0/16' })).map((r) => r.table)).toEqual([100]);
    expect((await nlB.routeList({ link: peer, family: 4 })).length).toBeGreaterThanOrEqual(4);

    const shown = ipJson<IpRoute[]>(B, 'route', 'show');
    expect(shown.find((r) => r.dst === 'default')).toMatchObject({ gateway: '10.1.2.1', dev: 'eth0' });
    expect(shown.find((r) => r.dst === '10.9.0.0/16')).toMatchObject({ metric: 100 });
    expect(shown.find((r) => r.dst === '10.11.0.0/16')).toMatchObject({ prefsrc: '10.1.2.3', metrics: [{ mtu: 1300, advmss: 1260 }] });
    expect(ipJson<IpRoute[]>(B, 'route', 'show', 'table', '100')).toMatchObject([{ dst: '10.10.0.0/16', dev: 'eth0', scope: 'link' }]);
    expect(ipJson<IpRoute[]>(B, 'route', 'show', 'table', '1000')).toMatchObject([{ dst: '10.12.0.0/16', gateway: '10.1.2.1' }]);

    // an identical route is still refused without EXCL; another gateway for an IPv6 prefix joins it (ECMP)
    expect((await rejection(nlB.routeAdd({ dst: '10.9.0.0/16', gw: '10.1.2.1', link: peer, priority: 100 }))).code).toBe('EEXIST');
    await nlB.routeAdd({ dst: '2001:db8:9::/64', gw: '2001:db8::1', link: peer });
    await nlB.routeAdd({ dst: '2001:db8:9::/64', gw: '2001:db8::2', link: peer });
    const ecmp = await nlB.routeList({ family: 6, dst: '2001:db8:9::/64' });
    const gws = ecmp.flatMap((r) => (r.nexthops ?? []).map((h) => h.gw ?? '').concat(r.gw === undefined ? [] : [r.gw]));
    expect(gws.sort()).toEqual(['2001:db8::1', '2001:db8::2']);
    expect(ipJson<IpRoute[]>(B, '-6', 'route', 'show', '2001:db8:9::/64')[0]?.nexthops?.map((h) => h.gateway).sort()).toEqual([
      '2001:db8::1',
      '2001:db8::2',
    ]);
    const excl = await rejection(nlB.routeAdd({ dst: '2001:db8:9::/64', gw: '2001:db8::3', link: peer, exclusive: true }));
    expect(excl.code).toBe('EEXIST');

    await nlB.routeReplace({ dst: '10.9.0.0/16', gw: '10.1.2.254', link: peer, priority: 100 });
    expect(await nlB.routeList({ dst: '10.9.0.0/16' })).toMatchObject([{ gw: '10.1.2.254', priority: 100 }]);
    expect(ipJson<IpRoute[]>(B, 'route', 'show', '10.9.0.0/16')).toMatchObject([{ gateway: '10.1.2.254' }]);

    await nlB.routeDel({ dst: '10.9.0.0/16', priority: 100 });
    await nlB.routeDel({ dst: '10.10.0.0/16', table: 100 });
    await nlB.routeDel({ dst: '0.0.0.0/0' });
    expect(await nlB.routeList({ dst: '10.9.0.0/16' })).toEqual([]);
    expect(await nlB.routeList({ table: 100 })).toEqual([]);
    expect(ipJson<IpRoute[]>(B, 'route', 'show').map((r) => r.dst)).not.toContain('default');
    const gone = await rejection(nlB.routeDel({ dst: '10.9.0.0/16' }));
    expect(gone.code).toBe('ESRCH');
    expect(gone.message).toContain('delete route 10.9.0.0/16');
  });

  it('serialises concurrent requests on one handle (one dump at a time per socket)', async () => {
    await bridgeWithPort();
    await nlA.linkSetUp(1); // lo: gives A addresses and local routes
    const [links, addrs, routes, vlans, br] = await Promise.all([
      nlA.linkList(),
      nlA.addrList(),
      nlA.routeList({ table: 'all' }),
      nlA.bridgeVlanList(),
      nlA.linkByName('br0'),
    ]);
    expect(links.map((l) => l.name).sort()).toEqual(['br0', 'lo', 'vethA']);
    expect(addrs.length).toBeGreaterThan(0);
    expect(routes.length).toBeGreaterThan(0);
    // VLAN 1 on br0 and vethA with vlan_filtering; no entries without the kernel option
    expect([...new Set(vlans.map((v) => v.vid))]).toEqual(VLAN_FILTERING ? [1] : []);
    expect(br?.kind).toBe('bridge');
  });

  it('refuses calls after close', async () => {
    const nl = env.track(await openNetlink(nsA));
    nl.close();
    const err = await rejection(nl.linkList());
    expect(err.code).toBe('EBADF');
  });
});
