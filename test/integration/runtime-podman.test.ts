/**
 * podman 4.3 (CNI backend) runs pods on our plugins with the kube-flannel
 * conflist: a configuration and storage of the suite's own, the node in a
 * network namespace (test/helpers/runtimes.ts explains the isolation).
 *
 * This suite asserts which plugin comes from where: every plugin our
 * executable contains (its banner's "plugins:" line) is run from dist/bin/cni,
 * only the others from Debian's Go plugins (/usr/lib/cni). Today the hostPort
 * goes through the Go portmap; once our portmap is in the executable, the same
 * assertions hold for ours.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GO_CNI_DIR } from '../helpers/exec.ts';
import { leftoverTestNetns } from '../helpers/netns.ts';
import { OUR_EXE, PrivatePodman, RuntimeNode, expectedSources, hostSnapshot, ourPlugins, pluginDirLinks, podView, retrying } from '../helpers/runtimes.ts';

const PORT = 7000;
/** The pods' main process: a TCP server that answers each line with "<name> got <line>". */
const serve = (name: string): string[] => ['sh', '-c', `while true; do nc -l -p ${PORT} -e sh -c 'read l; echo "${name} got $l"'; done`];

let before: Record<string, string>;
beforeAll(() => {
  before = hostSnapshot();
});
afterAll(() => {
  expect(hostSnapshot()).toEqual(before);
  expect(leftoverTestNetns()).toEqual([]);
});

interface Pod {
  name: string;
  id: string;
  netns: string;
  ip: string;
}

describe('podman 4.3 (CNI backend), kube-flannel 1.0.0 conflist', () => {
  let node: RuntimeNode;
  let pm: PrivatePodman;
  let a: Pod;
  let b: Pod;
  const hostPort = randomInt(20_000, 30_000);

  const start = (name: string, ports: string[]): Pod => {
    pm.must(['run', '-d', '--name', name, '--network', node.network, ...ports, pm.image, ...serve(name)]);
    const i = pm.inspect(name);
    const ip = (podView(i.netns).addresses[0] ?? '').split('/')[0] ?? '';
    return { name, id: i.id, netns: i.netns, ip };
  };
  /** One line sent over TCP from inside a container, the reply. */
  const say = (from: Pod, to: string, port: number, line: string): string => {
    const r = retrying(
      () => pm.podman(['exec', from.name, 'sh', '-c', `echo ${line} | nc -w 3 ${to} ${port}`]),
      (x) => x.code === 0 && x.stdout.trim() !== '',
    );
    if (r.code !== 0) throw new Error(`nc from ${from.name} to ${to}:${port} failed: ${r.stderr}`);
    return r.stdout.trim();
  };

  beforeAll(() => {
    node = new RuntimeNode({ cniVersion: '1.0.0' });
    pm = new PrivatePodman(node);
    pm.importImage();
    a = start(`a-${node.tag}`, ['-p', `${hostPort}:${PORT}`]);
    b = start(`b-${node.tag}`, []);
  });

  afterAll(() => {
    try {
      pm?.cleanup();
    } finally {
      node?.cleanup();
    }
  });

  it('runs every plugin our executable contains from it, only the others from the Go plugins', () => {
    const ours = ourPlugins();
    const links = pluginDirLinks(node.binDir);
    expect(links).toEqual(expectedSources());
    for (const [type, target] of links) expect(target).toBe(ours.includes(type) ? OUR_EXE : `${GO_CNI_DIR}/${type}`);
    expect(pm.must(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).trim().split('\n')).toContain(`${node.network} flannel`);
    expect(node.savedConfigs().sort()).toEqual([a.id, b.id].sort()); // the first attachment: where the Go flannel reads it
    expect(node.leases().sort()).toEqual([a.ip, b.ip].sort());
  });

  it('gives each pod an address in the node subnet, the routes and the MTU of subnet.env', () => {
    const prefix = node.subnet.split('.').slice(0, 3).join('\\.');
    for (const p of [a, b]) {
      const v = podView(p.netns);
      expect(v.addresses).toHaveLength(1);
      expect(v.addresses[0]).toMatch(new RegExp(`^${prefix}\\.\\d+/24$`));
      expect(v.mtu).toBe(node.mtu);
      expect(v.routes).toEqual([`${node.cluster} via ${node.gateway} dev eth0`, `${node.subnet} dev eth0`, `default via ${node.gateway} dev eth0`].sort());
    }
    expect(a.ip).not.toBe(b.ip);
    expect(node.bridgeView()).toEqual({ mtu: node.mtu, addresses: [`${node.gateway}/24`] });
  });

  it('pods ping each other and the gateway', () => {
    for (const [from, to] of [
      [a, b.ip],
      [b, a.ip],
      [a, node.gateway],
      [b, node.gateway],
    ] as const) {
      const r = retrying(
        () => pm.podman(['exec', from.name, 'ping', '-c', '1', '-W', '2', to]),
        (x) => x.code === 0,
        2,
      );
      expect(r.code, `${from.name} → ${to}: ${r.stdout} ${r.stderr}`).toBe(0);
    }
  });

  it('exchanges data over TCP between the pods', () => {
    expect(say(b, a.ip, PORT, 'hello-from-b')).toBe(`${a.name} got hello-from-b`);
    expect(say(a, b.ip, PORT, 'hello-from-a')).toBe(`${b.name} got hello-from-a`);
  });

  it('reaches the hostPort from the node at 127.0.0.1 and at the bridge address', () => {
    for (const addr of ['127.0.0.1', node.gateway]) {
      const r = retrying(
        () => node.sh(['busybox', 'sh', '-c', `echo hello-from-node | busybox nc -w 3 ${addr} ${hostPort}`]),
        (x) => x.stdout.trim() !== '',
      );
      expect(r.stdout.trim(), `${addr}:${hostPort}: ${r.stderr}`).toBe(`${a.name} got hello-from-node`);
    }
  });

  it('reaches the hostPort from the other pod, and from its own pod (hairpin)', () => {
    expect(say(b, node.gateway, hostPort, 'via-hostport')).toBe(`${a.name} got via-hostport`);
    expect(say(a, node.gateway, hostPort, 'hairpin')).toBe(`${a.name} got hairpin`);
  });

  it('removing the containers leaves no veth, lease, saved flannel config, cached result, rule or netns', () => {
    const rules = node.ruleLines();
    // portmap's rules for the hostPort exist before (iptables: DNAT comment with the id; nft: comment = id)
    expect(rules.some((l) => l.includes(String(hostPort)) && (l.includes(a.id) || l.includes(a.ip)))).toBe(true);
    pm.must(['rm', '--force', '--time', '0', a.name, b.name]);
    expect(node.leftovers([a.id, b.id], [a.ip, b.ip])).toEqual({ veths: [], leases: [], savedConfigs: [], rules: [], cache: [] });
    expect(pm.netnsLeft()).toEqual([]);
  });
});

/**
 * Spec 1.1.0 under podman 4.3: its libcni (1.1.2) validates a conflist by
 * running VERSION on each plugin, and cannot read a 1.1.0 result. With
 * Debian's Go portmap (spec ≤ 1.0.0) the kube-flannel 1.1.0 conflist is
 * refused before anything runs; with a portmap that takes 1.1.0 (ours, once
 * merged) and with flannel alone, the ADD fails at flannel's result and
 * podman deletes the chain. Either way nothing may stay once the container is
 * removed.
 */
describe('podman 4.3 with a 1.1.0 conflist', () => {
  const cases = [
    { title: 'kube-flannel 1.1.0 conflist (flannel, portmap)', portmap: true },
    { title: 'flannel alone at 1.1.0', portmap: false },
  ];
  for (const c of cases) {
    it(`${c.title}: the container cannot start and nothing leaks once it is removed`, () => {
      const node = new RuntimeNode({ cniVersion: '1.1.0', portmap: c.portmap });
      const pm = new PrivatePodman(node);
      try {
        pm.importImage();
        const name = `v11-${node.tag}`;
        const r = pm.podman(['run', '-d', '--name', name, '--network', node.network, '-p', `${randomInt(20_000, 30_000)}:${PORT}`, pm.image, 'sleep', '600']);
        expect(r.code).not.toBe(0);
        const refused = c.portmap && !ourPlugins().includes('portmap');
        if (refused) {
          expect(r.stderr).toContain('plugin portmap does not support config version \\"1.1.0\\"');
          expect(r.stderr).toContain(`unable to find network with name or ID ${node.network}`);
        } else {
          expect(r.stderr).toContain('plugin type="flannel" failed (add): unsupported CNI result version "1.1.0"');
          expect(r.stderr).not.toContain('failed (delete)');
        }
        const ids = pm.podman(['ps', '-a', '--no-trunc', '--format', '{{.ID}}']).stdout.trim().split('\n').filter((l) => l !== '');
        pm.podman(['rm', '--force', '--time', '0', '--all']);
        expect(node.leftovers(ids, [])).toEqual({ veths: [], leases: [], savedConfigs: [], rules: [], cache: [] });
        expect(pm.netnsLeft()).toEqual([]);
      } finally {
        try {
          pm.cleanup();
        } finally {
          node.cleanup();
        }
      }
    });
  }
});
