/**
 * What each CNI command does to a Store, with the configuration already
 * parsed: no disk, no environment, no printing, so the unit tests run these
 * against MemoryStore. index.ts wires them to the DiskStore and the protocol.
 */
import type { Logger } from '../../lib/cni/skel.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { IPConfig } from '../../lib/cni/types/current.ts';
import type { IpamConfig } from './config.ts';
import { type Allocation, allocateFromSet, matchRequested } from './allocator.ts';
import { type IP, formatIp, ipEqual } from '../../lib/ip.ts';
import { freeCount, rangeSetContains, rangeSetToString } from './range-set.ts';
import { type Attachment, type Lease, type Store, describeOwner, isExactOwner, leasesOf } from './store.ts';

function internal(msg: string): CniError {
  return new CniError(CniCode.Internal, msg);
}

/**
 * `failed to allocate for range N: <reason>`. An expected refusal (a CniError:
 * exhaustion, duplicate, taken address) keeps no cause, so that the protocol
 * layer prints no stack trace for it; an unexpected error keeps it.
 */
function rangeError(idx: number, err: unknown): CniError {
  const prefix = `failed to allocate for range ${idx}`;
  if (err instanceof CniError) return new CniError(err.code, `${prefix}: ${err.msg}`, err.details);
  return CniError.wrap(prefix, err);
}

function describeAttachment(a: Attachment): string {
  return `container ${a.containerId} interface ${a.ifName}`;
}

/** The configuration fields the commands need (IpamConfig has more). */
export type CommandConfig = Pick<IpamConfig, 'name' | 'dir' | 'ranges' | 'requested'>;

/**
 * ADD: one address per range set (a requested one where given), all under
 * one hold of the lock. On any failure the addresses reserved by this call
 * (and only those) are released again.
 */
export async function ipamAdd(cfg: CommandConfig, store: Store, a: Attachment): Promise<IPConfig[]> {
  const { perSet, unmatched } = matchRequested(cfg.ranges, cfg.requested);
  if (unmatched.length > 0) throw internal(`failed to allocate all requested IPs: ${unmatched.map(formatIp).join(' ')}`);
  try {
    store.prepare(a, cfg.ranges.length);
  } catch (err) {
    store.discardPrepared();
    throw new CniError(CniCode.Internal, `host-local: cannot write a lease in ${cfg.dir}: ${(err as Error).message}`, '', { cause: err });
  }
  let done: Allocation[];
  try {
    done = await store.withLock(() => {
      const leases: Lease[] = [...store.leases().leases];
      const out: Allocation[] = [];
      for (const [idx, set] of cfg.ranges.entries()) {
        try {
          out.push(allocateFromSet({ store, set, rangeIndex: idx, attachment: a, requested: perSet[idx], leases }));
        } catch (err) {
          for (const got of out) {
            try {
              store.release(got.ip);
            } catch {
              // the error below is what matters; DEL or GC removes what is left
            }
          }
          throw rangeError(idx, err);
        }
      }
      return out;
    });
  } finally {
    store.discardPrepared();
  }
  return done.map((x) => ({ address: `${formatIp(x.ip)}/${x.range.subnet.prefix}`, gateway: formatIp(x.range.gateway) }));
}

/**
 * DEL: releases every lease of the attachment, whatever range set it is in,
 * by the reference's rule (exact leases, or legacy container-id leases only
 * when there are none). Nothing held is success. Every lease is attempted;
 * the failures are reported together.
 */
export async function ipamDel(_cfg: CommandConfig, store: Store, a: Attachment, log: Logger): Promise<void> {
  await store.withLock(() => {
    const listing = store.leases();
    for (const p of listing.problems) log.warn(`DEL: cannot read lease ${p.name}: ${p.error}`);
    const failures: string[] = [];
    const mine = leasesOf(listing.leases, a);
    for (const l of mine) {
      try {
        store.release(l.ip);
      } catch (err) {
        failures.push(`${formatIp(l.ip)}: ${(err as Error).message}`);
      }
    }
    if (failures.length > 0) {
      throw internal(`failed to release ${failures.length} of ${mine.length} addresses of ${describeAttachment(a)}: ${failures.join('; ')}`);
    }
  });
}

/**
 * CHECK: the attachment holds an address in every range set, and the
 * addresses `prevResult` lists in our ranges are exactly the ones it holds.
 * (The reference only looks for any lease of the container.)
 */
export async function ipamCheck(cfg: CommandConfig, store: Store, a: Attachment, prevIps: readonly IP[] | undefined): Promise<void> {
  await store.withLock(() => {
    const listing = store.leases();
    const mine = leasesOf(listing.leases, a);
    if (mine.length === 0) throw internal(`host-local: Failed to find address added by container ${a.containerId}`);
    for (const [idx, set] of cfg.ranges.entries()) {
      if (!mine.some((l) => rangeSetContains(set, l.ip))) {
        throw internal(`host-local: no address reserved for ${describeAttachment(a)} in range set ${idx} (${rangeSetToString(set)})`);
      }
    }
    if (prevIps === undefined) return;
    const ours = (ip: IP): boolean => cfg.ranges.some((set) => rangeSetContains(set, ip));
    for (const ip of prevIps) {
      if (!ours(ip) || mine.some((l) => ipEqual(l.ip, ip))) continue;
      const holder = listing.leases.find((l) => ipEqual(l.ip, ip));
      const who = holder === undefined ? 'nobody holds it' : `it is reserved by ${describeOwner(holder.owner)}`;
      throw internal(`host-local: address ${formatIp(ip)} in prevResult is not reserved for ${describeAttachment(a)}: ${who}`);
    }
    for (const l of mine) {
      if (ours(l.ip) && !prevIps.some((ip) => ipEqual(ip, l.ip))) {
        throw internal(`host-local: address ${formatIp(l.ip)} reserved for ${describeAttachment(a)} is missing from prevResult`);
      }
    }
  });
}

/** True when a lease's owner is among the valid attachments (a legacy lease matches any interface of its container). */
function isValid(l: Lease, valid: readonly Attachment[]): boolean {
  if (l.owner.ifName === undefined) return valid.some((v) => v.containerId === l.owner.containerId);
  return valid.some((v) => isExactOwner(l.owner, v));
}

/**
 * GC: releases every lease of this network whose owner is not a valid
 * attachment. `valid` undefined (no attachment list in the request) releases
 * nothing: without the runtime's list every lease could be live. An empty
 * list is the runtime saying no attachment is valid: everything goes. Per-lease
 * failures are collected and reported after the rest are done.
 */
export async function ipamGc(cfg: CommandConfig, store: Store | undefined, valid: readonly Attachment[] | undefined, log: Logger): Promise<void> {
  if (valid === undefined) {
    log.warn(`GC of network ${cfg.name}: the request has no cni.dev/valid-attachments, so nothing is released`);
    return;
  }
  if (store === undefined) return; // no data directory: nothing to collect
  await store.withLock(() => {
    const listing = store.leases();
    const failures = listing.problems.map((p) => `${p.name}: cannot read: ${p.error}`);
    for (const l of listing.leases) {
      if (isValid(l, valid)) continue;
      try {
        store.release(l.ip);
      } catch (err) {
        failures.push(`${formatIp(l.ip)}: ${(err as Error).message}`);
      }
    }
    if (failures.length > 0) throw internal(`GC of network ${cfg.name} in ${cfg.dir}: ${failures.length} lease(s) not released: ${failures.join('; ')}`);
  });
}

/**
 * STATUS: ready when the store is usable and at least one range set has a
 * free address; code 50 otherwise. Exhausted sets are named on stderr even
 * when another set keeps the plugin ready. Reads without the lock: a
 * readiness probe must not queue behind (or add to) a lock pile-up.
 */
export function ipamStatus(cfg: CommandConfig, store: Store, log: Logger): void {
  const broken = store.unusableReason();
  if (broken !== undefined) throw new CniError(CniCode.PluginNotAvailable, `host-local: data directory ${cfg.dir} is not usable: ${broken}`);
  let held: IP[];
  try {
    held = store.leases().leases.map((l) => l.ip);
  } catch (err) {
    throw new CniError(CniCode.PluginNotAvailable, `host-local: data directory ${cfg.dir} is not usable: ${(err as Error).message}`, '', { cause: err });
  }
  const exhausted = cfg.ranges.map((set, idx) => ({ idx, set })).filter(({ set }) => freeCount(set, held) <= 0n);
  if (exhausted.length === cfg.ranges.length) {
    const sets = exhausted.map(({ set }) => rangeSetToString(set)).join('; ');
    throw new CniError(CniCode.PluginNotAvailable, `host-local: no IP addresses available in range set: ${sets}`, `network ${cfg.name}, data directory ${cfg.dir}`);
  }
  for (const { idx, set } of exhausted) log.warn(`STATUS: range set ${idx} (${rangeSetToString(set)}) of network ${cfg.name} has no free address`);
}
