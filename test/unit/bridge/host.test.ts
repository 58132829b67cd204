/**
 * The host side against a recording fake netlink (no kernel needed): the
 * VLAN entries a port gets (the kernel here lacks bridge VLAN filtering, so
 * this is where the sequence is proven), the VLAN gateway device, veth-name
 * retries, the bridge-creation race, gateway replacement with forceAddress,
 * and the port wait's error and warning.
 */
import { describe, expect, it } from 'vitest';
import { KernelError, NetlinkError, type BridgeLink, type Link, type LinkRef, type Netlink, type VethLink } from '../../../lib/netlink/index.ts';
import type { Netns } from '../../../lib/netns/index.ts';
import { createVeth, ensureBridge, ensureGatewayAddrs, ensureVlanGateway, setupPort, waitPortForwarding, type HostContext } from '../../../plugins/bridge/host.ts';
import { planVlans } from '../../../plugins/bridge/plan.ts';
import type { Sysctl } from '../../../plugins/bridge/sysctl.ts';

const flags = { up: true, broadcast: true, loopback: false, pointopoint: false, running: true, noarp: false, promisc: false, allmulti: false, master: false, slave: false, multicast: true, lowerUp: true, dormant: false };

function bridge(name = 'cni0', index = 2): BridgeLink {
  return { kind: 'bridge', index, name, mtu: 1500, mac: '02:00:00:00:00:02', flags, operstate: 'up', linkType: 1 };
}
function veth(name: string, index: number, extra: Partial<VethLink> = {}): VethLink {
  return { kind: 'veth', index, name, mtu: 1500, mac: '02:00:00:00:00:09', flags, operstate: 'up', linkType: 1, ...extra };
}

function kernelError(code: 'EEXIST' | 'ENODEV'): NetlinkError {
  return new NetlinkError(`failed: ${code}`, { cause: new KernelError(code === 'EEXIST' ? 17 : 19) });
}

/** Records every call; `links` is the namespace's state, `hooks` override single verbs. */
function fakeNetlink(links: Link[], hooks: Partial<Record<keyof Netlink, (...args: never[]) => unknown>> = {}): { nl: Netlink; calls: string[] } {
  const calls: string[] = [];
  const idx = (r: LinkRef): number => (typeof r === 'number' ? r : r.index);
  const base: Partial<Netlink> = {
    linkByName: (name) => Promise.resolve(links.find((l) => l.name === name)),
    linkByIndex: (i) => Promise.resolve(links.find((l) => l.index === i)),
    linkSetUp: () => Promise.resolve(),
    linkSetMac: () => Promise.resolve(),
    linkSetMaster: () => Promise.resolve(),
    linkSetPromisc: () => Promise.resolve(),
    setBridgePortFlags: () => Promise.resolve(),
    getBridgePort: (l) => Promise.resolve({ index: idx(l), state: 3 }),
    bridgeVlanList: (l) => Promise.resolve(l === undefined ? [] : [{ index: idx(l), vid: 1, pvid: true, untagged: true, brentry: false }]),
    bridgeVlanAdd: () => Promise.resolve(),
    bridgeVlanDel: () => Promise.resolve(),
    addrList: () => Promise.resolve([]),
    addrAdd: () => Promise.resolve(),
    addrDel: () => Promise.resolve(),
    linkDel: () => Promise.resolve(),
  };
  const nl = new Proxy({} as Netlink, {
    get(_t, prop: string) {
      const fn = (hooks as Record<string, ((...a: unknown[]) => unknown) | undefined>)[prop] ?? (base as Record<string, ((...a: unknown[]) => unknown) | undefined>)[prop];
      if (fn === undefined) return undefined;
      return (...args: unknown[]) => {
        // links are recorded by name, wherever they appear
        calls.push(`${prop} ${JSON.stringify(args, (_k, v: unknown) => (typeof v === 'object' && v !== null && 'kind' in v && 'index' in v && 'name' in v ? (v as Link).name : v))}`);
        return fn(...args);
      };
    },
  });
  return { nl, calls };
}

function ctx(nl: Netlink, extra: Partial<HostContext> = {}): HostContext & { warnings: string[] } {
  const warnings: string[] = [];
  const sysctl: Sysctl = { get: () => '0', set: () => undefined };
  let n = 0;
  return {
    nl,
    sysctl,
    ipv6: true,
    log: { warn: (m) => warnings.push(m) },
    random: (k) => Buffer.alloc(k, ++n),
    sleep: () => Promise.resolve(),
    warnings,
    ...extra,
  };
}

describe('setupPort: VLAN entries', () => {
  const base = { vlan: 0, vlanTrunk: [] as number[], hasTrunk: false, preserveDefaultVlan: false };
  const port = veth('veth01010101', 5);

  it('access VLAN: the default VLAN removed, then the VID as PVID untagged', async () => {
    const { nl, calls } = fakeNetlink([bridge(), port]);
    await setupPort(ctx(nl), { bridge: bridge(), port, hairpin: true, isolated: false, vlans: planVlans({ ...base, vlan: 100 }) });
    expect(calls).toEqual([
      'linkSetMaster ["veth01010101","cni0"]',
      'setBridgePortFlags ["veth01010101",{"hairpin":true}]',
      'bridgeVlanList ["veth01010101"]',
      'bridgeVlanDel [{"link":"veth01010101","vid":1}]',
      'bridgeVlanAdd [{"link":"veth01010101","vid":100,"pvid":true,"untagged":true}]',
    ]);
  });

  it('trunk: tagged VIDs as ranges, the default VLAN kept with preserveDefaultVlan; isolation', async () => {
    const { nl, calls } = fakeNetlink([bridge(), port]);
    await setupPort(ctx(nl), { bridge: bridge(), port, hairpin: false, isolated: true, vlans: planVlans({ ...base, vlanTrunk: [5, 10, 11, 12], hasTrunk: true, preserveDefaultVlan: true }) });
    expect(calls).toEqual([
      'linkSetMaster ["veth01010101","cni0"]',
      'setBridgePortFlags ["veth01010101",{"hairpin":false}]',
      'setBridgePortFlags ["veth01010101",{"isolated":true}]',
      'bridgeVlanAdd [{"link":"veth01010101","vid":1,"pvid":true,"untagged":true}]',
      'bridgeVlanAdd [{"link":"veth01010101","vid":5,"vidEnd":5}]',
      'bridgeVlanAdd [{"link":"veth01010101","vid":10,"vidEnd":12}]',
    ]);
  });

  it('vlan with vlanTrunk (v1.8.0): vlan is the native VLAN of the trunk, the default VLAN removed first', async () => {
    const { nl, calls } = fakeNetlink([bridge(), port]);
    await setupPort(ctx(nl), { bridge: bridge(), port, hairpin: false, isolated: false, vlans: planVlans({ ...base, vlan: 100, vlanTrunk: [100, 200, 201], hasTrunk: true }) });
    expect(calls).toEqual([
      'linkSetMaster ["veth01010101","cni0"]',
      'setBridgePortFlags ["veth01010101",{"hairpin":false}]',
      'bridgeVlanList ["veth01010101"]',
      'bridgeVlanDel [{"link":"veth01010101","vid":1}]',
      'bridgeVlanAdd [{"link":"veth01010101","vid":100,"pvid":true,"untagged":true}]',
      'bridgeVlanAdd [{"link":"veth01010101","vid":200,"vidEnd":201}]',
    ]);
  });

  it("reports the kernel's refusal with the reference's message", async () => {
    const { nl } = fakeNetlink([bridge(), port], { bridgeVlanAdd: () => Promise.reject(new NetlinkError('x', { cause: new KernelError(95) })) });
    await expect(setupPort(ctx(nl), { bridge: bridge(), port, hairpin: false, isolated: false, vlans: planVlans({ ...base, vlan: 7, preserveDefaultVlan: true }) })).rejects.toThrow(
      /^failed to setup vlan tag on interface "veth01010101": .*\(E(NOTSUP|OPNOTSUPP)\)$/,
    );
  });
});

describe('ensureVlanGateway', () => {
  it('creates "<bridge>.<vlan>" as a veth whose peer is a port in that VLAN, once', async () => {
    const links: Link[] = [bridge()];
    const { nl, calls } = fakeNetlink(links, {
      linkAddVeth: ((o: { name: string; peerName: string }) => {
        links.push(veth(o.name, 10), veth(o.peerName, 11));
        return Promise.resolve(links[1]);
      }),
    });
    const dev = await ensureVlanGateway(ctx(nl), { bridge: bridge(), name: 'cni0.100', vlans: planVlans({ vlan: 100, vlanTrunk: [], hasTrunk: false, preserveDefaultVlan: false }) });
    expect(dev.name).toBe('cni0.100');
    expect(calls).toEqual([
      'linkByName ["cni0.100"]',
      'linkAddVeth [{"name":"cni0.100","peerName":"veth01010101","mtu":1500}]',
      'linkByName ["veth01010101"]',
      'linkSetUp ["veth01010101"]',
      'linkSetMaster ["veth01010101","cni0"]',
      'setBridgePortFlags ["veth01010101",{"hairpin":false}]',
      'bridgeVlanList ["veth01010101"]',
      'bridgeVlanDel [{"link":"veth01010101","vid":1}]',
      'bridgeVlanAdd [{"link":"veth01010101","vid":100,"pvid":true,"untagged":true}]',
      'linkSetUp ["cni0.100"]',
      'linkByName ["cni0.100"]',
    ]);
    const again = fakeNetlink(links);
    await ensureVlanGateway(ctx(again.nl), { bridge: bridge(), name: 'cni0.100', vlans: planVlans({ vlan: 100, vlanTrunk: [], hasTrunk: false, preserveDefaultVlan: false }) });
    expect(again.calls).toEqual(['linkByName ["cni0.100"]']);
  });
});

describe('createVeth', () => {
  const contNs = { fd: 42, path: '/run/netns/pod' } as unknown as Netns;

  it('picks another host name when the first is taken', async () => {
    const hostLinks: Link[] = [veth('veth01010101', 3)];
    let tries = 0;
    const { nl, calls } = fakeNetlink(hostLinks, {
      linkAddVeth: ((o: { name: string }) => {
        tries++;
        if (hostLinks.some((l) => l.name === o.name)) return Promise.reject(kernelError('EEXIST'));
        return Promise.resolve(veth(o.name, 7));
      }),
    });
    const cont = fakeNetlink([veth('eth0', 2)]);
    const pair = await createVeth(ctx(nl), { contNl: cont.nl, contNs, ifName: 'eth0', mtu: 1450, mac: '02:aa:00:00:00:01' });
    expect(tries).toBe(2);
    expect(pair.host.name).toBe('veth02020202');
    expect(calls.find((c) => c.startsWith('linkAddVeth'))).toBe('linkAddVeth [{"name":"veth01010101","peerName":"eth0","peerNetnsFd":42,"mtu":1450,"peerMac":"02:aa:00:00:00:01"}]');
  });

  it('an existing CNI_IFNAME in the pod is an error naming both names', async () => {
    const { nl } = fakeNetlink([], { linkAddVeth: (() => Promise.reject(kernelError('EEXIST'))) });
    const cont = fakeNetlink([]);
    await expect(createVeth(ctx(nl), { contNl: cont.nl, contNs, ifName: 'eth0', mtu: 0, mac: undefined })).rejects.toThrow('container veth name ("eth0") peer provided ("veth01010101") already exists');
  });
});

describe('ensureBridge', () => {
  it('a concurrent creator (EEXIST) is fine; the bridge is not re-pinned then', async () => {
    const links: Link[] = [];
    const { nl, calls } = fakeNetlink(links, {
      linkAddBridge: (() => {
        links.push(bridge());
        return Promise.reject(kernelError('EEXIST'));
      }),
    });
    const r = await ensureBridge(ctx(nl), { name: 'cni0', mtu: 0, promisc: false, vlanFiltering: false });
    expect(r.created).toBe(false);
    expect(calls.some((c) => c.startsWith('linkSetMac'))).toBe(false);
  });

  it('a bridge made here gets a fresh random MAC (pinned), MTU and vlan_filtering only at creation', async () => {
    const links: Link[] = [];
    const { nl, calls } = fakeNetlink(links, {
      linkAddBridge: ((o: { name: string }) => {
        links.push(bridge(o.name));
        return Promise.resolve(links[0]);
      }),
    });
    const r = await ensureBridge(ctx(nl), { name: 'cni0', mtu: 1450, promisc: true, vlanFiltering: true });
    expect(r.created).toBe(true);
    expect(calls).toContain('linkAddBridge [{"name":"cni0","mtu":1450,"vlanFiltering":true}]');
    expect(calls).toContain('linkSetPromisc ["cni0",true]');
    expect(calls).toContain('linkSetMac ["cni0","02:01:01:01:01:01"]');
  });

  it('a non-bridge link of that name is the reference error', async () => {
    const { nl } = fakeNetlink([veth('cni0', 2)]);
    await expect(ensureBridge(ctx(nl), { name: 'cni0', mtu: 0, promisc: false, vlanFiltering: false })).rejects.toThrow('failed to create bridge "cni0": "cni0" already exists but is not a bridge');
  });
});

describe('ensureGatewayAddrs', () => {
  it('forceAddress removes the stale address, adds ours and pins the MAC', async () => {
    const { nl, calls } = fakeNetlink([bridge()], {
      addrList: (() => Promise.resolve([{ index: 2, family: 4, ip: '10.244.7.1', prefixLen: 24, address: '10.244.7.1/24' }])),
    });
    const c = ctx(nl);
    await ensureGatewayAddrs(c, { link: bridge(), gateways: [{ family: 4, cidr: '10.244.1.1/24' }], force: true });
    expect(calls.filter((x) => !x.startsWith('addrList') && !x.startsWith('linkByIndex'))).toEqual([
      'addrDel [{"link":"cni0","address":"10.244.7.1/24"}]',
      'addrAdd [{"link":"cni0","address":"10.244.1.1/24"}]',
      'linkSetMac ["cni0","02:00:00:00:00:02"]',
    ]);
    expect(c.warnings).toEqual(['forceAddress: replaced 10.244.7.1/24 on cni0 with 10.244.1.1/24']);
  });

  it('an address already there: nothing to do', async () => {
    const { nl, calls } = fakeNetlink([bridge()], {
      addrList: (() => Promise.resolve([{ index: 2, family: 4, ip: '10.244.1.1', prefixLen: 24, address: '10.244.1.1/24' }])),
    });
    await ensureGatewayAddrs(ctx(nl), { link: bridge(), gateways: [{ family: 4, cidr: '10.244.1.1/24' }], force: false });
    expect(calls.filter((x) => !x.startsWith('addrList'))).toEqual([]);
  });
});

describe('waitPortForwarding', () => {
  it('a port that never comes up is the reference error', async () => {
    const { nl } = fakeNetlink([veth('veth1', 5, { operstate: 'lowerlayerdown' })]);
    await expect(waitPortForwarding(ctx(nl), veth('veth1', 5))).rejects.toThrow('bridge port in error state: lowerlayerdown');
  });

  it('up but not forwarding (STP learning) is a warning', async () => {
    const { nl } = fakeNetlink([veth('veth1', 5)], { getBridgePort: (() => Promise.resolve({ index: 5, state: 2 })) });
    const c = ctx(nl);
    await waitPortForwarding(c, veth('veth1', 5));
    expect(c.warnings).toEqual(['bridge port veth1 is up but not forwarding yet (STP state 2); continuing']);
  });
});
