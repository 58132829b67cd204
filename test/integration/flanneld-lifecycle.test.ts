/**
 * Where flannel users get hurt, against the real engine (etcd and two real
 * flanneld v0.20.2, vxlan, in network namespaces; our flannel → bridge →
 * host-local, then portmap, from the subnet.env flanneld wrote). In order, on
 * one cluster:
 *
 * 1. pods start before the node's flanneld: ADD is code 11 (try again later)
 *    naming the missing subnet.env and leaves nothing; the runtime's retry
 *    succeeds as soon as flanneld has written the file;
 * 2. a flanneld restart keeps its lease (the same subnet and etcd key), and
 *    pods keep talking across nodes while it is down and after;
 * 3. the node's lease is lost (its etcd key deleted, as when it expires, and
 *    flanneld's subnet file gone, so it cannot ask for the same subnet back)
 *    and flanneld leases another subnet: without forceAddress the ADD fails
 *    naming the stale bridge address and the fix (flannel-io/flannel#1850) and
 *    leaves nothing; CHECK of an old pod says it must be re-created; with
 *    forceAddress (k3s' setting) the bridge moves to the new gateway and new
 *    pods work across nodes; the old pods' DEL still releases their leases.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterNode, FlannelCluster, flanneldForTests, waitFor } from '../helpers/cluster.ts';
import { ipJson } from '../helpers/netns.ts';
import { AddError, collectingNarrator, type LabPod } from '../helpers/nodes.ts';

const engine = flanneldForTests();

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

describe.skipIf(engine.skip !== undefined)(`real flanneld: lease lifecycle${engine.skip === undefined ? '' : ` (skipped: ${engine.skip})`}`, () => {
  const narrator = collectingNarrator();
  let cluster: FlannelCluster | undefined;
  const pods = new Map<string, LabPod>();
  const C = (): FlannelCluster => {
    if (cluster === undefined) throw new Error('no cluster');
    return cluster;
  };
  const P = (name: string): LabPod => {
    const p = pods.get(name);
    if (p === undefined) throw new Error(`no pod ${name}`);
    return p;
  };
  const n1 = (): ClusterNode => C().node(1);
  const n2 = (): ClusterNode => C().node(2);
  /** host-local's lease files of the node (addresses), whatever the range. */
  const leaseFiles = (node: ClusterNode): string[] => {
    const dir = join(node.ipamDir, C().network);
    // leases only: not the lock, the cursors, or the boot marker (.cni-ts-boot-id)
    return existsSync(dir) ? readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip') && !f.startsWith('.')) : [];
  };
  const cni0 = (node: ClusterNode): string[] =>
    ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(node.ns, 'addr', 'show', 'dev', 'cni0')[0]?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`) ?? [];

  beforeAll(async () => {
    const flanneld = engine.flanneld();
    cluster = new FlannelCluster({ flanneld, backend: 'vxlan', nodes: 2, narrator });
    cluster.setup();
    await cluster.startEtcd();
    await cluster.startFlanneld(cluster.node(2));
    pods.set('b', cluster.addPod(cluster.node(2), 'b').pod);
  }, 900_000);

  afterAll(async () => {
    if (cluster === undefined) return;
    await cluster.teardown();
    expect(cluster.residue()).toEqual({ namespaces: [], daemons: [], files: [] });
  });

  it("flanneld not running yet: ADD is code 11 naming the missing subnet.env, leaves nothing, and the runtime's retry succeeds once flanneld wrote it", async () => {
    let failed: AddError | undefined;
    try {
      C().addPod(n1(), 'early');
    } catch (err) {
      if (!(err instanceof AddError)) throw err;
      failed = err;
    }
    expect(failed?.plugin).toBe('flannel');
    expect(failed?.run.code).not.toBe(0);
    expect(failed?.run.stderr).toBe('');
    const answer = failed?.run.json;
    expect(answer).toMatchObject({ code: 11 });
    expect(isRecord(answer) ? String(answer['msg']) : '').toContain(`${n1().subnetFile}: no such file or directory`);
    expect(isRecord(answer) ? String(answer['details']) : '').toMatch(/flanneld has not written/);
    expect(C().leftovers(n1(), [])).toEqual({ veths: [], leases: [], savedConfigs: [], podRules: [] });

    // the runtime retries; flanneld starts meanwhile: every failure is 11 until the file is there
    await C().startFlanneld(n1(), { wait: false });
    const codes: unknown[] = [];
    const pod = await waitFor(
      () => `ADD never succeeded; answers: ${JSON.stringify(codes)}`,
      () => {
        try {
          return C().addPod(n1(), 'early').pod;
        } catch (err) {
          if (!(err instanceof AddError)) throw err;
          codes.push(isRecord(err.run.json) ? err.run.json['code'] : err.run.stdout);
          return undefined;
        }
      },
      30_000,
      200,
    );
    expect(codes.every((c) => c === 11), JSON.stringify(codes)).toBe(true);
    const lease = await C().waitForLease(n1());
    expect(pod.ip.startsWith(lease.gateway.replace(/\.1$/, '.'))).toBe(true);
    pods.set('early', pod);
    await C().waitForMesh();
    expect(C().ping(pod.ns, P('b').ip)).toBe(true);
    expect(C().ping(P('b').ns, pod.ip)).toBe(true);
  });

  it('a flanneld restart keeps its lease (same subnet and etcd key); pods keep talking across nodes while it is down and after', async () => {
    const before = { subnet: n1().subnet, key: C().leaseKey(n1()), keys: C().leaseKeys().sort() };
    pods.set('a', C().addPod(n1(), 'a').pod);
    await C().stopFlanneld(n1());
    // the datapath is the kernel's: flannel.1, its routes, neighbours and FDB entries stay
    expect(C().ping(P('a').ns, P('b').ip)).toBe(true);
    expect((await C().tcp(P('b').ns, P('a').ns, P('a').ip, 7301)).seenSource).toBe(P('b').ip);
    await C().startFlanneld(n1());
    expect(n1().subnet).toBe(before.subnet);
    expect(C().leaseKey(n1())).toBe(before.key);
    expect(C().leaseKeys().sort()).toEqual(before.keys);
    await C().waitForMesh();
    expect(C().ping(P('a').ns, P('b').ip)).toBe(true);
    expect((await C().tcp(P('a').ns, P('b').ns, P('b').ip, 7302)).seenSource).toBe(P('a').ip);
    const again = C().addPod(n1(), 'a2').pod;
    pods.set('a2', again);
    expect(again.ip.startsWith(before.subnet.replace(/0\/24$/, ''))).toBe(true);
    expect(C().ping(again.ns, P('b').ip)).toBe(true);
  });

  it('a lost lease and a new subnet: without forceAddress ADD names the stale address and the fix; with it the bridge moves; old pods still DEL cleanly', async () => {
    const node = n1();
    const old = { subnet: node.subnet, gateway: node.gateway, key: C().leaseKey(node) };
    // the lease expires while flanneld is away (its key goes), and its subnet file is gone with it: flanneld
    // would otherwise ask for the subnet named there again and get it back
    let tries = 0;
    do {
      await C().stopFlanneld(node);
      C().etcdctl(['del', C().leaseKey(node)]);
      rmSync(node.subnetFile);
      await C().startFlanneld(node);
      tries++;
    } while (node.subnet === old.subnet && tries < 5);
    expect(node.subnet).not.toBe(old.subnet);
    expect(C().leaseKeys()).not.toContain(old.key);
    expect(C().leaseKeys()).toContain(C().leaseKey(node));
    await C().waitForMesh();

    // no forceAddress (the default): the bridge still has the old gateway
    expect(cni0(node)).toEqual([`${old.gateway}/24`]);
    const leasesBefore = leaseFiles(node).sort();
    let failed: AddError | undefined;
    try {
      C().addPod(node, 'stale');
    } catch (err) {
      if (!(err instanceof AddError)) throw err;
      failed = err;
    }
    expect(failed?.plugin).toBe('flannel');
    const answer = failed?.run.json;
    if (!isRecord(answer)) throw new Error(`no CNI error: ${failed?.run.stdout ?? 'ADD succeeded'}`);
    expect(String(answer['msg'])).toContain(`failed to set bridge addr: "cni0" already has an IP address different from ${node.gateway}/24`);
    const details = String(answer['details']);
    expect(details).toContain(`${old.gateway}/24`);
    expect(details).toContain(node.subnet);
    expect(details).toMatch(/"forceAddress": ?true/);
    expect(failed?.run.stderr).toBe('');
    // a failed ADD leaves nothing: no new lease, no saved config, no veth
    expect(leaseFiles(node).sort()).toEqual(leasesBefore);
    expect(C().leftovers(node, []).veths).toHaveLength(3); // early, a, a2

    // CHECK of an old pod says why it is broken
    const [check] = C().checkPod(P('a'));
    expect(check?.code).not.toBe(0);
    expect(JSON.stringify(check?.json)).toContain(`but the node's subnet is now ${node.subnet}`);

    // forceAddress (k3s): the bridge moves to the new gateway, new pods work across nodes
    C().setDelegate({ forceAddress: true });
    const fresh = C().addPod(node, 'fresh').pod;
    pods.set('fresh', fresh);
    expect(cni0(node)).toEqual([`${node.gateway}/24`]);
    expect(fresh.ip.startsWith(node.gateway.replace(/\.1$/, '.'))).toBe(true);
    expect(C().ping(fresh.ns, P('b').ip)).toBe(true);
    expect((await C().tcp(P('b').ns, fresh.ns, fresh.ip, 7303)).seenSource).toBe(P('b').ip);

    // the old pods' DEL releases their addresses in the old subnet
    const oldPods = ['early', 'a', 'a2'].map(P);
    expect(oldPods.every((p) => leaseFiles(node).includes(p.ip))).toBe(true);
    for (const p of oldPods) C().delPod(p);
    expect(leaseFiles(node)).toEqual([fresh.ip]);
    const left = C().leftovers(node, oldPods.map((p) => p.containerId));
    expect(left.savedConfigs).toEqual([fresh.containerId]);
    expect(left.podRules).toEqual([]);
    C().delPod(fresh);
    C().delPod(P('b'));
    for (const n of [n1(), n2()]) expect(C().leftovers(n, [])).toEqual({ veths: [], leases: [], savedConfigs: [], podRules: [] });
  });
});
