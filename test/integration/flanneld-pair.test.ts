/**
 * Against the real engine: etcd and two real flanneld v0.20.2 (vxlan, then
 * host-gw) in network namespaces, our flannel wiring one pod per node from
 * the subnet.env each flanneld wrote, chained with our portmap. Proves the
 * leases come from etcd, the pods get addresses and the MTU from them, reach
 * each other across nodes with their own addresses kept (a full-size packet
 * with DF included), leave the cluster masqueraded by flanneld's rule only
 * (our bridge does not masquerade: FLANNEL_IPMASQ=true), a hostPort works,
 * and teardown leaves no namespace, daemon or file. flanneld comes from scripts/lib/flanneld.mjs
 * (FLANNELD=, or built once from ../shared/tools/flanneld).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_NET, FlannelCluster, OUTSIDE_ADDRESS, flanneldForTests } from '../helpers/cluster.ts';
import { type Backend, collectingNarrator, type LabPod } from '../helpers/nodes.ts';

const engine = flanneldForTests();
const BACKENDS: { backend: Backend; mtu: number }[] = [
  { backend: 'vxlan', mtu: 1450 },
  { backend: 'host-gw', mtu: 1500 },
];

describe.skipIf(engine.skip !== undefined).each(BACKENDS)(`real flanneld, two nodes, $backend${engine.skip === undefined ? '' : ` (skipped: ${engine.skip})`}`, ({ backend, mtu }) => {
  const narrator = collectingNarrator();
  let cluster: FlannelCluster | undefined;
  let a: LabPod;
  let b: LabPod;
  const C = (): FlannelCluster => {
    if (cluster === undefined) throw new Error('no cluster');
    return cluster;
  };

  beforeAll(async () => {
    const flanneld = engine.flanneld();
    cluster = new FlannelCluster({ flanneld, backend, nodes: 2, narrator });
    cluster.setup();
    await cluster.startEtcd();
    await cluster.startAllFlanneld();
    a = cluster.addPod(cluster.node(1), 'a', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]).pod;
    b = cluster.addPod(cluster.node(2), 'b').pod;
  }, 900_000);

  afterAll(async () => {
    if (cluster === undefined) return;
    await cluster.teardown();
    expect(cluster.residue()).toEqual({ namespaces: [], daemons: [], files: [] });
  });

  it('each flanneld leased a distinct /24 of the network from etcd and wrote it to subnet.env with FLANNEL_IPMASQ=true', () => {
    const [n1, n2] = [C().node(1), C().node(2)];
    for (const n of [n1, n2]) {
      expect(n.lease?.values).toMatchObject({ FLANNEL_NETWORK: CLUSTER_NET, FLANNEL_MTU: String(mtu), FLANNEL_IPMASQ: 'true' });
      expect(n.subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
    }
    expect(n1.subnet).not.toBe(n2.subnet);
    expect(C().leaseKeys().sort()).toEqual([C().leaseKey(n1), C().leaseKey(n2)].sort());
  });

  it("our flannel gave each pod an address in its node's lease, with the lease's MTU, and told the bridge not to masquerade", () => {
    for (const pod of [a, b]) {
      const v = C().podView(pod);
      expect(v.addresses[0]?.startsWith(pod.node.gateway.replace(/\.1$/, '.'))).toBe(true);
      expect(v.mtu).toBe(mtu);
      const saved = JSON.parse(readFileSync(join(pod.node.dataDir, pod.containerId), 'utf8')) as Record<string, unknown>;
      expect(saved).toMatchObject({ type: 'bridge', ipMasq: false, mtu });
    }
  });

  it(`pods reach each other across nodes (ping, TCP with the source kept, a full ${mtu}-byte packet with DF)`, async () => {
    expect(C().ping(a.ns, b.ip)).toBe(true);
    expect(C().ping(b.ns, a.ip)).toBe(true);
    const t = await C().tcp(a.ns, b.ns, b.ip, 7101);
    expect(t.seenSource).toBe(a.ip);
    expect(C().pingDf(a.ns, b.ip, mtu - 28)).toBe(true);
    expect(C().pingDf(a.ns, b.ip, mtu - 27)).toBe(false);
  });

  it("traffic leaving the cluster is masqueraded once, by flanneld's rule", async () => {
    const n1 = C().node(1);
    const before = C().masqueradeRules(n1);
    // flanneld's, and portmap's for hairpinned hostPort traffic (marked); none from the bridge
    expect(before.every((r) => r.rule.includes('flanneld masq') || r.rule.startsWith('-A CNI-HOSTPORT-MASQ')), JSON.stringify(before)).toBe(true);
    const t = await C().tcp(a.ns, C().controlPlane ?? a.ns, OUTSIDE_ADDRESS, 7102);
    expect(t.seenSource).toBe(n1.address);
    const after = C().masqueradeRules(n1);
    const counted = after.filter((r, i) => r.packets > (before[i]?.packets ?? 0));
    expect(counted).toHaveLength(1);
    expect(counted[0]?.rule).toContain(`-s ${CLUSTER_NET} ! -d 224.0.0.0/4`);
  });

  it("a hostPort through our portmap: node2 reaches pod a's port 80 at node1:8080", async () => {
    const [n1, n2] = [C().node(1), C().node(2)];
    const t = await C().tcp(n2.ns, a.ns, n1.address, 80, 8080);
    expect(t.seenSource).toBe(n2.address);
  });

  it('DEL of both pods leaves no veth, lease, saved config or rule', () => {
    const ids = [a.containerId, b.containerId];
    C().delPod(a);
    C().delPod(b);
    for (const n of [C().node(1), C().node(2)]) expect(C().leftovers(n, ids)).toEqual({ veths: [], leases: [], savedConfigs: [], podRules: [] });
  });
});
