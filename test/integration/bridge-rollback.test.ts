/**
 * Rollback of a failed ADD, step by step: the plugin runs in-process with a
 * scratch namespace injected as its "host" (netlink, sysctls, iptables/nft
 * all aimed there) and lib/fault.ts's seam failing the ADD after a chosen step
 * (CNI_TS_FAULT=bridge:<step>:fail).
 * After every step, with masquerade, spoof check and dual stack on, the
 * failed ADD must leave no container link, no host veth, no lease and no rule.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPlugin } from '../../lib/cni/skel.ts';
import { IpMasq } from '../../lib/ipmasq/index.ts';
import { type CommandRunner, execRunner } from '../../lib/ipmasq/run.ts';
import { SpoofCheck } from '../../lib/ipmasq/spoofcheck.ts';
import { iptablesChainName, nftComment } from '../../lib/ipmasq/names.ts';
import { openNetlink } from '../../lib/netlink/index.ts';
import { Netns, netnsReady } from '../../lib/netns/index.ts';
import { ADD_STEPS, type AddStep } from '../../plugins/bridge/deps.ts';
import { createBridgePlugin } from '../../plugins/bridge/index.ts';
import { netnsSysctl } from '../../plugins/bridge/sysctl.ts';
import { BridgeEnv } from '../helpers/bridge.ts';
import { BIN_DIR } from '../helpers/exec.ts';
import { type TestNetns, ipJson, isRoot, leftoverTestNetns } from '../helpers/netns.ts';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

let env: BridgeEnv;
let hostNs: Netns;
beforeEach(async () => {
  env = new BridgeEnv();
  await netnsReady();
  hostNs = env.ns.track(Netns.open(env.host.path));
});
afterEach(() => env.cleanup());
afterAll(() => {
  expect(leftoverTestNetns()).toEqual([]);
});

async function run(o: { command: 'ADD' | 'DEL'; conf: Record<string, unknown>; pod: TestNetns; containerId: string; failAfter?: AddStep }): Promise<Outcome> {
  const inHost: CommandRunner = (cmd, args, input) => execRunner('ip', ['netns', 'exec', env.host.name, cmd, ...args], input);
  const plugin = createBridgePlugin({
    openHostNetlink: () => openNetlink(hostNs),
    hostSysctl: () => netnsSysctl(hostNs),
    masq: new IpMasq(inHost),
    spoof: new SpoofCheck(inHost),
  });
  let stdout = '';
  let stderr = '';
  const code = await runPlugin(plugin, {
    env: {
      CNI_COMMAND: o.command,
      CNI_CONTAINERID: o.containerId,
      CNI_NETNS: o.pod.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: BIN_DIR,
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin',
      ...(o.failAfter === undefined ? {} : { CNI_TS_FAULT: `bridge:${o.failAfter}:fail` }),
    },
    readStdin: () => Promise.resolve(Buffer.from(JSON.stringify(o.conf))),
    writeStdout: (t) => {
      stdout += t;
    },
    writeStderr: (t) => {
      stderr += t;
    },
  });
  return { code, stdout, stderr };
}

const skip = !isRoot();

describe.skipIf(skip)('ADD rollback', () => {
  const conf = (): Record<string, unknown> =>
    env.conf({ cniVersion: '1.1.0', subnets: ['10.244.1.0/24', 'fd00:10:244:1::/64'], extra: { ipMasq: true, macspoofchk: true } });

  it('the in-process harness works end to end (ADD, then DEL)', async () => {
    const pod = env.pod();
    const add = await run({ command: 'ADD', conf: conf(), pod, containerId: 'inproc' });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(env.rules()).toContain(iptablesChainName('cbr0', 'inproc'));
    expect(env.rules()).toContain('macspoofchk-inproc-eth0');
    const del = await run({ command: 'DEL', conf: conf(), pod, containerId: 'inproc' });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(env.rules()).not.toContain('inproc');
    expect(env.leases()).toEqual([]);
  });

  it.each(ADD_STEPS)('a failure after the "%s" step leaves nothing of this pod behind', async (step) => {
    const pod = env.pod();
    const id = `fail-${step}`;
    const before = ipJson<{ ifname: string }[]>(env.host, 'link', 'show').map((l) => l.ifname);
    const r = await run({ command: 'ADD', conf: conf(), pod, containerId: id, failAfter: step });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 999, msg: `injected failure after ${step}` });
    expect(r.stderr).not.toContain('rollback:');
    expect(ipJson<{ ifname: string }[]>(pod, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
    expect(env.vethsOnHost()).toEqual([]);
    // only shared things may stay: the bridge (and nothing else new)
    const after = ipJson<{ ifname: string }[]>(env.host, 'link', 'show').map((l) => l.ifname);
    expect(after.filter((n) => !before.includes(n) && n !== 'cni0')).toEqual([]);
    expect(env.leases()).toEqual([]);
    const rules = env.rules();
    expect(rules).not.toContain(iptablesChainName('cbr0', id));
    expect(rules).not.toContain(nftComment('cbr0', 'eth0', id));
    expect(rules).not.toContain(`macspoofchk-${id}`);
  });
});
