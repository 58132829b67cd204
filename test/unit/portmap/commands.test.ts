/**
 * portmap's commands with fake backends: which backend ADD picks, the order
 * of its steps and their rollback, the UDP flush and route_localnet, DEL's
 * fast path and best effort over both backends, CHECK's families, GC's
 * attachment list and STATUS's code 50.
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import type { CmdArgs } from '../../../lib/cni/skel.ts';
import type { Netlink } from '../../../lib/netlink/index.ts';
import type { PortBackend } from '../../../plugins/portmap/backend.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from '../../../plugins/portmap/commands.ts';
import type { PortmapDeps } from '../../../plugins/portmap/deps.ts';

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', sandbox: '/run/netns/p' }],
  ips: [
    { address: '10.88.0.5/24', interface: 0 },
    { address: 'fd00::5/64', interface: 0 },
  ],
};
const MAPS = { runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }] } };

function args(extra: Record<string, unknown>, cniVersion = '1.0.0'): CmdArgs & { warnings: string[] } {
  const conf: NetConf = { cniVersion, name: 'mynet', type: 'portmap', ...extra };
  const warnings: string[] = [];
  return { command: 'ADD', containerId: 'ctr1', netns: '/run/netns/p', ifName: 'eth0', args: '', path: [], stdinData: Buffer.from(JSON.stringify(conf)), conf, env: {}, log: { warn: (m: string) => warnings.push(m) }, warnings } as unknown as CmdArgs & { warnings: string[] };
}

function fakeBackend(name: 'iptables' | 'nftables', log: string[], opts: { usable?: boolean; failSetup?: 4 | 6; problems?: string[]; failTeardown?: boolean } = {}): PortBackend {
  return {
    name,
    usable: () => Promise.resolve(opts.usable ?? true),
    setup: (_cfg, cid, c) => {
      log.push(`${name} setup ${cid} ${c.cidr}`);
      return opts.failSetup === c.family ? Promise.reject(new Error('boom')) : Promise.resolve();
    },
    teardownFamily: (a, f) => {
      log.push(`${name} undo ${a.containerId} ${f}`);
      return Promise.resolve();
    },
    teardown: (a, scope) => {
      log.push(`${name} teardown ${a.network}/${a.containerId} ports ${scope.hostPorts.join(',')}`);
      return opts.failTeardown === true ? Promise.reject(new Error('cannot run')) : Promise.resolve();
    },
    check: (_cfg, _cid, c) => {
      log.push(`${name} check ${c.family}`);
      return Promise.resolve(opts.problems ?? []);
    },
    gc: (network, valid) => {
      log.push(`${name} gc ${network} ${[...valid].join(',')}`);
      return Promise.resolve();
    },
  };
}

function deps(log: string[], o: { ipt?: Parameters<typeof fakeBackend>[2]; nft?: Parameters<typeof fakeBackend>[2]; sysctlFails?: boolean } = {}): PortmapDeps {
  const nl = {
    routeGet: (ip: string) => Promise.resolve({ family: 4, dst: `${ip}/32`, linkIndex: 3, table: 254, scope: 'universe', protocol: 0, type: 'unicast' }),
    linkByIndex: () => Promise.resolve({ name: 'cni0' }),
    close: () => undefined,
  } as unknown as Netlink;
  return {
    iptables: fakeBackend('iptables', log, o.ipt),
    nftables: fakeBackend('nftables', log, o.nft),
    openHostNetlink: () => Promise.resolve(nl),
    setSysctl: (k, v) => {
      if (o.sysctlFails === true) throw new Error('read-only file system');
      log.push(`sysctl ${k}=${v}`);
    },
    conntrackDelete: (f, proto, ports) => {
      log.push(`conntrack ${f} ${proto} ${ports.join(',')}`);
      return Promise.resolve(0);
    },
  };
}

describe('portmap commands', () => {
  it('ADD: iptables when usable, rules per family, UDP flush, route_localnet, prevResult back', async () => {
    const log: string[] = [];
    const r = await cmdAdd(args({ ...MAPS, prevResult: PREV }), deps(log));
    expect(r).toMatchObject({ ips: PREV.ips });
    expect(log).toEqual(['iptables setup ctr1 10.88.0.5/24', 'iptables setup ctr1 fd00::5/64', 'conntrack 4 17 5353', 'conntrack 6 17 5353', 'sysctl net/ipv4/conf/cni0/route_localnet=1']);
  });

  it('ADD: nftables when iptables cannot run; nothing at all without mappings', async () => {
    const log: string[] = [];
    await cmdAdd(args({ ...MAPS, prevResult: PREV, snat: false }), deps(log, { ipt: { usable: false } }));
    expect(log.filter((l) => l.includes('setup'))).toEqual(['nftables setup ctr1 10.88.0.5/24', 'nftables setup ctr1 fd00::5/64']);
    const quiet: string[] = [];
    await cmdAdd(args({ prevResult: PREV }), deps(quiet));
    expect(quiet).toEqual([]);
  });

  it('ADD rolls back the families it set up when a later step fails', async () => {
    const log: string[] = [];
    await expect(cmdAdd(args({ ...MAPS, prevResult: PREV }), deps(log, { ipt: { failSetup: 6 } }))).rejects.toMatchObject({ msg: 'failed to set up IPv6 port forwarding with iptables: boom' });
    expect(log).toEqual(['iptables setup ctr1 10.88.0.5/24', 'iptables setup ctr1 fd00::5/64', 'iptables undo ctr1 6', 'iptables undo ctr1 4']);
    const log2: string[] = [];
    await expect(cmdAdd(args({ ...MAPS, prevResult: PREV }), deps(log2, { sysctlFails: true }))).rejects.toMatchObject({ msg: 'unable to enable route_localnet: read-only file system' });
    expect(log2.slice(-2)).toEqual(['iptables undo ctr1 6', 'iptables undo ctr1 4']);
  });

  it('ADD without prevResult is code 7', async () => {
    await expect(cmdAdd(args(MAPS), deps([]))).rejects.toMatchObject({ code: 7, msg: 'must be called as chained plugin' });
  });

  it('DEL: both backends, no prevResult needed; a backend that cannot run is no error; no mappings: nothing', async () => {
    const log: string[] = [];
    await cmdDel(args(MAPS), deps(log, { nft: { usable: false, failTeardown: true } }));
    expect(log).toEqual(['iptables teardown mynet/ctr1 ports 8080,5353', 'nftables teardown mynet/ctr1 ports 8080,5353', 'conntrack 4 17 5353', 'conntrack 6 17 5353']);
    await expect(cmdDel(args(MAPS), deps([], { ipt: { failTeardown: true } }))).rejects.toMatchObject({ code: 999, msg: 'failed to remove the port forwarding rules' });
    const none: string[] = [];
    await cmdDel(args({}), deps(none));
    expect(none).toEqual([]);
  });

  it('CHECK: only the families of the pod; problems are an error; no prevResult is code 7', async () => {
    const log: string[] = [];
    await cmdCheck(args({ ...MAPS, prevResult: { ...PREV, ips: [PREV.ips[0]] } }), deps(log));
    expect(log).toEqual(['iptables check 4']);
    await expect(cmdCheck(args({ ...MAPS, prevResult: PREV }), deps([], { ipt: { problems: ['chain gone'] } }))).rejects.toMatchObject({ details: 'chain gone; chain gone' });
    await expect(cmdCheck(args(MAPS), deps([]))).rejects.toMatchObject({ code: 7, msg: 'Required prevResult missing' });
  });

  it('GC passes the valid container IDs to both backends; without the key it removes nothing', async () => {
    const log: string[] = [];
    await cmdGc(args({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'b', ifname: 'eth0' }] }, '1.1.0'), deps(log));
    expect(log).toEqual(['iptables gc mynet a,b', 'nftables gc mynet a,b']);
    const a = args({}, '1.1.0');
    const quiet: string[] = [];
    await cmdGc(a, deps(quiet));
    expect(quiet).toEqual([]);
    expect(a.warnings[0]).toMatch(/no rule is removed/);
  });

  it('STATUS: code 50 when the configured backend, or both, cannot run', async () => {
    await expect(cmdStatus(args({ backend: 'nftables' }, '1.1.0'), deps([], { nft: { usable: false } }))).rejects.toMatchObject({ code: 50 });
    await cmdStatus(args({}, '1.1.0'), deps([], { nft: { usable: false } }));
    await expect(cmdStatus(args({}, '1.1.0'), deps([], { ipt: { usable: false }, nft: { usable: false } }))).rejects.toMatchObject({ code: 50 });
  });
});
