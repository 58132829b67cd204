/**
 * ADD, DEL, CHECK, GC and STATUS against the in-memory store: dual stack,
 * rollback of a partial ADD, release rules (exact, legacy, repeated DEL),
 * CHECK against prevResult, GC's never-guess rule, STATUS codes.
 */
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../lib/cni/skel.ts';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamStatus, type CommandConfig } from '../../../ipam/host-local/commands.ts';
import { loadIpamConfig } from '../../../ipam/host-local/config.ts';
import { type IP, formatIp, parseIp } from '../../../lib/ip.ts';
import { MemoryStore } from '../../../ipam/host-local/memory-store.ts';
import type { Attachment } from '../../../ipam/host-local/store.ts';
import { cniErrorOf, cniErrorOfAsync } from '../../helpers/errors.ts';

function ip(s: string): IP {
  const v = parseIp(s);
  if (v === undefined) throw new Error(s);
  return v;
}

function cfg(ranges: unknown[][], cniArgs = ''): CommandConfig {
  return loadIpamConfig({ cniVersion: '1.1.0', name: 'net', type: 'host-local', ipam: { type: 'host-local', ranges, dataDir: '/nonexistent' } }, cniArgs);
}

const DUAL = cfg([[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/120' }]]);
const A: Attachment = { containerId: 'ctr-a', ifName: 'eth0' };
const B: Attachment = { containerId: 'ctr-b', ifName: 'eth0' };

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (m) => lines.push(m) };
}

function held(store: MemoryStore): string[] {
  return store
    .leases()
    .leases.map((l) => `${formatIp(l.ip)}=${l.owner.containerId}/${l.owner.ifName ?? '-'}`)
    .sort();
}

describe('ipamAdd', () => {
  it('takes one address per range set with its gateway and prefix', async () => {
    const store = new MemoryStore();
    expect(await ipamAdd(DUAL, store, A)).toEqual([
      { address: '10.0.0.2/24', gateway: '10.0.0.1' },
      { address: 'fd00::2/120', gateway: 'fd00::1' },
    ]);
    expect(store.lockCount).toBe(1); // one hold of the lock for the whole ADD
  });

  it('releases what this call took when a later set fails, and nothing else', async () => {
    const store = new MemoryStore();
    store.seed(ip('fd00::2'), { containerId: 'x', ifName: 'eth0' });
    const c = cfg([[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/126' }]]);
    store.seed(ip('fd00::3'), { containerId: 'ctr-a', ifName: 'eth9' });
    const e = await cniErrorOfAsync(() => ipamAdd(c, store, A));
    expect(e.code).toBe(999);
    expect(e.msg).toBe('failed to allocate for range 1: no IP addresses available in range set: fd00::1-fd00::3');
    expect(held(store)).toEqual(['fd00::2=x/eth0', 'fd00::3=ctr-a/eth9']);
  });

  it('refuses requested addresses no set holds before touching the store', async () => {
    const store = new MemoryStore();
    const e = await cniErrorOfAsync(() => ipamAdd(cfg([[{ subnet: '10.0.0.0/24' }]], 'IP=10.0.0.5,10.0.0.6'), store, A));
    expect(e.msg).toBe('failed to allocate all requested IPs: 10.0.0.6');
    expect(store.lockCount).toBe(0);
    expect(held(store)).toEqual([]);
  });

  it('honours requested addresses per family', async () => {
    const store = new MemoryStore();
    const c = cfg([[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/120' }]], 'IP=fd00::50,10.0.0.50');
    expect((await ipamAdd(c, store, A)).map((x) => x.address)).toEqual(['10.0.0.50/24', 'fd00::50/120']);
  });

  it('a duplicate ADD after a requested one keeps the first lease', async () => {
    const store = new MemoryStore();
    await ipamAdd(DUAL, store, A);
    const c = cfg([[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/120' }]], 'IP=10.0.0.9');
    // set 0 takes the requested .9, set 1 refuses the duplicate: .9 goes back, the first ADD's leases stay
    expect((await cniErrorOfAsync(() => ipamAdd(c, store, A))).msg).toBe('failed to allocate for range 1: fd00::2 has been allocated to ctr-a, duplicate allocation is not allowed');
    expect(held(store)).toEqual(['10.0.0.2=ctr-a/eth0', 'fd00::2=ctr-a/eth0']);
  });
});

describe('ipamDel', () => {
  it('releases every lease of the attachment and only those; repeating it succeeds', async () => {
    const store = new MemoryStore();
    await ipamAdd(DUAL, store, A);
    await ipamAdd(DUAL, store, B);
    await ipamAdd(DUAL, store, { containerId: 'ctr-a', ifName: 'eth1' });
    const log = recorder();
    await ipamDel(DUAL, store, A, log);
    expect(held(store)).toEqual(['10.0.0.3=ctr-b/eth0', '10.0.0.4=ctr-a/eth1', 'fd00::3=ctr-b/eth0', 'fd00::4=ctr-a/eth1']);
    await ipamDel(DUAL, store, A, log);
    await ipamDel(DUAL, store, { containerId: 'never', ifName: 'eth0' }, log);
    expect(log.lines).toEqual([]);
  });

  it('falls back to legacy container-id leases only when no exact lease exists (the reference rule)', async () => {
    const store = new MemoryStore();
    store.seed(ip('10.0.0.5'), { containerId: 'old', ifName: undefined });
    store.seed(ip('10.0.0.6'), { containerId: 'mixed', ifName: undefined });
    store.seed(ip('10.0.0.7'), { containerId: 'mixed', ifName: 'eth0' });
    await ipamDel(DUAL, store, { containerId: 'old', ifName: 'eth0' }, recorder());
    await ipamDel(DUAL, store, { containerId: 'mixed', ifName: 'eth0' }, recorder());
    expect(held(store)).toEqual(['10.0.0.6=mixed/-']);
  });

  it('releases also leases outside the configured ranges (a changed config)', async () => {
    const store = new MemoryStore();
    store.seed(ip('192.168.5.5'), A);
    await ipamDel(DUAL, store, A, recorder());
    expect(held(store)).toEqual([]);
  });

  it('tries every lease and reports all failures together', async () => {
    class Stubborn extends MemoryStore {
      override release(x: IP): void {
        if (formatIp(x) !== '10.0.0.2') throw new Error('EIO: i/o error');
        super.release(x);
      }
    }
    const store = new Stubborn();
    store.seed(ip('10.0.0.2'), A);
    store.seed(ip('10.0.0.3'), A);
    store.seed(ip('fd00::3'), A);
    const e = await cniErrorOfAsync(() => ipamDel(DUAL, store, A, recorder()));
    expect(e.msg).toBe('failed to release 2 of 3 addresses of container ctr-a interface eth0: 10.0.0.3: EIO: i/o error; fd00::3: EIO: i/o error');
    expect(held(store)).toEqual(['10.0.0.3=ctr-a/eth0', 'fd00::3=ctr-a/eth0']);
  });
});

describe('ipamCheck', () => {
  it('passes when prevResult lists exactly the reserved addresses (other addresses ignored)', async () => {
    const store = new MemoryStore();
    await ipamAdd(DUAL, store, A);
    await ipamCheck(DUAL, store, A, [ip('10.0.0.2'), ip('fd00::2'), ip('192.168.1.1')]);
    await ipamCheck(DUAL, store, A, undefined);
  });

  it.each([
    ['no lease at all', [] as string[], [ip('10.0.0.2')], 'host-local: Failed to find address added by container ctr-a'],
    ['no lease in one set', ['10.0.0.2'], [ip('10.0.0.2')], 'host-local: no address reserved for container ctr-a interface eth0 in range set 1 (fd00::1-fd00::ff)'],
    ['an address held by someone else', ['10.0.0.2', 'fd00::2'], [ip('10.0.0.3'), ip('fd00::2')], 'host-local: address 10.0.0.3 in prevResult is not reserved for container ctr-a interface eth0: it is reserved by container ctr-b interface eth0'],
    ['an address nobody holds', ['10.0.0.2', 'fd00::2'], [ip('10.0.0.2'), ip('fd00::9')], 'host-local: address fd00::9 in prevResult is not reserved for container ctr-a interface eth0: nobody holds it'],
    ['a reserved address missing from prevResult', ['10.0.0.2', 'fd00::2'], [ip('10.0.0.2')], 'host-local: address fd00::2 reserved for container ctr-a interface eth0 is missing from prevResult'],
  ])('fails for %s', async (_what, mine, prev, msg) => {
    const store = new MemoryStore();
    for (const m of mine) store.seed(ip(m), A);
    store.seed(ip('10.0.0.3'), B);
    expect((await cniErrorOfAsync(() => ipamCheck(DUAL, store, A, prev))).msg).toBe(msg);
  });

  it('accepts legacy leases of the container', async () => {
    const store = new MemoryStore();
    store.seed(ip('10.0.0.2'), { containerId: 'ctr-a', ifName: undefined });
    await ipamCheck(cfg([[{ subnet: '10.0.0.0/24' }]]), store, A, [ip('10.0.0.2')]);
  });
});

describe('ipamGc', () => {
  function populated(): MemoryStore {
    const store = new MemoryStore();
    store.seed(ip('10.0.0.2'), A);
    store.seed(ip('10.0.0.3'), B);
    store.seed(ip('10.0.0.4'), { containerId: 'ctr-a', ifName: 'eth1' });
    store.seed(ip('10.0.0.5'), { containerId: 'legacy-live', ifName: undefined });
    store.seed(ip('10.0.0.6'), { containerId: 'legacy-dead', ifName: undefined });
    store.seed(ip('10.0.0.7'), { containerId: '', ifName: undefined }); // an empty file left by a crashed Go plugin
    return store;
  }

  it('releases every lease whose attachment is not valid; a legacy lease is valid for any interface of its container', async () => {
    const store = populated();
    await ipamGc(DUAL, store, [A, { containerId: 'legacy-live', ifName: 'eth0' }], recorder());
    expect(held(store)).toEqual(['10.0.0.2=ctr-a/eth0', '10.0.0.5=legacy-live/-']);
  });

  it('releases nothing when the request carries no attachment list (never guess)', async () => {
    const store = populated();
    const log = recorder();
    await ipamGc(DUAL, store, undefined, log);
    expect(held(store)).toHaveLength(6);
    expect(store.lockCount).toBe(0);
    expect(log.lines[0]).toContain('nothing is released');
  });

  it('releases everything for an empty list', async () => {
    const store = populated();
    await ipamGc(DUAL, store, [], recorder());
    expect(held(store)).toEqual([]);
  });

  it('keeps going past a lease it cannot release and reports it', async () => {
    class Stubborn extends MemoryStore {
      override release(x: IP): void {
        if (formatIp(x) === '10.0.0.3') throw new Error('EACCES: permission denied');
        super.release(x);
      }
    }
    const store = new Stubborn();
    store.seed(ip('10.0.0.2'), A);
    store.seed(ip('10.0.0.3'), B);
    store.seed(ip('10.0.0.4'), B);
    const e = await cniErrorOfAsync(() => ipamGc(DUAL, store, [], recorder()));
    expect(e.msg).toBe('GC of network net in /nonexistent/net: 1 lease(s) not released: 10.0.0.3: EACCES: permission denied');
    expect(held(store)).toEqual(['10.0.0.3=ctr-b/eth0']);
  });
});

describe('ipamStatus', () => {
  it('is ready with a free address, warning about a full set', async () => {
    const store = new MemoryStore();
    const c = cfg([[{ subnet: '10.0.0.0/30' }], [{ subnet: 'fd00::/120' }]]);
    const log = recorder();
    ipamStatus(c, store, log);
    expect(log.lines).toEqual([]);
    await ipamAdd(c, store, A);
    ipamStatus(c, store, log);
    expect(log.lines).toEqual(['STATUS: range set 0 (10.0.0.1-10.0.0.2) of network net has no free address']);
  });

  it('answers 50 when every set is full', async () => {
    const store = new MemoryStore();
    const c = cfg([[{ subnet: '10.0.0.0/30' }]]);
    await ipamAdd(c, store, A);
    const e = cniErrorOf(() => ipamStatus(c, store, recorder()));
    expect(e.code).toBe(50);
    expect(e.msg).toBe('host-local: no IP addresses available in range set: 10.0.0.1-10.0.0.2');
  });

  it('answers 50 when the store is unusable', () => {
    const store = new MemoryStore();
    store.brokenReason = 'EROFS: read-only file system';
    const e = cniErrorOf(() => ipamStatus(DUAL, store, recorder()));
    expect(e.code).toBe(50);
    expect(e.msg).toBe('host-local: data directory /nonexistent/net is not usable: EROFS: read-only file system');
  });
});
