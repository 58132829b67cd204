/**
 * bandwidth's commands on a fake netlink: the order of ADD's steps and its
 * rollback when a step fails (only what this ADD made, newest first), the
 * result, the pass-through cases, and STATUS's code 50.
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { CniError } from '../../../lib/cni/errors.ts';
import type { CmdArgs } from '../../../lib/cni/skel.ts';
import type { Link, Netlink } from '../../../lib/netlink/index.ts';
import { cmdAdd, cmdStatus } from '../../../plugins/bandwidth/commands.ts';
import type { BandwidthDeps } from '../../../plugins/bandwidth/deps.ts';

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'veth1', mac: '02:00:00:00:00:01' },
    { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/run/netns/p' },
  ],
  ips: [{ address: '10.1.0.2/24', interface: 1 }],
};
const BOTH = { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 8_000_000, egressBurst: 800_000 };

function args(extra: Record<string, unknown>): CmdArgs & { warnings: string[] } {
  const conf: NetConf = { cniVersion: '1.0.0', name: 'mynet', type: 'bandwidth', ...extra };
  const warnings: string[] = [];
  return { command: 'ADD', containerId: 'ctr1', netns: '/run/netns/p', ifName: 'eth0', args: '', path: [], stdinData: Buffer.from(JSON.stringify(conf)), conf, env: {}, log: { warn: (m: string) => warnings.push(m) }, warnings } as unknown as CmdArgs & { warnings: string[] };
}

const flags = { up: true } as Link['flags'];
const VETH: Link = { kind: 'veth', index: 7, name: 'veth1', mtu: 1450, flags, operstate: 'up', linkType: 1 };

function deps(log: string[], failAt?: string, psched = '000003e8 00000040 000f4240 3b9aca00\n'): BandwidthDeps {
  const step = (name: string): Promise<void> => {
    log.push(name);
    return failAt === name ? Promise.reject(new Error(`${name} refused`)) : Promise.resolve();
  };
  const host = {
    linkByIndex: (i: number) => Promise.resolve(i === 7 ? VETH : undefined),
    linkByName: () => Promise.resolve(undefined),
    linkAddIfb: (o: { name: string; mtu?: number; txqlen?: number }) =>
      step(`ifb ${o.name} mtu ${o.mtu} txqlen ${o.txqlen}`).then(() => ({ kind: 'other', infoKind: 'ifb', index: 9, name: o.name, mtu: 1450, mac: '02:aa:00:00:00:09', flags, operstate: 'up', linkType: 1 })),
    linkSetAlias: (_l: unknown, a: string) => step(`alias ${a}`),
    linkDel: (l: { name?: string }) => step(`del link ${l.name}`),
    qdiscAddTbf: (o: { link: { name?: string }; rate: bigint; limit: number; buffer: number }) => step(`tbf ${o.link.name} ${o.rate} ${o.limit} ${o.buffer}`),
    qdiscAddIngress: (l: { name?: string }) => step(`ingress ${l.name}`),
    qdiscDel: (q: { link: { name?: string }; handle: number }) => step(`del qdisc ${q.link.name} ${q.handle.toString(16)}`),
    filterAddU32Redirect: (o: { link: { name?: string }; mirred: { action: number; ifindex: number }[] }) => step(`filter ${o.link.name} -> ${o.mirred.map((m) => `${m.ifindex}/${m.action}`).join(',')}`),
    qdiscList: () => Promise.resolve([]),
    close: () => undefined,
  } as unknown as Netlink;
  const inPod = { linkByName: (n: string) => Promise.resolve(n === 'eth0' ? { ...VETH, index: 2, name: 'eth0', peerIndex: 7 } : undefined), close: () => undefined } as unknown as Netlink;
  return { openHostNetlink: () => Promise.resolve(host), openNetnsNetlink: () => Promise.resolve(inPod), readPsched: () => psched };
}

describe('bandwidth ADD', () => {
  it('makes the reference\'s objects in its order and returns prevResult plus the ifb', async () => {
    const log: string[] = [];
    const res = await cmdAdd(args({ ...BOTH, prevResult: PREV }), deps(log));
    expect(log).toEqual([
      'tbf veth1 1000000 125000 1562500',
      'ifb bwp5145007e2a84 mtu 1450 txqlen 0',
      'alias cni-bandwidth net=mynet',
      'ingress veth1',
      'filter veth1 -> 9/4,9/0',
      'tbf bwp5145007e2a84 1000000 125000 1562500',
    ]);
    expect(res.interfaces?.[2]).toEqual({ name: 'bwp5145007e2a84', mac: '02:aa:00:00:00:09' });
  });

  it.each([
    ['the filter', 'filter veth1 -> 9/4,9/0', ['del qdisc veth1 ffff0000', 'del link bwp5145007e2a84', 'del qdisc veth1 10000']],
    ['the ifb', 'ifb bwp5145007e2a84 mtu 1450 txqlen 0', ['del qdisc veth1 10000']],
    ['the ingress tbf', 'tbf veth1 1000000 125000 1562500', []],
  ])('a failing step (%s) undoes what came before it, newest first', async (_what, failAt, undo) => {
    const log: string[] = [];
    await expect(cmdAdd(args({ ...BOTH, prevResult: PREV }), deps(log, failAt))).rejects.toMatchObject({ code: 999 });
    expect(log.slice(log.indexOf(failAt) + 1)).toEqual(undo);
  });

  it('passes prevResult through without bandwidth, and needs prevResult (code 7)', async () => {
    const log: string[] = [];
    expect(await cmdAdd(args({ prevResult: PREV }), deps(log))).toMatchObject({ interfaces: PREV.interfaces });
    await expect(cmdAdd(args(BOTH), deps(log))).rejects.toMatchObject({ code: 7, msg: 'must be called as chained plugin' });
    expect(log).toEqual([]);
  });
});

describe('bandwidth STATUS', () => {
  it('code 50 when the scheduler clock is unreadable', async () => {
    const err = await cmdStatus(args({}), deps([], undefined, 'garbage')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({ code: 50 });
    await expect(cmdStatus(args({}), deps([]))).resolves.toBeUndefined();
  });
});
