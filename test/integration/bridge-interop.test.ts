/**
 * Interop with Debian's Go reference plugins (/usr/lib/cni/bridge and its
 * host-local, plugins v1.1.x: CNI up to 1.0.0, iptables masquerade only) on
 * one host namespace, one bridge and one data directory: a pod added by the
 * Go bridge is CHECKed and fully removed by ours (link, lease, rules), a pod
 * added by ours is fully removed by the Go bridge, pods of both talk to each
 * other, and after the pod's namespace is gone our DEL still removes what the
 * Go ADD made (the Go DEL leaks the rules there). In CI a missing Go plugin is
 * a failure, not a skip.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { iptablesChainName } from '../../lib/ipmasq/names.ts';
import { BridgeEnv, GO_BRIDGE, cid, haveGoBridge, ok, pingFrom } from '../helpers/bridge.ts';
import { type TestNetns, ipJson, isRoot, leftoverTestNetns } from '../helpers/netns.ts';

const inCi = (process.env['CI'] ?? '') !== '';

describe('the Go reference bridge', () => {
  it.runIf(inCi || haveGoBridge)(`is installed at ${GO_BRIDGE}`, () => {
    expect(haveGoBridge, `${GO_BRIDGE} is missing: .ci/run installs containernetworking-plugins`).toBe(true);
  });
});

function podHasLink(pod: TestNetns): boolean {
  return ipJson<{ ifname: string }[]>(pod, 'link', 'show').some((l) => l.ifname === 'eth0');
}

describe.runIf(haveGoBridge && isRoot())('bridge interop with the Go reference', () => {
  let env: BridgeEnv;
  beforeEach(() => {
    env = new BridgeEnv();
  });
  afterEach(() => env.cleanup());
  afterAll(() => {
    expect(leftoverTestNetns()).toEqual([]);
  });

  // the Debian package speaks up to 1.0.0 and has only the iptables backend
  const conf = (): Record<string, unknown> => env.conf({ cniVersion: '1.0.0', extra: { ipMasq: true } });

  it('a pod added by the Go bridge passes our CHECK and is fully removed by our DEL', async () => {
    const pod = env.pod();
    const id = cid('go-made');
    const res = ok(await env.call({ command: 'ADD', conf: conf(), pod, containerId: id, go: true }));
    const chain = iptablesChainName('cbr0', id);
    expect(env.rules()).toContain(chain);
    expect(env.leases()).toEqual(['10.244.1.2']);
    ok(await env.call({ command: 'CHECK', conf: { ...conf(), prevResult: res }, pod, containerId: id }));
    ok(await env.call({ command: 'DEL', conf: { ...conf(), prevResult: res }, pod, containerId: id }));
    expect(podHasLink(pod)).toBe(false);
    expect(env.vethsOnHost()).toEqual([]);
    expect(env.leases()).toEqual([]);
    expect(env.rules()).not.toContain(chain);
  });

  it('a pod added by ours passes the Go CHECK and is fully removed by the Go DEL', async () => {
    const pod = env.pod();
    const id = cid('ts-made');
    // no gateway-less IPAM routes here: the Go CHECK fails on those even after its own ADD
    // (it looks for the route with no gateway, ADD installed it through the gateway)
    const c = env.conf({ cniVersion: '1.0.0', extra: { ipMasq: true }, ipam: { routes: [{ dst: '10.96.0.0/12', gw: '10.244.1.1' }] } });
    const res = ok(await env.call({ command: 'ADD', conf: c, pod, containerId: id }));
    const chain = iptablesChainName('cbr0', id);
    expect(env.rules()).toContain(chain);
    ok(await env.call({ command: 'CHECK', conf: { ...c, prevResult: res }, pod, containerId: id, go: true }));
    ok(await env.call({ command: 'DEL', conf: { ...c, prevResult: res }, pod, containerId: id, go: true }));
    expect(podHasLink(pod)).toBe(false);
    expect(env.vethsOnHost()).toEqual([]);
    expect(env.leases()).toEqual([]);
    expect(env.rules()).not.toContain(chain);
  });

  it('pods of both plugins share the bridge and reach each other', async () => {
    const a = env.pod();
    const b = env.pod();
    ok(await env.call({ command: 'ADD', conf: conf(), pod: a, containerId: 'go-pod', go: true }));
    ok(await env.call({ command: 'ADD', conf: conf(), pod: b, containerId: 'ts-pod' }));
    expect(await pingFrom(a, '10.244.1.3')).toBe(true);
    expect(await pingFrom(b, '10.244.1.2')).toBe(true);
    expect(await pingFrom(b, '10.244.1.1')).toBe(true);
    ok(await env.call({ command: 'DEL', conf: conf(), pod: a, containerId: 'go-pod' }));
    ok(await env.call({ command: 'DEL', conf: conf(), pod: b, containerId: 'ts-pod', go: true }));
    expect(env.leases()).toEqual([]);
    expect(env.rules()).not.toContain('CNI-');
  });

  it('after the namespace is gone, our DEL removes the rules and lease of a Go-made pod (the Go DEL leaks the rules)', async () => {
    const mine = env.pod();
    const theirs = env.pod();
    ok(await env.call({ command: 'ADD', conf: conf(), pod: mine, containerId: 'gone-ours', go: true }));
    ok(await env.call({ command: 'ADD', conf: conf(), pod: theirs, containerId: 'gone-go', go: true }));
    execFileSync('ip', ['netns', 'del', mine.name]);
    execFileSync('ip', ['netns', 'del', theirs.name]);
    ok(await env.call({ command: 'DEL', conf: conf(), pod: mine.path, containerId: 'gone-ours' }));
    ok(await env.call({ command: 'DEL', conf: conf(), pod: theirs.path, containerId: 'gone-go', go: true }));
    const rules = env.rules();
    expect(rules).not.toContain(iptablesChainName('cbr0', 'gone-ours'));
    // the reference's hole (containernetworking/plugins#810), kept here as evidence
    expect(rules).toContain(iptablesChainName('cbr0', 'gone-go'));
    // and ours cleans up after it, too
    ok(await env.call({ command: 'DEL', conf: conf(), pod: theirs.path, containerId: 'gone-go' }));
    expect(env.rules()).not.toContain(iptablesChainName('cbr0', 'gone-go'));
    expect(env.leases()).toEqual([]);
  });
});
