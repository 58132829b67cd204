/**
 * The kubelet's path: containerd 1.6's CRI plugin runs the pods' network on
 * our plugins, driven over gRPC with the CRI calls kubelet makes
 * (test/helpers/cri.ts, a private containerd in the node's network namespace).
 * Two conflists as nodes write them, our executable's links in the CNI bin
 * dir: kube-flannel's manifest (0.3.1: flannel, portmap) and k3s' (1.0.0:
 * flannel, portmap, bandwidth); containerd adds its own loopback network.
 *
 * The bin dir the CRI plugin execs is a recording one (shell wrappers that
 * log the CNI_* environment and stdin, then exec the real link): the suite
 * asserts what the CRI plugin sends (CNI_ARGS, the capitalised portMappings and
 * bandwidth keys, the two DELs per sandbox), not only what the node ends with.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/exec.ts';
import { type CniCall, CriContainerd, CriError, type PodSandboxConfig, containerConfig, recordedCalls, recordingBinDir, sandboxConfig } from '../helpers/cri.ts';
import { leftoverTestNetns } from '../helpers/netns.ts';
import { OUR_EXE, type Run, RuntimeNode, hostSnapshot, must, ourPlugins, pluginDirLinks, podView, sleep } from '../helpers/runtimes.ts';

interface Conflist {
  name: string;
  cniVersion: string;
  plugins: Record<string, unknown>[];
}
/** kube-flannel's manifest's conflist and k3s' as they write them (conf-examples/). */
const conflist = (file: string): Conflist => JSON.parse(readFileSync(join(ROOT, 'conf-examples', file), 'utf8')) as Conflist;
const KUBE_FLANNEL_031 = conflist('kube-flannel-0.3.1.conflist');
const K3S = conflist('k3s.conflist');
const BASE_TYPES = ['flannel', 'bridge', 'host-local', 'portmap', 'loopback'];
/** The plugins the CRI plugin execs itself (recorded); bridge and host-local run inside flannel's process. */
const EXECED = ['loopback', 'flannel', 'portmap', 'bandwidth'];

/** The node's own address (a dummy link in the node's namespace), reached through the hostPort. */
const NODE_IP = '198.18.0.10';
const HOST_PORT = 30080;
const HTTP_PORT = 8080;
/** 8 Mbit/s both ways: kubelet's annotations, in the quantity format it accepts. */
const BANDWIDTH = { 'kubernetes.io/ingress-bandwidth': '8M', 'kubernetes.io/egress-bandwidth': '8M' };

let before: Record<string, string>;
beforeAll(() => {
  before = hostSnapshot();
});
afterAll(() => {
  // nothing in /etc/cni/net.d, /opt/cni, /var/lib/cni/results, /run/containerd, no t-rt* link or rule in the host
  expect(hostSnapshot()).toEqual(before);
  expect(leftoverTestNetns()).toEqual([]);
});

/** Polls the async `fn` until `ok` accepts its result or `timeoutMs` passed; returns the last result. */
async function until<T>(fn: () => Promise<T> | T, ok: (t: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let r = await fn();
  while (!ok(r) && Date.now() < end) {
    await sleep(200);
    r = await fn();
  }
  return r;
}

function cniArgs(call: CniCall): Record<string, string> {
  return Object.fromEntries((call.env['CNI_ARGS'] ?? '').split(';').map((kv) => kv.split('=', 2) as [string, string]));
}

/** bandwidth's ifb device name: "bwp" + the first 12 hex digits of sha512(network name + container id). */
function ifbName(network: string, containerId: string): string {
  return `bwp${createHash('sha512').update(network + containerId).digest('hex').slice(0, 12)}`;
}

const suites = [
  { title: "kube-flannel's 0.3.1 conflist (flannel, portmap)", conflist: KUBE_FLANNEL_031, bandwidth: false },
  { title: "k3s' conflist (flannel, portmap, bandwidth)", conflist: K3S, bandwidth: true },
];

for (const suite of suites) {
  describe(`containerd 1.6 CRI, ${suite.title}`, () => {
    const types = suite.bandwidth ? [...BASE_TYPES, 'bandwidth'] : BASE_TYPES;
    let node: RuntimeNode;
    let ctrd: CriContainerd;
    let logDir = '';
    let cfgA: PodSandboxConfig;
    let cfgB: PodSandboxConfig;
    let idA = '';
    let idB = '';
    let webA = '';
    let clientB = '';
    let ipA = '';
    let ipB = '';
    let hostVethA = '';
    let hostVethB = '';

    beforeAll(async () => {
      node = new RuntimeNode({ cniVersion: suite.conflist.cniVersion, plugins: suite.conflist.plugins, types });
      try {
        await setUp();
      } catch (e) {
        // vitest runs no afterAll of a suite whose beforeAll threw
        await tearDown();
        throw e;
      }
    });

    async function setUp(): Promise<void> {
      // the node's uplink: a veth pair inside the node (this kernel has no dummy links), its address the node's
      must(['ip', '-n', node.ns.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer']);
      must(['ip', '-n', node.ns.name, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0']);
      for (const l of ['eth0', 'eth0-peer']) must(['ip', '-n', node.ns.name, 'link', 'set', l, 'up']);
      logDir = join(node.root, 'cni-calls');
      recordingBinDir(join(node.root, 'bin-recording'), node.binDir, logDir, EXECED);
      ctrd = new CriContainerd(node, join(node.root, 'bin-recording'));
      const cri = await ctrd.start();
      cfgA = sandboxConfig(`a-${node.tag}`, {
        portMappings: [{ protocol: 'TCP', container_port: HTTP_PORT, host_port: HOST_PORT, host_ip: '' }],
        annotations: suite.bandwidth ? BANDWIDTH : {},
      });
      cfgB = sandboxConfig(`b-${node.tag}`);
      idA = await ctrd.runPod(cfgA);
      idB = await ctrd.runPod(cfgB);
      const web = `mkdir -p /www && echo ${cfgA.metadata.name} > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`;
      webA = await cri.createContainer(idA, containerConfig('web', ctrd.busybox, ['sh', '-c', web]), cfgA);
      await cri.startContainer(webA);
      clientB = await cri.createContainer(idB, containerConfig('client', ctrd.busybox, ['sleep', 'infinity']), cfgB);
      await cri.startContainer(clientB);
      const [infoA, infoB] = [await ctrd.sandboxInfo(idA), await ctrd.sandboxInfo(idB)];
      [ipA, ipB] = [infoA.ip, infoB.ip];
      // the host side of each pod's veth, from the CNI result containerd keeps
      const hostVeth = (i: typeof infoA): string => Object.entries(i.cniResult?.Interfaces ?? {}).find(([name, x]) => x.Sandbox === '' && name.startsWith('veth'))?.[0] ?? '';
      [hostVethA, hostVethB] = [hostVeth(infoA), hostVeth(infoB)];
    }

    let tornDown = false;
    async function tearDown(): Promise<void> {
      if (tornDown) return;
      tornDown = true;
      try {
        await ctrd?.stop();
      } finally {
        node?.cleanup();
      }
    }

    afterAll(tearDown);

    it('speaks CRI runtime.v1 to containerd 1.6', async () => {
      const v = await ctrd.cri.version();
      expect(v.runtime_name).toBe('containerd');
      expect(v.runtime_version).toMatch(/^1\.6\./);
      expect(v.runtime_api_version).toBe('v1');
    });

    it('execs every plugin of the chain from our executable', () => {
      expect(ourPlugins()).toEqual(expect.arrayContaining(types));
      expect(pluginDirLinks(node.binDir)).toEqual(new Map(types.map((t) => [t, OUR_EXE])));
    });

    it('gives both pods an address in the node subnet (PodSandboxStatus and the pods themselves)', async () => {
      const prefix = node.subnet.split('.').slice(0, 3).join('.');
      for (const [id, ip] of [
        [idA, ipA],
        [idB, ipB],
      ] as const) {
        const s = await ctrd.cri.podSandboxStatus(id);
        expect(s.status.state).toBe('SANDBOX_READY');
        expect(s.status.network?.ip).toBe(ip);
        expect(ip.startsWith(`${prefix}.`)).toBe(true);
        const v = podView((await ctrd.sandboxInfo(id)).netns);
        expect(v.addresses).toEqual([`${ip}/24`]);
        expect(v.mtu).toBe(node.mtu);
        expect(v.routes).toContain(`default via ${node.gateway} dev eth0`);
      }
      expect(ipA).not.toBe(ipB);
      expect(node.leases().sort()).toEqual([ipA, ipB].sort());
      expect(node.savedConfigs().sort()).toEqual([idA, idB].sort()); // the first attachment: where the Go flannel reads it
    });

    it('serves HTTP through the hostPort from the node (its address and 127.0.0.1)', async () => {
      for (const host of [NODE_IP, '127.0.0.1']) {
        // (Debian's static busybox wget crashes with -T: the bound is the kill after 5 s)
        const r = await until(
          () => node.sh(['/bin/busybox', 'wget', '-q', '-O', '-', `http://${host}:${HOST_PORT}/`], 5_000),
          (x: Run) => x.code === 0,
        );
        expect(r.code, `${host}: ${r.stderr}`).toBe(0);
        expect(r.stdout.trim()).toBe(cfgA.metadata.name);
      }
    });

    it('serves HTTP through the hostPort from the other pod and from itself (hairpin)', async () => {
      for (const [from, what] of [
        [clientB, 'other pod'],
        [webA, 'hairpin'],
      ] as const) {
        const r = await until(
          () => ctrd.cri.execSync(from, ['wget', '-q', '-O', '-', `http://${NODE_IP}:${HOST_PORT}/`], 5),
          (x) => x.exit_code === 0,
        );
        expect(r.exit_code, `${what}: ${r.stderr.toString()}`).toBe(0);
        expect(r.stdout.toString().trim()).toBe(cfgA.metadata.name);
      }
      // and the pod directly, from the other pod
      const direct = await ctrd.cri.execSync(clientB, ['wget', '-q', '-O', '-', `http://${ipA}:${HTTP_PORT}/`], 5);
      expect(direct.stdout.toString().trim()).toBe(cfgA.metadata.name);
    });

    it('sends CNI_ARGS, capitalised portMappings keys and the loopback network as kubelet pods get them', () => {
      const adds = recordedCalls(logDir).filter((c) => c.env['CNI_COMMAND'] === 'ADD' && c.env['CNI_CONTAINERID'] === idA);
      // two networks set up concurrently: containerd's loopback, and the conflist's plugins in order
      expect(adds.filter((c) => c.type !== 'loopback').map((c) => c.type)).toEqual(suite.conflist.plugins.map((p) => p.type));
      expect(adds.filter((c) => c.type === 'loopback')).toHaveLength(1);
      for (const c of adds) {
        expect(cniArgs(c)).toEqual({
          IgnoreUnknown: '1',
          K8S_POD_NAMESPACE: 't-cri',
          K8S_POD_NAME: cfgA.metadata.name,
          K8S_POD_INFRA_CONTAINER_ID: idA,
          K8S_POD_UID: cfgA.metadata.uid,
        });
        expect(c.env['CNI_NETNS']).toMatch(/^\/var\/run\/netns\/cni-[0-9a-f-]+$/);
        expect(c.env['CNI_PATH']).toBe(ctrd.binDir);
      }
      expect(adds.find((c) => c.type === 'loopback')?.config).toMatchObject({ name: 'cni-loopback', type: 'loopback' });
      const portmap = adds.find((c) => c.type === 'portmap');
      expect(portmap?.config['cniVersion']).toBe(suite.conflist.cniVersion);
      expect(portmap?.config['runtimeConfig']).toEqual({ portMappings: [{ HostPort: HOST_PORT, ContainerPort: HTTP_PORT, Protocol: 'tcp', HostIP: '' }] });
      // pod B has no port mappings: portmap still runs, with none
      const portmapB = recordedCalls(logDir).find((c) => c.env['CNI_COMMAND'] === 'ADD' && c.env['CNI_CONTAINERID'] === idB && c.type === 'portmap');
      expect(portmapB?.config['runtimeConfig']).toBeUndefined();
      if (suite.bandwidth) {
        // containerd's bandwidth capability: capitalised keys, rates from the annotations, bursts of 2^32-1 bits
        expect(adds.find((c) => c.type === 'bandwidth')?.config['runtimeConfig']).toEqual({
          bandwidth: { IngressRate: 8_000_000, IngressBurst: 4294967295, EgressRate: 8_000_000, EgressBurst: 4294967295 },
        });
      }
    });

    if (suite.bandwidth) {
      it('shapes the annotated pod: tbf on its host veth, ingress redirect to its ifb with a tbf; the other pod unshaped', () => {
        expect(hostVethA).toMatch(/^veth/);
        const ifb = ifbName(node.network, idA);
        const qdiscs = (dev: string): string => node.sh(['tc', 'qdisc', 'show', 'dev', dev]).stdout;
        // containerd's burst of 2^32-1 bits overflows the reference's tbf arithmetic (buffer in ticks, uint32): the
        // kernel gets a bucket of 261993004 bytes, so the pod runs unshaped for its first ~262 MB each way
        expect(qdiscs(hostVethA)).toMatch(/qdisc tbf 1: root .*rate 8Mbit burst 261993004b/);
        expect(qdiscs(hostVethA)).toMatch(/qdisc ingress ffff: parent ffff:fff1/);
        expect(node.sh(['tc', 'filter', 'show', 'dev', hostVethA, 'parent', 'ffff:']).stdout).toContain(`Egress Redirect to device ${ifb}`);
        expect(node.sh(['ip', '-d', 'link', 'show', ifb]).stdout).toContain('ifb');
        expect(qdiscs(ifb)).toMatch(/qdisc tbf 1: root .*rate 8Mbit burst 261993004b/);
        expect(node.sh(['ip', '-o', 'link', 'show', 'type', 'ifb']).stdout.trim().split('\n')).toHaveLength(1);
        expect(hostVethB).toMatch(/^veth/);
        expect(qdiscs(hostVethB)).not.toMatch(/tbf|ingress/);
      });
    }

    it('Stop+Remove of both pods: two DELs each, nothing left (veth, lease, saved config, cache, rules, ifb, netns)', async () => {
      await ctrd.removePod(idA);
      await ctrd.removePod(idB);
      for (const id of [idA, idB]) await expect(ctrd.cri.podSandboxStatus(id)).rejects.toBeInstanceOf(CriError);
      const left = node.leftovers([idA, idB], [ipA, ipB]);
      expect({ ...left, veths: left.veths.filter((v) => !v.startsWith('eth0')) }).toEqual({ veths: [], leases: [], savedConfigs: [], rules: [], cache: [] });
      expect(node.sh(['ip', '-o', 'link', 'show', 'type', 'ifb']).stdout.trim()).toBe('');
      expect(readdirSync(join(ctrd.runDir, 'netns'))).toEqual([]);

      const calls = recordedCalls(logDir);
      // every call succeeded: both DELs of each network too (the second one without netns or prevResult)
      expect(calls.filter((c) => c.code !== 0).map((c) => `${c.env['CNI_COMMAND']} ${c.type}: exit ${c.code}`)).toEqual([]);
      for (const id of [idA, idB]) {
        const dels = calls.filter((c) => c.env['CNI_COMMAND'] === 'DEL' && c.env['CNI_CONTAINERID'] === id);
        const chain = suite.conflist.plugins.map((p) => p.type);
        // StopPodSandbox deletes both networks (the conflist's in reverse order) with the netns still there and
        // the cached ADD result as prevResult; RemovePodSandbox does it again with CNI_NETNS empty and no cache
        const stop = dels.filter((c) => (c.env['CNI_NETNS'] ?? '') !== '');
        const remove = dels.filter((c) => (c.env['CNI_NETNS'] ?? '') === '');
        expect(dels.slice(0, stop.length)).toEqual(stop);
        for (const group of [stop, remove]) {
          expect(group.filter((c) => c.type !== 'loopback').map((c) => c.type)).toEqual([...chain].reverse());
          expect(group.filter((c) => c.type === 'loopback')).toHaveLength(1);
        }
        for (const c of stop) {
          expect(c.env['CNI_NETNS']).toMatch(/^\/var\/run\/netns\/cni-/);
          // libcni sends prevResult on DEL from spec 0.4.0 on: the k3s conflist's plugins get it, kube-flannel's
          // 0.3.1 ones and containerd's loopback network (0.3.1) do not
          const version = String(c.config['cniVersion']);
          expect({ type: c.type, version, prevResult: c.config['prevResult'] !== undefined }).toEqual({ type: c.type, version, prevResult: !version.startsWith('0.') });
        }
        for (const c of remove) expect(c.config['prevResult']).toBeUndefined();
        expect(new Set(dels.map((c) => cniArgs(c)['K8S_POD_INFRA_CONTAINER_ID']))).toEqual(new Set([id]));
      }
    });
  });
}

describe('containerd 1.6 CRI with a 1.1.0 conflist', () => {
  it('RunPodSandbox fails cleanly: the CRI plugin deletes what the ADD made, nothing is left', async () => {
    const node = new RuntimeNode({ cniVersion: '1.1.0' });
    const logDir = join(node.root, 'cni-calls');
    recordingBinDir(join(node.root, 'bin-recording'), node.binDir, logDir, EXECED);
    const ctrd = new CriContainerd(node, join(node.root, 'bin-recording'));
    try {
      await ctrd.start();
      const cfg = sandboxConfig(`v11-${node.tag}`, { portMappings: [{ protocol: 'TCP', container_port: HTTP_PORT, host_port: HOST_PORT, host_ip: '' }] });
      const err = await ctrd.runPod(cfg).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CriError);
      // containerd 1.6's libcni reads results up to 1.0.0: the ADD fails on flannel's 1.1.0 result
      expect((err as CriError).details).toContain('unsupported CNI result version "1.1.0"');
      const calls = recordedCalls(logDir);
      const id = calls[0]?.env['CNI_CONTAINERID'] ?? '';
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      // flannel's ADD made the pod's network, then libcni refused its result; the CRI plugin's cleanup deletes the
      // whole chain once (portmap, then flannel; no cached result, so no prevResult) with the netns still there
      const chain = calls.filter((c) => c.type !== 'loopback').map((c) => `${c.env['CNI_COMMAND']} ${c.type}`);
      expect(chain).toEqual(['ADD flannel', 'DEL portmap', 'DEL flannel']);
      for (const c of calls) expect(c.env['CNI_NETNS']).toMatch(/^\/var\/run\/netns\/cni-/);
      expect(calls.filter((c) => c.env['CNI_COMMAND'] === 'DEL').every((c) => c.config['prevResult'] === undefined)).toBe(true);
      expect(node.leftovers([id], [node.gateway.replace(/\.1$/, '.2')])).toEqual({ veths: [], leases: [], savedConfigs: [], rules: [], cache: [] });
      const netnsDir = join(ctrd.runDir, 'netns');
      expect(existsSync(netnsDir) ? readdirSync(netnsDir) : []).toEqual([]);
      expect(ctrd.ctr(['container', 'ls', '-q']).stdout.trim()).toBe('');
    } finally {
      try {
        await ctrd.stop();
      } finally {
        node.cleanup();
      }
    }
  });
});
