/**
 * The storage contract between the allocator (policy) and a store
 * (mechanism): DiskStore for real, byte-compatible with the reference's
 * data directory, and MemoryStore for the unit tests.
 *
 * Synchronous on purpose: one plugin run is one short critical section under
 * an flock that blocks the thread anyway, and synchronous file calls avoid the
 * libuv thread pool entirely.
 */
import type { IP } from '../../lib/ip.ts';

/** Who holds a lease: `(containerId, ifName)`, or a container id alone in legacy files. */
export interface Owner {
  readonly containerId: string;
  /** Undefined for legacy leases, written before the reference recorded the interface. */
  readonly ifName: string | undefined;
}

export interface Attachment {
  readonly containerId: string;
  readonly ifName: string;
}

export interface Lease {
  readonly ip: IP;
  readonly owner: Owner;
}

/** A lease entry that could not be read; listing goes on past it. */
export interface LeaseProblem {
  /** The entry's name in the store (the file name on disk). */
  readonly name: string;
  readonly error: string;
}

export interface LeaseListing {
  readonly leases: Lease[];
  readonly problems: LeaseProblem[];
}

export interface Store {
  /**
   * Groundwork for an ADD of `a` that will reserve up to `count` addresses,
   * done before the lock is taken (DiskStore writes and fsyncs the lease
   * content here, so that the lock is held only to link it into place).
   * `discardPrepared` drops whatever reserve() did not use.
   */
  prepare(a: Attachment, count: number): void;
  discardPrepared(): void;
  /**
   * Runs `fn` holding the store's exclusive lock (DiskStore: flock on
   * `<dir>/lock`; the wait is bounded and runs off the main thread, so the
   * invocation's deadline timer can fire meanwhile).
   */
  withLock<T>(fn: () => T): Promise<T>;
  /**
   * Records `ip` as held by `attachment` unless it is already held; false when
   * it is. Also moves range set `rangeId`'s round-robin cursor to `ip`.
   */
  reserve(attachment: Attachment, ip: IP, rangeId: string): boolean;
  /** The round-robin cursor of range set `rangeId`: the last address reserved from it. */
  lastReserved(rangeId: string): IP | undefined;
  /** Every lease in the store (entries that are not leases, like the lock or the cursors, are not listed). */
  leases(): LeaseListing;
  /** Drops the lease on `ip`; a lease that is already gone is not an error. */
  release(ip: IP): void;
  /** Why the store could not serve an ADD now (e.g. a read-only data directory), or undefined when it can. */
  unusableReason(): string | undefined;
}

export function isExactOwner(owner: Owner, a: Attachment): boolean {
  return owner.ifName !== undefined && owner.containerId === a.containerId && owner.ifName === a.ifName;
}

export function isLegacyOwner(owner: Owner, a: Attachment): boolean {
  return owner.ifName === undefined && owner.containerId === a.containerId;
}

/**
 * The leases that belong to `a`, by the reference's rule (ReleaseByID,
 * FindByID): the exact `(containerId, ifName)` leases, or, only when there
 * are none, the legacy leases of the container id.
 */
export function leasesOf(leases: readonly Lease[], a: Attachment): Lease[] {
  const exact = leases.filter((l) => isExactOwner(l.owner, a));
  if (exact.length > 0) return exact;
  return leases.filter((l) => isLegacyOwner(l.owner, a));
}

/** Leases of `a` by either rule at once (the reference's GetByID, used for the duplicate-ADD check). */
export function leasesOfAnyForm(leases: readonly Lease[], a: Attachment): Lease[] {
  return leases.filter((l) => isExactOwner(l.owner, a) || isLegacyOwner(l.owner, a));
}

export function describeOwner(owner: Owner): string {
  return owner.ifName === undefined ? `container ${owner.containerId} (legacy lease, no interface recorded)` : `container ${owner.containerId} interface ${owner.ifName}`;
}
