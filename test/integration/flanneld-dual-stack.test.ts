/**
 * Dual stack against the real engine: flanneld v0.20.2 with `EnableIPv6` and
 * an `IPv6Network` in the etcd network config (vxlan: flannel.1 and
 * flannel-v6.1; host-gw: a route per family per peer), two nodes with both
 * families on the wire. Proves each flanneld leases a subnet of each family
 * and writes both to subnet.env, our flannel gives pods an address of each
 * family from them with a route to each cluster network, pods reach each
 * other across nodes over both (ping, TCP with the source kept), traffic
 * leaving the cluster over IPv6 is masqueraded by flanneld's ip6tables rule
 * (FLANNEL_IPMASQ=true: our bridge does not), and DEL leaves nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_NET, CLUSTER_NET6, FlannelCluster, flanneldForTests } from '../helpers/cluster.ts';
import { ipJson } from '../helpers/netns.ts';
import { type Backend, collectingNarrator, type LabPod } from '../helpers/nodes.ts';

const engine = flanneldForTests();
const BACKENDS: Backend[] = ['vxlan', 'host-gw'];

describe.skipIf(engine.skip !== undefined).each(BACKENDS)(`real flanneld, dual stack, %s${engine.skip === undefined ? '' : ` (skipped: ${engine.skip})`}`, (backend) => {
  const narrator = collectingNarrator();
  let cluster: FlannelCluster | undefined;
  let a: LabPod;
  let b: LabPod;
  const C = (): FlannelCluster => {
    if (cluster === undefined) throw new Error('no cluster');
    return cluster;
  };

  beforeAll(async () => {
    cluster = new FlannelCluster({ flanneld: engine.flanneld(), backend, nodes: 2, ipv6: true, narrator });
    cluster.setup();
    await cluster.startEtcd();
    await cluster.startAllFlanneld();
    a = cluster.addPod(cluster.node(1), 'a').pod;
    b = cluster.addPod(cluster.node(2), 'b').pod;
  }, 900_000);

  afterAll(async () => {
    if (cluster === undefined) return;
    await cluster.teardown();
    expect(cluster.residue()).toEqual({ namespaces: [], daemons: [], files: [] });
  });

  it('each flanneld leased an IPv4 and an IPv6 subnet and wrote both to subnet.env', () => {
    const leases = [C().node(1).lease, C().node(2).lease];
    for (const l of leases) {
      expect(l?.values).toMatchObject({ FLANNEL_NETWORK: CLUSTER_NET, FLANNEL_IPV6_NETWORK: CLUSTER_NET6, FLANNEL_IPMASQ: 'true' });
      expect(l?.subnet6).toMatch(/^fd00:10:244:[0-9a-f]+::\/64$/);
    }
    expect(leases[0]?.subnet6).not.toBe(leases[1]?.subnet6);
  });

  it("our flannel gave each pod an address of each family from its node's lease, and a route to each cluster network", () => {
    for (const pod of [a, b]) {
      const lease = pod.node === C().node(1) ? C().node(1).lease : C().node(2).lease;
      const v = C().podView(pod);
      expect(v.addresses).toEqual([`${pod.ip}/24`]);
      expect(v.addresses6).toEqual([`${pod.ip6 ?? '?'}/64`]);
      expect(pod.ip.startsWith(lease?.gateway.replace(/\.1$/, '.') ?? '?')).toBe(true);
      expect(pod.ip6?.startsWith(lease?.gateway6?.replace(/::1$/, '::') ?? '?')).toBe(true);
      const routes6 = ipJson<{ dst: string; gateway?: string }[]>(pod.ns, '-6', 'route', 'show');
      expect(routes6).toEqual(expect.arrayContaining([expect.objectContaining({ dst: CLUSTER_NET6, gateway: lease?.gateway6 })]));
      expect(v.routes).toContain(`${CLUSTER_NET} via ${lease?.gateway ?? '?'}`);
    }
  });

  it('pods reach each other across nodes over IPv4 and IPv6 (ping both ways, TCP with the source kept)', async () => {
    expect(C().ping(a.ns, b.ip)).toBe(true);
    expect(C().ping(b.ns, a.ip)).toBe(true);
    expect(C().ping(a.ns, b.ip6 ?? '')).toBe(true);
    expect(C().ping(b.ns, a.ip6 ?? '')).toBe(true);
    expect((await C().tcp(a.ns, b.ns, b.ip, 7501)).seenSource).toBe(a.ip);
    expect((await C().tcp(b.ns, a.ns, a.ip6 ?? '', 7502)).seenSource).toBe(b.ip6);
  });

  it("IPv6 traffic leaving the cluster is masqueraded by flanneld's rule: the far side sees the node's IPv6 address", async () => {
    const t = await C().tcp(a.ns, C().controlPlane ?? a.ns, 'fd00:192:0:2::fe', 7503);
    expect(t.seenSource).toBe(C().node(1).address6);
  });

  it('DEL of both pods leaves no veth, lease of either family, saved config or rule', () => {
    const ids = [a.containerId, b.containerId];
    C().delPod(a);
    C().delPod(b);
    for (const n of [C().node(1), C().node(2)]) expect(C().leftovers(n, ids)).toEqual({ veths: [], leases: [], savedConfigs: [], podRules: [] });
  });
});
