/**
 * portmap, as root in scratch namespaces: hostPorts reached from another
 * node, from the node itself (127.0.0.1 and its address) and from the pod
 * itself (hairpin); TCP and UDP; IPv4 and IPv6; hostIP; both backends; two
 * pods; DEL leaves no rule; CHECK, GC, STATUS; stale UDP conntrack entries.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { NODE_V4, NODE_V4_OTHER, NODE_V6, PortmapLab } from '../helpers/portmap.ts';
import { err, ok } from '../helpers/bridge.ts';

beforeAll(() => {
  if (!isRoot()) throw new Error('the portmap integration tests need root (network namespaces)');
});

let lab: PortmapLab;
afterEach(() => lab?.cleanup());

const MAPPINGS = [
  { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostPort: 8053, containerPort: 53, protocol: 'udp' },
  { hostPort: 8081, containerPort: 80, protocol: 'tcp', hostIP: NODE_V4 },
];

describe.each(['iptables', 'nftables'] as const)('portmap with the %s backend', (backend) => {
  const extra = { backend };
  const rules = (): string => (backend === 'iptables' ? lab.iptables() : lab.nft());

  it('forwards TCP and UDP host ports of both families from another node, the node itself and the pod; DEL removes every rule', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    await lab.serve(pod, ['tcp:80', 'udp:53']);
    const conf = lab.conf({ mappings: MAPPINGS, pod, extra });
    const added = ok(await lab.call({ command: 'ADD', conf, pod }));
    expect(added).toEqual(conf['prevResult']);
    ok(await lab.call({ command: 'CHECK', conf, pod }));

    const r = lab.remote;
    expect(await lab.probe(r, 'tcp', NODE_V4, 8080)).toBe(pod.name);
    expect(await lab.probe(r, 'udp', NODE_V4, 8053)).toBe(pod.name);
    expect(await lab.probe(r, 'tcp', NODE_V6, 8080)).toBe(pod.name);
    expect(await lab.probe(r, 'udp', NODE_V6, 8053)).toBe(pod.name);
    // hostIP: only that address forwards
    expect(await lab.probe(r, 'tcp', NODE_V4, 8081)).toBe(pod.name);
    expect(await lab.probe(r, 'tcp', NODE_V4_OTHER, 8081)).toMatch(/^ERR/);
    expect(await lab.probe(r, 'tcp', NODE_V4_OTHER, 8080)).toBe(pod.name);
    // from the node: localhost (route_localnet + masquerade) and its own addresses
    expect(await lab.probe(lab.node, 'tcp', '127.0.0.1', 8080)).toBe(pod.name);
    expect(await lab.probe(lab.node, 'udp', '127.0.0.1', 8053)).toBe(pod.name);
    expect(await lab.probe(lab.node, 'tcp', NODE_V4, 8080)).toBe(pod.name);
    expect(await lab.probe(lab.node, 'tcp', NODE_V6, 8080)).toBe(pod.name);
    expect(lab.sh(lab.node.name, 'sysctl', '-n', 'net.ipv4.conf.cni0.route_localnet').trim()).toBe('1');
    // hairpin: the pod reaches itself through the node's address
    expect(await lab.probe(pod.ns, 'tcp', NODE_V4, 8080)).toBe(pod.name);
    expect(await lab.probe(pod.ns, 'tcp', NODE_V6, 8080)).toBe(pod.name);
    expect(await lab.probe(pod.ns, 'udp', NODE_V4, 8053)).toBe(pod.name);

    // DEL as a runtime sends it after the pod is gone: no prevResult, no netns
    const del = lab.conf({ mappings: MAPPINGS, extra });
    ok(await lab.call({ command: 'DEL', conf: del, pod, netns: '' }));
    expect(rules()).not.toContain(pod.containerId);
    expect(rules()).not.toMatch(/CNI-DN-/);
    expect(await lab.probe(r, 'tcp', NODE_V4, 8080)).toMatch(/^ERR/);
    ok(await lab.call({ command: 'DEL', conf: del, pod, netns: '' }));
    expect(err(await lab.call({ command: 'CHECK', conf, pod })).msg).toMatch(/missing/);
  });

  it('keeps two pods apart: each gets its own ports, DEL of one leaves the other', async () => {
    lab = new PortmapLab();
    const a = lab.pod();
    const b = lab.pod();
    await Promise.all([lab.serve(a, ['tcp:80']), lab.serve(b, ['tcp:80'])]);
    const confA = lab.conf({ mappings: [{ hostPort: 9001, containerPort: 80, protocol: 'tcp' }], pod: a, families: [4], extra });
    const confB = lab.conf({ mappings: [{ hostPort: 9002, containerPort: 80, protocol: 'tcp' }], pod: b, families: [4], extra });
    // at once, on a node without the shared chains yet: both create them, one batch is recomputed
    const [ra, rb] = await Promise.all([lab.call({ command: 'ADD', conf: confA, pod: a }), lab.call({ command: 'ADD', conf: confB, pod: b })]);
    ok(ra);
    ok(rb);
    if (backend === 'iptables') {
      const v4 = lab.sh(lab.node.name, 'iptables', '-w', '-t', 'nat', '-S');
      expect(v4.match(/^-A PREROUTING .*-j CNI-HOSTPORT-DNAT$/gm)).toHaveLength(1);
      expect(v4.match(/^-A POSTROUTING .*-j CNI-HOSTPORT-MASQ$/gm)).toHaveLength(1);
      expect(v4.match(/^-A CNI-HOSTPORT-SETMARK /gm)).toHaveLength(1);
    }
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9001)).toBe(a.name);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9002)).toBe(b.name);
    // an IPv4-only pod passes CHECK (the reference once required its ip6tables rules)
    ok(await lab.call({ command: 'CHECK', conf: confA, pod: a }));

    ok(await lab.call({ command: 'DEL', conf: lab.conf({ mappings: [{ hostPort: 9001, containerPort: 80, protocol: 'tcp' }], extra }), pod: a, netns: '' }));
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9001)).toMatch(/^ERR/);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9002)).toBe(b.name);
    ok(await lab.call({ command: 'CHECK', conf: confB, pod: b }));

    // GC with only a listed as valid removes b's rules
    const gc = { cniVersion: '1.1.0', name: 'pmnet', type: 'portmap', backend, 'cni.dev/valid-attachments': [{ containerID: a.containerId, ifname: 'eth0' }] };
    ok(await lab.call({ command: 'GC', conf: gc }));
    expect(rules()).not.toContain(b.containerId);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9002)).toMatch(/^ERR/);
  });

  it('STATUS reports whether the backend works', async () => {
    lab = new PortmapLab();
    const conf = { cniVersion: '1.1.0', name: 'pmnet', type: 'portmap', backend };
    ok(await lab.call({ command: 'STATUS', conf }));
    if (backend === 'iptables') {
      const broken = err(await lab.call({ command: 'STATUS', conf, env: { PATH: '/nonexistent' } }));
      expect(broken.code).toBe(50);
    } else {
      // nf_tables through netlink: no nft program needed
      ok(await lab.call({ command: 'STATUS', conf, env: { PATH: '/nonexistent' } }));
    }
  });
});

describe('portmap details', () => {
  it('flushes stale UDP conntrack entries of the host port on ADD, so the new pod gets the traffic', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    await lab.serve(pod, ['udp:53']);
    // the nat hooks exist (as on any node) when a flow to the host port arrives before its rule: conntrack remembers it un-NATed
    // (a conntrack match turns connection tracking on in the namespace, as kube-proxy's rules do on a node)
    lab.sh(lab.node.name, 'iptables', '-w', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'ACCEPT');
    lab.sh(lab.node.name, 'iptables', '-w', '-t', 'nat', '-A', 'PREROUTING', '-p', 'udp', '--dport', '9', '-j', 'RETURN');
    expect(await lab.probe(lab.remote, 'udp', NODE_V4, 8053, { sport: 40053 })).toMatch(/^ERR/);
    const conf = lab.conf({ mappings: [{ hostPort: 8053, containerPort: 53, protocol: 'udp' }], pod, families: [4] });
    ok(await lab.call({ command: 'ADD', conf, pod }));
    // the same 5-tuple again: answered only if the stale entry was deleted
    expect(await lab.probe(lab.remote, 'udp', NODE_V4, 8053, { sport: 40053 })).toBe(pod.name);
  });

  it('refuses bad configurations with the reference messages', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ markMasqBit: 40 }, /MasqMarkBit must be between 0 and 31/],
      [{ markMasqBit: 5, externalSetMarkChain: 'X' }, /Cannot specify externalSetMarkChain and markMasqBit/],
      [{ backend: 'ebpf' }, /unrecognized backend "ebpf"/],
      [{ backend: 'nftables', markMasqBit: 5 }, /iptables-specific options \[markMasqBit\]/],
    ];
    for (const [extra, msg] of cases) {
      const e = err(await lab.call({ command: 'ADD', conf: lab.conf({ mappings: MAPPINGS, pod, extra }), pod }));
      expect(e.code).toBe(7);
      expect(e.msg).toMatch(msg);
    }
    const bad = err(await lab.call({ command: 'ADD', conf: lab.conf({ mappings: [{ hostPort: 0, containerPort: 80, protocol: 'tcp' }], pod }), pod }));
    expect(bad.msg).toMatch(/Invalid host port number: 0/);
    const unchained = err(await lab.call({ command: 'ADD', conf: lab.conf({ mappings: MAPPINGS, pod, prev: false }), pod }));
    expect(unchained.msg).toMatch(/must be called as chained plugin/);
    expect(lab.iptables()).not.toMatch(/CNI-DN-/);
  });

  it('a failed ADD leaves nothing: the IPv4 rules go when the IPv6 ones fail', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    const conf = lab.conf({ mappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], pod, extra: { conditionsV6: ['--no-such-option'] } });
    const e = err(await lab.call({ command: 'ADD', conf, pod }));
    expect(e.msg).toMatch(/failed to set up IPv6 port forwarding with iptables/);
    expect(lab.iptables()).not.toMatch(/CNI-DN-/);
  });

  it('refuses conditions and names that would inject commands into nft or iptables-restore (code 7, nothing installed)', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    const mappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ conditionsV4: ['ip saddr 10.0.0.0/8 ; add table ip nfinject'] }, /conditionsV4\[0\]/],
      [{ conditionsV4: ['ip saddr 10.0.0.0/8', 'accept\nadd table ip nfinject'] }, /conditionsV4\[1\]/],
      [{ backend: 'nftables', conditionsV6: ['ip6 saddr fd00::/8\nadd rule ip6 cni_hostport prerouting accept'] }, /conditionsV6\[0\]/],
      [{ conditionsV4: ['iifname "x" counter accept'] }, /conditionsV4\[0\].*unsupported condition "counter"/],
      [{ conditionsV4: ['-s', '10.0.0.0/8\n-A POSTROUTING -j ACCEPT'] }, /conditionsV4\[1\]/],
      [{ externalSetMarkChain: 'X\n-A POSTROUTING -j ACCEPT' }, /externalSetMarkChain/],
    ];
    for (const [extra, msg] of cases) {
      const e = err(await lab.call({ command: 'ADD', conf: lab.conf({ mappings, pod, extra }), pod }));
      expect(e.code, JSON.stringify(extra)).toBe(7);
      expect(e.msg).toMatch(msg);
    }
    expect(lab.sh(lab.node.name, 'nft', 'list', 'ruleset')).not.toMatch(/nfinject|cni_hostport|accept$/m);
    expect(lab.iptables()).not.toMatch(/CNI-DN-|-j ACCEPT/);
  });

  it('turns nftables conditions into single matches in front of the hostports_all jump', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    await lab.serve(pod, ['tcp:80']);
    const extra = { conditionsV4: ['ip', 'saddr', '!=', '10.99.0.0/16', 'iifname != "nfnone0"'], conditionsV6: ['ip6 daddr fd00:77::/64'] };
    const conf = lab.conf({ mappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], pod, extra });
    ok(await lab.call({ command: 'ADD', conf, pod }));
    const t = lab.nft();
    expect(t).toContain('ip saddr != 10.99.0.0/16 iifname != "nfnone0" fib daddr type local jump hostports_all');
    expect(t).toContain('ip6 daddr fd00:77::/64 fib daddr type local jump hostports_all');
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 8080)).toBe(pod.name);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V6, 8080)).toBe(pod.name);
    ok(await lab.call({ command: 'CHECK', conf, pod }));
    ok(await lab.call({ command: 'DEL', conf, pod }));
    expect(lab.nft()).not.toContain(pod.containerId);
  });

  it('works with the nftables backend on a node without the nft program (netlink in the process)', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    await lab.serve(pod, ['tcp:80']);
    const conf = lab.conf({ mappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], pod, extra: { backend: 'nftables' } });
    const env = { PATH: '/nonexistent' };
    ok(await lab.call({ command: 'ADD', conf, pod, env }));
    expect(lab.nft()).toContain(`tcp dport 8080 dnat to 10.88.0.2:80 comment "${pod.containerId}"`);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 8080)).toBe(pod.name);
    ok(await lab.call({ command: 'CHECK', conf, pod, env }));
    ok(await lab.call({ command: 'DEL', conf, pod, env, netns: '' }));
    expect(lab.nft()).not.toContain(pod.containerId);
  });

  it('uses an external mark chain and extra conditions as asked', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    lab.sh(lab.node.name, 'iptables', '-w', '-t', 'nat', '-N', 'MY-MARK');
    const conf = lab.conf({ mappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], pod, families: [4], extra: { externalSetMarkChain: 'MY-MARK', conditionsV4: ['!', '-s', '10.99.0.0/16'] } });
    ok(await lab.call({ command: 'ADD', conf, pod }));
    const t = lab.iptables();
    expect(t).toMatch(/-j MY-MARK/);
    expect(t).not.toMatch(/CNI-HOSTPORT-SETMARK/);
    expect(t).toMatch(/! -s 10\.99\.0\.0\/16 .*-j CNI-DN-/);
    ok(await lab.call({ command: 'CHECK', conf, pod }));
  });
});
