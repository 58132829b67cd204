/**
 * Interop with Debian's Go portmap (v1.1.1, iptables only): the same rules
 * rule for rule, Go's rules removed by our DEL and ours by Go's, each
 * implementation's CHECK accepting the other's rules (Go v1.1.1's CHECK
 * fails on any pod where ip6tables works, its own included: plugins#819).
 */
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.ts';
import { GO_PORTMAP, NODE_V4, NODE_V6, PortmapLab } from '../helpers/portmap.ts';
import { err, ok } from '../helpers/bridge.ts';

beforeAll(() => {
  if (!isRoot()) throw new Error('the portmap interop tests need root (network namespaces)');
  if (!existsSync(GO_PORTMAP)) throw new Error(`${GO_PORTMAP} is missing: scripts/setup-machine.sh installs containernetworking-plugins`);
});

let lab: PortmapLab;
afterEach(() => lab?.cleanup());

const MAPPINGS = [
  { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostPort: 8443, containerPort: 80, protocol: 'tcp', hostIP: NODE_V4 },
  { hostPort: 8053, containerPort: 53, protocol: 'udp' },
];

/** The rules of the nat tables, sorted (the order of shared rules differs only by who came first). */
const sorted = (text: string): string[] => text.split('\n').filter((l) => l !== '').sort();

describe('portmap interop with the Go plugin', () => {
  it('makes the same rules as Go, removes Go rules, and Go removes ours', async () => {
    lab = new PortmapLab();
    const pod = lab.pod();
    await lab.serve(pod, ['tcp:80', 'udp:53']);
    const conf = lab.conf({ mappings: MAPPINGS, pod });
    const delConf = lab.conf({ mappings: MAPPINGS });
    const before = lab.iptables();

    // Go ADD → our CHECK → traffic → our DEL
    ok(await lab.call({ command: 'ADD', conf, pod, go: true }));
    const goRules = lab.iptables();
    ok(await lab.call({ command: 'CHECK', conf, pod }));
    // Go v1.1.1's own CHECK fails on its own rules: it looks for the IPv4 rules in ip6tables (plugins#819)
    expect(err(await lab.call({ command: 'CHECK', conf, pod, go: true })).msg).toMatch(/could not check ipv6 dnat/);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 8080)).toBe(pod.name);
    ok(await lab.call({ command: 'DEL', conf: delConf, pod, netns: '' }));
    const afterOurDel = lab.iptables();
    expect(afterOurDel).not.toMatch(/CNI-DN-/);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 8080)).toMatch(/^ERR/);

    // our ADD: rule for rule what Go made
    ok(await lab.call({ command: 'ADD', conf, pod }));
    expect(sorted(lab.iptables())).toEqual(sorted(goRules));
    expect(await lab.probe(lab.remote, 'tcp', NODE_V6, 8080)).toBe(pod.name);
    // Go DEL removes them
    ok(await lab.call({ command: 'DEL', conf: delConf, pod, go: true }));
    expect(lab.iptables()).toBe(afterOurDel);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 8080)).toMatch(/^ERR/);
    // only the shared chains (never deleted, by either) remain of what was added
    const added = sorted(afterOurDel).filter((l) => !sorted(before).includes(l));
    expect(added.every((l) => /CNI-HOSTPORT-(DNAT|SETMARK|MASQ)/.test(l))).toBe(true);
  });

  it('our DEL of one pod leaves a Go pod alone, and the reverse', async () => {
    lab = new PortmapLab();
    const a = lab.pod();
    const b = lab.pod();
    await Promise.all([lab.serve(a, ['tcp:80']), lab.serve(b, ['tcp:80'])]);
    const ma = [{ hostPort: 9101, containerPort: 80, protocol: 'tcp' }];
    const mb = [{ hostPort: 9102, containerPort: 80, protocol: 'tcp' }];
    ok(await lab.call({ command: 'ADD', conf: lab.conf({ mappings: ma, pod: a }), pod: a, go: true }));
    ok(await lab.call({ command: 'ADD', conf: lab.conf({ mappings: mb, pod: b }), pod: b }));
    ok(await lab.call({ command: 'DEL', conf: lab.conf({ mappings: mb }), pod: b, netns: '' }));
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9101)).toBe(a.name);
    ok(await lab.call({ command: 'ADD', conf: lab.conf({ mappings: mb, pod: b }), pod: b }));
    ok(await lab.call({ command: 'DEL', conf: lab.conf({ mappings: ma }), pod: a, go: true }));
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9102)).toBe(b.name);
    expect(await lab.probe(lab.remote, 'tcp', NODE_V4, 9101)).toMatch(/^ERR/);
  });
});
