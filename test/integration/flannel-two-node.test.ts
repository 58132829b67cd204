/**
 * End to end: two nodes (network namespaces joined by a veth "physical
 * network"), each with its own flanneld lease out of 10.244.0.0/16, the built
 * `flannel` executable run inside each node's namespace with kube-flannel's
 * conflist (flannel, then our portmap; lo brought up by our loopback with
 * containerd's loopback network) to wire two pods per node, and what
 * flanneld installs for the backend (host-gw routes, or vxlan flannel.1 with
 * its FDB and neighbour entries). Proves: pod ↔ pod on a node and across
 * nodes (ping and TCP), pod → the other node, masquerade of traffic leaving
 * the cluster network, hostPort through the chained portmap, the
 * addresses, routes and MTU each pod got, CHECK, which processes a chain
 * starts, and that DEL of every pod leaves no veth, lease, saved config or
 * rule behind.
 *
 * Delegate sets: "go" = Debian's Go bridge and host-local (exec'd by flannel);
 * "ours" = our bridge and host-local, run inside the flannel process. "ours"
 * fails loudly (never skips) while dist/bin/bridge is still a stub.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';
import { deleteNetns, isRoot } from '../helpers/netns.ts';
import { type Backend, type DelegateSet, type LabPod, type PluginRun, TwoNodeLab, collectingNarrator, ourBridgeProblem } from '../helpers/nodes.ts';

interface Variant {
  delegates: DelegateSet;
  backend: Backend;
  flanneldMasq: boolean;
  conflist: string;
}

const VARIANTS: Variant[] = [
  { delegates: 'go', backend: 'host-gw', flanneldMasq: false, conflist: 'flannel-kube-1.0.0.conflist' },
  { delegates: 'go', backend: 'vxlan', flanneldMasq: true, conflist: 'flannel-kube-1.0.0.conflist' },
  { delegates: 'ours', backend: 'host-gw', flanneldMasq: false, conflist: 'flannel-kube-1.0.0.conflist' },
  // kube-flannel's 1.1.0 conflist, every plugin ours (the Go portmap, spec <= 1.0.0, would refuse it)
  { delegates: 'ours', backend: 'vxlan', flanneldMasq: true, conflist: 'flannel-kube-1.1.0.conflist' },
];

it('runs as root (the two-node tests need network namespaces)', () => {
  expect(isRoot()).toBe(true);
});

describe.each(VARIANTS)('two nodes: $delegates delegates, $backend backend, flanneld masquerade $flanneldMasq', (v) => {
  let lab: TwoNodeLab | undefined;
  const narrator = collectingNarrator();
  const pods = new Map<string, LabPod>();
  const addRuns = new Map<string, PluginRun[]>();

  function L(): TwoNodeLab {
    if (lab === undefined) throw new Error('the lab was not set up');
    return lab;
  }
  function P(name: string): LabPod {
    const p = pods.get(name);
    if (p === undefined) throw new Error(`pod ${name} was not added`);
    return p;
  }

  beforeAll(() => {
    if (v.delegates === 'ours') {
      const problem = ourBridgeProblem();
      if (problem !== undefined) throw new Error(`BLOCKED on our bridge plugin (issue 4), not skipped: ${problem}`);
    }
    lab = new TwoNodeLab({ delegates: v.delegates, backend: v.backend, flanneldMasq: v.flanneldMasq, conflist: join(ROOT, 'conf-examples', v.conflist), narrator, traceExecs: true });
    lab.setup();
    lab.installBackend();
    const [node1, node2] = lab.pair();
    for (const [node, name] of [
      [node1, 'a1'],
      [node1, 'a2'],
      [node2, 'b1'],
      [node2, 'b2'],
    ] as const) {
      const { pod, runs } = lab.addPod(node, name, name === 'a1' ? [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] : []);
      pods.set(name, pod);
      addRuns.set(name, runs);
    }
  });

  afterAll(() => {
    lab?.cleanup();
  });

  it('gives each pod an address from its node subnet, a default route and a cluster route via the bridge, and the lease MTU', () => {
    const mtu = v.backend === 'vxlan' ? 1450 : 1500;
    for (const [name, node] of [
      ['a1', 1],
      ['a2', 1],
      ['b1', 2],
      ['b2', 2],
    ] as const) {
      const pod = P(name);
      const view = L().podView(pod);
      expect(view.addresses).toHaveLength(1);
      expect(view.addresses[0]).toMatch(new RegExp(`^10\\.244\\.${node}\\.\\d+/24$`));
      expect(view.addresses[0]).not.toBe(`10.244.${node}.1/24`);
      expect(view.mtu).toBe(mtu);
      expect(view.routes).toEqual(expect.arrayContaining([`default via 10.244.${node}.1`, `10.244.0.0/16 via 10.244.${node}.1`]));
      expect(pod.result).toMatchObject({
        cniVersion: L().cniVersion,
        ips: [{ address: view.addresses[0], gateway: `10.244.${node}.1` }],
        routes: expect.arrayContaining([{ dst: '10.244.0.0/16' }]) as unknown,
      });
    }
    expect(new Set([...pods.values()].map((p) => p.ip)).size).toBe(4);
  });

  it('CHECK of every pod goes through the chain (flannel delegates it; the reference flannel does nothing)', () => {
    for (const pod of pods.values()) {
      const [flannel, portmap] = L().checkPod(pod);
      // our portmap checks the rules of the pod's own family only (Go v1.1.1 fails on ip6tables for an IPv4 pod)
      expect(portmap, `${pod.name}: ${portmap?.stdout ?? ''} ${portmap?.stderr ?? ''}`).toMatchObject({ code: 0 });
      if (v.delegates === 'ours') {
        expect(flannel, `${pod.name}: ${flannel?.stdout ?? ''} ${flannel?.stderr ?? ''}`).toMatchObject({ code: 0 });
      } else {
        // The Go bridge's own CHECK cannot pass this config: it looks for the route
        // host-local returned ({"dst":"10.244.0.0/16"}, no gw) as a gateway-less
        // route, but its ADD installed it via the bridge address. Getting the
        // delegate's answer back proves flannel delegated the CHECK.
        expect(flannel?.json).toEqual({ code: 999, msg: 'failed to delegate check: Expected Route {Dst:{IP:10.244.0.0 Mask:ffff0000} GW:<nil>} not found in routing table' });
      }
    }
  });

  it(v.delegates === 'ours' ? 'runs flannel, bridge and host-local in one process' : "execs the Go bridge, which execs the Go host-local", () => {
    const execs = addRuns.get('a2')?.[0]?.execs;
    expect(execs).toEqual(v.delegates === 'ours' ? ['flannel'] : ['flannel', 'bridge', 'host-local']);
  });

  it('pod to pod on one node: ping and TCP, the source address kept', async () => {
    expect(L().ping(P('a1').ns, P('a2').ip)).toBe(true);
    expect(L().ping(P('b2').ns, P('b1').ip)).toBe(true);
    const t = await L().tcp(P('a1').ns, P('a2').ns, P('a2').ip, 7001);
    expect(t.seenSource).toBe(P('a1').ip);
  });

  it('pod to pod across nodes: ping both ways and TCP', async () => {
    expect(L().ping(P('a1').ns, P('b1').ip)).toBe(true);
    expect(L().ping(P('b2').ns, P('a2').ip)).toBe(true);
    const t = await L().tcp(P('a1').ns, P('b1').ns, P('b1').ip, 7002);
    const [node1] = L().pair();
    // flanneld's rules keep pod addresses inside the cluster network; the reference
    // bridge's ipMasq masquerades everything outside the node's own /24, other
    // nodes' pods included (why kube-flannel runs flanneld with --ip-masq)
    expect(t.seenSource).toBe(v.flanneldMasq ? P('a1').ip : node1.address);
  });

  it("pod to the other node's address, masqueraded: the far side sees the node's address", async () => {
    const [node1, node2] = L().pair();
    expect(L().ping(P('a2').ns, node2.address)).toBe(true);
    const t = await L().tcp(P('a2').ns, node2.ns, node2.address, 7003);
    expect(t.seenSource).toBe(node1.address);
    const back = await L().tcp(P('b1').ns, node1.ns, node1.address, 7004);
    expect(back.seenSource).toBe(node2.address);
  });

  it("our portmap chained after our flannel maps node1:8080 to pod a1's port 80", async () => {
    const [node1, node2] = L().pair();
    const t = await L().tcp(node2.ns, P('a1').ns, node1.address, 80, 8080);
    expect(t.seenSource).toBe(node2.address);
  });

  // STATUS and GC need spec 1.1.0, which the Go plugins here (v1.1.1) do not speak: with our delegates the
  // whole chain (flannel, then portmap) gets them at 1.1.0, whatever version the conflist has.
  if (v.delegates === 'ours') {
    it("STATUS of every plugin of the chain succeeds, and GC with every pod of the node still valid removes nothing", () => {
      const lab = L();
      const [node1] = lab.pair();
      const none = { ns: undefined, containerId: 'unused', ifName: 'eth0' };
      const entries = (lab.conflist['plugins'] as Record<string, unknown>[]).map((e) => (e['type'] === 'flannel' ? { ...e, subnetFile: node1.subnetFile, dataDir: node1.dataDir, ipam: { dataDir: node1.ipamDir } } : e));
      const valid = [...pods.values()].filter((p) => p.node === node1).map((p) => ({ containerID: p.containerId, ifname: p.ifName }));
      const ids = [...pods.values()].map((p) => p.containerId);
      const rulesBefore = lab.leftovers(node1, ids).podRules;
      for (const entry of entries) {
        const conf = { ...entry, name: lab.network, cniVersion: '1.1.0' };
        const type = String(entry['type']);
        const status = lab.runPlugin(node1, type, 'STATUS', conf, none);
        expect(status, `${type} STATUS: ${status.stdout}`).toMatchObject({ code: 0 });
        const gc = lab.runPlugin(node1, type, 'GC', { ...conf, 'cni.dev/valid-attachments': valid }, none);
        expect(gc, `${type} GC: ${gc.stdout}`).toMatchObject({ code: 0 });
      }
      const left = lab.leftovers(node1, ids);
      expect(left.savedConfigs).toHaveLength(2);
      expect(left.leases).toHaveLength(2);
      expect(left.podRules).toEqual(rulesBefore); // a1's hostPort rules survive
      expect(rulesBefore.some((r) => r.includes(P('a1').containerId))).toBe(true);
    });
  }

  it('DEL of every pod (one twice; with our delegates one whose namespace is already gone) leaves no veth, lease, saved config or rule naming a pod', () => {
    const lab = L();
    const ids = [...pods.values()].map((p) => p.containerId);
    const [node1, node2] = lab.pair();
    const before = [lab.leftovers(node1, ids), lab.leftovers(node2, ids)];
    expect(before[0]?.savedConfigs).toHaveLength(2);
    expect(before[0]?.leases).toHaveLength(2);
    expect(before[0]?.podRules.length).toBeGreaterThan(0); // portmap's for a1, and the bridge's masquerade when it does it
    if (!v.flanneldMasq) expect(before[1]?.podRules.length).toBeGreaterThan(0);

    for (const name of ['a1', 'a2', 'b1']) lab.delPod(P(name), { keepNetns: true });
    // A pod whose namespace is already gone: DEL must still release everything.
    // The Go bridge returns early when the netns is missing and leaves the pod's
    // masquerade chain behind (containernetworking/plugins#810), so with the Go
    // delegates the namespace goes after the DEL.
    if (v.delegates === 'ours') deleteNetns(P('b2').ns.name);
    lab.delPod(P('b2'), { keepNetns: true });
    lab.delPod(P('a1'), { keepNetns: true }); // a repeated DEL succeeds

    for (const node of [node1, node2]) {
      expect(lab.leftovers(node, ids), `${node.name}:\n${narrator.lines.join('\n')}`).toEqual({ veths: [], leases: [], savedConfigs: [], podRules: [] });
    }
  });
});
