import { describe, expect, it } from 'vitest';
import { CniError } from '../../../lib/cni/errors.ts';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { loadBandwidthConfig } from '../../../plugins/bandwidth/config.ts';

function load(text: string, teardown = false) {
  const conf = JSON.parse(text) as NetConf;
  return loadBandwidthConfig(conf, Buffer.from(text), { teardown });
}

function codeOf(fn: () => unknown): { code: number; msg: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.msg };
    throw err;
  }
  throw new Error('did not throw');
}

const base = '"cniVersion":"1.0.0","name":"net","type":"bandwidth"';

describe('bandwidth config', () => {
  it('reads the top-level keys', () => {
    expect(load(`{${base},"ingressRate":8000000,"ingressBurst":800000}`).bandwidth).toEqual({ ingressRate: 8_000_000n, ingressBurst: 800_000n, egressRate: 0n, egressBurst: 0n });
  });

  it('reads runtimeConfig.bandwidth with containerd\'s capitalised keys, exactly past 2^53', () => {
    const c = load(`{${base},"runtimeConfig":{"bandwidth":{"IngressRate":18446744073709551615,"IngressBurst":4294967295,"EgressRate":9007199254740993,"EgressBurst":4294967295}}}`);
    expect(c.bandwidth).toEqual({ ingressRate: 18446744073709551615n, ingressBurst: 4_294_967_295n, egressRate: 9007199254740993n, egressBurst: 4_294_967_295n });
  });

  it('prefers any top-level key over runtimeConfig (the reference\'s getBandwidth)', () => {
    const c = load(`{${base},"egressRate":0,"runtimeConfig":{"bandwidth":{"ingressRate":1000,"ingressBurst":1000}}}`);
    expect(c.bandwidth).toEqual({ ingressRate: 0n, ingressBurst: 0n, egressRate: 0n, egressBurst: 0n });
  });

  it('no keys: no bandwidth', () => {
    expect(load(`{${base}}`).bandwidth).toBeUndefined();
    expect(load(`{${base},"runtimeConfig":{"bandwidth":null}}`).bandwidth).toBeUndefined();
  });

  it.each([
    ['a rate without a burst', '"ingressRate":1000', 'if rate is set, burst must also be set'],
    ['a burst without a rate', '"egressBurst":1000', 'if burst is set, rate must also be set'],
    ['a burst of 4 GB', '"ingressRate":1000,"ingressBurst":34359738360', 'burst cannot be more than 4GB'],
    ['a negative rate', '"ingressRate":-1,"ingressBurst":1', '"ingressRate" must be an unsigned 64-bit integer'],
    ['a fractional rate', '"ingressRate":1.5,"ingressBurst":1', '"ingressRate" must be an unsigned 64-bit integer'],
    ['a rate past 2^64', '"ingressRate":18446744073709551616,"ingressBurst":1', 'must be an unsigned 64-bit integer'],
    ['a string', '"ingressRate":"1M","ingressBurst":1', 'must be an unsigned 64-bit integer'],
  ])('refuses %s with code 7', (_what, keys, msg) => {
    const e = codeOf(() => load(`{${base},${keys}}`));
    expect(e.code).toBe(7);
    expect(e.msg).toContain(msg);
  });

  it('the largest burst the reference allows', () => {
    expect(load(`{${base},"ingressRate":1000,"ingressBurst":34359738359}`).bandwidth?.ingressBurst).toBe(34359738359n);
  });

  it('teardown ignores bad values and a bad prevResult', () => {
    const c = load(`{${base},"ingressRate":1000,"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"x"}]}}`, true);
    expect(c.bandwidth).toBeUndefined();
    expect(c.prevResult).toBeUndefined();
  });

  it('reads the GC lists', () => {
    const c = load(`{"cniVersion":"1.1.0","name":"net","type":"bandwidth","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}`);
    expect(c.validAttachments).toEqual([{ containerId: 'a', ifName: 'eth0' }]);
  });
});
