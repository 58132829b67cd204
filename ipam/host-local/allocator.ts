/**
 * The allocation policy, independent of storage: the reference's round-robin
 * walk (plugins/ipam/host-local/backend/allocator/allocator.go) over one range
 * set, starting after the set's cursor, wrapping across the set's ranges and
 * skipping each range's gateway, and one reservation per range set.
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { type IP, formatIp, ipAdd, ipEqual, ipKey } from '../../lib/ip.ts';
import { type Range, rangeContains } from './range.ts';
import { type RangeSet, freeCount, rangeFor, rangeSetContains, rangeSetToString } from './range-set.ts';
import { type Attachment, type Lease, type Store, describeOwner, leasesOfAnyForm } from './store.ts';

export interface Candidate {
  ip: IP;
  range: Range;
}

/**
 * Walks the set once: from `last + 1` when `last` lies in the set (round robin
 * across restarts), else from the first range's start; at a range's end it
 * continues with the next range, wrapping; it stops when back where it began.
 */
export class RangeIter {
  readonly #set: RangeSet;
  #idx = 0;
  #cur: IP | undefined;
  #start: IP | undefined;

  constructor(set: RangeSet, last: IP | undefined) {
    if (set.length === 0) throw new Error('RangeIter: empty range set');
    this.#set = set;
    if (last !== undefined) {
      const i = set.findIndex((r) => rangeContains(r, last));
      if (i >= 0) {
        this.#idx = i;
        this.#cur = last;
      }
    }
  }

  next(): Candidate | undefined {
    for (;;) {
      let r = this.#set[this.#idx]!;
      if (this.#cur === undefined) {
        this.#cur = r.rangeStart;
        this.#start = this.#cur;
        if (ipEqual(this.#cur, r.gateway)) continue;
        return { ip: this.#cur, range: r };
      }
      if (ipEqual(this.#cur, r.rangeEnd)) {
        this.#idx = (this.#idx + 1) % this.#set.length;
        r = this.#set[this.#idx]!;
        this.#cur = r.rangeStart;
      } else {
        this.#cur = ipAdd(this.#cur, 1n);
      }
      if (this.#start === undefined) this.#start = this.#cur;
      else if (ipEqual(this.#cur, this.#start)) return undefined;
      if (ipEqual(this.#cur, r.gateway)) continue;
      return { ip: this.#cur, range: r };
    }
  }
}

export interface Allocation {
  ip: IP;
  range: Range;
  rangeIndex: number;
}

export interface AllocateRequest {
  store: Store;
  set: RangeSet;
  /** The set's index: names its cursor (`last_reserved_ip.<N>`). */
  rangeIndex: number;
  attachment: Attachment;
  /** The requested address that falls in this set, if any. */
  requested: IP | undefined;
  /** The store's leases, read under the same lock; reservations made here are added to it. */
  leases: Lease[];
}

function internal(msg: string): CniError {
  return new CniError(CniCode.Internal, msg);
}

/** Reserves one address of one range set. Call with the store's lock held. */
export function allocateFromSet(req: AllocateRequest): Allocation {
  const { store, set, rangeIndex, attachment, requested, leases } = req;
  const rangeId = String(rangeIndex);
  if (requested !== undefined) {
    const r = rangeFor(set, requested);
    if (r === undefined) throw internal(`${formatIp(requested)} not in range set ${rangeSetToString(set)}`);
    if (ipEqual(requested, r.gateway)) throw internal(`requested ip ${formatIp(requested)} is subnet's gateway`);
    if (!store.reserve(attachment, requested, rangeId)) {
      const holder = leases.find((l) => ipEqual(l.ip, requested));
      const who = holder === undefined ? '' : ` (reserved by ${describeOwner(holder.owner)})`;
      throw internal(`requested IP address ${formatIp(requested)} is not available in range set ${rangeSetToString(set)}${who}`);
    }
    leases.push({ ip: requested, owner: attachment });
    return { ip: requested, range: r, rangeIndex };
  }
  // the specification does not allow a second ADD for the same attachment
  for (const l of leasesOfAnyForm(leases, attachment)) {
    if (rangeSetContains(set, l.ip)) {
      throw internal(`${formatIp(l.ip)} has been allocated to ${attachment.containerId}, duplicate allocation is not allowed`);
    }
  }
  const exhausted = (): CniError => internal(`no IP addresses available in range set: ${rangeSetToString(set)}`);
  if (freeCount(set, leases.map((l) => l.ip)) <= 0n) throw exhausted();
  const held = new Set(leases.map((l) => ipKey(l.ip)));
  const iter = new RangeIter(set, store.lastReserved(rangeId));
  for (let c = iter.next(); c !== undefined; c = iter.next()) {
    if (held.has(ipKey(c.ip))) continue;
    if (store.reserve(attachment, c.ip, rangeId)) {
      leases.push({ ip: c.ip, owner: attachment });
      return { ip: c.ip, range: c.range, rangeIndex };
    }
  }
  throw exhausted();
}

/**
 * Matches requested addresses to range sets: each set takes the first
 * requested address (in the order given) that its ranges hold. Returns the
 * match per set and the addresses no set took.
 */
export function matchRequested(sets: readonly RangeSet[], requested: readonly IP[]): { perSet: (IP | undefined)[]; unmatched: IP[] } {
  const pending: IP[] = [];
  for (const ip of requested) if (!pending.some((p) => ipEqual(p, ip))) pending.push(ip);
  const perSet = sets.map((set) => {
    const i = pending.findIndex((ip) => rangeSetContains(set, ip));
    if (i < 0) return undefined;
    return pending.splice(i, 1)[0];
  });
  return { perSet, unmatched: pending };
}
